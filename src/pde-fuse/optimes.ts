import type { Logger } from 'pino';

// How long management operations take (a write to a sysfs or procfs file that runs a command):
// one line when an operation is slower than the bound, and the longest at shutdown. Two clock
// reads per command; nothing is kept per operation.

/** Default bound (ms) above which an operation is logged: longer than I/O may wait unnoticed. */
export const DEFAULT_SLOW_OP_MS = 20;

export interface OpRecord {
  ms: number;
  path: string;
  command: string;
}

export class MgmtOpTimes {
  count = 0;
  longest: OpRecord | null = null;

  constructor(
    readonly slowMs: number,
    private readonly log: Logger,
  ) {}

  record(path: string, command: string, ms: number): void {
    this.count++;
    if (this.longest === null || ms > this.longest.ms) this.longest = { ms, path, command };
    if (ms > this.slowMs) this.log.warn({ path, command, ms: round(ms), slowMs: this.slowMs }, `slow management operation: ${path}: "${command}" took ${round(ms)} ms`);
  }

  /** The shutdown line. */
  logLongest(): void {
    const l = this.longest;
    if (l === null) this.log.info({ operations: 0 }, 'longest management operation: none ran');
    else this.log.info({ operations: this.count, ms: round(l.ms), path: l.path, command: l.command }, `longest management operation: ${l.path}: "${l.command}" took ${round(l.ms)} ms (of ${this.count})`);
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

/** SCSTD_MGMT_SLOW_MS: the bound, in ms (default 20). */
export function slowOpMsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.SCSTD_MGMT_SLOW_MS;
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : DEFAULT_SLOW_OP_MS;
}
