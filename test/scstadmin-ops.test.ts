// Single operations (scstadmin.md §4): their progress lines, the bytes they write, refusals
// without -force, the usage table of -close_dev, the "already set" / "lacks" messages of
// -set_*_attr, dynamic attributes, ALUA, and the exit-status quirks.
import { describe, expect, it } from 'vitest';
import { FakeSysfs } from './helpers/scstadmin/fake-sysfs.js';
import { referenceFake, runAdmin } from './helpers/scstadmin/run.js';

const TGT = 'iqn.2006-10.net.vlnb:tgt';
const HEAD = '\nCollecting current configuration: done.\n\n';
const writes = (fake: FakeSysfs) => fake.fs.writes.map((w) => `${w.path.replace('/sys/kernel/scst_tgt/', '')} <- ${w.data}${w.error ? ` (${w.error})` : ''}`);

describe('devices', () => {
  it('-open_dev writes add_device with every attribute, -close_dev refuses a device in use', async () => {
    const fake = new FakeSysfs();
    const r = await runAdmin(fake, ['-open_dev', 'd1', '-handler', 'vdisk_fileio', '-attributes', 'filename=/srv/d1.img,nv_cache']);
    expect(r.out).toBe(`${HEAD}\n-> Making requested changes.\n\t-> Opening device 'd1' using handler 'vdisk_fileio': done.\n\t-> Done.\n\nAll done.\n`);
    expect(writes(fake)).toEqual(['handlers/vdisk_fileio/mgmt <- add_device d1 filename=/srv/d1.img;nv_cache=1;']);
    await runAdmin(fake, ['-add_target', 't1', '-driver', 'iscsi']);
    await runAdmin(fake, ['-add_lun', '3', '-driver', 'iscsi', '-target', 't1', '-device', 'd1']);
    const refused = await runAdmin(fake, ['-close_dev', 'd1', '-handler', 'vdisk_fileio', '-noprompt']);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe(
      `${HEAD}\n-> Making requested changes.\n` +
        "Device 'd1' is currently in use by the following:\n\n" +
        '\tDriver Target Group Lun \n' +
        '\t------ ------ ----- ----\n' +
        '\tiscsi  t1           3   \n' +
        "\n\nFATAL: Received the following error:\n\n\tDevice 'd1' still in use, aborting. Use -force to override.\n\n",
    );
    const forced = await runAdmin(fake, ['-close_dev', 'd1', '-handler', 'vdisk_fileio', '-noprompt', '-force']);
    expect(forced.code).toBe(0);
    expect(fake.devices.has('d1')).toBe(false);
  });

  it('a failed open names the reason; an existing device is "Device already exists."', async () => {
    const fake = await referenceFake();
    const r = await runAdmin(fake, ['-open_dev', 'disk1', '-handler', 'vdisk_fileio', '-attributes', 'filename=/x']);
    expect(r.code).toBe(1);
    expect(r.out).toContain("\t-> Opening device 'disk1' using handler 'vdisk_fileio': done.\n\n\nFATAL: Received the following error:\n\n\tDevice already exists.\n\n");
    const bad = await runAdmin(fake, ['-open_dev', 'dx', '-handler', 'vdisk_nullio', '-attributes', 'bogus=1']);
    expect(bad.out).toContain('\tBad attributes given for device.\n');
  });

  it('-resync_dev exits 1 after a successful change (the original quirk)', async () => {
    const fake = await referenceFake();
    const r = await runAdmin(fake, ['-resync_dev', 'disk1']);
    expect(r.out).toContain("\t-> Setting device attribute 'resync_size' to value '1' for device 'disk1': done.\n");
    expect(r.code).toBe(1);
    expect(writes(fake)).toEqual(['devices/disk1/resync_size <- 1']);
  });
});

