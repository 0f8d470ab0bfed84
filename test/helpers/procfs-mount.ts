// Helpers for the FUSE-mounted procfs tree: a config with one target and no LUNs of its own
// (procfs-era groups decide what initiators see), whole-tree reads through real cat, and a
// dead FUSE mount for the stale-mount tests.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir } from './files.js';
import { describeRun, run, track, waitExit } from './proc.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function procfsConfig(target: string): string {
  return `TARGET_DRIVER iscsi {\n\tenabled 1\n\tTARGET ${target} {\n\t\tenabled 1\n\t}\n}\n`;
}

/** Every file below `dir`, read with cat in a child process, as "== path" blocks in path order. */
export async function catTree(dir: string): Promise<string> {
  const script = 'find . -type f | LC_ALL=C sort | while read -r f; do echo "== $f"; cat "$f" || echo "<cat failed>"; done';
  const r = await run('bash', ['-c', script], { cwd: dir, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(describeRun('cat tree', r));
  return r.stdout;
}

/**
 * Mounts a trivial FUSE file system at `mountPoint` in a separate process without auto_unmount,
 * then SIGKILLs that process: the mount stays in the table but answers ENOTCONN.
 */
export async function killedFuseServer(mountPoint: string): Promise<void> {
  const dir = await tmpDir('scst-deadfuse-');
  const script = join(dir, 'deadfuse.cjs');
  await writeFile(
    script,
    `const Fuse = require(${JSON.stringify(join(REPO_ROOT, 'node_modules', 'fuse-native'))});\n` +
      `const f = new Fuse(${JSON.stringify(mountPoint)}, { readdir: (p, cb) => cb(0, []) }, { mkdir: true });\n` +
      `f.mount((e) => { if (e) { console.error(e.message); process.exit(1); } console.log('mounted'); });\n` +
      `setTimeout(() => process.exit(2), 20000);\n`,
  );
  const child = track(spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`dead-FUSE helper did not mount: ${out}`)), 15_000);
    const on = (s: Buffer) => {
      out += s.toString();
      if (out.includes('mounted')) {
        clearTimeout(timer);
        res();
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', () => {
      clearTimeout(timer);
      rej(new Error(`dead-FUSE helper exited: ${out}`));
    });
  });
  child.kill('SIGKILL');
  await waitExit(child, 5_000);
}
