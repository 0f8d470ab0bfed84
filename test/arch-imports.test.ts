// The arrows point one way (issue 15): drivers and backstores import the core, never the reverse;
// the engine knows nothing of the management trees, the CLI or the config readers; src/ never
// imports test/. Every import of every src file is read (static, re-export, side-effect, dynamic
// and `import('...')` types) and resolved to a file of the repository.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const SPECIFIERS = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g];

/** Repository-relative paths (with /) of the files `file` imports; packages are left out. */
export function importsOf(file: string, text: string): string[] {
  const out = new Set<string>();
  for (const re of SPECIFIERS) {
    for (const m of text.matchAll(re)) {
      const spec = m[1]!;
      if (!spec.startsWith('.')) continue;
      const abs = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      out.add(relative(ROOT, abs).split(sep).join('/'));
    }
  }
  return [...out];
}

const isCore = (f: string) => /^src\/engine\/[^/]+\.ts$/.test(f) || f.startsWith('src/engine/scsi/');
const under = (f: string, dirs: string[]) => dirs.some((d) => (d.endsWith('.ts') ? f === d : f === d || f.startsWith(`${d}/`) || f === `${d}.ts`));

const NOT_FROM_CORE = ['src/engine/iscsi', 'src/engine/backstore', 'src/engine/user', 'src/pde-fuse', 'src/scstadmin', 'src/conf', 'src/metrics', 'src/user-handler', 'src/daemon.ts', 'src/bin', 'src/cluster'];
const NOT_FROM_ENGINE = ['src/pde-fuse', 'src/scstadmin', 'src/conf', 'src/metrics', 'src/cluster'];
/** The cluster room (issue 16) is wired by the daemon: it knows no tree, CLI, config reader or driver. */
const NOT_FROM_CLUSTER = ['src/pde-fuse', 'src/scstadmin', 'src/conf', 'src/metrics', 'src/engine', 'src/daemon.ts', 'src/shutdown.ts', 'src/bin'];
/**
 * ... except the core's reservation contract, which the etcd reservation store implements
 * (docs/cluster-reservations.md §3): the store, the state value and its decisions, the device
 * that carries them.
 */
const CORE_CONTRACT = ['src/engine/reservations.ts', 'src/engine/scsi/resv-state.ts', 'src/engine/scsi/resv-decide.ts', 'src/engine/device.ts', 'src/engine/scsi/constants.ts'];
/** Outside the room only its interface and its option parser are seen; the etcd side is the daemon's to build. */
const CLUSTER_PUBLIC = ['src/cluster/membership.ts', 'src/cluster/options.ts', 'src/cluster/alua-local.ts'];
const CLUSTER_BUILDERS = ['src/daemon.ts'];
/** Packages of the etcd client: used by the cluster room only. */
const ETCD_PACKAGES = /^(etcd3|cockatiel|@grpc\/)/;

/** The rules one import edge breaks (empty: allowed). */
export function violations(from: string, to: string): string[] {
  const v: string[] = [];
  if (isCore(from) && under(to, NOT_FROM_CORE)) v.push(`core file ${from} imports ${to}`);
  if (from.startsWith('src/engine/') && under(to, NOT_FROM_ENGINE)) v.push(`engine file ${from} imports ${to}`);
  if (from.startsWith('src/') && to.startsWith('test/')) v.push(`${from} imports test code ${to}`);
  if (from.startsWith('src/cluster/') && under(to, NOT_FROM_CLUSTER) && !CORE_CONTRACT.includes(to)) v.push(`cluster file ${from} imports ${to}`);
  if (to.startsWith('src/cluster/') && !from.startsWith('src/cluster/') && !CLUSTER_PUBLIC.includes(to) && !CLUSTER_BUILDERS.includes(from)) v.push(`${from} imports the cluster room's inside ${to}`);
  return v;
}

/** Bare package names a file imports (the etcd client's may only be imported by src/cluster). */
export function packagesOf(text: string): string[] {
  const out = new Set<string>();
  for (const re of SPECIFIERS) for (const m of text.matchAll(re)) if (!m[1]!.startsWith('.') && !m[1]!.startsWith('node:')) out.add(m[1]!);
  return [...out];
}

