// The sysfs tree's file semantics and formats against the in-process tree: golden files typed
// from the reference (help texts §10, the end-to-end example §12), modes, kernfs open rules,
// links, exportN numbering, sessions, the asynchronous convention (§3), and procfs <-> sysfs.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Scst } from '../src/engine/scst.js';
import { IscsiDriver } from '../src/engine/iscsi/portal.js';
import { Device } from '../src/engine/device.js';
import { NullBackstore } from '../src/engine/backstore/null.js';
import type { SessionTransport } from '../src/engine/session.js';
import { createTrees } from '../src/pde-fuse/index.js';
import type { PdeFs } from '../src/pde-fuse/pdefs.js';
import { now } from './helpers/procfs.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden', 'sysfs');
const R = '/sys/kernel/scst_tgt';
const T = 'iqn.2006-10.net.vlnb:tgt';
const E = { EACCES: -13, EAGAIN: -11, EEXIST: -17, EINVAL: -22 };
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;

function makeTree(waitMs = 15_000) {
  const log = pino({ level: 'silent' });
  const scst = new Scst(log);
  const iscsi = new IscsiDriver(scst, log);
  const fs = createTrees(scst, iscsi, log, { sysfs: { asyncWaitMs: waitMs } });
  const w = (p: string, d: string) => fs.writePath(`${R}/${p}`, d);
  const r = (p: string): string | number => now(fs.readPath(`${R}/${p}`));
  return { scst, iscsi, fs, w, r };
}

function goldenFiles(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    for (const n of readdirSync(p)) {
      const f = join(p, n);
      if (statSync(f).isDirectory()) walk(f);
      else out.set(relative(root, f), readFileSync(f, 'utf8'));
    }
  };
  walk(root);
  return out;
}

const transport = (onClose: () => void = () => undefined): SessionTransport => ({ forceClose: onClose, abortCommand: async () => undefined, abortDeviceTasks: async () => undefined });

describe('golden files from the reference', () => {
  it('mgmt help texts (§10) and trace_level (§4.2)', async () => {
    const t = makeTree();
    await t.w('targets/iscsi/mgmt', `add_target ${T}`);
    await t.w(`targets/iscsi/${T}/ini_groups/mgmt`, 'create G');
    await t.w('device_groups/mgmt', 'create dg');
    await t.w('device_groups/dg/target_groups/mgmt', 'create tg');
    const where: Record<string, string> = {
      'vdisk_fileio.mgmt': 'handlers/vdisk_fileio/mgmt',
      'vdisk_blockio.mgmt': 'handlers/vdisk_blockio/mgmt',
      'vdisk_nullio.mgmt': 'handlers/vdisk_nullio/mgmt',
      'vcdrom.mgmt': 'handlers/vcdrom/mgmt',
      'iscsi.mgmt': 'targets/iscsi/mgmt',
      'luns.mgmt': `targets/iscsi/${T}/ini_groups/G/luns/mgmt`,
      'ini_groups.mgmt': `targets/iscsi/${T}/ini_groups/mgmt`,
      'initiators.mgmt': `targets/iscsi/${T}/ini_groups/G/initiators/mgmt`,
      'device_groups.mgmt': 'device_groups/mgmt',
      'target_groups.mgmt': 'device_groups/dg/target_groups/mgmt',
      'dg_devices.mgmt': 'device_groups/dg/devices/mgmt',
      'tg.mgmt': 'device_groups/dg/target_groups/tg/mgmt',
      'root.trace_level': 'trace_level',
    };
    const golden = goldenFiles(join(GOLDEN, 'help'));
    expect([...golden.keys()].sort()).toEqual(Object.keys(where).sort());
    for (const [g, text] of golden) expect(t.r(where[g]!), g).toBe(text);
    expect(t.r(`targets/iscsi/${T}/luns/mgmt`)).toBe(golden.get('luns.mgmt'));
  });
  it('the end-to-end example (§12), the copy manager LUN of the device included', async () => {
    const t = makeTree();
    for (const line of readFileSync(join(GOLDEN, 'e2e.commands'), 'utf8').split('\n').filter(Boolean)) {
      const [path, cmd] = line.split('\t') as [string, string];
      expect(await t.w(path, `${cmd}\n`), line).toBe(Buffer.byteLength(cmd) + 1);
    }
    for (const [p, text] of goldenFiles(join(GOLDEN, 'e2e'))) expect(t.r(p), p).toBe(text);
    for (const line of readFileSync(join(GOLDEN, 'e2e.links'), 'utf8').split('\n').filter(Boolean)) {
      const [p, target] = line.split(' -> ') as [string, string];
      expect(t.fs.readlink(`${R}/${p}`), p).toBe(target);
    }
    expect([...(t.fs.readdir(`${R}/devices/disk1/exported`) as string[])].sort()).toEqual(['export0', 'export1', 'export2']);
    expect(await t.w(`targets/iscsi/${T}/luns/mgmt`, 'add disk1 0\n')).toBe(E.EEXIST);
    expect(t.r('last_sysfs_mgmt_res')).toBe('-17\n');
  });
});

