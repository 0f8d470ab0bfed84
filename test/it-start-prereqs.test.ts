import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { freePort, run } from './helpers/proc.js';

// The README's start command on a machine without FUSE's tools: scstd stops at once with one line
// naming what to install (instead of mounting a tree it could not remove later).

installHarnessHooks();

const SCSTD = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'dist', 'src', 'bin', 'scstd.js');

describe('scstd start-up prerequisites', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('without fusermount on PATH: exit 1, one line saying to install fuse or use --no-mount, nothing mounted', async () => {
    const tmp = await mkdtemp(join(os.tmpdir(), 'scstd-prereq-'));
    dirs.push(tmp);
    const emptyPath = join(tmp, 'bin');
    const port = await freePort();
    const r = await run(process.execPath, [SCSTD, '--listen', `127.0.0.1:${port}`, '--state-dir', join(tmp, 'state'), '--mount', join(tmp, 'mnt'), '--no-user-socket', '--log-level', 'fatal'], { env: { PATH: emptyPath }, timeoutMs: 30_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('scstd: cannot mount the management tree: fusermount is not installed (Debian: apt-get install -y fuse); or start scstd with --no-mount\n');
    expect(r.stdout).not.toContain('scstd ready');
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    expect(mounts).not.toContain(join(tmp, 'mnt'));
  });
});
