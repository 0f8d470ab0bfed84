// The scstd side of the harness, tested against a fake daemon that honours only the process
// contract: ready detection, log capture, signals and timing, exit balance, config errors,
// early exits, and cleanup.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { freePort, trackedCount } from './helpers/proc.js';
import { scstConf } from './helpers/scstconf.js';
import { runScstdOnce, startScstd } from './helpers/scstd.js';

installHarnessHooks();

const FAKE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'fake-scstd.mjs');
const conf = (behaviour = 'normal'): string =>
  `# fake: ${behaviour}\n` +
  scstConf({
    devices: [{ handler: 'vdisk_nullio', name: 'n0', attrs: { size_mb: 16 } }],
    targets: [{ name: 'iqn.2026-11.test:fake', attrs: { IncomingUser: 'user1 secretsecret1' }, luns: [[0, 'n0']] }],
  });

describe('startScstd against a fake daemon', () => {
  it('waits for ready, passes the contract arguments, stops on SIGTERM with the exit balance', async () => {
    const ports = [await freePort(), await freePort()];
    const d = await startScstd({ config: conf(), listen: ports, bin: FAKE });
    expect(d.ports).toEqual(ports);
    expect(d.exited()).toBe(false);
    expect(d.logs().map((l) => l.msg)).toContain('say hello: scstd ready');
    expect(d.logs().filter((l) => l.msg === 'portal listening').map((l) => l.json?.listen)).toEqual(ports.map((p) => `127.0.0.1:${p}`));
    await expect(d.waitForLog(/portal listening/, 100)).resolves.toMatchObject({ msg: 'portal listening' });
    await expect(d.waitForLog(/never printed/, 200)).rejects.toThrow(/no scstd log line/);
    const stopped = await d.stop();
    expect(stopped).toMatchObject({ code: 0, signal: null, timedOut: false });
    expect(stopped.elapsedMs).toBeLessThan(5_000);
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
    expect(d.exited()).toBe(true);
  });

  it('reports a non-zero balance', async () => {
    const d = await startScstd({ config: conf('leak'), bin: FAKE });
    await d.stop('SIGINT');
    expect(d.exitBalance()).toEqual({ commands: 3, poolBuffers: 3 });
  });

  it('a daemon that ignores SIGTERM is killed and reported as timed out', async () => {
    const d = await startScstd({ config: conf('ignore-term'), bin: FAKE });
    const stopped = await d.stop('SIGTERM', 500);
    expect(stopped.timedOut).toBe(true);
    expect(stopped.signal).toBe('SIGKILL');
    expect(d.exitBalance()).toBeNull();
  });

  it('restart on the same state dir, config and ports', async () => {
    const a = await startScstd({ config: conf(), bin: FAKE });
    await a.stop();
    const b = await startScstd({ config: conf(), bin: FAKE, stateDir: a.stateDir, configPath: a.configPath, listen: a.ports });
    expect(b.ports).toEqual(a.ports);
    expect(b.pid).not.toBe(a.pid);
    await b.kill9();
    expect(b.exited()).toBe(true);
  });

  it('early exit and missing ready line fail fast with the output in the error', async () => {
    await expect(startScstd({ config: conf('crash-early'), bin: FAKE })).rejects.toThrow(/exited early[\s\S]*crashing before ready/);
    const t0 = Date.now();
    await expect(startScstd({ config: conf('never-ready'), bin: FAKE, readyTimeoutMs: 1_000 })).rejects.toThrow(/not ready within 1000 ms[\s\S]*portal listening/);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('runScstdOnce returns a config error with file and line', async () => {
    const r = await runScstdOnce({ config: `${conf()}\nBROKEN line\n`, bin: FAKE });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/scst\.conf:\d+: unknown keyword BROKEN/);
  });

  it('a daemon left running by a test is stopped by the cleanup registry', async () => {
    await startScstd({ config: conf(), bin: FAKE });
    expect(trackedCount()).toBeGreaterThan(0);
  });

  it('...and nothing is left afterwards', () => {
    expect(trackedCount()).toBe(0);
  });
});

describe('scstConf', () => {
  it('writes the modern grammar: header braces, one statement per line, quoted values', () => {
    const text = scstConf({
      devices: [{ handler: 'vdisk_fileio', name: 'disk0', attrs: { filename: '/tmp/x/disk0.img', blocksize: 512 } }],
      targets: [
        {
          name: 'iqn.2026-11.test:t1',
          attrs: { InitialR2T: 'No', IncomingUser: ['user1 secretsecret1', 'user2 secretsecret2'] },
          luns: [[1, 'disk0']],
          groups: [{ name: 'g1', luns: [[0, 'disk0']], initiators: ['iqn.2026-11.test:ini1'] }],
        },
      ],
    });
    expect(text).toBe(
      [
        'HANDLER vdisk_fileio {',
        '\tDEVICE disk0 {',
        '\t\tfilename /tmp/x/disk0.img',
        '\t\tblocksize 512',
        '\t}',
        '}',
        '',
        'TARGET_DRIVER iscsi {',
        '\tenabled 1',
        '',
        '\tTARGET iqn.2026-11.test:t1 {',
        '\t\tenabled 1',
        '\t\tInitialR2T No',
        '\t\tIncomingUser "user1 secretsecret1"',
        '\t\tIncomingUser "user2 secretsecret2"',
        '\t\tLUN 1 disk0',
        '\t\tGROUP g1 {',
        '\t\t\tLUN 0 disk0',
        '\t\t\tINITIATOR iqn.2026-11.test:ini1',
        '\t\t}',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
    expect(() => scstConf({ devices: [{ handler: 'vcdrom', name: 'c', attrs: { filename: '/a#b' } }], targets: [] })).toThrow();
  });
});
