// The benchmark's cases: which client runs against which LUN, how one run becomes a figure, and
// the goal issue 8 sets for it.
import { runIscsiPerf, runQemuBench, type RunSample } from './clients.js';
import type { BenchDaemon, DaemonName, LunRole } from './daemon.js';
import type { Better, Target, Unit } from './model.js';

export interface CaseContext {
  /** iscsi-perf run time, whole seconds. */
  perfSeconds: number;
  /** Aim for qemu-img bench runs of about this many seconds. */
  qemuSeconds: number;
  /** Length of each warm-up run, whole seconds. */
  warmUpSeconds: number;
  log(line: string): void;
}

export interface CaseDef {
  id: string;
  title: string;
  unit: Unit;
  better: Better;
  command: string;
  target: Target | null;
  /** Once per daemon before the first round (qemu-img: sizes the request count). */
  prepare?(d: BenchDaemon): Promise<void>;
  /** One measured run; `value` is in `unit`. */
  measure(d: BenchDaemon): Promise<RunSample>;
}

/** One row of the printed table that a group's run fills in. */
export interface RowDef {
  id: string;
  title: string;
  unit: Unit;
  better: Better;
  command: string;
  target: Target | null;
  /** Its name in the progress lines. */
  short: string;
  /** A figure of scstd alone (tgtd has no such thing): its tgtd column is n/a. */
  scstdOnly?: boolean;
}

/** What one run gave for one row; CPU figures cover the part of the run the row describes. */
export interface RowSample {
  value: number | null;
  serverCpu: number | null;
  otherCpu: number | null;
  error?: string;
}

/**
 * A measurement that gives several rows from one run per daemon and round (latency percentiles
 * under load, a login storm). Rows missing from a run's answer count as failed runs.
 */
export interface GroupDef {
  id: string;
  rows: RowDef[];
  prepare?(d: BenchDaemon): Promise<void>;
  /** One measured run of every row; never rejects for a failed run (null values say so). */
  measure(d: BenchDaemon): Promise<Map<string, RowSample>>;
}

/** One run of a client as the figure of a row. */
export function rowSampleOf(s: RunSample): RowSample {
  return { value: s.value, serverCpu: s.serverCpu, otherCpu: s.otherCpu, ...(s.error !== undefined ? { error: s.error } : {}) };
}

/** Runs of one setting in a round as one sample: the mean (failed if any failed). */
export function meanOf(runs: RunSample[]): RowSample {
  const failed = runs.find((r) => r.value === null);
  if (failed !== undefined) return rowSampleOf(failed);
  const mean = (xs: Array<number | null>): number | null => (xs.some((x) => x === null) ? null : xs.reduce<number>((a, x) => a + x!, 0) / xs.length);
  return { value: mean(runs.map((r) => r.value)), serverCpu: mean(runs.map((r) => r.serverCpu)), otherCpu: mean(runs.map((r) => r.otherCpu)) };
}

/**
 * Setting A against setting B in one round: A B B A (or B A A B when `bFirst`; alternate it from
 * round to round), each the mean of its two runs, and B / A in %: a drift of the machine's load
 * within the round touches both alike.
 */
export async function abPair(bFirst: boolean, runA: () => Promise<RunSample>, runB: () => Promise<RunSample>): Promise<{ a: RowSample; b: RowSample; ratio: RowSample }> {
  const as: RunSample[] = [];
  const bs: RunSample[] = [];
  for (const isB of bFirst ? [true, false, false, true] : [false, true, true, false]) (isB ? bs : as).push(await (isB ? runB() : runA()));
  const a = meanOf(as);
  const b = meanOf(bs);
  return { a, b, ratio: { value: a.value !== null && b.value !== null && a.value > 0 ? (100 * b.value) / a.value : null, serverCpu: null, otherCpu: null } };
}

/** A plain case as a group of one row under its own id. */
export function caseAsGroup(c: CaseDef): GroupDef {
  return {
    id: c.id,
    rows: [{ id: c.id, title: c.title, unit: c.unit, better: c.better, command: c.command, target: c.target, short: '' }],
    prepare: c.prepare === undefined ? undefined : (d) => c.prepare!(d),
    measure: async (d) => new Map([[c.id, rowSampleOf(await c.measure(d))]]),
  };
}

