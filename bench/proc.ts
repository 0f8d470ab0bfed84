// Child processes of the benchmark: every one is spawned asynchronously, remembered by PID, given a
// hard deadline, and killed by that PID only (never by name) -- other engineers' daemons and
// initiators run on the same machine.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  elapsedMs: number;
  /** Set when the program could not be started at all (ENOENT, ...). */
  spawnError?: string;
}

export interface RunOptions {
  /** SIGTERM at the deadline, SIGKILL 2 s later. */
  timeoutMs: number;
  env?: Record<string, string | undefined>;
  /** Called with each child right after it is spawned (to sample its /proc entry). */
  onSpawn?: (pid: number) => void;
}

const MAX_OUTPUT = 8 * 1024 * 1024;
const KILL_GRACE_MS = 2_000;

const live = new Set<ChildProcess>();

// A benchmark that dies abruptly must not leave daemons or clients behind.
process.once('exit', () => {
  for (const c of live) signalChild(c, 'SIGKILL');
});

function signalChild(c: ChildProcess, sig: NodeJS.Signals): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(c.pid, sig);
  } catch {
    // already gone
  }
}

export function isRunning(c: ChildProcess): boolean {
  return c.pid !== undefined && c.exitCode === null && c.signalCode === null;
}

/** Spawns a long-lived child (a daemon) and remembers it for the exit-time sweep. */
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/** Kills every child still running, by PID; used on SIGINT of the benchmark itself. */
export function killAllTracked(): void {
  for (const c of live) signalChild(c, 'SIGKILL');
}

/**
 * Waits up to `timeoutMs` for `child` to exit, then SIGKILLs it by PID and waits up to 5 s more.
 * Never rejects.
 */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }> {
  return new Promise((resolve) => {
    if (!isRunning(child)) {
      resolve({ code: child.exitCode, signal: child.signalCode, timedOut: false });
      return;
    }
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolve({ code, signal, timedOut });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      signalChild(child, 'SIGKILL');
      killTimer = setTimeout(() => {
        child.off('exit', onExit);
        resolve({ code: child.exitCode, signal: child.signalCode, timedOut });
      }, 5_000);
    }, timeoutMs);
    child.once('exit', onExit);
  });
}

/** Runs a program to completion under a hard deadline. Never throws for a failure. */
export function run(cmd: string, args: string[], o: RunOptions): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawnTracked(cmd, args, { env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) o.onSpawn?.(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout!.on('data', (b: Buffer) => {
      if (outLen < MAX_OUTPUT) out.push(b);
      outLen += b.length;
    });
    child.stderr!.on('data', (b: Buffer) => {
      if (errLen < MAX_OUTPUT) err.push(b);
      errLen += b.length;
    });
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      signalChild(child, 'SIGTERM');
      killTimer = setTimeout(() => signalChild(child, 'SIGKILL'), KILL_GRACE_MS);
    }, o.timeoutMs);
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        elapsedMs: performance.now() - started,
        ...(spawnError !== undefined ? { spawnError } : {}),
      });
    };
    child.once('error', (e) => finish(null, null, e.message));
    // 'close', not 'exit': all output has been read by then.
    child.once('close', (code, signal) => finish(code, signal));
  });
}

