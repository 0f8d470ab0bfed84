// cluster_mode in the core (issue 16): a cluster-mode LU on a node that is not a certain member
// executes nothing that touches the medium or the reservations (NOT READY, ASYMMETRIC ACCESS
// STATE TRANSITION, retryable) and still answers what SPC-4 allows in transition; cluster_mode 1
// needs a cluster and an explicit t10_dev_id; a runtime change takes the other store's state and
// is refused while sessions use the device.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ScstMgmt } from '../src/engine/mgmt.js';
import { Status } from '../src/engine/scsi/constants.js';
import { cdb, prParams, runCmd, unitCore } from './helpers/scsi-unit.js';
import { SharedBackend } from './helpers/shared-reservations.js';

const NULLIO: Array<[string, string]> = [['size_mb', '1'], ['t10_dev_id', 'lu-1']];

describe('the cluster gate on a cluster-mode LU', () => {
  it('closed: media access, PR and RESERVE, TEST UNIT READY get 02/04/0A; INQUIRY, REPORT LUNS, REQUEST SENSE, REPORT TARGET PORT GROUPS answer; open again: all run', async () => {
    const core = await unitCore([{ name: 'd0', handler: 'vdisk_nullio', params: NULLIO }]);
    const dev = core.devices.get('d0')!;
    const s = core.session();
    let open = false;
    dev.clusterGate = () => open;
    const transition = (r: { status: number; key: number; asc: number; ascq: number }) => [r.status, r.key, r.asc, r.ascq];
    const T = [Status.CHECK_CONDITION, 2, 0x04, 0x0a];
    expect(transition(await runCmd(s, 0, cdb.read10(0, 1), { edtl: 512 }))).toEqual(T);
    expect(transition(await runCmd(s, 0, cdb.write10(0, 1), { dataOut: Buffer.alloc(512, 1) }))).toEqual(T);
    expect(transition(await runCmd(s, 0, cdb.tur()))).toEqual(T);
    expect(transition(await runCmd(s, 0, cdb.prIn(0)))).toEqual(T);
    expect(transition(await runCmd(s, 0, cdb.prOut(0), { dataOut: prParams(0n, 1n) }))).toEqual(T);
    expect(transition(await runCmd(s, 0, cdb.reserve6()))).toEqual(T);
    expect((await runCmd(s, 0, [0x12, 0, 0, 0, 96, 0])).status).toBe(Status.GOOD); // INQUIRY
    expect((await runCmd(s, 0, [0xa0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0])).status).toBe(Status.GOOD); // REPORT LUNS
    expect((await runCmd(s, 0, [0x03, 0, 0, 0, 18, 0])).status).toBe(Status.GOOD); // REQUEST SENSE
    expect((await runCmd(s, 0, [0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0])).status).toBe(Status.GOOD); // REPORT TARGET PORT GROUPS
    // Nothing was registered while closed.
    expect(dev.reservations.current(dev).registrations).toEqual([]);
    open = true;
    expect((await runCmd(s, 0, cdb.tur())).status).toBe(Status.GOOD);
    expect((await runCmd(s, 0, cdb.write10(0, 1), { dataOut: Buffer.alloc(512, 1) })).status).toBe(Status.GOOD);
    expect((await runCmd(s, 0, cdb.prOut(0), { dataOut: prParams(0n, 1n) })).status).toBe(Status.GOOD);
  });

  it('a write admitted at parse time but whose data arrives after the gate closed is refused at execution', async () => {
    const core = await unitCore([{ name: 'd0', handler: 'vdisk_nullio', params: NULLIO }]);
    const dev = core.devices.get('d0')!;
    const s = core.session();
    let calls = 0;
    // Open at parse, closed at execution: the second look is the one that counts.
    dev.clusterGate = () => ++calls === 1;
    const r = await runCmd(s, 0, cdb.write10(0, 1), { dataOut: Buffer.alloc(512, 1) });
    expect([r.status, r.key, r.asc, r.ascq]).toEqual([Status.CHECK_CONDITION, 2, 0x04, 0x0a]);
    expect(calls).toBe(2);
  });
});

describe('cluster_mode 1', () => {
  it('needs a cluster and an explicit t10_dev_id at creation', async () => {
    await expect(unitCore([{ name: 'd0', handler: 'vdisk_nullio', params: [...NULLIO, ['cluster_mode', '1']] }])).rejects.toThrow(/cluster_mode 1 needs a cluster \(start scstd with --cluster/);
    const core = await unitCore([]);
    core.scst.clusterReservations = new SharedBackend().node('n1');
    await expect(core.scst.addDevice('vdisk_nullio', 'd1', [['size_mb', '1'], ['cluster_mode', '1']])).rejects.toThrow(/cluster_mode 1 needs t10_dev_id set explicitly/);
    const d2 = await core.scst.addDevice('vdisk_nullio', 'd2', [...NULLIO, ['cluster_mode', '1']]);
    expect(d2.clusterMode).toBe(true);
    expect(d2.reservations).toBe(core.scst.clusterReservations);
  });

  it('changes at run time only while no session uses the device; the state is the store entered', async () => {
    const backend = new SharedBackend();
    const core = await unitCore([{ name: 'd0', handler: 'vdisk_nullio', params: NULLIO }]);
    const mgmt = new ScstMgmt(core.scst, pino({ level: 'silent' }));
    const dev = core.devices.get('d0')!;
    await expect(mgmt.setClusterMode(dev, true)).rejects.toMatchObject({ errno: 'EINVAL' });
    core.scst.clusterReservations = backend.node('n1');
    const s = core.session();
    expect((await runCmd(s, 0, cdb.prOut(0), { dataOut: prParams(0n, 7n) })).status).toBe(Status.GOOD); // local
    await expect(mgmt.setClusterMode(dev, true)).rejects.toMatchObject({ errno: 'EBUSY' });
    expect(dev.clusterMode).toBe(false);
    s.close();
    expect(dev.tgtDevs.size).toBe(0);
    await mgmt.setClusterMode(dev, true);
    expect(dev.clusterMode).toBe(true);
    expect(dev.reservations).toBe(core.scst.clusterReservations);
    // The local registration is not carried over: the cluster's (empty) state is enforced.
    expect(dev.reservations.current(dev).registrations).toEqual([]);
    await mgmt.setClusterMode(dev, false);
    expect(dev.clusterMode).toBe(false);
    expect(dev.clusterGate).toBeNull();
  });
});
