// Issue 2, part 2: data integrity through real initiators: qemu-io patterns at aligned and
// unaligned offsets, sizes from 512 B to 8 MiB across FirstBurstLength/MaxBurstLength boundaries,
// for every InitialR2T x ImmediateData combination and with header digests; a 64 MiB qemu-img
// round trip; data surviving a daemon restart.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { randomFile, sha256File, sparseFile, tmpDir } from './helpers/files.js';
import { describeQemu, qemuImgConvert, qemuIo, type IscsiTarget } from './helpers/initiators.js';
import { describeRun } from './helpers/proc.js';
import { Cdb, RawIscsiClient } from './helpers/rawclient.js';
import { scstConf, type ConfDevice, type ConfTarget } from './helpers/scstconf.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';
import { patternPlan } from './helpers/workload.js';

installHarnessHooks();

const KiB = 1024;
const MiB = 1024 * KiB;
const INI = 'iqn.2026-11.test:io-ini';
const FIRST_BURST = 65536;
const MAX_BURST = 262144;

// Lengths straddle every boundary the transport cares about: one block, below/at/above
// FirstBurstLength (immediate + unsolicited data), at/above MaxBurstLength (several R2Ts), and
// large multi-burst transfers.
const LENGTHS = [
  512,
  4 * KiB,
  FIRST_BURST - 512,
  FIRST_BURST,
  FIRST_BURST + 512,
  MAX_BURST,
  MAX_BURST + 4 * KiB,
  MiB + 512,
  8 * MiB,
];
// 0: block aligned; 1000: qemu does read-modify-write of partial blocks.
const MISALIGN = [0, 1000];

interface Combo {
  id: string;
  initialR2T: 'Yes' | 'No';
  immediateData: 'Yes' | 'No';
  digest: boolean;
}

const COMBOS: Combo[] = [
  { id: 'r2tyes-immno', initialR2T: 'Yes', immediateData: 'No', digest: false },
  { id: 'r2tyes-immyes', initialR2T: 'Yes', immediateData: 'Yes', digest: false },
  { id: 'r2tno-immno', initialR2T: 'No', immediateData: 'No', digest: false },
  { id: 'r2tno-immyes', initialR2T: 'No', immediateData: 'Yes', digest: false },
  { id: 'digest', initialR2T: 'No', immediateData: 'Yes', digest: true },
];

const targetName = (id: string): string => `iqn.2026-11.test:io-${id}`;

function comboTarget(c: Combo): ConfTarget {
  return {
    name: targetName(c.id),
    attrs: {
      InitialR2T: c.initialR2T,
      ImmediateData: c.immediateData,
      FirstBurstLength: FIRST_BURST,
      MaxBurstLength: MAX_BURST,
      MaxRecvDataSegmentLength: 65536,
      // CRC32C only, so that qemu's session provably runs with header digests. libiscsi has no
      // data digests: None must stay allowed for it (the raw client below uses CRC32C).
      HeaderDigest: c.digest ? 'CRC32C' : 'None',
      DataDigest: c.digest ? 'None,CRC32C' : 'None',
    },
    luns: [[0, `d_${c.id.replace(/-/g, '_')}`]],
  };
}

