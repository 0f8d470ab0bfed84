import { DataDir, type ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import type { ScstSession } from '../session.js';
import { TgtDev } from '../tgtdev.js';
import { Op, Sense, Status, type Asc } from './constants.js';
import { buildSense, ScsiError } from './sense.js';
import { F_MEDIUM, type OpDesc } from './op.js';
import { dataIn, invalidField, paramData, readU64, replyData, serviceActionGroup } from './util.js';
import { devRead, devWrite, hold, mustBeStable, type Cb } from './blockio.js';
import { rangeLock } from './lba-lock.js';
import { nexusConflict } from './reserve.js';

// The copy manager (SPC-4 6.3, 6.18): EXTENDED COPY (LID1) with identification target
// descriptors (0xE4) naming logical units of this target, and block-to-block segments (0x02);
// RECEIVE COPY RESULTS reports the operating parameters and the status of held copies. Data
// moves in MAX_CHUNK pieces through pool buffers; the copy runs inside the EXTENDED COPY
// command (no background copies), so aborting that command's nexus ends it.

const XCOPY_LID1 = 0x00;
const RCR_COPY_STATUS = 0x00;
const RCR_OPERATING_PARAMETERS = 0x03;
const RCR_FAILED_SEGMENT_DETAILS = 0x04;

const TD_IDENTIFICATION = 0xe4;
const SD_BLOCK_TO_BLOCK = 0x02;
const TD_LEN = 32;
const SD_B2B_LEN = 28;
const HEADER_LEN = 16;

export const MAX_TARGET_DESCRIPTORS = 16;
export const MAX_SEGMENT_DESCRIPTORS = 64;
export const MAX_DESCRIPTOR_LIST_LENGTH = 4096;
export const MAX_SEGMENT_BYTES = 256 * 1024 * 1024;
const MAX_CHUNK = 1024 * 1024;
/** Copy results kept per I_T nexus (the oldest are forgotten first). */
const MAX_HELD_RESULTS = 16;

interface CopyResult {
  listId: number;
  status: 'done' | 'failed';
  segments: number;
  /** Bytes transferred. */
  bytes: number;
  sense: Buffer | null;
}

const held = new WeakMap<ScstSession, CopyResult[]>();

function keep(sess: ScstSession, r: CopyResult): void {
  let list = held.get(sess);
  if (!list) {
    list = [];
    held.set(sess, list);
  }
  const i = list.findIndex((x) => x.listId === r.listId);
  if (i >= 0) list.splice(i, 1);
  list.push(r);
  if (list.length > MAX_HELD_RESULTS) list.shift();
}

interface Target {
  designator: Buffer;
  blockSize: number;
  /** Offset of the descriptor in the parameter list. */
  at: number;
}

interface Segment {
  src: number;
  dst: number;
  blocks: number;
  srcLba: number;
  dstLba: number;
  dc: boolean;
  at: number;
}

function plle(): ScsiError {
  return new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
}

function paramField(field: number, asc: Asc = Sense.INVALID_FIELD_IN_PARAM_LIST): ScsiError {
  return new ScsiError(asc, { field, cdb: false });
}

/** Decode and check the parameter list (SPC-4 6.4.3); nothing is copied unless it all holds. */
function decode(d: Buffer): { listId: number; usage: number; targets: Target[]; segments: Segment[] } {
  if (d.length < HEADER_LEN) throw plle();
  const listId = d[0]!;
  const usage = (d[1]! >> 3) & 3;
  const tdLen = d.readUInt16BE(2);
  const sdLen = d.readUInt32BE(8);
  const inline = d.readUInt32BE(12);
  if (tdLen + sdLen > MAX_DESCRIPTOR_LIST_LENGTH) throw plle();
  if (HEADER_LEN + tdLen + sdLen + inline > d.length) throw plle();
  if (inline !== 0) throw paramField(12); // no inline data (maximum inline data length 0)
  if (usage === 1) throw paramField(1);
  if (usage === 3 && listId !== 0) throw paramField(0);
  if (tdLen % TD_LEN !== 0) throw paramField(2);
  if (tdLen / TD_LEN > MAX_TARGET_DESCRIPTORS) throw new ScsiError(Sense.TOO_MANY_TARGET_DESCRIPTORS);
  const targets: Target[] = [];
  for (let off = HEADER_LEN; off < HEADER_LEN + tdLen; off += TD_LEN) {
    if (d[off] !== TD_IDENTIFICATION) throw new ScsiError(Sense.UNSUPPORTED_TARGET_DESCRIPTOR, { field: off, cdb: false });
    if ((d[off + 1]! & 0x1f) !== 0) throw paramField(off + 1); // peripheral device type: block
    // LU ID TYPE (bits 7..6) is ignored, as SPC-4 says.
    const dlen = d[off + 7]!;
    if (dlen > 16) throw paramField(off + 7);
    const designator = Buffer.from(d.subarray(off + 4, off + 8 + dlen));
    const blockSize = (d[off + 29]! << 16) | d.readUInt16BE(off + 30);
    targets.push({ designator, blockSize, at: off });
  }
  const segments: Segment[] = [];
  let off = HEADER_LEN + tdLen;
  const end = HEADER_LEN + tdLen + sdLen;
  while (off < end) {
    if (off + 4 > end) throw plle();
    const type = d[off]!;
    const len = d.readUInt16BE(off + 2) + 4;
    if (type !== SD_BLOCK_TO_BLOCK) throw new ScsiError(Sense.UNSUPPORTED_SEGMENT_DESCRIPTOR, { field: off, cdb: false });
    if (len !== SD_B2B_LEN) throw paramField(off + 2);
    if (off + len > end) throw plle();
    if (segments.length >= MAX_SEGMENT_DESCRIPTORS) throw new ScsiError(Sense.TOO_MANY_SEGMENT_DESCRIPTORS);
    segments.push({
      dc: (d[off + 1]! & 0x02) !== 0,
      src: d.readUInt16BE(off + 4),
      dst: d.readUInt16BE(off + 6),
      blocks: d.readUInt16BE(off + 10),
      srcLba: readU64(d, off + 12),
      dstLba: readU64(d, off + 20),
      at: off,
    });
    off += len;
  }
  return { listId, usage, targets, segments };
}

/**
 * The logical unit a target descriptor names, and the nexus its reads and writes are checked
 * as (reservations, read-only mapping). As SCST does, the designator is looked up among the
 * devices the copy manager holds; one this session does not see is used through a nexus of
 * this I_T pair when the copy manager allows the initiator to (scst_cm_check_access).
 * Refusals are SCST's: INVALID FIELD IN PARAMETER LIST at the descriptor, or at its block size.
 */
function resolve(sess: ScstSession, t: Target): TgtDev {
  const cm = sess.core.copyManager;
  if (!cm) throw paramField(t.at);
  const dev = cm.findByDesignator(t.designator);
  if (!dev) {
    sess.core.log.debug({ initiator: sess.initiatorName, offset: t.at }, `Target descriptor designator not found (initiator ${sess.initiatorName}, offs ${t.at})`);
    throw paramField(t.at);
  }
  if (t.blockSize !== dev.blockSize) {
    sess.core.log.warn({ device: dev.name }, `Block size ${t.blockSize} doesn't match ${dev.blockSize}`);
    throw paramField(t.at + 29);
  }
  for (const td of sess.tgtDevs.values()) if (td.device === dev) return td;
  if (!cm.mayAccess(sess.initiatorName, dev)) throw paramField(t.at);
  return new TgtDev(sess, cm.lunOf(dev) ?? 0, dev, false);
}

class CopyAbort extends Error {
  constructor(
    readonly sense: Buffer,
    readonly status: number = Status.CHECK_CONDITION,
  ) {
    super('copy aborted');
  }
}

/** NOT READY, ASYMMETRIC ACCESS STATE TRANSITION: a cluster-mode LU this node may not serve now. */
const IN_TRANSITION: Asc = { key: 2, asc: 0x04, ascq: 0x0a };

function aborted(asc: Asc = Sense.COPY_ABORTED, segment?: number): CopyAbort {
  return new CopyAbort(buildSense(asc, segment !== undefined ? { information: segment } : undefined));
}

function copySegment(cmd: ScsiCmd, s: Segment, src: TgtDev, dst: TgtDev, index: number, progress: (bytes: number) => void, cb: (e: CopyAbort | null) => void): void {
  const sd = src.device;
  const dd = dst.device;
  if (!sd.mediumPresent || !dd.mediumPresent) return cb(aborted(Sense.UNREACHABLE_COPY_TARGET, index));
  if (sd.blockSize !== dd.blockSize) return cb(aborted(Sense.COPY_ABORTED, index));
  const bs = sd.blockSize;
  const blocks = s.blocks;
  const bytes = blocks * bs;
  if (bytes > MAX_SEGMENT_BYTES) return cb(aborted(Sense.COPY_ABORTED, index));
  if (s.srcLba + blocks > sd.nblocks || s.dstLba + blocks > dd.nblocks) return cb(aborted(Sense.COPY_ABORTED, index));
  if (dst.isReadOnly || dd.swp) return cb(aborted(Sense.WRITE_PROTECTED, index));
  // The copy manager reads and writes on behalf of the I_T nexus that sent EXTENDED COPY.
  // A cluster-mode LU on a node that is not certainly a member: not touched (retryable, as a command on it).
  const fenced = () => (sd.clusterGate !== null && !sd.clusterGate()) || (dd.clusterGate !== null && !dd.clusterGate());
  if (fenced()) return cb(aborted(IN_TRANSITION, index));
  if (nexusConflict(sd, src, 'read') || nexusConflict(dd, dst, 'write')) return cb(new CopyAbort(Buffer.alloc(0), Status.RESERVATION_CONFLICT));
  if (blocks === 0) return cb(null);
  const pb = cmd.pool.alloc(Math.min(bytes, MAX_CHUNK));
  const per = Math.max(1, Math.floor(pb.buf.length / bs));
  const stable = mustBeStable(dd, false);
  const step = (done: number): void => {
    if (cmd.aborted) {
      cmd.pool.release(pb);
      return cb(aborted(Sense.COPY_ABORTED, index));
    }
    if (done >= blocks) {
      cmd.pool.release(pb);
      return cb(null);
    }
    if (fenced()) {
      cmd.pool.release(pb);
      return cb(aborted(IN_TRANSITION, index));
    }
    const n = Math.min(per, blocks - done);
    rangeLock(sd).acquire(s.srcLba + done, n, 'read', (rel1) => {
      devRead(sd, pb.buf, 0, n * bs, (s.srcLba + done) * bs, (err) => {
        rel1();
        if (err) {
          cmd.pool.release(pb);
          return cb(aborted(Sense.COPY_ABORTED, index));
        }
        rangeLock(dd).acquire(s.dstLba + done, n, 'write', (rel2) => {
          devWrite(dd, pb.buf, 0, n * bs, (s.dstLba + done) * bs, stable, (werr) => {
            rel2();
            if (werr) {
              cmd.pool.release(pb);
              return cb(aborted(Sense.COPY_ABORTED, index));
            }
            progress(n * bs);
            step(done + n);
          });
        });
      });
    });
  };
  step(0);
}

const extendedCopy: OpDesc = {
  name: 'EXTENDED COPY(LID1)',
  flags: F_MEDIUM,
  sa: XCOPY_LID1,
  res: 'write',
  usage: [Op.EXTENDED_COPY, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07],
  parse(cmd) {
    const len = cmd.cdb.readUInt32BE(10);
    if (len > HEADER_LEN + MAX_DESCRIPTOR_LIST_LENGTH + 64) throw invalidField(10);
    cmd.dir = len ? DataDir.WRITE : DataDir.NONE;
    cmd.dataLength = len;
  },
  exec(cmd) {
    if (cmd.dataLength === 0) return cmd.complete(Status.GOOD);
    const p = decode(paramData(cmd));
    const sess = cmd.session;
    const result: CopyResult = { listId: p.listId, status: 'done', segments: 0, bytes: 0, sense: null };
    const finish = (e: CopyAbort | null): void => {
      if (e) {
        result.status = 'failed';
        result.sense = e.sense.length ? e.sense : null;
      }
      if (p.usage === 0) keep(sess, result);
      if (e) cmd.complete(e.status, e.sense.length ? e.sense : null);
      else cmd.complete(Status.GOOD);
      done();
    };
    // Every copy target is found before anything is copied (scst_cm_parse_descriptors).
    const resolved = p.targets.map((t) => resolve(sess, t));
    const done = hold(cmd, 'copy-manager');
    const next = (i: number): void => {
      if (i >= p.segments.length) return finish(null);
      const s = p.segments[i]!;
      const src = resolved[s.src];
      const dst = resolved[s.dst];
      if (!src || !dst) return finish(aborted(Sense.UNREACHABLE_COPY_TARGET, i));
      copySegment(cmd, s, src, dst, i, (b) => (result.bytes += b), (e) => {
        if (e) return finish(e);
        result.segments++;
        next(i + 1);
      });
    };
    next(0);
  },
};

function copyStatus(cmd: ScsiCmd): Buffer {
  const listId = cmd.cdb[2]!;
  const r = held.get(cmd.session)?.find((x) => x.listId === listId);
  if (!r) throw invalidField(2);
  const b = Buffer.alloc(12);
  b.writeUInt32BE(8, 0);
  b[4] = r.status === 'done' ? 0x01 : 0x02; // completed, without / with errors
  b.writeUInt16BE(Math.min(r.segments, 0xffff), 5);
  b[7] = 0xf1; // transfer count in KiB
  b.writeUInt32BE(Math.min(Math.floor(r.bytes / 1024), 0xffffffff), 8);
  return b;
}

function failedSegmentDetails(cmd: ScsiCmd): Buffer {
  const listId = cmd.cdb[2]!;
  const r = held.get(cmd.session)?.find((x) => x.listId === listId);
  if (!r) throw invalidField(2);
  const sense = r.sense ?? Buffer.alloc(0);
  const b = Buffer.alloc(60);
  b.writeUInt32BE(56 + sense.length, 0);
  b[56] = r.status === 'done' ? 0x01 : 0x02;
  b.writeUInt16BE(sense.length, 58);
  return Buffer.concat([b, sense]);
}

function operatingParameters(): Buffer {
  const types = [SD_BLOCK_TO_BLOCK, TD_IDENTIFICATION];
  const b = Buffer.alloc(44 + types.length);
  b.writeUInt32BE(b.length - 4, 0);
  b.writeUInt16BE(MAX_TARGET_DESCRIPTORS, 8);
  b.writeUInt16BE(MAX_SEGMENT_DESCRIPTORS, 10);
  b.writeUInt32BE(MAX_DESCRIPTOR_LIST_LENGTH, 12);
  b.writeUInt32BE(MAX_SEGMENT_BYTES, 16);
  // Maximum inline data length and held data limit: none.
  b.writeUInt16BE(1, 34); // total concurrent copies
  b[36] = 1; // maximum concurrent copies
  b[37] = 9; // data segment granularity 512 bytes (log2)
  b[43] = types.length;
  types.forEach((t, i) => (b[44 + i] = t));
  return b;
}

function rcrMember(sa: number, name: string, build: (cmd: ScsiCmd) => Buffer): OpDesc {
  return {
    name: `RECEIVE COPY RESULTS(${name})`,
    flags: 0,
    sa,
    res: 'allowed',
    usage: [Op.RECEIVE_COPY_RESULTS, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07],
    parse(cmd) {
      dataIn(cmd, cmd.cdb.readUInt32BE(10));
    },
    exec(cmd) {
      replyData(cmd, build(cmd));
    },
  };
}

const diskOnly = (dev: Device): boolean => dev.type === 0;

export const extendedCopyGroup: OpDesc = serviceActionGroup('EXTENDED COPY', 0, [{ ...extendedCopy, available: diskOnly }]);

export const receiveCopyResults: OpDesc = serviceActionGroup('RECEIVE COPY RESULTS', 0, [
  { ...rcrMember(RCR_COPY_STATUS, 'COPY STATUS', copyStatus), available: diskOnly },
  { ...rcrMember(RCR_OPERATING_PARAMETERS, 'OPERATING PARAMETERS', operatingParameters), available: diskOnly },
  { ...rcrMember(RCR_FAILED_SEGMENT_DETAILS, 'FAILED SEGMENT DETAILS', failedSegmentDetails), available: diskOnly },
]);
