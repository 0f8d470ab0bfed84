// Issue 2, part 6: SIGTERM while two sessions have large writes in flight: the daemon exits 0
// within 5 s and its exit balance shows no command and no pool buffer left behind.
// Issue 14: the process ends within its bound after SIGTERM whatever is still open -- the mount
// gone or its unmount hanging, a management command stuck in the kernel with its writer waiting
// in the tree, a handler that never answers -- and the log names what had to be force-closed.
import { spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fuseMountsAt } from '../src/pde-fuse/mountinfo.js';
import { EXIT_PHASE_MS } from '../src/exit.js';
import { SHUTDOWN_MARGIN_MS } from '../src/shutdown.js';
import { installHarnessHooks, onCleanup } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { qemuIo, type IscsiTarget, type QemuIoResult } from './helpers/initiators.js';
import { describeRun, pollUntil, run, sleep, track, waitExit } from './helpers/proc.js';
import { Cdb, RawIscsiClient } from './helpers/rawclient.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';
import { startRamdisk } from './helpers/user-handler.js';

installHarnessHooks();

const MiB = 1024 * 1024;
const TARGET = 'iqn.2026-11.test:shutdown';

/** Big writes, several in flight at once (aio), repeated long enough to outlast the test. */
function bigWrites(pattern: number, diskBytes: number): string[] {
  const cmds: string[] = [];
  for (let round = 0; round < 20; round++) {
    for (let off = 0; off + 8 * MiB <= diskBytes; off += 8 * MiB) cmds.push(`aio_write -P ${pattern} ${off} ${8 * MiB}`);
    cmds.push('aio_flush');
  }
  return cmds;
}

describe('shutdown under load', () => {
  it.each([['SIGTERM'], ['SIGINT']] as const)('%s with I/O in flight from two sessions', async (signal) => {
    const dir = await tmpDir();
    const diskBytes = 128 * MiB;
    const d = await startScstd({
      config: scstConf({
        devices: [
          { handler: 'vdisk_fileio', name: 'sd0', attrs: { filename: await sparseFile(join(dir, 'sd0.img'), diskBytes) } },
          { handler: 'vdisk_fileio', name: 'sd1', attrs: { filename: await sparseFile(join(dir, 'sd1.img'), diskBytes) } },
        ],
        targets: [{ name: TARGET, luns: [[0, 'sd0'], [1, 'sd1']] }],
      }),
    });
    const lu = (lun: number): IscsiTarget => ({ port: d.ports[0]!, target: TARGET, lun, initiator: `iqn.2026-11.test:shut-${lun}` });
    const abort = new AbortController();
    const settled: Array<QemuIoResult | null> = [null, null];
    const writers = [0, 1].map((i) =>
      qemuIo(lu(i), bigWrites(0x30 + i, diskBytes), { timeoutMs: 120_000, signal: abort.signal }).then((r) => {
        settled[i] = r;
        return r;
      }),
    );
    try {
      // Let both sessions log in and get well into their writes.
      await sleep(2_000);
      expect(settled, 'a writer finished (or failed) before the signal: the workload is too short').toEqual([null, null]);

      const stopped = await d.stop(signal, 15_000);
      expect(stopped.timedOut, d.recentOutput()).toBe(false);
      expect(stopped.code, `signal ${stopped.signal}\n${d.recentOutput()}`).toBe(0);
      expect(stopped.elapsedMs, d.recentOutput()).toBeLessThan(5_000);
      expect(d.exitBalance(), d.recentOutput()).toEqual({ commands: 0, poolBuffers: 0 });
    } finally {
      // libiscsi keeps reconnecting to a vanished target: end the initiators ourselves.
      abort.abort();
      await Promise.all(writers);
    }
  }, 180_000);
});

// ---- issue 14: nothing outlives the shutdown ------------------------------------------------

const RISK_TARGET = 'iqn.2026-11.test:shutrisk';
const TEARDOWN_MS = 2000;
/**
 * The daemon's promise: --teardown-timeout, the shutdown's margin, the exit phase; plus 1.5 s for
 * signal delivery and process start-up costs on a loaded two-CPU machine.
 */
const EXIT_BOUND_MS = TEARDOWN_MS + SHUTDOWN_MARGIN_MS + EXIT_PHASE_MS + 1500;

const RISK_CONFIG = `HANDLER vdisk_fileio {
	DEVICE fd0 {
		filename %STATE_DIR%/fd0.img
		size_mb 64
	}
}
HANDLER scst_user {
	DEVICE ram0 {
	}
}
TARGET_DRIVER iscsi {
	enabled 1
	TARGET ${RISK_TARGET} {
		enabled 1
		LUN 0 fd0
		LUN 1 ram0
	}
}
`;

interface Risky {
  d: ScstdHandle;
  mnt: string;
  sys: string;
  work: string;
}

