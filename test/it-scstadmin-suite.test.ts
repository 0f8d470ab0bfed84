// SCST's own scstadmin test suite (scstadmin.sysfs/scst-1.0.0/t/02..09, every assertion
// unmodified) against scstd's mounted tree. t/01 (loading the kernel modules) is replaced by
// starting scstd with an empty config; each t/ file runs with perl in a private mount namespace
// where the tree is bind-mounted at /sys/kernel/scst_tgt, where SCST's Perl library looks.
//
// The suite is not part of this repository: SCSTADMIN_DIR names a checkout's
// scstadmin/scstadmin.sysfs (default /tmp/scst-ref/scstadmin/scstadmin.sysfs). Without it the
// test is skipped, saying so. Failures are allowed only where the listed cause lies outside what
// this daemon provides yet, so each fix elsewhere can only shrink the list.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { tmpDir } from './helpers/files.js';
import { run } from './helpers/proc.js';
import { startScstd } from './helpers/scstd.js';

installHarnessHooks();

const SCSTADMIN_DIR = process.env.SCSTADMIN_DIR ?? '/tmp/scst-ref/scstadmin/scstadmin.sysfs';
const T_DIR = join(SCSTADMIN_DIR, 'scst-1.0.0', 't');
const LIB = join(SCSTADMIN_DIR, 'scst-1.0.0', 'lib');
const HAVE = existsSync(join(SCSTADMIN_DIR, 'scstadmin')) && existsSync(join(T_DIR, '03-targets.t'));
if (!HAVE) console.warn(`it-scstadmin-suite: skipped, no SCST scstadmin test suite at ${T_DIR} (set SCSTADMIN_DIR)`);

const IB_SRPT = 'the ib_srpt (InfiniBand SRP) hardware target driver is not provided (no InfiniBand here)';
/** SCST's own kernel fails these too: the suite's expected lists predate scst_vdisk.c's (zero_copy gone in 2022, t10_dev_id and fileio's active added since). */
const STALE_CREATE_PARAMS = "the suite expects an old vdisk add_device parameter list; SCST's current scst_vdisk.c (same repository) has ours";
const GAWK = 'the suite runs gawk (match() with an array), which is not installed';

/** Assertions that may fail, by file, with why (none of them is scst_local's). */
const ALLOWED: Record<string, Record<number, string>> = {
  '06-cont-on-err': { 1: IB_SRPT, 3: IB_SRPT },
  '07-scstadmin-args': { 32: GAWK, 33: GAWK, 40: IB_SRPT, 45: STALE_CREATE_PARAMS, 46: STALE_CREATE_PARAMS, 47: STALE_CREATE_PARAMS, 50: IB_SRPT },
  '08-scstadmin-close-dev': { 15: GAWK },
  '09-scstadmin-invalid-args': { 1: IB_SRPT },
};

const FILES = ['02-scst-attr', '03-targets', '04-alua', '05-dynattr', '06-cont-on-err', '07-scstadmin-args', '08-scstadmin-close-dev', '09-scstadmin-invalid-args'];

describe.skipIf(!HAVE)("SCST's scstadmin test suite (t/02..09) against the mounted tree", () => {
  it('passes every assertion but those whose cause is listed', async () => {
    const work = await tmpDir('scstadmin-suite-');
    const d = await startScstd({ config: '# the suite builds everything through the tree\n', extraArgs: ['--mount', join(work, 'mnt'), '--no-user-socket', '--no-pass-through', '--no-rbd'] });
    const tree = join(work, 'mnt', 'sys', 'kernel', 'scst_tgt');
    const gawk = (await run('bash', ['-c', 'command -v gawk'], { timeoutMs: 5000 })).code === 0;
    const report: string[] = [];
    const unexpected: string[] = [];
    try {
      for (const f of FILES) {
        const script = 'set -e; mount --make-rprivate /; mount -t tmpfs scstadmin-sys /sys/kernel; mkdir /sys/kernel/scst_tgt; mount --bind "$0" /sys/kernel/scst_tgt; cd "$1"; exec perl -I "$2" "$3"';
        const r = await run('unshare', ['-m', 'bash', '-c', script, tree, T_DIR, LIB, `${f}.t`], { timeoutMs: 300_000, env: { ...process.env, PERL5LIB: LIB } });
        const out = r.stdout + r.stderr;
        const plan = Number(/^1\.\.(\d+)$/m.exec(out)?.[1] ?? NaN);
        const results = [...out.matchAll(/(not )?ok (\d+)$/gm)].map((m) => ({ n: Number(m[2]), ok: !m[1] }));
        const failed = results.filter((x) => !x.ok).map((x) => x.n);
        report.push(`${f}: ${results.length - failed.length}/${plan}${failed.length ? ` (not ok: ${failed.join(' ')})` : ''}`);
        expect(results.length, `${f}: every planned assertion ran\n${out.slice(-2000)}`).toBe(plan);
        for (const n of failed) {
          const why = ALLOWED[f]?.[n];
          if (!why || (why === GAWK && gawk)) unexpected.push(`${f} #${n}`);
        }
      }
    } finally {
      console.log(`scstadmin suite:\n  ${report.join('\n  ')}`);
      const s = await d.stop();
      expect(s.code).toBe(0);
    }
    expect(unexpected, report.join('\n')).toEqual([]);
  }, 900_000);
});
