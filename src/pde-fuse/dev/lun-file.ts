import type { Logger } from 'pino';
import type { LocalSession } from '../../engine/scst_local/driver.js';
import { Op, SenseKey, Status } from '../../engine/scsi/constants.js';
import type { SubmitResult } from '../../engine/submit.js';
import type { PdeBlock } from '../node.js';

// A local session's LUN as a file of this host (dev/scst_local/<target>/<session>/<lun>): what
// the kernel's sd driver does for an scst_local LUN, done for a file. Reads and writes become
// READ(16)/WRITE(16) of that session, fsync SYNCHRONIZE CACHE; the file's size is the capacity
// the session sees. Offsets and lengths that are not whole blocks are served by reading the
// blocks around them (and, for a write, writing them back under a lock on those blocks held by
// every write through this file), as a page cache does for a block device.

const EIO = -5;
const ENXIO = -6;
const EAGAIN = -11;
const EBUSY = -16;
const EINVAL = -22;
const ENOSPC = -28;
const EROFS = -30;
const ENOMEDIUM = -123;

/** Most bytes one command moves (FUSE hands over at most 128 KiB anyway). */
const MAX_CHUNK = 1024 * 1024;
/** Retries of a command answered with a unit attention (each one reports one condition, as sd retries). */
const UA_RETRIES = 8;
/** Retries of BUSY / TASK SET FULL, spaced by BUSY_RETRY_MS, before the caller gets EAGAIN. */
const BUSY_RETRIES = 50;
const BUSY_RETRY_MS = 20;

/** The errno a command's outcome becomes (0: success). Sense as in SPC-4 4.5 (fixed or descriptor). */
export function errnoOf(r: SubmitResult): number {
  if (r.aborted) return EIO;
  switch (r.status) {
    case Status.GOOD:
    case Status.CONDITION_MET:
      return 0;
    case Status.RESERVATION_CONFLICT:
      return EBUSY;
    case Status.BUSY:
    case Status.TASK_SET_FULL:
      return EAGAIN;
    case Status.CHECK_CONDITION:
      break;
    default:
      return EIO;
  }
  const { key, asc } = senseOf(r.sense);
  switch (key) {
    case SenseKey.NOT_READY:
      return asc === 0x3a ? ENOMEDIUM : EIO;
    case SenseKey.DATA_PROTECT:
      return EROFS;
    case SenseKey.ILLEGAL_REQUEST:
      if (asc === 0x25) return ENXIO; // LOGICAL UNIT NOT SUPPORTED: the LUN went away
      if (asc === 0x21) return ENOSPC; // LBA OUT OF RANGE: the LUN shrank under us
      return EINVAL;
    default:
      return EIO;
  }
}

function senseOf(s: Buffer | null): { key: number; asc: number } {
  if (!s || s.length < 3) return { key: -1, asc: -1 };
  const code = s[0]! & 0x7f;
  if (code === 0x72 || code === 0x73) return { key: s[1]! & 0x0f, asc: s[2] ?? -1 };
  return { key: s[2]! & 0x0f, asc: s.length > 12 ? s[12]! : -1 };
}

function cdb16(op: number, lba: number, blocks: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = op;
  c.writeUInt32BE(Math.floor(lba / 0x100000000), 2);
  c.writeUInt32BE(lba >>> 0, 6);
  c.writeUInt32BE(blocks, 10);
  return c;
}

/** Writes in progress on block ranges [first, end) of one file. */
class RangeLock {
  private readonly held = new Set<{ first: number; end: number; done: Promise<void> }>();

  async with<T>(first: number, end: number, fn: () => Promise<T>): Promise<T> {
    for (;;) {
      const busy = [...this.held].find((h) => h.first < end && first < h.end);
      if (!busy) break;
      await busy.done;
    }
    let release!: () => void;
    const entry = { first, end, done: new Promise<void>((r) => (release = r)) };
    this.held.add(entry);
    try {
      return await fn();
    } finally {
      this.held.delete(entry);
      release();
    }
  }
}

