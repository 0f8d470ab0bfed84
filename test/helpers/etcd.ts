// Real etcd for the cluster tests: one member or a three-member cluster on 127.0.0.1 ports the
// test picks, data in a temporary directory, each member's output in a file there. Members are
// stopped by their own PID (SIGKILL: etcd's WAL makes that safe) and can be started again on the
// same ports and data in the middle of a test (fencing tests). Every wait is bounded.
import { spawn, type ChildProcess } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addDiagnostic, onCleanup } from './cleanup.js';
import { tmpDir } from './files.js';
import { freePort, sleep, track, waitExit } from './proc.js';

export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';

export interface EtcdMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** http://127.0.0.1:clientPort */
  readonly endpoint: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The running process's PID, or null while stopped. */
  pid(): number | null;
  running(): boolean;
  /** SIGKILL by PID and wait (bounded) for the exit. */
  stop(): Promise<void>;
  /** Start again on the same ports and data directory (does not wait for health). */
  start(): Promise<void>;
  /** The tail of the member's output file. */
  tail(bytes?: number): Promise<string>;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Every member's client URL, comma-separated (scstd --cluster's form). */
  readonly endpoints: string;
  /** Resolves once a member answers /health with health true (a quorum exists), bounded. */
  waitHealthy(ms?: number, member?: EtcdMember): Promise<void>;
  /** The member that is raft leader now, as a running member reports it (null: none known). */
  leader(): Promise<EtcdMember | null>;
  stopAll(): Promise<void>;
}

const READY_MS = 20_000;

async function healthy(m: EtcdMember): Promise<boolean> {
  try {
    const r = await fetch(`${m.endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
    const body = (await r.json()) as { health?: string };
    return r.ok && body.health === 'true';
  } catch {
    return false;
  }
}

/** A member's own id and the leader it knows, from the v3 JSON gateway (etcd 3.4: /v3/maintenance/status). */
async function status(m: EtcdMember): Promise<{ member: string; leader: string } | null> {
  try {
    const r = await fetch(`${m.endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1_000) });
    const b = (await r.json()) as { header?: { member_id?: string }; leader?: string };
    return b.header?.member_id ? { member: b.header.member_id, leader: b.leader ?? '0' } : null;
  } catch {
    return null;
  }
}

/** Starts `size` etcd members (1 or 3, typically) forming one cluster, and waits until it is healthy. */
export async function startEtcd(size = 1, o: { readyMs?: number } = {}): Promise<EtcdCluster> {
  const dir = await tmpDir('etcd-');
  const specs: Array<{ name: string; clientPort: number; peerPort: number }> = [];
  for (let i = 0; i < size; i++) specs.push({ name: `etcd${i}`, clientPort: await freePort(), peerPort: await freePort() });
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  const token = `scst-test-${process.pid}-${Date.now()}`;

  const members: EtcdMember[] = specs.map((s) => {
    const dataDir = join(dir, `${s.name}.data`);
    const logFile = join(dir, `${s.name}.log`);
    const endpoint = `http://127.0.0.1:${s.clientPort}`;
    let child: ChildProcess | null = null;
    const args = [
      '--name', s.name,
      '--data-dir', dataDir,
      '--listen-client-urls', endpoint,
      '--advertise-client-urls', endpoint,
      '--listen-peer-urls', `http://127.0.0.1:${s.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${s.peerPort}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', token,
      // Quick elections on loopback so that a killed member's loss is settled well within a test.
      '--heartbeat-interval', '100',
      '--election-timeout', '1000',
    ];
    const m: EtcdMember = {
      name: s.name,
      clientPort: s.clientPort,
      peerPort: s.peerPort,
      endpoint,
      dataDir,
      logFile,
      pid: () => (child && child.exitCode === null && child.signalCode === null ? (child.pid ?? null) : null),
      running: () => m.pid() !== null,
      async start() {
        if (m.running()) return;
        const fh = await open(logFile, 'a');
        try {
          child = spawn(ETCD_BIN, args, { stdio: ['ignore', fh.fd, fh.fd] });
          track(child);
        } finally {
          await fh.close(); // the child has its own copy of the descriptor
        }
      },
      async stop() {
        const c = child;
        if (!c || c.exitCode !== null || c.signalCode !== null) return;
        c.kill('SIGKILL');
        await waitExit(c, 5_000);
      },
      async tail(bytes = 3000) {
        try {
          const t = await readFile(logFile, 'utf8');
          return t.slice(-bytes);
        } catch {
          return '';
        }
      },
    };
    return m;
  });

  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.endpoint).join(','),
    async waitHealthy(ms = READY_MS, member?: EtcdMember) {
      const deadline = Date.now() + ms;
      const ask = member ? [member] : members;
      while (Date.now() < deadline) {
        for (const m of ask) if (m.running() && (await healthy(m))) return;
        await sleep(100);
      }
      const tails = await Promise.all(members.map(async (m) => `--- ${m.name} (${m.running() ? 'running' : 'stopped'}) ---\n${await m.tail()}`));
      throw new Error(`etcd not healthy within ${ms} ms\n${tails.join('\n')}`);
    },
    async leader() {
      const ids = new Map<string, EtcdMember>();
      let leaderId: string | null = null;
      for (const m of members) {
        if (!m.running()) continue;
        const st = await status(m);
        if (!st) continue;
        ids.set(st.member, m);
        if (st.leader !== '0') leaderId = st.leader;
      }
      return leaderId === null ? null : (ids.get(leaderId) ?? null);
    },
    async stopAll() {
      await Promise.all(members.map((m) => m.stop()));
    },
  };
  onCleanup(`stop etcd in ${dir}`, () => cluster.stopAll());
  const dropDiag = addDiagnostic(() => `etcd members: ${members.map((m) => `${m.name} ${m.endpoint} pid ${m.pid()} log ${m.logFile}`).join('; ')}`);
  onCleanup('etcd diagnostic', dropDiag);
  for (const m of members) await m.start();
  await cluster.waitHealthy(o.readyMs ?? READY_MS);
  return cluster;
}
