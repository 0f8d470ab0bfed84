import type { Device } from './device.js';
import { einval, MgmtError } from './errors.js';
import type { ScstSession } from './session.js';
import { settledWithin } from './wait.js';

export const MAX_LUN = 16383;

export interface LunEntry {
  readonly lun: number;
  readonly device: Device;
  readonly readOnly: boolean;
  /** The set holding this mapping. */
  readonly set: LunSet;
  /**
   * N of the device's exported/exportN link: numbered per device as mappings are created, never
   * reused (SCST's dev_exported_lun_num); -1 in a procfs-era group, which sysfs does not show.
   */
  readonly exportNo: number;
}

export type AddrMethod = 'PERIPHERAL' | 'FLAT' | 'LUN';

/** One LUN of a set changed: the mapping that went and the one that came (either may be null). */
export interface LunChange {
  readonly removed: LunEntry | null;
  readonly added: LunEntry | null;
}

/**
 * A LUN set: the target's default set or a security group's (sysfs luns/, procfs devices). Each
 * mapping is also listed by its device (Device.mappings), so a device finds its mappings without
 * visiting every set.
 */
export class LunSet {
  readonly luns = new Map<number, LunEntry>();
  /** Changes whenever a mapping comes or goes (listings keep their order until it does). */
  version = 0;
  /**
   * Called after every change with the kind of unit attention it causes and, when one LUN
   * changed, what changed (null: anything may have, e.g. clear).
   */
  onChange: ((kind: 'inventory' | 'inquiry' | 'none', change: LunChange | null) => void) | null = null;
  /** What the set's target driver refuses to map (throws); checked before every add or replace. */
  guard: ((device: Device, readOnly: boolean) => void) | null = null;

  /** `target` is null for a procfs-era group's set; `group` is null for a target's default set. */
  constructor(
    readonly target: Target | null,
    readonly group: IniGroup | null,
  ) {}

  private checkLun(lun: number): void {
    if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN) throw einval(`LUN ${lun} out of range 0..${MAX_LUN}`);
  }

  private map(device: Device, lun: number, readOnly: boolean): LunEntry {
    const e: LunEntry = { lun, device, readOnly, set: this, exportNo: this.target ? device.exportedLunNum++ : -1 };
    this.luns.set(lun, e);
    device.mappings.add(e);
    this.version++;
    return e;
  }

  private unmap(e: LunEntry): void {
    this.luns.delete(e.lun);
    e.device.mappings.delete(e);
    this.version++;
  }

  /** `checked` false: the driver's own assignment, which its guard does not apply to. */
  add(device: Device, lun: number, readOnly: boolean, checked = true): void {
    this.checkLun(lun);
    if (this.luns.has(lun)) throw new MgmtError('EEXIST', `LUN ${lun} already exists`);
    if (checked) this.guard?.(device, readOnly);
    const e = this.map(device, lun, readOnly);
    this.onChange?.('inventory', { removed: null, added: e });
  }

  replace(device: Device, lun: number, readOnly: boolean, ua: boolean): void {
    this.checkLun(lun);
    this.guard?.(device, readOnly);
    // Unmapping first moves the mapping to the end of the insertion order, as SCST's list does.
    const old = this.luns.get(lun) ?? null;
    if (old) this.unmap(old);
    const e = this.map(device, lun, readOnly);
    this.onChange?.(old ? (ua ? 'inquiry' : 'none') : 'inventory', { removed: old, added: e });
  }

  del(lun: number): void {
    const e = this.luns.get(lun);
    if (!e) throw einval(`LUN ${lun} does not exist`);
    this.unmap(e);
    this.onChange?.('inventory', { removed: e, added: null });
  }

  clear(): void {
    if (this.luns.size === 0) return;
    for (const e of this.luns.values()) e.device.mappings.delete(e);
    this.luns.clear();
    this.version++;
    this.onChange?.('inventory', null);
  }

  /** Remove every LUN that maps `device` (device deletion): visits the device's mappings only. */
  dropDevice(device: Device): boolean {
    let any = false;
    for (const e of [...device.mappings]) {
      if (e.set !== this) continue;
      this.unmap(e);
      any = true;
      this.onChange?.('inventory', { removed: e, added: null });
    }
    return any;
  }

  sorted(): LunEntry[] {
    return [...this.luns.values()].sort((a, b) => a.lun - b.lun);
  }
}

/** Case-insensitive wildcard match with `*`, `?` and a leading `!` negation (sysfs.md §7.4). */
export function initiatorMatches(pattern: string, name: string): boolean {
  let neg = false;
  let p = pattern;
  if (p.startsWith('!')) {
    neg = true;
    p = p.slice(1);
  }
  const re = new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'is');
  return re.test(name) !== neg;
}

/** A security group (SCST acg): initiator name patterns and the LUNs they see. */
export class IniGroup {
  readonly initiators: string[] = [];
  readonly luns: LunSet;
  addrMethod: AddrMethod = 'PERIPHERAL';

