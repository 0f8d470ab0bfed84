// scstadmin (the built command, a separate process) on a mounted scstd: the shipped example
// configurations bring up their targets and an initiator sees them; -write_config reproduces
// the state and re-applying it changes nothing; edits change only what they touch while I/O runs
// on untouched LUNs; malformed files are refused without touching the tree.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { iscsiInq, iscsiLs } from './helpers/initiators.js';
import { attachLoop } from './helpers/loopdev.js';
import { describeRun, run, type RunResult } from './helpers/proc.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';
import { backgroundIo } from './helpers/workload.js';

installHarnessHooks();

const ADMIN = join(import.meta.dirname, '..', 'dist', 'src', 'bin', 'scstadmin.js');
const ETC = join(import.meta.dirname, '..', 'etc');
const MiB = 1024 * 1024;
const TGT = 'iqn.2024-01.org.example:storage.disk01';
const HOST_INI = 'iqn.1993-08.org.debian:01:testhost';
/**
 * Another initiator. The example's group also lists `!iqn.1993-08.org.debian:01:untrusted`,
 * which (sysfs.md §7.4: `!` negates the rest of the pattern) matches every other name, so every
 * initiator sees the group's LUN set.
 */
const PLAIN_INI = 'iqn.2026-11.test:plain';

let d: ScstdHandle;
let work: string;
let mnt: string;

function admin(args: string[], input?: string): Promise<RunResult> {
  return run(process.execPath, [ADMIN, '--root', mnt, ...args], { timeoutMs: 120_000, ...(input !== undefined ? { input } : {}) });
}

async function ok(args: string[]): Promise<RunResult> {
  const r = await admin(args);
  expect(r.code, describeRun(`scstadmin ${args.join(' ')}`, r)).toBe(0);
  return r;
}

/** The live state as -write_config writes it. */
async function live(name: string): Promise<string> {
  const f = join(work, name);
  await ok(['-write_config', f]);
  return readFile(f, 'utf8');
}

/** etc/scst.conf.example with its paths pointing at files of this test. */
async function exampleConf(): Promise<string> {
  const disk01 = await sparseFile(join(work, 'disk01.img'), 64 * MiB);
  const disk02 = await sparseFile(join(work, 'disk02.img'), 32 * MiB);
  const blk = await attachLoop(await sparseFile(join(work, 'lun01.img'), 32 * MiB));
  const iso = await sparseFile(join(work, 'install.iso'), 4 * MiB);
  return (await readFile(join(ETC, 'scst.conf.example'), 'utf8'))
    .replace('/var/lib/scstd/disk01.img', disk01)
    .replace('"/var/lib/scstd/disk 02.img"', disk02)
    .replace('/dev/vg0/lun01', blk)
    .replace('/srv/iso/install.iso', iso);
}

beforeAll(async () => {
  work = await tmpDir('scstadmin-it-');
  mnt = join(work, 'mnt');
  d = await startScstd({ config: '# everything comes from scstadmin\n', extraArgs: ['--mount', mnt] });
}, 60_000);

afterAll(async () => {
  const s = await d.stop();
  expect(s.code).toBe(0);
});

