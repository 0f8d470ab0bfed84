// Cleanup registry for integration tests. Resources created inside a test are released after
// that test; resources created in beforeAll (or at collection time) after the file. Release runs
// in reverse order of creation (daemons stop before their backing files and loop devices go).
import { afterAll, afterEach, beforeEach } from 'vitest';
import { killAllTracked } from './proc.js';

type Cleanup = { name: string; fn: () => unknown };

const fileScope: Cleanup[] = [];
let testScope: Cleanup[] | null = null;

/** Things that can explain a failure (daemon logs); called when a test fails. */
const diagnostics = new Set<() => string>();

const CLEANUP_STEP_TIMEOUT_MS = 20_000;

/** Registers `fn` to run when the current test (or, outside a test, the file) finishes. */
export function onCleanup(name: string, fn: () => unknown): () => void {
  const entry: Cleanup = { name, fn };
  const scope = testScope ?? fileScope;
  scope.push(entry);
  return () => {
    const i = scope.indexOf(entry);
    if (i >= 0) scope.splice(i, 1);
  };
}

/** Registers a producer of text to print if a test fails while it is registered. */
export function addDiagnostic(fn: () => string): () => void {
  diagnostics.add(fn);
  return () => diagnostics.delete(fn);
}

async function drain(scope: Cleanup[]): Promise<string[]> {
  const errors: string[] = [];
  while (scope.length > 0) {
    const c = scope.pop()!;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(c.fn),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`timed out after ${CLEANUP_STEP_TIMEOUT_MS} ms`)),
            CLEANUP_STEP_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (e) {
      errors.push(`${c.name}: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
  return errors;
}

/** Runs every cleanup of both scopes and kills any child still tracked. */
export async function cleanupAll(): Promise<void> {
  const errors = [...(testScope ? await drain(testScope) : []), ...(await drain(fileScope))];
  await killAllTracked();
  if (errors.length > 0) console.error(`cleanup problems:\n  ${errors.join('\n  ')}`);
}

function printDiagnostics(): void {
  for (const d of diagnostics) {
    try {
      console.error(d());
    } catch (e) {
      console.error(`diagnostic failed: ${(e as Error).message}`);
    }
  }
}

let installed = false;

/**
 * Call once at the top level of every it-*.test.ts: scopes cleanups per test, prints
 * diagnostics (daemon logs) of failed tests, and releases everything at the end of the file.
 */
export function installHarnessHooks(): void {
  if (installed) return;
  installed = true;
  beforeEach(() => {
    testScope = [];
  });
  // afterEach runs before vitest's onTestFailed handlers, and while the test's daemons are still
  // up, so this is where the failure is explained.
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') printDiagnostics();
    const scope = testScope;
    testScope = null;
    if (scope) {
      const errors = await drain(scope);
      if (errors.length > 0) console.error(`cleanup problems:\n  ${errors.join('\n  ')}`);
    }
  });
  afterAll(cleanupAll);
}
