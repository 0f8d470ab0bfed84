// Every mgmt command and writable attribute of /sys/kernel/scst_tgt against the in-process tree:
// success, and for each refusal the errno of sysfs.md §11 (or the attribute's rule), with the
// tree unchanged afterwards and, for asynchronous commands, last_sysfs_mgmt_res = -errno.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Scst } from '../src/engine/scst.js';
import { IscsiDriver } from '../src/engine/iscsi/portal.js';
import type { SessionTransport } from '../src/engine/session.js';
import { aluaOf } from '../src/engine/mgmt.js';
import { createTrees } from '../src/pde-fuse/index.js';
import type { PdeFs } from '../src/pde-fuse/pdefs.js';
import { now } from './helpers/procfs.js';
import { iscsiTarget } from '../src/engine/iscsi/target.js';

const E: Record<string, number> = { EPERM: -1, ENOENT: -2, EAGAIN: -11, EACCES: -13, EBUSY: -16, EEXIST: -17, EINVAL: -22, EBADSLT: -57, EMEDIUMTYPE: -124 };
const R = '/sys/kernel/scst_tgt';
const T = 'iqn.2006-10.net.vlnb:tgt';
const MiB = 1024 * 1024;
let dir: string;
let disk: string;
let disk2: string;
let iso: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sysfs-unit-'));
  disk = join(dir, 'disk1.img');
  disk2 = join(dir, 'disk2.img');
  for (const f of [disk, disk2]) {
    writeFileSync(f, '');
    truncateSync(f, 8 * MiB);
  }
  iso = join(dir, 'cd.iso');
  writeFileSync(iso, Buffer.alloc(MiB));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const nullTransport: SessionTransport = { forceClose: () => undefined, abortCommand: async () => undefined, abortDeviceTasks: async () => undefined };

interface Tree {
  scst: Scst;
  iscsi: IscsiDriver;
  fs: PdeFs;
  w(path: string, data: string): Promise<number>;
  r(path: string): string;
}

function makeTree(waitMs = 15_000): Tree {
  const log = pino({ level: 'silent' });
  const scst = new Scst(log);
  const iscsi = new IscsiDriver(scst, log);
  const fs = createTrees(scst, iscsi, log, { sysfs: { asyncWaitMs: waitMs } });
  return {
    scst,
    iscsi,
    fs,
    w: (p, d) => fs.writePath(`${R}/${p}`, d),
    r: (p) => {
      const v = now(fs.readPath(`${R}/${p}`));
      if (typeof v === 'number') throw new Error(`read ${p}: ${v}`);
      return v;
    },
  };
}

/** Every file (content or errno) and link (text) below R, except the last-result file. */
function snapshot(fs: PdeFs): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    const st = fs.getattr(p);
    if (typeof st === 'number') return;
    const kind = st.mode & 0o170000;
    if (kind === 0o040000) for (const n of fs.readdir(p) as string[]) walk(`${p}/${n}`);
    else if (kind === 0o120000) out.set(p, `-> ${fs.readlink(p) as string}`);
    else if (!p.endsWith('/last_sysfs_mgmt_res')) {
      const v = now(fs.readPath(p));
      out.set(p, typeof v === 'number' ? `<errno ${-v}>` : v);
    }
  };
  walk(R);
  return out;
}

const len = (s: string) => Buffer.byteLength(s);

/** disk1 (fileio), disk2 (fileio, 4096), null1, cdrom1; target T with LUNs, group G1 with one initiator. */
async function populated(): Promise<Tree> {
  const t = makeTree();
  const cmds: Array<[string, string]> = [
    ['handlers/vdisk_fileio/mgmt', `add_device disk1 filename=${disk}; nv_cache=1`],
    ['handlers/vdisk_fileio/mgmt', `add_device disk2 filename=${disk2};blocksize=4096`],
    ['handlers/vdisk_nullio/mgmt', 'add_device null1 size_mb=16'],
    ['handlers/vcdrom/mgmt', 'add_device cdrom1'],
    ['targets/iscsi/mgmt', `add_target ${T}`],
    [`targets/iscsi/${T}/luns/mgmt`, 'add disk1 0'],
    [`targets/iscsi/${T}/luns/mgmt`, 'add null1 1 read_only=1'],
    [`targets/iscsi/${T}/ini_groups/mgmt`, 'create G1'],
    [`targets/iscsi/${T}/ini_groups/mgmt`, 'create G2'],
    [`targets/iscsi/${T}/ini_groups/G1/initiators/mgmt`, 'add iqn.a:1'],
    [`targets/iscsi/${T}/ini_groups/G2/initiators/mgmt`, 'add iqn.b:*'],
    [`targets/iscsi/${T}/ini_groups/G1/luns/mgmt`, 'add disk2 0'],
    ['device_groups/mgmt', 'create dg1'],
    ['device_groups/dg1/devices/mgmt', 'add disk1'],
    ['device_groups/dg1/target_groups/mgmt', 'create tg1'],
    ['device_groups/dg1/target_groups/tg1/mgmt', `add ${T}`],
    [`targets/iscsi/${T}/enabled`, '1'],
  ];
  for (const [p, c] of cmds) expect(await t.w(p, `${c}\n`), `${p}: ${c}`).toBe(len(c) + 1);
  return t;
}

