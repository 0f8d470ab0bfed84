// An scstd node of a test cluster (--cluster, --node, --cluster-ttl) on a port of its own, and an
// I_T nexus to it through the raw client with its power-on unit attention already taken.
import { expect } from 'vitest';
import { freePort } from './proc.js';
import { RawIscsiClient } from './rawclient.js';
import { startScstd, type ScstdHandle } from './scstd.js';

export interface ClusterNode {
  d: ScstdHandle;
  name: string;
  port: number;
}

/** Starts node `name` of the cluster at etcd `endpoints` with `config` (CLUSTER_TEST_LOG: its log level). */
export async function startClusterNode(endpoints: string, name: string, config: string, o: { ttl: number; stateDir?: string }): Promise<ClusterNode> {
  const port = await freePort();
  const d = await startScstd({
    config,
    listen: [port],
    extraArgs: ['--no-user-socket', '--cluster', endpoints, '--node', name, '--cluster-ttl', String(o.ttl)],
    readyTimeoutMs: 30_000,
    ...(o.stateDir ? { stateDir: o.stateDir } : {}),
    ...(process.env.CLUSTER_TEST_LOG ? { logLevel: process.env.CLUSTER_TEST_LOG } : {}),
  });
  return { d, name, port };
}

/** A logged-in session of initiator `ini` (ISID 80 00 00 00 00 `isid`) to `target` on node `n`. */
export async function clusterSession(n: ClusterNode, target: string, ini: string, isid: number): Promise<RawIscsiClient> {
  const c = await RawIscsiClient.connect(n.port);
  c.isid = Buffer.from([0x80, 0, 0, 0, 0, isid]);
  const l = await c.login({ initiatorName: ini, targetName: target });
  expect(l.ok, l.error).toBe(true);
  // The power-on unit attention of a new nexus.
  await c.scsi({ cdb: Buffer.alloc(6) });
  return c;
}
