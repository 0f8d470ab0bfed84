import type { Device } from '../../engine/device.js';
import { deviceAttrs } from '../../engine/mgmt.js';
import type { Scst } from '../../engine/scst.js';
import type { IniGroup, LunEntry, LunSet, Target } from '../../engine/target.js';

// devices/<d>/exported/exportN (sysfs.md §6.1): one link per LUN that maps the device, numbered
// from a per-device counter that never goes back. Numbers are handed out in creation order: the
// tree reconciles after every command and before every listing.

export const DRIVER = 'iscsi';

export interface SysfsLunSet {
  target: Target;
  group: IniGroup | null;
  set: LunSet;
}

/** The LUN sets sysfs shows: each target's default set, then its groups' sets. */
export function sysfsLunSets(scst: Scst): SysfsLunSet[] {
  const out: SysfsLunSet[] = [];
  for (const t of scst.targets.values()) {
    out.push({ target: t, group: null, set: t.defaultLuns });
    for (const g of t.groups) out.push({ target: t, group: g, set: g.luns });
  }
  return out;
}

export function reconcileExports(scst: Scst): void {
  const seen = new Map<Device, Set<LunEntry>>();
  for (const { set } of sysfsLunSets(scst)) {
    for (const e of set.luns.values()) {
      const a = deviceAttrs(e.device);
      if (!a.exports.has(e)) a.exports.set(e, a.nextExport++);
      let s = seen.get(e.device);
      if (!s) seen.set(e.device, (s = new Set()));
      s.add(e);
    }
  }
  for (const d of scst.devices.values()) {
    const a = deviceAttrs(d);
    const s = seen.get(d);
    for (const k of [...a.exports.keys()]) if (!s?.has(k as LunEntry)) a.exports.delete(k);
  }
}

/** Path of a LUN directory below R. */
export function lunPath(target: Target, group: IniGroup | null, lun: number): string {
  return group ? `targets/${DRIVER}/${target.name}/ini_groups/${group.name}/luns/${lun}` : `targets/${DRIVER}/${target.name}/luns/${lun}`;
}

/** The device's export links: [exportN, link text from devices/<d>/exported]. */
export function exportLinks(scst: Scst, dev: Device): Array<[string, string]> {
  reconcileExports(scst);
  const a = deviceAttrs(dev);
  const out: Array<[number, string]> = [];
  for (const { target, group, set } of sysfsLunSets(scst)) {
    for (const e of set.luns.values()) {
      if (e.device !== dev) continue;
      const n = a.exports.get(e);
      if (n !== undefined) out.push([n, `../../../${lunPath(target, group, e.lun)}`]);
    }
  }
  return out.sort((x, y) => x[0] - y[0]).map(([n, l]) => [`export${n}`, l]);
}
