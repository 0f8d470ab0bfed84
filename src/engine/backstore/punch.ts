import { spawn } from 'node:child_process';
import type { IoCallback } from '../backing-store.js';

// Hole punching for sparse backing files. Node exposes no fallocate(2), so the util-linux
// fallocate(1) tool does it in a child process: started asynchronously, never waited for with
// the event loop blocked, and killed if it overstays PUNCH_TIMEOUT_MS.

const PUNCH_TIMEOUT_MS = 30_000;
/** At most this many helpers at a time; further requests queue (bounded by the callers' queues). */
const MAX_CONCURRENT = 4;

let running = 0;
const waiting: Array<() => void> = [];

function release(): void {
  running--;
  const next = waiting.shift();
  if (next) next();
}

/** FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE on [pos, pos+len) of `path`. */
export function punchHole(path: string, pos: number, len: number, cb: IoCallback): void {
  const start = (): void => {
    running++;
    let done = false;
    const finish = (err: NodeJS.ErrnoException | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      release();
      cb(err);
    };
    const child = spawn('fallocate', ['--punch-hole', '--offset', String(pos), '--length', String(len), path], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      if (stderr.length < 1000) stderr += s;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(Object.assign(new Error('fallocate --punch-hole timed out'), { code: 'ETIMEDOUT' }));
    }, PUNCH_TIMEOUT_MS);
    child.once('error', (e: NodeJS.ErrnoException) => finish(e));
    child.once('exit', (code) => {
      if (code === 0) finish(null);
      else finish(Object.assign(new Error(`fallocate --punch-hole exited ${code}: ${stderr.trim()}`), { code: 'EOPNOTSUPP' }));
    });
  };
  if (running < MAX_CONCURRENT) start();
  else waiting.push(start);
}
