// -check_config and the check phase of -config (scstadmin.md §7.1): the original's warnings and
// errors, in its words, plus what the original only discovers half-way through applying — a
// handler that is not loaded, an attribute no SCST object has — reported as errors with the
// file's line, so a bad file is refused before anything is changed.

import type { Console } from '../cli/console.js';
import type { ProcfsLiveState } from '../../conf/procfs.js';
import { compareBytes } from '../../conf/write.js';
import { CAttrs, isEmptyConf, toCConf, type CConf } from './conf-tree.js';
import { loadConfigFile } from './config-file.js';
import { ExitRequest } from '../cli/console.js';
import type { Ctx } from './current.js';
import { DEVICE_ATTRS, DRIVER_ATTRS, GROUP_ATTRS, HANDLER_ATTRS, SCST_ATTRS, TARGET_ATTRS, TARGET_GROUP_ATTRS, TARGET_GROUP_TARGET_ATTRS } from './known-attrs.js';

const sorted = (xs: Iterable<string>): string[] => [...xs].sort(compareBytes);

/** What the converter of the obsolete format needs to know about drivers and targets. */
export async function procfsLiveState(ctx: Ctx): Promise<ProcfsLiveState> {
  const drivers: ProcfsLiveState['drivers'] = [];
  for (const [name, targets] of ctx.current.assign) {
    const [attrs] = await ctx.scst.driverAttributes(name);
    drivers.push({
      name,
      targets: [...targets.keys()],
      virtualCapable: await ctx.scst.driverIsVirtualCapable(name),
      hasEnabledAttribute: attrs?.has('enabled') ?? false,
    });
  }
  return { drivers };
}

interface Tally {
  warnings: number;
  errors: number;
}

/**
 * Checks `file`. Returns the configuration (reduced as the original reduces it: unknown LUN
 * devices dropped) and rc 1 when errors were found. With `ctx` null (no tree mounted) only the
 * file itself is checked.
 */
