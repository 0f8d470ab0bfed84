// I/O workloads for the integration tests: qemu-io command plans that write distinct patterns
// into separate regions and verify them (and the untouched guard bytes around them), and a
// background loop of such batches that runs until it is told to stop.
import { describeQemu, qemuIo, type IscsiTarget, type QemuIoResult, type QemuOptions } from './initiators.js';

export interface IoCase {
  offset: number;
  length: number;
  pattern: number;
}

export interface IoPlan {
  cases: IoCase[];
  /** qemu-io commands writing every case. */
  writes: string[];
  /** qemu-io commands verifying every case. */
  reads: string[];
  /** qemu-io commands verifying that bytes around the cases are still zero. */
  guards: string[];
  /** First byte past the last region. */
  end: number;
}

const KiB = 1024;

/**
 * Lays out one region per (length, misalignment) pair, each starting on a 64 KiB boundary plus
 * the misalignment, with a guard gap after it. Patterns are distinct and never 0x00, so a
 * misplaced write shows up in a neighbour's guard or pattern check.
 */
export function patternPlan(lengths: number[], misalignments: number[], base = 0, firstPattern = 0x11): IoPlan {
  const cases: IoCase[] = [];
  const guards: string[] = [];
  let cursor = base;
  let pattern = firstPattern;
  const slotAlign = 64 * KiB;
  for (const length of lengths) {
    for (const mis of misalignments) {
      const start = Math.ceil(cursor / slotAlign) * slotAlign;
      const offset = start + mis;
      cases.push({ offset, length, pattern });
      if (mis > 0) guards.push(`read -P 0 ${start} ${mis}`);
      guards.push(`read -P 0 ${offset + length} ${4 * KiB}`);
      cursor = offset + length + 4 * KiB;
      pattern = pattern >= 0xfe ? 0x11 : pattern + 1;
    }
  }
  const hex = (p: number): string => `0x${p.toString(16)}`;
  return {
    cases,
    writes: cases.map((c) => `write -P ${hex(c.pattern)} ${c.offset} ${c.length}`),
    reads: cases.map((c) => `read -P ${hex(c.pattern)} ${c.offset} ${c.length}`),
    guards,
    end: cursor,
  };
}

export interface BackgroundIo {
  /** Stops after the batch in progress and reports every batch. */
  stop(): Promise<{ batches: number; failures: QemuIoResult[] }>;
  /** Stops now, killing the batch in progress (for cleanup after a failure). */
  abort(): Promise<void>;
  describeFailures(failures: QemuIoResult[]): string;
}

/**
 * Runs qemu-io batches (writes then verifying reads in a `span`-byte window) one after another
 * until stopped; each batch is bounded by its own timeout, and the loop by `maxBatches`.
 */
export function backgroundIo(
  target: IscsiTarget,
  o: QemuOptions & { span?: number; chunk?: number; maxBatches?: number } = {},
): BackgroundIo {
  let stopping = false;
  let batches = 0;
  const abort = new AbortController();
  const failures: QemuIoResult[] = [];
  const span = o.span ?? 4 * 1024 * KiB;
  const chunk = o.chunk ?? 128 * KiB;
  const maxBatches = o.maxBatches ?? 10_000;
  const loop = (async () => {
    while (!stopping && batches < maxBatches) {
      const p = (batches % 200) + 0x20;
      const cmds: string[] = [];
      for (let off = 0; off + chunk <= span; off += chunk) cmds.push(`write -P ${p} ${off} ${chunk}`);
      for (let off = 0; off + chunk <= span; off += chunk) cmds.push(`read -P ${p} ${off} ${chunk}`);
      const r = await qemuIo(target, cmds, { timeoutMs: 60_000, ...o, signal: abort.signal });
      if (abort.signal.aborted) break;
      batches++;
      if (!r.ok) failures.push(r);
      // A dead target fails every batch at once; a few failures tell the story.
      if (failures.length >= 3) break;
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      return { batches, failures };
    },
    abort: async () => {
      stopping = true;
      abort.abort();
      await loop;
    },
    describeFailures: (f) => f.map(describeQemu).join('\n\n'),
  };
}
