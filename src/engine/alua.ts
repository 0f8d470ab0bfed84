import type { Device } from './device.js';
import { MgmtError, einval, type Errno } from './errors.js';
import type { Logger } from 'pino';

// Asymmetric logical unit access (SPC-4 5.16) as SCST models it (sysfs.md §8): device groups
// hold devices and target port groups; a target port group holds target ports (local targets by
// name, or remote ones with an explicit relative target port identifier) and one access state
// shared by them all. REPORT TARGET PORT GROUPS reports, for one device, the target port groups
// of its device group (rtpgData below); the SCSI layer encodes and sends it.

export type AluaState = 'active' | 'nonoptimized' | 'standby' | 'unavailable' | 'offline' | 'transitioning';

/** SPC-4 Table 163: ASYMMETRIC ACCESS STATE codes. */
export const ALUA_STATE_CODE: Readonly<Record<AluaState, number>> = {
  active: 0x0,
  nonoptimized: 0x1,
  standby: 0x2,
  unavailable: 0x3,
  offline: 0xe,
  transitioning: 0xf,
};

export const ALUA_STATES: readonly AluaState[] = ['active', 'nonoptimized', 'standby', 'unavailable', 'offline', 'transitioning'];

export const isAluaState = (s: string): s is AluaState => (ALUA_STATES as readonly string[]).includes(s);

/** A target port named in a target port group: local (a target of this daemon) or remote. */
export class TgMember {
  /** Only meaningful for a remote port; a local one reports its target's own rel_tgt_id. */
  relTgtId = 0;
  constructor(readonly name: string) {}
}

export class TargetGroup {
  groupId = 0;
  preferred = false;
  state: AluaState = 'active';
  readonly members: TgMember[] = [];
  constructor(readonly name: string) {}

  member(name: string): TgMember | undefined {
    return this.members.find((m) => m.name === name);
  }
}

export class DeviceGroup {
  readonly devices: Device[] = [];
  readonly targetGroups: TargetGroup[] = [];
  constructor(readonly name: string) {}

  targetGroup(name: string): TargetGroup | undefined {
    return this.targetGroups.find((g) => g.name === name);
  }
}

/** What the ALUA layer needs to know about local targets: their rel_tgt_id, by name. */
export type LocalTargetLookup = (name: string) => { relTgtId: number } | undefined;

/** One target port group's new access state, by names (the names are the same on every node). */
export interface AluaChange {
  deviceGroup: string;
  targetGroup: string;
  state: AluaState;
}

/** The I_T nexus a SET TARGET PORT GROUPS came through: it is told nothing of its own change (SCST). */
export interface AluaOrigin {
  sessionId: number;
}

/** A refusal of the sharing layer, with the errno the management write reports. */
export interface SharingError extends Error {
  errno?: Errno;
}

/**
 * Where the states of some device groups are agreed with other nodes (a cluster layer offers
 * it; the daemon installs it). The core stays the only place that changes a state: it commits a
 * change of a shared group here first, then applies it; changes other nodes committed come back
 * through applyCommitted.
 */
export interface AluaSharing {
  /** Whether the states of `g` are agreed with other nodes. */
  shares(g: DeviceGroup): boolean;
  /** Whether this node's view of the shared states is certainly current (a member, lease valid). */
  certain(): boolean;
  /**
   * Commit `changes` (all of shared groups) atomically; rejects when nothing was committed.
   * Resolves with those to apply here: not the ones a newer commit of another node, already in
   * force here, has overtaken.
   */
  commit(changes: readonly AluaChange[]): Promise<readonly AluaChange[]>;
  /** A management change of a local target's rel_tgt_id or a group_id: throws (errno) when it would collide with another node's. */
  checkIds?(change: { relTgtId?: { target: string; id: number }; groupId?: { deviceGroup: string; targetGroup: string; id: number } }): void;
}

/** Which device group each device is in (a device is in at most one), for the SCSI layer. */
const membership = new WeakMap<Device, { alua: Alua; group: DeviceGroup }>();

/**
 * The ALUA configuration of one daemon. Every operation validates first and changes nothing when
 * it refuses; the errnos are SCST's (sysfs.md §11.7-§11.10).
 */
export class Alua {
  readonly groups: DeviceGroup[] = [];
  /** The cluster's side of shared states; null: every state is this node's alone. */
  sharing: AluaSharing | null = null;
  /** Where state changes are logged (the core's logger once it is known). */
  log: Logger | null = null;
  /** SET TARGET PORT GROUPS run one after another (SCST serialises them globally). */
  private stpgChain: Promise<unknown> = Promise.resolve();

