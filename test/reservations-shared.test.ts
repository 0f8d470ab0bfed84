// Reservations through a shared store (the shape the etcd store will have): three cores in one
// process play three nodes serving one LUN (same t10_dev_id, each with its own relative target
// port), sharing one in-memory "etcd" with asynchronous commits and watches (helpers/
// shared-reservations.ts). A PR OUT on one node completes only once every node enforces the new
// state; races between nodes are settled by compare-and-swap, the loser deciding again; unit
// attentions reach sessions on other nodes.
import { describe, expect, it } from 'vitest';
import { Status } from '../src/engine/scsi/constants.js';
import type { ScstSession } from '../src/engine/session.js';
import { cdb, prParams, runCmd, unitCore, type UnitCore } from './helpers/scsi-unit.js';
import { SharedBackend, type SharedNodeStore } from './helpers/shared-reservations.js';

const RC = Status.RESERVATION_CONFLICT;
const GOOD = Status.GOOD;

interface Node {
  core: UnitCore;
  store: SharedNodeStore;
}

async function cluster(n: number, backend = new SharedBackend()): Promise<{ backend: SharedBackend; nodes: Node[] }> {
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) {
    const store = backend.node(`node${i + 1}`);
    const core = await unitCore([{ name: 'd0', handler: 'vdisk_nullio', params: [['size_mb', '1'], ['t10_dev_id', 'shared-lun-0']] }], { reservations: store, relTgtId: i + 1 });
    nodes.push({ core, store });
  }
  return { backend, nodes };
}

function dev(n: Node) {
  return n.core.devices.get('d0')!;
}

function keysOf(data: Buffer): bigint[] {
  const k = data.readUInt32BE(4) / 8;
  return Array.from({ length: k }, (_, i) => data.readBigUInt64BE(8 + i * 8));
}

function uaOf(s: ScstSession): string | null {
  const sense = s.tgtDevs.get(0)!.takeUA();
  return sense ? `${sense[12]!.toString(16)}/${sense[13]!.toString(16).padStart(2, '0')}` : null;
}

