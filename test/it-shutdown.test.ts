// Issue 2, part 6: SIGTERM while two sessions have large writes in flight: the daemon exits 0
// within 5 s and its exit balance shows no command and no pool buffer left behind.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { qemuIo, type IscsiTarget, type QemuIoResult } from './helpers/initiators.js';
import { sleep } from './helpers/proc.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd } from './helpers/scstd.js';

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
      expect(stopped.code, d.recentOutput()).toBe(0);
      expect(stopped.elapsedMs, d.recentOutput()).toBeLessThan(5_000);
      expect(d.exitBalance(), d.recentOutput()).toEqual({ commands: 0, poolBuffers: 0 });
    } finally {
      // libiscsi keeps reconnecting to a vanished target: end the initiators ourselves.
      abort.abort();
      await Promise.all(writers);
    }
  }, 180_000);
});
