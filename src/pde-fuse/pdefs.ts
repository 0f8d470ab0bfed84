import type { Logger } from 'pino';
import { MgmtError, type Errno } from '../engine/errors.js';
import { MAX_COMMAND_BYTES } from './procfs/cmdline.js';
import { S_IFDIR, S_IFLNK, S_IFREG, type PdeBlock, type PdeDir, type PdeFile, type PdeNode } from './node.js';
import { DEFAULT_SLOW_OP_MS, MgmtOpTimes } from './optimes.js';

// File-system semantics of a management tree, independent of FUSE: lookup, attributes, open
// handles with a per-handle snapshot, and writes as commands (procfs.md §1.2-§1.4; kernfs files
// and links as sysfs.md §2.1 and §13 describe them). Results are numbers the FUSE adapter passes
// on: >= 0 success, < 0 a negated Linux errno.

export const ERRNO: Record<Errno, number> = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSYS: 38,
  EBADSLT: 57,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ETIMEDOUT: 110,
  EMEDIUMTYPE: 124,
};
export const ENOENT = ERRNO.ENOENT;
export const EISDIR = 21;
export const ENOTDIR = 20;
export const EINVAL = ERRNO.EINVAL;

/** kernfs: a write is handed over in pieces of at most one page; stat shows this size. */
export const KERNFS_PAGE = 4096;
const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;

export interface PdeStat {
  mode: number;
  nlink: number;
  size: number;
  uid: number;
  gid: number;
  atime: Date;
  mtime: Date;
  ctime: Date;
}

interface BlockHandle {
  path: string;
  block: PdeBlock;
}

interface Handle {
  path: string;
  node: PdeFile;
  /** The text served to reads past offset 0 (a read at offset 0 renders afresh). */
  snapshot: Buffer | null;
  /** A rendering in progress (an asynchronous listing). */
  rendering: Promise<Buffer | number> | null;
}

/** A write that waits longer than this for the ones before it is refused with EBUSY. */
const WRITE_QUEUE_WAIT_MS = 90_000;

export class PdeFs {
  private readonly handles = new Map<number, Handle>();
  /** Open block files (dev/): their I/O bypasses the command queue. */
  private readonly blocks = new Map<number, BlockHandle>();
  private nextFh = 1;
  /** Writes run one at a time, in arrival order, like SCST's global mutex. */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly created = new Date();
  private readonly mtimes = new Map<string, Date>();

  /** How long commands take: slow ones are logged, the longest is kept. */
  readonly opTimes: MgmtOpTimes;
  /** FUSE requests served, by operation (metrics). */
  readonly fuseRequests = new Map<string, number>();

  constructor(
    readonly root: PdeDir,
    private readonly log: Logger,
    slowOpMs = DEFAULT_SLOW_OP_MS,
  ) {
    this.opTimes = new MgmtOpTimes(slowOpMs, log);
  }

  lookup(path: string): PdeNode | null {
    let node: PdeNode = this.root;
    for (const part of path.split('/')) {
      if (part === '') continue;
      if (node.kind !== 'dir') return null;
      const next: PdeNode | undefined = node.child ? node.child(part) : node.entries().find(([n]) => n === part)?.[1];
      if (!next) return null;
      node = next;
    }
    return node;
  }

  getattr(path: string): PdeStat | number {
    const node = this.lookup(path);
    if (!node) return -ENOENT;
    const mtime = this.mtimes.get(path) ?? this.created;
    const base = { size: 0, uid: 0, gid: 0, atime: mtime, mtime, ctime: this.created };
    if (node.kind === 'dir') {
      const subdirs = node.subdirs ? node.subdirs() : node.entries().filter(([, n]) => n.kind === 'dir').length;
      return { ...base, mode: S_IFDIR | node.mode, nlink: 2 + subdirs };
    }
    if (node.kind === 'link') return { ...base, mode: S_IFLNK | 0o777, nlink: 1, size: Buffer.byteLength(node.target()) };
    if (node.kind === 'block') return { ...base, mode: S_IFREG | node.mode, nlink: 1, size: node.size() };
    return { ...base, mode: S_IFREG | node.mode, nlink: 1, size: node.kernfs ? KERNFS_PAGE : 0 };
  }

