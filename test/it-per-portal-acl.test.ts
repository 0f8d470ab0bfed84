// Issue 15: per_portal_acl. With it set, SCST names the initiator `initiator#portal` (the address
// it connected to) when it picks the security group, so one initiator sees different LUNs, or is
// refused, depending on the portal. Two listeners, 127.0.0.1 and 127.0.0.2 (both loopback), on
// ports the harness picks; real initiators (iscsi-ls, iscsi-inq, qemu-io); the configuration
// given once as scst.conf (with its `\#` escape) and once through the sysfs tree.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { iscsiInq, iscsiLs, qemuIoSession } from './helpers/initiators.js';
import { describeRun, freePort, run } from './helpers/proc.js';
import { scstdBinary, startScstd, type ScstdHandle } from './helpers/scstd.js';

installHarnessHooks();

const MiB = 1024 * 1024;
const T1 = 'iqn.2026-11.test:ppa1';
const T2 = 'iqn.2026-11.test:ppa2';
const INI_A = 'iqn.2026-11.test:ini-a';
const INI_W = 'iqn.2026-11.test:wild-7';
const INI_X = 'iqn.2026-11.test:other';
const P1 = '127.0.0.1';
const P2 = '127.0.0.2';

/** T1: no default LUN, ini-a only through 127.0.0.1, wild-* through any 127.0.0.? portal.
 *  T2: a default LUN that initiators matching no group (ini-a on 127.0.0.2) fall back to. */
function conf(dir: string): string {
  const dev = (n: string) => `\tDEVICE ${n} {\n\t\tfilename ${dir}/${n}.img\n\t}\n`;
  return `HANDLER vdisk_fileio {
${dev('dA')}${dev('dW')}${dev('dDef')}${dev('dA2')}}

TARGET_DRIVER iscsi {
	enabled 1

	TARGET ${T1} {
		per_portal_acl 1
		enabled 1

		GROUP gA {
			LUN 0 dA
			INITIATOR ${INI_A}\\#${P1}
		}

		GROUP gW {
			LUN 3 dW
			INITIATOR iqn.2026-11.test:wild-*\\#127.0.0.?
		}
	}

	TARGET ${T2} {
		per_portal_acl 1
		enabled 1
		LUN 0 dDef

		GROUP gA {
			LUN 0 dA2
			INITIATOR ${INI_A}\\#${P1}
		}
	}
}
`;
}

async function images(dir: string): Promise<void> {
  for (const n of ['dA', 'dW', 'dDef', 'dA2']) await sparseFile(join(dir, `${n}.img`), 16 * MiB);
}

/** What both ways of configuring must give. */
interface TwoPortals {
  d: ScstdHandle;
  mount: string;
  p2: number;
}

/** A daemon on both portals with its tree mounted, its images in a fresh directory. */
async function startOnTwoPortals(config: (dir: string) => string): Promise<TwoPortals> {
  const dir = await tmpDir();
  await images(dir);
  const mount = join(dir, 'mnt');
  const p2 = await freePort();
  const d = await startScstd({ config: config(dir), extraArgs: ['--listen', `${P2}:${p2}`, '--mount', mount] });
  return { d, mount, p2 };
}

function behaviour(get: () => { d: ScstdHandle; mount: string; p2: number }): void {
  const at = (host: string) => ({ host, port: host === P1 ? get().d.ports[0]! : get().p2 });
  const product = async (host: string, target: string, lun: number, initiator: string) => {
    const r = await iscsiInq({ ...at(host), target, lun, initiator });
    return { r, product: r.get('Product')?.trim() };
  };

  it('the initiator gets its group on the named portal and is refused on the other', async () => {
    const here = await product(P1, T1, 0, INI_A);
    expect(here.r.run.code, describeRun('iscsi-inq', here.r.run)).toBe(0);
    expect(here.product).toBe('dA');
    const there = await product(P2, T1, 0, INI_A);
    expect(there.r.run.code).not.toBe(0);
    // iscsi-scstd answers "target not found" (0x0203) when the initiator has no LUNs there.
    expect(there.r.run.stdout + there.r.run.stderr).toMatch(/Target not found|515/);
  });

  it('an initiator matching no group on that portal falls back to the default LUN set, as SCST does', async () => {
    expect((await product(P1, T2, 0, INI_A)).product).toBe('dA2');
    expect((await product(P2, T2, 0, INI_A)).product).toBe('dDef');
    expect((await product(P2, T2, 0, INI_X)).product).toBe('dDef');
    expect((await product(P1, T1, 0, INI_X)).r.run.code).not.toBe(0);
  });

  it('wildcards match the full name: wild-*\\#127.0.0.? on both portals', async () => {
    for (const host of [P1, P2]) {
      const r = await product(host, T1, 3, INI_W);
      expect(r.r.run.code, describeRun('iscsi-inq', r.r.run)).toBe(0);
      expect(r.product).toBe('dW');
    }
  });

  it('SendTargets lists a per-portal target only where the initiator is admitted, with the admitted portal', async () => {
    const ls1 = await iscsiLs(at(P1), { initiator: INI_A, showLuns: true });
    expect(ls1.run.code, describeRun('iscsi-ls', ls1.run)).toBe(0);
    const t1 = ls1.targets.filter((t) => t.name === T1);
    expect(t1.map((t) => t.portal)).toEqual([`${P1}:${get().d.ports[0]!},1`]);
    expect(t1[0]!.luns.map((l) => l.lun)).toEqual([0]);
    const ls2 = await iscsiLs(at(P2), { initiator: INI_A });
    expect(ls2.run.code, describeRun('iscsi-ls', ls2.run)).toBe(0);
    expect(ls2.targets.map((t) => t.name)).not.toContain(T1);
    expect(ls2.targets.map((t) => t.name)).toContain(T2);
  });

  it('the session is named as SCST names it: initiator#portal', async () => {
    const s = await qemuIoSession({ ...at(P1), target: T1, lun: 0, initiator: INI_A });
    try {
      await s.exec('read 0 4096', /read 4096\/4096 bytes/, 20_000);
      const dir = join(get().mount, 'sys/kernel/scst_tgt/targets/iscsi', T1, 'sessions');
      expect(await readdir(dir)).toEqual([`${INI_A}#${P1}`]);
      expect(await readFile(join(dir, `${INI_A}#${P1}`, 'initiator_name'), 'utf8')).toBe(`${INI_A}#${P1}\n`);
    } finally {
      await s.close();
    }
  });
}

