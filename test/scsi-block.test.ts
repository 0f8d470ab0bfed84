import { mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Status } from '../src/engine/scsi/constants.js';
import { RangeLock } from '../src/engine/scsi/lba-lock.js';
import { blockRuns } from '../src/engine/scsi/thin.js';
import { declareUserDevice } from '../src/engine/user/server.js';
import { cdb, runCmd, u16, u32, u64, unitCore } from './helpers/scsi-unit.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function files(...sizes: number[]): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'scsi-block-'));
  dirs.push(dir);
  const out: string[] = [];
  for (const [i, size] of sizes.entries()) {
    const f = join(dir, `d${i}.img`);
    await writeFile(f, Buffer.alloc(0));
    await truncate(f, size);
    out.push(f);
  }
  return out;
}

const MiB = 1024 * 1024;

describe('LBA range lock', () => {
  it('lets disjoint ranges and plain reads/writes through, serialises atomic ones in order', () => {
    const l = new RangeLock();
    const order: string[] = [];
    let relA = () => {};
    l.acquire(0, 8, 'atomic', (r) => {
      order.push('A');
      relA = r;
    });
    l.acquire(100, 8, 'write', (r) => {
      order.push('far');
      r();
    });
    let relW = () => {};
    l.acquire(4, 1, 'write', (r) => {
      order.push('W');
      relW = r;
    });
    l.acquire(6, 1, 'read', (r) => {
      order.push('R');
      r();
    });
    expect(order).toEqual(['A', 'far']);
    relA();
    // The read waits behind the earlier overlapping writer only if they conflict: they do not.
    expect(order).toEqual(['A', 'far', 'W', 'R']);
    relW();
    expect(l.size).toBe(0);
  });

  it('counts fast-path reads and writes: an atomic command waits for them, and they queue while it waits', () => {
    const l = new RangeLock();
    const order: string[] = [];
    expect(l.tryFast()).toBe(true);
    expect(l.tryFast()).toBe(true);
    let relA = () => {};
    l.acquire(0, 8, 'atomic', (r) => {
      order.push('A');
      relA = r;
    });
    expect(order).toEqual([]);
    // While the atomic command waits, reads are listed: this overlapping one queues behind it.
    expect(l.tryFast()).toBe(false);
    l.acquire(2, 1, 'read', (r) => {
      order.push('R');
      r();
    });
    l.endFast();
    expect(order).toEqual([]);
    l.endFast();
    expect(order).toEqual(['A']);
    relA();
    expect(order).toEqual(['A', 'R']);
    expect(l.tryFast()).toBe(true);
    l.endFast();
    expect(l.size).toBe(0);
  });
});

