// tgt's tgtd as a reference iSCSI target: validates the harness today and serves side-by-side
// conformance and benchmark runs. Each instance gets its own portal and control port (its unix
// socket /run/tgtd/socket.<N>), so several coexist; it is stopped through its own control socket,
// and by PID if that fails.
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { addDiagnostic, onCleanup } from './cleanup.js';
import { sparseFile, tmpDir } from './files.js';
import { describeRun, freePort, pollUntil, run, track, waitExit, type RunResult } from './proc.js';
import type { StopResult } from './scstd.js';

export interface TgtdLun {
  /**
   * A backing file or block device, or 'null' for tgt's null backing store (fixed ~1 TiB).
   * Absent: a sparse file of `size` bytes in a temporary directory.
   */
  path?: string;
  /** With a file path, the file is created (sparse) or resized to this size. */
  size?: number;
  blockSize?: number;
}

export interface TgtdChap {
  incoming?: { user: string; password: string };
  outgoing?: { user: string; password: string };
}

export interface TgtdOptions {
  port?: number;
  luns: TgtdLun[];
  /** Initiator names allowed; every initiator (by address ALL) when absent. */
  initiatorAllow?: string[];
  chap?: TgtdChap;
  targetName?: string;
  /** Target parameters set with `tgtadm --op update` (MaxBurstLength, HeaderDigest, ...). */
  params?: Record<string, string | number>;
}

export interface TgtdHandle {
  port: number;
  controlPort: number;
  pid: number;
  targetName: string;
  /** LUN numbers of `luns`, in order (LUN 0 is tgt's own controller LU). */
  luns: number[];
  tgtadm(args: string[]): Promise<RunResult>;
  output(): string;
  stop(ms?: number): Promise<StopResult>;
}

const TID = '1';
const SOCKET_DIR = '/run/tgtd';

function tgtadmRunner(controlPort: number) {
  return (args: string[]): Promise<RunResult> =>
    run('tgtadm', ['-C', String(controlPort), '--lld', 'iscsi', ...args], { timeoutMs: 15_000 });
}

async function must(p: Promise<RunResult>, what: string): Promise<void> {
  const r = await p;
  if (r.code !== 0) throw new Error(describeRun(`tgtadm ${what}`, r));
}

// tgtd accepts control ports 0..32767 only, so they cannot simply follow the portal port.
const CONTROL_PORT_MIN = 1024;
const CONTROL_PORT_SPAN = 32767 - CONTROL_PORT_MIN;

async function controlPortInUse(n: number): Promise<boolean> {
  try {
    await access(join(SOCKET_DIR, `socket.${n}.lock`));
    return true;
  } catch {
    return false;
  }
}

async function pickControlPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const n = CONTROL_PORT_MIN + randomInt(CONTROL_PORT_SPAN);
    if (!(await controlPortInUse(n))) return n;
  }
  throw new Error(`no free tgtd control port (too many ${SOCKET_DIR}/socket.*.lock files?)`);
}

