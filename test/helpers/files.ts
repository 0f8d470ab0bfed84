// Scratch files for the integration tests: temporary directories, sparse backing files, random
// images and their digests. Everything created here is removed by the cleanup registry.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';

/** A fresh directory under the system temp dir, removed after the test (or the file). */
export async function tmpDir(prefix = 'scst-it-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(`rm -r ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Creates (or resizes) a sparse file of `size` bytes. */
export async function sparseFile(path: string, size: number): Promise<string> {
  await writeFile(path, Buffer.alloc(0), { flag: 'a' });
  await truncate(path, size);
  return path;
}

/** Writes `size` random bytes to `path` in 1 MiB pieces. */
export async function randomFile(path: string, size: number): Promise<string> {
  const fh = await open(path, 'w');
  try {
    const chunk = 1024 * 1024;
    for (let off = 0; off < size; off += chunk) {
      const n = Math.min(chunk, size - off);
      await fh.write(randomBytes(n), 0, n, off);
    }
  } finally {
    await fh.close();
  }
  return path;
}

/** SHA-256 of the first `length` bytes of a file (whole file when absent), hex. */
export function sha256File(path: string, length?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    const opts = length === undefined ? {} : { start: 0, end: length - 1 };
    const s = createReadStream(path, opts);
    s.on('data', (b) => h.update(b));
    s.on('error', reject);
    s.on('end', () => resolve(h.digest('hex')));
  });
}
