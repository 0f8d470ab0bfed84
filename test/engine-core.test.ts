import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { SgvPool } from '../src/engine/sgv.js';
import { initiatorMatches } from '../src/engine/target.js';
import { Scst } from '../src/engine/scst.js';
import { CmdTable, ScsiCmd } from '../src/engine/cmd.js';
import { parseCmd, execCmd } from '../src/engine/scsi/exec.js';
import { Status } from '../src/engine/scsi/constants.js';

const log = pino({ level: 'silent' });

describe('SGV buffer pool', () => {
  it('reuses released buffers by size class and balances', () => {
    const p = new SgvPool();
    const a = p.alloc(512);
    expect(a.buf.length).toBe(4096);
    p.release(a);
    const b = p.alloc(4000);
    expect(b.buf).toBe(a.buf); // a hit
    expect(p.snapshot().orders[0]!.hits).toBe(1);
    const big = p.alloc(8 * 1024 * 1024);
    expect(big.order).toBe(-1);
    p.release(b);
    p.release(big);
    expect(p.outstanding).toBe(0);
    expect(() => p.release(b)).toThrow(/twice/);
  });
  it('respects the high watermark', () => {
    const p = new SgvPool(8192);
    const bufs = [p.alloc(4096), p.alloc(4096), p.alloc(4096)];
    bufs.forEach((b) => p.release(b));
    expect(p.snapshot().cachedPages).toBe(2);
    expect(p.hiWatermarkReleases).toBe(1);
  });
});

describe('initiator patterns', () => {
  it('matches wildcards case-insensitively with ! negation', () => {
    expect(initiatorMatches('iqn.1993-08.org.debian:*', 'IQN.1993-08.org.debian:01:abc')).toBe(true);
    expect(initiatorMatches('iqn.?', 'iqn.x')).toBe(true);
    expect(initiatorMatches('iqn.?', 'iqn.xy')).toBe(false);
    expect(initiatorMatches('!iqn.*', 'eui.1234')).toBe(true);
    expect(initiatorMatches('!iqn.*', 'iqn.1234')).toBe(false);
  });
});

async function setup() {
  const scst = new Scst(log);
  const dev = await scst.addDevice('vdisk_nullio', 'n0', [['size_mb', '1']]);
  const t = scst.addTarget('iqn.test:t');
  t.defaultLuns.add(dev, 0, false);
  const s = scst.createSession(t, 'iqn.test:i', { forceClose() {}, abortCommand: async () => {}, abortDeviceTasks: async () => {} });
  return { scst, dev, t, s };
}

function run(s: Awaited<ReturnType<typeof setup>>['s'], cdb: number[], edtl: number) {
  const c = Buffer.alloc(16);
  Buffer.from(cdb).copy(c);
  const cmd = s.newCmd(1, 0, c, edtl);
  let done = false;
  cmd.onComplete(() => (done = true));
  if (parseCmd(cmd)) execCmd(cmd);
  return { cmd, done: () => done };
}

