// A throw-away Ceph cluster for the RBD tests: one monitor and one OSD (memstore: the data lives
// in the OSD's memory, no disk image, nothing to clean but a temporary directory) on 127.0.0.1,
// on a monitor port and an OSD port range the test picks, without systemd or containers. No
// manager: librbd and the pool/image commands used here do not need one, and it would cost
// another ~150 MB and seconds of Python start-up.
//
// Cost (2 vCPU, Ceph 16.2 from Debian 12): about 10 s to come up (keyrings, monitor mkfs, OSD
// mkfs, first PGs peering), ~90 MB of RSS for the two daemons plus the data written (memstore). So a test file starts it once in
// beforeAll and shares it between its tests (one image per test); it is torn down with SIGKILL by
// PID (a Ceph daemon's clean shutdown can take many seconds and proves nothing here).
//
// Pitfalls of a hand-started cluster this works around: every `ceph`/`rbd` call has a hard
// timeout (a CLI waiting for an unreachable monitor otherwise waits for ever); daemons' output
// goes to files in the directory, never to a pipe nobody drains; the monitor's disk-space
// thresholds are lowered (it refuses to run on a nearly full disk); osd_memory_target is given at
// its floor (below 896 MiB it is ignored with a warning).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addDiagnostic, onCleanup } from './cleanup.js';
import { tmpDir } from './files.js';
import { describeRun, freePort, pollUntil, run, track, waitExit, type RunResult } from './proc.js';

export interface CephCluster {
  dir: string;
  /** ceph.conf a client uses (monitor address, admin keyring). */
  conf: string;
  /** The admin client's keyring (also named in conf). */
  keyring: string;
  monPort: number;
  pool: string;
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
  stop(): Promise<void>;
}

export interface CephOptions {
  /** Bound on bring-up, ready-wait included. Default 90 s. */
  startTimeoutMs?: number;
  pool?: string;
}

/** The Ceph programs this fixture runs; tests skip with this list when one is missing. */
export const CEPH_PROGRAMS = ['ceph-mon', 'ceph-osd', 'ceph', 'ceph-authtool', 'monmaptool', 'rbd'];

/** Whether the Ceph daemons and tools are installed (Debian: ceph-mon ceph-osd ceph-common). */
export async function cephAvailable(): Promise<boolean> {
  for (const p of CEPH_PROGRAMS) {
    const r = await run('sh', ['-c', `command -v ${p}`], { timeoutMs: 5_000 });
    if (r.code !== 0) return false;
  }
  return true;
}

const CLI_TIMEOUT_MS = 20_000;

async function must(r: Promise<RunResult>, what: string): Promise<RunResult> {
  const res = await r;
  if (res.code !== 0) throw new Error(`ceph fixture: ${what} failed\n${describeRun(what, res)}`);
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
  throw new Error('ceph fixture: no free port range for the OSD');
}

function portFree(port: number): Promise<boolean> {
  return import('node:net').then(
    ({ createServer }) =>
      new Promise<boolean>((resolve) => {
        const s = createServer();
        s.unref();
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
      }),
  );
}

