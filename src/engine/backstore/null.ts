import type { Backstore, IoCallback } from '../backing-store.js';

/** vdisk_nullio: no storage at all. Reads return zeroes (unless `dummy`), writes are dropped. */
export class NullBackstore implements Backstore {
  readonly fillsReads: boolean;
  constructor(
    public size: number,
    private readonly zeroFill = true,
  ) {
    this.fillsReads = zeroFill;
  }
  read(buf: Buffer, off: number, len: number, _pos: number, cb: IoCallback): void {
    if (this.zeroFill) buf.fill(0, off, off + len);
    cb(null);
  }
  write(_b: Buffer, _o: number, _l: number, _p: number, _fua: boolean, cb: IoCallback): void {
    cb(null);
  }
  flush(cb: IoCallback): void {
    cb(null);
  }
  async resync(): Promise<number> {
    return this.size;
  }
  async close(): Promise<void> {}
}
