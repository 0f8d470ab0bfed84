// -config's apply phase (scstadmin.md §7.2-§7.7): the difference between the file and the live
// tree, applied in the original's order — (with -force) deletions, devices, target assignments,
// ALUA, device groups, enabling targets, enabling drivers, SCST attributes — touching nothing
// that already matches. What only -force may remove or change is reported, not done, without it.

import { compareBytes } from '../../conf/write.js';
import { attrValue, perlNum, type AttrMap } from '../sysfs/attrs.js';
import { errorString } from '../sysfs/codes.js';
import { TGT_TYPE_VIRTUAL } from '../sysfs/reader.js';
import { CAttrs, type CConf, type CGroup, type CLun, type CTarget } from './conf-tree.js';
import { readWorkingConfig, type Ctx } from './current.js';
import {
  addDeviceGroup,
  addDeviceGroupDevice,
  addGroup,
  addInitiator,
  addLun,
  addTargetGroup,
  addTargetGroupTarget,
  addVirtualTarget,
  closeDevice,
  moveInitiator,
  openDevice,
  removeDeviceGroup,
  removeDeviceGroupDevice,
  removeGroup,
  removeInitiator,
  removeLun,
  removeTargetGroup,
  removeTargetGroupTarget,
  removeVirtualTarget,
} from './objects.js';
import {
  setAluaAttributes,
  setDeviceAttributes,
  setDeviceGroupAttributes,
  setDriverAttributes,
  setGroupAttributes,
  setHandlerAttributes,
  setScstAttributes,
  setTargetAttribute,
  setTargetAttributes,
  setTargetGroupAttributes,
  setTargetGroupTargetAttributes,
} from './set.js';
import { ExitRequest } from '../cli/console.js';

const sorted = (xs: Iterable<string>): string[] => [...xs].sort(compareBytes);

/**
 * Do file values (creation parameters) differ from the live ones (§7.3 comparison rule)? A live
 * value that is absent while the file says 0 counts as equal; a live key attribute the file
 * does not mention counts as different.
 */
export function differs(file: CAttrs, live: AttrMap): boolean {
  for (const [name, values] of file) {
    // Several values never compare equal to one live value (the original compares a reference).
    if (values.length !== 1) return true;
    const fv = values[0]!;
    const lv = attrValue(live.get(name));
    if (lv === undefined && perlNum(fv) === 0) continue;
    if (fv !== lv) return true;
  }
  for (const [name, a] of live) if (a.keys && !file.has(name)) return true;
  return false;
}

function onlyCreation(live: AttrMap, possible: ReadonlySet<string>): AttrMap {
  const out: AttrMap = new Map();
  for (const [k, v] of live) if (possible.has(k)) out.set(k, v);
  return out;
}

async function rescan(ctx: Ctx): Promise<void> {
  const { current, rc } = await readWorkingConfig(ctx.scst, ctx.con, ctx.force);
  if (rc) throw new ExitRequest(rc);
  ctx.current = current;
}

const emptyTarget = (): CTarget => ({ hwTarget: false, attrs: new CAttrs(), luns: new Map(), groups: new Map(), line: 0 });

/** The original's autovivification (§7.2): live drivers with targets and live targets with groups get empty file entries. */
function vivify(ctx: Ctx, conf: CConf): void {
  for (const [d, targets] of ctx.current.assign) {
    if (targets.size === 0) continue;
    let driver = conf.drivers.get(d);
    if (!driver) conf.drivers.set(d, (driver = { attrs: new CAttrs(), targets: new Map(), line: 0 }));
    for (const [t, target] of targets) {
      if (target.groups.size > 0 && !driver.targets.has(t)) driver.targets.set(t, emptyTarget());
    }
  }
}

