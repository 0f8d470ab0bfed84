// Parsers for the output of the real clients. They never throw: output that does not carry the
// number gives null, and the caller reports the run as failed.

/**
 * iscsi-perf redraws a progress line with \r once a second ("00:00:02 - lba ..., iops current N
 * (.. MB/s), iops average N (.. MB/s) ..."); when the run time is up it prints a line that starts
 * with "iops average N (M MB/s)". That final average is the result; the last progress average
 * stands in if the final line is missing (an interrupted run still printed one).
 */
export function parseIscsiPerf(stdout: string): number | null {
  const pieces = stdout.split(/[\r\n]+/).map((s) => s.trim());
  let fallback: number | null = null;
  for (let i = pieces.length - 1; i >= 0; i--) {
    const p = pieces[i]!;
    const fin = /^iops average (\d+)\b/.exec(p);
    if (fin) return Number(fin[1]);
    if (fallback === null) {
      const prog = /iops average (\d+)\b/.exec(p);
      if (prog) fallback = Number(prog[1]);
    }
  }
  return fallback;
}

/** `qemu-img bench` ends with "Run completed in S seconds."; the time in seconds. */
export function parseQemuBench(stdout: string): number | null {
  const m = /Run completed in ([0-9]+(?:\.[0-9]+)?) seconds/.exec(stdout);
  if (!m) return null;
  const s = Number(m[1]);
  return Number.isFinite(s) && s > 0 ? s : null;
}
