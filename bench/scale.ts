// Scale lines: scstd's start-up with many LUNs, what an idle session costs each daemon, and how
// fast the management tree (FUSE) lists those LUNs and sessions.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InitiatorSession } from './login-client.js';
import type { ScaleLine } from './model.js';
import { releaseMount } from './mount.js';
import { placed } from './pinning.js';
import { describeRun, pollUntil, procMemory, run, sleep } from './proc.js';
import { launchScstd, scstConf, type ConfDevice, type LaunchOptions, type ScstdProcess } from './scstd.js';
import { median } from './stats.js';
import { launchTgtd } from './tgtd.js';

export interface ScaleOptions {
  dir: string;
  luns: number;
  sessions: number;
  withTgtd: boolean;
  log(line: string): void;
}

const SCALE_TARGET = 'iqn.2026-11.org.scst-usermode.bench:scale';
const IDLE_INITIATOR = 'iqn.2026-11.org.scst-usermode.bench:idle';
// Logins in flight at once while opening the idle sessions.
const LOGIN_BATCH = 10;
// Each listing is read this many times by a fresh child; the line is the median.
const LISTING_RUNS = 3;
const LISTING_TIMEOUT_MS = 30_000;
function nullioConf(n: number): string {
  const devices: ConfDevice[] = [];
  const luns: Array<[number, string]> = [];
  for (let i = 0; i < n; i++) {
    devices.push({ handler: 'vdisk_nullio', name: `null${i}`, attrs: { size_mb: 1024 } });
    luns.push([i, `null${i}`]);
  }
  return scstConf(devices, SCALE_TARGET, luns);
}

/**
 * Runs `body` against a scstd that publishes its management tree at `<dir>/mnt`; stops the daemon
 * (waiting for its exit) and releases the mount however the launch or the body ends.
 */
async function withMountedScstd<T>(o: ScaleOptions, launch: Omit<LaunchOptions, 'mount'>, body: (p: ScstdProcess, mnt: string) => Promise<T>): Promise<T> {
  const mnt = join(launch.dir, 'mnt');
  let p: ScstdProcess | null = null;
  try {
    p = await launchScstd({ ...launch, mount: mnt });
    return await body(p, mnt);
  } finally {
    if (p !== null) {
      const end = await p.stop();
      if (end.timedOut) o.log(`  scstd (pid ${p.pid}) did not exit on SIGTERM in time: killed`);
    }
    await releaseMount(mnt, o.log);
  }
}

interface Listing {
  /** Median wall time of the child, ms; null when a run failed or listed the wrong count. */
  ms: number | null;
  /** What the last run listed. */
  counted: number | null;
}

/**
 * Lists a management-tree file or directory with a child process `LISTING_RUNS` times (spawn to
 * exit, so a fork+exec is inside the figure) and checks each output lists `expected` entries.
 */
async function timedListing(what: string, cmd: string, args: string[], count: (stdout: string) => number, expected: number, log: (line: string) => void): Promise<Listing> {
  const times: number[] = [];
  let counted: number | null = null;
  for (let i = 0; i < LISTING_RUNS; i++) {
    const r = await run(...placed('client', cmd, args), { timeoutMs: LISTING_TIMEOUT_MS });
    if (r.code !== 0) {
      log(`  ${what}: failed\n${describeRun(what, r)}`);
      return { ms: null, counted };
    }
    counted = count(r.stdout);
    if (counted !== expected) {
      const head = r.stdout.split('\n').slice(0, 4).join('\n');
      log(`  warning: ${what} listed ${counted} of ${expected}; its output begins:\n${head}`);
      return { ms: null, counted };
    }
    times.push(r.elapsedMs);
  }
  const m = median(times);
  return { ms: m === null ? null : Math.round(m * 10) / 10, counted };
}

/** Rows of proc/scsi_tgt/vdisk/vdisk naming one of the `nullN` devices (procfs.md §4.3), distinct. */
function vdiskRows(stdout: string): number {
  const names = new Set<string>();
  for (const row of stdout.split('\n').slice(1)) {
    const name = /^(null\d+) /.exec(row)?.[1];
    if (name !== undefined) names.add(name);
  }
  return names.size;
}

/** Rows of proc/scsi_tgt/sessions whose initiator column is `initiator` (procfs.md §3.4). */
function sessionRows(stdout: string, initiator: string): number {
  return stdout
    .split('\n')
    .slice(1)
    .filter((row) => row.split(/ +/)[1] === initiator).length;
}

/** Entries of an `ls -1` output that `keep` accepts. */
function lsEntries(stdout: string, keep: (name: string) => boolean): number {
  return stdout.split('\n').filter((e) => e !== '' && keep(e)).length;
}

