// Starts the scstd daemon under test (built JS in dist/), follows its pino JSON log, and stops it
// by PID. Every daemon started here is stopped by the cleanup registry, even when a test fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addDiagnostic, onCleanup } from './cleanup.js';
import { tmpDir } from './files.js';
import { freePort, run, track, waitExit, type RunResult } from './proc.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The daemon entry point; SCSTD_BIN overrides it (e.g. to run the suite against another build). */
export function scstdBinary(): string {
  return process.env.SCSTD_BIN ?? join(REPO_ROOT, 'dist', 'src', 'bin', 'scstd.js');
}

export async function assertScstdBuilt(): Promise<void> {
  try {
    await access(scstdBinary());
  } catch {
    throw new Error(`scstd is not built: ${scstdBinary()} is missing (run: npx tsc -p .)`);
  }
}

export interface ScstdOptions {
  /** scst.conf text. */
  config: string;
  /** Ports to listen on (127.0.0.1); one fresh port when absent. */
  listen?: number[];
  extraArgs?: string[];
  /** Reuse a state dir (restart tests); a fresh temporary one when absent. */
  stateDir?: string;
  /** Where to write `config`; a file in a fresh temporary directory when absent. */
  configPath?: string;
  logLevel?: string;
  readyTimeoutMs?: number;
  /** Daemon entry point to run instead of scstdBinary() (the harness's own tests use a fake). */
  bin?: string;
  /** Extra environment for the daemon, merged over process.env. */
  env?: Record<string, string>;
}

export interface LogLine {
  raw: string;
  /** Parsed JSON, or null for a line that is not JSON. */
  json: Record<string, unknown> | null;
  msg: string;
  /** Arrival time (ms since epoch) as seen by the harness. */
  at: number;
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  elapsedMs: number;
  /** The daemon had to be SIGKILLed because it did not exit within the limit. */
  timedOut: boolean;
}

export interface ExitBalance {
  commands: number;
  poolBuffers: number;
}

export interface ScstdHandle {
  ports: number[];
  stateDir: string;
  configPath: string;
  pid: number;
  logs(): LogLine[];
  stderr(): string;
  /** Resolves with the first line (past or future) whose raw text or msg matches `re`. */
  waitForLog(re: RegExp, ms: number): Promise<LogLine>;
  stop(signal?: NodeJS.Signals, ms?: number): Promise<StopResult>;
  kill9(): Promise<void>;
  exited(): boolean;
  /** Parsed from the last `exit balance` log line, null if there is none. */
  exitBalance(): ExitBalance | null;
  /** The last lines of log and stderr, for failure messages. */
  recentOutput(lines?: number): string;
}

const EXIT_BALANCE_RE = /exit balance: commands (\d+), pool buffers (\d+)/;
const MAX_LOG_LINES = 50_000;

function parseLine(raw: string): LogLine {
  let json: Record<string, unknown> | null = null;
  try {
    const v: unknown = JSON.parse(raw);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>;
  } catch {
    // plain text line
  }
  const msg = json && typeof json.msg === 'string' ? json.msg : raw;
  return { raw, json, msg, at: Date.now() };
}

function buildArgs(configPath: string, ports: number[], stateDir: string, o: ScstdOptions): string[] {
  const args = [o.bin ?? scstdBinary(), '--config', configPath];
  for (const p of ports) args.push('--listen', `127.0.0.1:${p}`);
  args.push('--no-mount', '--state-dir', stateDir, '--log-level', o.logLevel ?? 'info');
  return args.concat(o.extraArgs ?? []);
}

async function prepare(o: ScstdOptions): Promise<{ configPath: string; stateDir: string; ports: number[] }> {
  if (o.bin === undefined) await assertScstdBuilt();
  const stateDir = o.stateDir ?? (await tmpDir('scstd-state-'));
  const configPath = o.configPath ?? join(await tmpDir('scstd-conf-'), 'scst.conf');
  await writeFile(configPath, o.config);
  const ports = o.listen && o.listen.length > 0 ? o.listen : [await freePort()];
  return { configPath, stateDir, ports };
}

