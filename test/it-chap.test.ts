// Issue 2, part 3: CHAP (one-way and mutual) and initiator access control at login and in
// discovery, through libiscsi, qemu and the raw client.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { describeQemu, iscsiInq, iscsiLs, qemuIo, type IscsiTarget } from './helpers/initiators.js';
import { describeRun } from './helpers/proc.js';
import { Cdb, RawIscsiClient } from './helpers/rawclient.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';

installHarnessHooks();

const MiB = 1024 * 1024;
const INI = 'iqn.2026-11.test:chap-ini';
const CHAP_TARGET = 'iqn.2026-11.test:chap';
const USER = 'user1';
const SECRET = 'secretsecret1';
const TARGET_USER = 'tgtuser';
const TARGET_SECRET = 'secretsecret2';

describe('CHAP', () => {
  let d: ScstdHandle;
  let base: IscsiTarget;

  beforeAll(async () => {
    d = await startScstd({
      config: scstConf({
        devices: [{ handler: 'vdisk_nullio', name: 'null0', attrs: { size_mb: 64 } }],
        targets: [
          {
            name: CHAP_TARGET,
            attrs: { IncomingUser: `${USER} ${SECRET}`, OutgoingUser: `${TARGET_USER} ${TARGET_SECRET}` },
            luns: [[0, 'null0']],
          },
        ],
      }),
    });
    base = { port: d.ports[0]!, target: CHAP_TARGET, lun: 0, initiator: INI };
  }, 60_000);

  it('the right secret logs in (libiscsi and qemu)', async () => {
    const inq = await iscsiInq({ ...base, user: USER, password: SECRET });
    expect(inq.run.code, describeRun('iscsi-inq', inq.run)).toBe(0);
    expect(inq.get('Peripheral Device Type')).toBe('DIRECT_ACCESS');
    const q = await qemuIo(base, ['write -P 0x42 0 64k', 'read 0 64k'], { user: USER, password: SECRET });
    expect(q.ok, describeQemu(q)).toBe(true);
  });

  it('a wrong secret, a wrong user or no credentials are refused', async () => {
    for (const creds of [{ user: USER, password: 'wrongsecret1' }, { user: 'nobody', password: SECRET }, {}]) {
      const inq = await iscsiInq({ ...base, ...creds });
      expect(inq.run.code, `${JSON.stringify(creds)}\n${describeRun('iscsi-inq', inq.run)}`).not.toBe(0);
      expect(inq.run.stdout).not.toMatch(/Peripheral Device Type/);
    }
    const q = await qemuIo(base, ['read 0 4k'], { user: USER, password: 'wrongsecret1', timeoutMs: 30_000 });
    expect(q.ok).toBe(false);
  });

  it('raw client: authentication failure is login status 0x0201; AuthMethod=None is refused', async () => {
    const wrong = await RawIscsiClient.connect(d.ports[0]!);
    try {
      const r = await wrong.login({ initiatorName: INI, targetName: CHAP_TARGET, chap: { user: USER, secret: 'wrongsecret1' } });
      expect(r.ok).toBe(false);
      expect([r.statusClass, r.statusDetail], r.error).toEqual([2, 1]);
    } finally {
      wrong.destroy();
    }
    const none = await RawIscsiClient.connect(d.ports[0]!);
    try {
      const r = await none.login({ initiatorName: INI, targetName: CHAP_TARGET });
      expect(r.ok, JSON.stringify(r.keys)).toBe(false);
      expect(r.statusClass === 2 || r.closed, r.error).toBe(true);
    } finally {
      none.destroy();
    }
    // Skipping the security stage must not skip authentication.
    const skip = await RawIscsiClient.connect(d.ports[0]!);
    try {
      const r = await skip.login({ initiatorName: INI, targetName: CHAP_TARGET, skipSecurity: true });
      expect(r.ok).toBe(false);
    } finally {
      skip.destroy();
    }
  });

  it('mutual CHAP works when the initiator knows the target credentials, and fails otherwise', async () => {
    const ok = await iscsiInq({ ...base, user: USER, password: SECRET, targetUser: TARGET_USER, targetPassword: TARGET_SECRET });
    expect(ok.run.code, describeRun('iscsi-inq mutual', ok.run)).toBe(0);
    const viaEnv = await iscsiInq(
      { ...base, user: USER, password: SECRET },
      { env: { LIBISCSI_CHAP_TARGET_USERNAME: TARGET_USER, LIBISCSI_CHAP_TARGET_PASSWORD: TARGET_SECRET } },
    );
    expect(viaEnv.run.code, describeRun('iscsi-inq mutual (env)', viaEnv.run)).toBe(0);
    const bad = await iscsiInq({ ...base, user: USER, password: SECRET, targetUser: TARGET_USER, targetPassword: 'notthesecret' });
    expect(bad.run.code).not.toBe(0);

    const c = await RawIscsiClient.connect(d.ports[0]!);
    try {
      const r = await c.login({
        initiatorName: INI,
        targetName: CHAP_TARGET,
        chap: { user: USER, secret: SECRET, mutual: { user: TARGET_USER, secret: TARGET_SECRET } },
      });
      expect(r.ok, r.error).toBe(true);
      expect((await c.scsi({ cdb: Cdb.testUnitReady() })).status).toBe(0);
    } finally {
      c.destroy();
    }
  });
});

