// scst_local in user mode, as an administrator uses it with no network and no initiator: a local
// target and session made through targets/scst_local/mgmt, the session's LUN published as
// MOUNT/dev/scst_local/<target>/<session>/<lun>, loop-attached, formatted ext4, filled, checked
// with fsck, and its traffic counted in the session's sysfs counters. Loop devices and mounts
// are removed by what this file created (cleanup registry), whatever happens.
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks, onCleanup } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { detachLoop } from './helpers/loopdev.js';
import { describeRun, run, type RunResult } from './helpers/proc.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';
import { SCST_LOCAL_MGMT_HELP } from '../src/pde-fuse/sysfs/scst-local.js';

installHarnessHooks();

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

function sh(dir: string, script: string, timeoutMs = 60_000): Promise<RunResult> {
  return run('bash', ['-c', script], { cwd: dir, timeoutMs });
}

async function ok(dir: string, script: string, timeoutMs = 60_000): Promise<RunResult> {
  const r = await sh(dir, script, timeoutMs);
  expect(r.code, describeRun(script, r)).toBe(0);
  return r;
}

async function must(cmd: string, args: string[], timeoutMs = 120_000): Promise<RunResult> {
  const r = await run(cmd, args, { timeoutMs });
  expect(r.code, describeRun(`${cmd} ${args.join(' ')}`, r)).toBe(0);
  return r;
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('scst_local: a local session LUN as a file of this host', () => {
  let d: ScstdHandle;
  let work: string;
  let tree: string;
  let dev: string;

  beforeAll(async () => {
    work = await tmpDir('scst-local-');
    await sparseFile(join(work, 'd1.img'), SIZE);
    const config = `HANDLER vdisk_fileio {\n\tDEVICE disk1 {\n\t\tfilename ${work}/d1.img\n\t}\n}\n\nHANDLER vdisk_nullio {\n\tDEVICE null1 {\n\t\tsize_mb 16\n\t}\n}\n`;
    d = await startScstd({ config, extraArgs: ['--mount', join(work, 'mnt')] });
    tree = join(work, 'mnt', 'sys', 'kernel', 'scst_tgt');
    dev = join(work, 'mnt', 'dev', 'scst_local');
  }, 60_000);

  afterAll(async () => {
    const s = await d.stop();
    expect(s.code).toBe(0);
  });

  it('targets/scst_local: mgmt, version, stats; add_target with session_name; a target without enabled', async () => {
    expect((await ok(tree, 'cat targets/scst_local/mgmt')).stdout).toBe(SCST_LOCAL_MGMT_HELP);
    expect((await ok(tree, 'cat targets/scst_local/version')).stdout).toMatch(/^3\.11\.0-pre\/20110901\n/);
    expect((await ok(tree, 'cat targets/scst_local/stats')).stdout).toBe('Aborts: 0, Device Resets: 0, Target Resets: 0\n');
    await ok(tree, 'echo "add_target local1 session_name=host1" > targets/scst_local/mgmt');
    const t = 'targets/scst_local/local1';
    const ls = (await ok(tree, `ls ${t}`)).stdout.split('\n');
    expect(ls).toEqual(expect.arrayContaining(['luns', 'ini_groups', 'sessions', 'rel_tgt_id', 'addr_method', 'io_grouping_type', 'cpu_mask', 'scsi_transport_version', 'phys_transport_version']));
    expect(ls).not.toContain('enabled');
    expect((await ok(tree, `cat ${t}/scsi_transport_version ${t}/phys_transport_version ${t}/rel_tgt_id`)).stdout).toBe('0xbe0\n0x0\n0\n');
    const s = `${t}/sessions/host1`;
    expect((await ok(tree, `cat ${s}/initiator_name`)).stdout).toBe('host1\n');
    // The SAS TransportID scst_local generates (24 bytes, protocol 6, NAA-5 address).
    const tid = (await ok(tree, `od -An -tx1 -v ${s}/transport_id | tr -d ' \\n'`)).stdout;
    expect(tid).toMatch(/^060000005feede4[0-9a-f][0-9a-f]fade050(00){12}$/);
    expect((await ok(tree, `cat ${s}/host_no`)).stdout).toMatch(/^\d+\n$/);
    // Refusals change nothing and say why.
    for (const [cmd, err] of [
      ['add_session no-such-target s1', 'Invalid argument'],
      ['add_session local1', 'Invalid argument'],
      ['del_session local1 no-such-session', 'Invalid argument'],
      ['add_target local2 bogus=1', 'Invalid argument'],
      ['add_target local1', 'File exists'],
      ['del_target no-such-target', 'No such file or directory'],
    ] as const) {
      const r = await sh(tree, `echo "${cmd}" > targets/scst_local/mgmt`);
      expect(r.code, cmd).not.toBe(0);
      expect(r.stderr, cmd).toContain(err);
    }
    expect((await ok(tree, 'ls targets/scst_local')).stdout).toBe('local1\nmgmt\nstats\ntrace_level\nversion\n');
    // A second session of the same initiator name gets _1, as SCST names sessions.
    await ok(tree, 'echo "add_session local1 host1" > targets/scst_local/mgmt');
    expect((await ok(tree, `ls ${t}/sessions`)).stdout).toBe('host1\nhost1_1\n');
    await ok(tree, 'echo "del_session local1 host1" > targets/scst_local/mgmt');
    expect((await ok(tree, `ls ${t}/sessions`)).stdout).toBe('host1_1\n');
    await ok(tree, 'echo "del_target local1" > targets/scst_local/mgmt');
    expect((await ok(tree, 'ls targets/scst_local')).stdout).toBe('mgmt\nstats\ntrace_level\nversion\n');
  });

  it('a session sees its group LUN set; partial-block I/O through the file; past the end is refused', async () => {
    await ok(
      tree,
      [
        'echo "add_target local1 session_name=host1" > targets/scst_local/mgmt',
        'echo "add disk1 0" > targets/scst_local/local1/luns/mgmt',
        'echo "create ig" > targets/scst_local/local1/ini_groups/mgmt',
        'echo "add null1 3" > targets/scst_local/local1/ini_groups/ig/luns/mgmt',
        'echo "add host2" > targets/scst_local/local1/ini_groups/ig/initiators/mgmt',
        'echo "add_session local1 host2" > targets/scst_local/mgmt',
      ].join(' && '),
    );
    expect((await ok(dev, 'ls local1 local1/host1 local1/host2')).stdout).toBe('local1:\nhost1\nhost2\n\nlocal1/host1:\n0\n\nlocal1/host2:\n3\n');
    expect((await stat(join(dev, 'local1/host1/0'))).size).toBe(SIZE);
    expect((await stat(join(dev, 'local1/host2/3'))).size).toBe(16 * MiB);
    expect((await ok(tree, 'readlink targets/scst_local/local1/sessions/host2/luns')).stdout).toBe('../../ini_groups/ig/luns\n');
    // Unaligned writes and reads (read-modify-write of the blocks around them).
    const f = await open(join(dev, 'local1/host1/0'), 'r+');
    try {
      const a = randomBytes(3000);
      await f.write(a, 0, a.length, 1000);
      const back = Buffer.alloc(3000);
      await f.read(back, 0, 3000, 1000);
      expect(back.equals(a)).toBe(true);
      const edge = Buffer.alloc(10);
      const r = await f.read(edge, 0, 10, 999);
      expect(r.bytesRead).toBe(10);
      expect(edge[0]).toBe(0);
      expect(edge.subarray(1).equals(a.subarray(0, 9))).toBe(true);
      // At the end: a read returns nothing, a write has no room.
      expect((await f.read(Buffer.alloc(16), 0, 16, SIZE)).bytesRead).toBe(0);
      await expect(f.write(Buffer.alloc(512), 0, 512, SIZE)).rejects.toMatchObject({ code: 'ENOSPC' });
      await f.sync();
    } finally {
      await f.close();
    }
    // The backing file holds what was written, where it was written.
    const img = await readFile(join(work, 'd1.img'));
    const viaFile = Buffer.alloc(3000);
    const f2 = await open(join(dev, 'local1/host1/0'), 'r');
    await f2.read(viaFile, 0, 3000, 1000);
    await f2.close();
    expect(img.subarray(1000, 4000).equals(viaFile)).toBe(true);
  });

  it('losetup + mkfs.ext4 + mount + fill + umount + fsck.ext4 -fn on the LUN file; counters moved', async () => {
    const s = 'targets/scst_local/local1/sessions/host1';
    const counters = async () => {
      const out = (await ok(tree, `cat ${s}/read_cmd_count ${s}/write_cmd_count ${s}/read_io_count_kb ${s}/write_io_count_kb`)).stdout.trim().split('\n').map(Number);
      return { reads: out[0]!, writes: out[1]!, readKb: out[2]!, writeKb: out[3]! };
    };
    const before = await counters();
    const lunFile = join(dev, 'local1/host1/0');
    const r = await run('losetup', ['-f', '--show', '--direct-io=on', lunFile], { timeoutMs: 20_000 });
    const loop = r.stdout.trim();
    expect(r.code, describeRun('losetup', r)).toBe(0);
    expect(loop).toMatch(/^\/dev\/loop\d+$/);
    onCleanup(`losetup -d ${loop}`, () => detachLoop(loop));
    await must('mkfs.ext4', ['-q', '-F', loop]);
    const mnt = join(work, 'fs');
    await mkdir(mnt);
    await must('mount', [loop, mnt], 30_000);
    let mounted = true;
    onCleanup(`umount ${mnt}`, async () => {
      if (mounted) await run('umount', ['-l', mnt], { timeoutMs: 20_000 });
    });
    const data = randomBytes(8 * MiB);
    await writeFile(join(mnt, 'random.bin'), data);
    await ok(mnt, 'mkdir tree && for i in $(seq 1 200); do echo "file $i" > tree/f$i; done && cp -r tree tree2 && sync');
    await must('umount', [mnt], 30_000);
    mounted = false;
    const fsck = await must('fsck.ext4', ['-fn', loop]);
    expect(fsck.stdout + fsck.stderr).toMatch(/clean|files/);
    // Mounted again read-only, the data is what was written.
    await must('mount', ['-o', 'ro', loop, mnt], 30_000);
    mounted = true;
    expect(md5(await readFile(join(mnt, 'random.bin')))).toBe(md5(data));
    expect(await readFile(join(mnt, 'tree2', 'f200'), 'utf8')).toBe('file 200\n');
    await must('umount', [mnt], 30_000);
    mounted = false;
    await detachLoop(loop);
    const after = await counters();
    expect(after.writes).toBeGreaterThan(before.writes);
    expect(after.reads).toBeGreaterThan(before.reads);
    expect(after.writeKb - before.writeKb).toBeGreaterThanOrEqual(8 * 1024);
    expect(after.readKb - before.readKb).toBeGreaterThanOrEqual(8 * 1024);
    // The target's counters are the sum over its sessions.
    expect(Number((await ok(tree, 'cat targets/scst_local/local1/write_cmd_count')).stdout)).toBeGreaterThanOrEqual(after.writes);
  }, 240_000);

  it('del_session while idle: the session and its dev/ directory go', async () => {
    await ok(tree, 'echo "del_session local1 host2" > targets/scst_local/mgmt');
    expect((await ok(dev, 'ls local1')).stdout).toBe('host1\n');
    expect((await ok(tree, 'ls targets/scst_local/local1/sessions')).stdout).toBe('host1\n');
  });
});
