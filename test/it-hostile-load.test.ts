// Issue 14, bounded load cases: what one hostile peer can make the daemon hold (connections that
// never log in, replies nobody reads, endless Login continuations) stays within the configured
// bounds, ends, and never stalls a legitimate initiator doing verified I/O at the same time.
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BoundDefaults, boundArgs } from './helpers/bounds.js';
import { installHarnessHooks, onCleanup } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { HostileInitiator, hostileLoginBhs, openFds, rssBytes, rssSampler, tcpEstablished } from './helpers/hostile.js';
import { describeQemu, qemuIo } from './helpers/initiators.js';
import { sleep } from './helpers/proc.js';
import { BHS_LENGTH, Cdb, Op, RawIscsiClient } from './helpers/rawclient.js';
import { scstConf, type Attrs } from './helpers/scstconf.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';
import { backgroundIo } from './helpers/workload.js';

installHarnessHooks();

const KiB = 1024;
const MiB = 1024 * KiB;
const TARGET = 'iqn.2026-11.test:load';
const ATTACKER = 'iqn.2026-11.test:load-attacker';
const GOOD = 'iqn.2026-11.test:load-good';

async function daemon(extraArgs: string[], targetAttrs: Attrs = {}): Promise<ScstdHandle> {
  const dir = await tmpDir();
  return startScstd({
    config: scstConf({
      devices: [
        { handler: 'vdisk_fileio', name: 'atk0', attrs: { filename: await sparseFile(join(dir, 'atk0.img'), 64 * MiB) } },
        { handler: 'vdisk_fileio', name: 'good0', attrs: { filename: await sparseFile(join(dir, 'good0.img'), 64 * MiB) } },
      ],
      targets: [
        {
          name: TARGET,
          attrs: { MaxRecvDataSegmentLength: 262144, MaxBurstLength: 1048576, ...targetAttrs },
          luns: [[0, 'atk0']],
          groups: [{ name: 'good', luns: [[0, 'good0']], initiators: [GOOD] }],
        },
      ],
    }),
    extraArgs,
  });
}

/** A TCP connection to the portal that never sends a byte; records when the daemon closes it. */
function idleConnection(port: number): Promise<{ socket: Socket; closedAt: () => number | null }> {
  return new Promise((resolve, reject) => {
    let closedAt: number | null = null;
    const s = connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('idle connect timed out'));
    }, 10_000);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => {
      closedAt ??= Date.now();
    });
    s.once('connect', () => {
      clearTimeout(timer);
      resolve({ socket: s, closedAt: () => closedAt });
    });
  });
}

describe('2,000 connections that never log in', () => {
  const LOGIN_TIMEOUT_SEC = 3;
  const N = 2_000;

  it(`are all closed after --login-timeout ${LOGIN_TIMEOUT_SEC} while a legitimate initiator logs in and does verified I/O`, async () => {
    const d = await daemon(boundArgs({ loginTimeoutSec: LOGIN_TIMEOUT_SEC }));
    const port = d.ports[0]!;
    const fdsBefore = (await openFds(d.pid)) ?? 0;
    const bg = backgroundIo({ port, target: TARGET, lun: 0, initiator: GOOD }, { span: 2 * MiB, chunk: 256 * KiB });
    onCleanup('stop background I/O', () => bg.abort());
    const conns: Array<{ socket: Socket; closedAt: () => number | null; openedAt: number }> = [];
    onCleanup('close idle connections', () => conns.forEach((c) => c.socket.destroy()));
    // In batches, so the listen backlog is never the limit being tested.
    for (let i = 0; i < N; i += 200) {
      const batch = await Promise.all(Array.from({ length: Math.min(200, N - i) }, () => idleConnection(port)));
      const at = Date.now();
      for (const b of batch) conns.push({ ...b, openedAt: at });
    }
    const lastOpened = Date.now();
    // In the middle of it all, new logins still succeed and do verified I/O.
    const fresh = await qemuIo({ port, target: TARGET, lun: 0, initiator: GOOD }, ['write -P 0x6b 8M 1M', 'read -P 0x6b 8M 1M'], { timeoutMs: 30_000 });
    expect(fresh.ok, describeQemu(fresh)).toBe(true);
    // Every idle connection is closed within the login timeout plus a generous margin.
    const marginMs = 5_000;
    const deadline = lastOpened + LOGIN_TIMEOUT_SEC * 1000 + marginMs;
    while (Date.now() < deadline && conns.some((c) => c.closedAt() === null)) await sleep(200);
    const open = conns.filter((c) => c.closedAt() === null).length;
    const late = conns.filter((c) => {
      const t = c.closedAt();
      return t !== null && t - c.openedAt > LOGIN_TIMEOUT_SEC * 1000 + marginMs;
    }).length;
    expect({ open, late }, `of ${N} idle connections after ${((Date.now() - lastOpened) / 1000).toFixed(1)} s`).toEqual({ open: 0, late: 0 });
    const res = await bg.stop();
    expect(res.batches).toBeGreaterThan(0);
    expect(res.failures, bg.describeFailures(res.failures)).toEqual([]);
    // The descriptors came back.
    const fdsAfter = (await openFds(d.pid)) ?? Infinity;
    expect(fdsAfter, `daemon fds ${fdsBefore} before, ${fdsAfter} after`).toBeLessThan(fdsBefore + 50);
    expect(d.exited(), d.recentOutput()).toBe(false);
    const stopped = await d.stop('SIGTERM', 15_000);
    expect(stopped, d.recentOutput()).toMatchObject({ code: 0, timedOut: false });
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  }, 120_000);
});