describe('kernfs file semantics (§2.1)', () => {
  it('modes of directories, attributes, write-only files, accounts and links', async () => {
    const t = makeTree();
    await t.w('handlers/vdisk_nullio/mgmt', 'add_device n1');
    await t.w('targets/iscsi/mgmt', `add_target ${T}`);
    await t.w('targets/iscsi/mgmt', `add_target_attribute ${T} IncomingUser joe 12charsecret`);
    const mode = (p: string) => {
      const st = t.fs.getattr(`${R}/${p}`);
      if (typeof st === 'number') throw new Error(`${p}: ${st}`);
      return [st.mode & 0o170000, st.mode & 0o777, st.size];
    };
    expect(mode('')).toEqual([0o040000, 0o755, 0]);
    expect(mode('version')).toEqual([0o100000, 0o444, 4096]);
    expect(mode('threads')).toEqual([0o100000, 0o644, 4096]);
    expect(mode('devices/n1/dump_prs')).toEqual([0o100000, 0o200, 4096]);
    expect(mode(`targets/iscsi/${T}/IncomingUser`)).toEqual([0o100000, 0o600, 4096]);
    expect(mode('devices/n1/handler')).toEqual([0o120000, 0o777, '../../handlers/vdisk_nullio'.length]);
    // procfs keeps its own modes beside it.
    const p = t.fs.getattr('/proc/scsi_tgt/version');
    expect(typeof p !== 'number' && [p.mode & 0o777, p.size]).toEqual([0o444, 0]);
  });
  it('EACCES when opening without the mode bit, even for root; reads re-render at offset 0', () => {
    const t = makeTree();
    expect(t.fs.open(`${R}/version`, O_WRONLY)).toBe(E.EACCES);
    expect(t.fs.open(`${R}/version`, O_RDWR)).toBe(E.EACCES);
    expect(t.fs.open(`${R}/threads`, O_RDWR)).toBeGreaterThan(0);
    expect(t.fs.open(`${R}/sgv/global_stats`, O_WRONLY | 0o1000)).toBeGreaterThan(0); // O_TRUNC is fine
    // procfs files are not kernfs files: 3.x procfs let root open them and failed the write.
    expect(t.fs.open('/proc/scsi_tgt/version', O_WRONLY)).toBeGreaterThan(0);
    const fh = t.fs.open(`${R}/threads`, O_RDONLY);
    expect((t.fs.read(fh, 4096, 0) as Buffer).toString()).toBe('1\n');
    t.scst.threads = 3;
    expect((t.fs.read(fh, 4096, 2) as Buffer).length).toBe(0);
    expect((t.fs.read(fh, 4096, 0) as Buffer).toString()).toBe('3\n[key]\n');
  });
  it('a zero-length write does nothing; a write longer than a page is cut to one page', async () => {
    const t = makeTree();
    expect(await t.w('threads', '')).toBe(0);
    expect(await t.w('targets/iscsi/mgmt', 'add_target t1')).toBeGreaterThan(0);
    expect(await t.w('targets/iscsi/t1/comment', 'y'.repeat(5000))).toBe(4096);
    expect(await t.r('targets/iscsi/t1/comment')).toBe(`${'y'.repeat(4096)}\n[key]\n`);
  });
});

