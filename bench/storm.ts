// Login storm and idle session cost (issue 14): `sessions` initiators log in to one target all at
// once, each with its own InitiatorName and ISID, and stay logged in until all are in full feature
// phase; then all log out at once. Each run gets a freshly started daemon, so the RSS it gains
// with the sessions open is what those sessions cost (not memory an earlier run freed and left
// in the heap); a smaller storm first warms the login path (compiled code is no per-session cost).
import type { GroupDef, RowDef, RowSample } from './cases.js';
import { cpuWindow, type WindowCpu } from './clients.js';
import type { BenchDaemon, DaemonName } from './daemon.js';
import { LineChild, type Answer } from './line-child.js';
import { readFile } from 'node:fs/promises';
import { listenOverflows, procMemory, sleep } from './proc.js';

export const STORM_GROUP_ID = 'login-storm';

/** Time for the daemon to settle (timers, deferred frees) before its RSS is read. */
const SETTLE_MS = 1_000;
/** Bound of each connect+login and each logout in the client; the daemons' own login timeout is 15 s. */
const CLIENT_TIMEOUT_MS = 60_000;
const WARM_SESSIONS = 100;

export interface StormOptions {
  sessions: number;
  /** Starts a fresh daemon of that kind, configured like the benchmark's; the caller stops it. */
  launch(name: DaemonName): Promise<BenchDaemon>;
}

export interface StormAnswer {
  ms: number;
  ok: number;
  failed: number;
  firstError: string | null;
}

/** The figures of a loggedIn/loggedOut answer of storm-client; null when one is missing. */
export function stormOf(a: Answer): StormAnswer | null {
  const { ms, ok, failed } = a;
  if (typeof ms !== 'number' || typeof ok !== 'number' || typeof failed !== 'number' || !Number.isFinite(ms)) return null;
  return { ms, ok, failed, firstError: typeof a.firstError === 'string' ? a.firstError : null };
}

/** The soft and hard "Max open files" of a /proc/PID/limits text; null when absent. */
export function openFilesLimit(limits: string): { soft: number; hard: number } | null {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (!m) return null;
  const n = (v: string): number => (v === 'unlimited' ? Infinity : Number(v));
  const soft = n(m[1]!);
  const hard = n(m[2]!);
  return Number.isNaN(soft) || Number.isNaN(hard) ? null : { soft, hard };
}

/** Descriptors a client or daemon needs besides one per session. */
const FD_HEADROOM = 200;

/**
 * Whether the storm's processes can open enough descriptors: node (the client, scstd) raises its
 * soft limit to the hard one at start, tgtd raises its own, so the hard limit they inherit from
 * here is what counts. A note when it is too low, null when it is fine.
 */
export async function fdLimitNote(sessions: number): Promise<string | null> {
  let text: string;
  try {
    text = await readFile('/proc/self/limits', 'utf8');
  } catch {
    return null;
  }
  const l = openFilesLimit(text);
  if (l === null || l.hard >= sessions + FD_HEADROOM) return null;
  return `the hard limit of open files is ${l.hard}, under the ${sessions + FD_HEADROOM} a storm of ${sessions} sessions needs: raise it (ulimit -Hn) or the storm rows fail`;
}

/** RSS growth per session, KiB; null when it cannot be told. */
export function perSessionKiB(beforeKiB: number | null, afterKiB: number | null, sessions: number): number | null {
  if (beforeKiB === null || afterKiB === null || !Number.isFinite(beforeKiB) || !Number.isFinite(afterKiB) || sessions < 1) return null;
  return (afterKiB - beforeKiB) / sessions;
}

interface Storm {
  client: LineChild;
  loggedIn: StormAnswer;
  cpu: WindowCpu;
  /** Machine-wide accept-queue overflows while the sessions logged in. */
  overflows: number | null;
}

/** Starts a storm-client against `d` and has it log in `count` sessions; throws unless all did. */
async function storm(d: BenchDaemon, count: number, tag: number, prefix: string): Promise<Storm> {
  const client = LineChild.start('storm-client', ['--port', String(d.port), '--target', d.targetName, '--count', String(count), '--tag', String(tag), '--prefix', prefix, '--timeout-ms', String(CLIENT_TIMEOUT_MS)]);
  try {
    await client.next('ready', 30_000);
    const win = await cpuWindow(d.pid, [client.pid]);
    const o0 = await listenOverflows();
    client.send('login');
    const a = await client.next('loggedIn', CLIENT_TIMEOUT_MS + 30_000);
    const o1 = await listenOverflows();
    const cpu = await win.end();
    const s = stormOf(a);
    if (s === null) throw new Error(`storm-client: unusable answer ${JSON.stringify(a)}`);
    if (s.failed > 0) throw new Error(`${s.failed} of ${count} logins failed; first: ${s.firstError ?? '?'}`);
    return { client, loggedIn: s, cpu, overflows: o0 === null || o1 === null ? null : o1 - o0 };
  } catch (e) {
    await client.finish();
    throw e;
  }
}

