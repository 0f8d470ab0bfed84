import type { ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import { Sense, Status } from './constants.js';
import { buildSense, ScsiError } from './sense.js';
import { ZERO_CHUNK } from '../backing-store.js';

// Shared plumbing for block commands that talk to the backstore: accounting of in-flight I/O on
// the device, the reference a command holds while its I/O runs, and how errors are reported.

/** Without a write-back cache (WCE=0) every write must be stable before it is acknowledged. */
export function mustBeStable(dev: Device, fua: boolean): boolean {
  return (fua || !dev.wce) && !dev.nvCache;
}

/**
 * Errors of a backing store that is reached over a network (an RBD cluster) which mean "not now"
 * rather than "the medium is bad": the store did not answer in time, or the connection is gone.
 */
const UNREACHABLE: ReadonlySet<string> = new Set(['ETIMEDOUT', 'ENOTCONN', 'ESHUTDOWN', 'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Errors from the backing store become MEDIUM ERROR (EIO), space allocation failure (ENOSPC), or
 * NOT READY in transition when the store is unreachable for now, which initiators retry (and
 * multipath moves to another path) instead of failing the I/O.
 */
export function ioSense(err: NodeJS.ErrnoException, write: boolean): Buffer {
  const asc =
    err.code === 'ENOSPC' ? Sense.SPACE_ALLOCATION_FAILED : err.code !== undefined && UNREACHABLE.has(err.code) ? Sense.ALUA_TRANSITIONING : write ? Sense.WRITE_ERROR : Sense.READ_ERROR;
  return buildSense(asc);
}

export function ioError(cmd: ScsiCmd, err: NodeJS.ErrnoException, write: boolean): void {
  cmd.complete(Status.CHECK_CONDITION, ioSense(err, write));
}

/** LBA range check (SBC-4 4.5): the whole range must lie on the medium. */
export function checkRange(dev: Device, lba: number, blocks: number): void {
  if (lba > dev.nblocks || lba + blocks > dev.nblocks) throw new ScsiError(Sense.LBA_OUT_OF_RANGE);
}

/**
 * Keep `cmd` alive (a reference) while asynchronous device work runs on its behalf; the returned
 * function drops it and must be called exactly once.
 */
export function hold(cmd: ScsiCmd, owner: string): () => void {
  cmd.get();
  cmd.owner = owner;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    cmd.put();
  };
}

export type Cb = (err: NodeJS.ErrnoException | null) => void;

export function devRead(dev: Device, buf: Buffer, off: number, len: number, pos: number, cb: Cb): void {
  const bs = dev.backstore;
  if (!bs) return cb(Object.assign(new Error('no medium'), { code: 'ENOMEDIUM' }));
  dev.inflight++;
  bs.read(buf, off, len, pos, (err) => {
    dev.inflight--;
    cb(err);
  });
}

export function devWrite(dev: Device, buf: Buffer, off: number, len: number, pos: number, stable: boolean, cb: Cb): void {
  const bs = dev.backstore;
  if (!bs) return cb(Object.assign(new Error('no medium'), { code: 'ENOMEDIUM' }));
  dev.inflight++;
  bs.write(buf, off, len, pos, stable, (err) => {
    dev.inflight--;
    cb(err);
  });
}

/** Deallocate (thin provisioning); stores without discard get zeroes written instead. */
export function devDiscard(dev: Device, pos: number, len: number, cb: Cb): void {
  const bs = dev.backstore;
  if (!bs) return cb(Object.assign(new Error('no medium'), { code: 'ENOMEDIUM' }));
  dev.inflight++;
  const done: Cb = (err) => {
    dev.inflight--;
    cb(err);
  };
  if (bs.discard) return bs.discard(pos, len, done);
  const step = (p: number, left: number): void => {
    if (left <= 0) return done(null);
    const n = Math.min(left, ZERO_CHUNK.length);
    bs.write(ZERO_CHUNK, 0, n, p, false, (e) => (e ? done(e) : step(p + n, left - n)));
  };
  step(pos, len);
}

/** Run `steps` one after another, stopping at the first error. */
export function series(steps: Array<(next: Cb) => void>, cb: Cb): void {
  let i = 0;
  const next: Cb = (err) => {
    if (err || i >= steps.length) return cb(err);
    const s = steps[i++]!;
    s(next);
  };
  next(null);
}