/** Starts scstd and waits (bounded) for its `ready` log line. */
export async function startScstd(o: ScstdOptions): Promise<ScstdHandle> {
  const { configPath, stateDir, ports } = await prepare(o);
  const child: ChildProcess = spawn(process.execPath, buildArgs(configPath, ports, stateDir, o), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: o.env ? { ...process.env, ...o.env } : process.env,
  });
  track(child);
  const lines: LogLine[] = [];
  let stderrText = '';
  let partial = '';
  const waiters: Array<{ re: RegExp; resolve: (l: LogLine) => void }> = [];

  const onLine = (l: LogLine): void => {
    lines.push(l);
    if (lines.length > MAX_LOG_LINES) lines.splice(0, lines.length - MAX_LOG_LINES);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.re.test(l.raw) || w.re.test(l.msg)) {
        waiters.splice(i, 1);
        w.resolve(l);
      }
    }
  };
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => {
    partial += s;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const raw = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (raw.trim() !== '') onLine(parseLine(raw));
    }
  });
  child.stdout!.on('end', () => {
    if (partial.trim() !== '') onLine(parseLine(partial));
    partial = '';
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderrText += s;
    if (stderrText.length > 1_000_000) stderrText = stderrText.slice(-500_000);
  });

  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitedP = new Promise<void>((res) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      res();
    });
    child.once('error', (e) => {
      stderrText += `\nspawn error: ${e.message}`;
      exitInfo = { code: null, signal: null };
      res();
    });
  });

  const recentOutput = (n = 60): string =>
    `--- scstd (pid ${child.pid}, ports ${ports.join(',')}) last ${n} log lines ---\n` +
    lines
      .slice(-n)
      .map((l) => l.raw)
      .join('\n') +
    `\n--- scstd stderr ---\n${stderrText.slice(-4000)}`;

  const waitForLog = (re: RegExp, ms: number): Promise<LogLine> => {
    const seen = lines.find((l) => re.test(l.raw) || re.test(l.msg));
    if (seen) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      const w = {
        re,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          res(l);
        },
      };
      const timer = setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
        rej(new Error(`no scstd log line matching ${re} within ${ms} ms\n${recentOutput()}`));
      }, ms);
      waiters.push(w);
    });
  };

  let stopping: Promise<StopResult> | null = null;
  const stop = (signal: NodeJS.Signals = 'SIGTERM', ms = 10_000): Promise<StopResult> => {
    if (stopping) return stopping;
    const started = Date.now();
    stopping = (async () => {
      if (exitInfo === null) child.kill(signal);
      const r = await waitExit(child, ms);
      await exitedP;
      return { code: r.code, signal: r.signal, elapsedMs: Date.now() - started, timedOut: r.timedOut };
    })();
    return stopping;
  };

  const handle: ScstdHandle = {
    ports,
    stateDir,
    configPath,
    pid: child.pid ?? -1,
    logs: () => lines.slice(),
    stderr: () => stderrText,
    waitForLog,
    stop,
    kill9: async () => {
      await stop('SIGKILL', 5_000);
    },
    exited: () => exitInfo !== null,
    exitBalance: () => {
      for (let i = lines.length - 1; i >= 0; i--) {
        const m = EXIT_BALANCE_RE.exec(lines[i]!.msg) ?? EXIT_BALANCE_RE.exec(lines[i]!.raw);
        if (m) return { commands: Number(m[1]), poolBuffers: Number(m[2]) };
      }
      return null;
    },
    recentOutput,
  };

  const dropDiagnostic = addDiagnostic(() => recentOutput());
  onCleanup(`stop scstd pid ${child.pid}`, async () => {
    try {
      await stop('SIGTERM', 10_000);
    } finally {
      dropDiagnostic();
    }
  });

  const readyTimeoutMs = o.readyTimeoutMs ?? 20_000;
  let readyTimer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    waitForLog(/\bready\b/, readyTimeoutMs).then(
      () => 'ready' as const,
      () => 'timeout' as const,
    ),
    exitedP.then(() => 'exited' as const),
    new Promise<'timeout'>((res) => {
      readyTimer = setTimeout(() => res('timeout'), readyTimeoutMs + 1_000);
    }),
  ]);
  clearTimeout(readyTimer);
  if (outcome !== 'ready') {
    await stop('SIGKILL', 5_000);
    const why = outcome === 'exited' ? `exited early (${JSON.stringify(exitInfo)})` : `not ready within ${readyTimeoutMs} ms`;
    throw new Error(`scstd ${why}\n${recentOutput()}`);
  }
  return handle;
}

export interface ScstdRunOnceOptions extends ScstdOptions {
  timeoutMs?: number;
}

/**
 * Runs scstd expecting it to exit by itself (config errors): returns its exit status and output.
 * A daemon that does start is stopped when `timeoutMs` runs out.
 */
export async function runScstdOnce(o: ScstdRunOnceOptions): Promise<RunResult> {
  const { configPath, stateDir, ports } = await prepare(o);
  return run(process.execPath, buildArgs(configPath, ports, stateDir, o), {
    timeoutMs: o.timeoutMs ?? 15_000,
  });
}