  constructor(readonly localTarget: LocalTargetLookup) {}

  group(name: string): DeviceGroup | undefined {
    return this.groups.find((g) => g.name === name);
  }

  createDeviceGroup(name: string): DeviceGroup {
    if (name === '') throw einval('Device group name required');
    if (name.includes('/') || name === '.' || name === '..') throw einval(`Invalid device group name ${name}`);
    if (this.group(name)) throw new MgmtError('EEXIST', `Device group ${name} already exists`);
    const g = new DeviceGroup(name);
    this.groups.push(g);
    return g;
  }

  /** Deleting a device group puts its target groups back to active first, then frees its devices. */
  delDeviceGroup(name: string): void {
    const g = this.group(name);
    if (!g) throw einval(`Device group ${name} not found`);
    for (const tg of g.targetGroups) tg.state = 'active';
    for (const d of g.devices) membership.delete(d);
    this.groups.splice(this.groups.indexOf(g), 1);
  }

  addDevice(g: DeviceGroup, dev: Device): void {
    const cur = membership.get(dev);
    if (cur) throw new MgmtError('EEXIST', `Device ${dev.name} is already in device group ${cur.group.name}`);
    g.devices.push(dev);
    membership.set(dev, { alua: this, group: g });
  }

  delDevice(g: DeviceGroup, devName: string): void {
    const i = g.devices.findIndex((d) => d.name === devName);
    if (i < 0) throw einval(`Device ${devName} is not in device group ${g.name}`);
    const [dev] = g.devices.splice(i, 1);
    membership.delete(dev!);
  }

  createTargetGroup(g: DeviceGroup, name: string): TargetGroup {
    if (name === '') throw einval('Target group name required');
    if (name.includes('/') || name === '.' || name === '..') throw einval(`Invalid target group name ${name}`);
    if (g.targetGroup(name)) throw new MgmtError('EEXIST', `Target group ${name} already exists in device group ${g.name}`);
    const tg = new TargetGroup(name);
    g.targetGroups.push(tg);
    return tg;
  }

  delTargetGroup(g: DeviceGroup, name: string): void {
    const tg = g.targetGroup(name);
    if (!tg) throw einval(`Target group ${name} not found in device group ${g.name}`);
    g.targetGroups.splice(g.targetGroups.indexOf(tg), 1);
  }

  addTarget(g: DeviceGroup, tg: TargetGroup, name: string): TgMember {
    if (name === '') throw einval('Target name required');
    if (name.includes('/') || name === '.' || name === '..') throw einval(`Invalid target name ${name}`);
    for (const other of g.targetGroups) if (other.member(name)) throw new MgmtError('EEXIST', `Target ${name} is already in target group ${other.name}`);
    const m = new TgMember(name);
    tg.members.push(m);
    return m;
  }

  delTarget(tg: TargetGroup, name: string): void {
    const i = tg.members.findIndex((m) => m.name === name);
    if (i < 0) throw einval(`Target ${name} is not in target group ${tg.name}`);
    tg.members.splice(i, 1);
  }

  setGroupId(tg: TargetGroup, id: number): void {
    if (!Number.isInteger(id) || id < 1 || id > 65535) throw einval(`Invalid group_id ${id} (1..65535)`);
    const g = this.groups.find((x) => x.targetGroups.includes(tg));
    if (g && this.sharing?.shares(g)) this.checkIds({ groupId: { deviceGroup: g.name, targetGroup: tg.name, id } });
    tg.groupId = id;
  }

  setRemoteRelTgtId(m: TgMember, id: number): void {
    if (!Number.isInteger(id) || id < 1 || id > 65535) throw einval(`Invalid rel_tgt_id ${id} (1..65535)`);
    m.relTgtId = id;
  }

  /** A device goes away: it leaves its device group. */
  dropDevice(dev: Device): void {
    const cur = membership.get(dev);
    if (!cur || cur.alua !== this) return;
    const i = cur.group.devices.indexOf(dev);
    if (i >= 0) cur.group.devices.splice(i, 1);
    membership.delete(dev);
  }

  /** A local target goes away: it leaves every target group. */
  dropTarget(name: string): void {
    for (const g of this.groups) for (const tg of g.targetGroups) {
      const i = tg.members.findIndex((m) => m.name === name);
      if (i >= 0) tg.members.splice(i, 1);
    }
  }

  /** The relative target port identifier a member reports: its local target's, else its own. */
  memberRelTgtId(m: TgMember): number {
    return this.localTarget(m.name)?.relTgtId ?? m.relTgtId;
  }

