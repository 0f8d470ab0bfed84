import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Status } from '../src/engine/scsi/constants.js';
import { deserialize, serialize } from '../src/engine/scsi/pr-store.js';
import { parseTransportId, encodeTransportId } from '../src/engine/scsi/nexus.js';
import { cdb, prParams, runCmd, unitCore } from './helpers/scsi-unit.js';

const RC = Status.RESERVATION_CONFLICT;
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function core(stateDir?: string) {
  return unitCore([{ name: 'd0', handler: 'vdisk_nullio', params: [['size_mb', '1']] }], { stateDir });
}

function keysOf(data: Buffer): bigint[] {
  const n = data.readUInt32BE(4) / 8;
  return Array.from({ length: n }, (_, i) => data.readBigUInt64BE(8 + i * 8));
}

describe('persistent reservations', () => {
  it('registers, reserves, conflicts by type, releases with unit attentions', async () => {
    const c = await core();
    const a = c.session('iqn.2026-11.test:a', '800000000001');
    const b = c.session('iqn.2026-11.test:b', '800000000002');
    const other = c.session('iqn.2026-11.test:c', '800000000003');
    expect((await runCmd(a, 0, cdb.prOut(0), { dataOut: prParams(0n, 0xa1n) })).status).toBe(Status.GOOD);
    // REGISTER with a wrong key from a registered nexus conflicts; from an unregistered one too.
    expect((await runCmd(a, 0, cdb.prOut(0), { dataOut: prParams(0x99n, 0xa2n) })).status).toBe(RC);
    expect((await runCmd(b, 0, cdb.prOut(0), { dataOut: prParams(0x55n, 0xb1n) })).status).toBe(RC);
    expect((await runCmd(b, 0, cdb.prOut(6), { dataOut: prParams(0n, 0xb1n) })).status).toBe(Status.GOOD);
    const rk = await runCmd(a, 0, cdb.prIn(0), { edtl: 8192 });
    expect(keysOf(rk.data).sort()).toEqual([0xa1n, 0xb1n]);
    expect(rk.data.readUInt32BE(0)).toBe(2); // two registrations, two generations

    // WRITE EXCLUSIVE - REGISTRANTS ONLY held by a.
    expect((await runCmd(a, 0, cdb.prOut(1, 5), { dataOut: prParams(0xa1n, 0n) })).status).toBe(Status.GOOD);
    const rr = await runCmd(b, 0, cdb.prIn(1), { edtl: 8192 });
    expect(rr.data.readUInt32BE(4)).toBe(16);
    expect(rr.data.readBigUInt64BE(8)).toBe(0xa1n);
    expect(rr.data[21]! & 0x0f).toBe(5);
    const block = Buffer.alloc(512, 1);
    expect((await runCmd(b, 0, cdb.write10(0, 1), { dataOut: block })).status).toBe(Status.GOOD); // registrant
    expect((await runCmd(other, 0, cdb.write10(0, 1), { dataOut: block })).status).toBe(RC);
    expect((await runCmd(other, 0, cdb.read10(0, 1), { edtl: 512 })).status).toBe(Status.GOOD);
    // RESERVE by a non-holder conflicts; RELEASE with the wrong type is an illegal request.
    expect((await runCmd(b, 0, cdb.prOut(1, 5), { dataOut: prParams(0xb1n, 0n) })).status).toBe(RC);
    const bad = await runCmd(a, 0, cdb.prOut(2, 1), { dataOut: prParams(0xa1n, 0n) });
    expect([bad.key, bad.asc, bad.ascq]).toEqual([5, 0x26, 0x04]);
    expect((await runCmd(a, 0, cdb.prOut(2, 5), { dataOut: prParams(0xa1n, 0n) })).status).toBe(Status.GOOD);
    // The other registrant hears that the registrants-only reservation was released.
    const ua = await runCmd(b, 0, cdb.tur());
    expect([ua.key, ua.asc, ua.ascq]).toEqual([6, 0x2a, 0x04]);
  });

  it('exclusive access keeps even registrants out; unregistering the holder ends it', async () => {
    const c = await core();
    const a = c.session('iqn.2026-11.test:a', '800000000001');
    const b = c.session('iqn.2026-11.test:a', '800000000002'); // same name, other ISID: other nexus
    await runCmd(a, 0, cdb.prOut(6), { dataOut: prParams(0n, 1n) });
    await runCmd(b, 0, cdb.prOut(6), { dataOut: prParams(0n, 2n) });
    expect((await runCmd(a, 0, cdb.prOut(1, 3), { dataOut: prParams(1n, 0n) })).status).toBe(Status.GOOD);
    expect((await runCmd(b, 0, cdb.read10(0, 1), { edtl: 512 })).status).toBe(RC);
    expect((await runCmd(b, 0, cdb.tur())).status).toBe(Status.GOOD); // never conflicts
    expect((await runCmd(a, 0, cdb.prOut(0), { dataOut: prParams(1n, 0n) })).status).toBe(Status.GOOD);
    const rr = await runCmd(b, 0, cdb.prIn(1), { edtl: 8192 });
    expect(rr.data.readUInt32BE(4)).toBe(0);
    expect((await runCmd(b, 0, cdb.read10(0, 1), { edtl: 512 })).status).toBe(Status.GOOD);
  });

  it('all-registrants reservations stay while any registrant remains', async () => {
    const c = await core();
    const a = c.session('iqn.2026-11.test:a', '800000000001');
    const b = c.session('iqn.2026-11.test:b', '800000000002');
    await runCmd(a, 0, cdb.prOut(6), { dataOut: prParams(0n, 1n) });
    await runCmd(b, 0, cdb.prOut(6), { dataOut: prParams(0n, 2n) });
    await runCmd(a, 0, cdb.prOut(1, 8), { dataOut: prParams(1n, 0n) });
    let rr = await runCmd(a, 0, cdb.prIn(1), { edtl: 8192 });
    expect(rr.data.readBigUInt64BE(8)).toBe(0n); // all registrants: key 0
    await runCmd(a, 0, cdb.prOut(0), { dataOut: prParams(1n, 0n) });
    rr = await runCmd(b, 0, cdb.prIn(1), { edtl: 8192 });
    expect(rr.data.readUInt32BE(4)).toBe(16);
    await runCmd(b, 0, cdb.prOut(0), { dataOut: prParams(2n, 0n) });
    rr = await runCmd(b, 0, cdb.prIn(1), { edtl: 8192 });
    expect(rr.data.readUInt32BE(4)).toBe(0);
  });

  it('PREEMPT removes the other registration, bumps the generation and tells the victim', async () => {
    const c = await core();
    const a = c.session('iqn.2026-11.test:a', '800000000001');
    const b = c.session('iqn.2026-11.test:b', '800000000002');
    await runCmd(a, 0, cdb.prOut(6), { dataOut: prParams(0n, 1n) });
    await runCmd(b, 0, cdb.prOut(6), { dataOut: prParams(0n, 2n) });
    await runCmd(a, 0, cdb.prOut(1, 1), { dataOut: prParams(1n, 0n) });
    const gen = (await runCmd(a, 0, cdb.prIn(0), { edtl: 64 })).data.readUInt32BE(0);
    // b preempts a's reservation and takes it as EXCLUSIVE ACCESS.
    expect((await runCmd(b, 0, cdb.prOut(4, 3), { dataOut: prParams(2n, 1n) })).status).toBe(Status.GOOD);
    const rk = await runCmd(b, 0, cdb.prIn(0), { edtl: 64 });
    expect(keysOf(rk.data)).toEqual([2n]);
    expect(rk.data.readUInt32BE(0)).toBe(gen + 1);
    const ua = await runCmd(a, 0, cdb.tur());
    expect([ua.key, ua.asc, ua.ascq]).toEqual([6, 0x2a, 0x05]);
    const rr = await runCmd(b, 0, cdb.prIn(1), { edtl: 64 });
    expect(rr.data.readBigUInt64BE(8)).toBe(2n);
    expect(rr.data[21]! & 0x0f).toBe(3);
    // Preempting a key nobody has is a conflict.
    expect((await runCmd(b, 0, cdb.prOut(4, 3), { dataOut: prParams(2n, 0x77n) })).status).toBe(RC);
  });

  it('CLEAR drops everything and REGISTER AND MOVE hands the reservation over', async () => {
    const c = await core();
    const a = c.session('iqn.2026-11.test:a', '800000000001');
    const b = c.session('iqn.2026-11.test:b', '800000000002');
    await runCmd(a, 0, cdb.prOut(6), { dataOut: prParams(0n, 1n) });
    await runCmd(a, 0, cdb.prOut(1, 1), { dataOut: prParams(1n, 0n) });
    const tid = encodeTransportId({ initiator: 'iqn.2026-11.test:b', isid: '800000000002' });
    const move = Buffer.alloc(24 + tid.length);
    move.writeBigUInt64BE(1n, 0);
    move.writeBigUInt64BE(9n, 8);
    move[17] = 0x02; // UNREG
    move.writeUInt16BE(1, 18);
    move.writeUInt32BE(tid.length, 20);
    tid.copy(move, 24);
    expect((await runCmd(a, 0, cdb.prOut(7, 1, move.length), { dataOut: move })).status).toBe(Status.GOOD);
    const full = await runCmd(b, 0, cdb.prIn(3), { edtl: 8192 });
    expect(full.data.readUInt32BE(4)).toBeGreaterThan(24);
    expect(full.data.readBigUInt64BE(8)).toBe(9n);
    expect(full.data[8 + 12]! & 0x01).toBe(1); // R_HOLDER
    const t = parseTransportId(full.data.subarray(8 + 24));
    expect(t).toMatchObject({ initiator: 'iqn.2026-11.test:b', isid: '800000000002' });
    expect((await runCmd(b, 0, cdb.prOut(3), { dataOut: prParams(9n, 0n) })).status).toBe(Status.GOOD);
    expect(keysOf((await runCmd(b, 0, cdb.prIn(0), { edtl: 64 })).data)).toEqual([]);
  });

  it('reports capabilities, refuses unknown service actions and short parameter lists', async () => {
    const c = await core();
    const a = c.session();
    const caps = await runCmd(a, 0, cdb.prIn(2), { edtl: 8 });
    expect(caps.data.readUInt16BE(0)).toBe(8);
    expect(caps.data[3]! & 0x80).toBe(0x80); // TMV
    expect(caps.data.readUInt16BE(4)).toBe(0xea01);
    expect(caps.data[2]! & 0x01).toBe(0); // no state directory: no PTPL_C
    const bad = await runCmd(a, 0, cdb.prIn(4), { edtl: 8 });
    expect([bad.key, bad.asc]).toEqual([5, 0x24]);
    const short = await runCmd(a, 0, cdb.prOut(0, 0, 20), { dataOut: Buffer.alloc(20) });
    expect([short.key, short.asc]).toEqual([5, 0x1a]);
    // APTPL cannot be honoured without a state directory.
    const aptpl = await runCmd(a, 0, cdb.prOut(0), { dataOut: prParams(0n, 1n, 0x01) });
    expect([aptpl.key, aptpl.asc]).toEqual([5, 0x26]);
    // READ KEYS truncated by the allocation length keeps the full ADDITIONAL LENGTH.
    await runCmd(a, 0, cdb.prOut(0), { dataOut: prParams(0n, 5n) });
    const trunc = await runCmd(a, 0, cdb.prIn(0, 8), { edtl: 8 });
    expect(trunc.data.length).toBe(8);
    expect(trunc.data.readUInt32BE(4)).toBe(8);
  });

  it('SPC-2 RESERVE conflicts with other nexuses and with registrations', async () => {
    const c = await core();
    const a = c.session('iqn.2026-11.test:a', '800000000001');
    const b = c.session('iqn.2026-11.test:b', '800000000002');
    expect((await runCmd(a, 0, cdb.reserve6())).status).toBe(Status.GOOD);
    expect((await runCmd(a, 0, cdb.reserve6())).status).toBe(Status.GOOD);
    expect((await runCmd(b, 0, cdb.reserve6())).status).toBe(RC);
    expect((await runCmd(b, 0, cdb.modeSense6(0x3f), { edtl: 255 })).status).toBe(RC);
    expect((await runCmd(b, 0, cdb.release6())).status).toBe(Status.GOOD); // no effect
    expect((await runCmd(b, 0, cdb.prOut(0), { dataOut: prParams(0n, 1n) })).status).toBe(RC);
    expect((await runCmd(a, 0, cdb.release6())).status).toBe(Status.GOOD);
    expect((await runCmd(b, 0, cdb.prOut(0), { dataOut: prParams(0n, 1n) })).status).toBe(Status.GOOD);
    expect((await runCmd(a, 0, cdb.reserve6())).status).toBe(RC); // registrations exist
    // Losing the session loses the SPC-2 reservation.
    await runCmd(b, 0, cdb.prOut(0), { dataOut: prParams(1n, 0n) });
    expect((await runCmd(b, 0, cdb.reserve6())).status).toBe(Status.GOOD);
    c.scst.closeSession(b);
    expect((await runCmd(a, 0, cdb.reserve6())).status).toBe(Status.GOOD);
  });
});

