// scstd's FUSE tree in benchmark daemons: whether it is still mounted, and releasing it after the
// daemon stopped (auto_unmount's helper may still be at work just after the exit).
import { resolve } from 'node:path';
import { describeRun, pollUntil, run } from './proc.js';
import { fuseMountsAt } from '../src/pde-fuse/mountinfo.js';

const UNMOUNT_GRACE_MS = 3_000;
const FUSERMOUNT_TIMEOUT_MS = 10_000;

/** Whether scstd's FUSE tree is still mounted at `dir`. */
export async function isMountPoint(dir: string): Promise<boolean> {
  const want = resolve(dir);
  return (await fuseMountsAt(want)).includes(want);
}

/** Makes sure a stopped scstd left no mount at `dir`: waits for auto_unmount, then unmounts lazily. */
export async function releaseMount(dir: string, log: (line: string) => void): Promise<void> {
  const gone = await pollUntil(async () => !(await isMountPoint(dir)), UNMOUNT_GRACE_MS, 50);
  if (gone) return;
  const r = await run('fusermount', ['-u', '-z', dir], { timeoutMs: FUSERMOUNT_TIMEOUT_MS });
  if (await isMountPoint(dir)) log(`  ${dir} is still mounted after scstd stopped and could not be unmounted\n${describeRun('fusermount -u -z', r)}`);
  else log(`  ${dir} was still mounted after scstd stopped: unmounted lazily`);
}