  readlink(path: string): string | number {
    const node = this.lookup(path);
    if (!node) return -ENOENT;
    if (node.kind !== 'link') return -EINVAL;
    return node.target();
  }

  readdir(path: string): string[] | number {
    const node = this.lookup(path);
    if (!node) return -ENOENT;
    if (node.kind !== 'dir') return -ENOTDIR;
    return node.names ? [...node.names()] : node.entries().map(([n]) => n);
  }

  /** `flags` as open(2) got them; kernfs files check their mode bits here, even for root. */
  open(path: string, flags = 0): number {
    const node = this.lookup(path);
    if (!node) return -ENOENT;
    if (node.kind === 'dir') return -EISDIR;
    if (node.kind === 'link') return -EINVAL;
    if (node.kind === 'block') {
      const fh = this.takeFh();
      this.blocks.set(fh, { path, block: node });
      return fh;
    }
    if (node.kernfs) {
      const acc = flags & O_ACCMODE;
      const wantsWrite = acc === O_WRONLY || acc === O_RDWR;
      const wantsRead = acc !== O_WRONLY;
      if ((wantsWrite && !(node.mode & 0o200)) || (wantsRead && !(node.mode & 0o400))) return -ERRNO.EACCES;
    }
    const fh = this.takeFh();
    this.handles.set(fh, { path, node, snapshot: null, rendering: null });
    return fh;
  }

  private takeFh(): number {
    let fh = this.nextFh;
    // A wrapped counter must not hand out a handle still open.
    for (let i = 0; i < 0x10000 && (this.handles.has(fh) || this.blocks.has(fh)); i++) fh = fh >= 0x7fffffff ? 1 : fh + 1;
    this.nextFh = fh >= 0x7fffffff ? 1 : fh + 1;
    return fh;
  }

  release(fh: number): void {
    this.handles.delete(fh);
    this.blocks.delete(fh);
  }

  /** The open block file of `fh`, if it is one. */
  block(fh: number): PdeBlock | null {
    return this.blocks.get(fh)?.block ?? null;
  }

  /** fsync(2) of a handle: a block file flushes its LUN's cache; a tree file has nothing to flush. */
  fsync(fh: number): Promise<number> {
    const b = this.blocks.get(fh);
    return b ? b.block.fsync() : Promise.resolve(0);
  }

  /** The text, or a negated errno when a kernfs file refuses to produce it (EAGAIN). */
  private render(h: { path: string; node: PdeFile }): Buffer | number | Promise<Buffer | number> {
    const failed = (e: unknown): number | Buffer => {
      if (e instanceof MgmtError) return -ERRNO[e.errno];
      this.log.error({ err: e, path: h.path }, `${h.path}: rendering failed`);
      return h.node.kernfs ? -ERRNO.EIO : Buffer.alloc(0);
    };
    try {
      const text = h.node.read();
      if (typeof text === 'string') return Buffer.from(text, 'utf8');
      if (Buffer.isBuffer(text)) return text;
      return text.then((t) => Buffer.from(t, 'utf8'), failed);
    } catch (e) {
      return failed(e);
    }
  }

  /**
   * Bytes of the file at `offset`: offset 0 takes a fresh snapshot, later offsets slice it. A
   * failed rendering leaves no snapshot, so the next read tries again. A long listing may render
   * asynchronously; reads of one handle then wait for that one rendering.
   */
  read(fh: number, length: number, offset: number): Buffer | number | Promise<Buffer | number> {
    const b = this.blocks.get(fh);
    if (b) return b.block.read(offset, length);
    const h = this.handles.get(fh);
    if (!h) return -ERRNO.EIO;
    const slice = (snapshot: Buffer): Buffer => (offset >= snapshot.length ? Buffer.alloc(0) : snapshot.subarray(offset, Math.min(snapshot.length, offset + length)));
    const take = (r: Buffer | number): Buffer | number => {
      h.rendering = null;
      if (typeof r === 'number') {
        h.snapshot = null;
        return r;
      }
      h.snapshot = r;
      return slice(r);
    };
    if (h.rendering) return h.rendering.then(() => (h.snapshot ? slice(h.snapshot) : this.read(fh, length, offset)));
    if (offset === 0 || h.snapshot === null) {
      const r = this.render(h);
      if (r instanceof Promise) return (h.rendering = r.then(take));
      return take(r);
    }
    return slice(h.snapshot);
  }