export async function applyConfiguration(ctx: Ctx, conf: CConf): Promise<number> {
  const force = ctx.force;
  let changes = 0;
  ctx.con.out('-> Applying configuration.\n');
  ctx.con.progress = { step: () => ctx.con.lastStep, changes: () => ctx.scst.changes };
  try {
    if (force) {
      changes += await applyConfigAssignments(ctx, conf, true, true);
      await rescan(ctx);
    }
    changes += await applyConfigDevices(ctx, conf, force);
    changes += await applyConfigAssignments(ctx, conf, force, false);
    changes += await setAluaAttributes(ctx, conf.alua);
    changes += await applyConfigDeviceGroups(ctx, conf, force);
    changes += await applyConfigEnableTargets(ctx, conf, force);
    changes += await applyConfigEnableDrivers(ctx, conf);
    changes += await setScstAttributes(ctx, conf.attrs);
  } finally {
    ctx.con.progress = null;
  }
  ctx.con.out(`\t-> Done, ${changes} change(s) made.\n`);
  return changes;
}

async function applyConfigDevices(ctx: Ctx, conf: CConf, deletions: boolean): Promise<number> {
  let changes = 0;
  for (const h of sorted(ctx.current.handlers.keys())) {
    for (const dev of ctx.current.handlers.get(h)!) {
      if (conf.handlers.get(h)?.devices.has(dev)) continue;
      if (deletions) {
        await closeDevice(ctx, h, dev, true);
        changes++;
      } else {
        ctx.con.out(`\t-> Device '${dev}' is not in configuration. Use -force to close it.\n`);
      }
    }
  }
  for (const h of sorted(conf.handlers.keys())) {
    const handler = conf.handlers.get(h)!;
    for (const dev of sorted(handler.devices.keys())) {
      const attrs = handler.devices.get(dev)!.attrs;
      const [possible, err] = await ctx.scst.deviceCreateAttributes(h);
      ctx.con.condExit(err);
      const create = attrs.filter(possible ?? new Set(), true);
      const rest = attrs.filter(possible ?? new Set(), false);
      if (ctx.current.handlers.get(h)?.includes(dev)) {
        const [live, lerr] = await ctx.scst.deviceAttributes(dev);
        ctx.con.condExit(lerr);
        if (differs(create, onlyCreation(live ?? new Map(), possible ?? new Set()))) {
          ctx.con.out(`\t-> Device '${dev}' is configured differently.\n`);
          if (deletions) {
            ctx.con.out('\t  -> Closing and re-opening with new attributes.\n');
            await closeDevice(ctx, h, dev, true);
            await openDevice(ctx, h, dev, create.pairs());
            changes += 2;
            await rescan(ctx);
          } else {
            ctx.con.out('\t  -> Use -force to re-open device with new attributes. NOTE: This will disrupt all initiators using this device.\n');
          }
        }
        if (rest.size > 0) changes += await setDeviceAttributes(ctx, dev, rest);
        continue;
      }
      await openDevice(ctx, h, dev, create.pairs());
      changes++;
      if (rest.size > 0) changes += await setDeviceAttributes(ctx, dev, rest);
    }
    if (handler.attrs.size > 0) changes += await setHandlerAttributes(ctx, h, handler.attrs);
  }
  return changes;
}

/** A live LUN the file does not have, or has with other creation parameters (§7.4 deletion part). */
async function reconcileLiveLuns(
  ctx: Ctx,
  driver: string,
  target: string,
  group: string | undefined,
  live: Map<string, string>,
  file: Map<string, CLun> | undefined,
  deletions: boolean,
): Promise<number> {
  let changes = 0;
  for (const lun of sorted(live.keys())) {
    const device = live.get(lun)!;
    const f = file?.get(lun);
    if (!f || f.device !== device) {
      if (deletions) {
        await removeLun(ctx, driver, target, lun, group);
        changes++;
      } else if (group) {
        ctx.con.out(`\t-> Device '${device}' at LUN '${lun}' is not in configuration for driver/target/group '${driver}/${target}/${group}'. Use -force to remove it.\n`);
      } else if (driver !== 'copy_manager') {
        ctx.con.out(`\t-> Device '${device}' at LUN '${lun}' is not in configuration for driver/target '${driver}/${target}'. Use -force to remove it.\n`);
      }
      continue;
    }
    const [liveAttrs, err] = await ctx.scst.lunAttributes(driver, target, lun, group);
    ctx.con.condExit(err);
    const [possible, perr] = await ctx.scst.lunCreateAttributes(driver, target, group);
    ctx.con.condExit(perr);
    const create = f.attrs.filter(possible ?? new Set(), true);
    if (!differs(create, liveAttrs ?? new Map())) continue;
    ctx.con.out(
      group
        ? `\t-> Assigned device '${device}' in group '${group}' at LUN '${lun}' is configured differently.\n`
        : `\t-> Assigned device '${device}' in target '${target}' at LUN '${lun}' is configured differently.\n`,
    );
    if (deletions) {
      ctx.con.out('\t  -> Re-assigning device with new attributes.\n');
      await removeLun(ctx, driver, target, lun, group);
      await addLun(ctx, driver, target, device, lun, create.pairs(), group);
      changes += 2;
    } else {
      ctx.con.out('\t  -> Use -force to re-assign device with new attributes. NOTE: This will disrupt all initiators using this device.\n');
    }
  }
  return changes;
}