async function startRisky(extra: { env?: Record<string, string> } = {}): Promise<Risky> {
  const work = await tmpDir('scst-shutrisk-');
  const mnt = join(work, 'mnt');
  const d = await startScstd({ config: RISK_CONFIG, extraArgs: ['--mount', mnt, '--teardown-timeout', String(TEARDOWN_MS)], env: extra.env });
  return { d, mnt, sys: join(mnt, 'sys', 'kernel', 'scst_tgt'), work };
}

async function sh(script: string, cwd?: string): Promise<void> {
  const r = await run('bash', ['-c', script], { cwd, timeoutMs: 30_000 });
  expect(r.code, describeRun(script, r)).toBe(0);
}

/** A logged-in raw session on `lun`, its power-on unit attention consumed. */
async function session(port: number, name: string, lun: number): Promise<RawIscsiClient> {
  const c = await RawIscsiClient.connect(port);
  onCleanup(`raw session ${name}`, () => c.destroy());
  expect((await c.login({ initiatorName: `iqn.2026-11.test:${name}`, targetName: RISK_TARGET })).ok).toBe(true);
  await c.scsi({ cdb: Cdb.testUnitReady(), lun });
  return c;
}

/** A shell reading tree files in a loop: some FUSE request is in progress at any moment. */
function treeReader(r: Risky): { stop: () => Promise<void> } {
  const script = `while :; do cat ${r.sys}/targets/iscsi/${RISK_TARGET}/sessions/*/* ${r.mnt}/proc/scsi_tgt/sessions ${r.sys}/devices/*/size; done >/dev/null 2>&1`;
  const child = track(spawn('bash', ['-c', script], { stdio: 'ignore' }));
  onCleanup('tree reader', () => child.kill('SIGKILL'));
  return {
    stop: async () => {
      child.kill('SIGKILL');
      await waitExit(child, 5_000);
    },
  };
}

function stillAliveLine(d: ScstdHandle): Record<string, unknown> | null {
  return d.logs().find((l) => /^exit: still alive after shutdown/.test(l.msg))?.json ?? null;
}

