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
   * result) in order in one pool job, or on `writer`'s thread when given; `done` is called once
   * the result slots are filled.
   */
  submit(desc: Float64Array, count: number, bufs: Array<Buffer | null>, done: () => void, writer?: NativeWriter): void;
  /**
   * A thread of its own for plain buffered writes (a batch given to it runs there, not in the
   * pool). Optional so that test doubles without one keep the pool path.
   */
  createWriter?(): NativeWriter;
}

/** An opaque handle from createWriter; its thread ends when the handle is collected. */
export type NativeWriter = object & { readonly __pioWriter?: never };

export type IoOpCallback = (err: NodeJS.ErrnoException | null, bytes: number) => void;

// Layout shared with pio.c; the binary states its own and is refused when they differ.
const PIO_ABI = 2;
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
    ? 'native (preadv2 RWF_NOWAIT + batched pool jobs + writer threads)'
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
  /** Runs this file's batches while it has writes out or gathering; null: the libuv pool does. */
  writer: WriterSlot | null = null;
  /** The file was closed while a job of it was out: forgotten once that returns. */
  forgotten = false;
  constructor(readonly fd: number) {}
}

/**
 * A writer thread and how many files with writes out or gathering it serves. A file's batches
 * always go to the same thread, one after the other, so they meet a thread that is already
 * running rather than waking an idle pool thread each time (see native/pio/pio.c).
 */
class WriterSlot {
  files = 0;
  constructor(readonly handle: NativeWriter) {}
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
  /**
   * Writer threads for plain writes at most (default 4, created as files need them): a file
   * starting to write takes the thread serving the fewest files, a new one while under the cap.
   * 0 sends plain writes through the pool.
   */
  writers?: number;
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
  private readonly writers: WriterSlot[] = [];
  private readonly maxWriters: number;
  /** Files with an open batch and no job out: submitted at the end of the run. */
  private readonly gathering: FileWrites[] = [];
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
    this.maxWriters = io.createWriter ? clampInt(opts.writers ?? 4, 0, 64) : 0;
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
    if (f.inFlight === 0 && !f.open) f.writer = this.takeWriter();
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

  /** The file is closed (its fd may be reused for another): forget it. Nothing of it may be out. */
  forget(fd: number): void {
    const f = this.files.get(fd);
    if (!f) return;
    if (f.inFlight === 0 && !f.open) this.files.delete(fd);
    else f.forgotten = true;
  }

  /** Writer threads started so far. */
  get writerThreads(): number {
    return this.writers.length;
  }

  private takeWriter(): WriterSlot | null {
    let best: WriterSlot | null = null;
    for (const w of this.writers) if (!best || w.files < best.files) best = w;
    if ((!best || best.files > 0) && this.writers.length < this.maxWriters) {
      try {
        best = new WriterSlot(this.io.createWriter!());
        this.writers.push(best);
      } catch {
        // No thread to be had (resource limits): the pool still runs these writes.
      }
    }
    if (best) best.files++;
    return best;
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
    // Submitting calls no JavaScript, so nothing joins the list while it is walked.
    const files = this.gathering;
    for (const f of files) {
      f.listed = false;
      // A job of this file went out meanwhile (its batch filled up): the rest waits for it.
      if (f.inFlight === 0 && f.open) this.submitFile(f);
    }
    files.length = 0;
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
      const w = b.file?.writer;
      if (w) this.io.submit(b.desc, b.count, b.bufs, b.done, w.handle);
      else this.io.submit(b.desc, b.count, b.bufs, b.done);
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
      // What gathered while the job was out leaves now; an idle file lets go of its writer (it
      // stays listed: deleting and re-adding it would make V8 shrink and regrow the map every time).
      if (f.open) this.submitFile(f);
      else {
        if (f.writer) f.writer.files--;
        f.writer = null;
        if (f.forgotten && this.files.get(f.fd) === f) this.files.delete(f.fd);
      }
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
export const sharedBatcher: IoBatcher | null = nativeIo ? new IoBatcher(nativeIo, { writers: writerThreadsFromEnv() }) : null;

/** SCSTD_PIO_WRITERS: writer threads at most (0: plain writes through the pool); default 4. */
function writerThreadsFromEnv(): number | undefined {
  const v = process.env.SCSTD_PIO_WRITERS;
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}