/** A row computed from another case's samples, run by run (QD1 latency from QD1 IOPS). */
export interface DerivedDef {
  id: string;
  title: string;
  unit: Unit;
  better: Better;
  command: string;
  target: Target | null;
  from: string;
  derive(v: number): number;
}

const KiB = 1024;
const MiB = 1024 * 1024;

export function perfCase(ctx: CaseContext, o: { id: string; title: string; role: LunRole; blocks: number; qd: number; target?: Target }): CaseDef {
  const opts = (seconds: number) => ({ queueDepth: o.qd, blocks: o.blocks, seconds });
  return {
    id: o.id,
    title: o.title,
    unit: 'IOPS',
    better: 'higher',
    command: `iscsi-perf -r -b ${o.blocks} -m ${o.qd} -t ${ctx.perfSeconds} <${o.role} LUN>`,
    target: o.target ?? null,
    measure: (d) => runIscsiPerf(d.url(o.role), opts(ctx.perfSeconds), d.pid),
  };
}

export interface QemuShape {
  id: string;
  title: string;
  role: LunRole;
  write: boolean;
  size: number;
  depth: number;
  step?: number;
  /** What one run's time becomes. */
  report: 'IOPS' | 'MiB/s' | 'latency';
  /** Request count of the sizing run. */
  probeCount: number;
  target?: Target;
}

/**
 * qemu-img bench runs a fixed number of requests, so each daemon's count is sized from a short
 * probe run (which also warms it up) to take about `qemuSeconds`.
 */
export function qemuCase(ctx: CaseContext, s: QemuShape): CaseDef {
  const counts = new Map<DaemonName, number>();
  const timeoutMs = Math.max(30_000, ctx.qemuSeconds * 20_000);
  const opts = (count: number) => ({ write: s.write, size: s.size, depth: s.depth, count, step: s.step, timeoutMs });
  const unit: Unit = s.report === 'latency' ? 'us' : s.report;
  const sizeText = s.size >= MiB ? `${s.size / MiB}M` : String(s.size);
  return {
    id: s.id,
    title: s.title,
    unit,
    better: s.report === 'latency' ? 'lower' : 'higher',
    command: `qemu-img bench -f raw -t none ${s.write ? '-w --pattern=0xa5 ' : ''}-s ${sizeText} -d ${s.depth}${s.step !== undefined ? ` -S ${s.step}` : ''} -c <~${ctx.qemuSeconds} s worth> <${s.role} LUN>`,
    target: s.target ?? null,
    prepare: async (d) => {
      const r = await runQemuBench(d.url(s.role), opts(s.probeCount), d.pid);
      let count = s.probeCount;
      if (r.value === null) ctx.log(`  sizing run ${s.id} on ${d.name} failed: ${r.error}`);
      else count = Math.round((s.probeCount / r.value) * ctx.qemuSeconds);
      counts.set(d.name, Math.min(5_000_000, Math.max(s.probeCount, count)));
    },
    measure: async (d) => {
      const count = counts.get(d.name) ?? s.probeCount;
      const r = await runQemuBench(d.url(s.role), opts(count), d.pid);
      if (r.value === null) return r;
      const seconds = r.value;
      const value = s.report === 'IOPS' ? count / seconds : s.report === 'MiB/s' ? (count * s.size) / MiB / seconds : (seconds * 1e6) / count;
      return { ...r, value };
    },
  };
}

// A stride of 7919 (a prime) 4 KiB blocks scatters the writes over the whole image; the offset
// wraps at the end of the LUN, and stays 4 KiB-aligned because the image size is a multiple of it.
export const SCATTER_STEP = 7919 * 4 * KiB;

/**
 * Before any measurement: a JIT-compiled, warmed daemon is what a long-running target is. Both
 * daemons get the same warm-up.
 */
