// The real initiators the benchmark drives (libiscsi's iscsi-perf, qemu-img bench): one bounded
// child process per run, and the server's CPU time sampled around it.
import { parseIscsiPerf, parseQemuBench } from './parse.js';
import { placed } from './pinning.js';
import { describeRun, machineBusyCpuSeconds, procCpuSeconds, run, selfAndReapedChildrenCpuSeconds } from './proc.js';

export const BENCH_INITIATOR = 'iqn.2026-11.org.scst-usermode.bench:client';

export interface RunSample {
  /** The figure the run produced (IOPS for iscsi-perf, seconds for qemu-img bench), null on failure. */
  value: number | null;
  /** CPU the server used during the run, in cores (1.0 = one core busy the whole time). */
  serverCpu: number | null;
  /**
   * CPU used during the run by everything else on the machine: not the server, not the client,
   * not the benchmark itself. Above a few tenths of a core the figure is disturbed.
   */
  otherCpu: number | null;
  wallMs: number;
  error?: string;
}

interface Meter {
  server: number | null;
  ours: number | null;
  machine: number | null;
  at: number;
}

async function meter(serverPid: number): Promise<Meter> {
  const [server, ours, machine] = await Promise.all([procCpuSeconds(serverPid), selfAndReapedChildrenCpuSeconds(), machineBusyCpuSeconds()]);
  return { server, ours, machine, at: performance.now() };
}

const delta = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : b - a);

async function withServerCpu(serverPid: number, body: () => Promise<{ value: number | null; error?: string }>): Promise<RunSample> {
  const m0 = await meter(serverPid);
  const r = await body();
  const m1 = await meter(serverPid);
  const wallMs = m1.at - m0.at;
  const seconds = wallMs / 1000;
  const server = delta(m0.server, m1.server);
  const ours = delta(m0.ours, m1.ours);
  const machine = delta(m0.machine, m1.machine);
  // /proc counts CPU in 10 ms ticks: a failed or very short run says nothing.
  const meaningful = r.value !== null && wallMs >= 200;
  const serverCpu = meaningful && server !== null ? server / seconds : null;
  const otherCpu = meaningful && server !== null && ours !== null && machine !== null ? Math.max(0, (machine - server - ours) / seconds) : null;
  return { ...r, serverCpu, otherCpu, wallMs };
}

export interface WindowCpu {
  /** Cores the server used in the window. */
  serverCpu: number | null;
  /** Cores everything else used: not the server, not the benchmark, not the clients named. */
  otherCpu: number | null;
  seconds: number;
}

/**
 * Starts measuring CPU over a window in which clients that are still running take part: their
 * own CPU time is read from /proc (a child counts in our reaped-children time only once reaped,
 * so the window must end before they are reaped).
 */
export async function cpuWindow(serverPid: number, clientPids: number[]): Promise<{ end(): Promise<WindowCpu> }> {
  const clients = async (): Promise<number | null> => {
    let sum = 0;
    for (const pid of clientPids) {
      const s = await procCpuSeconds(pid);
      if (s === null) return null;
      sum += s;
    }
    return sum;
  };
  const [m0, c0] = await Promise.all([meter(serverPid), clients()]);
  return {
    end: async () => {
      const [m1, c1] = await Promise.all([meter(serverPid), clients()]);
      const seconds = (m1.at - m0.at) / 1000;
      const server = delta(m0.server, m1.server);
      const ours = delta(m0.ours, m1.ours);
      const machine = delta(m0.machine, m1.machine);
      const client = delta(c0, c1);
      // /proc counts CPU in 10 ms ticks: a very short window says nothing.
      if (seconds < 0.2) return { serverCpu: null, otherCpu: null, seconds };
      return {
        serverCpu: server === null ? null : server / seconds,
        otherCpu: server === null || ours === null || machine === null || client === null ? null : Math.max(0, (machine - server - ours - client) / seconds),
        seconds,
      };
    },
  };
}

export interface IscsiPerfOptions {
  /** Outstanding requests (-m). */
  queueDepth: number;
  /** Blocks per request (-b). */
  blocks: number;
  /** Run time (-t), whole seconds. */
  seconds: number;
}

/** `iscsi-perf -r -b B -m QD -t S URL`: random READ(16)s; the average IOPS. */
export function iscsiPerfArgs(url: string, o: IscsiPerfOptions): string[] {
  return ['-i', BENCH_INITIATOR, '-r', '-b', String(o.blocks), '-m', String(o.queueDepth), '-t', String(o.seconds), url];
}

export function runIscsiPerf(url: string, o: IscsiPerfOptions, serverPid: number): Promise<RunSample> {
  return withServerCpu(serverPid, async () => {
    // Login, READ CAPACITY and logout come on top of the run time; 30 s covers a slow login.
    const r = await run(...placed('client', 'iscsi-perf', iscsiPerfArgs(url, o)), { timeoutMs: o.seconds * 1000 + 30_000 });
    const iops = r.code === 0 && !r.timedOut ? parseIscsiPerf(r.stdout) : null;
    return iops === null ? { value: null, error: describeRun('iscsi-perf', r) } : { value: iops };
  });
}

export interface QemuBenchOptions {
  write: boolean;
  /** Bytes per request (-s). */
  size: number;
  /** Requests in flight (-d). */
  depth: number;
  /** Requests in all (-c). */
  count: number;
  /** Offset advance per request (-S); the request size (sequential) when absent. */
  step?: number;
  timeoutMs: number;
}

/**
 * `qemu-img bench -f raw -t none [-w --pattern=0xa5] -s SIZE -d DEPTH -c COUNT [-S STEP] URL`.
 * The offset advances by STEP and wraps at the end of the LUN.
 */
export function qemuBenchArgs(url: string, o: QemuBenchOptions): string[] {
  const args = ['bench', '-f', 'raw', '-t', 'none', '-s', String(o.size), '-d', String(o.depth), '-c', String(o.count)];
  if (o.step !== undefined) args.push('-S', String(o.step));
  if (o.write) args.push('-w', '--pattern=0xa5');
  args.push(url);
  return args;
}

/** Runs qemu-img bench; the sample's value is the run time in seconds it reports. */
export function runQemuBench(url: string, o: QemuBenchOptions, serverPid: number): Promise<RunSample> {
  return withServerCpu(serverPid, async () => {
    const r = await run(...placed('client', 'qemu-img', qemuBenchArgs(url, o)), { timeoutMs: o.timeoutMs });
    const s = r.code === 0 && !r.timedOut ? parseQemuBench(r.stdout) : null;
    return s === null ? { value: null, error: describeRun('qemu-img bench', r) } : { value: s };
  });
}
