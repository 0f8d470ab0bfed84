// /sys/kernel/scst_tgt through FUSE, driven as an administrator does: bash, echo, cat, ls -l and
// readlink in child processes on the mounted tree; then real initiators (libiscsi's iscsi-ls and
// iscsi-inq, qemu-io) see exactly what was configured.
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { iscsiInq, iscsiLs, qemuIo, describeQemu } from './helpers/initiators.js';
import { attachLoop } from './helpers/loopdev.js';
import { describeRun, run, track, type RunResult } from './helpers/proc.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';
import { kernfsOrder } from '../src/pde-fuse/sysfs/attr.js';
import { spawn } from 'node:child_process';

installHarnessHooks();

const MiB = 1024 * 1024;
const T = 'iqn.2026-11.test:sysfs';
const INI = 'iqn.2026-11.test:sysfs-ini';
const OTHER = 'iqn.2026-11.test:someone-else';
const NO_TARGETS = '# targets come from the sysfs tree\n';

function sh(dir: string, script: string): Promise<RunResult> {
  return run('bash', ['-c', script], { cwd: dir, timeoutMs: 30_000 });
}

async function ok(dir: string, script: string): Promise<RunResult> {
  const r = await sh(dir, script);
  expect(r.code, describeRun(script, r)).toBe(0);
  return r;
}