describe('a client that pipelines READs and never reads its socket', () => {
  const MAX_REPLY = 4 * MiB;
  const MAX_SESSION_BUFFERS = 16 * MiB;
  // RspTimeout and NopInTimeout have SCST's minimum of 2 s; a session whose replies make no
  // progress ends after RspTimeout, an idle one whose NOP-In is never answered after NopInTimeout.
  const RSP_TIMEOUT_SEC = 4;
  const TARGET_ATTRS: Attrs = { RspTimeout: RSP_TIMEOUT_SEC, NopInInterval: 2, NopInTimeout: 2 };
  /**
   * Peak growth allowed while the attack runs: the session's buffers (16 MiB) and queued replies
   * (4 MiB) as configured, plus 76 MiB for V8 (young generation, command objects, the legitimate
   * initiator's traffic). Without the bounds the same attack grows the daemon by ~1 MiB per READ.
   */
  const PEAK_BOUND = MAX_SESSION_BUFFERS + MAX_REPLY + 76 * MiB;
  /** After the session ends: the pool may keep cached what the attack used (bounded by the session's 16 MiB) and V8 its heap. */
  const AFTER_BOUND = MAX_SESSION_BUFFERS + 48 * MiB;

  it('cannot grow the daemon beyond its bounds; its session ends (RspTimeout) and the memory comes back', async () => {
    const d = await daemon(boundArgs({ maxReplyBytes: MAX_REPLY, maxSessionBufferBytes: MAX_SESSION_BUFFERS }), TARGET_ATTRS);
    const port = d.ports[0]!;
    const bg = backgroundIo({ port, target: TARGET, lun: 0, initiator: GOOD }, { span: 2 * MiB, chunk: 256 * KiB });
    onCleanup('stop background I/O', () => bg.abort());
    await sleep(1_000);
    const baseline = (await rssBytes(d.pid)) ?? 0;
    const h = await HostileInitiator.connect({ port, initiatorName: ATTACKER, targetName: TARGET, keys: { MaxRecvDataSegmentLength: 262144 } });
    onCleanup('destroy attacker', () => h.destroy());
    await h.clearUnitAttention([0]);
    await h.settle(100);
    const sampler = rssSampler(d.pid);
    h.pauseReading();
    // Commands within the CmdSN window, then immediate ones (which no window limits).
    const windowSlots = Math.max(0, ((h.window.maxCmdSN - h.cmdSN) | 0) + 1);
    const n = 512;
    for (let i = 0; i < n; i++) {
      h.command({ lun: 0, cdb: Cdb.read10(((i * MiB) % (64 * MiB)) / 512, MiB / 512), edtl: MiB, read: true, immediate: i >= windowSlots });
      if (i % 64 === 63) await sleep(10);
    }
    // The session must end by itself (RspTimeout, or the unanswered NOP-In) within a bound.
    const endBy = Date.now() + (RSP_TIMEOUT_SEC + 2 + 10) * 1000;
    let established = true;
    while (Date.now() < endBy && (established = await tcpEstablished(h.localPort, port))) await sleep(250);
    const { peak } = await sampler.stop();
    expect.soft(peak - baseline, `RSS ${(baseline / MiB).toFixed(0)} -> peak ${(peak / MiB).toFixed(0)} MiB`).toBeLessThan(PEAK_BOUND);
    expect.soft(established, 'the session that never reads was still connected').toBe(false);
    h.destroy();
    // The legitimate initiator was served throughout.
    const res = await bg.stop();
    expect(res.batches).toBeGreaterThan(0);
    expect(res.failures, bg.describeFailures(res.failures)).toEqual([]);
    // And the memory is back near the baseline (bounded wait, with a little I/O to keep the
    // daemon's allocator and GC moving).
    const deadline = Date.now() + 30_000;
    let rss = (await rssBytes(d.pid)) ?? Infinity;
    while (rss - baseline > AFTER_BOUND && Date.now() < deadline) {
      const q = await qemuIo({ port, target: TARGET, lun: 0, initiator: GOOD }, ['read 0 256k'], { timeoutMs: 20_000 });
      expect(q.ok, describeQemu(q)).toBe(true);
      await sleep(500);
      rss = (await rssBytes(d.pid)) ?? Infinity;
    }
    expect(rss - baseline, `RSS ${(rss / MiB).toFixed(0)} MiB, baseline ${(baseline / MiB).toFixed(0)} MiB`).toBeLessThanOrEqual(AFTER_BOUND);
    const stopped = await d.stop('SIGTERM', 15_000);
    expect(stopped, d.recentOutput()).toMatchObject({ code: 0, timedOut: false });
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  }, 120_000);
});

