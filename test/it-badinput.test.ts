// Issue 2, part 5: hostile and malformed input on one connection must be answered (Reject, login
// failure) or cut off (connection close), never hang or crash the daemon, while a well-behaved
// qemu-io session keeps doing verified I/O on another connection the whole time.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { iscsiInq } from './helpers/initiators.js';
import { describeRun, sleep } from './helpers/proc.js';
import {
  BHS_LENGTH,
  Cdb,
  dataOutBhs,
  nopOutBhs,
  Op,
  RawIscsiClient,
  rejectedBhs,
  rejectReason,
  RejectReason,
  scsiCommandBhs,
  encodeTextKeys,
  loginRequestBhs,
  type RawLoginOptions,
  type RawPdu,
} from './helpers/rawclient.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';
import { backgroundIo, type BackgroundIo } from './helpers/workload.js';

installHarnessHooks();

const MiB = 1024 * 1024;
const TARGET = 'iqn.2026-11.test:bad';
const INI = 'iqn.2026-11.test:bad-ini';
const GOOD_INI = 'iqn.2026-11.test:good-ini';
const MRDSL = 65536;

describe('bad input on one connection, good I/O on another', () => {
  let d: ScstdHandle;
  let bg: BackgroundIo;
  const clients: RawIscsiClient[] = [];

  const open = async (): Promise<RawIscsiClient> => {
    const c = await RawIscsiClient.connect(d.ports[0]!);
    clients.push(c);
    return c;
  };
  const loggedIn = async (extra: Partial<RawLoginOptions> = {}): Promise<RawIscsiClient> => {
    const c = await open();
    const login = await c.login({ initiatorName: INI, targetName: TARGET, ...extra });
    expect(login.ok, `${login.error} ${JSON.stringify(login.keys)}`).toBe(true);
    return c;
  };
  /** The daemon is alive and a fresh session does real work. */
  const expectHealthy = async (): Promise<void> => {
    expect(d.exited(), d.recentOutput()).toBe(false);
    const c = await loggedIn();
    const r = await c.scsi({ cdb: Cdb.read10(0, 8), readLength: 4096 });
    expect(r.status, JSON.stringify(r)).toBe(0);
    c.destroy();
  };
  /**
   * What a broken PDU may legitimately cause: a Reject carrying the offending header back (with
   * one of `reasons`), or the connection being dropped. Silence is not an answer unless the
   * connection is then still usable, which `allowSilence` checks with a ping.
   */
  const expectRejectOrClose = async (c: RawIscsiClient, sent: Buffer, reasons: number[], allowSilence = false): Promise<'reject' | 'closed' | 'silent'> => {
    const r = await c.waitFor((p) => p.opcode === Op.REJECT, 5_000);
    if (r.kind === 'pdu') {
      expect(reasons).toContain(rejectReason(r.pdu));
      expect(rejectedBhs(r.pdu)?.subarray(0, 24).equals(sent.subarray(0, 24))).toBe(true);
      return 'reject';
    }
    if (r.kind === 'closed') return 'closed';
    expect(allowSilence, 'neither a Reject nor a close within 5 s').toBe(true);
    expect(await c.ping(5_000), 'connection silent and unusable').toBe(true);
    return 'silent';
  };

  /**
   * After a Reject the target may keep the connection (then the byte stream must still be in
   * sync: a ping is answered) or drop it (then it must actually close, not go silent).
   */
  const expectInSyncOrClosed = async (c: RawIscsiClient): Promise<void> => {
    if (await c.ping(5_000)) return;
    expect(c.closed || (await c.waitClosed(5_000)), 'after the Reject the connection neither answers a ping nor closes').toBe(true);
  };

  beforeAll(async () => {
    const dir = await tmpDir();
    d = await startScstd({
      config: scstConf({
        devices: [
          { handler: 'vdisk_fileio', name: 'bad0', attrs: { filename: await sparseFile(join(dir, 'bad0.img'), 32 * MiB) } },
          { handler: 'vdisk_fileio', name: 'good0', attrs: { filename: await sparseFile(join(dir, 'good0.img'), 32 * MiB) } },
        ],
        targets: [
          {
            name: TARGET,
            attrs: {
              MaxRecvDataSegmentLength: MRDSL,
              FirstBurstLength: 65536,
              MaxBurstLength: 262144,
              InitialR2T: 'No',
              ImmediateData: 'Yes',
              HeaderDigest: 'None,CRC32C',
              DataDigest: 'None,CRC32C',
            },
            luns: [[0, 'bad0']],
            groups: [{ name: 'good', luns: [[0, 'good0']], initiators: [GOOD_INI] }],
          },
        ],
      }),
    });
    bg = backgroundIo({ port: d.ports[0]!, target: TARGET, lun: 0, initiator: GOOD_INI });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await bg?.abort();
  });

  it('truncated BHS, then close (before and after login)', async () => {
    const a = await open();
    a.writeRaw(loginRequestBhs({ transit: true, csg: 1, nsg: 3, isid: a.isid, itt: 1, cmdSN: 1, expStatSN: 0, dataSegmentLength: 0 }).subarray(0, 20));
    await sleep(200);
    a.socket.end();
    const b = await loggedIn();
    b.writeRaw(nopOutBhs({ itt: 7, cmdSN: b.cmdSN, expStatSN: b.expStatSN }).subarray(0, 30));
    await sleep(200);
    b.socket.end();
    // Header promising a data segment that never comes.
    const c = await loggedIn();
    c.writeRaw(scsiCommandBhs({ write: true, lun: 0, itt: 9, expectedDataTransferLength: 4096, cmdSN: c.cmdSN, expStatSN: c.expStatSN, cdb: Cdb.write10(0, 8), dataSegmentLength: 4096 }));
    c.writeRaw(Buffer.alloc(100, 0x55));
    await sleep(200);
    c.destroy();
    await expectHealthy();
  });

  it('garbage instead of a Login PDU closes the connection', async () => {
    const c = await open();
    // Opcode 0x3f (a target opcode), every flag set, but no AHS and no data segment: nothing
    // more is owed, so the answer cannot wait for more bytes.
    const junk = Buffer.alloc(BHS_LENGTH, 0xff);
    junk[4] = 0;
    junk.writeUIntBE(0, 5, 3);
    c.writeRaw(junk);
    const r = await c.waitFor((p) => p.opcode === Op.LOGIN_RSP, 5_000);
    // Either a Login Response with an error status, or the connection just closes.
    if (r.kind === 'pdu') expect(r.pdu.bhs[36]).not.toBe(0);
    else expect(r.kind).toBe('closed');
    expect(await c.waitClosed(10_000)).toBe(true);
    await expectHealthy();
  });

  it('unknown opcode 0x1f in full feature phase -> Reject (or drop)', async () => {
    const c = await loggedIn();
    const bhs = Buffer.alloc(BHS_LENGTH);
    bhs[0] = 0x1f;
    bhs[1] = 0x80;
    bhs.writeUInt32BE(0x1f1f, 16);
    bhs.writeUInt32BE(c.cmdSN, 24);
    c.sendPdu(bhs);
    const outcome = await expectRejectOrClose(c, bhs, [RejectReason.COMMAND_NOT_SUPPORTED, RejectReason.PROTOCOL_ERROR]);
    if (outcome === 'reject') await expectInSyncOrClosed(c);
    await expectHealthy();
  });

  it('a data segment longer than MaxRecvDataSegmentLength -> Reject (stream stays in sync) or drop', async () => {
    const c = await loggedIn();
    const len = MRDSL + 8192;
    const bhs = scsiCommandBhs({
      write: true,
      lun: 0,
      itt: c.allocItt(),
      expectedDataTransferLength: len,
      cmdSN: c.cmdSN,
      expStatSN: c.expStatSN,
      cdb: Cdb.write10(1000, len / 512),
      dataSegmentLength: len,
    });
    c.sendPdu(bhs, Buffer.alloc(len, 0x77));
    const outcome = await expectRejectOrClose(c, bhs, [RejectReason.PROTOCOL_ERROR, RejectReason.INVALID_PDU_FIELD]);
    if (outcome === 'reject') await expectInSyncOrClosed(c);
    // Nothing of it reached the disk.
    const check = await loggedIn();
    const rd = await check.scsi({ cdb: Cdb.read10(1000, 16), readLength: 8192 });
    expect(rd.status).toBe(0);
    expect(rd.data.every((b) => b === 0)).toBe(true);
    await expectHealthy();
  });

  it('an oversized NOP-Out ping payload -> Reject or drop', async () => {
    const c = await loggedIn();
    const payload = Buffer.alloc(MRDSL * 4, 0x11);
    const bhs = nopOutBhs({ itt: c.allocItt(), cmdSN: c.cmdSN, expStatSN: c.expStatSN, dataSegmentLength: payload.length });
    c.sendPdu(bhs, payload);
    await expectRejectOrClose(c, bhs, [RejectReason.PROTOCOL_ERROR, RejectReason.INVALID_PDU_FIELD]);
    await expectHealthy();
  });

  it('CmdSN outside the window is ignored; the session goes on', async () => {
    const c = await loggedIn();
    const stray: number[] = [];
    for (const cmdSN of [(c.cmdSN + 100_000) >>> 0, (c.cmdSN - 50) >>> 0]) {
      const itt = c.allocItt();
      stray.push(itt);
      c.sendPdu(scsiCommandBhs({ read: true, lun: 0, itt, expectedDataTransferLength: 512, cmdSN, expStatSN: c.expStatSN, cdb: Cdb.read10(0, 1), dataSegmentLength: 0 }));
    }
    const inWindow = await c.scsi({ cdb: Cdb.read10(0, 1), readLength: 512 });
    expect(inWindow.status, JSON.stringify(inWindow)).toBe(0);
    const late = await c.waitFor((p: RawPdu) => stray.includes(p.bhs.readUInt32BE(16)) && p.opcode !== Op.REJECT, 1_000);
    expect(late.kind, 'a command outside the CmdSN window was executed').toBe('timeout');
    await expectHealthy();
  });

  it('Data-Out for an unknown ITT/TTT -> Reject, ignore or drop, never a crash', async () => {
    const c = await loggedIn();
    const bhs = dataOutBhs({ final: true, lun: 0, itt: 0xdead, ttt: 0xbeef, expStatSN: c.expStatSN, dataSN: 0, bufferOffset: 0, dataSegmentLength: 512 });
    c.sendPdu(bhs, Buffer.alloc(512, 0x66));
    const outcome = await expectRejectOrClose(c, bhs, [RejectReason.PROTOCOL_ERROR, RejectReason.INVALID_PDU_FIELD], true);
    if (outcome !== 'closed') {
      // Unsolicited Data-Out (TTT 0xffffffff) for a task that does not exist, too.
      const bhs2 = dataOutBhs({ final: true, lun: 0, itt: 0xdeae, ttt: 0xffffffff, expStatSN: c.expStatSN, dataSN: 0, bufferOffset: 4096, dataSegmentLength: 512 });
      c.sendPdu(bhs2, Buffer.alloc(512, 0x67));
      await expectRejectOrClose(c, bhs2, [RejectReason.PROTOCOL_ERROR, RejectReason.INVALID_PDU_FIELD], true);
    }
    await expectHealthy();
  });

  it('a corrupted header digest drops the connection', async () => {
    const c = await loggedIn({ operationalKeys: { HeaderDigest: 'CRC32C' } });
    expect(c.headerDigest).toBe(true);
    expect(await c.ping()).toBe(true);
    const bhs = nopOutBhs({ itt: c.allocItt(), cmdSN: c.cmdSN, expStatSN: c.expStatSN });
    c.writeRaw(Buffer.concat([bhs, Buffer.from([0xde, 0xad, 0xbe, 0xef])]));
    expect(await c.waitClosed(10_000)).toBe(true);
    await expectHealthy();
  });

  describe('login keys out of range -> key rejected or login refused', () => {
    const cases: Array<[string, Record<string, string>]> = [
      ['MaxRecvDataSegmentLength=1', { MaxRecvDataSegmentLength: '1' }],
      ['MaxRecvDataSegmentLength=2^24', { MaxRecvDataSegmentLength: '16777216' }],
      ['MaxBurstLength=99999999999', { MaxBurstLength: '99999999999' }],
      ['FirstBurstLength=abc', { FirstBurstLength: 'abc' }],
      ['HeaderDigest=MD5', { HeaderDigest: 'MD5' }],
      ['InitialR2T=Maybe', { InitialR2T: 'Maybe' }],
      ['ErrorRecoveryLevel=7', { ErrorRecoveryLevel: '7' }],
    ];
    it.each(cases)('%s', async (_name, keys) => {
      const c = await open();
      const login = await c.login({ initiatorName: INI, targetName: TARGET, operationalKeys: keys });
      const [key, value] = Object.entries(keys)[0]!;
      if (login.ok) {
        // Accepted the session: then the bad value must have been answered Reject (or replaced
        // by a valid one), never echoed back or adopted.
        const answers = login.keys.filter(([k]) => k === key).map(([, v]) => v);
        expect(answers, JSON.stringify(login.keys)).not.toContain(value);
        if (key !== 'MaxRecvDataSegmentLength') expect(answers.length, JSON.stringify(login.keys)).toBeGreaterThan(0);
        // And the session works with sane parameters.
        const r = await c.scsi({ cdb: Cdb.read10(0, 8), readLength: 4096 });
        expect(r.status, JSON.stringify(r)).toBe(0);
        expect(c.received.filter((p) => p.opcode === Op.DATA_IN).every((p) => p.data.length === 0 || p.data.length >= 512)).toBe(true);
      } else {
        expect(login.statusClass === 2 || login.closed, login.error).toBe(true);
      }
    });

    it('FirstBurstLength above MaxBurstLength is not adopted', async () => {
      const c = await open();
      const login = await c.login({ initiatorName: INI, targetName: TARGET, operationalKeys: { FirstBurstLength: '262144', MaxBurstLength: '65536' } });
      if (login.ok) {
        const fb = Number(login.key('FirstBurstLength'));
        const mb = Number(login.key('MaxBurstLength'));
        expect(Number.isFinite(fb) && Number.isFinite(mb), JSON.stringify(login.keys)).toBe(true);
        expect(fb).toBeLessThanOrEqual(mb);
      } else {
        expect(login.statusClass === 2 || login.closed, login.error).toBe(true);
      }
    });

    it('a key offered twice, a key without "=", and an overlong key fail the login', async () => {
      const raws = [
        encodeTextKeys([['InitiatorName', INI], ['TargetName', TARGET], ['SessionType', 'Normal'], ['MaxBurstLength', '65536'], ['MaxBurstLength', '131072']]),
        Buffer.concat([encodeTextKeys([['InitiatorName', INI], ['TargetName', TARGET]]), Buffer.from('NoEqualsSign\0')]),
        Buffer.concat([encodeTextKeys([['InitiatorName', INI], ['TargetName', TARGET]]), Buffer.from(`${'K'.repeat(200)}=1\0`)]),
      ];
      for (const data of raws) {
        const c = await open();
        c.sendPdu(loginRequestBhs({ transit: true, csg: 1, nsg: 3, isid: c.isid, itt: 1, cmdSN: 1, expStatSN: 0, dataSegmentLength: data.length }), data);
        const r = await c.waitFor((p) => p.opcode === Op.LOGIN_RSP, 5_000);
        if (r.kind === 'pdu') expect(r.pdu.bhs[36], data.toString('latin1')).not.toBe(0);
        else expect(r.kind).toBe('closed');
      }
      await expectHealthy();
    });

    it('a login PDU bigger than 8192 bytes of keys -> refused or dropped', async () => {
      const c = await open();
      const data = Buffer.concat([encodeTextKeys([['InitiatorName', INI], ['TargetName', TARGET]]), Buffer.from(`X-junk=${'j'.repeat(20_000)}\0`)]);
      c.sendPdu(loginRequestBhs({ transit: true, csg: 1, nsg: 3, isid: c.isid, itt: 1, cmdSN: 1, expStatSN: 0, dataSegmentLength: data.length }), data);
      const r = await c.waitFor((p) => p.opcode === Op.LOGIN_RSP, 5_000);
      if (r.kind === 'pdu') expect(r.pdu.bhs[36]).not.toBe(0);
      else expect(r.kind).toBe('closed');
      await expectHealthy();
    });
  });

  it('the background qemu-io session succeeded throughout and the daemon is still up', async () => {
    const res = await bg.stop();
    expect(res.batches).toBeGreaterThan(0);
    expect(res.failures, bg.describeFailures(res.failures)).toEqual([]);
    expect(d.exited(), d.recentOutput()).toBe(false);
    const inq = await iscsiInq({ port: d.ports[0]!, target: TARGET, lun: 0, initiator: INI });
    expect(inq.run.code, describeRun('iscsi-inq', inq.run)).toBe(0);
    const stopped = await d.stop('SIGTERM', 10_000);
    expect(stopped, d.recentOutput()).toMatchObject({ code: 0, timedOut: false });
    expect(d.exitBalance(), d.recentOutput()).toEqual({ commands: 0, poolBuffers: 0 });
  }, 120_000);
});
