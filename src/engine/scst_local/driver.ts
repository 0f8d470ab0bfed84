import type { Logger } from 'pino';
import type { ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import { MgmtError, einval } from '../errors.js';
import { checkTargetName } from '../names.js';
import { Status } from '../scsi/constants.js';
import type { Scst } from '../scst.js';
import type { ScstSession, SessionTransport } from '../session.js';
import { submitCmd, type SubmitResult } from '../submit.js';
import type { Target } from '../target.js';

// The scst_local target driver (SCST's scst_local module) in user mode: targets with no port,
// whose sessions are created by management command and named by their initiator name. In the
// kernel each session is a SCSI host of this machine; here a session's commands come from this
// host through submit() (the tree's dev/ files), and go through the core as any other.

export const SCST_LOCAL = 'scst_local';
/** What SCST's scst_local reports as its version (`<version>/<date>`). */
export const SCST_LOCAL_VERSION = '3.11.0-pre/20110901';
/** SAM-5 protocol identifier of SAS, what scst_local's sessions present themselves as. */
const PROTOCOL_SAS = 6;

/** How long closing a session waits for its commands to come back from the device. */
const CLOSE_WAIT_MS = 10_000;

/** SCSI transport version descriptor scst_local reports by default (SAS). */
export const DEFAULT_SCSI_TRANSPORT_VERSION = 0x0be0;

/** Per-target state of the driver (its target attributes). */
export interface LocalTargetState {
  /** 0: the default (SAS, 0x0be0) is reported. */
  scsiTransportVersion: number;
  physTransportVersion: number;
  readonly sessions: LocalSession[];
}

let nextSessionNumber = 1;

/** One local session: an I_T nexus of this host to a local target. */
export class LocalSession implements SessionTransport {
  readonly scst: ScstSession;
  /** scst_local's session number (its SAS address and host number derive from it). */
  readonly number = nextSessionNumber++;
  /** The TransportID written to transport_id; null: the generated SAS one. */
  transportId: Buffer | null = null;
  private closing = false;
  private nextTag = 1;
  /** Commands in the core, each with the promise that settles when it is back. */
  private readonly inflight = new Map<ScsiCmd, Promise<SubmitResult>>();

  constructor(
    private readonly driver: LocalDriver,
    readonly target: Target,
    readonly name: string,
  ) {
    this.scst = driver.scstCore.createSession(target, name, this);
  }

  get closed(): boolean {
    return this.closing;
  }

  /** The SAS TransportID scst_local generates: address 0x5FEEDE4?x?ADE050 from the session number. */
  sasTransportId(): Buffer {
    const b = Buffer.alloc(24);
    b[0] = PROTOCOL_SAS;
    b.set([0x5f, 0xee, 0xde, 0x40 | ((this.number >> 4) & 0x0f), 0x0f | ((this.number & 0x0f) << 4), 0xad, 0xe0, 0x50], 4);
    return b;
  }

  /**
   * One SCSI command of this host through the whole core. Settles with the outcome once the
   * command is complete and released; a closed session answers every command aborted.
   */
  submit(lun: number, cdb: Buffer, data: { dataOut?: Buffer; dataIn?: Buffer } = {}): Promise<SubmitResult> {
    if (this.closing) return Promise.resolve({ status: Status.TASK_ABORTED, sense: null, dataIn: 0, aborted: true });
    const tag = this.nextTag;
    this.nextTag = this.nextTag >= 0x7fffffff ? 1 : this.nextTag + 1;
    let cmd: ScsiCmd | null = null;
    const p = submitCmd(this.scst, { tag, lun, cdb, ...data, onCmd: (c) => (cmd = c) }, SCST_LOCAL);
    const c = cmd as ScsiCmd | null;
    if (c) {
      this.inflight.set(c, p);
      void p.finally(() => this.inflight.delete(c));
    }
    return p;
  }

  /** Commands still in the core (active_commands of the session). */
  get inflightCount(): number {
    return this.inflight.size;
  }

  forceClose(reason: string): void {
    void this.driver.closeSession(this, reason);
  }

  /** Aborts one command of this session; settles when it is back from the core. */
  private abortOne(cmd: ScsiCmd, p: Promise<SubmitResult>): Promise<void> {
    cmd.aborted = true;
    // Not yet in the device: it ends here. In the device: it ends when the device answers.
    if (!cmd.isDone && cmd.state !== 'exec') cmd.complete(Status.TASK_ABORTED);
    return p.then(() => undefined);
  }

  abortCommand(cmd: ScsiCmd): Promise<void> {
    const p = this.inflight.get(cmd);
    return p ? this.abortOne(cmd, p) : Promise.resolve();
  }

  abortDeviceTasks(device: Device | null): Promise<void> {
    const waits: Array<Promise<void>> = [];
    for (const [cmd, p] of this.inflight) if (device === null || cmd.tgtDev?.device === device) waits.push(this.abortOne(cmd, p));
    return Promise.all(waits).then(() => undefined);
  }

  /** Stop taking commands, abort what is in flight and wait for it (bounded). */
  async shut(log: Logger, reason: string): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const aborted = this.abortDeviceTasks(null);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), CLOSE_WAIT_MS)));
    const late = await Promise.race([aborted.then(() => false), timeout]);
    clearTimeout(timer);
    if (late) log.error({ target: this.target.name, session: this.name, inflight: this.inflight.size }, `scst_local session ${this.name}: commands still in the device after ${CLOSE_WAIT_MS} ms; closing anyway`);
    log.info({ target: this.target.name, session: this.scst.sysfsName, reason }, `scst_local: session ${this.scst.sysfsName} of target ${this.target.name} closed (${reason})`);
  }
}

