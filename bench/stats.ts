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
