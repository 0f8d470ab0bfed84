// vdisk_rbd without a cluster: parameter checks, how an open failure is reported, and the core's
// use of a store that does WRITE SAME and COMPARE AND WRITE itself, over an in-memory stand-in
// registered as the 'rbd' kind (test/it-rbd.test.ts runs the real one against Ceph).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerBackstore, type Backstore, type IoCallback, type RbdStoreOptions } from '../src/engine/backing-store.js';
import { RbdBackstore } from '../src/engine/backstore/rbd.js';
import { createDevice } from '../src/engine/handlers.js';
import { MgmtError } from '../src/engine/errors.js';
import { runCmd, unitCore } from './helpers/scsi-unit.js';

const SIZE = 8 * 1024 * 1024;

/** An image in memory that counts which store operations the core used. */
class MemImage implements Backstore {
  readonly fillsReads = true;
  readonly physicalBlockSize = 4096;
  data = Buffer.alloc(SIZE);
  used: string[] = [];
  /** Fail every operation with this code (a cluster that stopped answering). */
  failWith: string | null = null;
  /** compareAndWrite answers ENOTSUP (a range the store cannot do atomically). */
  cawUnsupported = false;
  get size() {
    return SIZE;
  }
  private done(cb: IoCallback, f: () => void) {
    setImmediate(() => {
      if (this.failWith) return cb(Object.assign(new Error(this.failWith), { code: this.failWith }));
      f();
      cb(null);
    });
  }
  read(buf: Buffer, off: number, len: number, pos: number, cb: IoCallback) {
    this.used.push('read');
    this.done(cb, () => this.data.copy(buf, off, pos, pos + len));
  }
  write(buf: Buffer, off: number, len: number, pos: number, _fua: boolean, cb: IoCallback) {
    this.used.push('write');
    this.done(cb, () => buf.copy(this.data, pos, off, off + len));
  }
  flush(cb: IoCallback) {
    this.used.push('flush');
    this.done(cb, () => undefined);
  }
  discard(pos: number, len: number, cb: IoCallback) {
    this.used.push('discard');
    this.done(cb, () => this.data.fill(0, pos, pos + len));
  }
  writeSame(pos: number, len: number, block: Buffer, cb: IoCallback) {
    this.used.push('writeSame');
    this.done(cb, () => {
      for (let p = pos; p < pos + len; p += block.length) block.copy(this.data, p);
    });
  }
  compareAndWrite(cmp: Buffer, cmpOff: number, buf: Buffer, off: number, len: number, pos: number, cb: (e: NodeJS.ErrnoException | null, at: number) => void) {
    this.used.push('compareAndWrite');
    setImmediate(() => {
      if (this.failWith) return cb(Object.assign(new Error(this.failWith), { code: this.failWith }), -1);
      if (this.cawUnsupported) return cb(Object.assign(new Error('across objects'), { code: 'ENOTSUP' }), -1);
      for (let i = 0; i < len; i++) if (this.data[pos + i] !== cmp[cmpOff + i]) return cb(null, i);
      buf.copy(this.data, pos, off, off + len);
      cb(null, -1);
    });
  }
  async resync() {
    return SIZE;
  }
  async close() {}
}

let image: MemImage;
let openError: (NodeJS.ErrnoException & { stage?: string }) | null = null;
let opened: RbdStoreOptions | null = null;

beforeAll(() => {
  registerBackstore('rbd', async (o) => {
    opened = o;
    if (openError) throw openError;
    return image;
  });
});
afterAll(() => registerBackstore('rbd', (o) => RbdBackstore.open(o)));

const ctx = { setupId: 0n, usnInUse: () => false };
const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as MgmtError);

