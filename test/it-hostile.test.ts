// Issue 14: a hostile initiator against the daemon, one test per class of hole the independent
// hostile-client test found (Data-Out coverage, early F bit, unbounded login phase, immediate
// commands and unread replies, Login with an AHS). Each test checks RFC 7143's answer (a Reject
// with Protocol Error carrying the BHS and/or a dropped connection, or a failed task - never GOOD
// for a write whose data did not all arrive), that the daemon is alive, that another session's
// verified I/O is unaffected, and the core invariant: no byte of another initiator's data ever
// reaches the attacker. To make a leak visible, a victim session first writes and reads a
// distinctive pattern with transfers of the attack's sizes, so recycled pool buffers hold it.
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BoundDefaults } from './helpers/bounds.js';
import { installHarnessHooks, onCleanup } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import {
  HostileInitiator,
  hostileLoginBhs,
  rssBytes,
  rssSampler,
  ScsiStatus,
  RESERVED_TAG,
  type HostileKeys,
  type TaskRecord,
} from './helpers/hostile.js';
import { describeQemu, qemuIo } from './helpers/initiators.js';
import { sleep } from './helpers/proc.js';
import { Cdb, encodeTextKeys, Op, RawIscsiClient, RejectReason } from './helpers/rawclient.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';
import { backgroundIo, type BackgroundIo } from './helpers/workload.js';

installHarnessHooks();

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 512;
const TARGET = 'iqn.2026-11.test:hostile';
const ATTACKER = 'iqn.2026-11.test:attacker';
const CHECKER = 'iqn.2026-11.test:checker';
const VICTIM = 'iqn.2026-11.test:victim';
const GOOD = 'iqn.2026-11.test:good';
const LUN_BYTES = 64 * MiB;
/** The attacker's LUNs: 0 a disk it writes, 1 a disk it floods with reads. */
const ATK_LUN = 0;
const READ_LUN = 1;
/** Each attack writes its own 1 MiB region of the attacker's disk. */
const REGION = MiB;
/** How long the target has to answer a protocol violation (Reject/close/status). */
const ANSWER_MS = 8_000;
const TARGET_MRDSL = 64 * KiB;
/**
 * RSS the daemon may keep after hostile sessions end: the pool may cache up to its high
 * watermark of idle buffers (256 MiB by default), plus 64 MiB for V8's heap and allocator
 * slack. The hole this guards against grew the daemon by 1.4 GB and kept it.
 */
const RSS_TOLERANCE = BoundDefaults.poolCacheBytes + 64 * MiB;
/** Peak growth allowed while an attacker floods the daemon with default bounds. */
const RSS_ATTACK_BOUND = BoundDefaults.maxSessionBufferBytes + BoundDefaults.maxReplyBytes + 128 * MiB;

/** The victim's data: a 16-byte phrase no attacker ever sends. */
const MARKER = Buffer.from('VICTIM-SECRET-42');
const markerData = (len: number): Buffer => Buffer.alloc(len, MARKER);

/** Keys of an attacker session whose writes all go through R2Ts. */
const R2T_ONLY: HostileKeys = { InitialR2T: 'Yes', ImmediateData: 'No', FirstBurstLength: 65536, MaxBurstLength: 262144, DataPDUInOrder: 'Yes', DataSequenceInOrder: 'Yes', MaxOutstandingR2T: 1 };
/** Keys of an attacker session that sends an unsolicited burst (no immediate data). */
const UNSOLICITED: HostileKeys = { InitialR2T: 'No', ImmediateData: 'No', FirstBurstLength: 65536, MaxBurstLength: 262144, DataPDUInOrder: 'Yes', DataSequenceInOrder: 'Yes', MaxOutstandingR2T: 1 };

/** What bytes an attack may leave at each offset of its region: 0 (the prior medium) or what it sent. */
class Sent {
  readonly map: Uint8Array;
  constructor(readonly length: number) {
    this.map = new Uint8Array(length);
  }
  mark(offset: number, data: Buffer): void {
    for (let i = 0; i < data.length && offset + i < this.length; i++) this.map[offset + i] = data[i]!;
  }
}

