import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { ZERO_CHUNK, type Backstore, type IoCallback } from '../backing-store.js';
import { punchHole } from './punch.js';
import { IoBatcher, NativeIo, nativeIo, nowaitUnsupported, sharedBatcher } from './pio.js';

/**
 * A regular file or block device accessed so that no I/O ever blocks the event loop: with the
 * native addon (pio.ts), reads of cached data are copied at once by a read that refuses to wait
 * for the disk, and the rest run batched in libuv's thread pool; without it, every operation is
 * its own fs call in that pool. Write-through devices are opened O_DSYNC; otherwise FUA writes
 * are followed by an fdatasync before they are acknowledged.
 */
export class FileBackstore implements Backstore {
  /** Short reads are completed, and what lies past the end of the file reads as zeroes. */
  readonly fillsReads = true;
  /** Punching holes needs the fallocate(1) helper; when it is missing, discards write zeroes. */
  private punchWorks = true;
  /** Batched native I/O; null: Node's fs, one pool job per operation. */
  private readonly batcher: IoBatcher | null;
  /** Cleared for good when the file system cannot do non-blocking reads. */
  private nowait: boolean;

  private constructor(
    private readonly fd: number,
    private _size: number,
    readonly path: string,
    private readonly writeThrough: boolean,
    private readonly isBlock: boolean,
    readonly physicalBlockSize: number,
    private readonly io: NativeIo | null,
  ) {
    this.batcher = io === null ? null : io === nativeIo && sharedBatcher ? sharedBatcher : new IoBatcher(io);
    this.nowait = io !== null;
  }

  /**
   * `nativeIo`: the I/O addon to use, null for Node's fs; the process-wide one (pio.ts) when
   * absent.
   */
  static async open(
    path: string,
    opts: { readOnly: boolean; writeThrough: boolean; createSize?: number; nativeIo?: NativeIo | null },
  ): Promise<FileBackstore> {
    let flags = opts.readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR;
    if (opts.writeThrough && !opts.readOnly) flags |= fs.constants.O_DSYNC;
    if (opts.createSize !== undefined && !opts.readOnly) flags |= fs.constants.O_CREAT;
    // A raw fd, not a FileHandle: fs.read/fs.write on a number avoid a promise per call, and a
    // FileHandle dropped after taking its fd would be closed by the garbage collector.
    const fd = await new Promise<number>((res, rej) => fs.open(path, flags, 0o600, (e, f) => (e ? rej(e) : res(f))));
    const fstat = () => new Promise<fs.Stats>((res, rej) => fs.fstat(fd, (e, st) => (e ? rej(e) : res(st))));
    const closeFd = () => new Promise<void>((res) => fs.close(fd, () => res()));
    try {
      const st = await fstat();
      let size = st.size;
      const isBlock = st.isBlockDevice();
      if (isBlock) size = await blockDeviceSize(st.rdev);
      else if (!st.isFile()) throw Object.assign(new Error(`${path}: not a regular file or block device`), { code: 'EINVAL' });
      if (!isBlock && opts.createSize !== undefined && size === 0 && opts.createSize > 0) {
        await new Promise<void>((res, rej) => fs.ftruncate(fd, opts.createSize, (e) => (e ? rej(e) : res()))); // sparse
        size = opts.createSize;
      }
      const phys = isBlock ? await blockDevicePhysicalBlock(st.rdev) : st.blksize;
      const io = opts.nativeIo === undefined ? nativeIo : opts.nativeIo;
      return new FileBackstore(fd, size, path, opts.writeThrough, isBlock, phys > 0 ? phys : 512, io);
    } catch (e) {
      await closeFd();
      throw e;
    }
  }

  get size(): number {
    return this._size;
  }

  /** With the addon, `cb` may run before read() returns: the data was in the page cache. */
  read(buf: Buffer, off: number, len: number, pos: number, cb: IoCallback): void {
    const done = this.hold(cb);
    if (!this.batcher) return this.readAt(buf, off, len, pos, done);
    if (this.nowait && len > 0) {
      const n = this.io!.readNowait(this.fd, buf, off, len, pos);
      if (n === len) return done(null);
      if (n === 0) {
        buf.fill(0, off, off + len); // end of file: a file that shrank reads as zeroes
        return done(null);
      }
      if (n > 0) {
        off += n;
        len -= n;
        pos += n;
      } else if (nowaitUnsupported(n)) this.nowait = false;
      // Anything else (not cached, or an error the blocking read will report) goes to the pool.
    }
    this.batcher.read(this.fd, buf, off, len, pos, done);
  }

