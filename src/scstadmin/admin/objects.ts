// Creating and removing objects (scstadmin.md §4.5-§4.7): devices, virtual targets, groups,
// initiators, LUNs, ALUA device and target groups, and FC LIPs. Each prints the original's
// progress line, `done.` even after a failure, and then the (conditionally) fatal error.

import { errorString } from '../sysfs/codes.js';
import type { Params } from '../sysfs/scst.js';
import { TGT_TYPE_VIRTUAL } from '../sysfs/reader.js';
import type { Ctx } from './current.js';
import { listDeviceGroup, listExported, listGroup, listTargetGroup } from './list.js';
import { attrInput, setDeviceAttributes, setDriverAttributes, setTargetAttributes } from './set.js';

async function step(ctx: Ctx, text: string, fn: () => Promise<number>): Promise<number> {
  ctx.con.out(text);
  const rc = await fn();
  ctx.con.out('done.\n');
  ctx.con.condExit(errorString(rc));
  return 0;
}

// ---- devices -------------------------------------------------------------------------------

export function openDevice(ctx: Ctx, handler: string, device: string, params: Params): Promise<number> {
  return step(ctx, `\t-> Opening device '${device}' using handler '${handler}': `, () => ctx.scst.openDevice(handler, device, params));
}

export async function closeDevice(ctx: Ctx, handler: string, device: string, force: boolean): Promise<number> {
  if (!force) {
    const [attrs] = await ctx.scst.deviceAttributes(device);
    const exported = attrs?.get('exported')?.exported;
    if (attrs && exported && exported.size > 0) {
      listExported(ctx, device, attrs);
      ctx.con.immediateExit(`Device '${device}' still in use, aborting. Use -force to override.`);
    }
  }
  return step(ctx, `\t-> Closing device '${device}' using handler '${handler}': `, () => ctx.scst.closeDevice(handler, device));
}

/** -resync_dev: its result is the number of changes, so success exits 1 (the original's quirk). */
export function resyncDevice(ctx: Ctx, device: string): Promise<number> {
  return setDeviceAttributes(ctx, device, attrInput([['resync_size', '1']]));
}

// ---- ALUA ----------------------------------------------------------------------------------

export function addDeviceGroup(ctx: Ctx, group: string): Promise<number> {
  return step(ctx, `\t-> Adding new device group '${group}': `, () => ctx.scst.addDeviceGroup(group));
}

export function addTargetGroup(ctx: Ctx, group: string, tgroup: string): Promise<number> {
  return step(ctx, `\t-> Adding new target group '${tgroup}' to device group '${group}': `, () => ctx.scst.addTargetGroup(group, tgroup));
}

export function addTargetGroupTarget(ctx: Ctx, group: string, tgroup: string, target: string): Promise<number> {
  return step(ctx, `\t-> Adding new target group/target '${tgroup}/${target}' to device group '${group}': `, () =>
    ctx.scst.addTargetGroupTarget(group, tgroup, target),
  );
}

export async function removeDeviceGroup(ctx: Ctx, group: string, force: boolean): Promise<number> {
  if (!force) {
    const [devices] = await ctx.scst.deviceGroupDevices(group);
    const [tgroups] = await ctx.scst.targetGroups(group);
    if ((devices?.length ?? 0) > 0 || (tgroups?.length ?? 0) > 0) {
      ctx.con.out('\n');
      await listDeviceGroup(ctx, group);
      ctx.con.immediateExit('Device group is still in use, aborting. Use -force to override.');
    }
  }
  return step(ctx, `\t-> Removing device group '${group}': `, () => ctx.scst.removeDeviceGroup(group));
}

export async function removeTargetGroup(ctx: Ctx, group: string, tgroup: string, force: boolean): Promise<number> {
  if (!force) {
    const [targets] = await ctx.scst.targetGroupTargets(group, tgroup);
    if ((targets?.length ?? 0) > 0) {
      ctx.con.out('\n');
      await listTargetGroup(ctx, group, tgroup);
      ctx.con.immediateExit('Target group is still in use, aborting. Use -force to override.');
    }
  }
  return step(ctx, `\t-> Removing target group '${tgroup}' from device group '${group}': `, () => ctx.scst.removeTargetGroup(group, tgroup));
}

export function removeTargetGroupTarget(ctx: Ctx, group: string, tgroup: string, target: string): Promise<number> {
  return step(ctx, `\t-> Removing target group/target '${tgroup}/${target}' from device group '${group}': `, () =>
    ctx.scst.removeTargetGroupTarget(group, tgroup, target),
  );
}

export function addDeviceGroupDevice(ctx: Ctx, group: string, device: string): Promise<number> {
  return step(ctx, `\t-> Adding new device group/device '${group}/${device}': `, () => ctx.scst.addDeviceGroupDevice(group, device));
}