describe('thin provisioning', () => {
  it('UNMAP punches holes: blocks read zero, GET LBA STATUS reports them, space is freed', async () => {
    const [f] = await files(16 * MiB);
    const c = await unitCore([{ name: 't', handler: 'vdisk_fileio', params: [['filename', f!], ['thin_provisioned', '1']] }]);
    const s = c.session();
    const data = Buffer.alloc(4 * MiB, 0x5a);
    expect((await runCmd(s, 0, [0x8a, 0, ...u64(0), ...u32(8192), 0, 0], { dataOut: data })).status).toBe(Status.GOOD);
    const before = (await stat(f!)).blocks;
    // 2 MiB at LBA 1024 (a hole), then 1 block at LBA 0 (zeroed in place).
    const list = Buffer.alloc(8 + 32);
    list.writeUInt16BE(38, 0);
    list.writeUInt16BE(32, 2);
    list.writeUInt32BE(1024, 12);
    list.writeUInt32BE(4096, 16);
    list.writeUInt32BE(1, 32);
    expect((await runCmd(s, 0, cdb.unmap(40), { dataOut: list })).status).toBe(Status.GOOD);
    expect((await stat(f!)).blocks).toBeLessThan(before);
    const r = await runCmd(s, 0, [0x88, 0, ...u64(1024), ...u32(8), 0, 0], { edtl: 4096 });
    expect(r.data.every((b) => b === 0)).toBe(true);
    const gls = await runCmd(s, 0, cdb.getLbaStatus(0), { edtl: 1024 });
    const n = (gls.data.readUInt32BE(0) - 4) / 16;
    const descs = Array.from({ length: n }, (_, i) => ({ lba: Number(gls.data.readBigUInt64BE(8 + i * 16)), len: gls.data.readUInt32BE(16 + i * 16), st: gls.data[20 + i * 16] }));
    expect(descs.slice(0, 4)).toEqual([
      { lba: 0, len: 1, st: 1 },
      { lba: 1, len: 1023, st: 0 },
      { lba: 1024, len: 4096, st: 1 },
      { lba: 5120, len: 3072, st: 0 },
    ]);
    const oob = await runCmd(s, 0, cdb.getLbaStatus(32768), { edtl: 24 });
    expect([oob.key, oob.asc]).toEqual([5, 0x21]);
  });

  it('WRITE SAME writes a pattern, and with UNMAP deallocates; UNMAP is refused on fully provisioned LUs', async () => {
    const [f, g] = await files(8 * MiB, 8 * MiB);
    const c = await unitCore([
      { name: 't', handler: 'vdisk_fileio', params: [['filename', f!], ['thin_provisioned', '1']] },
      { name: 'full', handler: 'vdisk_fileio', params: [['filename', g!]] },
    ]);
    const s = c.session();
    const block = Buffer.alloc(512, 0xc3);
    expect((await runCmd(s, 0, cdb.writeSame16(10, 100), { dataOut: block })).status).toBe(Status.GOOD);
    let r = await runCmd(s, 0, cdb.read10(10, 100), { edtl: 51200 });
    expect(r.data.every((b) => b === 0xc3)).toBe(true);
    expect((await runCmd(s, 0, cdb.writeSame16(10, 100, 0x08), { dataOut: block })).status).toBe(Status.GOOD);
    r = await runCmd(s, 0, cdb.read10(10, 100), { edtl: 51200 });
    expect(r.data.every((b) => b === 0)).toBe(true);
    // One block of data-out exactly; ANCHOR unsupported.
    const wrong = await runCmd(s, 0, cdb.writeSame16(0, 1), { dataOut: Buffer.alloc(1024) });
    expect([wrong.key, wrong.asc]).toEqual([5, 0x24]);
    const anchor = await runCmd(s, 0, cdb.writeSame16(0, 1, 0x18), { dataOut: block });
    expect([anchor.key, anchor.asc]).toEqual([5, 0x24]);
    const u = await runCmd(s, 1, cdb.unmap(8), { dataOut: Buffer.alloc(8) });
    expect([u.key, u.asc]).toEqual([5, 0x20]);
    const wsu = await runCmd(s, 1, cdb.writeSame16(0, 1, 0x08), { dataOut: block });
    expect([wsu.key, wsu.asc]).toEqual([5, 0x24]);
  });

  it('merges 512-byte map units into logical blocks', () => {
    expect(blockRuns([[1024, false], [512, true], [2560, false]], 4096)).toEqual([[1, true]]);
    expect(blockRuns([[8192, false], [4096, true]], 4096)).toEqual([
      [2, false],
      [1, true],
    ]);
  });
});

describe('atomic commands', () => {
  it('COMPARE AND WRITE writes on a match and reports the miscompare offset otherwise', async () => {
    const c = await unitCore([{ name: 'n', handler: 'vdisk_fileio', params: [['filename', (await files(MiB))[0]!]] }]);
    const s = c.session();
    const ok = Buffer.concat([Buffer.alloc(1024, 0), Buffer.alloc(1024, 0x42)]);
    expect((await runCmd(s, 0, cdb.caw(4, 2), { dataOut: ok })).status).toBe(Status.GOOD);
    const mis = Buffer.concat([Buffer.alloc(1024, 0x42), Buffer.alloc(1024, 0x43)]);
    mis[700] = 0x41;
    const r = await runCmd(s, 0, cdb.caw(4, 2), { dataOut: mis });
    expect([r.key, r.asc]).toEqual([0x0e, 0x1d]);
    expect(r.sense![0]! & 0x80).toBe(0x80);
    expect(r.sense!.readUInt32BE(3)).toBe(700);
    const back = await runCmd(s, 0, cdb.read10(4, 2), { edtl: 1024 });
    expect(back.data.every((b) => b === 0x42)).toBe(true);
    // The data-out must be exactly twice the blocks.
    const short = await runCmd(s, 0, cdb.caw(4, 2), { dataOut: Buffer.alloc(1024) });
    expect([short.key, short.asc]).toEqual([5, 0x24]);
  });

  it('concurrent COMPARE AND WRITEs on one block: exactly one of each pair wins', async () => {
    const c = await unitCore([{ name: 'n', handler: 'vdisk_fileio', params: [['filename', (await files(MiB))[0]!]] }]);
    const s = c.session();
    const from0 = Buffer.concat([Buffer.alloc(512, 0), Buffer.alloc(512, 1)]);
    const results = await Promise.all(Array.from({ length: 20 }, () => runCmd(s, 0, cdb.caw(0, 1), { dataOut: from0 })));
    expect(results.filter((r) => r.status === Status.GOOD).length).toBe(1);
    expect(results.filter((r) => r.key === 0x0e).length).toBe(19);
  });

  it('ORWRITE ors the data into the blocks', async () => {
    const c = await unitCore([{ name: 'n', handler: 'vdisk_fileio', params: [['filename', (await files(MiB))[0]!]] }]);
    const s = c.session();
    await runCmd(s, 0, cdb.write10(0, 1), { dataOut: Buffer.alloc(512, 0x0f) });
    expect((await runCmd(s, 0, cdb.orwrite(0, 1), { dataOut: Buffer.alloc(512, 0xf0) })).status).toBe(Status.GOOD);
    const r = await runCmd(s, 0, cdb.read10(0, 1), { edtl: 512 });
    expect(r.data.every((b) => b === 0xff)).toBe(true);
  });
});

