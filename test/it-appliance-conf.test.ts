// An appliance-generated scst.conf (TrueNAS's template, real-clients.md: copy_manager section
// first, vdisk_fileio and vdisk_blockio devices with their identity attributes, iSCSI targets with
// per_portal_acl and security groups whose initiators carry the `\#portal` form, ALUA device and
// target groups) applied the ways appliances apply it: `scstadmin -noprompt -force -config`
// against the mounted tree (ours, and SCST's own Perl scstadmin when SCSTADMIN_DIR or
// /tmp/scst-ref has it; skipped, saying so, when not), and `scstd --config` at start. Each way
// must apply without error, list it, re-apply with "Done, 0 change(s) made.", and round-trip
// through -write_config (a fresh daemon given the written file writes the same file back).
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { attachLoop } from './helpers/loopdev.js';
import { describeRun, run, type RunResult } from './helpers/proc.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';

installHarnessHooks();

const ADMIN = join(import.meta.dirname, '..', 'dist', 'src', 'bin', 'scstadmin.js');
const PERL_DIR = process.env.SCSTADMIN_DIR ?? '/tmp/scst-ref/scstadmin/scstadmin.sysfs';
const HAVE_PERL = existsSync(join(PERL_DIR, 'scstadmin')) && existsSync(join(PERL_DIR, 'scst-1.0.0', 'lib', 'SCST', 'SCST.pm'));
if (!HAVE_PERL) console.warn(`it-appliance-conf: SCST's Perl scstadmin part skipped, none at ${PERL_DIR} (set SCSTADMIN_DIR)`);

const MiB = 1024 * 1024;
const BASE = 'iqn.2005-10.org.freenas.ctl';

type Tool = (mnt: string, args: string[]) => Promise<RunResult>;

const ours: Tool = (mnt, args) => run(process.execPath, [ADMIN, '--root', mnt, ...args], { timeoutMs: 120_000 });

/** SCST's scstadmin, with the tree bind-mounted at /sys/kernel/scst_tgt in a private mount namespace. */
const perl: Tool = (mnt, args) => {
  const script =
    'set -e; mount --make-rprivate /; mount -t tmpfs scstadmin-sys /sys/kernel; mkdir /sys/kernel/scst_tgt; ' +
    'mount --bind "$0" /sys/kernel/scst_tgt; exec perl -I "$SCSTADMIN_DIR/scst-1.0.0/lib" "$SCSTADMIN_DIR/scstadmin" "$@"';
  return run('unshare', ['-m', 'bash', '-c', script, join(mnt, 'sys', 'kernel', 'scst_tgt'), ...args], { timeoutMs: 300_000, env: { ...process.env, SCSTADMIN_DIR: PERL_DIR } });
};

/**
 * What the template generates for three extents and two targets. The copy manager's LUNs are
 * listed in the order the devices get registered (handlers and devices sorted, as scstadmin
 * opens them), so the file matches what SCST then has. The read-only extent's LUN says
 * `read_only 1`, as -write_config writes it: without it, -force finds the LUN "configured
 * differently", deletes it and cannot add it back (SCST refuses read-only copy manager LUNs),
 * with SCST as here. Any LUN of a read-only device is "configured differently" without it (the
 * LUN's read_only reads 1 with [key]), so the group's LUN says it too.
 */
function applianceConf(dir: string, loop: string): string {
  return `TARGET_DRIVER copy_manager {
	TARGET copy_manager_tgt {
		LUN 0 tank-zvol1
		LUN 1 extent_file
		LUN 2 extent_ro {
			read_only 1
		}
	}
}

HANDLER vdisk_blockio {
	DEVICE tank-zvol1 {
		filename ${loop}
		blocksize 512
		read_only 0
		usn 3a1b7c2e9f00d1
		naa_id 0x6589cfc000000a7e3c1f5d2b9e4f8a61
		prod_id "iSCSI Disk"
		rotational 0
		t10_vend_id TrueNAS
		t10_dev_id 3a1b7c2e9f00d1
		threads_num 32
	}
}

HANDLER vdisk_fileio {
	DEVICE extent_file {
		filename ${dir}/extent_file.img
		blocksize 4096
		read_only 0
		usn 5c0ffee0000001
		naa_id 0x6589cfc0000003d0b2a9c8e7f6a5b4c3
		prod_id "iSCSI Disk"
		rotational 1
		t10_vend_id TrueNAS
		t10_dev_id 5c0ffee0000001
	}
	DEVICE extent_ro {
		filename ${dir}/extent_ro.img
		blocksize 512
		read_only 1
		usn 5c0ffee0000002
		naa_id 0x6589cfc000000e1d2c3b4a5968778695
		prod_id "iSCSI Disk"
		rotational 0
		t10_vend_id TrueNAS
		t10_dev_id 5c0ffee0000002
	}
}

TARGET_DRIVER iscsi {
	IncomingUser "discuser discsecret12"
	enabled 1
	link_local 0

	TARGET ${BASE}:vm {
		rel_tgt_id 1
		enabled 1
		per_portal_acl 1
		IncomingUser "chapuser chapsecret1234"

		GROUP security_group {
			INITIATOR iqn.1993-08.org.debian:01:host1\\#127.0.0.1
			INITIATOR iqn.1993-08.org.debian:01:host2\\#*
			LUN 0 tank-zvol1
			LUN 1 extent_file
		}
	}

	TARGET ${BASE}:backup {
		rel_tgt_id 2
		enabled 1
		per_portal_acl 1
		QueuedCommands 64

		GROUP security_group {
			INITIATOR *\\#127.0.0.1
			LUN 0 extent_ro {
				read_only 1
			}
		}
	}
}

DEVICE_GROUP targets {
	DEVICE tank-zvol1
	DEVICE extent_file

	TARGET_GROUP controller_A {
		group_id 101
		state active
		TARGET ${BASE}:vm
	}

	TARGET_GROUP controller_B {
		group_id 102
		state nonoptimized
		TARGET ${BASE}:HA:vm {
			rel_tgt_id 32001
		}
	}
}
`;
}

