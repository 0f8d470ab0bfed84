// Issue 2, part 4: initiator groups. Each initiator sees only its group's LUNs (REPORT LUNS via
// iscsi-ls -s), the same LUN number maps to different devices per group, and both initiators
// run I/O at the same time without seeing each other's data.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { describeQemu, iscsiInq, iscsiLs, qemuIo, type IscsiTarget } from './helpers/initiators.js';
import { describeRun } from './helpers/proc.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';

installHarnessHooks();

const MiB = 1024 * 1024;
const TARGET = 'iqn.2026-11.test:groups';
const INI_A = 'iqn.2026-11.test:ini-a';
const INI_B = 'iqn.2026-11.test:ini-b';
const INI_OTHER = 'iqn.2026-11.test:ini-other';
const INI_WILD = 'iqn.2026-11.test:wild-7';

describe('initiator groups', () => {
  let d: ScstdHandle;
  const lu = (initiator: string, lun: number): IscsiTarget => ({ port: d.ports[0]!, target: TARGET, lun, initiator });

  beforeAll(async () => {
    const dir = await tmpDir();
    const file = (n: string): Promise<string> => sparseFile(join(dir, `${n}.img`), 32 * MiB);
    d = await startScstd({
      config: scstConf({
        devices: [
          { handler: 'vdisk_fileio', name: 'diskA', attrs: { filename: await file('diskA') } },
          { handler: 'vdisk_fileio', name: 'diskA2', attrs: { filename: await file('diskA2') } },
          { handler: 'vdisk_fileio', name: 'diskB', attrs: { filename: await file('diskB') } },
          { handler: 'vdisk_fileio', name: 'diskB3', attrs: { filename: await file('diskB3') } },
          { handler: 'vdisk_fileio', name: 'diskDef', attrs: { filename: await file('diskDef') } },
          { handler: 'vdisk_nullio', name: 'nullW', attrs: { size_mb: 16 } },
        ],
        targets: [
          {
            name: TARGET,
            luns: [[0, 'diskDef']],
            groups: [
              { name: 'gA', luns: [[0, 'diskA'], [1, 'diskA2']], initiators: [INI_A] },
              { name: 'gB', luns: [[0, 'diskB'], [3, 'diskB3']], initiators: [INI_B] },
              { name: 'gW', luns: [[5, 'nullW']], initiators: ['iqn.2026-11.test:wild-*'] },
            ],
          },
        ],
      }),
    });
  }, 60_000);

  it('REPORT LUNS shows each initiator only its own group (or the default set)', async () => {
    const expected: Array<[string, number[]]> = [
      [INI_A, [0, 1]],
      [INI_B, [0, 3]],
      [INI_OTHER, [0]],
      [INI_WILD, [5]],
    ];
    const results = await Promise.all(expected.map(([ini]) => iscsiLs({ port: d.ports[0]! }, { initiator: ini, showLuns: true })));
    results.forEach((ls, i) => {
      const [ini, luns] = expected[i]!;
      expect(ls.run.code, `${ini}\n${describeRun('iscsi-ls', ls.run)}`).toBe(0);
      expect(ls.targets.map((t) => t.name), ini).toEqual([TARGET]);
      expect(ls.targets[0]!.luns.map((l) => l.lun), ini).toEqual(luns);
    });
  });

  it("a LUN of another group is not reachable", async () => {
    const inq = await iscsiInq(lu(INI_A, 3));
    expect(inq.run.code).not.toBe(0);
    const inqB = await iscsiInq(lu(INI_B, 1));
    expect(inqB.run.code).not.toBe(0);
    const product = async (ini: string, lun: number): Promise<string | undefined> => (await iscsiInq(lu(ini, lun))).get('Product')?.trim();
    expect(await product(INI_A, 0)).toBe('diskA');
    expect(await product(INI_B, 0)).toBe('diskB');
    expect(await product(INI_OTHER, 0)).toBe('diskDef');
  });

  it('two initiators write LUN 0 concurrently and each reads back only its own data', async () => {
    const cmds = (p: number): string[] => {
      const c: string[] = [];
      for (let i = 0; i < 24; i++) c.push(`write -P ${p} ${i * MiB} ${MiB}`);
      for (let i = 0; i < 24; i++) c.push(`read -P ${p} ${i * MiB} ${MiB}`);
      return c;
    };
    const [a, b] = await Promise.all([qemuIo(lu(INI_A, 0), cmds(0xa1)), qemuIo(lu(INI_B, 0), cmds(0xb2))]);
    expect(a.ok, describeQemu(a)).toBe(true);
    expect(b.ok, describeQemu(b)).toBe(true);
    // After both finished: nothing of B's leaked into A's device or vice versa.
    const [a2, b2, def] = await Promise.all([
      qemuIo(lu(INI_A, 0), ['read -P 0xa1 0 24M']),
      qemuIo(lu(INI_B, 0), ['read -P 0xb2 0 24M']),
      qemuIo(lu(INI_OTHER, 0), ['read -P 0 0 24M']),
    ]);
    expect(a2.ok, describeQemu(a2)).toBe(true);
    expect(b2.ok, describeQemu(b2)).toBe(true);
    expect(def.ok, describeQemu(def)).toBe(true);
  }, 120_000);
});
