// A tiny iSCSI initiator written from RFC 7143 §11 (48-byte BHS) for the bad-input tests: it logs
// in with hand-built Login PDUs, then sends well-formed or deliberately broken PDUs and reports
// what came back (a PDU, a connection close, or nothing within the time limit). It shares no code
// with the daemon on purpose, and every wait in it is bounded.
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { crc32c } from '@node-rs/crc32';

export const Op = {
  NOP_OUT: 0x00,
  SCSI_CMD: 0x01,
  TASK_MGMT_REQ: 0x02,
  LOGIN_REQ: 0x03,
  TEXT_REQ: 0x04,
  DATA_OUT: 0x05,
  LOGOUT_REQ: 0x06,
  SNACK_REQ: 0x10,
  NOP_IN: 0x20,
  SCSI_RSP: 0x21,
  TASK_MGMT_RSP: 0x22,
  LOGIN_RSP: 0x23,
  TEXT_RSP: 0x24,
  DATA_IN: 0x25,
  LOGOUT_RSP: 0x26,
  R2T: 0x31,
  ASYNC_MSG: 0x32,
  REJECT: 0x3f,
} as const;

/** Reject reasons, RFC 7143 §11.17.1. */
export const RejectReason = {
  DATA_DIGEST_ERROR: 0x02,
  SNACK_REJECT: 0x03,
  PROTOCOL_ERROR: 0x04,
  COMMAND_NOT_SUPPORTED: 0x05,
  IMMEDIATE_COMMAND_REJECT: 0x06,
  TASK_IN_PROGRESS: 0x07,
  INVALID_DATA_ACK: 0x08,
  INVALID_PDU_FIELD: 0x09,
  LONG_OPERATION_REJECT: 0x0a,
  DEPRECATED: 0x0b,
  WAITING_FOR_LOGOUT: 0x0c,
} as const;

export const BHS_LENGTH = 48;
export const RESERVED_TAG = 0xffffffff;

const STAGE_SECURITY = 0;
const STAGE_OPERATIONAL = 1;
const STAGE_FULL_FEATURE = 3;

export interface RawPdu {
  opcode: number;
  bhs: Buffer;
  ahs: Buffer;
  data: Buffer;
  /** False when header digests are on and the received digest did not match. */
  headerDigestOk: boolean;
}

export type ReadOutcome = { kind: 'pdu'; pdu: RawPdu } | { kind: 'closed' } | { kind: 'timeout' };

// ---------------------------------------------------------------------------------------------
// Field access

export const pduOpcode = (bhs: Buffer): number => bhs[0]! & 0x3f;
export const pduItt = (bhs: Buffer): number => bhs.readUInt32BE(16);
export const pduDataSegmentLength = (bhs: Buffer): number => bhs.readUIntBE(5, 3);
/** StatSN of target PDUs that carry one (offset 24). */
export const pduStatSN = (bhs: Buffer): number => bhs.readUInt32BE(24);
export const rejectReason = (pdu: RawPdu): number => pdu.bhs[2]!;
/** The BHS a Reject PDU carries back in its data segment (null if it is too short). */
export const rejectedBhs = (pdu: RawPdu): Buffer | null => (pdu.data.length >= BHS_LENGTH ? pdu.data.subarray(0, BHS_LENGTH) : null);

/** SAM LUN: peripheral addressing below 256, flat space addressing up to 16383. */
export function encodeLun(lun: number): Buffer {
  const b = Buffer.alloc(8);
  if (lun < 256) b[1] = lun;
  else {
    b[0] = 0x40 | ((lun >> 8) & 0x3f);
    b[1] = lun & 0xff;
  }
  return b;
}

function setDataSegmentLength(bhs: Buffer, n: number): void {
  bhs.writeUIntBE(n, 5, 3);
}

// ---------------------------------------------------------------------------------------------
// BHS builders (initiator PDUs). Each returns a fresh 48-byte buffer; tests may corrupt it.

export interface LoginBhsFields {
  transit: boolean;
  cont?: boolean;
  csg: number;
  nsg: number;
  isid: Buffer;
  tsih?: number;
  itt: number;
  cid?: number;
  cmdSN: number;
  expStatSN: number;
  dataSegmentLength: number;
}

export function loginRequestBhs(f: LoginBhsFields): Buffer {
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = 0x40 | Op.LOGIN_REQ; // Login is always immediate
  b[1] = (f.transit ? 0x80 : 0) | (f.cont ? 0x40 : 0) | ((f.csg & 3) << 2) | (f.transit ? f.nsg & 3 : 0);
  b[2] = 0; // Version-max
  b[3] = 0; // Version-min
  setDataSegmentLength(b, f.dataSegmentLength);
  f.isid.copy(b, 8, 0, 6);
  b.writeUInt16BE(f.tsih ?? 0, 14);
  b.writeUInt32BE(f.itt, 16);
  b.writeUInt16BE(f.cid ?? 0, 20);
  b.writeUInt32BE(f.cmdSN >>> 0, 24);
  b.writeUInt32BE(f.expStatSN >>> 0, 28);
  return b;
}

