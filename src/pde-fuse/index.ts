import type { Logger } from 'pino';
import type { IscsiDriver } from '../engine/iscsi/portal.js';
import { ScstMgmt } from '../engine/mgmt.js';
import type { Scst } from '../engine/scst.js';
import type { PdeMount } from './fuse.js';
import { PdeFs } from './pdefs.js';
import { makeContext, type ProcfsBuild } from './procfs/context.js';
import { procRoot } from './procfs/tree.js';

export { PdeFs } from './pdefs.js';
export type { PdeMount } from './fuse.js';
export { makeContext, DEFAULT_BUILD, type ProcfsBuild, type ProcfsContext } from './procfs/context.js';
export { procRoot, scsiTgtDir } from './procfs/tree.js';

/** The /proc/scsi_tgt tree over a core, without FUSE. */
export function createProcfs(scst: Scst, iscsi: IscsiDriver | null, log: Logger, build: Partial<ProcfsBuild> = {}): PdeFs {
  const plog = log.child({ tree: 'procfs' });
  return new PdeFs(procRoot(makeContext(scst, new ScstMgmt(scst, plog), iscsi, plog, build)), plog);
}

/**
 * Publish /proc/scsi_tgt at `<dir>/proc/scsi_tgt` (scstd --mount DIR). The native FUSE binding is
 * loaded only here, so a daemon without --mount runs where libfuse is missing.
 */
export async function mountProcfs(dir: string, scst: Scst, iscsi: IscsiDriver | null, log: Logger): Promise<PdeMount> {
  const { PdeMount } = await import('./fuse.js');
  return PdeMount.mount(dir, createProcfs(scst, iscsi, log), log.child({ tree: 'procfs' }));
}
