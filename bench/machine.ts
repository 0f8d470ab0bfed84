// The machine a benchmark ran on, recorded with its results.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { Machine } from './model.js';
import { run } from './proc.js';

async function cpuModel(): Promise<string> {
  try {
    const text = await readFile('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.+)$/m.exec(text);
    return m ? m[1]!.trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Versions of the Debian packages the clients and tgtd come from, when dpkg knows them. */
async function packageVersions(): Promise<Record<string, string>> {
  const r = await run('dpkg-query', ['-W', '-f', '${Package} ${Version}\\n', 'libiscsi-bin', 'qemu-utils', 'tgt'], { timeoutMs: 10_000 });
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const [name, version] = line.trim().split(/\s+/);
    if (name && version) out[name] = version;
  }
  return out;
}

export async function describeMachine(): Promise<Machine> {
  const nproc = os.availableParallelism();
  return {
    nproc,
    cpuModel: await cpuModel(),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    memTotalMiB: Math.round(os.totalmem() / (1024 * 1024)),
    clients: await packageVersions(),
    note: `clients and daemons run on the same ${nproc} CPU${nproc === 1 ? '' : 's'} and compete for them; everything is on 127.0.0.1`,
  };
}
