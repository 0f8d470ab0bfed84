// One scstadmin run (scstadmin.md §1.1): root check, options, the tree's version, the start-up
// scan, the requested operation, the final warning and "All done.". Everything it prints goes
// through an Output, and exits unwind as ExitRequest, so the whole command runs in-process in
// tests. Trees: the sysfs tree below <root>/sys/kernel/scst_tgt, else the procfs-era tree below
// <root>/proc/scsi_tgt (handled by the procfs-era tool, ../procfs/).

import { applyConfiguration } from '../admin/config-apply.js';
import { checkConfiguration } from '../admin/config-check.js';
import { clearConfiguration } from '../admin/config-clear.js';
import { writeConfiguration } from '../admin/config-write.js';
import { readWorkingConfig, type Ctx } from '../admin/current.js';
import * as L from '../admin/list.js';
import * as O from '../admin/objects.js';
import * as S from '../admin/set.js';
import { runProcfsEra } from '../procfs/main.js';
import { errorString } from '../sysfs/codes.js';
import type { Output } from '../sysfs/reader.js';
import { ScstTree } from '../sysfs/scst.js';
import { NodeTreeFs, type TreeFs } from '../tree/tree-fs.js';
import { Console, ExitRequest } from './console.js';
import { getopt } from './getopt.js';
import { Args, parseArgs, scanRoot } from './options.js';
import { USAGE } from './usage.js';
import { PROCFS_OPTIONS } from '../procfs/options.js';

export interface RunOptions {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  out: Output;
  /** One line from stdin (for the confirmation prompt); undefined at EOF. */
  readLine: () => Promise<string | undefined>;
  euid: number;
  /** The package's default mount directory (used without --root / SCST_ROOT). */
  defaultRoot: string;
  fs?: TreeFs;
  /** Bounds of the EAGAIN and session waits (the original's 300 s / 1 s). */
  timeoutMs?: number;
  pollMs?: number;
}

export interface TreeLocation {
  sysfs?: string;
  procfs?: string;
}

async function isDir(fs: TreeFs, p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory;
  } catch {
    return false;
  }
}

/** Finds the trees below `root`; `root` may also be an SCST sysfs root itself. */
export async function locateTrees(fs: TreeFs, root: string): Promise<TreeLocation> {
  const r = root.replace(/\/+$/, '') || '';
  const loc: TreeLocation = {};
  if ((await isDir(fs, `${r}/handlers`)) && (await isDir(fs, `${r}/targets`))) loc.sysfs = r;
  else if (await isDir(fs, `${r}/sys/kernel/scst_tgt`)) loc.sysfs = `${r}/sys/kernel/scst_tgt`;
  if (await isDir(fs, `${r}/proc/scsi_tgt`)) loc.procfs = `${r}/proc/scsi_tgt`;
  return loc;
}

function die(o: RunOptions, message: string): number {
  o.out.err(message);
  return 1;
}

/** Runs scstadmin; resolves with the exit status. */
export async function runScstadmin(o: RunOptions): Promise<number> {
  try {
    return await run(o);
  } catch (e) {
    if (e instanceof ExitRequest) return e.code;
    throw e;
  }
}

