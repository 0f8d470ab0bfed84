// Faults survived, nothing lost: a backing store that runs out of space, a daemon killed with
// SIGKILL during writes, and initiators whose connections reset mid-command and mid-Data-Out.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks, onCleanup } from './helpers/cleanup.js';
import { tmpDir } from './helpers/files.js';
import { qemuIo } from './helpers/initiators.js';
import { spawn } from 'node:child_process';
import { pollUntil, run, track } from './helpers/proc.js';
import { Cdb, Op, RawIscsiClient, dataOutBhs, pduOpcode, scsiCommandBhs, senseKey } from './helpers/rawclient.js';
import { startScstd } from './helpers/scstd.js';

installHarnessHooks();

const TARGET = 'iqn.2026-11.test:faults';

function config(file: string, extra = ''): string {
  return `HANDLER vdisk_fileio {
	DEVICE disk0 {
		filename ${file}
		size_mb 16
${extra}	}
}
TARGET_DRIVER iscsi {
	enabled 1
	TARGET ${TARGET} {
		enabled 1
		InitialR2T Yes
		ImmediateData No
		LUN 0 disk0
	}
}
`;
}

describe('faults', () => {
  it('ENOSPC from the backing file: the initiator gets DATA PROTECT/space allocation failed; the daemon stays up', async () => {
    const dir = await tmpDir();
    const mnt = join(dir, 'small');
    await mkdir(mnt);
    const m = await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { timeoutMs: 10_000 });
    expect(m.code, m.stderr).toBe(0);
    onCleanup('umount tmpfs', () => run('umount', ['-l', mnt], { timeoutMs: 10_000 }));
    const d = await startScstd({ config: config(join(mnt, 'disk.img')) });
    const c = await RawIscsiClient.connect(d.ports[0]!);
    expect((await c.login({ initiatorName: 'iqn.2026-11.test:enospc', targetName: TARGET })).ok).toBe(true);
    // 4 MiB of writes into a 1 MiB filesystem: the first fit, then ENOSPC.
    let sawNoSpace = false;
    for (let lba = 0; lba < 8192 && !sawNoSpace; lba += 1024) {
      const r = await c.scsi({ cdb: Cdb.write10(lba, 1024), writeData: Buffer.alloc(512 * 1024, 0x77) });
      if (r.status === 2) {
        expect(senseKey(r.sense)).toBe(0x07); // DATA PROTECT
        expect(r.sense![12]).toBe(0x27);
        expect(r.sense![13]).toBe(0x07); // SPACE ALLOCATION FAILED WRITE PROTECT
        sawNoSpace = true;
      } else expect(r.status).toBe(0);
    }
    expect(sawNoSpace).toBe(true);
    // Still serving: what was written reads back.
    const back = await c.scsi({ cdb: Cdb.read10(0, 8), readLength: 4096 });
    expect(back.status).toBe(0);
    expect(back.data.equals(Buffer.alloc(4096, 0x77))).toBe(true);
    await c.logout();
    c.destroy();
    const stop = await d.stop();
    expect(stop.code).toBe(0);
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  });

  for (const mode of ['FUA', 'write_through', 'SYNCHRONIZE CACHE'] as const) {
    it(`SIGKILL during writes: every write acknowledged (${mode}) is there after restart`, async () => {
      const dir = await tmpDir();
      const file = join(dir, 'disk.img');
      const cfg = config(file, mode === 'write_through' ? '\t\twrite_through 1\n' : '');
      const d = await startScstd({ config: cfg });
      const t = { port: d.ports[0]!, target: TARGET, lun: 0 };
      // 512 regions of 16 KiB, each with its own pattern; qemu-io prints each acknowledgement.
      // The daemon is killed once some, but far from all, have been acknowledged.
      const REGIONS = 512;
      const SZ = 16384;
      const cmds: string[] = [];
      for (let i = 0; i < REGIONS; i++) {
        cmds.push(`write ${mode === 'FUA' ? '-f ' : ''}-P ${(i % 250) + 1} ${i * SZ} 16k`);
        if (mode === 'SYNCHRONIZE CACHE') cmds.push('flush');
      }
      const url = `iscsi://127.0.0.1:${d.ports[0]}/${TARGET}/0`;
      const child = track(spawn('qemu-io', ['-f', 'raw', url, ...cmds.flatMap((c) => ['-c', c])], { stdio: ['ignore', 'pipe', 'pipe'] }));
      onCleanup('qemu-io', () => child.kill('SIGKILL'));
      let out = '';
      child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      const enough = await pollUntil(async () => (out.match(/^wrote /gm)?.length ?? 0) >= 16, 20_000, 5);
      expect(enough, 'qemu-io made no progress').toBe(true);
      await d.kill9();
      await new Promise<void>((r) => {
        if (child.exitCode !== null) return r();
        child.once('exit', () => r());
        setTimeout(() => (child.kill("SIGKILL"), r()), 1_500).unref();
      });
      const acked: number[] = [];
      // Only complete lines count: the kill can cut the last one short (a truncated offset).
      const lines = out.split('\n').slice(0, -1);
      for (let li = 0; li < lines.length; li++) {
        const m = /^wrote 16384\/16384 bytes at offset (\d+)$/.exec(lines[li]!.trimEnd());
        if (!m) continue;
        const region = Number(m[1]) / SZ;
        // With SYNCHRONIZE CACHE a write counts once the flush after it has returned (the next
        // write's acknowledgement comes after that flush).
        if (mode !== 'SYNCHRONIZE CACHE' || lines.slice(li + 2).some((l) => l.startsWith('wrote '))) acked.push(region);
      }
      expect(acked.length).toBeLessThan(REGIONS);
      expect(acked.length, 'no write was acknowledged before the kill: the test proves nothing').toBeGreaterThan(0);
      console.log(`${mode}: ${acked.length} of ${REGIONS} writes acknowledged before SIGKILL`);
      const d2 = await startScstd({ config: cfg, stateDir: d.stateDir });
      const verify = acked.map((i) => `read -P ${(i % 250) + 1} ${i * SZ} 16k`);
      if (verify.length) {
        const r = await qemuIo({ port: d2.ports[0]!, target: TARGET, lun: 0 }, verify, { timeoutMs: 30_000 });
        expect(r.ok, r.failures.join('\n')).toBe(true);
      }
      const stop = await d2.stop();
      expect(stop.code).toBe(0);
    });
  }

  it('connections reset mid-command and mid-Data-Out are cleaned up; other sessions go on', async () => {
    const dir = await tmpDir();
    const d = await startScstd({ config: config(join(dir, 'disk.img')) });
    const port = d.ports[0]!;
    for (let round = 0; round < 10; round++) {
      const c = await RawIscsiClient.connect(port);
      const login = await c.login({ initiatorName: `iqn.2026-11.test:reset-${round}`, targetName: TARGET, operationalKeys: { MaxBurstLength: '65536', FirstBurstLength: '65536' } });
      expect(login.ok).toBe(true);
      await c.scsi({ cdb: Cdb.testUnitReady() }); // consume the power-on unit attention
      // A 1 MiB write: wait for the first R2T, send half of its data, then reset the connection.
      const itt = c.allocItt();
      c.sendPdu(scsiCommandBhs({ final: true, write: true, lun: 0, itt, expectedDataTransferLength: 1 << 20, cmdSN: c.cmdSN, expStatSN: c.expStatSN, cdb: Cdb.write10(round * 2048, 2048), dataSegmentLength: 0 }));
      c.cmdSN++;
      const r2t = await c.waitFor((p) => pduOpcode(p.bhs) === Op.R2T, 5000);
      expect(r2t.kind).toBe('pdu');
      if (r2t.kind === 'pdu') {
        const ttt = r2t.pdu.bhs.readUInt32BE(20);
        c.sendPdu(dataOutBhs({ final: false, lun: 0, itt, ttt, expStatSN: c.expStatSN, dataSN: 0, bufferOffset: 0, dataSegmentLength: 8192 }), Buffer.alloc(8192, 1));
      }
      // Also a read in flight.
      c.sendPdu(scsiCommandBhs({ final: true, read: true, lun: 0, itt: c.allocItt(), expectedDataTransferLength: 1 << 20, cmdSN: c.cmdSN, expStatSN: c.expStatSN, cdb: Cdb.read10(0, 2048), dataSegmentLength: 0 }));
      c.cmdSN++;
      c.destroy();
    }
    const other = await qemuIo({ port, target: TARGET, lun: 0 }, ['write -P 0x66 0 1M', 'read -P 0x66 0 1M']);
    expect(other.ok, other.failures.join('\n')).toBe(true);
    const stop = await d.stop();
    expect(stop.code).toBe(0);
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  });
});