describe('initiator access control', () => {
  const ACL_TARGET = 'iqn.2026-11.test:acl';
  const ALLOWED = 'iqn.2026-11.test:allowed';
  const OUTSIDER = 'iqn.2026-11.test:outsider';
  let d: ScstdHandle;

  beforeAll(async () => {
    const dir = await tmpDir();
    d = await startScstd({
      config: scstConf({
        devices: [{ handler: 'vdisk_fileio', name: 'disk0', attrs: { filename: await sparseFile(join(dir, 'disk0.img'), 16 * MiB) } }],
        // No default LUNs: only members of g1 may use (or even see) the target.
        targets: [{ name: ACL_TARGET, groups: [{ name: 'g1', luns: [[0, 'disk0']], initiators: [ALLOWED] }] }],
      }),
    });
  }, 60_000);

  it('the group member discovers the target and logs in', async () => {
    const ls = await iscsiLs({ port: d.ports[0]! }, { initiator: ALLOWED, showLuns: true });
    expect(ls.run.code, describeRun('iscsi-ls', ls.run)).toBe(0);
    expect(ls.targets.map((t) => t.name)).toEqual([ACL_TARGET]);
    expect(ls.targets[0]!.luns.map((l) => l.lun)).toEqual([0]);
    const inq = await iscsiInq({ port: d.ports[0]!, target: ACL_TARGET, lun: 0, initiator: ALLOWED });
    expect(inq.run.code, describeRun('iscsi-inq', inq.run)).toBe(0);
  });

  it('an initiator outside every group sees nothing in discovery and cannot log in', async () => {
    const ls = await iscsiLs({ port: d.ports[0]! }, { initiator: OUTSIDER });
    expect(ls.targets, describeRun('iscsi-ls', ls.run)).toEqual([]);
    expect(ls.run.stdout).not.toContain(ACL_TARGET);
    const inq = await iscsiInq({ port: d.ports[0]!, target: ACL_TARGET, lun: 0, initiator: OUTSIDER });
    expect(inq.run.code).not.toBe(0);

    const disc = await RawIscsiClient.connect(d.ports[0]!);
    try {
      const login = await disc.login({ initiatorName: OUTSIDER, sessionType: 'Discovery' });
      if (login.ok) {
        const records = await disc.sendTargets();
        expect(records ?? []).not.toContainEqual(['TargetName', ACL_TARGET]);
      }
    } finally {
      disc.destroy();
    }
    const c = await RawIscsiClient.connect(d.ports[0]!);
    try {
      const login = await c.login({ initiatorName: OUTSIDER, targetName: ACL_TARGET });
      expect(login.ok).toBe(false);
      // 0x0202 authorization failure or 0x0203 not found; either way an initiator error.
      expect(login.statusClass, login.error).toBe(2);
    } finally {
      c.destroy();
    }
  });
});
