// The -list_* family (scstadmin.md §4.2, §5): tables padded exactly as the original's printf
// formats pad them, in the original's sort orders. Each function returns the operation's result
// code (undefined where the original returns nothing, which exits 0).

import { compareBytes } from '../../conf/write.js';
import type { AttrMap } from '../sysfs/attrs.js';
import type { Ctx } from './current.js';

/** Perl's `%-*s`: left-justified, padded with blanks, never truncated (widths in bytes). */
export function pad(s: string, width: number): string {
  const len = Buffer.byteLength(s);
  return len >= width ? s : s + ' '.repeat(width - len);
}

const len = (s: string): number => Buffer.byteLength(s);
const dashes = (n: number): string => '-'.repeat(Math.max(0, n));
const sorted = (xs: Iterable<string>): string[] => [...xs].sort(compareBytes);

/** Width Perl gives a stringified reference (`HASH(0x55d5e0a1b2c8)`), which the original measures. */
const HASH_REF_WIDTH = 20;
const ARRAY_REF_WIDTH = 21;

export async function listHandlers(ctx: Ctx, handler: string): Promise<number | undefined> {
  if (handler !== '') return listHandler(ctx, handler);
  const [handlers] = await ctx.scst.handlers();
  const list = handlers ?? [];
  const w = Math.max(0, ...list.map(len));
  ctx.con.out(`\tHandler\n\t${dashes(w)}\n`);
  for (const h of list) ctx.con.out(`\t${h}\n`);
  return 0;
}

export async function listHandler(ctx: Ctx, handler?: string): Promise<number | undefined> {
  const [handlers] = await ctx.scst.handlers();
  const wanted = handler !== undefined && handler !== '';
  const toPrint = new Map<string, string[]>();
  let lh = 0;
  let ld = 0;
  for (const h of handlers ?? []) {
    if (wanted && h !== handler) continue;
    let [devices] = await ctx.scst.devicesByHandler(h);
    devices = devices && devices.length > 0 ? devices : ['-'];
    toPrint.set(h, devices);
    lh = Math.max(lh, len(h));
    for (const d of devices) ld = Math.max(ld, len(d));
  }
  if (toPrint.size === 0) {
    ctx.con.out(`No such handler '${handler ?? ''}' found.\n`);
    return 0;
  }
  ctx.con.out(`\t${pad('Handler', lh)}     ${pad('Device', ld)}\n\t${dashes(lh + ld + 5)}\n`);
  for (const h of sorted(toPrint.keys())) {
    sorted(toPrint.get(h)!).forEach((d, i) => ctx.con.out(`\t${pad(i === 0 ? h : '', lh)}    ${pad(d, ld)}\n`));
  }
  return 0;
}

export async function listDevices(ctx: Ctx, device: string): Promise<number | undefined> {
  if (device !== '') return listDevice(ctx, device);
  return listHandler(ctx);
}

export async function listDevice(ctx: Ctx, device: string): Promise<number | undefined> {
  const [attrs, err] = await ctx.scst.deviceAttributes(device);
  if (ctx.con.issueWarning(err)) return 1;
  if (!attrs || attrs.size === 0) {
    ctx.con.out(`No such device '${device}' exists.\n`);
    return undefined;
  }
  return listAttributes(ctx, attrs, ctx.nonkey);
}

