// tgt's tgtd as the reference daemon: started in the foreground on its own portal and control
// port, configured with tgtadm, stopped through its control socket and then by PID (tgtd ignores
// SIGTERM).
import { randomInt } from 'node:crypto';
import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { benchDaemon, OutputTail, type BenchDaemon, type LunMap } from './daemon.js';
import { placed } from './pinning.js';
import { describeRun, freePort, isRunning, onPath, pollUntil, run, spawnTracked, waitExit, type RunResult } from './proc.js';

const TID = '1';
const SOCKET_DIR = '/run/tgtd';
// tgtd takes control ports 0..32767 only; each one is a unix socket /run/tgtd/socket.N.
const CONTROL_PORT_MIN = 1024;
const CONTROL_PORT_MAX = 32767;

/** True when tgtd and tgtadm can be started. */
export async function tgtdAvailable(): Promise<boolean> {
  return (await onPath('tgtd')) && (await onPath('tgtadm'));
}


async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function pickControlPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const n = CONTROL_PORT_MIN + randomInt(CONTROL_PORT_MAX - CONTROL_PORT_MIN);
    if (!(await exists(join(SOCKET_DIR, `socket.${n}`))) && !(await exists(join(SOCKET_DIR, `socket.${n}.lock`)))) return n;
  }
  throw new Error(`no free tgtd control port (too many ${SOCKET_DIR}/socket.* files?)`);
}

export type TgtdLun = { kind: 'null' } | { kind: 'file'; path: string } | { kind: 'rbd'; pool: string; image: string; conf: string };

export interface TgtdProcess {
  pid: number;
  port: number;
  controlPort: number;
  targetName: string;
  /** LUN numbers of the given LUNs, in order (LUN 0 is tgtd's own controller LU). */
  luns: number[];
  /** Spawn until the last LUN was added and the target bound. */
  setupMs: number;
  tgtadm(args: string[]): Promise<RunResult>;
  output(): string;
  alive(): boolean;
  stop(): Promise<void>;
}

/** Starts tgtd with one target holding `luns`, open to every initiator address. */
export async function launchTgtd(luns: TgtdLun[], targetName: string): Promise<TgtdProcess> {
  const port = await freePort();
  const controlPort = await pickControlPort();
  const started = performance.now();
  const child = spawnTracked(...placed('daemon', 'tgtd', ['-f', '-C', String(controlPort), '--iscsi', `portal=127.0.0.1:${port}`]));
  const tail = new OutputTail();
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => tail.push(s));
  child.stderr!.on('data', (s: string) => tail.push(s));
  let spawnError: string | null = null;
  child.once('error', (e) => {
    spawnError = e.message;
  });
  const tgtadm = (args: string[]): Promise<RunResult> => run('tgtadm', ['-C', String(controlPort), '--lld', 'iscsi', ...args], { timeoutMs: 15_000 });

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (isRunning(child)) {
        await tgtadm(['--mode', 'target', '--op', 'delete', '--force', '--tid', TID]);
        await run('tgtadm', ['-C', String(controlPort), '--mode', 'system', '--op', 'delete'], { timeoutMs: 5_000 });
      }
      // Without targets tgtd exits on `system delete`; SIGKILL by PID if it does not.
      await waitExit(child, 3_000);
      for (const f of [`socket.${controlPort}`, `socket.${controlPort}.lock`]) await rm(join(SOCKET_DIR, f), { force: true });
    })();
    return stopping;
  };

  try {
    const up = await pollUntil(async () => {
      if (spawnError !== null || !isRunning(child)) return 'gone';
      const r = await tgtadm(['--mode', 'target', '--op', 'show']);
      return r.code === 0 ? 'up' : false;
    }, 10_000);
    if (up !== 'up') throw new Error(`tgtd did not come up on port ${port}${spawnError ? ` (${spawnError})` : ''}:\n${tail.get().slice(-3000)}`);
    const must = async (args: string[], what: string): Promise<void> => {
      const r = await tgtadm(args);
      if (r.code !== 0) throw new Error(describeRun(`tgtadm ${what}`, r));
    };
    await must(['--mode', 'target', '--op', 'new', '--tid', TID, '--targetname', targetName], 'target new');
    const numbers: number[] = [];
    for (const [i, l] of luns.entries()) {
      const lun = i + 1;
      const args = ['--mode', 'logicalunit', '--op', 'new', '--tid', TID, '--lun', String(lun)];
      if (l.kind === 'null') args.push('--bstype', 'null', '--backing-store', '/dev/null');
      else if (l.kind === 'rbd') args.push('--bstype', 'rbd', '--backing-store', `${l.pool}/${l.image}`, '--bsopts', `conf=${l.conf}`);
      else args.push('--backing-store', l.path);
      await must(args, `logicalunit new ${lun}`);
      numbers.push(lun);
    }
    await must(['--mode', 'target', '--op', 'bind', '--tid', TID, '--initiator-address', 'ALL'], 'bind ALL');
    return {
      pid: child.pid!,
      port,
      controlPort,
      targetName,
      luns: numbers,
      setupMs: performance.now() - started,
      tgtadm,
      output: () => tail.get(),
      alive: () => isRunning(child),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * tgtd with the benchmark's LUNs: the null backing store at LUN 1, the image at LUN 2, and a
 * second image (when given) at LUN 3.
 */
export async function startTgtdBench(imagePath: string, image2Path?: string, targetName = 'iqn.2026-11.org.scst-usermode.bench:tgtd'): Promise<BenchDaemon> {
  const lunList: TgtdLun[] = [{ kind: 'null' }, { kind: 'file', path: imagePath }];
  if (image2Path !== undefined) lunList.push({ kind: 'file', path: image2Path });
  const p = await launchTgtd(lunList, targetName);
  const luns: LunMap = { nullio: p.luns[0]!, fileio: p.luns[1]!, ...(image2Path !== undefined ? { fileio2: p.luns[2]! } : {}) };
  return benchDaemon('tgtd', p, targetName, luns);
}

/** tgtd with one LUN on an RBD image through tgt's rbd backing store (Debian: tgt-rbd). */
export async function startTgtdRbdBench(lun: { pool: string; image: string; conf: string }, targetName = 'iqn.2026-12.org.scst-usermode.bench:tgtd-rbd'): Promise<BenchDaemon> {
  const p = await launchTgtd([{ kind: 'rbd', ...lun }], targetName);
  const luns: LunMap = { nullio: -1, fileio: -1, rbd: p.luns[0]! };
  return benchDaemon('tgtd', p, targetName, luns);
}