/** Every file below the tree (cat) and every link (readlink), except the last-result file. */
async function dumpTree(dir: string): Promise<string> {
  const script =
    'find . \\( -type f -o -type l \\) ! -name last_sysfs_mgmt_res | LC_ALL=C sort | while read -r f; do echo "== $f"; if [ -L "$f" ]; then readlink "$f"; else cat "$f" 2>&1 || true; fi; done';
  const r = await run('bash', ['-c', script], { cwd: dir, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(describeRun('dump tree', r));
  return r.stdout;
}

describe('sysfs through FUSE', () => {
  let d: ScstdHandle;
  let tree: string;
  let proc: string;
  let work: string;

  beforeAll(async () => {
    work = await tmpDir('scst-sysfs-');
    d = await startScstd({ config: NO_TARGETS, extraArgs: ['--mount', join(work, 'mnt')] });
    tree = join(work, 'mnt', 'sys', 'kernel', 'scst_tgt');
    proc = join(work, 'mnt', 'proc', 'scsi_tgt');
  }, 60_000);

  afterAll(async () => {
    const s = await d.stop();
    expect(s.code).toBe(0);
  });

  it('publishes sys/kernel/scst_tgt beside proc/scsi_tgt with sysfs modes and kernfs order', async () => {
    const r = await ok(tree, 'ls -l . handlers/vdisk_fileio targets/iscsi');
    // ls pads the link counts to the widest in a listing (handlers/ has 10 links).
    expect(r.stdout).toMatch(/^-r--r--r-- +1 root root 4096 .* version$/m);
    expect(r.stdout).toMatch(/^-rw-r--r-- +1 root root 4096 .* threads$/m);
    expect(r.stdout).toMatch(/^drwxr-xr-x +\d+ root root +0 .* handlers$/m);
    expect(r.stdout).toMatch(/^-rw-r--r-- +1 root root 4096 .* mgmt$/m);
    expect(r.stdout).toMatch(/^-rw-r--r-- +1 root root 4096 .* enabled$/m);
    const listed = (await ok(tree, 'ls -f .')).stdout.split('\n').filter(Boolean);
    expect(listed.slice(0, 2)).toEqual(['.', '..']);
    expect(listed.slice(2)).toEqual(kernfsOrder(listed.slice(2).map((n) => [n, 0] as const)).map(([n]) => n));
    expect((await ok(proc, 'cat version')).stdout).toMatch(/-procfs\n/);
    const v = await ok(tree, 'head -1 version; cat last_sysfs_mgmt_res');
    expect(v.stdout).toMatch(/^SCST version: \d+\.\d+\.\d+.*\n0\n$/);
    // Read-only files refuse a write open even for root; write-only ones a read open.
    const e = await sh(tree, 'echo 1 > version');
    expect(e.stderr).toMatch(/Permission denied/);
    expect((await sh(tree, 'touch newfile')).code).not.toBe(0);
  });

  it('configured through echo, an initiator sees exactly that', async () => {
    const disk = await sparseFile(join(work, 'disk1.img'), 64 * MiB);
    const blk = await attachLoop(await sparseFile(join(work, 'blk.img'), 32 * MiB));
    const iso = join(work, 'cd.iso');
    await writeFile(iso, Buffer.alloc(2 * MiB));
    const tg = `targets/iscsi/${T}`;
    await ok(
      tree,
      [
        `echo "add_device disk1 filename=${disk}; nv_cache=1" > handlers/vdisk_fileio/mgmt`,
        'echo "add_device null1 size_mb=32;blocksize=4096" > handlers/vdisk_nullio/mgmt',
        `echo "add_device blk1 filename=${blk}" > handlers/vdisk_blockio/mgmt`,
        'echo "add_device cd1" > handlers/vcdrom/mgmt',
        `echo "${iso}" > devices/cd1/filename`,
        'echo ACME > devices/disk1/t10_vend_id',
        'echo SysfsDisk > devices/disk1/prod_id',
        `echo "add_target ${T}" > targets/iscsi/mgmt`,
        `echo "add disk1 0" > ${tg}/luns/mgmt`,
        `echo "add null1 1 read_only=1" > ${tg}/luns/mgmt`,
        `echo "create G" > ${tg}/ini_groups/mgmt`,
        `echo "add ${INI}" > ${tg}/ini_groups/G/initiators/mgmt`,
        `echo "add blk1 0" > ${tg}/ini_groups/G/luns/mgmt`,
        `echo "add cd1 3" > ${tg}/ini_groups/G/luns/mgmt`,
        `echo CRC32C > ${tg}/HeaderDigest`,
        `echo 1 > ${tg}/enabled`,
        'echo 1 > targets/iscsi/enabled',
      ].join(' && '),
    );
    const r = await ok(tree, `cat devices/disk1/filename devices/cd1/filename ${tg}/rel_tgt_id ${tg}/HeaderDigest ${tg}/luns/1/read_only; readlink devices/disk1/handler ${tg}/ini_groups/G/luns/0/device; ls devices/disk1/exported`);
    // export0 is the LUN the copy manager gave disk1 when it was added, export1 the target's.
    expect(r.stdout).toBe(`${disk}\n[key]\n\n${iso}\n[key]\n\n1\n[key]\nCRC32C\n[key]\n\n1\n[key]\n../../handlers/vdisk_fileio\n../../../../../../../devices/blk1\nexport0\nexport1\n`);
    const cm = await ok(tree, 'ls targets/copy_manager targets/copy_manager/copy_manager_tgt/luns; readlink targets/copy_manager/copy_manager_tgt/luns/3/device devices/cd1/exported/export0');
    expect(cm.stdout).toBe('targets/copy_manager:\nallow_not_connected_copy\ncopy_manager_tgt\ndif_capabilities\n\ntargets/copy_manager/copy_manager_tgt/luns:\n0\n1\n2\n3\nmgmt\n../../../../../devices/cd1\n../../../targets/copy_manager/copy_manager_tgt/luns/3\n');

    const port = d.ports[0]!;
    const mine = await iscsiLs({ port }, { initiator: INI, showLuns: true });
    expect(mine.targets.map((t) => [t.name, t.luns.map((l) => [l.lun, l.type])]), describeRun('iscsi-ls', mine.run)).toEqual([
      [
        T,
        [
          [0, 'DIRECT_ACCESS'],
          [3, 'MMC'],
        ],
      ],
    ]);
    const other = await iscsiLs({ port }, { initiator: OTHER, showLuns: true });
    expect(other.targets.map((t) => t.luns.map((l) => [l.lun, l.type]))).toEqual([
      [
        [0, 'DIRECT_ACCESS'],
        [1, 'DIRECT_ACCESS'],
      ],
    ]);
    const inq = await iscsiInq({ port, target: T, lun: 0, initiator: OTHER });
    expect(inq.get('Vendor:')?.trim() ?? inq.get('Vendor')?.trim()).toBe('ACME');
    expect(inq.get('Product')?.trim()).toBe('SysfsDisk');
    // The target's HeaderDigest applies to new sessions; LUN 1 was mapped read-only.
    const io = await qemuIo({ port, target: T, lun: 0 }, ['write -P 0x5a 0 64k', 'read -P 0x5a 0 64k'], { initiator: OTHER, headerDigest: 'crc32c' });
    expect(io.ok, describeQemu(io)).toBe(true);
    const refused = await qemuIo({ port, target: T, lun: 1 }, ['write -P 0x5a 0 4k'], { initiator: OTHER, headerDigest: 'crc32c' });
    expect(refused.ok).toBe(false);
  });

  it('CHAP accounts added through mgmt apply to new logins', async () => {
    await ok(tree, `echo "add_target_attribute ${T} IncomingUser joe 12charsecret" > targets/iscsi/mgmt`);
    expect((await ok(tree, `ls -l targets/iscsi/${T}/IncomingUser; cat targets/iscsi/${T}/IncomingUser`)).stdout).toMatch(/^-rw------- 1 root root 4096 .*IncomingUser\njoe 12charsecret\n\[key\]\n\n$/);
    const port = d.ports[0]!;
    const anon = await iscsiInq({ port, target: T, lun: 0, initiator: OTHER });
    expect(anon.run.code).not.toBe(0);
    const joe = await iscsiInq({ port, target: T, lun: 0, initiator: OTHER, user: 'joe', password: '12charsecret' });
    expect(joe.run.code, describeRun('iscsi-inq', joe.run)).toBe(0);
    await ok(tree, `echo "del_target_attribute ${T} IncomingUser joe" > targets/iscsi/mgmt`);
    expect((await iscsiInq({ port, target: T, lun: 0, initiator: OTHER })).run.code).toBe(0);
  });

  it('refuses bad commands with the reference errno and changes nothing', async () => {
    const tg = `targets/iscsi/${T}`;
    const before = await dumpTree(tree);
    const bad: Array<[string, string]> = [
      ['echo "add_device" > handlers/vdisk_fileio/mgmt', 'Invalid argument'],
      ['echo "add_device disk1 filename=/x" > handlers/vdisk_fileio/mgmt', 'File exists'],
      ['echo "add_device d9 filename=/nonexistent/x.img" > handlers/vdisk_fileio/mgmt', 'No such file or directory'],
      ['echo "add_device d9 filename=/tmp/x;frob=1" > handlers/vdisk_fileio/mgmt', 'Invalid argument'],
      ['echo "del_device nosuch" > handlers/vdisk_fileio/mgmt', 'Invalid argument'],
      [`echo "add_target ${T}" > targets/iscsi/mgmt`, 'File exists'],
      ['echo "del_target nosuch" > targets/iscsi/mgmt', 'No such file or directory'],
      [`echo "add disk1 0" > ${tg}/luns/mgmt`, 'File exists'],
      [`echo "add nosuch 5" > ${tg}/luns/mgmt`, 'Invalid argument'],
      [`echo "add disk1 16384" > ${tg}/luns/mgmt`, 'Invalid argument'],
      [`echo "del 9" > ${tg}/luns/mgmt`, 'Invalid argument'],
      [`echo "create G" > ${tg}/ini_groups/mgmt`, 'File exists'],
      [`echo "add ${INI}" > ${tg}/ini_groups/G/initiators/mgmt`, 'File exists'],
      [`echo "move ${INI} nosuch" > ${tg}/ini_groups/G/initiators/mgmt`, 'Invalid argument'],
      [`echo x > ${tg}/addr_method`, 'Invalid argument'],
      [`echo 70000 > ${tg}/rel_tgt_id`, 'Invalid argument'],
      [`echo 4096 > ${tg}/QueuedCommands`, 'Invalid argument'],
      ['echo 0 > threads', 'Invalid argument'],
      ['echo 1 > devices/disk1/read_only', 'Permission denied'],
      ['echo 1000 > devices/disk1/opt_trans_len', 'Invalid argument'],
      ['echo "frob" > device_groups/mgmt', 'Invalid argument'],
    ];
    for (const [cmd, err] of bad) {
      const r = await sh(tree, cmd);
      expect(r.code, `${cmd}\n${describeRun(cmd, r)}`).not.toBe(0);
      expect(r.stderr, cmd).toMatch(new RegExp(`(write error|${cmd.split(' ').at(-1)}): ${err}`));
    }
    expect(await dumpTree(tree)).toEqual(before);
    expect((await ok(tree, 'cat last_sysfs_mgmt_res')).stdout).toBe('-22\n');
  });

  it('sessions: counters, LUN link and connection details; force_close ends one', async () => {
    const port = d.ports[0]!;
    const holder = track(spawn('qemu-io', ['--image-opts', '-c', 'read 0 64k', '-c', 'sleep 15000', `driver=iscsi,transport=tcp,portal=127.0.0.1:${port},target=${T},lun=0,initiator-name=${INI}`], { stdio: 'ignore' }));
    try {
      const s = `targets/iscsi/${T}/sessions/${INI}`;
      let listed = '';
      for (let i = 0; i < 100 && !listed.includes(INI); i++) {
        listed = (await sh(tree, `ls targets/iscsi/${T}/sessions`)).stdout;
        if (!listed.includes(INI)) await new Promise((r) => setTimeout(r, 100));
      }
      const r = await ok(tree, `cat ${s}/initiator_name ${s}/read_cmd_count ${s}/HeaderDigest; readlink ${s}/luns; ls ${s}; cat ${s}/127.0.0.1/ip; echo; cat ${s}/127.0.0.1/transport ${s}/127.0.0.1/state`);
      const lines = r.stdout.split('\n');
      expect(lines[0]).toBe(INI);
      expect(Number(lines[1])).toBeGreaterThan(0);
      // HeaderDigest CRC32C, set before this login, is what it negotiated.
      expect(lines[2]).toBe('CRC32C');
      expect(lines[3]).toBe('../../ini_groups/G/luns');
      expect(r.stdout).toMatch(/^lun0$/m);
      expect(r.stdout).toMatch(/^lun3$/m);
      expect(r.stdout).toMatch(/^127\.0\.0\.1\niSCSI-TCP\nestablished idle $/m);
      expect((await ok(proc, 'cat sessions')).stdout).toContain(INI);
      await ok(tree, `echo 1 > ${s}/force_close && echo None > targets/iscsi/${T}/HeaderDigest`);
      // The target drops the connection (libiscsi then logs in again by itself).
      await d.waitForLog(/dropping connection: force_close through sysfs/, 5_000);
    } finally {
      holder.kill('SIGKILL');
    }
    for (let i = 0; i < 50 && (await sh(tree, `ls targets/iscsi/${T}/sessions`)).stdout.includes(INI); i++) await new Promise((r2) => setTimeout(r2, 100));
    expect((await ok(tree, `ls targets/iscsi/${T}/sessions`)).stdout).not.toContain(INI);
  });

  it('a change through procfs shows in sysfs and back', async () => {
    await ok(proc, 'echo "open p1 /dev/zero 512 NULLIO" > vdisk/vdisk && echo "set_t10_dev_id p1 PROC-ID" > vdisk/vdisk');
    expect((await ok(tree, 'readlink handlers/vdisk_nullio/p1; cat devices/p1/t10_dev_id')).stdout).toBe('../../devices/p1\nPROC-ID\n');
    await ok(tree, 'echo "add_device s1 size_mb=8" > handlers/vdisk_nullio/mgmt && echo SYS-ID > devices/s1/t10_dev_id && echo 3 > threads');
    const pr = await ok(proc, 'cat vdisk/vdisk threads');
    expect(pr.stdout).toMatch(/^s1 +8 +512 +NIO .*SYS-ID *$/m);
    expect(pr.stdout.endsWith('3\n')).toBe(true);
    await ok(proc, 'echo "close s1" > vdisk/vdisk');
    expect((await sh(tree, 'ls devices/s1')).code).not.toBe(0);
  });

  it('device groups: ALUA state through the tree', async () => {
    await ok(
      tree,
      [
        'echo "create dg" > device_groups/mgmt',
        'echo "add disk1" > device_groups/dg/devices/mgmt',
        'echo "create tg" > device_groups/dg/target_groups/mgmt',
        'echo 1 > device_groups/dg/target_groups/tg/group_id',
        `echo "add ${T}" > device_groups/dg/target_groups/tg/mgmt`,
        'echo standby > device_groups/dg/target_groups/tg/state',
      ].join(' && '),
    );
    const r = await ok(tree, `cat device_groups/dg/target_groups/tg/state device_groups/dg/target_groups/tg/group_id; readlink device_groups/dg/devices/disk1 device_groups/dg/target_groups/tg/${T}; cat device_groups/dg/target_groups/tg/${T}/rel_tgt_id`);
    expect(r.stdout).toBe(`standby\n[key]\n1\n[key]\n../../../devices/disk1\n../../../../targets/iscsi/${T}\n1\n[key]\n`);
    await ok(tree, 'echo "del dg" > device_groups/mgmt');
  });
});

describe('sysfs asynchronous convention', () => {
  it('EAGAIN to the writer, then last_sysfs_mgmt_res reports the outcome', async () => {
    const work = await tmpDir('scst-sysfs-eagain-');
    process.env.SCSTD_SYSFS_WAIT_MS = '0';
    let d: ScstdHandle;
    try {
      d = await startScstd({ config: NO_TARGETS, extraArgs: ['--mount', join(work, 'mnt')] });
    } finally {
      delete process.env.SCSTD_SYSFS_WAIT_MS;
    }
    const tree = join(work, 'mnt', 'sys', 'kernel', 'scst_tgt');
    const w = await sh(tree, 'echo "add_device n1 size_mb=4" > handlers/vdisk_nullio/mgmt');
    expect(w.stderr).toMatch(/write error: Resource temporarily unavailable/);
    // The client protocol: poll the result file until it no longer answers EAGAIN.
    const poll = await ok(tree, 'for i in $(seq 50); do if v=$(cat last_sysfs_mgmt_res 2>/dev/null); then echo "$v"; exit 0; fi; sleep 0.1; done; exit 1');
    expect(poll.stdout).toBe('0\n');
    expect((await ok(tree, 'cat devices/n1/size_mb')).stdout).toBe('4\n');
    await sh(tree, 'echo "add_device n1" > handlers/vdisk_nullio/mgmt');
    const fail = await ok(tree, 'for i in $(seq 50); do if v=$(cat last_sysfs_mgmt_res 2>/dev/null); then echo "$v"; exit 0; fi; sleep 0.1; done; exit 1');
    expect(fail.stdout).toBe('-17\n');
    expect((await d!.stop()).code).toBe(0);
  });
});
