import { DataDir, type ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import { Op, SAI_GET_LBA_STATUS, SAI_READ_CAPACITY_16, Status } from './constants.js';
import { buildSense, ScsiError } from './sense.js';
import { F_DATA_FROM_MEDIUM, F_MEDIUM, F_WRITE_MEDIUM, type OpDesc, type OpTable } from './op.js';
import { dataIn, good, invalidField, readU64, replyData, serviceActionGroup, writeU64 } from './util.js';
import { checkRange, devRead, devWrite, hold, ioError, mustBeStable } from './blockio.js';
import { rangeLock } from './lba-lock.js';
import { Sense } from './constants.js';
import { getLbaStatus } from './thin.js';

// SBC-3/4 block commands: reads, writes, verifies, capacity, cache and prefetch, defect data,
// and the VPD pages that describe the block device.

/** Largest single transfer we accept, in bytes (reported in the Block Limits VPD page). */
export const MAX_TRANSFER_BYTES = 16 * 1024 * 1024;
export const OPT_TRANSFER_BYTES = 524288;
/** COMPARE AND WRITE: NUMBER OF LOGICAL BLOCKS is one byte. */
export const MAX_CAW_BLOCKS = 255;
/** WRITE SAME covers at most this much per command: no more than one READ can check it. */
export const MAX_WRITE_SAME_BYTES = 16 * 1024 * 1024;
export const MAX_UNMAP_LBA_COUNT = 1024 * 1024;
export const MAX_UNMAP_DESCRIPTORS = 2048;
/** WRITE ATOMIC(16): atomic with respect to every other command (LBA range locks). */
export const MAX_ATOMIC_BYTES = 4 * 1024 * 1024;

export function maxTransferBlocks(dev: Device): number {
  return Math.floor(MAX_TRANSFER_BYTES / dev.blockSize);
}

export function blockLimitsVpd(dev: Device): Buffer {
  const b = Buffer.alloc(0x3c); // bytes 4..63 of the page
  const gran = 1 << dev.lbppbExp;
  b[1] = MAX_CAW_BLOCKS;
  b.writeUInt16BE(gran, 2);
  b.writeUInt32BE(maxTransferBlocks(dev), 4);
  b.writeUInt32BE(Math.max(1, OPT_TRANSFER_BYTES / dev.blockSize), 8);
  b.writeUInt32BE(maxTransferBlocks(dev), 12); // maximum prefetch length
  if (dev.thinProvisioned) {
    b.writeUInt32BE(MAX_UNMAP_LBA_COUNT, 16);
    b.writeUInt32BE(MAX_UNMAP_DESCRIPTORS, 20);
    b.writeUInt32BE(gran, 24);
    b.writeUInt32BE(0x80000000, 28); // UGAVALID, alignment 0
  }
  writeU64(b, Math.floor(MAX_WRITE_SAME_BYTES / dev.blockSize), 32);
  b.writeUInt32BE(Math.floor(Math.min(MAX_ATOMIC_BYTES, MAX_TRANSFER_BYTES) / dev.blockSize), 40);
  return b;
}

export function blockCharacteristicsVpd(dev: Device): Buffer {
  const b = Buffer.alloc(0x3c);
  b.writeUInt16BE(dev.rotational ? 0 : 1, 0); // 1: non-rotating medium
  // WABEREQ 01b: after a BLOCK ERASE (offered when thin-provisioned), reads succeed and return
  // zeroes. WACEREQ stays 0: CRYPTO ERASE is not offered.
  if (dev.thinProvisioned) b[3] = 0x40;
  return b;
}

export function logicalBlockProvisioningVpd(dev: Device): Buffer {
  const b = Buffer.alloc(4);
  if (dev.thinProvisioned) {
    b[1] = 0x80 | 0x40 | 0x20 | 0x04; // LBPU, LBPWS, LBPWS10, LBPRZ (holes read zero)
    b[2] = 0x02; // provisioning type: thin
  }
  return b;
}

/** DPO/FUA are honoured on disks (MODE SENSE reports DPOFUA); elsewhere they are invalid. */
export function supportsDpoFua(dev: Device): boolean {
  return dev.type === 0;
}

type RwKind = 'read' | 'write' | 'verify' | 'write_verify';

interface RwLayout {
  lba(c: Buffer): number;
  len(c: Buffer): number;
  /** Byte 1 flags are meaningful (not for the 6-byte forms). */
  flags: boolean;
  /** Byte of the transfer length (field pointer for errors). */
  lenByte: number;
}

const RW6: RwLayout = { lba: (c) => ((c[1]! & 0x1f) << 16) | c.readUInt16BE(2), len: (c) => c[4]! || 256, flags: false, lenByte: 4 };
const RW10: RwLayout = { lba: (c) => c.readUInt32BE(2), len: (c) => c.readUInt16BE(7), flags: true, lenByte: 7 };
const RW12: RwLayout = { lba: (c) => c.readUInt32BE(2), len: (c) => c.readUInt32BE(6), flags: true, lenByte: 6 };
const RW16: RwLayout = { lba: (c) => readU64(c, 2), len: (c) => c.readUInt32BE(10), flags: true, lenByte: 10 };

function rwParse(kind: RwKind, layout: RwLayout) {
  return (cmd: ScsiCmd, dev: Device | null): void => {
    const d = dev!;
    const c = cmd.cdb;
    cmd.lba = layout.lba(c);
    cmd.blocks = layout.len(c);
    if (layout.flags) {
      if (c[1]! >> 5) throw invalidField(1, 7); // RD/WR/VRPROTECT: no protection information
      const dpoFua = kind === 'read' || kind === 'write' ? 0x18 : 0x10;
      if (c[1]! & dpoFua && !supportsDpoFua(d)) throw invalidField(1, 4);
      cmd.fua = (kind === 'write' || kind === 'read') && (c[1]! & 0x08) !== 0;
    }
    checkRange(d, cmd.lba, cmd.blocks);
    if (cmd.blocks * d.blockSize > MAX_TRANSFER_BYTES) throw invalidField(layout.lenByte);
    const bytes = cmd.blocks * d.blockSize;
    if (kind === 'read') {
      cmd.dir = DataDir.READ;
      cmd.dataLength = bytes;
    } else if (kind === 'verify' || kind === 'write_verify') {
      const bytchk = layout.flags ? (c[1]! >> 1) & 3 : 0;
      if (bytchk === 2 || (kind === 'write_verify' && bytchk === 3)) throw invalidField(1, 2);
      if (kind === 'write_verify') {
        cmd.dir = DataDir.WRITE;
        cmd.dataLength = bytes;
      } else {
        // BYTCHK 01b: a block of data-out per block; 11b: one block compared with each of them.
        const outBytes = bytchk === 1 ? bytes : bytchk === 3 && cmd.blocks > 0 ? d.blockSize : 0;
        cmd.dir = outBytes ? DataDir.WRITE : DataDir.NONE;
        cmd.dataLength = outBytes;
      }
    } else {
      cmd.dir = DataDir.WRITE;
      cmd.dataLength = bytes;
    }
  };
}

/**
 * The initiator sends fewer bytes than the CDB asks for (SAM-5 5.4: overflow). Whole blocks
 * are written as far as the data goes; a partial block cannot be written, so that is refused.
 */
function fitWrite(cmd: ScsiCmd, dev: Device, edtl: number): void {
  if (edtl % dev.blockSize !== 0) throw new ScsiError(Sense.INVALID_FIELD_IN_IU);
  cmd.blocks = edtl / dev.blockSize;
  cmd.dataLength = edtl;
}

/**
 * READ and WRITE: cmd.buf to or from the command's blocks (`stable`: a write that must reach
 * stable storage first). Plain transfers take the range lock's fast path unless an atomic command
 * is about: one closure and a plain reference instead of hold()'s and the lock's.
 */
function transfer(cmd: ScsiCmd, dev: Device, write: boolean, stable: boolean): void {
  const len = cmd.blocks * dev.blockSize;
  if (len === 0) return good(cmd);
  const lock = rangeLock(dev);
  const pos = cmd.lba * dev.blockSize;
  if (lock.tryFast()) {
    cmd.get();
    cmd.owner = 'backstore';
    const cb = (err: NodeJS.ErrnoException | null): void => {
      lock.endFast();
      transferDone(cmd, write, len, err);
      cmd.put();
    };
    if (write) devWrite(dev, cmd.buf, 0, len, pos, stable, cb);
    else devRead(dev, cmd.buf, 0, len, pos, cb);
    return;
  }
  const done = hold(cmd, 'backstore');
  lock.acquire(cmd.lba, cmd.blocks, write ? 'write' : 'read', (release) => {
    const cb = (err: NodeJS.ErrnoException | null): void => {
      release();
      transferDone(cmd, write, len, err);
      done();
    };
    if (write) devWrite(dev, cmd.buf, 0, len, pos, stable, cb);
    else devRead(dev, cmd.buf, 0, len, pos, cb);
  });
}

function transferDone(cmd: ScsiCmd, write: boolean, len: number, err: NodeJS.ErrnoException | null): void {
  if (err) ioError(cmd, err, write);
  else {
    if (!write) cmd.dataInLength = len;
    cmd.complete(Status.GOOD);
  }
}

/** Index of the first differing byte of two equally long buffers, or -1. */
export function firstDifference(a: Buffer, b: Buffer, len: number): number {
  if (a.compare(b, 0, len, 0, len) === 0) return -1;
  for (let i = 0; i < len; i++) if (a[i] !== b[i]) return i;
  return -1;
}

export function miscompare(cmd: ScsiCmd, offset: number): void {
  cmd.complete(Status.CHECK_CONDITION, buildSense(Sense.MISCOMPARE_DURING_VERIFY, { information: offset }));
}

/** VERIFY: BYTCHK 0 checks the medium is readable; 1 and 3 compare with data-out. */
function doVerify(cmd: ScsiCmd, dev: Device): void {
  const len = cmd.blocks * dev.blockSize;
  if (len === 0) return good(cmd);
  const bytchk = cmd.cdb.length > 6 ? (cmd.cdb[1]! >> 1) & 3 : 0;
  const pb = cmd.pool.alloc(Math.min(len, MAX_TRANSFER_BYTES));
  const done = hold(cmd, 'backstore');
  devRead(dev, pb.buf, 0, len, cmd.lba * dev.blockSize, (err) => {
    if (err) ioError(cmd, err, false);
    else if (bytchk === 0) cmd.complete(Status.GOOD);
    else {
      let off = -1;
      if (bytchk === 1) off = firstDifference(pb.buf, cmd.buf, len);
      else
        for (let b = 0; b < cmd.blocks && off < 0; b++) {
          const o = firstDifference(pb.buf.subarray(b * dev.blockSize), cmd.buf, dev.blockSize);
          if (o >= 0) off = b * dev.blockSize + o;
        }
      if (off >= 0) miscompare(cmd, off);
      else cmd.complete(Status.GOOD);
    }
    cmd.pool.release(pb);
    done();
  });
}

function rwUsage(code: number, layout: RwLayout, kind: RwKind) {
  return (dev: Device): number[] => {
    const n = layout === RW6 ? 6 : layout === RW10 ? 10 : layout === RW12 ? 12 : 16;
    const u = new Array<number>(n).fill(0);
    u[0] = code;
    u[n - 1] = 0x07;
    if (layout === RW6) {
      u[1] = 0x1f;
      u[2] = u[3] = u[4] = 0xff;
      return u;
    }
    const dpoFua = supportsDpoFua(dev) ? (kind === 'read' || kind === 'write' ? 0x18 : 0x10) : 0;
    const bytchk = kind === 'verify' ? 0x06 : kind === 'write_verify' ? 0x02 : 0;
    u[1] = 0xe0 | dpoFua | bytchk;
    const lbaBytes = layout === RW16 ? 8 : 4;
    for (let i = 0; i < lbaBytes; i++) u[2 + i] = 0xff;
    const lenAt = layout.lenByte;
    const lenBytes = layout === RW10 ? 2 : 4;
    for (let i = 0; i < lenBytes; i++) u[lenAt + i] = 0xff;
    return u;
  };
}

function rwOp(name: string, code: number, kind: RwKind, layout: RwLayout): OpDesc {
  const writes = kind === 'write' || kind === 'write_verify';
  return {
    name,
    flags: F_MEDIUM | (writes ? F_WRITE_MEDIUM : 0) | (kind === 'read' ? F_DATA_FROM_MEDIUM : 0),
    res: writes ? 'write' : 'read',
    usage: rwUsage(code, layout, kind),
    fitToEdtl: writes ? fitWrite : undefined,
    parse: rwParse(kind, layout),
    exec(cmd, dev) {
      if (kind === 'read') transfer(cmd, dev!, false, false);
      else if (kind === 'verify') doVerify(cmd, dev!);
      // WRITE AND VERIFY: the data must be on the medium (stable) before it can count as verified.
      else transfer(cmd, dev!, true, kind === 'write_verify' ? !dev!.nvCache : mustBeStable(dev!, cmd.fua));
    },
  };
}

const readCapacity10: OpDesc = {
  name: 'READ CAPACITY(10)',
  flags: F_MEDIUM,
  res: 'allowed',
  usage: [Op.READ_CAPACITY_10, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0x07],
  parse(cmd) {
    if (!(cmd.cdb[8]! & 1) && cmd.cdb.readUInt32BE(2) !== 0) throw invalidField(2);
    dataIn(cmd, 8);
  },
  exec(cmd, dev) {
    const b = Buffer.alloc(8);
    const last = dev!.nblocks - 1;
    b.writeUInt32BE(last > 0xfffffffe ? 0xffffffff : Math.max(last, 0), 0);
    b.writeUInt32BE(dev!.blockSize, 4);
    replyData(cmd, b);
  },
};

const readCapacity16: OpDesc = {
  name: 'READ CAPACITY(16)',
  flags: F_MEDIUM,
  sa: SAI_READ_CAPACITY_16,
  res: 'allowed',
  usage: [Op.SERVICE_ACTION_IN_16, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07],
  parse(cmd) {
    dataIn(cmd, cmd.cdb.readUInt32BE(10));
  },
  exec(cmd, dev) {
    const d = dev!;
    const b = Buffer.alloc(32);
    writeU64(b, Math.max(d.nblocks - 1, 0), 0);
    b.writeUInt32BE(d.blockSize, 8);
    b[13] = d.lbppbExp & 0x0f;
    if (d.thinProvisioned) b[14] = 0x80 | 0x40; // LBPME, LBPRZ
    replyData(cmd, b);
  },
};

const serviceActionIn16 = serviceActionGroup('SERVICE ACTION IN(16)', 0, [readCapacity16, getLbaStatus]);

function syncCacheOp(name: string, code: number, ten: boolean): OpDesc {
  return {
    name,
    flags: F_MEDIUM,
    res: 'write',
    usage: ten ? [code, 0x02, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x07] : [code, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x07],
    parse(cmd, dev) {
      cmd.lba = ten ? cmd.cdb.readUInt32BE(2) : readU64(cmd.cdb, 2);
      cmd.blocks = ten ? cmd.cdb.readUInt16BE(7) : cmd.cdb.readUInt32BE(10);
      checkRange(dev!, cmd.lba, cmd.blocks);
    },
    exec(cmd, dev) {
      const d = dev!;
      if (!d.needsFlush || !d.backstore) return good(cmd);
      const done = hold(cmd, 'backstore');
      d.inflight++;
      d.backstore.flush((err) => {
        d.inflight--;
        if (err) ioError(cmd, err, true);
        else cmd.complete(Status.GOOD);
        done();
      });
    },
  };
}

/**
 * PRE-FETCH: the page cache of the backing file is the only cache, and reading ahead into it is
 * what the kernel does on its own, so this validates the range and reports GOOD (not CONDITION
 * MET: nothing guarantees the blocks stay cached).
 */
function prefetchOp(name: string, code: number, ten: boolean): OpDesc {
  return {
    name,
    flags: F_MEDIUM,
    res: 'read',
    usage: ten ? [code, 0x02, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x07] : [code, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x07],
    parse(cmd, dev) {
      cmd.lba = ten ? cmd.cdb.readUInt32BE(2) : readU64(cmd.cdb, 2);
      cmd.blocks = ten ? cmd.cdb.readUInt16BE(7) : cmd.cdb.readUInt32BE(10);
      checkRange(dev!, cmd.lba, cmd.blocks);
    },
    exec: good,
  };
}

/** READ DEFECT DATA: a virtual disk has no defects; the lists asked for are reported empty. */
function readDefectDataOp(name: string, code: number, twelve: boolean): OpDesc {
  return {
    name,
    flags: F_MEDIUM,
    res: 'read',
    usage: twelve ? [code, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07] : [code, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0x07],
    parse(cmd) {
      dataIn(cmd, twelve ? cmd.cdb.readUInt32BE(6) : cmd.cdb.readUInt16BE(7));
    },
    exec(cmd) {
      const flags = (twelve ? cmd.cdb[1]! : cmd.cdb[2]!) & 0x1f;
      const h = Buffer.alloc(twelve ? 8 : 4);
      h[1] = flags; // PLIST/GLIST as requested, in the requested format, zero length
      replyData(cmd, h);
    },
  };
}

export function sbcOps(): OpTable {
  return new Map<number, OpDesc>([
    [Op.READ_6, rwOp('READ(6)', Op.READ_6, 'read', RW6)],
    [Op.READ_10, rwOp('READ(10)', Op.READ_10, 'read', RW10)],
    [Op.READ_12, rwOp('READ(12)', Op.READ_12, 'read', RW12)],
    [Op.READ_16, rwOp('READ(16)', Op.READ_16, 'read', RW16)],
    [Op.WRITE_6, rwOp('WRITE(6)', Op.WRITE_6, 'write', RW6)],
    [Op.WRITE_10, rwOp('WRITE(10)', Op.WRITE_10, 'write', RW10)],
    [Op.WRITE_12, rwOp('WRITE(12)', Op.WRITE_12, 'write', RW12)],
    [Op.WRITE_16, rwOp('WRITE(16)', Op.WRITE_16, 'write', RW16)],
    [Op.WRITE_AND_VERIFY_10, rwOp('WRITE AND VERIFY(10)', Op.WRITE_AND_VERIFY_10, 'write_verify', RW10)],
    [Op.WRITE_AND_VERIFY_12, rwOp('WRITE AND VERIFY(12)', Op.WRITE_AND_VERIFY_12, 'write_verify', RW12)],
    [Op.WRITE_AND_VERIFY_16, rwOp('WRITE AND VERIFY(16)', Op.WRITE_AND_VERIFY_16, 'write_verify', RW16)],
    [Op.VERIFY_10, rwOp('VERIFY(10)', Op.VERIFY_10, 'verify', RW10)],
    [Op.VERIFY_12, rwOp('VERIFY(12)', Op.VERIFY_12, 'verify', RW12)],
    [Op.VERIFY_16, rwOp('VERIFY(16)', Op.VERIFY_16, 'verify', RW16)],
    [Op.READ_CAPACITY_10, readCapacity10],
    [Op.SERVICE_ACTION_IN_16, serviceActionIn16],
    [Op.SYNCHRONIZE_CACHE_10, syncCacheOp('SYNCHRONIZE CACHE(10)', Op.SYNCHRONIZE_CACHE_10, true)],
    [Op.SYNCHRONIZE_CACHE_16, syncCacheOp('SYNCHRONIZE CACHE(16)', Op.SYNCHRONIZE_CACHE_16, false)],
    [Op.PRE_FETCH_10, prefetchOp('PRE-FETCH(10)', Op.PRE_FETCH_10, true)],
    [Op.PRE_FETCH_16, prefetchOp('PRE-FETCH(16)', Op.PRE_FETCH_16, false)],
    [Op.READ_DEFECT_DATA_10, readDefectDataOp('READ DEFECT DATA(10)', Op.READ_DEFECT_DATA_10, false)],
    [Op.READ_DEFECT_DATA_12, readDefectDataOp('READ DEFECT DATA(12)', Op.READ_DEFECT_DATA_12, true)],
  ]);
}

export { readCapacity10, readCapacity16, rwOp, RW10, RW12 };
