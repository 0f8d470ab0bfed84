import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { Backstore, IoCallback } from './backstore.js';

/**
 * A regular file or block device accessed through libuv's thread pool, so no I/O ever blocks the
 * event loop. Write-through devices are opened O_DSYNC; otherwise FUA writes are followed by an
 * fdatasync before they are acknowledged.
 */
export class FileBackstore implements Backstore {
  private constructor(
    private readonly fd: number,
    private _size: number,
    readonly path: string,
    private readonly writeThrough: boolean,
    private readonly isBlock: boolean,
  ) {}

  static async open(path: string, opts: { readOnly: boolean; writeThrough: boolean; createSize?: number }): Promise<FileBackstore> {
    let flags = opts.readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR;
    if (opts.writeThrough && !opts.readOnly) flags |= fs.constants.O_DSYNC;
    if (opts.createSize !== undefined && !opts.readOnly) flags |= fs.constants.O_CREAT;
    // A raw fd, not a FileHandle: fs.read/fs.write on a number avoid a promise per call, and a
    // FileHandle dropped after taking its fd would be closed by the garbage collector.
    const fd = await new Promise<number>((res, rej) => fs.open(path, flags, 0o600, (e, f) => (e ? rej(e) : res(f))));
    const fstat = () => new Promise<fs.Stats>((res, rej) => fs.fstat(fd, (e, st) => (e ? rej(e) : res(st))));
    const closeFd = () => new Promise<void>((res) => fs.close(fd, () => res()));
    try {
      const st = await fstat();
      let size = st.size;
      const isBlock = st.isBlockDevice();
      if (isBlock) size = await blockDeviceSize(st.rdev);
      else if (!st.isFile()) throw Object.assign(new Error(`${path}: not a regular file or block device`), { code: 'EINVAL' });
      if (!isBlock && opts.createSize !== undefined && size === 0 && opts.createSize > 0) {
        await new Promise<void>((res, rej) => fs.ftruncate(fd, opts.createSize, (e) => (e ? rej(e) : res()))); // sparse
        size = opts.createSize;
      }
      return new FileBackstore(fd, size, path, opts.writeThrough, isBlock);
    } catch (e) {
      await closeFd();
      throw e;
    }
  }

  get size(): number {
    return this._size;
  }

  read(buf: Buffer, off: number, len: number, pos: number, cb: IoCallback): void {
    fs.read(this.fd, buf, off, len, pos, (err, n) => {
      if (err) return cb(err);
      // A short read past the end of a file that shrank underneath us reads as zeroes.
      if (n < len) {
        if (n === 0) buf.fill(0, off, off + len);
        else return this.read(buf, off + n, len - n, pos + n, cb);
      }
      cb(null);
    });
  }

  write(buf: Buffer, off: number, len: number, pos: number, fua: boolean, cb: IoCallback): void {
    fs.write(this.fd, buf, off, len, pos, (err, n) => {
      if (err) return cb(err);
      if (n < len) return this.write(buf, off + n, len - n, pos + n, fua, cb);
      if (fua && !this.writeThrough) fs.fdatasync(this.fd, cb);
      else cb(null);
    });
  }

  flush(cb: IoCallback): void {
    fs.fdatasync(this.fd, cb);
  }

  async resync(): Promise<number> {
    const st = await new Promise<fs.Stats>((res, rej) => fs.fstat(this.fd, (e, s) => (e ? rej(e) : res(s))));
    this._size = this.isBlock ? await blockDeviceSize(st.rdev) : st.size;
    return this._size;
  }

  close(): Promise<void> {
    return new Promise((res) => fs.close(this.fd, () => res()));
  }
}

/** Node has no BLKGETSIZE64; sysfs gives the size in 512-byte sectors. */
async function blockDeviceSize(rdev: number): Promise<number> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & 0xfff00) >>> 0);
  const text = await fsp.readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
  return Number(text.trim()) * 512;
}
