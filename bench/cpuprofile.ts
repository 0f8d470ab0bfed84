// Summary of a V8 .cpuprofile (node --cpu-prof): self time per function and per file.
// Also a command: node dist/bench/cpuprofile.js FILE.cpuprofile [TOP]
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface CallFrame {
  functionName?: string;
  url?: string;
  lineNumber?: number;
}

interface ProfileNode {
  id: number;
  callFrame?: CallFrame;
}

export interface CpuProfileSummary {
  /** Sampled wall time, ms. */
  totalMs: number;
  /** Time the thread was idle (waiting in the event loop), ms. */
  idleMs: number;
  /** Non-idle time, ms: the base of the percentages. */
  busyMs: number;
  functions: Array<{ functionName: string; location: string; selfMs: number; selfPercent: number }>;
  files: Array<{ file: string; selfMs: number; selfPercent: number }>;
}

export type ParseResult = { ok: true; summary: CpuProfileSummary } | { ok: false; error: string };

const IDLE = '(idle)';

/** A short location: paths under `root` relative to it, node internals as they are. */
function shortUrl(url: string, root: string): string {
  if (url === '') return '';
  let p = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (root !== '' && p.startsWith(root)) p = p.slice(root.length).replace(/^\/+/, '');
  return p;
}

/**
 * Self time per function (name + file + line) and per file, largest first. Anything that is not
 * a V8 CPU profile gives an error result, never an exception.
 */
export function summarizeCpuProfile(profile: unknown, root = '', top = 20): ParseResult {
  if (profile === null || typeof profile !== 'object') return { ok: false, error: 'not a JSON object' };
  const p = profile as { nodes?: unknown; samples?: unknown; timeDeltas?: unknown };
  if (!Array.isArray(p.nodes) || !Array.isArray(p.samples) || !Array.isArray(p.timeDeltas)) return { ok: false, error: 'no nodes/samples/timeDeltas arrays' };
  if (p.samples.length !== p.timeDeltas.length) return { ok: false, error: 'samples and timeDeltas differ in length' };
  const byId = new Map<number, { name: string; file: string; line: number }>();
  for (const n of p.nodes as ProfileNode[]) {
    if (n === null || typeof n !== 'object' || typeof n.id !== 'number') continue;
    const cf = n.callFrame ?? {};
    byId.set(n.id, {
      name: typeof cf.functionName === 'string' && cf.functionName !== '' ? cf.functionName : '(anonymous)',
      file: shortUrl(typeof cf.url === 'string' ? cf.url : '', root),
      line: typeof cf.lineNumber === 'number' ? cf.lineNumber + 1 : 0,
    });
  }
  const fnTime = new Map<string, { functionName: string; location: string; us: number }>();
  const fileTime = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  const samples = p.samples as unknown[];
  const deltas = p.timeDeltas as unknown[];
  // Each sample stands for the interval up to the next one.
  for (let i = 0; i < samples.length; i++) {
    const d = Number(i + 1 < deltas.length ? deltas[i + 1] : 0);
    const us = Number.isFinite(d) && d > 0 ? d : 0;
    const node = byId.get(Number(samples[i]));
    if (!node) continue;
    totalUs += us;
    if (node.name === IDLE) {
      idleUs += us;
      continue;
    }
    const location = node.file === '' ? '' : `${node.file}:${node.line}`;
    const key = `${node.name}\0${location}`;
    const f = fnTime.get(key) ?? { functionName: node.name, location, us: 0 };
    f.us += us;
    fnTime.set(key, f);
    const fileKey = node.file === '' ? `${node.name} (no file)` : node.file;
    fileTime.set(fileKey, (fileTime.get(fileKey) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number): number => (busyUs > 0 ? Math.round((us / busyUs) * 1000) / 10 : 0);
  const ms = (us: number): number => Math.round(us / 100) / 10;
  return {
    ok: true,
    summary: {
      totalMs: ms(totalUs),
      idleMs: ms(idleUs),
      busyMs: ms(busyUs),
      functions: [...fnTime.values()]
        .sort((a, b) => b.us - a.us)
        .slice(0, top)
        .map((f) => ({ functionName: f.functionName, location: f.location, selfMs: ms(f.us), selfPercent: pct(f.us) })),
      files: [...fileTime.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([file, us]) => ({ file, selfMs: ms(us), selfPercent: pct(us) })),
    },
  };
}

export function formatCpuProfileSummary(s: CpuProfileSummary): string {
  const out: string[] = [];
  out.push(`sampled ${s.totalMs} ms: busy ${s.busyMs} ms, idle ${s.idleMs} ms (percentages are of busy time)`);
  out.push('', '  self ms   self %  function  (location)');
  for (const f of s.functions) out.push(`${f.selfMs.toFixed(1).padStart(9)} ${f.selfPercent.toFixed(1).padStart(7)}%  ${f.functionName}${f.location ? `  (${f.location})` : ''}`);
  out.push('', '  self ms   self %  file');
  for (const f of s.files) out.push(`${f.selfMs.toFixed(1).padStart(9)} ${f.selfPercent.toFixed(1).padStart(7)}%  ${f.file}`);
  return out.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [file, topText] = argv;
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/cpuprofile.js FILE.cpuprofile [TOP]\n');
    return 2;
  }
  const top = topText === undefined ? 20 : Number(topText);
  if (!Number.isInteger(top) || top <= 0) {
    process.stderr.write(`cpuprofile: TOP must be a positive integer, not '${topText}'\n`);
    return 2;
  }
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    process.stderr.write(`cpuprofile: ${file}: ${(e as Error).message}\n`);
    return 1;
  }
  const r = summarizeCpuProfile(json, process.cwd(), top);
  if (!r.ok) {
    process.stderr.write(`cpuprofile: ${file}: ${r.error}\n`);
    return 1;
  }
  process.stdout.write(`${formatCpuProfileSummary(r.summary)}\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
