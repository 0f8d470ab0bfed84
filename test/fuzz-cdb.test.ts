// Hostile CDBs: random and mutated command descriptor blocks through the SCSI core's parse and
// exec stages, on every device kind. Nothing may throw, every command completes exactly once, and
// no command or pool buffer is left behind.
import fc from 'fast-check';

// Fixed seeds and bounded runs in CI; `npm run fuzz` (FUZZ_RUNS, FUZZ_SEED) runs longer.
const FUZZ_RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
import pino from 'pino';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scst } from '../src/engine/scst.js';
import { ScsiCmd, DataDir } from '../src/engine/cmd.js';
import { parseCmd, execCmd } from '../src/engine/scsi/exec.js';
import { changeMedium } from '../src/engine/handlers.js';
import type { ScstSession } from '../src/engine/session.js';

const log = pino({ level: 'silent' });
let dir: string;
let scst: Scst;
let session: ScstSession;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fuzz-cdb-'));
  await truncate(await writeFile(join(dir, 'f.img'), '').then(() => join(dir, 'f.img')), 4 * 1024 * 1024);
  await writeFile(join(dir, 'cd.iso'), Buffer.alloc(2048 * 64));
  scst = new Scst(log);
  const n = await scst.addDevice('vdisk_nullio', 'n0', [['size_mb', '4']]);
  const f = await scst.addDevice('vdisk_fileio', 'f0', [['filename', join(dir, 'f.img')]]);
  const r = await scst.addDevice('vdisk_fileio', 'r0', [['filename', join(dir, 'f.img')], ['read_only', '1']]);
  const c = await scst.addDevice('vcdrom', 'c0', []);
  await changeMedium(c, join(dir, 'cd.iso'));
  const t = scst.addTarget('iqn.2026-11.test:fuzz');
  t.defaultLuns.add(n, 0, false);
  t.defaultLuns.add(f, 1, false);
  t.defaultLuns.add(r, 2, false);
  t.defaultLuns.add(c, 3, false);
  session = scst.createSession(t, 'iqn.2026-11.test:fuzzer', { forceClose() {}, abortCommand: async () => {}, abortDeviceTasks: async () => {} });
});

afterAll(async () => {
  for (const d of [...scst.devices.keys()]) await scst.delDevice(d, 1000);
  await rm(dir, { recursive: true, force: true });
});

/** Run one command the way a transport does; resolves when it has completed and been released. */
function runCdb(lun: number, cdb: Buffer, edtl: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const cmd = session.newCmd(1, lun, cdb, edtl);
    let completions = 0;
    cmd.onComplete(() => {
      completions++;
      setImmediate(() => {
        if (completions !== 1) reject(new Error(`completed ${completions} times`));
        cmd.put();
        resolve(cmd.status);
      });
    });
    if (parseCmd(cmd)) {
      if (cmd.dir === DataDir.WRITE && cmd.dataLength > 0) {
        cmd.buf.fill(0x5a, 0, cmd.dataLength);
        cmd.markReceived(0, cmd.dataLength);
      }
      execCmd(cmd);
    }
  });
}

const KNOWN = [0x00, 0x03, 0x08, 0x0a, 0x12, 0x15, 0x1a, 0x1b, 0x1d, 0x1e, 0x25, 0x28, 0x2a, 0x2e, 0x2f, 0x35, 0x43, 0x46, 0x4a, 0x51, 0x55, 0x5a, 0x88, 0x8a, 0x8e, 0x8f, 0x91, 0x9e, 0xa0, 0xa8, 0xaa, 0xae, 0xaf, 0xbd];

describe('CDB fuzzing', () => {
  it('random CDBs on known opcodes never throw, complete once and leak nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...KNOWN),
        fc.uint8Array({ minLength: 15, maxLength: 15 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 1 << 20 }),
        async (op, rest, lun, edtl) => {
          // Keep transfer lengths small so the pool is not asked for gigabytes.
          const cdb = Buffer.concat([Buffer.from([op]), Buffer.from(rest)]);
          if ([0x28, 0x2a, 0x2e, 0x2f].includes(op)) cdb.writeUInt16BE(cdb.readUInt16BE(7) & 0x3f, 7);
          if ([0x88, 0x8a, 0x8e, 0x8f, 0xa8, 0xaa, 0xae, 0xaf].includes(op)) cdb.writeUInt32BE(cdb.readUInt32BE(op >= 0xa0 ? 6 : 10) & 0x3f, op >= 0xa0 ? 6 : 10);
          const status = await runCdb(lun, cdb, edtl);
          expect([0x00, 0x02, 0x40]).toContain(status);
        },
      ),
      { seed: FUZZ_SEED ?? 20261121, numRuns: FUZZ_RUNS ?? 3000 },
    );
    expect(session.cmds.size).toBe(0);
    expect(scst.pool.outstanding).toBe(0);
    expect(ScsiCmd.live).toBe(0);
  });

  it('fully random 16-byte CDBs never throw', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 5 }), async (bytes, lun) => {
        const cdb = Buffer.from(bytes);
        const status = await runCdb(lun, cdb, 4096);
        expect(typeof status).toBe('number');
      }),
      { seed: FUZZ_SEED ?? 7, numRuns: FUZZ_RUNS ?? 3000 },
    );
    expect(session.cmds.size).toBe(0);
    expect(scst.pool.outstanding).toBe(0);
  });
});