/** Each command must fail with `errno` and change nothing. */
async function refused(t: Tree, cases: Array<[string, string, keyof typeof E]>, opts: { async?: boolean } = {}): Promise<void> {
  const before = snapshot(t.fs);
  for (const [path, cmd, errno] of cases) {
    const r = await t.w(path, `${cmd}\n`);
    expect(r, `${path}: ${cmd}`).toBe(E[errno]);
    expect(snapshot(t.fs), `${path}: ${cmd} changed the tree`).toEqual(before);
    if (opts.async) expect(t.r('last_sysfs_mgmt_res'), `${path}: ${cmd}`).toBe(`${E[errno]}\n`);
  }
}

describe('handlers/<h>/mgmt (§11.1)', () => {
  it('creates devices with parameters and links them to their handler', async () => {
    const t = await populated();
    expect(t.fs.readdir(`${R}/handlers/vdisk_fileio`)).toEqual(expect.arrayContaining(['disk1', 'disk2', 'mgmt', 'type']));
    expect(t.fs.readlink(`${R}/handlers/vdisk_fileio/disk1`)).toBe('../../devices/disk1');
    expect(t.fs.readlink(`${R}/devices/disk1/handler`)).toBe('../../handlers/vdisk_fileio');
    expect(t.r('devices/disk1/nv_cache')).toBe('1\n[key]\n');
    expect(t.r('devices/disk2/blocksize')).toBe('4096\n[key]\n');
    expect(t.r('devices/null1/size')).toBe(`${16 * MiB}\n[key]\n`);
    expect(t.r('devices/cdrom1/filename')).toBe('none\n\n');
    expect(t.r('last_sysfs_mgmt_res')).toBe('0\n');
    // Names of parameters are case-insensitive, blanks around separators allowed, ';' may end it.
    expect(await t.w('handlers/vdisk_nullio/mgmt', 'ADD_DEVICE n2 SIZE_MB = 2 ; Dummy=1;\n')).toBe(37);
    expect(t.r('devices/n2/dummy')).toBe('1\n[key]\n');
    expect(t.r('devices/n2/size_mb')).toBe('2\n');
  });
  it('refuses bad add_device/del_device with EINVAL/EEXIST/ENOENT and changes nothing', async () => {
    const t = await populated();
    const h = 'handlers/vdisk_fileio/mgmt';
    await refused(
      t,
      [
        [h, 'add_device', 'EINVAL'],
        [h, `add_device a/b filename=${disk}`, 'EINVAL'],
        [h, `add_device a.b filename=${disk}`, 'EINVAL'],
        [h, `add_device ${'x'.repeat(65)} filename=${disk}`, 'EINVAL'],
        [h, `add_device disk1 filename=${disk}`, 'EEXIST'],
        [h, 'add_device d9', 'EINVAL'],
        [h, 'add_device d9 filename=rel.img', 'EINVAL'],
        [h, 'add_device d9 filename=/nonexistent/dir/f.img', 'ENOENT'],
        [h, `add_device d9 filename=${disk};filename=${disk}`, 'EINVAL'],
        [h, `add_device d9 filename=${disk};frob=1`, 'EINVAL'],
        [h, `add_device d9 filename=${disk};blocksize=256`, 'EINVAL'],
        [h, `add_device d9 filename=${disk};read_only=1;write_through=1`, 'EINVAL'],
        [h, `add_device d9 filename=${disk};o_direct=1`, 'EINVAL'],
        [h, `add_device d9 filename=${disk};tst=2`, 'EINVAL'],
        [h, `add_device d9 filename=${disk};nv_cache`, 'EINVAL'],
        [h, `add_device d9 filename=${disk};nv_cache=1 2`, 'EINVAL'],
        [h, `add_device d9 filename=${disk};nv_cache=x`, 'EINVAL'],
        ['handlers/vdisk_nullio/mgmt', 'add_device d9 size=1000', 'EINVAL'],
        ['handlers/vdisk_nullio/mgmt', `add_device d9 filename=${disk}`, 'EINVAL'],
        ['handlers/vcdrom/mgmt', 'add_device d9 blocksize=512', 'EINVAL'],
        [h, 'del_device', 'EINVAL'],
        [h, 'del_device nosuch', 'EINVAL'],
        [h, 'del_device disk1 now', 'EINVAL'],
        [h, 'frob disk1', 'EINVAL'],
      ],
      { async: true },
    );
  });
  it('del_device removes the device, its LUNs, links and device-group membership', async () => {
    const t = await populated();
    expect(await t.w('handlers/vdisk_fileio/mgmt', 'del_device disk1\n')).toBe(17);
    expect(t.fs.lookup(`${R}/devices/disk1`)).toBeNull();
    expect(t.fs.lookup(`${R}/handlers/vdisk_fileio/disk1`)).toBeNull();
    expect(t.fs.lookup(`${R}/targets/iscsi/${T}/luns/0`)).toBeNull();
    // Any vdisk handler's mgmt finds any vdisk device (scst_vdisk.c vdev_find: one list for all).
    expect(await t.w('handlers/vdisk_fileio/mgmt', 'del_device null1\n')).toBe(17);
    expect(t.fs.lookup(`${R}/devices/null1`)).toBeNull();
    expect(t.fs.readdir(`${R}/device_groups/dg1/devices`)).toEqual(['mgmt']);
  });
});

