// vdisk_rbd's backing store: a Ceph RBD image through librbd's asynchronous API (native/rbd).
// Every data operation is one rbd_aio_* call issued on the event loop; librbd runs it on its own
// threads and the addon hands finished operations back in batches (one wake-up of the loop for
// all that finished meanwhile). Open, close, size and the allocation map block inside librbd and
// run as pool jobs.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Backstore, IoCallback, RbdStoreOptions } from '../backing-store.js';
import { errnoException } from './pio.js';

/** The addon's exports, as native/rbd/rbd.c describes them. */
interface NativeRbd {
  open(
    o: { conf?: string; id?: string; keyring?: string; pool: string; image: string; readOnly: boolean; connectTimeout: number; opTimeout: number },
    onDone: (done: Float64Array) => void,
    cb: (err: (NodeJS.ErrnoException & { stage?: string }) | null, handle?: RbdHandle, size?: number, objectSize?: number) => void,
  ): void;
  read(h: RbdHandle, id: number, buf: Buffer, off: number, len: number, pos: number): number;
  write(h: RbdHandle, id: number, buf: Buffer, off: number, len: number, pos: number, fua: boolean): number;
  discard(h: RbdHandle, id: number, pos: number, len: number): number;
  writesame(h: RbdHandle, id: number, pos: number, len: number, buf: Buffer, off: number, blockLen: number): number;
  compareAndWrite(h: RbdHandle, id: number, cmp: Buffer, cmpOff: number, buf: Buffer, off: number, len: number, pos: number): number;
  flush(h: RbdHandle, id: number): number;
  size(h: RbdHandle, cb: (err: NodeJS.ErrnoException | null, size?: number) => void): void;
  allocation(h: RbdHandle, pos: number, len: number, maxRuns: number, cb: (err: NodeJS.ErrnoException | null, runs?: Float64Array, truncated?: boolean) => void): void;
  close(h: RbdHandle, cb: (err: NodeJS.ErrnoException | null) => void): void;
  stride: number;
  abi: number;
}

type RbdHandle = object & { readonly __rbd?: never };

const RBD_ABI = 1;
const RBD_STRIDE = 3;
/** librbd's answer to a COMPARE AND WRITE whose data differs. */
const EILSEQ = 84;
const EINVAL = 22;

/** Seconds a connect (and any monitor request) may take before the open fails (ETIMEDOUT). */
export const RBD_CONNECT_TIMEOUT_S = 10;
/**
 * Seconds an I/O may wait for an OSD before librados fails it (ETIMEDOUT): a cluster that stops
 * answering fails commands with retryable sense within this, instead of holding sessions.
 */
export const RBD_OP_TIMEOUT_S = 20;
/** How long close waits for operations still out and for librbd to let go of the image. */
const CLOSE_WAIT_MS = 15_000;
/** Largest read or write handed to librbd in one call (the addon takes size_t, keep it sane). */
const MAX_LEN = 0x40000000;
/** Upper bound on the runs one allocation query collects. */
const MAP_MAX_RUNS = 4096;
/** Upper bound on the RADOS objects one allocation query looks at. */
const MAP_MAX_OBJECTS = 256;

let loaded: { rbd: NativeRbd | null; why: string } | null = null;

