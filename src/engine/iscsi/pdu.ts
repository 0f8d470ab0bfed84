// Decoded view of initiator PDUs, RFC 7143 section 11. The receiver hands out Pdu objects whose
// buffers may be views into socket chunks; everything here only reads them. Accessors allocate
// nothing; the typed decoders return small plain objects (with subarray views, never copies,
// except for the SCSI command's CDB, which lives as long as its command).

import { AhsType, FINAL_BIT, IMMEDIATE_BIT } from './constants.js';

export interface Pdu {
  /** The 48-byte Basic Header Segment. */
  bhs: Buffer;
  /** Additional Header Segments (TotalAHSLength*4 bytes, already structure-checked) or null. */
  ahs: Buffer | null;
  /** Exactly DataSegmentLength bytes, no padding; a zero-length Buffer when there is none. */
  data: Buffer;
}

/** LUN value for an 8-byte LUN field that is not a single-level LUN this target can address. */
export const NO_SUCH_LUN = -1;
/** Highest LUN number of flat space addressing (and of SCST's LUN range). */
export const MAX_LUN = 16383;

// ---- accessors over the BHS ----

export const opcode = (bhs: Buffer): number => bhs[0]! & 0x3f;
export const isImmediate = (bhs: Buffer): boolean => (bhs[0]! & IMMEDIATE_BIT) !== 0;
export const isFinal = (bhs: Buffer): boolean => (bhs[1]! & FINAL_BIT) !== 0;
/** TotalAHSLength as on the wire, in 4-byte words. */
export const totalAHSLength = (bhs: Buffer): number => bhs[4]!;
export const dataSegmentLength = (bhs: Buffer): number => (bhs[5]! << 16) | (bhs[6]! << 8) | bhs[7]!;
export const itt = (bhs: Buffer): number => bhs.readUInt32BE(16);

/**
 * Stores DataSegmentLength (24 bits) into a BHS; `o`: where the BHS starts in `bhs` (a header
 * serialized inside a larger buffer).
 */
export function writeDataSegmentLength(bhs: Buffer, length: number, o = 0): void {
  bhs[o + 5] = (length >>> 16) & 0xff;
  bhs[o + 6] = (length >>> 8) & 0xff;
  bhs[o + 7] = length & 0xff;
}

// ---- LUN encoding (SAM-5 4.7, single level) ----

/**
 * Decodes an 8-byte LUN field to a LUN number. Understood: peripheral device addressing with
 * bus 0 (LUN 0..255), flat space addressing (0..16383) and logical unit addressing with target
 * 0 and bus 0 (0..31), all single level (bytes 2..7 zero). Anything else is NO_SUCH_LUN, which
 * the SCSI layer answers with LOGICAL UNIT NOT SUPPORTED rather than guessing.
 */
export function decodeLun(field: Buffer, offset = 0): number {
  if (field.length < offset + 8) return NO_SUCH_LUN;
  for (let i = offset + 2; i < offset + 8; i++) if (field[i] !== 0) return NO_SUCH_LUN;
  const b0 = field[offset]!;
  const b1 = field[offset + 1]!;
  switch (b0 >> 6) {
    case 0: // peripheral: bits 5..0 of byte 0 are the bus identifier
      return (b0 & 0x3f) === 0 ? b1 : NO_SUCH_LUN;
    case 1: // flat space
      return ((b0 & 0x3f) << 8) | b1;
    case 2: // logical unit: target (6 bits) | bus (3 bits) lun (5 bits)
      return (b0 & 0x3f) === 0 && (b1 & 0xe0) === 0 ? b1 & 0x1f : NO_SUCH_LUN;
    default: // extended addressing
      return NO_SUCH_LUN;
  }
}

/**
 * Encodes a LUN number as an 8-byte single-level LUN. Peripheral addressing cannot express
 * LUNs above 255, so those fall back to flat addressing (as SCST does).
 * @throws RangeError for a LUN outside 0..16383 (a caller bug, not wire input).
 */
