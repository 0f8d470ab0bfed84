// Load: 100 concurrent sessions doing verified I/O, and logins/logouts in a loop, for a bounded
// time (SOAK_SECONDS, default short for CI; `npm run soak` runs minutes). The daemon's memory
// must stay flat, every session's data must verify, and at exit no command or buffer is left.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { Cdb, RawIscsiClient } from './helpers/rawclient.js';
import { startScstd } from './helpers/scstd.js';

installHarnessHooks();

const SESSIONS = 100;
const SOAK_MS = Number(process.env.SOAK_SECONDS ?? '8') * 1000;
const TARGET = 'iqn.2026-11.test:soak';
const BLOCK = 512;
const REGION_BLOCKS = 64; // 32 KiB per session

const CONFIG = `HANDLER vdisk_fileio {
	DEVICE disk0 {
		filename %STATE_DIR%/soak.img
		size_mb 64
	}
}
TARGET_DRIVER iscsi {
	enabled 1
	TARGET ${TARGET} {
		enabled 1
		LUN 0 disk0
	}
}
`;

async function rssKb(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)![1]);
}

async function session(port: number, n: number, deadline: number): Promise<{ ios: number; errors: string[] }> {
  const c = await RawIscsiClient.connect(port);
  const errors: string[] = [];
  let ios = 0;
  try {
    const login = await c.login({ initiatorName: `iqn.2026-11.test:soak-${n}`, targetName: TARGET });
    if (!login.ok) return { ios, errors: [`session ${n}: login failed: ${login.error}`] };
    const lba = n * REGION_BLOCKS;
    for (let round = 0; Date.now() < deadline; round++) {
      const blocks = 1 + ((round * 7 + n) % REGION_BLOCKS);
      const data = Buffer.alloc(blocks * BLOCK, (n * 31 + round) & 0xff);
      const w = await c.scsi({ cdb: Cdb.write10(lba, blocks), writeData: data, timeoutMs: 20_000 });
      if (w.status !== 0) {
        errors.push(`session ${n}: write status ${w.status}`);
        break;
      }
      const r = await c.scsi({ cdb: Cdb.read10(lba, blocks), readLength: data.length, timeoutMs: 20_000 });
      if (r.status !== 0 || !r.data.equals(data)) {
        errors.push(`session ${n}: read-back mismatch in round ${round}`);
        break;
      }
      ios += 2;
    }
    await c.logout();
  } finally {
    c.destroy();
  }
  return { ios, errors };
}

async function loginLoop(port: number, deadline: number): Promise<{ logins: number; errors: string[] }> {
  let logins = 0;
  const errors: string[] = [];
  while (Date.now() < deadline) {
    const c = await RawIscsiClient.connect(port);
    try {
      const l = await c.login({ initiatorName: 'iqn.2026-11.test:soak-churn', targetName: TARGET });
      if (!l.ok) errors.push(`churn login failed: ${l.error}`);
      else {
        const r = await c.scsi({ cdb: Cdb.inquiry(), readLength: 96 });
        if (r.status !== 0) errors.push('churn INQUIRY failed');
        await c.logout();
        logins++;
      }
    } finally {
      c.destroy();
    }
    if (errors.length > 5) break;
  }
  return { logins, errors };
}

describe('soak', () => {
  it(`${SESSIONS} concurrent verified sessions plus login churn: memory flat, nothing leaks`, { timeout: SOAK_MS * 3 + 120_000 }, async () => {
    const d = await startScstd({ config: CONFIG, logLevel: 'warn' });
    const port = d.ports[0]!;
    // Warm-up round so the baseline includes the pool's working set.
    await session(port, 0, Date.now() + 500);
    const before = await rssKb(d.pid);
    const deadline = Date.now() + SOAK_MS;
    const [results, churn] = await Promise.all([Promise.all(Array.from({ length: SESSIONS }, (_, i) => session(port, i, deadline))), loginLoop(port, deadline)]);
    const errors = results.flatMap((r) => r.errors).concat(churn.errors);
    expect(errors).toEqual([]);
    const ios = results.reduce((n, r) => n + r.ios, 0);
    expect(ios).toBeGreaterThan(SESSIONS * 2);
    expect(churn.logins).toBeGreaterThan(3);
    const after = await rssKb(d.pid);
    // Flat: growth bounded, independent of how long the soak ran.
    expect(after - before, `RSS ${before} kB -> ${after} kB after ${ios} I/Os and ${churn.logins} logins`).toBeLessThan(64 * 1024);
    const stop = await d.stop('SIGTERM', 10_000);
    expect(stop.code).toBe(0);
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
    console.log(`soak: ${ios} verified I/Os over ${SESSIONS} sessions, ${churn.logins} login/logout cycles, RSS ${before} -> ${after} kB`);
  });
});