async function applyConfigAssignments(ctx: Ctx, conf: CConf, deletions: boolean, onlyDeletions: boolean): Promise<number> {
  let changes = 0;
  vivify(ctx, conf);
  for (const d of sorted(ctx.current.assign.keys())) {
    const targets = ctx.current.assign.get(d)!;
    for (const t of sorted(targets.keys())) {
      const live = targets.get(t)!;
      const fileTarget = conf.drivers.get(d)?.targets.get(t);
      changes += await reconcileLiveLuns(ctx, d, t, undefined, live.luns ?? new Map(), fileTarget?.luns, deletions);
      for (const g of sorted(live.groups.keys())) {
        const fileGroup = fileTarget?.groups.get(g);
        changes += await reconcileLiveLuns(ctx, d, t, g, live.groups.get(g)!.luns, fileGroup?.luns, deletions);
        if (!fileGroup) {
          if (deletions) {
            await removeGroup(ctx, d, t, g, true);
            changes++;
          } else {
            ctx.con.out(`\t-> Group '${g}' is not in configuration. Use -force to remove.\n`);
          }
        }
      }
    }
  }
  if (onlyDeletions) return changes;

  for (const d of sorted(conf.drivers.keys())) {
    const driver = conf.drivers.get(d)!;
    if (!ctx.current.assign.has(d)) ctx.con.condExit(`Target driver '${d}' is not loaded or available.`);
    changes += await applyTargetAssignments(ctx, d, driver.targets, deletions);
    const attrs = driver.attrs.filter(new Set(['enabled']), false);
    if (attrs.size > 0) changes += await setDriverAttributes(ctx, d, attrs, deletions);
  }
  return changes;
}

async function applyTargetAssignments(ctx: Ctx, driver: string, targets: Map<string, CTarget>, deletions: boolean): Promise<number> {
  let changes = 0;
  for (const t of sorted(ctx.current.assign.get(driver)?.keys() ?? [])) {
    if (targets.has(t)) continue;
    const virtual = (await ctx.scst.targetType(driver, t)) === TGT_TYPE_VIRTUAL;
    if (deletions && virtual) {
      const rc = await removeVirtualTarget(ctx, driver, t);
      ctx.con.condExit(errorString(rc));
      changes++;
    } else {
      ctx.con.out(`\t-> Virtual target '${t}' for driver '${driver}' is not in configuration. Use -force to remove it.\n`);
    }
  }
  const isVirtual = await ctx.scst.driverIsVirtualCapable(driver);
  const [possible] = isVirtual ? await ctx.scst.targetCreateAttributes(driver) : [undefined];
  const creation = possible ?? new Set<string>();
  for (const t of sorted(targets.keys())) {
    const target = targets.get(t)!;
    if (!ctx.current.assign.get(driver)?.has(t)) {
      if (!isVirtual) {
        ctx.con.condExit(`Target '${t}' for driver '${driver}' does not exist.`);
      } else {
        if (target.hwTarget) ctx.con.condExit(`Hardware target '${t}' for driver '${driver}' does not exist.`);
        const rc = await addVirtualTarget(ctx, driver, t, target.attrs.filter(creation, true).pairs());
        ctx.con.condExit(errorString(rc));
        if (!rc) changes++;
      }
    }
    let attrs = target.attrs.filter(new Set(['enabled']), false);
    if ((await ctx.scst.targetType(driver, t)) === TGT_TYPE_VIRTUAL) attrs = attrs.filter(creation, false);
    changes += await setTargetAttributes(ctx, driver, t, attrs, deletions);
    changes += await applyLunAssignments(ctx, driver, t, undefined, target.luns);
    changes += await applyGroupAssignments(ctx, driver, t, target.groups);
    changes += await applyInitiatorAssignments(ctx, driver, t, target.groups, deletions);
  }
  return changes;
}

