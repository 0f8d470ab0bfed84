// The transmit side of a connection: PDUs are laid out back to back in a slab, so the replies
// of one event-loop turn leave in a single socket write. Headers are serialized straight into the
// slab (no Buffer per header) and small data segments are copied next to their header: copying a
// 512-byte or 4 KiB read is cheaper than one more chunk through the stream machinery and lets the
// command's pool buffer go back at once. Only large data segments are sent as views of the
// caller's buffer; the caller then keeps that buffer until the write's callback.
//
// Slab bytes are never rewritten: a region handed to the socket may still be queued inside it.
// A full slab is left to the garbage collector (with the views still referencing it) and a fresh
// one is started. Slabs come zero-filled, so a header's reserved fields need no clearing.
//
// An idle connection holds no slab: the first one after idleness is small, each next one twice
// the size up to SLAB_SIZE, so a busy connection writes from large slabs while a thousand idle
// sessions do not each keep 128 KiB (release()). Slabs are regions of larger blocks shared by all
// connections (never rewritten either, and no two regions overlap): a login's one small answer
// then costs a view, not a zero-filled allocation of its own for the collector to sweep.

import { BHS_LENGTH, DIGEST_LENGTH } from './constants.js';
import { crc32cDigest, paddingLength, writeDigest } from './digest.js';
import { writeDataSegmentLength } from './pdu.js';

const SLAB_SIZE = 128 * 1024;
/** The first slab after idleness: the replies of a turn at queue depth 32 fit. */
const FIRST_SLAB_SIZE = 4 * 1024;
/**
 * The first slab of a connection in login: one answer fits. Fresh memory is touched a page at a
 * time, each touch a page fault, so a login storm pays one per four logins instead of one each.
 */
export const LOGIN_SLAB_SIZE = 1024;
const EMPTY = Buffer.alloc(0);
/** The shared blocks slabs are carved from; a larger slab is allocated on its own. */
const BLOCK_SIZE = 1024 * 1024;

let block = EMPTY;
let blockPos = 0;

/** A zero-filled region of `n` bytes that nothing else will ever write. */
function takeSlab(n: number): Buffer {
  if (n > BLOCK_SIZE / 4) return Buffer.alloc(n);
  if (blockPos + n > block.length) {
    block = Buffer.alloc(BLOCK_SIZE);
    blockPos = 0;
  }
  const slab = block.subarray(blockPos, blockPos + n);
  blockPos += n;
  return slab;
}
/** Data segments up to this size are copied into the slab; larger ones are referenced. */
export const COPY_MAX = 16 * 1024;

export class OutQueue {
  /** The slab the next header goes into (valid only until the next begin()). */
  buf: Buffer = EMPTY;
  /** Size of the next slab: doubles while the connection keeps filling them. */
  private nextSlab: number;

  constructor(firstSlab = FIRST_SLAB_SIZE) {
    this.nextSlab = firstSlab;
  }
  private pos = 0;
  /** First byte of the slab not yet handed to a chunk. */
  private start = 0;
  private chunks: Buffer[] = [];
  private headerDigestAt = -1;

  /** True when nothing is queued. */
  get empty(): boolean {
    return this.chunks.length === 0 && this.pos === this.start;
  }

  /**
   * Room for one BHS (and its header digest when `headerDigest`): returns its offset in `buf`,
   * zero-filled. The caller writes the header there, then calls end().
   */
  begin(headerDigest: boolean): number {
    const n = BHS_LENGTH + (headerDigest ? DIGEST_LENGTH : 0);
    const o = this.room(n);
    this.headerDigestAt = headerDigest ? o + BHS_LENGTH : -1;
    return o;
  }

  /**
   * Completes the PDU whose header starts at `o`: sets DataSegmentLength, the header digest,
   * then the data segment with its padding and data digest. Returns true when `data` is
   * referenced rather than copied (the caller must keep it unchanged until the write is done).
   */
  end(o: number, data: Buffer | null, dataDigest: boolean): boolean {
    return this.endRange(o, data, 0, data ? data.length : 0, dataDigest);
  }

  /** end() for the `len` bytes of `src` from `start`, without making a view unless it is sent as one. */
  endRange(o: number, src: Buffer | null, start: number, len: number, dataDigest: boolean): boolean {
    const b = this.buf;
    writeDataSegmentLength(b, len, o);
    if (this.headerDigestAt >= 0) writeDigest(b, this.headerDigestAt, crc32cDigest([b.subarray(o, o + BHS_LENGTH)]));
    if (len === 0) return false;
    const pad = paddingLength(len);
    const tail = pad + (dataDigest ? DIGEST_LENGTH : 0);
    let referenced = false;
    let d: number;
    let data: Buffer | null = null;
    if (len <= COPY_MAX) {
      d = this.room(len + tail);
      src!.copy(this.buf, d, start, start + len);
    } else {
      this.seal();
      data = start === 0 && len === src!.length ? src! : src!.subarray(start, start + len);
      this.chunks.push(data);
      referenced = true;
      d = -1;
    }
    if (tail > 0) {
      const t = d >= 0 ? d + len : this.room(tail);
      const s = this.buf;
      for (let i = 0; i < pad; i++) s[t + i] = 0;
      if (dataDigest) writeDigest(s, t + pad, crc32cDigest([data ?? s.subarray(d, d + len), s.subarray(t, t + pad)]));
    }
    return referenced;
  }

  /** Queues a PDU whose header was built elsewhere (login, text, reject: not the hot path). */
  pdu(bhs: Buffer, data: Buffer | null, headerDigest: boolean, dataDigest: boolean): boolean {
    const o = this.begin(headerDigest);
    bhs.copy(this.buf, o, 0, BHS_LENGTH);
    return this.end(o, data, dataDigest);
  }

  /**
   * Hands everything queued to `write`, in order, as few buffers as possible (one, unless large
   * data segments were referenced). Returns the number of buffers written.
   */
  drain(write: (b: Buffer, last: boolean) => void): number {
    this.seal();
    const chunks = this.chunks;
    const n = chunks.length;
    for (let i = 0; i < n; i++) write(chunks[i]!, i === n - 1);
    chunks.length = 0;
    return n;
  }

  /**
   * Let go of the slab if nothing is queued in it (the connection is idle): the next reply
   * starts a small one. Bytes already handed to the socket stay valid (they are views).
   */
  release(): void {
    if (!this.empty) return;
    this.buf = EMPTY;
    this.pos = this.start = 0;
    this.nextSlab = FIRST_SLAB_SIZE;
  }

  /** Forget everything queued (connection closed). */
  discard(): void {
    this.chunks.length = 0;
    this.start = this.pos;
  }

  private room(n: number): number {
    if (this.pos + n > this.buf.length) {
      this.seal();
      this.buf = takeSlab(Math.max(this.nextSlab, n));
      this.nextSlab = Math.min(this.nextSlab * 2, SLAB_SIZE);
      this.pos = 0;
      this.start = 0;
    }
    const o = this.pos;
    this.pos += n;
    return o;
  }

  private seal(): void {
    if (this.pos > this.start) {
      this.chunks.push(this.buf.subarray(this.start, this.pos));
      this.start = this.pos;
    }
  }
}