describe('EXTENDED COPY', () => {
  function param(listId: number, usage: number, tds: Buffer[], segs: Buffer[]): Buffer {
    const h = Buffer.alloc(16);
    h[0] = listId;
    h[1] = usage << 3;
    const td = Buffer.concat(tds);
    const sd = Buffer.concat(segs);
    h.writeUInt16BE(td.length, 2);
    h.writeUInt32BE(sd.length, 8);
    return Buffer.concat([h, td, sd]);
  }
  function naaTd(naa: Buffer, type = 3): Buffer {
    const t = Buffer.alloc(32);
    t[0] = 0xe4;
    t[4] = 1; // binary
    t[5] = type; // NAA (3) or EUI-64 (2), LU association
    t[7] = naa.length;
    naa.copy(t, 8);
    t.writeUIntBE(512, 29, 3);
    return t;
  }
  function b2b(src: number, dst: number, blocks: number, srcLba: number, dstLba: number): Buffer {
    return Buffer.from([0x02, 0, 0, 0x18, ...u16(src), ...u16(dst), 0, 0, ...u16(blocks), ...u64(srcLba), ...u64(dstLba)]);
  }
  // The EUI-64 designator a vdisk LU has by default (vdisk's compatibility EUI-64, as the kernel).
  async function euiTd(s: Parameters<typeof runCmd>[0], lun: number): Promise<Buffer> {
    const r = await runCmd(s, lun, [0x12, 1, 0x83, 1, 0, 0], { edtl: 256 });
    let off = 4;
    while (off < r.data.length) {
      const len = r.data[off + 3]!;
      if ((r.data[off + 1]! & 0x3f) === 2) return naaTd(r.data.subarray(off + 4, off + 4 + len), 2);
      off += 4 + len;
    }
    throw new Error('no EUI-64 designator');
  }

  it('does not touch a cluster-mode LU this node may not serve (retryable, nothing written)', async () => {
    const [f, g] = await files(MiB, MiB);
    const c = await unitCore([
      { name: 'src', handler: 'vdisk_fileio', params: [['filename', f!]] },
      { name: 'dst', handler: 'vdisk_fileio', params: [['filename', g!]] },
    ]);
    const s = c.session();
    await runCmd(s, 0, cdb.write10(0, 8), { dataOut: Buffer.alloc(8 * 512, 0x5a) });
    const p = param(7, 0, [await euiTd(s, 0), await euiTd(s, 1)], [b2b(0, 1, 8, 0, 0)]);
    c.devices.get('dst')!.clusterGate = () => false;
    const r = await runCmd(s, 0, cdb.xcopy(p.length), { dataOut: p });
    expect([r.key, r.asc, r.ascq]).toEqual([2, 0x04, 0x0a]);
    c.devices.get('dst')!.clusterGate = null;
    expect((await runCmd(s, 1, cdb.read10(0, 8), { edtl: 8 * 512 })).data.equals(Buffer.alloc(8 * 512))).toBe(true);
  });

  it('copies between two LUNs and reports the copy status and operating parameters', async () => {
    const [f, g] = await files(MiB, MiB);
    const c = await unitCore([
      { name: 'src', handler: 'vdisk_fileio', params: [['filename', f!]] },
      { name: 'dst', handler: 'vdisk_fileio', params: [['filename', g!]] },
    ]);
    const s = c.session();
    const data = Buffer.alloc(64 * 512);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    await runCmd(s, 0, cdb.write10(0, 64), { dataOut: data });
    const p = param(7, 0, [await euiTd(s, 0), await euiTd(s, 1)], [b2b(0, 1, 64, 0, 100)]);
    expect((await runCmd(s, 0, cdb.xcopy(p.length), { dataOut: p })).status).toBe(Status.GOOD);
    const back = await runCmd(s, 1, cdb.read10(100, 64), { edtl: 64 * 512 });
    expect(back.data.equals(data)).toBe(true);
    const st = await runCmd(s, 0, cdb.rcr(0, 7), { edtl: 64 });
    expect(st.data[4]! & 0x7f).toBe(1);
    expect(st.data.readUInt16BE(5)).toBe(1);
    const none = await runCmd(s, 0, cdb.rcr(0, 8), { edtl: 64 });
    expect([none.key, none.asc]).toEqual([5, 0x24]);
    const op = await runCmd(s, 0, cdb.rcr(3, 0), { edtl: 64 });
    expect(op.data.readUInt16BE(8)).toBeGreaterThan(1);
    expect([...op.data.subarray(44, 44 + op.data[43]!)]).toEqual([0x02, 0xe4]);
    // A designator the copy manager does not know is an invalid field at its descriptor (SCST's
    // scst_cm_parse_id_tgt_descr); a copy past the end of the LU aborts the copy.
    const lost = param(1, 2, [naaTd(Buffer.from('3000000000000001', 'hex'))], [b2b(0, 0, 1, 0, 1)]);
    const r1 = await runCmd(s, 0, cdb.xcopy(lost.length), { dataOut: lost });
    expect([r1.key, r1.asc, r1.ascq]).toEqual([5, 0x26, 0]);
    const tooFar = param(1, 2, [await euiTd(s, 0)], [b2b(0, 0, 2, 0, 2047)]);
    const r2 = await runCmd(s, 0, cdb.xcopy(tooFar.length), { dataOut: tooFar });
    expect(r2.key).toBe(0x0a);
    const badType = param(1, 2, [await euiTd(s, 0)], [Buffer.from([0x09, 0, 0, 0x10, ...Buffer.alloc(16)])]);
    const r3 = await runCmd(s, 0, cdb.xcopy(badType.length), { dataOut: badType });
    expect([r3.key, r3.asc, r3.ascq]).toEqual([5, 0x26, 0x09]);
  });
});

