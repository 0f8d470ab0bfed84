import { DataDir, type ScsiCmd } from '../cmd.js';
import { Sense, Status } from './constants.js';
import { ScsiError } from './sense.js';

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
  if (n > 0) data.copy(cmd.allocBuffer(cmd.dataLength), 0, 0, n);
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
