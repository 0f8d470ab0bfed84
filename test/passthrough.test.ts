// The SCSI pass-through handlers dev_disk and dev_cdrom (scst_sysfs.c's pass-through mgmt): listed
// under handlers/ with type and mgmt, accepted empty in scst.conf by scstd and scstadmin, and
// add_device H:C:I:L refused with SCST's messages when the host has no such SCSI device - this
// machine has none (no /sys/bus/scsi), so the found-device paths run against a host sysfs tree
// made in a temporary directory.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IscsiDriver } from '../src/engine/iscsi/portal.js';
import { Scst } from '../src/engine/scst.js';
import { MgmtError } from '../src/engine/errors.js';
import { findHostScsiDevice, parseHctl, passThroughHandler, passThroughMgmt } from '../src/engine/passthrough/pass-through.js';
import { createTrees } from '../src/pde-fuse/index.js';
import { installHarnessHooks } from './helpers/cleanup.js';
import { tmpDir } from './helpers/files.js';
import { now } from './helpers/procfs.js';
import { PdeTreeFs } from './helpers/scstadmin/pde-tree.js';
import { runAdminOn } from './helpers/scstadmin/run.js';
import { runScstdOnce, startScstd } from './helpers/scstd.js';

installHarnessHooks();

const R = '/sys/kernel/scst_tgt';
const EINVAL = -22;
let host: string;

beforeAll(() => {
  // A host sysfs with a disk on sg0, a CD-ROM without an sg node.
  host = mkdtempSync(join(tmpdir(), 'passthrough-'));
  const dev = (hctl: string, type: number, sg?: string) => {
    const d = join(host, 'bus', 'scsi', 'devices', hctl);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'type'), `${type}\n`);
    if (sg) mkdirSync(join(d, 'scsi_generic', sg), { recursive: true });
  };
  dev('2:0:0:0', 0, 'sg0');
  dev('3:0:1:0', 5);
});
afterAll(() => rmSync(host, { recursive: true, force: true }));

async function refused(p: Promise<unknown>): Promise<MgmtError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(MgmtError);
  return e as MgmtError;
}

describe('finding the host SCSI device', () => {
  it('parses H:C:I:L as the kernel scans it', () => {
    expect(parseHctl('2:0:1:3')).toBe('2:0:1:3');
    expect(parseHctl('02:0:0:18446744073709551615')).toBe('2:0:0:18446744073709551615');
    for (const bad of ['2:0:1', 'a:0:0:0', '2-0-0-0', '4294967296:0:0:0', '', '2:0:0:18446744073709551616']) expect(parseHctl(bad), bad).toBeNull();
  });

  it('reads type and sg node from the host sysfs', async () => {
    expect(await findHostScsiDevice('2:0:0:0', host)).toEqual({ hctl: '2:0:0:0', type: 0, sg: '/dev/sg0' });
    expect(await findHostScsiDevice('3:0:1:0', host)).toEqual({ hctl: '3:0:1:0', type: 5, sg: null });
    expect(await findHostScsiDevice('9:0:0:0', host)).toBeNull();
  });

  it('refuses in SCST order: device, syntax, existence, type, then the action', async () => {
    const disk = passThroughHandler('dev_disk')!;
    const cd = passThroughHandler('dev_cdrom')!;
    const m = (h: typeof disk, action: string, d: string, extra = '') => refused(passThroughMgmt(h, action, d, extra, `${action} ${d} ${extra}`.trim(), host));
    expect((await m(disk, 'add_device', '')).message).toBe('Device required');
    expect((await m(disk, 'add_device', '2:0:0:0', 'x')).message).toBe('Syntax error on "add_device 2:0:0:0 x"');
    expect((await m(disk, 'add_device', '2:0:0')).message).toBe('Syntax error on "add_device 2:0:0"');
    const missing = await m(disk, 'add_device', '9:0:0:0');
    expect([missing.errno, missing.message]).toEqual(['EINVAL', expect.stringMatching(/^Device 9:0:0:0 not found/)]);
    // An unknown action on an unknown device: the device is judged first, as SCST does.
    expect((await m(disk, 'frob', '9:0:0:0')).message).toMatch(/^Device 9:0:0:0 not found/);
    expect((await m(cd, 'add_device', '2:0:0:0')).message).toBe('Type 0 of device 2:0:0:0 differs from type 5 of dev handler dev_cdrom');
    const noSg = await m(cd, 'add_device', '3:0:1:0');
    expect([noSg.errno, noSg.message]).toEqual(['ENODEV', expect.stringContaining('no SCSI generic node')]);
    const io = await m(disk, 'add_device', '2:0:0:0');
    expect([io.errno, io.message]).toEqual(['EOPNOTSUPP', expect.stringContaining('/dev/sg0')]);
    expect((await m(disk, 'del_device', '2:0:0:0')).message).toBe('Device 2:0:0:0 is not assigned to handler dev_disk');
    expect((await m(disk, 'frob', '2:0:0:0')).message).toBe('Unknown action "frob"');
  });
});