describe('asynchronous commands (§3)', () => {
  it('EAGAIN after the bound; last_sysfs_mgmt_res is EAGAIN until the work ends, then its result', async () => {
    const t = makeTree(50);
    const dev = new Device({ name: 'slow', handler: 'vdisk_fileio', blockSize: 512, readOnly: false, writeThrough: false, nvCache: false, removable: false, rotational: true, thinProvisioned: false, dummy: false, tst: 1, filename: '/x', setupId: 0n, explicit: new Set() });
    dev.backstore = new NullBackstore(1 << 20);
    t.scst.devices.set('slow', dev);
    dev.inflight = 1; // a backstore operation that has not come back yet
    const fh = t.fs.open(`${R}/last_sysfs_mgmt_res`, O_RDONLY);
    expect(await t.w('handlers/vdisk_fileio/mgmt', 'del_device slow\n')).toBe(E.EAGAIN);
    expect(t.fs.read(fh, 8, 0)).toBe(E.EAGAIN);
    expect(t.scst.devices.has('slow')).toBe(false); // already unmapped and unlisted
    // Later async commands queue behind it.
    expect(await t.w('handlers/vdisk_nullio/mgmt', 'add_device n1\n')).toBe(E.EAGAIN);
    setTimeout(() => (dev.inflight = 0), 100);
    let res: Buffer | number = E.EAGAIN;
    for (let i = 0; i < 100 && res === E.EAGAIN; i++) {
      await new Promise((r) => setTimeout(r, 20));
      res = now(t.fs.read(fh, 8, 0)); // the same descriptor, offset 0 again: re-evaluated
    }
    expect(res.toString()).toBe('0\n');
    expect(t.scst.devices.has('n1')).toBe(true);
    // A failing async command reports its errno there too.
    expect(await t.w('handlers/vdisk_nullio/mgmt', 'add_device n1\n')).toBe(E.EEXIST);
    expect((t.fs.read(fh, 8, 0) as Buffer).toString()).toBe('-17\n');
  });
  it('debug mode (wait 0): every async write answers EAGAIN and still happens', async () => {
    const t = makeTree(0);
    expect(await t.w('handlers/vdisk_nullio/mgmt', 'add_device n1\n')).toBe(E.EAGAIN);
    await new Promise((r) => setTimeout(r, 20));
    expect(t.r('last_sysfs_mgmt_res')).toBe('0\n');
    expect(t.scst.devices.has('n1')).toBe(true);
    // Synchronous writes are unaffected.
    expect(await t.w('device_groups/mgmt', 'create dg\n')).toBe(10);
  });
});

describe('exportN links (§6.1)', () => {
  it('numbers follow creation order and are never reused', async () => {
    const t = makeTree();
    await t.w('handlers/vdisk_nullio/mgmt', 'add_device n1');
    await t.w('targets/iscsi/mgmt', `add_target ${T}`);
    const m = `targets/iscsi/${T}/luns/mgmt`;
    await t.w(m, 'add n1 0');
    await t.w(m, 'add n1 1');
    await t.w(m, 'del 0');
    await t.w(m, 'add n1 2');
    const links = () => Object.fromEntries((t.fs.readdir(`${R}/devices/n1/exported`) as string[]).map((n) => [n, t.fs.readlink(`${R}/devices/n1/exported/${n}`)]));
    // export0 is the copy manager's LUN, made with the device.
    const cm = { export0: '../../../targets/copy_manager/copy_manager_tgt/luns/0' };
    expect(links()).toEqual({ ...cm, export2: `../../../targets/iscsi/${T}/luns/1`, export3: `../../../targets/iscsi/${T}/luns/2` });
    await t.w(m, 'replace n1 1');
    expect(links()).toEqual({ ...cm, export3: `../../../targets/iscsi/${T}/luns/2`, export4: `../../../targets/iscsi/${T}/luns/1` });
  });
});

