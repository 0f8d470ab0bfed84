// What cluster mode (issue 16) costs: the data path of a cluster_mode 1 LUN against the same
// image as a cluster_mode 0 LUN of the same daemon (goal: at least 95% of it; the gate is a field
// read and a clock read per command), and PERSISTENT RESERVE OUT latency, which is a transaction
// in etcd acknowledged by every node, with 2 and 3 nodes (and on the cluster_mode 0 LUN, a local
// store, for reference). One etcd member, two clusters under their own key prefixes: A of two
// nodes (a1 carries both LUNs), B of three. The nodes are scstd processes of their own, started
// in prepare and stopped by the run's cleanup; only the scstd column has figures.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { abPair, perfCase, qemuCase, rowSampleOf as sample, SCATTER_STEP, warmUp, type CaseContext, type GroupDef, type RowDef, type RowSample } from './cases.js';
import type { RunSample } from './clients.js';
import { lunUrl, type BenchDaemon, type LunRole } from './daemon.js';
import { startEtcdSandbox, type EtcdSandbox } from './etcd-sandbox.js';
import { latencyOf } from './fairness.js';
import { LineChild } from './line-child.js';
import { cpuWindow } from './clients.js';
import { pollUntil } from './proc.js';
import { launchScstd, type ScstdProcess } from './scstd.js';

export const CLUSTER_GROUP_ID = 'cluster';

const TARGET = 'iqn.2026-12.org.scst-usermode.bench:cluster';
const TTL_SECONDS = 5;
const JOIN_MS = 30_000;
/** Timed PR OUT commands per run (after a few untimed ones). */
const PR_COUNT = 300;
const CLUSTER_LUN = 0;
const LOCAL_LUN = 1;

export interface ClusterOptions {
  /** A directory of the group's own (etcd data, the nodes' state). */
  dir: string;
  /** The pre-written image every node's LUN is backed by. */
  imagePath: string;
  /** Registers a release step with the run's cleanup (steps run in reverse order). */
  onCleanup(step: () => Promise<void>): void;
}

interface Node {
  name: string;
  p: ScstdProcess;
}

export function nodeConfig(o: { imagePath: string; relTgtId: number; withLocal: boolean }): string {
  const dev = (name: string, attrs: Record<string, string | number>): string[] => [`\tDEVICE ${name} {`, ...Object.entries(attrs).map(([k, v]) => `\t\t${k} ${v}`), '\t}'];
  return [
    'cluster_name bench',
    'HANDLER vdisk_fileio {',
    ...dev('shared', { filename: o.imagePath, t10_dev_id: 'bench-shared', cluster_mode: 1 }),
    ...(o.withLocal ? dev('local', { filename: o.imagePath, cluster_mode: 0 }) : []),
    '}',
    '',
    'TARGET_DRIVER iscsi {',
    '\tenabled 1',
    `\tTARGET ${TARGET} {`,
    '\t\tenabled 1',
    `\t\trel_tgt_id ${o.relTgtId}`,
    `\t\tLUN ${CLUSTER_LUN} shared`,
    ...(o.withLocal ? [`\t\tLUN ${LOCAL_LUN} local`] : []),
    '\t}',
    '}',
    '',
  ].join('\n');
}

/** a1 as a BenchDaemon whose fileio role is one of its two LUNs, for the plain cases. */
function view(n: Node, lun: number): BenchDaemon {
  return {
    name: 'scstd',
    pid: n.p.pid,
    port: n.p.port,
    targetName: TARGET,
    luns: { nullio: lun, fileio: lun },
    url: (_role: LunRole) => lunUrl(n.p.port, TARGET, lun),
    alive: n.p.alive,
    output: n.p.output,
    stop: async () => {
      await n.p.stop();
    },
  };
}

interface Cluster {
  etcd: EtcdSandbox;
  a: Node[];
  b: Node[];
}