describe('hostile initiator (issue 14)', () => {
  let d: ScstdHandle;
  let bg: BackgroundIo;
  let victim: RawIscsiClient;
  let checker: RawIscsiClient;
  let baselineRss = 0;
  let nextRegion = 0;
  let goodSlot = 0;
  const stalled: { security: RawIscsiClient | null; idle: RawIscsiClient | null; at: number } = { security: null, idle: null, at: 0 };

  const connectRaw = async (): Promise<RawIscsiClient> => {
    const c = await RawIscsiClient.connect(d.ports[0]!);
    onCleanup('destroy raw client', () => c.destroy());
    return c;
  };

  const rawSession = async (initiatorName: string): Promise<RawIscsiClient> => {
    const c = await RawIscsiClient.connect(d.ports[0]!);
    const login = await c.login({ initiatorName, targetName: TARGET });
    expect(login.ok, `${initiatorName}: ${login.error}`).toBe(true);
    return c;
  };

  const attacker = async (keys: HostileKeys): Promise<HostileInitiator> => {
    const h = await HostileInitiator.connect({ port: d.ports[0]!, initiatorName: ATTACKER, targetName: TARGET, keys, isid: Buffer.from([0x80, 0, 0, 0x14, 0, nextRegion & 0xff]) });
    onCleanup('destroy attacker', () => h.destroy());
    await h.clearUnitAttention([ATK_LUN, READ_LUN]);
    return h;
  };

  /** A session that died with a dropped daemon connection is replaced. */
  const liveSession = async (c: RawIscsiClient, name: string): Promise<RawIscsiClient> => {
    if (!c.closed && (await c.ping(3_000))) return c;
    c.destroy();
    return rawSession(name);
  };

  /** The victim writes and reads its phrase in transfers of these sizes (verified), so pool buffers of those sizes hold it. */
  const primeVictim = async (sizes: number[]): Promise<void> => {
    victim = await liveSession(victim, VICTIM);
    let off = 0;
    for (const size of sizes) {
      for (let i = 0; i < 3; i++) {
        if (off + size > LUN_BYTES) off = 0;
        const lba = off / BLOCK;
        const w = await victim.scsi({ cdb: Cdb.write10(lba, size / BLOCK), writeData: markerData(size) });
        expect(w.status, `victim write ${JSON.stringify({ ...w, data: undefined })}`).toBe(0);
        const r = await victim.scsi({ cdb: Cdb.read10(lba, size / BLOCK), readLength: size });
        expect(r.status).toBe(0);
        expect(r.data.equals(markerData(size)), 'victim reads back its own data').toBe(true);
        off += size;
      }
    }
  };

  const takeRegion = (): number => {
    const r = nextRegion++ * REGION;
    if (r + REGION > LUN_BYTES) throw new Error('out of attack regions: grow LUN_BYTES');
    return r;
  };

  /** Reads [offset, offset+length+guard) of the attacker's disk through a clean session. */
  const readBack = async (offset: number, length: number): Promise<Buffer> => {
    checker = await liveSession(checker, CHECKER);
    const parts: Buffer[] = [];
    for (let off = offset; off < offset + length; off += 256 * KiB) {
      const n = Math.min(256 * KiB, offset + length - off);
      const r = await checker.scsi({ lun: ATK_LUN, cdb: Cdb.read10(off / BLOCK, n / BLOCK), readLength: n });
      expect(r.status, `read back ${off}+${n}`).toBe(0);
      expect(r.data.length).toBe(n);
      parts.push(r.data);
    }
    return Buffer.concat(parts);
  };

  /**
   * The core invariant: the attacked region (and 64 KiB after it) holds only zeros (the medium
   * before the attack) or bytes the attacker sent to that very offset.
   */
  const expectNoForeignBytes = async (offset: number, sent: Sent): Promise<void> => {
    const got = await readBack(offset, sent.length + 64 * KiB);
    let foreign = 0;
    let first = -1;
    for (let i = 0; i < got.length; i++) {
      const v = got[i]!;
      const allowed = i < sent.length ? sent.map[i]! : 0;
      if (v !== 0 && v !== allowed) {
        foreign++;
        if (first < 0) first = i;
      }
    }
    const hasMarker = got.includes(MARKER);
    expect(
      { foreign, hasVictimData: hasMarker },
      foreign > 0 ? `first foreign byte at +${first}: ${got.subarray(first, first + 32).toString('latin1')}` : '',
    ).toEqual({ foreign: 0, hasVictimData: false });
  };

  /** The daemon is alive and a second initiator (qemu-io) writes and verifies a pattern. */
  const expectOthersUnaffected = async (): Promise<void> => {
    expect(d.exited(), d.recentOutput()).toBe(false);
    const off = (goodSlot++ % 48) * MiB;
    const r = await qemuIo({ port: d.ports[0]!, target: TARGET, lun: 0, initiator: GOOD }, [`write -P 0x5a ${off} 1M`, `read -P 0x5a ${off} 1M`], { timeoutMs: 30_000 });
    expect(r.ok, describeQemu(r)).toBe(true);
  };

  /**
   * RFC 7143's answer to a violation in a write's data: within ANSWER_MS the task ends with a
   * status other than GOOD, or the connection is dropped; a Reject naming the task must say
   * Protocol Error (or Invalid PDU Field) and carry one of the offending headers. A Reject that
   * leaves the task waiting is not an answer (RFC 7143 §11.17.1: a target
   * does not end a task by a Reject). Soft assertions: the test goes on to check the medium, so
   * a failure shows both the wrong answer and whether data leaked.
   */
  const expectNotGood = async (h: HostileInitiator, itt: number, sentBhs: Buffer[]): Promise<void> => {
    const w = await h.waitDone(itt, ANSWER_MS);
    const r = h.record(itt);
    const summary = describeTask(r, h);
    for (const rj of r.rejects) {
      expect.soft([RejectReason.PROTOCOL_ERROR, RejectReason.INVALID_PDU_FIELD], summary).toContain(rj.reason);
      expect.soft(
        sentBhs.some((b) => b.equals(rj.bhs)),
        `the Reject carries a header we did not send: ${rj.bhs.toString('hex')}`,
      ).toBe(true);
    }
    if (r.done) {
      expect.soft(r.response === 0 && r.status === ScsiStatus.GOOD, `a write whose data did not all arrive completed GOOD: ${summary}`).toBe(false);
      return;
    }
    expect.soft(w, `neither a status nor a dropped connection within ${ANSWER_MS} ms: the command is left waiting (${summary})`).toBe('closed');
  };

  const describeTask = (r: TaskRecord, h: HostileInitiator): string =>
    JSON.stringify({
      status: r.status,
      response: r.response,
      sense: r.sense?.toString('hex'),
      r2ts: r.r2ts,
      rejects: r.rejects.map((x) => x.reason),
      closed: h.closed,
    });

  /** Sends WRITE(10) of `edtl` bytes at `offset` with F=1 and no data; returns its ITT. */
  const writeCmd = (h: HostileInitiator, offset: number, edtl: number, o: { final?: boolean; immediate?: boolean; data?: Buffer } = {}): number =>
    h.command({ lun: ATK_LUN, cdb: Cdb.write10(offset / BLOCK, edtl / BLOCK), edtl, write: true, final: o.final ?? true, immediate: o.immediate, data: o.data });

  /** Sends a WRITE and waits for its first R2T. */
  const writeAndR2t = async (h: HostileInitiator, offset: number, edtl: number): Promise<{ itt: number; ttt: number; r2tOffset: number; r2tLength: number }> => {
    const itt = writeCmd(h, offset, edtl);
    const w = await h.waitR2t(itt, 1, ANSWER_MS);
    const r = h.record(itt);
    expect(r.r2ts.length, `no R2T for a ${edtl}-byte WRITE (${w}): ${describeTask(r, h)}`).toBeGreaterThan(0);
    const first = r.r2ts[0]!;
    return { itt, ttt: first.ttt, r2tOffset: first.offset, r2tLength: first.length };
  };

  beforeAll(async () => {
    const dir = await tmpDir();
    const file = (n: string): Promise<string> => sparseFile(join(dir, `${n}.img`), LUN_BYTES);
    d = await startScstd({
      config: scstConf({
        devices: [
          { handler: 'vdisk_fileio', name: 'atk0', attrs: { filename: await file('atk0') } },
          { handler: 'vdisk_fileio', name: 'rd0', attrs: { filename: await file('rd0') } },
          { handler: 'vdisk_fileio', name: 'vic0', attrs: { filename: await file('vic0') } },
          { handler: 'vdisk_fileio', name: 'good0', attrs: { filename: await file('good0') } },
          { handler: 'vdisk_fileio', name: 'good1', attrs: { filename: await file('good1') } },
        ],
        targets: [
          {
            name: TARGET,
            attrs: {
              MaxRecvDataSegmentLength: TARGET_MRDSL,
              FirstBurstLength: 65536,
              MaxBurstLength: 262144,
              InitialR2T: 'No',
              ImmediateData: 'Yes',
              MaxOutstandingR2T: 4,
              QueuedCommands: BoundDefaults.queuedCommands,
            },
            // The attacker and the checker see the default LUN set; victim and good initiators their own.
            luns: [
              [ATK_LUN, 'atk0'],
              [READ_LUN, 'rd0'],
            ],
            groups: [
              { name: 'victim', luns: [[0, 'vic0']], initiators: [VICTIM] },
              {
                name: 'good',
                luns: [
                  [0, 'good0'],
                  [1, 'good1'],
                ],
                initiators: [GOOD],
              },
            ],
          },
        ],
      }),
    });
    victim = await rawSession(VICTIM);
    checker = await rawSession(CHECKER);
    // Logins that never complete, watched by the login-phase tests at the end (they need the
    // default login timeout, 15 s, to pass; started now so the wait overlaps the other tests).
    stalled.at = Date.now();
    stalled.idle = await RawIscsiClient.connect(d.ports[0]!);
    stalled.security = await RawIscsiClient.connect(d.ports[0]!);
    const sec = stalled.security;
    const first = encodeTextKeys([
      ['InitiatorName', 'iqn.2026-11.test:staller'],
      ['TargetName', TARGET],
      ['SessionType', 'Normal'],
      ['AuthMethod', 'None'],
    ]);
    sec.sendPdu(hostileLoginBhs({ isid: sec.isid, csg: 0, nsg: 1, transit: false, dataSegmentLength: first.length }), first);
    // ...then one empty security-stage PDU with T=0 a second: always talking, never moving on.
    const keepTalking = setInterval(() => {
      if (sec.closed) return clearInterval(keepTalking);
      sec.sendPdu(hostileLoginBhs({ isid: sec.isid, csg: 0, nsg: 1, transit: false, dataSegmentLength: 0 }));
    }, 1_000);
    onCleanup('stop the security-stage staller', () => clearInterval(keepTalking));
    // Warm-up: the pool holds the victim's data at every size the attacks use, then the baseline.
    await primeVictim([64 * KiB, 128 * KiB, 256 * KiB, MiB]);
    await expectOthersUnaffected();
    bg = backgroundIo({ port: d.ports[0]!, target: TARGET, lun: 1, initiator: GOOD }, { span: 2 * MiB, chunk: 256 * KiB });
    await sleep(500);
    baselineRss = (await rssBytes(d.pid)) ?? 0;
    expect(baselineRss).toBeGreaterThan(0);
  }, 90_000);

  afterAll(async () => {
    stalled.idle?.destroy();
    stalled.security?.destroy();
    victim?.destroy();
    checker?.destroy();
    await bg?.abort();
  });

  beforeEach(() => {
    // A test that killed the daemon fails itself; the rest would only repeat that.
    if (d?.exited()) throw new Error(`the daemon is gone (killed by an earlier test)\n${d.recentOutput()}`);
  });

  /** Polls (bounded) until RSS is within RSS_TOLERANCE of the baseline, doing a little I/O meanwhile. */
  const expectRssNearBaseline = async (): Promise<void> => {
    const deadline = Date.now() + 30_000;
    let rss = (await rssBytes(d.pid)) ?? Infinity;
    while (rss > baselineRss + RSS_TOLERANCE && Date.now() < deadline) {
      checker = await liveSession(checker, CHECKER);
      await checker.scsi({ lun: ATK_LUN, cdb: Cdb.read10(0, 128), readLength: 64 * KiB });
      await sleep(500);
      rss = (await rssBytes(d.pid)) ?? Infinity;
    }
    expect(rss - baselineRss, `RSS ${(rss / MiB).toFixed(0)} MiB, baseline ${(baselineRss / MiB).toFixed(0)} MiB, tolerance ${RSS_TOLERANCE / MiB} MiB`).toBeLessThanOrEqual(RSS_TOLERANCE);
  };

  /** The huge-EDTL writes all start at the same LBA, in the upper half of the attacker's disk (regions stay below). */
  const takeRegionLba = (): number => (LUN_BYTES - 33 * MiB) / BLOCK;

  // -------------------------------------------------------------------------------------------
  describe('class 1: Data-Out coverage', () => {
    it('overlap: the same range twice, F=1 on the second (the issue 14 reproduction)', async () => {
      await primeVictim([128 * KiB]);
      const off = takeRegion();
      const sent = new Sent(128 * KiB);
      const h = await attacker(R2T_ONLY);
      const { itt, ttt } = await writeAndR2t(h, off, 128 * KiB);
      const a = Buffer.alloc(64 * KiB, 0x41);
      const bhs = [h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 0, final: false }), h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 1, final: true })];
      sent.mark(0, a);
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('partial overlap: EDTL bytes sent, but [96K,128K) never', async () => {
      await primeVictim([128 * KiB]);
      const off = takeRegion();
      const sent = new Sent(128 * KiB);
      const h = await attacker(R2T_ONLY);
      const { itt, ttt } = await writeAndR2t(h, off, 128 * KiB);
      const a = Buffer.alloc(64 * KiB, 0x42);
      const bhs = [h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 0, final: false }), h.dataOut({ itt, ttt, offset: 32 * KiB, data: a, dataSN: 1, final: true })];
      sent.mark(0, a);
      sent.mark(32 * KiB, a);
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('exact duplicate Data-Out (same DataSN, same offset), F=1 on the copy', async () => {
      await primeVictim([128 * KiB]);
      const off = takeRegion();
      const sent = new Sent(128 * KiB);
      const h = await attacker(R2T_ONLY);
      const { itt, ttt } = await writeAndR2t(h, off, 128 * KiB);
      const a = Buffer.alloc(64 * KiB, 0x43);
      const bhs = [h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 0, final: false }), h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 0, final: true })];
      sent.mark(0, a);
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('reordered Data-Out with DataPDUInOrder=Yes (DataSN follows the PDUs, offsets go backwards)', async () => {
      await primeVictim([128 * KiB]);
      const off = takeRegion();
      const sent = new Sent(128 * KiB);
      const h = await attacker(R2T_ONLY);
      expect(h.params.dataPDUInOrder).toBe(true);
      const { itt, ttt } = await writeAndR2t(h, off, 128 * KiB);
      const a = Buffer.alloc(64 * KiB, 0x44);
      const bhs = [h.dataOut({ itt, ttt, offset: 64 * KiB, data: a, dataSN: 0, final: false }), h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 1, final: true })];
      sent.mark(0, a);
      sent.mark(64 * KiB, a);
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('reordered Data-Out with DataPDUInOrder=Yes (PDUs swapped with their DataSNs)', async () => {
      await primeVictim([128 * KiB]);
      const off = takeRegion();
      const sent = new Sent(128 * KiB);
      const h = await attacker(R2T_ONLY);
      const { itt, ttt } = await writeAndR2t(h, off, 128 * KiB);
      const a = Buffer.alloc(64 * KiB, 0x4d);
      const bhs = [h.dataOut({ itt, ttt, offset: 64 * KiB, data: a, dataSN: 1, final: false }), h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 0, final: true })];
      sent.mark(0, a);
      sent.mark(64 * KiB, a);
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('a gap in Buffer Offsets, then F=1', async () => {
      await primeVictim([128 * KiB]);
      const off = takeRegion();
      const sent = new Sent(128 * KiB);
      const h = await attacker(R2T_ONLY);
      const { itt, ttt } = await writeAndR2t(h, off, 128 * KiB);
      const a = Buffer.alloc(32 * KiB, 0x45);
      const b = Buffer.alloc(64 * KiB, 0x45);
      const bhs = [h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 0, final: false }), h.dataOut({ itt, ttt, offset: 64 * KiB, data: b, dataSN: 1, final: true })];
      sent.mark(0, a);
      sent.mark(64 * KiB, b);
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('a DataSN gap (offsets contiguous, DataSN 0 then 2)', async () => {
      await primeVictim([128 * KiB]);
      const off = takeRegion();
      const sent = new Sent(128 * KiB);
      const h = await attacker(R2T_ONLY);
      const { itt, ttt } = await writeAndR2t(h, off, 128 * KiB);
      const a = Buffer.alloc(64 * KiB, 0x46);
      const bhs = [h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 0, final: false }), h.dataOut({ itt, ttt, offset: 64 * KiB, data: a, dataSN: 2, final: true })];
      sent.mark(0, a);
      sent.mark(64 * KiB, a);
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('a Data-Out straddling EDTL (its bytes are not data of this command)', async () => {
      await primeVictim([64 * KiB]);
      const off = takeRegion();
      const sent = new Sent(64 * KiB);
      const h = await attacker(R2T_ONLY);
      const { itt, ttt } = await writeAndR2t(h, off, 64 * KiB);
      const a = Buffer.alloc(32 * KiB, 0x47);
      const b = Buffer.alloc(64 * KiB, 0x47);
      const bhs = [h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 0, final: false }), h.dataOut({ itt, ttt, offset: 32 * KiB, data: b, dataSN: 1, final: true })];
      // Bytes past the CDB's range are not the attacker's to write: Sent covers only 64 KiB, so
      // any of them on the medium counts as foreign.
      sent.mark(0, a);
      sent.mark(32 * KiB, b);
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('a Data-Out beyond EDTL after the data is complete: refused, nothing written past the command', async () => {
      const off = takeRegion();
      const sent = new Sent(64 * KiB);
      const h = await attacker(R2T_ONLY);
      const { itt, ttt } = await writeAndR2t(h, off, 64 * KiB);
      const a = Buffer.alloc(64 * KiB, 0x4e);
      h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 0, final: false });
      const extra = h.dataOut({ itt, ttt, offset: 64 * KiB, data: a.subarray(0, 8 * KiB), dataSN: 1, final: true });
      sent.mark(0, a);
      // Every byte of the transfer did arrive, so the write may run (or fail); the extra PDU must
      // be refused (a Reject carrying it, or a dropped connection) and must not reach the disk.
      // The write's answer may come first (the extra PDU read in a later turn): wait for the Reject.
      await h.waitTask(itt, (r) => r.rejects.length > 0, ANSWER_MS);
      const r = h.record(itt);
      if (!h.closed) {
        expect.soft(r.rejects.map((x) => x.bhs.equals(extra)), `Data-Out beyond EDTL neither rejected nor the connection dropped: ${describeTask(r, h)}`).toContain(true);
      }
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('Data-Out outside its R2T (next burst sent under the first R2T)', async () => {
      await primeVictim([512 * KiB]);
      const off = takeRegion();
      const sent = new Sent(512 * KiB);
      const h = await attacker(R2T_ONLY);
      const { itt, ttt, r2tOffset, r2tLength } = await writeAndR2t(h, off, 512 * KiB);
      expect(r2tOffset).toBe(0);
      expect(r2tLength).toBeLessThanOrEqual(h.params.maxBurstLength);
      const a = Buffer.alloc(64 * KiB, 0x48);
      const bhs = [h.dataOut({ itt, ttt, offset: r2tLength, data: a, dataSN: 0, final: true })];
      sent.mark(r2tLength, a);
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('unsolicited Data-Out when InitialR2T=Yes is refused, never used', async () => {
      await primeVictim([64 * KiB]);
      const off = takeRegion();
      const h = await attacker(R2T_ONLY);
      expect(h.params.initialR2T).toBe(true);
      const itt = writeCmd(h, off, 64 * KiB);
      const rogue = Buffer.alloc(64 * KiB, 0x49);
      const bhs = h.dataOut({ itt, ttt: RESERVED_TAG, offset: 0, data: rogue, dataSN: 0, final: true });
      // RFC 7143 allows a Reject of the Data-Out (the task goes on waiting for its R2T's data)
      // or dropping the connection; completing the write with the unsolicited bytes is the hole.
      await h.waitTask(itt, (r) => r.done || r.rejects.length > 0, ANSWER_MS);
      const r = h.record(itt);
      const sent = new Sent(64 * KiB);
      if (!h.closed && !r.done) {
        expect(r.rejects.length, `unsolicited Data-Out under InitialR2T=Yes neither rejected nor the connection dropped: ${describeTask(r, h)}`).toBeGreaterThan(0);
        expect(r.rejects[0]!.bhs.equals(bhs)).toBe(true);
        expect(r.rejects[0]!.reason).toBe(RejectReason.PROTOCOL_ERROR);
        // The task is still there: answer its R2T properly with other bytes; those may land.
        await h.waitR2t(itt, 1, ANSWER_MS);
        const good = Buffer.alloc(64 * KiB, 0x4a);
        if (h.record(itt).r2ts.length > 0) {
          h.answerR2t(itt, h.record(itt).r2ts[0]!, good, ATK_LUN);
          sent.mark(0, good);
        }
        await h.waitDone(itt, ANSWER_MS);
      } else if (r.done) {
        expect(r.status === ScsiStatus.GOOD && r.r2ts.length === 0, `completed GOOD on unsolicited data: ${describeTask(r, h)}`).toBe(false);
      }
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('unsolicited Data-Out beyond FirstBurstLength is refused', async () => {
      await primeVictim([256 * KiB]);
      const off = takeRegion();
      const sent = new Sent(256 * KiB);
      const h = await attacker(UNSOLICITED);
      expect(h.params.initialR2T).toBe(false);
      const fb = h.params.firstBurstLength;
      const itt = writeCmd(h, off, 256 * KiB, { final: false });
      const a = Buffer.alloc(fb, 0x4b);
      const b = Buffer.alloc(32 * KiB, 0x4b);
      const bhs = [h.dataOut({ itt, offset: 0, data: a, dataSN: 0, final: false }), h.dataOut({ itt, offset: fb, data: b, dataSN: 1, final: true })];
      sent.mark(0, a);
      sent.mark(fb, b);
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('Data-Out for an unknown ITT: Reject, ignore or drop; the session stays in sync', async () => {
      const h = await attacker(R2T_ONLY);
      const itt = 0x7777;
      h.record(itt);
      const bhs = h.dataOut({ itt, ttt: 0x1234, offset: 0, data: Buffer.alloc(4 * KiB, 0x4c), dataSN: 0, final: true });
      await h.waitTask(itt, (r) => r.rejects.length > 0, 2_000);
      for (const rj of h.record(itt).rejects) {
        expect(rj.bhs.equals(bhs)).toBe(true);
        expect([RejectReason.PROTOCOL_ERROR, RejectReason.INVALID_PDU_FIELD]).toContain(rj.reason);
      }
      if (!h.closed) expect(await h.raw.ping(5_000), 'after the stray Data-Out the connection neither answers nor closes').toBe(true);
      h.destroy();
      await expectOthersUnaffected();
    });

    it('Data-Out for a finished ITT never reaches the medium', async () => {
      const off = takeRegion();
      const h = await attacker(R2T_ONLY);
      const first = Buffer.alloc(64 * KiB, 0x31);
      const { itt, ttt } = await writeAndR2t(h, off, 64 * KiB);
      h.dataOut({ itt, ttt, offset: 0, data: first, dataSN: 0, final: true });
      expect(await h.waitDone(itt, ANSWER_MS)).toBe('done');
      expect(h.record(itt).status).toBe(ScsiStatus.GOOD);
      // The same ITT and TTT again, after the task is over.
      const stray = Buffer.alloc(64 * KiB, 0x32);
      const bhs = h.dataOut({ itt, ttt, offset: 0, data: stray, dataSN: 1, final: true });
      h.record(itt).rejects.length = 0;
      await h.waitTask(itt, (r) => r.rejects.length > 0, 2_000);
      for (const rj of h.record(itt).rejects) expect(rj.bhs.equals(bhs)).toBe(true);
      if (!h.closed) expect(await h.raw.ping(5_000), 'after the stray Data-Out the connection neither answers nor closes').toBe(true);
      h.destroy();
      const got = await readBack(off, 64 * KiB);
      expect(got.equals(first), 'the finished write was overwritten by a stray Data-Out').toBe(true);
      await expectOthersUnaffected();
    });

    it('huge EDTLs with no data: every command answered, none GOOD, memory bounded', async () => {
      const h = await attacker(R2T_ONLY);
      await h.settle(100);
      const slots = Math.max(1, Math.min(32, ((h.window.maxCmdSN - h.cmdSN) | 0) + 1));
      const before = (await rssBytes(d.pid)) ?? 0;
      const sampler = rssSampler(d.pid);
      const itts: number[] = [];
      const blocks = 65535;
      for (let i = 0; i < slots; i++) {
        // Alternate: a 32 MiB WRITE(10) with a matching EDTL, and a 1-block CDB with a 4 GiB - 512 EDTL.
        const huge = i % 2 === 0;
        itts.push(h.command({ lun: ATK_LUN, cdb: Cdb.write10(takeRegionLba(), huge ? blocks : 1), edtl: huge ? blocks * BLOCK : 0xfffffe00, write: true, final: true }));
      }
      const answered = async (): Promise<number> => {
        h.pump();
        return itts.filter((t) => {
          const r = h.record(t);
          return r.r2ts.length > 0 || r.done || r.rejects.length > 0;
        }).length;
      };
      const deadline = Date.now() + ANSWER_MS;
      while (!h.closed && (await answered()) < itts.length && Date.now() < deadline) await h.settle(100);
      await h.settle(500);
      const peak = (await sampler.stop()).peak;
      if (!h.closed) expect(await answered(), 'commands neither given an R2T nor a status').toBe(itts.length);
      for (const t of itts) {
        const r = h.record(t);
        expect(r.done && r.status === ScsiStatus.GOOD, `a write without data completed GOOD: ${describeTask(r, h)}`).toBe(false);
        for (const r2t of r.r2ts) expect(r2t.offset + r2t.length, 'R2T beyond the CDB transfer length').toBeLessThanOrEqual(blocks * BLOCK);
      }
      expect(peak - before, `RSS grew from ${before} to ${peak}`).toBeLessThan(RSS_ATTACK_BOUND);
      h.destroy();
      await expectOthersUnaffected();
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('class 2: early F bit', () => {
    it('F=1 before the R2T range is filled', async () => {
      await primeVictim([128 * KiB]);
      const off = takeRegion();
      const sent = new Sent(128 * KiB);
      const h = await attacker(R2T_ONLY);
      const { itt, ttt } = await writeAndR2t(h, off, 128 * KiB);
      const a = Buffer.alloc(32 * KiB, 0x51);
      const bhs = [h.dataOut({ itt, ttt, offset: 0, data: a, dataSN: 0, final: true })];
      sent.mark(0, a);
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('F=1 before the unsolicited burst (min(FirstBurstLength, EDTL)) is complete', async () => {
      await primeVictim([128 * KiB]);
      const off = takeRegion();
      const sent = new Sent(128 * KiB);
      const h = await attacker(UNSOLICITED);
      const itt = writeCmd(h, off, 128 * KiB, { final: false });
      const a = Buffer.alloc(16 * KiB, 0x52);
      const bhs = [h.dataOut({ itt, offset: 0, data: a, dataSN: 0, final: true })];
      sent.mark(0, a);
      // An R2T for the rest is not an answer here: the early F bit is the protocol error, and the
      // attacker never sends more, so the command must end (or the connection) all the same.
      await expectNotGood(h, itt, bhs);
      h.destroy();
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });

    it('early F bits do not close the CmdSN window', async () => {
      const off = takeRegion();
      const h = await attacker(R2T_ONLY);
      await h.settle(100);
      const slots = Math.min(64, ((h.window.maxCmdSN - h.cmdSN) | 0) + 1);
      expect(slots).toBeGreaterThan(0);
      const itts: number[] = [];
      for (let i = 0; i < slots; i++) itts.push(writeCmd(h, off + (i % 16) * 64 * KiB, 64 * KiB));
      for (const itt of itts) {
        await h.waitR2t(itt, 1, ANSWER_MS);
        const r = h.record(itt);
        if (h.closed) break;
        if (r.r2ts.length === 0) continue;
        h.dataOut({ itt, ttt: r.r2ts[0]!.ttt, offset: 0, data: Buffer.alloc(4 * KiB, 0x53), dataSN: 0, final: true });
      }
      // The next command in sequence must be served, or the connection must have been dropped.
      const rd = h.command({ lun: ATK_LUN, cdb: Cdb.read10(off / BLOCK, 8), edtl: 4 * KiB, read: true });
      const w = await h.waitDone(rd, ANSWER_MS);
      if (w !== 'closed') {
        expect(w, `a READ after ${slots} early-F writes got no answer: the window is ${JSON.stringify(h.window)}, CmdSN ${h.cmdSN - 1}`).toBe('done');
        expect(h.record(rd).status).toBe(ScsiStatus.GOOD);
        for (const itt of itts) {
          const r = h.record(itt);
          expect(r.done && r.status === ScsiStatus.GOOD, describeTask(r, h)).toBe(false);
        }
      }
      h.destroy();
      const sent = new Sent(REGION);
      await expectNoForeignBytes(off, sent);
      await expectOthersUnaffected();
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('class 4: immediate commands and replies nobody reads', () => {
    it(`immediate commands beyond QueuedCommands (${BoundDefaults.queuedCommands}) get TASK SET FULL, none silently dropped`, async () => {
      const off = takeRegion();
      const h = await attacker(R2T_ONLY);
      const n = 100;
      const itts: number[] = [];
      for (let i = 0; i < n; i++) itts.push(writeCmd(h, off, 4 * KiB, { immediate: true }));
      const state = (): { pending: number; full: number; answered: number } => {
        h.pump();
        let pending = 0;
        let full = 0;
        let answered = 0;
        for (const t of itts) {
          const r = h.record(t);
          if (r.done || r.rejects.length > 0) answered++;
          else if (r.r2ts.length > 0) {
            answered++;
            pending++;
          }
          if (r.done && (r.status === ScsiStatus.TASK_SET_FULL || r.status === ScsiStatus.BUSY)) full++;
          if (r.rejects.some((x) => x.reason === RejectReason.IMMEDIATE_COMMAND_REJECT)) full++;
        }
        return { pending, full, answered };
      };
      const deadline = Date.now() + ANSWER_MS;
      while (!h.closed && state().answered < n && Date.now() < deadline) await h.settle(100);
      const s = state();
      if (!h.closed) {
        expect(s.answered, `immediate commands neither started nor refused: ${JSON.stringify(s)}`).toBe(n);
        expect(s.pending, `immediate commands holding a transfer at once: ${JSON.stringify(s)}`).toBeLessThanOrEqual(BoundDefaults.queuedCommands);
        expect(s.full).toBeGreaterThanOrEqual(n - BoundDefaults.queuedCommands);
      }
      for (const t of itts) {
        const r = h.record(t);
        expect(r.done && r.status === ScsiStatus.GOOD, `a write without data completed GOOD: ${describeTask(r, h)}`).toBe(false);
      }
      h.destroy();
      await expectNoForeignBytes(off, new Sent(REGION));
      await expectOthersUnaffected();
    });

    it('a client pipelining immediate 1 MiB READs that never reads its socket cannot grow the daemon', async () => {
      const before = (await rssBytes(d.pid)) ?? 0;
      const h = await attacker({ ...R2T_ONLY, MaxRecvDataSegmentLength: 262144 });
      h.pauseReading();
      const sampler = rssSampler(d.pid);
      const n = 768;
      for (let i = 0; i < n; i++) {
        h.command({ lun: READ_LUN, cdb: Cdb.read10(((i * MiB) % LUN_BYTES) / BLOCK, MiB / BLOCK), edtl: MiB, read: true, immediate: true });
        if (i % 64 === 63) await sleep(20);
      }
      // Give the daemon time to do everything it is willing to do for this client.
      await sleep(5_000);
      await expectOthersUnaffected();
      const { peak } = await sampler.stop();
      h.destroy();
      expect.soft(peak - before, `RSS grew from ${(before / MiB).toFixed(0)} MiB to ${(peak / MiB).toFixed(0)} MiB while ${n} MiB of replies were unread`).toBeLessThan(RSS_ATTACK_BOUND);
      // And the memory comes back once the client is gone.
      await expectRssNearBaseline();
    }, 90_000);
  });

  // -------------------------------------------------------------------------------------------
  describe('class 3 and 5: login phase', () => {
    it('a Login PDU with an AHS is refused and the connection closed', async () => {
      const c = await connectRaw();
      const keys = encodeTextKeys([
        ['InitiatorName', ATTACKER],
        ['TargetName', TARGET],
        ['SessionType', 'Normal'],
        ['AuthMethod', 'None'],
      ]);
      const bhs = hostileLoginBhs({ isid: c.isid, csg: 0, nsg: 1, transit: true, dataSegmentLength: keys.length, totalAhsLength: 1 });
      // One 4-byte AHS (AHSLength 1, type 0x3f reserved-for-vendor-free use, one byte of nothing).
      c.sendPdu(bhs, keys, Buffer.from([0x00, 0x01, 0x3f, 0x00]));
      const r = await c.waitFor((p) => p.opcode === Op.LOGIN_RSP || p.opcode === Op.REJECT, 5_000);
      if (r.kind === 'pdu' && r.pdu.opcode === Op.LOGIN_RSP) {
        expect(r.pdu.bhs[36], `a Login PDU with an AHS was answered with status 0 (keys ${r.pdu.data.toString('latin1')})`).not.toBe(0);
      }
      expect(await c.waitClosed(5_000), 'connection still open after a Login PDU with an AHS').toBe(true);
      await expectOthersUnaffected();
    });

    it(`2,000 empty C=1 Login PDUs: refused after ${BoundDefaults.maxLoginPdus}, connection closed, others served`, async () => {
      const c = await connectRaw();
      const one = hostileLoginBhs({ isid: c.isid, csg: 0, nsg: 1, cont: true, dataSegmentLength: 0 });
      const started = Date.now();
      c.writeRaw(Buffer.concat(Array.from({ length: 2_000 }, () => one)));
      const closed = await c.waitClosed(10_000);
      const responses = c.inbox.filter((p) => p.opcode === Op.LOGIN_RSP);
      const failures = responses.filter((p) => p.bhs[36] !== 0);
      expect(closed, `flooding connection still open after ${Date.now() - started} ms, ${responses.length} Login Responses`).toBe(true);
      for (const f of failures) expect(f.bhs[36], 'login failure class').toBe(2);
      expect(responses.length, 'Login Responses before the refusal').toBeLessThanOrEqual(BoundDefaults.maxLoginPdus + 1);
      await expectOthersUnaffected();
    });

    it(`login text over ${BoundDefaults.maxLoginTextBytes / KiB} KiB in C=1 continuations is refused`, async () => {
      const c = await connectRaw();
      const text = Buffer.concat([
        encodeTextKeys([
          ['InitiatorName', ATTACKER],
          ['TargetName', TARGET],
          ['SessionType', 'Normal'],
        ]),
        Buffer.from(`X-junk=${'j'.repeat(BoundDefaults.maxLoginTextBytes + 8 * KiB)}\0`),
      ]);
      const piece = 8 * KiB; // the MaxRecvDataSegmentLength every target accepts during login
      let refused = false;
      for (let off = 0; off < text.length && !refused; off += piece) {
        const chunk = text.subarray(off, off + piece);
        const last = off + piece >= text.length;
        c.sendPdu(hostileLoginBhs({ isid: c.isid, csg: 0, nsg: 1, cont: !last, transit: false, dataSegmentLength: chunk.length }), chunk);
        const r = await c.waitFor((p) => p.opcode === Op.LOGIN_RSP || p.opcode === Op.REJECT, 5_000);
        if (r.kind !== 'pdu') refused = true;
        else if (r.pdu.bhs[36] !== 0) {
          expect(r.pdu.bhs[36]).toBe(2);
          refused = true;
        }
      }
      expect(refused || (await c.waitClosed(5_000)), 'the whole over-long login text was accepted').toBe(true);
      expect(await c.waitClosed(5_000)).toBe(true);
      await expectOthersUnaffected();
    });

    it(`a login that never leaves the security stage, and one that never sends anything, are closed after the login timeout (${BoundDefaults.loginTimeoutSec} s)`, async () => {
      const limit = stalled.at + (BoundDefaults.loginTimeoutSec + 7) * 1000;
      const idleClosed = await stalled.idle!.waitClosed(Math.max(0, limit - Date.now()));
      const secClosed = await stalled.security!.waitClosed(Math.max(0, limit - Date.now()));
      const secAnswers = stalled.security!.inbox.filter((p) => p.opcode === Op.LOGIN_RSP).length;
      expect({ idleClosed, secClosed }, `after ${((Date.now() - stalled.at) / 1000).toFixed(1)} s (${secAnswers} security-stage answers)`).toEqual({ idleClosed: true, secClosed: true });
      await expectOthersUnaffected();
    }, 40_000);
  });

  // -------------------------------------------------------------------------------------------
  describe('after the attacks', () => {
    it('RSS is back near its baseline, background I/O never failed, and the daemon exits balanced', async () => {
      victim.destroy();
      checker.destroy();
      await expectRssNearBaseline();
      const res = await bg.stop();
      expect(res.batches).toBeGreaterThan(0);
      expect(res.failures, bg.describeFailures(res.failures)).toEqual([]);
      expect(d.exited(), d.recentOutput()).toBe(false);
      const stopped = await d.stop('SIGTERM', 15_000);
      expect(stopped, d.recentOutput()).toMatchObject({ code: 0, timedOut: false });
      expect(d.exitBalance(), d.recentOutput()).toEqual({ commands: 0, poolBuffers: 0 });
    }, 90_000);
  });
});
