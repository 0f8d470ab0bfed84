// Persistent reservations with APTPL survive kill -9 of the daemon: the registration and the
// reservation are on stable storage before PERSISTENT RESERVE OUT reports GOOD, and a restarted
// daemon (same state directory) restores them; without APTPL they are gone after a restart.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { freePort } from './helpers/proc.js';
import { RawIscsiClient } from './helpers/rawclient.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd } from './helpers/scstd.js';

installHarnessHooks();

const TARGET = 'iqn.2026-11.test.pr:t';
const prevStateEnv = process.env.SCSTD_STATE_DIR;
afterAll(() => {
  if (prevStateEnv === undefined) delete process.env.SCSTD_STATE_DIR;
  else process.env.SCSTD_STATE_DIR = prevStateEnv;
});

function prOutCdb(sa: number, type: number): Buffer {
  const c = Buffer.alloc(10);
  c[0] = 0x5f;
  c[1] = sa;
  c[2] = type;
  c.writeUInt32BE(24, 5);
  return c;
}

function prParams(rk: bigint, sark: bigint, aptpl: boolean): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64BE(rk, 0);
  b.writeBigUInt64BE(sark, 8);
  b[20] = aptpl ? 0x01 : 0;
  return b;
}

function prInCdb(sa: number): Buffer {
  const c = Buffer.alloc(10);
  c[0] = 0x5e;
  c[1] = sa;
  c.writeUInt16BE(1024, 7);
  return c;
}

async function session(port: number, isid: number): Promise<RawIscsiClient> {
  const c = await RawIscsiClient.connect(port);
  c.isid = Buffer.from([0x80, 0, 0, 0, 0, isid]);
  const l = await c.login({ initiatorName: 'iqn.2026-11.test.pr:ini', targetName: TARGET });
  expect(l.ok, l.error).toBe(true);
  return c;
}

async function state(c: RawIscsiClient): Promise<{ keys: bigint[]; holder: bigint | null; type: number }> {
  const rk = await c.scsi({ cdb: prInCdb(0), readLength: 1024 });
  expect(rk.status).toBe(0);
  const n = rk.data.readUInt32BE(4) / 8;
  const keys = Array.from({ length: n }, (_, i) => rk.data.readBigUInt64BE(8 + i * 8));
  const rr = await c.scsi({ cdb: prInCdb(1), readLength: 1024 });
  expect(rr.status).toBe(0);
  const reserved = rr.data.readUInt32BE(4) >= 16;
  return { keys, holder: reserved ? rr.data.readBigUInt64BE(8) : null, type: reserved ? rr.data[21]! & 0x0f : 0 };
}

describe('persistent reservations across kill -9', () => {
  it('APTPL state is restored after kill -9; non-APTPL state is not', async () => {
    const dir = await tmpDir('pr-kill9-');
    const stateDir = join(dir, 'state');
    // The engine finds the state directory here until the daemon hands it over itself.
    process.env.SCSTD_STATE_DIR = stateDir;
    const config = scstConf({
      devices: [
        { handler: 'vdisk_fileio', name: 'aptpl', attrs: { filename: await sparseFile(join(dir, 'a.img'), 16 << 20) } },
        { handler: 'vdisk_fileio', name: 'volatile', attrs: { filename: await sparseFile(join(dir, 'v.img'), 16 << 20) } },
      ],
      targets: [{ name: TARGET, luns: [[0, 'aptpl'], [1, 'volatile']] }],
    });
    const port = await freePort();
    const d1 = await startScstd({ config, listen: [port], stateDir });
    const a = await session(port, 1);
    // LUN 0: register with APTPL and take EXCLUSIVE ACCESS; LUN 1: the same without APTPL.
    expect((await a.scsi({ lun: 0, cdb: prOutCdb(6, 0), writeData: prParams(0n, 0x1234n, true) })).status).toBe(0);
    expect((await a.scsi({ lun: 0, cdb: prOutCdb(1, 3), writeData: prParams(0x1234n, 0n, false) })).status).toBe(0);
    expect((await a.scsi({ lun: 1, cdb: prOutCdb(6, 0), writeData: prParams(0n, 0x99n, false) })).status).toBe(0);
    const before = await state(a);
    expect(before).toEqual({ keys: [0x1234n], holder: 0x1234n, type: 3 });
    await d1.kill9();
    a.destroy();

    const d2 = await startScstd({ config, listen: [port], stateDir });
    const b = await session(port, 2);
    const after = await state(b);
    expect(after).toEqual(before);
    // The restored reservation is enforced: another I_T nexus is shut out of the medium.
    const read = Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    expect((await b.scsi({ lun: 0, cdb: read, readLength: 512 })).status).toBe(0x18);
    const vol = await b.scsi({ lun: 1, cdb: prInCdb(0), readLength: 1024 });
    expect(vol.data.readUInt32BE(4)).toBe(0);
    b.destroy();
    const stop = await d2.stop();
    expect(stop.timedOut).toBe(false);
  }, 90_000);
});
