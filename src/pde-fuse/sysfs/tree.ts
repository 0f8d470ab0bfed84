import { kdir, type PdeDir } from '../node.js';
import { deviceGroupsDir } from './alua.js';
import { clusterDir } from './cluster.js';
import { sdir } from './attr.js';
import type { SysfsContext } from './context.js';
import { devicesDir } from './devices.js';
import { handlersDir } from './handlers.js';
import { rootAttributes } from './root.js';
import { sgvDir } from './sgv.js';
import { targetsDir } from './targets.js';

/** R = /sys/kernel/scst_tgt (sysfs.md §1), entries in kernfs order. */
export function scstTgtDir(ctx: SysfsContext): PdeDir {
  const entries = [
    ...rootAttributes(ctx),
    ['handlers', handlersDir(ctx)] as const,
    ['devices', devicesDir(ctx)] as const,
    ['targets', targetsDir(ctx)] as const,
    ['device_groups', deviceGroupsDir(ctx)] as const,
    ['sgv', sgvDir(ctx)] as const,
  ];
  if (ctx.cluster) entries.push(['cluster', clusterDir(ctx.cluster)] as const);
  return sdir(() => entries);
}

/** The directory mounted as `sys`: it holds kernel/scst_tgt. */
export function sysRoot(ctx: SysfsContext): PdeDir {
  const scstTgt = [['scst_tgt', scstTgtDir(ctx)]] as const;
  const kernel = [['kernel', kdir(() => scstTgt)]] as const;
  return kdir(() => kernel);
}
