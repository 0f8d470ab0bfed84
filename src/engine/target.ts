import type { Device } from './device.js';
import { einval, MgmtError } from './errors.js';
import type { ScstSession } from './session.js';
import { defaultTargetParams, type TargetParams } from './iscsi/params.js';

export const MAX_LUN = 16383;

export interface LunEntry {
  readonly lun: number;
  readonly device: Device;
  readonly readOnly: boolean;
}

export type AddrMethod = 'PERIPHERAL' | 'FLAT' | 'LUN';

/** A LUN set: the target's default set or a security group's (sysfs luns/, procfs devices). */
export class LunSet {
  readonly luns = new Map<number, LunEntry>();
  /** Called after every change with the kind of unit attention it causes. */
  onChange: ((kind: 'inventory' | 'inquiry' | 'none') => void) | null = null;

  add(device: Device, lun: number, readOnly: boolean): void {
    if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN) throw einval(`LUN ${lun} out of range 0..${MAX_LUN}`);
    if (this.luns.has(lun)) throw new MgmtError('EEXIST', `LUN ${lun} already exists`);
    this.luns.set(lun, { lun, device, readOnly });
    this.onChange?.('inventory');
  }

  replace(device: Device, lun: number, readOnly: boolean, ua: boolean): void {
    if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN) throw einval(`LUN ${lun} out of range 0..${MAX_LUN}`);
    // Deleting first moves the mapping to the end of the insertion order, as SCST's list does.
    const existed = this.luns.delete(lun);
    this.luns.set(lun, { lun, device, readOnly });
    this.onChange?.(existed ? (ua ? 'inquiry' : 'none') : 'inventory');
  }

  del(lun: number): void {
    if (!this.luns.delete(lun)) throw einval(`LUN ${lun} does not exist`);
    this.onChange?.('inventory');
  }

  clear(): void {
    if (this.luns.size === 0) return;
    this.luns.clear();
    this.onChange?.('inventory');
  }

  /** Remove every LUN that maps `device` (device deletion). */
  dropDevice(device: Device): boolean {
    let any = false;
    for (const [n, e] of this.luns) if (e.device === device) (this.luns.delete(n), (any = true));
    if (any) this.onChange?.('inventory');
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
  readonly luns = new LunSet();
  addrMethod: AddrMethod = 'PERIPHERAL';

  /** `target` is null for the procfs-era groups, which are shared by every target. */
  constructor(
    public name: string,
    readonly target: Target | null,
  ) {}

  matches(initiator: string): boolean {
    return this.initiators.some((p) => initiatorMatches(p, initiator));
  }
}

export interface ChapUser {
  user: string;
  secret: string;
}

/** An iSCSI target: its default LUN set, security groups, parameters and sessions. */
export class Target {
  enabled = false;
  relTgtId = 0;
  readonly defaultLuns = new LunSet();
  readonly groups: IniGroup[] = [];
  readonly sessions = new Set<ScstSession>();
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
  // In-order data: with the OR rule our Yes wins, so Data-Out can be placed as it arrives.
  params: TargetParams = { ...defaultTargetParams, DataPDUInOrder: true, DataSequenceInOrder: true };
  /** Target keys that are not negotiated (QueuedCommands, NopInInterval, ...). */
  queuedCommands = 32;
  nopInInterval = 30;
  nopInTimeout = 30;
  rspTimeout = 90;
  maxSessions = 0;
  alias = '';
  incomingUsers: ChapUser[] = [];
  outgoingUser: ChapUser | null = null;
  addrMethod: AddrMethod = 'PERIPHERAL';
  /** Attribute names set explicitly (sysfs [key]). */
  readonly explicit = new Set<string>();
  /** The procfs-era groups shared by all targets (consulted after this target's own groups). */
  globalGroups: GlobalGroups | null = null;

  constructor(
    readonly name: string,
    readonly tid: number,
  ) {}

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
