// The fileio image: written in full (not sparse) so every block is real data in the page cache,
// and synced so that writeback does not run in the middle of a measurement.
import { randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';

const CHUNK = 1024 * 1024;

export async function preWriteImage(path: string, bytes: number): Promise<void> {
  if (bytes % CHUNK !== 0) throw new Error(`image size ${bytes} is not a whole number of MiB`);
  const chunk = randomFillSync(Buffer.alloc(CHUNK));
  const fh = await open(path, 'w', 0o600);
  try {
    for (let off = 0; off < bytes; off += CHUNK) {
      // Distinct chunks: a stamp of the offset at the start of each.
      chunk.writeUInt32BE(off / CHUNK, 0);
      await fh.write(chunk, 0, CHUNK, off);
    }
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