/** The attribute table of §5.3. */
export function listAttributes(ctx: Ctx, attrs: AttrMap, nonkey: boolean): number {
  let la = 9;
  let lv = 5;
  for (const [name, a] of attrs) {
    if (a.keys) {
      la = Math.max(la, len(name));
      for (const v of a.keys.values()) lv = Math.max(lv, len(v));
    } else if (nonkey) {
      la = Math.max(la, len(name));
      if (name === 'trace_level' && a.value) {
        for (const level of a.value.split('|')) lv = Math.max(lv, len(level.trim()));
        continue;
      }
      if (a.exported) lv = Math.max(lv, HASH_REF_WIDTH);
      else if (a.devices) lv = Math.max(lv, ARRAY_REF_WIDTH);
      else if (a.value !== undefined) lv = Math.max(lv, len(a.value));
    }
  }
  const row = (n: string, v: string, w: string, k: string) => `\t${pad(n, la)}     ${pad(v, lv)}     ${pad(w, 9)}     ${pad(k, 3)}\n`;
  ctx.con.out(row('Attribute', 'Value', 'Writable', 'KEY'));
  ctx.con.out(`\t${dashes(la + lv + 27)}\n`);
  let found = 0;
  for (const name of sorted(attrs.keys())) {
    const a = attrs.get(name)!;
    const writable = a.static ? 'No' : 'Yes';
    if (a.keys) {
      sorted(a.keys.keys()).forEach((k, i) => {
        const v = a.keys!.get(k)!;
        ctx.con.out(row(i === 0 ? name : '', v === '' ? '<not set>' : v, writable, 'Yes'));
        found++;
      });
    } else if (nonkey) {
      if (name === 'trace_level' && a.value) {
        a.value.split('|').forEach((level, i) => {
          ctx.con.out(row(i === 0 ? name : '', level.trim(), writable, 'No'));
          found++;
        });
        continue;
      }
      if (a.exported || a.devices) continue;
      const v = a.value === undefined ? '<n/a>' : a.value === '' ? '<not set>' : a.value;
      ctx.con.out(row(name, v, writable, 'No'));
      found++;
    }
  }
  if (!found) ctx.con.out('\t(none)\n');
  const trace = attrs.get('trace_level');
  if (nonkey && trace) {
    ctx.con.out('\n\tPossible trace levels:\n\t  (use trace_level="add <level>", none, all or default to set):\n');
    let count = 0;
    for (const level of trace.set ?? []) {
      if (count === 0) ctx.con.out('\t\t');
      ctx.con.out(`${level}, `);
      if (++count === 5) {
        ctx.con.out('\n');
        count = 0;
      }
    }
    ctx.con.out('\n');
  }
  return 0;
}

// ---- ALUA ----------------------------------------------------------------------------------

export async function listDeviceGroups(ctx: Ctx, group: string | undefined, showAll = false): Promise<number | undefined> {
  if (group) return listDeviceGroup(ctx, group);
  const [groups] = await ctx.scst.deviceGroups();
  const list = groups ?? [];
  const w = Math.max(12, ...list.map(len));
  ctx.con.out(`\tDevice Group\n\t${dashes(w)}\n`);
  for (const g of list) {
    ctx.con.out(`\t${g}\n\n`);
    if (showAll) await listTargetGroups(ctx, g, undefined, true);
  }
  return 0;
}

export async function listDeviceGroup(ctx: Ctx, group: string): Promise<number> {
  const [devices] = await ctx.scst.deviceGroupDevices(group);
  let ld = Math.max(0, ...(devices ?? []).map(len));
  // The original's threshold and width differ (7 only when shorter than 6).
  if (ld < 6) ld = 7;
  ctx.con.out(`\tDevices\n\t${dashes(ld)}\n`);
  for (const d of devices ?? []) ctx.con.out(`\t${d}\n`);
  const [tgroups] = await ctx.scst.targetGroups(group);
  const lt = Math.max(12, ...(tgroups ?? []).map(len));
  ctx.con.out(`\n\tTarget Groups\n\t${dashes(lt)}\n`);
  for (const tg of tgroups ?? []) ctx.con.out(`\t${tg}\n`);
  return 0;
}

export async function listTargetGroups(ctx: Ctx, group: string | undefined, tgroup: string | undefined, indent = false): Promise<number | undefined> {
  if (!group) return listDeviceGroups(ctx, undefined, true);
  if (tgroup) return listTargetGroup(ctx, group, tgroup);
  const [tgroups] = await ctx.scst.targetGroups(group);
  const lt = Math.max(12, ...(tgroups ?? []).map(len));
  const i = indent ? '\t' : '';
  ctx.con.out(`\n${i}\tTarget Groups\n\t${i}${dashes(lt)}\n`);
  for (const tg of tgroups ?? []) ctx.con.out(`${i}\t${tg}\n`);
  return 0;
}