/** Session directories of one initiator: `<name>`, then `<name>_1`, `<name>_2`, ... (sysfs.md §7.5). */
function isSessionDirOf(initiator: string): (name: string) => boolean {
  return (name) => name === initiator || (name.startsWith(`${initiator}_`) && /^\d+$/.test(name.slice(initiator.length + 1)));
}

function listingLine(id: string, title: string, l: Listing, expected: number, what: string): ScaleLine {
  return { id, title, unit: 'ms', scstd: l.ms, tgtd: null, note: `${l.counted ?? '?'} of ${expected} ${what} listed; median of ${LISTING_RUNS} child runs, spawn to exit` };
}

/** Start-up of scstd with `luns` nullio LUNs, against one LUN; and listing them over iSCSI. */
async function startupLines(o: ScaleOptions): Promise<ScaleLine[]> {
  const lines: ScaleLine[] = [];
  // Both daemons mount their management tree, so the difference between the two lines is the LUNs.
  const oneMs = await withMountedScstd(o, { dir: join(o.dir, 'startup-1'), config: nullioConf(1), logLevel: 'info' }, async (p) => p.readyMs);
  await withMountedScstd(o, { dir: join(o.dir, `startup-${o.luns}`), config: nullioConf(o.luns), logLevel: 'info', readyTimeoutMs: 120_000 }, async (many, mnt) => {
    lines.push(
      { id: 'startup-1-lun', title: 'scstd start-up to `ready`, 1 LUN', unit: 'ms', scstd: Math.round(oneMs), tgtd: null, note: 'with --mount' },
      { id: `startup-${o.luns}-luns`, title: `scstd start-up to \`ready\`, ${o.luns} nullio LUNs`, unit: 'ms', scstd: Math.round(many.readyMs), tgtd: null, note: 'spawn of node to the ready log line, with --mount' },
    );
    const mem = await procMemory(many.pid);
    lines.push({ id: `rss-${o.luns}-luns`, title: `scstd RSS with ${o.luns} LUNs, idle`, unit: 'MB', scstd: mem ? Math.round((mem.rssKiB * 1024) / 1e5) / 10 : null, tgtd: null });

    const vdiskFile = join(mnt, 'proc', 'scsi_tgt', 'vdisk', 'vdisk');
    const vdisk = await timedListing('cat proc/scsi_tgt/vdisk/vdisk', 'cat', [vdiskFile], vdiskRows, o.luns, o.log);
    lines.push(listingLine('procfs-vdisk', `cat proc/scsi_tgt/vdisk/vdisk with ${o.luns} LUNs`, vdisk, o.luns, 'devices'));
    const handlerDir = join(mnt, 'sys', 'kernel', 'scst_tgt', 'handlers', 'vdisk_nullio');
    const handler = await timedListing('ls handlers/vdisk_nullio', 'ls', ['-1', handlerDir], (out) => lsEntries(out, (e) => /^null\d+$/.test(e)), o.luns, o.log);
    lines.push(listingLine('sysfs-handler-devices', `ls sys/kernel/scst_tgt/handlers/vdisk_nullio with ${o.luns} LUNs`, handler, o.luns, 'devices'));

    const url = `iscsi://127.0.0.1:${many.port}`;
    const ls = await run(...placed('client', 'iscsi-ls', ['-s', url]), { timeoutMs: 120_000 });
    const listed = (ls.stdout.match(/^\s*Lun:\d+/gm) ?? []).length;
    if (ls.code !== 0 || listed !== o.luns) o.log(`  iscsi-ls listed ${listed} of ${o.luns} LUNs\n${describeRun('iscsi-ls -s', ls)}`);
    lines.push({
      id: `iscsi-ls-${o.luns}-luns`,
      title: `iscsi-ls -s of ${o.luns} LUNs (login, REPORT LUNS, INQUIRY + READ CAPACITY each)`,
      unit: 'ms',
      scstd: ls.code === 0 ? Math.round(ls.elapsedMs) : null,
      tgtd: null,
      note: `${listed} LUNs listed`,
    });
  });
  return lines;
}

interface SessionCost {
  perSessionKiB: number | null;
  loginMs: number | null;
  opened: number;
  error?: string;
}

/**
 * Opens `n` idle sessions against a fresh daemon and returns the RSS growth per session.
 * `whileOpen` runs after the memory is measured, before the sessions close, with the live count.
 */