describe('attributes', () => {
  it('-set_dev_attr: set, already set, lacks', async () => {
    const fake = await referenceFake();
    const r = await runAdmin(fake, ['-set_dev_attr', 'disk1', '-attributes', 't10_dev_id=new,filename=/srv/disk1.img,bogus=1,read_only=1', '-noprompt']);
    expect(r.out).toBe(
      `${HEAD}\n-> Making requested changes.\n` +
        "\t-> Setting device attribute 't10_dev_id' to value 'new' for device 'disk1': done.\n" +
        "\t-> Attribute 'filename' already set to value '/srv/disk1.img', ignoring.\n" +
        "\t-> WARNING: Device 'disk1' lacks the settable attribute 'bogus', ignoring.\n\n" +
        "\t-> WARNING: Device 'disk1' lacks the settable attribute 'read_only', ignoring.\n\n" +
        '\t-> Done, 1 change(s) made.\n\nAll done.\n',
    );
    expect(writes(fake)).toEqual(['devices/disk1/t10_dev_id <- new']);
  });

  it('-set_scst_attr writes value + newline; a refused value warns with the errno on stderr', async () => {
    const fake = await referenceFake();
    const ok = await runAdmin(fake, ['-set_scst_attr', '-attributes', 'threads=8', '-noprompt']);
    expect(writes(fake)).toEqual(['threads <- 8\n']);
    expect(ok.code).toBe(0);
    const bad = await runAdmin(fake, ['-set_scst_attr', '-attributes', 'threads=lots', '-noprompt']);
    expect(bad.err).toBe('(EINVAL) ');
    expect(bad.out).toContain('\n\nWARNING: Received the following error:\n\n\tFailed to set a SCST attribute. See "dmesg" for more information.\n\n');
  });

  it('-set_tgt_attr adds dynamic values and reports the unnamed ones', async () => {
    const fake = await referenceFake();
    const r = await runAdmin(fake, ['-set_tgt_attr', TGT, '-driver', 'iscsi', '-attributes', 'IncomingUser=bob 12charsecret3,addr_method=FLAT', '-noprompt']);
    expect(r.out).toContain(`\t-> Adding target attribute 'IncomingUser' with value 'bob 12charsecret3' for driver/target 'iscsi/${TGT}': done.\n`);
    expect(r.out).toContain(`\t-> Setting target attribute 'addr_method' to value 'FLAT' for driver/target 'iscsi/${TGT}': done.\n`);
    expect(r.out).toContain("\t-> Target dynamic attribute 'IncomingUser' with value 'fred 12charsecret2' is not in configuration. Use -force to remove it.\n");
    expect(r.out).toContain('\t-> Done, 2 change(s) made.\n');
  });

  it('-add_drv_attr / -rem_drv_attr', async () => {
    const fake = await referenceFake();
    const a = await runAdmin(fake, ['-add_drv_attr', 'iscsi', '-attributes', 'IncomingUser=joe 12charsecret']);
    expect(a.out).toContain("\t-> Attribute/value 'IncomingUser/joe 12charsecret' already exists for driver 'iscsi'.\n");
    const b = await runAdmin(fake, ['-add_drv_attr', 'iscsi', '-attributes', 'OutgoingUser=tgt 12charsecret9']);
    expect(b.out).toContain("\t-> Adding driver attribute 'OutgoingUser' with value 'tgt 12charsecret9' for driver 'iscsi': done.\n");
    const c = await runAdmin(fake, ['-rem_drv_attr', 'iscsi', '-attributes', 'OutgoingUser=tgt 12charsecret9', '-noprompt']);
    expect(c.out).toContain("\t-> Removing dynamic attribute 'OutgoingUser' with value 'tgt 12charsecret9' for driver 'iscsi': done.\n");
    expect(writes(fake)).toEqual(['targets/iscsi/mgmt <- add_attribute OutgoingUser tgt 12charsecret9', 'targets/iscsi/mgmt <- del_attribute OutgoingUser tgt 12charsecret9']);
  });
});

