// How V8 collects garbage in this process, as bin/scstd chose it at start-up.
import os from 'node:os';

/**
 * 'single-threaded' when node was started with --single-threaded-gc (bin/scstd does so when the
 * daemon may use one CPU only: there V8's helper threads could only take that CPU from the event
 * loop; measured with the daemon pinned to one CPU, 4 KiB writes at QD32 went from 48-60k to
 * 87-98k IOPS). The flag cannot be set from here: V8 reads it at start-up, and changing it in a
 * running isolate trips V8's own consistency checks.
 */
export function gcMode(execArgv = process.execArgv): 'single-threaded' | 'concurrent' {
  return execArgv.includes('--single-threaded-gc') ? 'single-threaded' : 'concurrent';
}

/** One CPU and helper threads on: worth a hint in the log. */
export function gcModeHint(mode = gcMode(), cpus = os.availableParallelism()): string | null {
  return cpus === 1 && mode === 'concurrent' ? 'only one CPU and concurrent garbage collection: start scstd through bin/scstd (or node --single-threaded-gc) to keep GC threads from preempting the event loop' : null;
}
