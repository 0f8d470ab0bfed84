import { DataDir, type ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import { Op, Status } from './constants.js';
import { F_MEDIUM, F_WRITE_MEDIUM, type OpDesc } from './op.js';
import { good, invalidField, readU64 } from './util.js';
import { checkRange, devRead, devWrite, hold, ioError, mustBeStable, type Cb } from './blockio.js';
import { rangeLock } from './lba-lock.js';
import { firstDifference, MAX_ATOMIC_BYTES, MAX_CAW_BLOCKS, MAX_TRANSFER_BYTES, miscompare, supportsDpoFua } from './sbc.js';

// Commands that must appear indivisible to every other command on the same blocks: COMPARE AND
// WRITE (SBC-4 5.2), ORWRITE (5.10) and WRITE ATOMIC(16) (5.48). Each holds an 'atomic' LBA
// range lock from its read to the end of its write, so no write slips in between and no read
// sees half of it.

function flagsCheck(cmd: ScsiCmd, dev: Device, allowed: number): void {
  const b1 = cmd.cdb[1]!;
  if (b1 >> 5) throw invalidField(1, 7); // WR/ORPROTECT: no protection information
  if (b1 & 0x18 && !supportsDpoFua(dev)) throw invalidField(1, 4);
  if (b1 & ~(0xe0 | allowed) & 0xff) throw invalidField(1);
  cmd.fua = (b1 & 0x08) !== 0;
}

function usage16(code: number, b1: number, lenBytes: number[]) {
  return (dev: Device): number[] => {
    const u = [code, 0xe0 | (supportsDpoFua(dev) ? b1 : b1 & ~0x18), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0x07];
    for (const i of lenBytes) u[i] = 0xff;
    return u;
  };
}

/** Lock, read the range into a scratch buffer, then hand it to `then` (which must call done). */
function lockedRead(cmd: ScsiCmd, dev: Device, then: (current: Buffer, finish: Cb) => void): void {
  const len = cmd.blocks * dev.blockSize;
  const pb = cmd.pool.alloc(len);
  const done = hold(cmd, 'backstore');
  rangeLock(dev).acquire(cmd.lba, cmd.blocks, 'atomic', (release) => {
    const finish: Cb = (err) => {
      release();
      cmd.pool.release(pb);
      if (err) ioError(cmd, err, true);
      else if (!cmd.isDone) cmd.complete(Status.GOOD);
      done();
    };
    devRead(dev, pb.buf, 0, len, cmd.lba * dev.blockSize, (err) => (err ? finish(err) : then(pb.buf, finish)));
  });
}

export const compareAndWrite: OpDesc = {
  name: 'COMPARE AND WRITE',
  flags: F_MEDIUM | F_WRITE_MEDIUM,
  res: 'write',
  usage: (dev) => [Op.COMPARE_AND_WRITE, 0xe0 | (supportsDpoFua(dev) ? 0x18 : 0) | 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0, 0x07],
  parse(cmd, dev) {
    const d = dev!;
    flagsCheck(cmd, d, 0x18 | 0x02);
    cmd.lba = readU64(cmd.cdb, 2);
    cmd.blocks = cmd.cdb[13]!;
    checkRange(d, cmd.lba, cmd.blocks);
    if (cmd.blocks > MAX_CAW_BLOCKS) throw invalidField(13);
    const bytes = 2 * cmd.blocks * d.blockSize;
    cmd.dir = bytes ? DataDir.WRITE : DataDir.NONE;
    cmd.dataLength = bytes;
  },
  exec(cmd, dev) {
    const d = dev!;
    // Verify data and write data both come as data-out; a different amount is a mismatch
    // between CDB and transport that must not be guessed around.
    if (cmd.expectedLength !== cmd.dataLength) throw invalidField(13);
    if (cmd.blocks === 0) return good(cmd);
    const len = cmd.blocks * d.blockSize;
    const bs = d.backstore;
    if (bs?.compareAndWrite) return storeCompareAndWrite(cmd, d, len);
    compareThenWrite(cmd, d, len);
  },
};

/** COMPARE AND WRITE under this process's range lock: read, compare, write. */
function compareThenWrite(cmd: ScsiCmd, d: Device, len: number): void {
  lockedRead(cmd, d, (current, finish) => {
    const off = firstDifference(current, cmd.buf, len);
    if (off >= 0) {
      miscompare(cmd, off);
      return finish(null);
    }
    devWrite(d, cmd.buf, len, len, cmd.lba * d.blockSize, mustBeStable(d, cmd.fua), finish);
  });
}

/**
 * COMPARE AND WRITE done by the store itself (an RBD image: atomic in the cluster, so across
 * gateways too). The range lock still orders it with this process's other commands on the same
 * blocks. A store that cannot do this range atomically says ENOTSUP: then the local way.
 */
function storeCompareAndWrite(cmd: ScsiCmd, d: Device, len: number): void {
  const done = hold(cmd, 'backstore');
  rangeLock(d).acquire(cmd.lba, cmd.blocks, 'atomic', (release) => {
    const bs = d.backstore;
    if (!bs?.compareAndWrite) {
      release();
      ioError(cmd, Object.assign(new Error('no medium'), { code: 'ENOMEDIUM' }), true);
      return done();
    }
    d.inflight++;
    bs.compareAndWrite(cmd.buf, 0, cmd.buf, len, len, cmd.lba * d.blockSize, (err, at) => {
      d.inflight--;
      if (err?.code === 'ENOTSUP') {
        release();
        compareThenWrite(cmd, d, len);
        return done();
      }
      const stable = mustBeStable(d, cmd.fua);
      const finish: Cb = (e) => {
        release();
        if (e) ioError(cmd, e, true);
        else if (at >= 0) miscompare(cmd, at);
        else cmd.complete(Status.GOOD);
        done();
      };
      if (err || at >= 0 || !stable) return finish(err);
      d.inflight++;
      bs.flush((e) => {
        d.inflight--;
        finish(e);
      });
    });
  });
}

export const orWrite: OpDesc = {
  name: 'ORWRITE(16)',
  flags: F_MEDIUM | F_WRITE_MEDIUM,
  res: 'write',
  usage: usage16(Op.ORWRITE_16, 0x18 | 0x02, [10, 11, 12, 13]),
  parse(cmd, dev) {
    const d = dev!;
    flagsCheck(cmd, d, 0x18 | 0x02);
    cmd.lba = readU64(cmd.cdb, 2);
    cmd.blocks = cmd.cdb.readUInt32BE(10);
    checkRange(d, cmd.lba, cmd.blocks);
    if (cmd.blocks * d.blockSize > MAX_TRANSFER_BYTES) throw invalidField(10);
    cmd.dir = cmd.blocks ? DataDir.WRITE : DataDir.NONE;
    cmd.dataLength = cmd.blocks * d.blockSize;
  },
  exec(cmd, dev) {
    const d = dev!;
    if (cmd.blocks === 0) return good(cmd);
    const len = cmd.blocks * d.blockSize;
    lockedRead(cmd, d, (current, finish) => {
      for (let i = 0; i < len; i++) current[i] = current[i]! | cmd.buf[i]!;
      devWrite(d, current, 0, len, cmd.lba * d.blockSize, mustBeStable(d, cmd.fua), finish);
    });
  },
};

export const writeAtomic16: OpDesc = {
  name: 'WRITE ATOMIC(16)',
  flags: F_MEDIUM | F_WRITE_MEDIUM,
  res: 'write',
  usage: usage16(Op.WRITE_ATOMIC_16, 0x18, [12, 13]),
  parse(cmd, dev) {
    const d = dev!;
    flagsCheck(cmd, d, 0x18);
    cmd.lba = readU64(cmd.cdb, 2);
    if (cmd.cdb.readUInt16BE(10) !== 0) throw invalidField(10); // ATOMIC BOUNDARY: not supported
    cmd.blocks = cmd.cdb.readUInt16BE(12);
    checkRange(d, cmd.lba, cmd.blocks);
    if (cmd.blocks * d.blockSize > Math.min(MAX_ATOMIC_BYTES, MAX_TRANSFER_BYTES)) throw invalidField(12);
    cmd.dir = cmd.blocks ? DataDir.WRITE : DataDir.NONE;
    cmd.dataLength = cmd.blocks * d.blockSize;
  },
  exec(cmd, dev) {
    const d = dev!;
    if (cmd.blocks === 0) return good(cmd);
    const len = cmd.blocks * d.blockSize;
    const done = hold(cmd, 'backstore');
    rangeLock(d).acquire(cmd.lba, cmd.blocks, 'atomic', (release) => {
      devWrite(d, cmd.buf, 0, len, cmd.lba * d.blockSize, mustBeStable(d, cmd.fua), (err) => {
        release();
        if (err) ioError(cmd, err, true);
        else cmd.complete(Status.GOOD);
        done();
      });
    });
  },
};
