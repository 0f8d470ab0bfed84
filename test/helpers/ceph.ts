// The tests' throw-away Ceph cluster: bench/ceph-sandbox.ts (one implementation for the tests and
// the benchmark's RBD rows), in a temporary directory, its daemons tracked and stopped by the
// tests' harness (killed by PID at the end of the file, or when the worker dies).
import { startCephSandbox, missingCephProgram, type CephCluster } from '../../bench/ceph-sandbox.js';
import { onCleanup } from './cleanup.js';
import { tmpDir } from './files.js';
import { track } from './proc.js';

export { CEPH_PROGRAMS, SANDBOX_WATCH_TIMEOUT_S, type CephCluster } from '../../bench/ceph-sandbox.js';

export interface CephOptions {
  /** Bound on bring-up, ready-wait included. Default 90 s. */
  startTimeoutMs?: number;
  pool?: string;
  /** osd_client_watch_timeout, seconds (the sandbox's default 15; Ceph's own 30). */
  watchTimeoutS?: number;
}

/** Whether the Ceph daemons and tools are installed (Debian: ceph-mon ceph-osd ceph-common). */
export async function cephAvailable(): Promise<boolean> {
  return (await missingCephProgram()) === null;
}

export async function startCeph(o: CephOptions = {}): Promise<CephCluster> {
  const dir = await tmpDir('ceph-');
  let stop: (() => Promise<void>) | null = null;
  onCleanup(`stop ceph in ${dir}`, () => stop?.());
  const cluster = await startCephSandbox({ ...o, dir, onDaemon: (c) => void track(c) });
  stop = cluster.stop;
  return cluster;
}
