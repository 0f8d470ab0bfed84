// Logical-unit identifiers byte for byte as kernel SCST's vdisk handler computes them, held
// against values derived by hand from scst/src/dev_handlers/scst_vdisk.c - not from the daemon's
// code:
//
//   vdisk_gen_dev_id_num(name) = crc32c(0, name, strlen(name) + 1) | (u64)scst_get_setup_id() << 32
//     Linux's crc32c(seed, p, len) is the bare reflected Castagnoli register (poly 0x82F63B78)
//     started at `seed`: no initial and no final inversion. The name's terminating NUL is hashed.
//   vdev_create():  t10_dev_id = snprintf(char[26], "%llx-%s", id, name)  (at most 25 characters)
//                   usn = scnprintf(char[21], "%llx", id)
//                   vend_specific_id = t10_dev_id (as generated, before add_device parameters)
//                   t10_vend_id = "SCST_FIO" ("SCST_BIO" for vdisk_blockio), eui64/naa unset
//   vdisk_usn_vpd():    page 0x80 = usn
//   vdisk_dev_id_vpd(): page 0x83 = [SCSI target device name (3, 0x28) if scsi_device_name set]
//                       T10 vendor ID (2, 0x01): t10_vend_id space-padded to 8 + vend_specific_id
//                       relative target port (1, 0x14): 00 00 + rel_tgt_id
//                       target port group (1, 0x15): 00 00 + group_id, only with ALUA groups
//                       EUI-64 (1, 0x02): eui64_id, or with neither eui64_id nor naa_id the first
//                         8 bytes of t10_dev_id ("compatibility mode")
//                       NAA (1, 0x03): naa_id when set
//
// refCrc32c below is a table-free bitwise register; the CRC literals in KNOWN were computed
// independently with the SSE4.2 crc32 instruction (_mm_crc32_u8 from 0 over name + NUL), which
// implements the same bare register update.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Scst } from '../src/engine/scst.js';
import { IscsiDriver } from '../src/engine/iscsi/portal.js';
import { registerIsid } from '../src/engine/scsi/nexus.js';
import { createTrees } from '../src/pde-fuse/index.js';
import { runCmd } from './helpers/scsi-unit.js';
import { now } from './helpers/procfs.js';

const R = '/sys/kernel/scst_tgt';
const T = 'iqn.2026-01.test:identity';

function refCrc32c(data: Buffer, seed = 0): number {
  let crc = seed;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return crc >>> 0;
}

const LONG = 'a-very-long-device-name-that-is-sixty-four-characters-long-12345';
const KNOWN: Record<string, number> = {
  disk1: 0xb8fdbd32,
  d: 0xce1644da,
  'vol-01_a:b+x@y%z,q': 0xea8522f8,
  [LONG]: 0x0bcaca69, // a leading zero nibble: %llx drops it
};
const SETUP_IDS = [0n, 0x1234n, 0xffffffffn];

/** The identifiers by hand: %llx of the 64-bit id, then the t10_dev_id buffer cut at 25. */
function expected(name: string, setupId: bigint) {
  const id = (setupId << 32n) | BigInt(refCrc32c(Buffer.from(`${name}\0`, 'latin1')));
  const llx = id.toString(16);
  const t10 = `${llx}-${name}`.slice(0, 25);
  return { llx, t10 };
}

async function tree(setupId: bigint) {
  const log = pino({ level: 'silent' });
  const scst = new Scst(log);
  const fs = createTrees(scst, new IscsiDriver(scst, log), log);
  const w = async (p: string, d: string) => {
    const r = await fs.writePath(`${R}/${p}`, `${d}\n`);
    if (r < 0) throw new Error(`${p}: ${d}: ${r}`);
  };
  const r = (p: string) => String(now(fs.readPath(`${R}/${p}`)));
  if (setupId !== 0n) await w('setup_id', `0x${setupId.toString(16)}`);
  await w('targets/iscsi/mgmt', `add_target ${T}`);
  const session = () => {
    const s = scst.createSession(scst.targets.get(T)!, 'iqn.2026-01.test:ini', { forceClose() {}, abortCommand: async () => {}, abortDeviceTasks: async () => {} });
    registerIsid(s, Buffer.from('800000000001', 'hex'));
    for (const td of s.tgtDevs.values()) td.clearUA();
    return s;
  };
  return { scst, w, r, session };
}

const inq = (page: number) => [0x12, 1, page, 0x10, 0, 0];
const desig = (codeSet: number, b1: number, value: Buffer) => Buffer.concat([Buffer.from([codeSet, b1, 0, value.length]), value]);
const u16desig = (b1: number, n: number) => desig(1, b1, Buffer.from([0, 0, n >> 8, n & 0xff]));
const page = (type: number, code: number, body: Buffer) => Buffer.concat([Buffer.from([type, code, body.length >> 8, body.length & 0xff]), body]);

