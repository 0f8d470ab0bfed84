#!/usr/bin/env node
// scstadmin: administers an SCST management tree (scstd's FUSE mount, or a kernel's
// /sys/kernel/scst_tgt with --root /) the way SCST's own scstadmin does. A separate process:
// it only reads and writes tree files, never talks to scstd otherwise.

import { runScstadmin } from '../scstadmin/cli/main.js';
import { DEFAULT_MOUNT as DEFAULT_ROOT } from './package-paths.js';

/** An unanswered confirmation prompt counts as "no" after this long. */
const PROMPT_TIMEOUT_MS = 10 * 60_000;

/** Lines of stdin, read on demand for the confirmation prompt; EOF or the bound gives undefined. */
function lineReader(): () => Promise<string | undefined> {
  let buffered = '';
  let ended = false;
  const waiters: Array<() => void> = [];
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d: string) => {
      buffered += d;
      waiters.splice(0).forEach((w) => w());
    });
    process.stdin.on('end', () => {
      ended = true;
      waiters.splice(0).forEach((w) => w());
    });
    process.stdin.on('error', () => {
      ended = true;
      waiters.splice(0).forEach((w) => w());
    });
  };
  return async () => {
    start();
    process.stdin.resume();
    const deadline = Date.now() + PROMPT_TIMEOUT_MS;
    for (;;) {
      const nl = buffered.indexOf('\n');
      if (nl >= 0) {
        const line = buffered.slice(0, nl + 1);
        buffered = buffered.slice(nl + 1);
        process.stdin.pause();
        return line;
      }
      if (ended) {
        const rest = buffered;
        buffered = '';
        return rest === '' ? undefined : rest;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        process.stdin.pause();
        return undefined;
      }
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  };
}

function abort(): void {
  process.stdout.write('\n\nAborting immediately.\n', () => process.exit(1));
}
process.on('SIGINT', abort);
process.on('SIGTERM', abort);

runScstadmin({
  argv: process.argv.slice(2),
  env: process.env,
  out: { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) },
  readLine: lineReader(),
  euid: typeof process.geteuid === 'function' ? process.geteuid() : 0,
  defaultRoot: DEFAULT_ROOT,
}).then(
  (code) => {
    process.exitCode = code;
    process.stdin.destroy();
  },
  (e: unknown) => {
    process.stderr.write(`scstadmin: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
    process.stdin.destroy();
  },
);