export async function listTargetGroup(ctx: Ctx, group: string, tgroup: string): Promise<number> {
  const [targets] = await ctx.scst.targetGroupTargets(group, tgroup);
  const lt = Math.max(7, ...(targets ?? []).map(len));
  ctx.con.out(`\tTargets\n\t${dashes(lt)}\n`);
  for (const t of targets ?? []) ctx.con.out(`\t${t}\n`);
  return 0;
}

// ---- drivers, targets, groups, sessions ----------------------------------------------------

export async function listDrivers(ctx: Ctx, driver: string): Promise<number | undefined> {
  if (driver !== '') return listTargets(ctx, driver, undefined);
  const [drivers] = await ctx.scst.drivers();
  const list = drivers ?? [];
  ctx.con.out(`\tDriver\n\t${dashes(Math.max(0, ...list.map(len)))}\n`);
  for (const d of list) ctx.con.out(`\t${d}\n`);
  return 0;
}

export async function listTargets(ctx: Ctx, driver: string | undefined, target: string | undefined): Promise<number | undefined> {
  if (target && driver) return listGroups(ctx, driver, target, undefined);
  const [drivers] = await ctx.scst.drivers();
  const toPrint = new Map<string, string[]>();
  let ldr = 0;
  let lt = 0;
  let shown = driver;
  for (const d of drivers ?? []) {
    if (!driver) shown = d;
    if (shown !== d) continue;
    const [targets] = await ctx.scst.targets(d);
    toPrint.set(d, targets ?? []);
    ldr = Math.max(ldr, len(d));
    for (const t of targets ?? []) lt = Math.max(lt, len(t));
  }
  if (toPrint.size === 0) {
    ctx.con.out(`No such driver '${shown ?? ''}' exists.\n`);
    return 0;
  }
  ctx.con.out(`\t${pad('Driver', ldr)} ${pad('Target', lt)}\n\t${dashes(ldr + lt + 1)}\n`);
  for (const d of sorted(toPrint.keys())) {
    toPrint.get(d)!.forEach((t, i) => ctx.con.out(`\t${pad(i === 0 ? d : '', ldr)} ${pad(t, lt)}\n`));
  }
  return 0;
}

/** -list_cluster_nodes: the nodes of the cluster this scstd is part of (scstd --cluster), from cluster/. */
export async function listClusterNodes(ctx: Ctx): Promise<number> {
  const [c, err] = await ctx.scst.cluster();
  if (err !== undefined) {
    ctx.con.out(`FATAL: ${err}\n`);
    return 1;
  }
  if (!c) {
    ctx.con.out('This SCST is not part of a cluster (scstd runs without --cluster).\n');
    return 1;
  }
  ctx.con.out(`Cluster: ${c.clusterName} (this node: ${c.thisNode}, ${c.state})\n\n`);
  const ln = Math.max(len('Node'), ...c.nodes.map((n) => len(n.name)));
  const ls = Math.max(len('State'), ...c.nodes.map((n) => len(n.state)));
  const lp = Math.max(len('Portals'), ...c.nodes.map((n) => len(n.portals.join(','))));
  ctx.con.out(`\t${pad('Node', ln)} ${pad('State', ls)} ${pad('Portals', lp)}\n\t${dashes(ln + ls + lp + 2)}\n`);
  for (const n of c.nodes) ctx.con.out(`\t${pad(n.name, ln)} ${pad(n.state, ls)} ${pad(n.portals.join(',') || '-', lp)}\n`);
  return 0;
}

export async function listSessions(ctx: Ctx): Promise<number> {
  const [drivers] = await ctx.scst.drivers();
  for (const d of drivers ?? []) {
    const [targets] = await ctx.scst.targets(d);
    for (const t of targets ?? []) {
      ctx.con.out(`Driver/Target: ${d}/${t}\n\n`);
      const [sessions] = await ctx.scst.sessions(d, t);
      let had = false;
      for (const [name, s] of sessions ?? []) {
        ctx.con.out(`\tSession: ${name}\n\n`);
        const attrs: AttrMap = new Map();
        for (const [a, v] of s.attrs) attrs.set(a, { static: false, ...(v.value === undefined ? {} : { value: v.value }) });
        for (const [lun, dev] of s.luns ?? []) attrs.set(`LUN ${lun}`, { static: false, value: dev });
        listAttributes(ctx, attrs, true);
        ctx.con.out('\n');
        had = true;
      }
      if (!had) ctx.con.out('\t(no sessions)\n\n');
    }
  }
  return 0;
}

