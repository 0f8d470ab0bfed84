// A throw-away Ceph cluster: one monitor and one OSD (memstore: the data lives in the OSD's
// memory, no disk image, nothing to clean but the directory) on 127.0.0.1, on a monitor port and
// an OSD port range picked free, without systemd or containers. No manager: librbd and the
// pool/image commands used here do not need one, and it would cost another ~150 MB and seconds of
// Python start-up. One implementation for the benchmark's RBD rows and the tests
// (test/helpers/ceph.ts wraps it with the tests' process tracking and cleanup).
//
// Cost (2 vCPU, Ceph 16.2 from Debian 12): about 10 s to come up (keyrings, monitor mkfs, OSD
// mkfs, first PGs peering), ~90 MB of RSS for the two daemons plus the data written (memstore).
// Torn down with SIGKILL by PID (a Ceph daemon's clean shutdown can take many seconds and proves
// nothing here).
//
// Pitfalls of a hand-started cluster this works around: every `ceph`/`rbd` call has a hard
// timeout (a CLI waiting for an unreachable monitor otherwise waits for ever); daemons' output
// goes to files in the directory, never to a pipe nobody drains; the monitor's disk-space
// thresholds are lowered (it refuses to run on a nearly full disk); osd_memory_target is given at
// its floor (below 896 MiB it is ignored with a warning).
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describeRun, freePort, onPath, pollUntil, run, spawnTracked, waitExit, type RunResult } from './proc.js';