export async function removeDeviceGroupDevice(ctx: Ctx, group: string, device: string, force: boolean): Promise<number> {
  if (!force) {
    let found = false;
    const [tgroups] = await ctx.scst.targetGroups(group);
    for (const tg of tgroups ?? []) {
      const [targets] = await ctx.scst.targetGroupTargets(group, tg);
      if ((targets?.length ?? 0) > 0) {
        ctx.con.out('\n');
        await listTargetGroup(ctx, group, tg);
        found = true;
      }
    }
    if (found) ctx.con.immediateExit('Device may still be in use, aborting. Use -force to override.');
  }
  // "from target group" is the original's wording for a device-group member.
  return step(ctx, `\t-> Removing device '${device}' from target group '${group}': `, () => ctx.scst.removeDeviceGroupDevice(group, device));
}

// ---- targets, groups, initiators -----------------------------------------------------------

/** Enables the driver's disabled hardware targets first, then add_target (§4.6). */
export async function addVirtualTarget(ctx: Ctx, driver: string, target: string, params: Params): Promise<number> {
  const [targets] = await ctx.scst.targets(driver);
  for (const t of targets ?? []) {
    const [attrs] = await ctx.scst.targetAttributes(driver, t);
    const en = attrs?.get('enabled')?.value;
    if (attrs?.has('hw_target') && (en === undefined || en === '' || en === '0')) await enableTarget(ctx, driver, t);
  }
  ctx.con.out(`\t-> Creating target '${target}' for driver '${driver}': `);
  const rc = await ctx.scst.addVirtualTarget(driver, target, params);
  ctx.con.out('done.\n');
  return rc;
}

export async function removeVirtualTarget(ctx: Ctx, driver: string, target: string): Promise<number> {
  ctx.con.out(`\t-> Removing virtual target '${target}' from driver '${driver}': `);
  const rc = await ctx.scst.removeVirtualTarget(driver, target);
  ctx.con.out('done.\n');
  return rc;
}

export function addGroup(ctx: Ctx, driver: string, target: string, group: string): Promise<number> {
  return step(ctx, `\t-> Adding new group '${group}' to driver/target '${driver}/${target}': `, () => ctx.scst.addGroup(driver, target, group));
}

export async function removeGroup(ctx: Ctx, driver: string, target: string, group: string, force: boolean): Promise<number> {
  if (!force) {
    const [luns] = await ctx.scst.luns(driver, target, group);
    const [initiators] = await ctx.scst.initiators(driver, target, group);
    if ((luns?.size ?? 0) > 0 || (initiators?.length ?? 0) > 0) {
      await listGroup(ctx, driver, target, group, { luns: luns ?? new Map(), initiators: initiators ?? [] });
      ctx.con.immediateExit('Group is still in use, aborting. Use -force to override.');
    }
  }
  return step(ctx, `\t-> Removing group '${group}' from driver/target '${driver}/${target}': `, () => ctx.scst.removeGroup(driver, target, group));
}

/** Refuses an initiator that is already in a group of the target (by the start-up snapshot). */
export async function addInitiator(ctx: Ctx, driver: string, target: string, group: string, initiator: string): Promise<number | undefined> {
  for (const [g, cg] of ctx.current.assign.get(driver)?.get(target)?.groups ?? []) {
    if (cg.initiators.includes(initiator)) {
      ctx.con.out(`\t-> Initiator '${initiator}' already belongs to group '${g}' for driver/target '${driver}/target', ignoring.\n`);
      return undefined;
    }
  }
  return step(ctx, `\t-> Adding new initiator '${initiator}' to driver/target/group '${driver}/${target}/${group}': `, () =>
    ctx.scst.addInitiator(driver, target, group, initiator),
  );
}

export function removeInitiator(ctx: Ctx, driver: string, target: string, group: string, initiator: string): Promise<number> {
  return step(ctx, `\t-> Removing initiator '${initiator}' from driver/target/group '${driver}/${target}/${group}': `, () =>
    ctx.scst.removeInitiator(driver, target, group, initiator),
  );
}

export function moveInitiator(ctx: Ctx, driver: string, target: string, group: string, initiator: string, to: string): Promise<number> {
  return step(ctx, `\t-> Moving initiator '${initiator}' from group '${group}' to group '${to}': `, () =>
    ctx.scst.moveInitiator(driver, target, group, to, initiator),
  );
}

export function clearInitiators(ctx: Ctx, driver: string, target: string, group: string): Promise<number> {
  return step(ctx, `\t-> Removing all initiators driver/target/group '${driver}/${target}/${group}': `, () =>
    ctx.scst.clearInitiators(driver, target, group),
  );
}

// ---- LUNs ----------------------------------------------------------------------------------

export async function addLun(ctx: Ctx, driver: string, target: string, device: string, lun: string, params: Params, group?: string): Promise<number> {
  // The copy manager creates its LUNs itself; an existing one is not an error.
  if (driver === 'copy_manager' && (await ctx.scst.lunExists(driver, target, lun, group))) return 0;
  const where = group ? `driver/target/group '${driver}/${target}/${group}'` : `driver/target '${driver}/${target}'`;
  return step(ctx, `\t-> Adding device '${device}' at LUN ${lun} to ${where}: `, () => ctx.scst.addLun(driver, target, device, lun, params, group));
}

