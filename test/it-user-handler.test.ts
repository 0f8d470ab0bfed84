// User-space device handlers (scst_user in our terms): a handler process serves a device over
// the daemon's Unix socket. Its death or silence must never hang anything: every command it held
// ends with a retryable error, is logged with its details, and leaves no command or buffer behind.
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { qemuIo } from './helpers/initiators.js';
import { run } from './helpers/proc.js';
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

describe('user-space device handler', () => {
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