export interface CephCluster {
  dir: string;
  /** ceph.conf a client uses (monitor address, admin keyring). */
  conf: string;
  /** The admin client's keyring (also named in conf). */
  keyring: string;
  monPort: number;
  pool: string;
  /** The OSD's osd_client_watch_timeout, seconds: how long a dead client's watch (and so its exclusive lock) outlives it. */
  watchTimeoutS: number;
  /** `ceph ...` with this cluster's conf and a hard timeout. */
  ceph(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** `rbd ...` likewise. */
  rbd(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** Create an image of `bytes` in the pool; returns its name. */
  createImage(name: string, bytes: number): Promise<string>;
  /** qemu's own driver spec for an image: rbd:pool/image:conf=... */
  qemuSpec(image: string): string;
  monPid: number;
  osdPid: number;
  /** SIGKILL both daemons by PID and wait (bounded) for them. Idempotent. */
  stop(): Promise<void>;
}

export interface CephOptions {
  /** Where the cluster lives (conf, keyrings, monitor store, logs); the caller removes it. */
  dir: string;
  /** Bound on bring-up, ready-wait included. Default 90 s. */
  startTimeoutMs?: number;
  pool?: string;
  /**
   * osd_client_watch_timeout, seconds. A client that dies keeps its watch on an image's header,
   * and so its exclusive lock, about this long: what another gateway's first write waits for
   * after a kill -9. Default 15, what the README recommends for clusters behind iSCSI gateways
   * (Ceph's own default, 30, makes that wait about 27 s, at the edge of initiators' 30 s).
   */
  watchTimeoutS?: number;
  /** Called with each daemon right after it is spawned (the tests' own process tracking). */
  onDaemon?: (child: ChildProcess) => void;
}

/** The Ceph programs the sandbox runs. */
export const CEPH_PROGRAMS = ['ceph-mon', 'ceph-osd', 'ceph', 'ceph-authtool', 'monmaptool', 'rbd'];

/** The first Ceph program that is not installed (Debian: ceph-mon ceph-osd ceph-common), or null. */
export async function missingCephProgram(): Promise<string | null> {
  for (const p of CEPH_PROGRAMS) if (!(await onPath(p))) return p;
  return null;
}

const CLI_TIMEOUT_MS = 20_000;
/** osd_client_watch_timeout of the sandbox unless told otherwise (see CephOptions.watchTimeoutS). */
export const SANDBOX_WATCH_TIMEOUT_S = 15;

async function must(r: Promise<RunResult>, what: string): Promise<RunResult> {
  const res = await r;
  if (res.code !== 0) throw new Error(`ceph sandbox: ${what} failed\n${describeRun(what, res)}`);
  return res;
}

/** A range of `n` ports from `base` that were all free a moment ago (the OSD binds within it). */
async function freeRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error('ceph sandbox: no free port range for the OSD');
}

function portFree(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function daemon(dir: string, name: string, cmd: string, args: string[], onDaemon?: (c: ChildProcess) => void): Promise<ChildProcess> {
  const out = await open(join(dir, 'log', `${name}.out`), 'a');
  const child = spawnTracked(cmd, args, { stdio: ['ignore', out.fd, out.fd] });
  onDaemon?.(child);
  child.once('exit', () => void out.close().catch(() => undefined));
  child.once('error', () => void out.close().catch(() => undefined));
  return child;
}

function confText(o: { dir: string; fsid: string; monPort: number; osdBase: number; keyring: string; watchTimeoutS: number }): string {
  const { dir } = o;
  return [
    '[global]',
    `fsid = ${o.fsid}`,
    `mon host = v2:127.0.0.1:${o.monPort}`,
    'mon initial members = a',
    `public addr = 127.0.0.1`,
    `ms bind port min = ${o.osdBase}`,
    `ms bind port max = ${o.osdBase + 19}`,
    'ms bind ipv6 = false',
    'ms bind msgr1 = false',
    'auth cluster required = cephx',
    'auth service required = cephx',
    'auth client required = cephx',
    `keyring = ${o.keyring}`,
    `run dir = ${dir}/run`,
    `admin socket = ${dir}/run/$name.asok`,
    `pid file = ${dir}/run/$name.pid`,
    `log file = ${dir}/log/$name.log`,
    'log to stderr = false',
    'err to stderr = false',
    `mon data = ${dir}/mon/$cluster-$id`,
    `osd data = ${dir}/osd/$cluster-$id`,
    'osd objectstore = memstore',
    'memstore device bytes = 1073741824',
    'osd memory target = 939524096',
    'osd pool default size = 1',
    'osd pool default min size = 1',
    'osd pool default pg autoscale mode = off',
    'osd crush chooseleaf type = 0',
    'mon allow pool size one = true',
    'mon allow pool delete = true',
    'mon data avail crit = 1',
    'mon data avail warn = 2',
    'mon warn on pool no redundancy = false',
    'osd op num shards = 1',
    'osd op num threads per shard = 2',
    `osd client watch timeout = ${o.watchTimeoutS}`,
    'rbd cache = false',
    '',
    '[osd]',
    'keyring = $osd_data/keyring',
    '',
  ].join('\n');
}

export async function startCephSandbox(o: CephOptions): Promise<CephCluster> {
  const deadline = Date.now() + (o.startTimeoutMs ?? 90_000);
  const left = () => Math.max(1_000, deadline - Date.now());
  const { dir } = o;
  const pool = o.pool ?? 'rbd';
  const watchTimeoutS = o.watchTimeoutS ?? SANDBOX_WATCH_TIMEOUT_S;
  for (const d of ['log', 'run', 'mon/ceph-a', 'osd/ceph-0']) await mkdir(join(dir, d), { recursive: true });
  const monPort = await freePort();
  const osdBase = await freeRange(20);
  const fsid = randomUUID();
  const conf = join(dir, 'ceph.conf');
  const keyring = join(dir, 'ceph.client.admin.keyring');
  await writeFile(conf, confText({ dir, fsid, monPort, osdBase, keyring, watchTimeoutS }));
  const c = ['-c', conf];
  const tool = (cmd: string, timeoutMs = CLI_TIMEOUT_MS) => (args: string[]) => run(cmd, args, { timeoutMs });
  const ceph = (args: string[], timeoutMs = CLI_TIMEOUT_MS) => run('ceph', [...c, '--connect-timeout', '15', ...args], { timeoutMs });
  const rbd = (args: string[], timeoutMs = CLI_TIMEOUT_MS) => run('rbd', [...c, ...args], { timeoutMs });
  const authtool = tool('ceph-authtool');
  const monKeyring = join(dir, 'mon.keyring');
  await must(authtool(['--create-keyring', monKeyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']), 'mon keyring');
  await must(authtool(['--create-keyring', keyring, '--gen-key', '-n', 'client.admin', '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *']), 'admin keyring');
  await must(authtool([monKeyring, '--import-keyring', keyring]), 'import admin key');
  const monmap = join(dir, 'monmap');
  await must(tool('monmaptool')(['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, monmap]), 'monmap');
  await must(tool('ceph-mon')([...c, '--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', monKeyring]), 'ceph-mon --mkfs');

  const procs: ChildProcess[] = [];
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      for (const p of procs) if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) process.kill(p.pid, 'SIGKILL');
      await Promise.all(procs.map((p) => waitExit(p, 5_000)));
    })());
  try {
    const mon = await daemon(dir, 'mon', 'ceph-mon', [...c, '-f', '-i', 'a'], o.onDaemon);
    procs.push(mon);
    const monUp = await pollUntil(async () => (mon.exitCode !== null ? 'exited' : (await ceph(['mon', 'stat'], 10_000)).code === 0 ? 'up' : false), left(), 300);
    if (monUp !== 'up') throw new Error(`ceph-mon did not come up (${monUp ?? 'timeout'})`);

    const uuid = randomUUID();
    const id = (await must(ceph(['osd', 'new', uuid]), 'osd new')).stdout.trim();
    if (id !== '0') throw new Error(`ceph sandbox: osd new gave id ${id}`);
    await must(tool('ceph-osd', 60_000)([...c, '-i', '0', '--mkfs', '--mkkey', '--no-mon-config', '--osd-uuid', uuid]), 'ceph-osd --mkfs');
    await must(ceph(['auth', 'add', 'osd.0', 'osd', 'allow *', 'mon', 'allow profile osd', '-i', join(dir, 'osd/ceph-0/keyring')]), 'auth add osd.0');
    const osd = await daemon(dir, 'osd', 'ceph-osd', [...c, '-f', '-i', '0'], o.onDaemon);
    procs.push(osd);
    const osdUp = await pollUntil(
      async () => {
        if (osd.exitCode !== null) return 'exited';
        const r = await ceph(['osd', 'stat', '-f', 'json'], 10_000);
        if (r.code !== 0) return false;
        try {
          return (JSON.parse(r.stdout) as { num_up_osds?: number }).num_up_osds === 1 ? 'up' : false;
        } catch {
          return false;
        }
      },
      left(),
      300,
    );
    if (osdUp !== 'up') throw new Error(`ceph-osd did not come up (${osdUp ?? 'timeout'})`);
    await must(ceph(['osd', 'pool', 'create', pool, '8', '8']), 'pool create');
    await must(ceph(['osd', 'pool', 'application', 'enable', pool, 'rbd']), 'pool application enable');
    // The pool's PGs must have peered before an image can be made: a probe image, bounded.
    const ready = await pollUntil(async () => (await rbd(['create', '--size', '1M', `${pool}/probe`], 15_000)).code === 0, left(), 500);
    if (!ready) throw new Error('the pool did not become usable');
    await rbd(['rm', `${pool}/probe`], 15_000);
  } catch (e) {
    let tail = '';
    for (const f of ['mon.a.log', 'osd.0.log', 'mon.out', 'osd.out']) {
      const t = await readFile(join(dir, 'log', f), 'utf8').catch(() => '');
      tail += `--- ${f} ---\n${t.slice(-3000)}\n`;
    }
    await stop();
    throw new Error(`${(e as Error).message}\n--- ceph (${dir}) ---\n${tail}`);
  }
  return {
    dir,
    conf,
    keyring,
    monPort,
    pool,
    watchTimeoutS,
    ceph,
    rbd,
    monPid: procs[0]!.pid ?? -1,
    osdPid: procs[1]!.pid ?? -1,
    async createImage(name, bytes) {
      await must(rbd(['create', '--size', `${Math.ceil(bytes / 1024)}K`, `${pool}/${name}`]), `rbd create ${name}`);
      return name;
    },
    qemuSpec: (image) => `rbd:${pool}/${image}:conf=${conf}:id=admin:keyring=${keyring}`,
    stop,
  };
}