/**
 * The driver: its targets (registered with the core under its name) and their sessions. Every
 * operation checks first and changes nothing when it refuses; messages are scst_local's own.
 */
export class LocalDriver {
  readonly targets = new Map<string, Target>();
  private readonly state = new WeakMap<Target, LocalTargetState>();
  /** What scst_local's stats attribute counts (SCSI error handling of the local host). */
  readonly stats = { aborts: 0, deviceResets: 0, targetResets: 0 };
  /** Called when a session comes or goes (the dev/ tree's listing). */
  onSessionsChanged: (() => void) | null = null;

  constructor(
    readonly scstCore: Scst,
    private readonly log: Logger,
  ) {
    scstCore.driverTargets.set(SCST_LOCAL, this.targets);
  }

  stateOf(t: Target): LocalTargetState {
    const s = this.state.get(t);
    if (!s) throw new MgmtError('ENOENT', `Target ${t.name} is not a ${SCST_LOCAL} target`);
    return s;
  }

  target(name: string): Target | undefined {
    return this.targets.get(name);
  }

  /** add_target NAME [session_name=S;...]: the target, then one session per name given. */
  addTarget(name: string, sessionNames: readonly string[] = []): Target {
    checkTargetName(name);
    if (this.targets.has(name)) throw new MgmtError('EEXIST', `Target ${name} already exists`);
    for (const s of sessionNames) if (s === '') throw einval('Wrong session name');
    const t = this.scstCore.newTarget(name);
    // A target of a driver without `enabled` is always enabled (SCST: no is_target_enabled).
    t.enabled = true;
    t.driverName = SCST_LOCAL;
    this.state.set(t, { scsiTransportVersion: 0, physTransportVersion: 0, sessions: [] });
    this.targets.set(name, t);
    this.log.info({ driver: SCST_LOCAL, target: name }, `Target ${name} for template ${SCST_LOCAL} registered successfully`);
    for (const s of sessionNames) this.addSession(name, s);
    return t;
  }

  async delTarget(name: string): Promise<void> {
    const t = this.targets.get(name);
    if (!t) throw new MgmtError('ENOENT', `Target ${name} not found`);
    const st = this.stateOf(t);
    await Promise.all([...st.sessions].map((s) => this.closeSession(s, `target ${name} deleted`)));
    this.targets.delete(name);
    this.log.info({ driver: SCST_LOCAL, target: name }, `Target ${name} for template ${SCST_LOCAL} unregistered successfully`);
  }

  /** add_session TARGET NAME: a session whose initiator name is NAME. */
  addSession(targetName: string, sessionName: string): LocalSession {
    const t = this.targets.get(targetName);
    if (!t) throw einval(`Target ${targetName} not found`);
    if (sessionName === '') throw einval('Session name required');
    const s = new LocalSession(this, t, sessionName);
    this.stateOf(t).sessions.push(s);
    this.log.info({ driver: SCST_LOCAL, target: targetName, session: s.scst.sysfsName, initiator: sessionName }, `Session ${s.scst.sysfsName} of target ${targetName} registered (initiator ${sessionName})`);
    this.onSessionsChanged?.();
    return s;
  }

  /** del_session TARGET NAME: the first session of that initiator name. */
  async delSession(targetName: string, sessionName: string): Promise<void> {
    const t = this.targets.get(targetName);
    if (!t) throw einval(`Target ${targetName} not found`);
    if (sessionName === '') throw einval('Session name required');
    const s = this.stateOf(t).sessions.find((x) => x.name === sessionName);
    if (!s) throw einval(`Session ${sessionName} not found (target ${targetName})`);
    await this.closeSession(s, 'del_session');
  }

  sessions(t: Target): readonly LocalSession[] {
    return this.state.get(t)?.sessions ?? [];
  }

  /** The session whose sysfs name is `sysfsName` on target `t`. */
  sessionBySysfsName(t: Target, sysfsName: string): LocalSession | undefined {
    return this.state.get(t)?.sessions.find((s) => s.scst.sysfsName === sysfsName);
  }

  ofScst(s: ScstSession): LocalSession | undefined {
    return this.state.get(s.target)?.sessions.find((x) => x.scst === s);
  }

  /** Close one session: no new commands, those in flight aborted (bounded), then gone from the core. */
  async closeSession(s: LocalSession, reason: string): Promise<void> {
    const st = this.state.get(s.target);
    if (!st || !st.sessions.includes(s) || s.closed) return;
    await s.shut(this.log, reason);
    const i = st.sessions.indexOf(s);
    if (i >= 0) st.sessions.splice(i, 1);
    void this.scstCore.closeSession(s.scst);
    this.onSessionsChanged?.();
  }

  /** Daemon shutdown: every session closed (each bounded). */
  async shutdown(): Promise<void> {
    const all: LocalSession[] = [];
    for (const t of this.targets.values()) all.push(...this.sessions(t));
    await Promise.all(all.map((s) => this.closeSession(s, 'shutdown')));
  }
}