describe('default identifiers (vdisk_gen_dev_id_num, vdev_create)', () => {
  it('the reference CRC agrees with the independently computed literals', () => {
    for (const [name, crc] of Object.entries(KNOWN)) expect(refCrc32c(Buffer.from(`${name}\0`))).toBe(crc);
    // The reference is Castagnoli's polynomial, reflected: with the standard CRC-32C's inversions
    // added around it, it gives the catalogue check value of "123456789".
    expect(~refCrc32c(Buffer.from('123456789'), 0xffffffff) >>> 0).toBe(0xe3069283);
  });

  for (const setupId of SETUP_IDS) {
    it(`t10_dev_id, usn, vend_specific_id, eui64_id and naa_id in sysfs with setup_id 0x${setupId.toString(16)}`, async () => {
      const t = await tree(setupId);
      for (const name of Object.keys(KNOWN)) {
        await t.w('handlers/vdisk_nullio/mgmt', `add_device ${name}`);
        const e = expected(name, setupId);
        expect(t.r(`devices/${name}/t10_dev_id`)).toBe(`${e.t10}\n`);
        expect(t.r(`devices/${name}/usn`)).toBe(`${e.llx}\n`);
        expect(t.r(`devices/${name}/vend_specific_id`)).toBe(`${e.t10}\n`);
        expect(t.r(`devices/${name}/eui64_id`)).toBe('\n');
        expect(t.r(`devices/${name}/naa_id`)).toBe('\n');
      }
      // Spelled out for two of them, as the kernel prints them.
      const disk1 = { 0: 'b8fdbd32', 4660: '1234b8fdbd32', 4294967295: 'ffffffffb8fdbd32' }[Number(setupId)]!;
      expect(t.r('devices/disk1/usn')).toBe(`${disk1}\n`);
      expect(t.r('devices/disk1/t10_dev_id')).toBe(`${disk1}-disk1\n`);
      const long = { 0: 'bcaca69', 4660: '12340bcaca69', 4294967295: 'ffffffff0bcaca69' }[Number(setupId)]!;
      expect(t.r(`devices/${LONG}/t10_dev_id`)).toBe(`${`${long}-${LONG}`.slice(0, 25)}\n`);
    });
  }

  it('is the same for every vdisk handler; blockio differs only in t10_vend_id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'identity-'));
    try {
      const f = join(dir, 'img');
      writeFileSync(f, Buffer.alloc(1 << 20));
      const t = await tree(0x1234n);
      await t.w('handlers/vdisk_fileio/mgmt', `add_device disk1 filename=${f}`);
      await t.w('handlers/vdisk_blockio/mgmt', `add_device d filename=${f}`);
      await t.w('handlers/vcdrom/mgmt', 'add_device vol-01_a:b+x@y%z,q');
      for (const name of ['disk1', 'd', 'vol-01_a:b+x@y%z,q']) {
        const e = expected(name, 0x1234n);
        expect(t.r(`devices/${name}/t10_dev_id`)).toBe(`${e.t10}\n`);
        expect(t.r(`devices/${name}/usn`)).toBe(`${e.llx}\n`);
      }
      expect(t.r('devices/disk1/t10_vend_id')).toBe('SCST_FIO\n');
      expect(t.r('devices/d/t10_vend_id')).toBe('SCST_BIO\n');
      expect(t.r('devices/vol-01_a:b+x@y%z,q/t10_vend_id')).toBe('SCST_FIO\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a t10_dev_id given to add_device leaves vend_specific_id at the generated value', async () => {
    const t = await tree(0n);
    await t.w('handlers/vdisk_nullio/mgmt', 'add_device disk1 t10_dev_id=mine');
    expect(t.r('devices/disk1/t10_dev_id')).toBe('mine\n[key]\n');
    expect(t.r('devices/disk1/vend_specific_id')).toBe('b8fdbd32-disk1\n');
  });
});

describe('VPD pages 0x80 and 0x83 (vdisk_usn_vpd, vdisk_dev_id_vpd)', () => {
  it('defaults: T10 vendor ID, relative target port, EUI-64 from t10_dev_id; no target port group', async () => {
    for (const setupId of SETUP_IDS) {
      const t = await tree(setupId);
      const names = Object.keys(KNOWN);
      for (const [i, name] of names.entries()) {
        await t.w('handlers/vdisk_nullio/mgmt', `add_device ${name}`);
        await t.w(`targets/iscsi/${T}/luns/mgmt`, `add ${name} ${i}`);
      }
      await t.w(`targets/iscsi/${T}/rel_tgt_id`, '7');
      const s = t.session();
      for (const [i, name] of names.entries()) {
        const e = expected(name, setupId);
        const p80 = await runCmd(s, i, inq(0x80), { edtl: 4096 });
        expect(p80.data).toEqual(page(0, 0x80, Buffer.from(e.llx)));
        const eui = Buffer.alloc(8);
        Buffer.from(e.t10).copy(eui, 0, 0, 8);
        const want = page(0, 0x83, Buffer.concat([desig(2, 0x01, Buffer.from(`SCST_FIO${e.t10}`)), u16desig(0x14, 7), desig(1, 0x02, eui)]));
        const p83 = await runCmd(s, i, inq(0x83), { edtl: 4096 });
        expect(p83.data.toString('hex'), `${name} setup_id ${setupId}`).toBe(want.toString('hex'));
      }
      // One spelled out in full: disk1 with setup_id 0 is b8fdbd32-disk1; 46 = (4 + 22) + 8 + 12.
      if (setupId === 0n) {
        const p83 = await runCmd(s, 0, inq(0x83), { edtl: 4096 });
        expect(p83.data.toString('hex')).toBe(
          '0083002e' + '02010016' + Buffer.from('SCST_FIOb8fdbd32-disk1').toString('hex') + '0114000400000007' + '01020008' + Buffer.from('b8fdbd32').toString('hex'),
        );
      }
    }
  });

  it('set identifiers: scsi_device_name, target port group, eui64_id, naa_id, t10_dev_id, usn', async () => {
    const t = await tree(0n);
    await t.w('handlers/vdisk_nullio/mgmt', 'add_device d');
    await t.w(`targets/iscsi/${T}/luns/mgmt`, 'add d 0');
    await t.w(`targets/iscsi/${T}/rel_tgt_id`, '3');
    await t.w('device_groups/mgmt', 'create dg');
    await t.w('device_groups/dg/devices/mgmt', 'add d');
    await t.w('device_groups/dg/target_groups/mgmt', 'create tg');
    await t.w('device_groups/dg/target_groups/tg/mgmt', `add ${T}`);
    const s = t.session();
    const e = expected('d', 0n);
    const t10 = desig(2, 0x01, Buffer.from(`SCST_FIO${e.t10}`));
    const compat = desig(1, 0x02, Buffer.from(e.t10.slice(0, 8)));
    const p83 = async () => (await runCmd(s, 0, inq(0x83), { edtl: 4096 })).data.toString('hex');
    // A target group whose group_id is still 0 gives no designator (scst_lookup_tg_id() == 0).
    expect(await p83()).toBe(page(0, 0x83, Buffer.concat([t10, u16desig(0x14, 3), compat])).toString('hex'));
    await t.w('device_groups/dg/target_groups/tg/group_id', '0x102');
    expect(await p83()).toBe(page(0, 0x83, Buffer.concat([t10, u16desig(0x14, 3), u16desig(0x15, 0x102), compat])).toString('hex'));
    // scsi_device_name: UTF-8, association 2, NUL-padded by 4 - len % 4 (4 when aligned).
    await t.w('devices/d/scsi_device_name', 'abcd');
    const name = desig(3, 0x28, Buffer.from('abcd\0\0\0\0'));
    expect(await p83()).toBe(page(0, 0x83, Buffer.concat([name, t10, u16desig(0x14, 3), u16desig(0x15, 0x102), compat])).toString('hex'));
    await t.w('devices/d/scsi_device_name', 'abcdefg');
    const name7 = desig(3, 0x28, Buffer.from('abcdefg\0'));
    // naa_id alone: the compatibility EUI-64 goes, the NAA designator comes.
    await t.w('devices/d/naa_id', '0x6001405abcdef0123456789abcdef012');
    const naa = desig(1, 0x03, Buffer.from('6001405abcdef0123456789abcdef012', 'hex'));
    expect(await p83()).toBe(page(0, 0x83, Buffer.concat([name7, t10, u16desig(0x14, 3), u16desig(0x15, 0x102), naa])).toString('hex'));
    await t.w('devices/d/eui64_id', '0x0011223344556677');
    const eui = desig(1, 0x02, Buffer.from('0011223344556677', 'hex'));
    expect(await p83()).toBe(page(0, 0x83, Buffer.concat([name7, t10, u16desig(0x14, 3), u16desig(0x15, 0x102), eui, naa])).toString('hex'));
    expect(t.r('devices/d/eui64_id')).toBe('0x0011223344556677\n[key]\n');
    expect(t.r('devices/d/naa_id')).toBe('0x6001405abcdef0123456789abcdef012\n[key]\n');
    // Changing t10_dev_id later touches neither vend_specific_id nor the T10 designator; with
    // both ids cleared the compatibility EUI-64 follows the new t10_dev_id.
    await t.w('devices/d/scsi_device_name', '');
    await t.w('devices/d/eui64_id', '');
    await t.w('devices/d/naa_id', '');
    await t.w('devices/d/t10_dev_id', 'xyz');
    expect(await p83()).toBe(page(0, 0x83, Buffer.concat([t10, u16desig(0x14, 3), u16desig(0x15, 0x102), desig(1, 0x02, Buffer.from('xyz\0\0\0\0\0'))])).toString('hex'));
    await t.w('devices/d/usn', 'SER-1');
    expect((await runCmd(s, 0, inq(0x80), { edtl: 4096 })).data).toEqual(page(0, 0x80, Buffer.from('SER-1')));
  });
});
