import { observeCompletion } from './io-metrics.js';
import { turnNow } from './turn-clock.js';
import { Status } from './scsi/constants.js';
import type { PoolBuffer, SgvPool } from './sgv.js';
import type { TgtDev } from './tgtdev.js';
import type { ScstSession } from './session.js';
import type { OpDesc } from './scsi/op.js';
import { Coverage } from './coverage.js';

// The life of one SCSI command, after SCST's scst_cmd:
//
//   NEW --parse--> PARSED --(write: data arrives)--> EXEC --> DONE --> (transport sends status)
//        \                                                 ^
//         `--(error in parse / abort anywhere)-------------'
//
// A command is owned by its session's table from creation until its last reference is dropped;
// the transport holds one reference until the response is on the wire, and whoever performs I/O
// on its buffer (a backstore call, a user-space handler) holds another. The command leaves the
// table, and its buffer returns to the pool, at the moment the count reaches zero: never before
// (nothing may touch a freed buffer) and never later (no zombie can stay behind in a table).

export const CmdState = {
  NEW: 'new',
  PARSED: 'parsed',
  DATA_WAIT: 'data_wait',
  EXEC: 'exec',
  DONE: 'done',
  FREED: 'freed',
} as const;
export type CmdStateT = (typeof CmdState)[keyof typeof CmdState];

export const DataDir = { NONE: 0, READ: 1, WRITE: 2 } as const;
export type DataDirT = 0 | 1 | 2;

export type CompletionHook = (cmd: ScsiCmd) => void;

let nextCmdId = 1;

export class ScsiCmd {
  /** Commands alive anywhere (created and not yet freed): must be 0 at exit. */
  static live = 0;
  readonly id = nextCmdId++;
  state: CmdStateT = CmdState.NEW;
  private refs = 1;

  /** Filled in by parse: transfer direction and length the CDB asks for. */
  dir: DataDirT = DataDir.NONE;
  dataLength = 0;
  /** Decoded addressing for block commands. */
  lba = 0;
  blocks = 0;
  fua = false;

  /** Pool buffer: data-out received, or data-in to send. */
  pbuf: PoolBuffer | null = null;
  /** Bytes of data-in actually produced (≤ dataLength). */
  dataInLength = 0;

  status: number = Status.GOOD;
  sense: Buffer | null = null;
  private _aborted = false;
  /** Whoever executes the command (a user-space handler) is told when it is aborted. */
  onAbort: (() => void) | null = null;
  /** Who currently holds the command beyond the transport (for stuck-command diagnostics). */
  owner = '';

  tgtDev: TgtDev | null = null;
  op: OpDesc | null = null;
  private completion: CompletionHook | null = null;
  /** Links of its session's CmdTable. */
  tablePrev: ScsiCmd | null = null;
  tableNext: ScsiCmd | null = null;
  inTable = false;

  constructor(
    readonly session: ScstSession,
    readonly tag: number,
    readonly lun: number,
    readonly cdb: Buffer,
    /** Expected data transfer length from the transport (EDTL). */
    readonly expectedLength: number,
    readonly pool: SgvPool,
    /** When the command arrived (performance.now() ms); a transport may pass the time it read the bytes. */
    readonly createdAt: number = turnNow(),
  ) {
    ScsiCmd.live++;
    this.startedAt = session.latStats !== null || session.core.measureLatency ? createdAt : 0;
  }

  /**
   * The arrival time while commands are timed (measure_latency is 1, or the session keeps SCST's
   * latency statistics), else 0; then also when execution started and when
   * the command completed (0: not reached).
   */
  private readonly startedAt: number;
  private execAt = 0;
  private doneAt = 0;

  /** Execution starts (the device takes over). */
  enterExec(): void {
    this.state = CmdState.EXEC;
    if (this.startedAt !== 0) this.execAt = turnNow();
  }

  get opcode(): number {
    return this.cdb[0]!;
  }

  get buf(): Buffer {
    return this.pbuf!.buf;
  }

  /**
   * Allocate the data buffer for `len` bytes from the pool (once). A recycled buffer still holds
   * an earlier command's bytes, so it is zeroed unless `overwritten`: the caller guarantees that
   * every byte anyone will read was written for this command first (a data-out buffer, which
   * runs only once dataOutComplete; a medium read into a backstore that fills what it reads).
   */
  allocBuffer(len: number, overwritten = false): Buffer {
    if (!this.pbuf) {
      this.pbuf = this.pool.alloc(Math.max(len, 1));
      this.session.bufferBytes += this.pbuf.buf.length;
      if (!overwritten) this.pbuf.buf.fill(0, 0, Math.max(len, 1));
    }
    return this.pbuf.buf;
  }

