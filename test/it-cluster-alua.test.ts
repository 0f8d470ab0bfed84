// ALUA across cluster nodes over real etcd (issue 16): two scstd nodes on their own portals serve
// one cluster_mode LUN on a shared backing file, each with its own target in a target port group
// and the other's as a remote member. REPORT TARGET PORT GROUPS is the same bytes through both; a
// state written in node A's tree (and by scstadmin -set_tgrp_attr) is reported through node B
// within a bound, with the unit attention; SET TARGET PORT GROUPS through B changes what A
// reports; a node with a colliding rel_tgt_id does not join and a colliding write is refused; a
// restarted node reads the current states; a fenced node reports its own group as transitioning.
// Raw iSCSI client (independent of the daemon); every wait bounded.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { describeRun, pollUntil, run } from './helpers/proc.js';
import { RawIscsiClient, senseKey, type ScsiResult } from './helpers/rawclient.js';
import { runScstdOnce, scstdBinary, startScstd, type ScstdHandle } from './helpers/scstd.js';

installHarnessHooks();

const ADMIN = join(scstdBinary(), '..', 'scstadmin.js');
const TTL = 3;
/** How soon a state committed on one node is reported by the other (a watch event on loopback). */
const SEEN_WITHIN_MS = 3000;
const IQN = (n: string) => `iqn.2026-12.test.alua:${n}`;
const NODES = { a: { rel: 1, tg: 'node-a', id: 1 }, b: { rel: 2, tg: 'node-b', id: 2 } } as const;
type Name = keyof typeof NODES;

/** Node `me`'s scst.conf: its target local, the other's remote with an explicit rel_tgt_id. */
function config(me: Name, backing: string, o: { rel?: number; states?: Record<Name, string> } = {}): string {
  const other: Name = me === 'a' ? 'b' : 'a';
  const states = o.states ?? { a: 'active', b: 'standby' };
  const tg = (n: Name) => `\tTARGET_GROUP ${NODES[n].tg} {\n\t\tgroup_id ${NODES[n].id}\n\t\tstate ${states[n]}\n\n${n === me ? `\t\tTARGET ${IQN(n)}\n` : `\t\tTARGET ${IQN(n)} {\n\t\t\trel_tgt_id ${NODES[n].rel}\n\t\t}\n`}\t}\n`;
  return `cluster_name alua-it

HANDLER vdisk_fileio {
\tDEVICE disk1 {
\t\tfilename ${backing}
\t\tt10_dev_id shared-disk1
\t\tcluster_mode 1
\t\texpl_alua 1
\t}
}

TARGET_DRIVER iscsi {
\tenabled 1

\tTARGET ${IQN(me)} {
\t\tenabled 1
\t\trel_tgt_id ${o.rel ?? NODES[me].rel}
\t\tLUN 0 disk1
\t}
}

DEVICE_GROUP dg1 {
\tDEVICE disk1

${tg(me === 'a' ? me : other)}
${tg(me === 'a' ? other : me)}}
`;
}

interface Node {
  name: Name;
  d: ScstdHandle;
  mnt: string;
  c: RawIscsiClient;
}

async function startNode(etcd: EtcdCluster, name: Name, backing: string, o: { states?: Record<Name, string> } = {}): Promise<Node> {
  const mnt = join(await tmpDir('scst-alua-'), 'mnt');
  const d = await startScstd({
    config: config(name, backing, o),
    extraArgs: ['--mount', mnt, '--no-user-socket', '--cluster', etcd.endpoints, '--node', `node-${name}`, '--cluster-ttl', String(TTL)],
    readyTimeoutMs: 30_000,
  });
  const c = await RawIscsiClient.connect(d.ports[0]!);
  const login = await c.login({ initiatorName: `iqn.2026-12.test.alua:ini-${name}`, targetName: IQN(name) });
  expect(login.ok, login.error).toBe(true);
  // The power-on unit attention goes before anything is measured.
  await c.scsi({ cdb: Buffer.from([0, 0, 0, 0, 0, 0]) });
  return { name, d, mnt, c };
}

const RTPG = Buffer.from([0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0]);
const vpd83 = Buffer.from([0x12, 0x01, 0x83, 0x04, 0x00, 0]);

