// initiators.allow / initiators.deny (procfs era, procfs.md §6.5): address-based admission at
// every login and SendTargets, following edits to the files without a reload.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { tmpDir } from './helpers/files.js';
import { iscsiLs } from './helpers/initiators.js';
import { pollUntil } from './helpers/proc.js';
import { RawIscsiClient } from './helpers/rawclient.js';
import { startScstd } from './helpers/scstd.js';

installHarnessHooks();

const T = 'iqn.2026-11.test:acl';
const CONFIG = `HANDLER vdisk_nullio {
	DEVICE n0 {
		size_mb 16
	}
}
TARGET_DRIVER iscsi {
	enabled 1
	TARGET ${T} {
		enabled 1
		LUN 0 n0
	}
}
`;

async function login(port: number): Promise<{ ok: boolean; statusClass: number; statusDetail: number }> {
  const c = await RawIscsiClient.connect(port);
  try {
    const r = await c.login({ initiatorName: 'iqn.2026-11.test:acl-ini', targetName: T });
    if (r.ok) await c.logout();
    return r;
  } finally {
    c.destroy();
  }
}

describe('initiators.allow / initiators.deny', () => {
  it('deny wins unless allow matches; edits apply without a reload', async () => {
    const dir = await tmpDir();
    const allow = join(dir, 'initiators.allow');
    const deny = join(dir, 'initiators.deny');
    await writeFile(deny, 'ALL ALL\n');
    await writeFile(allow, '# nothing allowed yet\n');
    const d = await startScstd({ config: CONFIG, extraArgs: ['--initiators-allow', allow, '--initiators-deny', deny] });
    const port = d.ports[0]!;
    // Denied: "target not found" at login, and absent from SendTargets.
    const r1 = await login(port);
    expect(r1.ok).toBe(false);
    expect([r1.statusClass, r1.statusDetail]).toEqual([2, 3]);
    expect((await iscsiLs({ port })).targets).toEqual([]);
    await d.waitForLog(/not allowed to connect to target/, 5000);
    // Allow this address for this target: admitted from the next login on.
    await writeFile(allow, `${T} 10.1.2.3, 127.0.0.0/8\n`);
    const ok = await pollUntil(async () => (await login(port)).ok, 10_000, 100);
    expect(ok).toBe(true);
    expect((await iscsiLs({ port })).targets.map((t) => t.name)).toEqual([T]);
    // Back to denied: a last line without its newline is ignored, as iscsi-scstd does.
    await writeFile(allow, `${T} 127.0.0.1`);
    const denied = await pollUntil(async () => !(await login(port)).ok, 10_000, 100);
    expect(denied).toBe(true);
    expect((await d.stop()).code).toBe(0);
  });
});
