import { LoginStats } from './login-stats.js';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Scst } from '../scst.js';
import { IscsiConnection } from './connection.js';
import type { IscsiContext } from './context.js';
import { IscsiSessionTable } from './session.js';
import type { ChapUser } from './target.js';
import { AddressAcl } from './address-acl.js';
import { BusyPoll } from './busy-poll.js';
import { acceptConnections, type Accepted } from './socket-reader.js';
import { descriptorsInUse, openFilesLimit } from '../descriptors.js';
import { LogThrottle } from '../log-throttle.js';

/** Descriptors are counted every this many housekeeping ticks (seconds). */
const DESCRIPTOR_CHECK_TICKS = 2;
/** At most this far below the limit counts as out of descriptors (libuv keeps one spare). */
const DESCRIPTOR_MARGIN = 2;

/** Pending connections the kernel may queue for accept (Node's default is 511). */
const LISTEN_BACKLOG = 4096;

/** The iSCSI target driver: its listening portals, connections and sessions. */
export class IscsiDriver implements IscsiContext {
  readonly sessions = new IscsiSessionTable();
  readonly connections = new Set<IscsiConnection>();
  /** Connections still in login phase, oldest first (a Set keeps insertion order), and by address. */
  private readonly inLogin = new Set<IscsiConnection>();
  private readonly inLoginByAddress = new Map<string, Set<IscsiConnection>>();
  /** Housekeeping for every connection (login timeout, keep-alive, RspTimeout): one timer, not one each. */
  private ticker: NodeJS.Timeout | null = null;
  readonly logThrottle = new LogThrottle();
  readonly loginStats = new LoginStats();
  private ticks = 0;
  /** The count of descriptors under way (shutdown waits for it), null between counts. */
  private checkingDescriptors: Promise<void> | null = null;
  private readonly servers: net.Server[] = [];
  private readonly listening: Array<{ host: string; port: number }> = [];
  enabled = true;
  incomingUsers: ChapUser[] = [];
  outgoingUser: ChapUser | null = null;
  teardownTimeoutMs = 5000;
  poller = new BusyPoll(0);
  /** initiators.allow / initiators.deny, when configured. */
  acl: AddressAcl | null = null;
  readonly log: Logger;

  constructor(
    readonly scst: Scst,
    log: Logger,
  ) {
    this.log = log.child({ driver: 'iscsi' });
  }

  portals() {
    return this.listening;
  }

  driverEnabled() {
    return this.enabled;
  }

  driverIncomingUsers() {
    return this.incomingUsers;
  }

  driverOutgoingUser() {
    return this.outgoingUser;
  }

  addressAllowed(target: string, peer: string): boolean {
    return this.acl ? this.acl.allowed(target, peer) : true;
  }

  loginEnded(c: IscsiConnection): void {
    if (!this.inLogin.delete(c)) return;
    const same = this.inLoginByAddress.get(c.remoteAddress);
    same?.delete(c);
    if (same?.size === 0) this.inLoginByAddress.delete(c.remoteAddress);
  }

  /**
   * Make room for a new connection from `address` within the connection bounds: connections
   * still in login phase give way, oldest first (they are the idle ones, and a legitimate login
   * takes milliseconds), so holding connections open costs an attacker its own slots and never
   * locks others out; logged-in sessions are never closed for room. False: refuse the new one.
   */
  private admit(address: string): boolean {
    const L = this.scst.limits;
    const bounds = this.scst.bounds;
    const same = this.inLoginByAddress.get(address);
    if (same && same.size >= L.maxLoginConnectionsPerAddress) {
      const victim = same.values().next().value!;
      bounds.hit('login-connections-per-address', address, `${same.size} connections in login from this address: closing the oldest`);
      victim.drop(`closed for room: ${L.maxLoginConnectionsPerAddress} connections in login from ${address}`);
    } else if (this.inLogin.size >= L.maxLoginConnections) {
      const victim = this.inLogin.values().next().value!;
      bounds.hit('login-connections', address, `${this.inLogin.size} connections in login: closing the oldest (${victim.peer})`);
      victim.drop(`closed for room: ${L.maxLoginConnections} connections in login`);
    }
    if (this.connections.size < L.maxConnections) return true;
    const victim = this.inLogin.values().next().value;
    if (!victim) {
      bounds.hit('connections', address, `${this.connections.size} connections open: new connection refused`);
      return false;
    }
    bounds.hit('connections', address, `${this.connections.size} connections open: closing the oldest in login (${victim.peer})`);
    victim.drop(`closed for room: ${L.maxConnections} connections`);
    return true;
  }

