import type { LoginStats } from './login-stats.js';
import type { Logger } from 'pino';
import type { Scst } from '../scst.js';
import type { IscsiSessionTable } from './session.js';
import type { BusyPoll } from './busy-poll.js';
import type { IscsiConnection } from './connection.js';
import type { LogThrottle } from '../log-throttle.js';

/** What every iSCSI connection shares: the core, the portals, and the session registry. */
export interface IscsiContext {
  scst: Scst;
  log: Logger;
  /** Listening portals as "addr:port" (for SendTargets TargetAddress). */
  portals(): Array<{ host: string; port: number }>;
  sessions: IscsiSessionTable;
  /** Default bound for draining commands at teardown. */
  teardownTimeoutMs: number;
  /** Keeps the event loop polling briefly after network activity (busy-poll.ts). */
  poller: BusyPoll;
  /** Whether the iscsi driver is enabled (TARGET_DRIVER iscsi { enabled 1 }). */
  driverEnabled(): boolean;
  driverIncomingUsers(): Array<{ user: string; secret: string }>;
  driverOutgoingUser(): { user: string; secret: string } | null;
  /** initiators.allow / initiators.deny (procfs era): may this peer address reach that target? */
  addressAllowed(target: string, peer: string): boolean;
  /** Log lines peers can trigger at will, throttled per kind (and address) across connections. */
  logThrottle: LogThrottle;
  /** The connection left login phase (full feature phase, or closed): it no longer counts there. */
  loginEnded(conn: IscsiConnection): void;
  /** Logins accepted and refused, per target (metrics). */
  readonly loginStats: LoginStats;
}