async function startCluster(o: ClusterOptions, log: (l: string) => void): Promise<Cluster> {
  await mkdir(o.dir, { recursive: true });
  const etcd = await startEtcdSandbox(o.dir);
  o.onCleanup(() => etcd.stop());
  const tag = `${process.pid}-${Date.now()}`;
  const start = async (cluster: string, size: number): Promise<Node[]> => {
    const prefix = `/scst-usermode-bench/${tag}/${cluster}/`;
    const nodes: Node[] = [];
    for (let i = 1; i <= size; i++) {
      const name = `${cluster}${i}`;
      const dir = join(o.dir, name);
      await mkdir(dir, { recursive: true });
      const p = await launchScstd({
        dir,
        config: nodeConfig({ imagePath: o.imagePath, relTgtId: i, withLocal: i === 1 }),
        logLevel: 'warn',
        extraArgs: ['--no-user-socket', '--cluster', etcd.endpoint, '--node', name, '--cluster-ttl', String(TTL_SECONDS), '--cluster-prefix', prefix],
      });
      o.onCleanup(async () => {
        await p.stop();
      });
      nodes.push({ name, p });
    }
    // The portal listens before the node has joined: wait for every member record.
    const joined = await pollUntil(async () => ((await etcd.countKeys(`${prefix}members/`)) === size ? true : false), JOIN_MS, 100);
    if (joined !== true) throw new Error(`cluster ${cluster}: ${size} members not registered within ${JOIN_MS} ms (members: ${await etcd.countKeys(`${prefix}members/`)})\n${nodes.map((n) => `${n.name}: ${n.p.output().slice(-800)}`).join('\n')}`);
    log(`  cluster ${cluster}: ${nodes.map((n) => `${n.name} pid ${n.p.pid} :${n.p.port}`).join(', ')}`);
    return nodes;
  };
  return { etcd, a: await start('a', 2), b: await start('b', 3) };
}

