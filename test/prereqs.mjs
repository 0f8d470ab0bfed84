#!/usr/bin/env node
// The test command's first step: the tests drive real peers (libiscsi's tools, qemu, tgtd, etcd,
// FUSE), and without them most integration tests would fail one by one with "command not found".
// This checks that every program the suites run is on PATH and stops at once with one line naming
// what is missing and the Debian packages that bring it. Plain JavaScript: it runs before the
// TypeScript build, with nothing but Node.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian package -> the programs of it the tests run. */
const PACKAGES = {
  'libiscsi-bin': ['iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16', 'iscsi-perf', 'iscsi-test-cu'],
  'qemu-utils': ['qemu-io', 'qemu-img'],
  tgt: ['tgtd', 'tgtadm'],
  fuse: ['fusermount'],
  prometheus: ['prometheus'],
  'etcd-server': ['etcd'],
  'ceph-mon': ['ceph-mon'],
  'ceph-osd': ['ceph-osd'],
  'ceph-mgr': ['ceph-mgr'],
  'ceph-common': ['ceph', 'rbd'],
};

/** qemu opens iscsi:// URLs only with this module (Debian's qemu-block-extra). */
const QEMU_ISCSI_MODULES = ['/usr/lib/x86_64-linux-gnu/qemu/block-iscsi.so', '/usr/lib/aarch64-linux-gnu/qemu/block-iscsi.so', '/usr/lib/qemu/block-iscsi.so'];

function onPath(cmd, path) {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function missing(path, moduleFiles) {
  const programs = [];
  const packages = new Set();
  for (const [pkg, cmds] of Object.entries(PACKAGES)) {
    for (const c of cmds) {
      if (!onPath(c, path)) {
        programs.push(c);
        packages.add(pkg);
      }
    }
  }
  // vdisk_rbd's binding is built against librbd's headers (npm ci builds it when they are there).
  if (!existsSync('/usr/include/rbd/librbd.h')) {
    programs.push('librbd headers');
    packages.add('librbd-dev');
  }
  if (!moduleFiles.some((f) => existsSync(f))) {
    programs.push('qemu iscsi:// driver');
    packages.add('qemu-block-extra');
  }
  return { programs, packages: [...packages] };
}

const m = missing(process.env.PATH ?? '', QEMU_ISCSI_MODULES);
if (m.programs.length > 0) {
  process.stderr.write(`scst-usermode tests: missing ${m.programs.join(', ')}; install them first: apt-get install -y ${m.packages.join(' ')}\n`);
  process.exit(1);
}
// librbd-dev installed after npm ci: the binding the RBD tests load was never built.
const rbdBinding = new URL('../native/rbd/build/Release/rbd.node', import.meta.url);
if (!existsSync(rbdBinding)) {
  process.stderr.write('scst-usermode tests: the librbd binding is not built (librbd-dev came after npm ci): npm run build:rbd\n');
  process.exit(1);
}
