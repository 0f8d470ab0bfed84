// Child processes for the integration tests: every child is spawned asynchronously, tracked, and
// killed by its own PID (never by name) when it overstays its timeout or when the test file ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface RunOptions {
  /** Hard limit: SIGTERM at the deadline, SIGKILL after `killGraceMs` more. Default 60 s. */
  timeoutMs?: number;
  killGraceMs?: number;
  /** Extra environment, merged over process.env. */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed. stdin is closed immediately when absent. */
  input?: string | Buffer;
  cwd?: string;
  /** Output beyond this many bytes per stream is dropped (the tail is what gets lost). */
  maxOutputBytes?: number;
  /** Aborting ends the child early (SIGTERM, then SIGKILL after the grace period). */
  signal?: AbortSignal;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  elapsedMs: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_GRACE_MS = 2_000;
const DEFAULT_MAX_OUTPUT = 32 * 1024 * 1024;

const live = new Set<ChildProcess>();

// A worker that dies abruptly must not leave daemons or initiators behind.
process.once('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Registers a child so that killAllTracked() and process exit reach it. */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

export function trackedCount(): number {
  return live.size;
}

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && child.pid !== undefined;
}

/**
 * Waits for `child` to exit; if it has not after `timeoutMs`, SIGKILLs it (by its PID) and waits
 * up to 5 s more. Resolves with whatever exit status was observed, never rejects.
 */
export function waitExit(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }> {
  return new Promise((resolve) => {
    if (!isAlive(child)) {
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
      child.kill('SIGKILL');
      killTimer = setTimeout(() => {
        child.off('exit', onExit);
        resolve({ code: child.exitCode, signal: child.signalCode, timedOut });
      }, 5_000);
    }, timeoutMs);
    child.once('exit', onExit);
  });
}

/** SIGTERM (or `signal`), then SIGKILL after `graceMs`. */
export async function terminate(
  child: ChildProcess,
  graceMs = DEFAULT_GRACE_MS,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (!isAlive(child)) return;
  child.kill(signal);
  await waitExit(child, graceMs);
}

/** Kills every child still running (SIGTERM, then SIGKILL). */
export async function killAllTracked(graceMs = DEFAULT_GRACE_MS): Promise<void> {
  await Promise.all([...live].map((c) => terminate(c, graceMs)));
}

/** Runs a program to completion with a hard timeout. Never throws for a non-zero exit. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const graceMs = opts.killGraceMs ?? DEFAULT_GRACE_MS;
  const maxOut = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    track(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < maxOut) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < maxOut) err.push(b);
      errLen += b.length;
    });
    // A child that exits before reading its input must not crash the test with EPIPE.
    child.stdin.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();

    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    }, timeoutMs);

    const onAbort = (): void => {
      child.kill('SIGTERM');
      clearTimeout(killTimer);
      killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });

    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, extra = ''): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + extra,
        timedOut,
        elapsedMs: Date.now() - started,
      });
    };
    child.once('error', (e) => finish(null, null, `\nspawn error: ${e.message}`));
    // 'close' (not 'exit') so that all output has been read.
    child.once('close', (code, signal) => finish(code, signal));
  });
}

/** Human-readable one-liner of a RunResult for assertion messages. */
export function describeRun(cmd: string, r: RunResult): string {
  const status = r.timedOut ? 'TIMED OUT' : `code=${r.code} signal=${r.signal}`;
  return `${cmd}: ${status} after ${r.elapsedMs} ms\n--- stdout ---\n${tail(r.stdout)}\n--- stderr ---\n${tail(r.stderr)}`;
}

function tail(s: string, max = 4000): string {
  return s.length > max ? `...${s.slice(-max)}` : s;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('freePort: no address'));
        return;
      }
      const port = addr.port;
      srv.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns a truthy value or `timeoutMs` passes (then returns undefined). */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() >= deadline) return undefined;
    await sleep(intervalMs);
  }
}