export function encodeLun(lun: number, addressMethod: 'peripheral' | 'flat'): Buffer {
  if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN) throw new RangeError(`LUN ${lun} out of range 0..${MAX_LUN}`);
  const b = Buffer.alloc(8);
  if (addressMethod === 'peripheral' && lun <= 0xff) {
    b[1] = lun;
  } else {
    b[0] = 0x40 | (lun >> 8);
    b[1] = lun & 0xff;
  }
  return b;
}

// ---- typed decoders ----

export interface ScsiCommand {
  final: boolean;
  read: boolean;
  write: boolean;
  /** TaskAttribute value (ATTR field). */
  attr: number;
  /** Decoded LUN, or NO_SUCH_LUN. */
  lun: number;
  /** The raw 8-byte LUN field (view). */
  lunRaw: Buffer;
  itt: number;
  expectedDataTransferLength: number;
  /** Expected bidirectional read length from AHS type 2, when present. */
  bidiReadDataLength: number | null;
  cmdSN: number;
  expStatSN: number;
  /** A copy (it outlives the socket chunk): 16 bytes, or longer with an Extended CDB AHS. */
  cdb: Buffer;
  immediate: boolean;
}

/** Iterates the AHS list; malformed trailing bytes (not possible after the receiver's check) end it. */
function forEachAhs(ahs: Buffer | null, fn: (type: number, body: Buffer) => void): void {
  if (!ahs) return;
  let off = 0;
  while (off + 3 <= ahs.length) {
    const len = ahs.readUInt16BE(off);
    const type = ahs[off + 2]!;
    const end = off + 3 + len;
    if (end > ahs.length) return;
    // body = AHS-specific byte + the rest, i.e. the AHSLength bytes after the type byte
    fn(type, ahs.subarray(off + 3, end));
    off += (3 + len + 3) & ~3;
  }
}

/**
 * Checks the AHS chain structure: each AHS fits, and the chain fills TotalAHSLength exactly.
 * Returns an error message or null.
 */
export function checkAhs(ahs: Buffer): string | null {
  let off = 0;
  while (off < ahs.length) {
    if (off + 4 > ahs.length) return 'truncated AHS header';
    const len = ahs.readUInt16BE(off);
    const size = (3 + len + 3) & ~3;
    if (off + size > ahs.length) return `AHS of length ${len} exceeds TotalAHSLength`;
    off += size;
  }
  return null;
}

export function decodeScsiCommand(pdu: Pdu): ScsiCommand {
  const b = pdu.bhs;
  // The CDB outlives the socket chunk the BHS is a view of: it is copied (the one exception to
  // "views, never copies" above), straight from the BHS.
  let cdb = Buffer.allocUnsafe(16);
  b.copy(cdb, 0, 32, 48);
  let bidiReadDataLength: number | null = null;
  if (pdu.ahs)
    forEachAhs(pdu.ahs, (type, body) => {
      if (type === AhsType.EXTENDED_CDB && body.length > 1) {
        // body[0] is reserved; the rest continues the CDB after its first 16 bytes
        cdb = Buffer.concat([b.subarray(32, 48), body.subarray(1)]);
      } else if (type === AhsType.BIDIRECTIONAL_READ_LENGTH && body.length >= 5) {
        bidiReadDataLength = body.readUInt32BE(1);
      }
    });
  return {
    final: (b[1]! & 0x80) !== 0,
    read: (b[1]! & 0x40) !== 0,
    write: (b[1]! & 0x20) !== 0,
    attr: b[1]! & 0x07,
    lun: decodeLun(b, 8),
    lunRaw: b.subarray(8, 16),
    itt: b.readUInt32BE(16),
    expectedDataTransferLength: b.readUInt32BE(20),
    bidiReadDataLength,
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
    cdb,
    immediate: isImmediate(b),
  };
}

export interface DataOut {
  final: boolean;
  lun: number;
  lunRaw: Buffer;
  itt: number;
  ttt: number;
  expStatSN: number;
  dataSN: number;
  bufferOffset: number;
}

export function decodeDataOut(pdu: Pdu): DataOut {
  const b = pdu.bhs;
  return {
    final: isFinal(b),
    lun: decodeLun(b, 8),
    lunRaw: b.subarray(8, 16),
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    expStatSN: b.readUInt32BE(28),
    dataSN: b.readUInt32BE(36),
    bufferOffset: b.readUInt32BE(40),
  };
}

