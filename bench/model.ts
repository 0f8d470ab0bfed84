// The benchmark's results as they are printed and written to JSON.
import type { DaemonName } from './daemon.js';

export type Unit = 'IOPS' | 'MiB/s' | 'us' | 'MB' | 'ms' | 'KiB' | 'count' | '%';
export type Better = 'higher' | 'lower';

/** A goal from issue 8 or 14, checked against the medians of the same run. */
export interface Target {
  text: string;
  /** scstd/tgtd at least this. */
  minRatio?: number;
  /** scstd/tgtd at most this. */
  maxRatio?: number;
  /** scstd/tgtd strictly below this ("below tgtd's"). */
  belowRatio?: number;
  /** scstd's median at least this (in the case's unit). */
  minValue?: number;
  /** scstd's median below this (in the case's unit). */
  maxValue?: number;
  /** scstd's median at most this (in the case's unit). */
  atMostValue?: number;
}

export interface DaemonFigures {
  /** One per round, in order; null for a failed run. */
  samples: Array<number | null>;
  median: number | null;
  /** Median CPU the daemon used during the runs, in cores. */
  serverCpu: number | null;
  /** (max - min) / median of the samples. */
  spread: number | null;
  errors: string[];
}

export interface CaseResult {
  id: string;
  title: string;
  unit: Unit;
  better: Better;
  /** The client command, with SCSTD/TGTD-independent placeholders. */
  command: string;
  scstd: DaemonFigures;
  tgtd: DaemonFigures | null;
  /** scstd median / tgtd median. */
  ratio: number | null;
  target: Target | null;
  /** Whether the target is met; null when it cannot be judged (no tgtd, failed runs, no target). */
  met: boolean | null;
  /**
   * Median CPU, in cores, that the rest of the machine (not the daemon, the client or the
   * benchmark) used during this case's runs: the figures of a case with a high one are disturbed.
   */
  otherLoad: number | null;
}

export interface ScaleLine {
  id: string;
  title: string;
  unit: Unit | '';
  scstd: number | string | null;
  tgtd: number | string | null;
  note?: string;
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  node: string;
  kernel: string;
  memTotalMiB: number;
  clients: Record<string, string>;
  note: string;
}

export interface ProfileEntry {
  selfMs: number;
  selfPercent: number;
  functionName: string;
  location: string;
}

export interface ProfileSummary {
  load: string;
  iops: number | null;
  /** Sampled time, ms: busy + idle. */
  totalMs: number;
  /** Non-idle time, ms: the base of the percentages. */
  busyMs: number;
  idleMs: number;
  topFunctions: ProfileEntry[];
  topFiles: Array<{ file: string; selfMs: number; selfPercent: number }>;
  profileFile: string | null;
}

export interface BenchResult {
  schema: 'scst-usermode-bench/1';
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  options: Record<string, unknown>;
  machine: Machine;
  daemons: Record<DaemonName, { pid: number; port: number; luns: Record<string, number> } | null>;
  cases: CaseResult[];
  scale: ScaleLine[];
  profile: ProfileSummary | null;
  notes: string[];
}

/** Whether a case's medians meet its target; null when they cannot say. */
export function judge(target: Target | null, scstd: number | null, ratio: number | null): boolean | null {
  if (target === null || scstd === null) return null;
  let ok = true;
  if (target.minValue !== undefined) ok &&= scstd >= target.minValue;
  if (target.maxValue !== undefined) ok &&= scstd < target.maxValue;
  if (target.atMostValue !== undefined) ok &&= scstd <= target.atMostValue;
  if (target.minRatio !== undefined || target.maxRatio !== undefined || target.belowRatio !== undefined) {
    if (ratio === null) return ok ? null : false;
    if (target.minRatio !== undefined) ok &&= ratio >= target.minRatio;
    if (target.maxRatio !== undefined) ok &&= ratio <= target.maxRatio;
    if (target.belowRatio !== undefined) ok &&= ratio < target.belowRatio;
  }
  return ok;
}
