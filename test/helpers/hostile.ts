// A hostile iSCSI initiator for the attack tests and the PDU-sequence fuzzer, written from RFC
// 7143 only (on top of rawclient.ts, which was too): it logs in with the keys a test chooses,
// then sends SCSI commands, Data-Out PDUs and task management requests with exactly the fields
// the test chooses (offsets, lengths, DataSN, TTT, F and I bits, CmdSN), pipelines them, and
// can stop reading its socket. It never answers an R2T by itself: what a test does not send is
// not sent. Everything the target sends is filed by Initiator Task Tag; every wait is bounded.
import { readdir, readFile } from 'node:fs/promises';
import {
  BHS_LENGTH,
  dataOutBhs,
  loginRequestBhs,
  logoutRequestBhs,
  nopOutBhs,
  Op,
  pduItt,
  RawIscsiClient,
  rejectedBhs,
  rejectReason,
  RESERVED_TAG,
  scsiCommandBhs,
  encodeLun,
  type RawLoginOptions,
  type RawLoginResult,
  type RawPdu,
} from './rawclient.js';

export { RESERVED_TAG };

/** Operational keys a hostile test negotiates (RFC 7143 §13). */
export interface HostileKeys {
  ImmediateData?: 'Yes' | 'No';
  InitialR2T?: 'Yes' | 'No';
  FirstBurstLength?: number;
  MaxBurstLength?: number;
  DataPDUInOrder?: 'Yes' | 'No';
  DataSequenceInOrder?: 'Yes' | 'No';
  MaxOutstandingR2T?: number;
  MaxRecvDataSegmentLength?: number;
}

export interface HostileLoginOptions {
  port: number;
  initiatorName: string;
  targetName: string;
  keys?: HostileKeys;
  isid?: Buffer;
  chap?: RawLoginOptions['chap'];
  timeoutMs?: number;
}

/** What the session ended up with, from the target's answers (or our offer where it did not answer). */
export interface HostileSessionParams {
  immediateData: boolean;
  initialR2T: boolean;
  firstBurstLength: number;
  maxBurstLength: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  maxOutstandingR2T: number;
  /** Largest data segment we may send (the target's MaxRecvDataSegmentLength). */
  maxXmit: number;
}

export interface R2t {
  ttt: number;
  r2tSN: number;
  offset: number;
  length: number;
}

/** Everything the target has said about one task (by ITT). */
export interface TaskRecord {
  itt: number;
  r2ts: R2t[];
  /** Bytes of Data-In received. */
  dataInBytes: number;
  /** Data-In assembled at its Buffer Offsets, when the command was sent with `collectData`. */
  data: Buffer | null;
  /** SCSI status from a SCSI Response or a Data-In with S=1. */
  status: number | null;
  /** iSCSI response code of a SCSI Response (0: command completed at target). */
  response: number | null;
  sense: Buffer | null;
  /** Rejects whose carried BHS names this ITT (reason, the BHS they carried). */
  rejects: Array<{ reason: number; bhs: Buffer }>;
  /** Response code of a Task Management Function Response. */
  tmfResponse: number | null;
  logoutResponse: number | null;
  nopIn: boolean;
  /** A final answer arrived (status, TMF/Logout response, NOP-In). */
  done: boolean;
}

export type WaitResult = 'done' | 'closed' | 'timeout';

export const ScsiStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  ACA_ACTIVE: 0x30,
  TASK_ABORTED: 0x40,
} as const;

/** Task management function codes, RFC 7143 §11.5.1. */
export const TmfFunction = {
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LOGICAL_UNIT_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
  TASK_REASSIGN: 8,
} as const;

export interface TmfBhsFields {
  immediate?: boolean;
  func: number;
  lun: number;
  itt: number;
  refTaskTag: number;
  cmdSN: number;
  expStatSN: number;
  refCmdSN: number;
  expDataSN?: number;
}

/** Task Management Function Request, RFC 7143 §11.5. */
export function tmfRequestBhs(f: TmfBhsFields): Buffer {
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = (f.immediate === false ? 0 : 0x40) | Op.TASK_MGMT_REQ;
  b[1] = 0x80 | (f.func & 0x7f);
  encodeLun(f.lun).copy(b, 8);
  b.writeUInt32BE(f.itt >>> 0, 16);
  b.writeUInt32BE(f.refTaskTag >>> 0, 20);
  b.writeUInt32BE(f.cmdSN >>> 0, 24);
  b.writeUInt32BE(f.expStatSN >>> 0, 28);
  b.writeUInt32BE(f.refCmdSN >>> 0, 32);
  b.writeUInt32BE((f.expDataSN ?? 0) >>> 0, 36);
  return b;
}

