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
  /** Allocation unit of the storage in bytes (file system block, device physical block). */
  readonly physicalBlockSize?: number;
  /** Re-read the size of the backing store (resync_size). */
  resync(): Promise<number>;
  close(): Promise<void>;
}