describe('targets/iscsi/mgmt (§11.3)', () => {
  it('adds and deletes targets; driver and target accounts; allowed_portal', async () => {
    const t = await populated();
    const m = 'targets/iscsi/mgmt';
    expect(await t.w(m, 'add_target iqn.x:t2 QueuedCommands=64\n')).toBeGreaterThan(0);
    expect(t.r('targets/iscsi/iqn.x:t2/QueuedCommands')).toBe('64\n[key]\n\n');
    expect(await t.w(m, `add_target_attribute ${T} IncomingUser joe 12charsecret\n`)).toBeGreaterThan(0);
    expect(await t.w(m, `add_target_attribute ${T} IncomingUser ann 12charsecret\n`)).toBeGreaterThan(0);
    expect(await t.w(m, `add_target_attribute ${T} OutgoingUser tgt 12charsecret\n`)).toBeGreaterThan(0);
    expect(await t.w(m, `add_target_attribute ${T} allowed_portal 10.0.0.*\n`)).toBeGreaterThan(0);
    expect(await t.w(m, 'add_attribute IncomingUser disc 123456789012\n')).toBeGreaterThan(0);
    expect(t.r(`targets/iscsi/${T}/IncomingUser`)).toBe('joe 12charsecret\n[key]\n\n');
    expect(t.r(`targets/iscsi/${T}/IncomingUser1`)).toBe('ann 12charsecret\n[key]\n\n');
    expect(t.r(`targets/iscsi/${T}/OutgoingUser`)).toBe('tgt 12charsecret\n[key]\n\n');
    expect(t.r(`targets/iscsi/${T}/allowed_portal`)).toBe('10.0.0.*\n[key]\n\n');
    expect(t.r('targets/iscsi/IncomingUser')).toBe('disc 123456789012\n[key]\n\n');
    expect((t.fs.getattr(`${R}/targets/iscsi/${T}/IncomingUser`) as { mode: number }).mode & 0o777).toBe(0o600);
    const target = iscsiTarget(t.scst.targets.get(T)!);
    expect(target.incomingUsers.map((u) => u.user)).toEqual(['joe', 'ann']);
    expect(target.outgoingUser?.user).toBe('tgt');
    // A write to an account file replaces that account.
    expect(await t.w(`targets/iscsi/${T}/IncomingUser1`, 'bob 12charsecret\n')).toBeGreaterThan(0);
    expect(target.incomingUsers.map((u) => u.user)).toEqual(['joe', 'bob']);
    expect(await t.w(m, `del_target_attribute ${T} IncomingUser joe\n`)).toBeGreaterThan(0);
    expect(t.fs.lookup(`${R}/targets/iscsi/${T}/IncomingUser`)).toBeNull();
    // The freed name is taken again by the next account.
    expect(await t.w(m, `add_target_attribute ${T} IncomingUser joe 12charsecret\n`)).toBeGreaterThan(0);
    expect(t.r(`targets/iscsi/${T}/IncomingUser`)).toBe('joe 12charsecret\n[key]\n\n');
    expect(await t.w(m, 'del_target iqn.x:t2\n')).toBeGreaterThan(0);
    expect(t.fs.lookup(`${R}/targets/iscsi/iqn.x:t2`)).toBeNull();
  });
  it("iscsi-scstd's words: '=' separates like a blank (add/del_target_attribute, add/del_attribute)", async () => {
    const t = await populated();
    const m = 'targets/iscsi/mgmt';
    expect(await t.w(m, `add_target_attribute ${T} IncomingUser=joe 12charsecret\n`)).toBeGreaterThan(0);
    expect(await t.w(m, `add_target_attribute ${T} IncomingUser= ann=12charsecret\n`)).toBeGreaterThan(0);
    expect(await t.w(m, `add_target_attribute ${T} allowed_portal=10.0.0.*\n`)).toBeGreaterThan(0);
    expect(await t.w(m, 'add_attribute IncomingUser=disc 123456789012\n')).toBeGreaterThan(0);
    expect(t.r(`targets/iscsi/${T}/IncomingUser`)).toBe('joe 12charsecret\n[key]\n\n');
    expect(t.r(`targets/iscsi/${T}/IncomingUser1`)).toBe('ann 12charsecret\n[key]\n\n');
    expect(t.r(`targets/iscsi/${T}/allowed_portal`)).toBe('10.0.0.*\n[key]\n\n');
    expect(t.r('targets/iscsi/IncomingUser')).toBe('disc 123456789012\n[key]\n\n');
    expect(await t.w(m, `del_target_attribute ${T} allowed_portal=10.0.0.*\n`)).toBeGreaterThan(0);
    expect(await t.w(m, `del_target_attribute ${T} IncomingUser=joe\n`)).toBeGreaterThan(0);
    expect(await t.w(m, 'del_attribute IncomingUser=disc\n')).toBeGreaterThan(0);
    expect(t.fs.lookup(`${R}/targets/iscsi/${T}/allowed_portal`)).toBeNull();
    expect(t.fs.lookup(`${R}/targets/iscsi/IncomingUser`)).toBeNull();
    expect(iscsiTarget(t.scst.targets.get(T)!).incomingUsers.map((u) => u.user)).toEqual(['ann']);
  });
  it('refuses bad commands with the reference errnos', async () => {
    const t = await populated();
    const m = 'targets/iscsi/mgmt';
    expect(await t.w(m, `add_target_attribute ${T} IncomingUser joe 12charsecret\n`)).toBeGreaterThan(0);
    await refused(
      t,
      [
        [m, 'add_target', 'EINVAL'],
        [m, `add_target ${T}`, 'EEXIST'],
        [m, 'add_target iqn.x:t3 QueuedCommands=0', 'EINVAL'],
        [m, 'add_target iqn.x:t3 Frob=1', 'EINVAL'],
        [m, 'del_target', 'EINVAL'],
        [m, 'del_target nosuch', 'ENOENT'],
        [m, `del_target ${T} now`, 'EINVAL'],
        [m, 'add_target_attribute nosuch IncomingUser a 123456789012', 'ENOENT'],
        [m, `add_target_attribute ${T} IncomingUser a short`, 'EINVAL'],
        [m, `add_target_attribute ${T} IncomingUser a`, 'EINVAL'],
        [m, `add_target_attribute ${T} IncomingUser joe 12charsecret`, 'EINVAL'],
        [m, `add_target_attribute ${T} Frob x`, 'EINVAL'],
        [m, `del_target_attribute ${T} IncomingUser nobody`, 'ENOENT'],
        [m, `del_target_attribute ${T} allowed_portal 1.2.3.4`, 'EINVAL'],
        [m, 'add_attribute allowed_portal 1.2.3.4', 'EINVAL'],
        [m, 'frob', 'EINVAL'],
      ],
      { async: true },
    );
  });
});

