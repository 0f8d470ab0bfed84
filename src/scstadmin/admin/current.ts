// The live configuration as scstadmin sees it at start-up (scstadmin.md §1.1 step 4): handlers
// and their devices, drivers / targets / LUNs / groups / initiators, device groups. Later steps
// of -config compare against this snapshot, which is refreshed only where the original
// refreshes it.

import type { Console } from '../cli/console.js';
import type { ScstTree } from '../sysfs/scst.js';

export interface CurrentGroup {
  initiators: string[];
  luns: Map<string, string>;
}

export interface CurrentTarget {
  /** Absent when the target's LUN directory could not be read. */
  luns?: Map<string, string>;
  groups: Map<string, CurrentGroup>;
}

export interface CurrentDeviceGroup {
  devices: string[];
  tgroups: Map<string, string[]>;
}

export interface Current {
  handlers: Map<string, string[]>;
  assign: Map<string, Map<string, CurrentTarget>>;
  dgroups: Map<string, CurrentDeviceGroup>;
}

export interface Ctx {
  scst: ScstTree;
  con: Console;
  current: Current;
  force: boolean;
  nonkey: boolean;
}

/**
 * Reads the live configuration, printing the original's progress text. Returns 1 (after
 * printing why) when an initiator is in two groups of one target and -force is not given.
 */
export async function readWorkingConfig(scst: ScstTree, con: Console, force: boolean): Promise<{ current: Current; rc: number }> {
  con.out('\nCollecting current configuration: ');
  const current: Current = { handlers: new Map(), assign: new Map(), dgroups: new Map() };

  const [handlers, herr] = await scst.handlers();
  con.immediateExit(herr);
  for (const h of handlers!) {
    const [devices, err] = await scst.devicesByHandler(h);
    con.immediateExit(err);
    current.handlers.set(h, devices!);
  }

  const [drivers, derr] = await scst.drivers();
  con.immediateExit(derr);
  for (const d of drivers!) {
    const targets = new Map<string, CurrentTarget>();
    current.assign.set(d, targets);
    const [tlist, terr] = await scst.targets(d);
    con.immediateExit(terr);
    for (const t of tlist!) {
      const [luns] = await scst.luns(d, t);
      const target: CurrentTarget = { ...(luns ? { luns } : {}), groups: new Map() };
      targets.set(t, target);
      const [groups, gerr] = await scst.groups(d, t);
      con.immediateExit(gerr);
      for (const g of groups!) {
        const [initiators, ierr] = await scst.initiators(d, t, g);
        con.immediateExit(ierr);
        const [gluns, lerr] = await scst.luns(d, t, g);
        con.immediateExit(lerr);
        target.groups.set(g, { initiators: initiators!, luns: gluns! });
      }
    }
  }

  const [dgroups, dgerr] = await scst.deviceGroups();
  con.immediateExit(dgerr);
  for (const dg of dgroups!) {
    const [devices, err] = await scst.deviceGroupDevices(dg);
    con.immediateExit(err);
    const [tgroups, tgerr] = await scst.targetGroups(dg);
    con.immediateExit(tgerr);
    const tmap = new Map<string, string[]>();
    for (const tg of tgroups!) {
      const [targets] = await scst.targetGroupTargets(dg, tg);
      tmap.set(tg, targets ?? []);
    }
    current.dgroups.set(dg, { devices: devices!, tgroups: tmap });
  }

  con.out('done.\n\n');

  for (const [driver, targets] of current.assign) {
    for (const target of targets.values()) {
      const seen = new Set<string>();
      for (const g of target.groups.values()) {
        for (const ini of g.initiators) {
          if (seen.has(ini) && !force) {
            // "groups" and the literal "target" are the original's wording.
            con.out(`\t-> FATAL: Initiator '${ini}' belongs to more than one groups for driver/target '${driver}/target', aborting. Use -force to override.\n`);
            return { current, rc: 1 };
          }
          seen.add(ini);
        }
      }
    }
  }
  return { current, rc: 0 };
}
