// /proc/scsi_tgt through FUSE, driven the way an administrator does it: real bash, echo, cat and
// ls in child processes on the mounted tree, then a real initiator (libiscsi's iscsi-ls).
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { iscsiInq, iscsiLs } from './helpers/initiators.js';
import { backgroundIo } from './helpers/workload.js';
import { attachLoop } from './helpers/loopdev.js';
import { describeRun, run, type RunResult } from './helpers/proc.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';
import { catTree, killedFuseServer, procfsConfig } from './helpers/procfs-mount.js';

installHarnessHooks();

const MiB = 1024 * 1024;
const TARGET = 'iqn.2026-11.test:procfs';
const INI = 'iqn.2026-11.test:procfs-ini';
const OTHER = 'iqn.2026-11.test:someone-else';

/** bash -c in the tree directory; bash, because its echo reports `write error: <strerror>`. */
function sh(dir: string, script: string): Promise<RunResult> {
  return run('bash', ['-c', script], { cwd: dir, timeoutMs: 30_000 });
}

async function ok(dir: string, script: string): Promise<RunResult> {
  const r = await sh(dir, script);
  expect(r.code, describeRun(script, r)).toBe(0);
  return r;
}

describe('procfs through FUSE', () => {
  let d: ScstdHandle;
  let tree: string;
  let work: string;

  beforeAll(async () => {
    work = await tmpDir('scst-procfs-');
    d = await startScstd({ config: procfsConfig(TARGET), extraArgs: ['--mount', join(work, 'mnt')] });
    tree = join(work, 'mnt', 'proc', 'scsi_tgt');
  }, 60_000);

  it('publishes the tree with procfs modes and owner', async () => {
    const r = await ok(tree, 'ls -l . groups groups/Default vdisk vcdrom iscsi');
    expect(r.stdout).toMatch(/^-rw-r--r-- 1 root root 0 .* scsi_tgt$/m);
    expect(r.stdout).toMatch(/^-r--r--r-- 1 root root 0 .* version$/m);
    expect(r.stdout).toMatch(/^dr-xr-xr-x \d+ root root 0 .* groups$/m);
    expect(r.stdout).toMatch(/^-rw-r--r-- 1 root root 0 .* devices$/m);
    expect(r.stdout).toMatch(/^-r--r--r-- 1 root root 0 .* session$/m);
    expect((await sh(tree, 'cat iscsi/type')).code).not.toBe(0); // scstadmin probes this: ENOENT
    const v = await ok(tree, 'cat vdisk/type vcdrom/type');
    expect(v.stdout).toBe('0 - Direct-access device (e.g., magnetic disk)\n5 - CD-ROM device\n');
  });

  it('opens vdisks, builds a group, and an initiator sees exactly its LUNs', async () => {
    const file = await sparseFile(join(work, 'disk1.img'), 64 * MiB);
    const blk = await attachLoop(await sparseFile(join(work, 'blk.img'), 32 * MiB));
    const iso = join(work, 'cd.iso');
    await writeFile(iso, Buffer.alloc(2 * MiB));
    await ok(
      tree,
      [
        `echo "open disk1 ${file}" > vdisk/vdisk`,
        'echo "open null1 /dev/zero 4096 NULLIO" > vdisk/vdisk',
        `echo "open blk1 ${blk} BLOCKIO" > vdisk/vdisk`,
        `echo "open cd1 ${iso}" > vcdrom/vcdrom`,
        'echo "set_t10_dev_id disk1 D1 with spaces" > vdisk/vdisk',
        'echo "add_group g1" > scsi_tgt',
        `echo "add ${INI}" > groups/g1/names`,
        'echo "add disk1 0" > groups/g1/devices',
        'echo "add null1 1 READ_ONLY" > groups/g1/devices',
        'echo "add blk1 0x2" > groups/g1/devices',
        'echo "add cd1 010" >> groups/g1/devices',
      ].join(' && '),
    );
    const pad = (s: string | number, n: number) => String(s).padEnd(n);
    const r = await ok(tree, 'cat scsi_tgt groups/g1/devices groups/g1/names vcdrom/vcdrom');
    expect(r.stdout).toBe(
      `${pad('Device (host:ch:id:lun or name)', 60)}Device handler\n` +
        `${pad('disk1', 60)}vdisk_fileio\n${pad('null1', 60)}vdisk_nullio\n${pad('blk1', 60)}vdisk_blockio\n${pad('cd1', 60)}vcdrom\n` +
        `${pad('Device (host:ch:id:lun or name)', 60)}${pad('LUN', 13)}Options\n` +
        `${pad('disk1', 60)}${pad(0, 13)}\n${pad('null1', 60)}${pad(1, 13)}RO\n${pad('blk1', 60)}${pad(2, 13)}\n${pad('cd1', 60)}${pad(8, 13)}\n` +
        `${INI}\n` +
        `${pad('Name', 17)} ${pad('Size(MB)', 9)} File name\n${pad('cd1', 17)} ${pad(2, 9)} ${iso}\n`,
    );
    const vd = await ok(tree, 'cat vdisk/vdisk');
    const rows = vd.stdout.split('\n');
    expect(rows[1]).toBe(`${pad('disk1', 17)} ${pad(64, 11)} ${pad(512, 12)}${pad('', 16)}${pad(file, 45)} ${pad('D1 with spaces', 16)}`);
    expect(rows[2]).toMatch(/^null1 {13}2621440 {5}4096 {8}NIO {13}\/dev\/zero {37}[0-9a-f]+-null1 +$/);
    expect(rows[3]).toMatch(new RegExp(`^blk1 {14}32 {10}512 {9}BIO {13}${blk.replace(/\//g, '\\/')} +[0-9a-f]+-blk1 +$`));

    const mine = await iscsiLs({ port: d.ports[0]! }, { initiator: INI, showLuns: true });
    expect(mine.run.code, describeRun('iscsi-ls', mine.run)).toBe(0);
    expect(mine.targets.map((t) => t.name)).toEqual([TARGET]);
    expect(mine.targets[0]!.luns.map((l) => [l.lun, l.type])).toEqual([
      [0, 'DIRECT_ACCESS'],
      [1, 'DIRECT_ACCESS'],
      [2, 'DIRECT_ACCESS'],
      [8, 'MMC'],
    ]);
    // Default has no LUN, so anyone else is not let in (procfs.md §6.6).
    const other = await iscsiLs({ port: d.ports[0]! }, { initiator: OTHER, showLuns: true });
    expect(other.targets).toEqual([]);
  });

  it('refuses bad commands with the reference errno and changes nothing', async () => {
    const before = await catTree(tree);
    const bad: Array<[string, string]> = [
      ['echo "bogus" > scsi_tgt', 'Invalid argument'],
      ['echo "add_group" > scsi_tgt', 'Invalid argument'],
      ['echo "add_group g1" > scsi_tgt', 'Invalid argument'],
      ['echo "add_group Default" > scsi_tgt', 'Invalid argument'],
      ['echo "add_group g2 WIDE" > scsi_tgt', 'Invalid argument'],
      ['echo "del_group nosuch" > scsi_tgt', 'Invalid argument'],
      ['echo "rename_group nosuch x" > scsi_tgt', 'Invalid argument'],
      ['echo "assign 1:0:0:0 dev_disk" > scsi_tgt', 'Invalid argument'],
      ['echo "add disk1" > groups/g1/devices', 'Invalid argument'],
      ['echo "add nodev 5" > groups/g1/devices', 'Invalid argument'],
      ['echo "add disk1 1" > groups/g1/devices', 'File exists'],
      ['echo "add disk1 16384" > groups/g1/devices', 'Invalid argument'],
      ['echo "add disk1 9 RW" > groups/g1/devices', 'Invalid argument'],
      ['echo "frob disk1 9" > groups/g1/devices', 'Invalid argument'],
      [`echo "add ${INI}" > groups/g1/names`, 'File exists'],
      ['echo "del nobody" > groups/g1/names', 'Invalid argument'],
      ['echo "add a b" > groups/g1/names', 'Invalid argument'],
      [`echo "move ${INI} nosuch" > groups/g1/names`, 'Invalid argument'],
      ['echo "open disk1 /tmp/x" > vdisk/vdisk', 'File exists'],
      ['echo "open d9" > vdisk/vdisk', 'Invalid argument'],
      ['echo "open d9 relative.img" > vdisk/vdisk', 'Invalid argument'],
      ['echo "open d9 /nonexistent/file.img" > vdisk/vdisk', 'No such file or directory'],
      ['echo "open d9 /dev/zero 512 FAST" > vdisk/vdisk', 'Invalid argument'],
      ['echo "OPEN d9 /dev/zero" > vdisk/vdisk', 'Invalid argument'],
      ['echo "close nosuch" > vdisk/vdisk', 'Invalid argument'],
      ['echo "close cd1" > vdisk/vdisk', 'Invalid argument'],
      ['echo "resync_size null1" > vdisk/vdisk', 'Invalid argument'],
      ['echo "set_t10_dev_id disk1" > vdisk/vdisk', 'Invalid argument'],
      ['echo "change nosuch /tmp/x" > vcdrom/vcdrom', 'Invalid argument'],
      ['echo "change cd1 relative.iso" > vcdrom/vcdrom', 'Invalid argument'],
      ['echo "0" > threads', 'Invalid argument'],
      ['echo "-3" > threads', 'Invalid argument'],
      ['echo "frob" > trace_level', 'Invalid argument'],
      ['echo "add nosuchtoken" > trace_level', 'Invalid argument'],
      ['echo "x" > version', 'Input/output error'],
      [`printf '%4000s' x > scsi_tgt`, 'Value too large for defined data type'],
    ];
    for (const [cmd, err] of bad) {
      const r = await sh(tree, cmd);
      expect(r.code, `${cmd}\n${describeRun(cmd, r)}`).not.toBe(0);
      expect(r.stderr, cmd).toContain(`write error: ${err}`);
    }
    const after = await catTree(tree);
    expect(after).toEqual(before);
    // The daemon logged what was wrong.
    await d.waitForLog(/acg name g1 exist/, 2_000);
    await d.waitForLog(/Device nodev not found/, 2_000);
  });

  it('lets anyone read but only root write (procfs modes through default_permissions)', async () => {
    const asNobody = (cmd: string) => sh(tree, `setpriv --reuid=65534 --regid=65534 --clear-groups bash -c '${cmd}'`);
    const r = await asNobody('cat threads');
    expect(r.stdout, describeRun('cat as nobody', r)).toBe('1\n');
    const w = await asNobody('echo 4 > threads');
    expect(w.code).not.toBe(0);
    expect(w.stderr).toMatch(/Permission denied/);
    expect((await ok(tree, 'cat threads')).stdout).toBe('1\n');
  });

  it('deletes a group in use only after its initiator has left', async () => {
    await ok(tree, 'echo "add_group g3" > scsi_tgt && echo "rename_group g3 g4" > scsi_tgt && echo "del_group g4" > scsi_tgt');
    expect((await ok(tree, 'ls groups')).stdout).toBe('Default\ng1\n');
    // Nobody is logged in now (iscsi-ls logs out), so g1 may go and come back.
    await ok(tree, 'echo "clear" > groups/g1/devices && echo "clear" > groups/g1/names && echo "del_group g1" > scsi_tgt');
    expect((await ok(tree, 'ls groups; cat sessions')).stdout).toBe(
      'Default\n' + `${'Target name'.padEnd(20)} ${'Initiator name'.padEnd(45)} ${'Group name'.padEnd(35)} Active/All Commands Count\n`,
    );
  });
});

