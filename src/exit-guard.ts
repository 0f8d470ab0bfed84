// The last bound on the daemon's exit (native/pio/exit_guard.c): process.exit() waits for libuv
// to join its thread pool, and a pool thread blocked in the kernel (a file on a hung NFS server, a
// dead block device, a FUSE server that never answers) makes it wait for ever. A thread started
// beforehand ends the process with _exit() when the exit has not happened in time.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

interface ExitGuardAddon {
  arm(ms: number, code: number, message: string): void;
  now(code: number): never;
}

function load(): ExitGuardAddon | null {
  const require = createRequire(import.meta.url);
  // From src/ (tests run the sources) and from dist/src/.
  for (const rel of ['../native/pio/build/Release/exit_guard.node', '../../native/pio/build/Release/exit_guard.node']) {
    try {
      const m = require(fileURLToPath(new URL(rel, import.meta.url))) as Partial<ExitGuardAddon>;
      if (typeof m.arm === 'function' && typeof m.now === 'function') return m as ExitGuardAddon;
    } catch {
      // not built there; the next candidate, or none
    }
  }
  return null;
}

const addon = load();

/** Whether the guard can be armed (the addon is built). */
export const exitGuardAvailable = addon !== null;

/**
 * Ends the process with `code` after `ms` unless it has ended by then, writing `message` to
 * stderr first. Returns false when the addon is missing (the caller then has no bound beyond
 * process.exit itself).
 */
export function armExitGuard(ms: number, code: number, message: string): boolean {
  if (!addon) return false;
  try {
    addon.arm(Math.max(0, Math.round(ms)), code, message);
    return true;
  } catch {
    return false;
  }
}

/**
 * Ends the process with `code` now (_exit: no 'exit' listeners, no cleanup hooks, no teardown of
 * the isolate). Only for the very end of the daemon, after its log is flushed: Node's teardown
 * frees buffers that native threads it does not know of still use (fuse-native's libfuse
 * threads, never joined), and crashed a cleanly shut down daemon. Falls back to process.exit(),
 * also when a profiler is on (its file is written in the teardown).
 */
export function exitImmediately(code: number): never {
  // A profiler asked for on the command line (SCSTD_NODE_ARGS=--cpu-prof) writes its file in the teardown.
  if (addon && !process.execArgv.some((a) => /^--(cpu-prof|heap-prof|prof\b)/.test(a))) addon.now(code);
  process.exit(code);
}
