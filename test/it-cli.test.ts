// scstd and scstadmin as commands: config errors refuse start-up with file and line; the
// embedded default config comes up; scstadmin -check_config uses the same parser.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { tmpDir } from './helpers/files.js';
import { iscsiLs } from './helpers/initiators.js';
import { freePort, run } from './helpers/proc.js';
import { runScstdOnce, startScstd } from './helpers/scstd.js';

installHarnessHooks();

const ADMIN = join(import.meta.dirname, '..', 'dist', 'src', 'bin', 'scstadmin.js');

describe('scstd command line', () => {
  it('refuses a config with an unknown handler, naming file and line', async () => {
    const r = await runScstdOnce({ config: 'HANDLER vdisk_bogus {\n\tDEVICE d0 {\n\t}\n}\n' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/:1: unknown handler 'vdisk_bogus'/);
  });

  it('refuses unbalanced braces and a LUN on an unknown device', async () => {
    const a = await runScstdOnce({ config: 'HANDLER vdisk_nullio {\n\tDEVICE n0 {\n' });
    expect(a.code).not.toBe(0);
    expect(a.stderr).toMatch(/:\d+: /);
    const b = await runScstdOnce({
      config: 'TARGET_DRIVER iscsi {\n\tTARGET iqn.2026-11.test:x {\n\t\tLUN 0 nosuchdev\n\t}\n}\n',
    });
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/:3: LUN 0: device 'nosuchdev' is not defined/);
  });

  it('refuses an iSCSI parameter out of range', async () => {
    const r = await runScstdOnce({
      config: 'TARGET_DRIVER iscsi {\n\tTARGET iqn.2026-11.test:x {\n\t\tMaxBurstLength 100\n\t}\n}\n',
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/:3: MaxBurstLength: 100 is outside 512\.\.16777215/);
  });

  it('starts on the embedded default config and serves its two LUNs', async () => {
    const port = await freePort();
    const state = await tmpDir();
    const config = await readFile(join(import.meta.dirname, '..', 'etc', 'scstd-default.conf'), 'utf8');
    const d = await startScstd({ config, listen: [port], stateDir: state });
    const ls = await iscsiLs({ port }, { showLuns: true });
    expect(ls.targets.map((t) => t.name)).toEqual(['iqn.2026-11.org.scst-usermode:default']);
    expect(ls.targets[0]!.luns.map((l) => l.lun)).toEqual([0, 1]);
    const stop = await d.stop();
    expect(stop.code).toBe(0);
  });
});

describe('scstadmin', () => {
  it('-check_config accepts the shipped example and rejects a broken file', async () => {
    const ok = await run(process.execPath, [ADMIN, '-check_config', join(import.meta.dirname, '..', 'etc', 'scst.conf.example')], { timeoutMs: 15_000 });
    expect(ok.code).toBe(0);
    const dir = await tmpDir();
    const bad = join(dir, 'bad.conf');
    await writeFile(bad, 'TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tLUN 0 a\n\t\tLUN 0 b\n\t}\n}\n');
    const r = await run(process.execPath, [ADMIN, '-check_config', bad], { timeoutMs: 15_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.conf:\d+: .*multiple devices assigned/);
  });
});