describe('procfs mount lifecycle', () => {
  it('a kill -9 leaves no unusable mount point, and a stale mount is cleaned at the next start', async () => {
    const work = await tmpDir('scst-procfs-kill-');
    const mnt = join(work, 'mnt');
    const first = await startScstd({ config: procfsConfig(TARGET), extraArgs: ['--mount', mnt] });
    await ok(join(mnt, 'proc', 'scsi_tgt'), 'echo "add_group before_kill" > scsi_tgt');
    await first.kill9();
    // Whatever the kill left behind, the next daemon must come up on the same directory.
    const second = await startScstd({ config: procfsConfig(TARGET), extraArgs: ['--mount', mnt] });
    expect((await ok(join(mnt, 'proc', 'scsi_tgt'), 'ls groups')).stdout).toBe('Default\n');
    await second.stop();
    expect((await ok(work, `grep -c " ${mnt}/proc " /proc/self/mountinfo || true`)).stdout.trim()).toBe('0');

    // A FUSE server killed without auto-unmount leaves a dead mount (ENOTCONN) behind.
    await killedFuseServer(join(mnt, 'proc'));
    expect((await sh(work, `ls ${mnt}/proc`)).stderr).toMatch(/Transport endpoint is not connected/);
    const third = await startScstd({ config: procfsConfig(TARGET), extraArgs: ['--mount', mnt] });
    await third.waitForLog(/cleaned stale FUSE mount/, 2_000);
    expect((await ok(join(mnt, 'proc', 'scsi_tgt'), 'cat threads')).stdout).toBe('1\n');
    const stopped = await third.stop();
    expect(stopped.code).toBe(0);
  });
});