export async function checkConfiguration(con: Console, ctx: Ctx | null, file: string): Promise<{ rc: number; conf?: CConf }> {
  con.out(`-> Checking configuration file '${file}' for errors.\n`);
  const loaded = await loadConfigFile(file, ctx ? await procfsLiveState(ctx) : undefined);
  if (!loaded.ok && 'unreadable' in loaded) {
    con.immediateExit(`Unable to open configuration file '${file}': ${loaded.unreadable}`);
    return { rc: 1 };
  }
  if (!loaded.ok) {
    // The position goes to stderr as well, in the form editors and CI logs recognise.
    con.err(`${loaded.error.describe()}\n`);
    con.out(`\t-> FATAL: ${loaded.error.describe()}\n`);
    con.out('\t-> Done, 1 errors found.\n');
    return { rc: 1 };
  }
  if (loaded.deprecated) con.out('\nNOTE: Using a deprecated configuration file. I will attempt to convert it for you.\n\n');
  const conf = toCConf(loaded.config, file);
  if (isEmptyConf(conf)) {
    con.out('-> WARNING: Configuration is empty or unreadable, aborting.\n\n');
    throw new ExitRequest(0);
  }
  const t: Tally = { warnings: 0, errors: 0 };
  const warn = (text: string) => {
    con.out(text);
    t.warnings++;
  };
  const error = (text: string) => {
    con.out(text);
    t.errors++;
  };
  const at = (line: number | undefined) => (line === undefined ? file : `${file}:${line}`);

  for (const w of conf.warnings) {
    const text = w.startsWith(`${file}:`) ? w.replace(/^.*?:\d+: /s, '') : w;
    if (text.startsWith('NOTE:')) {
      if (!text.startsWith('NOTE: Using a deprecated')) con.out(`${text}\n\n`);
      continue;
    }
    // The /dev/ rename is the original's own warning; other reader findings carry their line.
    warn(/^Device '.*' configured for handler/.test(text) ? `\t-> WARNING: ${text}\n\n` : `\t-> WARNING: ${w}\n\n`);
  }

  const noDrivers = conf.drivers.size === 0;
  const noHandlers = conf.handlers.size === 0;
  if (noDrivers) warn('\t-> WARNING: No TARGET_DRIVER section defined. No target drivers will be configured.\n\n');
  if (noHandlers) warn('\t-> WARNING: No HANDLER section defined. Only physical media will be configured for targets.\n\n');
  if (noDrivers && noHandlers) error('FATAL: No target drivers or handlers defined, aborting!\n');

  for (const d of sorted(conf.drivers.keys())) {
    const driver = conf.drivers.get(d)!;
    if (ctx && !ctx.current.assign.has(d)) {
      warn(`\t-> WARNING: Target driver '${d}' is not loaded or available.\n\n`);
      continue;
    }
    if (driver.targets.size === 0) {
      warn(`\t-> WARNING: Driver '${d}' has no configured targets.\n\n`);
      continue;
    }
    for (const tname of sorted(driver.targets.keys())) {
      const target = driver.targets.get(tname)!;
      const seen = new Set<string>();
      for (const g of sorted(target.groups.keys())) {
        for (const ini of target.groups.get(g)!.initiators.keys()) {
          if (seen.has(ini)) {
            error(`\t-> FATAL: Initiator '${ini}' belongs to more than one group.\n\t     Initiators can only belong to one group at a time for a given target.\n`);
          }
          seen.add(ini);
        }
      }
      if (ctx && !ctx.current.assign.get(d)!.has(tname) && !(await ctx.scst.driverIsVirtualCapable(d))) {
        error(`\t-> FATAL: Target '${tname}' for driver '${d}' does not exist.\n`);
      }
    }
  }

  const defined = new Set<string>();
  for (const h of sorted(conf.handlers.keys())) {
    if (ctx && !(await ctx.scst.handlerExists(h))) {
      // The original drops the section with a warning and configures the rest; a file naming a
      // handler that does not exist is refused instead, before anything changes.
      error(`\t-> FATAL: No such handler '${h}' available (${at(conf.handlers.get(h)!.line)}).\n`);
      continue;
    }
    for (const dev of conf.handlers.get(h)!.devices.keys()) defined.add(dev);
  }

  const dropUndefined = (luns: Map<string, { device: string }>, d: string, t: string) => {
    for (const [lun, l] of [...luns]) {
      if (defined.has(l.device)) continue;
      warn(`\t-> WARNING: Device '${l.device}' associated with driver/target '${d}/${t}' at LUN ${lun} is not defined within configuration, removing it.\n\n`);
      luns.delete(lun);
    }
  };
  for (const d of sorted(conf.drivers.keys())) {
    for (const [tname, target] of conf.drivers.get(d)!.targets) {
      if (target.luns.size > 0) {
        dropUndefined(target.luns, d, tname);
        if (d !== 'copy_manager' && !target.luns.has('0')) {
          warn(`\t-> WARNING: No LUN 0 defined for driver/target '${d}/${tname}'. Many initiators require a LUN 0 to be defined.\n\n`);
        }
      }
      for (const [g, group] of target.groups) {
        if (group.luns.size === 0) continue;
        dropUndefined(group.luns, d, tname);
        if (!group.luns.has('0')) {
          warn(`\t-> WARNING: No LUN 0 defined for driver/target/group '${d}/${tname}/${g}'. Many initiators require a LUN 0 to be defined.\n\n`);
        }
      }
    }
  }
  for (const [dg, group] of conf.dgroups) {
    for (const dev of [...group.devices]) {
      if (defined.has(dev)) continue;
      warn(`\t-> WARNING: Device '${dev}' associated with device group '${dg}' is not defined within configuration, removing it.\n\n`);
      group.devices = group.devices.filter((x) => x !== dev);
    }
  }

  if (ctx) await checkAttributeNames(ctx, conf, error, at);

  if (t.errors) {
    con.out(`\t-> Done, ${t.errors} errors found.\n`);
    return { rc: 1, conf };
  }
  con.out(`\t-> Done, ${t.warnings} warnings found.\n\n`);
  return { rc: 0, conf };
}

