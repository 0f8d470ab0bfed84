// What serving Prometheus metrics costs the data path (issue 18: at most 2%): the same 512 B read
// and 4 KiB write workloads against one scstd started with --metrics and its tree mounted, run by
// run in the same round with the cost switched on and off (the order alternates): on, commands are
// timed (measure_latency 1, what --metrics sets) and /metrics is scraped once a second; off, no
// timing and no scrapes, which is what a daemon without --metrics does per command (the counters
// are kept either way). One process for both figures: two scstd processes started alike differ by
// up to 15% on a small VM (code and heap placement), far more than the cost to be measured.
import { abPair, perfCase, qemuCase, SCATTER_STEP, warmUp, type CaseContext, type GroupDef, type RowDef, type RowSample } from './cases.js';
import type { BenchDaemon } from './daemon.js';
import type { RunSample } from './clients.js';

export const METRICS_GROUP_ID = 'metrics-cost';

const SCRAPE_INTERVAL_MS = 1_000;

/** The scstd the rows run against: started with --metrics on `metricsPort`, its tree mounted. */
export interface MetricsDaemon {
  daemon: BenchDaemon;
  /** Writes measure_latency in its tree. */
  setTiming(on: boolean): Promise<void>;
}

export interface MetricsCostOptions {
  /** Starts the scstd with --metrics on `metricsPort`; the caller stops it. */
  launch(metricsPort: number): Promise<MetricsDaemon>;
  freePort(): Promise<number>;
}

/** Scrapes http://127.0.0.1:port/metrics once a second until stopped (as a Prometheus would). */
function scraper(port: number): { stop(): Promise<number> } {
  let scrapes = 0;
  let busy: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    busy = fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })
      .then((r) => r.text())
      .then(() => {
        scrapes++;
      })
      .catch(() => {});
  }, SCRAPE_INTERVAL_MS);
  return {
    stop: async () => {
      clearInterval(timer);
      await busy;
      return scrapes;
    },
  };
}

export function metricsGroup(ctx: CaseContext, o: MetricsCostOptions): GroupDef {
  const read = perfCase(ctx, { id: 'metrics-read', title: '', role: 'nullio', blocks: 1, qd: 32 });
  const write = qemuCase(ctx, { id: 'metrics-write', title: '', role: 'fileio', write: true, size: 4096, depth: 32, step: SCATTER_STEP, report: 'IOPS', probeCount: 5_000 });
  const workloads = [
    { key: 'read-512', what: '512 B random read, nullio, QD32', c: read },
    { key: 'write-4k', what: '4 KiB scattered write, fileio, QD32', c: write },
  ];
  const rows: RowDef[] = workloads.flatMap((w): RowDef[] => [
    { id: `metrics-${w.key}-off`, short: `${w.key} off`, title: `${w.what}, timing and scrapes off`, unit: 'IOPS', better: 'higher', command: `${w.c.command}, measure_latency 0`, target: null, scstdOnly: true },
    { id: `metrics-${w.key}-on`, short: `${w.key} on`, title: `${w.what}, timed, scraped every second`, unit: 'IOPS', better: 'higher', command: `${w.c.command}, measure_latency 1, GET /metrics every second`, target: null, scstdOnly: true },
    {
      id: `metrics-${w.key}-ratio`,
      short: `${w.key} on/off`,
      title: `${w.what}: metrics on / off, same daemon, same round`,
      unit: '%',
      better: 'higher',
      command: 'IOPS on / IOPS off x 100, round by round (each the mean of two runs, ABBA / BAAB)',
      target: { text: '>= 98% (costs at most 2%)', minValue: 98 },
      scstdOnly: true,
    },
  ]);
  let m: MetricsDaemon | null = null;
  let metricsPort = 0;
  let runs = 0;
  const none: RowSample = { value: null, serverCpu: null, otherCpu: null };
  return {
    id: METRICS_GROUP_ID,
    rows,
    prepare: async (d) => {
      if (d.name !== 'scstd') return;
      metricsPort = await o.freePort();
      m = await o.launch(metricsPort);
      await write.prepare?.(m.daemon);
      await warmUp(ctx, m.daemon);
    },
    measure: async (d) => {
      const out = new Map<string, RowSample>();
      // Runs a few per cent apart are the point here: ABBA / BAAB, alternating from round to round
      // (counted on scstd's turns only: tgtd's column has no figures here).
      const onFirst = d.name === 'scstd' && runs++ % 2 === 1;
      for (const w of workloads) {
        if (d.name !== 'scstd' || m === null) {
          for (const r of ['off', 'on', 'ratio']) out.set(`metrics-${w.key}-${r}`, none);
          continue;
        }
        const md = m;
        const runOff = async (): Promise<RunSample> => {
          await md.setTiming(false);
          return w.c.measure(md.daemon);
        };
        const runOn = async (): Promise<RunSample> => {
          await md.setTiming(true);
          const s = scraper(metricsPort);
          try {
            return await w.c.measure(md.daemon);
          } finally {
            await s.stop();
          }
        };
        const r = await abPair(onFirst, runOff, runOn);
        out.set(`metrics-${w.key}-off`, r.a);
        out.set(`metrics-${w.key}-on`, r.b);
        out.set(`metrics-${w.key}-ratio`, r.ratio);
      }
      return out;
    },
  };
}