describe('sessions (§7.5)', () => {
  it('counters, LUN links, per-LUN directories, force_close', async () => {
    const t = makeTree();
    await t.w('handlers/vdisk_nullio/mgmt', 'add_device n1');
    await t.w('targets/iscsi/mgmt', `add_target ${T}`);
    await t.w(`targets/iscsi/${T}/luns/mgmt`, 'add n1 0');
    await t.w(`targets/iscsi/${T}/ini_groups/mgmt`, 'create G');
    await t.w(`targets/iscsi/${T}/ini_groups/G/initiators/mgmt`, 'add iqn.b:*');
    await t.w(`targets/iscsi/${T}/ini_groups/G/luns/mgmt`, 'add n1 7');
    const tgt = t.scst.targets.get(T)!;
    let closed = 0;
    const a = t.scst.createSession(tgt, 'iqn.a:1', transport(() => closed++));
    t.scst.createSession(tgt, 'iqn.a:1', transport());
    t.scst.createSession(tgt, 'iqn.b:2', transport());
    a.stats.read.cmds = 5;
    a.stats.read.kb = 10.5;
    const s = `targets/iscsi/${T}/sessions`;
    expect((t.fs.readdir(`${R}/${s}`) as string[]).sort()).toEqual(['iqn.a:1', 'iqn.a:1_1', 'iqn.b:2']);
    expect(t.r(`${s}/iqn.a:1/initiator_name`)).toBe('iqn.a:1\n');
    expect(t.fs.readlink(`${R}/${s}/iqn.a:1/luns`)).toBe('../../luns');
    expect(t.fs.readlink(`${R}/${s}/iqn.b:2/luns`)).toBe('../../ini_groups/G/luns');
    expect(t.fs.readdir(`${R}/${s}/iqn.b:2`)).toContain('lun7');
    expect(t.r(`${s}/iqn.b:2/lun7/active_commands`)).toBe('0\n');
    expect(t.r(`${s}/iqn.a:1/read_cmd_count`)).toBe('5\n');
    expect(t.r(`${s}/iqn.a:1/read_io_count_kb`)).toBe('10\n');
    expect(t.r(`targets/iscsi/${T}/read_cmd_count`)).toBe('5\n');
    expect(await t.w(`${s}/iqn.a:1/read_io_count_kb`, '0\n')).toBe(2);
    expect(t.r(`${s}/iqn.a:1/read_cmd_count`)).toBe('0\n');
    expect(await t.w(`${s}/iqn.a:1/force_close`, '1\n')).toBe(2);
    expect(closed).toBe(1);
    expect(t.r(`${s}/iqn.a:1/force_close`)).toBe(E.EACCES);
  });
});

