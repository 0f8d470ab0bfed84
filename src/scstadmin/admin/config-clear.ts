// -clear_config (scstadmin.md §9): device groups, then groups / LUNs / virtual targets / dynamic
// driver attributes, then devices, then everything that is left is disabled.

import { compareBytes } from '../../conf/write.js';
import { errorString } from '../sysfs/codes.js';
import type { Ctx } from './current.js';
import {
  clearDriverDynamicAttributes,
  clearInitiators,
  clearLuns,
  closeDevice,
  disableDriver,
  disableTarget,
  isVirtualTarget,
  removeDeviceGroup,
  removeDeviceGroupDevice,
  removeGroup,
  removeTargetGroup,
  removeVirtualTarget,
} from './objects.js';

const sorted = (xs: Iterable<string>): string[] => [...xs].sort(compareBytes);

export async function clearConfiguration(ctx: Ctx): Promise<number> {
  const { current } = ctx;
  ctx.con.out('-> Clearing running configuration.\n');
  for (const dg of sorted(current.dgroups.keys())) {
    const g = current.dgroups.get(dg)!;
    for (const tg of sorted(g.tgroups.keys())) await removeTargetGroup(ctx, dg, tg, true);
    for (const dev of g.devices) await removeDeviceGroupDevice(ctx, dg, dev, true);
    await removeDeviceGroup(ctx, dg, true);
  }
  for (const d of sorted(current.assign.keys())) {
    const targets = current.assign.get(d)!;
    for (const t of sorted(targets.keys())) {
      for (const g of sorted(targets.get(t)!.groups.keys())) {
        await clearInitiators(ctx, d, t, g);
        await clearLuns(ctx, d, t, g);
        await removeGroup(ctx, d, t, g, true);
      }
      await clearLuns(ctx, d, t);
      // The original means to drop the target's dynamic attributes here but passes no list.
      if (await isVirtualTarget(ctx, d, t)) {
        const rc = await removeVirtualTarget(ctx, d, t);
        if (rc) ctx.con.issueWarning(errorString(rc));
      }
    }
    await clearDriverDynamicAttributes(ctx, d);
  }
  for (const h of sorted(current.handlers.keys())) {
    for (const dev of current.handlers.get(h)!) await closeDevice(ctx, h, dev, true);
  }
  const [drivers] = await ctx.scst.drivers();
  for (const d of drivers ?? []) {
    const [targets] = await ctx.scst.targets(d);
    for (const t of targets ?? []) await disableTarget(ctx, d, t);
    await disableDriver(ctx, d);
  }
  ctx.con.out('\t-> Configuration cleared.\n');
  return 0;
}
