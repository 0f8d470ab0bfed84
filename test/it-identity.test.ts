// Kernel-identical LU identifiers end to end: a daemon started from an scst.conf with setup_id,
// read by libiscsi's iscsi-inq (VPD 0x80, 0x83) and byte for byte by the raw client. The expected
// values are derived by hand from scst_vdisk.c as test/identity-kernel.test.ts explains; the CRCs
// (crc32c(0, name + NUL), bare register) were computed with the SSE4.2 crc32 instruction:
//   disk1 -> b8fdbd32, a-very-long-...-12345 (64 characters) -> 0bcaca69.
import { beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { iscsiInq, type IscsiTarget } from './helpers/initiators.js';
import { describeRun } from './helpers/proc.js';
import { Cdb, RawIscsiClient } from './helpers/rawclient.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';

installHarnessHooks();

const TARGET = 'iqn.2026-01.test:identity';
const INI = 'iqn.2026-01.test:identity-ini';
const LONG = 'a-very-long-device-name-that-is-sixty-four-characters-long-12345';
// setup_id 0x1234: the id is 0x1234_xxxxxxxx, printed with %llx.
const LUS = [
  { lun: 0, name: 'disk1', usn: '1234b8fdbd32', t10: '1234b8fdbd32-disk1' },
  { lun: 1, name: LONG, usn: '12340bcaca69', t10: '12340bcaca69-a-very-long-' },
];

describe('identifiers through iSCSI', () => {
  let d: ScstdHandle;
  const at = (lun: number): IscsiTarget => ({ port: d.ports[0]!, target: TARGET, lun, initiator: INI });

  beforeAll(async () => {
    const conf = scstConf({
      devices: LUS.map((l) => ({ handler: 'vdisk_nullio' as const, name: l.name, attrs: { size_mb: 1 } })),
      targets: [{ name: TARGET, attrs: { rel_tgt_id: 5 }, luns: LUS.map((l) => [l.lun, l.name] as [number, string]) }],
    });
    d = await startScstd({ config: `setup_id 0x1234\n\n${conf}` });
  }, 60_000);

  it.each(LUS.map((l) => [l.name.slice(0, 12), l] as const))('iscsi-inq VPD 0x80 and 0x83 of %s', async (_n, lu) => {
    const p80 = await iscsiInq(at(lu.lun), { evpd: true, page: 0x80 });
    expect(p80.run.code, describeRun('vpd 0x80', p80.run)).toBe(0);
    expect(p80.get('Unit Serial Number')).toBe(`[${lu.usn}]`);
    const p83 = await iscsiInq(at(lu.lun), { evpd: true, page: 0x83 });
    expect(p83.run.code, describeRun('vpd 0x83', p83.run)).toBe(0);
    // iscsi-inq lists the designators last first: EUI-64 (t10_dev_id's first 8 bytes), relative
    // target port, T10 vendor ID. No target port group (no ALUA), no SCSI name strings.
    expect(p83.all('Designator Type').map((s) => s.trim())).toEqual(['(2) EUI_64', '(4) RELATIVE_TARGET_PORT', '(1) T10_VENDORT_ID']);
    expect(p83.all('Association').map((s) => s.trim())).toEqual(['(0) LOGICAL_UNIT', '(1) TARGET_PORT', '(0) LOGICAL_UNIT']);
    expect(p83.all('Designator')).toEqual([`[${lu.t10.slice(0, 8)}]`, '[]', `[SCST_FIO${lu.t10}]`]);
  });

  it('the pages byte for byte', async () => {
    const c = await RawIscsiClient.connect(d.ports[0]!);
    try {
      const login = await c.login({ initiatorName: INI, targetName: TARGET });
      expect(login.ok, login.error).toBe(true);
      for (const lu of LUS) {
        const p80 = await c.scsi({ lun: lu.lun, cdb: Cdb.inquiry(255, true, 0x80), readLength: 255 });
        expect(p80.data.toString('hex')).toBe(`0080000c${Buffer.from(lu.usn).toString('hex')}`);
        const p83 = await c.scsi({ lun: lu.lun, cdb: Cdb.inquiry(255, true, 0x83), readLength: 255 });
        const t10 = Buffer.from(`SCST_FIO${lu.t10}`);
        const want = Buffer.concat([
          Buffer.from([0x02, 0x01, 0, t10.length]),
          t10,
          Buffer.from([0x01, 0x14, 0, 4, 0, 0, 0, 5]),
          Buffer.from([0x01, 0x02, 0, 8]),
          Buffer.from(lu.t10.slice(0, 8)),
        ]);
        expect(p83.data.toString('hex')).toBe(Buffer.concat([Buffer.from([0, 0x83, 0, want.length]), want]).toString('hex'));
      }
    } finally {
      c.destroy();
    }
  });
});
