// Issue 17 with issue 16: two scstd gateways serve one RBD image as a cluster_mode 1 LUN
// (reservations agreed through etcd), and libiscsi's PR, RESERVE and multipath families pass with
// one URL per gateway exactly as they pass through one gateway with two portals. Each run gets a
// fresh image of its own: libiscsi's MultipathIO.CompareAndWrite compares LBA 256, which its
// WRITE SAME does not initialise, with zeroes, so it passes only on a block nobody wrote before.
// The gateways are independent processes: all they share is the image (librbd) and the
// reservation state (etcd).
import { existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cephAvailable, startCeph, type CephCluster } from './helpers/ceph.js';
import { installHarnessHooks } from './helpers/cleanup.js';
import { ETCD_BIN, startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { MULTIPATH_PR_FAMILIES, multipathFamilies } from './helpers/iscsi-test-cu.js';
import { freePort } from './helpers/proc.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd } from './helpers/scstd.js';

installHarnessHooks();

const MiB = 1024 * 1024;
const T = 'iqn.2026-12.test:rbd-cluster';
const BINDING = new URL('../native/rbd/build/Release/rbd.node', import.meta.url);
const ready = existsSync(BINDING) && (await cephAvailable()) && (await access(ETCD_BIN).then(() => true, () => false));
if (!ready && process.env.SCSTD_REQUIRE_RBD === '1') throw new Error('it-rbd-cluster: SCSTD_REQUIRE_RBD=1 but Ceph, etcd or the librbd binding is missing');
if (!ready) console.warn('it-rbd-cluster: skipped (needs Ceph, etcd-server and the librbd binding)');

describe.runIf(ready)('two RBD gateways in cluster mode', () => {
  let ceph: CephCluster;
  let etcd: EtcdCluster;
  beforeAll(async () => {
    ceph = await startCeph();
    await ceph.createImage('single', 64 * MiB);
    await ceph.createImage('shared', 64 * MiB);
    etcd = await startEtcd(1);
  }, 150_000);
  afterAll(async () => {
    await etcd?.stopAll();
    await ceph?.stop();
  }, 60_000);

  const rbd = (image: string, extra: Record<string, string | number> = {}) => ({ handler: 'vdisk_rbd' as const, name: 'r0', attrs: { pool: ceph.pool, image, conf: ceph.conf, keyring: ceph.keyring, ...extra } });

  it('the PR, RESERVE and MultipathIO families pass with one URL per gateway as through one gateway with two portals', async () => {
    const ports = [await freePort(), await freePort()];
    const single = await startScstd({ config: scstConf({ devices: [rbd('single')], targets: [{ name: T, luns: [[0, 'r0']] }] }), listen: ports, extraArgs: ['--no-user-socket'], logLevel: 'warn' });
    const one = await multipathFamilies(`iscsi://127.0.0.1:${ports[0]}/${T}/0`, `iscsi://127.0.0.1:${ports[1]}/${T}/0`);
    expect((await single.stop()).code).toBe(0);

    const gateway = async (node: string, relTgtId: number) => {
      const port = await freePort();
      const config = `cluster_name rbdgw\n${scstConf({ devices: [rbd('shared', { t10_dev_id: 'rbd-shared', cluster_mode: 1 })], targets: [{ name: T, attrs: { rel_tgt_id: relTgtId }, luns: [[0, 'r0']] }] })}`;
      const d = await startScstd({ config, listen: [port], extraArgs: ['--no-user-socket', '--cluster', etcd.endpoints, '--node', node, '--cluster-ttl', '8'], logLevel: 'warn', readyTimeoutMs: 60_000 });
      return { d, port };
    };
    const a = await gateway('gw-a', 1);
    const b = await gateway('gw-b', 2);
    const two = await multipathFamilies(`iscsi://127.0.0.1:${a.port}/${T}/0`, `iscsi://127.0.0.1:${b.port}/${T}/0`);
    console.log(`iscsi-test-cu ${MULTIPATH_PR_FAMILIES.join(',')} on RBD: one gateway, two portals: ${one.passed.length} passed, ${one.failed.length} failed, ${one.skipped.length} skipped; two gateways: ${two.passed.length} passed, ${two.failed.length} failed, ${two.skipped.length} skipped`);
    expect(one.passed.length).toBeGreaterThan(30);
    expect(two, two.why.join('\n')).toEqual(one);
    for (const g of [a, b]) expect((await g.d.stop()).code, g.d.recentOutput()).toBe(0);
  }, 900_000);
});
