// Summary statistics of repeated runs.

/** Median of the finite numbers in `xs` (nulls are failed runs and are left out); null if none. */
export function median(xs: ReadonlyArray<number | null>): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** a / b, or null when either is missing or b is zero. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === 0) return null;
  return a / b;
}

/** Relative spread of the samples, (max - min) / median: a hint of how noisy a figure is. */
export function spread(xs: ReadonlyArray<number | null>): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  const m = median(v);
  if (v.length < 2 || m === null || m === 0) return null;
  return (Math.max(...v) - Math.min(...v)) / m;
}

/**
 * Nearest-rank percentile of ascending samples: the smallest sample with at least `p` percent of
 * the samples at or below it (p in (0, 100]); null when there are none.
 */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0 || !(p > 0 && p <= 100)) return null;
  // The epsilon keeps binary fractions (99.9 / 100 * 1000 = 999.0000000000001) on their rank.
  const rank = Math.ceil((p * sorted.length) / 100 - 1e-9);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Percentiles, maximum and mean of the first `count` entries of `samples` (sorts them in place). */
export function summarizeLatencies(samples: Float64Array, count = samples.length): LatencySummary | null {
  const n = Math.min(count, samples.length);
  if (n === 0) return null;
  const v = samples.subarray(0, n).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += v[i]!;
  return { count: n, p50: percentileOfSorted(v, 50)!, p99: percentileOfSorted(v, 99)!, p999: percentileOfSorted(v, 99.9)!, max: v[n - 1]!, mean: sum / n };
}