async function sessionCost(port: number, pid: number, targetName: string, n: number, whileOpen?: (alive: number) => Promise<void>): Promise<SessionCost> {
  const sessions: InitiatorSession[] = [];
  let error: string | undefined;
  try {
    // One session first: code paths run once (and compiled) are not a per-session cost.
    const warm = await InitiatorSession.open({ port, targetName, initiatorName: `${IDLE_INITIATOR}-warm`, isid: Buffer.from([0x80, 0xbe, 0, 0, 0xff, 0xff]) });
    warm.close();
    await sleep(500);
    const before = await procMemory(pid);
    const t0 = performance.now();
    for (let i = 0; i < n && error === undefined; i += LOGIN_BATCH) {
      const batch: Array<Promise<InitiatorSession>> = [];
      for (let j = i; j < Math.min(n, i + LOGIN_BATCH); j++) {
        batch.push(InitiatorSession.open({ port, targetName, initiatorName: IDLE_INITIATOR, isid: Buffer.from([0x80, 0xbe, 0, 0, j >> 8, j & 0xff]) }));
      }
      for (const r of await Promise.allSettled(batch)) {
        if (r.status === 'fulfilled') sessions.push(r.value);
        else error ??= r.reason instanceof Error ? r.reason.message : String(r.reason);
      }
    }
    const loginMs = performance.now() - t0;
    await sleep(1_000);
    const alive = sessions.filter((s) => s.alive).length;
    const after = await procMemory(pid);
    if (alive < sessions.length) error ??= `${sessions.length - alive} sessions dropped while idle`;
    const perSessionKiB = before && after && alive > 0 ? (after.rssKiB - before.rssKiB) / alive : null;
    await whileOpen?.(alive);
    return { perSessionKiB, loginMs: error === undefined ? loginMs : null, opened: alive, ...(error !== undefined ? { error } : {}) };
  } finally {
    for (const s of sessions) s.close();
  }
}

interface SessionListings {
  procfs: Listing;
  sysfs: Listing;
  /** Sessions open while they were listed. */
  expected: number;
}

async function scstdSessionCost(o: ScaleOptions): Promise<{ cost: SessionCost; listings: SessionListings | null }> {
  let listings: SessionListings | null = null;
  const cost = await withMountedScstd(o, { dir: join(o.dir, 'sessions-scstd'), config: nullioConf(1), logLevel: 'warn' }, (p, mnt) =>
    sessionCost(p.port, p.pid, SCALE_TARGET, o.sessions, async (alive) => {
      const sessionsFile = join(mnt, 'proc', 'scsi_tgt', 'sessions');
      const procfs = await timedListing('cat proc/scsi_tgt/sessions', 'cat', [sessionsFile], (out) => sessionRows(out, IDLE_INITIATOR), alive, o.log);
      const sessionsDir = join(mnt, 'sys', 'kernel', 'scst_tgt', 'targets', 'iscsi', SCALE_TARGET, 'sessions');
      const sysfs = await timedListing('ls targets/iscsi/<target>/sessions', 'ls', ['-1', sessionsDir], (out) => lsEntries(out, isSessionDirOf(IDLE_INITIATOR)), alive, o.log);
      listings = { procfs, sysfs, expected: alive };
    }),
  );
  return { cost, listings };
}

async function tgtdSessionCost(o: ScaleOptions): Promise<SessionCost> {
  const p = await launchTgtd([{ kind: 'null' }], SCALE_TARGET);
  try {
    return await sessionCost(p.port, p.pid, SCALE_TARGET, o.sessions);
  } finally {
    await p.stop();
  }
}

export async function scaleLines(o: ScaleOptions): Promise<ScaleLine[]> {
  await mkdir(o.dir, { recursive: true });
  const lines = await startupLines(o);
  const { cost: s, listings } = await scstdSessionCost(o);
  if (s.error) o.log(`  scstd idle sessions: ${s.error}`);
  let t: SessionCost | null = null;
  if (o.withTgtd) {
    t = await tgtdSessionCost(o);
    if (t.error) o.log(`  tgtd idle sessions: ${t.error}`);
  }
  const kib = (c: SessionCost | null): number | null => (c?.perSessionKiB === null || c === null ? null : Math.round(c.perSessionKiB));
  const none: Listing = { ms: null, counted: null };
  const expected = listings?.expected ?? s.opened;
  lines.push(
    { id: 'session-login', title: `login of ${o.sessions} sessions, ${LOGIN_BATCH} at a time`, unit: 'ms', scstd: s.loginMs === null ? null : Math.round(s.loginMs), tgtd: t?.loginMs == null ? null : Math.round(t.loginMs), note: `open: scstd ${s.opened}${t ? `, tgtd ${t.opened}` : ''}` },
    { id: 'session-memory', title: `RSS per idle session (${o.sessions} sessions)`, unit: 'KiB', scstd: kib(s), tgtd: kib(t) },
    listingLine('procfs-sessions', `cat proc/scsi_tgt/sessions with ${o.sessions} sessions`, listings?.procfs ?? none, expected, 'sessions'),
    listingLine('sysfs-sessions', `ls sys/kernel/scst_tgt/targets/iscsi/<target>/sessions with ${o.sessions} sessions`, listings?.sysfs ?? none, expected, 'sessions'),
  );
  return lines;
}
