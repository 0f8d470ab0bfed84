import net from 'node:net';
import type { Logger } from 'pino';
import type { Scst } from '../scst.js';
import { IscsiConnection } from './connection.js';
import type { IscsiContext } from './context.js';
import type { IscsiSession } from './session.js';
import type { ChapUser } from '../target.js';
import { AddressAcl } from './address-acl.js';
import { BusyPoll } from './busy-poll.js';
import { readSocket } from './socket-reader.js';

/** The iSCSI target driver: its listening portals, connections and sessions. */
export class IscsiDriver implements IscsiContext {
  readonly sessions = new Map<number, IscsiSession>();
  readonly connections = new Set<IscsiConnection>();
  private readonly servers: net.Server[] = [];
  private readonly listening: Array<{ host: string; port: number }> = [];
  private nextTsih = 1;
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

  allocTsih(): number {
    // TSIH 0 is reserved; skip values still in use after wrap-around.
    for (let i = 0; i < 0x10000; i++) {
      const t = this.nextTsih;
      this.nextTsih = this.nextTsih >= 0xffff ? 1 : this.nextTsih + 1;
      if (!this.sessions.has(t)) return t;
    }
    throw new Error('no free TSIH');
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      // Paused, so that no read happens before readSocket has chosen the buffer.
      const srv = net.createServer({ pauseOnConnect: true }, (raw) => {
        // The reader needs c and c needs the reader's socket; no chunk arrives before c is set.
        let c: IscsiConnection;
        const sock = readSocket(raw, (chunk) => c.receive(chunk));
        c = new IscsiConnection(sock, this);
        this.connections.add(c);
        sock.on('close', () => this.connections.delete(c));
      });
      srv.once('error', reject);
      srv.listen({ host, port }, () => {
        const a = srv.address() as net.AddressInfo;
        const p = { host, port: a.port };
        this.servers.push(srv);
        this.listening.push(p);
        this.log.info(`listening on ${host}:${a.port}`);
        resolve(p);
      });
    });
  }

  /** Stop accepting, log every session out (drop), and wait (bounded) for their teardown. */
  async shutdown(): Promise<void> {
    this.poller.stop();
    this.acl?.close();
    for (const s of this.servers) s.close();
    const closing = [...this.connections].map((c) => {
      c.forceClose('target shutting down');
      return c.teardown('target shutting down');
    });
    await Promise.race([Promise.allSettled(closing), new Promise((r) => setTimeout(r, this.teardownTimeoutMs + 500).unref())]);
  }
}