describe('luns/mgmt (§11.4)', () => {
  it('add, replace, replace_no_ua, del, clear, at target and group level', async () => {
    const t = await populated();
    const m = `targets/iscsi/${T}/luns/mgmt`;
    expect(await t.w(m, 'add disk2 0x10 read_only=1\n')).toBeGreaterThan(0);
    expect(t.r(`targets/iscsi/${T}/luns/16/read_only`)).toBe('1\n[key]\n');
    expect(t.fs.readlink(`${R}/targets/iscsi/${T}/luns/16/device`)).toBe('../../../../../devices/disk2');
    expect(await t.w(m, 'replace cdrom1 16\n')).toBeGreaterThan(0);
    // A read-only device makes its LUN read-only.
    expect(t.r(`targets/iscsi/${T}/luns/16/read_only`)).toBe('1\n[key]\n');
    expect(await t.w(m, 'replace_no_ua disk2 17\n')).toBeGreaterThan(0);
    expect(t.r(`targets/iscsi/${T}/luns/17/read_only`)).toBe('0\n');
    expect(await t.w(m, 'del 16\n')).toBeGreaterThan(0);
    expect(t.fs.readdir(`${R}/targets/iscsi/${T}/luns`)?.toString().split(',').sort()).toEqual(['0', '1', '17', 'mgmt']);
    expect(await t.w(`targets/iscsi/${T}/ini_groups/G1/luns/mgmt`, 'clear\n')).toBe(6);
    expect(t.fs.readdir(`${R}/targets/iscsi/${T}/ini_groups/G1/luns`)).toEqual(['mgmt']);
  });
  it('refuses bad commands', async () => {
    const t = await populated();
    const m = `targets/iscsi/${T}/luns/mgmt`;
    await refused(
      t,
      [
        [m, 'add nosuch 5', 'EINVAL'],
        [m, 'add disk1', 'EINVAL'],
        [m, 'add disk1 x', 'EINVAL'],
        [m, 'add disk1 16384', 'EINVAL'],
        [m, 'add disk1 0', 'EEXIST'],
        [m, 'add disk1 5 read_only', 'EINVAL'],
        [m, 'add disk1 5 ro=1', 'EINVAL'],
        [m, 'add disk1 5 read_only=x', 'EINVAL'],
        [m, 'add disk1 5 read_only=1 0', 'EINVAL'],
        [m, 'add disk1;5', 'EINVAL'],
        [m, 'del 9', 'EINVAL'],
        [m, 'del x', 'EINVAL'],
        [m, 'del 0 1', 'EINVAL'],
        [m, 'clear now', 'EINVAL'],
        [m, 'frob', 'EINVAL'],
        [`targets/iscsi/${T}/ini_groups/G1/luns/mgmt`, 'add disk1 0', 'EEXIST'],
      ],
      { async: true },
    );
  });
});