  private readAt(buf: Buffer, off: number, len: number, pos: number, cb: IoCallback): void {
    fs.read(this.fd, buf, off, len, pos, (err, n) => {
      if (err) return cb(err);
      // A short read past the end of a file that shrank underneath us reads as zeroes.
      if (n < len) {
        if (n === 0) buf.fill(0, off, off + len);
        else return this.readAt(buf, off + n, len - n, pos + n, cb);
      }
      cb(null);
    });
  }

  write(buf: Buffer, off: number, len: number, pos: number, fua: boolean, cb: IoCallback): void {
    const done = this.hold(cb);
    if (this.batcher) this.batcher.write(this.fd, buf, off, len, pos, fua && !this.writeThrough, done, this.writeThrough);
    else this.writeAt(buf, off, len, pos, fua, done);
  }

  private writeAt(buf: Buffer, off: number, len: number, pos: number, fua: boolean, cb: IoCallback): void {
    fs.write(this.fd, buf, off, len, pos, (err, n) => {
      if (err) return cb(err);
      if (n < len) return this.writeAt(buf, off + n, len - n, pos + n, fua, cb);
      if (fua && !this.writeThrough) fs.fdatasync(this.fd, cb);
      else cb(null);
    });
  }

  flush(cb: IoCallback): void {
    const done = this.hold(cb);
    if (this.batcher) this.batcher.fdatasync(this.fd, done);
    else fs.fdatasync(this.fd, done);
  }

  /**
   * Deallocate a range. A regular file gets a hole punched (by fallocate(1): Node has no
   * fallocate) for ranges worth a process start; the whole file is emptied with ftruncate.
   * Small ranges, block devices, and files where punching fails read back as zeroes by writing
   * zeroes, which is what the LBPRZ bit promises either way.
   */
  discard(pos: number, len: number, cb: IoCallback): void {
    this.discardAt(pos, len, this.hold(cb));
  }

  private discardAt(pos: number, len: number, cb: IoCallback): void {
    const end = Math.min(pos + len, this._size);
    if (end <= pos) return cb(null);
    if (!this.isBlock && pos === 0 && end === this._size) {
      fs.ftruncate(this.fd, 0, (e) => {
        if (e) return cb(e);
        fs.ftruncate(this.fd, this._size, cb);
      });
      return;
    }
    if (!this.isBlock && this.punchWorks && end - pos >= PUNCH_MIN_BYTES) {
      punchHole(`/proc/${process.pid}/fd/${this.fd}`, pos, end - pos, (err) => {
        if (!err) return cb(null);
        this.punchWorks = false;
        this.zero(pos, end - pos, cb);
      });
      return;
    }
    this.zero(pos, end - pos, cb);
  }

  private zero(pos: number, len: number, cb: IoCallback): void {
    if (len <= 0) return cb(null);
    const n = Math.min(len, ZERO_CHUNK.length);
    this.write(ZERO_CHUNK, 0, n, pos, false, (e) => (e ? cb(e) : this.zero(pos + n, len - n, cb)));
  }

  /**
   * Allocation map of a range. Node cannot ask for SEEK_DATA/SEEK_HOLE, so a file whose blocks
   * are all released is recognised from fstat, and otherwise the range is read and zeroed
   * stretches count as deallocated (they read back exactly as a hole would). Scans at most
   * MAP_SCAN_BYTES per call, in MAP_CHUNK reads.
   */
  mapStatus(pos: number, len: number, cb: (err: NodeJS.ErrnoException | null, runs: Array<[number, boolean]>) => void, maxRuns = Infinity): void {
    this.mapStatusAt(pos, len, this.hold(cb), maxRuns);
  }