describe('vdisk_rbd add_device parameters', () => {
  it('needs pool and image, absolute conf/keyring paths and a plain client id', async () => {
    image = new MemImage();
    expect((await refusal(createDevice('vdisk_rbd', 'r1', [['image', 'x']], ctx)))?.message).toMatch(/pool required/);
    expect((await refusal(createDevice('vdisk_rbd', 'r1', [['pool', 'rbd']], ctx)))?.message).toMatch(/image required/);
    expect((await refusal(createDevice('vdisk_rbd', 'r1', [['pool', 'rbd'], ['image', 'a/b']], ctx)))?.message).toMatch(/not an image name/);
    expect((await refusal(createDevice('vdisk_rbd', 'r1', [['pool', 'rbd'], ['image', 'x'], ['conf', 'ceph.conf']], ctx)))?.message).toMatch(/conf 'ceph.conf' is not an absolute path/);
    expect((await refusal(createDevice('vdisk_rbd', 'r1', [['pool', 'rbd'], ['image', 'x'], ['id', 'client admin']], ctx)))?.message).toMatch(/not a client id/);
    expect((await refusal(createDevice('vdisk_rbd', 'r1', [['pool', 'rbd'], ['image', 'x'], ['filename', '/x']], ctx)))?.errno).toBe('EINVAL');
    const dev = await createDevice('vdisk_rbd', 'r1', [['pool', 'rbd'], ['image', 'x'], ['conf', '/etc/ceph/ceph.conf'], ['id', 'gw1'], ['read_only', '1']], ctx);
    expect(opened).toEqual({ pool: 'rbd', image: 'x', conf: '/etc/ceph/ceph.conf', id: 'gw1', readOnly: true });
    expect(dev.thinProvisioned).toBe(true);
    expect(dev.t10VendId).toBe('SCST_RBD');
    expect(dev.size).toBe(SIZE);
  });

  it('an open failure keeps its errno and names the cause', async () => {
    const cases: Array<[string, string, string, RegExp]> = [
      ['ETIMEDOUT', 'connect', 'ETIMEDOUT', /cluster unreachable/],
      ['EACCES', 'connect', 'EACCES', /refused the credentials/],
      ['ENOENT', 'image', 'ENOENT', /no such image/],
      ['ENOENT', 'pool', 'ENOENT', /no such pool/],
      ['ENOSYS', 'load', 'ENOSYS', /unavailable|ENOSYS/],
      ['ECONNRESET', 'connect', 'EIO', /cannot connect/],
    ];
    try {
      for (const [code, stage, errno, text] of cases) {
        openError = Object.assign(new Error(`${stage}: ${code}`), { code, stage });
        const e = await refusal(createDevice('vdisk_rbd', 'r2', [['pool', 'rbd'], ['image', 'x']], ctx));
        expect(e?.errno, code).toBe(errno);
        expect(e?.message).toMatch(/vdisk_rbd: device r2: cannot open image rbd\/x: /);
        expect(e?.message).toMatch(text);
      }
    } finally {
      openError = null;
    }
  });
});

describe('the core over a store with its own WRITE SAME and COMPARE AND WRITE', () => {
  it('WRITE SAME goes to writeSame, COMPARE AND WRITE to compareAndWrite (miscompare offset in the sense)', async () => {
    image = new MemImage();
    const core = await unitCore([{ name: 'r', handler: 'vdisk_rbd', params: [['pool', 'rbd'], ['image', 'x']] }]);
    const s = core.session();
    const ws = [0x93, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 32, 0, 0];
    let r = await runCmd(s, 0, ws, { dataOut: Buffer.alloc(512, 0x42) });
    expect(r.status).toBe(0);
    expect(image.used).toContain('writeSame');
    expect(image.used).not.toContain('write');
    expect(image.data.subarray(16 * 512, 48 * 512).every((b) => b === 0x42)).toBe(true);

    const caw = [0x89, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0];
    const verify = Buffer.alloc(512, 0x42);
    verify[77] = 0;
    r = await runCmd(s, 0, caw, { dataOut: Buffer.concat([verify, Buffer.alloc(512, 0x24)]) });
    expect([r.status, r.key, r.asc]).toEqual([2, 0x0e, 0x1d]);
    expect(r.sense!.readUInt32BE(3)).toBe(77);
    expect(image.data[16 * 512]).toBe(0x42);
    r = await runCmd(s, 0, caw, { dataOut: Buffer.concat([Buffer.alloc(512, 0x42), Buffer.alloc(512, 0x24)]) });
    expect(r.status).toBe(0);
    expect(image.data.subarray(16 * 512, 17 * 512).every((b) => b === 0x24)).toBe(true);
    expect(image.used.filter((u) => u === 'compareAndWrite')).toHaveLength(2);
    expect(image.used).not.toContain('read');

    // A range the store cannot do atomically: the core's own read-compare-write under its lock.
    image.cawUnsupported = true;
    r = await runCmd(s, 0, caw, { dataOut: Buffer.concat([Buffer.alloc(512, 0x24), Buffer.alloc(512, 0x25)]) });
    expect(r.status).toBe(0);
    expect(image.used).toContain('read');
    expect(image.data[16 * 512]).toBe(0x25);
  });

  it('a store that stopped answering: NOT READY, ASYMMETRIC ACCESS STATE TRANSITION (retryable), not MEDIUM ERROR', async () => {
    image = new MemImage();
    const core = await unitCore([{ name: 'r', handler: 'vdisk_rbd', params: [['pool', 'rbd'], ['image', 'x']] }]);
    const s = core.session();
    image.failWith = 'ETIMEDOUT';
    for (const cdb of [
      [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0],
      [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0],
      [0x89, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0],
    ]) {
      const out = cdb[0] === 0x2a ? Buffer.alloc(512) : cdb[0] === 0x89 ? Buffer.alloc(1024) : undefined;
      const r = await runCmd(s, 0, cdb, out ? { dataOut: out } : {});
      expect([r.status, r.key, r.asc, r.ascq], `opcode ${cdb[0]}`).toEqual([2, 0x02, 0x04, 0x0a]);
    }
    image.failWith = 'EIO';
    const r = await runCmd(s, 0, [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    expect([r.key, r.asc]).toEqual([0x03, 0x11]);
  });
});
