// The file backstore never closes its fd under an operation still in libuv's thread pool:
// close() returns at once (teardown stays bounded) and the fd goes when the last operation ends.
import { readlinkSync } from 'node:fs';
import { mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FileBackstore } from '../src/engine/backstore/file.js';

it('close() during in-flight reads and writes: they all complete, then the fd is closed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bs-'));
  const path = join(dir, 'f.img');
  await writeFile(path, Buffer.alloc(1 << 20, 7));
  const bs = await FileBackstore.open(path, { readOnly: false, writeThrough: false });
  const fd = (bs as unknown as { fd: number }).fd;
  const ops: Promise<NodeJS.ErrnoException | null>[] = [];
  for (let i = 0; i < 64; i++) {
    const buf = Buffer.alloc(4096);
    ops.push(new Promise((r) => bs.read(buf, 0, 4096, i * 4096, r)));
    ops.push(new Promise((r) => bs.write(Buffer.alloc(4096, i), 0, 4096, (i + 64) * 4096, i % 2 === 0, r)));
  }
  const t0 = Date.now();
  await bs.close();
  expect(Date.now() - t0).toBeLessThan(50); // close does not wait for the I/O
  // Still open: the writes cannot have completed yet (completions need the event loop, and this
  // check does not give it back; an asynchronous readlink would race the last completion).
  expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe(path);
  const errs = await Promise.all(ops);
  expect(errs.filter((e) => e !== null)).toEqual([]);
  await new Promise((r) => setTimeout(r, 50));
  await expect(readlink(`/proc/self/fd/${fd}`)).rejects.toThrow(); // closed after the last one
  await rm(dir, { recursive: true, force: true });
});
