// CRC32C header/data digests, RFC 7143 13.1. The CRC register is the standard reflected
// Castagnoli CRC (what @node-rs/crc32's crc32c computes); the RFC maps it onto the wire so that
// the low-order byte comes first, i.e. the 32-bit value is written little-endian. The RFC 3720
// appendix B.4 examples (32 zero bytes -> aa 36 91 8a on the wire) pin this down; see the tests.

import { crc32c } from '@node-rs/crc32';
import { DIGEST_LENGTH } from './constants.js';

/** CRC32C over the concatenation of `bufs`, without concatenating them. */
export function crc32cDigest(bufs: readonly Uint8Array[]): number {
  let crc = 0;
  for (const b of bufs) if (b.length > 0) crc = crc32c(b, crc);
  return crc >>> 0;
}

/** Number of zero bytes that pad `length` to a 4-byte boundary. */
export function paddingLength(length: number): number {
  return (4 - (length & 3)) & 3;
}

/** Writes `digest` in its wire form at `offset` (4 bytes). */
export function writeDigest(target: Buffer, offset: number, digest: number): void {
  target.writeUInt32LE(digest >>> 0, offset);
}

/** Reads a wire-form digest at `offset`; the caller guarantees 4 bytes are there. */
export function readDigest(source: Buffer, offset: number): number {
  return source.readUInt32LE(offset);
}

/** A fresh 4-byte Buffer holding `digest` in wire form. */
export function digestBytes(digest: number): Buffer {
  const b = Buffer.allocUnsafe(DIGEST_LENGTH);
  writeDigest(b, 0, digest);
  return b;
}

const ZERO_PAD = Buffer.alloc(3);

/** The padding bytes (0..3 zero bytes) that follow a segment of `length` bytes. */
export function padding(length: number): Buffer {
  return ZERO_PAD.subarray(0, paddingLength(length));
}