describe('shutdown is bounded whatever is still open (issue 14)', () => {
  it('after management commands, a force-closed session, a handler connected and a reader in the tree: exits 0 within the bound', async () => {
    const r = await startRisky();
    const { d, sys } = r;
    const port = d.ports[0]!;
    await startRamdisk(d);
    const a = await session(port, 'shut-a', 0);
    const b = await session(port, 'shut-b', 1);
    const abort = new AbortController();
    const writer = qemuIo({ port, target: RISK_TARGET, lun: 0, initiator: 'iqn.2026-11.test:shut-q' }, bigWrites(0x5a, 64 * MiB), { timeoutMs: 60_000, signal: abort.signal });
    try {
      const img = await sparseFile(join(r.work, 'x1.img'), 8 * MiB);
      const tg = `targets/iscsi/${RISK_TARGET}`;
      await sh(
        [
          `echo "add_device x1 filename=${img}" > handlers/vdisk_fileio/mgmt`,
          `echo "add x1 5" > ${tg}/luns/mgmt`,
          `echo "create G" > ${tg}/ini_groups/mgmt`,
          `echo "add iqn.2026-11.test:nobody" > ${tg}/ini_groups/G/initiators/mgmt`,
          `echo "del 5" > ${tg}/luns/mgmt`,
          `echo "del G" > ${tg}/ini_groups/mgmt`,
          'echo "del_device x1" > handlers/vdisk_fileio/mgmt',
          `echo 1 > ${tg}/sessions/iqn.2026-11.test:shut-a/force_close`,
        ].join(' && '),
        sys,
      );
      expect(await a.waitClosed(5_000)).toBe(true);
      expect((await b.scsi({ cdb: Cdb.read10(0, 8), lun: 1, readLength: 4096 })).status).toBe(0);
      const reader = treeReader(r);
      await sleep(500);
      const stopped = await d.stop('SIGTERM', EXIT_BOUND_MS + 10_000);
      await reader.stop();
      expect(stopped.timedOut, d.recentOutput()).toBe(false);
      expect(stopped.elapsedMs, d.recentOutput()).toBeLessThan(EXIT_BOUND_MS);
      expect(stopped.code, `signal ${stopped.signal}\n${d.recentOutput()}`).toBe(0);
      expect(d.exitBalance(), d.recentOutput()).toEqual({ commands: 0, poolBuffers: 0 });
      expect(stillAliveLine(d), d.recentOutput()).toBeNull();
    } finally {
      abort.abort();
      await writer;
    }
  }, 120_000);

  it('the mount removed by someone else before SIGTERM: the FUSE session no longer holds the process', async () => {
    const r = await startRisky();
    await startRamdisk(r.d);
    await session(r.d.ports[0]!, 'shut-c', 1);
    await sh(`fusermount -u ${r.mnt}`);
    const stopped = await r.d.stop('SIGTERM', EXIT_BOUND_MS + 10_000);
    // Before the fix the process stayed alive for ever after its exit balance line.
    expect(stopped.timedOut, r.d.recentOutput()).toBe(false);
    expect(stopped.elapsedMs, r.d.recentOutput()).toBeLessThan(EXIT_BOUND_MS);
    expect(stopped.code, r.d.recentOutput()).toBe(0);
    await r.d.waitForLog(/was no longer mounted/, 1_000);
  }, 60_000);

  it('a management command stuck in the kernel, its writer waiting in the tree: force-closed, named, exit 1 within the bound', async () => {
    const r = await startRisky();
    await startRamdisk(r.d);
    await session(r.d.ports[0]!, 'shut-d', 0);
    // A read-only open of a FIFO blocks until a writer comes: a pool thread stuck in the kernel,
    // as on a hung NFS server. The shell's write waits for the command (up to the sysfs bound).
    const fifo = join(r.work, 'stuck.fifo');
    await sh(`mkfifo ${fifo}`);
    const stuck = track(spawn('bash', ['-c', `echo "add_device x2 filename=${fifo}; read_only=1" > handlers/vdisk_fileio/mgmt`], { cwd: r.sys, stdio: 'ignore' }));
    onCleanup('stuck writer', () => stuck.kill('SIGKILL'));
    await sleep(1_000);
    const stopped = await r.d.stop('SIGTERM', EXIT_BOUND_MS + 10_000);
    expect(stopped.timedOut, r.d.recentOutput()).toBe(false);
    expect(stopped.elapsedMs, r.d.recentOutput()).toBeLessThan(EXIT_BOUND_MS);
    expect(stopped.code, r.d.recentOutput()).toBe(1); // not clean: something had to be forced
    expect(r.d.exitBalance(), r.d.recentOutput()).toEqual({ commands: 0, poolBuffers: 0 });
    const alive = stillAliveLine(r.d);
    expect(alive, r.d.recentOutput()).not.toBeNull();
    const names = (alive!.stillAlive as string[]).join('\n');
    expect(names).toMatch(/FUSE write\(s\) unanswered \(\/sys\/kernel\/scst_tgt\/handlers\/vdisk_fileio\/mgmt\)/);
    expect(names).toMatch(/file system request/);
    // The writer was answered (ENOTCONN), not left hanging.
    expect((await waitExit(stuck, 5_000)).timedOut).toBe(false);
  }, 60_000);

  it('an unmount helper that hangs: the shutdown goes on without it and ends within the bound', async () => {
    // fusermount first in PATH: mounting works as usual, unmounting hangs.
    const bin = await tmpDir('scst-fakebin-');
    const fake = join(bin, 'fusermount');
    await writeFile(fake, `#!/bin/sh\ncase " $* " in *" -u"*) exec sleep 60;; esac\nexec /usr/bin/fusermount "$@"\n`);
    await chmod(fake, 0o755);
    const r = await startRisky({ env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` } });
    await startRamdisk(r.d);
    await session(r.d.ports[0]!, 'shut-e', 0);
    const stopped = await r.d.stop('SIGTERM', EXIT_BOUND_MS + 10_000);
    expect(stopped.timedOut, r.d.recentOutput()).toBe(false);
    expect(stopped.elapsedMs, r.d.recentOutput()).toBeLessThan(EXIT_BOUND_MS);
    expect(stopped.code, r.d.recentOutput()).toBe(1);
    await r.d.waitForLog(/shutdown: unmounting the management tree (not done within \d+ ms|failed)/, 1_000);
    expect(r.d.exitBalance(), r.d.recentOutput()).toEqual({ commands: 0, poolBuffers: 0 });
    // libfuse's auto_unmount helper removes the mount once the daemon is gone.
    expect(await pollUntil(async () => (await fuseMountsAt(r.mnt)).length === 0, 10_000)).toBe(true);
  }, 60_000);

  it('a handler that never answers, with commands in flight: exits 0 within the bound, nothing left behind', async () => {
    const r = await startRisky();
    await startRamdisk(r.d, ['--delay-ms', '600000']);
    const url = `iscsi://127.0.0.1:${r.d.ports[0]}/${RISK_TARGET}/1`;
    const abort = new AbortController();
    const bench = run('qemu-img', ['bench', '-f', 'raw', '-t', 'none', '-w', '-c', '32', '-d', '32', '-s', '4k', url], { timeoutMs: 30_000, signal: abort.signal });
    try {
      await r.d.waitForLog(/logged in/, 10_000);
      await sleep(1_000);
      const stopped = await r.d.stop('SIGTERM', EXIT_BOUND_MS + 10_000);
      expect(stopped.timedOut, r.d.recentOutput()).toBe(false);
      expect(stopped.elapsedMs, r.d.recentOutput()).toBeLessThan(EXIT_BOUND_MS);
      expect(stopped.code, r.d.recentOutput()).toBe(0);
      expect(r.d.exitBalance(), r.d.recentOutput()).toEqual({ commands: 0, poolBuffers: 0 });
      await r.d.waitForLog(/target shutting down: \d+ command\(s\) of user handler/, 1_000);
    } finally {
      abort.abort();
      await bench;
    }
  }, 60_000);
});
