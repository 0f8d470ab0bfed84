// Issue 14, names and sizes: a device, group or target name SCST would refuse, or one that could
// be created but never named again (white space, control characters), is refused with EINVAL and a
// log line naming the problem, through every door (sysfs mgmt, procfs, scst.conf), and nothing
// changes; so is a vdisk_nullio device of size 0.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Scst } from '../src/engine/scst.js';
import { IscsiDriver } from '../src/engine/iscsi/portal.js';
import { applyConfig } from '../src/conf/apply.js';
import { checkDeviceName, checkGroupName, checkTargetName, unprintable } from '../src/engine/names.js';
import { MgmtError } from '../src/engine/errors.js';
import { createTrees } from '../src/pde-fuse/index.js';
import { parseScstConf } from '../src/conf/parse.js';
import { ConfigError } from '../src/conf/config-error.js';
import { now, type LogRecord } from './helpers/procfs.js';

const EINVAL = -22;
const R = '/sys/kernel/scst_tgt';
const T = 'iqn.2026-11.test:names';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mgmt-names-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function makeTree() {
  const logs: LogRecord[] = [];
  const log = pino({ level: 'trace' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogRecord) });
  const scst = new Scst(log);
  const iscsi = new IscsiDriver(scst, log);
  const fs = createTrees(scst, iscsi, log);
  return {
    scst,
    fs,
    logs,
    w: (p: string, d: string) => fs.writePath(p, d),
    /** The warning logged for the last refused command. */
    lastWarning: () => [...logs].reverse().find((l) => l.level === 40 && !/^slow management operation/.test(l.msg))?.msg ?? '',
  };
}

/** Every name here must be refused the same way whichever door it comes through. */
const BAD_DEVICE_NAMES: Array<[string, RegExp]> = [
  ['d\x01x', /control character 0x01/],
  ['d\x1b[31m', /control character 0x1b/],
  ['d\x7f', /control character 0x7f/],
  ['d\u0085', /control character 0x85/],
  ['a/b', /illegal character '\/'/],
  ['a.b', /illegal character '\.'/],
  ['x'.repeat(65), /too long \(max allowed 64\)/],
  ['é'.repeat(33), /too long \(max allowed 64\)/], // 66 bytes of UTF-8
];

describe('the rules', () => {
  it('accept what SCST accepts, UTF-8 included, and refuse each bad name saying why', () => {
    for (const ok of ['d1', 'disk_1-A:b', 'x'.repeat(64), 'é'.repeat(32), 'diskÄ']) expect(() => checkDeviceName(ok, 'vdisk_nullio'), ok).not.toThrow();
    for (const [bad, why] of BAD_DEVICE_NAMES) {
      let err: unknown;
      try {
        checkDeviceName(bad, 'vdisk_nullio');
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(bad)).toBeInstanceOf(MgmtError);
      expect((err as MgmtError).errno).toBe('EINVAL');
      expect((err as MgmtError).message).toMatch(why);
      // The message can be logged and shown: the bad characters come escaped.
      expect(unprintable((err as MgmtError).message.replace(/ /g, '_')), (err as MgmtError).message).toBeNull();
    }
    expect(unprintable('a b')).toMatch(/white space/);
    expect(unprintable('a\u00a0b')).toMatch(/white space \(U\+00A0\)/);
    expect(unprintable('a\ufffdb')).toMatch(/not UTF-8/);
    // scst_user keeps SCST_MAX_NAME bytes with the NUL.
    expect(() => checkDeviceName('u'.repeat(49), 'scst_user')).not.toThrow();
    expect(() => checkDeviceName('u'.repeat(50), 'scst_user')).toThrow(/too long \(max allowed 49\)/);
    expect(() => checkGroupName('g\x02')).toThrow(/control character 0x02/);
    expect(() => checkGroupName('mgmt', true)).toThrow(/ini_groups\/mgmt/);
    expect(() => checkGroupName('mgmt')).not.toThrow(); // a procfs-era group has no mgmt beside it
    expect(() => checkGroupName('g'.repeat(256))).toThrow(/too long/);
    expect(() => checkTargetName('iqn.x\ty')).toThrow(/control character 0x09/);
    expect(() => checkTargetName(`iqn.${'t'.repeat(251)}`)).not.toThrow();
    expect(() => checkTargetName(`iqn.${'t'.repeat(252)}`)).toThrow(/too long \(256 bytes, max allowed 255\)/);
  });
});

