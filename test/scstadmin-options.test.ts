// Command-line parsing (scstadmin.md §2): Getopt::Long rules, the validation messages in the
// original's order (texts from its own test suite, t/09-scstadmin-invalid-args.t), help, the
// confirmation prompt and the start-up failures.
import { describe, expect, it } from 'vitest';
import { getopt } from '../src/scstadmin/cli/getopt.js';
import { OPTIONS, parseArgs, splitAttributes } from '../src/scstadmin/cli/options.js';
import { runScstadmin } from '../src/scstadmin/cli/main.js';
import { FakeSysfs } from './helpers/scstadmin/fake-sysfs.js';
import { referenceFake, runAdmin } from './helpers/scstadmin/run.js';
import { MemTreeFs, memDir } from '../src/scstadmin/tree/mem-tree.js';

describe('Getopt::Long rules', () => {
  it('accepts one or two dashes, any case, unique prefixes and =value', () => {
    const p = getopt(['--LIST_HANDLER', '-list_drv=iscsi', '-NONK', '+force'], OPTIONS);
    expect(p.errors).toEqual([]);
    expect(p.values.get('list_handler')).toBe('');
    expect(p.values.get('list_drv_attr')).toBe('iscsi');
    expect(p.values.get('nonkey')).toBe(true);
    expect(p.values.get('force')).toBe(true);
  });

  it('reports ambiguous prefixes with every candidate, sorted', () => {
    expect(getopt(['-list_d'], OPTIONS).errors).toEqual([
      'Option list_d is ambiguous (list_dev_attr, list_device, list_dgrp, list_dgrp_attr, list_driver, list_drv_attr)\n',
    ]);
  });

  it('a mandatory value takes the next argument even if it starts with a dash', () => {
    const p = getopt(['-open_dev', '-handler', 'h'], OPTIONS);
    expect(p.values.get('open_dev')).toBe('-handler');
    expect(p.rest).toEqual(['h']);
  });

  it('an optional value does not swallow the next option', () => {
    const p = getopt(['-config', '-force'], OPTIONS);
    expect(p.values.get('config')).toBe('');
    expect(p.values.get('force')).toBe(true);
  });

  it('exact names win over longer ones; errors name the option', () => {
    expect(getopt(['-list_device'], OPTIONS).values.has('list_device')).toBe(true);
    expect(getopt(['-h'], OPTIONS).values.has('h')).toBe(true);
    expect(getopt(['-list_drv'], OPTIONS).errors).toEqual(['Option list_drv_attr requires an argument\n']);
    expect(getopt(['-bogus'], OPTIONS).errors).toEqual(['Unknown option: bogus\n']);
    expect(getopt(['-force=1'], OPTIONS).errors).toEqual(['Option force does not take an argument\n']);
    expect(getopt(['-write_config='], OPTIONS).errors).toEqual(['Option write_config requires an argument\n']);
  });

  it('splits -attributes like the original', () => {
    expect(splitAttributes('filename=/a=b,read_only,nv_cache=0,read_only=0')).toEqual([
      ['filename', '/a=b'],
      ['read_only', '0'],
      ['nv_cache', '0'],
    ]);
    expect(splitAttributes('0')).toEqual([]);
  });

  it('defaults -config and -check_config to /etc/scst.conf', () => {
    expect(parseArgs(['-config']).args!.str('config')).toBe('/etc/scst.conf');
    expect(parseArgs(['-check_config', '-noprompt']).args!.str('check_config')).toBe('/etc/scst.conf');
  });
});