async function run(o: RunOptions): Promise<number> {
  if (o.euid !== 0) return die(o, 'This program must run as root.\n');
  const fs = o.fs ?? new NodeTreeFs();
  const root = scanRoot(o.argv) ?? o.env.SCST_ROOT ?? o.defaultRoot;
  const trees = await locateTrees(fs, root);

  const parsed = parseArgs(o.argv);
  // Old scripts: procfs-era options on a tree that only has (or only understands) procfs.
  if (trees.procfs && (!trees.sysfs || (parsed.errors.length > 0 && getopt(o.argv, PROCFS_OPTIONS).errors.length === 0))) {
    return runProcfsEra({ ...o, fs, procfs: trees.procfs });
  }
  if (parsed.errors.length > 0) {
    for (const e of parsed.errors) o.out.err(e);
    return 1;
  }
  const args = parsed.args!;
  if (parsed.help) {
    o.out.out(USAGE);
    return 0;
  }
  if (parsed.invalid) {
    o.out.out(`${parsed.invalid}\n`);
    return 1;
  }

  const con = new Console({ out: o.out, readLine: o.readLine, noPrompt: args.flag('noprompt'), contOnErr: args.flag('cont_on_err') });
  const scst = new ScstTree({
    fs,
    root: trees.sysfs ?? `${root.replace(/\/+$/, '')}/sys/kernel/scst_tgt`,
    out: con,
    debug: args.flag('debug'),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
  });

  const version = trees.sysfs ? await scst.version() : undefined;
  if (version === undefined) {
    // Checking a file needs no running target; the live-tree checks are skipped.
    if (args.has('check_config') && !trees.sysfs) {
      const { rc } = await checkConfiguration(con, null, args.str('check_config')!);
      con.out('\nAll done.\n');
      return rc;
    }
    return die(o, 'Failed to obtain SCST version information. Are the SCST modules loaded?\n');
  }
  const v = /(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!v) return die(o, `Failed to parse SCST version from '${version}'\n`);
  const [major, minor, release] = [Number(v[1]), Number(v[2]), Number(v[3])];
  if (major < 2 || (major === 2 && minor === 0 && release < 0)) {
    return die(o, `This module requires at least SCST version 2.0.0 and version ${v[0]} was found`);
  }

  const force = args.flag('force');
  const start = await readWorkingConfig(scst, con, force);
  if (start.rc) return start.rc;
  const ctx: Ctx = { scst, con, current: start.current, force, nonkey: args.flag('nonkey') };
  const rc = await dispatch(ctx, args);
  if (rc === 'none') {
    con.out('No valid operations specified.\n');
    return 1;
  }
  if (rc) con.issueWarning(errorString(rc));
  con.out('\nAll done.\n');
  return rc ?? 0;
}