describe('I/O through qemu-io for every R2T/immediate-data combination', () => {
  let d: ScstdHandle;
  const lu = (id: string, extra: Partial<IscsiTarget> = {}): IscsiTarget => ({
    port: d.ports[0]!,
    target: targetName(id),
    lun: 0,
    initiator: INI,
    ...extra,
  });

  beforeAll(async () => {
    const dir = await tmpDir();
    const devices: ConfDevice[] = [];
    for (const c of COMBOS) {
      const name = `d_${c.id.replace(/-/g, '_')}`;
      devices.push({ handler: 'vdisk_fileio', name, attrs: { filename: await sparseFile(join(dir, `${name}.img`), 64 * MiB) } });
    }
    devices.push({ handler: 'vdisk_fileio', name: 'conv', attrs: { filename: await sparseFile(join(dir, 'conv.img'), 64 * MiB) } });
    d = await startScstd({
      config: scstConf({
        devices,
        targets: [
          ...COMBOS.map(comboTarget),
          {
            name: targetName('conv'),
            attrs: { FirstBurstLength: FIRST_BURST, MaxBurstLength: MAX_BURST, InitialR2T: 'No', ImmediateData: 'Yes' },
            luns: [[0, 'conv']],
          },
        ],
      }),
    });
  }, 60_000);

  it.each(COMBOS.map((c) => [c.id, c] as const))('patterns round-trip (%s)', async (_id, c) => {
    const plan = patternPlan(LENGTHS, MISALIGN);
    expect(plan.end).toBeLessThan(64 * MiB);
    const opts = c.digest ? { headerDigest: 'crc32c' as const } : {};
    const w = await qemuIo(lu(c.id), plan.writes, opts);
    expect(w.ok, describeQemu(w)).toBe(true);
    // A separate session for the checks: nothing can come from an initiator-side cache.
    const r = await qemuIo(lu(c.id), [...plan.reads, ...plan.guards], opts);
    expect(r.ok, describeQemu(r)).toBe(true);
  }, 120_000);

  it.each(COMBOS.map((c) => [c.id, c] as const))('several commands in flight at once (%s)', async (_id, c) => {
    // aio_* commands are queued together; aio_flush waits for all of them.
    const base = 40 * MiB;
    const sizes = [512, FIRST_BURST + 4096, MAX_BURST * 2 + 512, 3 * MiB];
    const cmds: string[] = [];
    const reads: string[] = [];
    let off = base;
    sizes.forEach((len, i) => {
      cmds.push(`aio_write -P ${0x61 + i} ${off} ${len}`);
      reads.push(`aio_read -P ${0x61 + i} ${off} ${len}`);
      off += Math.ceil((len + 1) / (64 * KiB)) * 64 * KiB;
    });
    const opts = c.digest ? { headerDigest: 'crc32c' as const } : {};
    const r = await qemuIo(lu(c.id), [...cmds, 'aio_flush', ...reads, 'aio_flush'], opts);
    expect(r.ok, describeQemu(r)).toBe(true);
  }, 120_000);

  it('data digests work (raw client, both digests on, writes across R2Ts)', async () => {
    const c = await RawIscsiClient.connect(d.ports[0]!);
    try {
      const login = await c.login({
        initiatorName: INI,
        targetName: targetName('digest'),
        operationalKeys: { HeaderDigest: 'CRC32C', DataDigest: 'CRC32C', InitialR2T: 'No', ImmediateData: 'Yes' },
      });
      expect(login.ok, login.error).toBe(true);
      expect(c.headerDigest && c.dataDigest, JSON.stringify(login.keys)).toBe(true);
      const payload = randomBytes(MAX_BURST + 3 * 512);
      const lba = (50 * MiB) / 512;
      const wr = await c.scsi({ cdb: Cdb.write10(lba, payload.length / 512), writeData: payload });
      expect(wr.status, JSON.stringify(wr)).toBe(0);
      const rd = await c.scsi({ cdb: Cdb.read10(lba, payload.length / 512), readLength: payload.length });
      expect(rd.status).toBe(0);
      expect(rd.data.equals(payload)).toBe(true);
      // Every PDU the target sent carried a good header digest.
      expect(c.received.every((p) => p.headerDigestOk)).toBe(true);
      expect(await c.logout()).toBe(true);
    } finally {
      c.destroy();
    }
  });

  it('qemu-img convert of a 64 MiB random image into the LUN and back is identical', async () => {
    const dir = await tmpDir();
    const src = await randomFile(join(dir, 'src.img'), 64 * MiB);
    const back = join(dir, 'back.img');
    const w = await qemuImgConvert(src, lu('conv'), { timeoutMs: 240_000 });
    expect(w.code, describeRun('qemu-img convert to LUN', w)).toBe(0);
    const r = await qemuImgConvert(lu('conv'), back, { timeoutMs: 240_000 });
    expect(r.code, describeRun('qemu-img convert from LUN', r)).toBe(0);
    expect(await sha256File(back)).toBe(await sha256File(src));
  }, 600_000);
});

describe('data survives a daemon restart', () => {
  it('write, SIGTERM, start again on the same state dir and config, read back', async () => {
    const dir = await tmpDir();
    const img = await sparseFile(join(dir, 'keep.img'), 32 * MiB);
    const target = 'iqn.2026-11.test:io-restart';
    const config = scstConf({
      devices: [{ handler: 'vdisk_fileio', name: 'keep', attrs: { filename: img } }],
      targets: [{ name: target, luns: [[0, 'keep']] }],
    });
    const first = await startScstd({ config });
    const at = (port: number): IscsiTarget => ({ port, target, lun: 0, initiator: INI });
    const plan = patternPlan([512, FIRST_BURST + 512, 2 * MiB], MISALIGN);
    const w = await qemuIo(at(first.ports[0]!), plan.writes);
    expect(w.ok, describeQemu(w)).toBe(true);
    const stopped = await first.stop('SIGTERM', 10_000);
    expect(stopped, first.recentOutput()).toMatchObject({ code: 0, timedOut: false });
    expect(first.exitBalance(), first.recentOutput()).toEqual({ commands: 0, poolBuffers: 0 });

    const second = await startScstd({ config, stateDir: first.stateDir, configPath: first.configPath, listen: first.ports });
    const r = await qemuIo(at(second.ports[0]!), [...plan.reads, ...plan.guards]);
    expect(r.ok, describeQemu(r)).toBe(true);
  }, 120_000);
});
