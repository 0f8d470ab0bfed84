// EtcdAluaSync (src/cluster/etcd-alua.ts) against a real etcd, without scstd: two "nodes" (a
// stub membership each, with a real lease and registration) and stub local sides that record
// what they are told to apply. A commit is applied by the other node from its watch and not
// again by the writer's own; a node that is not certain, or whose registration another lease
// took, commits nothing; a state put behind a node's back is taken first and its commit still
// wins; the first node seeds absent states, the next takes etcd's; colliding ids refuse the join.
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterAluaLocal, CommittedState, LocalDeviceGroup } from '../src/cluster/alua-local.js';
import { EtcdAluaSync } from '../src/cluster/etcd-alua.js';
import type { ClusterMembership, ClusterState } from '../src/cluster/membership.js';
import { startEtcd } from './helpers/etcd.js';
import { pollUntil } from './helpers/proc.js';

const PREFIX = '/scst-usermode/sync-test/';
const clients: Etcd3[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

interface Node {
  sync: EtcdAluaSync;
  m: ClusterMembership & { state: ClusterState };
  applied: Array<CommittedState & { by: string }>;
  groups: LocalDeviceGroup[];
  resync: () => Promise<void>;
  stateCbs: Array<(s: ClusterState, why: string) => void>;
}

async function node(endpoint: string, name: string, rel: number, states: Record<string, string>): Promise<Node> {
  const client = new Etcd3({ hosts: endpoint });
  clients.push(client);
  const lease = String((await client.leaseClient.leaseGrant({ TTL: 30 })).ID);
  await client.put(`${PREFIX}members/${name}`).value('{}').lease(lease).exec();
  let resyncCb: ((s: AbortSignal) => Promise<void>) | null = null;
  const stateCbs: Node['stateCbs'] = [];
  const m = {
    node: name,
    clusterName: 'sync-test',
    prefix: PREFIX,
    endpoints: [endpoint],
    ttlSeconds: 30,
    state: 'member' as ClusterState,
    leaseId: lease,
    validUntil: () => (m.state === 'member' ? Date.now() + 10_000 : 0),
    nodes: () => [],
    onState: (cb: (s: ClusterState, why: string) => void) => {
      stateCbs.push(cb);
      return () => undefined;
    },
    onResync: (cb: (s: AbortSignal) => Promise<void>) => {
      resyncCb = cb;
      return () => undefined;
    },
    client,
  };
  const groups: LocalDeviceGroup[] = [
    {
      name: 'dg1',
      targetGroups: ['tg1', 'tg2'].map((tg, i) => ({ name: tg, groupId: i + 1, state: states[tg]!, localPorts: [] })),
    },
  ];
  const applied: Node['applied'] = [];
  const local: ClusterAluaLocal = {
    isShared: (n) => n === 'dg1',
    sharedGroups: () => groups,
    localTargets: () => [{ target: `iqn.x:${name}`, relTgtId: rel }],
    applyCommitted: (s, by) => {
      applied.push({ ...s, by });
      const tg = groups[0]!.targetGroups.find((t) => t.name === s.targetGroup);
      if (tg) tg.state = s.state;
    },
    restored: () => undefined,
  };
  const sync = new EtcdAluaSync(m, local, pino({ level: 'silent' }));
  return { sync, m, applied, groups, stateCbs, resync: () => resyncCb!(new AbortController().signal) };
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('EtcdAluaSync over a real etcd', () => {
  it('commits, applies on the other node once, refuses when uncertain or unregistered, wins over a state put behind its back', async () => {
    const etcd = await startEtcd(1);
    const ep = etcd.members[0]!.endpoint;
    const a = await node(ep, 'a', 1, { tg1: 'active', tg2: 'standby' });
    await a.resync();
    const b = await node(ep, 'b', 2, { tg1: 'standby', tg2: 'active' });
    await b.resync();
    // a seeded both keys; b took them (its own configuration lost).
    expect(b.applied.map((x) => [x.targetGroup, x.state, x.by])).toEqual([
      ['tg1', 'active', 'a'],
      ['tg2', 'standby', 'a'],
    ]);
    expect(a.applied).toEqual([]);

    const done = await a.sync.commit([{ deviceGroup: 'dg1', targetGroup: 'tg1', state: 'standby' }]);
    expect(done).toHaveLength(1);
    expect(await pollUntil(async () => b.applied.some((x) => x.targetGroup === 'tg1' && x.state === 'standby'), 3000, 20)).toBe(true);
    await settle(300);
    // The writer applies its own commit itself (the core does, with the issuing nexus spared).
    expect(a.applied).toEqual([]);

    // Not certain: nothing committed.
    a.m.state = 'fenced';
    await expect(a.sync.commit([{ deviceGroup: 'dg1', targetGroup: 'tg1', state: 'active' }])).rejects.toMatchObject({ errno: 'EIO' });
    a.m.state = 'member';

    // A state put behind a's back (another writer): a takes it, and its own commit still lands.
    const raw = new Etcd3({ hosts: ep });
    clients.push(raw);
    await raw.put(`${PREFIX}alua/states/dg1/tg2`).value(JSON.stringify({ state: 'offline', node: 'x', commit: 'x:1', at: '' })).exec();
    await a.sync.commit([{ deviceGroup: 'dg1', targetGroup: 'tg2', state: 'nonoptimized' }]);
    expect(JSON.parse((await raw.get(`${PREFIX}alua/states/dg1/tg2`).string())!).state).toBe('nonoptimized');
    expect(await pollUntil(async () => b.groups[0]!.targetGroups[1]!.state === 'nonoptimized', 3000, 20)).toBe(true);

    // Its registration taken by another lease: nothing committed.
    const other = String((await raw.leaseClient.leaseGrant({ TTL: 30 })).ID);
    await raw.put(`${PREFIX}members/a`).value('{}').lease(other).exec();
    await expect(a.sync.commit([{ deviceGroup: 'dg1', targetGroup: 'tg1', state: 'active' }])).rejects.toMatchObject({ errno: 'EIO', message: expect.stringMatching(/no longer registered/) });
    expect(JSON.parse((await raw.get(`${PREFIX}alua/states/dg1/tg1`).string())!).state).toBe('standby');

    for (const n of [a, b]) for (const cb of n.stateCbs) cb('leaving', 'test');
  }, 60_000);

  it('refuses a joining node whose rel_tgt_id or group ids collide, with refuseJoin', async () => {
    const etcd = await startEtcd(1);
    const ep = etcd.members[0]!.endpoint;
    const a = await node(ep, 'a', 1, { tg1: 'active', tg2: 'standby' });
    await a.resync();
    const c = await node(ep, 'c', 1, { tg1: 'active', tg2: 'standby' });
    await expect(c.resync()).rejects.toMatchObject({ errno: 'EEXIST', refuseJoin: true, message: expect.stringMatching(/rel_tgt_id 1 is used by target iqn.x:c on node c and by target iqn.x:a on node a/) });
    const d = await node(ep, 'd', 4, { tg1: 'active', tg2: 'standby' });
    d.groups[0]!.targetGroups[1]!.groupId = 1;
    await expect(d.resync()).rejects.toMatchObject({ errno: 'EEXIST', message: expect.stringMatching(/group_id 1 of device group dg1/) });
    // Their records are gone again; a's stays, and a run-time check sees a's ids.
    const raw = new Etcd3({ hosts: ep });
    clients.push(raw);
    expect(Object.keys(await raw.getAll().prefix(`${PREFIX}alua/ports/`).strings())).toEqual([`${PREFIX}alua/ports/a`]);
    const e = await node(ep, 'e', 5, { tg1: 'active', tg2: 'standby' });
    await e.resync();
    expect(() => e.sync.checkIds({ relTgtId: { target: 'iqn.x:e', id: 1 } })).toThrow(/used by target iqn.x:a on node a/);
    expect(() => e.sync.checkIds({ relTgtId: { target: 'iqn.x:e', id: 6 } })).not.toThrow();
    for (const n of [a, e]) for (const cb of n.stateCbs) cb('leaving', 'test');
  }, 60_000);
});
