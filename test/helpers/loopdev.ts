// Loop devices for vdisk_blockio tests. Attaching needs root and /dev/loop-control; when that is
// impossible the error says so loudly instead of skipping the test.
import { onCleanup } from './cleanup.js';
import { describeRun, run } from './proc.js';

/** Attaches `file` to a free loop device and returns its path; detached after the test/file. */
export async function attachLoop(file: string): Promise<string> {
  const r = await run('losetup', ['-f', '--show', file], { timeoutMs: 20_000 });
  const dev = r.stdout.trim();
  if (r.code !== 0 || !dev.startsWith('/dev/loop')) {
    throw new Error(
      `cannot attach a loop device (blockio tests need root and /dev/loop-control):\n${describeRun('losetup -f --show', r)}`,
    );
  }
  onCleanup(`losetup -d ${dev}`, () => detachLoop(dev));
  return dev;
}

export async function detachLoop(dev: string): Promise<void> {
  // The device can still be busy for a moment after its user (the daemon) exits.
  for (let attempt = 0; attempt < 10; attempt++) {
    const r = await run('losetup', ['-d', dev], { timeoutMs: 10_000 });
    if (r.code === 0) return;
    if (!/busy/i.test(r.stderr)) throw new Error(describeRun(`losetup -d ${dev}`, r));
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`losetup -d ${dev}: still busy after 10 attempts`);
}
