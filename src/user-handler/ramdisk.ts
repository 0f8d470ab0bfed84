#!/usr/bin/env node
import { Command } from 'commander';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UserHandlerClient, type ExecRequest } from './client.js';

// Example user-space device handler: a RAM disk. It registers one device with scstd and executes
// the data path (READ, WRITE, VERIFY, SYNCHRONIZE CACHE) on a Buffer. Also used by the tests.

const GOOD = 0x00;
const CHECK_CONDITION = 0x02;

function senseBytes(key: number, asc: number, ascq = 0): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = key;
  b[7] = 10;
  b[12] = asc;
  b[13] = ascq;
  return b;
}

/** LBA and block count of a READ/WRITE/VERIFY CDB (6/10/12/16). */
function lbaAndLength(cdb: Buffer): { lba: number; blocks: number } {
  switch (cdb[0]! >> 5) {
    case 0:
      return { lba: ((cdb[1]! & 0x1f) << 16) | cdb.readUInt16BE(2), blocks: cdb[4]! || 256 };
    case 1:
      return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt16BE(7) };
    case 5:
      return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt32BE(6) };
    default:
      return { lba: cdb.readUInt32BE(2) * 2 ** 32 + cdb.readUInt32BE(6), blocks: cdb.readUInt32BE(10) };
  }
}

export function ramdiskExec(mem: Buffer, blockSize: number, req: ExecRequest, dataOut: Buffer): { status: number; data?: Buffer; sense?: Buffer } {
  const cdb = Buffer.from(req.cdb, 'hex');
  const op = cdb[0]!;
  if (op === 0x35 || op === 0x91) return { status: GOOD };
  const { lba, blocks } = lbaAndLength(cdb);
  const off = lba * blockSize;
  const len = blocks * blockSize;
  if (off + len > mem.length) return { status: CHECK_CONDITION, sense: senseBytes(0x05, 0x21) };
  if (req.dir === 'read') return { status: GOOD, data: mem.subarray(off, off + len) };
  if (req.dir === 'write') {
    const isVerify = op === 0x2f || op === 0xaf || op === 0x8f;
    if (isVerify) return mem.subarray(off, off + len).equals(dataOut.subarray(0, len)) ? { status: GOOD } : { status: CHECK_CONDITION, sense: senseBytes(0x0e, 0x1d) };
    dataOut.copy(mem, off, 0, len);
  }
  return { status: GOOD };
}

async function main(): Promise<void> {
  const o = new Command()
    .name('scst-user-ramdisk')
    .requiredOption('--socket <path>', "scstd's user-space handler socket")
    .requiredOption('--name <device>', 'device name')
    .option('--size-mb <n>', 'size in MiB', '64')
    .option('--block-size <n>', 'logical block size', '512')
    .option('--delay-ms <n>', 'answer every command after this delay (testing)', '0')
    .parse()
    .opts<{ socket: string; name: string; sizeMb: string; blockSize: string; delayMs: string }>();
  const blockSize = Number(o.blockSize);
  const mem = Buffer.alloc(Number(o.sizeMb) * 1024 * 1024);
  const delay = Number(o.delayMs);
  const c = await UserHandlerClient.connect(o.socket);
  c.onExec = (req, data) => {
    const r = ramdiskExec(mem, blockSize, req, data);
    const answer = () => c.reply(req.id, r.status, r.data, r.sense);
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  };
  await c.register({ name: o.name, blockSize, size: mem.length, product: 'ramdisk' });
  process.stdout.write(`registered ${o.name}\n`);
  c.socket.on('close', () => process.exit(0));
}

/** Run as a program (also through the `scst-user-ramdisk` link an installed package has), not imported. */
function isMain(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return realpathSync(argv1) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  main().catch((e: unknown) => {
    process.stderr.write(`scst-user-ramdisk: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
