// libiscsi's conformance suite (iscsi-test-cu) for the integration tests: runs it bounded and
// turns its CUnit output into per-test results. A test counts as skipped when it passed after
// printing a [SKIPPED] line; several families run the same test, a test's worst result wins.
import { run, type RunResult } from './proc.js';

export type CuOutcome = 'passed' | 'failed' | 'skipped';

export interface CuTest {
  /** Suite.Test, e.g. "Read10.Simple" (the family is not part of the name). */
  name: string;
  outcome: CuOutcome;
  /** Text of the [SKIPPED] lines (skip reasons). */
  skipReasons: string[];
  /** Text of the [FAILED] lines and CUnit assertion lines. */
  failures: string[];
}

export interface CuSummary {
  /** CUnit "Run Summary" tests line: total, ran, passed, failed, inactive. */
  total: number;
  ran: number;
  passed: number;
  failed: number;
  inactive: number;
  /** Suites whose initialisation or cleanup failed (CUnit "suites ... Failed"). */
  suitesFailed: number;
  tests: Map<string, CuTest>;
  run: RunResult;
}

const RANK: Record<CuOutcome, number> = { passed: 0, skipped: 1, failed: 2 };

/** Parse the verbose CUnit output of iscsi-test-cu; never throws. */
export function parseCuOutput(text: string): Omit<CuSummary, 'run'> {
  const tests = new Map<string, CuTest>();
  let suite = '';
  let cur: { name: string; lines: string[] } | null = null;
  const finish = (result: string): void => {
    if (!cur) return;
    const skipReasons = cur.lines.filter((l) => l.includes('[SKIPPED]')).map((l) => l.replace(/.*\[SKIPPED\]\s*/, '').trim());
    const failures = cur.lines.filter((l) => l.includes('[FAILED]')).map((l) => l.trim());
    const outcome: CuOutcome = result.startsWith('FAILED') ? 'failed' : skipReasons.length > 0 ? 'skipped' : 'passed';
    const prev = tests.get(cur.name);
    if (!prev || RANK[outcome] > RANK[prev.outcome]) tests.set(cur.name, { name: cur.name, outcome, skipReasons, failures });
    cur = null;
  };
  for (const line of text.split('\n')) {
    const s = /^Suite: (\S+)/.exec(line);
    if (s) {
      suite = s[1]!;
      continue;
    }
    const t = /^ {2}Test: (\S+) \.\.\.(.*)$/.exec(line);
    if (t) {
      cur = { name: `${suite}.${t[1]}`, lines: [t[2]!] };
      // The result word comes first after "...", or at the start of a later line; what follows
      // it on that line belongs to the suite's cleanup.
      if (/^(passed|FAILED)/.test(t[2]!)) finish(t[2]!);
      continue;
    }
    if (!cur) continue;
    if (/^(passed|FAILED)/.test(line)) finish(line);
    else cur.lines.push(line);
  }
  const m = /tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(text);
  const su = /suites\s+\d+\s+\d+\s+n\/a\s+(\d+)/.exec(text);
  const n = (i: number) => (m ? Number(m[i]) : -1);
  return { total: n(1), ran: n(2), passed: n(3), failed: n(4), inactive: n(5), suitesFailed: su ? Number(su[1]) : -1, tests };
}

export interface CuOptions {
  /** -d: destructive tests allowed. */
  dataloss?: boolean;
  /** -S: sanitize tests allowed. */
  sanitize?: boolean;
  /** -t FAMILY[.SUITE[.TEST]] list (all families when absent). */
  tests?: string;
  timeoutMs?: number;
}

/** Run iscsi-test-cu against `url` (and the multipath `url2`); the run is bounded. */
export async function iscsiTestCu(url: string, url2: string | null, o: CuOptions = {}): Promise<CuSummary> {
  const args = ['-oL', '-eL', 'iscsi-test-cu'];
  if (o.dataloss ?? true) args.push('-d');
  if (o.sanitize ?? true) args.push('-S');
  if (o.tests) args.push('-t', o.tests);
  args.push(url);
  if (url2) args.push(url2);
  // stdbuf: line-buffered output, so a run cut short by the timeout still shows where it was.
  const r = await run('stdbuf', args, { timeoutMs: o.timeoutMs ?? 15 * 60_000 });
  return { ...parseCuOutput(r.stdout), run: r };
}

/** Names of the tests with the given outcome, sorted. */
export function testsWith(s: Pick<CuSummary, 'tests'>, outcome: CuOutcome): string[] {
  return [...s.tests.values()].filter((t) => t.outcome === outcome).map((t) => t.name).sort();
}

/** The PR, RESERVE and multipath families, run with two URLs (two portals, or two nodes). */
export const MULTIPATH_PR_FAMILIES = ['SCSI.PrinReadKeys', 'SCSI.PrinServiceactionRange', 'SCSI.PrinReportCapabilities', 'SCSI.ProutRegister', 'SCSI.ProutReserve', 'SCSI.ProutClear', 'SCSI.ProutPreempt', 'SCSI.Reserve6', 'SCSI.MultipathIO'];

export interface FamiliesResult {
  passed: string[];
  failed: string[];
  skipped: string[];
  /** Each failed test with its failure lines. */
  why: string[];
}

/**
 * Runs each of MULTIPATH_PR_FAMILIES with `url1` and `url2` as iscsi-test-cu's two paths; throws
 * when a run timed out or ran no test (a broken setup, not a result to compare).
 */
export async function multipathFamilies(url1: string, url2: string): Promise<FamiliesResult> {
  const out: FamiliesResult = { passed: [], failed: [], skipped: [], why: [] };
  for (const t of MULTIPATH_PR_FAMILIES) {
    const s = await iscsiTestCu(url1, url2, { tests: t, timeoutMs: 5 * 60_000 });
    if (s.run.timedOut || s.tests.size === 0) throw new Error(`iscsi-test-cu ${t}: ${s.run.timedOut ? 'timed out' : 'ran no test'}\n${s.run.stdout.slice(-2000)}`);
    out.passed.push(...testsWith(s, 'passed'));
    out.failed.push(...testsWith(s, 'failed'));
    for (const f of testsWith(s, 'failed')) out.why.push(`${f}: ${s.tests.get(f)?.failures.join(' | ')}`);
    out.skipped.push(...testsWith(s, 'skipped'));
  }
  return out;
}
