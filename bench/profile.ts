// scstd under `node --cpu-prof` while iscsi-perf drives 512 B random reads at queue depth 32 on
// the nullio LUN; the profile is summarised by self time.
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runIscsiPerf } from './clients.js';
import { summarizeCpuProfile } from './cpuprofile.js';
import type { ProfileSummary } from './model.js';
import { startScstdBench } from './scstd.js';

export interface ProfileOptions {
  dir: string;
  imagePath: string;
  nullioSizeBytes: number;
  seconds: number;
  /** Keep the .cpuprofile here; it goes with the temporary directory when null. */
  keepAs: string | null;
  repoRoot: string;
  log(line: string): void;
}

const QD = 32;

export async function profileScstd(o: ProfileOptions): Promise<ProfileSummary> {
  const profDir = join(o.dir, 'cpuprofile');
  await mkdir(profDir, { recursive: true });
  const d = await startScstdBench({
    dir: join(o.dir, 'scstd-profiled'),
    imagePath: o.imagePath,
    nullioSizeBytes: o.nullioSizeBytes,
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir],
  });
  let iops: number | null = null;
  try {
    await runIscsiPerf(d.url('nullio'), { queueDepth: QD, blocks: 1, seconds: 1 }, d.pid);
    const r = await runIscsiPerf(d.url('nullio'), { queueDepth: QD, blocks: 1, seconds: o.seconds }, d.pid);
    iops = r.value;
    if (r.value === null) throw new Error(`the profiled load failed, so the profile would show nothing of the I/O path: ${r.error}`);
  } finally {
    // The profile is written when node exits, so the daemon must exit on its own (SIGTERM).
    await d.stop();
  }
  const files = (await readdir(profDir)).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`scstd wrote no .cpuprofile into ${profDir} (did it exit cleanly?)`);
  const file = join(profDir, files[0]!);
  const summary = summarizeCpuProfile(JSON.parse(await readFile(file, 'utf8')), o.repoRoot, 25);
  if (!summary.ok) throw new Error(`${file}: ${summary.error}`);
  if (o.keepAs !== null) await copyFile(file, o.keepAs);
  return {
    load: `iscsi-perf -r -b 1 -m ${QD} -t ${o.seconds} on the nullio LUN (after a 1 s warm-up); daemon at log level warn`,
    iops,
    totalMs: summary.summary.totalMs,
    busyMs: summary.summary.busyMs,
    idleMs: summary.summary.idleMs,
    topFunctions: summary.summary.functions.map((f) => ({ selfMs: f.selfMs, selfPercent: f.selfPercent, functionName: f.functionName, location: f.location })),
    topFiles: summary.summary.files,
    profileFile: o.keepAs,
  };
}