// t/09-scstadmin-invalid-args.t of the original, message for message.
const INVALID: Array<[string, string]> = [
  ['-open_dev -handler h -set_scst_attr', 'Please specify only one non-query operation at a time.'],
  ['-clear_config', 'Please specify -force with -clear_config.'],
  ['-list_tgrp', 'Please specify -dev_group with -list_tgrp.'],
  ['-list_tgt_attr t', 'Please specify -driver with -list_tgt_attr.'],
  ['-list_grp_attr g', 'Please specify -driver, -target and group with -list_grp_attr.'],
  ['-list_lun_attr l', 'Please specify -driver and -target with -list_lun_attr.'],
  ['-list_init_attr i', 'Please specify -driver, -target and -group with -list_init_attr.'],
  ['-list_tgrp_attr tg', 'Please specify -dev_group with -list_tgrp_attr.'],
  ['-list_ttgt_attr tt', 'Please specify -dev_group and -tgt_group with -list_ttgt_attr.'],
  ['-set_scst_attr', 'Please specify -attributes with -set_scst_attr.'],
  ['-set_hnd_attr h', 'Please specify -attributes with -set_hnd_attr.'],
  ['-set_dev_attr d', 'Please specify -attributes with -set_dev_attr.'],
  ['-set_dgrp_attr dg', 'Please specify -attributes with -set_dgrp_attr.'],
  ['-set_tgrp_attr tg', 'Please specify -dev_group and -attributes with -set_tgrp_attr.'],
  ['-set_drv_attr d', 'Please specify -attributes with -set_drv_attr.'],
  ['-set_tgt_attr t', 'Please specify -driver and -attributes with -set_tgt_attr.'],
  ['-set_lun_attr l', 'Please specify -driver -target -group and -attributes with -set_lun_attr.'],
  ['-set_init_attr i', 'Please specify -driver -target -group and -attributes with -set_init_attr.'],
  ['-add_drv_attr d', 'Please specify -attributes with -add_drv_attr.'],
  ['-add_tgt_attr t', 'Please specify -driver and -attributes with -add_tgt_attr.'],
  ['-rem_drv_attr d', 'Please specify -attributes with -rem_drv_attr.'],
  ['-rem_tgt_attr t', 'Please specify -driver and -attributes with -rem_tgt_attr.'],
  ['-open_dev d', 'Please specify -handler with -open_dev/-close_dev.'],
  ['-close_dev d', 'Please specify -handler with -open_dev/-close_dev.'],
  ['-add_target t', 'Please specify -driver with -add_target.'],
  ['-rem_target t', 'Please specify -driver with -rem_target.'],
  ['-add_group g', 'Please specify -driver and -target with -add_group/-rem_group.'],
  ['-rem_group g', 'Please specify -driver and -target with -add_group/-rem_group.'],
  ['-add_init i', 'Please specify -driver -target and -group with -add_init/-rem_init/-clear_inits.'],
  ['-rem_init i', 'Please specify -driver -target and -group with -add_init/-rem_init/-clear_inits.'],
  ['-clear_inits', 'Please specify -driver -target and -group with -add_init/-rem_init/-clear_inits.'],
  ['-move_init i', 'Please specify -driver -target -group and -to with -move_init.'],
  ['-add_lun l', 'Please specify -driver -target and -device with -add_lun/-replace_lun.'],
  ['-replace_lun l', 'Please specify -driver -target and -device with -add_lun/-replace_lun.'],
  ['-rem_lun l', 'Please specify -driver and -target with -rem_lun/-clear_luns.'],
  ['-clear_luns', 'Please specify -driver and -target with -rem_lun/-clear_luns.'],
  ['-add_dgrp_dev dg', 'Please specify -dev_group with -add_dgrp_dev/-rem_dgrp_dev.'],
  ['-rem_dgrp_dev dg', 'Please specify -dev_group with -add_dgrp_dev/-rem_dgrp_dev.'],
  ['-add_tgrp tg', 'Please specify -dev_group with -add_tgrp/-rem_tgrp.'],
  ['-rem_tgrp tg', 'Please specify -dev_group with -add_tgrp/-rem_tgrp.'],
  ['-add_tgrp_tgt t', 'Please specify -dev_group and -tgt_group with -add_tgrp_tgt/-rem_tgrp_tgt.'],
  ['-rem_tgrp_tgt t', 'Please specify -dev_group and -tgt_group with -add_tgrp_tgt/-rem_tgrp_tgt.'],
];

describe('validation messages (stdout, exit 1, nothing read from the tree)', () => {
  for (const [cmd, msg] of INVALID) {
    it(cmd, async () => {
      const fake = new FakeSysfs();
      const r = await runAdmin(fake, cmd.split(' '));
      expect(r).toEqual({ code: 1, out: `${msg}\n`, err: '' });
    });
  }

  it('several queries may be combined; -resync_dev is not counted', async () => {
    expect(parseArgs(['-list_handler', '-list_driver']).invalid).toBeUndefined();
    expect(parseArgs(['-list_handler', '-resync_dev', 'd']).invalid).toBeUndefined();
    expect(parseArgs(['-list_handler', '-add_dgrp', 'x']).invalid).toBe('Please specify only one non-query operation at a time.');
  });
});

