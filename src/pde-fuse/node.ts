// The management tree as plain objects: directories list their entries, files render their whole
// text from live state on every read and take one command per write. Nothing here knows FUSE.

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;

/** Modes as procfs gives them (procfs.md §1.1). */
export const MODE_DIR = 0o555;
export const MODE_RO = 0o444;
export const MODE_RW = 0o644;

export interface PdeFile {
  readonly kind: 'file';
  /** Permission bits (0444 or 0644). */
  readonly mode: number;
  /** The file's whole current text. Must not block and must not throw. */
  read(): string;
  /**
   * One command: the bytes of one write(2), at most 3584 of them. Throws MgmtError on a refused
   * command, having changed nothing. Absent for read-only files.
   */
  write?: (data: Buffer) => void | Promise<void>;
}

export interface PdeDir {
  readonly kind: 'dir';
  readonly mode: number;
  /** Current entries in listing order; computed on each call (groups come and go). */
  entries(): ReadonlyArray<readonly [string, PdeNode]>;
}

export type PdeNode = PdeFile | PdeDir;

export function file(read: () => string, write?: (data: Buffer) => void | Promise<void>): PdeFile {
  return write ? { kind: 'file', mode: MODE_RW, read, write } : { kind: 'file', mode: MODE_RO, read };
}

export function dir(entries: () => ReadonlyArray<readonly [string, PdeNode]>): PdeDir {
  return { kind: 'dir', mode: MODE_DIR, entries };
}

/** A directory with a fixed set of entries. */
export function staticDir(entries: ReadonlyArray<readonly [string, PdeNode]>): PdeDir {
  return dir(() => entries);
}