export function removeLun(ctx: Ctx, driver: string, target: string, lun: string, group?: string): Promise<number> {
  const where = group ? `driver/target/group '${driver}/${target}/${group}'` : `driver/target '${driver}/${target}'`;
  return step(ctx, `\t-> Removing LUN ${lun} from ${where}: `, () => ctx.scst.removeLun(driver, target, lun, group));
}

export function replaceLun(ctx: Ctx, driver: string, target: string, group: string | undefined, lun: string, device: string, params: Params): Promise<number> {
  return step(ctx, `\t-> Replacing device at LUN ${lun} with device '${device}' in driver/target/group '${driver}/${target}/${group ?? ''}': `, () =>
    ctx.scst.replaceLun(driver, target, lun, device, params, group),
  );
}

export function clearLuns(ctx: Ctx, driver: string, target: string, group?: string): Promise<number> {
  const where = group ? `driver/target/group '${driver}/${target}/${group}'` : `driver/target '${driver}/${target}'`;
  return step(ctx, `\t-> Removing all LUNs from ${where}: `, () => ctx.scst.clearLuns(driver, target, group));
}

// ---- enabling, clearing dynamic attributes, LIPs -------------------------------------------

export async function enableTarget(ctx: Ctx, driver: string, target: string): Promise<number> {
  await setTargetAttributes(ctx, driver, target, attrInput([['enabled', '1']]), false);
  return 0;
}

export async function disableTarget(ctx: Ctx, driver: string, target: string): Promise<number> {
  await setTargetAttributes(ctx, driver, target, attrInput([['enabled', '0']]), false);
  return 0;
}

export async function disableDriver(ctx: Ctx, driver: string): Promise<number> {
  const [attrs] = await ctx.scst.driverAttributes(driver);
  if (!attrs?.has('enabled')) return 1;
  return setDriverAttributes(ctx, driver, attrInput([['enabled', '0']]), false);
}

export async function clearDriverDynamicAttributes(ctx: Ctx, driver: string): Promise<number> {
  if (!(await ctx.scst.driverIsVirtualCapable(driver))) return 1;
  ctx.con.out(`\t-> Removing all dynamic attributes from driver '${driver}': `);
  const [attrs] = await ctx.scst.driverAttributes(driver);
  const [dynamic] = await ctx.scst.driverDynamicAttributes(driver);
  for (const [name, a] of attrs ?? []) {
    if (!dynamic?.has(name) || !a.keys) continue;
    for (const v of a.keys.values()) ctx.con.condExit(errorString(await ctx.scst.removeDriverDynamicAttribute(driver, name, v)));
  }
  ctx.con.out('done.\n');
  return 0;
}

export async function isVirtualTarget(ctx: Ctx, driver: string, target: string): Promise<boolean> {
  return (await ctx.scst.targetType(driver, target)) === TGT_TYPE_VIRTUAL;
}

/** -issue_lip / -lip: write 1 to issue_lip of each FC target's host (§4.6). */
export async function issueLip(ctx: Ctx, driver?: string, target?: string, warn = false): Promise<number> {
  if (driver && target) return lipOne(ctx, driver, target, warn);
  const [drivers] = await ctx.scst.drivers();
  for (const d of drivers ?? []) {
    const [targets] = await ctx.scst.targets(d);
    for (const t of targets ?? []) {
      const rc = await lipOne(ctx, d, t, warn);
      if (rc) return rc;
    }
  }
  return 0;
}

async function lipOne(ctx: Ctx, driver: string, target: string, warn: boolean): Promise<number> {
  const [attrs] = await ctx.scst.targetAttributes(driver, target);
  const host = attrs?.get('host')?.value;
  if (host === undefined && warn) {
    ctx.con.out(`\t-> Driver/target '${driver}/${target}' has no 'host' attribute, ignoring.\n`);
    return 0;
  }
  let dir = ctx.scst.path('targets', driver, target, 'host', 'device', `fc_host:${host ?? ''}`);
  if (!(await ctx.scst.isDir(dir))) {
    dir = ctx.scst.path('targets', driver, target, 'host', 'device', 'fc_host', host ?? '');
    if (!(await ctx.scst.isDir(dir))) {
      ctx.con.out('\t-> Driver/target is not a fibre channel target, ignoring.\n');
      return 0;
    }
  }
  const lip = `${dir}/issue_lip`;
  if (!(await ctx.scst.isWritable(lip))) {
    ctx.con.out(`Fibre channel driver/target '${driver}/${target}' lacks the ability to issue LIPs, ignoring.\n`);
    return 0;
  }
  ctx.con.out(`\t-> Issuing LIP on fibre channel driver/target '${driver}/${target}' (${host ?? ''}): `);
  let ok = true;
  if (ctx.scst.debug) ctx.con.out(`DBG(${process.pid}): 1 > ${lip}\n`);
  else ok = await ctx.scst.fs.write(lip, '1').then((n) => n > 0, () => false);
  ctx.con.out('done.\n');
  if (!ok) {
    ctx.con.out(`WARNING: Failed to issue LIP on driver/target '${driver}/${target}'.\n`);
    return 1;
  }
  return 0;
}