describe('start-up', () => {
  it('refuses non-root users', async () => {
    let err = '';
    const code = await runScstadmin({
      argv: ['-list_handler'],
      env: {},
      out: { out: () => undefined, err: (t) => (err += t) },
      readLine: async () => undefined,
      euid: 1000,
      defaultRoot: '/nowhere',
    });
    expect([code, err]).toEqual([1, 'This program must run as root.\n']);
  });

  it('says so when there is no tree', async () => {
    const fs = new MemTreeFs('/x', memDir(() => []));
    let err = '';
    const code = await runScstadmin({ argv: ['-list_handler'], env: {}, out: { out: () => undefined, err: (t) => (err += t) }, readLine: async () => undefined, euid: 0, defaultRoot: '/x', fs });
    expect([code, err]).toEqual([1, 'Failed to obtain SCST version information. Are the SCST modules loaded?\n']);
  });

  it('checks the version line', async () => {
    const bad = await runAdmin(new FakeSysfs({ version: 'SCST version: unknown' }), ['-list_handler']);
    expect([bad.code, bad.err]).toEqual([1, "Failed to parse SCST version from 'SCST version: unknown'\n"]);
  });

  it('prints usage for -h and -help (exit 0)', async () => {
    const r = await runAdmin(new FakeSysfs(), ['-help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^SCST Configurator v3\.11\.0-pre/);
    expect(r.out).toContain('-list_dgrp_attr <dgrp>');
  });

  it('says "No valid operations specified." after the scan', async () => {
    const r = await runAdmin(new FakeSysfs(), ['-nonkey']);
    expect(r).toEqual({ code: 1, out: '\nCollecting current configuration: done.\n\nNo valid operations specified.\n', err: '' });
  });

  it('refuses an initiator in two groups of a target unless -force', async () => {
    const fake = await referenceFake();
    const base = '/fake/sys/kernel/scst_tgt/targets/iscsi/iqn.2006-10.net.vlnb:tgt/ini_groups';
    await fake.fs.write(`${base}/mgmt`, 'create HOST2');
    await fake.fs.write(`${base}/HOST2/initiators/mgmt`, 'add iqn.1993-08.org.debian:01:abc');
    const r = await runAdmin(fake, ['-list_handler']);
    expect(r.code).toBe(1);
    expect(r.out).toBe(
      "\nCollecting current configuration: done.\n\n\t-> FATAL: Initiator 'iqn.1993-08.org.debian:01:abc' belongs to more than one groups for driver/target 'iscsi/target', aborting. Use -force to override.\n",
    );
    expect((await runAdmin(fake, ['-list_handler', '-force'])).code).toBe(0);
  });
});

describe('confirmation prompt', () => {
  // The expected text is the original's test suite's (t/07-scstadmin-args.t, testPrompt).
  it('aborts on EOF without changing anything', async () => {
    const fake = await referenceFake();
    const r = await runAdmin(fake, ['-clear_config', '-force']);
    expect(r.out).toBe(
      '\nCollecting current configuration: done.\n\nPerforming this action may result in lost or corrupt data, are you sure you wish to continue (y/[n]) ? Aborting action.\n\nAll done.\n',
    );
    expect(r.code).toBe(0);
    expect(fake.fs.writes).toEqual([]);
  });

  it('goes on after "y" or "YES"', async () => {
    const fake = await referenceFake();
    const r = await runAdmin(fake, ['-rem_lun', '0', '-driver', 'iscsi', '-target', 'iqn.2006-10.net.vlnb:tgt'], ['YES\n']);
    expect(r.code).toBe(0);
    expect(r.out).toContain("\t-> Removing LUN 0 from driver/target 'iscsi/iqn.2006-10.net.vlnb:tgt': done.\n");
    expect(fake.fs.writes.map((w) => w.data)).toEqual(['del 0']);
  });
});
