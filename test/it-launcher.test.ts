// bin/scstd: the launcher picks V8's start-up options for the CPUs it may use, then becomes the
// daemon (exec), so the PID a supervisor started is the daemon's and SIGTERM reaches it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpDir } from './helpers/files.js';
import { describeRun, freePort, killAllTracked, run, track, waitExit } from './helpers/proc.js';
import { assertScstdBuilt } from './helpers/scstd.js';

const LAUNCHER = resolve(import.meta.dirname, '..', 'bin', 'scstd');
const SCSTADMIN = resolve(import.meta.dirname, '..', 'dist', 'src', 'bin', 'scstadmin.js');
const DEFAULT_MOUNT = resolve(import.meta.dirname, '..', 'mount');

/** Whether a FUSE mount is at `dir` now (the mount table; the mount itself is never touched). */
function mountedNow(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === dir);
}

afterEach(() => killAllTracked());

/** Starts bin/scstd (without --mount when `defaultMount`), runs `whileReady`, stops it with SIGTERM. */
async function runLauncher(
  prefix: string[],
  o: { defaultMount?: boolean; whileReady?: () => Promise<void> } = {},
): Promise<{ ready: Record<string, unknown>; pid: number; code: number | null; output: string; argv: string[] }> {
  await assertScstdBuilt();
  const port = await freePort();
  const state = join(await tmpDir('launcher-'), 'state');
  const [cmd, ...args] = [...prefix, LAUNCHER, '--listen', `127.0.0.1:${port}`, '--state-dir', state, ...(o.defaultMount ? [] : ['--no-mount']), '--no-user-socket'];
  const child = track(spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  const ready = await new Promise<Record<string, unknown>>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no ready line within 20 s:\n${output}`)), 20_000);
    const onData = (s: string): void => {
      output += s;
      const line = output.split('\n').find((l) => l.includes('scstd ready'));
      if (line) {
        clearTimeout(timer);
        res(JSON.parse(line) as Record<string, unknown>);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (s: string) => (output += s));
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`exited (${code}) before ready:\n${output}`));
    });
  });
  // What node was started with, as the kernel has it (the launcher exec'd into node).
  const argv = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
  try {
    await o.whileReady?.();
  } finally {
    child.kill('SIGTERM');
  }
  const { code } = await waitExit(child, 10_000);
  return { ready, pid: child.pid!, code, output, argv };
}

describe('bin/scstd launcher', () => {
  it('on one CPU (taskset): single-threaded GC; exec keeps the PID, SIGTERM exits 0 with balance', async () => {
    const r = await runLauncher(['taskset', '-c', '0']);
    expect(r.ready.gc).toBe('single-threaded');
    expect(r.ready.pid).toBe(r.pid); // the launcher became the daemon: no shell in between
    expect(r.argv.slice(1, 3)).toEqual(['--max-semi-space-size=2', '--single-threaded-gc']);
    expect(r.code).toBe(0);
    expect(r.output).toMatch(/exit balance: commands 0, pool buffers 0/);
    expect(r.output).not.toMatch(/only one CPU and concurrent/);
  });

  it.skipIf(availableParallelism() < 2)('with more CPUs: concurrent GC', async () => {
    const r = await runLauncher([]);
    expect(r.ready.gc).toBe('concurrent');
    expect(r.argv).toContain('--max-semi-space-size=2');
    expect(r.argv).not.toContain('--single-threaded-gc');
    expect(r.code).toBe(0);
  });
});

describe('the tree by default', () => {
  // The package's mount/ is shared by every daemon started from this checkout: one already there
  // (a developer's) is not ours to take over.
  it.skipIf(mountedNow(DEFAULT_MOUNT))('without --mount the tree is on the package\'s mount/, scstadmin without --root administers it, and SIGTERM unmounts it', async () => {
    let listed = '';
    const r = await runLauncher([], {
      defaultMount: true,
      whileReady: async () => {
        expect(mountedNow(DEFAULT_MOUNT)).toBe(true);
        const a = await run(process.execPath, [SCSTADMIN, '-list_target'], { timeoutMs: 30_000 });
        expect(a.code, describeRun('scstadmin -list_target', a)).toBe(0);
        listed = a.stdout;
      },
    });
    expect(listed).toMatch(/iqn\.2026-11\.org\.scst-usermode:default/);
    expect(r.output).toContain(`management tree mounted at ${DEFAULT_MOUNT}`);
    expect(r.code).toBe(0);
    expect(mountedNow(DEFAULT_MOUNT)).toBe(false);
  });
});

describe('gc-mode', () => {
  it('reports what node was started with, and hints only on one CPU with helper threads', async () => {
    const { gcMode, gcModeHint } = await import('../src/gc-mode.js');
    expect(gcMode(['--single-threaded-gc'])).toBe('single-threaded');
    expect(gcMode(['--cpu-prof'])).toBe('concurrent');
    expect(gcModeHint('concurrent', 1)).toMatch(/bin\/scstd/);
    expect(gcModeHint('single-threaded', 1)).toBeNull();
    expect(gcModeHint('concurrent', 2)).toBeNull();
  });
});
