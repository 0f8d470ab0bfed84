import { DataDir, type ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import { Op, SAI_READ_CAPACITY_16, Sense, Status } from './constants.js';
import { buildSense, ScsiError } from './sense.js';
import { F_MEDIUM, F_WRITE_MEDIUM, type OpDesc, type OpTable } from './op.js';
import { dataIn, good, invalidField, readU64, replyData, writeU64 } from './util.js';

// SBC-3 block commands.

/** Largest single transfer we accept, in bytes (reported in the Block Limits VPD page). */
export const MAX_TRANSFER_BYTES = 16 * 1024 * 1024;
export const OPT_TRANSFER_BYTES = 524288;

export function blockLimitsVpd(dev: Device): Buffer {
  const b = Buffer.alloc(0x3c);
  b.writeUInt16BE(1, 2); // optimal transfer length granularity: 1 block
  b.writeUInt32BE(MAX_TRANSFER_BYTES / dev.blockSize, 4);
  b.writeUInt32BE(OPT_TRANSFER_BYTES / dev.blockSize, 8);
  return b;
}

export function blockCharacteristicsVpd(dev: Device): Buffer {
  const b = Buffer.alloc(0x3c);
  b.writeUInt16BE(dev.rotational ? 0 : 1, 0); // 1: non-rotating medium
  return b;
}

export function logicalBlockProvisioningVpd(dev: Device): Buffer {
  const b = Buffer.alloc(4);
  b[2] = dev.thinProvisioned ? 0x02 : 0x00; // provisioning type
  return b;
}

type RwKind = 'read' | 'write' | 'verify' | 'write_verify';

interface RwLayout {
  lba(c: Buffer): number;
  len(c: Buffer): number;
  /** Byte 1 flags are meaningful (not for the 6-byte forms). */
  flags: boolean;
}

const RW6: RwLayout = { lba: (c) => ((c[1]! & 0x1f) << 16) | c.readUInt16BE(2), len: (c) => c[4]! || 256, flags: false };
const RW10: RwLayout = { lba: (c) => c.readUInt32BE(2), len: (c) => c.readUInt16BE(7), flags: true };
const RW12: RwLayout = { lba: (c) => c.readUInt32BE(2), len: (c) => c.readUInt32BE(6), flags: true };
const RW16: RwLayout = { lba: (c) => readU64(c, 2), len: (c) => c.readUInt32BE(10), flags: true };

function checkRange(cmd: ScsiCmd, dev: Device): void {
  if (cmd.lba + cmd.blocks > dev.nblocks || cmd.lba > dev.nblocks) throw new ScsiError(Sense.LBA_OUT_OF_RANGE);
  if (cmd.blocks * dev.blockSize > MAX_TRANSFER_BYTES) throw invalidField(cmd.cdb.length === 6 ? 4 : 7);
}

function rwParse(kind: RwKind, layout: RwLayout) {
  return (cmd: ScsiCmd, dev: Device | null): void => {
    const c = cmd.cdb;
    cmd.lba = layout.lba(c);
    cmd.blocks = layout.len(c);
    if (layout.flags) {
      if (c[1]! >> 5) throw invalidField(1, 7); // RDPROTECT/WRPROTECT/VRPROTECT: no protection information
      cmd.fua = kind !== 'verify' && (c[1]! & 0x08) !== 0;
    }
    checkRange(cmd, dev!);
    const bytes = cmd.blocks * dev!.blockSize;
    if (kind === 'read') {
      cmd.dir = DataDir.READ;
      cmd.dataLength = bytes;
    } else if (kind === 'verify') {
      const bytchk = (c[1]! >> 1) & 3;
      if (bytchk === 2 || bytchk === 3) throw invalidField(1, 2);
      cmd.dir = bytchk ? DataDir.WRITE : DataDir.NONE;
      cmd.dataLength = bytchk ? bytes : 0;
    } else {
      cmd.dir = DataDir.WRITE;
      cmd.dataLength = bytes;
    }
  };
}

/** Errors from the backing store become MEDIUM ERROR (EIO) or space allocation failure (ENOSPC). */
function ioError(cmd: ScsiCmd, err: NodeJS.ErrnoException, write: boolean): void {
  const asc = err.code === 'ENOSPC' ? Sense.SPACE_ALLOCATION_FAILED : write ? Sense.WRITE_ERROR : Sense.READ_ERROR;
  cmd.complete(Status.CHECK_CONDITION, buildSense(asc));
}

function doRead(cmd: ScsiCmd, dev: Device): void {
  const len = cmd.blocks * dev.blockSize;
  if (len === 0) return good(cmd);
  const bs = dev.backstore!;
  cmd.get();
  cmd.owner = 'backstore';
  dev.inflight++;
  bs.read(cmd.buf, 0, len, cmd.lba * dev.blockSize, (err) => {
    dev.inflight--;
    if (err) ioError(cmd, err, false);
    else {
      cmd.dataInLength = len;
      cmd.complete(Status.GOOD);
    }
    cmd.put();
  });
}

function doWrite(cmd: ScsiCmd, dev: Device): void {
  const len = cmd.blocks * dev.blockSize;
  if (len === 0) return good(cmd);
  const bs = dev.backstore!;
  // Without a write-back cache (WCE=0) every write must be stable before it is acknowledged.
  const stable = (cmd.fua || !dev.wce) && !dev.nvCache;
  cmd.get();
  cmd.owner = 'backstore';
  dev.inflight++;
  bs.write(cmd.buf, 0, len, cmd.lba * dev.blockSize, stable, (err) => {
    dev.inflight--;
    if (err) ioError(cmd, err, true);
    else cmd.complete(Status.GOOD);
    cmd.put();
  });
}

/** VERIFY with BYTCHK=1: compare data-out with the medium; MISCOMPARE reports the offset. */
function doVerify(cmd: ScsiCmd, dev: Device): void {
  const len = cmd.dataLength;
  if (len === 0) return good(cmd); // BYTCHK=0: the medium is always readable
  const pb = cmd.pool.alloc(len);
  cmd.get();
  cmd.owner = 'backstore';
  dev.inflight++;
  dev.backstore!.read(pb.buf, 0, len, cmd.lba * dev.blockSize, (err) => {
    dev.inflight--;
    if (err) ioError(cmd, err, false);
    else {
      let off = -1;
      if (pb.buf.compare(cmd.buf, 0, len, 0, len) !== 0) {
        for (let i = 0; i < len; i++)
          if (pb.buf[i] !== cmd.buf[i]) {
            off = i;
            break;
          }
      }
      if (off >= 0) cmd.complete(Status.CHECK_CONDITION, buildSense(Sense.MISCOMPARE_DURING_VERIFY, { information: off }));
      else cmd.complete(Status.GOOD);
    }
    cmd.pool.release(pb);
    cmd.put();
  });
}

function rwOp(name: string, kind: RwKind, layout: RwLayout): OpDesc {
  return {
    name,
    flags: F_MEDIUM | (kind === 'write' || kind === 'write_verify' ? F_WRITE_MEDIUM : 0),
    parse: rwParse(kind, layout),
    exec(cmd, dev) {
      if (kind === 'read') doRead(cmd, dev!);
      else if (kind === 'verify') doVerify(cmd, dev!);
      else doWrite(cmd, dev!);
    },
  };
}

const readCapacity10: OpDesc = {
  name: 'READ CAPACITY(10)',
  flags: F_MEDIUM,
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

const serviceActionIn16: OpDesc = {
  name: 'SERVICE ACTION IN(16)',
  flags: F_MEDIUM,
  parse(cmd) {
    if ((cmd.cdb[1]! & 0x1f) !== SAI_READ_CAPACITY_16) throw invalidField(1, 4);
    dataIn(cmd, cmd.cdb.readUInt32BE(10));
  },
  exec(cmd, dev) {
    const d = dev!;
    const b = Buffer.alloc(32);
    writeU64(b, Math.max(d.nblocks - 1, 0), 0);
    b.writeUInt32BE(d.blockSize, 8);
    if (d.thinProvisioned) b[14] = 0x80; // LBPME
    replyData(cmd, b);
  },
};

function syncCacheOp(name: string, ten: boolean): OpDesc {
  return {
    name,
    flags: F_MEDIUM,
    parse(cmd, dev) {
      cmd.lba = ten ? cmd.cdb.readUInt32BE(2) : readU64(cmd.cdb, 2);
      cmd.blocks = ten ? cmd.cdb.readUInt16BE(7) : cmd.cdb.readUInt32BE(10);
      if (cmd.lba + cmd.blocks > dev!.nblocks) throw new ScsiError(Sense.LBA_OUT_OF_RANGE);
    },
    exec(cmd, dev) {
      const d = dev!;
      if (!d.needsFlush || !d.backstore) return good(cmd);
      cmd.get();
      cmd.owner = 'backstore';
      d.inflight++;
      d.backstore.flush((err) => {
        d.inflight--;
        if (err) ioError(cmd, err, true);
        else cmd.complete(Status.GOOD);
        cmd.put();
      });
    },
  };
}

export function sbcOps(): OpTable {
  return new Map<number, OpDesc>([
    [Op.READ_6, rwOp('READ(6)', 'read', RW6)],
    [Op.READ_10, rwOp('READ(10)', 'read', RW10)],
    [Op.READ_12, rwOp('READ(12)', 'read', RW12)],
    [Op.READ_16, rwOp('READ(16)', 'read', RW16)],
    [Op.WRITE_6, rwOp('WRITE(6)', 'write', RW6)],
    [Op.WRITE_10, rwOp('WRITE(10)', 'write', RW10)],
    [Op.WRITE_12, rwOp('WRITE(12)', 'write', RW12)],
    [Op.WRITE_16, rwOp('WRITE(16)', 'write', RW16)],
    [Op.WRITE_AND_VERIFY_10, rwOp('WRITE AND VERIFY(10)', 'write_verify', RW10)],
    [Op.WRITE_AND_VERIFY_12, rwOp('WRITE AND VERIFY(12)', 'write_verify', RW12)],
    [Op.WRITE_AND_VERIFY_16, rwOp('WRITE AND VERIFY(16)', 'write_verify', RW16)],
    [Op.VERIFY_10, rwOp('VERIFY(10)', 'verify', RW10)],
    [Op.VERIFY_12, rwOp('VERIFY(12)', 'verify', RW12)],
    [Op.VERIFY_16, rwOp('VERIFY(16)', 'verify', RW16)],
    [Op.READ_CAPACITY_10, readCapacity10],
    [Op.SERVICE_ACTION_IN_16, serviceActionIn16],
    [Op.SYNCHRONIZE_CACHE_10, syncCacheOp('SYNCHRONIZE CACHE(10)', true)],
    [Op.SYNCHRONIZE_CACHE_16, syncCacheOp('SYNCHRONIZE CACHE(16)', false)],
  ]);
}

export { readCapacity10, rwOp, RW10, RW12 };
