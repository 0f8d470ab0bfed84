import type { Logger } from 'pino';
import { SCST_LOCAL, type LocalDriver, type LocalSession } from '../../engine/scst_local/driver.js';
import type { Target } from '../../engine/target.js';
import { MODE_DIR, type PdeBlock, type PdeDir, type PdeNode } from '../node.js';
import { lunFile } from './lun-file.js';

// MOUNT/dev: what this host sees of its local sessions, as the kernel's scst_local makes SCSI
// disks of them. dev/scst_local/<target>/<session>/<lun> is one file per LUN the session sees
// (its group's LUN set), named by the LUN number; the listings follow the engine live.

function dir(entries: () => ReadonlyArray<readonly [string, PdeNode]>, child: (name: string) => PdeNode | undefined): PdeDir {
  return { kind: 'dir', mode: MODE_DIR, entries, child };
}

function sessionDir(s: LocalSession, log: Logger): PdeDir {
  // One node per LUN per session, kept while the session lives: an open file keeps its nexus.
  const files = new Map<number, PdeBlock>();
  const fileOf = (lun: number): PdeBlock => {
    let f = files.get(lun);
    if (!f) files.set(lun, (f = lunFile(s, lun, log)));
    return f;
  };
  const parse = (name: string): number | undefined => (/^(0|[1-9]\d{0,4})$/.test(name) ? Number(name) : undefined);
  return dir(
    () =>
      [...s.scst.tgtDevs.keys()].sort((a, b) => a - b).map((lun) => [String(lun), fileOf(lun)] as const),
    (name) => {
      const lun = parse(name);
      return lun !== undefined && s.scst.tgtDevs.has(lun) ? fileOf(lun) : undefined;
    },
  );
}

function targetDir(local: LocalDriver, t: Target, log: Logger): PdeDir {
  const nodes = new WeakMap<LocalSession, PdeDir>();
  const nodeOf = (s: LocalSession): PdeDir => {
    let n = nodes.get(s);
    if (!n) nodes.set(s, (n = sessionDir(s, log)));
    return n;
  };
  const live = () => local.sessions(t).filter((s) => !s.closed);
  return dir(
    () => live().map((s) => [s.scst.sysfsName, nodeOf(s)] as const),
    (name) => {
      const s = local.sessionBySysfsName(t, name);
      return s && !s.closed ? nodeOf(s) : undefined;
    },
  );
}

/** The `dev` directory of the mount. */
export function devRoot(local: LocalDriver, log: Logger): PdeDir {
  const nodes = new WeakMap<Target, PdeDir>();
  const nodeOf = (t: Target): PdeDir => {
    let n = nodes.get(t);
    if (!n) nodes.set(t, (n = targetDir(local, t, log)));
    return n;
  };
  const drv = dir(
    () => [...local.targets.values()].map((t) => [t.name, nodeOf(t)] as const),
    (name) => {
      const t = local.targets.get(name);
      return t ? nodeOf(t) : undefined;
    },
  );
  const top = [[SCST_LOCAL, drv]] as const;
  return dir(
    () => top,
    (name) => (name === SCST_LOCAL ? drv : undefined),
  );
}
