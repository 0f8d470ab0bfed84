// The daemon's resource bounds as the hostile tests see them (issue 14's contract): option names
// and defaults in one place, so a renamed option is one edit. An option scstd does not know makes
// it refuse to start, which the tests then report as such.

const MiB = 1024 * 1024;

export const BoundOption = {
  loginTimeoutSec: '--login-timeout',
  maxLoginPdus: '--max-login-pdus',
  maxConnections: '--max-connections',
  maxLoginConnections: '--max-login-connections',
  maxLoginConnectionsPerAddress: '--max-login-connections-per-address',
  maxReplyBytes: '--max-reply-bytes',
  maxSessionBufferBytes: '--max-session-buffer-bytes',
  maxBufferBytes: '--max-buffer-bytes',
} as const;

export type Bounds = Partial<Record<keyof typeof BoundOption, number>>;

/** The defaults the contract gives each bound (and SCST's target attributes the tests rely on). */
export const BoundDefaults = {
  loginTimeoutSec: 15,
  maxLoginPdus: 64,
  /** Login text of one request (C=1 continuations) is capped too. */
  maxLoginTextBytes: 64 * 1024,
  maxReplyBytes: 8 * MiB,
  maxSessionBufferBytes: 64 * MiB,
  maxBufferBytes: 1024 * MiB,
  /** SCST target attribute QueuedCommands. */
  queuedCommands: 32,
  /** Idle buffers the pool may keep cached (sgv high watermark). */
  poolCacheBytes: 256 * MiB,
} as const;

/** scstd arguments setting these bounds. */
export function boundArgs(b: Bounds): string[] {
  const args: string[] = [];
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    args.push(BoundOption[k as keyof typeof BoundOption], String(v));
  }
  return args;
}
