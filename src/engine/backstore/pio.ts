// The native file I/O path (native/pio): cached reads copied on the event loop without ever
// waiting for the disk (preadv2 RWF_NOWAIT), everything else run in batches, one libuv pool job
// per batch instead of one per operation. When the addon is missing the file backstore keeps
// using Node's fs (one pool job per operation), so the addon is an optimisation, never a need.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { getSystemErrorMap } from 'node:util';

/** The addon's exports, as native/pio/pio.c describes them. */
export interface NativeIo {
  /** Bytes read (possibly short), or -errno: -EAGAIN when not cached, -EOPNOTSUPP when unsupported. */
  readNowait(fd: number, buf: Buffer, off: number, len: number, pos: number): number;
  /**
   * Runs `count` operations described by `desc` (PIO_STRIDE numbers each: op, fd, off, len, pos,
   * result) in order in one pool job; `done` is called once the result slots are filled.
   */
  submit(desc: Float64Array, count: number, bufs: Array<Buffer | null>, done: () => void): void;
}

export type IoOpCallback = (err: NodeJS.ErrnoException | null, bytes: number) => void;

// Layout shared with pio.c; the binary states its own and is refused when they differ.
const PIO_ABI = 1;
export const PIO_STRIDE = 6;
export const PIO_READ = 0;
export const PIO_WRITE = 1;
export const PIO_FDATASYNC = 2;
export const PIO_SYNC_AFTER = 4;
const RESULT = 5;
/** Largest transfer Linux does in one call (pio.c refuses more). */
const MAX_LEN = 0x7ffff000;

const EAGAIN = 11;
const EINVAL = 22;
const ENOSYS = 38;
const EOPNOTSUPP = 95;

/** readNowait results meaning the file (system) cannot do non-blocking reads at all. */
export function nowaitUnsupported(r: number): boolean {
  return r === -EOPNOTSUPP || r === -EINVAL || r === -ENOSYS;
}

/** readNowait's answer when the data would have to come from the disk. */
export const NOWAIT_MISS = -EAGAIN;

const errnoNames = getSystemErrorMap();