export interface NopOut {
  itt: number;
  ttt: number;
  lun: number;
  lunRaw: Buffer;
  cmdSN: number;
  expStatSN: number;
  immediate: boolean;
}

export function decodeNopOut(pdu: Pdu): NopOut {
  const b = pdu.bhs;
  return {
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    lun: decodeLun(b, 8),
    lunRaw: b.subarray(8, 16),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
    immediate: isImmediate(b),
  };
}

export interface TaskMgmt {
  /** TmfFunction value. */
  function: number;
  lun: number;
  lunRaw: Buffer;
  itt: number;
  referencedTaskTag: number;
  cmdSN: number;
  expStatSN: number;
  refCmdSN: number;
  expDataSN: number;
  immediate: boolean;
}

export function decodeTaskMgmt(pdu: Pdu): TaskMgmt {
  const b = pdu.bhs;
  return {
    function: b[1]! & 0x7f,
    lun: decodeLun(b, 8),
    lunRaw: b.subarray(8, 16),
    itt: b.readUInt32BE(16),
    referencedTaskTag: b.readUInt32BE(20),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
    refCmdSN: b.readUInt32BE(32),
    expDataSN: b.readUInt32BE(36),
    immediate: isImmediate(b),
  };
}

export interface LoginRequest {
  transit: boolean;
  cont: boolean;
  /** Current stage (LoginStage). */
  csg: number;
  /** Next stage, meaningful only with transit. */
  nsg: number;
  versionMax: number;
  versionMin: number;
  /** The 6-byte ISID (view). */
  isid: Buffer;
  /** ISID as 12 lower-case hex digits. */
  isidHex: string;
  tsih: number;
  itt: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
}

export function decodeLogin(pdu: Pdu): LoginRequest {
  const b = pdu.bhs;
  const isid = b.subarray(8, 14);
  return {
    transit: (b[1]! & 0x80) !== 0,
    cont: (b[1]! & 0x40) !== 0,
    csg: (b[1]! >> 2) & 0x03,
    nsg: b[1]! & 0x03,
    versionMax: b[2]!,
    versionMin: b[3]!,
    isid,
    isidHex: isid.toString('hex'),
    tsih: b.readUInt16BE(14),
    itt: b.readUInt32BE(16),
    cid: b.readUInt16BE(20),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
  };
}

export interface TextRequest {
  final: boolean;
  cont: boolean;
  itt: number;
  ttt: number;
  cmdSN: number;
  expStatSN: number;
  lun: number;
  lunRaw: Buffer;
  immediate: boolean;
}

export function decodeText(pdu: Pdu): TextRequest {
  const b = pdu.bhs;
  return {
    final: (b[1]! & 0x80) !== 0,
    cont: (b[1]! & 0x40) !== 0,
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
    lun: decodeLun(b, 8),
    lunRaw: b.subarray(8, 16),
    immediate: isImmediate(b),
  };
}

export interface LogoutRequest {
  /** LogoutReason value. */
  reasonCode: number;
  itt: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
  immediate: boolean;
}

export function decodeLogout(pdu: Pdu): LogoutRequest {
  const b = pdu.bhs;
  return {
    reasonCode: b[1]! & 0x7f,
    itt: b.readUInt32BE(16),
    cid: b.readUInt16BE(20),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
    immediate: isImmediate(b),
  };
}

export interface SnackRequest {
  /** SnackType value. */
  type: number;
  lunRaw: Buffer;
  itt: number;
  /** Target Transfer Tag or SNACK Tag, depending on the type. */
  tttOrSnackTag: number;
  expStatSN: number;
  begRun: number;
  runLength: number;
}

/** Decoded only so that the Reject (reason SNACK_REJECT at ERL 0) can be logged meaningfully. */
export function decodeSnack(pdu: Pdu): SnackRequest {
  const b = pdu.bhs;
  return {
    type: b[1]! & 0x0f,
    lunRaw: b.subarray(8, 16),
    itt: b.readUInt32BE(16),
    tttOrSnackTag: b.readUInt32BE(20),
    expStatSN: b.readUInt32BE(28),
    begRun: b.readUInt32BE(40),
    runLength: b.readUInt32BE(44),
  };
}