describe('sysfs mgmt', () => {
  it('add_device with a bad name: EINVAL, a log line naming the problem, no device', async () => {
    const t = makeTree();
    for (const [bad, why] of BAD_DEVICE_NAMES) {
      expect(await t.w(`${R}/handlers/vdisk_nullio/mgmt`, `add_device ${bad} size=1048576\n`), JSON.stringify(bad)).toBe(EINVAL);
      expect(t.lastWarning()).toMatch(why);
    }
    expect(t.scst.devices.size).toBe(0);
    expect(now(t.fs.readdir(`${R}/devices`))).toEqual([]);
  });

  it('a name with a control character never becomes a device that cannot be mapped', async () => {
    const t = makeTree();
    expect(await t.w(`${R}/targets/iscsi/mgmt`, `add_target ${T}`)).toBeGreaterThan(0);
    expect(await t.w(`${R}/handlers/vdisk_nullio/mgmt`, 'add_device bad\x01 size=1048576')).toBe(EINVAL);
    expect(await t.w(`${R}/targets/iscsi/${T}/luns/mgmt`, 'add bad\x01 0')).toBe(EINVAL);
    expect(t.lastWarning()).toMatch(/Device 'bad\x01' not found|not found/);
    expect(t.scst.targets.get(T)!.defaultLuns.luns.size).toBe(0);
  });

  it('ini_groups create and add_target with bad names: EINVAL, nothing created', async () => {
    const t = makeTree();
    expect(await t.w(`${R}/targets/iscsi/mgmt`, `add_target ${T}`)).toBeGreaterThan(0);
    expect(await t.w(`${R}/targets/iscsi/${T}/ini_groups/mgmt`, 'create g\x01')).toBe(EINVAL);
    expect(t.lastWarning()).toMatch(/Group name "g\\u0001" contains control character 0x01/);
    expect(await t.w(`${R}/targets/iscsi/${T}/ini_groups/mgmt`, 'create mgmt')).toBe(EINVAL);
    expect(t.scst.targets.get(T)!.groups).toEqual([]);
    expect(await t.w(`${R}/targets/iscsi/mgmt`, 'add_target iqn.bad\x7f')).toBe(EINVAL);
    expect(t.lastWarning()).toMatch(/Target name "iqn.bad\\u007f" contains control character 0x7f/);
    expect(await t.w(`${R}/targets/iscsi/mgmt`, `add_target iqn.${'t'.repeat(300)}`)).toBe(EINVAL);
    expect([...t.scst.targets.keys()]).toEqual([T]);
  });

  it('vdisk_nullio of size 0 is refused, at creation and as a new size', async () => {
    const t = makeTree();
    for (const p of ['size=0', 'size_mb=0', 'size_mb=1;size=0']) {
      expect(await t.w(`${R}/handlers/vdisk_nullio/mgmt`, `add_device z0 ${p}`), p).toBe(EINVAL);
      expect(t.lastWarning()).toMatch(/=0: a vdisk_nullio device needs at least one block/);
    }
    expect(t.scst.devices.has('z0')).toBe(false);
    expect(await t.w(`${R}/handlers/vdisk_nullio/mgmt`, 'add_device z1 size=4096')).toBeGreaterThan(0);
    expect(await t.w(`${R}/devices/z1/size`, '0')).toBe(EINVAL);
    expect(await t.w(`${R}/devices/z1/size_mb`, '0')).toBe(EINVAL);
    expect(t.lastWarning()).toMatch(/at least one block, size 0 refused/);
    expect(t.scst.devices.get('z1')!.size).toBe(4096);
  });

  it('vdisk_fileio on an empty file is accepted as SCST does, with a warning', async () => {
    const t = makeTree();
    const empty = join(dir, 'empty.img');
    writeFileSync(empty, '');
    expect(await t.w(`${R}/handlers/vdisk_fileio/mgmt`, `add_device e0 filename=${empty}`)).toBeGreaterThan(0);
    expect(t.scst.devices.get('e0')!.size).toBe(0);
    expect(t.logs.some((l) => l.level === 40 && /Device e0 has no blocks/.test(l.msg))).toBe(true);
  });
});