  private accept(a: Accepted): void {
    if (!this.admit(a.remoteAddress)) return a.refuse();
    // The reader needs c and c needs the reader's socket; no chunk arrives before c is set.
    let c: IscsiConnection;
    const sock = a.open((chunk) => c.receive(chunk));
    c = new IscsiConnection(sock, this, a.remoteAddress, a.remotePort);
    this.connections.add(c);
    this.inLogin.add(c);
    let same = this.inLoginByAddress.get(c.remoteAddress);
    if (!same) this.inLoginByAddress.set(c.remoteAddress, (same = new Set()));
    same.add(c);
    sock.on('close', () => {
      this.connections.delete(c);
      this.loginEnded(c);
    });
  }

  private tick(): void {
    const now = performance.now();
    for (const c of this.connections) c.tick(now);
    if (++this.ticks % DESCRIPTOR_CHECK_TICKS === 0 && !this.checkingDescriptors) {
      this.checkingDescriptors = this.checkDescriptors().finally(() => (this.checkingDescriptors = null));
    }
  }

  /**
   * Out of descriptors, libuv accepts a waiting connection onto its spare descriptor and closes
   * it at once, without telling anyone: the daemon survives, but nobody would know initiators are
   * being turned away. So the count is watched, and a daemon at its limit says so.
   */
  private async checkDescriptors(): Promise<void> {
    const used = await descriptorsInUse();
    const limit = used === 'exhausted' ? null : await openFilesLimit();
    if (used === 'exhausted' || (used !== null && limit !== null && used >= limit - DESCRIPTOR_MARGIN)) {
      const what = used === 'exhausted' ? 'no descriptor left' : `${used} of ${limit} descriptors in use`;
      this.scst.bounds.hit('descriptors', this.listening.map((p) => `${p.host}:${p.port}`).join(' '), `${what}: new connections are closed as they arrive`);
    }
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      // Paused, so that where acceptConnections falls back to Node's sockets, nothing is read
      // before readSocket has chosen the buffer.
      const srv = net.createServer({ pauseOnConnect: true });
      srv.once('error', reject);
      // A login storm (every initiator back at once after a network blip) must not overflow the
      // accept queue: each overflow costs that initiator a SYN retry, a second or more. Linux
      // clamps the backlog to net.core.somaxconn.
      srv.listen({ host, port, backlog: LISTEN_BACKLOG }, () => {
        srv.off('error', reject);
        acceptConnections(srv, (a) => this.accept(a));
        this.ticker ??= setInterval(() => this.tick(), 1000).unref();
        // Out of descriptors (EMFILE/ENFILE on accept): libuv has already closed the waiting
        // connection; the daemon keeps serving everyone it has.
        srv.on('error', (e: NodeJS.ErrnoException) => this.scst.bounds.hit('descriptors', `${host}:${port}`, `accept failed: ${e.code ?? e.message}`));
        const a = srv.address() as net.AddressInfo;
        const p = { host, port: a.port };
        this.servers.push(srv);
        this.listening.push(p);
        this.log.info(`listening on ${host}:${a.port}`);
        resolve(p);
      });
    });
  }

  /**
   * Stop accepting, log every session out (drop), and wait (bounded) for their teardown. A socket
   * still open after the bound (a teardown still waiting, a peer that never reads) is destroyed:
   * nothing of the driver may outlive its shutdown.
   */
  async shutdown(): Promise<void> {
    this.poller.stop();
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    this.acl?.close();
    for (const s of this.servers) s.close();
    const closing = [...this.connections].map((c) => {
      c.forceClose('target shutting down');
      return c.teardown('target shutting down');
    });
    // A count of descriptors under way is a pool request: the exit would find it still out.
    if (this.checkingDescriptors) closing.push(this.checkingDescriptors);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(closing), new Promise((r) => (timer = setTimeout(r, this.teardownTimeoutMs + 500).unref()))]);
    clearTimeout(timer);
    const left = [...this.connections].filter((c) => !c.socket.destroyed);
    if (left.length > 0) this.log.warn({ connections: left.map((c) => c.peer) }, `shutdown: ${left.length} connection(s) still open after the teardown bound; destroyed`);
    for (const c of left) c.socket.destroy();
  }
}