/** One line saying how a run ended, with the tail of its output, for error messages. */
export function describeRun(what: string, r: RunResult): string {
  const status = r.spawnError ? `could not start (${r.spawnError})` : r.timedOut ? 'timed out' : `exit code ${r.code}${r.signal ? ` signal ${r.signal}` : ''}`;
  const tail = (s: string): string => (s.length > 1500 ? `...${s.slice(-1500)}` : s).replace(/\r/g, '\n').trim();
  return `${what}: ${status} after ${Math.round(r.elapsedMs)} ms\n  stdout: ${tail(r.stdout) || '-'}\n  stderr: ${tail(r.stderr) || '-'}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      if (a === null || typeof a === 'string') {
        srv.close();
        reject(new Error('no address for a free port'));
        return;
      }
      srv.close(() => resolve(a.port));
    });
  });
}

function tryConnect(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Polls until 127.0.0.1:port accepts a connection; false when `timeoutMs` runs out or `gaveUp()`. */
export async function waitForPort(port: number, timeoutMs: number, gaveUp: () => boolean = () => false): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gaveUp()) return false;
    if (await tryConnect(port, 1_000)) return true;
    await sleep(50);
  }
  return false;
}

/** Polls `probe` until it returns a truthy value or `timeoutMs` passes (then undefined). */
export async function pollUntil<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs: number, intervalMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() >= deadline) return undefined;
    await sleep(intervalMs);
  }
}

export interface ProcMemory {
  /** Resident set size now, KiB. */
  rssKiB: number;
  /** Peak resident set size (VmHWM), KiB. */
  hwmKiB: number;
}

/** VmRSS and VmHWM of a live process, null when it is gone. */
export async function procMemory(pid: number): Promise<ProcMemory | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

// USER_HZ is 100 on every Linux architecture Node runs on; Node cannot ask sysconf(_SC_CLK_TCK).
const CLOCK_TICKS_PER_SECOND = 100;

/** Fields 3.. of /proc/PID/stat (after the command name), null when the process is gone. */
async function statFields(pid: number | 'self'): Promise<string[] | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may contain blanks and parentheses: fields restart after the last ')'.
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

function ticks(fields: string[], ...indexes: number[]): number | null {
  let sum = 0;
  for (const i of indexes) {
    const n = Number(fields[i]);
    if (!Number.isFinite(n)) return null;
    sum += n;
  }
  return sum / CLOCK_TICKS_PER_SECOND;
}

/** CPU time (user + system, all threads) a live process has used so far, in seconds. */
export async function procCpuSeconds(pid: number): Promise<number | null> {
  const f = await statFields(pid);
  // utime, stime: fields 14 and 15.
  return f === null ? null : ticks(f, 11, 12);
}

/**
 * CPU time of this process and of its children that have exited and been reaped (a finished
 * client is counted here), in seconds.
 */
export async function selfAndReapedChildrenCpuSeconds(): Promise<number | null> {
  const f = await statFields('self');
  // utime, stime, cutime, cstime: fields 14 to 17.
  return f === null ? null : ticks(f, 11, 12, 13, 14);
}

/**
 * CPU time every CPU of the machine has spent running processes (user, nice, system) or stolen
 * by the hypervisor, in seconds. Interrupt and softirq time are left out: loopback TCP between
 * our own client and daemon is processed there and is charged to no process.
 */
export async function machineBusyCpuSeconds(): Promise<number | null> {
  let text: string;
  try {
    text = await readFile('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const m = /^cpu\s+(.*)$/m.exec(text);
  if (!m) return null;
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const v = m[1]!.trim().split(/\s+/).map(Number);
  const busy = [0, 1, 2, 7].reduce((acc, i) => acc + (v[i] ?? 0), 0);
  return Number.isFinite(busy) ? busy / CLOCK_TICKS_PER_SECOND : null;
}

export { onPath } from '../src/on-path.js';

/**
 * Bytes a live process has handed to write(2)-family calls so far (`wchar` of /proc/PID/io; it
 * counts socket writes too), null when it is gone or unreadable.
 */
export async function procWriteChars(pid: number): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/io`, 'utf8');
  } catch {
    return null;
  }
  const m = /^wchar:\s+(\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * The counters of a /proc/net/netstat (or /proc/net/snmp) text: pairs of lines "Group: names..."
 * and "Group: values...", as "Group.Name" -> value.
 */
export function parseNetstat(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const names = /^(\w+):\s+(.*)$/.exec(lines[i]!);
    const values = /^(\w+):\s+(.*)$/.exec(lines[i + 1]!);
    if (!names || !values || names[1] !== values[1]) continue;
    const ns = names[2]!.trim().split(/\s+/);
    const vs = values[2]!.trim().split(/\s+/);
    if (ns.length !== vs.length || !vs.every((v) => /^-?\d+$/.test(v))) continue;
    ns.forEach((n, j) => out.set(`${names[1]}.${n}`, Number(vs[j])));
    i++;
  }
  return out;
}

/**
 * How often, machine-wide, a listening socket's accept queue was full when a connection completed
 * its handshake (the peer then retransmits after a timeout of about a second); null if unknown.
 */
export async function listenOverflows(): Promise<number | null> {
  try {
    return parseNetstat(await readFile('/proc/net/netstat', 'utf8')).get('TcpExt.ListenOverflows') ?? null;
  } catch {
    return null;
  }
}