export async function startTgtd(o: TgtdOptions): Promise<TgtdHandle> {
  const port = o.port ?? (await freePort());
  const controlPort = await pickControlPort();
  const targetName = o.targetName ?? `iqn.2026-11.test.tgtd:t${port}`;
  const child = spawn('tgtd', ['-f', '-C', String(controlPort), '--iscsi', `portal=127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  const collect = (b: Buffer): void => {
    out += b.toString('utf8');
    if (out.length > 1_000_000) out = out.slice(-500_000);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const tgtadm = tgtadmRunner(controlPort);

  // tgtd ignores SIGTERM and SIGINT; it exits on `--mode system --op delete` once it has no
  // targets. SIGKILL (by PID) is the fallback.
  let stopping: Promise<StopResult> | null = null;
  const stop = (ms = 10_000): Promise<StopResult> => {
    if (stopping) return stopping;
    const started = Date.now();
    stopping = (async () => {
      if (!exited) {
        await run('tgtadm', ['-C', String(controlPort), '--lld', 'iscsi', '--mode', 'target', '--op', 'delete', '--force', '--tid', TID], { timeoutMs: 5_000 });
        await run('tgtadm', ['-C', String(controlPort), '--mode', 'system', '--op', 'delete'], { timeoutMs: 5_000 });
      }
      const r = await waitExit(child, Math.max(1_000, ms - (Date.now() - started)));
      for (const f of [`socket.${controlPort}`, `socket.${controlPort}.lock`]) {
        await rm(join(SOCKET_DIR, f), { force: true });
      }
      return { code: r.code, signal: r.signal, elapsedMs: Date.now() - started, timedOut: r.timedOut };
    })();
    return stopping;
  };
  const dropDiagnostic = addDiagnostic(() => `--- tgtd (pid ${child.pid}, port ${port}) ---\n${out.slice(-4000)}`);
  onCleanup(`stop tgtd pid ${child.pid}`, async () => {
    try {
      await stop();
    } finally {
      dropDiagnostic();
    }
  });

  const up = await pollUntil(async () => {
    if (exited) return 'exited';
    const r = await tgtadm(['--mode', 'target', '--op', 'show']);
    return r.code === 0 ? 'up' : false;
  }, 10_000);
  if (up !== 'up') {
    await stop(2_000);
    throw new Error(`tgtd did not come up on port ${port} (control port ${controlPort}):\n${out.slice(-4000)}`);
  }

  await must(tgtadm(['--mode', 'target', '--op', 'new', '--tid', TID, '--targetname', targetName]), 'target new');
  for (const [k, v] of Object.entries(o.params ?? {})) {
    await must(tgtadm(['--mode', 'target', '--op', 'update', '--tid', TID, '--name', k, '--value', String(v)]), `update ${k}`);
  }
  const luns: number[] = [];
  let backingDir: string | undefined;
  for (const [i, l] of o.luns.entries()) {
    const lun = i + 1;
    const args = ['--mode', 'logicalunit', '--op', 'new', '--tid', TID, '--lun', String(lun)];
    if (l.path === 'null') {
      args.push('--bstype', 'null', '--backing-store', '/dev/null');
    } else {
      let path = l.path;
      if (path === undefined) {
        if (l.size === undefined) throw new Error(`tgtd LUN ${lun}: give a path or a size`);
        backingDir ??= await tmpDir('tgtd-lun-');
        path = join(backingDir, `lun${lun}.img`);
      }
      if (l.size !== undefined) await sparseFile(path, l.size);
      args.push('--backing-store', path);
    }
    if (l.blockSize !== undefined) args.push('--blocksize', String(l.blockSize));
    await must(tgtadm(args), `logicalunit new ${lun}`);
    luns.push(lun);
  }
  if (o.initiatorAllow && o.initiatorAllow.length > 0) {
    for (const name of o.initiatorAllow) {
      await must(tgtadm(['--mode', 'target', '--op', 'bind', '--tid', TID, '--initiator-name', name]), 'bind name');
    }
  } else {
    await must(tgtadm(['--mode', 'target', '--op', 'bind', '--tid', TID, '--initiator-address', 'ALL']), 'bind ALL');
  }
  const chapAccounts: Array<[{ user: string; password: string }, boolean]> = [];
  if (o.chap?.incoming) chapAccounts.push([o.chap.incoming, false]);
  if (o.chap?.outgoing) chapAccounts.push([o.chap.outgoing, true]);
  for (const [acct, outgoing] of chapAccounts) {
    await must(tgtadm(['--mode', 'account', '--op', 'new', '--user', acct.user, '--password', acct.password]), 'account new');
    const bind = ['--mode', 'account', '--op', 'bind', '--tid', TID, '--user', acct.user];
    if (outgoing) bind.push('--outgoing');
    await must(tgtadm(bind), 'account bind');
  }

  return {
    port,
    controlPort,
    pid: child.pid ?? -1,
    targetName,
    luns,
    tgtadm,
    output: () => out,
    stop,
  };
}