async function applyGroupAssignments(ctx: Ctx, driver: string, target: string, groups: Map<string, CGroup>): Promise<number> {
  let changes = 0;
  for (const g of sorted(groups.keys())) {
    const group = groups.get(g)!;
    if (!ctx.current.assign.get(driver)?.get(target)?.groups.has(g)) {
      await addGroup(ctx, driver, target, g);
      changes++;
    }
    changes += await applyLunAssignments(ctx, driver, target, g, group.luns);
    changes += await setGroupAttributes(ctx, driver, target, g, group.attrs);
  }
  return changes;
}

async function applyInitiatorAssignments(ctx: Ctx, driver: string, target: string, groups: Map<string, CGroup>, deletions: boolean): Promise<number> {
  let changes = 0;
  const running = new Map<string, string>();
  for (const [g, cg] of ctx.current.assign.get(driver)?.get(target)?.groups ?? []) for (const i of cg.initiators) running.set(i, g);
  const configured = new Map<string, string>();
  for (const g of sorted(groups.keys())) for (const i of groups.get(g)!.initiators.keys()) configured.set(i, g);
  for (const [init, group] of running) {
    const want = configured.get(init);
    if (want === undefined) {
      if (deletions) {
        await removeInitiator(ctx, driver, target, group, init);
        changes++;
      } else {
        ctx.con.out(`\t-> Initiator '${init}' is not in configuration for driver/target/group '${driver}/${target}/${group}'. Use -force to remove it.\n`);
      }
    } else if (want !== group) {
      if (deletions) {
        await moveInitiator(ctx, driver, target, group, init, want);
        changes++;
      } else {
        ctx.con.out(`\t-> Initiator '${init}' is moving to group '${want}' from group '${group}'. Use -force to move it.\n`);
      }
    }
  }
  for (const [init, group] of configured) {
    if (running.has(init)) continue;
    await addInitiator(ctx, driver, target, group, init);
    changes++;
  }
  return changes;
}

async function applyLunAssignments(ctx: Ctx, driver: string, target: string, group: string | undefined, luns: Map<string, CLun>): Promise<number> {
  let changes = 0;
  const live = ctx.current.assign.get(driver)?.get(target);
  const current = group ? live?.groups.get(group)?.luns : live?.luns;
  for (const lun of sorted(luns.keys())) {
    if (current?.has(lun)) continue;
    const l = luns.get(lun)!;
    await addLun(ctx, driver, target, l.device, lun, l.attrs.pairs(), group);
    changes++;
  }
  return changes;
}

