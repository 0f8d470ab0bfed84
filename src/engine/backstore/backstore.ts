// The storage behind a device. Callback-style on purpose: these sit on the I/O hot path, where a
// promise per command costs more than the I/O on a page-cached file.

export type IoCallback = (err: NodeJS.ErrnoException | null) => void;

export interface Backstore {
  /** Size in bytes as seen at open or at the last resync. */
  readonly size: number;
  read(buf: Buffer, off: number, len: number, pos: number, cb: IoCallback): void;
  /** `fua`: the data must be on stable storage before cb. */
  write(buf: Buffer, off: number, len: number, pos: number, fua: boolean, cb: IoCallback): void;
  flush(cb: IoCallback): void;
  /** Re-read the size of the backing store (resync_size). */
  resync(): Promise<number>;
  close(): Promise<void>;
}