export function lunFile(session: LocalSession, lun: number, log: Logger): PdeBlock {
  const lock = new RangeLock();
  const nexus = () => session.scst.tgtDevs.get(lun) ?? null;
  const blockSize = () => nexus()?.device.blockSize ?? 512;
  const capacity = () => {
    const td = nexus();
    return td ? td.device.nblocks * td.device.blockSize : 0;
  };

  /** One command, retried as sd retries: after a unit attention, and while the target is busy. */
  const run = async (cdb: Buffer, data: { dataOut?: Buffer; dataIn?: Buffer }): Promise<number> => {
    let ua = 0;
    let busy = 0;
    for (;;) {
      const r = await session.submit(lun, cdb, data);
      if (r.status === Status.CHECK_CONDITION && senseOf(r.sense).key === SenseKey.UNIT_ATTENTION && ua++ < UA_RETRIES) continue;
      if ((r.status === Status.BUSY || r.status === Status.TASK_SET_FULL) && busy++ < BUSY_RETRIES) {
        await new Promise((res) => setTimeout(res, BUSY_RETRY_MS));
        continue;
      }
      const e = errnoOf(r);
      if (e !== 0) log.warn({ target: session.target.name, session: session.scst.sysfsName, lun, opcode: cdb[0], status: r.status, sense: r.sense?.toString('hex') ?? null, errno: -e }, `dev/${SCST_LOCAL_DIR}: command 0x${cdb[0]!.toString(16)} on LUN ${lun} failed (status 0x${r.status.toString(16)})`);
      return e;
    }
  };

  /** Blocks [lba, lba + n) into `into` (n * blockSize bytes), in chunks. */
  const readBlocks = async (lba: number, into: Buffer, bs: number): Promise<number> => {
    const per = Math.max(1, Math.floor(MAX_CHUNK / bs));
    const n = into.length / bs;
    for (let done = 0; done < n; done += per) {
      const k = Math.min(per, n - done);
      const e = await run(cdb16(Op.READ_16, lba + done, k), { dataIn: into.subarray(done * bs, (done + k) * bs) });
      if (e) return e;
    }
    return 0;
  };

  const writeBlocks = async (lba: number, from: Buffer, bs: number): Promise<number> => {
    const per = Math.max(1, Math.floor(MAX_CHUNK / bs));
    const n = from.length / bs;
    for (let done = 0; done < n; done += per) {
      const k = Math.min(per, n - done);
      const e = await run(cdb16(Op.WRITE_16, lba + done, k), { dataOut: from.subarray(done * bs, (done + k) * bs) });
      if (e) return e;
    }
    return 0;
  };

  return {
    kind: 'block',
    mode: 0o600,
    size: capacity,
    async read(offset, length) {
      if (!nexus()) return ENXIO;
      const size = capacity();
      if (offset >= size || length <= 0) return Buffer.alloc(0);
      const end = Math.min(size, offset + length);
      const bs = blockSize();
      const first = Math.floor(offset / bs);
      const last = Math.ceil(end / bs);
      const buf = Buffer.allocUnsafe((last - first) * bs);
      const e = await readBlocks(first, buf, bs);
      if (e) return e;
      return buf.subarray(offset - first * bs, end - first * bs);
    },
    async write(offset, data) {
      if (!nexus()) return ENXIO;
      const size = capacity();
      if (data.length === 0) return 0;
      // A block device has no room past its end.
      if (offset + data.length > size) return offset >= size ? ENOSPC : EINVAL;
      const bs = blockSize();
      const first = Math.floor(offset / bs);
      const last = Math.ceil((offset + data.length) / bs);
      return lock.with(first, last, async () => {
        if (offset % bs === 0 && data.length % bs === 0) {
          const e = await writeBlocks(first, data, bs);
          return e || data.length;
        }
        // Read-modify-write of the blocks the range touches: only the partial head and tail
        // blocks are read; what lies between comes from the caller.
        const buf = Buffer.allocUnsafe((last - first) * bs);
        const head = offset - first * bs;
        const tailEnd = head + data.length;
        if (head !== 0) {
          const e = await readBlocks(first, buf.subarray(0, bs), bs);
          if (e) return e;
        }
        if (tailEnd % bs !== 0 && (last - 1 > first || head === 0)) {
          const e = await readBlocks(last - 1, buf.subarray(buf.length - bs), bs);
          if (e) return e;
        }
        data.copy(buf, head);
        const e = await writeBlocks(first, buf, bs);
        return e || data.length;
      });
    },
    async fsync() {
      if (!nexus()) return ENXIO;
      const c = Buffer.alloc(10);
      c[0] = Op.SYNCHRONIZE_CACHE_10;
      return run(c, {});
    },
  };
}

const SCST_LOCAL_DIR = 'scst_local';