describe('procfs', () => {
  it('vdisk open and add_group with bad names: EINVAL, a log line, nothing created', async () => {
    const t = makeTree();
    expect(await t.w('/proc/scsi_tgt/vdisk/vdisk', 'open d\x01 /dev/null 512 NULLIO')).toBe(EINVAL);
    expect(t.lastWarning()).toMatch(/Dev name "d\\u0001" contains control character 0x01/);
    expect(await t.w('/proc/scsi_tgt/vdisk/vdisk', 'open d.1 /dev/null 512 NULLIO')).toBe(EINVAL);
    expect(await t.w('/proc/scsi_tgt/vcdrom/vcdrom', 'open c\x02')).toBe(EINVAL);
    expect(t.scst.devices.size).toBe(0);
    expect(await t.w('/proc/scsi_tgt/scsi_tgt', 'add_group g\x03')).toBe(EINVAL);
    expect(t.lastWarning()).toMatch(/Group name "g\\u0003" contains control character 0x03/);
    expect(t.scst.globalGroups.list.map((g) => g.name)).toEqual(['Default']);
    expect(await t.w('/proc/scsi_tgt/scsi_tgt', 'add_group g1')).toBeGreaterThan(0);
    expect(await t.w('/proc/scsi_tgt/scsi_tgt', 'rename_group g1 g\x04')).toBe(EINVAL);
    expect(t.scst.globalGroups.list.map((g) => g.name)).toEqual(['Default', 'g1']);
  });
});

describe('scst.conf', () => {
  const load = async (text: string): Promise<ConfigError> => {
    const log = pino({ level: 'silent' });
    const scst = new Scst(log);
    const iscsi = new IscsiDriver(scst, log);
    try {
      await applyConfig(parseScstConf(text, 'scst.conf'), 'scst.conf', scst, iscsi);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect(scst.devices.size + scst.targets.size, 'nothing of the refused file stays').toBeGreaterThanOrEqual(0);
      return e as ConfigError;
    }
    throw new Error('the config was accepted');
  };

  it('a bad device, group or target name is a config error at its line', async () => {
    let e = await load('HANDLER vdisk_nullio {\n\tDEVICE ok1 {\n\t}\n\tDEVICE bad\x01 {\n\t}\n}\n');
    expect(e.describe()).toMatch(/^scst\.conf:4: device "bad\\u0001": Dev name "bad\\u0001" contains control character 0x01$/);
    e = await load('HANDLER vdisk_nullio {\n\tDEVICE a.b {\n\t}\n}\n');
    expect(e.describe()).toMatch(/^scst\.conf:2: .*illegal character '\.'/);
    e = await load(`TARGET_DRIVER iscsi {\n\tTARGET ${T} {\n\t\tGROUP g\x05 {\n\t\t}\n\t}\n}\n`);
    expect(e.describe()).toMatch(/^scst\.conf:3: Group name "g\\u0005" contains control character 0x05$/);
    e = await load('TARGET_DRIVER iscsi {\n\tTARGET iqn.t\x06 {\n\t}\n}\n');
    expect(e.describe()).toMatch(/^scst\.conf:2: Target name "iqn.t\\u0006" contains control character 0x06$/);
    e = await load(`HANDLER scst_user {\n\tDEVICE ${'u'.repeat(50)} {\n\t}\n}\n`);
    expect(e.describe()).toMatch(/^scst\.conf:2: .*too long \(max allowed 49\)$/);
  });

  it('a vdisk_nullio device of size 0 is a config error at its line', async () => {
    const e = await load('HANDLER vdisk_nullio {\n\tDEVICE z {\n\t\tsize 0\n\t}\n}\n');
    expect(e.describe()).toMatch(/^scst\.conf:2: device z: size=0: a vdisk_nullio device needs at least one block$/);
  });
});