describe('scstadmin on a mounted scstd', () => {
  let conf: string;
  let confFile: string;

  it('-config of the shipped example brings up its target; an initiator sees it', async () => {
    conf = await exampleConf();
    confFile = join(work, 'scst.conf');
    await writeFile(confFile, conf);
    const r = await ok(['-config', confFile]);
    expect(r.stdout).toContain(`\t-> Creating target '${TGT}' for driver 'iscsi': done.\n`);
    expect(r.stdout).not.toContain('FATAL');
    const port = d.ports[0]!;
    const ls = await iscsiLs({ port, user: 'discovery', password: 'discoverysecret' });
    expect(ls.targets.map((t) => t.name), describeRun('iscsi-ls', ls.run)).toEqual([TGT]);
    // The linux_hosts group's LUN set: disk02, bdev01, null01.
    for (const [ini, lun, product] of [
      [HOST_INI, 0, 'disk02'],
      [PLAIN_INI, 1, 'bdev01'],
      [PLAIN_INI, 2, 'null01'],
    ] as const) {
      const inq = await iscsiInq({ port, target: TGT, lun, user: 'joe', password: '12charsecret', initiator: ini });
      expect(inq.get('Product')?.trim(), describeRun('iscsi-inq', inq.run)).toBe(product);
    }
  }, 120_000);

  it('-write_config reproduces it and a second -config changes nothing', async () => {
    const before = await live('w1.conf');
    expect(before).toContain(`\tTARGET ${TGT} {\n`);
    const again = await ok(['-config', join(work, 'w1.conf')]);
    expect(again.stdout).toContain('\t-> Done, 0 change(s) made.\n');
    expect(again.stdout).not.toMatch(/\t-> (Opening|Adding|Creating|Setting|Removing|Enabling)/);
    const second = await ok(['-config', confFile]);
    expect(second.stdout).toContain('\t-> Done, 0 change(s) made.\n');
    expect(await live('w2.conf')).toBe(before);
  }, 120_000);

  it('an edited file changes only what changed while I/O runs on untouched LUNs', async () => {
    // Edit the canonical form -write_config produced: with -force, anything the file does not
    // say exactly as the tree reports it would be re-created (as the original does).
    const before = await live('e0.conf');
    const io = backgroundIo({ port: d.ports[0]!, target: TGT, lun: 1, user: 'joe', password: '12charsecret', initiator: PLAIN_INI }, { span: 1 * MiB, chunk: 64 * 1024, maxBatches: 1_000 });
    try {
      const edited = before
        .replace('HANDLER vdisk_nullio {\n', 'HANDLER vdisk_nullio {\n\tDEVICE null02 {\n\t\tdummy 1\n\t}\n\n')
        .replace(/(\t\tLUN 2 cd02[^\n]*\n(?:\t\t\t[^\n]*\n\t\t\}\n\n)?)/, '$1\t\tLUN 5 null02\n')
        .replace('\t\t\tLUN 2 null01\n', '\t\t\tLUN 3 null01\n')
        .replace('\n\t\t\tINITIATOR iqn.1994-05.com.redhat:db?\n', '')
        // The copy manager gives the new device the next LUN; a file that does not list it has
        // -force remove it on the next run (as SCST's scstadmin does).
        .replace(/(TARGET copy_manager_tgt \{\n[^]*?)(\t\}\n\})/, '$1\t\tLUN 6 null02\n$2');
      expect(edited).toContain('\t\tLUN 6 null02\n\t}\n}');
      const f = join(work, 'edited.conf');
      await writeFile(f, edited);
      const r = await ok(['-config', f, '-force', '-noprompt']);
      const actions = r.stdout.split('\n').filter((l) => /^\t-> (Opening|Adding|Creating|Removing|Moving|Closing|Setting)/.test(l));
      expect(actions, r.stdout).toEqual([
        `\t-> Removing LUN 2 from driver/target/group 'iscsi/${TGT}/linux_hosts': done.`,
        `\t-> Opening device 'null02' using handler 'vdisk_nullio': done.`,
        `\t-> Adding device 'null02' at LUN 5 to driver/target 'iscsi/${TGT}': done.`,
        `\t-> Adding device 'null01' at LUN 3 to driver/target/group 'iscsi/${TGT}/linux_hosts': done.`,
        `\t-> Removing initiator 'iqn.1994-05.com.redhat:db?' from driver/target/group 'iscsi/${TGT}/linux_hosts': done.`,
      ]);
      const again = await ok(['-config', f, '-force', '-noprompt']);
      expect(again.stdout).toContain('\t-> Done, 0 change(s) made.\n');
    } finally {
      const res = await io.stop();
      expect(res.failures, io.describeFailures(res.failures)).toEqual([]);
      expect(res.batches).toBeGreaterThan(0);
    }
    const after = await live('e1.conf');
    expect(after).toContain('\t\tLUN 5 null02\n');
    expect(after).not.toContain('redhat:db?');
  }, 180_000);

  it('malformed files are refused with their position and change nothing', async () => {
    const before = await live('m0.conf');
    const cases: Array<[string, string, RegExp]> = [
      ['braces.conf', conf.replace('\tDEVICE null01 {\n', '\tDEVICE null01 {\n\t\tdummy 0 {\n'), /braces\.conf:\d+: .*never closed/],
      ['handler.conf', conf.replace('HANDLER vdisk_nullio {', 'HANDLER vdisk_nullo {'), /No such handler 'vdisk_nullo' available \(.*handler\.conf:\d+\)/],
      ['attr.conf', conf.replace('\t\tnv_cache 0\n', '\t\tnv_cahce 0\n'), /Unknown attribute 'nv_cahce' for device 'disk01' \(.*attr\.conf:\d+\)/],
      ['lun.conf', conf.replace('\t\tLUN 1 cd01\n', '\t\tLUN 1 cd01\n\t\tLUN 1 null01\n'), /lun\.conf:\d+: .*has multiple devices assigned/],
    ];
    for (const [name, text, pattern] of cases) {
      const f = join(work, name);
      await writeFile(f, text);
      const r = await admin(['-config', f, '-force', '-noprompt']);
      expect(r.code, describeRun(name, r)).toBe(1);
      expect(r.stdout + r.stderr).toMatch(pattern);
      expect(r.stdout).toContain('Configuration has errors, aborting.');
    }
    expect(await live('m1.conf')).toBe(before);
  }, 120_000);

  it('listings read the mounted tree', async () => {
    const r = await ok(['-list_target']);
    // The Driver column is as wide as the longest driver's name (scst_local's, which has no target here).
    expect(r.stdout).toMatch(new RegExp(`\\tDriver +Target +\\n\\t-+\\n\\tcopy_manager +copy_manager_tgt +\\n\\tiscsi +${TGT.replace(/[.]/g, '\\.')}`));
    const g = await ok(['-list_group', 'linux_hosts', '-driver', 'iscsi', '-target', TGT]);
    expect(g.stdout).toContain('Assigned Initiators:\n\n\tInitiator\n');
  }, 60_000);

  it('old scripts: procfs-era options act on the proc/scsi_tgt tree of the same mount', async () => {
    const a = await ok(['-addgroup', 'oldgrp']);
    expect(a.stdout).toBe("Collecting current configuration: done.\n\n\t-> Creating security group 'oldgrp'..\n\nAll done.\n");
    const r = await ok(['-RemoveGroup', 'oldgrp']);
    expect(r.stdout).toContain("\t-> Removing security group 'oldgrp'..\n");
    const bad = await admin(['-adddev', 'x']);
    expect(bad.stdout).toBe('Please specify -handler and -path with -adddev.\n\n');
    expect(bad.code).toBe(1);
  }, 60_000);

  it('-clear_config empties the tree; the YAML example then brings its target up', async () => {
    await ok(['-clear_config', '-force', '-noprompt']);
    // What stays is the copy manager's target, with no LUN left.
    expect(await live('c.conf')).not.toMatch(/TARGET (?!copy_manager_tgt\n)/);
    const y = (await readFile(join(ETC, 'scst.yaml.example'), 'utf8'))
      .replace('/var/lib/scstd/disk01.img', join(work, 'disk01.img'))
      .replace('/var/lib/scstd/disk02.img', join(work, 'disk02.img'));
    const yf = join(work, 'scst.yaml');
    await writeFile(yf, y);
    const r = await ok(['-config', yf]);
    expect(r.stdout).toContain(`\t-> Creating target '${TGT}' for driver 'iscsi': done.\n`);
    const ls = await iscsiLs({ port: d.ports[0]!, user: 'discovery', password: 'discoverysecret' });
    expect(ls.targets.map((t) => t.name)).toEqual([TGT]);
    const again = await ok(['-config', yf]);
    expect(again.stdout).toContain('\t-> Done, 0 change(s) made.\n');
  }, 120_000);
});
