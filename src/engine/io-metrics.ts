import type { ScsiCmd } from './cmd.js';
import { DataDir } from './cmd.js';
import { Op, Status } from './scsi/constants.js';

// What the core counts and measures of completed commands for monitoring (scstd --metrics): per
// device the commands and bytes, the sense keys of CHECK CONDITIONs (UNIT ATTENTION among them),
// the reservation conflicts and the BUSY answers, always, as SCST keeps its sysfs counters always
// (a few increments per command); and, while measure_latency is 1 (scstd --metrics sets it), per
// device and per session latency histograms of reads, writes and flushes. Timing is what costs (a
// clock read when the command arrives and when it completes), so it follows SCST's switch: an
// operator who does not want it writes 0, and the benchmark measures its cost in one process by
// switching it (bench/metrics-cost.ts). A command that began while it was 0 carries no start time.
//
// The per-session command and byte counts are not here: they are the session's own SCST
// counters (sessions/<s>/*_cmd_count, *_io_count_kb), which the exporter reads, so the tree and
// the metrics cannot disagree.

/** Upper bounds of the latency buckets, seconds (the last, +Inf, is implicit). */
export const LATENCY_BUCKETS_S: readonly number[] = [
  25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10,
];

export class LatencyHistogram {
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS_S.length + 1);
  count = 0;
  sumSeconds = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_S.length && seconds > LATENCY_BUCKETS_S[i]!) i++;
    this.buckets[i]!++;
    this.count++;
    this.sumSeconds += seconds;
  }
}

export type LatencyKind = 'read' | 'write' | 'flush';
export const LATENCY_KINDS: readonly LatencyKind[] = ['read', 'write', 'flush'];

export class Latencies {
  readonly read = new LatencyHistogram();
  readonly write = new LatencyHistogram();
  readonly flush = new LatencyHistogram();
}

/** What a device's commands did since the device was created. */
export class DeviceIo {
  readCmds = 0;
  readBytes = 0;
  writeCmds = 0;
  writeBytes = 0;
  otherCmds = 0;
  /** CHECK CONDITIONs by sense key (0..15). */
  readonly senseKeys = new Float64Array(16);
  reservationConflicts = 0;
  /** BUSY and TASK SET FULL: the bounds turning commands away. */
  busy = 0;
  readonly latency = new Latencies();
}

/** What the device and the session of a command keep for it (fields of theirs: no lookup per command). */
interface Measured {
  io: DeviceIo | null;
}
interface MeasuredSession {
  latency: Latencies | null;
}

function kindOf(cmd: ScsiCmd): LatencyKind | null {
  const op = cmd.opcode;
  if (op === Op.SYNCHRONIZE_CACHE_10 || op === Op.SYNCHRONIZE_CACHE_16) return 'flush';
  if (cmd.dir === DataDir.READ && cmd.blocks > 0) return 'read';
  if (cmd.dir === DataDir.WRITE && cmd.blocks > 0) return 'write';
  return null;
}

/** Sense key of fixed (0x70/0x71) or descriptor (0x72/0x73) sense data; -1 when there is none. */
function senseKey(sense: Buffer | null): number {
  if (!sense || sense.length < 3) return -1;
  const code = sense[0]! & 0x7f;
  if (code === 0x72 || code === 0x73) return sense[1]! & 0x0f;
  return sense[2]! & 0x0f;
}

/** Called once per command, at its completion; `startedAt` is 0 for a command nobody timed. */
export function observeCompletion(cmd: ScsiCmd, startedAt: number, completedAt: number): void {
  const kind = kindOf(cmd);
  const dev: Measured | undefined = cmd.tgtDev?.device;
  if (startedAt !== 0 && kind) {
    const seconds = (completedAt - startedAt) / 1000;
    const sess: MeasuredSession = cmd.session;
    (sess.latency ??= new Latencies())[kind].observe(seconds);
    if (dev) (dev.io ??= new DeviceIo()).latency[kind].observe(seconds);
  }
  if (!dev) return;
  const d = (dev.io ??= new DeviceIo());
  const good = cmd.status === Status.GOOD;
  if (kind === 'read') {
    d.readCmds++;
    if (good) d.readBytes += cmd.dataLength;
  } else if (kind === 'write') {
    d.writeCmds++;
    if (good) d.writeBytes += cmd.dataLength;
  } else d.otherCmds++;
  if (cmd.status === Status.CHECK_CONDITION) {
    const k = senseKey(cmd.sense);
    if (k >= 0) d.senseKeys[k]!++;
  } else if (cmd.status === Status.RESERVATION_CONFLICT) d.reservationConflicts++;
  else if (cmd.status === Status.BUSY || cmd.status === Status.TASK_SET_FULL) d.busy++;
}
