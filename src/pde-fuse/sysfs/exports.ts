import type { Device } from '../../engine/device.js';
import type { IniGroup, Target } from '../../engine/target.js';

// devices/<d>/exported/exportN (sysfs.md §6.1): one link per LUN that maps the device, numbered
// from a per-device counter that never goes back. The engine numbers each mapping as it creates
// it (LunEntry.exportNo) and keeps a device's mappings with the device, so listing exported/ visits
// that device's mappings only.

export const DRIVER = 'iscsi';

/** Path of a LUN directory below R. */
export function lunPath(target: Target, group: IniGroup | null, lun: number): string {
  return group ? `targets/${target.driverName}/${target.name}/ini_groups/${group.name}/luns/${lun}` : `targets/${target.driverName}/${target.name}/luns/${lun}`;
}

/** The device's export links: [exportN, link text from devices/<d>/exported], in creation order. */
export function exportLinks(dev: Device): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const e of dev.mappings) {
    const t = e.set.target;
    // A procfs-era group's mapping (no target) has no place in sysfs.
    if (t === null || e.exportNo < 0) continue;
    out.push([`export${e.exportNo}`, `../../../${lunPath(t, e.set.group, e.lun)}`]);
  }
  return out;
}
