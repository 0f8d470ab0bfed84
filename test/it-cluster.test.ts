// Cluster membership over real etcd (issue 16, first slice): scstd nodes started with --cluster
// register under a lease, see each other in /sys/kernel/scst_tgt/cluster, are listed by
// scstadmin -list_cluster_nodes, refuse a duplicate node name, see a killed node go within its
// TTL, go `fenced` when etcd is gone and come back after it returns; with three etcd members the
// loss of one fences nobody. Every wait is bounded.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { tmpDir } from './helpers/files.js';
import { describeRun, pollUntil, run, sleep } from './helpers/proc.js';
import { runScstdOnce, scstdBinary, startScstd, type ScstdHandle } from './helpers/scstd.js';

installHarnessHooks();

const ADMIN = join(scstdBinary(), '..', 'scstadmin.js');
/** A short lease keeps the tests short; the bounds below are stated in it. */
const TTL = 3;
/** Beyond the TTL: the etcd expiry sweep (500 ms), the watch event, the tree read. */
const MARGIN_MS = 3000;

interface Node {
  d: ScstdHandle;
  /** The mount root (scstadmin --root). */
  mnt: string;
  /** <mnt>/sys/kernel/scst_tgt/cluster */
  dir: string;
  name: string;
}

async function startNode(etcd: EtcdCluster | string, name: string, o: { config?: string; ttl?: number } = {}): Promise<Node> {
  const work = await tmpDir('scst-cluster-');
  const mnt = join(work, 'mnt');
  const endpoints = typeof etcd === 'string' ? etcd : etcd.endpoints;
  const d = await startScstd({
    config: o.config ?? 'cluster_name itest\n',
    extraArgs: ['--mount', mnt, '--no-user-socket', '--cluster', endpoints, '--node', name, '--cluster-ttl', String(o.ttl ?? TTL)],
    readyTimeoutMs: 30_000,
    ...(process.env.CLUSTER_TEST_LOG ? { logLevel: process.env.CLUSTER_TEST_LOG } : {}),
  });
  return { d, mnt, dir: join(mnt, 'sys/kernel/scst_tgt/cluster'), name };
}

const text = (p: string) => readFile(p, 'utf8');
const nodesOf = async (n: Node) => (await readdir(join(n.dir, 'nodes'))).sort();
const stateOf = (n: Node, of = n.name) => text(join(n.dir, 'nodes', of, 'state')).catch(() => '');

/** Polls until `probe` holds, bounded; fails naming what was last seen. */
async function until(what: string, probe: () => Promise<boolean>, ms: number, seen: () => Promise<string>): Promise<number> {
  const t0 = Date.now();
  const ok = await pollUntil(async () => (await probe()) || undefined, ms, 100).catch(() => undefined);
  if (!ok) throw new Error(`${what}: not within ${ms} ms; last seen: ${await seen()}`);
  return Date.now() - t0;
}

