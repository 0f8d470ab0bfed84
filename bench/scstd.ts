// scstd as a benchmark subject: writes its scst.conf, starts the built daemon (dist/), waits for
// it (bounded), and stops it by PID.
import { access, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDaemon, OutputTail, type BenchDaemon, type LunMap } from './daemon.js';
import { placed } from './pinning.js';
import { freePort, isRunning, spawnTracked, waitExit, waitForPort } from './proc.js';

// dist/bench/scstd.js -> the repository root.
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** bin/scstd: chooses node's options, then execs the entry point (same PID). */
const SCSTD_LAUNCHER = join(REPO_ROOT, 'bin', 'scstd');

/** The daemon entry point; SCSTD_BIN overrides it (to benchmark another build). */
export function scstdBinary(): string {
  return process.env.SCSTD_BIN ?? join(REPO_ROOT, 'dist', 'src', 'bin', 'scstd.js');
}

export async function assertScstdBuilt(): Promise<void> {
  try {
    await access(scstdBinary());
  } catch {
    throw new Error(`scstd is not built: ${scstdBinary()} is missing (run: npm run build)`);
  }
}

export interface ConfDevice {
  handler: 'vdisk_nullio' | 'vdisk_fileio' | 'vdisk_rbd';
  name: string;
  attrs: Record<string, string | number>;
}

/** scst.conf text (modern grammar) for one enabled iSCSI target with the given LUNs. */
export function scstConf(devices: ConfDevice[], targetName: string, luns: Array<[number, string]>): string {
  const lines: string[] = [];
  for (const handler of ['vdisk_nullio', 'vdisk_fileio', 'vdisk_rbd'] as const) {
    const devs = devices.filter((d) => d.handler === handler);
    if (devs.length === 0) continue;
    lines.push(`HANDLER ${handler} {`);
    for (const d of devs) {
      lines.push(`\tDEVICE ${d.name} {`);
      for (const [k, v] of Object.entries(d.attrs)) lines.push(`\t\t${k} ${v}`);
      lines.push('\t}');
    }
    lines.push('}', '');
  }
  lines.push('TARGET_DRIVER iscsi {', '\tenabled 1', '', `\tTARGET ${targetName} {`, '\t\tenabled 1');
  for (const [lun, dev] of luns) lines.push(`\t\tLUN ${lun} ${dev}`);
  lines.push('\t}', '}', '');
  return lines.join('\n');
}

export interface LaunchOptions {
  /** A private directory: scst.conf and the state directory go here. */
  dir: string;
  config: string;
  logLevel: 'info' | 'warn';
  /** Options for node itself, before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** More scstd options (e.g. --metrics ADDR:PORT). */
  extraArgs?: string[];
  readyTimeoutMs?: number;
  /**
   * Publish the management trees through FUSE at this directory (--mount); without it the daemon
   * runs with --no-mount. The caller owns the directory and checks it is unmounted after stop().
   */
  mount?: string;
}

export interface ScstdProcess {
  pid: number;
  port: number;
  /**
   * Spawn to ready: the `ready` log line at log level info, else the portal accepting a
   * connection (the daemon listens only once its whole configuration is applied).
   */
  readyMs: number;
  output(): string;
  alive(): boolean;
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>;
}

