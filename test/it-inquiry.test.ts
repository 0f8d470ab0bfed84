// Issue 2, part 1: what real initiators see of each vdisk handler: discovery and REPORT LUNS
// (iscsi-ls), standard INQUIRY and VPD pages (iscsi-inq), capacity (iscsi-readcapacity16).
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { iscsiInq, iscsiLs, readCapacity16, supportedVpdPages, type IscsiTarget } from './helpers/initiators.js';
import { attachLoop } from './helpers/loopdev.js';
import { describeRun } from './helpers/proc.js';
import { Cdb, RawIscsiClient, senseKey } from './helpers/rawclient.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';

installHarnessHooks();

const MiB = 1024 * 1024;
const TARGET = 'iqn.2026-11.test:inquiry';
const INI = 'iqn.2026-11.test:inq-ini';
const CD_BLOCKS = 100;

interface Lu {
  lun: number;
  name: string;
  type: 'DIRECT_ACCESS' | 'MMC';
  blockSize: number;
  bytes: number;
  vendor?: string;
}

const LUS: Lu[] = [
  { lun: 0, name: 'disk512', type: 'DIRECT_ACCESS', blockSize: 512, bytes: 64 * MiB, vendor: 'SCST_FIO' },
  { lun: 1, name: 'disk4k', type: 'DIRECT_ACCESS', blockSize: 4096, bytes: 32 * MiB, vendor: 'SCST_FIO' },
  { lun: 2, name: 'null0', type: 'DIRECT_ACCESS', blockSize: 512, bytes: 1024 * MiB },
  { lun: 3, name: 'blk0', type: 'DIRECT_ACCESS', blockSize: 512, bytes: 32 * MiB, vendor: 'SCST_BIO' },
  { lun: 4, name: 'cd0', type: 'MMC', blockSize: 2048, bytes: CD_BLOCKS * 2048 },
];
const DISKS = LUS.filter((l) => l.type === 'DIRECT_ACCESS');

