import { Asc } from './constants.js';

/** Fixed-format sense data (SPC-4 4.5.3), 18 bytes. */
export function buildSense(s: Asc, info?: { field?: number; bit?: number; cdb?: boolean; information?: number }): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70; // current error, fixed format
  b[2] = s.key & 0x0f;
  b[7] = 10; // additional sense length
  b[12] = s.asc;
  b[13] = s.ascq;
  if (info?.information !== undefined) {
    b[0] |= 0x80; // VALID: INFORMATION field holds the value
    b.writeUInt32BE(info.information >>> 0, 3);
  }
  if (info?.field !== undefined) {
    // Sense-key specific: field pointer (SKSV=1, C/D, BPV, bit pointer, field pointer).
    let v = 0x80;
    if (info.cdb !== false) v |= 0x40;
    if (info.bit !== undefined) v |= 0x08 | (info.bit & 7);
    b[15] = v;
    b.writeUInt16BE(info.field & 0xffff, 16);
  }
  return b;
}

/** Thrown (or returned) by command decoding: carries the sense to report. */
export class ScsiError extends Error {
  constructor(
    readonly asc: Asc,
    readonly info?: { field?: number; bit?: number; cdb?: boolean; information?: number },
  ) {
    super(`sense ${asc.key.toString(16)}/${asc.asc.toString(16)}/${asc.ascq.toString(16)}`);
  }
  sense(): Buffer {
    return buildSense(this.asc, this.info);
  }
}