/** The LUN / initiator block of one target (group undefined) or group (§5.6). */
export async function listGroup(
  ctx: Ctx,
  driver: string,
  target: string,
  group: string | undefined,
  given?: { luns: Map<string, string>; initiators: string[] },
): Promise<number> {
  let luns = given?.luns;
  let initiators = given?.initiators;
  if (!luns) luns = (await ctx.scst.luns(driver, target, group))[0] ?? new Map<string, string>();
  if (!initiators && group) {
    const [list, err] = await ctx.scst.initiators(driver, target, group);
    if (ctx.con.issueWarning(err)) return 1;
    initiators = list!;
  }
  const inits = initiators ?? [];
  if (luns.size === 0 && inits.length === 0) {
    ctx.con.out(group ? `Group '${group}' has no associated LUNs or initiators.\n` : `Driver/target '${driver}/${target}' has no associated LUNs.\n`);
    return 0;
  }
  const ld = Math.max(0, ...[...luns.values()].map(len));
  const li = Math.max(0, ...inits.map(len));
  ctx.con.out('Assigned LUNs:\n\n');
  if (luns.size > 0) {
    ctx.con.out(`\t${pad('LUN', 4)} ${pad('Device', ld)}\n\t${dashes(ld + 5)}\n`);
    // String order of the LUN numbers, as the original sorts them here ("10" before "8").
    for (const lun of sorted(luns.keys())) ctx.con.out(`\t${pad(lun, 4)} ${pad(luns.get(lun)!, ld)}\n`);
  } else {
    ctx.con.out('\t(none)\n');
  }
  if (group) {
    ctx.con.out('\nAssigned Initiators:\n\n');
    if (inits.length > 0) {
      ctx.con.out(`\tInitiator\n\t${dashes(li)}\n`);
      for (const i of inits) ctx.con.out(`\t${i}\n`);
    } else {
      ctx.con.out('\t(none)\n');
    }
  }
  return 0;
}

export async function listGroups(ctx: Ctx, driver: string | undefined, target: string | undefined, group: string | undefined): Promise<number> {
  if (group && driver && target) return listGroup(ctx, driver, target, group);
  let found = 0;
  let d0 = driver;
  let t0 = target;
  const [drivers] = await ctx.scst.drivers();
  for (const d of drivers ?? []) {
    if (!driver) d0 = d;
    if (d0 !== d) continue;
    const [targets] = await ctx.scst.targets(d);
    for (const t of targets ?? []) {
      if (!target) t0 = t;
      if (t0 !== t) continue;
      found++;
      ctx.con.out(`Driver: ${d}\nTarget: ${t}\n\n`);
      await listGroup(ctx, d, t, undefined);
      ctx.con.out('\n');
      const [groups] = await ctx.scst.groups(d, t);
      for (const g of groups ?? []) {
        if (group && g !== group) continue;
        ctx.con.out(`Group: ${g}\n\n`);
        await listGroup(ctx, d, t, g);
        ctx.con.out('\n\n');
      }
    }
  }
  if (!found) {
    if (driver && target) ctx.con.out(`Driver/target '${d0 ?? ''}/${t0 ?? ''}' not found\n`);
    else if (!target) ctx.con.out(`Driver '${d0 ?? ''}' not found.\n`);
    else ctx.con.out(`Target '${t0 ?? ''}' not found.\n`);
  }
  return 0;
}

