// The fileio image: written in full (not sparse) so every block is real data in the page cache,
// and synced so that writeback does not run in the middle of a measurement.
//
// The size of the filling writes matters on kernels whose ext4 has large folios (6.16 on): the
// page cache keeps the folio size the writes created, and every later 4 KiB write into a 1 MiB
// folio walks all 256 of its buffer heads twice (measured here: 6.8 us of kernel time per random
// 4 KiB pwrite into an image filled with 1 MiB writes, 1.7 us when filled with 4 KiB writes). Both
// daemons pay that alike, so it only dilutes what the benchmark compares; `--image-write` chooses.
import { randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';

const CHUNK = 1024 * 1024;

export async function preWriteImage(path: string, bytes: number, writeSize = 4096): Promise<void> {
  if (bytes % CHUNK !== 0) throw new Error(`image size ${bytes} is not a whole number of MiB`);
  if (CHUNK % writeSize !== 0) throw new Error(`write size ${writeSize} does not divide 1 MiB`);
  const chunk = randomFillSync(Buffer.alloc(CHUNK));
  const fh = await open(path, 'w', 0o600);
  try {
    for (let off = 0; off < bytes; off += CHUNK) {
      // Distinct chunks: a stamp of the offset at the start of each.
      chunk.writeUInt32BE(off / CHUNK, 0);
      for (let o = 0; o < CHUNK; o += writeSize) await fh.write(chunk, o, writeSize, off + o);
    }
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