  /** Ask the sharing layer whether an identifier is free in the cluster; throws a MgmtError when not. */
  checkIds(change: Parameters<NonNullable<AluaSharing['checkIds']>>[0]): void {
    try {
      this.sharing?.checkIds?.(change);
    } catch (e) {
      const err = e as SharingError;
      throw new MgmtError(err.errno ?? 'EEXIST', err.message);
    }
  }

  /** Whether no other node of the cluster uses `id` for one of its targets (always, standalone). */
  relTgtIdFree(target: string, id: number): boolean {
    try {
      this.sharing?.checkIds?.({ relTgtId: { target, id } });
      return true;
    } catch {
      return false;
    }
  }

  /** Whether a member is one of this node's targets. */
  isLocal(m: TgMember): boolean {
    return this.localTarget(m.name) !== undefined;
  }

  /**
   * The state `tg` of `g` is reported in: its own, except that a node that is not certainly a
   * member of its cluster reports the groups of its own ports of a shared device group as
   * transitioning (its view of the states may be stale, and commands through them fail
   * retryably meanwhile), never a stale active/optimized.
   */
  reportedState(g: DeviceGroup, tg: TargetGroup): AluaState {
    const sh = this.sharing;
    if (sh && !sh.certain() && sh.shares(g) && tg.members.some((m) => this.isLocal(m))) return 'transitioning';
    return tg.state;
  }

  /** Resolve names to groups; throws (EINVAL, nothing changed) naming the first that is unknown. */
  resolve(c: AluaChange): { g: DeviceGroup; tg: TargetGroup } {
    const g = this.group(c.deviceGroup);
    if (!g) throw einval(`Device group ${c.deviceGroup} not found`);
    const tg = g.targetGroup(c.targetGroup);
    if (!tg) throw einval(`Target group ${c.targetGroup} not found in device group ${g.name}`);
    return { g, tg };
  }

  /**
   * Change target port group states (sysfs state writes, SET TARGET PORT GROUPS): the changes
   * of shared device groups are committed to the cluster first (all or none; a refusal changes
   * nothing), then every change is applied here. Resolves once in force on this node.
   */
  async setStates(changes: readonly AluaChange[], origin: AluaOrigin | null = null): Promise<void> {
    for (const c of changes) {
      this.resolve(c);
      if (!isAluaState(c.state)) throw einval(`Invalid ALUA state '${String(c.state)}'`);
    }
    const sh = this.sharing;
    const shared = sh ? changes.filter((c) => sh.shares(this.resolve(c).g)) : [];
    let apply = changes;
    if (sh && shared.length > 0) {
      try {
        const current = await sh.commit(shared);
        apply = changes.filter((c) => !shared.includes(c) || current.includes(c));
      } catch (e) {
        const err = e as SharingError;
        throw new MgmtError(err.errno ?? 'EIO', err.message);
      }
    }
    for (const c of apply) {
      const r = this.group(c.deviceGroup)?.targetGroup(c.targetGroup);
      // A group deleted while the commit was under way has nothing left to apply to.
      if (r) this.applyState(this.group(c.deviceGroup)!, r, c.state, origin);
    }
  }

  /** setStates for SET TARGET PORT GROUPS: one after another, as SCST serialises them. */
  setStatesSerialised(changes: readonly AluaChange[], origin: AluaOrigin): Promise<void> {
    const run = this.stpgChain.then(() => this.setStates(changes, origin));
    this.stpgChain = run.catch(() => undefined);
    return run;
  }

  /**
   * Put `tg` in `state` on this node and tell every nexus of the group's devices (SPC-4 5.16.2.6:
   * ASYMMETRIC ACCESS STATE CHANGED), except the one that asked through SET TARGET PORT GROUPS.
   * Also how a state committed by another node takes effect here.
   */
  applyState(g: DeviceGroup, tg: TargetGroup, state: AluaState, origin: AluaOrigin | null = null, by?: string): void {
    if (tg.state === state) return;
    tg.state = state;
    for (const d of g.devices) for (const td of d.tgtDevs) if (td.session.id !== origin?.sessionId) td.queueUA(ACCESS_STATE_CHANGED);
    this.log?.info({ deviceGroup: g.name, targetGroup: tg.name, state, ...(by ? { by } : {}) }, `ALUA state of target group ${tg.name} changed to ${state}${by ? ` (committed by node ${by})` : ''}`);
  }

  /**
   * The node's view of shared states is current again (rejoined): every nexus of the shared
   * groups' devices hears that the access state changed, as what it was told meanwhile
   * (transitioning) no longer holds.
   */
  sharedStatesRestored(): void {
    const sh = this.sharing;
    if (!sh) return;
    for (const g of this.groups) if (sh.shares(g)) for (const d of g.devices) d.queueUA(ACCESS_STATE_CHANGED);
  }
}

