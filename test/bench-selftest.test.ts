// The benchmark's own parsers and statistics (bench/selftest.ts): cheap, so they run with the
// tests; the benchmark itself is `npm run bench` and is never a timed test.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { run } from './helpers/proc.js';

it('bench self-checks pass', async () => {
  const r = await run(process.execPath, [join(import.meta.dirname, '..', 'dist', 'bench', 'selftest.js')], { timeoutMs: 60_000 });
  expect(r.code, r.stdout + r.stderr).toBe(0);
});