/** Starts scstd on a free 127.0.0.1 port and waits (bounded) until it serves. */
export async function launchScstd(o: LaunchOptions): Promise<ScstdProcess> {
  await assertScstdBuilt();
  const confPath = join(o.dir, 'scst.conf');
  const stateDir = join(o.dir, 'state');
  await mkdir(stateDir, { recursive: true });
  await writeFile(confPath, o.config);
  const port = await freePort();
  // Through the launcher, as an administrator starts it: it picks V8's start-up options for the
  // CPUs the daemon may use (under --pin, one).
  const args = ['--config', confPath, '--listen', `127.0.0.1:${port}`, '--state-dir', stateDir, ...(o.mount !== undefined ? ['--mount', o.mount] : ['--no-mount']), '--log-level', o.logLevel, ...(o.extraArgs ?? [])];
  const started = performance.now();
  const env = { ...process.env, SCSTD_ENTRY: scstdBinary(), SCSTD_NODE_ARGS: (o.nodeArgs ?? []).join(' ') };
  const child = spawnTracked(...placed('daemon', SCSTD_LAUNCHER, args), { cwd: o.dir, env });
  const tail = new OutputTail();
  let readyAt: number | null = null;
  let stdoutLine = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => {
    tail.push(s);
    if (readyAt !== null) return;
    stdoutLine += s;
    let nl: number;
    while ((nl = stdoutLine.indexOf('\n')) >= 0) {
      const line = stdoutLine.slice(0, nl);
      stdoutLine = stdoutLine.slice(nl + 1);
      if (/\bready\b/.test(line)) {
        readyAt = performance.now();
        stdoutLine = '';
        break;
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => tail.push(s));
  let spawnError: string | null = null;
  child.once('error', (e) => {
    spawnError = e.message;
  });

  const stop = (timeoutMs = 15_000) => {
    if (isRunning(child)) child.kill('SIGTERM');
    return waitExit(child, timeoutMs);
  };
  const timeoutMs = o.readyTimeoutMs ?? 60_000;
  const gone = (): boolean => spawnError !== null || !isRunning(child);
  let ok: boolean;
  if (o.logLevel === 'info') {
    const deadline = Date.now() + timeoutMs;
    while (readyAt === null && !gone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    ok = readyAt !== null;
  } else {
    ok = await waitForPort(port, timeoutMs, gone);
    readyAt = performance.now();
  }
  if (!ok) {
    const why = spawnError !== null ? `could not be started (${spawnError})` : !isRunning(child) ? `exited (code ${child.exitCode}, signal ${child.signalCode})` : `was not ready within ${timeoutMs} ms`;
    await stop(2_000);
    throw new Error(`scstd on port ${port} ${why}:\n${tail.get().slice(-3000)}`);
  }
  return {
    pid: child.pid!,
    port,
    readyMs: readyAt! - started,
    output: () => tail.get(),
    alive: () => isRunning(child),
    stop,
  };
}

export interface ScstdBenchOptions {
  dir: string;
  nullioSizeBytes: number;
  imagePath: string;
  /** A second image for the fileio2 LUN (LUN 2); none when absent. */
  image2Path?: string;
  targetName?: string;
  /** Options for node itself (the profile run passes --cpu-prof). */
  nodeArgs?: string[];
  /** More scstd options (the metrics rows pass --metrics). */
  extraArgs?: string[];
  /** Publish the management tree here (default: --no-mount). */
  mount?: string;
}

/**
 * scstd with the benchmark's LUNs: vdisk_nullio at LUN 0, vdisk_fileio at LUN 1, and with a
 * second image a second vdisk_fileio at LUN 2.
 */
export async function startScstdBench(o: ScstdBenchOptions): Promise<BenchDaemon> {
  const targetName = o.targetName ?? 'iqn.2026-11.org.scst-usermode.bench:scstd';
  const luns: LunMap = { nullio: 0, fileio: 1, ...(o.image2Path !== undefined ? { fileio2: 2 } : {}) };
  const devices: ConfDevice[] = [
    { handler: 'vdisk_nullio', name: 'bench_null', attrs: { size: o.nullioSizeBytes } },
    { handler: 'vdisk_fileio', name: 'bench_file', attrs: { filename: o.imagePath } },
  ];
  const lunList: Array<[number, string]> = [
    [luns.nullio, 'bench_null'],
    [luns.fileio, 'bench_file'],
  ];
  if (o.image2Path !== undefined) {
    devices.push({ handler: 'vdisk_fileio', name: 'bench_file2', attrs: { filename: o.image2Path } });
    lunList.push([luns.fileio2!, 'bench_file2']);
  }
  const config = scstConf(devices, targetName, lunList);
  // The brief runs it at warn: no per-login info lines competing for the event loop.
  const p = await launchScstd({ dir: o.dir, config, logLevel: 'warn', nodeArgs: o.nodeArgs, extraArgs: o.extraArgs, mount: o.mount });
  return benchDaemon('scstd', p, targetName, luns);
}

export interface ScstdRbdBenchOptions {
  dir: string;
  /** The image's pool, name, and the client's ceph.conf and keyring. */
  pool: string;
  image: string;
  conf: string;
  keyring: string;
  targetName?: string;
}

/** scstd with one vdisk_rbd LUN (LUN 0): the benchmark's RBD rows. */
export async function startScstdRbdBench(o: ScstdRbdBenchOptions): Promise<BenchDaemon> {
  const targetName = o.targetName ?? 'iqn.2026-12.org.scst-usermode.bench:scstd-rbd';
  const luns: LunMap = { nullio: -1, fileio: -1, rbd: 0 };
  const config = scstConf([{ handler: 'vdisk_rbd', name: 'bench_rbd', attrs: { pool: o.pool, image: o.image, conf: o.conf, keyring: o.keyring } }], targetName, [[0, 'bench_rbd']]);
  const p = await launchScstd({ dir: o.dir, config, logLevel: 'warn' });
  return benchDaemon('scstd', p, targetName, luns);
}