async function rtpg(n: Node, keepUnitAttention = false): Promise<ScsiResult> {
  return n.c.scsiOnce({ cdb: RTPG, readLength: 1024, keepUnitAttention });
}

/** Group id -> state name, from REPORT TARGET PORT GROUPS data. */
function states(data: Buffer): Record<number, number> {
  const out: Record<number, number> = {};
  for (let p = 4; p + 8 <= data.length; p += 8 + 4 * data[p + 7]!) out[data.readUInt16BE(p + 2)] = data[p]! & 0x0f;
  return out;
}

/** Designators of VPD page 0x83 as [association, type, value hex]. */
function designators(page: Buffer): Array<[number, number, string]> {
  const out: Array<[number, number, string]> = [];
  for (let p = 4; p + 4 <= page.length; p += 4 + page[p + 3]!) out.push([(page[p + 1]! >> 4) & 3, page[p + 1]! & 0x0f, page.subarray(p + 4, p + 4 + page[p + 3]!).toString('hex')]);
  return out;
}

const isUa = (r: ScsiResult, asc: number, ascq: number) => r.status === 2 && senseKey(r.sense) === 6 && r.sense![12] === asc && r.sense![13] === ascq;
const stateFile = (n: Node, tg: string) => join(n.mnt, 'sys/kernel/scst_tgt/device_groups/dg1/target_groups', tg, 'state');

/**
 * Polls RTPG through `n` until it reports `want`, bounded; returns whether the ASYMMETRIC ACCESS
 * STATE CHANGED unit attention came on the way.
 */
async function awaitStates(n: Node, want: Record<number, number>, ms = SEEN_WITHIN_MS): Promise<{ ua: boolean; ms: number }> {
  const t0 = Date.now();
  let ua = false;
  let last: Record<number, number> = {};
  const ok = await pollUntil(
    async () => {
      const r = await rtpg(n, true);
      if (isUa(r, 0x2a, 0x06)) ua = true;
      if (r.status !== 0) return undefined;
      last = states(r.data);
      return JSON.stringify(last) === JSON.stringify(want) || undefined;
    },
    ms,
    50,
  ).catch(() => undefined);
  if (!ok) throw new Error(`node ${n.name}: states ${JSON.stringify(want)} not reported within ${ms} ms; last ${JSON.stringify(last)}\n${n.d.recentOutput(20)}`);
  return { ua, ms: Date.now() - t0 };
}

const ACTIVE = 0;
const STANDBY = 2;
const TRANSITIONING = 0x0f;

