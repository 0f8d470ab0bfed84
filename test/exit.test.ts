// The end of the daemon (src/exit.ts, src/exit-guard.ts): what still holds the process is named,
// and the native guard ends a process whose process.exit() waits for a pool thread stuck in the
// kernel (libuv joins its pool at exit).
import net from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stillAlive, type ExitHolder } from '../src/exit.js';
import { exitGuardAvailable } from '../src/exit-guard.js';
import { tmpDir } from './helpers/files.js';
import { run } from './helpers/proc.js';

const GUARD_JS = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'src', 'exit-guard.js')).href;
const EXIT_JS = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'src', 'exit.js')).href;

describe('what outlives the shutdown', () => {
  it('names what the holders name and the sockets and servers only Node knows of, once each', async () => {
    const srv = net.createServer((s) => s.on('error', () => undefined)).listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    const port = (srv.address() as net.AddressInfo).port;
    const ours = net.connect(port, '127.0.0.1');
    const theirs = net.connect(port, '127.0.0.1');
    await Promise.all([ours, theirs].map((s) => new Promise((r) => s.once('connect', r))));
    try {
      const holder: ExitHolder = { alive: () => ['iSCSI connection x'], handles: () => [ours], forceClose: () => ours.destroy() };
      const names = stillAlive([holder]).names;
      expect(names).toContain('iSCSI connection x');
      expect(names).toContain(`server 127.0.0.1:${port}`);
      expect(names).toContain(`socket 127.0.0.1:${theirs.localPort} <- 127.0.0.1:${port}`);
      expect(names).not.toContain(`socket 127.0.0.1:${ours.localPort} <- 127.0.0.1:${port}`);
    } finally {
      ours.destroy();
      theirs.destroy();
      srv.close();
    }
  });

  it.skipIf(!exitGuardAvailable)('the daemon ends with its code without Node\'s teardown: no exit listener runs, output written before is kept', async () => {
    const script = `import { exitImmediately } from ${JSON.stringify(GUARD_JS)};
process.on('exit', () => process.stdout.write('teardown ran\\n'));
process.stdout.write('before\\n');
setTimeout(() => exitImmediately(3), 50);`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 15_000 });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('before\n');
  });

  it('a library timer still armed after shutdown (a reconnect back-off) is waited for and the exit code kept; one that stays is named and the code becomes 1', async () => {
    const script = (ms: number) => `import pino from 'pino'; import { finishExit } from ${JSON.stringify(EXIT_JS)};
const log = pino({ base: null });
setTimeout(() => {}, ${ms});
finishExit(log, 0, []);`;
    const brief = await run(process.execPath, ['--input-type=module', '-e', script(800)], { timeoutMs: 15_000, cwd: join(import.meta.dirname, '..') });
    expect(brief.code).toBe(0);
    expect(brief.stdout).not.toContain('still alive');
    const stays = await run(process.execPath, ['--input-type=module', '-e', script(60_000)], { timeoutMs: 15_000, cwd: join(import.meta.dirname, '..') });
    expect(stays.code).toBe(1);
    expect(stays.stdout).toMatch(/exit: still alive after shutdown: timer; force-closing/);
    expect(stays.elapsedMs).toBeLessThan(8_000);
  });

  it.skipIf(!exitGuardAvailable)('the exit guard ends a process whose process.exit() waits for a pool thread blocked in the kernel', async () => {
    const fifo = join(await tmpDir('scst-exitguard-'), 'never-written.fifo');
    expect((await run('mkfifo', [fifo])).code).toBe(0);
    // Opening a FIFO for reading blocks until a writer comes, which never does.
    const script = `import fs from 'node:fs'; import { armExitGuard } from ${JSON.stringify(GUARD_JS)};
fs.open(${JSON.stringify(fifo)}, 'r', () => {});
setTimeout(() => { armExitGuard(500, 7, 'guard fired'); process.exit(7); }, 200);`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 15_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/guard fired/);
    expect(r.elapsedMs).toBeLessThan(10_000);
  });
});