describe('cluster membership over etcd (one etcd member)', () => {
  it('two nodes see each other in the tree and in scstadmin; a duplicate name is refused; a clean stop and a kill -9 are seen', async () => {
    const etcd = await startEtcd(1);
    const a = await startNode(etcd, 'node-a');
    const b = await startNode(etcd, 'node-b');

    await until('both nodes listed on both', async () => (await nodesOf(a)).join() === 'node-a,node-b' && (await nodesOf(b)).join() === 'node-a,node-b', 5000, async () => `${await nodesOf(a)} / ${await nodesOf(b)}`);
    expect(await text(join(a.dir, 'this_node'))).toBe('node-a\n');
    expect(await text(join(b.dir, 'this_node'))).toBe('node-b\n');
    expect(await text(join(a.dir, 'cluster_name'))).toBe('itest\n');
    expect(await text(join(a.dir, 'key_prefix'))).toBe('/scst-usermode/itest/\n');
    expect(await text(join(a.dir, 'state'))).toBe('member\n');
    for (const n of [a, b]) for (const of of ['node-a', 'node-b']) expect(await stateOf(n, of)).toBe('member\n');
    // Each node's record carries its portals, so every node shows the other's.
    expect(await text(join(a.dir, 'nodes/node-b/portals'))).toBe(`127.0.0.1:${b.d.ports[0]}\n`);
    expect(await text(join(b.dir, 'nodes/node-a/portals'))).toBe(`127.0.0.1:${a.d.ports[0]}\n`);
    expect(await text(join(a.dir, 'nodes/node-b/pid'))).toBe(`${b.d.pid}\n`);
    // The cluster's name is fixed while a member: another value is refused, the same one taken.
    await expect(import('node:fs/promises').then((fs) => fs.writeFile(join(a.mnt, 'sys/kernel/scst_tgt/cluster_name'), 'other\n'))).rejects.toMatchObject({ code: 'EBUSY' });
    await a.d.waitForLog(/cluster_name cannot change while scstd is node node-a of cluster 'itest'/, 2000);

    const list = await run(process.execPath, [ADMIN, '--root', a.mnt, '-list_cluster_nodes'], { timeoutMs: 30_000 });
    expect(list.code, describeRun('scstadmin -list_cluster_nodes', list)).toBe(0);
    expect(list.stdout).toContain('Cluster: itest (this node: node-a, member)');
    expect(list.stdout).toMatch(new RegExp(`\\tnode-a\\s+member\\s+127\\.0\\.0\\.1:${a.d.ports[0]}\\n`));
    expect(list.stdout).toMatch(new RegExp(`\\tnode-b\\s+member\\s+127\\.0\\.0\\.1:${b.d.ports[0]}\\n`));

    // A second node called node-b does not start, and says who holds the name.
    const dup = await runScstdOnce({
      config: 'cluster_name itest\n',
      extraArgs: ['--no-user-socket', '--cluster', etcd.endpoints, '--node', 'node-b', '--cluster-ttl', String(TTL)],
      timeoutMs: 30_000,
    });
    expect(dup.code, describeRun('duplicate scstd', dup)).toBe(1);
    expect(dup.stderr).toMatch(new RegExp(`node name 'node-b' is already registered in the cluster by pid ${b.d.pid} on host \\S+ \\(portals 127\\.0\\.0\\.1:${b.d.ports[0]}`));
    expect(dup.stdout).not.toMatch(/\bscstd ready\b/);
    // ... and the holder is untouched.
    expect(await stateOf(a, 'node-b')).toBe('member\n');

    // A clean stop revokes the lease: the other node sees it leave at once, not after the TTL.
    const stopped = await b.d.stop();
    expect(stopped.code, b.d.recentOutput()).toBe(0);
    expect(b.d.logs().some((l) => /cluster: node node-b left cluster 'itest' \(lease revoked\)/.test(l.msg))).toBe(true);
    const leftMs = await until('node-b gone after its clean stop', async () => (await nodesOf(a)).join() === 'node-a', 1500, async () => String(await nodesOf(a)));
    expect(leftMs).toBeLessThan(1500);
    await a.d.waitForLog(/cluster: node node-b left/, 1000);

    // kill -9: the lease runs out; the other node sees the node gone within TTL plus the margin.
    const c = await startNode(etcd, 'node-c');
    await until('node-c listed', async () => (await nodesOf(a)).includes('node-c'), 5000, async () => String(await nodesOf(a)));
    await c.d.kill9();
    const goneMs = await until('node-c gone after kill -9', async () => !(await nodesOf(a)).includes('node-c'), TTL * 1000 + MARGIN_MS, async () => String(await nodesOf(a)));
    expect(goneMs).toBeLessThanOrEqual(TTL * 1000 + MARGIN_MS);

    // The killed node restarted at once under the same name on the same host waits out its
    // dead predecessor's lease instead of being refused.
    const c2 = await startNode(etcd, 'node-c');
    await until('node-c back', async () => (await nodesOf(a)).includes('node-c') && (await stateOf(c2)) === 'member\n', 5000, async () => String(await nodesOf(a)));
    expect(await text(join(a.dir, 'nodes/node-c/pid'))).toBe(`${c2.d.pid}\n`);

    for (const n of [a, c2]) expect((await n.d.stop()).code, n.d.recentOutput()).toBe(0);
  }, 120_000);

  it('etcd gone: every node is fenced within its TTL (tree and one log line), and a member again once etcd is back', async () => {
    const etcd = await startEtcd(1);
    const a = await startNode(etcd, 'a');
    const b = await startNode(etcd, 'b');
    await until('both members', async () => (await stateOf(a, 'b')) === 'member\n' && (await stateOf(b, 'a')) === 'member\n', 5000, async () => `${await stateOf(a, 'b')} ${await stateOf(b, 'a')}`);

    const m = etcd.members[0]!;
    const killedAt = Date.now();
    await m.stop();
    for (const n of [a, b]) {
      await until(`${n.name} fenced`, async () => (await text(join(n.dir, 'state'))) === 'fenced\n', TTL * 1000 + 1000, async () => text(join(n.dir, 'state')));
      const line = await n.d.waitForLog(new RegExp(`cluster: node ${n.name} fenced: `), 1000);
      // Fenced before the lease can have expired in etcd: the bound is at most TTL - margin after
      // the kill; a second more for the timer's lateness and the log's way on a loaded machine.
      expect(line.at - killedAt).toBeLessThanOrEqual(TTL * 1000 + 1000);
      expect(n.d.logs().filter((l) => /^cluster: node \S+ fenced: /.test(l.msg))).toHaveLength(1);
      // Its own entry says fenced; what it knew of the others may be stale: unknown.
      expect(await stateOf(n)).toBe('fenced\n');
      expect(await stateOf(n, n.name === 'a' ? 'b' : 'a')).toBe('unknown\n');
    }
    const list = await run(process.execPath, [ADMIN, '--root', a.mnt, '-list_cluster_nodes'], { timeoutMs: 30_000 });
    expect(list.stdout).toContain('Cluster: itest (this node: a, fenced)');

    // Still fenced a while later (nothing to renew against), then back once etcd is.
    await sleep(1000);
    expect(await text(join(a.dir, 'state'))).toBe('fenced\n');
    await m.start();
    await etcd.waitHealthy(20_000);
    for (const n of [a, b]) {
      await until(`${n.name} member again`, async () => (await text(join(n.dir, 'state'))) === 'member\n', 10_000, async () => text(join(n.dir, 'state')));
      await n.d.waitForLog(new RegExp(`cluster: node ${n.name} is again a member of cluster 'itest'`), 1000);
    }
    await until('both see both as members', async () => (await stateOf(a, 'b')) === 'member\n' && (await stateOf(b, 'a')) === 'member\n', 5000, async () => `${await stateOf(a, 'b')} ${await stateOf(b, 'a')}`);
    for (const n of [a, b]) expect((await n.d.stop()).code, n.d.recentOutput()).toBe(0);
  }, 120_000);

  it('refuses bad cluster options before starting, and a cluster it cannot reach after a bounded wait', async () => {
    const bad = await runScstdOnce({ config: '', extraArgs: ['--cluster', 'etcd.example:2379'] });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--cluster: 'etcd\.example:2379' is not of the form http:\/\/HOST:PORT/);
    const node = await runScstdOnce({ config: '', extraArgs: ['--cluster', 'http://127.0.0.1:1', '--node', 'a/b'] });
    expect(node.code).toBe(2);
    expect(node.stderr).toMatch(/--node: node name 'a\/b' is not valid/);
    const alone = await runScstdOnce({ config: '', extraArgs: ['--node', 'a'] });
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/--node needs --cluster/);
    const slash = await runScstdOnce({ config: 'cluster_name a/b\n', extraArgs: ['--cluster', 'http://127.0.0.1:1', '--node', 'a'] });
    expect(slash.code).toBe(1);
    expect(slash.stderr).toMatch(/cluster_name 'a\/b' cannot name a cluster/);
    // Nothing listens there: the join gives up after its bound (10 s at TTL 3) with a clear error.
    const t0 = Date.now();
    const none = await runScstdOnce({ config: '', extraArgs: ['--no-user-socket', '--cluster', 'http://127.0.0.1:9', '--node', 'a', '--cluster-ttl', String(TTL)], timeoutMs: 30_000 });
    expect(none.code, describeRun('scstd', none)).toBe(1);
    expect(none.stderr).toMatch(/cluster: cannot join cluster 'default' at http:\/\/127\.0\.0\.1:9 within 10 s: /);
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 60_000);
});