  /** One command; resolves with the byte count on success or a negated errno. */
  write(fh: number, data: Buffer, offset = 0): Promise<number> {
    const b = this.blocks.get(fh);
    if (b) return b.block.write(offset, data);
    const h = this.handles.get(fh);
    if (!h) return Promise.resolve(-ERRNO.EIO);
    return this.command(h.path, h.node, Buffer.from(data));
  }

  /** open + write + release in one call (tests, tools). */
  async writePath(path: string, data: Buffer | string): Promise<number> {
    const node = this.lookup(path);
    if (!node) return -ENOENT;
    if (node.kind === 'dir') return -EISDIR;
    if (node.kind === 'link' || node.kind === 'block') return -EINVAL;
    if (node.kernfs && !(node.mode & 0o200)) return -ERRNO.EACCES;
    return this.command(path, node, Buffer.isBuffer(data) ? Buffer.from(data) : Buffer.from(data, 'utf8'));
  }

  /** The whole current text of a file (tests, tools); a promise for a long listing. */
  readPath(path: string): string | number | Promise<string | number> {
    const node = this.lookup(path);
    if (!node) return -ENOENT;
    if (node.kind === 'dir') return -EISDIR;
    if (node.kind === 'link' || node.kind === 'block') return -EINVAL;
    if (node.kernfs && !(node.mode & 0o400)) return -ERRNO.EACCES;
    const text = (r: Buffer | number): string | number => (typeof r === 'number' ? r : r.toString('utf8'));
    const r = this.render({ path, node });
    return r instanceof Promise ? r.then(text) : text(r);
  }

  private command(path: string, node: PdeFile, data: Buffer): Promise<number> {
    const shown = data.toString('utf8', 0, Math.min(data.length, 200)).replace(/\0.*$/s, '').trimEnd();
    const fail = (errno: Errno, msg: string): number => {
      this.log.warn({ path, command: shown, errno }, `${path}: ${msg}`);
      return -ERRNO[errno];
    };
    // Writing to a read-only file (root bypasses the mode bits): what 3.x procfs does.
    if (!node.write) return Promise.resolve(fail(node.kernfs ? 'EACCES' : 'EIO', 'file has no write handler'));
    if (node.kernfs) {
      // kernfs hands a store routine at most one page per call and takes nothing for nothing.
      if (data.length === 0) return Promise.resolve(0);
      if (data.length > KERNFS_PAGE) data = data.subarray(0, KERNFS_PAGE);
    } else if (data.length > MAX_COMMAND_BYTES) return Promise.resolve(fail('EOVERFLOW', `command of ${data.length} bytes exceeds ${MAX_COMMAND_BYTES}`));
    const write = node.write;
    const enqueued = Date.now();
    const run = async (): Promise<number> => {
      if (Date.now() - enqueued > WRITE_QUEUE_WAIT_MS) return fail('EBUSY', 'timed out waiting for earlier commands');
      const started = performance.now();
      try {
        await write(data);
      } catch (e) {
        if (e instanceof MgmtError) return fail(e.errno, e.message);
        this.log.error({ err: e, path, command: shown }, `${path}: internal error`);
        return -ERRNO.EIO;
      } finally {
        this.opTimes.record(path, shown, performance.now() - started);
      }
      this.mtimes.set(path, new Date());
      return data.length;
    };
    const p = this.tail.then(run, run);
    this.tail = p;
    return p;
  }
}
