// Issue 18: scstd --metrics scraped by a real Prometheus (Debian's `prometheus`, started here on
// loopback with a scrape interval of one second). After qemu-io writes a known number of commands
// and bytes, Prometheus' HTTP API shows the counters moved by exactly that much; the session's
// counters agree with its SCST counters in the sysfs tree; a refused login is counted by reason;
// and every PromQL expression of the shipped Grafana dashboard returns data.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks, onCleanup } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { iscsiInq, qemuIo, qemuIoSession } from './helpers/initiators.js';
import { freePort, pollUntil, track, waitExit } from './helpers/proc.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';

installHarnessHooks();

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TARGET = 'iqn.2026-12.test:metrics';
const INI = 'iqn.2026-12.test:metrics-ini';
const DEV = 'mdisk';

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

let d: ScstdHandle;
let promUrl = '';
let mnt = '';

async function query(expr: string): Promise<PromResult[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { status: string; data?: { resultType: string; result: PromResult[] }; error?: string };
  if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error ?? body.status}`);
  return body.data!.result;
}

async function scalar(expr: string): Promise<number | null> {
  const r = await query(expr);
  return r.length === 0 ? null : Number(r[0]!.value[1]);
}

/** Waits (bounded) until `expr` has the value `want` in Prometheus; returns what it last had. */
async function settle(expr: string, want: number, ms = 20_000): Promise<number | null> {
  let last: number | null = null;
  await pollUntil(async () => {
    last = await scalar(expr);
    return last === want;
  }, ms, 250);
  return last;
}

beforeAll(async () => {
  const dir = await tmpDir('scst-metrics-');
  const image = join(dir, 'mdisk.img');
  await sparseFile(image, 64 * 1024 * 1024);
  mnt = join(dir, 'mnt');
  const metricsPort = await freePort();
  const config = `HANDLER vdisk_fileio {\n\tDEVICE ${DEV} {\n\t\tfilename ${image}\n\t}\n}\nTARGET_DRIVER iscsi {\n\tenabled 1\n\tTARGET ${TARGET} {\n\t\tLUN 0 ${DEV}\n\t\tenabled 1\n\t}\n}\n`;
  d = await startScstd({ config, extraArgs: ['--metrics', `127.0.0.1:${metricsPort}`, '--mount', mnt] });

  const promPort = await freePort();
  const promConf = join(dir, 'prometheus.yml');
  await writeFile(promConf, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: scstd\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`);
  const prom = track(spawn('prometheus', [`--config.file=${promConf}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' }));
  onCleanup('prometheus', () => prom.kill('SIGKILL'));
  promUrl = `http://127.0.0.1:${promPort}`;
  const ready = await pollUntil(async () => {
    try {
      return (await fetch(`${promUrl}/-/ready`, { signal: AbortSignal.timeout(2_000) })).ok;
    } catch {
      return false;
    }
  }, 30_000, 250);
  if (!ready) throw new Error('prometheus did not become ready within 30 s');
  const up = await settle('up{job="scstd"}', 1);
  if (up !== 1) throw new Error(`prometheus does not scrape scstd (up = ${up})`);
  afterAllStop.push(async () => {
    prom.kill('SIGTERM');
    await waitExit(prom, 10_000);
  });
}, 90_000);

const afterAllStop: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const f of afterAllStop) await f();
  await d?.stop();
});

