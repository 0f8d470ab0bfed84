// User-space device handlers (scst_user in our terms): a handler process serves a device over
// the daemon's Unix socket. Its death or silence must never hang anything: every command it held
// ends with a retryable error, is logged with its details, and leaves no command or buffer behind.
import { describe, expect, it } from 'vitest';
import { installHarnessHooks, onCleanup } from './helpers/cleanup.js';
import { qemuIo, qemuIoSession, readCapacity16 } from './helpers/initiators.js';
import { run } from './helpers/proc.js';
import { Cdb, RawIscsiClient, type ScsiResult } from './helpers/rawclient.js';
import { startScstd } from './helpers/scstd.js';
import { startRamdisk } from './helpers/user-handler.js';

installHarnessHooks();

const TARGET = 'iqn.2026-11.test:user';

const CONFIG = `HANDLER scst_user {
	DEVICE ram0 {
	}
}
TARGET_DRIVER iscsi {
	enabled 1
	TARGET ${TARGET} {
		enabled 1
		QueuedCommands 128
		LUN 0 ram0
	}
}
`;

/** Status and fixed-format sense as "status key/asc/ascq" in hex ("02 2/04/03"), or the status alone. */
function outcome(r: ScsiResult): string {
  const st = (r.status ?? -1).toString(16).padStart(2, '0');
  const s = r.sense;
  if (!s || s.length < 14) return st;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `${st} ${s[2]! & 0x0f}/${hex(s[12]!)}/${hex(s[13]!)}`;
}

const NOT_READY_MANUAL = '02 2/04/03';
const MIB16_BLOCKS = (16 * 1024 * 1024) / 512;

function readCapacity16Cdb(): Buffer {
  const c = Buffer.alloc(16);
  c[0] = 0x9e;
  c[1] = 0x10;
  c.writeUInt32BE(32, 10);
  return c;
}

/** What a logged-in initiator sees from each command on a LUN that is not ready. */
async function notReadyPicture(c: RawIscsiClient): Promise<Record<string, string>> {
  // First, so that a pending unit attention is consumed (scsi() retries past it) before REQUEST SENSE.
  const testUnitReady = outcome(await c.scsi({ cdb: Cdb.testUnitReady() }));
  const inq = await c.scsi({ cdb: Cdb.inquiry(96), readLength: 96 });
  const luns = await c.scsi({ cdb: Cdb.reportLuns(), readLength: 4096 });
  const rs = await c.scsi({ cdb: Buffer.from([0x03, 0, 0, 0, 252, 0]), readLength: 252 });
  const sense = rs.data;
  return {
    inquiry: `${outcome(inq)} ${inq.data.subarray(8, 16).toString('latin1').trim()}`,
    reportLuns: `${outcome(luns)} ${luns.data.length >= 16 ? luns.data.readUInt16BE(8) : -1}`,
    requestSense: `${outcome(rs)} ${sense.length >= 14 ? `${sense[2]! & 0x0f}/${sense[12]!.toString(16).padStart(2, '0')}/${sense[13]!.toString(16).padStart(2, '0')}` : 'none'}`,
    testUnitReady,
    readCapacity10: outcome(await c.scsi({ cdb: Cdb.readCapacity10(), readLength: 8 })),
    readCapacity16: outcome(await c.scsi({ cdb: readCapacity16Cdb(), readLength: 32 })),
    read10: outcome(await c.scsi({ cdb: Cdb.read10(0, 8), readLength: 4096 })),
    read10Far: outcome(await c.scsi({ cdb: Cdb.read10(MIB16_BLOCKS * 4, 8), readLength: 4096 })),
    write10: outcome(await c.scsi({ cdb: Cdb.write10(8, 8), writeData: Buffer.alloc(4096, 0x11) })),
  };
}

const EXPECTED_NOT_READY = {
  inquiry: '00 SCST_USR',
  reportLuns: '00 0',
  requestSense: `00 2/04/03`,
  testUnitReady: NOT_READY_MANUAL,
  readCapacity10: NOT_READY_MANUAL,
  readCapacity16: NOT_READY_MANUAL,
  read10: NOT_READY_MANUAL,
  read10Far: NOT_READY_MANUAL, // was ILLEGAL REQUEST / LBA OUT OF RANGE (capacity 0)
  write10: NOT_READY_MANUAL,
};

