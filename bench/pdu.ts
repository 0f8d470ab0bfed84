// The iSCSI PDUs the benchmark's own initiators send and receive (RFC 7143 §11): a few BHS
// builders and a framer that cuts a TCP byte stream into PDUs without copying the ones that arrive
// whole. Shares no code with the daemon, so the daemon is measured by an independent peer.

export const BHS_LENGTH = 48;
export const RESERVED_TAG = 0xffffffff;

export const Op = {
  NOP_OUT: 0x00,
  SCSI_CMD: 0x01,
  LOGIN_REQ: 0x03,
  LOGOUT_REQ: 0x06,
  NOP_IN: 0x20,
  SCSI_RSP: 0x21,
  LOGIN_RSP: 0x23,
  DATA_IN: 0x25,
  LOGOUT_RSP: 0x26,
  R2T: 0x31,
  REJECT: 0x3f,
} as const;

const IMMEDIATE = 0x40;
const FINAL = 0x80;
const TRANSIT = 0x80;
const READ_FLAG = 0x40;
const WRITE_FLAG = 0x20;
const ATTR_SIMPLE = 1;
export const STAGE_OPERATIONAL = 1;
export const STAGE_FULL_FEATURE = 3;
/** Data-In flags byte: the status is in this PDU (phase collapse, §11.7.1). */
export const DATA_IN_STATUS = 0x01;

export const opcodeOf = (bhs: Buffer): number => bhs[0]! & 0x3f;

export function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** SAM LUN, peripheral device addressing (LUN < 256) or flat space addressing (< 16384). */
export function writeLun(bhs: Buffer, lun: number): void {
  if (lun < 256) {
    bhs[8] = 0;
    bhs[9] = lun;
  } else {
    bhs[8] = 0x40 | ((lun >> 8) & 0x3f);
    bhs[9] = lun & 0xff;
  }
}

