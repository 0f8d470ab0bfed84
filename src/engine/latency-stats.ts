// SCST's per-session latency statistics (sessions/<s>/latency/<d><size>, measure_latency): for
// each expected transfer size (powers of two from 512 B to 512 KiB, smaller and larger ones in
// the end buckets) and data direction, how long commands spent in each state, in 0.1 µs units as
// SCST keeps them, with its integer arithmetic for the average and the standard deviation. A
// session collects them only when it was created while measure_latency was 1, as in SCST.
//
// The states are the phases of this engine's command lifecycle under SCST's names: INIT (from
// arrival until execution starts: parse and data-out), EXEC_WAIT (in the device), XMIT_RESP (from
// completion until the transport has sent the response and let go of the command).

import { DataDir, type ScsiCmd } from './cmd.js';

/** The sizes of the files: n512 .. n524288 (SCST_STATS_LOG2_SZ_OFFSET 9, SCST_STATS_MAX_LOG2_SZ 11). */
export const LATENCY_SIZES: readonly number[] = Array.from({ length: 11 }, (_, i) => 512 << i);
/** File name prefixes by SCST's direction index (SCST_DATA_NONE & 3, WRITE 1, READ 2, BIDI 3). */
export const LATENCY_DIRS = ['n', 'w', 'r', 'b'] as const;

/** The states reported, in SCST's enum order (the order the file lists them). */
const STATES = ['XMIT_RESP', 'INIT', 'EXEC_WAIT'] as const;
const XMIT_RESP = 0;
const INIT = 1;
const EXEC_WAIT = 2;

// Per command this runs three times, so it stays in doubles (no BigInt allocation on the data
// path): the sums are kept exactly as integers below 2^53 and moved into a BigInt only when the
// next addition would pass that, which SCST's 64-bit counters then match exactly.
class Entry {
  count = 0;
  /** 0.1 µs units. */
  min = 0;
  max = 0;
  private sumLow = 0;
  private sumsqLow = 0;
  private sumHigh = 0n;
  private sumsqHigh = 0n;

  add(delta: number): void {
    if (this.count++ > 0) {
      if (delta < this.min) this.min = delta;
      if (delta > this.max) this.max = delta;
    } else this.min = this.max = delta;
    if (this.sumLow + delta > Number.MAX_SAFE_INTEGER) {
      this.sumHigh += BigInt(this.sumLow);
      this.sumLow = 0;
    }
    this.sumLow += delta;
    const sq = delta * delta;
    if (sq > Number.MAX_SAFE_INTEGER) this.sumsqHigh += BigInt(delta) * BigInt(delta);
    else {
      if (this.sumsqLow + sq > Number.MAX_SAFE_INTEGER) {
        this.sumsqHigh += BigInt(this.sumsqLow);
        this.sumsqLow = 0;
      }
      this.sumsqLow += sq;
    }
  }

  get sum(): bigint {
    return this.sumHigh + BigInt(this.sumLow);
  }

  get sumsq(): bigint {
    return this.sumsqHigh + BigInt(this.sumsqLow);
  }
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n < 0n ? 0n : n;
  let x = BigInt(Math.floor(Math.sqrt(Number(n))));
  while (x * x > n) x--;
  while ((x + 1n) * (x + 1n) <= n) x++;
  return x;
}

/** int_sqrt64((sumsq - sum * sum / count) / count), as scst_sysfs.c computes it. */
function stddev(sumsq: bigint, sum: bigint, count: number): bigint {
  const c = BigInt(count);
  return isqrt((sumsq - (sum * sum) / c) / c);
}

/** "12.3": a value in 0.1 µs units as SCST prints it. */
const us = (v: bigint): string => `${v / 10n}.${v % 10n}`;

/** 0.1 µs units between two performance.now() readings (ms), never negative. */
const delta = (from: number, to: number): number => Math.max(0, Math.floor((to - from) * 10_000));

export class SessionLatencyStats {
  /** [size][direction][state] */
  private entries: Entry[][][] = SessionLatencyStats.fresh();

  private static fresh(): Entry[][][] {
    return LATENCY_SIZES.map(() => LATENCY_DIRS.map(() => STATES.map(() => new Entry())));
  }

  /** A write to any of the session's latency files zeroes all of them. */
  reset(): void {
    this.entries = SessionLatencyStats.fresh();
  }

  /** Account a command that is being freed; the times are performance.now() readings (0: not reached). */
  record(cmd: ScsiCmd, arrived: number, execStarted: number, completed: number, freed: number): void {
    const len = Math.max(1, cmd.expectedLength);
    const sz = Math.min(LATENCY_SIZES.length - 1, Math.max(0, Math.ceil(Math.log2(len)) - 9));
    const dir = cmd.dir === DataDir.WRITE ? 1 : cmd.dir === DataDir.READ ? 2 : 0;
    const e = this.entries[sz]![dir]!;
    const ended = completed || freed;
    if (execStarted) {
      e[INIT]!.add(delta(arrived, execStarted));
      e[EXEC_WAIT]!.add(delta(execStarted, ended));
    } else e[INIT]!.add(delta(arrived, ended));
    if (completed) e[XMIT_RESP]!.add(delta(completed, freed));
  }

  /** The text of file `<dir><size>` (scst_sess_latency_show). */
  render(dirIndex: number, sizeIndex: number): string {
    let out = 'state count min max avg stddev\n';
    let sum = 0n;
    let sumsq = 0n;
    let count = 0;
    let numst = 0;
    const row = this.entries[sizeIndex]![dirIndex]!;
    row.forEach((d, k) => {
      if (d.count === 0) return;
      const avg = d.sum / BigInt(d.count);
      out += `${STATES[k]} ${d.count} ${us(BigInt(d.min))} ${us(BigInt(d.max))} ${us(avg)} ${us(stddev(d.sumsq, d.sum, d.count))} us\n`;
      sum += d.sum;
      sumsq += d.sumsq;
      count += d.count;
      numst++;
    });
    if (count !== 0) {
      const avg = (BigInt(numst) * sum) / BigInt(count);
      const sd = stddev(sumsq, sum, count) * BigInt(numst);
      out += `total ${Math.floor(count / numst)} - - ${us(avg)} ${us(sd)} us\n`;
    }
    return out;
  }
}
