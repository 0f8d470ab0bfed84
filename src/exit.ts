// The end of the daemon, after its shutdown: nothing may keep the process alive any more. The
// event loop is given a moment to drain by itself; whatever still holds it then is named in one
// log line, closed at once, and the process ends within a fixed bound whatever it was. The end
// itself is _exit() (exit-guard.ts): Node's teardown joins libuv's pool (unbounded) and frees
// memory native threads it never joins still use (a crash after a clean shutdown).
import { ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { Logger } from 'pino';
import { armExitGuard, exitGuardAvailable, exitImmediately } from './exit-guard.js';

/** Something the daemon owns that could outlive its shutdown. */
export interface ExitHolder {
  /** What of it is still open, one phrase each; empty when nothing is. */
  alive(): string[];
  /** Close whatever is left, now, without waiting for anything. */
  forceClose(): void;
  /** Node handles (sockets, servers) it names itself, which the generic list then leaves out. */
  handles?(): unknown[];
  /** A thread of libuv's pool is (or may be) blocked in the kernel for it: process.exit() would wait for it. */
  blocksExit?(): boolean;
}

/**
 * The loop's time to drain by itself after shutdown (sockets and handles closed in the last steps
 * finish closing within a few turns). Timers of this module are unref'd: they fire only while
 * something else still holds the loop, which is exactly when they are needed.
 */
const SETTLE_MS = 200;
/** After the force-close: time for the closes to complete before process.exit(). */
const DRAIN_MS = 200;
/**
 * When only timers are left, more time for them to fire: a client library's reconnect back-off
 * armed just before its connection was closed (etcd3's, at most 1 s) ends by itself.
 */
const TIMER_GRACE_MS = 1200;
/** Bound on process.exit() itself, which joins libuv's thread pool (see exit-guard.ts). */
const GUARD_MS = 1000;
/** The longest this phase takes, from the exit balance line to the end of the process. */
export const EXIT_PHASE_MS = SETTLE_MS + TIMER_GRACE_MS + DRAIN_MS + GUARD_MS;

type ProcessInternals = { _getActiveHandles?: () => unknown[]; _getActiveRequests?: () => unknown[] };

interface Straggler {
  what: string;
  close(): void;
}

function describeSocket(s: net.Socket): string {
  if (s.remoteAddress) return `socket ${s.localAddress}:${s.localPort} <- ${s.remoteAddress}:${s.remotePort}`;
  return 'socket (pipe or Unix)';
}

/**
 * Node's own view of what holds the loop, for what no holder names: handles (sockets, servers,
 * child processes, watchers) one by one, requests by type (a file system request still listed
 * here is a pool thread blocked in the kernel), ref'd timers counted. process._getActiveHandles
 * and _getActiveRequests give the objects, so that they can be named and closed;
 * getActiveResourcesInfo() gives what they do not show (timers). Standard streams are left out:
 * they never keep the loop alive by themselves.
 */
function nodeStragglers(known: Set<unknown>): Straggler[] {
  const p = process as unknown as ProcessInternals;
  const out: Straggler[] = [];
  const stdio = new Set<unknown>([process.stdin, process.stdout, process.stderr]);
  for (const h of p._getActiveHandles?.() ?? []) {
    if (stdio.has(h) || known.has(h)) continue;
    if (h instanceof net.Socket) out.push({ what: describeSocket(h), close: () => h.destroy() });
    else if (h instanceof net.Server) {
      const a = h.address();
      out.push({ what: `server ${typeof a === 'string' ? a : a ? `${a.address}:${a.port}` : '(not listening)'}`, close: () => h.close() });
    } else if (h instanceof ChildProcess) out.push({ what: `child process ${h.pid} (${h.spawnfile})`, close: () => h.kill('SIGKILL') });
    else {
      const o = h as { constructor?: { name?: string }; close?: () => void; stop?: () => void };
      out.push({ what: o.constructor?.name ?? 'handle', close: () => (typeof o.close === 'function' ? o.close() : o.stop?.()) });
    }
  }
  const counted = new Map<string, number>();
  for (const r of p._getActiveRequests?.() ?? []) {
    const name = (r as { constructor?: { name?: string } }).constructor?.name ?? 'request';
    counted.set(name, (counted.get(name) ?? 0) + 1);
  }
  for (const t of process.getActiveResourcesInfo()) if (t === 'Timeout' || t === 'Immediate') counted.set(t, (counted.get(t) ?? 0) + 1);
  const explain: Record<string, string> = {
    FSReqCallback: 'file system request (a pool thread is blocked in the kernel)',
    Timeout: 'timer',
    Immediate: 'immediate',
  };
  for (const [name, n] of counted) {
    const what = explain[name] ?? name;
    out.push({ what: n > 1 ? `${what} x${n}` : what, close: () => undefined });
  }
  return out;
}

/** Everything still open: what the holders name, then what only Node knows of. */
export function stillAlive(holders: ExitHolder[]): { names: string[]; close: () => void } {
  const known = new Set<unknown>();
  for (const h of holders) for (const x of h.handles?.() ?? []) known.add(x);
  const own = holders.flatMap((h) => h.alive());
  const node = nodeStragglers(known);
  return {
    names: [...own, ...node.map((s) => s.what)],
    close: () => {
      for (const h of holders) {
        try {
          h.forceClose();
        } catch {
          // closing what is left must go on with the rest
        }
      }
      for (const s of node) {
        try {
          s.close();
        } catch {
          // idem
        }
      }
    },
  };
}

function later(ms: number, fn: () => void): void {
  setTimeout(fn, ms).unref();
}

/**
 * End the process after shutdown, with `code` when the loop drains by itself. When it does not
 * within SETTLE_MS (plus TIMER_GRACE_MS when only timers hold it), what holds it is logged in one
 * line and force-closed, and the exit code
 * becomes 1 (the shutdown was not clean); DRAIN_MS later process.exit() runs, bounded by the
 * native guard. Never resolves: the process ends.
 */
export function finishExit(log: Logger, code: number, holders: ExitHolder[]): void {
  process.exitCode = code;
  log.flush();
  // The loop drained by itself: end here rather than in Node's teardown (exitImmediately says why).
  process.once('beforeExit', () => {
    log.flush();
    exitImmediately(typeof process.exitCode === 'number' ? process.exitCode : code);
  });
  const onlyTimers = (names: string[]) => names.length > 0 && names.every((n) => /^(timer|immediate)( x\d+)?$/.test(n));
  const settle = (graceLeft: boolean) => {
    const left = stillAlive(holders);
    if (graceLeft && onlyTimers(left.names)) {
      later(TIMER_GRACE_MS, () => settle(false));
      return;
    }
    const what = left.names.length ? left.names.join(', ') : 'nothing Node or the daemon can name (a native handle)';
    log.error({ stillAlive: left.names }, `exit: still alive after shutdown: ${what}; force-closing`);
    process.exitCode = 1;
    left.close();
    log.flush();
    later(DRAIN_MS, () => exitNow(log, 1, 'the event loop did not drain after the force-close', holders));
  };
  later(SETTLE_MS, () => settle(true));
}

/** Whether process.exit() may wait for ever: a request of libuv's pool is still out. */
function poolMayBlock(holders: ExitHolder[]): boolean {
  const reqs = (process as unknown as ProcessInternals)._getActiveRequests?.() ?? [];
  return reqs.length > 0 || holders.some((h) => h.blocksExit?.() === true);
}

/**
 * process.exit(code) now, bounded by the native guard; logs why. Without the guard (addon not
 * built) and with a pool thread possibly stuck, the process kills itself instead: its status then
 * says SIGKILL rather than `code`, but it ends.
 */
export function exitNow(log: Logger, code: number, why: string, holders: ExitHolder[] = []): never {
  log.error({ code }, `exit: ${why}; exiting with code ${code}`);
  log.flush();
  if (exitGuardAvailable) exitImmediately(code); // joins nothing, so nothing can hold it
  const guarded = armExitGuard(GUARD_MS, code, `scstd: exit blocked for ${GUARD_MS} ms (a thread stuck in the kernel); ended with code ${code}`);
  if (!guarded && poolMayBlock(holders)) {
    log.error('exit: no exit guard (native addon not built) and a pool thread may be stuck in the kernel: ending with SIGKILL');
    log.flush();
    process.kill(process.pid, 'SIGKILL');
  }
  process.exit(code);
}
