// The storage behind a device. Callback-style on purpose: these sit on the I/O hot path, where a
// promise per command costs more than the I/O on a page-cached file.

/** Shared read-only source of zeroes (writing zeroes, comparing against zeroes). */
export const ZERO_CHUNK: Buffer = Buffer.alloc(1024 * 1024);

export type IoCallback = (err: NodeJS.ErrnoException | null) => void;

export interface Backstore {
  /** Size in bytes as seen at open or at the last resync. */
  readonly size: number;
  read(buf: Buffer, off: number, len: number, pos: number, cb: IoCallback): void;
  /**
   * A successful read() has written every byte of [off, off + len) (zeroes past the end of a
   * file). Then a READ's buffer need not be zeroed first; otherwise (absent, false) it is, so
   * that bytes the store did not write are never another command's.
   */
  readonly fillsReads?: boolean;
  /** `fua`: the data must be on stable storage before cb. */
  write(buf: Buffer, off: number, len: number, pos: number, fua: boolean, cb: IoCallback): void;
  flush(cb: IoCallback): void;
  /**
   * Deallocate a byte range (thin provisioning): afterwards it reads as zeroes. Optional: stores
   * without it cannot back a thin-provisioned LU.
   */
  discard?(pos: number, len: number, cb: IoCallback): void;
  /**
   * Which of `len` bytes from `pos` are allocated: calls `cb` with runs of [length, mapped] in
   * order, covering at most `len` bytes (possibly fewer, never zero unless len is 0), and no
   * more than `maxRuns` runs.
   */
  mapStatus?(pos: number, len: number, cb: (err: NodeJS.ErrnoException | null, runs: Array<[number, boolean]>) => void, maxRuns?: number): void;
  /**
   * Write the `block` (its whole length) repeatedly over [pos, pos + len), len a multiple of
   * block.length, in one operation of the store (WRITE SAME). Optional: the core writes a
   * pattern buffer piece by piece otherwise.
   */
  writeSame?(pos: number, len: number, block: Buffer, cb: IoCallback): void;
  /**
   * Atomically (for every client of the store, not only this process) compare [pos, pos + len)
   * with cmp[cmpOff, cmpOff + len) and, when equal, write buf[off, off + len) there (COMPARE AND
   * WRITE). `miscompare` is the offset in the range of the first differing byte, -1 when they
   * matched and the data was written. Optional: the core compares and writes under its own lock.
   * An error with code 'ENOTSUP' means this range cannot be done atomically by the store: the
   * core then falls back to its own lock.
   */
  compareAndWrite?(cmp: Buffer, cmpOff: number, buf: Buffer, off: number, len: number, pos: number, cb: (err: NodeJS.ErrnoException | null, miscompare: number) => void): void;
  /** Allocation unit of the storage in bytes (file system block, device physical block). */
  readonly physicalBlockSize?: number;
  /** Re-read the size of the backing store (resync_size). */
  resync(): Promise<number>;
  close(): Promise<void>;
}

// ---- kinds of backing store, registered by the composition root ----------------------------------
// The device handlers need stores of two kinds; which code provides them is not the core's
// business (as tgt's bs_*.c register their templates): the daemon registers each backstore
// module's opener once at start-up (engine/backstore/register.ts), before any device is created.

export interface FileStoreOptions {
  readOnly: boolean;
  writeThrough: boolean;
  /** Create the file with this size if it does not exist (vdisk_fileio's size / size_mb). */
  createSize?: number;
}

/** A Ceph RBD image (vdisk_rbd): where it is, and who the gateway is to the cluster. */
export interface RbdStoreOptions {
  pool: string;
  image: string;
  /** ceph.conf path; librados' default search when absent. */
  conf?: string;
  /** Client id (client.<id>); 'admin' when absent. */
  id?: string;
  /** Keyring path; the one ceph.conf names (or librados' default) when absent. */
  keyring?: string;
  readOnly: boolean;
}

export interface BackstoreKinds {
  /** A regular file or a block device: vdisk_fileio, vdisk_blockio, a vcdrom's medium. */
  file(filename: string, o: FileStoreOptions): Promise<Backstore>;
  /** No storage (vdisk_nullio): `size` bytes; reads return zeroes unless `zeroFill` is false. */
  null(size: number, zeroFill: boolean): Backstore;
  /** An RBD image through librbd (vdisk_rbd); refuses with ENOSYS where librbd is not built in. */
  rbd(o: RbdStoreOptions): Promise<Backstore>;
}

const kinds: Partial<BackstoreKinds> = {};

/** Provide the opener of one kind of backing store (a later registration replaces it). */
export function registerBackstore<K extends keyof BackstoreKinds>(kind: K, open: BackstoreKinds[K]): void {
  kinds[kind] = open;
}

/** The opener of `kind`; an error if nothing registered one (a wiring mistake, not user input). */
export function backstoreKind<K extends keyof BackstoreKinds>(kind: K): BackstoreKinds[K] {
  const open = kinds[kind];
  if (!open) throw new Error(`no '${kind}' backing store registered (the daemon registers them at start-up)`);
  return open as BackstoreKinds[K];
}
