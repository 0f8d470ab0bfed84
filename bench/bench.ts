#!/usr/bin/env node
// `npm run bench`: scstd and tgtd side by side under the same real clients, in alternation, in
// one bounded run; prints a table of medians and writes it as JSON. A program that prints, not a
// test: nothing here asserts on a time.
import { Command, InvalidArgumentError } from 'commander';
import { intIn } from './options.js';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCases, caseAsGroup, FULL_QUEUE_DEPTHS, QUICK_QUEUE_DEPTHS, warmUp, type CaseContext, type GroupDef, type RowDef, type RowSample } from './cases.js';
import type { BenchDaemon, DaemonName } from './daemon.js';
import { FAIR_GROUP_ID, fairGroup, writerNote } from './fairness.js';
import { preWriteImage } from './image.js';
import { describeMachine } from './machine.js';
import { judge, type BenchResult, type CaseResult, type DaemonFigures, type ProfileSummary, type ScaleLine } from './model.js';
import { freePort, killAllTracked, onPath, procMemory } from './proc.js';
import { cpuPlanText, pinDaemonsToLastCpu } from './pinning.js';
import { profileScstd } from './profile.js';
import { formatResult } from './report.js';
import { scaleLines } from './scale.js';
import { assertScstdBuilt, scstdBinary, startScstdBench, startScstdRbdBench } from './scstd.js';
import { median, ratio, spread } from './stats.js';
import { fdLimitNote, STORM_GROUP_ID, stormGroup } from './storm.js';
import { metricsGroup } from './metrics-cost.js';
import { CLUSTER_GROUP_ID, clusterGroup } from './cluster.js';
import { etcdAvailable } from './etcd-sandbox.js';
import { releaseMount } from './mount.js';
import { startTgtdBench, startTgtdRbdBench, tgtdAvailable } from './tgtd.js';
import { missingCephProgram, startCephSandbox } from './ceph-sandbox.js';
import { RBD_GROUP_ID, rbdGroup } from './rbd.js';
import { access } from 'node:fs/promises';

// dist/bench/bench.js -> the repository root.
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MiB = 1024 * 1024;
// The size of tgtd's null backing store, which tgtd fixes; scstd's nullio LUN gets the same.
const NULLIO_SIZE = 2 ** 40;
const MIN_ROUNDS = 3;

interface Options {
  quick: boolean;
  out: string;
  rounds: number;
  seconds: number;
  qemuSeconds: number;
  imageMb: number;
  imageWriteKiB: number;
  luns: number;
  sessions: number;
  pin: boolean;
  tgtd: boolean;
  scale: boolean;
  profile: boolean;
  profileSeconds: number;
  profileOut: string | null;
  cases: RegExp | null;
  latencySeconds: number;
  stormSessions: number;
  fairSameLun: boolean;
  rbd: boolean;
  rbdImageMb: number;
}


/** A power of two from 4 KiB to 1 MiB: the image's writes must tile each 1 MiB chunk. */
function imageWriteKiB(v: string): number {
  const n = intIn(4, 1024)(v);
  if ((n & (n - 1)) !== 0) throw new InvalidArgumentError('expected a power of two from 4 to 1024');
  return n;
}

