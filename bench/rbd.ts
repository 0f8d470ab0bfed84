// The RBD rows (issue 17): 4 KiB scattered reads and writes at QD32 on an RBD image, through an
// scstd gateway (a vdisk_rbd LUN, qemu-img bench on iscsi://) against librbd driven directly on the
// same cluster (qemu-img bench on qemu's own rbd: driver), run by run in the same round with the
// order alternating; the goal is that the gateway keeps at least 90% of the direct figure. The
// tgtd column is tgt's rbd backing store (Debian: tgt-rbd) against its own direct runs.
//
// Its own daemons: a throw-away Ceph cluster (bench/ceph-sandbox.ts), an scstd with one vdisk_rbd
// LUN and, where tgt has bs_rbd, a tgtd with one rbd LUN; all on one image, written in full first
// (reads of never-written objects never reach the OSD's data and would flatter everyone).
// Writes need the image's exclusive lock: librbd hands it over between the gateway and the direct
// client once per run (a few milliseconds in a run of seconds).
import type { CephCluster } from './ceph-sandbox.js';
import { rowSampleOf, SCATTER_STEP, type CaseContext, type GroupDef, type RowDef, type RowSample } from './cases.js';
import { runQemuBench, type RunSample } from './clients.js';
import { procCpuSeconds } from './proc.js';
import type { BenchDaemon, DaemonName } from './daemon.js';

export const RBD_GROUP_ID = 'rbd';

const KiB = 1024;
const MiB = 1024 * 1024;
const DEPTH = 32;
const PROBE_COUNT = 2_000;

export interface RbdGroupOptions {
  imageMiB: number;
  /** Brings the cluster up (once); the caller tears it down. */
  cluster(): Promise<CephCluster>;
  /** An scstd serving `pool/image` as a vdisk_rbd LUN; the caller stops it. */
  launchScstd(c: CephCluster, image: string): Promise<BenchDaemon>;
  /** A tgtd serving it through bs_rbd, or a reason why there is none; the caller stops it. */
  launchTgtd(c: CephCluster, image: string): Promise<BenchDaemon | string>;
  note(text: string): void;
}

interface Workload {
  key: 'read' | 'write';
  write: boolean;
  what: string;
}

const WORKLOADS: Workload[] = [
  { key: 'read', write: false, what: '4 KiB scattered read, RBD, QD32' },
  { key: 'write', write: true, what: '4 KiB scattered write, RBD, QD32' },
];

