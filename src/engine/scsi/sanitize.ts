import { DataDir, type ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import { Op, Sense, Status } from './constants.js';
import { buildSense, ScsiError } from './sense.js';
import { F_MEDIUM, F_WRITE_MEDIUM, type OpDesc } from './op.js';
import { invalidField, paramData, serviceActionGroup } from './util.js';
import { devDiscard, devWrite, type Cb } from './blockio.js';

// SANITIZE (SBC-4 5.30, 4.11): OVERWRITE on every disk, BLOCK ERASE on thin-provisioned ones
// (the whole backing file is deallocated), EXIT FAILURE MODE. CRYPTO ERASE is not offered: the
// backing stores are not encrypted, so there is no key whose change would make data unreadable.
//
// A sanitize is an operation of the logical unit, not of the command that started it: it goes
// on after the command is aborted, after resets and after the I_T nexus is lost, and until it
// ends every medium access gets NOT READY, SANITIZE IN PROGRESS. The overwrite is written with
// stable writes and paced at SANITIZE_BYTES_PER_SECOND, so that it leaves I/O bandwidth to the
// other logical units on the same storage while it runs.

export const SANITIZE_BYTES_PER_SECOND = 32 * 1024 * 1024;
const CHUNK = 1024 * 1024;

const SA_OVERWRITE = 0x01;
const SA_BLOCK_ERASE = 0x02;
const SA_EXIT_FAILURE_MODE = 0x1f;

interface Job {
  /** Bytes done and total, for the progress indication in REQUEST SENSE. */
  done: number;
  total: number;
}

const jobs = new WeakMap<Device, Job>();
/** A sanitize failed: media access fails until a sanitize succeeds or failure mode is exited. */
const failed = new WeakSet<Device>();

export function sanitizeFailed(dev: Device): boolean {
  return failed.has(dev);
}

/** Sense for REQUEST SENSE while sanitizing: NOT READY with a progress indication. */
export function sanitizeProgressSense(dev: Device): Buffer {
  const j = jobs.get(dev);
  const progress = j && j.total > 0 ? Math.min(0xffff, Math.floor((j.done / j.total) * 0x10000)) : 0;
  const b = buildSense(Sense.SANITIZE_IN_PROGRESS);
  b[15] = 0x80; // SKSV: progress indication
  b.writeUInt16BE(progress, 16);
  return b;
}

function cdbChecks(cmd: ScsiCmd): void {
  const c = cmd.cdb;
  if (c[1]! & 0x40) throw invalidField(1, 6);
  for (let i = 2; i <= 6; i++) if (c[i] !== 0) throw invalidField(i);
}

/**
 * Run a sanitize in the background. `cmd` (IMMED=0) completes when it ends, or as soon as it is
 * aborted; the operation itself carries on either way.
 */
function start(cmd: ScsiCmd, dev: Device, total: number, work: (job: Job, cb: Cb) => void): void {
  const immed = (cmd.cdb[1]! & 0x80) !== 0;
  const job: Job = { done: 0, total };
  jobs.set(dev, job);
  dev.sanitizing = true;
  let waiting: ScsiCmd | null = null;
  if (immed) cmd.complete(Status.GOOD);
  else {
    waiting = cmd;
    cmd.get();
    cmd.owner = 'sanitize';
  }
  // The waiting command must not outlive an abort: look for one while the work runs.
  const poll = setInterval(() => {
    if (waiting && waiting.aborted) {
      waiting.complete(Status.TASK_ABORTED);
      waiting.put();
      waiting = null;
    }
  }, 100);
  poll.unref();
  work(job, (err) => {
    clearInterval(poll);
    dev.sanitizing = false;
    jobs.delete(dev);
    if (err) failed.add(dev);
    else failed.delete(dev);
    if (waiting) {
      if (err) waiting.complete(Status.CHECK_CONDITION, buildSense(Sense.SANITIZE_FAILED));
      else waiting.complete(Status.GOOD);
      waiting.put();
    }
  });
}

function overwrite(dev: Device, pattern: Buffer, invert: boolean, passes: number, job: Job, cb: Cb): void {
  const size = dev.nblocks * dev.blockSize;
  const bs = dev.blockSize;
  const buf = Buffer.alloc(Math.min(CHUNK, Math.max(size, bs)));
  // The initialization pattern repeats within each logical block (SBC-4 5.30.2.2).
  const fill = (inv: boolean) => {
    for (let b = 0; b < buf.length; b += bs)
      for (let i = 0; i < bs && b + i < buf.length; i++) {
        const v = pattern[i % pattern.length]!;
        buf[b + i] = inv ? ~v & 0xff : v;
      }
  };
  const started = Date.now();
  const pass = (n: number): void => {
    if (n >= passes) return cb(null);
    // With INVERT, every other pass writes the inverted pattern; the last pass is the pattern.
    fill(invert && (passes - 1 - n) % 2 === 1);
    const step = (pos: number): void => {
      if (dev.closing || !dev.backstore) return cb(Object.assign(new Error('device closed'), { code: 'ENODEV' }));
      if (pos >= size) return pass(n + 1);
      const len = Math.min(buf.length, size - pos);
      devWrite(dev, buf, 0, len, pos, true, (err) => {
        if (err) return cb(err);
        job.done += len;
        const due = (job.done / SANITIZE_BYTES_PER_SECOND) * 1000 - (Date.now() - started);
        if (due > 0) setTimeout(() => step(pos + len), due).unref();
        else setImmediate(() => step(pos + len));
      });
    };
    step(0);
  };
  pass(0);
}

const overwriteOp: OpDesc = {
  name: 'SANITIZE(OVERWRITE)',
  flags: F_MEDIUM | F_WRITE_MEDIUM,
  sa: SA_OVERWRITE,
  res: 'write',
  usage: [Op.SANITIZE, 0xbf, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07],
  available: (dev) => dev.type === 0,
  parse(cmd, dev) {
    cdbChecks(cmd);
    const len = cmd.cdb.readUInt16BE(7);
    // Four bytes of header and a pattern of 1..block size bytes.
    if (len < 5 || len > dev!.blockSize + 4) throw invalidField(7);
    cmd.dir = DataDir.WRITE;
    cmd.dataLength = len;
  },
  exec(cmd, dev) {
    const d = dev!;
    const p = paramData(cmd);
    const count = p[0]! & 0x1f;
    const invert = (p[0]! & 0x80) !== 0;
    const test = (p[0]! >> 5) & 3;
    const patLen = p.readUInt16BE(2);
    if (count === 0) throw new ScsiError(Sense.INVALID_FIELD_IN_PARAM_LIST, { field: 0, cdb: false });
    if (test !== 0) throw new ScsiError(Sense.INVALID_FIELD_IN_PARAM_LIST, { field: 0, bit: 6, cdb: false });
    if (patLen === 0 || patLen > d.blockSize || patLen !== p.length - 4) throw new ScsiError(Sense.INVALID_FIELD_IN_PARAM_LIST, { field: 2, cdb: false });
    const pattern = Buffer.from(p.subarray(4, 4 + patLen));
    const size = d.nblocks * d.blockSize;
    start(cmd, d, size * count, (job, cb) => overwrite(d, pattern, invert, count, job, cb));
  },
};

const blockEraseOp: OpDesc = {
  name: 'SANITIZE(BLOCK ERASE)',
  flags: F_MEDIUM | F_WRITE_MEDIUM,
  sa: SA_BLOCK_ERASE,
  res: 'write',
  usage: [Op.SANITIZE, 0xbf, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07],
  available: (dev) => dev.type === 0 && dev.thinProvisioned,
  parse(cmd) {
    cdbChecks(cmd);
    if (cmd.cdb.readUInt16BE(7) !== 0) throw invalidField(7);
  },
  exec(cmd, dev) {
    const d = dev!;
    const size = d.nblocks * d.blockSize;
    start(cmd, d, size, (job, cb) => {
      devDiscard(d, 0, size, (err) => {
        if (!err) job.done = size;
        cb(err);
      });
    });
  },
};

const exitFailureModeOp: OpDesc = {
  name: 'SANITIZE(EXIT FAILURE MODE)',
  flags: F_MEDIUM,
  sa: SA_EXIT_FAILURE_MODE,
  res: 'write',
  usage: [Op.SANITIZE, 0xbf, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07],
  available: (dev) => dev.type === 0,
  parse(cmd) {
    cdbChecks(cmd);
    if (cmd.cdb.readUInt16BE(7) !== 0) throw invalidField(7);
  },
  exec(cmd, dev) {
    failed.delete(dev!);
    cmd.complete(Status.GOOD);
  },
};

export const sanitize: OpDesc = serviceActionGroup('SANITIZE', 0, [overwriteOp, blockEraseOp, exitFailureModeOp]);