function parseOptions(argv: string[]): Options {
  const program = new Command()
    .name('bench')
    .description('scstd vs tgtd side by side: iscsi-perf and qemu-img bench in alternation, medians, scstd/tgtd ratios')
    .option('--quick', 'about a minute: QD 1 and 32 only, 1 s runs, fewer sessions')
    .option('--out <file>', 'where to write the JSON results', join(REPO_ROOT, 'bench', 'results.json'))
    .option('--rounds <n>', `rounds per case (at least ${MIN_ROUNDS})`, intIn(MIN_ROUNDS, 50))
    .option('--seconds <n>', 'iscsi-perf run time per run (default 5, quick 1)', intIn(1, 600))
    .option('--qemu-seconds <n>', 'aim of each qemu-img bench run, seconds (default 3, quick 1)', intIn(1, 600))
    .option('--image-mb <n>', 'size of each fileio image, MiB', intIn(16, 16384), 256)
    .option('--image-write <KiB>', 'size of the writes that fill each image (the page cache keeps their folio size)', imageWriteKiB, 4)
    .option('--luns <n>', 'LUNs of the start-up scale line', intIn(1, 16384), 1000)
    .option('--sessions <n>', 'idle sessions of the memory scale line (default 200, quick 50)', intIn(1, 2000))
    .option('--pin', 'daemons on the last CPU, clients on the others (taskset); default: the scheduler places them')
    .option('--no-tgtd', 'scstd alone, even when tgtd is installed')
    .option('--no-scale', 'skip the scale lines')
    .option('--profile', 'also run scstd under node --cpu-prof with 512 B QD32 nullio load and summarise it')
    .option('--profile-seconds <n>', 'length of the profiled load (default 10, quick 3)', intIn(1, 600))
    .option('--profile-out <file>', 'keep the .cpuprofile here')
    .option('--cases <regexp>', 'only the cases whose id (or group id: fair-read-4k-fileio, login-storm) matches (ids are in the JSON)')
    .option('--latency-seconds <n>', 'each timed window of the fair-service rows, seconds (default 3, quick 1)', intIn(1, 600))
    .option('--storm-sessions <n>', 'initiators of the login storm (default 1000, quick 250)', intIn(1, 10_000))
    .option('--no-rbd', 'leave out the RBD rows (they run where Ceph, qemu\'s rbd driver and the librbd binding are installed)')
    .option('--rbd-image-mb <n>', 'size of the RBD rows\' image, MiB', intIn(16, 768), 128)
    .option('--fair-same-lun', "fair service: the 1 MiB writer writes the reader's own LUN, not another one of the same size")
    .parse(argv);
  const o = program.opts<{
    quick?: boolean;
    out: string;
    rounds?: number;
    seconds?: number;
    qemuSeconds?: number;
    imageMb: number;
    imageWrite: number;
    luns: number;
    sessions?: number;
    pin?: boolean;
    tgtd: boolean;
    scale: boolean;
    profile?: boolean;
    profileSeconds?: number;
    profileOut?: string;
    cases?: string;
    latencySeconds?: number;
    stormSessions?: number;
    fairSameLun?: boolean;
    rbd: boolean;
    rbdImageMb: number;
  }>();
  const quick = o.quick === true;
  let cases: RegExp | null = null;
  if (o.cases !== undefined) {
    try {
      cases = new RegExp(o.cases);
    } catch (e) {
      program.error(`--cases: ${(e as Error).message}`);
    }
  }
  return {
    quick,
    out: resolve(o.out),
    rounds: o.rounds ?? MIN_ROUNDS,
    seconds: o.seconds ?? (quick ? 1 : 5),
    qemuSeconds: o.qemuSeconds ?? (quick ? 1 : 3),
    imageMb: o.imageMb,
    imageWriteKiB: o.imageWrite,
    luns: o.luns,
    sessions: o.sessions ?? (quick ? 50 : 200),
    pin: o.pin === true,
    tgtd: o.tgtd,
    scale: o.scale,
    profile: o.profile === true,
    profileSeconds: o.profileSeconds ?? (quick ? 3 : 10),
    profileOut: o.profileOut === undefined ? null : resolve(o.profileOut),
    cases,
    latencySeconds: o.latencySeconds ?? (quick ? 1 : 3),
    stormSessions: o.stormSessions ?? (quick ? 250 : 1000),
    fairSameLun: o.fairSameLun === true,
    rbd: o.rbd,
    rbdImageMb: o.rbdImageMb,
  };
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function fmtSample(v: number | null, unit: string): string {
  if (v === null) return 'FAILED';
  return `${unit === 'IOPS' || unit === 'count' ? Math.round(v) : v.toFixed(1)} ${unit}`;
}

/** One daemon's part of a progress line: the value (and CPU) of a case, or each row of a group. */
function progressText(name: DaemonName, rows: RowDef[], got: Map<string, RowSample>): string {
  const cpuText = (s: RowSample | undefined): string =>
    s?.serverCpu == null ? '' : ` (cpu ${Math.round(s.serverCpu * 100)}%${s.otherCpu === null ? '' : `, other ${Math.round(s.otherCpu * 100)}%`})`;
  if (rows.length === 1) {
    const s = got.get(rows[0]!.id);
    return `${name} ${fmtSample(s?.value ?? null, rows[0]!.unit)}${cpuText(s)}`;
  }
  return `${name} ${rows.map((r) => `${r.short} ${fmtSample(got.get(r.id)?.value ?? null, r.unit === 'us' ? 'µs' : r.unit)}`).join(', ')}`;
}

/** The status line and the client's stderr of a describeRun() text, on one line. */
function errorGist(e: string): string {
  const lines = e.split('\n').map((l) => l.trim());
  const stderr = lines.find((l) => l.startsWith('stderr:') && l !== 'stderr: -');
  return [lines[0], stderr].filter(Boolean).join(' / ');
}

/** Everything the run started, released in reverse order; each step bounded by its own code. */
class Resources {
  private readonly steps: Array<() => Promise<void>> = [];
  add(fn: () => Promise<void>): void {
    this.steps.push(fn);
  }
  async release(): Promise<void> {
    while (this.steps.length > 0) {
      const fn = this.steps.pop()!;
      try {
        await fn();
      } catch (e) {
        log(`cleanup: ${(e as Error).message}`);
      }
    }
  }
}

interface Collected {
  values: Array<number | null>;
  cpu: Array<number | null>;
  other: Array<number | null>;
  errors: string[];
}

// Other work on the machine above this many cores during a case makes its figures suspect.
const OTHER_LOAD_WARNING = 0.25;

function figures(c: Collected): DaemonFigures {
  return { samples: c.values, median: median(c.values), serverCpu: median(c.cpu), spread: spread(c.values), errors: c.errors };
}

/** Why the RBD rows cannot run here, or null when they can. */
async function rbdUnavailable(): Promise<string | null> {
  const missing = await missingCephProgram();
  if (missing !== null) return `${missing} is not installed (Debian: ceph-mon ceph-osd ceph-common)`;
  try {
    await access(join(REPO_ROOT, 'native', 'rbd', 'build', 'Release', 'rbd.node'));
  } catch {
    return 'the librbd binding is not built (Debian: librbd-dev, then npm run build:rbd)';
  }
  return null;
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv);
  const started = new Date();
  for (const tool of ['iscsi-perf', 'qemu-img']) {
    if (!(await onPath(tool))) {
      log(`bench: ${tool} is not installed (Debian: libiscsi-bin, qemu-utils)`);
      return 2;
    }
  }
  await assertScstdBuilt();
  if (opts.pin) {
    const why = (await onPath('taskset')) ? pinDaemonsToLastCpu() : '--pin needs taskset (util-linux)';
    if (why !== null) {
      log(`bench: ${why}`);
      return 2;
    }
  }
  const withTgtd = opts.tgtd && (await tgtdAvailable());
  const notes: string[] = [];
  if (opts.tgtd && !withTgtd) notes.push('tgtd is not installed: scstd alone, no ratios');

  const res = new Resources();
  let interrupted = false;
  const onSignal = (sig: string): void => {
    if (interrupted) {
      killAllTracked();
      process.exit(130);
    }
    interrupted = true;
    log(`bench: ${sig}: cleaning up (again to kill at once)`);
    // Bounded: whatever the release has not finished in 30 s is killed by the exit hook.
    const t = setTimeout(() => process.exit(130), 30_000);
    void res.release().finally(() => {
      clearTimeout(t);
      process.exit(130);
    });
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const tmp = await mkdtemp(join(os.tmpdir(), 'scst-bench-'));
  res.add(() => rm(tmp, { recursive: true, force: true }));
  try {
    const machine = await describeMachine();
    const queueDepths = opts.quick ? QUICK_QUEUE_DEPTHS : FULL_QUEUE_DEPTHS;
    const ctx: CaseContext = { perfSeconds: opts.seconds, qemuSeconds: opts.qemuSeconds, warmUpSeconds: opts.quick ? 1 : 2, log };
    const built = buildCases(ctx, queueDepths);
    const images: Record<DaemonName, string> = { scstd: join(tmp, 'scstd.img'), tgtd: join(tmp, 'tgtd.img') };
    const images2: Record<DaemonName, string> = { scstd: join(tmp, 'scstd-2.img'), tgtd: join(tmp, 'tgtd-2.img') };
    let stormDaemons = 0;
    // The storm's own daemons: each stopped by its run, and by the cleanup if a run is cut short.
    const fresh = new Set<BenchDaemon>();
    res.add(async () => {
      for (const d of fresh) await d.stop();
    });
    const launchFresh = async (name: DaemonName): Promise<BenchDaemon> => {
      let d: BenchDaemon;
      if (name === 'tgtd') d = await startTgtdBench(images.tgtd);
      else {
        const dir = join(tmp, `storm-scstd-${++stormDaemons}`);
        await mkdir(dir, { recursive: true });
        d = await startScstdBench({ dir, nullioSizeBytes: NULLIO_SIZE, imagePath: images.scstd });
      }
      fresh.add(d);
      return {
        ...d,
        stop: async () => {
          await d.stop();
          fresh.delete(d);
        },
      };
    };
    const allGroups: GroupDef[] = [
      ...built.cases.map(caseAsGroup),
      fairGroup({ seconds: opts.latencySeconds, writerRole: opts.fairSameLun ? 'fileio' : 'fileio2', log }),
      stormGroup({ sessions: opts.stormSessions, launch: launchFresh }),
      metricsGroup(ctx, {
        freePort,
        launch: async (metricsPort) => {
          const dir = join(tmp, 'metrics-scstd');
          const mnt = join(dir, 'mnt');
          await mkdir(mnt, { recursive: true });
          const d = await startScstdBench({ dir, nullioSizeBytes: NULLIO_SIZE, imagePath: images.scstd, extraArgs: ['--metrics', `127.0.0.1:${metricsPort}`], mount: mnt });
          const daemon: BenchDaemon = {
            ...d,
            stop: async () => {
              await d.stop();
              fresh.delete(daemon);
              await releaseMount(mnt, log);
            },
          };
          fresh.add(daemon);
          return { daemon, setTiming: (on) => writeFile(join(mnt, 'sys/kernel/scst_tgt/measure_latency'), on ? '1\n' : '0\n') };
        },
      }),
    ];
    const rbdWhyNot = opts.rbd ? await rbdUnavailable() : null;
    if (opts.rbd && rbdWhyNot === null) {
      allGroups.push(
        rbdGroup(ctx, {
          imageMiB: opts.rbdImageMb,
          note: (t) => notes.push(t),
          cluster: async () => {
            const dir = join(tmp, 'ceph');
            await mkdir(dir, { recursive: true });
            const c = await startCephSandbox({ dir });
            res.add(() => c.stop());
            return c;
          },
          launchScstd: async (c, image) => {
            const dir = join(tmp, 'rbd-scstd');
            await mkdir(dir, { recursive: true });
            const d = await startScstdRbdBench({ dir, pool: c.pool, image, conf: c.conf, keyring: c.keyring });
            res.add(() => d.stop());
            return d;
          },
          launchTgtd: async (c, image) => {
            try {
              const d = await startTgtdRbdBench({ pool: c.pool, image, conf: c.conf });
              res.add(() => d.stop());
              return d;
            } catch (e) {
              // Debian builds bs_rbd as its own package.
              return `tgt has no usable rbd backing store (Debian: apt-get install tgt-rbd): ${(e as Error).message.split('\n')[0]}`;
            }
          },
        }),
      );
    }
    // Cluster mode (issue 16): its own etcd and nodes; without etcd the rows are left out.
    if (await etcdAvailable()) allGroups.push(clusterGroup(ctx, { dir: join(tmp, 'cluster'), imagePath: images.scstd, onCleanup: (step) => res.add(step) }));
    else if (opts.cases === null || opts.cases.test(CLUSTER_GROUP_ID)) notes.push('etcd is not installed (Debian: etcd-server): the cluster rows are skipped');
    const groups = opts.cases ? allGroups.filter((g) => opts.cases!.test(g.id) || g.rows.some((r) => opts.cases!.test(r.id))) : allGroups;
    if (rbdWhyNot !== null && (opts.cases === null || opts.cases.test(RBD_GROUP_ID))) notes.push(`RBD rows skipped: ${rbdWhyNot}`);
    const rowIds = new Set(groups.flatMap((g) => g.rows.map((r) => r.id)));
    const derived = built.derived.filter((d) => rowIds.has(d.from));
    const withSecondImage = !opts.fairSameLun && groups.some((g) => g.id === FAIR_GROUP_ID);
    log(`bench: ${rowIds.size} rows from ${groups.length} measurements x ${opts.rounds} rounds on ${withTgtd ? 'scstd and tgtd' : 'scstd'}; iscsi-perf ${opts.seconds} s, qemu-img ~${opts.qemuSeconds} s per run; temp ${tmp}`);
    if (groups.some((g) => g.id === STORM_GROUP_ID)) {
      const fdNote = await fdLimitNote(opts.stormSessions);
      if (fdNote !== null) {
        notes.push(fdNote);
        log(`bench: ${fdNote}`);
      }
    }

    const imageCount = (withTgtd ? 2 : 1) * (withSecondImage ? 2 : 1);
    log(`bench: writing ${imageCount} ${opts.imageMb} MiB fileio images in ${opts.imageWriteKiB} KiB writes`);
    const fill = (path: string): Promise<void> => preWriteImage(path, opts.imageMb * MiB, opts.imageWriteKiB * 1024);
    await fill(images.scstd);
    if (withSecondImage) await fill(images2.scstd);
    if (withTgtd) {
      await fill(images.tgtd);
      if (withSecondImage) await fill(images2.tgtd);
    }

    const daemons: BenchDaemon[] = [];
    const scstdDir = join(tmp, 'scstd');
    await mkdir(scstdDir, { recursive: true });
    const scstd = await startScstdBench({ dir: scstdDir, nullioSizeBytes: NULLIO_SIZE, imagePath: images.scstd, ...(withSecondImage ? { image2Path: images2.scstd } : {}) });
    res.add(() => scstd.stop());
    daemons.push(scstd);
    if (withTgtd) {
      const tgtd = await startTgtdBench(images.tgtd, withSecondImage ? images2.tgtd : undefined);
      res.add(() => tgtd.stop());
      daemons.push(tgtd);
    }
    log(`bench: ${daemons.map((d) => `${d.name} pid ${d.pid} on 127.0.0.1:${d.port}`).join(', ')}`);

    for (const d of daemons) {
      log(`bench: warm-up of ${d.name}`);
      await warmUp(ctx, d);
    }
    for (const g of groups) {
      for (const d of daemons) await g.prepare?.(d);
    }

    const collected = new Map<string, Map<DaemonName, Collected>>();
    for (const id of rowIds) collected.set(id, new Map(daemons.map((d) => [d.name, { values: [], cpu: [], other: [], errors: [] }])));
    const push = (rowId: string, name: DaemonName, s: { value: number | null; serverCpu: number | null; otherCpu: number | null; error?: string }): void => {
      const slot = collected.get(rowId)!.get(name)!;
      slot.values.push(s.value);
      slot.cpu.push(s.serverCpu);
      slot.other.push(s.otherCpu);
      if (s.error) slot.errors.push(s.error);
    };
    // Round-major: a burst of load from elsewhere on the machine touches one round of every case
    // rather than every round of one case, and the medians see through it.
    for (let round = 1; round <= opts.rounds; round++) {
      for (const g of groups) {
        const parts: string[] = [];
        const fresh: string[] = [];
        for (const d of daemons) {
          if (!d.alive()) {
            for (const r of g.rows) push(r.id, d.name, { value: null, serverCpu: null, otherCpu: null, error: `${d.name} is not running:\n${d.output().slice(-2000)}` });
            parts.push(`${d.name} DEAD`);
            continue;
          }
          let got: Map<string, RowSample>;
          try {
            got = await g.measure(d);
          } catch (e) {
            got = new Map();
            fresh.push(`${d.name}: ${(e as Error).message}`);
          }
          const errors = new Set<string>();
          for (const r of g.rows) {
            const s = got.get(r.id) ?? { value: null, serverCpu: null, otherCpu: null, error: 'no figure' };
            push(r.id, d.name, s);
            if (s.value === null && s.error !== undefined) errors.add(s.error);
          }
          // A group's rows usually fail together, for one reason: said once.
          if (errors.size > 0 && collected.get(g.rows[0]!.id)!.get(d.name)!.values.filter((v) => v === null).length <= 2) fresh.push(...[...errors].map((e) => `${d.name}: ${e}`));
          parts.push(progressText(d.name, g.rows, got));
        }
        log(`[${round}/${opts.rounds}] ${g.id}: ${parts.join(g.rows.length > 1 ? '; ' : ', ')}`);
        for (const e of fresh) log(`  ${e}`);
      }
    }

    const peak = new Map<DaemonName, number | null>();
    for (const d of daemons) {
      const m = await procMemory(d.pid);
      peak.set(d.name, m ? (m.hwmKiB * 1024) / 1e6 : null);
    }
    const daemonInfo: BenchResult['daemons'] = { scstd: null, tgtd: null };
    for (const d of daemons) daemonInfo[d.name] = { pid: d.pid, port: d.port, luns: { ...d.luns } };
    for (const d of [...daemons].reverse()) await d.stop();

    const results: CaseResult[] = [];
    const caseResult = (c: Pick<RowDef, 'id' | 'title' | 'unit' | 'better' | 'command' | 'target' | 'scstdOnly'>, per: Map<DaemonName, Collected>): CaseResult => {
      const s = figures(per.get('scstd')!);
      const t = per.has('tgtd') && !c.scstdOnly ? figures(per.get('tgtd')!) : null;
      const r = ratio(s.median, t?.median ?? null);
      // Every scstd run failing misses any target.
      const met = c.target !== null && s.median === null && s.samples.length > 0 ? false : judge(c.target, s.median, r);
      const otherLoad = median([...per.values()].flatMap((col) => col.other));
      return { id: c.id, title: c.title, unit: c.unit, better: c.better, command: c.command, scstd: s, tgtd: t, ratio: r, target: c.target, met, otherLoad };
    };
    for (const g of groups) {
      // Rows of a group that failed alike (same runs, same first error) share one note.
      const failures = new Map<string, string[]>();
      for (const row of g.rows) {
        results.push(caseResult(row, collected.get(row.id)!));
        for (const [name, col] of collected.get(row.id)!) {
          if (row.scstdOnly && name !== 'scstd') continue;
          const failed = col.values.filter((v) => v === null).length;
          if (failed === 0) continue;
          const what = `on ${name}: ${failed} of ${col.values.length} runs failed; first: ${errorGist(col.errors[0] ?? 'no error text')}`;
          failures.set(what, [...(failures.get(what) ?? []), row.id]);
        }
      }
      for (const [what, ids] of failures) notes.push(`${ids.join(', ')} ${what}`);
    }
    const starved = writerNote(results);
    if (starved !== null) notes.push(starved);
    for (const dv of derived) {
      const src = collected.get(dv.from)!;
      const per = new Map<DaemonName, Collected>();
      for (const [name, col] of src) per.set(name, { values: col.values.map((v) => (v === null || v <= 0 ? null : dv.derive(v))), cpu: col.cpu, other: col.other, errors: [] });
      results.push(caseResult(dv, per));
    }
    const rss = (name: DaemonName): Collected => ({ values: [peak.get(name) ?? null], cpu: [null], other: [null], errors: [] });
    const rssPer = new Map<DaemonName, Collected>(daemons.map((d) => [d.name, rss(d.name)]));
    results.push(
      caseResult(
        { id: 'peak-rss', title: 'peak RSS (VmHWM) after all cases', unit: 'MB', better: 'lower', command: 'VmHWM of /proc/PID/status', target: { text: 'scstd < 200 MB', maxValue: 200 } },
        rssPer,
      ),
    );

    const disturbed = results.filter((c) => c.otherLoad !== null && c.otherLoad > OTHER_LOAD_WARNING).map((c) => c.id);
    if (disturbed.length > 0) {
      notes.push(`other work on the machine used more than ${OTHER_LOAD_WARNING} of a core (median) during: ${disturbed.join(', ')}; those figures are disturbed, run again on a quiet machine`);
    }

    let scale: ScaleLine[] = [];
    if (opts.scale) {
      log(`bench: scale lines (${opts.luns} LUNs, ${opts.sessions} idle sessions)`);
      try {
        scale = await scaleLines({ dir: join(tmp, 'scale'), luns: opts.luns, sessions: opts.sessions, withTgtd, log });
      } catch (e) {
        notes.push(`scale lines failed: ${(e as Error).message.split('\n')[0]}`);
        log(`bench: scale lines failed: ${(e as Error).message}`);
      }
    }

    let profile: ProfileSummary | null = null;
    if (opts.profile) {
      log(`bench: scstd under --cpu-prof, ${opts.profileSeconds} s of 512 B QD32 nullio reads`);
      try {
        profile = await profileScstd({
          dir: join(tmp, 'profile'),
          imagePath: images.scstd,
          nullioSizeBytes: NULLIO_SIZE,
          seconds: opts.profileSeconds,
          keepAs: opts.profileOut,
          repoRoot: REPO_ROOT,
          log,
        });
      } catch (e) {
        notes.push(`profile failed: ${(e as Error).message.split('\n')[0]}`);
        log(`bench: profile failed: ${(e as Error).message}`);
      }
    }

    const finished = new Date();
    const result: BenchResult = {
      schema: 'scst-usermode-bench/1',
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationSeconds: (finished.getTime() - started.getTime()) / 1000,
      options: {
        quick: opts.quick,
        rounds: opts.rounds,
        iscsiPerfSeconds: opts.seconds,
        qemuSeconds: opts.qemuSeconds,
        imageMiB: opts.imageMb,
        imageWriteKiB: opts.imageWriteKiB,
        nullioBytes: NULLIO_SIZE,
        queueDepths,
        scaleLuns: opts.luns,
        scaleSessions: opts.sessions,
        cpuPlacement: cpuPlanText() ?? 'left to the scheduler',
        scstdBinary: scstdBinary(),
        cases: opts.cases?.source ?? null,
        latencySeconds: opts.latencySeconds,
        stormSessions: opts.stormSessions,
        rbd: opts.rbd ? `one ${opts.rbdImageMb} MiB image, written in full, in a one-OSD memstore sandbox` : 'left out (--no-rbd)',
        fairWriterLun: opts.fairSameLun ? "the reader's own fileio LUN" : 'a second fileio LUN of the same size',
        fourKiBReads: 'iscsi-perf -b 8 on the 512-byte-block fileio LUN (LBAs not 4 KiB-aligned)',
        scatteredWrites: 'qemu-img bench -S 7919*4096: each write 7919 blocks of 4 KiB past the last, wrapping at the end of the LUN',
      },
      machine,
      daemons: daemonInfo,
      cases: results,
      scale,
      profile,
      notes,
    };
    process.stdout.write(`${formatResult(result)}\n`);
    await mkdir(dirname(opts.out), { recursive: true });
    await writeFile(opts.out, `${JSON.stringify(result, null, 2)}\n`);
    log(`bench: results written to ${opts.out}`);
    return 0;
  } finally {
    await res.release();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    log(`bench: ${e instanceof Error ? e.message : String(e)}`);
    killAllTracked();
    process.exitCode = 1;
  },
);