describe('import direction', () => {
  it('the rules catch each kind of wrong arrow and allow the right ones', () => {
    expect(violations('src/engine/target.ts', 'src/engine/iscsi/params.ts')).toHaveLength(1);
    expect(violations('src/engine/scsi/sbc.ts', 'src/engine/backstore/file.ts')).toHaveLength(1);
    expect(violations('src/engine/mgmt.ts', 'src/pde-fuse/node.ts')).toHaveLength(2);
    expect(violations('src/engine/iscsi/login.ts', 'src/conf/apply.ts')).toHaveLength(1);
    expect(violations('src/engine/handlers.ts', 'src/daemon.ts')).toHaveLength(1);
    expect(violations('src/pde-fuse/index.ts', 'test/helpers/procfs.ts')).toHaveLength(1);
    expect(violations('src/engine/iscsi/tmf.ts', 'src/engine/tmf.ts')).toEqual([]);
    expect(violations('src/engine/backstore/file.ts', 'src/engine/backing-store.ts')).toEqual([]);
    expect(violations('src/pde-fuse/sysfs/iscsi.ts', 'src/engine/iscsi/target.ts')).toEqual([]);
    expect(violations('src/daemon.ts', 'src/engine/backstore/register.ts')).toEqual([]);
    expect(violations('src/engine/scsi/pr.ts', 'src/cluster/membership.ts')).toHaveLength(2);
    expect(violations('src/engine/iscsi/portal.ts', 'src/cluster/options.ts')).toHaveLength(1);
    expect(violations('src/cluster/etcd-membership.ts', 'src/engine/scst.ts')).toHaveLength(1);
    expect(violations('src/cluster/etcd-reservations.ts', 'src/engine/reservations.ts')).toEqual([]);
    expect(violations('src/cluster/etcd-reservations.ts', 'src/engine/scsi/pr.ts')).toHaveLength(1);
    expect(violations('src/cluster/etcd-membership.ts', 'src/pde-fuse/node.ts')).toHaveLength(1);
    expect(violations('src/pde-fuse/sysfs/cluster.ts', 'src/cluster/etcd-membership.ts')).toHaveLength(1);
    expect(violations('src/pde-fuse/sysfs/cluster.ts', 'src/cluster/membership.ts')).toEqual([]);
    expect(violations('src/daemon.ts', 'src/cluster/etcd-membership.ts')).toEqual([]);
    expect(violations('src/cluster-alua.ts', 'src/cluster/alua-local.ts')).toEqual([]);
    expect(violations('src/cluster-alua.ts', 'src/cluster/etcd-alua.ts')).toHaveLength(1);
    expect(violations('src/cluster/etcd-alua.ts', 'src/engine/alua.ts')).toHaveLength(1);
    expect(violations('src/cluster/etcd-membership.ts', 'src/cluster/membership.ts')).toEqual([]);
    expect(packagesOf("import { Etcd3 } from 'etcd3';\nimport x from 'node:fs';\nimport './y.js';")).toEqual(['etcd3']);
    const text = "import type { A } from './iscsi/x.js';\nexport * from '../conf/y.js';\nimport './side.js';\nconst m = await import('../pde-fuse/z.js');\ntype T = import('./backstore/w.js').W;\nimport pino from 'pino';";
    expect(importsOf(join(ROOT, 'src/engine/f.ts'), text).sort()).toEqual(['src/conf/y.ts', 'src/engine/backstore/w.ts', 'src/engine/iscsi/x.ts', 'src/engine/side.ts', 'src/pde-fuse/z.ts']);
  });

  it('no src file imports against the arrows', () => {
    const files = tsFiles(join(ROOT, 'src'));
    let edges = 0;
    const bad: string[] = [];
    for (const f of files) {
      const from = relative(ROOT, f).split(sep).join('/');
      for (const to of importsOf(f, readFileSync(f, 'utf8'))) {
        edges++;
        bad.push(...violations(from, to));
      }
      for (const pkg of packagesOf(readFileSync(f, 'utf8'))) if (ETCD_PACKAGES.test(pkg) && !from.startsWith('src/cluster/')) bad.push(`${from} imports the etcd client package ${pkg}`);
    }
    // The walk saw the code base (not an empty or misplaced directory).
    expect(files.length).toBeGreaterThan(100);
    expect(edges).toBeGreaterThan(500);
    expect(bad).toEqual([]);
  });
});