  /** Byte ranges of the data-out buffer a transport has filled (writes only). */
  private dataOut: Coverage | null = null;

  /**
   * The transport filled [offset, offset + length) of the data-out buffer with bytes that
   * arrived for this command. Returns why not when the range overlaps what was already filled
   * or leaves the buffer (then nothing is recorded).
   */
  markReceived(offset: number, length: number): string | null {
    if (!this.pbuf) return 'no data-out buffer';
    this.dataOut ??= new Coverage(this.pbuf.buf.length);
    return this.dataOut.add(offset, length);
  }

  /** Every data-out byte the command will use has arrived (a command never runs on stale bytes). */
  get dataOutComplete(): boolean {
    return this.dataLength === 0 || (this.dataOut !== null && this.dataOut.coversPrefix(this.dataLength));
  }

  onComplete(hook: CompletionHook): void {
    this.completion = hook;
  }

  get(): void {
    if (this.refs <= 0) throw new Error(`cmd ${this.id}: get after free`);
    this.refs++;
  }

  put(): void {
    if (this.refs <= 0) throw new Error(`cmd ${this.id}: put after free`);
    if (--this.refs === 0) this.free();
  }

  get refCount(): number {
    return this.refs;
  }

  /** Record the outcome. Exactly once: a second completion (a late backstore callback after an
   *  abort) is ignored, and the transport is told only the first time. */
  complete(status: number, sense: Buffer | null = null): void {
    if (this.state === CmdState.DONE || this.state === CmdState.FREED) return;
    this.state = CmdState.DONE;
    this.status = status;
    this.sense = sense;
    this.owner = 'transport';
    if (this.startedAt !== 0) this.doneAt = turnNow();
    observeCompletion(this, this.startedAt, this.doneAt);
    const hook = this.completion;
    this.completion = null;
    if (hook) hook(this);
  }

  /** Set when a task-management function or teardown aborted the command. */
  get aborted(): boolean {
    return this._aborted;
  }

  set aborted(v: boolean) {
    if (!v || this._aborted) return;
    this._aborted = true;
    const hook = this.onAbort;
    this.onAbort = null;
    if (hook && !this.isDone) hook();
  }

  get isDone(): boolean {
    return this.state === CmdState.DONE || this.state === CmdState.FREED;
  }

  private free(): void {
    this.state = CmdState.FREED;
    ScsiCmd.live--;
    if (this.startedAt !== 0) this.session.latStats?.record(this, this.startedAt, this.execAt, this.doneAt, turnNow());
    if (this.pbuf) {
      this.session.bufferBytes -= this.pbuf.buf.length;
      this.pool.release(this.pbuf);
      this.pbuf = null;
    }
    this.session.removeCmd(this);
  }

  describe(): { id: number; tag: number; opcode: string; state: string; owner: string; ageMs: number; refs: number } {
    return {
      id: this.id,
      tag: this.tag,
      opcode: '0x' + this.opcode.toString(16).padStart(2, '0'),
      state: this.state,
      owner: this.owner,
      ageMs: Math.round(performance.now() - this.createdAt),
      refs: this.refs,
    };
  }
}

/**
 * A session's commands, linked through the commands themselves: adding and removing one (twice
 * per command, on the hot path) costs no hashing and no allocation. Listing (management, teardown)
 * takes a snapshot, so it may run while commands come and go.
 */
export class CmdTable {
  private head: ScsiCmd | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(c: ScsiCmd): void {
    if (c.inTable) return;
    c.inTable = true;
    c.tablePrev = null;
    c.tableNext = this.head;
    if (this.head) this.head.tablePrev = c;
    this.head = c;
    this.count++;
  }

  delete(c: ScsiCmd): boolean {
    if (!c.inTable) return false;
    c.inTable = false;
    if (c.tablePrev) c.tablePrev.tableNext = c.tableNext;
    else this.head = c.tableNext;
    if (c.tableNext) c.tableNext.tablePrev = c.tablePrev;
    c.tablePrev = c.tableNext = null;
    this.count--;
    return true;
  }

  has(c: ScsiCmd): boolean {
    return c.inTable;
  }

  /** A snapshot, newest first. */
  values(): ScsiCmd[] {
    const out: ScsiCmd[] = [];
    for (let c = this.head; c; c = c.tableNext) out.push(c);
    return out;
  }
}