describe('INQUIRY, VPD and capacity of every handler', () => {
  let d: ScstdHandle;
  const at = (lun: number): IscsiTarget => ({ port: d.ports[0]!, target: TARGET, lun, initiator: INI });

  beforeAll(async () => {
    const dir = await tmpDir();
    const disk512 = await sparseFile(join(dir, 'disk512.img'), 64 * MiB);
    const disk4k = await sparseFile(join(dir, 'disk4k.img'), 32 * MiB);
    const loop = await attachLoop(await sparseFile(join(dir, 'blk0.img'), 32 * MiB));
    const iso = join(dir, 'cd0.iso');
    await writeFile(iso, randomBytes(CD_BLOCKS * 2048));
    d = await startScstd({
      config: scstConf({
        devices: [
          { handler: 'vdisk_fileio', name: 'disk512', attrs: { filename: disk512, blocksize: 512 } },
          { handler: 'vdisk_fileio', name: 'disk4k', attrs: { filename: disk4k, blocksize: 4096 } },
          { handler: 'vdisk_nullio', name: 'null0', attrs: { size_mb: 1024 } },
          { handler: 'vdisk_blockio', name: 'blk0', attrs: { filename: loop } },
          { handler: 'vcdrom', name: 'cd0', attrs: { filename: iso } },
        ],
        targets: [{ name: TARGET, luns: LUS.map((l) => [l.lun, l.name] as [number, string]) }],
      }),
    });
  }, 60_000);

  it('iscsi-ls -s lists the target and every LUN with its type', async () => {
    const ls = await iscsiLs({ port: d.ports[0]! }, { showLuns: true, initiator: INI });
    expect(ls.run.code, describeRun('iscsi-ls', ls.run)).toBe(0);
    expect(ls.targets.map((t) => t.name)).toEqual([TARGET]);
    expect(ls.targets[0]!.portal).toMatch(new RegExp(`^127\\.0\\.0\\.1:${d.ports[0]},\\d+$`));
    expect(ls.targets[0]!.luns.map((l) => [l.lun, l.type])).toEqual(LUS.map((l) => [l.lun, l.type]));
  });

  it.each(LUS.map((l) => [l.name, l] as const))('standard INQUIRY of %s', async (_n, lu) => {
    const inq = await iscsiInq(at(lu.lun));
    expect(inq.run.code, describeRun('iscsi-inq', inq.run)).toBe(0);
    expect(inq.get('Peripheral Qualifier')).toBe('CONNECTED');
    expect(inq.get('Peripheral Device Type')).toBe(lu.type);
    if (lu.vendor) {
      expect(inq.get('Vendor')?.trim()).toBe(lu.vendor);
      expect(inq.get('Product')?.trim()).toBe(lu.name);
    }
    if (lu.type === 'MMC') expect(inq.get('Removable')).toBe('1');
  });

  it.each(DISKS.map((l) => [l.name, l] as const))('VPD pages of %s', async (_n, lu) => {
    const t = at(lu.lun);
    const p0 = await iscsiInq(t, { evpd: true, page: 0x00 });
    expect(p0.run.code, describeRun('iscsi-inq vpd 0', p0.run)).toBe(0);
    const pages = supportedVpdPages(p0);
    expect(pages).toEqual(expect.arrayContaining([0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]));
    expect([...pages].sort((a, b) => a - b)).toEqual(pages); // SPC: ascending order

    const p80 = await iscsiInq(t, { evpd: true, page: 0x80 });
    expect(p80.run.code, describeRun('vpd 0x80', p80.run)).toBe(0);
    expect(p80.get('Unit Serial Number')).toMatch(/^\[\s*\S+\]$/);

    const p83 = await iscsiInq(t, { evpd: true, page: 0x83 });
    expect(p83.run.code, describeRun('vpd 0x83', p83.run)).toBe(0);
    expect(p83.get('Page Code')).toContain('0x83');
    expect(p83.all('Designator Type').length).toBeGreaterThan(0);
    // SPC-4: a T10 vendor ID designator starts with the vendor identification.
    const t10 = p83.pairs.findIndex(([k, v]) => k === 'Designator Type' && v.includes('T10'));
    if (t10 >= 0 && lu.vendor) {
      const des = p83.pairs.slice(t10).find(([k]) => k === 'Designator')?.[1];
      expect(des).toContain(lu.vendor);
    }

    const pb0 = await iscsiInq(t, { evpd: true, page: 0xb0 });
    expect(pb0.run.code, describeRun('vpd 0xb0', pb0.run)).toBe(0);
    expect(pb0.get('maximum transfer length')).toMatch(/^\d+$/);
    expect(pb0.get('optimal transfer length granularity')).toMatch(/^\d+$/);

    const pb1 = await iscsiInq(t, { evpd: true, page: 0xb1 });
    expect(pb1.run.code, describeRun('vpd 0xb1', pb1.run)).toBe(0);
    expect(pb1.get('Medium Rotation Rate')).toBeDefined();

    const pb2 = await iscsiInq(t, { evpd: true, page: 0xb2 });
    expect(pb2.run.code, describeRun('vpd 0xb2', pb2.run)).toBe(0);
    expect(pb2.get('lbpu')).toMatch(/^[01]$/);
  });

  it('serial numbers and designators differ between devices', async () => {
    const serials = new Set<string>();
    const designators = new Set<string>();
    for (const lu of DISKS) {
      const p80 = await iscsiInq(at(lu.lun), { evpd: true, page: 0x80 });
      serials.add(p80.get('Unit Serial Number') ?? `missing-${lu.name}`);
      const p83 = await iscsiInq(at(lu.lun), { evpd: true, page: 0x83 });
      designators.add(p83.all('Designator').join('|'));
    }
    expect(serials.size).toBe(DISKS.length);
    expect(designators.size).toBe(DISKS.length);
  });

  it('vcdrom lists the basic VPD pages', async () => {
    const p0 = await iscsiInq(at(4), { evpd: true, page: 0x00 });
    expect(p0.run.code, describeRun('vpd 0', p0.run)).toBe(0);
    expect(supportedVpdPages(p0)).toEqual(expect.arrayContaining([0x00, 0x80, 0x83]));
  });

  it('an unsupported VPD page is refused', async () => {
    const r = await iscsiInq(at(0), { evpd: true, page: 0xc7 });
    expect(r.run.code).not.toBe(0);
    expect(r.run.stdout + r.run.stderr).toMatch(/ILLEGAL_REQUEST/);
  });

  it.each(DISKS.map((l) => [l.name, l] as const))('READ CAPACITY(16) of %s', async (_n, lu) => {
    const rc = await readCapacity16(at(lu.lun));
    expect(rc.run.code, describeRun('iscsi-readcapacity16', rc.run)).toBe(0);
    expect(rc.blockSize).toBe(lu.blockSize);
    expect(rc.lbaCount).toBe(lu.bytes / lu.blockSize);
    expect(rc.totalBytes).toBe(lu.bytes);
  });

  it('vcdrom: 2048-byte blocks, capacity of the image, read-only', async () => {
    const c = await RawIscsiClient.connect(d.ports[0]!);
    try {
      const login = await c.login({ initiatorName: INI, targetName: TARGET });
      expect(login.ok, login.error).toBe(true);
      const cap = await c.scsi({ lun: 4, cdb: Cdb.readCapacity10(), readLength: 8 });
      expect(cap.status, JSON.stringify(cap)).toBe(0);
      expect(cap.data.readUInt32BE(0)).toBe(CD_BLOCKS - 1);
      expect(cap.data.readUInt32BE(4)).toBe(2048);
      const rd = await c.scsi({ lun: 4, cdb: Cdb.read10(0, 2), readLength: 4096 });
      expect(rd.status).toBe(0);
      expect(rd.data.length).toBe(4096);
      const wr = await c.scsi({ lun: 4, cdb: Cdb.write10(0, 1), writeData: Buffer.alloc(2048, 0xee) });
      expect(wr.status, JSON.stringify(wr)).toBe(2); // CHECK CONDITION
      expect([5, 7]).toContain(senseKey(wr.sense)); // ILLEGAL REQUEST or DATA PROTECT
      const again = await c.scsi({ lun: 4, cdb: Cdb.read10(0, 1), readLength: 2048 });
      expect(again.data.equals(rd.data.subarray(0, 2048))).toBe(true);
    } finally {
      c.destroy();
    }
  });
});