/** Text keys as a login or text data segment: `key=value\0` each. */
export function textKeys(pairs: Array<[string, string]>): Buffer {
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

/** A Login Request that asks to go from the operational stage to full feature phase (§11.12). */
export function loginRequest(f: { isid: Buffer; tsih: number; itt: number; cmdSN: number; expStatSN: number; dataLength: number }): Buffer {
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = IMMEDIATE | Op.LOGIN_REQ;
  b[1] = TRANSIT | (STAGE_OPERATIONAL << 2) | STAGE_FULL_FEATURE;
  b.writeUIntBE(f.dataLength, 5, 3);
  f.isid.copy(b, 8, 0, 6);
  b.writeUInt16BE(f.tsih, 14);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE(f.cmdSN >>> 0, 24);
  b.writeUInt32BE(f.expStatSN >>> 0, 28);
  return b;
}

/** An immediate Logout Request closing the session (reason 0, §11.14). */
export function logoutRequest(f: { itt: number; cmdSN: number; expStatSN: number }): Buffer {
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = IMMEDIATE | Op.LOGOUT_REQ;
  b[1] = FINAL; // reason code 0: close the session
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE(f.cmdSN >>> 0, 24);
  b.writeUInt32BE(f.expStatSN >>> 0, 28);
  return b;
}

/** The NOP-Out that answers a target's ping (a NOP-In with a target transfer tag, §11.18). */
export function nopOutReply(nopIn: Buffer, cmdSN: number, expStatSN: number): Buffer {
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = IMMEDIATE | Op.NOP_OUT;
  b[1] = FINAL;
  nopIn.copy(b, 8, 8, 16); // LUN
  b.writeUInt32BE(RESERVED_TAG, 16);
  b.writeUInt32BE(nopIn.readUInt32BE(20), 20);
  b.writeUInt32BE(cmdSN >>> 0, 24);
  b.writeUInt32BE(expStatSN >>> 0, 28);
  return b;
}

/**
 * A SCSI Command that reads `expectedLength` bytes (§11.3), simple task attribute. The caller may
 * rewrite the ITT (16), CmdSN (24), ExpStatSN (28) and CDB (32..47) in place and send it again.
 */
export function readCommand(f: { lun: number; itt: number; expectedLength: number; cmdSN: number; expStatSN: number; cdb: Buffer }): Buffer {
  if (f.cdb.length > 16) throw new Error('a CDB over 16 bytes needs an AHS');
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = Op.SCSI_CMD;
  b[1] = FINAL | READ_FLAG | ATTR_SIMPLE;
  writeLun(b, f.lun);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE(f.expectedLength >>> 0, 20);
  b.writeUInt32BE(f.cmdSN >>> 0, 24);
  b.writeUInt32BE(f.expStatSN >>> 0, 28);
  f.cdb.copy(b, 32);
  return b;
}

/**
 * A SCSI Command that carries all its `data` as immediate data (§11.3; the session negotiated
 * ImmediateData=Yes and `data` fits the first burst), simple task attribute, no read.
 */
export function writeCommand(f: { lun: number; itt: number; cmdSN: number; expStatSN: number; cdb: Buffer; dataLength: number }): Buffer {
  if (f.cdb.length > 16) throw new Error('a CDB over 16 bytes needs an AHS');
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = Op.SCSI_CMD;
  b[1] = FINAL | WRITE_FLAG | ATTR_SIMPLE;
  b.writeUIntBE(f.dataLength, 5, 3);
  writeLun(b, f.lun);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE(f.dataLength >>> 0, 20);
  b.writeUInt32BE(f.cmdSN >>> 0, 24);
  b.writeUInt32BE(f.expStatSN >>> 0, 28);
  f.cdb.copy(b, 32);
  return b;
}

/** Called with views into the framer's input: valid only until the call returns. */
export type PduHandler = (bhs: Buffer, data: Buffer) => void;

/**
 * Cuts a byte stream into PDUs (no digests). A PDU that arrives whole inside one chunk is handed
 * on as views of that chunk; only a PDU split across chunks is assembled in the framer's own
 * buffer, which is reused. A PDU longer than `maxPdu` stops the framer with an error.
 */
export class PduFramer {
  private buf: Buffer = Buffer.alloc(0);
  private have = 0;
  /** Length of the PDU being assembled, once its BHS is complete; else 0. */
  private need = 0;
  private failed: string | null = null;

  constructor(
    private readonly onPdu: PduHandler,
    private readonly maxPdu = 1024 * 1024,
  ) {}

  /** Why the framer stopped, or null while it runs. */
  get error(): string | null {
    return this.failed;
  }

  push(chunk: Buffer): void {
    let off = 0;
    if (this.have > 0) {
      off = this.assemble(chunk);
      if (this.have > 0 || this.failed !== null) return;
    }
    while (chunk.length - off >= BHS_LENGTH && this.failed === null) {
      const total = this.pduLength(chunk, off);
      if (total === null || chunk.length - off < total) break;
      this.emit(chunk, off);
      off += total;
    }
    if (off < chunk.length && this.failed === null) {
      this.reserve(Math.max(BHS_LENGTH, chunk.length - off));
      this.have = chunk.copy(this.buf, 0, off);
      this.need = 0;
      if (this.have >= BHS_LENGTH) this.learnLength();
    }
  }

  /** Feeds the partial PDU from the start of `chunk`; returns the bytes used. */
  private assemble(chunk: Buffer): number {
    let off = 0;
    if (this.need === 0) {
      const n = chunk.copy(this.buf, this.have, 0, Math.min(chunk.length, BHS_LENGTH - this.have));
      this.have += n;
      off += n;
      if (this.have < BHS_LENGTH) return off;
      this.learnLength();
      if (this.failed !== null) return off;
    }
    // A PDU of a bare BHS is complete now.
    if (this.have === this.need) {
      this.emit(this.buf, 0);
      this.have = 0;
      this.need = 0;
      return off;
    }
    const n = chunk.copy(this.buf, this.have, off, Math.min(chunk.length, off + this.need - this.have));
    this.have += n;
    off += n;
    if (this.have === this.need) {
      this.emit(this.buf, 0);
      this.have = 0;
      this.need = 0;
    }
    return off;
  }

  private learnLength(): void {
    const total = this.pduLength(this.buf, 0);
    if (total === null) return;
    this.need = total;
    this.reserve(total, this.have);
  }

  private pduLength(b: Buffer, off: number): number | null {
    const total = BHS_LENGTH + b[off + 4]! * 4 + pad4(b.readUIntBE(off + 5, 3));
    if (total > this.maxPdu) {
      this.failed = `PDU of ${total} bytes (opcode 0x${opcodeOf(b.subarray(off)).toString(16)}) over the limit of ${this.maxPdu}`;
      return null;
    }
    return total;
  }

  private reserve(n: number, keep = 0): void {
    if (this.buf.length >= n) return;
    const b = Buffer.alloc(Math.max(n, 2 * this.buf.length));
    this.buf.copy(b, 0, 0, keep);
    this.buf = b;
  }

  private emit(b: Buffer, off: number): void {
    const ahs = b[off + 4]! * 4;
    const dsl = b.readUIntBE(off + 5, 3);
    const dataAt = off + BHS_LENGTH + ahs;
    this.onPdu(b.subarray(off, off + BHS_LENGTH), b.subarray(dataAt, dataAt + dsl));
  }
}