export function rbdGroup(ctx: CaseContext, o: RbdGroupOptions): GroupDef {
  const cmd = (w: Workload, where: string) =>
    `qemu-img bench -f raw -t none ${w.write ? '-w --pattern=0xa5 ' : ''}-s 4096 -d ${DEPTH} -S ${SCATTER_STEP} -c <~${ctx.qemuSeconds} s worth> ${where}`;
  const rows: RowDef[] = WORKLOADS.flatMap((w): RowDef[] => [
    { id: `rbd-${w.key}-4k-qd32`, short: `${w.key} gw`, title: `${w.what}, through the gateway`, unit: 'IOPS', better: 'higher', command: cmd(w, '<rbd LUN>'), target: null },
    {
      id: `rbd-${w.key}-4k-qd32-direct`,
      short: `${w.key} direct`,
      title: `${w.what}, librbd direct (CPU column: the OSD)`,
      unit: 'IOPS',
      better: 'higher',
      command: cmd(w, 'rbd:POOL/IMAGE:conf=...'),
      target: null,
      scstdOnly: true,
    },
    {
      id: `rbd-${w.key}-4k-qd32-ratio`,
      short: `${w.key} gw/direct`,
      title: `${w.what}: gateway / librbd direct, same round`,
      unit: '%',
      better: 'higher',
      command: 'IOPS through the gateway / IOPS direct x 100, run by run',
      target: { text: '>= 90% of librbd direct', minValue: 90 },
    },
  ]);
  let cluster: CephCluster | null = null;
  const image = 'bench';
  const gateways = new Map<DaemonName, BenchDaemon>();
  /** Request count per (daemon or direct) and workload, from a sizing run. */
  const counts = new Map<string, number>();
  const timeoutMs = Math.max(30_000, ctx.qemuSeconds * 20_000);
  /** Runs so far per daemon and workload: which of the pair goes first alternates by it. */
  const turns = new Map<string, number>();
  const none: RowSample = { value: null, serverCpu: null, otherCpu: null };

  const bench = async (url: string, pid: number, w: Workload, count: number): Promise<RunSample> => {
    // Through a gateway the OSD is part of what is measured, not other work on the machine: its
    // CPU is taken out of the run's other load (direct runs name it as their server already).
    const osd = cluster !== null && pid !== cluster.osdPid ? cluster.osdPid : null;
    const osd0 = osd === null ? null : await procCpuSeconds(osd);
    const r = await runQemuBench(url, { write: w.write, size: 4 * KiB, depth: DEPTH, count, step: SCATTER_STEP, timeoutMs }, pid);
    const osd1 = osd === null ? null : await procCpuSeconds(osd);
    const otherCpu = r.otherCpu !== null && osd0 !== null && osd1 !== null && r.wallMs > 0 ? Math.max(0, r.otherCpu - (osd1 - osd0) / (r.wallMs / 1000)) : r.otherCpu;
    return r.value === null ? r : { ...r, value: count / r.value, otherCpu };
  };
  const size = async (key: string, url: string, pid: number, w: Workload): Promise<void> => {
    const r = await bench(url, pid, w, PROBE_COUNT);
    let count = PROBE_COUNT;
    if (r.value === null) ctx.log(`  sizing run rbd ${w.key} on ${key} failed: ${r.error}`);
    else count = Math.round(r.value * ctx.qemuSeconds);
    counts.set(`${key}/${w.key}`, Math.min(5_000_000, Math.max(PROBE_COUNT, count)));
  };

  return {
    id: RBD_GROUP_ID,
    rows,
    prepare: async (d) => {
      if (cluster === null) {
        ctx.log(`bench: rbd rows: starting a one-OSD Ceph sandbox, writing a ${o.imageMiB} MiB image`);
        const c = await o.cluster();
        cluster = c;
        await c.createImage(image, o.imageMiB * MiB);
        // Written in full, in 1 MiB writes, through librbd directly.
        const fill = await runQemuBench(c.qemuSpec(image), { write: true, size: MiB, depth: 8, count: o.imageMiB, timeoutMs: 300_000 }, c.osdPid);
        if (fill.value === null) throw new Error(`rbd rows: filling the image failed: ${fill.error}`);
        for (const w of WORKLOADS) await size('direct', c.qemuSpec(image), c.osdPid, w);
      }
      let g: BenchDaemon | string;
      try {
        g = d.name === 'scstd' ? await o.launchScstd(cluster, image) : await o.launchTgtd(cluster, image);
      } catch (e) {
        g = (e as Error).message.split('\n')[0]!;
      }
      if (typeof g === 'string') {
        o.note(`rbd rows on ${d.name}: ${g}`);
        return;
      }
      gateways.set(d.name, g);
      for (const w of WORKLOADS) await size(d.name, g.url('rbd'), g.pid, w);
    },
    measure: async (d) => {
      const out = new Map<string, RowSample>();
      const g = gateways.get(d.name);
      const c = cluster;
      for (const w of WORKLOADS) {
        if (g === undefined || c === null) {
          for (const r of ['', '-direct', '-ratio']) out.set(`rbd-${w.key}-4k-qd32${r}`, none);
          continue;
        }
        const viaGateway = () => bench(g.url('rbd'), g.pid, w, counts.get(`${d.name}/${w.key}`) ?? PROBE_COUNT);
        const direct = () => bench(c.qemuSpec(image), c.osdPid, w, counts.get(`direct/${w.key}`) ?? PROBE_COUNT);
        // Alternate which goes first: a warming or cooling machine (or cluster) favours neither.
        let gw: RunSample;
        let dr: RunSample;
        const turn = turns.get(`${d.name}/${w.key}`) ?? 0;
        turns.set(`${d.name}/${w.key}`, turn + 1);
        if (turn % 2 === 0) {
          gw = await viaGateway();
          dr = await direct();
        } else {
          dr = await direct();
          gw = await viaGateway();
        }
        out.set(`rbd-${w.key}-4k-qd32`, rowSampleOf(gw));
        out.set(`rbd-${w.key}-4k-qd32-direct`, rowSampleOf(dr));
        out.set(`rbd-${w.key}-4k-qd32-ratio`, {
          value: gw.value !== null && dr.value !== null && dr.value > 0 ? (100 * gw.value) / dr.value : null,
          serverCpu: null,
          otherCpu: null,
          ...(gw.error !== undefined || dr.error !== undefined ? { error: gw.error ?? dr.error } : {}),
        });
      }
      return out;
    },
  };
}
