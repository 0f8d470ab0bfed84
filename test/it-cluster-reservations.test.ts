// Reservations shared through etcd (issue 16, slice 2): three scstd nodes on their own portals
// serve one cluster_mode 1 LUN (same t10_dev_id, one shared backing file, distinct rel_tgt_id).
// Everything is driven through the raw iSCSI client (test/helpers/rawclient.ts), written
// independently of the daemon: PR OUT through one node is enforced by all before it completes,
// the unit attentions reach the other nodes' sessions, SPC-2 RESERVE holds everywhere and goes
// with its session, a node cut from etcd refuses I/O with the retryable ALUA sense and writes
// nothing, comes back with the cluster's state, and the data path never waits for etcd.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { outcome, prIn, prOut, readKeys, readReservation, release6, reserve6 } from './helpers/pr-commands.js';
import { clusterSession, startClusterNode, type ClusterNode } from './helpers/cluster-node.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { describeRun, freePort } from './helpers/proc.js';
import { Cdb, RawIscsiClient } from './helpers/rawclient.js';
import { scstConf } from './helpers/scstconf.js';
import { runScstdOnce, startScstd } from './helpers/scstd.js';
import { MULTIPATH_PR_FAMILIES, multipathFamilies } from './helpers/iscsi-test-cu.js';

installHarnessHooks();

const TARGET = 'iqn.2026-12.test.cluster:lun';
const TTL = 3;
const MiB = 1024 * 1024;
const RC = 0x18;

type Node = ClusterNode;

async function sharedFiles(): Promise<{ dir: string; f0: string; f1: string }> {
  const dir = await tmpDir('scst-cluster-resv-');
  return { dir, f0: await sparseFile(join(dir, 'shared0.img'), 16 * MiB), f1: await sparseFile(join(dir, 'shared1.img'), 16 * MiB) };
}

function nodeConfig(files: { f0: string; f1: string }, relTgtId: number): string {
  return `cluster_name itest\n${scstConf({
    devices: [
      { handler: 'vdisk_fileio', name: 'd0', attrs: { filename: files.f0, t10_dev_id: 'shared-0', cluster_mode: 1 } },
      { handler: 'vdisk_fileio', name: 'd1', attrs: { filename: files.f1, t10_dev_id: 'shared-1', cluster_mode: 1 } },
    ],
    targets: [{ name: TARGET, attrs: { rel_tgt_id: relTgtId }, luns: [[0, 'd0'], [1, 'd1']] }],
  })}`;
}

const startNode = (etcd: EtcdCluster, name: string, config: string, o: { stateDir?: string; ttl?: number } = {}): Promise<Node> => startClusterNode(etcd.endpoints, name, config, { ttl: o.ttl ?? TTL, ...(o.stateDir ? { stateDir: o.stateDir } : {}) });
const session = (n: Node, ini: string, isid: number): Promise<RawIscsiClient> => clusterSession(n, TARGET, ini, isid);

/** The pending unit attention of the session's nexus to `lun` (TEST UNIT READY, taken). */
async function ua(c: RawIscsiClient, lun = 0): Promise<string> {
  return outcome(await c.scsi({ lun, cdb: Buffer.alloc(6), keepUnitAttention: true }));
}

const block = (fill: number) => Buffer.alloc(512, fill);
const fileBlock = async (file: string, lba: number) => (await readFile(file)).subarray(lba * 512, lba * 512 + 512);