export interface CommandOptions {
  cdb: Buffer;
  lun?: number;
  /** Expected Data Transfer Length; the CDB's transfer length is not checked against it. */
  edtl: number;
  read?: boolean;
  write?: boolean;
  /** F bit; default: set unless unsolicited Data-Out is to follow (the test decides). */
  final?: boolean;
  /** I bit: an immediate command does not advance CmdSN (RFC 7143 §3.2.2.1). */
  immediate?: boolean;
  /** Immediate data carried in the command PDU. */
  data?: Buffer;
  /** CmdSN to put in the PDU; the session's current one when absent (then advanced unless I=1). */
  cmdSN?: number;
  itt?: number;
  attr?: number;
  /** Assemble Data-In of this task in its record (reads a test verifies). */
  collectData?: boolean;
}

export interface DataOutOptions {
  itt: number;
  lun?: number;
  /** RESERVED_TAG (0xffffffff) for unsolicited data, else the R2T's Target Transfer Tag. */
  ttt?: number;
  offset: number;
  data: Buffer;
  dataSN: number;
  final: boolean;
}

const KEY_DEFAULTS = {
  FirstBurstLength: 65536,
  MaxBurstLength: 262144,
  MaxOutstandingR2T: 1,
};

export class HostileInitiator {
  readonly raw: RawIscsiClient;
  readonly login: RawLoginResult;
  readonly params: HostileSessionParams;
  private readonly tasks = new Map<number, TaskRecord>();
  private readonly collect = new Set<number>();
  /** Rejects that carried no BHS we could attribute. */
  readonly strayRejects: RawPdu[] = [];
  /** Asynchronous messages, unsolicited NOP-Ins and anything else without a known ITT. */
  readonly unsolicited: RawPdu[] = [];
  private paused = false;

  private constructor(raw: RawIscsiClient, login: RawLoginResult | null, offered: HostileKeys) {
    this.raw = raw;
    this.login = login ?? { ok: false, statusClass: -1, statusDetail: -1, keys: [], key: () => undefined, closed: false, timedOut: false, tsih: 0 };
    raw.keepReceived = false;
    // RFC 7143 §13 defaults where the login did not say (a login the test drove by hand).
    const n = raw.negotiated ?? { headerDigest: false, dataDigest: false, initialR2T: true, immediateData: true, firstBurstLength: 65536, maxBurstLength: 262144, maxXmitDataSegmentLength: 8192 };
    const yes = (k: keyof HostileKeys, dflt: 'Yes' | 'No'): boolean => (this.login.key(k) ?? String(offered[k] ?? dflt)) === 'Yes';
    const num = (k: keyof HostileKeys & keyof typeof KEY_DEFAULTS): number => {
      const v = Number(this.login.key(k) ?? offered[k] ?? KEY_DEFAULTS[k]);
      return Number.isFinite(v) && v > 0 ? v : KEY_DEFAULTS[k];
    };
    this.params = {
      immediateData: n.immediateData,
      initialR2T: n.initialR2T,
      firstBurstLength: n.firstBurstLength,
      maxBurstLength: n.maxBurstLength,
      dataPDUInOrder: yes('DataPDUInOrder', 'Yes'),
      dataSequenceInOrder: yes('DataSequenceInOrder', 'Yes'),
      maxOutstandingR2T: num('MaxOutstandingR2T'),
      maxXmit: n.maxXmitDataSegmentLength,
    };
  }

  /**
   * Wraps a connection whose login the caller drove (or did not drive) itself; parameters not
   * learnt from a rawclient login take RFC 7143's defaults.
   */
  static adopt(raw: RawIscsiClient, login: RawLoginResult | null = null, offered: HostileKeys = {}): HostileInitiator {
    return new HostileInitiator(raw, login, offered);
  }