describe('REPORT SUPPORTED OPERATION CODES', () => {
  it('every listed command answers the one-command query with the same opcode and sane usage data', async () => {
    const [f] = await files(MiB);
    const c = await unitCore([{ name: 't', handler: 'vdisk_fileio', params: [['filename', f!], ['thin_provisioned', '1']] }]);
    const s = c.session();
    const all = await runCmd(s, 0, cdb.rsocAll(true), { edtl: 65535 });
    expect(all.status).toBe(Status.GOOD);
    const len = all.data.readUInt32BE(0);
    const seen: Array<{ op: number; sa: number; servactv: boolean; cdbLen: number }> = [];
    for (let off = 4; off < 4 + len; off += 20) {
      expect(all.data[off + 5]! & 0x02).toBe(0x02); // CTDP with RCTD
      expect(all.data.readUInt16BE(off + 8)).toBe(0x0a);
      seen.push({ op: all.data[off]!, sa: all.data.readUInt16BE(off + 2), servactv: (all.data[off + 5]! & 1) === 1, cdbLen: all.data.readUInt16BE(off + 6) });
    }
    const ops = new Set(seen.map((x) => x.op));
    for (const op of [0x42, 0x41, 0x93, 0x89, 0x8b, 0x9c, 0x83, 0x84, 0x48, 0x5e, 0x5f, 0x16, 0x17, 0xa3, 0x34, 0x90, 0x37, 0xb7]) expect(ops.has(op)).toBe(true);
    for (const d of seen) {
      if (!d.servactv) expect(d.sa).toBe(0);
      const one = await runCmd(s, 0, cdb.rsocOne(d.servactv ? 2 : 1, d.op, d.sa), { edtl: 512 });
      expect(one.status).toBe(Status.GOOD);
      expect(one.data[1]! & 0x07).toBe(3);
      expect(one.data.readUInt16BE(2)).toBe(d.cdbLen);
      expect(one.data[4]).toBe(d.op);
      const wrong = await runCmd(s, 0, cdb.rsocOne(d.servactv ? 1 : 2, d.op, d.sa), { edtl: 512 });
      expect([wrong.key, wrong.asc]).toEqual([5, 0x24]);
    }
    // WRITE(10) advertises DPO and FUA on a disk.
    const w = await runCmd(s, 0, cdb.rsocOne(1, 0x2a), { edtl: 512 });
    expect(w.data[5]! & 0x18).toBe(0x18);
    const missing = await runCmd(s, 0, cdb.rsocOne(1, 0xc0), { edtl: 512 });
    expect(missing.data[1]! & 0x07).toBe(1);
  });
});