async function applyConfigDeviceGroups(ctx: Ctx, conf: CConf, deletions: boolean): Promise<number> {
  let changes = 0;
  for (const dg of sorted(ctx.current.dgroups.keys())) {
    const live = ctx.current.dgroups.get(dg)!;
    const file = conf.dgroups.get(dg);
    if (!file) {
      if (deletions) {
        await removeDeviceGroup(ctx, dg, true);
        changes++;
      } else {
        ctx.con.out(`\t-> Device Group '${dg}' is not in configuration. Use -force to remove.\n`);
      }
      continue;
    }
    for (const dev of live.devices) {
      if (file.devices.includes(dev)) continue;
      if (deletions) {
        await removeDeviceGroupDevice(ctx, dg, dev, true);
        changes++;
      } else {
        ctx.con.out(`\t-> Device '${dev}' within device group '${dg}' is not in configuration. Use -force to remove.\n`);
      }
    }
    for (const tg of sorted(live.tgroups.keys())) {
      const ftg = file.tgroups.get(tg);
      if (!ftg) {
        if (deletions) {
          await removeTargetGroup(ctx, dg, tg, true);
          changes++;
        } else {
          ctx.con.out(`\t-> Target Group '${dg}/${tg}' is not in configuration. Use -force to remove.\n`);
        }
        continue;
      }
      for (const t of live.tgroups.get(tg)!) {
        if (ftg.targets.has(t)) continue;
        if (deletions) {
          await removeTargetGroupTarget(ctx, dg, tg, t);
          changes++;
        } else {
          ctx.con.out(`\t-> Target '${dg}/${tg}/${t}' is not in configuration. Use -force to remove.\n`);
        }
      }
    }
  }
  for (const dg of sorted(conf.dgroups.keys())) {
    const file = conf.dgroups.get(dg)!;
    const live = ctx.current.dgroups.get(dg);
    if (!live) {
      await addDeviceGroup(ctx, dg);
      changes++;
    }
    for (const dev of sorted(file.devices)) {
      if (live?.devices.includes(dev)) continue;
      await addDeviceGroupDevice(ctx, dg, dev);
      changes++;
    }
    for (const tg of sorted(file.tgroups.keys())) {
      const ftg = file.tgroups.get(tg)!;
      const liveTargets = live?.tgroups.get(tg);
      if (!liveTargets) {
        await addTargetGroup(ctx, dg, tg);
        changes++;
      }
      for (const [t, attrs] of ftg.targets) {
        if (!liveTargets?.includes(t)) {
          await addTargetGroupTarget(ctx, dg, tg, t);
          changes++;
        }
        if (attrs.size > 0) changes += await setTargetGroupTargetAttributes(ctx, dg, tg, t, attrs);
      }
      if (ftg.attrs.size > 0) changes += await setTargetGroupAttributes(ctx, dg, tg, ftg.attrs);
    }
    if (file.attrs.size > 0) changes += await setDeviceGroupAttributes(ctx, dg, file.attrs);
  }
  return changes;
}

async function applyConfigEnableTargets(ctx: Ctx, conf: CConf, deletions: boolean): Promise<number> {
  let changes = 0;
  for (const d of sorted(conf.drivers.keys())) {
    const driver = conf.drivers.get(d)!;
    for (const t of sorted(driver.targets.keys())) {
      const want = driver.targets.get(t)!.attrs.get('enabled');
      const [live] = await ctx.scst.targetAttributes(d, t);
      const en = live?.get('enabled');
      if (want !== undefined) {
        const value = want.length === 1 ? want[0]! : want.join(' ');
        if (en && perlNum(en.value) !== perlNum(value)) {
          await setTargetAttribute(ctx, d, t, 'enabled', value);
          changes++;
        }
        continue;
      }
      if (d === 'copy_manager' || !en || perlNum(en.value) === 0) continue;
      if (deletions) {
        await setTargetAttribute(ctx, d, t, 'enabled', '0');
        changes++;
      } else {
        ctx.con.out(`\t-> Driver/target '${d}/${t}' is enabled but not in configuration. Use -force to disable it.\n`);
      }
    }
  }
  return changes;
}

async function applyConfigEnableDrivers(ctx: Ctx, conf: CConf): Promise<number> {
  let changes = 0;
  for (const d of sorted(conf.drivers.keys())) {
    const want = conf.drivers.get(d)!.attrs.get('enabled');
    const [live] = await ctx.scst.driverAttributes(d);
    const en = live?.get('enabled');
    const value = want === undefined ? undefined : want.length === 1 ? want[0]! : want.join(' ');
    if (!en || perlNum(en.value) === perlNum(value)) continue;
    if (value === undefined) {
      // The original "disables" a driver the file does not mention without writing anything.
      ctx.con.out(`\t-> Disabling driver '${d}': done.\n`);
    } else {
      const on = value !== '' && value !== '0';
      ctx.con.out(`\t-> ${on ? 'Enabling' : 'Disabling'} driver '${d}': `);
      // The original does not look at the result here either.
      await ctx.scst.setDriverAttribute(d, 'enabled', value);
      ctx.con.out('done.\n');
    }
    changes++;
  }
  return changes;
}