describe('procfs and sysfs over one core', () => {
  it('a change through either shows in both', async () => {
    const t = makeTree();
    // procfs -> sysfs
    expect(await t.fs.writePath('/proc/scsi_tgt/vdisk/vdisk', 'open p1 /dev/zero 4096 NULLIO\n')).toBeGreaterThan(0);
    expect(t.fs.readlink(`${R}/handlers/vdisk_nullio/p1`)).toBe('../../devices/p1');
    expect(t.r('devices/p1/blocksize')).toBe('4096\n[key]\n');
    expect(await t.fs.writePath('/proc/scsi_tgt/vdisk/vdisk', 'set_t10_dev_id p1 ID-P1\n')).toBeGreaterThan(0);
    expect(t.r('devices/p1/t10_dev_id')).toBe('ID-P1\n');
    expect(await t.fs.writePath('/proc/scsi_tgt/threads', '6\n')).toBe(2);
    expect(t.r('threads')).toBe('6\n[key]\n');
    expect(await t.fs.writePath('/proc/scsi_tgt/trace_level', 'add scsi\n')).toBeGreaterThan(0);
    expect((t.r('trace_level') as string).split('\n')[0]).toContain('scsi');
    // sysfs -> procfs
    expect(await t.w('handlers/vdisk_nullio/mgmt', 'add_device s1 size_mb=8\n')).toBeGreaterThan(0);
    expect(t.fs.readPath('/proc/scsi_tgt/vdisk/vdisk')).toMatch(/^s1 +8 +512 +NIO/m);
    expect(t.fs.readPath('/proc/scsi_tgt/scsi_tgt')).toMatch(/^s1 +vdisk_nullio$/m);
    expect(await t.w('devices/s1/t10_dev_id', 'ID-S1\n')).toBeGreaterThan(0);
    expect(t.fs.readPath('/proc/scsi_tgt/vdisk/vdisk')).toMatch(/ID-S1 *$/m);
    expect(await t.w('threads', '2\n')).toBe(2);
    expect(t.fs.readPath('/proc/scsi_tgt/threads')).toBe('2\n');
    expect(await t.w('handlers/vdisk_nullio/mgmt', 'del_device p1\n')).toBeGreaterThan(0);
    expect(t.fs.readPath('/proc/scsi_tgt/vdisk/vdisk')).not.toMatch(/^p1 /m);
    // procfs close of a device sysfs created
    expect(await t.fs.writePath('/proc/scsi_tgt/vdisk/vdisk', 'close s1\n')).toBeGreaterThan(0);
    expect(t.fs.lookup(`${R}/devices/s1`)).toBeNull();
  });
  it('scst_user devices are listed with their handler', () => {
    const t = makeTree();
    const dev = new Device({ name: 'ram0', handler: 'scst_user', blockSize: 512, readOnly: false, writeThrough: false, nvCache: false, removable: false, rotational: true, thinProvisioned: false, dummy: false, tst: 1, filename: null, setupId: 0n, explicit: new Set() });
    t.scst.devices.set('ram0', dev);
    expect(t.fs.readlink(`${R}/handlers/scst_user/ram0`)).toBe('../../devices/ram0');
    expect(t.fs.readlink(`${R}/devices/ram0/handler`)).toBe('../../handlers/scst_user');
    expect(t.fs.readdir(`${R}/handlers/scst_user`)).not.toContain('mgmt');
    expect(t.r('devices/ram0/type')).toBe('0 - Direct-access device (e.g., magnetic disk)\n');
  });
});