  /** Connects and logs in; throws (with the target's answer) when the login does not succeed. */
  static async connect(o: HostileLoginOptions): Promise<HostileInitiator> {
    const raw = await RawIscsiClient.connect(o.port);
    if (o.isid) raw.isid = Buffer.from(o.isid);
    const k = o.keys ?? {};
    const operationalKeys: Record<string, string> = {};
    for (const [key, v] of Object.entries(k)) if (v !== undefined) operationalKeys[key] = String(v);
    const login = await raw.login({
      initiatorName: o.initiatorName,
      targetName: o.targetName,
      operationalKeys,
      chap: o.chap,
      timeoutMs: o.timeoutMs ?? 10_000,
    });
    if (!login.ok) {
      raw.destroy();
      throw new Error(`hostile login failed: ${login.error} ${JSON.stringify(login.keys)}`);
    }
    return new HostileInitiator(raw, login, k);
  }

  get closed(): boolean {
    return this.raw.closed;
  }

  get cmdSN(): number {
    return this.raw.cmdSN;
  }

  /** The window the target last announced: commands with CmdSN in [ExpCmdSN, MaxCmdSN]. */
  get window(): { expCmdSN: number; maxCmdSN: number } {
    return { expCmdSN: this.raw.expCmdSN, maxCmdSN: this.raw.maxCmdSN };
  }

  /** Stops reading the socket: the kernel buffers fill and the target's sends back up. */
  pauseReading(): void {
    this.paused = true;
    this.raw.socket.pause();
  }

  resumeReading(): void {
    this.paused = false;
    this.raw.socket.resume();
  }

  get readingPaused(): boolean {
    return this.paused;
  }

  /** Local TCP port of this connection (to find it in /proc/net/tcp). */
  get localPort(): number {
    return this.raw.socket.localPort ?? -1;
  }

  destroy(): void {
    this.raw.destroy();
  }

  record(itt: number): TaskRecord {
    let r = this.tasks.get(itt);
    if (!r) {
      r = {
        itt,
        r2ts: [],
        dataInBytes: 0,
        data: null,
        status: null,
        response: null,
        sense: null,
        rejects: [],
        tmfResponse: null,
        logoutResponse: null,
        nopIn: false,
        done: false,
      };
      this.tasks.set(itt, r);
    }
    return r;
  }

  /** Forgets a finished task (long pipelines keep the map small). */
  forget(itt: number): void {
    this.tasks.delete(itt);
    this.collect.delete(itt);
  }

  /** Sends a SCSI Command PDU exactly as described; returns its ITT. */
  command(o: CommandOptions): number {
    const itt = o.itt ?? this.raw.allocItt();
    const data = o.data ?? Buffer.alloc(0);
    const cmdSN = o.cmdSN ?? this.raw.cmdSN;
    this.record(itt);
    if (o.collectData) {
      this.collect.add(itt);
      this.record(itt).data = Buffer.alloc(o.edtl);
    }
    this.raw.sendPdu(
      scsiCommandBhs({
        immediate: o.immediate,
        final: o.final ?? true,
        read: o.read,
        write: o.write,
        attr: o.attr,
        lun: o.lun ?? 0,
        itt,
        expectedDataTransferLength: o.edtl,
        cmdSN,
        expStatSN: this.raw.expStatSN,
        cdb: o.cdb,
        dataSegmentLength: data.length,
      }),
      data,
    );
    if (o.cmdSN === undefined && !o.immediate) this.raw.cmdSN = (this.raw.cmdSN + 1) >>> 0;
    return itt;
  }

  /** Sends one Data-Out PDU with exactly these fields. */
  dataOut(o: DataOutOptions): Buffer {
    const bhs = dataOutBhs({
      final: o.final,
      lun: o.lun ?? 0,
      itt: o.itt,
      ttt: o.ttt ?? RESERVED_TAG,
      expStatSN: this.raw.expStatSN,
      dataSN: o.dataSN,
      bufferOffset: o.offset,
      dataSegmentLength: o.data.length,
    });
    this.raw.sendPdu(bhs, o.data);
    return bhs;
  }

  /**
   * Answers one R2T correctly: Data-Out PDUs of at most maxXmit bytes covering exactly
   * [offset, offset+length) of `payload`, DataSN from 0, F on the last.
   */
  answerR2t(itt: number, r2t: R2t, payload: Buffer, lun = 0): void {
    const end = Math.min(r2t.offset + r2t.length, payload.length);
    let sn = 0;
    for (let off = r2t.offset; off < end; off += this.params.maxXmit) {
      const len = Math.min(this.params.maxXmit, end - off);
      this.dataOut({ itt, lun, ttt: r2t.ttt, offset: off, data: payload.subarray(off, off + len), dataSN: sn++, final: off + len >= end });
    }
  }