export async function warmUp(ctx: CaseContext, d: BenchDaemon): Promise<void> {
  for (const [role, blocks] of [['nullio', 1], ['fileio', 8]] as const) {
    const r = await runIscsiPerf(d.url(role), { queueDepth: 32, blocks, seconds: ctx.warmUpSeconds }, d.pid);
    if (r.value === null) ctx.log(`  warm-up on ${d.name} ${role} failed: ${r.error}`);
  }
}

export const FULL_QUEUE_DEPTHS = [1, 8, 32, 128];
export const QUICK_QUEUE_DEPTHS = [1, 32];

export function buildCases(ctx: CaseContext, queueDepths: number[]): { cases: CaseDef[]; derived: DerivedDef[] } {
  const cases: CaseDef[] = [];
  for (const qd of queueDepths) {
    cases.push(
      perfCase(ctx, {
        id: `read-512-nullio-qd${qd}`,
        title: `512 B random read, nullio, QD${qd}`,
        role: 'nullio',
        blocks: 1,
        qd,
        target: qd === 32 ? { text: '>= 2x tgtd and >= 100000', minRatio: 2, minValue: 100_000 } : undefined,
      }),
    );
  }
  // 4 KiB = 8 blocks of the 512 B fileio LUN; iscsi-perf picks any LBA, so most reads straddle
  // two 4 KiB pages of the image (alike for both daemons).
  for (const qd of queueDepths) {
    cases.push(
      perfCase(ctx, {
        id: `read-4k-fileio-qd${qd}`,
        title: `4 KiB random read, fileio, QD${qd}`,
        role: 'fileio',
        blocks: 8,
        qd,
        target: qd === 32 ? { text: '>= 1.5x tgtd', minRatio: 1.5 } : undefined,
      }),
    );
  }
  cases.push(
    qemuCase(ctx, {
      id: 'write-4k-fileio-qd32',
      title: '4 KiB scattered write, fileio, QD32',
      role: 'fileio',
      write: true,
      size: 4 * KiB,
      depth: 32,
      step: SCATTER_STEP,
      report: 'IOPS',
      probeCount: 5_000,
      target: { text: '>= 1.5x tgtd', minRatio: 1.5 },
    }),
    qemuCase(ctx, {
      id: 'seqread-1m-fileio-qd8',
      title: '1 MiB sequential read, fileio, QD8',
      role: 'fileio',
      write: false,
      size: MiB,
      depth: 8,
      report: 'MiB/s',
      probeCount: 200,
      target: { text: '>= 1x tgtd', minRatio: 1 },
    }),
    qemuCase(ctx, {
      id: 'seqwrite-1m-fileio-qd8',
      title: '1 MiB sequential write, fileio, QD8',
      role: 'fileio',
      write: true,
      size: MiB,
      depth: 8,
      report: 'MiB/s',
      probeCount: 200,
      target: { text: '>= 1x tgtd', minRatio: 1 },
    }),
    qemuCase(ctx, {
      id: 'latency-write-4k-fileio-qd1',
      title: 'QD1 latency, 4 KiB write, fileio',
      role: 'fileio',
      write: true,
      size: 4 * KiB,
      depth: 1,
      report: 'latency',
      probeCount: 2_000,
      target: { text: '<= tgtd', maxRatio: 1 },
    }),
  );
  const derived: DerivedDef[] = [];
  if (queueDepths.includes(1)) {
    derived.push(
      {
        id: 'latency-read-512-nullio-qd1',
        title: 'QD1 latency, 512 B read, nullio',
        unit: 'us',
        better: 'lower',
        command: '1e6 / IOPS of read-512-nullio-qd1',
        target: { text: '<= tgtd', maxRatio: 1 },
        from: 'read-512-nullio-qd1',
        derive: (iops) => 1e6 / iops,
      },
      {
        id: 'latency-read-4k-fileio-qd1',
        title: 'QD1 latency, 4 KiB read, fileio',
        unit: 'us',
        better: 'lower',
        command: '1e6 / IOPS of read-4k-fileio-qd1',
        target: { text: '<= tgtd', maxRatio: 1 },
        from: 'read-4k-fileio-qd1',
        derive: (iops) => 1e6 / iops,
      },
    );
  }
  return { cases, derived };
}