/** Where a device is mapped, printed before refusing -close_dev (§5.9). */
export function listExported(ctx: Ctx, device: string, attrs: AttrMap): void {
  const exported = attrs.get('exported')?.exported ?? new Map<string, Map<string, Map<string, string>>>();
  let ld = len('Driver');
  let lt = len('Target');
  let lg = len('Group');
  for (const [d, targets] of exported) {
    ld = Math.max(ld, len(d));
    for (const [t, groups] of targets) {
      lt = Math.max(lt, len(t));
      for (const g of groups.keys()) lg = Math.max(lg, len(g));
    }
  }
  const row = (a: string, b: string, c: string, e: string) => `\t${pad(a, ld)} ${pad(b, lt)} ${pad(c, lg)} ${pad(e, 4)}\n`;
  ctx.con.out(`Device '${device}' is currently in use by the following:\n\n`);
  ctx.con.out(row('Driver', 'Target', 'Group', 'Lun'));
  ctx.con.out(row(dashes(ld), dashes(lt), dashes(lg), dashes(4)));
  for (const d of sorted(exported.keys())) {
    const targets = exported.get(d)!;
    for (const t of sorted(targets.keys())) {
      const groups = targets.get(t)!;
      for (const g of sorted(groups.keys())) ctx.con.out(row(d, t, g, groups.get(g)!));
    }
  }
}

// ---- attribute listings --------------------------------------------------------------------

function createSection(ctx: Ctx, title: string, names: Iterable<string>, sort = true): void {
  ctx.con.out(`\n\t${title}\n\t${dashes(len(title))}\n`);
  for (const n of sort ? sorted(names) : names) ctx.con.out(`\t${n}\n`);
}

export async function listScstAttributes(ctx: Ctx): Promise<number | undefined> {
  const [attrs, err] = await ctx.scst.scstAttributes();
  if (ctx.con.issueWarning(err)) return 1;
  if (!attrs || attrs.size === 0) {
    ctx.con.out('FATAL: Unable to get a list of SCST attributes! Please make sure SCST is loaded.\n');
    return undefined;
  }
  return listAttributes(ctx, attrs, ctx.nonkey);
}

export async function listHandlerAttributes(ctx: Ctx, handler: string): Promise<number | undefined> {
  const [attrs, err] = await ctx.scst.handlerAttributes(handler);
  if (ctx.con.issueWarning(err)) return 1;
  if (!attrs || attrs.size === 0) {
    ctx.con.out(`No such handler '${handler}' found.\n`);
    return undefined;
  }
  listAttributes(ctx, attrs, ctx.nonkey);
  const [create, cerr] = await ctx.scst.deviceCreateAttributes(handler);
  if (ctx.con.issueWarning(cerr)) return 1;
  if (!create || create.size === 0) return 1;
  createSection(ctx, 'Device CREATE attributes available', create);
  return 0;
}

export async function listDriverAttributes(ctx: Ctx, driver: string): Promise<number | undefined> {
  const [attrs, err] = await ctx.scst.driverAttributes(driver);
  if (ctx.con.issueWarning(err)) return 1;
  listAttributes(ctx, attrs!, ctx.nonkey);
  if (await ctx.scst.driverIsVirtualCapable(driver)) {
    const [dyn, derr] = await ctx.scst.driverDynamicAttributes(driver);
    if (ctx.con.issueWarning(derr)) return 1;
    if (dyn!.size > 0) createSection(ctx, 'Dynamic attributes available', dyn!);
    const [create, cerr] = await ctx.scst.targetCreateAttributes(driver);
    if (ctx.con.issueWarning(cerr)) return 1;
    if (create!.size === 0) return 1;
    createSection(ctx, 'Target CREATE attributes available:', create!);
  }
  return 0;
}

export async function listTargetAttributes(ctx: Ctx, driver: string, target: string): Promise<number | undefined> {
  const [attrs, err] = await ctx.scst.targetAttributes(driver, target);
  if (ctx.con.issueWarning(err)) return 1;
  if (!attrs || attrs.size === 0) {
    ctx.con.out(`No such driver/target '${driver}/${target}' found.\n`);
    return undefined;
  }
  listAttributes(ctx, attrs, ctx.nonkey);
  if (await ctx.scst.driverIsVirtualCapable(driver)) {
    const [dyn, derr] = await ctx.scst.targetDynamicAttributes(driver);
    if (ctx.con.issueWarning(derr)) return 1;
    if (dyn!.size > 0) createSection(ctx, 'Dynamic attributes available', dyn!);
  }
  const [create, cerr] = await ctx.scst.lunCreateAttributes(driver, target);
  if (ctx.con.issueWarning(cerr)) return 1;
  if (create!.size === 0) return 1;
  createSection(ctx, 'LUN CREATE attributes available', create!);
  return 0;
}

