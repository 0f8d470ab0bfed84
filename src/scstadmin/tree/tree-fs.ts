// The only door scstadmin has to a management tree: directory listings, stat, symlinks, one
// read and one write(2) per access, the way the original's SCST::SCST module touches sysfs
// (scstadmin.md §3). Real trees (a FUSE mount, the kernel's /sys) and the in-memory tree of the
// unit tests both implement this interface, so every operation can be tested without a mount.

import fs from 'node:fs/promises';
import { constants } from 'node:fs';

export interface TreeStat {
  isDirectory: boolean;
  isFile: boolean;
  isSymbolicLink: boolean;
  /** Permission bits (mode & 0o7777). */
  mode: number;
}

/** A file held open for repeated reads at offset 0 (the last_sysfs_mgmt_res poll, §3.2). */
export interface TreeReader {
  /** One read(2) of up to `max` bytes at offset 0; a new read regenerates the content. */
  read(max: number): Promise<string>;
  close(): Promise<void>;
}

export interface TreeFs {
  /** Entry names in directory order, without `.` and `..`. */
  readdir(path: string): Promise<string[]>;
  /** Follows symbolic links, like Perl's `-d` and `stat`. */
  stat(path: string): Promise<TreeStat>;
  lstat(path: string): Promise<TreeStat>;
  readlink(path: string): Promise<string>;
  /** The file's content from offset 0 (reads until EOF, at most `max` bytes). */
  read(path: string, max?: number): Promise<string>;
  /** open(O_WRONLY) without O_TRUNC/O_CREAT, a single write(2), close: one command. */
  write(path: string, data: string): Promise<number>;
  openReader(path: string): Promise<TreeReader>;
}

/** An errno-carrying failure, as node:fs reports them (`code` is `ENOENT`, `EAGAIN`, ...). */
export class TreeError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** For writes: whether open(2) or write(2) failed (the original reports them differently). */
    readonly phase: 'open' | 'write' = 'write',
  ) {
    super(message);
    this.name = 'TreeError';
  }
}

/** Did a failed write fail already at open(2)? */
export function failedAtOpen(e: unknown): boolean {
  return !!e && typeof e === 'object' && (e as { phase?: unknown }).phase === 'open';
}

/** The errno name of a failed tree access, `EIO` when it carries none. */
export function errnoName(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return 'EIO';
}

/** Largest content scstadmin accepts from one tree file; sysfs files are at most a page. */
export const MAX_READ_BYTES = 1 << 20;

function toStat(s: { isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean; mode: number }): TreeStat {
  return { isDirectory: s.isDirectory(), isFile: s.isFile(), isSymbolicLink: s.isSymbolicLink(), mode: s.mode & 0o7777 };
}

/** A tree on the real file system (FUSE mount or /sys). */
export class NodeTreeFs implements TreeFs {
  async readdir(path: string): Promise<string[]> {
    return fs.readdir(path);
  }

  async stat(path: string): Promise<TreeStat> {
    return toStat(await fs.stat(path));
  }

  async lstat(path: string): Promise<TreeStat> {
    return toStat(await fs.lstat(path));
  }

  async readlink(path: string): Promise<string> {
    return fs.readlink(path);
  }

  async read(path: string, max = MAX_READ_BYTES): Promise<string> {
    const fh = await fs.open(path, constants.O_RDONLY);
    try {
      return await readAll(fh, max);
    } finally {
      await fh.close();
    }
  }

  async write(path: string, data: string): Promise<number> {
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(path, constants.O_WRONLY);
    } catch (e) {
      throw new TreeError(errnoName(e), (e as Error).message, 'open');
    }
    try {
      const buf = Buffer.from(data, 'utf8');
      const { bytesWritten } = await fh.write(buf, 0, buf.length, null);
      return bytesWritten;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  async openReader(path: string): Promise<TreeReader> {
    const fh = await fs.open(path, constants.O_RDONLY);
    return {
      read: async (max: number) => {
        const buf = Buffer.alloc(max);
        const { bytesRead } = await fh.read(buf, 0, max, 0);
        return buf.toString('utf8', 0, bytesRead);
      },
      close: () => fh.close(),
    };
  }
}

async function readAll(fh: fs.FileHandle, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  // Each pass reads at a larger offset; a tree file ends within a page, so the loop ends at EOF
  // or at `max`, whichever comes first.
  while (total < max) {
    const buf = Buffer.alloc(Math.min(65536, max - total));
    const { bytesRead } = await fh.read(buf, 0, buf.length, total);
    if (bytesRead === 0) break;
    chunks.push(buf.subarray(0, bytesRead));
    total += bytesRead;
  }
  return Buffer.concat(chunks).toString('utf8');
}
