import { spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks, onCleanup } from './helpers/cleanup.js';
import { describeRun, freePort, pollUntil, run, track, waitExit } from './helpers/proc.js';

// The installable package, as an administrator gets it: `npm pack` of this checkout (built by the
// test command), `npm install -g` of the tarball into a temporary prefix, and the installed
// commands run from there: scstd on its embedded default config with its tree on the installed
// package's mount/, scstadmin finding that tree without --root, the native addon built by the
// package's install script.

installHarnessHooks();

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_TARGET = 'iqn.2026-11.org.scst-usermode:default';

/** The environment without what `npm test` sets for its own scripts (npm_config_prefix etc.). */
function cleanEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (/^npm_/i.test(k)) env[k] = undefined;
  return env;
}

async function mounted(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => l.split(' ')[4] === dir);
}

describe('installable package', () => {
  let tmp = '';
  let prefix = '';
  let pkgDir = '';

  beforeAll(async () => {
    tmp = await mkdtemp(join(os.tmpdir(), 'scst-pkg-'));
    prefix = join(tmp, 'prefix');
    const env = cleanEnv();
    // dist/ is built by the test command; pack it as it is.
    const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], { cwd: REPO_ROOT, env, timeoutMs: 120_000 });
    if (pack.code !== 0) throw new Error(describeRun('npm pack', pack));
    const tarball = join(tmp, pack.stdout.trim().split('\n').pop()!);
    // Global installs take their install-script approvals from the command line or the user's
    // npm config, not from a package.json: both scripts are approved here explicitly.
    const inst = await run('npm', ['install', '-g', '--allow-scripts=scst-usermode,fuse-native', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, tarball], { cwd: tmp, env, timeoutMs: 300_000 });
    if (inst.code !== 0) throw new Error(describeRun('npm install -g', inst));
    pkgDir = join(prefix, 'lib', 'node_modules', 'scst-usermode');
  }, 420_000);

  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('installs the three commands, the default config and the native addon', async () => {
    for (const cmd of ['scstd', 'scstadmin', 'scst-user-ramdisk']) await access(join(prefix, 'bin', cmd));
    await access(join(pkgDir, 'etc', 'scstd-default.conf'));
    await access(join(pkgDir, 'native', 'pio', 'build', 'Release', 'pio.node'));
    await access(join(pkgDir, 'native', 'pio', 'build', 'Release', 'exit_guard.node'));
    // Only what the installed program needs: no tests, no benchmark.
    await expect(access(join(pkgDir, 'test'))).rejects.toThrow();
    await expect(access(join(pkgDir, 'dist', 'bench'))).rejects.toThrow();
  });

  it('the installed scstd serves its default config with its tree mounted; the installed scstadmin lists it', async () => {
    const port = await freePort();
    const state = join(tmp, 'state');
    const mountDir = join(pkgDir, 'mount');
    const child = track(spawn(join(prefix, 'bin', 'scstd'), ['--listen', `127.0.0.1:${port}`, '--state-dir', state], { cwd: tmp, env: { ...process.env, ...cleanEnv() }, stdio: ['ignore', 'pipe', 'pipe'] }));
    onCleanup('installed scstd', () => child.kill('SIGKILL'));
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
    const ready = await pollUntil(async () => out.split('\n').find((l) => l.includes('scstd ready')), 30_000);
    expect(ready, out).toBeDefined();
    expect(JSON.parse(ready!).fileIo).toMatch(/^native/);
    expect(await mounted(mountDir)).toBe(true);

    const list = await run(join(prefix, 'bin', 'scstadmin'), ['-list_target'], { cwd: tmp, timeoutMs: 60_000 });
    expect(list.code, describeRun('scstadmin -list_target', list)).toBe(0);
    expect(list.stdout).toContain(DEFAULT_TARGET);

    const help = await run(join(prefix, 'bin', 'scst-user-ramdisk'), ['--help'], { cwd: tmp, timeoutMs: 30_000 });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: scst-user-ramdisk/);

    child.kill('SIGTERM');
    const exit = await waitExit(child, 30_000);
    expect(exit).toEqual({ code: 0, signal: null, timedOut: false });
    expect(await mounted(mountDir)).toBe(false);
  }, 120_000);
});