  /** `target` is null for the procfs-era groups, which are shared by every target. */
  constructor(
    public name: string,
    readonly target: Target | null,
  ) {
    this.luns = new LunSet(target, this);
  }

  matches(initiator: string): boolean {
    return this.initiators.some((p) => initiatorMatches(p, initiator));
  }
}

/**
 * A target of any driver: its default LUN set, security groups and sessions. What a fabric adds
 * (iSCSI keys, CHAP accounts, portals) its driver keeps in an object of its own.
 */
export class Target {
  /** The target driver it belongs to (SCST's target template): iscsi, scst_local. */
  driverName = 'iscsi';
  enabled = false;
  relTgtId = 0;
  readonly defaultLuns: LunSet;
  readonly groups: IniGroup[] = [];
  readonly sessions = new Set<ScstSession>();
  private noSessionWaiters: Array<() => void> = [];
  /** Sysfs names of its sessions (initiator name, _N for a second session of it). */
  private readonly sessionNames = new Set<string>();
  /** Per initiator name, the lowest N that may be free: a storm of one name costs O(1) a login. */
  private readonly sessionNameHint = new Map<string, number>();

  /** Take the first free sysfs name for a session of `initiator`. */
  takeSessionName(initiator: string): string {
    let n = this.sessionNameHint.get(initiator) ?? 0;
    let name = n === 0 ? initiator : `${initiator}_${n}`;
    while (this.sessionNames.has(name)) name = `${initiator}_${++n}`;
    this.sessionNames.add(name);
    this.sessionNameHint.set(initiator, n + 1);
    return name;
  }

  releaseSessionName(initiator: string, name: string): void {
    if (!this.sessionNames.delete(name)) return;
    const n = name === initiator ? 0 : Number(name.slice(initiator.length + 1));
    // The hint falls back to the freed slot; 0 is the default, so the map keeps no entry for it.
    if (n < (this.sessionNameHint.get(initiator) ?? 0)) {
      if (n === 0) this.sessionNameHint.delete(initiator);
      else this.sessionNameHint.set(initiator, n);
    }
  }
  addrMethod: AddrMethod = 'PERIPHERAL';
  /** Attribute names set explicitly (sysfs [key]). */
  readonly explicit = new Set<string>();
  /** The procfs-era groups shared by all targets (consulted after this target's own groups). */
  globalGroups: GlobalGroups | null = null;

  constructor(
    readonly name: string,
    readonly tid: number,
  ) {
    this.defaultLuns = new LunSet(this, null);
  }

  /** A session ended (ScstSession.close). */
  removeSession(s: ScstSession): void {
    if (!this.sessions.delete(s) || this.sessions.size > 0) return;
    for (const w of this.noSessionWaiters.splice(0)) w();
  }

  /** Resolves true once the target has no session, false if `ms` pass first. */
  whenNoSessions(ms: number): Promise<boolean> {
    return settledWithin(this.sessions.size === 0, this.noSessionWaiters, ms);
  }

  group(name: string): IniGroup | undefined {
    return this.groups.find((g) => g.name === name);
  }

  /** The group whose patterns match first, in creation order (null: the default LUN set). */
  groupFor(initiator: string): IniGroup | null {
    for (const g of this.groups) if (g.matches(initiator)) return g;
    return this.globalGroups?.resolve(initiator, this) ?? null;
  }

  lunSetFor(initiator: string): LunSet {
    return this.groupFor(initiator)?.luns ?? this.defaultLuns;
  }

  /** An initiator may log in (or see the target in discovery) if some LUN set applies to it. */
  admits(initiator: string): boolean {
    const g = this.groupFor(initiator);
    if (g === null) return this.defaultLuns.luns.size > 0;
    // A procfs-era login is refused when the initiator's group has no LUN (procfs.md §6.6).
    return g.target !== null || g.luns.luns.size > 0;
  }
}

/**
 * The procfs-era security groups (procfs.md §3.8, §3.10): one list shared by every target,
 * `Default` always first. An initiator gets the first group one of whose names matches; else the
 * group `Default_<target name>`; else `Default` -- unless the target has LUNs of its own
 * (a modern scst.conf target), which then keep serving initiators no procfs group names.
 */
export class GlobalGroups {
  readonly defaultGroup = new IniGroup('Default', null);
  readonly list: IniGroup[] = [this.defaultGroup];

  find(name: string): IniGroup | undefined {
    return this.list.find((g) => g.name === name);
  }

  resolve(initiator: string, t: Target): IniGroup | null {
    for (const g of this.list) if (g.matches(initiator)) return g;
    const perTarget = this.find(`Default_${t.name}`);
    if (perTarget) return perTarget;
    return t.defaultLuns.luns.size > 0 ? null : this.defaultGroup;
  }
}
