// The printed form of a benchmark result: pipe tables (readable as text, pasteable as Markdown).
import type { BenchResult, CaseResult, DaemonFigures, ScaleLine, Unit } from './model.js';

export function formatValue(v: number | string | null, unit: Unit | ''): string {
  if (v === null) return '-';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return '-';
  switch (unit) {
    case 'IOPS':
      return Math.round(v).toLocaleString('en-US');
    case 'MiB/s':
      return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
    case 'us':
    case 'MB':
    case '%':
      return v.toFixed(1);
    default:
      return Math.round(v).toLocaleString('en-US');
  }
}

const pct = (c: number | null): string => (c === null ? '-' : `${Math.round(c * 100)}%`);
const ratioText = (r: number | null): string => (r === null ? '-' : `${r.toFixed(2)}x`);
const metText = (m: boolean | null): string => (m === null ? '-' : m ? 'yes' : 'NO');

/** Pipe table with padded columns; numeric-looking columns right-aligned. */
export function pipeTable(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const cell = (s: string, i: number): string => (rightAligned[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!));
  const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (rightAligned[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The median, or FAILED when every run failed. */
function figureText(f: DaemonFigures, unit: Unit): string {
  return f.median === null && f.samples.length > 0 ? 'FAILED' : formatValue(f.median, unit);
}

export function casesTable(cases: CaseResult[]): string {
  const rows = cases.map((c) => [
    c.title,
    c.unit === 'us' ? 'µs' : c.unit,
    figureText(c.scstd, c.unit),
    c.tgtd ? figureText(c.tgtd, c.unit) : 'n/a',
    ratioText(c.ratio),
    pct(c.scstd.serverCpu),
    c.tgtd ? pct(c.tgtd.serverCpu) : '-',
    pct(c.otherLoad),
    c.target?.text ?? '',
    metText(c.met),
  ]);
  return pipeTable(
    ['case (median)', 'unit', 'scstd', 'tgtd', 'scstd/tgtd', 'scstd CPU', 'tgtd CPU', 'other load', 'target', 'met'],
    rows,
    [false, false, true, true, true, true, true, true, false, false],
  );
}

export function scaleTable(lines: ScaleLine[]): string {
  const rows = lines.map((l) => [l.title, l.unit === 'us' ? 'µs' : l.unit, formatValue(l.scstd, l.unit), formatValue(l.tgtd, l.unit), l.note ?? '']);
  return pipeTable(['scale', 'unit', 'scstd', 'tgtd', 'note'], rows, [false, false, true, true, false]);
}

export function formatResult(r: BenchResult): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`Machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memTotalMiB} MiB, ${m.kernel}, node ${m.node}`);
  const pkgs = Object.entries(m.clients)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  if (pkgs) out.push(`Clients/peer: ${pkgs}`);
  out.push(`Note: ${m.note}.`);
  out.push(`Run: ${r.startedAt}, ${Math.round(r.durationSeconds)} s, ${String(r.options.rounds)} rounds per case (A B alternation, scstd first), medians; CPU placement: ${String(r.options.cpuPlacement)}.`);
  if (process.env.SCSTD_BIN !== undefined) out.push(`scstd: ${String(r.options.scstdBinary)} (SCSTD_BIN)`);
  out.push('CPU columns: cores each daemon used during its runs; other load: cores the rest of the machine used meanwhile (about 0% on a quiet machine).');
  out.push('', casesTable(r.cases));
  if (r.scale.length > 0) out.push('', scaleTable(r.scale));
  if (r.profile) {
    const p = r.profile;
    out.push('', `scstd CPU profile: ${p.load}; ${p.iops === null ? 'run failed' : `${formatValue(p.iops, 'IOPS')} IOPS`}; busy ${p.busyMs} ms of ${p.totalMs} ms sampled.`);
    out.push(
      pipeTable(
        ['self ms', 'self % of busy', 'function', 'location'],
        p.topFunctions.slice(0, 15).map((f) => [f.selfMs.toFixed(1), f.selfPercent.toFixed(1), f.functionName, f.location]),
        [true, true, false, false],
      ),
    );
  }
  for (const n of r.notes) out.push(`Note: ${n}`);
  return out.join('\n');
}
