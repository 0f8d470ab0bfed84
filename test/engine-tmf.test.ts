// Task management in the core (engine/tmf.ts), driven without any fabric: a recording transport
// stands for the target driver. What each function ends, tells the other nexuses and clears.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { ScsiCmd } from '../src/engine/cmd.js';
import type { Device } from '../src/engine/device.js';
import type { ScstSession } from '../src/engine/session.js';
import { registerIsid } from '../src/engine/scsi/nexus.js';
import { taskManagement, type TmRequest } from '../src/engine/tmf.js';
import { cdb, runCmd, unitCore, type UnitCore } from './helpers/scsi-unit.js';

interface Recorded {
  aborted: ScsiCmd[];
  deviceAborts: Array<Device | null>;
  closed: string[];
}

const log = pino({ level: 'silent' });
const tm = (s: ScstSession, req: TmRequest) => taskManagement(s, req, { log, boundMs: 1000 });

async function core(): Promise<UnitCore> {
  return unitCore([{ name: 'd0', handler: 'vdisk_nullio', params: [['size_mb', '1']] }]);
}

function session(u: UnitCore, name: string, isid: string): { s: ScstSession; rec: Recorded } {
  const rec: Recorded = { aborted: [], deviceAborts: [], closed: [] };
  const s = u.scst.createSession(u.target, name, {
    forceClose: (why) => void rec.closed.push(why),
    abortCommand: async (c) => void rec.aborted.push(c),
    abortDeviceTasks: async (d) => void rec.deviceAborts.push(d),
  });
  registerIsid(s, Buffer.from(isid, 'hex'));
  for (const td of s.tgtDevs.values()) td.clearUA();
  return { s, rec };
}

const ua = async (s: ScstSession) => {
  const r = await runCmd(s, 0, cdb.tur());
  return r.key === 6 ? [r.asc, r.ascq] : null;
};