describe('ALUA across cluster nodes', () => {
  it('reports the same groups on both nodes; a state written on A, by scstadmin, or by STPG through B is seen by the other with the unit attention', async () => {
    const etcd = await startEtcd(1);
    const backing = await sparseFile(join(await tmpDir('scst-alua-'), 'shared.img'), 16 << 20);
    const a = await startNode(etcd, 'a', backing);
    // B's own configuration says otherwise: the cluster's state (seeded by A) wins.
    const b = await startNode(etcd, 'b', backing, { states: { a: 'standby', b: 'active' } });

    const ra = await rtpg(a);
    const rb = await rtpg(b);
    expect(ra.status).toBe(0);
    expect(states(ra.data)).toEqual({ 1: ACTIVE, 2: STANDBY });
    expect(rb.data.equals(ra.data)).toBe(true);
    expect(await readFile(stateFile(b, 'node-b'), 'utf8')).toMatch(/^standby\n/);
    // VPD 0x83: the logical unit's designators are the same on both; the port's are each node's own.
    const va = await a.c.scsiOnce({ cdb: vpd83, readLength: 1024 });
    const vb = await b.c.scsiOnce({ cdb: vpd83, readLength: 1024 });
    const lu = (x: Array<[number, number, string]>) => x.filter(([assoc]) => assoc === 0);
    expect(lu(designators(va.data))).toEqual(lu(designators(vb.data)));
    expect(lu(designators(va.data)).length).toBeGreaterThan(0);
    const port = (x: Array<[number, number, string]>, type: number) => x.find(([assoc, t]) => assoc === 1 && t === type)?.[2];
    expect([port(designators(va.data), 4), port(designators(va.data), 5)]).toEqual(['00000001', '00000001']);
    expect([port(designators(vb.data), 4), port(designators(vb.data), 5)]).toEqual(['00000002', '00000002']);

    // Pacemaker-style move on A's tree: B reports it, and B's initiator hears of it.
    await writeFile(stateFile(a, 'node-b'), 'active\n');
    await writeFile(stateFile(a, 'node-a'), 'standby\n');
    const seenB = await awaitStates(b, { 1: STANDBY, 2: ACTIVE });
    expect(seenB.ua).toBe(true);
    expect(await readFile(stateFile(b, 'node-a'), 'utf8')).toMatch(/^standby\n/);
    await a.d.waitForLog(/ALUA state committed \(dg1\/node-a standby\)/, 2000);
    await b.d.waitForLog(/ALUA state of target group node-a changed to standby \(committed by node node-a\)/, 2000);

    // scstadmin on B moves it back.
    for (const [tg, st] of [['node-b', 'standby'], ['node-a', 'active']] as const) {
      const r = await run(process.execPath, [ADMIN, '--root', b.mnt, '-set_tgrp_attr', tg, '-dev_group', 'dg1', '-attributes', `state=${st}`, '-noprompt'], { timeoutMs: 30_000 });
      expect(r.code, describeRun('scstadmin -set_tgrp_attr', r)).toBe(0);
    }
    expect((await awaitStates(a, { 1: ACTIVE, 2: STANDBY })).ua).toBe(true);

    // SET TARGET PORT GROUPS through B (explicit ALUA): A reports it; B's own nexus is not told.
    await awaitStates(b, { 1: ACTIVE, 2: STANDBY });
    const params = Buffer.from([0, 0, 0, 0, STANDBY, 0, 0, 1, ACTIVE, 0, 0, 2]);
    const stpg = await b.c.scsiOnce({ cdb: Buffer.from([0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, params.length, 0, 0]), writeData: params });
    expect(stpg.status).toBe(0);
    const afterStpg = await rtpg(b, true);
    expect(afterStpg.status).toBe(0);
    expect(states(afterStpg.data)).toEqual({ 1: STANDBY, 2: ACTIVE });
    expect((await awaitStates(a, { 1: STANDBY, 2: ACTIVE })).ua).toBe(true);
    // Through A's port (standby now) the medium is out of reach; through B's it is not.
    const rdA = await a.c.scsiOnce({ cdb: Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]), readLength: 512 });
    expect([rdA.status, senseKey(rdA.sense), rdA.sense?.[12], rdA.sense?.[13]]).toEqual([2, 2, 0x04, 0x0b]);
    expect((await b.c.scsiOnce({ cdb: Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]), readLength: 512 })).status).toBe(0);

    // Both nodes writing the same group at once: each write completes, and both end up reporting
    // the same state (the commits are ordered by etcd; a node applies the other's before its own).
    const racing = await Promise.allSettled([writeFile(stateFile(a, 'node-b'), 'nonoptimized\n'), writeFile(stateFile(b, 'node-b'), 'active\n')]);
    expect(racing.map((x) => x.status)).toEqual(['fulfilled', 'fulfilled']);
    const settled = await pollUntil(
      async () => {
        const [x, y] = [await rtpg(a), await rtpg(b)];
        return x.status === 0 && y.status === 0 && x.data.equals(y.data) ? states(x.data) : undefined;
      },
      SEEN_WITHIN_MS,
      50,
    );
    expect(settled?.[1]).toBe(STANDBY);
    expect([1, 0]).toContain(settled?.[2]);
    await writeFile(stateFile(a, 'node-b'), 'active\n');
    await awaitStates(b, { 1: STANDBY, 2: ACTIVE });

    // A restarted node reads the current states, not its configuration's.
    a.c.destroy();
    expect((await a.d.stop()).code).toBe(0);
    const a2 = await startNode(etcd, 'a', backing);
    expect(states((await rtpg(a2)).data)).toEqual({ 1: STANDBY, 2: ACTIVE });
    expect(await readFile(stateFile(a2, 'node-a'), 'utf8')).toMatch(/^standby\n/);

    // A fenced node reports its own port's group as transitioning, never a stale state.
    for (const m of etcd.members) await m.stop();
    const fenced = await awaitStates(b, { 1: STANDBY, 2: TRANSITIONING }, (TTL + 3) * 1000);
    expect(fenced.ms).toBeLessThan((TTL + 3) * 1000);
    // ... and a state write there is refused (EIO), nothing changed.
    await expect(writeFile(stateFile(b, 'node-b'), 'standby\n')).rejects.toMatchObject({ code: 'EIO' });
    await b.d.waitForLog(/node-b\/state: standby not set: node node-b is not a certain member/, 2000);
    expect(await readFile(stateFile(b, 'node-b'), 'utf8')).toMatch(/^active\n/);
    for (const m of etcd.members) await m.start();
    await etcd.waitHealthy();
    expect((await awaitStates(b, { 1: STANDBY, 2: ACTIVE }, 20_000)).ua).toBe(true);
    b.c.destroy();
    a2.c.destroy();
  }, 120_000);

  it('refuses a node whose rel_tgt_id another node uses, and a colliding rel_tgt_id or group_id write', async () => {
    const etcd = await startEtcd(1);
    const backing = await sparseFile(join(await tmpDir('scst-alua-'), 'shared.img'), 16 << 20);
    const a = await startNode(etcd, 'a', backing);
    const b = await startNode(etcd, 'b', backing);
    // A third node whose target takes node-a's rel_tgt_id: it does not join.
    const t0 = Date.now();
    const r = await runScstdOnce({
      config: config('b', backing, { rel: NODES.a.rel }).replace(/:b\b/g, ':c').replace('TARGET_GROUP node-b', 'TARGET_GROUP node-c'),
      extraArgs: ['--no-user-socket', '--cluster', etcd.endpoints, '--node', 'node-c', '--cluster-ttl', String(TTL)],
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(1);
    // At once: waiting would not resolve it (the join's own bound is 10 s).
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(r.stderr).toMatch(/rel_tgt_id 1 is used by target iqn\.2026-12\.test\.alua:c on node node-c and by target iqn\.2026-12\.test\.alua:a on node node-a/);
    // At run time on B: its target may not take A's id, its target group not A's group id.
    const tgt = join(b.mnt, 'sys/kernel/scst_tgt/targets/iscsi', IQN('b'), 'rel_tgt_id');
    await expect(writeFile(tgt, '1\n')).rejects.toMatchObject({ code: 'EEXIST' });
    await b.d.waitForLog(/rel_tgt_id 1 for target iqn\.2026-12\.test\.alua:b on node node-b: used by target iqn\.2026-12\.test\.alua:a on node node-a/, 2000);
    expect(await readFile(tgt, 'utf8')).toMatch(/^2\n/);
    const gid = join(b.mnt, 'sys/kernel/scst_tgt/device_groups/dg1/target_groups/node-b/group_id');
    await expect(writeFile(gid, '1\n')).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(gid, 'utf8')).toMatch(/^2\n/);
    // A target enabled without a rel_tgt_id gets one free in the whole cluster (not A's 1).
    const tgts = join(b.mnt, 'sys/kernel/scst_tgt/targets/iscsi');
    await writeFile(join(tgts, 'mgmt'), `add_target ${IQN('b2')}\n`);
    await writeFile(join(tgts, IQN('b2'), 'enabled'), '1\n');
    expect(await readFile(join(tgts, IQN('b2'), 'rel_tgt_id'), 'utf8')).toMatch(/^3\n/);
    // A free id is taken, and published: A then refuses it for its own target.
    await writeFile(tgt, '7\n');
    const tgtA = join(a.mnt, 'sys/kernel/scst_tgt/targets/iscsi', IQN('a'), 'rel_tgt_id');
    // (Until B's record arrives the write may pass: A's id then goes back and it tries again.)
    const refused = await pollUntil(
      async () =>
        writeFile(tgtA, '7\n').then(
          () => writeFile(tgtA, '1\n').then(() => undefined),
          (e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? true : undefined),
        ),
      SEEN_WITHIN_MS,
      100,
    );
    expect(refused).toBe(true);
    expect(await readFile(tgtA, 'utf8')).toMatch(/^1\n/);
    a.c.destroy();
    b.c.destroy();
  }, 120_000);
});
