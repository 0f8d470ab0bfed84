// The membership object itself against real etcd (issue 16): the interface later slices build on
// (state, onState, onResync, validUntil, leaseId, nodes) and the ways a lease can be lost: etcd
// gone (the local bound runs out), the lease revoked behind the node's back (etcd says so), the
// registration deleted by hand. A node is member again only once every resync callback is done.
import pino from 'pino';
import { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { EtcdMembership } from '../src/cluster/etcd-membership.js';
import type { ClusterState } from '../src/cluster/membership.js';
import { installHarnessHooks, onCleanup } from './helpers/cleanup.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { pollUntil } from './helpers/proc.js';

installHarnessHooks();

const TTL = 2;

function membership(etcd: EtcdCluster, node: string) {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  const m = new EtcdMembership({ endpoints: etcd.endpoints.split(','), node, clusterName: 'unit', prefix: '/scst-usermode/unit/', ttlSeconds: TTL, portals: () => [{ host: '127.0.0.1', port: 3260 }], log });
  const states: Array<[ClusterState, string]> = [];
  m.onState((s, why) => states.push([s, why]));
  onCleanup(`stop membership ${node}`, () => m.stop(1000));
  return { m, states, msgs: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg) };
}

const waitState = (m: EtcdMembership, s: ClusterState, ms: number) => pollUntil(async () => m.state === s, ms, 20);

describe('EtcdMembership', () => {
  it('joins, keeps its lease, and says until when it is certainly valid', async () => {
    const etcd = await startEtcd(1);
    const { m, states } = membership(etcd, 'n1');
    expect(m.state).toBe('joining');
    expect(m.validUntil()).toBe(0);
    await m.start(10_000);
    expect(m.state).toBe('member');
    expect(states).toEqual([['member', 'joined']]);
    expect(m.leaseId).toMatch(/^\d+$/);
    // Never beyond the TTL (less the margin, 200 ms here) from now; renewed by keepalives, so it moves on.
    const v1 = m.validUntil();
    expect(v1).toBeGreaterThan(Date.now());
    expect(v1).toBeLessThanOrEqual(Date.now() + TTL * 1000 - 200);
    await pollUntil(async () => m.validUntil() > v1, 3000, 50);
    expect(m.validUntil()).toBeLessThanOrEqual(Date.now() + TTL * 1000 - 200);
    expect(m.nodes()).toEqual([expect.objectContaining({ node: 'n1', state: 'member', self: true, lease: m.leaseId, portals: [{ host: '127.0.0.1', port: 3260 }], pid: process.pid })]);
    expect(m.prefix).toBe('/scst-usermode/unit/');
    // Another layer reaches etcd through the same client and prefix.
    const rec = await m.client.get(`${m.prefix}members/n1`).json();
    expect(rec).toMatchObject({ node: 'n1', lease: m.leaseId });
    await m.stop(1000);
    expect(m.state).toBe('leaving');
    const other = new Etcd3({ hosts: etcd.endpoints });
    onCleanup('close etcd client', () => other.close());
    expect(await other.get(`${m.prefix}members/n1`).string()).toBeNull();
  });

  it('a lease revoked behind its back, or its registration deleted, fences the node at once; it rejoins by itself', async () => {
    const etcd = await startEtcd(1);
    const { m, states, msgs } = membership(etcd, 'n2');
    await m.start(10_000);
    const other = new Etcd3({ hosts: etcd.endpoints });
    onCleanup('close etcd client', () => other.close());

    const first = m.leaseId!;
    await other.leaseClient.leaseRevoke({ ID: first });
    await waitState(m, 'fenced', 1500); // well before the TTL would run out
    await waitState(m, 'member', 5000);
    expect(m.leaseId).not.toBe(first);
    expect(msgs().filter((s) => /^cluster: node n2 fenced: /.test(s))).toHaveLength(1);
    expect(msgs().find((s) => /fenced: /.test(s))).toMatch(/lease \d+ (expired or revoked|gone)|registration .* deleted/);

    await other.delete().key(`${m.prefix}members/n2`);
    await waitState(m, 'fenced', 1500);
    await waitState(m, 'member', 5000);
    expect(msgs().filter((s) => /^cluster: node n2 fenced: /.test(s))).toHaveLength(2);
    expect(states.map(([s]) => s)).toEqual(['member', 'fenced', 'member', 'fenced', 'member']);
    expect(await other.get(`${m.prefix}members/n2`).json()).toMatchObject({ lease: m.leaseId });
  });

  it('etcd gone: fenced within the TTL; member again only after every resync callback, a failed one retried', async () => {
    const etcd = await startEtcd(1);
    const { m, states } = membership(etcd, 'n3');
    let resyncs = 0;
    let failNext = false;
    let release: (() => void) | null = null;
    m.onResync(async () => {
      resyncs++;
      if (failNext) {
        failNext = false;
        throw new Error('shared state not readable yet');
      }
      if (release === null) return;
      await new Promise<void>((r) => (release = r));
    });
    await m.start(10_000);
    expect(resyncs).toBe(1);

    const t0 = Date.now();
    await etcd.members[0]!.stop();
    await waitState(m, 'fenced', TTL * 1000 + 200);
    expect(Date.now() - t0).toBeLessThanOrEqual(TTL * 1000 + 200);
    expect(m.validUntil()).toBe(0);

    failNext = true;
    release = () => undefined; // from now on a resync waits until released
    await etcd.members[0]!.start();
    await etcd.waitHealthy(20_000);
    // The first resync fails, the next one waits: still fenced, though etcd is back.
    await pollUntil(async () => resyncs >= 3, 10_000, 20);
    expect(m.state).toBe('fenced');
    (release as () => void)();
    await waitState(m, 'member', 3000);
    expect(states.map(([s]) => s)).toEqual(['member', 'fenced', 'member']);
    expect(states[2]![1]).toBe('rejoined');
  }, 60_000);
});