/** Attribute names nobody defines (see known-attrs.ts), reported with their line. */
async function checkAttributeNames(ctx: Ctx, conf: CConf, error: (text: string) => void, at: (line?: number) => string): Promise<void> {
  const report = (attrs: CAttrs, known: (name: string) => boolean, what: string) => {
    for (const name of attrs.keys()) {
      if (!known(name)) error(`\t-> FATAL: Unknown attribute '${name}' for ${what} (${at(attrs.lines.get(name))}).\n`);
    }
  };
  const liveNames = async (p: Promise<[Map<string, unknown> | undefined, string | undefined]>) => new Set((await p)[0]?.keys() ?? []);

  const [scstLive] = await ctx.scst.scstAttributes();
  report(conf.attrs, (n) => SCST_ATTRS.has(n) || (scstLive?.has(n) ?? false), 'SCST');

  for (const [h, handler] of conf.handlers) {
    if (!(await ctx.scst.handlerExists(h))) continue;
    const [create] = await ctx.scst.deviceCreateAttributes(h);
    const hLive = await liveNames(ctx.scst.handlerAttributes(h));
    const known = DEVICE_ATTRS[h];
    report(handler.attrs, (n) => (HANDLER_ATTRS[h]?.has(n) ?? !known) || hLive.has(n), `handler '${h}'`);
    for (const [dev, device] of handler.devices) {
      const live = (await ctx.scst.deviceOpen(dev)) ? await liveNames(ctx.scst.deviceAttributes(dev)) : new Set<string>();
      // Without a list for this handler, only a device that does not exist yet can be judged.
      report(device.attrs, (n) => (create?.has(n) ?? false) || live.has(n) || (known ? known.has(n) : live.size === 0), `device '${dev}'`);
    }
  }

  for (const [d, driver] of conf.drivers) {
    if (!ctx.current.assign.has(d)) continue;
    const dLive = await liveNames(ctx.scst.driverAttributes(d));
    const [dDyn] = await ctx.scst.driverDynamicAttributes(d);
    const [tDyn] = await ctx.scst.targetDynamicAttributes(d);
    const [tCreate] = await ctx.scst.targetCreateAttributes(d);
    const dKnown = DRIVER_ATTRS[d];
    report(driver.attrs, (n) => n === 'enabled' || dLive.has(n) || (dDyn?.has(n) ?? false) || (dKnown ? dKnown.has(n) : dLive.size === 0), `driver '${d}'`);
    const tKnown = TARGET_ATTRS[d];
    const gKnown = GROUP_ATTRS[d];
    for (const [t, target] of driver.targets) {
      const tExists = ctx.current.assign.get(d)!.has(t);
      const tLive = tExists ? await liveNames(ctx.scst.targetAttributes(d, t)) : new Set<string>();
      report(
        target.attrs,
        (n) => n === 'enabled' || tLive.has(n) || (tDyn?.has(n) ?? false) || (tCreate?.has(n) ?? false) || (tKnown ? tKnown.has(n) : !tExists),
        `driver/target '${d}/${t}'`,
      );
      for (const [g, group] of target.groups) {
        const gExists = ctx.current.assign.get(d)?.get(t)?.groups.has(g) ?? false;
        const gLive = gExists ? await liveNames(ctx.scst.groupAttributes(d, t, g)) : new Set<string>();
        report(group.attrs, (n) => gLive.has(n) || (gKnown ? gKnown.has(n) : !gExists), `driver/target/group '${d}/${t}/${g}'`);
      }
    }
  }

  for (const [dg, group] of conf.dgroups) {
    report(group.attrs, () => false, `device group '${dg}'`);
    for (const [tg, tgroup] of group.tgroups) {
      report(tgroup.attrs, (n) => TARGET_GROUP_ATTRS.has(n), `target group '${dg}/${tg}'`);
      for (const [t, attrs] of tgroup.targets) report(attrs, (n) => TARGET_GROUP_TARGET_ATTRS.has(n), `target '${dg}/${tg}/${t}'`);
    }
  }
}
