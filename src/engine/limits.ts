// The daemon's resource bounds: what one peer, one session and everybody together may make it
// hold. Each has a safe default and an scstd option (src/bin/scstd.ts); hitting one logs one
// rate-limited line naming the peer and the bound, and is counted, so that an operator can see
// which bound an attacker (or a misconfigured initiator) keeps running into.

import type { Logger } from 'pino';
import { heldBack, LogThrottle } from './log-throttle.js';

export interface Limits {
  /** A connection not in full feature phase this long after accept is closed. */
  loginTimeoutMs: number;
  /** Login PDUs in one login (continuations included). */
  maxLoginPdus: number;
  /** Connections in total (clamped below the descriptor limit at start). */
  maxConnections: number;
  /** Connections still in login phase, in total. */
  maxLoginConnections: number;
  /** Connections still in login phase from one source address. */
  maxLoginConnectionsPerAddress: number;
  /** Replies queued in user space for one connection before it is no longer read. */
  maxReplyBytes: number;
  /** Data buffers held by one session's commands. */
  maxSessionBufferBytes: number;
  /** Data buffers held by all commands. */
  maxBufferBytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  // LIO's default login_timeout; iscsi-scstd leaves it to the kernel's socket timeouts.
  loginTimeoutMs: 15_000,
  // A CHAP login takes 4-6 PDUs; generous room for text continuations.
  maxLoginPdus: 64,
  maxConnections: 4096,
  maxLoginConnections: 2048,
  maxLoginConnectionsPerAddress: 1024,
  maxReplyBytes: 8 * 1024 * 1024,
  // 32 commands (QueuedCommands' default) of 1 MiB, twice over; one 16 MiB command fits.
  maxSessionBufferBytes: 64 * 1024 * 1024,
  maxBufferBytes: 1024 * 1024 * 1024,
});

/** Bound names as they appear in log lines and counters. */
export const BOUND_NAMES = [
  'login-timeout',
  'login-pdus',
  'login-text-bytes',
  'connections',
  'login-connections',
  'login-connections-per-address',
  'queued-commands',
  'reply-bytes',
  'rsp-timeout',
  'session-buffer-bytes',
  'buffer-bytes',
  'descriptors',
] as const;
export type BoundName = (typeof BOUND_NAMES)[number];

/** How often each bound was hit; logs at most one line per bound per interval. */
export class BoundHits {
  readonly hits = new Map<BoundName, number>();
  private readonly throttle: LogThrottle;

  constructor(
    private readonly log: Logger,
    intervalMs = 1000,
  ) {
    this.throttle = new LogThrottle(intervalMs);
  }

  /** `peer`: who ran into it (address, initiator name); `detail`: the bound and the value asked for. */
  hit(bound: BoundName, peer: string, detail: string): void {
    this.hits.set(bound, (this.hits.get(bound) ?? 0) + 1);
    const suppressed = this.throttle.admit(bound);
    if (suppressed === null) return;
    this.log.warn({ bound, peer, suppressed }, `bound ${bound} reached by ${peer}: ${detail}${heldBack(suppressed)}`);
  }
}

/** How each bound is set on scstd's command line (one table: options, parsing and help). */
export interface LimitOption {
  flag: string;
  key: keyof Limits;
  kind: 'seconds' | 'count' | 'bytes';
  min: number;
  help: string;
}

export const LIMIT_OPTIONS: readonly LimitOption[] = [
  { flag: '--login-timeout <s>', key: 'loginTimeoutMs', kind: 'seconds', min: 1, help: 'close a connection not logged in this long after it connected' },
  { flag: '--max-login-pdus <n>', key: 'maxLoginPdus', kind: 'count', min: 4, help: 'Login PDUs allowed in one login' },
  { flag: '--max-connections <n>', key: 'maxConnections', kind: 'count', min: 1, help: 'connections in total (kept below the descriptor limit)' },
  { flag: '--max-login-connections <n>', key: 'maxLoginConnections', kind: 'count', min: 1, help: 'connections in login phase, in total (the oldest gives way)' },
  { flag: '--max-login-connections-per-address <n>', key: 'maxLoginConnectionsPerAddress', kind: 'count', min: 1, help: 'connections in login phase from one address (its oldest gives way)' },
  { flag: '--max-reply-bytes <bytes>', key: 'maxReplyBytes', kind: 'bytes', min: 65536, help: 'replies queued for one connection before it is no longer read' },
  { flag: '--max-session-buffer-bytes <bytes>', key: 'maxSessionBufferBytes', kind: 'bytes', min: 1 << 20, help: 'data buffers of one session (beyond: TASK SET FULL)' },
  { flag: '--max-buffer-bytes <bytes>', key: 'maxBufferBytes', kind: 'bytes', min: 16 << 20, help: 'data buffers of all sessions (beyond: BUSY)' },
];

const SUFFIX: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** The option's value in the unit Limits keeps, or an error message. Sizes take K, M, G (binary). */
export function parseLimit(o: LimitOption, text: string): number | string {
  const m = /^(\d+)([kmg]?)(?:i?b)?$/i.exec(text.trim());
  if (!m || (o.kind !== 'bytes' && m[2])) return `${o.flag.split(' ')[0]}: '${text}' is not a ${o.kind === 'bytes' ? 'size' : 'whole number'}`;
  const n = Number(m[1]) * SUFFIX[m[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(n) || n < o.min) return `${o.flag.split(' ')[0]}: ${text} is below the minimum ${o.min}`;
  return o.kind === 'seconds' ? n * 1000 : n;
}

/**
 * Connections leave room below the descriptor limit for everything else the daemon opens
 * (backing files, the FUSE device, logs, the user-handler socket): a quarter of it, at most 256.
 */
export function connectionsWithin(nofile: number, wanted: number): number {
  const reserve = Math.min(256, Math.floor(nofile / 4));
  return Math.max(1, Math.min(wanted, nofile - reserve));
}