describe('ini_groups/mgmt and initiators/mgmt (§11.5, §11.6)', () => {
  it('create, del, add, del, move, clear', async () => {
    const t = await populated();
    const g = `targets/iscsi/${T}/ini_groups`;
    expect(await t.w(`${g}/G1/initiators/mgmt`, 'add iqn.a:2\n')).toBeGreaterThan(0);
    expect(t.r(`${g}/G1/initiators/iqn.a:2`)).toBe('iqn.a:2\n');
    expect((t.fs.getattr(`${R}/${g}/G1/initiators/iqn.a:2`) as { mode: number }).mode & 0o777).toBe(0o444);
    expect(await t.w(`${g}/G1/initiators/mgmt`, 'move iqn.a:2 G2\n')).toBeGreaterThan(0);
    expect(t.scst.targets.get(T)!.group('G2')!.initiators).toEqual(['iqn.b:*', 'iqn.a:2']);
    expect(await t.w(`${g}/G2/initiators/mgmt`, 'del iqn.a:2\n')).toBeGreaterThan(0);
    expect(await t.w(`${g}/G2/initiators/mgmt`, 'clear\n')).toBeGreaterThan(0);
    expect(t.fs.readdir(`${R}/${g}/G2/initiators`)).toEqual(['mgmt']);
    expect(await t.w(`${g}/mgmt`, 'del G2\n')).toBeGreaterThan(0);
    expect(t.fs.lookup(`${R}/${g}/G2`)).toBeNull();
  });
  it('refuses bad commands; a group in use is EBUSY', async () => {
    const t = await populated();
    const g = `targets/iscsi/${T}/ini_groups`;
    t.scst.createSession(t.scst.targets.get(T)!, 'iqn.a:1', nullTransport);
    await refused(
      t,
      [
        [`${g}/mgmt`, 'create', 'EINVAL'],
        [`${g}/mgmt`, 'create G1', 'EEXIST'],
        [`${g}/mgmt`, 'del nosuch', 'EINVAL'],
        [`${g}/mgmt`, 'del G1', 'EBUSY'],
        [`${g}/mgmt`, 'rename G1 G3', 'EINVAL'],
        [`${g}/G1/initiators/mgmt`, 'add', 'EINVAL'],
        [`${g}/G1/initiators/mgmt`, 'add iqn.a:1', 'EEXIST'],
        [`${g}/G1/initiators/mgmt`, 'del nobody', 'EINVAL'],
        [`${g}/G1/initiators/mgmt`, 'move iqn.a:1', 'EINVAL'],
        [`${g}/G1/initiators/mgmt`, 'move nobody G2', 'EINVAL'],
        [`${g}/G1/initiators/mgmt`, 'move iqn.a:1 nosuch', 'EINVAL'],
        [`${g}/G2/initiators/mgmt`, 'move iqn.b:* G2', 'EEXIST'],
        [`${g}/G1/initiators/mgmt`, 'frob', 'EINVAL'],
      ],
      { async: true },
    );
  });
});