export function clusterGroup(ctx: CaseContext, o: ClusterOptions): GroupDef {
  const read = perfCase(ctx, { id: 'cluster-read', title: '', role: 'fileio', blocks: 8, qd: 32 });
  const write = qemuCase(ctx, { id: 'cluster-write', title: '', role: 'fileio', write: true, size: 4096, depth: 32, step: SCATTER_STEP, report: 'IOPS', probeCount: 5_000 });
  const workloads = [
    { key: 'read-4k', what: '4 KiB random read, fileio, QD32', c: read },
    { key: 'write-4k', what: '4 KiB scattered write, fileio, QD32', c: write },
  ];
  const rows: RowDef[] = workloads.flatMap((w): RowDef[] => [
    { id: `cluster-${w.key}-off`, short: `${w.key} cm0`, title: `${w.what}, cluster_mode 0 LUN of a cluster node`, unit: 'IOPS', better: 'higher', command: `${w.c.command}, LUN ${LOCAL_LUN} of node a1`, target: null, scstdOnly: true },
    { id: `cluster-${w.key}-on`, short: `${w.key} cm1`, title: `${w.what}, cluster_mode 1 LUN, same image, same node`, unit: 'IOPS', better: 'higher', command: `${w.c.command}, LUN ${CLUSTER_LUN} of node a1`, target: null, scstdOnly: true },
    {
      id: `cluster-${w.key}-ratio`,
      short: `${w.key} cm1/cm0`,
      title: `${w.what}: cluster_mode 1 / cluster_mode 0, same daemon, same round`,
      unit: '%',
      better: 'higher',
      command: 'IOPS cluster_mode 1 / IOPS cluster_mode 0 x 100, round by round (each the mean of two runs, ABBA / BAAB)',
      target: { text: '>= 95%', minValue: 95 },
      scstdOnly: true,
    },
  ]);
  const prCommand = (where: string): string => `pr-client: PR OUT REGISTER new key / REGISTER key 0 alternating, QD1, one session, ${PR_COUNT} timed after 20 untimed, ${where}`;
  const prSets = [
    { key: 'pr-2n', what: 'PR OUT latency, cluster_mode 1, 2 nodes', where: 'LUN 0 of node a1 (cluster A: 2 nodes)' },
    { key: 'pr-3n', what: 'PR OUT latency, cluster_mode 1, 3 nodes', where: 'LUN 0 of node b1 (cluster B: 3 nodes)' },
    { key: 'pr-local', what: 'PR OUT latency, cluster_mode 0 (local store)', where: `LUN ${LOCAL_LUN} of node a1` },
  ];
  for (const s of prSets) {
    for (const p of ['p50', 'p99'] as const) rows.push({ id: `cluster-${s.key}-${p}`, short: `${s.key} ${p}`, title: `${s.what}: ${p}`, unit: 'us', better: 'lower', command: prCommand(s.where), target: null, scstdOnly: true });
  }

  let cl: Cluster | null = null;
  let failure = 'the cluster was not started';
  let runs = 0;
  const none: RowSample = { value: null, serverCpu: null, otherCpu: null };

  const prRun = async (c: Cluster, n: Node, lun: number): Promise<{ p50: RowSample; p99: RowSample }> => {
    const client = LineChild.start('pr-client', ['--port', String(n.p.port), '--target', TARGET, '--lun', String(lun), '--count', String(PR_COUNT)]);
    try {
      // etcd and the other nodes work for each command: their CPU is not "other load".
      const helpers = [c.etcd.pid, ...[...c.a, ...c.b].filter((x) => x !== n).map((x) => x.p.pid)];
      const win = await cpuWindow(n.p.pid, [client.pid, ...helpers]);
      const a = await client.next('result', 120_000);
      const cpu = await win.end();
      const l = latencyOf(a);
      if (l === null) throw new Error(`pr-client: unusable result ${JSON.stringify(a)}`);
      const s = (v: number): RowSample => ({ value: v, serverCpu: cpu.serverCpu, otherCpu: cpu.otherCpu });
      return { p50: s(l.p50), p99: s(l.p99) };
    } catch (e) {
      const f: RowSample = { ...none, error: (e as Error).message };
      return { p50: f, p99: f };
    } finally {
      await client.finish();
    }
  };

  return {
    id: CLUSTER_GROUP_ID,
    rows,
    prepare: async (d) => {
      if (d.name !== 'scstd') return;
      try {
        cl = await startCluster(o, ctx.log);
      } catch (e) {
        failure = `cluster start failed: ${(e as Error).message}`;
        ctx.log(`  ${failure}`);
        return;
      }
      const a1 = cl.a[0]!;
      // One request count for both LUNs (the qemu-img case sizes per daemon name): sized on the
      // cluster_mode 0 LUN, so both runs do the same work.
      await write.prepare?.(view(a1, LOCAL_LUN));
      await warmUp(ctx, view(a1, LOCAL_LUN));
      await warmUp(ctx, view(a1, CLUSTER_LUN));
    },
    measure: async (d) => {
      const out = new Map<string, RowSample>();
      if (d.name !== 'scstd' || cl === null) {
        for (const r of rows) out.set(r.id, d.name === 'scstd' ? { ...none, error: failure } : none);
        return out;
      }
      const a1 = cl.a[0]!;
      const onLun = view(a1, CLUSTER_LUN);
      const offLun = view(a1, LOCAL_LUN);
      // Two identical LUNs of one daemon differ by up to a quarter from run to run on the shared
      // VM, so one pair per round says little: ABBA / BAAB (abPair).
      const onFirst = runs++ % 2 === 1;
      for (const w of workloads) {
        const r = await abPair(onFirst, () => w.c.measure(offLun), () => w.c.measure(onLun));
        out.set(`cluster-${w.key}-off`, r.a);
        out.set(`cluster-${w.key}-on`, r.b);
        out.set(`cluster-${w.key}-ratio`, r.ratio);
      }
      const targets: Array<[string, Node, number]> = [
        ['pr-2n', a1, CLUSTER_LUN],
        ['pr-3n', cl.b[0]!, CLUSTER_LUN],
        ['pr-local', a1, LOCAL_LUN],
      ];
      for (const [key, n, lun] of targets) {
        const r = await prRun(cl, n, lun);
        out.set(`cluster-${key}-p50`, r.p50);
        out.set(`cluster-${key}-p99`, r.p99);
      }
      return out;
    },
  };
}
