import { describe, expect, it } from 'vitest';
import { crc32cDigest, digestBytes, padding, paddingLength, readDigest, writeDigest } from '../src/engine/iscsi/digest.js';

// RFC 3720 appendix B.4 CRC examples (carried over unchanged into RFC 7143's CRC32C
// definition). The "CRC:" lines there are the four digest bytes as they appear on the wire.
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const wire = (bufs: Buffer[]) => digestBytes(crc32cDigest(bufs)).toString('hex');

describe('CRC32C digests (RFC test vectors)', () => {
  it('32 bytes of zeroes -> aa 36 91 8a', () => {
    expect(wire([Buffer.alloc(32)])).toBe('aa36918a');
  });
  it('32 bytes of ones -> 43 ab a8 62', () => {
    expect(wire([Buffer.alloc(32, 0xff)])).toBe('43aba862');
  });
  it('32 incrementing bytes -> 4e 79 dd 46', () => {
    expect(wire([Buffer.from([...Array(32).keys()])])).toBe('4e79dd46');
  });
  it('32 decrementing bytes -> 5c db 3f 11', () => {
    expect(wire([Buffer.from([...Array(32).keys()].reverse())])).toBe('5cdb3f11');
  });
  it('an iSCSI SCSI Read (10) command PDU -> 56 3a 96 d9', () => {
    const pdu = hex(`01 c0 00 00  00 00 00 00  00 00 00 00  00 00 00 00
                     14 00 00 00  00 00 04 00  00 00 00 14  00 00 00 18
                     28 00 00 00  00 00 00 00  02 00 00 00  00 00 00 00`);
    expect(wire([pdu])).toBe('563a96d9');
    // split anywhere, the digest is the same
    for (let i = 0; i <= 48; i++) expect(wire([pdu.subarray(0, i), pdu.subarray(i)])).toBe('563a96d9');
  });
  it('is little-endian on the wire', () => {
    const b = Buffer.alloc(6);
    writeDigest(b, 1, 0x8a9136aa);
    expect(b.toString('hex')).toBe('00aa36918a00');
    expect(readDigest(b, 1)).toBe(0x8a9136aa);
    expect(crc32cDigest([Buffer.alloc(32)])).toBe(0x8a9136aa);
  });
  it('empty input and padding helpers', () => {
    expect(crc32cDigest([])).toBe(0);
    expect([0, 1, 2, 3, 4, 5, 8].map(paddingLength)).toEqual([0, 3, 2, 1, 0, 3, 0]);
    expect(padding(5).equals(Buffer.alloc(3))).toBe(true);
    expect(padding(8).length).toBe(0);
  });
});