  private mapStatusAt(pos: number, len: number, cb: (err: NodeJS.ErrnoException | null, runs: Array<[number, boolean]>) => void, maxRuns = Infinity): void {
    const total = Math.max(0, Math.min(len, this._size - pos));
    if (total === 0) return cb(null, []);
    fs.fstat(this.fd, (e, st) => {
      if (e) return cb(e, []);
      if (!this.isBlock && st.blocks === 0) return cb(null, [[total, false]]);
      const limit = Math.min(total, MAP_SCAN_BYTES);
      const buf = Buffer.allocUnsafe(Math.min(MAP_CHUNK, limit));
      const runs: Array<[number, boolean]> = [];
      const add = (n: number, mapped: boolean) => {
        const last = runs[runs.length - 1];
        if (last && last[1] === mapped) last[0] += n;
        else runs.push([n, mapped]);
      };
      const step = (done: number): void => {
        // Enough runs for the caller: the last one may be incomplete, so it is left out.
        if (runs.length > maxRuns) return cb(null, runs.slice(0, maxRuns));
        if (done >= limit) return cb(null, runs);
        const n = Math.min(buf.length, limit - done);
        this.read(buf, 0, n, pos + done, (err) => {
          if (err) return cb(err, runs);
          if (buf.compare(ZERO_CHUNK, 0, n, 0, n) === 0) add(n, false);
          else
            for (let o = 0; o < n; o += MAP_UNIT) {
              const u = Math.min(MAP_UNIT, n - o);
              add(u, buf.compare(ZERO_CHUNK, 0, u, o, o + u) !== 0);
            }
          step(done + n);
        });
      };
      step(0);
    });
  }

  async resync(): Promise<number> {
    const st = await new Promise<fs.Stats>((res, rej) => fs.fstat(this.fd, (e, s) => (e ? rej(e) : res(s))));
    this._size = this.isBlock ? await blockDeviceSize(st.rdev) : st.size;
    return this._size;
  }

  /** Operations handed to libuv (directly or in a batch) and not yet returned. */
  private busy = 0;
  private closeRequested = false;
  private closed = false;

  /** Count an operation until it returns, so the fd is never closed (and reused) under it. */
  private hold<T extends unknown[]>(cb: (...a: T) => void): (...a: T) => void {
    this.busy++;
    opsInFlight++;
    return (...a: T) => {
      this.busy--;
      opsInFlight--;
      if (this.closeRequested && this.busy === 0) this.closeNow();
      cb(...a);
    };
  }

  private closeNow(): void {
    if (this.closed) return;
    this.closed = true;
    this.batcher?.forget(this.fd);
    fs.close(this.fd, () => {});
  }

  /**
   * Close the backing file. Teardown must finish within its bound even if an operation is stuck
   * in the kernel, so this returns at once; the fd itself is closed when the last operation
   * handed to libuv has returned (closing it earlier could let a new open reuse the number
   * under that operation).
   */
  close(): Promise<void> {
    this.closeRequested = true;
    if (this.busy === 0) this.closeNow();
    return Promise.resolve();
  }
}

/** File operations of every backstore not yet returned (cached reads return before this is read). */
let opsInFlight = 0;

/**
 * True while file I/O is out in the thread pool. The event loop's busy polling backs off then:
 * the pool's completion wakes the loop anyway, and a spinning loop would take the CPU from the
 * very threads doing the I/O.
 */
export function fileIoInFlight(): boolean {
  return opsInFlight > 0;
}

/** How many file operations are out (the daemon's exit names those it leaves behind). */
export function fileIoOpsInFlight(): number {
  return opsInFlight;
}

/** Ranges below this are zeroed in place rather than paying for a helper process. */
const PUNCH_MIN_BYTES = 1024 * 1024;
const MAP_CHUNK = 1024 * 1024;
/** Scanned per call at most: the answer then simply covers less (GET LBA STATUS allows it). */
const MAP_SCAN_BYTES = 16 * 1024 * 1024;
/** Granularity of the allocation map: the smallest logical block. */
const MAP_UNIT = 512;

async function blockDevicePhysicalBlock(rdev: number): Promise<number> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & 0xfff00) >>> 0);
  try {
    return Number((await fsp.readFile(`/sys/dev/block/${major}:${minor}/queue/physical_block_size`, 'utf8')).trim()) || 512;
  } catch {
    return 512; // partitions have no queue/ of their own
  }
}

/** Node has no BLKGETSIZE64; sysfs gives the size in 512-byte sectors. */
async function blockDeviceSize(rdev: number): Promise<number> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & 0xfff00) >>> 0);
  const text = await fsp.readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
  return Number(text.trim()) * 512;
}
