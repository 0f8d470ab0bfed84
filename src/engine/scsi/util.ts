import { DataDir, type ScsiCmd } from '../cmd.js';
import { Sense, Status } from './constants.js';
import { ScsiError } from './sense.js';
import type { OpDesc } from './op.js';

export function invalidField(byte: number, bit?: number): ScsiError {
  return new ScsiError(Sense.INVALID_FIELD_IN_CDB, { field: byte, bit });
}

/** A command that returns `len` bytes at most (allocation length). */
export function dataIn(cmd: ScsiCmd, allocationLength: number): void {
  cmd.dir = allocationLength > 0 ? DataDir.READ : DataDir.NONE;
  cmd.dataLength = allocationLength;
}

/** Complete with data built in `data`, truncated to the allocation length. */
export function replyData(cmd: ScsiCmd, data: Buffer): void {
  const n = Math.min(data.length, cmd.dataLength);
  // Only what is returned, however large the allocation length: every byte of it is copied.
  if (n > 0) data.copy(cmd.allocBuffer(n, true), 0, 0, n);
  cmd.dataInLength = n;
  cmd.complete(Status.GOOD);
}

export function good(cmd: ScsiCmd): void {
  cmd.complete(Status.GOOD);
}

export function padAscii(s: string, len: number): Buffer {
  const b = Buffer.alloc(len, 0x20);
  b.write(s.slice(0, len), 'latin1');
  return b;
}

/** 64-bit big-endian from a CDB (LBAs fit in 2^53 for any size we can back). */
export function readU64(b: Buffer, off: number): number {
  return b.readUInt32BE(off) * 0x100000000 + b.readUInt32BE(off + 4);
}

export function writeU64(b: Buffer, v: number, off: number): void {
  b.writeUInt32BE(Math.floor(v / 0x100000000) >>> 0, off);
  b.writeUInt32BE(v >>> 0, off + 4);
}

/**
 * An operation code whose CDB carries a service action (byte 1, bits 4..0 unless `saOf` says
 * otherwise): parse picks the member, which then parses and executes the command itself.
 */
export function serviceActionGroup(name: string, flags: number, members: OpDesc[], saOf: (cdb: Buffer) => number = (c) => c[1]! & 0x1f): OpDesc {
  const map = new Map<number, OpDesc>(members.map((m) => [m.sa!, m]));
  return {
    name,
    flags,
    serviceActions: map,
    parse(cmd, dev) {
      const m = map.get(saOf(cmd.cdb));
      if (!m || (dev && m.available && !m.available(dev))) throw invalidField(1, 4);
      cmd.op = m;
      m.parse(cmd, dev);
    },
    exec(cmd, dev, td) {
      // Only reached if parse did not dispatch (it always does); keep the invariant anyway.
      if (cmd.op && cmd.op !== this) return cmd.op.exec(cmd, dev, td);
      throw invalidField(1, 4);
    },
  };
}

/** Parameter data (data-out) of a command, as received. */
export function paramData(cmd: ScsiCmd): Buffer {
  return cmd.dataLength > 0 && cmd.pbuf ? cmd.buf.subarray(0, cmd.dataLength) : Buffer.alloc(0);
}

export function readU64Big(b: Buffer, off: number): bigint {
  return b.readBigUInt64BE(off);
}