export async function listGroupAttributes(ctx: Ctx, driver: string, target: string, group: string): Promise<number | undefined> {
  const [attrs, err] = await ctx.scst.groupAttributes(driver, target, group);
  if (ctx.con.issueWarning(err)) return 1;
  if (!attrs || attrs.size === 0) {
    ctx.con.out(`No such driver/target/group '${driver}/${target}/${group}' found.\n`);
    return undefined;
  }
  listAttributes(ctx, attrs, ctx.nonkey);
  const [create, cerr] = await ctx.scst.lunCreateAttributes(driver, target, group);
  if (ctx.con.issueWarning(cerr)) return 1;
  if (create!.size === 0) return 1;
  createSection(ctx, 'LUN CREATE attributes available', create!);
  const [ini, ierr] = await ctx.scst.initiatorCreateAttributes(driver, target, group);
  if (ctx.con.issueWarning(ierr)) return 1;
  if (ini!.size === 0) return 1;
  createSection(ctx, 'Initiator CREATE attributes available', ini!, false);
  return 0;
}

export async function listLunAttributes(ctx: Ctx, driver: string, target: string, group: string | undefined, lun: string): Promise<number | undefined> {
  const [attrs, err] = await ctx.scst.lunAttributes(driver, target, lun, group);
  if (ctx.con.issueWarning(err)) return 1;
  if (!attrs || attrs.size === 0) {
    ctx.con.out(group ? `No such driver/target/group/lun '${driver}/${target}/${group}/${lun}' found.\n` : `No such driver/target/lun '${driver}/${target}/${lun}' found.\n`);
    return undefined;
  }
  return listAttributes(ctx, attrs, ctx.nonkey);
}

export async function listInitiatorAttributes(ctx: Ctx, driver: string, target: string, group: string, initiator: string): Promise<number | undefined> {
  const [attrs, err] = await ctx.scst.initiatorAttributes(driver, target, group, initiator);
  if (err && /Not a directory/.test(err)) {
    ctx.con.out('Initiators do not (yet) have attributes.\n');
    return undefined;
  }
  if (ctx.con.issueWarning(err)) return 1;
  if (!attrs || attrs.size === 0) {
    ctx.con.out(`No such driver/target/group/initiator '${driver}/${target}/${group}/${initiator}' found.\n`);
    return undefined;
  }
  return listAttributes(ctx, attrs, ctx.nonkey);
}

export async function listDeviceGroupAttributes(ctx: Ctx, group: string): Promise<number | undefined> {
  const [attrs, err] = await ctx.scst.deviceGroupAttributes(group);
  if (ctx.con.issueWarning(err)) return 1;
  if (!attrs || attrs.size === 0) {
    // "as" (for "has") is the original's wording.
    ctx.con.out(`No such device group '${group}' found or device group as no attributes.\n`);
    return undefined;
  }
  return listAttributes(ctx, attrs, ctx.nonkey);
}

export async function listTargetGroupAttributes(ctx: Ctx, group: string, tgroup: string): Promise<number | undefined> {
  const [attrs, err] = await ctx.scst.targetGroupAttributes(group, tgroup);
  if (ctx.con.issueWarning(err)) return 1;
  if (!attrs || attrs.size === 0) {
    ctx.con.out(`No such device group/target group '${group}/${tgroup}' found.\n`);
    return undefined;
  }
  return listAttributes(ctx, attrs, ctx.nonkey);
}

export async function listTargetGroupTargetAttributes(ctx: Ctx, group: string, tgroup: string, target: string): Promise<number | undefined> {
  const [attrs, err] = await ctx.scst.targetGroupTargetAttributes(group, tgroup, target, true);
  if (ctx.con.issueWarning(err)) return 1;
  if (!attrs || attrs.size === 0) {
    ctx.con.out(`No such device group/target group/target '${group}/${tgroup}/${target}' found.\n`);
    return undefined;
  }
  return listAttributes(ctx, attrs, ctx.nonkey);
}
