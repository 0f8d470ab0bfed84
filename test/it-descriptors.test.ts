// Descriptor exhaustion (issue 14): with its open-files limit lowered under it (prlimit on the
// running daemon, below the connection bound it computed at start), connections that never log
// in take every descriptor. accept() then fails with EMFILE: the daemon must survive it, say so,
// keep its management tree and its log working, refuse what needs a descriptor with a clear
// errno, and serve a legitimate initiator again once descriptors come back.
import { connect, type Socket } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { describeQemu, qemuIo } from './helpers/initiators.js';
import { run, sleep } from './helpers/proc.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd } from './helpers/scstd.js';

installHarnessHooks();

const MiB = 1024 * 1024;
const TARGET = 'iqn.2026-12.test:fds';
const LIMIT = 96;

/** Opens a connection that sends nothing; resolves once connected or refused (never hangs). */
function idle(port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    const t = setTimeout(() => {
      s.destroy();
      resolve(null);
    }, 5_000);
    s.on('error', () => undefined);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once('close', () => {
      clearTimeout(t);
      resolve(null);
    });
  });
}

describe('descriptor exhaustion', () => {
  it('accept failing with EMFILE is survived: the tree and the log keep working, and initiators get in once descriptors come back', async () => {
    const dir = await tmpDir();
    const mnt = join(dir, 'mnt');
    const img = await sparseFile(join(dir, 'd0.img'), 16 * MiB);
    const d = await startScstd({
      config: scstConf({ devices: [{ handler: 'vdisk_fileio', name: 'd0', attrs: { filename: img } }], targets: [{ name: TARGET, luns: [[0, 'd0']] }] }),
      extraArgs: ['--mount', mnt, '--login-timeout', '60'],
    });
    const port = d.ports[0]!;
    const lowered = await run('prlimit', ['--pid', String(d.pid), `--nofile=${LIMIT}:${LIMIT}`]);
    expect(lowered.code, lowered.stderr).toBe(0);

    // Twice the limit in idle connections: the kernel completes them all (the listen backlog),
    // the daemon can take only what its descriptors allow.
    const held: Socket[] = [];
    for (let i = 0; i < 2 * LIMIT; i++) {
      const s = await idle(port);
      if (s) held.push(s);
    }
    await d.waitForLog(/bound descriptors reached by 127\.0\.0\.1:\d+: (no descriptor left|\d+ of 96 descriptors in use)/, 10_000);
    expect(d.exited()).toBe(false);

    // The management tree answers (FUSE requests need no new descriptor of the daemon's) ...
    const sysfs = join(mnt, 'sys', 'kernel', 'scst_tgt');
    expect((await readFile(join(sysfs, 'version'), 'utf8')).length).toBeGreaterThan(0);
    // ... and what needs one fails with an errno the shell shows, logged, nothing changed.
    const img2 = await sparseFile(join(dir, 'd1.img'), 16 * MiB);
    const err = await writeFile(join(sysfs, 'handlers', 'vdisk_fileio', 'mgmt'), `add_device d1 filename=${img2}\n`).then(
      () => null,
      (e: NodeJS.ErrnoException) => e.code,
    );
    expect(err).not.toBeNull();
    await d.waitForLog(/d1/, 5_000);
    await expect(readFile(join(sysfs, 'devices', 'd1', 'filename'), 'utf8')).rejects.toThrow();

    // Descriptors come back: a legitimate initiator logs in and does verified I/O.
    for (const s of held) s.destroy();
    await sleep(300);
    const io = await qemuIo({ port, target: TARGET, lun: 0 }, ['write -P 0x3c 0 1M', 'read -P 0x3c 0 1M'], { timeoutMs: 30_000 });
    expect(io.ok, describeQemu(io)).toBe(true);

    const stop = await d.stop();
    expect(stop.timedOut).toBe(false);
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  });
});