export interface ScsiCommandBhsFields {
  immediate?: boolean;
  final?: boolean;
  read?: boolean;
  write?: boolean;
  /** Task attribute: 0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA. */
  attr?: number;
  lun: number;
  itt: number;
  expectedDataTransferLength: number;
  cmdSN: number;
  expStatSN: number;
  cdb: Buffer;
  dataSegmentLength: number;
}

export function scsiCommandBhs(f: ScsiCommandBhsFields): Buffer {
  if (f.cdb.length > 16) throw new Error('CDBs over 16 bytes need an AHS, not built here');
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = (f.immediate ? 0x40 : 0) | Op.SCSI_CMD;
  b[1] = (f.final === false ? 0 : 0x80) | (f.read ? 0x40 : 0) | (f.write ? 0x20 : 0) | ((f.attr ?? 1) & 7);
  setDataSegmentLength(b, f.dataSegmentLength);
  encodeLun(f.lun).copy(b, 8);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE(f.expectedDataTransferLength >>> 0, 20);
  b.writeUInt32BE(f.cmdSN >>> 0, 24);
  b.writeUInt32BE(f.expStatSN >>> 0, 28);
  f.cdb.copy(b, 32);
  return b;
}

export interface DataOutBhsFields {
  final: boolean;
  lun: number;
  itt: number;
  ttt: number;
  expStatSN: number;
  dataSN: number;
  bufferOffset: number;
  dataSegmentLength: number;
}

export function dataOutBhs(f: DataOutBhsFields): Buffer {
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = Op.DATA_OUT;
  b[1] = f.final ? 0x80 : 0;
  setDataSegmentLength(b, f.dataSegmentLength);
  encodeLun(f.lun).copy(b, 8);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE(f.ttt >>> 0, 20);
  b.writeUInt32BE(f.expStatSN >>> 0, 28);
  b.writeUInt32BE(f.dataSN >>> 0, 36);
  b.writeUInt32BE(f.bufferOffset >>> 0, 40);
  return b;
}

export interface NopOutBhsFields {
  immediate?: boolean;
  lun?: number;
  itt: number;
  ttt?: number;
  cmdSN: number;
  expStatSN: number;
  dataSegmentLength?: number;
}

export function nopOutBhs(f: NopOutBhsFields): Buffer {
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = (f.immediate === false ? 0 : 0x40) | Op.NOP_OUT;
  b[1] = 0x80;
  setDataSegmentLength(b, f.dataSegmentLength ?? 0);
  encodeLun(f.lun ?? 0).copy(b, 8);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE((f.ttt ?? RESERVED_TAG) >>> 0, 20);
  b.writeUInt32BE(f.cmdSN >>> 0, 24);
  b.writeUInt32BE(f.expStatSN >>> 0, 28);
  return b;
}

export function textRequestBhs(f: { itt: number; cmdSN: number; expStatSN: number; dataSegmentLength: number; immediate?: boolean }): Buffer {
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = (f.immediate ? 0x40 : 0) | Op.TEXT_REQ;
  b[1] = 0x80;
  setDataSegmentLength(b, f.dataSegmentLength);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE(RESERVED_TAG, 20);
  b.writeUInt32BE(f.cmdSN >>> 0, 24);
  b.writeUInt32BE(f.expStatSN >>> 0, 28);
  return b;
}

export function logoutRequestBhs(f: { itt: number; cid?: number; cmdSN: number; expStatSN: number; reason?: number }): Buffer {
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = 0x40 | Op.LOGOUT_REQ;
  b[1] = 0x80 | ((f.reason ?? 0) & 0x7f); // 0: close the session
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt16BE(f.cid ?? 0, 20);
  b.writeUInt32BE(f.cmdSN >>> 0, 24);
  b.writeUInt32BE(f.expStatSN >>> 0, 28);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Text keys (RFC 7143 §6: key=value pairs, each NUL-terminated)

export function encodeTextKeys(pairs: Array<[string, string]>): Buffer {
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

export function parseTextKeys(data: Buffer): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const piece of data.toString('utf8').split('\0')) {
    if (piece === '') continue;
    const i = piece.indexOf('=');
    pairs.push(i < 0 ? [piece, ''] : [piece.slice(0, i), piece.slice(i + 1)]);
  }
  return pairs;
}

// ---------------------------------------------------------------------------------------------
// CDBs used by the tests

