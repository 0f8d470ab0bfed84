import { file, staticDir, type PdeDir } from '../node.js';
import { groupsDir } from './groups.js';
import { iscsiDir } from './iscsi.js';
import { renderSgv } from './sgv.js';
import { vcdromDir, vdiskDir } from './vdisk.js';
import { renderHelp, renderScsiTgt, renderSessions, renderThreads, renderVersion, writeScsiTgt, writeThreads } from './core.js';
import type { ProcfsContext } from './context.js';

/** /proc/scsi_tgt in SCST's creation order (procfs.md §2). */
export function scsiTgtDir(ctx: ProcfsContext): PdeDir {
  const core = ctx.trace.core;
  const entries = [
    ['scsi_tgt', file(() => renderScsiTgt(ctx), (d) => writeScsiTgt(ctx, d))],
    ['version', file(() => renderVersion(ctx))],
    ['sessions', file(() => renderSessions(ctx))],
    ['help', file(() => renderHelp(ctx))],
    ['threads', file(() => renderThreads(ctx), (d) => writeThreads(ctx, d))],
    ...(ctx.build.tracing ? ([['trace_level', file(() => core.render(), (d) => core.write(d, ctx.log, (n) => ctx.scst.devices.has(n)))]] as const) : []),
    ['groups', groupsDir(ctx)],
    ['sgv', file(() => renderSgv(ctx.scst.pool))],
    ['vdisk', vdiskDir(ctx)],
    ['vcdrom', vcdromDir(ctx)],
    ...(ctx.iscsi ? ([['iscsi', iscsiDir(ctx, ctx.iscsi)]] as const) : []),
  ] as const;
  return staticDir(entries);
}

/** The directory mounted as `proc`: it holds scsi_tgt/. */
export function procRoot(ctx: ProcfsContext): PdeDir {
  return staticDir([['scsi_tgt', scsiTgtDir(ctx)]]);
}