function engine() {
  const log = pino({ level: 'silent' });
  const scst = new Scst(log);
  const trees = createTrees(scst, new IscsiDriver(scst, log), log);
  return { scst, trees, fs: new PdeTreeFs('/m', trees) };
}

describe('handlers/dev_disk and handlers/dev_cdrom', () => {
  it('are listed with type and the pass-through mgmt help', async () => {
    const { trees } = engine();
    const r = (p: string) => now(trees.readPath(`${R}/${p}`));
    expect(r('handlers/dev_disk/type')).toBe('0 - Direct-access device (e.g., magnetic disk)\n');
    expect(r('handlers/dev_cdrom/type')).toBe('5 - CD-ROM device\n');
    for (const h of ['dev_disk', 'dev_cdrom']) expect(r(`handlers/${h}/mgmt`)).toBe('Usage: echo "add_device H:C:I:L" >mgmt\n       echo "del_device H:C:I:L" >mgmt\n');
  });

  it('mgmt refuses a device this host does not have, with EINVAL', async () => {
    const { trees, scst } = engine();
    for (const cmd of ['add_device 0:0:0:0', 'add_device', 'add_device 0:0:0', 'add_device 0:0:0:0 more', 'del_device 0:0:0:0']) {
      expect(await trees.writePath(`${R}/handlers/dev_disk/mgmt`, `${cmd}\n`), cmd).toBe(EINVAL);
    }
    expect(scst.devices.size).toBe(0);
  });
});

const PT_CONF = 'HANDLER dev_disk {\n}\n\nHANDLER dev_cdrom {\n}\n\nHANDLER vdisk_nullio {\n\tDEVICE n0 {\n\t\tsize_mb 1\n\t}\n}\n\nTARGET_DRIVER iscsi {\n\tenabled 1\n\n\tTARGET iqn.2026-01.test:pt {\n\t\tLUN 0 n0\n\t\tenabled 1\n\t}\n}\n';

describe('scst.conf with pass-through handlers', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'passthrough-conf-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('scstadmin -check_config and -config accept empty sections; a DEVICE H:C:I:L is refused', async () => {
    const { fs, scst } = engine();
    const f = join(dir, 'scst.conf');
    writeFileSync(f, PT_CONF);
    const check = await runAdminOn(fs, '/m', ['-check_config', f]);
    expect(check.code, check.out).toBe(0);
    expect(check.out).not.toMatch(/No such handler/);
    const apply = await runAdminOn(fs, '/m', ['-config', f]);
    expect(apply.code, apply.out + apply.err).toBe(0);
    expect([...scst.devices.keys()]).toEqual(['n0']);
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, PT_CONF.replace('HANDLER dev_disk {\n}', 'HANDLER dev_disk {\n\tDEVICE 7:0:0:0\n}'));
    const r = await runAdminOn(fs, '/m', ['-config', bad]);
    expect(r.code).not.toBe(0);
    expect(r.out + r.err).toMatch(/7:0:0:0/);
  });

  it('scstd --config starts with empty pass-through sections and refuses a missing host device', async () => {
    const d = await startScstd({ config: PT_CONF });
    const stop = await d.stop();
    expect(stop.code).toBe(0);
    const r = await runScstdOnce({ config: 'HANDLER dev_disk {\n\tDEVICE 7:0:0:0\n}\n' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/:2: device 7:0:0:0: Device 7:0:0:0 not found/);
  });

  it('--no-pass-through (a kernel without scst_disk/scst_cdrom): the handlers are not listed and a config naming one is refused', async () => {
    const work = await tmpDir('pt-off-');
    const d = await startScstd({ config: '# none\n', extraArgs: ['--mount', join(work, 'mnt'), '--no-pass-through'] });
    const { readdir } = await import('node:fs/promises');
    const handlers = await readdir(join(work, 'mnt', 'sys', 'kernel', 'scst_tgt', 'handlers'));
    expect(handlers).toContain('vdisk_fileio');
    expect(handlers).not.toContain('dev_disk');
    expect(handlers).not.toContain('dev_cdrom');
    expect((await d.stop()).code).toBe(0);
    const r = await runScstdOnce({ config: PT_CONF, extraArgs: ['--no-pass-through'] });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/handler dev_\w+ is not available \(scstd runs with --no-pass-through\)/);
  });
});