/** The addon, loaded on first use (librbd and librados are large: only RBD users pay for them). */
function native(): { rbd: NativeRbd | null; why: string } {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const candidates = ['../../../native/rbd/build/Release/rbd.node', '../../../../native/rbd/build/Release/rbd.node'];
  let why = 'the librbd binding is not built (install librbd-dev, then npm run build:rbd)';
  for (const rel of candidates) {
    let mod: unknown;
    try {
      mod = require(fileURLToPath(new URL(rel, import.meta.url)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') why = `the librbd binding does not load: ${(e as Error).message}`;
      continue;
    }
    const m = mod as Partial<NativeRbd>;
    if (m.abi === RBD_ABI && m.stride === RBD_STRIDE && typeof m.open === 'function') return (loaded = { rbd: m as NativeRbd, why: 'loaded' });
    why = 'the librbd binding has a different interface (rebuild it: npm run build:rbd)';
  }
  return (loaded = { rbd: null, why });
}

/** Whether vdisk_rbd can open images here, and if not, why (for the start-up log). */
export function rbdAvailability(): string {
  const n = native();
  return n.rbd ? 'librbd' : `unavailable: ${n.why}`;
}

type Pending = {
  cb: (err: NodeJS.ErrnoException | null, mismatch: number) => void;
  /** Buffers librbd reads from or writes into: referenced here until the operation is back. */
  bufs: Buffer[] | null;
  syscall: string;
};

export class RbdBackstore implements Backstore {
  /** librbd fills the whole range (zeroes where nothing was written). */
  readonly fillsReads = true;
  /**
   * What initiators should align to: 4 KiB, the unit librbd and the OSDs handle without
   * read-modify-write (a RADOS object, 4 MiB by default, would be far beyond what READ
   * CAPACITY's exponent is meant for).
   */
  readonly physicalBlockSize = 4096;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing: Promise<void> | null = null;
  private drained: (() => void) | null = null;

  private constructor(
    private readonly rbd: NativeRbd,
    private handle: RbdHandle | null,
    private _size: number,
    /** RADOS object size: allocation (GET LBA STATUS) is known per object. */
    readonly objectSize: number,
    readonly name: string,
  ) {}

  static open(o: RbdStoreOptions): Promise<RbdBackstore> {
    const { rbd, why } = native();
    if (!rbd) return Promise.reject(Object.assign(new Error(`RBD is unavailable: ${why}`), { code: 'ENOSYS', stage: 'load' }));
    return new Promise((resolve, reject) => {
      let store: RbdBackstore | null = null;
      rbd.open(
        { conf: o.conf, id: o.id, keyring: o.keyring, pool: o.pool, image: o.image, readOnly: o.readOnly, connectTimeout: RBD_CONNECT_TIMEOUT_S, opTimeout: RBD_OP_TIMEOUT_S },
        (done) => store?.finished(done),
        (err, handle, size, objectSize) => {
          if (err || !handle) return reject(err ?? new Error('open failed'));
          store = new RbdBackstore(rbd, handle, size ?? 0, objectSize ?? 4 << 20, `${o.pool}/${o.image}`);
          resolve(store);
        },
      );
    });
  }

  get size(): number {
    return this._size;
  }

  /** Finished operations from the addon: [id, result, mismatch] each. */
  private finished(done: Float64Array): void {
    for (let i = 0; i + RBD_STRIDE <= done.length; i += RBD_STRIDE) {
      const id = done[i]!;
      const p = this.pending.get(id);
      if (!p) continue;
      this.pending.delete(id);
      const r = done[i + 1]!;
      p.cb(r < 0 ? errnoException(r, p.syscall) : null, done[i + 2]!);
    }
    if (this.pending.size === 0 && this.drained) this.drained();
  }

  /** Issue one operation; a refusal is reported through cb on a later tick (never re-entrantly). */
  private issue(syscall: string, bufs: Buffer[] | null, cb: Pending['cb'], call: (h: RbdHandle, id: number) => number): void {
    if (!this.handle || this.closing) return void process.nextTick(cb, errnoException(-108 /* ESHUTDOWN */, syscall), 0);
    const id = this.nextId++;
    if (this.nextId > Number.MAX_SAFE_INTEGER) this.nextId = 1;
    this.pending.set(id, { cb, bufs, syscall });
    let r: number;
    try {
      r = call(this.handle, id);
    } catch (e) {
      this.pending.delete(id);
      return void process.nextTick(cb, Object.assign(e as Error, { code: 'EINVAL' }), 0);
    }
    if (r < 0) {
      this.pending.delete(id);
      process.nextTick(cb, errnoException(r, syscall), 0);
    }
  }

  read(buf: Buffer, off: number, len: number, pos: number, cb: IoCallback): void {
    if (len === 0) return void process.nextTick(cb, null);
    if (len > MAX_LEN) return this.split(off, len, pos, cb, (o, l, p, c) => this.read(buf, o, l, p, c));
    this.issue('rbd_aio_read', [buf], (e) => cb(e), (h, id) => this.rbd.read(h, id, buf, off, len, pos));
  }

  write(buf: Buffer, off: number, len: number, pos: number, fua: boolean, cb: IoCallback): void {
    if (len === 0) return fua ? this.flush(cb) : void process.nextTick(cb, null);
    if (len > MAX_LEN) return this.split(off, len, pos, cb, (o, l, p, c) => this.write(buf, o, l, p, fua, c));
    // FUA goes to librbd as the FUA op flag, and the write is followed by a flush so that it is
    // stable whatever the client cache settings (rbd_cache) say.
    this.issue('rbd_aio_write', [buf], (e) => (e || !fua ? cb(e) : this.flush(cb)), (h, id) => this.rbd.write(h, id, buf, off, len, pos, fua));
  }

  private split(off: number, len: number, pos: number, cb: IoCallback, op: (o: number, l: number, p: number, c: IoCallback) => void): void {
    const step = (done: number): void => {
      if (done >= len) return cb(null);
      const n = Math.min(MAX_LEN, len - done);
      op(off + done, n, pos + done, (e) => (e ? cb(e) : step(done + n)));
    };
    step(0);
  }

  flush(cb: IoCallback): void {
    this.issue('rbd_aio_flush', null, (e) => cb(e), (h, id) => this.rbd.flush(h, id));
  }

  discard(pos: number, len: number, cb: IoCallback): void {
    const end = Math.min(pos + len, this._size);
    if (end <= pos) return void process.nextTick(cb, null);
    this.issue('rbd_aio_discard', null, (e) => cb(e), (h, id) => this.rbd.discard(h, id, pos, end - pos));
  }

  writeSame(pos: number, len: number, block: Buffer, cb: IoCallback): void {
    if (len === 0) return void process.nextTick(cb, null);
    this.issue('rbd_aio_writesame', [block], (e) => cb(e), (h, id) => this.rbd.writesame(h, id, pos, len, block, 0, block.length));
  }

  /**
   * librbd's compare-and-write: atomic in the cluster (the OSD compares and writes in one
   * transaction), so it holds across gateways. librbd does it only within one RADOS object:
   * a range crossing an object boundary is ENOTSUP, and the core then uses its own lock.
   */
  compareAndWrite(cmp: Buffer, cmpOff: number, buf: Buffer, off: number, len: number, pos: number, cb: (err: NodeJS.ErrnoException | null, miscompare: number) => void): void {
    if (Math.floor(pos / this.objectSize) !== Math.floor((pos + len - 1) / this.objectSize))
      return void process.nextTick(cb, Object.assign(new Error('COMPARE AND WRITE across an RBD object boundary'), { code: 'ENOTSUP' }), -1);
    this.issue(
      'rbd_aio_compare_and_write',
      [cmp, buf],
      (e, mismatch) => {
        if (e && e.errno === -EILSEQ) {
          // librbd reports the image offset of the first differing byte.
          const at = mismatch >= pos && mismatch < pos + len ? mismatch - pos : mismatch < len ? mismatch : 0;
          return cb(null, at);
        }
        if (e && e.errno === -EINVAL) return cb(Object.assign(e, { code: 'ENOTSUP' }), -1);
        cb(e, -1);
      },
      (h, id) => this.rbd.compareAndWrite(h, id, cmp, cmpOff, buf, off, len, pos),
    );
  }

  mapStatus(pos: number, len: number, cb: (err: NodeJS.ErrnoException | null, runs: Array<[number, boolean]>) => void, maxRuns = Infinity): void {
    // Without fast-diff librbd asks the OSDs about every object in the range, in one pool job:
    // a query covers at most MAP_MAX_OBJECTS objects (GET LBA STATUS may describe less than asked).
    const total = Math.max(0, Math.min(len, this._size - pos, MAP_MAX_OBJECTS * this.objectSize - (pos % this.objectSize)));
    if (total === 0 || !this.handle || this.closing) return void process.nextTick(cb, null, total === 0 ? [] : [[total, true]]);
    const want = Math.max(1, Math.min(MAP_MAX_RUNS, Number.isFinite(maxRuns) ? Math.ceil(maxRuns / 2) + 1 : MAP_MAX_RUNS));
    this.rbd.allocation(this.handle, pos, total, want, (err, arr, truncated) => {
      if (err || !arr) return cb(err, []);
      // [offset, length] of allocated extents, in order: fill the gaps in as deallocated.
      const runs: Array<[number, boolean]> = [];
      const add = (n: number, mapped: boolean) => {
        if (n <= 0) return;
        const last = runs[runs.length - 1];
        if (last && last[1] === mapped) last[0] += n;
        else runs.push([n, mapped]);
      };
      let at = pos;
      for (let i = 0; i + 1 < arr.length; i += 2) {
        const o = Math.max(arr[i]!, pos);
        const e = Math.min(arr[i]! + arr[i + 1]!, pos + total);
        if (e <= o) continue;
        add(o - at, false);
        add(e - o, true);
        at = e;
      }
      // A truncated answer covers only what it saw: the rest is left for the next query.
      if (!truncated) add(pos + total - at, false);
      if (runs.length === 0) runs.push([total, false]);
      cb(null, Number.isFinite(maxRuns) && runs.length > maxRuns ? runs.slice(0, maxRuns) : runs);
    });
  }

  resync(): Promise<number> {
    const h = this.handle;
    if (!h || this.closing) return Promise.reject(Object.assign(new Error(`${this.name}: closed`), { code: 'ESHUTDOWN' }));
    return new Promise((resolve, reject) =>
      this.rbd.size(h, (err, size) => {
        if (err || size === undefined) return reject(err ?? new Error('size failed'));
        this._size = size;
        resolve(size);
      }),
    );
  }

  /**
   * Close the image: new operations are refused at once; those still out are waited for, then
   * librbd lets go of the image (releasing its exclusive lock). Bounded: after CLOSE_WAIT_MS this
   * resolves anyway and librbd finishes in the background (every librbd wait is itself bounded
   * by the op timeouts set at open).
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const h = this.handle;
    this.closing = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      timer.unref?.();
      const closeNative = () => {
        this.drained = null;
        if (!h) return resolve();
        this.rbd.close(h, () => {
          clearTimeout(timer);
          resolve();
        });
      };
      if (this.pending.size === 0) closeNative();
      else this.drained = closeNative;
    });
    return this.closing;
  }
}
