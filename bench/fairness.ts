// Fair service (issue 14): QD1 4 KiB random read latency on one session, first with the daemon
// otherwise idle, then while another session streams 1 MiB writes at queue depth 32. The reader is
// bench/latency-client (per-command times, percentiles); the writer is qemu-img bench, whose
// throughput during the timed window is read from its /proc/PID/io (bytes it wrote to its socket),
// so that a daemon cannot look fair by starving the writer. qemu-img bench runs a fixed number of
// requests and cannot be stopped gracefully, so it is sized to outlast the window by far and ended
// by SIGTERM (its PID) once the window is over: every loaded run also drops a busy session.
import { cpuWindow, qemuBenchArgs, runQemuBench, type WindowCpu } from './clients.js';
import type { GroupDef, RowDef, RowSample } from './cases.js';
import type { BenchDaemon, DaemonName, LunRole } from './daemon.js';
import type { CaseResult } from './model.js';
import { LineChild, type Answer } from './line-child.js';
import { placed } from './pinning.js';
import { describeRun, pollUntil, procWriteChars, run, sleep } from './proc.js';

export const FAIR_GROUP_ID = 'fair-read-4k-fileio';

const MiB = 1024 * 1024;
const READ_BYTES = 4096;
/**
 * The reader measures the target, not itself: one read a millisecond (a reader looping flat out
 * is a CPU hog on the client CPU, which it shares with the writer), at a raised priority so that
 * its own wake-ups are not queued behind the writer's (measured with an idle target and a CPU
 * hog beside the reader: p99 2.6 ms at nice 0, 0.17 ms at nice -10). Both daemons alike.
 */
const READ_INTERVAL_US = 1000;
const READER_NICE = -10;
const WRITE_DEPTH = 32;
/** Writes of the sizing run. */
const PROBE_COUNT = 256;
/** The writer counts as streaming once it has sent this much (login and ramp-up are behind it). */
const STREAMING_BYTES = 32 * MiB;
/** Its request count aims at this many times the time it must cover (it is stopped when done). */
const WRITER_MARGIN = 3;
/** For the daemon to tear the writer's session down before the next measurement. */
const WRITER_TEARDOWN_MS = 500;
const MAX_WRITER_COUNT = 1_000_000;
const CLIENT_START_MS = 60_000;

export interface FairOptions {
  /** Length of each timed latency window, seconds. */
  seconds: number;
  /** The writer's LUN: a second image of the same size (another tenant), or the reader's own. */
  writerRole: LunRole;
  log(line: string): void;
}

interface Latency {
  count: number;
  p50: number;
  p99: number;
  max: number;
  stopped: boolean;
}