export const Cdb = {
  testUnitReady: (): Buffer => Buffer.alloc(6),
  inquiry: (alloc = 96, evpd = false, page = 0): Buffer => {
    const c = Buffer.alloc(6);
    c[0] = 0x12;
    c[1] = evpd ? 1 : 0;
    c[2] = page;
    c.writeUInt16BE(alloc, 3);
    return c;
  },
  reportLuns: (alloc = 4096): Buffer => {
    const c = Buffer.alloc(12);
    c[0] = 0xa0;
    c.writeUInt32BE(alloc, 6);
    return c;
  },
  readCapacity10: (): Buffer => {
    const c = Buffer.alloc(10);
    c[0] = 0x25;
    return c;
  },
  read10: (lba: number, blocks: number): Buffer => {
    const c = Buffer.alloc(10);
    c[0] = 0x28;
    c.writeUInt32BE(lba, 2);
    c.writeUInt16BE(blocks, 7);
    return c;
  },
  write10: (lba: number, blocks: number): Buffer => {
    const c = Buffer.alloc(10);
    c[0] = 0x2a;
    c.writeUInt32BE(lba, 2);
    c.writeUInt16BE(blocks, 7);
    return c;
  },
};

// ---------------------------------------------------------------------------------------------
// The client

export interface RawLoginOptions {
  initiatorName: string;
  /** Required for Normal sessions, omitted for Discovery. */
  targetName?: string;
  sessionType?: 'Normal' | 'Discovery';
  /** One-way CHAP; with `mutual`, the target must prove it knows the target secret too. */
  chap?: { user: string; secret: string; mutual?: { user: string; secret: string } };
  /**
   * Operational keys, merged over defaults that offer every key a Normal session negotiates (so
   * the target only answers). A value of null removes a default key.
   */
  operationalKeys?: Record<string, string | null>;
  /** Extra keys in the first security-stage PDU. */
  securityKeys?: Array<[string, string]>;
  /** Start in the operational stage (no AuthMethod at all). */
  skipSecurity?: boolean;
  timeoutMs?: number;
}

export interface Negotiated {
  headerDigest: boolean;
  dataDigest: boolean;
  initialR2T: boolean;
  immediateData: boolean;
  firstBurstLength: number;
  maxBurstLength: number;
  /** The target's declared MaxRecvDataSegmentLength: the most we may send in one PDU. */
  maxXmitDataSegmentLength: number;
}

export interface RawLoginResult {
  /** Reached the full feature phase. */
  ok: boolean;
  statusClass: number;
  statusDetail: number;
  /** Every key the target sent during the login, in order. */
  keys: Array<[string, string]>;
  /** The last value the target gave for `name`. */
  key(name: string): string | undefined;
  closed: boolean;
  timedOut: boolean;
  /** Why the login did not complete, for assertion messages. */
  error?: string;
  tsih: number;
}

export interface ScsiRequest {
  lun?: number;
  cdb: Buffer;
  /** Expected Data-In length (a read). */
  readLength?: number;
  /** Data-Out payload (a write). */
  writeData?: Buffer;
  timeoutMs?: number;
  keepUnitAttention?: boolean;
}

/** Sense key of fixed (0x70/0x71) or descriptor (0x72/0x73) sense data, null when absent. */
export function senseKey(sense: Buffer | null): number | null {
  if (!sense || sense.length < 3) return null;
  const code = sense[0]! & 0x7f;
  if (code === 0x70 || code === 0x71) return sense[2]! & 0x0f;
  if (code === 0x72 || code === 0x73) return sense[1]! & 0x0f;
  return null;
}

export interface ScsiResult {
  /** SCSI status, or null when no status came (timeout, close, reject). */
  status: number | null;
  /** iSCSI response code of the SCSI Response PDU (0 = command completed at target). */
  response: number | null;
  data: Buffer;
  sense: Buffer | null;
  residual: number;
  reject: RawPdu | null;
  closed: boolean;
  timedOut: boolean;
}

const DEFAULT_OPERATIONAL_NORMAL: Record<string, string> = {
  HeaderDigest: 'None',
  DataDigest: 'None',
  MaxRecvDataSegmentLength: '262144',
  InitialR2T: 'Yes',
  ImmediateData: 'Yes',
  MaxBurstLength: '262144',
  FirstBurstLength: '65536',
  MaxOutstandingR2T: '1',
  MaxConnections: '1',
  DefaultTime2Wait: '0',
  DefaultTime2Retain: '0',
  ErrorRecoveryLevel: '0',
  DataPDUInOrder: 'Yes',
  DataSequenceInOrder: 'Yes',
};

const DEFAULT_OPERATIONAL_DISCOVERY: Record<string, string> = {
  HeaderDigest: 'None',
  DataDigest: 'None',
  MaxRecvDataSegmentLength: '262144',
};

