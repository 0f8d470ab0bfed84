// Issue 15: dynamic target attributes as OpenStack Cinder's shared-target export sets them.
// `-add_tgt_attr T -driver iscsi -attributes "IncomingUser U P"` and `-set_tgt_attr ...
// "IncomingUser= U P"` add the account and exit 0 with SCST's messages: SCST.pm counts an
// accepted mgmt write as success and never compares the value read back (the driver stores it
// in its own words). Held against SCST's own Perl scstadmin on the same tree when it is present
// (SCSTADMIN_DIR, as in it-sysfs-scstadmin).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { tmpDir } from './helpers/files.js';
import { describeRun, run, type RunResult } from './helpers/proc.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';

installHarnessHooks();

const ADMIN = join(import.meta.dirname, '..', 'dist', 'src', 'bin', 'scstadmin.js');
const SCSTADMIN_DIR = process.env.SCSTADMIN_DIR ?? '/tmp/scst-ref/scstadmin/scstadmin.sysfs';
const HAVE_PERL = existsSync(join(SCSTADMIN_DIR, 'scstadmin'));
const T = 'iqn.2010-10.org.openstack:volume-shared';

const ours = (mnt: string, args: string[]): Promise<RunResult> => run(process.execPath, [ADMIN, '--root', mnt, ...args], { timeoutMs: 60_000 });

function perl(tree: string, args: string[]): Promise<RunResult> {
  const script =
    'set -e; mount --make-rprivate /; mount -t tmpfs scstadmin-sys /sys/kernel; mkdir /sys/kernel/scst_tgt; ' +
    'mount --bind "$0" /sys/kernel/scst_tgt; exec perl -I "$SCSTADMIN_DIR/scst-1.0.0/lib" "$SCSTADMIN_DIR/scstadmin" "$@"';
  return run('unshare', ['-m', 'bash', '-c', script, tree, ...args], { timeoutMs: 120_000, env: { ...process.env, SCSTADMIN_DIR } });
}

describe('scstadmin dynamic target attributes', () => {
  let d: ScstdHandle;
  let mnt = '';
  const tdir = () => join(mnt, 'sys/kernel/scst_tgt/targets/iscsi', T);
  beforeAll(async () => {
    mnt = join(await tmpDir(), 'mnt');
    d = await startScstd({ config: `TARGET_DRIVER iscsi {\n\tenabled 1\n\tTARGET ${T} {\n\t\tenabled 1\n\t}\n}\n`, extraArgs: ['--mount', mnt] });
  }, 60_000);

  it('-add_tgt_attr "IncomingUser U P" adds the account and exits 0', async () => {
    const r = await ours(mnt, ['-add_tgt_attr', T, '-driver', 'iscsi', '-attributes', 'IncomingUser cinder1 secretsecret1']);
    expect(r.code, describeRun('scstadmin', r)).toBe(0);
    expect(r.stdout).toContain(`\t-> Adding target attribute 'IncomingUser cinder1 secretsecret1' with value '1' for driver/target 'iscsi/${T}': done.\n`);
    expect(r.stdout).not.toMatch(/FATAL/);
    expect(await readFile(join(tdir(), 'IncomingUser'), 'utf8')).toBe('cinder1 secretsecret1\n[key]\n\n');
    expect(d.exited()).toBe(false);
  });

  it('-set_tgt_attr "IncomingUser= U P" adds the account and exits 0', async () => {
    const r = await ours(mnt, ['-noprompt', '-set_tgt_attr', T, '-driver', 'iscsi', '-attributes', 'IncomingUser= cinder2 secretsecret2']);
    expect(r.code, describeRun('scstadmin', r)).toBe(0);
    expect(r.stdout).toContain(`\t-> Adding target attribute 'IncomingUser' with value ' cinder2 secretsecret2' for driver/target 'iscsi/${T}': done.\n`);
    expect(r.stdout).toContain("\t-> Target dynamic attribute 'IncomingUser' with value 'cinder1 secretsecret1' is not in configuration. Use -force to remove it.\n");
    expect(r.stdout).toContain('\t-> Done, 1 change(s) made.\n');
    expect(await readFile(join(tdir(), 'IncomingUser1'), 'utf8')).toBe('cinder2 secretsecret2\n[key]\n\n');
  });

  it('-rem_tgt_attr "IncomingUser=U P" removes it again, exit 0', async () => {
    const r = await ours(mnt, ['-noprompt', '-rem_tgt_attr', T, '-driver', 'iscsi', '-attributes', 'IncomingUser=cinder2 secretsecret2']);
    expect(r.code, describeRun('scstadmin', r)).toBe(0);
    expect(r.stdout).toContain(`\t-> Removing dynamic attribute 'IncomingUser' with value 'cinder2 secretsecret2' for driver/target 'iscsi/${T}': done.\n`);
    expect(existsSync(join(tdir(), 'IncomingUser1'))).toBe(false);
  });

  it.skipIf(!HAVE_PERL)("prints what SCST's Perl scstadmin prints, with the same exit status", async () => {
    const tree = join(mnt, 'sys/kernel/scst_tgt');
    for (const [n, args] of [
      [3, (u: string) => ['-add_tgt_attr', T, '-driver', 'iscsi', '-attributes', `IncomingUser ${u} secretsecret3`]],
      [4, (u: string) => ['-noprompt', '-set_tgt_attr', T, '-driver', 'iscsi', '-attributes', `IncomingUser=${u} secretsecret3`]],
    ] as const) {
      const a = await ours(mnt, args(`ours${n}`));
      const b = await perl(tree, args(`perl${n}`));
      expect(b.code, describeRun('perl scstadmin', b)).toBe(0);
      expect(a.code, describeRun('scstadmin', a)).toBe(b.code);
      // Perl lists the values not in the configuration in hash order: compare them as sets.
      const norm = (s: string, who: string) => s.replaceAll(who, 'X').split('\n').sort();
      expect(norm(a.stdout, `ours${n}`).filter((l) => !/with value '(ours|perl)\d/.test(l))).toEqual(norm(b.stdout, `perl${n}`).filter((l) => !/with value '(ours|perl)\d/.test(l)));
    }
  });
});
