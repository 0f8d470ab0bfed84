// Removing a LUN while four sessions run I/O on it returns within the teardown bound; the
// sessions' other LUNs report REPORTED LUNS DATA HAS CHANGED, and the removed LUN is gone.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { tmpDir } from './helpers/files.js';
import { run } from './helpers/proc.js';
import { Cdb, RawIscsiClient, senseKey } from './helpers/rawclient.js';
import { startScstd } from './helpers/scstd.js';

installHarnessHooks();

const T = 'iqn.2026-11.test:lunrm';
const CONFIG = `HANDLER vdisk_fileio {
	DEVICE d0 {
		filename %STATE_DIR%/d0.img
		size_mb 32
	}
	DEVICE d1 {
		filename %STATE_DIR%/d1.img
		size_mb 8
	}
}
TARGET_DRIVER iscsi {
	enabled 1
	TARGET ${T} {
		enabled 1
		LUN 0 d0
		LUN 1 d1
	}
}
`;

describe('LUN removal under I/O', () => {
  it('del of a LUN with four sessions writing to it', async () => {
    const mnt = join(await tmpDir(), 'mnt');
    const d = await startScstd({ config: CONFIG, extraArgs: ['--mount', mnt] });
    const port = d.ports[0]!;
    const clients: RawIscsiClient[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await RawIscsiClient.connect(port);
      expect((await c.login({ initiatorName: `iqn.2026-11.test:lunrm-${i}`, targetName: T })).ok).toBe(true);
      await c.scsi({ cdb: Cdb.testUnitReady(), lun: 1 }); // consume power-on attentions
      await c.scsi({ cdb: Cdb.testUnitReady(), lun: 0 });
      clients.push(c);
    }
    // Each loop writes until a command fails (the LUN is gone); `giveUp` only bounds the wait if
    // the deletion never takes effect. Stopping the loops when `del` returns instead would race:
    // a loop whose last command was answered before the deletion may never send another.
    let giveUp = false;
    const statuses: Array<Array<number | null>> = clients.map(() => []);
    const loops = clients.map(async (c, i) => {
      for (let n = 0; !giveUp && n < 10_000; n++) {
        const r = await c.scsiOnce({ lun: 0, cdb: Cdb.write10((i * 64 + (n % 64)) * 16, 16), writeData: Buffer.alloc(8192, i + 1), timeoutMs: 10_000 });
        statuses[i]!.push(r.status);
        if (r.status !== 0) break;
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const del = await run('bash', ['-c', `echo "del 0" > ${join(mnt, 'sys/kernel/scst_tgt/targets/iscsi', T, 'luns/mgmt')}`], { timeoutMs: 20_000 });
    const elapsed = Date.now() - t0;
    expect(del.code, del.stderr).toBe(0);
    expect(elapsed).toBeLessThan(5000);
    const bound = setTimeout(() => (giveUp = true), 10_000);
    await Promise.all(loops);
    clearTimeout(bound);
    for (const s of statuses) {
      expect(s.filter((x) => x === 0).length).toBeGreaterThan(0); // I/O was really running
      expect(s.at(-1)).toBe(2); // ... until the LUN went away (CHECK CONDITION)
    }
    // Every session's remaining LUN reports the inventory change; LUN 0 is no longer reported.
    for (const c of clients) {
      const ua = await c.scsiOnce({ lun: 1, cdb: Cdb.testUnitReady(), keepUnitAttention: true });
      expect(ua.status).toBe(2);
      expect(senseKey(ua.sense)).toBe(6);
      expect([ua.sense![12], ua.sense![13]]).toEqual([0x3f, 0x0e]);
      const luns = await c.scsi({ lun: 1, cdb: Cdb.reportLuns(), readLength: 4096 });
      expect(luns.data.readUInt32BE(0)).toBe(8); // one LUN left
      await c.logout();
      c.destroy();
    }
    const s = await d.stop();
    expect(s.code).toBe(0);
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  });
});