describe('Prometheus metrics', () => {
  it('write commands and bytes move by exactly what qemu-io wrote; the latency histogram counts each', async () => {
    const cmds = `scst_device_write_commands_total{device="${DEV}"}`;
    const bytes = `scst_device_write_bytes_total{device="${DEV}"}`;
    const hist = `scst_device_command_duration_seconds_count{device="${DEV}",kind="write"}`;
    const before = { cmds: (await scalar(cmds)) ?? 0, bytes: (await scalar(bytes)) ?? 0, hist: (await scalar(hist)) ?? 0 };
    const writes: string[] = [];
    for (let i = 0; i < 10; i++) writes.push(`write -P 0x${(0x10 + i).toString(16)} ${i * 65536} 64k`);
    for (let i = 0; i < 5; i++) writes.push(`write -P 0x5a ${1048576 + i * 4096} 4k`);
    const r = await qemuIo({ port: d.ports[0]!, target: TARGET, lun: 0, initiator: INI }, writes);
    expect(r.ok, r.failures.join('\n')).toBe(true);
    const wantCmds = before.cmds + 15;
    const wantBytes = before.bytes + 10 * 65536 + 5 * 4096;
    expect(await settle(cmds, wantCmds)).toBe(wantCmds);
    expect(await settle(bytes, wantBytes)).toBe(wantBytes);
    expect(await settle(hist, before.hist + 15)).toBe(before.hist + 15);
  }, 60_000);

  it("a session's counters and latency in Prometheus are its SCST counters and latency files in the sysfs tree", async () => {
    // SCST keeps latency statistics for sessions created while measure_latency is 1, which
    // --metrics sets.
    expect(await readFile(join(mnt, 'sys/kernel/scst_tgt/measure_latency'), 'utf8')).toBe('1\n');
    const s = await qemuIoSession({ port: d.ports[0]!, target: TARGET, lun: 0, initiator: INI });
    try {
      for (let i = 0; i < 7; i++) await s.exec(`write -P 0x33 ${4 * 1048576 + i * 8192} 8k`, /wrote \d+\/\d+ bytes/);
      const dirPath = join(mnt, 'sys/kernel/scst_tgt/targets/iscsi', TARGET, 'sessions', INI);
      const tree = Number((await readFile(join(dirPath, 'write_cmd_count'), 'utf8')).trim());
      const kb = Number((await readFile(join(dirPath, 'write_io_count_kb'), 'utf8')).trim());
      expect(tree).toBeGreaterThanOrEqual(7);
      const sel = `{target="${TARGET}",session="${INI}"}`;
      expect(await settle(`scst_session_write_commands_total${sel}`, tree)).toBe(tree);
      expect(await settle(`scst_session_write_bytes_total${sel}`, kb * 1024)).toBe(kb * 1024);
      // The 8 KiB writes in SCST's latency file of their size and direction, and in the session's
      // write-latency histogram: the same commands.
      const lat = await readFile(join(dirPath, 'latency', 'w8192'), 'utf8');
      const lines = lat.trimEnd().split('\n');
      expect(lines[0]).toBe('state count min max avg stddev');
      for (const l of lines.slice(1, -1)) expect(l).toMatch(/^(XMIT_RESP|INIT|EXEC_WAIT) 7 \d+\.\d \d+\.\d \d+\.\d \d+\.\d us$/);
      expect(lines.at(-1)).toMatch(/^total 7 - - \d+\.\d \d+\.\d us$/);
      expect(await readFile(join(dirPath, 'latency', 'r8192'), 'utf8')).toBe('state count min max avg stddev\n');
      expect(await settle(`scst_session_command_duration_seconds_count{target="${TARGET}",session="${INI}",kind="write"}`, 7)).toBe(7);
      // A write to any latency file zeroes them all (SCST).
      await writeFile(join(dirPath, 'latency', 'n512'), '0\n');
      expect(await readFile(join(dirPath, 'latency', 'w8192'), 'utf8')).toBe('state count min max avg stddev\n');
    } finally {
      await s.close();
    }
  }, 60_000);

  it('measure_latency 0 stops the timing: commands are still counted, the histogram stands still', async () => {
    const cmds = `scst_device_write_commands_total{device="${DEV}"}`;
    const hist = `scst_device_command_duration_seconds_count{device="${DEV}",kind="write"}`;
    await writeFile(join(mnt, 'sys/kernel/scst_tgt/measure_latency'), '0\n');
    try {
      const before = { cmds: (await scalar(cmds)) ?? 0, hist: (await scalar(hist)) ?? 0 };
      const r = await qemuIo({ port: d.ports[0]!, target: TARGET, lun: 0, initiator: INI }, ['write -P 0x44 8388608 4k', 'write -P 0x45 8392704 4k', 'write -P 0x46 8396800 4k']);
      expect(r.ok, r.failures.join('\n')).toBe(true);
      expect(await settle(cmds, before.cmds + 3)).toBe(before.cmds + 3);
      // The counter has moved in a scrape after the writes: the histogram was scraped with it.
      expect(await scalar(hist)).toBe(before.hist);
    } finally {
      await writeFile(join(mnt, 'sys/kernel/scst_tgt/measure_latency'), '1\n');
    }
  }, 60_000);

  it('a refused login is counted by its reason', async () => {
    const sel = `scst_iscsi_login_failures_total{target="",reason="not_found"}`;
    const before = (await scalar(sel)) ?? 0;
    const r = await iscsiInq({ port: d.ports[0]!, target: 'iqn.2026-12.test:no-such-target', lun: 0 });
    expect(r.run.code).not.toBe(0);
    expect(await settle(sel, before + 1)).toBe(before + 1);
  }, 60_000);

  it('every PromQL expression of the shipped Grafana dashboard returns data', async () => {
    const dash = JSON.parse(await readFile(join(ROOT, 'etc', 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(10);
    const empty: string[] = [];
    for (const { title, expr } of exprs) {
      const ok = await pollUntil(async () => (await query(expr)).length > 0, 15_000, 500);
      if (!ok) empty.push(`${title}: ${expr}`);
    }
    expect(empty).toEqual([]);
  }, 300_000);
});
