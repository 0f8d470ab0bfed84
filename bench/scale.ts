// Scale lines: scstd's start-up with many LUNs, and what an idle session costs each daemon.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { IdleSession } from './login-client.js';
import type { ScaleLine } from './model.js';
import { placed } from './pinning.js';
import { describeRun, procMemory, run, sleep } from './proc.js';
import { launchScstd, scstConf, type ConfDevice } from './scstd.js';
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

function nullioConf(n: number): string {
  const devices: ConfDevice[] = [];
  const luns: Array<[number, string]> = [];
  for (let i = 0; i < n; i++) {
    devices.push({ handler: 'vdisk_nullio', name: `null${i}`, attrs: { size_mb: 1024 } });
    luns.push([i, `null${i}`]);
  }
  return scstConf(devices, SCALE_TARGET, luns);
}

/** Start-up of scstd with `luns` nullio LUNs, against one LUN; and listing them over iSCSI. */
async function startupLines(o: ScaleOptions): Promise<ScaleLine[]> {
  const lines: ScaleLine[] = [];
  const one = await launchScstd({ dir: join(o.dir, 'startup-1'), config: nullioConf(1), logLevel: 'info' });
  await one.stop();
  const many = await launchScstd({ dir: join(o.dir, `startup-${o.luns}`), config: nullioConf(o.luns), logLevel: 'info', readyTimeoutMs: 120_000 });
  try {
    lines.push(
      { id: 'startup-1-lun', title: 'scstd start-up to `ready`, 1 LUN', unit: 'ms', scstd: Math.round(one.readyMs), tgtd: null },
      { id: `startup-${o.luns}-luns`, title: `scstd start-up to \`ready\`, ${o.luns} nullio LUNs`, unit: 'ms', scstd: Math.round(many.readyMs), tgtd: null, note: 'spawn of node to the ready log line' },
    );
    const mem = await procMemory(many.pid);
    lines.push({ id: `rss-${o.luns}-luns`, title: `scstd RSS with ${o.luns} LUNs, idle`, unit: 'MB', scstd: mem ? Math.round((mem.rssKiB * 1024) / 1e5) / 10 : null, tgtd: null });
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
  } finally {
    await many.stop();
  }
  return lines;
}

interface SessionCost {
  perSessionKiB: number | null;
  loginMs: number | null;
  opened: number;
  error?: string;
}

/** Opens `n` idle sessions against a fresh daemon and returns the RSS growth per session. */
async function sessionCost(port: number, pid: number, targetName: string, n: number): Promise<SessionCost> {
  const sessions: IdleSession[] = [];
  let error: string | undefined;
  try {
    // One session first: code paths run once (and compiled) are not a per-session cost.
    const warm = await IdleSession.open({ port, targetName, initiatorName: `${IDLE_INITIATOR}-warm`, isid: Buffer.from([0x80, 0xbe, 0, 0, 0xff, 0xff]) });
    warm.close();
    await sleep(500);
    const before = await procMemory(pid);
    const t0 = performance.now();
    for (let i = 0; i < n && error === undefined; i += LOGIN_BATCH) {
      const batch: Array<Promise<IdleSession>> = [];
      for (let j = i; j < Math.min(n, i + LOGIN_BATCH); j++) {
        batch.push(IdleSession.open({ port, targetName, initiatorName: IDLE_INITIATOR, isid: Buffer.from([0x80, 0xbe, 0, 0, j >> 8, j & 0xff]) }));
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
    return { perSessionKiB, loginMs: error === undefined ? loginMs : null, opened: alive, ...(error !== undefined ? { error } : {}) };
  } finally {
    for (const s of sessions) s.close();
  }
}

async function scstdSessionCost(o: ScaleOptions): Promise<SessionCost> {
  const p = await launchScstd({ dir: join(o.dir, 'sessions-scstd'), config: nullioConf(1), logLevel: 'warn' });
  try {
    return await sessionCost(p.port, p.pid, SCALE_TARGET, o.sessions);
  } finally {
    await p.stop();
  }
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
  const s = await scstdSessionCost(o);
  if (s.error) o.log(`  scstd idle sessions: ${s.error}`);
  let t: SessionCost | null = null;
  if (o.withTgtd) {
    t = await tgtdSessionCost(o);
    if (t.error) o.log(`  tgtd idle sessions: ${t.error}`);
  }
  const kib = (c: SessionCost | null): number | null => (c?.perSessionKiB === null || c === null ? null : Math.round(c.perSessionKiB));
  lines.push(
    { id: 'session-login', title: `login of ${o.sessions} sessions, ${LOGIN_BATCH} at a time`, unit: 'ms', scstd: s.loginMs === null ? null : Math.round(s.loginMs), tgtd: t?.loginMs == null ? null : Math.round(t.loginMs), note: `open: scstd ${s.opened}${t ? `, tgtd ${t.opened}` : ''}` },
    { id: 'session-memory', title: `RSS per idle session (${o.sessions} sessions)`, unit: 'KiB', scstd: kib(s), tgtd: kib(t) },
    { id: 'procfs-sessions', title: `cat proc/scsi_tgt/sessions with ${o.sessions} sessions`, unit: '', scstd: 'n/a (no FUSE tree yet)', tgtd: null, note: 'TODO once the FUSE tree lands' },
    { id: 'procfs-vdisk', title: `cat proc/scsi_tgt/vdisk/vdisk with ${o.luns} LUNs`, unit: '', scstd: 'n/a (no FUSE tree yet)', tgtd: null, note: 'TODO once the FUSE tree lands' },
  );
  return lines;
}