/** Runs the requested operation; 'none' when no operation was given. */
async function dispatch(ctx: Ctx, a: Args): Promise<number | undefined | 'none'> {
  const { con } = ctx;
  const s = (n: string) => a.str(n) ?? '';
  const attrs = S.attrInput(a.attributes);
  const lip = a.flag('lip');

  if (a.has('config')) {
    const file = s('config');
    const { rc, conf } = await checkConfiguration(con, ctx, file);
    if (rc) con.condExit('Configuration has errors, aborting.');
    if (!conf) return rc;
    if (ctx.force && (await con.prompt())) return rc;
    const changes = await applyConfiguration(ctx, conf);
    if (changes && lip) return O.issueLip(ctx);
    return rc;
  }
  if (a.has('check_config')) return (await checkConfiguration(con, ctx, s('check_config'))).rc;
  if (a.has('write_config')) return writeConfiguration(ctx, s('write_config'));
  if (a.has('clear_config')) {
    if (await con.prompt()) return 0;
    const rc = await clearConfiguration(ctx);
    return !rc && lip ? O.issueLip(ctx) : rc;
  }

  // Queries may be combined; each runs in this order.
  let rc: number | undefined = 0;
  let query = false;
  const q = async (name: string, fn: () => Promise<number | undefined>) => {
    if (!a.has(name)) return;
    rc = await fn();
    query = true;
  };
  await q('list_handler', () => L.listHandlers(ctx, s('list_handler')));
  await q('list_device', () => L.listDevices(ctx, s('list_device')));
  await q('list_dgrp', () => L.listDeviceGroups(ctx, s('list_dgrp')));
  await q('list_tgrp', () => L.listTargetGroups(ctx, a.str('dev_group'), s('list_tgrp')));
  await q('list_driver', () => L.listDrivers(ctx, s('list_driver')));
  await q('list_target', () => L.listTargets(ctx, a.str('driver'), s('list_target')));
  await q('list_group', () => L.listGroups(ctx, a.str('driver'), a.str('target'), s('list_group')));
  await q('list_sessions', () => L.listSessions(ctx));
  await q('list_cluster_nodes', () => L.listClusterNodes(ctx));
  await q('list_scst_attr', () => L.listScstAttributes(ctx));
  await q('list_hnd_attr', () => L.listHandlerAttributes(ctx, s('list_hnd_attr')));
  await q('list_dev_attr', () => L.listDevice(ctx, s('list_dev_attr')));
  await q('list_drv_attr', () => L.listDriverAttributes(ctx, s('list_drv_attr')));
  await q('list_tgt_attr', () => L.listTargetAttributes(ctx, s('driver'), s('list_tgt_attr')));
  await q('list_grp_attr', () => L.listGroupAttributes(ctx, s('driver'), s('target'), s('list_grp_attr')));
  await q('list_lun_attr', () => L.listLunAttributes(ctx, s('driver'), s('target'), a.str('group'), s('list_lun_attr')));
  await q('list_init_attr', () => L.listInitiatorAttributes(ctx, s('driver'), s('target'), s('group'), s('list_init_attr')));
  await q('list_dgrp_attr', () => L.listDeviceGroupAttributes(ctx, s('list_dgrp_attr')));
  await q('list_tgrp_attr', () => L.listTargetGroupAttributes(ctx, s('dev_group'), s('list_tgrp_attr')));
  await q('list_ttgt_attr', () => L.listTargetGroupTargetAttributes(ctx, s('dev_group'), s('tgt_group'), s('list_ttgt_attr')));

  const change = async (fn: () => Promise<number>, prompt: boolean): Promise<number> => {
    if (prompt && (await con.prompt())) return 0;
    con.out('\n-> Making requested changes.\n');
    const n = await fn();
    con.out(`\t-> Done, ${n} change(s) made.\n`);
    return 0;
  };
  const op = async (fn: () => Promise<number | undefined>, prompt = false): Promise<number | undefined> => {
    if (prompt && (await con.prompt())) return 0;
    con.out('\n-> Making requested changes.\n');
    const r = await fn();
    con.out('\t-> Done.\n');
    return r;
  };
  const lipAfter = async (r: number | undefined, driver?: string, target?: string) => (!r && lip ? O.issueLip(ctx, driver, target) : r);
  const group = a.str('group');

  if (a.has('set_scst_attr')) return change(() => S.setScstAttributes(ctx, attrs, true), true);
  if (a.has('set_hnd_attr')) return change(() => S.setHandlerAttributes(ctx, s('set_hnd_attr'), attrs, true), true);
  if (a.has('set_dev_attr')) return change(() => S.setDeviceAttributes(ctx, s('set_dev_attr'), attrs, true), true);
  if (a.has('set_drv_attr')) return change(() => S.setDriverAttributes(ctx, s('set_drv_attr'), attrs, false), true);
  if (a.has('set_tgt_attr')) return change(() => S.setTargetAttributes(ctx, s('driver'), s('set_tgt_attr'), attrs, false), true);
  if (a.has('set_grp_attr')) return change(() => S.setGroupAttributes(ctx, s('driver'), s('target'), s('set_grp_attr'), attrs, true), true);
  if (a.has('set_lun_attr')) return change(() => S.setLunAttributes(ctx, s('driver'), s('target'), s('set_lun_attr'), attrs, group, true), true);
  if (a.has('set_init_attr')) {
    return change(() => S.setInitiatorAttributes(ctx, s('driver'), s('target'), s('group'), s('set_init_attr'), attrs, true), true);
  }
  if (a.has('set_dgrp_attr')) return change(() => S.setDeviceGroupAttributes(ctx, s('set_dgrp_attr'), attrs, true), true);
  if (a.has('set_tgrp_attr')) return change(() => S.setTargetGroupAttributes(ctx, s('dev_group'), s('set_tgrp_attr'), attrs, true), true);
  if (a.has('set_ttgt_attr')) {
    return change(() => S.setTargetGroupTargetAttributes(ctx, s('dev_group'), s('tgt_group'), s('set_ttgt_attr'), attrs, true), true);
  }
  if (a.has('add_drv_attr')) return op(async () => lipAfter(await S.addDriverDynamicAttributes(ctx, s('add_drv_attr'), attrs)));
  if (a.has('add_tgt_attr')) return op(async () => lipAfter(await S.addTargetDynamicAttributes(ctx, s('driver'), s('add_tgt_attr'), attrs)));
  if (a.has('rem_drv_attr')) return op(async () => lipAfter(await S.removeDriverDynamicAttributes(ctx, s('rem_drv_attr'), attrs)), true);
  if (a.has('rem_tgt_attr')) return op(async () => lipAfter(await S.removeTargetDynamicAttributes(ctx, s('driver'), s('rem_tgt_attr'), attrs)), true);
  if (a.has('open_dev')) return op(() => O.openDevice(ctx, s('handler'), s('open_dev'), a.attributes));
  if (a.has('close_dev')) return op(async () => lipAfter(await O.closeDevice(ctx, s('handler'), s('close_dev'), ctx.force)), true);
  if (a.has('resync_dev')) return op(async () => lipAfter(await O.resyncDevice(ctx, s('resync_dev'))));
  if (a.has('add_dgrp')) return op(() => O.addDeviceGroup(ctx, s('add_dgrp')));
  if (a.has('rem_dgrp')) return op(() => O.removeDeviceGroup(ctx, s('rem_dgrp'), ctx.force));
  if (a.has('add_dgrp_dev')) return op(() => O.addDeviceGroupDevice(ctx, s('dev_group'), s('add_dgrp_dev')));
  if (a.has('rem_dgrp_dev')) return op(() => O.removeDeviceGroupDevice(ctx, s('dev_group'), s('rem_dgrp_dev'), ctx.force));
  if (a.has('add_tgrp')) return op(() => O.addTargetGroup(ctx, s('dev_group'), s('add_tgrp')));
  if (a.has('rem_tgrp')) return op(() => O.removeTargetGroup(ctx, s('dev_group'), s('rem_tgrp'), ctx.force));
  if (a.has('add_tgrp_tgt')) return op(() => O.addTargetGroupTarget(ctx, s('dev_group'), s('tgt_group'), s('add_tgrp_tgt')));
  if (a.has('rem_tgrp_tgt')) return op(() => O.removeTargetGroupTarget(ctx, s('dev_group'), s('tgt_group'), s('rem_tgrp_tgt')));
  if (a.has('add_target')) return op(() => O.addVirtualTarget(ctx, s('driver'), s('add_target'), a.attributes));
  if (a.has('rem_target')) return op(async () => lipAfter(await O.removeVirtualTarget(ctx, s('driver'), s('rem_target')), s('driver')), true);
  if (a.has('add_group')) return op(() => O.addGroup(ctx, s('driver'), s('target'), s('add_group')));
  if (a.has('rem_group')) return op(() => O.removeGroup(ctx, s('driver'), s('target'), s('rem_group'), ctx.force), true);
  if (a.has('add_init')) return op(async () => lipAfter(await O.addInitiator(ctx, s('driver'), s('target'), s('group'), s('add_init')), s('driver'), s('target')));
  if (a.has('rem_init')) {
    return op(async () => lipAfter(await O.removeInitiator(ctx, s('driver'), s('target'), s('group'), s('rem_init')), s('driver'), s('target')), true);
  }
  if (a.has('move_init')) {
    return op(async () => lipAfter(await O.moveInitiator(ctx, s('driver'), s('target'), s('group'), s('move_init'), s('to')), s('driver'), s('target')), true);
  }
  if (a.has('clear_inits')) return op(async () => lipAfter(await O.clearInitiators(ctx, s('driver'), s('target'), s('group')), s('driver'), s('target')), true);
  if (a.has('add_lun')) {
    return op(async () => lipAfter(await O.addLun(ctx, s('driver'), s('target'), s('device'), s('add_lun'), a.attributes, group), s('driver'), s('target')));
  }
  if (a.has('rem_lun')) return op(async () => lipAfter(await O.removeLun(ctx, s('driver'), s('target'), s('rem_lun'), group), s('driver'), s('target')), true);
  if (a.has('replace_lun')) {
    return op(
      async () => lipAfter(await O.replaceLun(ctx, s('driver'), s('target'), group, s('replace_lun'), s('device'), a.attributes), s('driver'), s('target')),
      true,
    );
  }
  if (a.has('clear_luns')) return op(async () => lipAfter(await O.clearLuns(ctx, s('driver'), s('target'), group), s('driver'), s('target')), true);
  if (a.has('enable_target')) return op(() => O.enableTarget(ctx, s('driver'), s('enable_target')));
  if (a.has('disable_target')) return op(() => O.disableTarget(ctx, s('driver'), s('disable_target')), true);
  if (a.has('issue_lip')) return op(async () => (a.flag('no_lip') ? 0 : O.issueLip(ctx, a.str('driver'), s('issue_lip'), true)));
  if (a.has('dumpAttrs')) {
    const [scstAttrs] = await ctx.scst.scstAttributes();
    con.out(`SCST attributes:\n${dumpAttrs(scstAttrs)}`);
    for (const h of [...ctx.current.handlers.keys()].sort()) {
      for (const d of [...ctx.current.handlers.get(h)!].sort()) con.out(`Device ${d} attributes:\n${dumpAttrs((await ctx.scst.deviceAttributes(d))[0])}`);
    }
    return 0;
  }
  return query ? rc : 'none';
}

function dumpAttrs(attrs: Map<string, unknown> | undefined): string {
  const plain = (v: unknown): unknown =>
    v instanceof Map ? Object.fromEntries([...v].map(([k, x]) => [k, plain(x)])) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;
  return `${JSON.stringify(plain(attrs ?? new Map()), null, 2)}\n`;
}

