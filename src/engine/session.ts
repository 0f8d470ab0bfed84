import type { Logger } from 'pino';
import { CmdTable, ScsiCmd } from './cmd.js';
import { Sense, Status } from './scsi/constants.js';
import type { SgvPool } from './sgv.js';
import type { BoundHits, Limits } from './limits.js';
import type { IniGroup, LunChange, LunSet, Target } from './target.js';
import type { Asc } from './scsi/constants.js';
import { TgtDev } from './tgtdev.js';
import type { SessionLatencyStats } from './latency-stats.js';
import type { Latencies } from './io-metrics.js';
import type { Device } from './device.js';
import type { CopyManager } from './copy_manager/copy-manager.js';
import { releaseSpc2ReservationOf } from './scsi/reserve.js';

/** What the engine needs from the fabric that carries a session (its target driver). */
export interface SessionTransport {
  /** Drop the session now (teardown, force_close, group deletion). */
  forceClose(reason: string): void;
  /**
   * Abort one of this session's commands: no status will be sent for it. Settles when it is gone
   * (at once if the transport no longer holds it).
   */
  abortCommand(cmd: ScsiCmd): Promise<void>;
  /** Abort this session's commands on `device` (all devices when null); settles when they are gone. */
  abortDeviceTasks(device: Device | null): Promise<void>;
}

export interface IoCounters {
  cmds: number;
  kb: number;
  unaligned: number;
}

/** What a session uses of the core: the buffer pool, its bounds, and where to log. */
export interface SessionCore {
  readonly pool: SgvPool;
  readonly log: Logger;
  readonly limits: Limits;
  readonly bounds: BoundHits;
  /** measure_latency: commands are timed (latency histograms, SCST's latency files). */
  readonly measureLatency: boolean;
  /** Where EXTENDED COPY finds its copy targets (absent: no copy manager, nothing is found). */
  readonly copyManager?: CopyManager;
}

let nextSessionId = 1;
let nextBinding = 1;

/**
 * An I_T nexus as the SCSI core sees it: one initiator logged in to one target. It owns the
 * table of its commands and its view of the LUNs (tgt_devs), re-evaluated when groups change.
 */
export class ScstSession {
  readonly id = nextSessionId++;
  group: IniGroup | null = null;
  /** Increases each time the session is bound to a (different) group: listing order per group. */
  boundSeq = 0;
  private lunSet: LunSet | null = null;
  readonly tgtDevs = new Map<number, TgtDev>();
  readonly cmds = new CmdTable();
  readonly stats = { none: { cmds: 0, kb: 0, unaligned: 0 }, read: { cmds: 0, kb: 0, unaligned: 0 }, write: { cmds: 0, kb: 0, unaligned: 0 }, unknown: 0 };
  closed = false;
  /** SCST's latency statistics (sessions/<s>/latency/): kept when measure_latency was 1 at creation. */
  latStats: SessionLatencyStats | null = null;
  /** Latency histograms for the metrics (io-metrics.ts), once a command was measured. */
  latency: Latencies | null = null;
  /** Sysfs directory name: the initiator name, with _N for a second session of it. */
  sysfsName: string;
  /** Bytes of pool buffers this session's commands hold (bounded by limits.maxSessionBufferBytes). */
  bufferBytes = 0;
  /**
   * Unit attentions for every nexus of the session, newest last, one per condition: each nexus
   * takes over those newer than it has seen when it next looks at its own (TgtDev). So REPORTED
   * LUNS DATA HAS CHANGED after a LUN change costs the same beside 10,000 LUNs as beside one.
   */
  readonly sessionUAs: Array<{ readonly asc: Asc; readonly seq: number }> = [];
  /** Sequence number of the newest entry of sessionUAs. */
  uaSeq = 0;

  constructor(
    readonly target: Target,
    readonly initiatorName: string,
    readonly transport: SessionTransport,
    readonly core: SessionCore,
  ) {
    this.sysfsName = initiatorName;
    this.evaluateLuns(true);
  }

  get luns(): LunSet | null {
    return this.lunSet;
  }

  /**
   * (Re)choose the group and rebuild the tgt_devs. New nexuses get a POWER ON/RESET unit
   * attention; on a later change, nexuses that remain get REPORTED LUNS DATA HAS CHANGED.
   */
  evaluateLuns(initial = false, kind: 'inventory' | 'inquiry' | 'none' = 'inventory'): void {
    const group = this.target.groupFor(this.initiatorName);
    if (initial || group !== this.group) this.boundSeq = nextBinding++;
    this.group = group;
    this.lunSet = this.group?.luns ?? this.target.defaultLuns;
    const wanted = this.lunSet.luns;
    let changed = false;
    for (const [lun, td] of this.tgtDevs) {
      const e = wanted.get(lun);
      if (!e || e.device !== td.device || e.readOnly !== td.readOnly) {
        void this.detach(td);
        this.tgtDevs.delete(lun);
        changed = true;
      }
    }
    for (const e of wanted.values()) {
      if (this.tgtDevs.has(e.lun)) continue;
      const td = new TgtDev(this, e.lun, e.device, e.readOnly);
      this.tgtDevs.set(e.lun, td);
      e.device.tgtDevs.add(td);
      td.queueUA(Sense.POWER_ON_RESET);
      changed = true;
    }
    if (initial) return;
    this.lunsChangedUA(kind, changed);
  }

