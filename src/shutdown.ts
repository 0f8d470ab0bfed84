// scstd's shutdown on SIGINT/SIGTERM: in order (management tree, sessions and handlers, commands,
// devices), every step bounded, and the whole bounded by --teardown-timeout plus a margin
// whatever is stuck (an unmount that hangs, a handler that never answers, a socket that never
// drains, a file operation that never returns). Ends with the exit balance line; exit.ts then
// makes sure nothing outlives it.
import type { Logger } from 'pino';
import { ScsiCmd } from './engine/cmd.js';
import { fileIoOpsInFlight } from './engine/backstore/file.js';
import type { IscsiDriver } from './engine/iscsi/portal.js';
import type { LocalDriver } from './engine/scst_local/driver.js';
import type { Scst } from './engine/scst.js';
import type { UserHandlerServer } from './engine/user/server.js';
import type { ExitHolder } from './exit.js';
import type { PdeMount } from './pde-fuse/index.js';

/** Beyond --teardown-timeout, for the steps after the commands' drain (devices, handlers). */
export const SHUTDOWN_MARGIN_MS = 1500;
/** Longest a device's close waits for its I/O once the commands' time is over. */
const DEVICE_CLOSE_MS = 1000;
/** Longest the handlers' socket takes to close. */
const USER_CLOSE_MS = 1000;

export interface DaemonParts {
  log: Logger;
  scst: Scst;
  iscsi: IscsiDriver;
  /** The scst_local driver (its sessions are closed with the iSCSI ones). */
  local?: LocalDriver | null;
  mount: PdeMount | null;
  users: UserHandlerServer | null;
  /** Cluster membership (scstd --cluster): left, its lease revoked, once no command runs. */
  cluster?: ClusterPart | null;
}

/** What the shutdown needs of the cluster membership. */
export interface ClusterPart {
  stop(ms: number): Promise<void>;
  openHandles(): string[];
  forceClose(): void;
}

/** Longest the revoke of the cluster lease may take (it expires by itself within its TTL anyway). */
const CLUSTER_LEAVE_MS = 1000;

/** How a step ended: in time and well, in time but failed (false or a rejection), or not in time. */
async function within(work: Promise<unknown>, ms: number): Promise<'done' | 'failed' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const settled = work.then(
    (v) => (v === false ? ('failed' as const) : ('done' as const)),
    () => 'failed' as const,
  );
  const r = await Promise.race([settled, new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), Math.max(0, ms)).unref()))]);
  clearTimeout(timer);
  return r;
}

/** Remove every device at once (their I/O drains in parallel), each bounded by `ms`. */
export async function closeDevices(scst: Scst, ms = DEVICE_CLOSE_MS): Promise<void> {
  await Promise.all([...scst.devices.keys()].map((name) => scst.delDevice(name, ms).catch(() => undefined)));
}

/**
 * Shut down in order within `boundMs` + SHUTDOWN_MARGIN_MS and log the exit balance. Resolves
 * true for a clean shutdown: every step finished in time and no command or pool buffer is left.
 */
export async function shutdown(p: DaemonParts, boundMs: number): Promise<boolean> {
  const { log, scst, iscsi, mount, users } = p;
  const soft = Date.now() + boundMs; // commands finished or aborted by then
  const hard = soft + SHUTDOWN_MARGIN_MS; // every step over by then
  const stuck: string[] = [];
  /** `work` resolving false means it failed (and logged why). */
  const step = async (what: string, work: () => Promise<unknown>, capMs = Infinity): Promise<void> => {
    const ms = Math.max(0, Math.min(capMs, hard - Date.now()));
    const r = await within(
      work().catch((e: unknown) => {
        log.error({ err: e }, `shutdown: ${what}: ${e instanceof Error ? e.message : String(e)}`);
        return false;
      }),
      ms,
    );
    if (r === 'done') return;
    stuck.push(what);
    if (r === 'failed') log.error({ step: what }, `shutdown: ${what} failed; going on without it`);
    else log.error({ step: what, waitedMs: ms }, `shutdown: ${what} not done within ${ms} ms; going on without it`);
  };

  // No management command may reach sessions or devices that are being torn down. A lazy unmount
  // takes milliseconds; one that hangs must not eat the commands' time.
  if (mount) {
    const cap = Math.min(3000, Math.max(500, boundMs / 2));
    await step('unmounting the management tree', () => mount.unmount(cap), cap + 100);
  }
  // Sessions dropped; at the same time handlers are disconnected, so that what they hold ends
  // with an error now instead of the sessions' teardown waiting for it until the bound.
  const sessionsClosed = Promise.all([iscsi.shutdown(), p.local?.shutdown()]);
  if (users) await step('disconnecting user-space handlers', () => users.close(USER_CLOSE_MS), USER_CLOSE_MS + 100);
  await step('closing sessions', () => sessionsClosed);
  // Commands a backstore still holds finish on their own (file I/O returns), until the bound.
  while (ScsiCmd.live > 0 && Date.now() < soft) await new Promise((r) => setTimeout(r, 10));
  const cluster = p.cluster;
  if (cluster) await step('leaving the cluster', () => cluster.stop(CLUSTER_LEAVE_MS), CLUSTER_LEAVE_MS + 200);
  await step('closing devices', () => closeDevices(scst, Math.min(DEVICE_CLOSE_MS, Math.max(0, hard - Date.now()))));

  const cmds = ScsiCmd.live;
  const bufs = scst.pool.outstanding;
  scst.pool.flush();
  const line = `exit balance: commands ${cmds}, pool buffers ${bufs}`;
  const clean = cmds === 0 && bufs === 0 && stuck.length === 0;
  // The ready and exit-balance lines are the daemon's contract with its supervisor: always printed.
  if (clean) log.child({}, { level: 'info' }).info({ commands: cmds, poolBuffers: bufs }, line);
  else log.error({ commands: cmds, poolBuffers: bufs, stuckSteps: stuck }, line);
  return clean;
}

/** What of the daemon could outlive its shutdown, for exit.ts to name and close. */
export function exitHolders(p: DaemonParts): ExitHolder[] {
  const { iscsi, mount, users } = p;
  const open = () => [...iscsi.connections].filter((c) => !c.socket.destroyed);
  const holders: ExitHolder[] = [
    {
      alive: () => open().map((c) => `iSCSI connection ${c.peer}`),
      handles: () => [...iscsi.connections].map((c) => c.socket),
      forceClose: () => {
        iscsi.acl?.close();
        for (const c of open()) c.socket.destroy();
      },
    },
    {
      // A file operation stuck in the kernel cannot be cancelled: named, and the exit is bounded
      // by the exit guard instead (process.exit would wait for the pool thread for ever).
      alive: () => {
        const n = fileIoOpsInFlight();
        return n > 0 ? [`${n} file I/O operation(s) not returned from the kernel`] : [];
      },
      forceClose: () => undefined,
      blocksExit: () => fileIoOpsInFlight() > 0,
    },
  ];
  if (mount) holders.push(mount);
  if (users) holders.push(users);
  const cluster = p.cluster;
  if (cluster) holders.push({ alive: () => cluster.openHandles(), forceClose: () => cluster.forceClose() });
  return holders;
}