describe('device_groups (§11.7-§11.10)', () => {
  it('creates groups, target groups, local and remote targets', async () => {
    const t = await populated();
    expect(await t.w('device_groups/mgmt', 'add dg2\n')).toBe(8);
    expect(await t.w('device_groups/dg1/target_groups/mgmt', 'add tg2\n')).toBe(8);
    expect(t.r('device_groups/dg1/target_groups/tg2/group_id')).toBe('0\n[key]\n');
    expect(t.r('device_groups/dg1/target_groups/tg2/preferred')).toBe('0\n');
    expect(t.r('device_groups/dg1/target_groups/tg2/state')).toBe('active\n[key]\n');
    expect(await t.w('device_groups/dg1/target_groups/tg2/mgmt', 'add remote\n')).toBe(11);
    expect(t.r('device_groups/dg1/target_groups/tg2/remote/rel_tgt_id')).toBe('0\n[key]\n');
    expect(await t.w('device_groups/dg1/target_groups/tg2/remote/rel_tgt_id', '7\n')).toBe(2);
    expect(t.fs.readlink(`${R}/device_groups/dg1/target_groups/tg1/${T}`)).toBe(`../../../../targets/iscsi/${T}`);
    expect(t.fs.readlink(`${R}/device_groups/dg1/devices/disk1`)).toBe('../../../devices/disk1');
    expect(await t.w('device_groups/dg1/target_groups/tg2/group_id', '2\n')).toBe(2);
    expect(await t.w('device_groups/dg1/target_groups/tg2/state', 'standby\n')).toBe(8);
    expect(await t.w('device_groups/dg1/target_groups/tg2/preferred', '1\n')).toBe(2);
    expect(t.r('device_groups/dg1/target_groups/tg2/preferred')).toBe('1\n[key]\n');
    // Deleting the device group puts its target groups back to active.
    const tg2 = aluaOf(t.scst).group('dg1')!.targetGroup('tg2')!;
    expect(await t.w('device_groups/mgmt', 'del dg1\n')).toBe(8);
    expect(tg2.state).toBe('active');
  });
  it('refuses bad commands and values', async () => {
    const t = await populated();
    expect(await t.w('device_groups/mgmt', 'create dg2\n')).toBe(11);
    const tg = 'device_groups/dg1/target_groups/tg1';
    await refused(t, [
      ['device_groups/mgmt', 'create', 'EINVAL'],
      ['device_groups/mgmt', 'create dg1', 'EEXIST'],
      ['device_groups/mgmt', 'del nosuch', 'EINVAL'],
      ['device_groups/mgmt', 'frob dg1', 'EINVAL'],
      [`${tg}/group_id`, '0', 'EINVAL'],
      [`${tg}/group_id`, '65536', 'EINVAL'],
      [`${tg}/group_id`, 'x', 'EINVAL'],
    ]);
    await refused(
      t,
      [
        ['device_groups/dg1/devices/mgmt', 'add nosuch', 'EINVAL'],
        ['device_groups/dg2/devices/mgmt', 'add disk1', 'EEXIST'],
        ['device_groups/dg1/devices/mgmt', 'del disk2', 'EINVAL'],
        ['device_groups/dg1/devices/mgmt', 'add', 'EINVAL'],
        ['device_groups/dg1/target_groups/mgmt', 'create tg1', 'EEXIST'],
        ['device_groups/dg1/target_groups/mgmt', 'del nosuch', 'EINVAL'],
        [`${tg}/mgmt`, `add ${T}`, 'EEXIST'],
        [`${tg}/mgmt`, 'del nosuch', 'EINVAL'],
        [`${tg}/mgmt`, 'frob x', 'EINVAL'],
        [`${tg}/state`, 'Active', 'EINVAL'],
        [`${tg}/state`, 'gone', 'EINVAL'],
        [`${tg}/preferred`, '2', 'EINVAL'],
      ],
      {},
    );
  });
});