/** The error Node's fs would have raised for `-errno` from `syscall`, with its code ('EIO', ...). */
export function errnoException(negErrno: number, syscall: string): NodeJS.ErrnoException {
  const known = errnoNames.get(negErrno);
  const code = known?.[0] ?? `E${-negErrno}`;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${known?.[1] ?? 'unknown error'}, ${syscall}`);
  err.errno = negErrno;
  err.code = code;
  err.syscall = syscall;
  return err;
}

type LoadResult = { io: NativeIo | null; why: 'loaded' | 'disabled' | 'missing' | 'failed'; error?: string };

function load(): LoadResult {
  if (process.env.SCSTD_NATIVE_IO === '0') return { io: null, why: 'disabled' };
  const require = createRequire(import.meta.url);
  // From src/engine/backstore (tests run the sources) and from dist/src/engine/backstore.
  const candidates = ['../../../native/pio/build/Release/pio.node', '../../../../native/pio/build/Release/pio.node'];
  let missing = true;
  let error: string | undefined;
  for (const rel of candidates) {
    let mod: unknown;
    try {
      mod = require(fileURLToPath(new URL(rel, import.meta.url)));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'MODULE_NOT_FOUND') {
        missing = false;
        error = e instanceof Error ? e.message : String(e);
      }
      continue;
    }
    const m = mod as Partial<NativeIo> & { abi?: unknown; stride?: unknown };
    if (typeof m.readNowait === 'function' && typeof m.submit === 'function' && m.abi === PIO_ABI && m.stride === PIO_STRIDE)
      return { io: m as NativeIo, why: 'loaded' };
    return { io: null, why: 'failed', error: 'pio.node has a different interface (rebuild it: npm run build:native)' };
  }
  return missing ? { io: null, why: 'missing' } : { io: null, why: 'failed', error };
}

const loaded = load();

/** The addon, or null when it is not built, does not load, or SCSTD_NATIVE_IO=0. */
export const nativeIo: NativeIo | null = loaded.io;

/** Why the addon failed to load, when it was there but could not be used. */
export const nativeIoLoadError: string | null = loaded.error ?? null;

/** One line for the daemon's start-up log: which file I/O path it runs. */
export const nativeIoDescription: string =
  loaded.why === 'loaded'
    ? 'native (preadv2 RWF_NOWAIT + batched pool jobs)'
    : loaded.why === 'disabled'
      ? 'libuv thread pool (SCSTD_NATIVE_IO=0)'
      : loaded.why === 'missing'
        ? 'libuv thread pool (addon not built)'
        : 'libuv thread pool (addon failed to load)';

/** One pool job's worth of operations; reused once it has come back. */
class Batch {
  readonly desc: Float64Array;
  readonly bufs: Array<Buffer | null>;
  readonly cbs: Array<IoOpCallback | null>;
  count = 0;
  /** The file whose plain writes this batch carries; null for the round-robin lanes. */
  file: FileWrites | null = null;
  /** Bound once: the per-batch completion allocates nothing. */
  readonly done: () => void;

  constructor(
    readonly capacity: number,
    private readonly owner: IoBatcher,
  ) {
    this.desc = new Float64Array(capacity * PIO_STRIDE);
    this.bufs = new Array<Buffer | null>(capacity).fill(null);
    this.cbs = new Array<IoOpCallback | null>(capacity).fill(null);
    this.done = () => this.owner.completed(this);
  }

  add(op: number, fd: number, buf: Buffer | null, off: number, len: number, pos: number, cb: IoOpCallback): void {
    const i = this.count++;
    const d = this.desc;
    const o = i * PIO_STRIDE;
    d[o] = op;
    d[o + 1] = fd;
    d[o + 2] = off;
    d[o + 3] = len;
    d[o + 4] = pos;
    d[o + RESULT] = 0;
    this.bufs[i] = buf;
    this.cbs[i] = cb;
  }
}

/** Operations of one kind share batches; the kinds differ in how long they may take. */
class Lane {
  /** Batches being filled during this run of the event loop; `spread` of them at most. */
  readonly open: Array<Batch | null>;
  next = 0;
  constructor(readonly spread: number) {
    this.open = new Array<Batch | null>(spread).fill(null);
  }
}

/**
 * The plain (buffered) writes of one file. Its writes serialize on the file's inode lock in the
 * kernel anyway (ext4 and xfs hold i_rwsem exclusively for a buffered write), so spreading them
 * over pool threads buys only context switches. Instead one job per file is out at a time and
 * the next gathers meanwhile (group commit): at queue depth 1 a write leaves at once, under load
 * the jobs grow and the hand-offs per write shrink (measured with the daemon on one CPU, 4 KiB
 * writes at QD32: a third of its time in context switches with writes spread round-robin).
 */
class FileWrites {
  open: Batch | null = null;
  inFlight = 0;
  /** Listed in IoBatcher.gathering (an open batch waiting for the end of the run). */
  listed = false;
  constructor(readonly fd: number) {}
}

export interface IoBatcherOptions {
  /** Operations per pool job at most. */
  maxOps?: number;
  /**
   * Pool jobs one run may split reads and syncs over (default 4, libuv's pool size). Reads reach
   * the batcher only when they missed the page cache and wait for the disk, syncs (fdatasync,
   * FUA writes, writes to a write-through file) always do, so they go round the jobs to keep the
   * pool's threads waiting in parallel. Plain writes go by file (FileWrites).
   */
  readSpread?: number;
  syncSpread?: number;
}

/**
 * Gathers the file operations issued during one synchronous run (typically every command parsed
 * from one socket read) and submits them from a microtask as a few pool jobs rather than one job
 * per operation. Any number of batches may be in flight; fdatasync and FUA writes travel in
 * batches of their own, so a slow flush never holds up a read or a plain write.
 */
export class IoBatcher {
  private readonly maxOps: number;
  private readonly reads: Lane;
  private readonly syncs: Lane;
  private readonly files = new Map<number, FileWrites>();
  /** Files with an open batch and no job out: submitted at the end of the run. */
  private gathering: FileWrites[] = [];
  private readonly free: Batch[] = [];
  private scheduled = false;
  private _inFlight = 0;
  private _queued = 0;
  private readonly flushFn = () => this.flush();

  constructor(
    private readonly io: NativeIo,
    opts: IoBatcherOptions = {},
  ) {
    this.maxOps = clampInt(opts.maxOps ?? 64, 1, 4096);
    this.reads = new Lane(clampInt(opts.readSpread ?? 4, 1, 64));
    this.syncs = new Lane(clampInt(opts.syncSpread ?? 4, 1, 64));
  }

  /** Reads len bytes (zero-filled past end of file); `bytes` is what the file really held. */
  read(fd: number, buf: Buffer, off: number, len: number, pos: number, cb: IoOpCallback): void {
    checkRange(buf, off, len, pos);
    this.enqueue(this.reads, PIO_READ, fd, buf, off, len, pos, cb);
  }

  /**
   * Writes all of len bytes; with `syncAfter` they are on stable storage before cb. `fdSyncs`:
   * the file was opened O_DSYNC, so every write waits for the disk like a sync does.
   */
  write(fd: number, buf: Buffer, off: number, len: number, pos: number, syncAfter: boolean, cb: IoOpCallback, fdSyncs = false): void {
    checkRange(buf, off, len, pos);
    if (syncAfter) this.enqueue(this.syncs, PIO_WRITE | PIO_SYNC_AFTER, fd, buf, off, len, pos, cb);
    else if (fdSyncs) this.enqueue(this.syncs, PIO_WRITE, fd, buf, off, len, pos, cb);
    else this.enqueueWrite(fd, buf, off, len, pos, cb);
  }

  fdatasync(fd: number, cb: IoOpCallback): void {
    this.enqueue(this.syncs, PIO_FDATASYNC, fd, null, 0, 0, 0, cb);
  }

  /** Pool jobs submitted and not yet returned. */
  get inFlight(): number {
    return this._inFlight;
  }

  /** Operations waiting for the end of the current run to be submitted. */
  get queued(): number {
    return this._queued;
  }

  private enqueue(lane: Lane, op: number, fd: number, buf: Buffer | null, off: number, len: number, pos: number, cb: IoOpCallback): void {
    checkFd(fd);
    const slot = lane.next;
    lane.next = slot + 1 === lane.spread ? 0 : slot + 1;
    let b = lane.open[slot];
    if (!b) b = lane.open[slot] = this.takeBatch();
    b.add(op, fd, buf, off, len, pos, cb);
    this._queued++;
    if (b.count === b.capacity) {
      lane.open[slot] = null;
      this.submit(b);
    }
    this.schedule();
  }

  private enqueueWrite(fd: number, buf: Buffer, off: number, len: number, pos: number, cb: IoOpCallback): void {
    checkFd(fd);
    let f = this.files.get(fd);
    if (!f) this.files.set(fd, (f = new FileWrites(fd)));
    let b = f.open;
    if (!b) {
      b = f.open = this.takeBatch();
      b.file = f;
    }
    b.add(PIO_WRITE, fd, buf, off, len, pos, cb);
    this._queued++;
    if (b.count === b.capacity) {
      // Full: out now even beside a job of the same file (the kernel orders them on its lock).
      f.open = null;
      this.submit(b);
    } else if (f.inFlight === 0 && !f.listed) {
      f.listed = true;
      this.gathering.push(f);
      this.schedule();
    }
  }

  private takeBatch(): Batch {
    return this.free.pop() ?? new Batch(this.maxOps, this);
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushFn);
    }
  }

  private flush(): void {
    this.scheduled = false;
    this.flushLane(this.reads);
    this.flushLane(this.syncs);
    const files = this.gathering;
    this.gathering = [];
    for (const f of files) {
      f.listed = false;
      // A job of this file went out meanwhile (its batch filled up): the rest waits for it.
      if (f.inFlight === 0 && f.open) this.submitFile(f);
    }
  }

  private flushLane(lane: Lane): void {
    for (let i = 0; i < lane.spread; i++) {
      const b = lane.open[i];
      if (!b) continue;
      lane.open[i] = null;
      this.submit(b);
    }
    lane.next = 0;
  }

  private submitFile(f: FileWrites): void {
    const b = f.open!;
    f.open = null;
    this.submit(b);
  }

  private submit(b: Batch): void {
    this._queued -= b.count;
    this._inFlight++;
    if (b.file) b.file.inFlight++;
    try {
      this.io.submit(b.desc, b.count, b.bufs, b.done);
    } catch (e) {
      // Arguments were checked when queued, so this is the addon refusing (out of memory...):
      // every operation still gets its one callback.
      const code = (e as NodeJS.ErrnoException).code === 'ENOMEM' ? 12 : 5;
      for (let i = 0; i < b.count; i++) b.desc[i * PIO_STRIDE + RESULT] = -code;
      queueMicrotask(b.done);
    }
  }

  /** Called by a batch when its pool job has returned: one callback per operation, in order. */
  completed(b: Batch): void {
    this._inFlight--;
    const n = b.count;
    const d = b.desc;
    let thrown: { e: unknown } | null = null;
    for (let i = 0; i < n; i++) {
      const cb = b.cbs[i]!;
      const o = i * PIO_STRIDE;
      const r = d[o + RESULT]!;
      b.cbs[i] = null;
      b.bufs[i] = null;
      // A throwing callback must not leave the others of its batch waiting forever.
      try {
        if (r < 0) cb(errnoException(r, syscallOf(d[o]!)), 0);
        else cb(null, r);
      } catch (e) {
        thrown ??= { e };
      }
    }
    b.count = 0;
    const f = b.file;
    b.file = null;
    this.free.push(b);
    if (f && --f.inFlight === 0) {
      // What gathered while the job was out leaves now; an idle file is forgotten (fds get reused).
      if (f.open) this.submitFile(f);
      else if (this.files.get(f.fd) === f) this.files.delete(f.fd);
    }
    if (thrown) throw thrown.e;
  }
}

function syscallOf(op: number): string {
  const kind = op & 3;
  return kind === PIO_READ ? 'read' : kind === PIO_WRITE ? 'write' : 'fdatasync';
}

function checkFd(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`bad file descriptor ${fd}`);
}

function checkRange(buf: Buffer, off: number, len: number, pos: number): void {
  if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || len > MAX_LEN || off + len > buf.length)
    throw new RangeError(`buffer range ${off}+${len} outside 0..${buf.length}`);
  if (!Number.isSafeInteger(pos + len) || pos < 0) throw new RangeError(`bad file position ${pos}`);
}

function clampInt(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.floor(v)));
}

/** Shared by every file backstore of the process, so one run's operations share pool jobs. */
export const sharedBatcher: IoBatcher | null = nativeIo ? new IoBatcher(nativeIo) : null;