describe('a logical unit that is not ready', () => {
  it('answers medium access with its NOT READY sense before judging the LBA range; INQUIRY and REQUEST SENSE still answer', async () => {
    const [f] = await files(MiB);
    const c = await unitCore([{ name: 'r', handler: 'vdisk_fileio', params: [['filename', f!], ['removable', '1']] }]);
    // A user-space device declared in the config, no handler registered (capacity 0).
    c.target.defaultLuns.add(declareUserDevice(c.scst, 'u0'), 1, false);
    const s = c.session();
    const ksa = (r: { key: number; asc: number; ascq: number }) => [r.key, r.asc, r.ascq];
    const manual = [2, 0x04, 0x03];
    for (const cdbBytes of [cdb.tur(), cdb.read10(0, 8), cdb.read10(1 << 20, 8), cdb.write10(0, 8), [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0x35, 0, 0, 0, 1, 0, 0, 0, 8, 0], cdb.getLbaStatus(0)]) {
      expect(ksa(await runCmd(s, 1, cdbBytes, { edtl: 4096, dataOut: cdbBytes[0] === 0x2a ? Buffer.alloc(4096) : undefined })), `opcode 0x${cdbBytes[0]!.toString(16)}`).toEqual(manual);
    }
    const inq = await runCmd(s, 1, [0x12, 0, 0, 0, 96, 0], { edtl: 96 });
    expect(inq.status).toBe(Status.GOOD);
    expect(inq.data.subarray(8, 16).toString('latin1')).toBe('SCST_USR');
    const rs = await runCmd(s, 1, [0x03, 0, 0, 0, 252, 0], { edtl: 252 });
    expect(rs.status).toBe(Status.GOOD);
    expect([rs.data[2]! & 0x0f, rs.data[12], rs.data[13]]).toEqual(manual);
    // A CDB error of a command that needs no medium is still reported as such.
    expect(ksa(await runCmd(s, 1, [0x12, 0, 0x80, 0, 96, 0], { edtl: 96 }))).toEqual([5, 0x24, 0]);
    // An ejected medium: MEDIUM NOT PRESENT, also for a range past the end.
    expect((await runCmd(s, 0, cdb.startStop(0x02))).status).toBe(Status.GOOD);
    expect(ksa(await runCmd(s, 0, cdb.read10(0, 1), { edtl: 512 }))).toEqual([2, 0x3a, 0]);
    expect(ksa(await runCmd(s, 0, cdb.read10(1 << 20, 1), { edtl: 512 }))).toEqual([2, 0x3a, 0]);
  });
});

