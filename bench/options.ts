// Command-line option parsing shared by the benchmark and its client programs (commander).
import { InvalidArgumentError, type Command } from 'commander';

/** A commander option parser for an integer from `min` to `max`. */
export function intIn(min: number, max: number): (v: string) => number {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

/** What a session client (latency-client, pr-client) is told of its session. */
export interface SessionOptions {
  port: number;
  target: string;
  lun: number;
  initiator: string;
  isid: Buffer;
}

/** Adds the session options (--port, --target, --lun, --initiator, --isid) to a client's command. */
export function withSessionOptions(cmd: Command, defaults: { initiator: string; isid: string }): Command {
  return cmd
    .requiredOption('--port <n>', 'target portal port on 127.0.0.1', intIn(1, 65535))
    .requiredOption('--target <iqn>', 'target name')
    .requiredOption('--lun <n>', 'LUN', intIn(0, 16383))
    .option('--initiator <iqn>', 'initiator name', defaults.initiator)
    .option('--isid <hex>', '6-byte ISID, 12 hex digits', defaults.isid);
}

/** The parsed options with the ISID as bytes (commander gives it as text). */
export function sessionOptionsOf<T extends { isid: string }>(o: T): Omit<T, 'isid'> & { isid: Buffer } {
  if (!/^[0-9a-fA-F]{12}$/.test(o.isid)) throw new InvalidArgumentError('--isid: expected 12 hex digits');
  return { ...o, isid: Buffer.from(o.isid, 'hex') };
}