let work: string;
let conf: string;

beforeAll(async () => {
  work = await tmpDir('appliance-');
  await sparseFile(join(work, 'extent_file.img'), 32 * MiB);
  await sparseFile(join(work, 'extent_ro.img'), 16 * MiB);
  const loop = await attachLoop(await sparseFile(join(work, 'zvol1.img'), 32 * MiB));
  conf = join(work, 'scst.conf');
  await writeFile(conf, applianceConf(work, loop));
}, 60_000);

async function mounted(name: string, config = '# empty\n'): Promise<{ d: ScstdHandle; mnt: string }> {
  const mnt = join(work, name);
  const d = await startScstd({ config, extraArgs: ['--mount', mnt] });
  return { d, mnt };
}

function expectClean(r: RunResult, what: string): void {
  expect(r.code, describeRun(what, r)).toBe(0);
  expect(r.stdout + r.stderr, describeRun(what, r)).not.toMatch(/FATAL|failed|internal error|not in configuration/i);
}

/** Apply, list, re-apply with no change, write back, and round-trip through a fresh daemon. */
async function check(tool: Tool, label: string): Promise<string> {
  const a = await mounted(`${label}-1`);
  const apply = await tool(a.mnt, ['-noprompt', '-force', '-config', conf]);
  expectClean(apply, `${label} -config`);
  expect(apply.stdout).toMatch(/Done, \d+ change\(s\) made\./);
  // The copy manager already has a LUN for every device, as the file says: nothing to add there.
  expect(apply.stdout).not.toContain("to driver/target 'copy_manager/copy_manager_tgt'");

  const list = await tool(a.mnt, ['-list_target']);
  expectClean(list, `${label} -list_target`);
  expect(list.stdout).toMatch(new RegExp(`copy_manager copy_manager_tgt\\s*\\n\\s+iscsi\\s+${BASE}:backup\\s*\\n\\s+${BASE}:vm`));
  const group = await tool(a.mnt, ['-list_group', 'security_group', '-driver', 'iscsi', '-target', `${BASE}:vm`]);
  expectClean(group, `${label} -list_group`);
  expect(group.stdout).toContain('iqn.1993-08.org.debian:01:host1#127.0.0.1');

  const again = await tool(a.mnt, ['-noprompt', '-force', '-config', conf]);
  expectClean(again, `${label} -config (again)`);
  expect(again.stdout, describeRun(`${label} -config (again)`, again)).toContain('Done, 0 change(s) made.');

  const out1 = join(work, `${label}-out1.conf`);
  expectClean(await tool(a.mnt, ['-write_config', out1]), `${label} -write_config`);
  const written = await readFile(out1, 'utf8');
  expect(written).toMatch(/TARGET_DRIVER copy_manager \{\n\tTARGET copy_manager_tgt \{\n\t\tLUN 0 tank-zvol1\n\t\tLUN 1 extent_file\n\t\tLUN 2 extent_ro \{\n\t\t\tread_only 1\n\t\t\}\n\t\}\n\}\n/);
  expect(written).toContain('\t\t\tINITIATOR iqn.1993-08.org.debian:01:host1\\#127.0.0.1\n');
  expect(written).toContain('\t\t\tINITIATOR *\\#127.0.0.1\n');
  expect(written).toContain('\t\tper_portal_acl 1\n');
  expect(written).toContain('\tTARGET_GROUP controller_B {\n\t\tgroup_id 102\n');
  const reapplyWritten = await tool(a.mnt, ['-noprompt', '-force', '-config', out1]);
  expect(reapplyWritten.stdout, describeRun(`${label} -config written`, reapplyWritten)).toContain('Done, 0 change(s) made.');

  const b = await mounted(`${label}-2`);
  expectClean(await tool(b.mnt, ['-noprompt', '-force', '-config', out1]), `${label} -config (fresh daemon)`);
  const out2 = join(work, `${label}-out2.conf`);
  await tool(b.mnt, ['-write_config', out2]);
  expect(await readFile(out2, 'utf8')).toBe(written);
  expect((await a.d.stop()).code).toBe(0);
  expect((await b.d.stop()).code).toBe(0);
  return written;
}

describe('an appliance-style scst.conf (copy_manager, per_portal_acl, ALUA)', () => {
  let oursWritten = '';

  it('our scstadmin applies, lists, re-applies with no change and round-trips it', async () => {
    oursWritten = await check(ours, 'ours');
  }, 300_000);

  it.skipIf(!HAVE_PERL)("SCST's Perl scstadmin does the same against our tree, and writes the same file", async () => {
    const written = await check(perl, 'perl');
    if (oursWritten) expect(written).toBe(oursWritten);
  }, 600_000);

  it('scstd --config starts from it; scstadmin then finds nothing to change and writes the same file', async () => {
    const s = await mounted('scstd', await readFile(conf, 'utf8'));
    const again = await ours(s.mnt, ['-noprompt', '-force', '-config', conf]);
    expectClean(again, 'scstadmin -config after scstd --config');
    expect(again.stdout, describeRun('scstadmin -config after scstd --config', again)).toContain('Done, 0 change(s) made.');
    const out = join(work, 'scstd-out.conf');
    expectClean(await ours(s.mnt, ['-write_config', out]), 'scstadmin -write_config');
    if (oursWritten) expect(await readFile(out, 'utf8')).toBe(oursWritten);
    expect((await s.d.stop()).code).toBe(0);
  }, 120_000);
});