describe('attributes: writes and refusals', () => {
  it('root attributes', async () => {
    const t = await populated();
    expect(await t.w('threads', '4\n')).toBe(2);
    expect(t.r('threads')).toBe('4\n[key]\n');
    expect(await t.w('setup_id', '0x1234\n')).toBe(7);
    expect(t.r('setup_id')).toBe('0x1234\n[key]\n');
    expect(await t.w('cluster_name', 'c1\n')).toBe(3);
    expect(t.r('cluster_name')).toBe('c1\n[key]\n');
    expect(await t.w('cluster_name', '\n')).toBe(1);
    expect(t.r('cluster_name')).toBe('');
    expect(await t.w('max_tasklet_cmd', '20')).toBe(2);
    expect(t.r('max_tasklet_cmd')).toBe('20\n[key]\n');
    expect(await t.w('trace_level', 'add scsi\n')).toBe(9);
    expect(t.r('trace_level').split('\n')[0]).toBe('out_of_mem | pid | special | scsi | mgmt');
    await refused(t, [
      ['threads', '0', 'EINVAL'],
      ['threads', '-2', 'EINVAL'],
      ['threads', 'x', 'EINVAL'],
      ['setup_id', 'x', 'EINVAL'],
      ['setup_id', ' 1', 'EINVAL'],
      ['cluster_name', 'c'.repeat(64), 'EINVAL'],
      ['measure_latency', '.', 'EINVAL'],
      ['async_lun_replace', 'maybe', 'EINVAL'],
      ['poll_us', '-1', 'EINVAL'],
      ['trace_level', 'frob', 'EINVAL'],
      ['trace_level', 'add nosuch', 'EINVAL'],
      ['trace_level', 'value x', 'EINVAL'],
    ]);
    for (const ro of ['version', 'last_sysfs_mgmt_res', 'trace_cmds', 'aborted_cmd_count', 'stuck_cmd_count']) expect(await t.w(ro, '1\n'), ro).toBe(E.EACCES);
  });
  it('target attributes', async () => {
    const t = await populated();
    const p = `targets/iscsi/${T}`;
    expect(t.r(`${p}/rel_tgt_id`)).toBe('1\n[key]\n');
    expect(await t.w(`${p}/addr_method`, 'flat\n')).toBe(5);
    expect(t.r(`${p}/addr_method`)).toBe('FLAT\n[key]\n');
    expect(await t.w(`${p}/io_grouping_type`, 'never\n')).toBe(6);
    expect(t.r(`${p}/io_grouping_type`)).toBe('never\n[key]\n');
    expect(await t.w(`${p}/io_grouping_type`, '3\n')).toBe(2);
    expect(t.r(`${p}/io_grouping_type`)).toBe('3\n[key]\n');
    expect(await t.w(`${p}/black_hole`, '2\n')).toBe(2);
    expect(t.r(`${p}/black_hole`)).toBe('2\n');
    expect(await t.w(`${p}/comment`, 'my target\n')).toBe(10);
    expect(t.r(`${p}/comment`)).toBe('my target\n[key]\n');
    expect(await t.w(`${p}/HeaderDigest`, 'crc32c,none\n')).toBe(12);
    expect(t.r(`${p}/HeaderDigest`)).toBe('None,CRC32C\n[key]\n\n');
    expect(await t.w(`${p}/MaxBurstLength`, '65536\n')).toBe(6);
    expect(iscsiTarget(t.scst.targets.get(T)!).params.MaxBurstLength).toBe(65536);
    expect(await t.w(`${p}/MaxBurstLength`, ':default:\n')).toBe(10);
    expect(t.r(`${p}/MaxBurstLength`)).toBe('1048576\n');
    expect(await t.w(`${p}/InitialR2T`, 'Yes\n')).toBe(4);
    expect(t.r(`${p}/InitialR2T`)).toBe('Yes\n[key]\n\n');
    expect(await t.w(`${p}/alias`, 'Disk box\n')).toBe(9);
    expect(iscsiTarget(t.scst.targets.get(T)!).alias).toBe('Disk box');
    expect(await t.w('targets/iscsi/mgmt', 'add_target iqn.x:t2\n')).toBeGreaterThan(0);
    expect(await t.w('targets/iscsi/iqn.x:t2/rel_tgt_id', '1\n')).toBe(2); // disabled: not checked yet
    await refused(t, [['targets/iscsi/iqn.x:t2/enabled', '1', 'EBADSLT']], { async: true });
    await refused(t, [[`${p}/rel_tgt_id`, '2x', 'EINVAL']]);
    await refused(
      t,
      [
        [`${p}/enabled`, 'x', 'EINVAL'],
        [`${p}/addr_method`, 'wide', 'EINVAL'],
        [`${p}/io_grouping_type`, 'x', 'EINVAL'],
        [`${p}/io_grouping_type`, '0', 'EINVAL'],
        [`${p}/black_hole`, '5', 'EINVAL'],
        [`${p}/cpu_mask`, 'zz', 'EINVAL'],
        [`${p}/forward_src`, '2', 'EINVAL'],
        [`${p}/aen_disabled`, 'y', 'EINVAL'],
        [`${p}/InitialR2T`, 'yes', 'EINVAL'],
        [`${p}/MaxRecvDataSegmentLength`, '100', 'EINVAL'],
        [`${p}/QueuedCommands`, '4096', 'EINVAL'],
        [`${p}/HeaderDigest`, 'md5', 'EINVAL'],
        [`${p}/RDMAExtensions`, 'Yes', 'EINVAL'],
        [`${p}/MaxBurstLength`, '65536 1', 'EINVAL'],
        [`${p}/redirect`, '10.0.0.1', 'EINVAL'],
        [`${p}/per_portal_acl`, '2', 'EINVAL'],
        [`${p}/tid`, '3', 'EACCES'],
        [`${p}/sg_tablesize`, '3', 'EACCES'],
      ],
      {},
    );
    await refused(t, [[`${p}/rel_tgt_id`, '70000', 'EINVAL']], { async: true });
  });
  it('device attributes', async () => {
    const t = await populated();
    const d = 'devices/disk1';
    expect(await t.w(`${d}/t10_vend_id`, 'ACME\n')).toBe(5);
    expect(t.r(`${d}/t10_vend_id`)).toBe('ACME\n[key]\n');
    expect(t.scst.devices.get('disk1')!.t10VendId).toBe('ACME');
    expect(await t.w(`${d}/prod_id`, `${t.r(`${d}/prod_id`)}`)).toBeGreaterThan(0);
    expect(t.r(`${d}/prod_id`)).toBe('disk1\n[key]\n'); // key once written, even with the default
    expect(await t.w(`${d}/naa_id`, '0x5000c50012345678\n')).toBe(19);
    expect(t.r(`${d}/naa_id`)).toBe('0x5000c50012345678\n[key]\n');
    expect(await t.w(`${d}/naa_id`, '\n')).toBe(1);
    expect(t.r(`${d}/naa_id`)).toBe('\n');
    expect(await t.w(`${d}/expl_alua`, '1\n')).toBe(2);
    expect(t.r(`${d}/expl_alua`)).toBe('1\n[key]\n');
    expect(await t.w(`${d}/expl_alua`, '0\n')).toBe(2);
    expect(t.r(`${d}/expl_alua`)).toBe('0\n');
    expect(await t.w(`${d}/opt_trans_len`, '1048576\n')).toBe(8);
    expect(await t.w(`${d}/active`, '0\n')).toBe(2);
    expect(t.r(`${d}/active`)).toBe('0\n[key]\n');
    expect(await t.w(`${d}/filename`, ` ${disk2} \n`)).toBeGreaterThan(0);
    expect(t.r(`${d}/filename`)).toBe(`${disk2}\n[key]\n\n`);
    await refused(t, [[`${d}/resync_size`, '1', 'EMEDIUMTYPE']], { async: true });
    expect(await t.w(`${d}/active`, '1\n')).toBe(2);
    expect(t.r(`${d}/size`)).toBe(`${8 * MiB}\n[key]\n`);
    expect(await t.w('devices/null1/size_mb', '32\n')).toBe(3);
    expect(t.r('devices/null1/size')).toBe(`${32 * MiB}\n[key]\n`);
    expect(await t.w('devices/cdrom1/filename', `${iso}\n`)).toBeGreaterThan(0);
    expect(t.r('devices/cdrom1/filename')).toBe(`${iso}\n[key]\n\n`);
    expect(t.r('devices/cdrom1/size')).toBe(`${MiB}\n[key]\n`);
    await refused(t, [
      [`${d}/t10_vend_id`, 'ABCDEFGHI', 'EINVAL'],
      [`${d}/prod_id`, 'x'.repeat(17), 'EINVAL'],
      [`${d}/prod_rev_lvl`, '12345', 'EINVAL'],
      [`${d}/naa_id`, '0x1000c50012345678', 'EINVAL'],
      [`${d}/eui64_id`, '0x12345', 'EINVAL'],
      [`${d}/opt_trans_len`, '1000', 'EINVAL'],
      [`${d}/active`, '2', 'EINVAL'],
      [`${d}/max_tgt_dev_commands`, '-1', 'EINVAL'],
      [`${d}/numa_node_id`, '-2', 'EINVAL'],
      [`${d}/threads_pool_type`, 'x', 'EINVAL'],
      [`${d}/lb_per_pb_exp`, '2', 'EINVAL'],
      [`${d}/read_only`, '1', 'EACCES'],
      [`${d}/blocksize`, '512', 'EACCES'],
      [`${d}/size`, '512', 'EACCES'],
      ['devices/null1/read_zero', '2', 'EINVAL'],
    ]);
    await refused(
      t,
      [
        [`${d}/filename`, '/other.img', 'EINVAL'],
        ['devices/null1/size', '1000', 'EINVAL'],
        ['devices/cdrom1/filename', 'relative.iso', 'EINVAL'],
        ['devices/cdrom1/filename', '/nonexistent.iso', 'ENOENT'],
      ],
      { async: true },
    );
  });
});
