import type { Logger } from 'pino';
import type { IscsiDriver } from '../engine/iscsi/portal.js';
import { ScstMgmt } from '../engine/mgmt.js';
import type { Scst } from '../engine/scst.js';
import type { PdeMount } from './fuse.js';
import { kdir, type PdeNode } from './node.js';
import type { LocalDriver } from '../engine/scst_local/driver.js';
import { devRoot } from './dev/tree.js';
import { PdeFs } from './pdefs.js';
import { slowOpMsFromEnv } from './optimes.js';
import { makeContext, type ProcfsBuild } from './procfs/context.js';
import { procRoot } from './procfs/tree.js';
import { makeSysfsContext, type SysfsOptions } from './sysfs/context.js';
import { sysRoot } from './sysfs/tree.js';

export { PdeFs } from './pdefs.js';
export type { PdeMount } from './fuse.js';
export { makeContext, DEFAULT_BUILD, type ProcfsBuild, type ProcfsContext } from './procfs/context.js';
export { procRoot, scsiTgtDir } from './procfs/tree.js';
export { makeSysfsContext, DEFAULT_SYSFS_BUILD, SysfsWorks, type SysfsBuild, type SysfsContext, type SysfsOptions } from './sysfs/context.js';
export { sysRoot, scstTgtDir } from './sysfs/tree.js';

/** The /proc/scsi_tgt tree over a core, without FUSE. */
export function createProcfs(scst: Scst, iscsi: IscsiDriver | null, log: Logger, build: Partial<ProcfsBuild> = {}): PdeFs {
  const plog = log.child({ tree: 'procfs' });
  return new PdeFs(procRoot(makeContext(scst, new ScstMgmt(scst, plog), iscsi, plog, build)), plog);
}

export interface TreesOptions {
  /** The scst_local driver: targets/scst_local in sysfs and its sessions' LUNs under dev/. */
  local?: LocalDriver | null;
  procfs?: Partial<ProcfsBuild>;
  sysfs?: SysfsOptions;
  /** Commands slower than this (ms) are logged; default SCSTD_MGMT_SLOW_MS, else 20. */
  slowOpMs?: number;
}

/**
 * Both management trees over one core, as one file system: `proc/scsi_tgt` and
 * `sys/kernel/scst_tgt`. They share the trace levels and every engine object, so a change made
 * through either shows in both at once; writes through either run one at a time.
 */
export function createTrees(scst: Scst, iscsi: IscsiDriver | null, log: Logger, o: TreesOptions = {}): PdeFs {
  const tlog = log.child({ tree: 'mgmt' });
  const pctx = makeContext(scst, new ScstMgmt(scst, log.child({ tree: 'procfs' })), iscsi, log.child({ tree: 'procfs' }), o.procfs ?? {});
  const slog = log.child({ tree: 'sysfs' });
  const local = o.local ?? null;
  const sctx = makeSysfsContext(scst, new ScstMgmt(scst, slog), iscsi, slog, { trace: pctx.trace, local, ...o.sysfs });
  // Built once: every node below keeps its own state (and its per-device nodes) for the mount's life.
  const top: Array<readonly [string, PdeNode]> = [
    ['proc', procRoot(pctx)],
    ['sys', sysRoot(sctx)],
  ];
  if (local) top.push(['dev', devRoot(local, log.child({ tree: 'dev' }))]);
  const root = kdir(() => top);
  return new PdeFs(root, tlog, o.slowOpMs ?? slowOpMsFromEnv());
}

/**
 * Publish both trees at `<dir>/proc/scsi_tgt` and `<dir>/sys/kernel/scst_tgt` through one FUSE
 * mount at `<dir>` (scstd --mount DIR). The native FUSE binding is loaded only here, so a daemon
 * without --mount runs where libfuse is missing.
 */
export async function mountTrees(dir: string, scst: Scst, iscsi: IscsiDriver | null, log: Logger, o: TreesOptions = {}): Promise<PdeMount> {
  const { PdeMount } = await import('./fuse.js');
  return PdeMount.mount(dir, createTrees(scst, iscsi, log, o), log.child({ tree: 'mgmt' }), '');
}

/**
 * SCSTD_SYSFS_WAIT_MS: how long a sysfs writer waits for an asynchronous command before EAGAIN
 * (default 15000, as SCST; 0 = always EAGAIN at once, SCST's debug mode for testing clients).
 */
export function sysfsWaitFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.SCSTD_SYSFS_WAIT_MS;
  if (v === undefined || !/^\d{1,9}$/.test(v)) return undefined;
  return Number(v);
}

/** What scstd --mount calls: since issue 5 it publishes the sysfs tree beside the procfs one. */
export async function mountProcfs(dir: string, scst: Scst, iscsi: IscsiDriver | null, log: Logger, local: LocalDriver | null = null): Promise<PdeMount> {
  const waitMs = sysfsWaitFromEnv();
  return mountTrees(dir, scst, iscsi, log, waitMs === undefined ? { local } : { local, sysfs: { asyncWaitMs: waitMs } });
}