describe('command lifecycle', () => {
  it('reports POWER ON first, then executes; leaves no command or buffer behind', async () => {
    const { scst, s } = await setup();
    const r1 = run(s, [0x00], 0); // TEST UNIT READY
    expect(r1.cmd.status).toBe(Status.CHECK_CONDITION);
    expect(r1.cmd.sense![12]).toBe(0x29);
    r1.cmd.put();
    const r2 = run(s, [0x25], 8); // READ CAPACITY(10)
    expect(r2.done()).toBe(true);
    expect(r2.cmd.status).toBe(Status.GOOD);
    expect(r2.cmd.buf.readUInt32BE(0)).toBe(2047);
    expect(r2.cmd.buf.readUInt32BE(4)).toBe(512);
    r2.cmd.put();
    expect(s.cmds.size).toBe(0);
    expect(scst.pool.outstanding).toBe(0);
    expect(ScsiCmd.live).toBe(0);
  });
  it('rejects an LBA out of range and an unknown opcode with the right sense', async () => {
    const { s } = await setup();
    run(s, [0x00], 0).cmd.put();
    const r = run(s, [0x28, 0, 0, 0, 0x08, 0, 0, 0, 1, 0], 512); // READ(10) LBA 2048
    expect(r.cmd.sense![2]).toBe(0x05);
    expect(r.cmd.sense![12]).toBe(0x21);
    r.cmd.put();
    const u = run(s, [0xfc], 0);
    expect(u.cmd.sense![12]).toBe(0x20);
    u.cmd.put();
    expect(s.cmds.size).toBe(0);
  });
  it('completes exactly once', async () => {
    const { s } = await setup();
    let n = 0;
    const cmd = s.newCmd(7, 0, Buffer.alloc(16), 0);
    cmd.onComplete(() => n++);
    cmd.complete(Status.GOOD);
    cmd.complete(Status.CHECK_CONDITION);
    expect(n).toBe(1);
    expect(cmd.status).toBe(Status.GOOD);
    cmd.put();
    expect(() => cmd.put()).toThrow(/after free/);
  });
});

describe('CmdTable', () => {
  it('adds and removes in any order; listings are snapshots that survive removal while iterating', () => {
    const t = new CmdTable();
    const fake = (n: number) => ({ id: n, tablePrev: null, tableNext: null, inTable: false }) as unknown as ScsiCmd;
    const cs = [1, 2, 3, 4, 5].map(fake);
    for (const c of cs) t.add(c);
    t.add(cs[0]!); // twice: still once
    expect(t.size).toBe(5);
    expect(t.delete(cs[2]!)).toBe(true);
    expect(t.delete(cs[2]!)).toBe(false);
    expect(t.delete(cs[4]!)).toBe(true); // the head
    expect(t.delete(cs[0]!)).toBe(true); // the tail
    expect(t.values().map((c) => c.id)).toEqual([4, 2]);
    for (const c of t.values()) t.delete(c);
    expect(t.size).toBe(0);
    expect(t.values()).toEqual([]);
    expect(t.has(cs[1]!)).toBe(false);
  });
});

describe('session sysfs names', () => {
  it('a second session of an initiator is NAME_1, and a freed name is taken again first', () => {
    const t = new Scst(pino({ level: 'silent' })).addTarget('iqn.test:names');
    expect([t.takeSessionName('a'), t.takeSessionName('a'), t.takeSessionName('a'), t.takeSessionName('a_1')]).toEqual(['a', 'a_1', 'a_2', 'a_1_1']);
    t.releaseSessionName('a', 'a_1');
    expect(t.takeSessionName('a')).toBe('a_1');
    t.releaseSessionName('a', 'a');
    expect(t.takeSessionName('a')).toBe('a');
    expect(t.takeSessionName('a')).toBe('a_3');
    for (const n of ['a', 'a_1', 'a_2', 'a_3']) t.releaseSessionName('a', n);
    expect(t.takeSessionName('a')).toBe('a');
  });
});

describe('SGV purge', () => {
  it('lets go of cached buffers no allocation needed since the last purge, and keeps those in use', () => {
    const pool = new SgvPool();
    const burst = Array.from({ length: 8 }, () => pool.alloc(4096));
    for (const b of burst) pool.release(b);
    expect(pool.snapshot().cachedPages).toBe(8);
    expect(pool.purgeIdle()).toBe(0); // the first purge only marks what is there
    // A steady load of two buffers at a time keeps two cached; the other six go.
    for (let i = 0; i < 5; i++) {
      const a = [pool.alloc(4096), pool.alloc(4096)];
      for (const b of a) pool.release(b);
    }
    expect(pool.purgeIdle()).toBe(6 * 4096);
    expect(pool.snapshot().cachedPages).toBe(2);
    expect(pool.purgeIdle()).toBe(2 * 4096); // then idle: nothing stays
    expect(pool.snapshot().cachedPages).toBe(0);
  });
});