async function daemon(dir: string, name: string, cmd: string, args: string[]): Promise<ChildProcess> {
  const out = await open(join(dir, 'log', `${name}.out`), 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', out.fd, out.fd] });
  track(child);
  child.once('exit', () => void out.close().catch(() => undefined));
  child.once('error', () => void out.close().catch(() => undefined));
  return child;
}

export async function startCeph(o: CephOptions = {}): Promise<CephCluster> {
  const started = Date.now();
  const deadline = started + (o.startTimeoutMs ?? 90_000);
  const left = () => Math.max(1_000, deadline - Date.now());
  const dir = await tmpDir('ceph-');
  const pool = o.pool ?? 'rbd';
  for (const d of ['log', 'run', 'mon/ceph-a', 'osd/ceph-0']) await mkdir(join(dir, d), { recursive: true });
  const monPort = await freePort();
  const osdBase = await freeRange(20);
  const fsid = randomUUID();
  const conf = join(dir, 'ceph.conf');
  const keyring = join(dir, 'ceph.client.admin.keyring');
  await writeFile(
    conf,
    [
      '[global]',
      `fsid = ${fsid}`,
      `mon host = v2:127.0.0.1:${monPort}`,
      'mon initial members = a',
      `public addr = 127.0.0.1`,
      `ms bind port min = ${osdBase}`,
      `ms bind port max = ${osdBase + 19}`,
      'ms bind ipv6 = false',
      'ms bind msgr1 = false',
      'auth cluster required = cephx',
      'auth service required = cephx',
      'auth client required = cephx',
      `keyring = ${keyring}`,
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
      'rbd cache = false',
      '',
      '[osd]',
      'keyring = $osd_data/keyring',
      '',
    ].join('\n'),
  );
  const c = ['-c', conf];
  const cli = (cmd: string) => (args: string[], timeoutMs = CLI_TIMEOUT_MS) => run(cmd, [...c, '--connect-timeout', '15', ...args], { timeoutMs });
  const ceph = cli('ceph');
  const rbdNoTimeoutOpt = (args: string[], timeoutMs = CLI_TIMEOUT_MS) => run('rbd', [...c, ...args], { timeoutMs });
  const monKeyring = join(dir, 'mon.keyring');
  await must(run('ceph-authtool', ['--create-keyring', monKeyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *'], { timeoutMs: CLI_TIMEOUT_MS }), 'mon keyring');
  await must(
    run('ceph-authtool', ['--create-keyring', keyring, '--gen-key', '-n', 'client.admin', '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *'], { timeoutMs: CLI_TIMEOUT_MS }),
    'admin keyring',
  );
  await must(run('ceph-authtool', [monKeyring, '--import-keyring', keyring], { timeoutMs: CLI_TIMEOUT_MS }), 'import admin key');
  const monmap = join(dir, 'monmap');
  await must(run('monmaptool', ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, monmap], { timeoutMs: CLI_TIMEOUT_MS }), 'monmap');
  await must(run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', monKeyring], { timeoutMs: CLI_TIMEOUT_MS }), 'ceph-mon --mkfs');

  const procs: ChildProcess[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => waitExit(p, 5_000)));
  };
  const dropCleanup = onCleanup(`stop ceph in ${dir}`, stop);
  const dropDiag = addDiagnostic(() => `--- ceph (${dir}) ---\n${diagTail}`);
  let diagTail = '';
  const collectDiag = async () => {
    for (const f of ['mon.a.log', 'osd.0.log', 'mon.out', 'osd.out']) {
      const t = await readFile(join(dir, 'log', f), 'utf8').catch(() => '');
      diagTail += `--- ${f} ---\n${t.slice(-3000)}\n`;
    }
  };
  try {
    const mon = await daemon(dir, 'mon', 'ceph-mon', [...c, '-f', '-i', 'a']);
    procs.push(mon);
    const monUp = await pollUntil(async () => (mon.exitCode !== null ? 'exited' : (await ceph(['mon', 'stat'], 10_000)).code === 0 ? 'up' : false), left(), 300);
    if (monUp !== 'up') throw new Error(`ceph-mon did not come up (${monUp ?? 'timeout'})`);

    const uuid = randomUUID();
    const id = (await must(ceph(['osd', 'new', uuid]), 'osd new')).stdout.trim();
    if (id !== '0') throw new Error(`ceph fixture: osd new gave id ${id}`);
    await must(run('ceph-osd', [...c, '-i', '0', '--mkfs', '--mkkey', '--no-mon-config', '--osd-uuid', uuid], { timeoutMs: 60_000 }), 'ceph-osd --mkfs');
    await must(ceph(['auth', 'add', 'osd.0', 'osd', 'allow *', 'mon', 'allow profile osd', '-i', join(dir, 'osd/ceph-0/keyring')]), 'auth add osd.0');
    const osd = await daemon(dir, 'osd', 'ceph-osd', [...c, '-f', '-i', '0']);
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
    const ready = await pollUntil(async () => (await rbdNoTimeoutOpt(['create', '--size', '1M', `${pool}/probe`], 15_000)).code === 0, left(), 500);
    if (!ready) throw new Error('the pool did not become usable');
    await rbdNoTimeoutOpt(['rm', `${pool}/probe`], 15_000);
  } catch (e) {
    await collectDiag();
    await stop();
    dropCleanup();
    dropDiag();
    throw new Error(`${(e as Error).message}\n${diagTail}`);
  }
  const cluster: CephCluster = {
    dir,
    conf,
    keyring,
    monPort,
    pool,
    ceph,
    rbd: rbdNoTimeoutOpt,
    monPid: procs[0]!.pid ?? -1,
    osdPid: procs[1]!.pid ?? -1,
    async createImage(name, bytes) {
      await must(rbdNoTimeoutOpt(['create', '--size', `${Math.ceil(bytes / 1024)}K`, `${pool}/${name}`]), `rbd create ${name}`);
      return name;
    },
    qemuSpec: (image) => `rbd:${pool}/${image}:conf=${conf}:id=admin:keyring=${keyring}`,
    stop,
  };
  return cluster;
}