async function logoutAll(d: BenchDaemon, s: Storm): Promise<{ out: StormAnswer; cpu: WindowCpu; alive: number }> {
  const win = await cpuWindow(d.pid, [s.client.pid]);
  s.client.send('logout');
  const a = await s.client.next('loggedOut', CLIENT_TIMEOUT_MS + 30_000);
  const cpu = await win.end();
  const out = stormOf(a);
  if (out === null) throw new Error(`storm-client: unusable answer ${JSON.stringify(a)}`);
  return { out, cpu, alive: typeof a.alive === 'number' ? a.alive : 0 };
}

export function stormGroup(o: StormOptions): GroupDef {
  const n = o.sessions;
  const warm = Math.min(WARM_SESSIONS, n);
  const command = `storm-client: ${n} connections at once to a freshly started daemon (after a warm-up storm of ${warm}), a full login each (InitiatorName PREFIX-i, ISID 80 57 00 i), all held`;
  const rows: RowDef[] = [
    { id: 'storm-login', short: 'login', title: `${n} logins at once: first connect to all in full feature phase`, unit: 'ms', better: 'lower', command, target: null },
    {
      id: 'storm-relogin',
      short: 'login again',
      title: `${n} logins at once again, once all had logged out (a network blip)`,
      unit: 'ms',
      better: 'lower',
      command: `${command}; all logged out; then the same ${n} initiators log in at once again (new ISIDs)`,
      target: { text: '<= tgtd', maxRatio: 1 },
    },
    {
      id: 'storm-overflows',
      short: 'accept-queue overflows',
      title: `accept-queue overflows during the ${n} logins (machine-wide)`,
      unit: 'count',
      better: 'lower',
      command: 'TcpExt ListenOverflows of /proc/net/netstat, after - before the storm: each one costs a connection a retransmission about 1 s later',
      target: null,
    },
    { id: 'storm-logout', short: 'logout', title: `${n} logouts at once: first request to last response`, unit: 'ms', better: 'lower', command: `${command}; then a Logout (close session) on each at once`, target: null },
    { id: 'storm-session-kib', short: 'KiB/session', title: `RSS per idle session (${n} sessions, after the storm)`, unit: 'KiB', better: 'lower', command: `(VmRSS ${SETTLE_MS / 1000} s after the storm - VmRSS before it) / sessions alive`, target: { text: '<= 2x tgtd', maxRatio: 2 } },
  ];
  let runs = 0;

  const measureOn = async (d: BenchDaemon, out: Map<string, RowSample>): Promise<void> => {
    const put = (id: string, value: number | null, cpu: WindowCpu | null, error?: string): void => {
      out.set(id, { value, serverCpu: cpu?.serverCpu ?? null, otherCpu: cpu?.otherCpu ?? null, ...(error !== undefined ? { error } : {}) });
    };
    // Distinct ISID tags per storm: a session of an earlier storm still being torn down is never
    // reinstated by a new one.
    runs++;
    const warmed = await storm(d, warm, (runs * 2) & 0xff, 'iqn.2026-11.org.scst-usermode.bench:warm');
    try {
      await logoutAll(d, warmed);
    } finally {
      await warmed.client.finish();
    }
    await sleep(SETTLE_MS);
    const before = await procMemory(d.pid);
    const s = await storm(d, n, (runs * 2 + 1) & 0xff, 'iqn.2026-11.org.scst-usermode.bench:storm');
    try {
      put('storm-login', s.loggedIn.ms, s.cpu);
      put('storm-overflows', s.overflows, s.cpu);
      await sleep(SETTLE_MS);
      const after = await procMemory(d.pid);
      const l = await logoutAll(d, s);
      const kib = perSessionKiB(before?.rssKiB ?? null, after?.rssKiB ?? null, l.alive);
      if (l.alive < n) put('storm-session-kib', null, null, `${n - l.alive} of ${n} sessions dropped while idle`);
      else put('storm-session-kib', kib, null);
      put('storm-logout', l.out.failed === 0 ? l.out.ms : null, l.cpu, l.out.failed === 0 ? undefined : `${l.out.failed} of ${l.alive} logouts failed; first: ${l.out.firstError ?? '?'}`);
    } finally {
      await s.client.finish();
    }
    // What a storm after a network blip meets: a daemon that has served these logins before.
    await sleep(SETTLE_MS);
    const again = await storm(d, n, (runs * 2 + 129) & 0xff, 'iqn.2026-11.org.scst-usermode.bench:storm');
    try {
      put('storm-relogin', again.loggedIn.ms, again.cpu);
      await logoutAll(d, again);
    } finally {
      await again.client.finish();
    }
  };

  return {
    id: STORM_GROUP_ID,
    rows,
    measure: async (main) => {
      const out = new Map<string, RowSample>();
      let d: BenchDaemon | null = null;
      try {
        d = await o.launch(main.name);
        await measureOn(d, out);
      } catch (e) {
        const error = (e as Error).message;
        for (const r of rows) if (!out.has(r.id)) out.set(r.id, { value: null, serverCpu: null, otherCpu: null, error });
      } finally {
        await d?.stop();
      }
      return out;
    },
  };
}