describe('reservations shared by three scstd nodes through etcd', () => {
  it('PR: register via A, reserve via B, C conflicts, C preempts and A and B get the unit attentions; kill -9 of C: enforced still, and by C again after its restart; one of three etcd members lost: nothing visible; SPC-2 RESERVE holds on every node and goes with its session, or with its node', async () => {
    const etcd = await startEtcd(3);
    const files = await sharedFiles();
    // A longer lease here: this test asserts that nobody is fenced, also on a loaded machine.
    const ttl = 6;
    let [A, B, C] = [await startNode(etcd, 'node-a', nodeConfig(files, 1), { ttl }), await startNode(etcd, 'node-b', nodeConfig(files, 2), { ttl }), await startNode(etcd, 'node-c', nodeConfig(files, 3), { ttl })];
    const a = await session(A, 'iqn.2026-12.test:host-a', 1);
    const b = await session(B, 'iqn.2026-12.test:host-b', 2);
    const c = await session(C, 'iqn.2026-12.test:host-c', 3);

    expect(outcome(await a.scsi(prOut(0, 0, 0n, 0xan)))).toBe('0x0');
    expect(outcome(await b.scsi(prOut(0, 0, 0n, 0xbn)))).toBe('0x0');
    expect(outcome(await c.scsi(prOut(0, 0, 0n, 0xcn)))).toBe('0x0');
    // Completed means enforced everywhere: every node answers the same at once.
    for (const x of [a, b, c]) expect(await readKeys(x)).toEqual([0xan, 0xbn, 0xcn]);
    expect(outcome(await b.scsi(prOut(1, 1, 0xbn, 0n)))).toBe('0x0'); // WRITE EXCLUSIVE
    for (const x of [a, c]) expect(await readReservation(x)).toEqual({ key: 0xbn, type: 1 });

    // A conflicting write through C: RESERVATION CONFLICT, nothing written.
    expect(outcome(await c.scsi({ cdb: Cdb.write10(5, 1), writeData: block(0xcc) }))).toBe(`0x${RC.toString(16)}`);
    expect((await fileBlock(files.f0, 5)).equals(block(0))).toBe(true);
    expect(outcome(await b.scsi({ cdb: Cdb.write10(5, 1), writeData: block(0xbb) }))).toBe('0x0');
    expect((await fileBlock(files.f0, 5)).equals(block(0xbb))).toBe(true);

    // C preempts B's reservation, changing its type to EXCLUSIVE ACCESS: B's registration goes
    // (REGISTRATIONS PREEMPTED), A's reservation changed type (RESERVATIONS RELEASED).
    expect(outcome(await c.scsi(prOut(4, 3, 0xcn, 0xbn)))).toBe('0x0');
    expect(await ua(b)).toBe('6/2a/05');
    expect(await ua(a)).toBe('6/2a/04');
    expect(await ua(c)).toBe('0x0'); // the preempting nexus hears nothing
    for (const x of [a, b, c]) expect(await readKeys(x)).toEqual([0xan, 0xcn]);
    expect(await readReservation(a)).toEqual({ key: 0xcn, type: 3 });
    expect(outcome(await a.scsi({ cdb: Cdb.read10(5, 1), readLength: 512 }))).toBe(`0x${RC.toString(16)}`);
    expect(outcome(await c.scsi({ cdb: Cdb.write10(6, 1), writeData: block(0xc6) }))).toBe('0x0');
    expect((await fileBlock(files.f0, 6)).equals(block(0xc6))).toBe(true);

    // kill -9 of the node the reservation was taken through: the others enforce it still (the
    // registration persists, SPC-4); C restarts, rejoins and enforces it too, and the holder's
    // I_T nexus (same initiator port, same relative target port) is the holder again.
    await C.d.kill9();
    c.socket.destroy();
    expect(outcome(await a.scsi({ cdb: Cdb.read10(6, 1), readLength: 512 }))).toBe(`0x${RC.toString(16)}`);
    expect(outcome(await b.scsi({ cdb: Cdb.write10(6, 1), writeData: block(0xbb) }))).toBe(`0x${RC.toString(16)}`);
    C = await startNode(etcd, 'node-c', nodeConfig(files, 3), { ttl });
    const c2 = await session(C, 'iqn.2026-12.test:host-c', 3);
    expect(await readReservation(c2)).toEqual({ key: 0xcn, type: 3 });
    expect(outcome(await c2.scsi({ cdb: Cdb.write10(7, 1), writeData: block(0xc7) }))).toBe('0x0');
    const b2 = await session(C, 'iqn.2026-12.test:host-b', 2);
    expect(outcome(await b2.scsi({ cdb: Cdb.read10(7, 1), readLength: 512 }))).toBe(`0x${RC.toString(16)}`);
    b2.socket.destroy();

    // One of the three etcd members (not the leader) is lost: nothing visible.
    const leader = await etcd.leader();
    const follower = etcd.members.find((m) => m !== leader)!;
    await follower.stop();
    expect(outcome(await c2.scsi(prOut(3, 0, 0xcn, 0n)))).toBe('0x0'); // CLEAR
    expect(await ua(a)).toBe('6/2a/03'); // RESERVATIONS PREEMPTED (CLEAR)
    for (const n of [A, B, C]) expect(n.d.logs().filter((l) => /fenced|did not acknowledge/.test(l.msg)).map((l) => l.msg), n.name).toEqual([]);

    // SPC-2 RESERVE through A (LUN 1) holds on B and C; A's session ends: released everywhere.
    expect(outcome(await a.scsi({ lun: 1, cdb: reserve6() }))).toBe('0x0');
    expect(outcome(await b.scsi({ lun: 1, cdb: Cdb.write10(0, 1), writeData: block(0xb1) }))).toBe(`0x${RC.toString(16)}`);
    expect(outcome(await c2.scsi({ lun: 1, cdb: Cdb.read10(0, 1), readLength: 512 }))).toBe(`0x${RC.toString(16)}`);
    expect(outcome(await b.scsi({ lun: 1, cdb: reserve6() }))).toBe(`0x${RC.toString(16)}`);
    expect(outcome(await a.scsi({ lun: 1, cdb: Cdb.write10(0, 1), writeData: block(0xa1) }))).toBe('0x0');
    a.socket.destroy();
    let freed = '';
    for (let i = 0; i < 50 && freed !== '0x0'; i++) {
      freed = outcome(await b.scsi({ lun: 1, cdb: reserve6() }));
      if (freed !== '0x0') await new Promise((r) => setTimeout(r, 100));
    }
    expect(freed, 'B reserves once A is gone').toBe('0x0');
    expect(outcome(await c2.scsi({ lun: 1, cdb: Cdb.read10(0, 1), readLength: 512 }))).toBe(`0x${RC.toString(16)}`);
    expect(outcome(await b.scsi({ lun: 1, cdb: release6() }))).toBe('0x0');
    expect(outcome(await c2.scsi({ lun: 1, cdb: Cdb.read10(0, 1), readLength: 512 }))).toBe('0x0');
    // A Logout Response says the nexus has ended: by then every node enforces the release of
    // its SPC-2 reservation, so another node's RESERVE right after it succeeds (libiscsi's
    // Reserve6.Logout across nodes).
    for (let round = 0; round < 5; round++) {
      const a2 = await session(A, 'iqn.2026-12.test:host-a2', 7);
      expect(outcome(await a2.scsi({ lun: 1, cdb: reserve6() }))).toBe('0x0');
      expect(await a2.logout()).toBe(true);
      expect(outcome(await b.scsi({ lun: 1, cdb: reserve6() })), `round ${round}`).toBe('0x0');
      expect(outcome(await b.scsi({ lun: 1, cdb: release6() }))).toBe('0x0');
      a2.socket.destroy();
    }

    // An SPC-2 reservation through a node that dies goes with it (its nexus is lost): a survivor
    // releases it once the node's lease has expired.
    expect(outcome(await c2.scsi({ lun: 1, cdb: reserve6() }))).toBe('0x0');
    expect(outcome(await b.scsi({ lun: 1, cdb: reserve6() }))).toBe(`0x${RC.toString(16)}`);
    await C.d.kill9();
    c2.socket.destroy();
    const t0 = Date.now();
    let took = '';
    while (took !== '0x0' && Date.now() - t0 < ttl * 1000 + 8000) {
      took = outcome(await b.scsi({ lun: 1, cdb: reserve6() }));
      if (took !== '0x0') await new Promise((r) => setTimeout(r, 200));
    }
    expect(took, 'B reserves once the dead node C is gone').toBe('0x0');
    console.log(`SPC-2 reservation of a node killed with -9 released after ${Date.now() - t0} ms (TTL ${ttl} s)`);

    b.socket.destroy();
    for (const n of [A, B]) expect((await n.d.stop()).code, n.d.recentOutput()).toBe(0);
    await etcd.stopAll();
  }, 180_000);

  it('a node cut from etcd (SIGSTOP past its TTL) is fenced: a PR OUT elsewhere completes within the bound, its commands get 02/04/0A, nothing reaches the file; after SIGCONT it rejoins with the cluster state', async () => {
    const etcd = await startEtcd(1);
    const files = await sharedFiles();
    const [A, C] = [await startNode(etcd, 'node-a', nodeConfig(files, 1)), await startNode(etcd, 'node-c', nodeConfig(files, 3))];
    const a = await session(A, 'iqn.2026-12.test:host-a', 1);
    const c = await session(C, 'iqn.2026-12.test:host-c', 3);
    expect(outcome(await c.scsi(prOut(0, 0, 0n, 0xcn)))).toBe('0x0');

    process.kill(C.d.pid, 'SIGSTOP');
    let stopped = true;
    try {
      // A registers and reserves while C cannot acknowledge: C is fenced (its lease revoked) and
      // A waits out C's self-fencing bound, no longer: ack wait (TTL/2) + TTL + calls.
      const t0 = Date.now();
      expect(outcome(await a.scsi(prOut(0, 0, 0n, 0xan)))).toBe('0x0');
      const prMs = Date.now() - t0;
      console.log(`PR OUT REGISTER through A while node C is stopped: ${prMs} ms (ack wait ${TTL * 500} ms + C's TTL ${TTL * 1000} ms after the revoke)`);
      expect(prMs, 'PR OUT with a stopped node').toBeLessThan(TTL * 1000 * 1.5 + 4000);
      expect(outcome(await a.scsi(prOut(1, 3, 0xan, 0n)))).toBe('0x0'); // EXCLUSIVE ACCESS, C not waited for any more
      await A.d.waitForLog(/node node-c did not acknowledge revision \d+ of shared-0 .*fenced/, 1000).catch(() => undefined);
      // A write through C, sent while C is stopped (queued in its socket), past C's TTL.
      const pending = c.scsiOnce({ cdb: Cdb.write10(9, 1), writeData: block(0x99), timeoutMs: 20_000 });
      await new Promise((r) => setTimeout(r, TTL * 1000 + 500));
      process.kill(C.d.pid, 'SIGCONT');
      stopped = false;
      const w = await pending;
      console.log(`WRITE through the fenced node after SIGCONT: ${outcome(w)}`);
      // Either refused as in transition, or (if C already rejoined and ended its sessions) the nexus is gone.
      expect(['2/04/0a', 'no status (closed true, timed out false)']).toContain(outcome(w));
      expect((await fileBlock(files.f0, 9)).equals(block(0)), 'nothing written through the fenced node').toBe(true);
    } finally {
      if (stopped) process.kill(C.d.pid, 'SIGCONT');
    }
    await C.d.waitForLog(/cluster: node node-c is again a member/, 15_000);
    // Either C's watch resumed and delivered every revision in order after SIGCONT (the session
    // stays: no unit attention was lost), or C missed some and ended its sessions on the LU (an
    // I_T nexus loss the host recovers from). Both ways the session then serves the cluster's state.
    const missed = C.d.logs().some((l) => /may have been missed: \d+ sessions ended/.test(l.msg));
    if (missed) expect(await c.waitClosed(5000)).toBe(true);
    const c2 = missed ? await session(C, 'iqn.2026-12.test:host-c', 3) : c;
    expect(await readKeys(c2)).toEqual([0xcn, 0xan]);
    expect(await readReservation(c2)).toEqual({ key: 0xan, type: 3 });
    expect(outcome(await c2.scsi({ cdb: Cdb.write10(9, 1), writeData: block(0x99) }))).toBe(`0x${RC.toString(16)}`);
    expect(outcome(await a.scsi({ cdb: Cdb.write10(9, 1), writeData: block(0xa9) }))).toBe('0x0');
    expect((await fileBlock(files.f0, 9)).equals(block(0xa9))).toBe(true);
    // And C takes part in changes again: A releases, C can write.
    expect(outcome(await a.scsi(prOut(2, 3, 0xan, 0n)))).toBe('0x0');
    expect(outcome(await c2.scsi({ cdb: Cdb.write10(9, 1), writeData: block(0x9c) }))).toBe('0x0');

    // I/O does not wait for etcd: with etcd stopped for less than the TTL reads and writes go on.
    const pid = etcd.members[0]!.pid()!;
    process.kill(pid, 'SIGSTOP');
    try {
      // An etcd call would wait for its 2 s deadline: no command comes near it.
      const t0 = Date.now();
      let slowest = 0;
      for (let i = 0; i < 20; i++) {
        const t = Date.now();
        expect(outcome(await a.scsi({ cdb: Cdb.write10(20 + i, 1), writeData: block(i + 1) }))).toBe('0x0');
        expect(outcome(await c2.scsi({ cdb: Cdb.read10(20 + i, 1), readLength: 512 }))).toBe('0x0');
        slowest = Math.max(slowest, Date.now() - t);
      }
      console.log(`40 commands (20 WRITE via A, 20 READ via C) while etcd is SIGSTOPped: ${Date.now() - t0} ms, slowest WRITE+READ pair ${slowest} ms`);
      expect(slowest, 'I/O while etcd is stopped').toBeLessThan(1500);
    } finally {
      process.kill(pid, 'SIGCONT');
    }

    // Shutdown stays bounded with etcd gone.
    await etcd.stopAll();
    for (const n of [A, C]) {
      const t0 = Date.now();
      const r = await n.d.stop();
      expect(Date.now() - t0, `${n.name} stops with etcd gone`).toBeLessThan(15_000);
      expect([0, 1]).toContain(r.code);
    }
    for (const x of new Set([a, c, c2])) x.socket.destroy();
  }, 180_000);

  it('APTPL state survives the restart of every node; state without APTPL does not', async () => {
    const etcd = await startEtcd(1);
    const files = await sharedFiles();
    let [A, B] = [await startNode(etcd, 'node-a', nodeConfig(files, 1)), await startNode(etcd, 'node-b', nodeConfig(files, 2))];
    const a = await session(A, 'iqn.2026-12.test:host-a', 1);
    const b = await session(B, 'iqn.2026-12.test:host-b', 2);
    // REPORT CAPABILITIES: PTPL_C (etcd is the persistent store).
    const caps = await a.scsi({ cdb: prIn(2), readLength: 8 });
    expect(caps.data[2]! & 0x01).toBe(1);
    expect(outcome(await a.scsi({ ...prOut(0, 0, 0n, 0xan, true) }))).toBe('0x0');
    expect(outcome(await a.scsi(prOut(1, 1, 0xan, 0n)))).toBe('0x0');
    expect(outcome(await b.scsi({ lun: 1, ...prOut(0, 0, 0n, 0xbn) }))).toBe('0x0'); // LUN 1: no APTPL
    for (const x of [a, b]) x.socket.destroy();
    for (const n of [A, B]) expect((await n.d.stop()).code, n.d.recentOutput()).toBe(0);

    [A, B] = [await startNode(etcd, 'node-a', nodeConfig(files, 1)), await startNode(etcd, 'node-b', nodeConfig(files, 2))];
    const b2 = await session(B, 'iqn.2026-12.test:host-b', 2);
    expect(await readKeys(b2)).toEqual([0xan]);
    expect(await readReservation(b2)).toEqual({ key: 0xan, type: 1 });
    expect(await readKeys(b2, 1)).toEqual([]);
    expect(outcome(await b2.scsi({ cdb: Cdb.write10(0, 1), writeData: block(1) }))).toBe(`0x${RC.toString(16)}`);
    b2.socket.destroy();
    for (const n of [A, B]) expect((await n.d.stop()).code, n.d.recentOutput()).toBe(0);
    await etcd.stopAll();
  }, 180_000);

  it('cluster_mode 1 is refused without a cluster or without an explicit t10_dev_id (at start and in sysfs), in sysfs while sessions use the device, and taken at run time otherwise', async () => {
    const files = await sharedFiles();
    const noCluster = await runScstdOnce({ config: nodeConfig(files, 1), extraArgs: ['--no-user-socket'], timeoutMs: 30_000 });
    expect(noCluster.code, describeRun('scstd', noCluster)).toBe(1);
    expect(noCluster.stderr).toMatch(/device d0: cluster_mode 1 needs a cluster \(start scstd with --cluster/);
    const etcd = await startEtcd(1);
    const noId = await runScstdOnce({
      config: `cluster_name itest\n${scstConf({ devices: [{ handler: 'vdisk_fileio', name: 'd0', attrs: { filename: files.f0, cluster_mode: 1 } }], targets: [] })}`,
      extraArgs: ['--no-user-socket', '--cluster', etcd.endpoints, '--node', 'n1', '--cluster-ttl', String(TTL)],
      timeoutMs: 30_000,
    });
    expect(noId.code, describeRun('scstd', noId)).toBe(1);
    expect(noId.stderr).toMatch(/device d0: cluster_mode 1 needs t10_dev_id set explicitly/);

    // At run time through sysfs: refused without an explicit t10_dev_id (EINVAL) and while a
    // session uses the device (EBUSY), each with a log line; then taken, and the LU is shared.
    const mnt = join(files.dir, 'mnt');
    const port = await freePort();
    const d = await startScstd({
      config: `cluster_name itest\n${scstConf({
        devices: [
          { handler: 'vdisk_fileio', name: 'idless', attrs: { filename: files.f1 } },
          { handler: 'vdisk_fileio', name: 'late', attrs: { filename: files.f0, t10_dev_id: 'shared-0' } },
        ],
        targets: [{ name: TARGET, attrs: { rel_tgt_id: 1 }, luns: [[0, 'late']] }],
      })}`,
      listen: [port],
      extraArgs: ['--no-user-socket', '--mount', mnt, '--cluster', etcd.endpoints, '--node', 'n1', '--cluster-ttl', String(TTL)],
      readyTimeoutMs: 30_000,
    });
    const attr = (dev: string) => join(mnt, 'sys/kernel/scst_tgt/devices', dev, 'cluster_mode');
    await expect(writeFile(attr('idless'), '1\n')).rejects.toMatchObject({ code: 'EINVAL' });
    await d.waitForLog(/idless: cluster_mode 1 needs t10_dev_id set explicitly/, 2000);
    const n1: Node = { d, name: 'n1', port };
    const s1 = await session(n1, 'iqn.2026-12.test:host-a', 1);
    await expect(writeFile(attr('late'), '1\n')).rejects.toMatchObject({ code: 'EBUSY' });
    await d.waitForLog(/late: cluster_mode cannot change while sessions use the device/, 2000);
    s1.socket.destroy();
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      ok = await writeFile(attr('late'), '1\n').then(() => true, () => false);
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ok, 'cluster_mode 1 once the session is gone').toBe(true);
    expect(await readFile(attr('late'), 'utf8')).toBe('1\n[key]\n');
    const n2 = await startNode(etcd, 'n2', nodeConfig(files, 2));
    const s2 = await session(n2, 'iqn.2026-12.test:host-b', 2);
    const s1b = await session(n1, 'iqn.2026-12.test:host-a', 1);
    expect(outcome(await s2.scsi(prOut(0, 0, 0n, 0x2n)))).toBe('0x0');
    expect(await readKeys(s1b)).toEqual([0x2n]);
    for (const x of [s2, s1b]) x.socket.destroy();
    for (const n of [n1, n2]) expect((await n.d.stop()).code, n.d.recentOutput()).toBe(0);
    await etcd.stopAll();
  }, 120_000);
});