describe('removable medium and software write protect', () => {
  it('START STOP UNIT ejects and loads, PREVENT blocks both', async () => {
    const [f] = await files(MiB);
    const c = await unitCore([{ name: 'r', handler: 'vdisk_fileio', params: [['filename', f!], ['removable', '1']] }]);
    const s = c.session();
    expect((await runCmd(s, 0, cdb.preventAllow(true))).status).toBe(Status.GOOD);
    const p = await runCmd(s, 0, cdb.startStop(0x02));
    expect([p.key, p.asc, p.ascq]).toEqual([5, 0x53, 0x02]);
    await runCmd(s, 0, cdb.preventAllow(false));
    expect((await runCmd(s, 0, cdb.startStop(0x02))).status).toBe(Status.GOOD);
    const nm = await runCmd(s, 0, cdb.tur());
    expect([nm.key, nm.asc]).toEqual([2, 0x3a]);
    expect((await runCmd(s, 0, cdb.startStop(0x03))).status).toBe(Status.GOOD);
    expect((await runCmd(s, 0, cdb.tur())).status).toBe(Status.GOOD);
    // A power condition makes LOEJ and START irrelevant.
    expect((await runCmd(s, 0, cdb.startStop(0x12))).status).toBe(Status.GOOD);
    expect((await runCmd(s, 0, cdb.tur())).status).toBe(Status.GOOD);
  });

  it('SWP set through MODE SELECT write-protects the LU for every nexus and says so to the others', async () => {
    const [f] = await files(MiB);
    const c = await unitCore([{ name: 'd', handler: 'vdisk_fileio', params: [['filename', f!]] }]);
    const a = c.session('iqn.2026-11.test:a', '800000000001');
    const b = c.session('iqn.2026-11.test:b', '800000000002');
    const chg = await runCmd(a, 0, [0x1a, 0x08, 0x4a, 0, 255, 0], { edtl: 255 });
    expect(chg.data[4 + 4]! & 0x08).toBe(0x08); // SWP changeable
    const cur = await runCmd(a, 0, cdb.modeSense6(0x0a), { edtl: 255 });
    const page = Buffer.from(cur.data.subarray(4, 4 + 12));
    page[4]! |= 0x08;
    const sel = Buffer.concat([Buffer.alloc(4), page]);
    expect((await runCmd(a, 0, [0x15, 0x10, 0, 0, sel.length, 0], { dataOut: sel })).status).toBe(Status.GOOD);
    const w = await runCmd(a, 0, cdb.write10(0, 1), { dataOut: Buffer.alloc(512) });
    expect([w.key, w.asc]).toEqual([7, 0x27]);
    const ua = await runCmd(b, 0, cdb.tur());
    expect([ua.key, ua.asc, ua.ascq]).toEqual([6, 0x2a, 0x01]);
    const ms = await runCmd(b, 0, cdb.modeSense6(0x3f), { edtl: 255 });
    expect(ms.data[2]! & 0x80).toBe(0x80); // WP
  });
});

describe('SANITIZE', () => {
  it('BLOCK ERASE on a thin LU empties the backing file; bad parameters change nothing', async () => {
    const [f] = await files(4 * MiB);
    const c = await unitCore([{ name: 't', handler: 'vdisk_fileio', params: [['filename', f!], ['thin_provisioned', '1']] }]);
    const s = c.session();
    await runCmd(s, 0, cdb.write10(0, 256), { dataOut: Buffer.alloc(256 * 512, 0x77) });
    expect((await runCmd(s, 0, cdb.sanitize(2, 0))).status).toBe(Status.GOOD);
    expect((await stat(f!)).blocks).toBe(0);
    expect((await stat(f!)).size).toBe(4 * MiB);
    const gls = await runCmd(s, 0, cdb.getLbaStatus(0, 24), { edtl: 24 });
    expect(gls.data.readUInt32BE(16)).toBe(8192);
    expect(gls.data[20]).toBe(1);
    const reserved = await runCmd(s, 0, [0x48, 0x42, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([reserved.key, reserved.asc]).toEqual([5, 0x24]);
    const crypto = await runCmd(s, 0, cdb.sanitize(3, 0));
    expect([crypto.key, crypto.asc]).toEqual([5, 0x24]);
    const noCount = await runCmd(s, 0, cdb.sanitize(1, 8), { dataOut: Buffer.from([0, 0, 0, 4, 1, 2, 3, 4]) });
    expect([noCount.key, noCount.asc]).toEqual([5, 0x26]);
    const short = await runCmd(s, 0, cdb.sanitize(1, 4), { dataOut: Buffer.alloc(4) });
    expect([short.key, short.asc]).toEqual([5, 0x24]);
  });

  it('an IMMED overwrite runs in the background: NOT READY, SANITIZE IN PROGRESS until done', async () => {
    const [f] = await files(MiB);
    const c = await unitCore([{ name: 'd', handler: 'vdisk_fileio', params: [['filename', f!]] }]);
    const s = c.session();
    const p = Buffer.concat([Buffer.from([1, 0, 0, 2]), Buffer.from([0xde, 0xad])]);
    expect((await runCmd(s, 0, cdb.sanitize(1, p.length, true), { dataOut: p })).status).toBe(Status.GOOD);
    const busy = await runCmd(s, 0, cdb.tur());
    expect([busy.key, busy.asc, busy.ascq]).toEqual([2, 0x04, 0x1b]);
    expect((await runCmd(s, 0, [0x12, 0, 0, 0, 36, 0], { edtl: 36 })).status).toBe(Status.GOOD);
    const deadline = Date.now() + 10_000;
    while ((await runCmd(s, 0, cdb.tur())).status !== Status.GOOD && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const back = await runCmd(s, 0, cdb.read10(2047, 1), { edtl: 512 });
    expect(back.data.subarray(0, 4)).toEqual(Buffer.from([0xde, 0xad, 0xde, 0xad]));
  }, 15_000);
});