describe('targets, groups, initiators, LUNs', () => {
  it('build and tear down with the reference wording', async () => {
    const fake = await referenceFake();
    const base = ['-driver', 'iscsi', '-target', TGT];
    const steps: Array<[string[], string]> = [
      [['-add_group', 'G2', ...base], `\t-> Adding new group 'G2' to driver/target 'iscsi/${TGT}': done.\n`],
      [['-add_init', 'iqn.x:1', ...base, '-group', 'G2'], `\t-> Adding new initiator 'iqn.x:1' to driver/target/group 'iscsi/${TGT}/G2': done.\n`],
      [['-add_init', 'iqn.1993-08.org.debian:01:abc', ...base, '-group', 'G2'], `\t-> Initiator 'iqn.1993-08.org.debian:01:abc' already belongs to group 'HOST1' for driver/target 'iscsi/target', ignoring.\n`],
      [['-move_init', 'iqn.x:1', ...base, '-group', 'G2', '-to', 'HOST1', '-noprompt'], "\t-> Moving initiator 'iqn.x:1' from group 'G2' to group 'HOST1': done.\n"],
      [['-add_lun', '4', ...base, '-group', 'G2', '-device', 'disk1', '-attributes', 'read_only=1'], `\t-> Adding device 'disk1' at LUN 4 to driver/target/group 'iscsi/${TGT}/G2': done.\n`],
      [['-replace_lun', '4', ...base, '-group', 'G2', '-device', 'nul0', '-noprompt'], `\t-> Replacing device at LUN 4 with device 'nul0' in driver/target/group 'iscsi/${TGT}/G2': done.\n`],
      [['-clear_luns', ...base, '-group', 'G2', '-noprompt'], `\t-> Removing all LUNs from driver/target/group 'iscsi/${TGT}/G2': done.\n`],
      [['-rem_group', 'G2', ...base, '-noprompt'], `\t-> Removing group 'G2' from driver/target 'iscsi/${TGT}': done.\n`],
      [['-disable_target', TGT, '-driver', 'iscsi', '-noprompt'], `\t-> Disabling driver/target 'iscsi/${TGT}': done.\n`],
      [['-enable_target', TGT, '-driver', 'iscsi'], `\t-> Enabling driver/target 'iscsi/${TGT}': done.\n`],
    ];
    for (const [argv, line] of steps) {
      const r = await runAdmin(fake, argv);
      expect(r.out, argv.join(' ')).toContain(line);
    }
    expect(writes(fake)).toEqual([
      `targets/iscsi/${TGT}/ini_groups/mgmt <- create G2`,
      `targets/iscsi/${TGT}/ini_groups/G2/initiators/mgmt <- add iqn.x:1`,
      `targets/iscsi/${TGT}/ini_groups/G2/initiators/mgmt <- move iqn.x:1 HOST1`,
      `targets/iscsi/${TGT}/ini_groups/G2/luns/mgmt <- add disk1 4 read_only=1;`,
      `targets/iscsi/${TGT}/ini_groups/G2/luns/mgmt <- replace nul0 4 `,
      `targets/iscsi/${TGT}/ini_groups/G2/luns/mgmt <- clear`,
      `targets/iscsi/${TGT}/ini_groups/mgmt <- del G2`,
      `targets/iscsi/${TGT}/enabled <- 0`,
      `targets/iscsi/${TGT}/enabled <- 1`,
    ]);
  });

  it('-rem_group refuses a group in use without -force, listing it', async () => {
    const fake = await referenceFake();
    const r = await runAdmin(fake, ['-rem_group', 'HOST1', '-driver', 'iscsi', '-target', TGT, '-noprompt']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('Assigned Initiators:\n\n\tInitiator\n\t-----------------------------\n\tiqn.1993-08.org.debian:01:abc\n\n\nFATAL: Received the following error:\n\n\tGroup is still in use, aborting. Use -force to override.\n\n');
    expect(fake.fs.writes).toEqual([]);
  });

  it('-rem_target closes sessions, waits for them and removes the target', async () => {
    const fake = await referenceFake();
    fake.addSession('iscsi', TGT, 'iqn.1993-08.org.debian:01:abc');
    const r = await runAdmin(fake, ['-rem_target', TGT, '-driver', 'iscsi', '-noprompt']);
    expect(r.out).toContain(`\t-> Removing virtual target '${TGT}' from driver 'iscsi': done.\n`);
    expect(writes(fake)).toEqual([
      `targets/iscsi/${TGT}/enabled <- 0`,
      `targets/iscsi/${TGT}/sessions/iqn.1993-08.org.debian:01:abc/force_close <- 1`,
      `targets/iscsi/mgmt <- del_target ${TGT}`,
    ]);
    expect(r.code).toBe(0);
  });
});

describe('ALUA', () => {
  it('device and target groups', async () => {
    const fake = new FakeSysfs();
    await runAdmin(fake, ['-open_dev', 'd1', '-handler', 'vdisk_nullio']);
    const steps: Array<[string[], string]> = [
      [['-add_dgrp', 'dg'], "\t-> Adding new device group 'dg': done.\n"],
      [['-add_dgrp_dev', 'd1', '-dev_group', 'dg'], "\t-> Adding new device group/device 'dg/d1': done.\n"],
      [['-add_tgrp', 'tg', '-dev_group', 'dg'], "\t-> Adding new target group 'tg' to device group 'dg': done.\n"],
      [['-add_tgrp_tgt', 'far', '-dev_group', 'dg', '-tgt_group', 'tg'], "\t-> Adding new target group/target 'tg/far' to device group 'dg': done.\n"],
      [['-set_ttgt_attr', 'far', '-dev_group', 'dg', '-tgt_group', 'tg', '-attributes', 'rel_tgt_id=7', '-noprompt'], "\t-> Setting target attribute 'rel_tgt_id' to value '7' for target 'dg/tg/far': done.\n"],
      [['-set_tgrp_attr', 'tg', '-dev_group', 'dg', '-attributes', 'state=standby,group_id=5', '-noprompt'], "\t-> Setting Target Group attribute 'group_id' to value '5' for target group 'dg/tg': done.\n"],
      [['-rem_tgrp', 'tg', '-dev_group', 'dg'], "\n\tTargets\n\t-------\n\tfar\n\n\nFATAL: Received the following error:\n\n\tTarget group is still in use, aborting. Use -force to override.\n\n"],
      [['-rem_dgrp', 'dg', '-force'], "\t-> Removing device group 'dg': done.\n"],
    ];
    for (const [argv, line] of steps) expect((await runAdmin(fake, argv)).out, argv.join(' ')).toContain(line);
    expect(fake.dgroups.size).toBe(0);
  });
});

describe('where the tree is', () => {
  it('--root and SCST_ROOT choose the tree; the sysfs root itself is accepted too', async () => {
    const fake = await referenceFake();
    const { runScstadmin } = await import('../src/scstadmin/cli/main.js');
    const go = async (argv: string[], env: Record<string, string>) => {
      let out = '';
      const code = await runScstadmin({ argv, env, out: { out: (t) => (out += t), err: () => undefined }, readLine: async () => undefined, euid: 0, defaultRoot: '/nowhere', fs: fake.fs });
      return { code, out };
    };
    expect((await go(['-list_driver'], { SCST_ROOT: '/fake' })).code).toBe(0);
    expect((await go(['-list_driver', '--root', '/fake'], {})).out).toContain('\tiscsi\n');
    expect((await go(['-list_driver', '-root=/fake/sys/kernel/scst_tgt'], {})).out).toContain('\tiscsi\n');
    expect((await go(['-list_driver'], {})).code).toBe(1);
  });
});