  tmf(f: Omit<TmfBhsFields, 'itt' | 'cmdSN' | 'expStatSN'> & { itt?: number; cmdSN?: number }): number {
    const itt = f.itt ?? this.raw.allocItt();
    this.record(itt);
    this.raw.sendPdu(tmfRequestBhs({ ...f, itt, cmdSN: f.cmdSN ?? this.raw.cmdSN, expStatSN: this.raw.expStatSN }));
    if (f.immediate === false && f.cmdSN === undefined) this.raw.cmdSN = (this.raw.cmdSN + 1) >>> 0;
    return itt;
  }

  /**
   * The first command of a new I_T nexus meets a UNIT ATTENTION (SAM: power on, reset); tests
   * clear it with TEST UNIT READY so that their own commands are judged on their own.
   */
  async clearUnitAttention(luns: number[], timeoutMs = 5_000): Promise<void> {
    for (const lun of luns) {
      for (let attempt = 0; attempt < 4; attempt++) {
        const itt = this.command({ lun, cdb: Buffer.alloc(6), edtl: 0 });
        if ((await this.waitDone(itt, timeoutMs, true)) !== 'done') throw new Error(`TEST UNIT READY on LUN ${lun}: no answer`);
        const r = this.record(itt);
        this.forget(itt);
        if (r.status !== 0x02 || !r.sense || (r.sense[2]! & 0x0f) !== 0x06) break;
      }
    }
  }

  nop(): number {
    const itt = this.raw.allocItt();
    this.record(itt);
    this.raw.sendPdu(nopOutBhs({ itt, cmdSN: this.raw.cmdSN, expStatSN: this.raw.expStatSN }));
    return itt;
  }

  logout(reason = 0): number {
    const itt = this.raw.allocItt();
    this.record(itt);
    this.raw.sendPdu(logoutRequestBhs({ itt, cmdSN: this.raw.cmdSN, expStatSN: this.raw.expStatSN, reason }));
    return itt;
  }

  /** Files every PDU already received. */
  pump(): void {
    for (;;) {
      const p = this.raw.inbox.shift();
      if (!p) return;
      this.file(p);
    }
  }

  private file(p: RawPdu): void {
    const itt = pduItt(p.bhs);
    switch (p.opcode) {
      case Op.REJECT: {
        const bhs = rejectedBhs(p);
        if (!bhs) {
          this.strayRejects.push(p);
          return;
        }
        this.record(pduItt(bhs)).rejects.push({ reason: rejectReason(p), bhs: Buffer.from(bhs) });
        return;
      }
      case Op.R2T: {
        const r = this.tasks.get(itt);
        if (!r) return void this.unsolicited.push(p);
        r.r2ts.push({ ttt: p.bhs.readUInt32BE(20), r2tSN: p.bhs.readUInt32BE(36), offset: p.bhs.readUInt32BE(40), length: p.bhs.readUInt32BE(44) });
        return;
      }
      case Op.DATA_IN: {
        const r = this.tasks.get(itt);
        if (!r) return void this.unsolicited.push(p);
        r.dataInBytes += p.data.length;
        const off = p.bhs.readUInt32BE(40);
        if (r.data && off + p.data.length <= r.data.length) p.data.copy(r.data, off);
        if ((p.bhs[1]! & 0x01) !== 0) {
          r.status = p.bhs[3]!;
          r.response = 0;
          r.done = true;
        }
        return;
      }
      case Op.SCSI_RSP: {
        const r = this.record(itt);
        r.response = p.bhs[2]!;
        r.status = p.bhs[3]!;
        if (p.data.length >= 2) r.sense = Buffer.from(p.data.subarray(2, 2 + p.data.readUInt16BE(0)));
        r.done = true;
        return;
      }
      case Op.TASK_MGMT_RSP: {
        const r = this.record(itt);
        r.tmfResponse = p.bhs[2]!;
        r.done = true;
        return;
      }
      case Op.LOGOUT_RSP: {
        const r = this.record(itt);
        r.logoutResponse = p.bhs[2]!;
        r.done = true;
        return;
      }
      case Op.NOP_IN: {
        if (itt === RESERVED_TAG) return void this.unsolicited.push(p);
        const r = this.record(itt);
        r.nopIn = true;
        r.done = true;
        return;
      }
      default:
        this.unsolicited.push(p);
    }
  }