describe('reservations shared by three nodes', () => {
  it('register through A, reserve through B, C conflicts; C preempts and A and B hear of it; every node enforces each change before it completes', async () => {
    const { nodes, backend } = await cluster(3);
    const [A, B, C] = nodes as [Node, Node, Node];
    const a = A.core.session('iqn.2026-11.test:host-a', '400000000001');
    const b = B.core.session('iqn.2026-11.test:host-b', '400000000002');
    const c = C.core.session('iqn.2026-11.test:host-c', '400000000003');

    expect((await runCmd(a, 0, cdb.prOut(0), { dataOut: prParams(0n, 0xan) })).status).toBe(GOOD);
    // Completed: every node enforces it already.
    for (const x of nodes) expect(x.store.current(dev(x)).registrations.map((r) => r.key)).toEqual([0xan]);
    expect((await runCmd(b, 0, cdb.prOut(0), { dataOut: prParams(0n, 0xbn) })).status).toBe(GOOD);
    expect((await runCmd(b, 0, cdb.prOut(1, 3), { dataOut: prParams(0xbn, 0n) })).status).toBe(GOOD); // EXCLUSIVE ACCESS
    const revs = nodes.map((x) => x.store.revision(dev(x)));
    expect(new Set(revs).size).toBe(1);

    const block = Buffer.alloc(512, 7);
    expect((await runCmd(c, 0, cdb.write10(0, 1), { dataOut: block })).status).toBe(RC);
    expect((await runCmd(a, 0, cdb.read10(0, 1), { edtl: 512 })).status).toBe(RC); // a registrant, not the holder
    expect((await runCmd(b, 0, cdb.write10(0, 1), { dataOut: block })).status).toBe(GOOD);
    // PR IN through any node answers as one target would.
    const rkC = await runCmd(c, 0, cdb.prIn(0));
    const rkA = await runCmd(a, 0, cdb.prIn(0));
    expect(keysOf(rkC.data)).toEqual([0xan, 0xbn]);
    expect(rkC.data.equals(rkA.data)).toBe(true);
    const rr = await runCmd(c, 0, cdb.prIn(1));
    expect([rr.data.readBigUInt64BE(8), rr.data[21]! & 0x0f]).toEqual([0xbn, 3]);
    // The holder's relative target port is node B's (READ FULL STATUS through node A).
    const full = await runCmd(a, 0, cdb.prIn(3));
    const descs: Array<{ key: bigint; holder: boolean; relTgtId: number }> = [];
    for (let o = 8; o < 8 + full.data.readUInt32BE(4); o += 24 + full.data.readUInt32BE(o + 20)) {
      descs.push({ key: full.data.readBigUInt64BE(o), holder: (full.data[o + 12]! & 1) === 1, relTgtId: full.data.readUInt16BE(o + 18) });
    }
    expect(descs).toEqual([
      { key: 0xan, holder: false, relTgtId: 1 },
      { key: 0xbn, holder: true, relTgtId: 2 },
    ]);

    // C registers and preempts B's reservation, taking it as WRITE EXCLUSIVE.
    expect((await runCmd(c, 0, cdb.prOut(0), { dataOut: prParams(0n, 0xcn) })).status).toBe(GOOD);
    expect((await runCmd(c, 0, cdb.prOut(4, 1), { dataOut: prParams(0xcn, 0xbn) })).status).toBe(GOOD);
    // Completed on C: B's registration is gone on every node, and the unit attentions are queued
    // on the sessions of the other nodes already.
    for (const x of nodes) expect(x.store.current(dev(x)).registrations.map((r) => r.key)).toEqual([0xan, 0xcn]);
    expect(uaOf(b)).toBe('2a/05'); // REGISTRATIONS PREEMPTED
    expect(uaOf(a)).toBe('2a/04'); // RESERVATIONS RELEASED (the type changed)
    expect(uaOf(c)).toBeNull();
    // B is no longer registered: its write now conflicts with C's WRITE EXCLUSIVE; A reads again.
    expect((await runCmd(b, 0, cdb.write10(0, 1), { dataOut: block })).status).toBe(RC);
    expect((await runCmd(a, 0, cdb.read10(0, 1), { edtl: 512 })).status).toBe(GOOD);
    await backend.idle();
  });

  it('two nodes change the state at once: one compare-and-swap wins, the loser decides again on the winner’s state', async () => {
    const { nodes, backend } = await cluster(2);
    const [A, B] = nodes as [Node, Node];
    const a = A.core.session('iqn.2026-11.test:host-a', '400000000001');
    const b = B.core.session('iqn.2026-11.test:host-b', '400000000002');
    // Two REGISTERs at once: both succeed, the generation counts both.
    const lostBefore = backend.cas.lost;
    const [ra, rb] = await Promise.all([runCmd(a, 0, cdb.prOut(0), { dataOut: prParams(0n, 1n) }), runCmd(b, 0, cdb.prOut(0), { dataOut: prParams(0n, 2n) })]);
    expect([ra.status, rb.status]).toEqual([GOOD, GOOD]);
    expect(backend.cas.lost - lostBefore).toBe(1);
    for (const x of nodes) {
      const s = x.store.current(dev(x));
      expect(s.generation).toBe(2);
      expect(s.registrations.map((r) => r.key).sort()).toEqual([1n, 2n]);
    }
    // Two RESERVEs at once: exactly one holds the reservation, the other gets RESERVATION CONFLICT.
    const decisions = A.store.decisions + B.store.decisions;
    const [xa, xb] = await Promise.all([runCmd(a, 0, cdb.prOut(1, 1), { dataOut: prParams(1n, 0n) }), runCmd(b, 0, cdb.prOut(1, 1), { dataOut: prParams(2n, 0n) })]);
    expect([xa.status, xb.status].sort()).toEqual([GOOD, RC].sort());
    expect(A.store.decisions + B.store.decisions - decisions).toBe(3); // two decisions, one again after the lost race
    const winner = xa.status === GOOD ? 1n : 2n;
    for (const x of nodes) {
      const s = x.store.current(dev(x));
      expect(s.registrations[s.reservation!.holder!]!.key).toBe(winner);
      expect(s.generation).toBe(2); // RESERVE does not bump PRgeneration
    }
    await backend.idle();
  });

  it('an SPC-2 reservation taken on one node holds on the others and goes when its session ends', async () => {
    const { nodes, backend } = await cluster(2);
    const [A, B] = nodes as [Node, Node];
    const a = A.core.session('iqn.2026-11.test:host-a', '400000000001');
    const b = B.core.session('iqn.2026-11.test:host-b', '400000000002');
    expect((await runCmd(b, 0, cdb.reserve6())).status).toBe(GOOD);
    expect((await runCmd(a, 0, cdb.reserve6())).status).toBe(RC);
    expect((await runCmd(a, 0, cdb.read10(0, 1), { edtl: 512 })).status).toBe(RC);
    expect((await runCmd(a, 0, cdb.prOut(0), { dataOut: prParams(0n, 1n) })).status).toBe(RC);
    // A second session of the same initiator port on node A is another I_T nexus.
    const b2 = A.core.session('iqn.2026-11.test:host-b', '400000000002');
    expect((await runCmd(b2, 0, cdb.tur())).status).toBe(GOOD);
    expect((await runCmd(b2, 0, cdb.read10(0, 1), { edtl: 512 })).status).toBe(RC);
    // I_T nexus loss on node B releases it everywhere (through the same store path).
    B.core.scst.closeSession(b);
    await backend.idle();
    expect(A.store.current(dev(A)).spc2).toBeNull();
    expect((await runCmd(a, 0, cdb.reserve6())).status).toBe(GOOD);
    expect(B.store.current(dev(B)).spc2).toMatchObject({ node: 'node1', initiator: 'iqn.2026-11.test:host-a' });
  });

  it('PREEMPT AND ABORT ends the victim’s tasks on the node that serves it before the command completes', async () => {
    const { nodes } = await cluster(2);
    const [A, B] = nodes as [Node, Node];
    const events: string[] = [];
    const a = A.core.session('iqn.2026-11.test:host-a', '400000000001', {
      abortDeviceTasks: async () => {
        events.push('aborted on A');
      },
    });
    const b = B.core.session('iqn.2026-11.test:host-b', '400000000002', {
      abortDeviceTasks: async () => {
        events.push('aborted on B');
      },
    });
    expect((await runCmd(a, 0, cdb.prOut(0), { dataOut: prParams(0n, 1n) })).status).toBe(GOOD);
    expect((await runCmd(b, 0, cdb.prOut(0), { dataOut: prParams(0n, 2n) })).status).toBe(GOOD);
    expect((await runCmd(a, 0, cdb.prOut(1, 3), { dataOut: prParams(1n, 0n) })).status).toBe(GOOD);
    const r = await runCmd(b, 0, cdb.prOut(5, 3), { dataOut: prParams(2n, 1n) });
    events.push('completed');
    expect(r.status).toBe(GOOD);
    expect(events).toEqual(['aborted on A', 'completed']);
    expect(uaOf(a)).toBe('2a/05');
    expect(B.store.current(dev(B)).reservation).toEqual({ type: 3, holder: 0 });
  });
});
