// What serving Prometheus metrics costs the data path (issue 18: at most 2%): the same 512 B read
// and 4 KiB write workloads against the benchmark's scstd (no --metrics) and a second scstd
// configured alike but started with --metrics and scraped once a second meanwhile, run by run in
// the same round (the order alternates), so both see the same machine. tgtd runs the workloads
// too (its column), the with/without ratio is scstd's alone.
import { perfCase, qemuCase, rowSampleOf as sample, SCATTER_STEP, warmUp, type CaseContext, type GroupDef, type RowDef, type RowSample } from './cases.js';
import type { BenchDaemon } from './daemon.js';
import type { RunSample } from './clients.js';

export const METRICS_GROUP_ID = 'metrics-cost';

const SCRAPE_INTERVAL_MS = 1_000;

export interface MetricsCostOptions {
  /** Starts the scstd with --metrics on `metricsPort`; the caller stops it. */
  launch(metricsPort: number): Promise<BenchDaemon>;
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
    { id: `metrics-${w.key}-off`, short: `${w.key} without`, title: `${w.what}, without --metrics`, unit: 'IOPS', better: 'higher', command: w.c.command, target: null },
    { id: `metrics-${w.key}-on`, short: `${w.key} with`, title: `${w.what}, with --metrics, scraped every second`, unit: 'IOPS', better: 'higher', command: `${w.c.command}, against a second scstd started with --metrics`, target: null, scstdOnly: true },
    {
      id: `metrics-${w.key}-ratio`,
      short: `${w.key} with/without`,
      title: `${w.what}: with --metrics / without, same round`,
      unit: '%',
      better: 'higher',
      command: 'IOPS with / IOPS without x 100, run by run',
      target: { text: '>= 98% (costs at most 2%)', minValue: 98 },
      scstdOnly: true,
    },
  ]);
  let withMetrics: BenchDaemon | null = null;
  let metricsPort = 0;
  let runs = 0;
  return {
    id: METRICS_GROUP_ID,
    rows,
    prepare: async (d) => {
      await write.prepare?.(d);
      if (d.name !== 'scstd') return;
      metricsPort = await o.freePort();
      withMetrics = await o.launch(metricsPort);
      await warmUp(ctx, withMetrics);
    },
    measure: async (d) => {
      const out = new Map<string, RowSample>();
      for (const w of workloads) {
        if (d.name !== 'scstd' || withMetrics === null) {
          out.set(`metrics-${w.key}-off`, sample(await w.c.measure(d)));
          continue;
        }
        const on = withMetrics;
        const runOn = async (): Promise<RunSample> => {
          const s = scraper(metricsPort);
          try {
            return await w.c.measure(on);
          } finally {
            await s.stop();
          }
        };
        // Alternate which goes first: a warming or cooling machine favours neither.
        let off: RunSample;
        let onS: RunSample;
        if (runs++ % 2 === 0) {
          off = await w.c.measure(d);
          onS = await runOn();
        } else {
          onS = await runOn();
          off = await w.c.measure(d);
        }
        out.set(`metrics-${w.key}-off`, sample(off));
        out.set(`metrics-${w.key}-on`, sample(onS));
        out.set(`metrics-${w.key}-ratio`, { value: off.value !== null && onS.value !== null && off.value > 0 ? (100 * onS.value) / off.value : null, serverCpu: null, otherCpu: null });
      }
      return out;
    },
  };
}