describe('user-space device handler', () => {
  it('without a handler the LU is NOT READY (04h/03h MANUAL INTERVENTION REQUIRED): before registration and after the handler dies', async () => {
    const d = await startScstd({ config: CONFIG });
    const lu = { port: d.ports[0]!, target: TARGET, lun: 0 };
    const raw = await RawIscsiClient.connect(d.ports[0]!);
    onCleanup('raw session', () => raw.destroy());
    expect((await raw.login({ initiatorName: 'iqn.2026-11.test:user-raw', targetName: TARGET })).ok).toBe(true);

    // Before any handler: libiscsi's connect sends TEST UNIT READY and reports the sense it got.
    const rc = await readCapacity16(lu, { timeoutMs: 20_000 });
    expect(rc.run.code).not.toBe(0);
    expect(rc.run.stdout + rc.run.stderr).toMatch(/NOT READY\(2\).*0x0403/);
    expect(await notReadyPicture(raw)).toEqual(EXPECTED_NOT_READY);

    // Registered: the same session and a new one see a 16 MiB disk that keeps what is written.
    const h = await startRamdisk(d);
    const rc2 = await readCapacity16(lu, { timeoutMs: 20_000 });
    expect(rc2.totalBytes, rc2.run.stderr).toBe(16 * 1024 * 1024);
    const io = await qemuIoSession(lu);
    expect(await io.exec('write -P 0x6b 8k 8k', /wrote \d+|write failed/)).toMatch(/wrote 8192\/8192/);
    expect(await io.exec('read -P 0x6b 8k 8k', /read \d+\/|read failed|verification failed/)).toMatch(/read 8192\/8192/);
    expect(outcome(await raw.scsi({ cdb: Cdb.read10(16, 16), readLength: 8192 }))).toBe('00');

    // The handler dies: NOT READY again, for the established sessions as for new ones.
    h.kill9();
    await d.waitForLog(/user-space device ram0 lost its handler/, 10_000);
    const r = await io.exec('read 8k 8k', /read \d+\/|read failed/);
    expect(r).toMatch(/NOT READY\(2\).*0x0403/);
    expect(r).toMatch(/read failed/);
    const w = await io.exec('write 0 4k', /wrote \d+|write failed/);
    expect(w).toMatch(/NOT READY\(2\).*0x0403/);
    await io.close();
    expect(await notReadyPicture(raw)).toEqual(EXPECTED_NOT_READY);
    const rc3 = await readCapacity16(lu, { timeoutMs: 20_000 });
    expect(rc3.run.stdout + rc3.run.stderr).toMatch(/NOT READY\(2\).*0x0403/);

    // A new handler makes it ready again (a unit attention first: the capacity may have changed).
    await startRamdisk(d);
    const again = await qemuIo(lu, ['write -P 0x2e 0 64k', 'read -P 0x2e 0 64k']);
    expect(again.ok, again.failures.join('\n')).toBe(true);
    const stop = await d.stop();
    expect(stop.code).toBe(0);
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  });

  it('serves verified I/O through the handler process', async () => {
    const d = await startScstd({ config: CONFIG });
    await startRamdisk(d);
    const r = await qemuIo({ port: d.ports[0]!, target: TARGET, lun: 0 }, ['write -P 0x3c 4096 1M', 'read -P 0x3c 4096 1M', 'write -P 0x44 511k 7k', 'read -P 0x44 511k 7k']);
    expect(r.ok, r.failures.join('\n')).toBe(true);
    const stop = await d.stop();
    expect(stop.code).toBe(0);
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  });

  it('kill -9 of the handler with 64 commands in flight: all end with an error, logged, nothing leaks', async () => {
    const d = await startScstd({ config: CONFIG });
    const h = await startRamdisk(d, ['--delay-ms', '5000']);
    const url = `iscsi://127.0.0.1:${d.ports[0]}/${TARGET}/0`;
    const bench = run('qemu-img', ['bench', '-f', 'raw', '-t', 'none', '-w', '-c', '64', '-d', '64', '-s', '4k', url], { timeoutMs: 30_000 });
    // Wait until the handler really holds 64 commands: the daemon forwards them as they arrive.
    await new Promise((r) => setTimeout(r, 1500));
    h.kill9();
    const line = await d.waitForLog(/ended with an error/, 10_000);
    const cmds = (line.json as { commands: Array<{ opcode: string; state: string; owner: string; ageMs: number; tag: number }> }).commands;
    expect(cmds).toHaveLength(64);
    for (const c of cmds) {
      expect(c.opcode).toBe('0x2a');
      expect(c.state).toBe('exec');
      expect(c.owner).toMatch(/scst_user/);
      expect(c.ageMs).toBeGreaterThan(0);
    }
    const b = await bench;
    expect(b.code).not.toBe(0); // the initiator saw its writes fail (retryable sense), not hang
    expect(b.stderr).toMatch(/COMMAND ABORTED|failed/i);
    const stop = await d.stop('SIGTERM', 10_000);
    expect(stop.code).toBe(0);
    expect(stop.elapsedMs).toBeLessThan(5000);
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  });

  it('a handler that never answers has its commands forced out after the bound', async () => {
    const d = await startScstd({ config: CONFIG, extraArgs: ['--user-timeout', '1000'] });
    await startRamdisk(d, ['--delay-ms', '600000']);
    const started = Date.now();
    const r = await qemuIo({ port: d.ports[0]!, target: TARGET, lun: 0 }, ['read 0 4k'], { timeoutMs: 30_000 });
    expect(r.ok).toBe(false);
    const line = await d.waitForLog(/no reply within 1000 ms/, 5000);
    expect(line.json!.level).toBe(50); // error: these were stuck, not merely aborted
    expect(Date.now() - started).toBeLessThan(20_000);
    const stop = await d.stop('SIGTERM', 10_000);
    expect(stop.code).toBe(0);
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  });
});
