// Explicit ALUA on one scstd over iSCSI, with the raw client (independent of the daemon): with
// expl_alua 1 standard INQUIRY reports TPGS 11b and SET TARGET PORT GROUPS through one I_T nexus
// changes the states the tree and REPORT TARGET PORT GROUPS show; the other nexus gets
// ASYMMETRIC ACCESS STATE CHANGED, the issuing one does not; with expl_alua 0 the command is
// refused (ILLEGAL REQUEST, INVALID FIELD IN CDB) and nothing changes.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sparseFile, tmpDir } from './helpers/files.js';
import { RawIscsiClient, senseKey, type ScsiResult } from './helpers/rawclient.js';
import { startScstd } from './helpers/scstd.js';

const T = 'iqn.2026-12.test.stpg:t1';
// expl_alua is a vdisk_fileio/vdisk_blockio attribute (as SCST's).
const config = (file: string) => `HANDLER vdisk_fileio {
\tDEVICE n1 {
\t\tfilename ${file}
\t}
}

TARGET_DRIVER iscsi {
\tenabled 1

\tTARGET ${T} {
\t\tenabled 1
\t\trel_tgt_id 1
\t\tLUN 0 n1
\t}
}

DEVICE_GROUP dg {
\tDEVICE n1

\tTARGET_GROUP here {
\t\tgroup_id 1
\t\tstate active

\t\tTARGET ${T}
\t}

\tTARGET_GROUP peer {
\t\tgroup_id 2
\t\tstate standby

\t\tTARGET iqn.2026-12.test.stpg:peer {
\t\t\trel_tgt_id 2
\t\t}
\t}
}
`;

const RTPG = Buffer.from([0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0]);
const stpgCdb = (len: number) => Buffer.from([0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, len, 0, 0]);

function states(data: Buffer): Record<number, number> {
  const out: Record<number, number> = {};
  for (let p = 4; p + 8 <= data.length; p += 8 + 4 * data[p + 7]!) out[data.readUInt16BE(p + 2)] = data[p]! & 0x0f;
  return out;
}
const sense = (r: ScsiResult) => [r.status, senseKey(r.sense), r.sense?.[12], r.sense?.[13]];

describe('SET TARGET PORT GROUPS over iSCSI (one node)', () => {
  it('changes states only with expl_alua, tells the other nexus and spares the issuing one', async () => {
    const work = await tmpDir('scst-stpg-');
    const mnt = join(work, 'mnt');
    const d = await startScstd({ config: config(await sparseFile(join(work, 'n1.img'), 16 << 20)), extraArgs: ['--mount', mnt, '--no-user-socket'] });
    const dev = join(mnt, 'sys/kernel/scst_tgt/devices/n1');
    const tgs = join(mnt, 'sys/kernel/scst_tgt/device_groups/dg/target_groups');
    const clients: RawIscsiClient[] = [];
    for (const ini of ['ini1', 'ini2']) {
      const c = await RawIscsiClient.connect(d.ports[0]!);
      const r = await c.login({ initiatorName: `iqn.2026-12.test.stpg:${ini}`, targetName: T });
      expect(r.ok, r.error).toBe(true);
      await c.scsi({ cdb: Buffer.from([0, 0, 0, 0, 0, 0]) });
      clients.push(c);
    }
    const [one, two] = clients as [RawIscsiClient, RawIscsiClient];
    const params = Buffer.from([0, 0, 0, 0, 0x02, 0, 0, 1, 0x00, 0, 0, 2]);

    // expl_alua 0 (the default): refused, nothing changed; INQUIRY reports implicit ALUA only.
    const inq0 = await one.scsiOnce({ cdb: Buffer.from([0x12, 0, 0, 0, 96, 0]), readLength: 96 });
    expect(inq0.data[5]! & 0x30).toBe(0x10);
    expect(sense(await one.scsiOnce({ cdb: stpgCdb(params.length), writeData: params }))).toEqual([2, 5, 0x24, 0]);
    expect(states((await one.scsiOnce({ cdb: RTPG, readLength: 1024 })).data)).toEqual({ 1: 0, 2: 2 });

    await writeFile(join(dev, 'expl_alua'), '1\n');
    const inq1 = await one.scsiOnce({ cdb: Buffer.from([0x12, 0, 0, 0, 96, 0]), readLength: 96 });
    expect(inq1.data[5]! & 0x30).toBe(0x30);
    const ok = await one.scsiOnce({ cdb: stpgCdb(params.length), writeData: params });
    expect(ok.status).toBe(0);
    expect(await readFile(join(tgs, 'here/state'), 'utf8')).toMatch(/^standby\n/);
    expect(await readFile(join(tgs, 'peer/state'), 'utf8')).toMatch(/^active\n/);
    // The issuing nexus: no unit attention; the other: 2A/06, then the new states.
    const mine = await one.scsiOnce({ cdb: RTPG, readLength: 1024, keepUnitAttention: true });
    expect(mine.status).toBe(0);
    expect(states(mine.data)).toEqual({ 1: 2, 2: 0 });
    expect(sense(await two.scsiOnce({ cdb: RTPG, readLength: 1024, keepUnitAttention: true }))).toEqual([2, 6, 0x2a, 0x06]);
    expect(states((await two.scsiOnce({ cdb: RTPG, readLength: 1024 })).data)).toEqual({ 1: 2, 2: 0 });
    // A descriptor naming no target port group: SET TARGET PORT GROUPS FAILED, nothing changed.
    const bad = Buffer.from([0, 0, 0, 0, 0x00, 0, 0, 1, 0x00, 0, 0, 9]);
    expect(sense(await one.scsiOnce({ cdb: stpgCdb(bad.length), writeData: bad }))).toEqual([2, 4, 0x67, 0x0a]);
    expect(await readFile(join(tgs, 'here/state'), 'utf8')).toMatch(/^standby\n/);
    await d.waitForLog(/ALUA state of target group peer changed to active/, 2000);
    for (const c of clients) c.destroy();
    expect((await d.stop()).code).toBe(0);
  }, 60_000);
});
