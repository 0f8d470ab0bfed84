// Test support: running scstadmin in-process against a FakeSysfs, and the synthetic live state
// of the reference's examples (scstadmin.md §5 and §8.3), built through the tree's own mgmt files.

import { runScstadmin } from '../../../src/scstadmin/cli/main.js';
import type { TreeFs } from '../../../src/scstadmin/tree/tree-fs.js';
import { FAKE_PREFIX, FAKE_ROOT, FakeSysfs } from './fake-sysfs.js';

export interface AdminResult {
  code: number;
  out: string;
  err: string;
}

/** Runs scstadmin with `argv` on the fake tree; `answers` feed the confirmation prompt. */
export function runAdmin(fake: FakeSysfs, argv: string[], answers: string[] = []): Promise<AdminResult> {
  return runAdminOn(fake.fs, FAKE_PREFIX, argv, answers);
}

/** Runs scstadmin with `argv` on any tree mounted at `root`. */
export async function runAdminOn(fs: TreeFs, root: string, argv: string[], answers: string[] = []): Promise<AdminResult> {
  let out = '';
  let err = '';
  const code = await runScstadmin({
    argv,
    env: {},
    out: { out: (t) => (out += t), err: (t) => (err += t) },
    readLine: async () => answers.shift(),
    euid: 0,
    defaultRoot: root,
    fs,
    timeoutMs: 2000,
    pollMs: 1,
  });
  return { code, out, err };
}

async function w(fake: FakeSysfs, rel: string, data: string): Promise<void> {
  await fake.fs.write(`${FAKE_ROOT}/${rel}`, data);
}

const TGT = 'iqn.2006-10.net.vlnb:tgt';

/** The live state behind scstadmin.md §5.2-§5.6 and §8.3. */
export async function seedReference(fake: FakeSysfs): Promise<void> {
  await w(fake, 'setup_id', '0x1234\n');
  await w(fake, 'handlers/vdisk_fileio/mgmt', 'add_device disk1 filename=/srv/disk1.img;nv_cache=1;');
  await w(fake, 'handlers/vdisk_fileio/mgmt', 'add_device disk2 filename=/srv/disk2.img;read_only=1;t10_dev_id=d2-t10;');
  // A blank cannot pass through add_device (sysfs.md §2.4); the reference's state has one.
  fake.devices.get('disk2')!.attrs.get('filename')!.value = '/srv/disk 2.img';
  await w(fake, 'handlers/vdisk_nullio/mgmt', 'add_device nul0 blocksize=4096;dummy=1;');
  await w(fake, 'targets/iscsi/mgmt', `add_target ${TGT}`);
  await w(fake, 'targets/iscsi/mgmt', 'add_attribute IncomingUser joe 12charsecret');
  await w(fake, 'targets/iscsi/mgmt', `add_target_attribute ${TGT} IncomingUser fred 12charsecret2`);
  await w(fake, 'targets/iscsi/mgmt', `add_target_attribute ${TGT} IncomingUser joe 12charsecret`);
  await w(fake, `targets/iscsi/${TGT}/HeaderDigest`, 'CRC32C\n');
  await w(fake, `targets/iscsi/${TGT}/rel_tgt_id`, '1');
  await w(fake, `targets/iscsi/${TGT}/luns/mgmt`, 'add disk1 0');
  await w(fake, `targets/iscsi/${TGT}/ini_groups/mgmt`, 'create HOST1');
  await w(fake, `targets/iscsi/${TGT}/ini_groups/HOST1/luns/mgmt`, 'add disk2 0');
  await w(fake, `targets/iscsi/${TGT}/ini_groups/HOST1/luns/mgmt`, 'add nul0 1 read_only=1');
  await w(fake, `targets/iscsi/${TGT}/ini_groups/HOST1/initiators/mgmt`, 'add iqn.1993-08.org.debian:01:abc');
  await w(fake, `targets/iscsi/${TGT}/ini_groups/HOST1/addr_method`, 'FLAT\n');
  await w(fake, 'targets/scst_local/mgmt', 'add_target local1 session_name=local1_sess;');
  await w(fake, 'targets/scst_local/local1/luns/mgmt', 'add nul0 0');
  await w(fake, 'device_groups/mgmt', 'create dg1');
  await w(fake, 'device_groups/dg1/devices/mgmt', 'add disk1');
  await w(fake, 'device_groups/dg1/devices/mgmt', 'add disk2');
  await w(fake, 'device_groups/dg1/target_groups/mgmt', 'add tgA');
  await w(fake, 'device_groups/dg1/target_groups/tgA/group_id', '1\n');
  await w(fake, 'device_groups/dg1/target_groups/tgA/preferred', '1\n');
  await w(fake, 'device_groups/dg1/target_groups/tgA/mgmt', `add ${TGT}`);
  await w(fake, 'device_groups/dg1/target_groups/mgmt', 'add tgB');
  await w(fake, 'device_groups/dg1/target_groups/tgB/group_id', '2\n');
  await w(fake, 'device_groups/dg1/target_groups/tgB/state', 'standby\n');
  await w(fake, 'device_groups/dg1/target_groups/tgB/mgmt', 'add remote_tgt');
  await w(fake, 'device_groups/dg1/target_groups/tgB/remote_tgt/rel_tgt_id', '2\n');
  await w(fake, `targets/iscsi/${TGT}/enabled`, '1');
  await w(fake, 'targets/iscsi/enabled', '1\n');
  fake.fs.writes.length = 0;
}

/** A fake with the reference's handlers (vcdrom, vdisk_fileio, vdisk_nullio) and the seeded state. */
export async function referenceFake(): Promise<FakeSysfs> {
  const fake = new FakeSysfs({ handlers: ['vcdrom', 'vdisk_fileio', 'vdisk_nullio'] });
  await seedReference(fake);
  return fake;
}