describe('60,000 empty Login PDUs with C=1 from one connection', () => {
  const N = 60_000;
  const MAX_LATENCY_MS = 200;

  it(`do not stall a second initiator (max latency < ${MAX_LATENCY_MS} ms) and the flooding connection is refused`, async () => {
    const d = await daemon([]);
    const port = d.ports[0]!;
    const good = await RawIscsiClient.connect(port);
    onCleanup('destroy good client', () => good.destroy());
    const login = await good.login({ initiatorName: GOOD, targetName: TARGET });
    expect(login.ok, login.error).toBe(true);
    const pattern = Buffer.alloc(4 * KiB, 0x6c);
    const failures: string[] = [];
    /** One verified 4 KiB write+read pair; its latency (a failure counts with its full time). */
    const op = async (i: number): Promise<number> => {
      const t0 = performance.now();
      const lba = (i % 1024) * 8;
      const w = await good.scsi({ cdb: Cdb.write10(lba, 8), writeData: pattern, timeoutMs: 10_000 });
      const r = w.status === 0 ? await good.scsi({ cdb: Cdb.read10(lba, 8), readLength: 4 * KiB, timeoutMs: 10_000 }) : null;
      if (w.status !== 0 || r?.status !== 0 || !r.data.equals(pattern)) {
        failures.push(`op ${i}: write status ${w.status} (timed out ${w.timedOut}), read status ${r?.status} (timed out ${r?.timedOut})`);
      }
      return performance.now() - t0;
    };
    for (let i = 0; i < 20; i++) await op(i); // warm-up (and UNIT ATTENTION)
    expect(failures).toEqual([]);

    // The flooder reads what it gets without parsing it (that is done after), so this process's
    // own work does not show up in the latency measured.
    const flood = hostileLoginBhs({ isid: Buffer.from([0x80, 0, 0, 0x60, 0, 1]), csg: 0, nsg: 1, cont: true, dataSegmentLength: 0 });
    const payload = Buffer.concat(Array.from({ length: N }, () => flood));
    const received: Buffer[] = [];
    let closedAt: number | null = null;
    const s = connect({ port, host: '127.0.0.1' });
    onCleanup('destroy flooder', () => s.destroy());
    s.on('data', (b: Buffer) => received.push(b));
    s.on('error', () => undefined);
    s.on('close', () => {
      closedAt ??= Date.now();
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('flooder connect timed out')), 5_000);
      s.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
    });

    let maxLatency = 0;
    let ops = 0;
    const started = Date.now();
    s.write(payload);
    const floodEnd = started + 30_000;
    let quietSince: number | null = null;
    // Measure until the flood is over (connection closed, or every PDU answered) and 1 s more.
    while (Date.now() < floodEnd && failures.length < 3) {
      maxLatency = Math.max(maxLatency, await op(ops++));
      const answered = received.reduce((n, b) => n + b.length, 0) >= N * BHS_LENGTH;
      if (closedAt !== null || answered) {
        quietSince ??= Date.now();
        if (Date.now() - quietSince > 1_000) break;
      }
    }
    const all = Buffer.concat(received);
    let responses = 0;
    let failureClass: number | null = null;
    for (let off = 0; off + BHS_LENGTH <= all.length; off += BHS_LENGTH) {
      if ((all[off]! & 0x3f) !== Op.LOGIN_RSP) break;
      responses++;
      if (all[off + 36] !== 0) failureClass = all[off + 36]!;
    }
    expect.soft(failures, 'the second initiator\'s I/O failed during the flood').toEqual([]);
    expect.soft(maxLatency, `max latency of ${ops} verified 4 KiB write+read pairs during the flood`).toBeLessThan(MAX_LATENCY_MS);
    expect.soft(closedAt, `the flooding connection was not closed (${responses} Login Responses)`).not.toBeNull();
    expect.soft(responses, 'Login Responses before the refusal').toBeLessThanOrEqual(BoundDefaults.maxLoginPdus + 1);
    if (failureClass !== null) expect.soft(failureClass, 'login failure status class').toBe(2);
    expect(d.exited(), d.recentOutput()).toBe(false);
    good.destroy();
    const stopped = await d.stop('SIGTERM', 15_000);
    expect(stopped, d.recentOutput()).toMatchObject({ code: 0, timedOut: false });
    expect(d.exitBalance()).toEqual({ commands: 0, poolBuffers: 0 });
  }, 90_000);
});