  /**
   * Waits (bounded) until `pred` holds for the record of `itt`: 'done' when it does, 'closed'
   * when the connection went away first, 'timeout' otherwise.
   */
  async waitTask(itt: number, pred: (r: TaskRecord) => boolean, timeoutMs: number): Promise<WaitResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.pump();
      if (pred(this.record(itt))) return 'done';
      if (this.raw.closed) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      const r = await this.raw.next(left);
      if (r.kind === 'pdu') this.file(r.pdu);
    }
  }

  /** Waits for the final answer of a task, or for any Reject naming it (`orReject`). */
  waitDone(itt: number, timeoutMs: number, orReject = false): Promise<WaitResult> {
    return this.waitTask(itt, (r) => r.done || (orReject && r.rejects.length > 0), timeoutMs);
  }

  /** Waits for the n-th R2T (1-based count) of a task. */
  waitR2t(itt: number, count: number, timeoutMs: number): Promise<WaitResult> {
    return this.waitTask(itt, (r) => r.r2ts.length >= count || r.done || r.rejects.length > 0, timeoutMs);
  }

  /** Waits until the connection is closed by the target: true if it was within `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.pump();
      if (this.raw.closed) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      const r = await this.raw.next(left);
      if (r.kind === 'pdu') this.file(r.pdu);
    }
  }

  /** Lets whatever the target sends arrive for `ms` and files it. */
  async settle(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      this.pump();
      const left = deadline - Date.now();
      if (left <= 0 || this.raw.closed) return;
      const r = await this.raw.next(left);
      if (r.kind === 'pdu') this.file(r.pdu);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Login-phase PDUs a test builds by hand

/** A Login Request BHS for the hostile login tests (continuations, stalls, AHS). */
export function hostileLoginBhs(o: {
  isid: Buffer;
  itt?: number;
  transit?: boolean;
  cont?: boolean;
  csg: number;
  nsg?: number;
  dataSegmentLength: number;
  totalAhsLength?: number;
  cmdSN?: number;
  expStatSN?: number;
  tsih?: number;
}): Buffer {
  const b = loginRequestBhs({
    transit: o.transit ?? false,
    cont: o.cont,
    csg: o.csg,
    nsg: o.nsg ?? 0,
    isid: o.isid,
    tsih: o.tsih,
    itt: o.itt ?? 1,
    cmdSN: o.cmdSN ?? 1,
    expStatSN: o.expStatSN ?? 0,
    dataSegmentLength: o.dataSegmentLength,
  });
  b[4] = o.totalAhsLength ?? 0;
  return b;
}

// ---------------------------------------------------------------------------------------------
// Observing the daemon from outside

/** Resident set size of a process in bytes (VmRSS), null when it is gone. */
export async function rssBytes(pid: number): Promise<number | null> {
  try {
    const s = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(s);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's RSS every `intervalMs` until stopped; reports the peak. */
export function rssSampler(pid: number, intervalMs = 100): { stop(): Promise<{ peak: number; samples: number }> } {
  let peak = 0;
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const v = await rssBytes(pid);
      if (v !== null) {
        peak = Math.max(peak, v);
        samples++;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { peak, samples };
    },
  };
}

/** Open file descriptors of a process, null when it is gone. */
export async function openFds(pid: number): Promise<number | null> {
  try {
    return (await readdir(`/proc/${pid}/fd`)).length;
  } catch {
    return null;
  }
}

const TCP_STATE_ESTABLISHED = '01';

/**
 * Is the connection from our local port to `remotePort` on 127.0.0.1 still established as seen
 * by our kernel? Once the target closes its end our socket leaves ESTABLISHED (CLOSE_WAIT after
 * a FIN, gone after a RST), even while we are not reading it.
 */
export async function tcpEstablished(localPort: number, remotePort: number): Promise<boolean> {
  const text = await readFile('/proc/net/tcp', 'utf8');
  const hex = (p: number): string => p.toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hex(localPort)}`;
  const remote = `0100007F:${hex(remotePort)}`;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote) return f[3] === TCP_STATE_ESTABLISHED;
  }
  return false;
}

/** Counts the target-side sockets on `port` in ESTABLISHED state (connections the target holds). */
export async function establishedToPort(port: number): Promise<number> {
  const text = await readFile('/proc/net/tcp', 'utf8');
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex}`) && f[3] === TCP_STATE_ESTABLISHED) n++;
  }
  return n;
}