describe('APTPL persistence', () => {
  it('writes the state atomically and a new core restores it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pr-'));
    dirs.push(dir);
    const c1 = await core(dir);
    const a = c1.session('iqn.2026-11.test:a', '800000000001');
    expect((await runCmd(a, 0, cdb.prOut(6), { dataOut: prParams(0n, 0xabcn, 0x01) })).status).toBe(Status.GOOD);
    expect((await runCmd(a, 0, cdb.prOut(1, 3), { dataOut: prParams(0xabcn, 0n) })).status).toBe(Status.GOOD);
    const text = await readFile(join(dir, 'pr', 'd0.json'), 'utf8');
    expect(JSON.parse(text)).toMatchObject({ aptpl: true, reservation: { type: 3, holder: 0 } });
    const c2 = await core(dir);
    const a2 = c2.session('iqn.2026-11.test:a', '800000000001');
    const rr = await runCmd(a2, 0, cdb.prIn(1), { edtl: 64 });
    expect(rr.data.readBigUInt64BE(8)).toBe(0xabcn);
    const caps = await runCmd(a2, 0, cdb.prIn(2), { edtl: 8 });
    expect(caps.data[3]! & 0x01).toBe(1); // PTPL_A
    // APTPL=0 in a later registration removes the saved state.
    expect((await runCmd(a2, 0, cdb.prOut(0), { dataOut: prParams(0xabcn, 0xabcn, 0) })).status).toBe(Status.GOOD);
    await expect(readFile(join(dir, 'pr', 'd0.json'))).rejects.toThrow();
  });

  it('a state that cannot be saved is in effect but reported (INSUFFICIENT REGISTRATION RESOURCES), the command completed once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pr-'));
    dirs.push(dir);
    const c = await core(dir);
    await writeFile(join(dir, 'pr'), 'not a directory');
    const a = c.session('iqn.2026-11.test:a', '800000000001');
    const r = await runCmd(a, 0, cdb.prOut(0), { dataOut: prParams(0n, 0x77n, 0x01) });
    expect([r.status, r.key, r.asc, r.ascq]).toEqual([Status.CHECK_CONDITION, 5, 0x55, 0x04]);
    expect(keysOf((await runCmd(a, 0, cdb.prIn(0), { edtl: 64 })).data)).toEqual([0x77n]);
    await new Promise((r) => setImmediate(r));
    expect(c.scst.commandCount).toBe(0);
  });

  it('a corrupt state file stops the device from being created, with the file named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pr-'));
    dirs.push(dir);
    await mkdir(join(dir, 'pr'));
    await writeFile(join(dir, 'pr', 'd0.json'), '{"version":1,"generation":"x"}');
    await expect(core(dir)).rejects.toThrow(/d0\.json: bad generation/);
  });

  it('deserialize never throws on hostile input', () => {
    const samples = ['', 'null', '[]', '{"version":1}', '{"version":1,"generation":1,"aptpl":true,"registrations":[{"key":"0"}],"reservation":null}', '{"version":1,"generation":1,"aptpl":true,"registrations":[],"reservation":{"type":3,"holder":0}}'];
    for (const t of samples) expect(() => deserialize(t)).not.toThrow();
    for (const t of samples) expect('error' in (deserialize(t) as object)).toBe(true);
    const ok = serialize('d0', { generation: 3, aptpl: true, registrations: [{ key: 5n, initiator: 'iqn.x', isid: '800000000001', relTgtId: 1, allTgPt: false }], reservation: { type: 1, holder: 0 } });
    expect(deserialize(ok)).toMatchObject({ generation: 3, reservation: { type: 1, holder: 0 } });
  });
});

describe('TransportID', () => {
  it('round-trips and rejects malformed ones', () => {
    const t = encodeTransportId({ initiator: 'iqn.2026-11.test:x', isid: '23d000000001' });
    expect(t.length % 4).toBe(0);
    expect(parseTransportId(t)).toMatchObject({ initiator: 'iqn.2026-11.test:x', isid: '23d000000001' });
    expect('error' in parseTransportId(Buffer.alloc(3))).toBe(true);
    const bad = Buffer.from(t);
    bad.writeUInt16BE(4000, 2);
    expect('error' in parseTransportId(bad)).toBe(true);
  });
});