describe('procfs with iscsi-scstd.conf targets', () => {
  it('CHAP accounts from iscsi-scstd.conf, LUNs from the tree', async () => {
    const work = await tmpDir('scst-procfs-chap-');
    const conf = join(work, 'iscsi-scstd.conf');
    await writeFile(conf, `IncomingUser disc 123456789012\nTarget ${TARGET}\n\tIncomingUser joe 12charsecret;QueuedCommands=64\n\tLun 0 Path=/dev/null\n`);
    const d = await startScstd({ config: '# no scst.conf targets\n', extraArgs: ['--mount', join(work, 'mnt'), '--iscsi-conf', conf] });
    await d.waitForLog(/Unknown or unexpected param: Lun/, 2_000);
    const tree = join(work, 'mnt', 'proc', 'scsi_tgt');
    await ok(tree, 'echo "open n1 /dev/zero 512 NULLIO" > vdisk/vdisk && echo "add n1 0" > groups/Default/devices');
    // Discovery takes the global account; the target its own (a discovery account cannot log in).
    const disc = await iscsiLs({ port: d.ports[0]!, user: 'disc', password: '123456789012' }, { initiator: INI });
    expect(disc.targets.map((t) => t.name), describeRun('iscsi-ls', disc.run)).toEqual([TARGET]);
    const wrong = await iscsiLs({ port: d.ports[0]!, user: 'disc', password: '123456789012' }, { initiator: INI, showLuns: true });
    expect(wrong.run.stdout).toMatch(/Authentication failure/);
    const inq = await iscsiInq({ port: d.ports[0]!, target: TARGET, lun: 0, user: 'joe', password: '12charsecret', initiator: INI });
    expect(inq.run.code, describeRun('iscsi-inq', inq.run)).toBe(0);
    expect(inq.get('Product')?.trim()).toBe('n1');
    expect((await ok(tree, 'cat iscsi/session')).stdout).toBe(`tid:1 name:${TARGET}\n`);
  });
});

