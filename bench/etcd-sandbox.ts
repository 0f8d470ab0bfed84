// A throw-away one-member etcd for the cluster rows: 127.0.0.1 ports the benchmark picks, data
// and output in a directory the caller owns, stopped by its PID (SIGKILL: its WAL makes that
// safe). Every wait is bounded. The tests have their own (test/helpers/etcd.ts, three members,
// restarts); the benchmark is built from bench/ and src/ only.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { placed } from './pinning.js';
import { freePort, isRunning, onPath, pollUntil, spawnTracked, waitExit } from './proc.js';

export const ETCD_BIN = process.env.ETCD_BIN ?? 'etcd';

const READY_MS = 20_000;

export interface EtcdSandbox {
  /** http://127.0.0.1:PORT, scstd --cluster's form. */
  readonly endpoint: string;
  readonly pid: number;
  /** Keys under `prefix` (the v3 JSON gateway's count), null when etcd did not answer. */
  countKeys(prefix: string): Promise<number | null>;
  stop(): Promise<void>;
}

export async function etcdAvailable(): Promise<boolean> {
  return ETCD_BIN.includes('/') ? true : onPath(ETCD_BIN);
}

/** The end of the key range of every key starting with `prefix` (etcd's prefix convention). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i]!++;
      return b.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Starts the member (placed with the daemons: it is server side) and waits until it is healthy. */
export async function startEtcdSandbox(dir: string): Promise<EtcdSandbox> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const args = [
    '--name', 'bench',
    '--data-dir', join(dir, 'etcd.data'),
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `bench=http://127.0.0.1:${peerPort}`,
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', `scst-bench-${process.pid}-${Date.now()}`,
  ];
  const logFile = join(dir, 'etcd.log');
  const fh = await open(logFile, 'a');
  let child;
  try {
    child = spawnTracked(...placed('daemon', ETCD_BIN, args), { stdio: ['ignore', fh.fd, fh.fd] });
  } finally {
    await fh.close(); // the child has its own copy of the descriptor
  }
  const c = child;
  const stop = async (): Promise<void> => {
    if (isRunning(c)) c.kill('SIGKILL');
    await waitExit(c, 5_000);
  };
  const healthy = await pollUntil(async () => {
    if (!isRunning(c)) return 'exited';
    try {
      const r = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
      const body = (await r.json()) as { health?: string };
      return r.ok && body.health === 'true' ? 'yes' : false;
    } catch {
      return false;
    }
  }, READY_MS, 100);
  if (healthy !== 'yes') {
    await stop();
    throw new Error(`etcd on ${endpoint} ${healthy === 'exited' ? 'exited' : `not healthy within ${READY_MS} ms`} (its output: ${logFile})`);
  }
  return {
    endpoint,
    pid: c.pid!,
    countKeys: async (prefix) => {
      try {
        const body = JSON.stringify({ key: Buffer.from(prefix).toString('base64'), range_end: prefixEnd(prefix).toString('base64'), count_only: true });
        const r = await fetch(`${endpoint}/v3/kv/range`, { method: 'POST', body, signal: AbortSignal.timeout(2_000) });
        if (!r.ok) return null;
        const b = (await r.json()) as { count?: string };
        return Number(b.count ?? 0);
      } catch {
        return null;
      }
    },
    stop,
  };
}