// libiscsi's own PR, RESERVE and multipath families with the two URLs on two nodes must give the
// pass list they give with two portals of one node (cluster_mode 0, as it-conformance runs them).
describe('iscsi-test-cu across two nodes', () => {
  it('the PR, RESERVE and MultipathIO families pass on two nodes (-S, one URL each) as on one node with two portals', async () => {
    const files = await sharedFiles();
    const ports = [await freePort(), await freePort()];
    const single = await startScstd({
      config: scstConf({ devices: [{ handler: 'vdisk_fileio', name: 'd0', attrs: { filename: files.f1 } }], targets: [{ name: TARGET, luns: [[0, 'd0']] }] }),
      listen: ports,
      extraArgs: ['--no-user-socket'],
      logLevel: 'warn',
    });
    const one = await multipathFamilies(`iscsi://127.0.0.1:${ports[0]}/${TARGET}/0`, `iscsi://127.0.0.1:${ports[1]}/${TARGET}/0`);
    expect((await single.stop()).code).toBe(0);

    const etcd = await startEtcd(1);
    const [A, B] = [await startNode(etcd, 'node-a', nodeConfig(files, 1), { ttl: 5 }), await startNode(etcd, 'node-b', nodeConfig(files, 2), { ttl: 5 })];
    const two = await multipathFamilies(`iscsi://127.0.0.1:${A.port}/${TARGET}/0`, `iscsi://127.0.0.1:${B.port}/${TARGET}/0`);
    console.log(`iscsi-test-cu ${MULTIPATH_PR_FAMILIES.join(',')}: one node, two portals: ${one.passed.length} passed, ${one.failed.length} failed, ${one.skipped.length} skipped; two nodes: ${two.passed.length} passed, ${two.failed.length} failed, ${two.skipped.length} skipped`);
    expect(one.passed.length).toBeGreaterThan(30);
    expect(two, two.why.join('\n')).toEqual(one);
    for (const n of [A, B]) expect((await n.d.stop()).code, n.d.recentOutput()).toBe(0);
    await etcd.stopAll();
  }, 900_000);
});
