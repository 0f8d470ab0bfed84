import { DataDir, type ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import { Op, SAI_GET_LBA_STATUS, Sense, Status } from './constants.js';
import { ScsiError } from './sense.js';
import { F_MEDIUM, F_WRITE_MEDIUM, type OpDesc } from './op.js';
import { dataIn, good, invalidField, paramData, readU64, replyData, writeU64 } from './util.js';
import { checkRange, devDiscard, devWrite, hold, ioError, mustBeStable, type Cb } from './blockio.js';
import { rangeLock } from './lba-lock.js';

// Logical block provisioning (SBC-4 4.7): UNMAP, WRITE SAME (with its UNMAP bit) and GET LBA
// STATUS. A thin-provisioned LU deallocates by punching holes in its sparse backing file;
// deallocated blocks read as zeroes (LBPRZ), so anything reading back as zeroes is reported
// deallocated by GET LBA STATUS.

// Limits also reported in the Block Limits VPD page (sbc.ts), repeated here to avoid a cycle.
const MAX_WRITE_SAME_BYTES = 16 * 1024 * 1024;
const MAX_UNMAP_LBA_COUNT = 1024 * 1024;
const MAX_UNMAP_DESCRIPTORS = 2048;
/** Pattern buffer for WRITE SAME: the block repeated up to this size, written piece by piece. */
const PATTERN_BYTES = 1024 * 1024;

// ---- UNMAP ----------------------------------------------------------------------------------

interface Extent {
  lba: number;
  blocks: number;
}

/** Validate every descriptor before touching anything (SBC-4 5.32.2). */
function unmapExtents(cmd: ScsiCmd, dev: Device): Extent[] {
  const d = paramData(cmd);
  if (d.length === 0) return [];
  if (d.length < 8) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  const bdLen = Math.min(d.readUInt16BE(2), d.length - 8);
  const count = Math.floor(bdLen / 16);
  if (count > MAX_UNMAP_DESCRIPTORS) throw new ScsiError(Sense.INVALID_FIELD_IN_PARAM_LIST, { field: 2, cdb: false });
  const out: Extent[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const off = 8 + i * 16;
    const lba = readU64(d, off);
    const blocks = d.readUInt32BE(off + 8);
    if (lba > dev.nblocks || lba + blocks > dev.nblocks) throw new ScsiError(Sense.LBA_OUT_OF_RANGE);
    total += blocks;
    if (total > MAX_UNMAP_LBA_COUNT) throw new ScsiError(Sense.INVALID_FIELD_IN_PARAM_LIST, { field: off + 8, cdb: false });
    if (blocks > 0) out.push({ lba, blocks });
  }
  return out;
}

/** Deallocate extents one after the other, each under its LBA range lock. */
function discardExtents(dev: Device, extents: Extent[], cb: Cb): void {
  const step = (i: number): void => {
    if (i >= extents.length) return cb(null);
    const e = extents[i]!;
    rangeLock(dev).acquire(e.lba, e.blocks, 'write', (release) => {
      devDiscard(dev, e.lba * dev.blockSize, e.blocks * dev.blockSize, (err) => {
        release();
        if (err) return cb(err);
        step(i + 1);
      });
    });
  };
  step(0);
}

export const unmap: OpDesc = {
  name: 'UNMAP',
  flags: F_MEDIUM | F_WRITE_MEDIUM,
  res: 'write',
  usage: (dev) => (dev.thinProvisioned ? [Op.UNMAP, 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07] : null),
  available: (dev) => dev.thinProvisioned,
  parse(cmd) {
    if (cmd.cdb[1]! & 0x01) throw invalidField(1, 0); // ANCHOR: ANC_SUP is 0
    const len = cmd.cdb.readUInt16BE(7);
    cmd.dir = len ? DataDir.WRITE : DataDir.NONE;
    cmd.dataLength = len;
  },
  exec(cmd, dev) {
    const d = dev!;
    const extents = unmapExtents(cmd, d);
    if (extents.length === 0) return good(cmd);
    const done = hold(cmd, 'backstore');
    discardExtents(d, extents, (err) => {
      if (err) ioError(cmd, err, true);
      else cmd.complete(Status.GOOD);
      done();
    });
  },
};

// ---- WRITE SAME -----------------------------------------------------------------------------

function writeSameParse(sixteen: boolean) {
  return (cmd: ScsiCmd, dev: Device | null): void => {
    const d = dev!;
    const c = cmd.cdb;
    if (c[1]! >> 5) throw invalidField(1, 7); // WRPROTECT: no protection information
    if (c[1]! & 0x10) throw invalidField(1, 4); // ANCHOR: ANC_SUP is 0
    const unmapBit = (c[1]! & 0x08) !== 0;
    if (unmapBit && !d.thinProvisioned) throw invalidField(1, 3);
    if (c[1]! & 0x06) throw invalidField(1, 2); // LBDATA/PBDATA (obsolete)
    const ndob = sixteen && (c[1]! & 0x01) !== 0;
    if (!sixteen && c[1]! & 0x01) throw invalidField(1, 0);
    cmd.lba = sixteen ? readU64(c, 2) : c.readUInt32BE(2);
    const n = sixteen ? c.readUInt32BE(10) : c.readUInt16BE(7);
    checkRange(d, cmd.lba, n);
    // NUMBER OF LOGICAL BLOCKS 0: up to the end of the medium (WSNZ is 0).
    cmd.blocks = n === 0 ? d.nblocks - cmd.lba : n;
    if (cmd.blocks * d.blockSize > MAX_WRITE_SAME_BYTES) throw invalidField(sixteen ? 10 : 7);
    const out = ndob ? 0 : d.blockSize;
    cmd.dir = out ? DataDir.WRITE : DataDir.NONE;
    cmd.dataLength = out;
  };
}

/** Write `block` repeatedly over [lba, lba+blocks), in pattern-buffer sized pieces. */
function writePattern(cmd: ScsiCmd, dev: Device, block: Buffer, cb: Cb): void {
  const store = dev.backstore;
  if (store?.writeSame) {
    // The store repeats the block itself (librbd's writesame: one request for the whole range).
    const stable = mustBeStable(dev, false);
    dev.inflight++;
    store.writeSame(cmd.lba * dev.blockSize, cmd.blocks * dev.blockSize, block.subarray(0, dev.blockSize), (err) => {
      if (err || !stable) {
        dev.inflight--;
        return cb(err);
      }
      store.flush((e) => {
        dev.inflight--;
        cb(e);
      });
    });
    return;
  }
  const bs = dev.blockSize;
  const per = Math.max(1, Math.floor(PATTERN_BYTES / bs));
  const pb = cmd.pool.alloc(Math.min(per, cmd.blocks) * bs);
  for (let i = 0; i < Math.min(per, cmd.blocks); i++) block.copy(pb.buf, i * bs, 0, bs);
  const stable = mustBeStable(dev, false);
  const step = (lba: number, left: number): void => {
    if (left <= 0) {
      cmd.pool.release(pb);
      return cb(null);
    }
    const n = Math.min(left, per);
    devWrite(dev, pb.buf, 0, n * bs, lba * bs, stable, (err) => {
      if (err) {
        cmd.pool.release(pb);
        return cb(err);
      }
      step(lba + n, left - n);
    });
  };
  step(cmd.lba, cmd.blocks);
}

function writeSameOp(name: string, code: number, sixteen: boolean): OpDesc {
  return {
    name,
    flags: F_MEDIUM | F_WRITE_MEDIUM,
    res: 'write',
    usage: (dev) => {
      const b1 = 0xe0 | (dev.thinProvisioned ? 0x08 : 0) | (sixteen ? 0x01 : 0);
      return sixteen
        ? [code, b1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x07]
        : [code, b1, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x07];
    },
    parse: writeSameParse(sixteen),
    exec(cmd, dev) {
      const d = dev!;
      // Exactly one block of data-out: anything else means initiator and target disagree.
      if (cmd.expectedLength !== cmd.dataLength) throw invalidField(sixteen ? 10 : 7);
      if (cmd.blocks === 0) return good(cmd);
      const block = cmd.dataLength ? cmd.buf.subarray(0, d.blockSize) : Buffer.alloc(d.blockSize);
      // UNMAP: the blocks are deallocated and read back as zeroes (LBPRZ) whatever the data-out
      // block holds, as initiators using WRITE SAME to reclaim space expect.
      const deallocate = (cmd.cdb[1]! & 0x08) !== 0;
      const done = hold(cmd, 'backstore');
      rangeLock(d).acquire(cmd.lba, cmd.blocks, 'write', (release) => {
        const finish: Cb = (err) => {
          release();
          if (err) ioError(cmd, err, true);
          else cmd.complete(Status.GOOD);
          done();
        };
        if (deallocate) devDiscard(d, cmd.lba * d.blockSize, cmd.blocks * d.blockSize, finish);
        else writePattern(cmd, d, block, finish);
      });
    },
  };
}

export const writeSame10 = writeSameOp('WRITE SAME(10)', Op.WRITE_SAME_10, false);
export const writeSame16 = writeSameOp('WRITE SAME(16)', Op.WRITE_SAME_16, true);

// ---- GET LBA STATUS -------------------------------------------------------------------------

const STATUS_MAPPED = 0;
const STATUS_DEALLOCATED = 1;
/** One descriptor can describe at most this many blocks (32-bit EXTENT LENGTH). */
const MAX_EXTENT = 0xffffffff;

/** Turn byte runs (in 512-byte units) into per-block runs: a block is mapped if any part is. */
export function blockRuns(runs: Array<[number, boolean]>, blockSize: number): Array<[number, boolean]> {
  const out: Array<[number, boolean]> = [];
  const push = (n: number, mapped: boolean) => {
    const last = out[out.length - 1];
    if (last && last[1] === mapped) last[0] += n;
    else out.push([n, mapped]);
  };
  let partial = 0;
  let partialMapped = false;
  for (const [len, mapped] of runs) {
    let rem = len;
    while (rem > 0) {
      if (partial === 0 && rem >= blockSize) {
        const n = Math.floor(rem / blockSize);
        push(n, mapped);
        rem -= n * blockSize;
        continue;
      }
      const take = Math.min(rem, blockSize - partial);
      partial += take;
      partialMapped ||= mapped;
      rem -= take;
      if (partial === blockSize) {
        push(1, partialMapped);
        partial = 0;
        partialMapped = false;
      }
    }
  }
  return out;
}

function lbaStatusData(lba: number, runs: Array<[number, boolean]>, maxDescriptors: number): Buffer {
  const descs: Buffer[] = [];
  let at = lba;
  for (const [n, mapped] of runs) {
    let left = n;
    while (left > 0 && descs.length < maxDescriptors) {
      const len = Math.min(left, MAX_EXTENT);
      const d = Buffer.alloc(16);
      writeU64(d, at, 0);
      d.writeUInt32BE(len, 8);
      d[12] = mapped ? STATUS_MAPPED : STATUS_DEALLOCATED;
      descs.push(d);
      at += len;
      left -= len;
    }
  }
  const h = Buffer.alloc(8);
  h.writeUInt32BE(4 + descs.length * 16, 0);
  return Buffer.concat([h, ...descs]);
}

export const getLbaStatus: OpDesc = {
  name: 'GET LBA STATUS',
  flags: F_MEDIUM,
  sa: SAI_GET_LBA_STATUS,
  res: 'read',
  usage: [Op.SERVICE_ACTION_IN_16, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x07],
  parse(cmd, dev) {
    cmd.lba = readU64(cmd.cdb, 2);
    if (cmd.lba >= dev!.nblocks) throw new ScsiError(Sense.LBA_OUT_OF_RANGE);
    dataIn(cmd, cmd.cdb.readUInt32BE(10));
  },
  exec(cmd, dev) {
    const d = dev!;
    const remaining = d.nblocks - cmd.lba;
    // Descriptors that fit the allocation length, at least one.
    const maxDescriptors = Math.max(1, Math.floor((cmd.dataLength - 8) / 16));
    const bs = d.backstore;
    if (!d.thinProvisioned || !bs?.mapStatus) return replyData(cmd, lbaStatusData(cmd.lba, [[remaining, true]], maxDescriptors));
    const done = hold(cmd, 'backstore');
    d.inflight++;
    bs.mapStatus(
      cmd.lba * d.blockSize,
      remaining * d.blockSize,
      (err, runs) => {
        d.inflight--;
        if (err) ioError(cmd, err, false);
        else replyData(cmd, lbaStatusData(cmd.lba, blockRuns(runs, d.blockSize), maxDescriptors));
        done();
      },
      maxDescriptors,
    );
  },
};