  /**
   * The set in use changed: one LUN (`change`), or anything (null). Only that LUN's nexus is
   * redone, unless the change moves the session to another group (a target's default set that
   * became empty gives way to the procfs-era Default group).
   */
  lunsChanged(kind: 'inventory' | 'inquiry' | 'none', change: LunChange | null): void {
    const one = change?.added ?? change?.removed;
    if (!one || this.lunSet === null || this.target.groupFor(this.initiatorName) !== this.group) return this.evaluateLuns(false, kind);
    const lun = one.lun;
    const e = this.lunSet.luns.get(lun);
    let td = this.tgtDevs.get(lun);
    let changed = false;
    if (td && (!e || e.device !== td.device || e.readOnly !== td.readOnly)) {
      void this.detach(td);
      this.tgtDevs.delete(lun);
      td = undefined;
      changed = true;
    }
    if (e && !td) {
      const n = new TgtDev(this, e.lun, e.device, e.readOnly);
      this.tgtDevs.set(e.lun, n);
      e.device.tgtDevs.add(n);
      n.queueUA(Sense.POWER_ON_RESET);
      changed = true;
    }
    this.lunsChangedUA(kind, changed);
  }

  private lunsChangedUA(kind: 'inventory' | 'inquiry' | 'none', changed: boolean): void {
    if ((changed && kind !== 'none') || kind === 'inventory') this.sessionUA(kind === 'inquiry' ? Sense.INQUIRY_DATA_CHANGED : Sense.REPORTED_LUNS_DATA_CHANGED);
  }

  /** A unit attention for every nexus of this session (see sessionUAs). */
  sessionUA(asc: Asc): void {
    const i = this.sessionUAs.findIndex((u) => u.asc.asc === asc.asc && u.asc.ascq === asc.ascq);
    if (i >= 0) this.sessionUAs.splice(i, 1);
    this.sessionUAs.push({ asc, seq: ++this.uaSeq });
  }

  /**
   * The nexus is gone, and an SPC-2 reservation with it. Resolves once the release is in force
   * (at once on one node; in cluster mode when every node enforces it); never rejects (a store
   * that could not commit logs why).
   */
  private detach(td: TgtDev): Promise<void> {
    const released = releaseSpc2ReservationOf(td.device, td).catch(() => undefined);
    td.device.tgtDevs.delete(td);
    td.device.preventers.delete(td);
    return released;
  }

  newCmd(tag: number, lun: number, cdb: Buffer, expectedLength: number, arrivedAt?: number): ScsiCmd {
    const cmd = new ScsiCmd(this, tag, lun, cdb, expectedLength, this.core.pool, arrivedAt);
    this.cmds.add(cmd);
    return cmd;
  }

  /**
   * Whether a command may take a `len`-byte data buffer now: 0, or the status that refuses it
   * (SAM-5: TASK SET FULL when this nexus holds its share, BUSY when the target holds all it
   * may). A session holding no buffer is always let through, so one command can always run.
   */
  bufferRefusal(len: number): number {
    const { limits, bounds, pool } = this.core;
    const size = pool.sizeFor(len);
    if (this.bufferBytes > 0 && this.bufferBytes + size > limits.maxSessionBufferBytes) {
      bounds.hit('session-buffer-bytes', this.initiatorName, `${this.bufferBytes} + ${size} bytes of data buffers > ${limits.maxSessionBufferBytes}: TASK SET FULL`);
      return Status.TASK_SET_FULL;
    }
    if (pool.outstandingBytes + size > limits.maxBufferBytes) {
      bounds.hit('buffer-bytes', this.initiatorName, `${pool.outstandingBytes} + ${size} bytes of data buffers in all > ${limits.maxBufferBytes}: BUSY`);
      return Status.BUSY;
    }
    return 0;
  }

  /** Called by the command itself when its last reference goes. */
  removeCmd(cmd: ScsiCmd): void {
    this.cmds.delete(cmd);
  }

  /** Commands not yet completed (active) vs all in the table. */
  get activeCount(): number {
    let n = 0;
    for (const c of this.cmds.values()) if (!c.isDone) n++;
    return n;
  }

  /**
   * Unlink from devices; called once when the transport has released every command. Resolves
   * when what the nexus held is released everywhere (see detach): a transport that tells the
   * initiator the nexus ended (an iSCSI Logout Response) waits for it, bounded.
   */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const released = [...this.tgtDevs.values()].map((td) => this.detach(td));
    this.tgtDevs.clear();
    this.target.removeSession(this);
    this.target.releaseSessionName(this.initiatorName, this.sysfsName);
    return Promise.all(released).then(() => undefined);
  }
}