describe('per_portal_acl from scst.conf', () => {
  let d: ScstdHandle;
  let mount = '';
  let p2 = 0;
  beforeAll(async () => {
    ({ d, mount, p2 } = await startOnTwoPortals(conf));
  }, 60_000);

  behaviour(() => ({ d, mount, p2 }));

  it('sysfs shows the attribute and the escaped name unescaped; -write_config escapes it again', async () => {
    const t = join(mount, 'sys/kernel/scst_tgt/targets/iscsi', T1);
    expect(await readFile(join(t, 'per_portal_acl'), 'utf8')).toBe('1\n[key]\n\n');
    expect((await readdir(join(t, 'ini_groups/gA/initiators'))).sort()).toEqual([`${INI_A}#${P1}`, 'mgmt']);
    const out = join(await tmpDir(), 'out.conf');
    const r = await run(process.execPath, [join(scstdBinary(), '..', 'scstadmin.js'), '--root', mount, '-write_config', out], { timeoutMs: 60_000 });
    expect(r.code, describeRun('scstadmin', r)).toBe(0);
    const text = await readFile(out, 'utf8');
    expect(text).toContain(`INITIATOR ${INI_A}\\#${P1}\n`);
    expect(text).toContain('INITIATOR iqn.2026-11.test:wild-*\\#127.0.0.?\n');
    expect(text).toMatch(/per_portal_acl 1\n/);
  });
});

describe('per_portal_acl through the sysfs tree', () => {
  let d: ScstdHandle;
  let mount = '';
  let p2 = 0;
  beforeAll(async () => {
    const devs = (dir: string) => ['dA', 'dW', 'dDef', 'dA2'].map((n) => `\tDEVICE ${n} {\n\t\tfilename ${dir}/${n}.img\n\t}\n`).join('');
    ({ d, mount, p2 } = await startOnTwoPortals((dir) => `HANDLER vdisk_fileio {\n${devs(dir)}}\n\nTARGET_DRIVER iscsi {\n\tenabled 1\n}\n`));
    const R = join(mount, 'sys/kernel/scst_tgt/targets/iscsi');
    const w = (path: string, text: string) => writeFile(join(R, path), text);
    for (const t of [T1, T2]) {
      await w('mgmt', `add_target ${t}`);
      await w(`${t}/per_portal_acl`, '1');
      await w(`${t}/ini_groups/mgmt`, 'create gA');
    }
    await w(`${T1}/ini_groups/gA/luns/mgmt`, 'add dA 0');
    await w(`${T1}/ini_groups/gA/initiators/mgmt`, `add ${INI_A}#${P1}`);
    await w(`${T1}/ini_groups/mgmt`, 'create gW');
    await w(`${T1}/ini_groups/gW/luns/mgmt`, 'add dW 3');
    await w(`${T1}/ini_groups/gW/initiators/mgmt`, 'add iqn.2026-11.test:wild-*#127.0.0.?');
    await w(`${T2}/luns/mgmt`, 'add dDef 0');
    await w(`${T2}/ini_groups/gA/luns/mgmt`, 'add dA2 0');
    await w(`${T2}/ini_groups/gA/initiators/mgmt`, `add ${INI_A}#${P1}`);
    for (const t of [T1, T2]) await w(`${t}/enabled`, '1');
  }, 60_000);

  behaviour(() => ({ d, mount, p2 }));

  it('per_portal_acl 0 again: the plain name is matched, so ini-a is refused on both portals of T1', async () => {
    const f = join(mount, 'sys/kernel/scst_tgt/targets/iscsi', T1, 'per_portal_acl');
    await writeFile(f, '0');
    try {
      expect(await readFile(f, 'utf8')).toBe('0\n\n');
      const r = await iscsiInq({ host: P1, port: d.ports[0]!, target: T1, lun: 0, initiator: INI_A });
      expect(r.run.code).not.toBe(0);
      await expect(writeFile(f, '2')).rejects.toThrow(/EINVAL/);
    } finally {
      await writeFile(f, '1');
    }
  });
});
