// Explicit ALUA (SCST's expl_alua): SET TARGET PORT GROUPS changes target port group states as
// SCST does (validated first, nothing changed on a refusal), the issuing nexus is spared the
// ASYMMETRIC ACCESS STATE CHANGED unit attention every other nexus gets, INQUIRY reports TPGS 11b,
// REPORT SUPPORTED OPERATION CODES lists it only then; and what a sharing layer (the cluster's)
// does to it: a change it cannot commit changes nothing, an uncertain node reports its own
// ports' groups as transitioning.
import { describe, expect, it } from 'vitest';
import { aluaOf } from '../src/engine/mgmt.js';
import type { AluaChange, AluaSharing } from '../src/engine/alua.js';
import { cdb, runCmd, u16, u32, unitCore } from './helpers/scsi-unit.js';

const stpg = (len: number) => [0xa4, 0x0a, 0, 0, 0, 0, ...u32(len), 0, 0];
const rtpg = (alloc = 1024) => [0xa3, 0x0a, 0, 0, 0, 0, ...u32(alloc), 0, 0];
const inquiry = () => [0x12, 0, 0, ...u16(96), 0];
/** A parameter list of (state code, group id) descriptors. */
const stpgParams = (...d: Array<[number, number]>) => Buffer.concat([Buffer.alloc(4), ...d.map(([s, id]) => Buffer.from([s, 0, ...u16(id)]))]);

/** States by group id, from REPORT TARGET PORT GROUPS data. */
function states(data: Buffer): Record<number, number> {
  const out: Record<number, number> = {};
  for (let p = 4; p + 8 <= data.length; p += 8 + 4 * data[p + 7]!) out[data.readUInt16BE(p + 2)] = data[p]! & 0x0f;
  return out;
}

async function setup(explAlua = true) {
  const u = await unitCore([{ name: 'd0', handler: 'vdisk_nullio', params: [['size_mb', '1']] }], { relTgtId: 3 });
  const dev = u.devices.get('d0')!;
  dev.explAlua = explAlua;
  const alua = aluaOf(u.scst);
  const g = alua.createDeviceGroup('dg');
  alua.addDevice(g, dev);
  const local = alua.createTargetGroup(g, 'local');
  alua.setGroupId(local, 1);
  alua.addTarget(g, local, u.target.name);
  const peer = alua.createTargetGroup(g, 'peer');
  alua.setGroupId(peer, 2);
  alua.setRemoteRelTgtId(alua.addTarget(g, peer, 'iqn.y:b'), 9);
  peer.state = 'standby';
  const s1 = u.session('iqn.2026-11.test:ini1', '800000000001');
  const s2 = u.session('iqn.2026-11.test:ini2', '800000000002');
  return { u, dev, alua, g, local, peer, s1, s2 };
}

