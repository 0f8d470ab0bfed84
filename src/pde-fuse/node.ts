// The management tree as plain objects: directories list their entries, files render their whole
// text from live state on every read and take one command per write, links name their target.
// Nothing here knows FUSE.

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** Modes as procfs gives them (procfs.md §1.1). */
export const MODE_DIR = 0o555;
export const MODE_RO = 0o444;
export const MODE_RW = 0o644;
/** Modes sysfs adds (sysfs.md §2.1). */
export const MODE_SYSFS_DIR = 0o755;
export const MODE_WO = 0o200;
export const MODE_SECRET = 0o600;

export interface PdeFile {
  readonly kind: 'file';
  /** Permission bits (0444, 0644, 0200, 0600). */
  readonly mode: number;
  /**
   * The file's whole current text. Must not block. A procfs file never throws; a kernfs file may
   * throw MgmtError, and read(2) then fails with its errno (sysfs.md §2.1, EAGAIN in §3). A
   * listing that can be long (one line per device or LUN) may come as a promise, rendered a
   * slice per event-loop turn so that I/O is served in between. A binary attribute (scst_local's
   * transport_id) gives its bytes as a Buffer.
   */
  read(): string | Buffer | Promise<string>;
  /**
   * One command: the bytes of one write(2). Throws MgmtError on a refused command, having changed
   * nothing. Absent for read-only files.
   */
  write?: (data: Buffer) => void | Promise<void>;
  /**
   * kernfs semantics (sysfs.md §2.1): opening without the needed mode bit fails with EACCES even
   * for root, a write is at most one page and never refused for its size, a zero-length write is
   * a no-op, stat reports 4096 bytes.
   */
  readonly kernfs?: boolean;
}

export interface PdeDir {
  readonly kind: 'dir';
  readonly mode: number;
  /** Current entries in listing order; computed on each call (groups come and go). */
  entries(): ReadonlyArray<readonly [string, PdeNode]>;
  /**
   * The entry called `name`, found without listing: a directory of one entry per device or LUN
   * answers from the engine's own index, so a path walk costs the same with 10 entries or 10,000.
   * Absent: the entry is searched in entries().
   */
  child?(name: string): PdeNode | undefined;
  /** How many entries are directories (nlink - 2), counted without listing; absent: from entries(). */
  subdirs?(): number;
  /** The names of entries(), without making their nodes (readdir of a large directory). */
  names?(): readonly string[];
}

export interface PdeLink {
  readonly kind: 'link';
  /** The link text (relative for sysfs, sysfs.md §2.5), computed on each call. */
  target(): string;
}

/**
 * A block-addressed file (a local session's LUN under dev/): its size is the LUN's capacity, and
 * reads and writes at any offset become commands of that session. Never rendered as text.
 */
export interface PdeBlock {
  readonly kind: 'block';
  readonly mode: number;
  /** Bytes. */
  size(): number;
  /** Up to `length` bytes at `offset` (fewer at the end), or a negated errno. */
  read(offset: number, length: number): Promise<Buffer | number>;
  /** Bytes written (all of `data`) or a negated errno. */
  write(offset: number, data: Buffer): Promise<number>;
  /** 0 or a negated errno. */
  fsync(): Promise<number>;
}

export type PdeNode = PdeFile | PdeDir | PdeLink | PdeBlock;

export function file(read: () => string | Promise<string>, write?: (data: Buffer) => void | Promise<void>): PdeFile {
  return write ? { kind: 'file', mode: MODE_RW, read, write } : { kind: 'file', mode: MODE_RO, read };
}

export function dir(entries: () => ReadonlyArray<readonly [string, PdeNode]>): PdeDir {
  return { kind: 'dir', mode: MODE_DIR, entries };
}

/** A directory with a fixed set of entries. */
export function staticDir(entries: ReadonlyArray<readonly [string, PdeNode]>): PdeDir {
  return dir(() => entries);
}

/** A sysfs attribute with an explicit mode (kernfs semantics). */
export function attr(mode: number, read: () => string | Buffer, write?: (data: Buffer) => void | Promise<void>): PdeFile {
  return write ? { kind: 'file', mode, read, write, kernfs: true } : { kind: 'file', mode, read, kernfs: true };
}

/** A sysfs directory (0755). */
export function kdir(entries: () => ReadonlyArray<readonly [string, PdeNode]>): PdeDir {
  return { kind: 'dir', mode: MODE_SYSFS_DIR, entries };
}

export function link(target: () => string): PdeLink {
  return { kind: 'link', target };
}
