// A backing store that fails with EIO: the command ends with MEDIUM ERROR (read: unrecovered read
// error 11/00, write: write error 0c/00), exactly once, and nothing leaks. This container has no
// device-mapper to make a real failing block device, so the backstore itself injects the error.
import pino from 'pino';
import { expect, it } from 'vitest';
import type { Backstore, IoCallback } from '../src/engine/backing-store.js';
import { DataDir, ScsiCmd } from '../src/engine/cmd.js';
import { parseCmd, execCmd } from '../src/engine/scsi/exec.js';
import { Scst } from '../src/engine/scst.js';

class FailingBackstore implements Backstore {
  constructor(readonly size: number) {}
  private fail(cb: IoCallback): void {
    setImmediate(() => cb(Object.assign(new Error('injected'), { code: 'EIO' })));
  }
  read(_b: Buffer, _o: number, _l: number, _p: number, cb: IoCallback): void {
    this.fail(cb);
  }
  write(_b: Buffer, _o: number, _l: number, _p: number, _f: boolean, cb: IoCallback): void {
    this.fail(cb);
  }
  flush(cb: IoCallback): void {
    this.fail(cb);
  }
  async resync(): Promise<number> {
    return this.size;
  }
  async close(): Promise<void> {}
}

it('EIO from the backing store becomes MEDIUM ERROR and the command completes once', async () => {
  const scst = new Scst(pino({ level: 'silent' }));
  const dev = await scst.addDevice('vdisk_nullio', 'e0', [['size_mb', '1']]);
  dev.backstore = new FailingBackstore(1 << 20);
  const t = scst.addTarget('iqn.2026-11.test:eio');
  t.defaultLuns.add(dev, 0, false);
  const s = scst.createSession(t, 'iqn.2026-11.test:i', { forceClose() {}, abortCommand: async () => {}, abortDeviceTasks: async () => {} });
  const runCdb = (bytes: number[], edtl: number) =>
    new Promise<ScsiCmd>((resolve) => {
      const cdb = Buffer.alloc(16);
      Buffer.from(bytes).copy(cdb);
      const cmd = s.newCmd(1, 0, cdb, edtl);
      let n = 0;
      cmd.onComplete(() => {
        n++;
        setTimeout(() => {
          expect(n).toBe(1);
          resolve(cmd);
        }, 10);
      });
      if (!parseCmd(cmd)) return;
      // A transport runs a write only once its data is in.
      if (cmd.dir === DataDir.WRITE) {
        cmd.buf.fill(0x5a, 0, cmd.dataLength);
        cmd.markReceived(0, cmd.dataLength);
      }
      execCmd(cmd);
    });
  (await runCdb([0x00], 0)).put(); // power-on unit attention
  const r = await runCdb([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0], 4096);
  expect([r.status, r.sense![2]! & 0xf, r.sense![12], r.sense![13]]).toEqual([2, 0x3, 0x11, 0x00]);
  r.put();
  const w = await runCdb([0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0], 4096);
  expect([w.status, w.sense![2]! & 0xf, w.sense![12], w.sense![13]]).toEqual([2, 0x3, 0x0c, 0x00]);
  w.put();
  expect(s.cmds.size).toBe(0);
  expect(scst.pool.outstanding).toBe(0);
  expect(ScsiCmd.live).toBe(0);
});