describe('SET TARGET PORT GROUPS', () => {
  it('is refused without expl_alua, and neither listed nor reported in INQUIRY then', async () => {
    const { s1, dev } = await setup(false);
    const r = await runCmd(s1, 0, stpg(8), { dataOut: stpgParams([0, 2]) });
    expect([r.status, r.key, r.asc]).toEqual([2, 5, 0x24]);
    expect((await runCmd(s1, 0, inquiry(), { edtl: 96 })).data[5]! & 0x30).toBe(0x10);
    expect((await runCmd(s1, 0, cdb.rsocOne(3, 0xa4, 0x0a))).data[1]! & 0x07).toBe(1);
    dev.explAlua = true;
    expect((await runCmd(s1, 0, inquiry(), { edtl: 96 })).data[5]! & 0x30).toBe(0x30);
    const one = await runCmd(s1, 0, cdb.rsocOne(3, 0xa4, 0x0a));
    expect(one.data[1]! & 0x07).toBe(3);
    expect([...one.data.subarray(4, 16)]).toEqual([0xa4, 0x0a, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07]);
  });

  it('changes the states, tells every other nexus, and REPORT TARGET PORT GROUPS shows them', async () => {
    const { s1, s2, local, peer } = await setup();
    const r = await runCmd(s1, 0, stpg(12), { dataOut: stpgParams([0x02, 1], [0x00, 2]) });
    expect(r.status).toBe(0);
    expect([local.state, peer.state]).toEqual(['standby', 'active']);
    // The issuer's nexus hears nothing of its own change; the other one gets 2A/06 once.
    expect((await runCmd(s1, 0, rtpg())).status).toBe(0);
    const ua = await runCmd(s2, 0, rtpg());
    expect([ua.status, ua.key, ua.asc, ua.ascq]).toEqual([2, 6, 0x2a, 0x06]);
    const again = await runCmd(s2, 0, rtpg());
    expect(again.status).toBe(0);
    expect(states(again.data)).toEqual({ 1: 2, 2: 0 });
    // Through a standby port the medium is out of reach (SPC-4 5.16.2.4).
    const rd = await runCmd(s2, 0, cdb.read10(0, 1), { edtl: 512 });
    expect([rd.status, rd.key, rd.asc, rd.ascq]).toEqual([2, 2, 0x04, 0x0b]);
  });

  it('refuses a whole list when one descriptor is wrong, as SCST does; zero length changes nothing', async () => {
    const { s1, s2, local, peer } = await setup();
    for (const bad of [
      stpgParams([0x02, 1], [0x0f, 2]), // transitioning may not be set
      stpgParams([0x02, 1], [0x00, 7]), // no such group
      stpgParams([0x02, 0]), // group id 0
    ]) {
      const r = await runCmd(s1, 0, stpg(bad.length), { dataOut: bad });
      expect([r.status, r.key, r.asc, r.ascq]).toEqual([2, 4, 0x67, 0x0a]);
    }
    expect((await runCmd(s1, 0, stpg(0))).status).toBe(0);
    expect([local.state, peer.state]).toEqual(['active', 'standby']);
    expect((await runCmd(s2, 0, rtpg())).status).toBe(0);
    // A group in transition cannot be asked to move (retryable).
    peer.state = 'transitioning';
    const busy = await runCmd(s1, 0, stpg(8), { dataOut: stpgParams([0x00, 2]) });
    expect([busy.status, busy.key, busy.asc, busy.ascq]).toEqual([2, 2, 0x04, 0x0a]);
    const long = await runCmd(s1, 0, stpg(4 + 4 * 65), { dataOut: Buffer.alloc(4 + 4 * 65) });
    expect([long.status, long.key, long.asc]).toEqual([2, 5, 0x24]);
  });
});

describe('ALUA states shared with a cluster (the sharing interface)', () => {
  function stub(o: { certain?: boolean; fail?: string } = {}) {
    const commits: AluaChange[][] = [];
    const sharing: AluaSharing & { isCertain: boolean } = {
      isCertain: o.certain ?? true,
      shares: () => true,
      certain() {
        return this.isCertain;
      },
      commit: async (c) => {
        if (o.fail) throw Object.assign(new Error(o.fail), { errno: 'EIO' as const });
        commits.push([...c]);
        return c;
      },
    };
    return { sharing, commits };
  }

  it('commits first and applies after; a refused commit changes nothing and is retryable', async () => {
    const { s1, alua, local, peer } = await setup();
    const ok = stub();
    alua.sharing = ok.sharing;
    expect((await runCmd(s1, 0, stpg(8), { dataOut: stpgParams([0x00, 2]) })).status).toBe(0);
    expect(ok.commits).toEqual([[{ deviceGroup: 'dg', targetGroup: 'peer', state: 'active' }]]);
    expect(peer.state).toBe('active');
    alua.sharing = stub({ fail: 'cluster: node n1 is fenced' }).sharing;
    const r = await runCmd(s1, 0, stpg(8), { dataOut: stpgParams([0x02, 1]) });
    expect([r.status, r.key, r.asc, r.ascq]).toEqual([2, 2, 0x04, 0x0a]);
    expect(local.state).toBe('active');
    await expect(alua.setStates([{ deviceGroup: 'dg', targetGroup: 'local', state: 'standby' }])).rejects.toMatchObject({ errno: 'EIO' });
    expect(local.state).toBe('active');
  });

  it('a node not certainly a member reports its own ports groups as transitioning, and its medium out of reach', async () => {
    const { s1, alua } = await setup();
    const st = stub({ certain: false });
    alua.sharing = st.sharing;
    const r = await runCmd(s1, 0, rtpg());
    expect(states(r.data)).toEqual({ 1: 0x0f, 2: 2 });
    const rd = await runCmd(s1, 0, cdb.read10(0, 1), { edtl: 512 });
    expect([rd.status, rd.key, rd.asc, rd.ascq]).toEqual([2, 2, 0x04, 0x0a]);
    st.sharing.isCertain = true;
    alua.sharedStatesRestored();
    const ua = await runCmd(s1, 0, rtpg());
    expect([ua.status, ua.key, ua.asc, ua.ascq]).toEqual([2, 6, 0x2a, 0x06]);
    expect(states((await runCmd(s1, 0, rtpg())).data)).toEqual({ 1: 0, 2: 2 });
  });
});