// Keys a target may send on its own that need no answer.
const DECLARATIVE_KEYS = new Set([
  'MaxRecvDataSegmentLength',
  'TargetPortalGroupTag',
  'TargetAlias',
  'TargetAddress',
  'TargetName',
]);

const MAX_LOGIN_ROUNDS = 12;

function md5(...parts: Buffer[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
}

function decodeChapBinary(v: string): Buffer | null {
  if (/^0x[0-9a-f]*$/i.test(v) && v.length % 2 === 0) return Buffer.from(v.slice(2), 'hex');
  if (/^0b/i.test(v)) return Buffer.from(v.slice(2), 'base64');
  return null;
}

export class RawIscsiClient {
  readonly socket: Socket;
  isid: Buffer = Buffer.from([0x80, 0x12, 0x34, 0x56, 0x00, 0x00]);
  cmdSN = 1;
  expStatSN = 0;
  expCmdSN = 0;
  maxCmdSN = 0;
  headerDigest = false;
  dataDigest = false;
  negotiated: Negotiated | null = null;
  /** PDUs received and not yet claimed by a wait. */
  readonly inbox: RawPdu[] = [];
  /** Every PDU received, for diagnostics (bounded). */
  readonly received: RawPdu[] = [];
  private nextItt = 1;
  private rx: Buffer = Buffer.alloc(0);
  private isClosed = false;
  private waiters: Array<() => void> = [];
  /** Answer the target's NOP-In pings (TTT != 0xffffffff) so idle sessions stay up. */
  autoAnswerPings = true;
  /** Keep a copy of received PDUs in `received` (off for clients that move a lot of data). */
  keepReceived = true;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const onGone = (): void => {
      this.isClosed = true;
      this.wake();
    };
    socket.on('close', onGone);
    socket.on('end', onGone);
    socket.on('error', onGone);
  }

  static connect(port: number, host = '127.0.0.1', timeoutMs = 5_000): Promise<RawIscsiClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host });
      s.setNoDelay(true);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(new RawIscsiClient(s));
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  allocItt(): number {
    const itt = this.nextItt;
    this.nextItt = (this.nextItt + 1) >>> 0;
    if (this.nextItt === RESERVED_TAG) this.nextItt = 1;
    return itt;
  }

  destroy(): void {
    this.isClosed = true;
    this.socket.destroy();
    this.wake();
  }

  /** Writes bytes exactly as given (no padding, no digests). */
  writeRaw(buf: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(buf);
  }

  /** Frames and sends a PDU: BHS, AHS, header digest, data, padding, data digest as negotiated. */
  sendPdu(bhs: Buffer, data: Buffer = Buffer.alloc(0), ahs: Buffer = Buffer.alloc(0)): void {
    const parts: Buffer[] = [bhs, ahs];
    if (this.headerDigest) parts.push(digestBytes(crc32c(Buffer.concat([bhs, ahs]))));
    if (data.length > 0) {
      const pad = (4 - (data.length % 4)) % 4;
      parts.push(data, Buffer.alloc(pad));
      if (this.dataDigest) parts.push(digestBytes(crc32c(Buffer.concat([data, Buffer.alloc(pad)]))));
    }
    this.writeRaw(Buffer.concat(parts));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private onData(chunk: Buffer): void {
    this.rx = this.rx.length === 0 ? chunk : Buffer.concat([this.rx, chunk]);
    for (;;) {
      if (this.rx.length < BHS_LENGTH) break;
      const ahsLen = this.rx[4]! * 4;
      const dsl = this.rx.readUIntBE(5, 3);
      const hd = this.headerDigest ? 4 : 0;
      const padded = dsl + ((4 - (dsl % 4)) % 4);
      const dd = this.dataDigest && dsl > 0 ? 4 : 0;
      const total = BHS_LENGTH + ahsLen + hd + padded + dd;
      if (this.rx.length < total) break;
      const bhs = Buffer.from(this.rx.subarray(0, BHS_LENGTH));
      const ahs = Buffer.from(this.rx.subarray(BHS_LENGTH, BHS_LENGTH + ahsLen));
      let headerDigestOk = true;
      if (hd) {
        const want = crc32c(this.rx.subarray(0, BHS_LENGTH + ahsLen));
        headerDigestOk = this.rx.readUInt32LE(BHS_LENGTH + ahsLen) === want;
      }
      const dataStart = BHS_LENGTH + ahsLen + hd;
      const data = Buffer.from(this.rx.subarray(dataStart, dataStart + dsl));
      this.rx = this.rx.subarray(total);
      this.deliver({ opcode: pduOpcode(bhs), bhs, ahs, data, headerDigestOk });
    }
  }

  private deliver(pdu: RawPdu): void {
    if (this.keepReceived) {
      this.received.push(pdu);
      if (this.received.length > 2000) this.received.splice(0, 1000);
    }
    this.noteSequenceNumbers(pdu);
    if (pdu.opcode === Op.NOP_IN && this.autoAnswerPings && pdu.bhs.readUInt32BE(20) !== RESERVED_TAG) {
      this.sendPdu(
        nopOutBhs({
          immediate: true,
          itt: RESERVED_TAG,
          ttt: pdu.bhs.readUInt32BE(20),
          lun: 0,
          cmdSN: this.cmdSN,
          expStatSN: this.expStatSN,
        }),
      );
      return;
    }
    this.inbox.push(pdu);
    this.wake();
  }

  private noteSequenceNumbers(pdu: RawPdu): void {
    const op = pdu.opcode;
    const carriesStatSN =
      op === Op.SCSI_RSP ||
      op === Op.LOGIN_RSP ||
      op === Op.TEXT_RSP ||
      op === Op.LOGOUT_RSP ||
      op === Op.TASK_MGMT_RSP ||
      op === Op.NOP_IN ||
      op === Op.REJECT ||
      op === Op.ASYNC_MSG ||
      (op === Op.DATA_IN && (pdu.bhs[1]! & 0x01) !== 0);
    // StatSN of an unsolicited NOP-In is not advanced by the target (RFC 7143 §11.19); taking
    // the max keeps ExpStatSN right either way.
    if (carriesStatSN) {
      const next = (pduStatSN(pdu.bhs) + 1) >>> 0;
      if (op === Op.LOGIN_RSP || ((next - this.expStatSN) | 0) > 0) this.expStatSN = next;
    }
    // Every target PDU (opcodes 0x20-0x3f) carries ExpCmdSN and MaxCmdSN at offsets 28 and 32.
    if ((op & 0x20) !== 0) {
      this.expCmdSN = pdu.bhs.readUInt32BE(28);
      this.maxCmdSN = pdu.bhs.readUInt32BE(32);
    }
  }

  /**
   * The first inbox PDU satisfying `pred` (removed from the inbox), waiting up to `timeoutMs`
   * for one to arrive; 'closed' once the connection is gone and nothing matching is left.
   */
  async waitFor(pred: (p: RawPdu) => boolean, timeoutMs: number): Promise<ReadOutcome> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return { kind: 'pdu', pdu: this.inbox.splice(i, 1)[0]! };
      if (this.isClosed) return { kind: 'closed' };
      const left = deadline - Date.now();
      if (left <= 0) return { kind: 'timeout' };
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          const k = this.waiters.indexOf(done);
          if (k >= 0) this.waiters.splice(k, 1);
          resolve();
        }, left);
        const done = (): void => {
          clearTimeout(t);
          resolve();
        };
        this.waiters.push(done);
      });
    }
  }

  /** The next PDU of any kind. */
  next(timeoutMs: number): Promise<ReadOutcome> {
    return this.waitFor(() => true, timeoutMs);
  }

  /**
   * Waits until the target closes the connection: true if it did within `timeoutMs`. PDUs
   * that arrive meanwhile stay in the inbox.
   */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const r = await this.waitFor(() => false, timeoutMs);
    return r.kind === 'closed';
  }

  // -------------------------------------------------------------------------------------------
  // Login

  async login(o: RawLoginOptions): Promise<RawLoginResult> {
    const deadline = Date.now() + (o.timeoutMs ?? 10_000);
    const itt = this.allocItt();
    const sessionType = o.sessionType ?? (o.targetName === undefined ? 'Discovery' : 'Normal');
    const received: Array<[string, string]> = [];
    const offered = new Map<string, string>();
    const result = (partial: Partial<RawLoginResult> & { ok: boolean }): RawLoginResult => ({
      statusClass: -1,
      statusDetail: -1,
      closed: this.isClosed,
      timedOut: false,
      tsih: 0,
      keys: received,
      key: (n) => [...received].reverse().find(([k]) => k === n)?.[1],
      ...partial,
    });
    let tsih = 0;
    let rounds = 0;
    let pendingEcho: Array<[string, string]> = [];

    type Step = { ok: true; transit: boolean; nsg: number; keys: Array<[string, string]> } | { ok: false; res: RawLoginResult };
    const step = async (csg: number, nsg: number, transit: boolean, pairs: Array<[string, string]>): Promise<Step> => {
      if (++rounds > MAX_LOGIN_ROUNDS) return { ok: false, res: result({ ok: false, error: 'too many login rounds' }) };
      for (const [k, v] of pairs) offered.set(k, v);
      const all = [...pendingEcho, ...pairs];
      pendingEcho = [];
      const data = encodeTextKeys(all);
      const stageKeys: Array<[string, string]> = [];
      let cont = false;
      let first = true;
      // A response with C set carries partial text: ask for the rest with empty requests.
      do {
        this.sendPdu(
          loginRequestBhs({
            transit: first ? transit && !cont : false,
            csg,
            nsg,
            isid: this.isid,
            tsih,
            itt,
            cmdSN: this.cmdSN,
            expStatSN: this.expStatSN,
            dataSegmentLength: first ? data.length : 0,
          }),
          first ? data : Buffer.alloc(0),
        );
        first = false;
        const r = await this.waitFor((p) => p.opcode === Op.LOGIN_RSP || p.opcode === Op.REJECT, Math.max(0, deadline - Date.now()));
        if (r.kind !== 'pdu') {
          return { ok: false, res: result({ ok: false, closed: r.kind === 'closed', timedOut: r.kind === 'timeout', error: `login: ${r.kind}` }) };
        }
        const p = r.pdu;
        if (p.opcode === Op.REJECT) {
          return { ok: false, res: result({ ok: false, error: `login rejected, reason 0x${rejectReason(p).toString(16)}` }) };
        }
        const statusClass = p.bhs[36]!;
        const statusDetail = p.bhs[37]!;
        tsih = p.bhs.readUInt16BE(14);
        const keys = parseTextKeys(p.data);
        received.push(...keys);
        stageKeys.push(...keys);
        if (statusClass !== 0) {
          return { ok: false, res: result({ ok: false, statusClass, statusDetail, tsih, error: `login status 0x${statusClass.toString(16).padStart(2, '0')}${statusDetail.toString(16).padStart(2, '0')}` }) };
        }
        cont = (p.bhs[1]! & 0x40) !== 0;
        if (!cont) {
          const t = (p.bhs[1]! & 0x80) !== 0;
          for (const [k, v] of stageKeys) {
            if (!offered.has(k) && !DECLARATIVE_KEYS.has(k) && !k.startsWith('CHAP_') && k !== 'AuthMethod') pendingEcho.push([k, v]);
          }
          return { ok: true, transit: t, nsg: p.bhs[1]! & 3, keys: stageKeys };
        }
      } while (Date.now() < deadline);
      return { ok: false, res: result({ ok: false, timedOut: true, error: 'login: continued text never ended' }) };
    };

    const names: Array<[string, string]> = [['InitiatorName', o.initiatorName]];
    if (o.targetName !== undefined) names.push(['TargetName', o.targetName]);
    names.push(['SessionType', sessionType]);

    let namesSent = false;
    if (!o.skipSecurity) {
      const first: Array<[string, string]> = [...names, ['AuthMethod', o.chap ? 'CHAP,None' : 'None'], ...(o.securityKeys ?? [])];
      namesSent = true;
      let s = await step(STAGE_SECURITY, STAGE_OPERATIONAL, !o.chap, first);
      if (!s.ok) return s.res;
      const auth = s.keys.find(([k]) => k === 'AuthMethod')?.[1];
      if (o.chap && auth === 'CHAP') {
        s = await step(STAGE_SECURITY, STAGE_OPERATIONAL, false, [['CHAP_A', '5']]);
        if (!s.ok) return s.res;
        const id = Number(s.keys.find(([k]) => k === 'CHAP_I')?.[1]);
        const challenge = decodeChapBinary(s.keys.find(([k]) => k === 'CHAP_C')?.[1] ?? '');
        if (!Number.isInteger(id) || id < 0 || id > 255 || challenge === null) {
          return result({ ok: false, error: `bad CHAP challenge from target: ${JSON.stringify(s.keys)}` });
        }
        const reply: Array<[string, string]> = [
          ['CHAP_N', o.chap.user],
          ['CHAP_R', `0x${md5(Buffer.from([id]), Buffer.from(o.chap.secret), challenge).toString('hex')}`],
        ];
        const myId = randomBytes(1)[0]!;
        const myChallenge = randomBytes(16);
        if (o.chap.mutual) reply.push(['CHAP_I', String(myId)], ['CHAP_C', `0x${myChallenge.toString('hex')}`]);
        s = await step(STAGE_SECURITY, STAGE_OPERATIONAL, true, reply);
        if (!s.ok) return s.res;
        if (o.chap.mutual) {
          const n = s.keys.find(([k]) => k === 'CHAP_N')?.[1];
          const r = decodeChapBinary(s.keys.find(([k]) => k === 'CHAP_R')?.[1] ?? '');
          const want = md5(Buffer.from([myId]), Buffer.from(o.chap.mutual.secret), myChallenge);
          if (n !== o.chap.mutual.user || r === null || !r.equals(want)) {
            return result({ ok: false, error: `target failed mutual CHAP (CHAP_N=${n})` });
          }
        }
      }
      while (!s.transit) {
        s = await step(STAGE_SECURITY, STAGE_OPERATIONAL, true, []);
        if (!s.ok) return s.res;
      }
      if (s.nsg === STAGE_FULL_FEATURE) return this.finishLogin(result, tsih, offered);
    }

    const defaults = sessionType === 'Discovery' ? DEFAULT_OPERATIONAL_DISCOVERY : DEFAULT_OPERATIONAL_NORMAL;
    const merged: Record<string, string | null> = { ...defaults, ...(o.operationalKeys ?? {}) };
    const opPairs: Array<[string, string]> = namesSent ? [] : [...names];
    for (const [k, v] of Object.entries(merged)) if (v !== null) opPairs.push([k, v]);
    let s = await step(STAGE_OPERATIONAL, STAGE_FULL_FEATURE, true, opPairs);
    if (!s.ok) return s.res;
    while (!s.transit) {
      s = await step(STAGE_OPERATIONAL, STAGE_FULL_FEATURE, true, []);
      if (!s.ok) return s.res;
    }
    return this.finishLogin(result, tsih, offered);
  }

  private finishLogin(
    result: (p: Partial<RawLoginResult> & { ok: boolean }) => RawLoginResult,
    tsih: number,
    offered: Map<string, string>,
  ): RawLoginResult {
    const res = result({ ok: true, statusClass: 0, statusDetail: 0, tsih });
    const v = (k: string): string | undefined => res.key(k) ?? offered.get(k);
    const num = (k: string, dflt: number): number => {
      const n = Number(v(k));
      return Number.isFinite(n) && n > 0 ? n : dflt;
    };
    this.negotiated = {
      headerDigest: res.key('HeaderDigest') === 'CRC32C',
      dataDigest: res.key('DataDigest') === 'CRC32C',
      initialR2T: (v('InitialR2T') ?? 'Yes') === 'Yes',
      immediateData: (v('ImmediateData') ?? 'Yes') === 'Yes',
      firstBurstLength: num('FirstBurstLength', 65536),
      maxBurstLength: num('MaxBurstLength', 262144),
      maxXmitDataSegmentLength: Number(res.key('MaxRecvDataSegmentLength') ?? 8192) || 8192,
    };
    // Digests start with the first PDU of the full feature phase.
    this.headerDigest = this.negotiated.headerDigest;
    this.dataDigest = this.negotiated.dataDigest;
    return res;
  }

  // -------------------------------------------------------------------------------------------
  // Full feature phase

  /** NOP-Out ping (immediate); true if the matching NOP-In came back in time. */
  async ping(timeoutMs = 5_000, payload: Buffer = Buffer.alloc(0)): Promise<boolean> {
    const itt = this.allocItt();
    this.sendPdu(nopOutBhs({ immediate: true, itt, cmdSN: this.cmdSN, expStatSN: this.expStatSN, dataSegmentLength: payload.length }), payload);
    const r = await this.waitFor((p) => p.opcode === Op.NOP_IN && pduItt(p.bhs) === itt, timeoutMs);
    return r.kind === 'pdu';
  }

  /**
   * Runs one SCSI command to completion: sends immediate and unsolicited data as negotiated,
   * answers R2Ts, collects Data-In, and returns the status (or why there was none). A UNIT
   * ATTENTION (the first command after login usually gets one) is retried a few times unless
   * `keepUnitAttention` is set.
   */
  async scsi(o: ScsiRequest): Promise<ScsiResult> {
    for (let attempt = 0; ; attempt++) {
      const r = await this.scsiOnce(o);
      if (o.keepUnitAttention || attempt >= 3 || r.status !== 2 || senseKey(r.sense) !== 6) return r;
    }
  }

  /** One SCSI command, no retries. */
  async scsiOnce(o: ScsiRequest): Promise<ScsiResult> {
    const n = this.negotiated;
    if (!n) throw new Error('scsi() before a successful login');
    const lun = o.lun ?? 0;
    const itt = this.allocItt();
    const write = o.writeData ?? Buffer.alloc(0);
    const readLength = o.readLength ?? 0;
    const edtl = write.length > 0 ? write.length : readLength;
    const deadline = Date.now() + (o.timeoutMs ?? 15_000);
    const maxSeg = n.maxXmitDataSegmentLength;
    const firstBurst = Math.min(n.firstBurstLength, write.length);
    const immLen = write.length > 0 && n.immediateData ? Math.min(firstBurst, maxSeg) : 0;
    const unsolicitedEnd = write.length > 0 && !n.initialR2T ? firstBurst : immLen;

    this.sendPdu(
      scsiCommandBhs({
        final: unsolicitedEnd <= immLen,
        read: readLength > 0,
        write: write.length > 0,
        lun,
        itt,
        expectedDataTransferLength: edtl,
        cmdSN: this.cmdSN,
        expStatSN: this.expStatSN,
        cdb: o.cdb,
        dataSegmentLength: immLen,
      }),
      write.subarray(0, immLen),
    );
    this.cmdSN = (this.cmdSN + 1) >>> 0;
    if (unsolicitedEnd > immLen) this.sendDataOut(lun, itt, RESERVED_TAG, write, immLen, unsolicitedEnd, maxSeg);

    const readBuf = Buffer.alloc(readLength);
    let readHigh = 0;
    const res: ScsiResult = { status: null, response: null, data: readBuf, sense: null, residual: 0, reject: null, closed: false, timedOut: false };
    const mine = (p: RawPdu): boolean => {
      if (p.opcode === Op.REJECT) {
        const rb = rejectedBhs(p);
        return rb !== null && pduItt(rb) === itt;
      }
      return pduItt(p.bhs) === itt && (p.opcode === Op.DATA_IN || p.opcode === Op.R2T || p.opcode === Op.SCSI_RSP);
    };
    for (;;) {
      const r = await this.waitFor(mine, Math.max(0, deadline - Date.now()));
      if (r.kind === 'closed') return { ...res, data: readBuf.subarray(0, readHigh), closed: true };
      if (r.kind === 'timeout') return { ...res, data: readBuf.subarray(0, readHigh), timedOut: true };
      const p = r.pdu;
      if (p.opcode === Op.REJECT) return { ...res, reject: p };
      if (p.opcode === Op.R2T) {
        const ttt = p.bhs.readUInt32BE(20);
        const off = p.bhs.readUInt32BE(40);
        const len = p.bhs.readUInt32BE(44);
        this.sendDataOut(lun, itt, ttt, write, off, Math.min(off + len, write.length), maxSeg);
        continue;
      }
      if (p.opcode === Op.DATA_IN) {
        const off = p.bhs.readUInt32BE(40);
        if (off + p.data.length <= readBuf.length) p.data.copy(readBuf, off);
        readHigh = Math.max(readHigh, Math.min(off + p.data.length, readBuf.length));
        if ((p.bhs[1]! & 0x01) !== 0) {
          res.status = p.bhs[3]!;
          res.response = 0;
          res.residual = p.bhs.readUInt32BE(44);
          return { ...res, data: readBuf.subarray(0, readHigh) };
        }
        continue;
      }
      // SCSI Response
      res.response = p.bhs[2]!;
      res.status = p.bhs[3]!;
      res.residual = p.bhs.readUInt32BE(44);
      if (p.data.length >= 2) {
        const senseLen = p.data.readUInt16BE(0);
        res.sense = p.data.subarray(2, 2 + senseLen);
      }
      return { ...res, data: readBuf.subarray(0, readHigh) };
    }
  }

  /** Data-Out PDUs for bytes [from, to) of `data`, each at most `maxSeg` long. */
  sendDataOut(lun: number, itt: number, ttt: number, data: Buffer, from: number, to: number, maxSeg: number): void {
    let dataSN = 0;
    for (let off = from; off < to; off += maxSeg) {
      const len = Math.min(maxSeg, to - off);
      this.sendPdu(
        dataOutBhs({ final: off + len >= to, lun, itt, ttt, expStatSN: this.expStatSN, dataSN: dataSN++, bufferOffset: off, dataSegmentLength: len }),
        data.subarray(off, off + len),
      );
    }
  }

  /** SendTargets=All in a Discovery session: the target records as key/value pairs. */
  async sendTargets(timeoutMs = 5_000): Promise<Array<[string, string]> | null> {
    const itt = this.allocItt();
    const data = encodeTextKeys([['SendTargets', 'All']]);
    this.sendPdu(textRequestBhs({ itt, cmdSN: this.cmdSN, expStatSN: this.expStatSN, dataSegmentLength: data.length, immediate: true }), data);
    const r = await this.waitFor((p) => p.opcode === Op.TEXT_RSP && pduItt(p.bhs) === itt, timeoutMs);
    return r.kind === 'pdu' ? parseTextKeys(r.pdu.data) : null;
  }

  /** Logout (close the session); true if a Logout Response with response 0 came back. */
  async logout(timeoutMs = 5_000): Promise<boolean> {
    const itt = this.allocItt();
    this.sendPdu(logoutRequestBhs({ itt, cmdSN: this.cmdSN, expStatSN: this.expStatSN }));
    const r = await this.waitFor((p) => p.opcode === Op.LOGOUT_RSP && pduItt(p.bhs) === itt, timeoutMs);
    return r.kind === 'pdu' && r.pdu.bhs[2] === 0;
  }
}

/** CRC32C digests travel least significant byte first (as libiscsi and Linux initiators send them). */
export function digestBytes(crc: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(crc >>> 0, 0);
  return b;
}
