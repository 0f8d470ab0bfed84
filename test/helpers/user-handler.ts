// The example RAM-disk user-space handler (src/user-handler/ramdisk.ts) as the tests run it:
// connected to a daemon's scst_user socket, registered, killed by its PID at the end.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { pollUntil, track } from './proc.js';
import type { ScstdHandle } from './scstd.js';

const RAMDISK = join(import.meta.dirname, '..', '..', 'dist', 'src', 'user-handler', 'ramdisk.js');

export interface Ramdisk {
  pid: number;
  kill9(): void;
  /** Resolves once the process has exited (bounded by `ms`); false when it had not. */
  exited(ms: number): Promise<boolean>;
}

/** Start the RAM-disk handler for device `name` and wait (bounded) until it has registered. */
export async function startRamdisk(d: ScstdHandle, extra: string[] = [], name = 'ram0', sizeMb = 16): Promise<Ramdisk> {
  const child = track(spawn(process.execPath, [RAMDISK, '--socket', join(d.stateDir, 'scst_user.sock'), '--name', name, '--size-mb', String(sizeMb), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  onCleanup('ramdisk', () => child.kill('SIGKILL'));
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  const ok = await pollUntil(async () => out.includes('registered'), 10_000);
  if (!ok) throw new Error(`ramdisk did not register: ${out}`);
  return {
    pid: child.pid!,
    kill9: () => child.kill('SIGKILL'),
    exited: (ms) => Promise.race([gone.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]),
  };
}