describe('core task management', () => {
  it('refuses an unknown LUN and an ABORT TASK of no task of this session', async () => {
    const u = await core();
    const a = session(u, 'iqn.i:a', '800000000001');
    const b = session(u, 'iqn.i:b', '800000000002');
    for (const fn of ['ABORT TASK SET', 'CLEAR TASK SET', 'LOGICAL UNIT RESET', 'QUERY TASK SET'] as const) expect(await tm(a.s, { fn, lun: 7 })).toBe('INCORRECT LOGICAL UNIT NUMBER');
    expect(await tm(a.s, { fn: 'ABORT TASK', lun: 0, task: null })).toBe('TASK DOES NOT EXIST');
    const other = b.s.newCmd(5, 0, Buffer.from(cdb.tur()), 0);
    expect(await tm(a.s, { fn: 'ABORT TASK', lun: 0, task: other })).toBe('TASK DOES NOT EXIST');
    expect(a.rec.aborted).toEqual([]);
    expect(b.rec.aborted).toEqual([]);
  });

  it('ABORT TASK hands the one command to its transport; QUERY TASK / TASK SET see it until then', async () => {
    const u = await core();
    const a = session(u, 'iqn.i:a', '800000000001');
    const cmd = a.s.newCmd(9, 0, Buffer.from(cdb.tur()), 0);
    cmd.tgtDev = a.s.tgtDevs.get(0)!;
    expect(await tm(a.s, { fn: 'QUERY TASK', lun: 0, task: cmd })).toBe('FUNCTION SUCCEEDED');
    expect(await tm(a.s, { fn: 'QUERY TASK SET', lun: 0 })).toBe('FUNCTION SUCCEEDED');
    expect(await tm(a.s, { fn: 'ABORT TASK', lun: 0, task: cmd })).toBe('FUNCTION COMPLETE');
    expect(a.rec.aborted).toEqual([cmd]);
    expect(a.rec.deviceAborts).toEqual([]);
    cmd.aborted = true;
    expect(await tm(a.s, { fn: 'QUERY TASK', lun: 0, task: cmd })).toBe('FUNCTION COMPLETE');
    expect(await tm(a.s, { fn: 'QUERY TASK SET', lun: 0 })).toBe('FUNCTION COMPLETE');
  });

  it('ABORT TASK SET ends this nexus only; CLEAR TASK SET every nexus, the others told', async () => {
    const u = await core();
    const dev = u.devices.get('d0')!;
    const a = session(u, 'iqn.i:a', '800000000001');
    const b = session(u, 'iqn.i:b', '800000000002');
    expect(await tm(a.s, { fn: 'ABORT TASK SET', lun: 0 })).toBe('FUNCTION COMPLETE');
    expect([a.rec.deviceAborts, b.rec.deviceAborts]).toEqual([[dev], []]);
    expect([await ua(a.s), await ua(b.s)]).toEqual([null, null]);
    expect(await tm(a.s, { fn: 'CLEAR TASK SET', lun: 0 })).toBe('FUNCTION COMPLETE');
    expect([a.rec.deviceAborts.length, b.rec.deviceAborts]).toEqual([2, [dev]]);
    expect([await ua(a.s), await ua(b.s)]).toEqual([null, [0x2f, 0x00]]);
  });

  it('LOGICAL UNIT RESET clears the SPC-2 reservation and raises BUS DEVICE RESET on every nexus', async () => {
    const u = await core();
    const a = session(u, 'iqn.i:a', '800000000001');
    const b = session(u, 'iqn.i:b', '800000000002');
    expect((await runCmd(a.s, 0, cdb.reserve6())).status).toBe(0);
    expect((await runCmd(b.s, 0, cdb.read10(0, 1), { edtl: 512 })).status).toBe(0x18);
    expect(await tm(b.s, { fn: 'LOGICAL UNIT RESET', lun: 0 })).toBe('FUNCTION COMPLETE');
    expect([await ua(a.s), await ua(b.s)]).toEqual([[0x29, 0x03], [0x29, 0x03]]);
    expect((await runCmd(b.s, 0, cdb.read10(0, 1), { edtl: 512 })).status).toBe(0);
  });

  it('I_T NEXUS RESET ends the nexus tasks, releases what it held and tells only it', async () => {
    const u = await core();
    const a = session(u, 'iqn.i:a', '800000000001');
    const b = session(u, 'iqn.i:b', '800000000002');
    expect((await runCmd(a.s, 0, cdb.reserve6())).status).toBe(0);
    expect((await runCmd(b.s, 0, cdb.read10(0, 1), { edtl: 512 })).status).toBe(0x18);
    expect(await tm(a.s, { fn: 'I_T NEXUS RESET', lun: 0 })).toBe('FUNCTION COMPLETE');
    expect([a.rec.deviceAborts, b.rec.deviceAborts]).toEqual([[null], []]);
    expect([await ua(a.s), await ua(b.s)]).toEqual([[0x29, 0x07], null]);
    expect((await runCmd(b.s, 0, cdb.read10(0, 1), { edtl: 512 })).status).toBe(0);
  });

  it('TARGET COLD RESET answers first, then closes every session of the target', async () => {
    const u = await core();
    const a = session(u, 'iqn.i:a', '800000000001');
    const b = session(u, 'iqn.i:b', '800000000002');
    const r = await tm(a.s, { fn: 'TARGET COLD RESET', lun: 0 });
    expect(r).toBe('FUNCTION COMPLETE');
    expect([a.rec.closed, b.rec.closed]).toEqual([[], []]);
    await new Promise((res) => setImmediate(res));
    expect([a.rec.closed, b.rec.closed]).toEqual([['target cold reset'], ['target cold reset']]);
    expect([a.rec.deviceAborts, b.rec.deviceAborts]).toEqual([[null], [null]]);
    expect(await ua(a.s)).toEqual([0x29, 0x00]);
    expect(await tm(a.s, { fn: 'CLEAR ACA', lun: 0 })).toBe('NOT SUPPORTED');
  });
});