describe('root and sgv formats (§4.1, §9)', () => {
  it('version: six labelled lines and the config line', () => {
    const t = makeTree();
    const lines = (t.r('version') as string).split('\n');
    expect(lines.slice(0, 6).map((l) => l.split(':')[0])).toEqual(['SCST version', 'SCST build date', 'SCST build number', 'SCST git commit sha1', 'SCST kver', 'SCST arch type']);
    expect(lines[0]).toMatch(/^SCST version: \d+\.\d+\.\d+/);
    expect(lines[6]).toBe('SCST config: TRACING');
    expect(lines[7]).toBe('');
  });
  it('sgv statistics: widths, 11 cache sizes, a write resets the counters', async () => {
    const t = makeTree();
    const g = t.r('sgv/global_stats') as string;
    expect(g.split('\n').map((l) => l.slice(0, 43))).toEqual([`${'Inactive/active pages'.padEnd(42)} `, `${'Hi/lo watermarks [pages]'.padEnd(42)} `, `${'Hi watermark releases/failures'.padEnd(42)} `, `${'Other allocs'.padEnd(42)} `, '']);
    const pb = t.scst.pool.alloc(8192);
    t.scst.pool.release(pb);
    t.scst.pool.release(t.scst.pool.alloc(8192));
    const st = (t.r('sgv/sgv/stats') as string).split('\n');
    expect(st[0]).toBe(`${'Name'.padEnd(30)} ${'Hit'.padEnd(11)} ${'Total'.padEnd(11)} ${'% merged'.padEnd(11)} ${'Cached (P/I/O)'.padEnd(11)}`);
    expect(st.slice(2, 13).map((l) => l.trim().split(/ +/)[0])).toEqual(['sgv-4K', 'sgv-8K', 'sgv-16K', 'sgv-32K', 'sgv-64K', 'sgv-128K', 'sgv-256K', 'sgv-512K', 'sgv-1024K', 'sgv-2048K', 'sgv-4096K']);
    expect(st[3]!.trim().split(/ +/).slice(1, 3)).toEqual(['1', '2']);
    expect(st[13]!.trim().startsWith('big/other')).toBe(true);
    expect(await t.w('sgv/sgv/stats', '0\n')).toBe(2);
    expect((t.r('sgv/sgv/stats') as string).split('\n')[3]!.trim().split(/ +/).slice(1, 3)).toEqual(['0', '0']);
  });
});

describe('device attributes per handler (§6.1 core entries and the §6.2 presence matrix)', () => {
  it('each vdisk handler shows exactly its attributes, with their modes', async () => {
    const t = makeTree();
    const dir = mkdtempSync(join(tmpdir(), 'sysfs-presence-'));
    const f = join(dir, 'f.img');
    writeFileSync(f, Buffer.alloc(1 << 20));
    const made: Array<[string, string]> = [
      ['vdisk_fileio', `add_device d_vdisk_fileio filename=${f}`],
      ['vdisk_blockio', `add_device d_vdisk_blockio filename=${f}`],
      ['vdisk_nullio', 'add_device d_vdisk_nullio'],
      ['vcdrom', 'add_device d_vcdrom'],
    ];
    for (const [h, c] of made) expect(await t.w(`handlers/${h}/mgmt`, c), c).toBeGreaterThan(0);
    for (const [h] of made) {
      const want = readFileSync(join(GOLDEN, 'presence', h), 'utf8').split('\n').filter(Boolean);
      const got = (t.fs.readdir(`${R}/devices/d_${h}`) as string[]).slice().sort();
      expect(got, h).toEqual(want);
    }
    const mode = (p: string) => (t.fs.getattr(`${R}/devices/${p}`) as { mode: number }).mode & 0o777;
    expect([mode('d_vdisk_fileio/size'), mode('d_vdisk_blockio/size'), mode('d_vdisk_nullio/size'), mode('d_vcdrom/size')]).toEqual([0o444, 0o644, 0o644, 0o444]);
    expect([mode('d_vdisk_fileio/resync_size'), mode('d_vdisk_fileio/sync'), mode('d_vdisk_fileio/dump_prs')]).toEqual([0o200, 0o200, 0o200]);
    expect([mode('d_vdisk_fileio/read_only'), mode('d_vdisk_fileio/active'), mode('d_vdisk_nullio/read_zero')]).toEqual([0o444, 0o644, 0o644]);
    expect(t.r('devices/d_vdisk_blockio/t10_vend_id')).toBe('SCST_BIO\n');
    expect(t.r('devices/d_vdisk_blockio/bind_alua_state')).toBe('1\n');
    expect(t.r('devices/d_vdisk_fileio/threads_num')).toBe('8\n');
    expect(t.r('devices/d_vdisk_nullio/threads_num')).toBe('1\n');
    expect(t.r('devices/d_vdisk_nullio/size')).toBe('2748779069440\n');
    rmSync(dir, { recursive: true, force: true });
  });
});