const num = (a: Answer, key: string): number | null => {
  const v = a[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

/** The figures of a latency-client result answer; null when one is missing. */
export function latencyOf(a: Answer): Latency | null {
  const count = num(a, 'count');
  const p50 = num(a, 'p50Us');
  const p99 = num(a, 'p99Us');
  const max = num(a, 'maxUs');
  if (count === null || count < 1 || p50 === null || p99 === null || max === null) return null;
  return { count, p50, p99, max, stopped: a.stopped === true };
}

/** The request count that keeps a writer of `bytesPerMs` busy for `coverMs` with the margin. */
export function writerCount(bytesPerMs: number, coverMs: number): number {
  if (!(bytesPerMs > 0) || !(coverMs > 0)) return PROBE_COUNT;
  return Math.min(MAX_WRITER_COUNT, Math.max(PROBE_COUNT, Math.ceil((bytesPerMs * coverMs * WRITER_MARGIN) / MiB)));
}

/** Ends the writer (our own child, by its PID); SIGKILL follows from run()'s deadline if need be. */
function stopWriter(pid: number): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

interface Outcome {
  latency: Latency | null;
  cpu: WindowCpu | null;
  writerMiBps?: number | null;
  error?: string;
}

export function fairGroup(o: FairOptions): GroupDef {
  const windowText = `${o.seconds} s`;
  const reader = `latency-client: READ(10) of 4 KiB at random 4 KiB-aligned offsets of the fileio LUN, QD1, one session, ${windowText} timed after 200 untimed`;
  const writer = `qemu-img bench -f raw -t none -w -s 1M -d ${WRITE_DEPTH} -c <${WRITER_MARGIN}x the window's worth, SIGTERM at its end> <${o.writerRole === 'fileio' ? 'the same' : 'another'} fileio LUN of the same size>`;
  const row = (id: string, short: string, title: string, unit: RowDef['unit'], better: RowDef['better'], command: string, target: RowDef['target'] = null): RowDef => ({ id, short, title, unit, better, command, target });
  const rows: RowDef[] = [
    row('fair-idle-p50', 'idle p50', 'QD1 4 KiB random read, fileio, idle: p50', 'us', 'lower', reader, { text: '<= tgtd', maxRatio: 1 }),
    row('fair-idle-p99', 'idle p99', 'QD1 4 KiB random read, fileio, idle: p99', 'us', 'lower', reader),
    row('fair-idle-max', 'idle max', 'QD1 4 KiB random read, fileio, idle: max', 'us', 'lower', reader),
    row('fair-loaded-p50', 'loaded p50', 'QD1 4 KiB read under a 1 MiB QD32 writer: p50', 'us', 'lower', `${reader}; meanwhile ${writer}`),
    row('fair-loaded-p99', 'loaded p99', 'QD1 4 KiB read under a 1 MiB QD32 writer: p99', 'us', 'lower', `${reader}; meanwhile ${writer}`, { text: '<= 1 ms and < tgtd', atMostValue: 1000, belowRatio: 1 }),
    row('fair-loaded-max', 'loaded max', 'QD1 4 KiB read under a 1 MiB QD32 writer: max', 'us', 'lower', `${reader}; meanwhile ${writer}`),
    row('fair-writer', 'writer', '1 MiB QD32 writer during the loaded window', 'MiB/s', 'higher', `${writer}; bytes it wrote to its socket (/proc/PID/io wchar) over the latency window`),
  ];
  const counts = new Map<DaemonName, number>();
  const runs = new Map<DaemonName, number>();

  const readerArgs = (d: BenchDaemon, seed: number): string[] => [
    '--port', String(d.port), '--target', d.targetName, '--lun', String(d.luns.fileio), '--seconds', String(o.seconds), '--bytes', String(READ_BYTES), '--seed', String(seed), '--interval-us', String(READ_INTERVAL_US),
  ];

  const idleRun = async (d: BenchDaemon, seed: number): Promise<Outcome> => {
    const client = LineChild.start('latency-client', readerArgs(d, seed), { nice: READER_NICE });
    try {
      await client.next('measuring', CLIENT_START_MS);
      const win = await cpuWindow(d.pid, [client.pid]);
      const a = await client.next('result', o.seconds * 1000 + 30_000);
      const cpu = await win.end();
      const latency = latencyOf(a);
      return latency === null ? { latency, cpu, error: `latency-client: unusable result ${JSON.stringify(a)}` } : { latency, cpu };
    } catch (e) {
      return { latency: null, cpu: null, error: (e as Error).message };
    } finally {
      await client.finish();
    }
  };

  const loadedRun = async (d: BenchDaemon, seed: number): Promise<Outcome> => {
    const count = counts.get(d.name) ?? PROBE_COUNT;
    // A backstop only: the writer is stopped when the window is over.
    const timeoutMs = Math.max(120_000, o.seconds * 30_000);
    let writerPid = -1;
    let writerDone = false;
    const spawnedAt = performance.now();
    const writing = run(...placed('client', 'qemu-img', qemuBenchArgs(d.url(o.writerRole), { write: true, size: MiB, depth: WRITE_DEPTH, count, timeoutMs })), {
      timeoutMs,
      onSpawn: (pid) => {
        writerPid = pid;
      },
    }).then((r) => {
      writerDone = true;
      return r;
    });
    const writerFailure = async (what: string): Promise<string> => `${what}\n${describeRun('qemu-img bench (writer)', await writing)}`;
    let client: LineChild | null = null;
    try {
      const streaming = await pollUntil(async () => (writerDone ? 'ended' : ((await procWriteChars(writerPid)) ?? 0) >= STREAMING_BYTES ? 'yes' : false), 30_000, 10);
      if (streaming !== 'yes') return { latency: null, cpu: null, error: await writerFailure(streaming === 'ended' ? 'the writer ended before it was streaming' : 'the writer did not start streaming in 30 s') };
      client = LineChild.start('latency-client', readerArgs(d, seed), { nice: READER_NICE });
      await client.next('measuring', CLIENT_START_MS);
      const win = await cpuWindow(d.pid, [client.pid, writerPid]);
      const w0 = await procWriteChars(writerPid);
      const t0 = performance.now();
      const c = client;
      void writing.then(() => c.send('stop'));
      const a = await client.next('result', o.seconds * 1000 + 30_000);
      const w1 = writerDone ? null : await procWriteChars(writerPid);
      const t1 = performance.now();
      const cpu = await win.end();
      const latency = latencyOf(a);
      const bytesPerMs = w0 !== null && w1 !== null && t1 > t0 ? (w1 - w0) / (t1 - t0) : null;
      if (bytesPerMs !== null) counts.set(d.name, writerCount(bytesPerMs, t0 - spawnedAt + o.seconds * 1000));
      const endedAlone = writerDone;
      if (!endedAlone) stopWriter(writerPid);
      const r = await writing;
      if (endedAlone && (r.code !== 0 || r.timedOut)) return { latency: null, cpu, error: await writerFailure('the writer failed') };
      if (latency === null) return { latency, cpu, error: `latency-client: unusable result ${JSON.stringify(a)}` };
      if (latency.stopped || bytesPerMs === null) {
        // Sized too small (it wrote faster than measured before): twice as many for the next round.
        counts.set(d.name, Math.min(MAX_WRITER_COUNT, count * 2));
        return { latency: null, cpu, error: `the writer (${count} x 1 MiB) ended before the ${windowText} window did; the next round writes twice as much` };
      }
      return { latency, cpu, writerMiBps: (bytesPerMs * 1000) / MiB };
    } catch (e) {
      return { latency: null, cpu: null, error: (e as Error).message };
    } finally {
      if (client !== null) await client.finish();
      // A writer left running would load the next measurement.
      if (!writerDone) stopWriter(writerPid);
      await writing;
      await sleep(WRITER_TEARDOWN_MS);
    }
  };

  return {
    id: FAIR_GROUP_ID,
    rows,
    prepare: async (d) => {
      // Sizes the writer (and warms the write path); the first loaded run corrects the size.
      const r = await runQemuBench(d.url(o.writerRole), { write: true, size: MiB, depth: WRITE_DEPTH, count: PROBE_COUNT, timeoutMs: 120_000 }, d.pid);
      if (r.value === null) o.log(`  sizing run of the fair-service writer on ${d.name} failed: ${r.error}`);
      const bytesPerMs = r.value === null ? 0 : (PROBE_COUNT * MiB) / (r.value * 1000);
      counts.set(d.name, writerCount(bytesPerMs, 3_000 + o.seconds * 1000));
    },
    measure: async (d) => {
      const n = (runs.get(d.name) ?? 0) + 1;
      runs.set(d.name, n);
      // Round n reads the same offsets on both daemons.
      const seed = 1000 + n;
      const idle = await idleRun(d, seed);
      const loaded = await loadedRun(d, seed);
      const out = new Map<string, RowSample>();
      const put = (id: string, value: number | null, x: Outcome): void => {
        out.set(id, { value, serverCpu: x.cpu?.serverCpu ?? null, otherCpu: x.cpu?.otherCpu ?? null, ...(x.error !== undefined ? { error: x.error } : {}) });
      };
      put('fair-idle-p50', idle.latency?.p50 ?? null, idle);
      put('fair-idle-p99', idle.latency?.p99 ?? null, idle);
      put('fair-idle-max', idle.latency?.max ?? null, idle);
      put('fair-loaded-p50', loaded.latency?.p50 ?? null, loaded);
      put('fair-loaded-p99', loaded.latency?.p99 ?? null, loaded);
      put('fair-loaded-max', loaded.latency?.max ?? null, loaded);
      put('fair-writer', loaded.writerMiBps ?? null, loaded);
      return out;
    },
  };
}

// The fair-service writers' throughputs further apart than this: the loaded latency rows
// compare unlike loads (below it, scstd's latency may have been bought by starving the writer).
const WRITER_SHARE_WARNING = 0.9;

/** A note when the two daemons' writers were not alike, null when they were (or cannot tell). */
export function writerNote(results: CaseResult[]): string | null {
  const w = results.find((c) => c.id === 'fair-writer');
  if (w === undefined || w.ratio === null || (w.ratio >= WRITER_SHARE_WARNING && w.ratio <= 1 / WRITER_SHARE_WARNING)) return null;
  const why = w.ratio < 1 ? 'scstd may have bought its loaded latency by starving the writer' : 'scstd carried the heavier load';
  return `fair service: the 1 MiB writer got ${w.ratio.toFixed(2)}x tgtd's throughput on scstd (${why}); the loaded latency rows compare unlike loads`;
}
