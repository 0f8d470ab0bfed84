// targets/copy_manager (sysfs.md §7.1, §7.6; SCST's scst_copy_mgr.c) on the engine's tree,
// in-process: which devices the copy manager gets and at which LUN, what it refuses, what its
// files show, and that deleting a device takes its copy manager LUN with it.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Scst } from '../src/engine/scst.js';
import { IscsiDriver } from '../src/engine/iscsi/portal.js';
import { createTrees } from '../src/pde-fuse/index.js';
import { now } from './helpers/procfs.js';

const R = '/sys/kernel/scst_tgt';
const CM = 'targets/copy_manager/copy_manager_tgt';
const E = { EEXIST: -17, EINVAL: -22, ENOENT: -2 };

function makeTree() {
  const log = pino({ level: 'silent' });
  const scst = new Scst(log);
  const iscsi = new IscsiDriver(scst, log);
  const fs = createTrees(scst, iscsi, log, { sysfs: { asyncWaitMs: 15_000 } });
  const w = (p: string, d: string) => fs.writePath(`${R}/${p}`, d);
  const r = (p: string): string | number => now(fs.readPath(`${R}/${p}`));
  const ls = (p: string) => [...(fs.readdir(`${R}/${p}`) as string[])].sort();
  const cmLuns = () => Object.fromEntries(ls(`${CM}/luns`).filter((n) => n !== 'mgmt').map((n) => [n, fs.readlink(`${R}/${CM}/luns/${n}/device`)]));
  return { scst, fs, w, r, ls, cmLuns };
}

const dev = (n: string) => `../../../../../devices/${n}`;

describe('the copy manager in the sysfs tree', () => {
  it('exists from the start: driver attributes, one target without enabled, one session', () => {
    const t = makeTree();
    expect(t.ls('targets')).toEqual(['copy_manager', 'iscsi']);
    expect(t.ls('targets/copy_manager')).toEqual(['allow_not_connected_copy', 'copy_manager_tgt', 'dif_capabilities']);
    expect(t.r('targets/copy_manager/allow_not_connected_copy')).toBe('0\n');
    expect(t.r('targets/copy_manager/dif_capabilities')).toBe('dif_supported, hw_dif_type1_supported, hw_dif_type2_supported, hw_dif_type3_supported\n');
    const attrs = t.ls(CM);
    expect(attrs).not.toContain('enabled');
    expect(attrs).not.toContain('mgmt');
    expect(attrs).toEqual(expect.arrayContaining(['rel_tgt_id', 'addr_method', 'io_grouping_type', 'cpu_mask', 'sg_tablesize', 'luns', 'ini_groups', 'sessions', 'dif_capabilities', 'dif_checks_failed']));
    expect(t.r(`${CM}/sg_tablesize`)).toBe('65535\n');
    expect(t.ls(`${CM}/sessions`)).toEqual(['copy_manager_sess']);
    expect(t.r(`${CM}/sessions/copy_manager_sess/initiator_name`)).toBe('copy_manager_sess\n');
    expect(t.ls(`${CM}/luns`)).toEqual(['mgmt']);
  });

  it('every vdisk device gets the next LUN as it is registered; the counter never goes back and skips LUNs in use', async () => {
    const t = makeTree();
    for (const n of ['a', 'b', 'c']) expect(await t.w('handlers/vdisk_nullio/mgmt', `add_device ${n} size_mb=1`)).toBeGreaterThan(0);
    await t.w('handlers/vcdrom/mgmt', 'add_device cd');
    expect(t.cmLuns()).toEqual({ 0: dev('a'), 1: dev('b'), 2: dev('c'), 3: dev('cd') });
    // Read-only devices (a vcdrom is one) are assigned too; their LUN reads read_only 1.
    expect(t.r(`${CM}/luns/3/read_only`)).toBe('1\n[key]\n');
    expect(t.r(`${CM}/luns/0/read_only`)).toBe('0\n');
    // Deleting a device removes its copy manager LUN; a new device does not get the freed number.
    await t.w('handlers/vdisk_nullio/mgmt', 'del_device b');
    expect(t.cmLuns()).toEqual({ 0: dev('a'), 2: dev('c'), 3: dev('cd') });
    await t.w('handlers/vdisk_nullio/mgmt', 'add_device d size_mb=1');
    expect(t.cmLuns()[4]).toBe(dev('d'));
    // A LUN taken by hand is skipped.
    expect(await t.w(`${CM}/luns/mgmt`, 'add a 5')).toBeGreaterThan(0);
    await t.w('handlers/vdisk_nullio/mgmt', 'add_device e size_mb=1');
    expect(t.cmLuns()[5]).toBe(dev('a'));
    expect(t.cmLuns()[6]).toBe(dev('e'));
    expect(t.fs.readlink(`${R}/devices/e/exported/export0`)).toBe(`../../../${CM}/luns/6`);
    // The session's per-LUN directories follow the LUN set.
    expect(t.ls(`${CM}/sessions/copy_manager_sess`)).toEqual(expect.arrayContaining(['lun0', 'lun6', 'luns']));
    expect(Number(t.r(`${CM}/sessions/copy_manager_sess/read_cmd_count`))).toBe(6);
  });

  it('refuses read-only LUNs and security groups (EINVAL), as SCST', async () => {
    const t = makeTree();
    await t.w('handlers/vdisk_nullio/mgmt', 'add_device a size_mb=1');
    await t.w('handlers/vdisk_nullio/mgmt', 'add_device ro size_mb=1;read_only=1');
    expect(t.cmLuns()).toEqual({ 0: dev('a'), 1: dev('ro') });
    expect(await t.w(`${CM}/luns/mgmt`, 'add a 7 read_only=1')).toBe(E.EINVAL);
    expect(await t.w(`${CM}/luns/mgmt`, 'add ro 7')).toBe(E.EINVAL);
    expect(await t.w(`${CM}/luns/mgmt`, 'add a 0')).toBe(E.EEXIST);
    expect(await t.w(`${CM}/ini_groups/mgmt`, 'create g')).toBe(E.EINVAL);
    expect(t.ls(`${CM}/ini_groups`)).toEqual(['mgmt']);
    expect(t.cmLuns()).toEqual({ 0: dev('a'), 1: dev('ro') });
    // A LUN deleted by hand can be given back.
    expect(await t.w(`${CM}/luns/mgmt`, 'del 0')).toBeGreaterThan(0);
    expect(await t.w(`${CM}/luns/mgmt`, 'add a 0')).toBeGreaterThan(0);
  });

  it('allow_not_connected_copy: any number, shown as 0/1 and key when set', async () => {
    const t = makeTree();
    const f = 'targets/copy_manager/allow_not_connected_copy';
    expect(await t.w(f, '5\n')).toBe(2);
    expect(t.r(f)).toBe('1\n[key]\n');
    expect(t.scst.copyManager.allowNotConnectedCopy).toBe(true);
    expect(await t.w(f, 'x')).toBe(E.EINVAL);
    expect(await t.w(f, '0')).toBe(1);
    expect(t.r(f)).toBe('0\n');
  });
});