describe('cluster membership over etcd (three etcd members)', () => {
  it('killing one etcd member, a follower or the leader, fences nobody', async () => {
    const etcd = await startEtcd(3);
    // The loss of the leader costs an election in which no keepalive is answered: about a second
    // on an idle machine, several on this shared 2-CPU one. A node survives it when it ends
    // within TTL - TTL/5 - TTL/10 after the last acknowledged keepalive: 5.6 s at TTL 8
    // (docs/cluster.md). A follower's loss costs one failover of the keepalive stream.
    const ttl = 8;
    const a = await startNode(etcd, 'a', { ttl });
    const b = await startNode(etcd, 'b', { ttl });
    await until('both members', async () => (await stateOf(a, 'b')) === 'member\n' && (await stateOf(b, 'a')) === 'member\n', 5000, async () => `${await stateOf(a, 'b')} ${await stateOf(b, 'a')}`);
    for (const which of ['follower', 'leader'] as const) {
      const leader = await etcd.leader();
      expect(leader, 'a leader is known').not.toBeNull();
      const m = which === 'leader' ? leader! : etcd.members.find((x) => x !== leader)!;
      await m.stop();
      const t0 = Date.now();
      while (Date.now() - t0 < ttl * 1000 + 1500) {
        for (const n of [a, b]) expect(await text(join(n.dir, 'state')), `${n.name} with the ${which} ${m.name} down\n${n.d.recentOutput(20)}`).toBe('member\n');
        await sleep(250);
      }
      await m.start();
      await etcd.waitHealthy(20_000, m);
    }
    for (const n of [a, b]) expect(n.d.logs().filter((l) => /fenced/.test(l.msg)).map((l) => l.msg)).toEqual([]);
    expect((await nodesOf(a)).join()).toBe('a,b');
    for (const n of [a, b]) expect((await n.d.stop()).code, n.d.recentOutput()).toBe(0);
  }, 120_000);
});