/** ASYMMETRIC ACCESS STATE CHANGED (SPC-4 Table 41), a unit attention. */
export const ACCESS_STATE_CHANGED = Object.freeze({ key: 0x6, asc: 0x2a, ascq: 0x06 });

/** The ALUA configuration a device's device group belongs to, if it is in one. */
export function aluaOfDevice(dev: Device): Alua | null {
  return membership.get(dev)?.alua ?? null;
}

/** The device group of a device, if any. */
export function deviceGroupOf(dev: Device): DeviceGroup | null {
  return membership.get(dev)?.group ?? null;
}

// ---- what REPORT TARGET PORT GROUPS returns (SPC-4 6.36) ---------------------------------------

/** One target port group descriptor. */
export interface TpgDescriptor {
  /** PREF bit. */
  preferred: boolean;
  /** ASYMMETRIC ACCESS STATE (ALUA_STATE_CODE). */
  state: number;
  stateName: AluaState;
  /** T_SUP, O_SUP, U_SUP, S_SUP, AN_SUP, AO_SUP: the states SCST supports, all of them. */
  supported: { transitioning: boolean; offline: boolean; unavailable: boolean; standby: boolean; nonoptimized: boolean; optimized: boolean };
  /** STATUS CODE: 0 (no status available). */
  statusCode: number;
  targetPortGroup: number;
  /** Relative target port identifiers of the ports in the group, in configuration order. */
  relativeTargetPorts: number[];
}

export interface RtpgData {
  /** The group of the port the command came in through, if it is in one. */
  ownGroup: TpgDescriptor | null;
  descriptors: TpgDescriptor[];
}

const ALL_SUPPORTED = Object.freeze({ transitioning: true, offline: true, unavailable: true, standby: true, nonoptimized: true, optimized: true });

/**
 * The data of REPORT TARGET PORT GROUPS for `dev` received through the target port `relTgtId`:
 * null when the device is in no device group (the command is then not supported for it, and
 * INQUIRY reports TPGS 0).
 */
export function reportTargetPortGroups(dev: Device, relTgtId: number): RtpgData | null {
  const m = membership.get(dev);
  if (!m) return null;
  let own: TpgDescriptor | null = null;
  const descriptors = m.group.targetGroups.map((tg) => {
    const st = m.alua.reportedState(m.group, tg);
    const d: TpgDescriptor = {
      preferred: tg.preferred,
      state: ALUA_STATE_CODE[st],
      stateName: st,
      supported: { ...ALL_SUPPORTED },
      statusCode: 0,
      targetPortGroup: tg.groupId,
      relativeTargetPorts: tg.members.map((x) => m.alua.memberRelTgtId(x)),
    };
    if (d.relativeTargetPorts.includes(relTgtId)) own ??= d;
    return d;
  });
  return { ownGroup: own, descriptors };
}

/** The access state of `dev` through port `relTgtId` ('active' when no ALUA applies). */
export function aluaStateFor(dev: Device, relTgtId: number): AluaState {
  return reportTargetPortGroups(dev, relTgtId)?.ownGroup?.stateName ?? 'active';
}

/**
 * The REPORT TARGET PORT GROUPS parameter data (SPC-4 Tables 160-164): length format (extended =
 * false) or extended format with IMPLICIT TRANSITION TIME 0. A convenience for the SCSI layer.
 */
export function encodeRtpg(data: RtpgData, extended: boolean): Buffer {
  const parts: Buffer[] = [];
  for (const d of data.descriptors) {
    const b = Buffer.alloc(8 + 4 * d.relativeTargetPorts.length);
    b[0] = (d.preferred ? 0x80 : 0) | (d.state & 0x0f);
    const s = d.supported;
    b[1] = (s.transitioning ? 0x80 : 0) | (s.offline ? 0x40 : 0) | (s.unavailable ? 0x08 : 0) | (s.standby ? 0x04 : 0) | (s.nonoptimized ? 0x02 : 0) | (s.optimized ? 0x01 : 0);
    b.writeUInt16BE(d.targetPortGroup & 0xffff, 2);
    b[5] = d.statusCode;
    b[7] = d.relativeTargetPorts.length & 0xff;
    d.relativeTargetPorts.forEach((id, i) => b.writeUInt16BE(id & 0xffff, 8 + 4 * i + 2));
    parts.push(b);
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(extended ? 8 : 4);
  head.writeUInt32BE(body.length + head.length - 4, 0);
  if (extended) head[4] = 0x10; // FORMAT TYPE 001b: extended header
  return Buffer.concat([head, body]);
}
