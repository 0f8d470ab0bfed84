import { SessionLatencyStats } from './latency-stats.js';
import type { Logger } from 'pino';
import type { Device, HandlerName } from './device.js';
import { createDevice } from './handlers.js';
import { MgmtError, einval } from './errors.js';
import { SgvPool } from './sgv.js';
import { GlobalGroups, IniGroup, Target, type LunSet } from './target.js';
import { DeviceRegistry } from './device-registry.js';
import { checkGroupName, checkTargetName } from './names.js';
import { ScstSession, type SessionCore, type SessionTransport } from './session.js';
import { BoundHits, DEFAULT_LIMITS, type Limits } from './limits.js';
import { CopyManager } from './copy_manager/copy-manager.js';
import type { ReservationStore } from './reservations.js';
import { localReservations } from './reservations-local.js';

export const SCST_VERSION = '3.10.0-usermode';

/**
 * The target core: the registry of devices, targets and sessions, and the operations the
 * management trees and the config loader perform on them. Every mutation validates first and
 * changes nothing when it refuses (rule 5).
 */
export class Scst implements SessionCore {
  readonly pool = new SgvPool();
  /** Resource bounds (scstd options); read where they apply, so a change takes effect at once. */
  readonly limits: Limits = { ...DEFAULT_LIMITS };
  readonly bounds: BoundHits;
  readonly devices = new DeviceRegistry();
  /** The iSCSI driver's targets. */
  readonly targets = new Map<string, Target>();
  /** The targets of the other target drivers, per driver name (scst_local). */
  readonly driverTargets = new Map<string, ReadonlyMap<string, Target>>();
  readonly sessions = new Set<ScstSession>();
  setupId = 0n;
  threads = 1;
  private nextTid = 1;
  /** The procfs-era groups shared by every target (groups/ of /proc/scsi_tgt). */
  readonly globalGroups = new GlobalGroups();
  /** The copy manager target driver, built into the core as in SCST. */
  readonly copyManager: CopyManager;

  /** Where persistent device state (PR with APTPL) lives: the daemon's --state-dir. */
  stateDir: string | undefined;
  /** Where the reservation state of the devices added from now on lives (a cluster shares it). */
  reservations: ReservationStore = localReservations;
  /**
   * The store of cluster_mode 1 devices (scstd --cluster: reservations shared through the
   * cluster); null when this process is no cluster node, and cluster_mode 1 is then refused.
   */
  clusterReservations: ReservationStore | null = null;

  constructor(readonly log: Logger) {
    this.bounds = new BoundHits(log);
    this.copyManager = new CopyManager(log);
    this.watchGlobalGroup(this.globalGroups.defaultGroup);
  }

  /** A global group's LUN set changed: every session using it, on any target, re-evaluates. */
  watchGlobalGroup(g: IniGroup): void {
    g.luns.onChange = (kind, change) => {
      for (const s of this.sessions) if (s.luns === g.luns) s.lunsChanged(kind, change);
    };
  }

  async addDevice(handler: HandlerName, name: string, params: Array<[string, string]>): Promise<Device> {
    if (this.devices.has(name)) throw new MgmtError('EEXIST', `device ${name} already exists`);
    const dev = await createDevice(handler, name, params, {
      setupId: this.setupId,
      stateDir: this.stateDir,
      reservations: this.reservations,
      clusterReservations: this.clusterReservations,
      usnInUse: (usn) => this.devices.usnInUse(usn),
    });
    // Re-check: another add of the same name may have completed while we were opening files.
    if (this.devices.has(name)) {
      await dev.backstore?.close();
      throw new MgmtError('EEXIST', `device ${name} already exists`);
    }
    this.devices.set(name, dev);
    this.log.info({ device: name, handler, size: dev.size, blockSize: dev.blockSize, filename: dev.filename }, `attached virtual device ${name}`);
    this.copyManager.deviceRegistered(dev);
    return dev;
  }

  /** Remove a device: unmap it everywhere, then close its backstore once its I/O has drained (bounded). */
  async delDevice(name: string, timeoutMs = 5000): Promise<void> {
    const dev = this.devices.get(name);
    if (!dev) throw einval(`device ${name} not found`);
    this.devices.delete(name);
    dev.closing = true;
    for (const set of new Set([...dev.mappings].map((e) => e.set))) set.dropDevice(dev);
    dev.reservations.detach?.(dev);
    if (!(await dev.whenIdle(timeoutMs))) this.log.error({ device: name, inflight: dev.inflight }, `device ${name}: ${dev.inflight} backstore operations still running at close; closing anyway`);
    await dev.backstore?.close();
    dev.backstore = null;
    this.log.info({ device: name }, `detached virtual device ${name}`);
  }

  addTarget(name: string): Target {
    checkTargetName(name);
    if (this.targets.has(name)) throw new MgmtError('EEXIST', `target ${name} already exists`);
    const t = this.newTarget(name);
    this.targets.set(name, t);
    return t;
  }

  /**
   * A target of any driver, not yet registered anywhere: the iSCSI driver's go in `targets`,
   * another driver keeps its own in `driverTargets` (as SCST keeps targets per template).
   */
  newTarget(name: string): Target {
    checkTargetName(name);
    const t = new Target(name, this.nextTid++);
    t.globalGroups = this.globalGroups;
    this.watchLunSet(t, t.defaultLuns);
    return t;
  }

  /** Every driver's targets (relative target port ids are unique across all of them). */
  *allTargets(): Generator<Target> {
    yield* this.targets.values();
    for (const m of this.driverTargets.values()) yield* m.values();
  }

  /** A target of any driver by name (ALUA target groups name targets without their driver). */
  anyTarget(name: string): Target | undefined {
    const t = this.targets.get(name);
    if (t) return t;
    for (const m of this.driverTargets.values()) {
      const o = m.get(name);
      if (o) return o;
    }
    return undefined;
  }

  addGroup(t: Target, name: string) {
    checkGroupName(name, true);
    if (t === this.copyManager.target) throw einval('Copy Manager does not support security groups');
    if (t.group(name)) throw new MgmtError('EEXIST', `group ${name} already exists`);
    const g = new IniGroup(name, t);
    this.watchLunSet(t, g.luns);
    t.groups.push(g);
    this.reevaluate(t);
    return g;
  }

  /** Group membership changed: every session of the target re-chooses its LUN set. */
  reevaluate(t: Target): void {
    for (const s of t.sessions) s.evaluateLuns(false, 'none');
  }

  private watchLunSet(t: Target, set: LunSet): void {
    set.onChange = (kind, change) => {
      for (const s of t.sessions) if (s.luns === set) s.lunsChanged(kind, change);
    };
  }

  /** measure_latency: commands are timed while it is set (latency histograms); sessions created meanwhile keep SCST's latency statistics. */
  measureLatency = false;

  createSession(target: Target, initiator: string, transport: SessionTransport): ScstSession {
    const s = new ScstSession(target, initiator, transport, this);
    if (this.measureLatency) s.latStats = new SessionLatencyStats();
    s.sysfsName = target.takeSessionName(initiator);
    target.sessions.add(s);
    this.sessions.add(s);
    return s;
  }

  /** Ends the session; resolves when what its nexuses held is released everywhere (ScstSession.close). */
  closeSession(s: ScstSession): Promise<void> {
    const released = s.close();
    this.sessions.delete(s);
    return released;
  }

  /** Commands still in any session's table (for the exit balance). */
  get commandCount(): number {
    let n = 0;
    for (const s of this.sessions) n += s.cmds.size;
    return n;
  }
}