describe('procfs under load', () => {
  it('cat of every file while 4 initiators run I/O: well-formed content, and I/O goes on', async () => {
    const work = await tmpDir('scst-procfs-load-');
    const d = await startScstd({ config: procfsConfig(TARGET), extraArgs: ['--mount', join(work, 'mnt')] });
    const tree = join(work, 'mnt', 'proc', 'scsi_tgt');
    const setup: string[] = [];
    for (let i = 0; i < 4; i++) {
      const f = await sparseFile(join(work, `d${i}.img`), 16 * MiB);
      setup.push(`echo "open d${i} ${f}" > vdisk/vdisk`, `echo "add_group g${i}" > scsi_tgt`, `echo "add ${INI}-${i}" > groups/g${i}/names`, `echo "add d${i} 0" > groups/g${i}/devices`);
    }
    await ok(tree, setup.join(' && '));
    const io = [0, 1, 2, 3].map((i) => backgroundIo({ port: d.ports[0]!, target: TARGET, lun: 0, initiator: `${INI}-${i}` }, { span: 1 * MiB, chunk: 64 * 1024, maxBatches: 1_000 }));
    try {
      const sessionRow = new RegExp(`^iscsi {16}${INI.replace(/[.]/g, '\\.')}-\\d +g\\d +\\d+/\\d+$`);
      let seenSessions = 0;
      for (let round = 0; round < 15; round++) {
        const all = await catTree(tree);
        expect(all).not.toContain('<cat failed>');
        const sessions = all.split('== ./sessions\n')[1]!.split('== ')[0]!.split('\n').slice(1, -1);
        for (const row of sessions) expect(row).toMatch(sessionRow);
        seenSessions = Math.max(seenSessions, sessions.length);
        const sgv = all.split('== ./sgv\n')[1]!.split('== ')[0]!;
        expect(sgv.split('\n').length).toBe(21);
        const iscsiSess = all.split('== ./iscsi/session\n')[1]!.split('== ')[0]!;
        for (const line of iscsiSess.split('\n').slice(1, -1)) expect(line).toMatch(/^\tsid:[0-9a-f]+ initiator:\S+ \(reinstating no\)$|^\t\tcid:\d+ ip:127\.0\.0\.1 state:(established idle |space_waiting |closing) hd:none dd:none$/);
      }
      expect(seenSessions).toBeGreaterThan(0);
    } finally {
      const results = await Promise.all(io.map((b) => b.stop()));
      for (const [i, r] of results.entries()) {
        expect(r.batches, `initiator ${i}`).toBeGreaterThan(0);
        expect(r.failures, io[i]!.describeFailures(r.failures)).toEqual([]);
      }
    }
    const stopped = await d.stop();
    expect(stopped.code).toBe(0);
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  }, 180_000);
});
