// Serializers for target PDUs, RFC 7143 section 11. Each builder returns a fresh, zero-filled
// 48-byte BHS (reserved fields stay 0). DataSegmentLength is written by frame(), from the data it
// is given, so a header can never disagree with the data sent after it.

import { BHS_LENGTH, DIGEST_LENGTH, FINAL_BIT, Opcode, RESERVED_TAG } from './constants.js';
import { crc32cDigest, paddingLength, writeDigest } from './digest.js';
import { writeDataSegmentLength } from './pdu.js';

/** The three sequence numbers every target response carries (RFC 7143 4.2.2). */
export interface SequenceNumbers {
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

/**
 * Big-endian stores without Buffer#writeUInt32BE's range checks: every caller passes a value
 * already reduced to its field width, at an offset inside a 48-byte header it sized itself.
 */
function u32(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function u16(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

function bhsFor(op: number, byte1: number): Buffer {
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = op;
  b[1] = byte1;
  return b;
}

/**
 * A LUN field: the raw 8 bytes, or a LUN number encoded as SCST encodes it (peripheral device
 * addressing below 256, flat space addressing above).
 */
export type LunField = Buffer | number;

function putLun(b: Buffer, lun: LunField | undefined, o = 0): void {
  if (lun === undefined) return;
  if (typeof lun !== 'number') {
    lun.copy(b, o + 8, 0, 8);
  } else if (lun < 256) {
    b[o + 9] = lun;
  } else {
    b[o + 8] = 0x40 | ((lun >> 8) & 0x3f);
    b[o + 9] = lun & 0xff;
  }
}

function putSequence(b: Buffer, statSN: number, expCmdSN: number, maxCmdSN: number, o = 0): void {
  u32(b, o + 24, statSN >>> 0);
  u32(b, o + 28, expCmdSN >>> 0);
  u32(b, o + 32, maxCmdSN >>> 0);
}

export interface ScsiResponseArgs extends SequenceNumbers {
  itt: number;
  /** ScsiResponseCode; default COMMAND_COMPLETED_AT_TARGET. */
  response?: number;
  /** SCSI status byte. */
  status: number;
  /** Number of Data-In and R2T PDUs sent for the command (RFC 7143 11.4.8). */
  expDataSN?: number;
  overflow?: boolean;
  underflow?: boolean;
  residualCount?: number;
  bidiOverflow?: boolean;
  bidiUnderflow?: boolean;
  bidiReadResidualCount?: number;
  snackTag?: number;
}

/**
 * SCSI Response, RFC 7143 11.4. Sense data goes in the data segment: see senseDataSegment().
 * Written into `b` at `o` when given (a zero-filled 48-byte area), else into a fresh BHS.
 */
export function scsiResponse(a: ScsiResponseArgs, b: Buffer = Buffer.alloc(BHS_LENGTH), o = 0): Buffer {
  const flags = FINAL_BIT | (a.bidiOverflow ? 0x10 : 0) | (a.bidiUnderflow ? 0x08 : 0) | (a.overflow ? 0x04 : 0) | (a.underflow ? 0x02 : 0);
  b[o] = Opcode.SCSI_RSP;
  b[o + 1] = flags;
  b[o + 2] = a.response ?? 0;
  b[o + 3] = a.status;
  u32(b, o + 16, a.itt >>> 0);
  u32(b, o + 20, (a.snackTag ?? 0) >>> 0);
  putSequence(b, a.statSN, a.expCmdSN, a.maxCmdSN, o);
  u32(b, o + 36, (a.expDataSN ?? 0) >>> 0);
  u32(b, o + 40, (a.bidiReadResidualCount ?? 0) >>> 0);
  u32(b, o + 44, (a.residualCount ?? 0) >>> 0);
  return b;
}

/** SCSI Response data segment for sense data: 2-byte SenseLength, then the sense bytes. */
export function senseDataSegment(sense: Buffer): Buffer {
  const d = Buffer.allocUnsafe(2 + sense.length);
  u16(d, 0, sense.length);
  sense.copy(d, 2);
  return d;
}

export interface DataInArgs {
  final: boolean;
  /** A bit: ask for a DataACK SNACK (ERL > 0 only). */
  ack?: boolean;
  /** When a number, S bit (phase collapse): status in this PDU; implies F. null/absent: no status. */
  status?: number | null;
  overflow?: boolean;
  underflow?: boolean;
  residualCount?: number;
  /** LUN field; required with the A bit, otherwise reserved. */
  lun?: LunField;
  itt: number;
  /** Default RESERVED_TAG (no DataACK requested). */
  ttt?: number;
  /** Only meaningful (and only written) with status. */
  statSN?: number;
  expCmdSN: number;
  maxCmdSN: number;
  dataSN: number;
  bufferOffset: number;
}

/**
 * SCSI Data-In, RFC 7143 11.7. O/U/residual/StatSN are written only with the S bit. Written
 * into `b` at `o` when given (a zero-filled 48-byte area), else into a fresh BHS.
 */
export function dataIn(a: DataInArgs, b: Buffer = Buffer.alloc(BHS_LENGTH), o = 0): Buffer {
  const withStatus = a.status !== undefined && a.status !== null;
  let flags = a.final || withStatus ? FINAL_BIT : 0;
  if (a.ack) flags |= 0x40;
  if (withStatus) flags |= 0x01 | (a.overflow ? 0x04 : 0) | (a.underflow ? 0x02 : 0);
  b[o] = Opcode.DATA_IN;
  b[o + 1] = flags;
  if (withStatus) b[o + 3] = a.status!;
  putLun(b, a.lun, o);
  u32(b, o + 16, a.itt >>> 0);
  u32(b, o + 20, (a.ttt ?? RESERVED_TAG) >>> 0);
  putSequence(b, withStatus ? (a.statSN ?? 0) : 0, a.expCmdSN, a.maxCmdSN, o);
  u32(b, o + 36, a.dataSN >>> 0);
  u32(b, o + 40, a.bufferOffset >>> 0);
  if (withStatus) u32(b, o + 44, (a.residualCount ?? 0) >>> 0);
  return b;
}

export interface R2TArgs extends SequenceNumbers {
  lun: LunField;
  itt: number;
  ttt: number;
  r2tSN: number;
  bufferOffset: number;
  desiredDataTransferLength: number;
}

/** Ready To Transfer, RFC 7143 11.8. Written into `b` at `o` when given, else a fresh BHS. */
export function r2t(a: R2TArgs, b: Buffer = Buffer.alloc(BHS_LENGTH), o = 0): Buffer {
  b[o] = Opcode.R2T;
  b[o + 1] = FINAL_BIT;
  putLun(b, a.lun, o);
  u32(b, o + 16, a.itt >>> 0);
  u32(b, o + 20, a.ttt >>> 0);
  putSequence(b, a.statSN, a.expCmdSN, a.maxCmdSN, o);
  u32(b, o + 36, a.r2tSN >>> 0);
  u32(b, o + 40, a.bufferOffset >>> 0);
  u32(b, o + 44, a.desiredDataTransferLength >>> 0);
  return b;
}

export interface NopInArgs extends SequenceNumbers {
  lun?: Buffer;
  /** The NOP-Out's ITT when answering; RESERVED_TAG for a target-initiated ping. */
  itt: number;
  /** RESERVED_TAG when answering; a tag of ours when we want a NOP-Out back. */
  ttt: number;
}

/** NOP-In, RFC 7143 11.19. Ping data, if any, goes in the data segment. */
export function nopIn(a: NopInArgs): Buffer {
  const b = bhsFor(Opcode.NOP_IN, FINAL_BIT);
  putLun(b, a.lun);
  u32(b, 16, a.itt >>> 0);
  u32(b, 20, a.ttt >>> 0);
  putSequence(b, a.statSN, a.expCmdSN, a.maxCmdSN);
  return b;
}

export interface LoginResponseArgs extends SequenceNumbers {
  transit: boolean;
  cont?: boolean;
  csg: number;
  /** Written only with transit (reserved otherwise). */
  nsg: number;
  versionMax?: number;
  versionActive?: number;
  /** The initiator's 6-byte ISID, echoed. */
  isid: Buffer;
  tsih: number;
  itt: number;
  statusClass: number;
  statusDetail: number;
}

/** Login Response, RFC 7143 11.13. Negotiated keys go in the data segment (encodeTextKeys). */
export function loginResponse(a: LoginResponseArgs): Buffer {
  const flags = (a.transit ? 0x80 : 0) | (a.cont ? 0x40 : 0) | ((a.csg & 3) << 2) | (a.transit ? a.nsg & 3 : 0);
  const b = bhsFor(Opcode.LOGIN_RSP, flags);
  b[2] = a.versionMax ?? 0;
  b[3] = a.versionActive ?? 0;
  a.isid.copy(b, 8, 0, 6);
  u16(b, 14, a.tsih & 0xffff);
  u32(b, 16, a.itt >>> 0);
  putSequence(b, a.statSN, a.expCmdSN, a.maxCmdSN);
  b[36] = a.statusClass;
  b[37] = a.statusDetail;
  return b;
}

export interface TextResponseArgs extends SequenceNumbers {
  final: boolean;
  cont?: boolean;
  lun?: Buffer;
  itt: number;
  /** RESERVED_TAG on the final response; a tag of ours while more is to come. */
  ttt?: number;
}

/** Text Response, RFC 7143 11.11. */
export function textResponse(a: TextResponseArgs): Buffer {
  const b = bhsFor(Opcode.TEXT_RSP, (a.final ? 0x80 : 0) | (a.cont ? 0x40 : 0));
  putLun(b, a.lun);
  u32(b, 16, a.itt >>> 0);
  u32(b, 20, (a.ttt ?? RESERVED_TAG) >>> 0);
  putSequence(b, a.statSN, a.expCmdSN, a.maxCmdSN);
  return b;
}

export interface LogoutResponseArgs extends SequenceNumbers {
  /** LogoutResponse value. */
  response: number;
  itt: number;
  time2Wait?: number;
  time2Retain?: number;
}

/** Logout Response, RFC 7143 11.15. */
export function logoutResponse(a: LogoutResponseArgs): Buffer {
  const b = bhsFor(Opcode.LOGOUT_RSP, FINAL_BIT);
  b[2] = a.response;
  u32(b, 16, a.itt >>> 0);
  putSequence(b, a.statSN, a.expCmdSN, a.maxCmdSN);
  u16(b, 40, (a.time2Wait ?? 0) & 0xffff);
  u16(b, 42, (a.time2Retain ?? 0) & 0xffff);
  return b;
}

export interface TaskMgmtResponseArgs extends SequenceNumbers {
  /** TmfResponse value. */
  response: number;
  itt: number;
}

/** Task Management Function Response, RFC 7143 11.6. */
export function taskMgmtResponse(a: TaskMgmtResponseArgs): Buffer {
  const b = bhsFor(Opcode.TASK_MGMT_RSP, FINAL_BIT);
  b[2] = a.response;
  u32(b, 16, a.itt >>> 0);
  putSequence(b, a.statSN, a.expCmdSN, a.maxCmdSN);
  return b;
}

export interface RejectArgs extends SequenceNumbers {
  /** RejectReason value. */
  reason: number;
  /** DataSN/R2TSN for a rejected SNACK; 0 otherwise. */
  dataSN?: number;
}

/** Reject, RFC 7143 11.17. Its data segment is the rejected PDU's header (the 48-byte BHS). */
export function reject(a: RejectArgs): Buffer {
  const b = bhsFor(Opcode.REJECT, FINAL_BIT);
  b[2] = a.reason;
  u32(b, 16, RESERVED_TAG);
  putSequence(b, a.statSN, a.expCmdSN, a.maxCmdSN);
  u32(b, 36, (a.dataSN ?? 0) >>> 0);
  return b;
}

export interface AsyncMessageArgs extends SequenceNumbers {
  /** Raw LUN field; meaningful for a SCSI async event. */
  lun?: Buffer;
  /** AsyncEvent value. */
  asyncEvent: number;
  asyncVCode?: number;
  parameter1?: number;
  parameter2?: number;
  parameter3?: number;
}

/**
 * Asynchronous Message, RFC 7143 11.9. For AsyncEvent SCSI_ASYNC_EVENT the data segment is
 * senseDataSegment(sense).
 */
export function asyncMessage(a: AsyncMessageArgs): Buffer {
  const b = bhsFor(Opcode.ASYNC_MSG, FINAL_BIT);
  putLun(b, a.lun);
  u32(b, 16, RESERVED_TAG);
  putSequence(b, a.statSN, a.expCmdSN, a.maxCmdSN);
  b[36] = a.asyncEvent;
  b[37] = a.asyncVCode ?? 0;
  u16(b, 38, (a.parameter1 ?? 0) & 0xffff);
  u16(b, 40, (a.parameter2 ?? 0) & 0xffff);
  u16(b, 42, (a.parameter3 ?? 0) & 0xffff);
  return b;
}

export interface DigestSettings {
  header: boolean;
  data: boolean;
}

/**
 * The buffers to write for one PDU: [BHS (+ header digest)], then the data untouched, then
 * [padding (+ data digest)] when there is data. Sets DataSegmentLength in `bhs` from `data`.
 * No data digest is sent for an empty data segment (there is no data segment to protect).
 */
export function frame(bhs: Buffer, data: Buffer | null, digests: DigestSettings): Buffer[] {
  const len = data ? data.length : 0;
  writeDataSegmentLength(bhs, len);
  const out: Buffer[] = [];
  if (digests.header) {
    const head = Buffer.allocUnsafe(BHS_LENGTH + DIGEST_LENGTH);
    bhs.copy(head, 0, 0, BHS_LENGTH);
    writeDigest(head, BHS_LENGTH, crc32cDigest([bhs.subarray(0, BHS_LENGTH)]));
    out.push(head);
  } else {
    out.push(bhs);
  }
  if (len === 0) return out;
  out.push(data!);
  const pad = paddingLength(len);
  if (digests.data) {
    const tail = Buffer.alloc(pad + DIGEST_LENGTH);
    writeDigest(tail, pad, crc32cDigest([data!, tail.subarray(0, pad)]));
    out.push(tail);
  } else if (pad > 0) {
    out.push(Buffer.alloc(pad));
  }
  return out;
}
