// Streaming PDU parser: TCP chunks in, whole PDUs out (RFC 7143 11.2 framing: BHS, AHS, header
// digest, data segment, padding, data digest). A PDU lying wholly inside one chunk is handed out
// as views into that chunk; only a PDU that straddles chunks is assembled, and then every byte is
// copied exactly once into a buffer sized from the header. Memory per connection is therefore
// bounded by maxRecvDataSegmentLength plus the header: an oversized DataSegmentLength is skipped,
// never buffered.
//
// A chunk is valid only during push(): the daemon reads every socket into one reused buffer
// (socket-reader.ts). So the receiver copies whatever it keeps across calls, and handlers must
// not keep views of a PDU after onPdu returns (copy what outlives it, as held PDUs are copied).

import { BHS_LENGTH, DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, DIGEST_LENGTH, RejectReason } from './constants.js';
import { crc32cDigest, paddingLength, readDigest } from './digest.js';
import { checkAhs, dataSegmentLength, type Pdu } from './pdu.js';

export type ProtocolErrorKind = 'header-digest' | 'data-digest' | 'data-too-long' | 'bad-ahs';

/**
 * A framing error found by the receiver.
 * - header-digest: fatal. At ERL 0 nothing in a corrupt header can be trusted, including the
 *   lengths that locate the next PDU, so the connection must be dropped (RFC 7143 7.8).
 * - data-digest: PDU dropped; the caller sends Reject reason DATA_DIGEST_ERROR (0x02) with `bhs`
 *   and, for a SCSI Command with immediate data or a Data-Out, ends the task (ERL 0).
 * - data-too-long: DataSegmentLength exceeded maxRecvDataSegmentLength. The data was skipped
 *   (not buffered) and the stream stays in sync; the caller sends Reject reason PROTOCOL_ERROR
 *   (0x04, as Linux LIO does: exceeding a negotiated limit is a protocol violation, not a
 *   malformed field) with `bhs`, or drops the connection during login.
 * - bad-ahs: the AHS chain does not fill TotalAHSLength; PDU dropped, caller sends Reject
 *   reason INVALID_PDU_FIELD (0x09) with `bhs`.
 * `rejectReason` carries the suggested Reject reason for the non-fatal kinds.
 */
export class ProtocolError extends Error {
  constructor(
    readonly kind: ProtocolErrorKind,
    readonly fatal: boolean,
    message: string,
    readonly bhs?: Buffer,
    readonly rejectReason?: number,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** Where a data segment is written as it arrives, instead of being assembled and copied. */
export interface Placement {
  buf: Buffer;
  offset: number;
  /** Called exactly once, when the PDU has been delivered or the receiver closed. */
  release(): void;
}

export interface PduReceiverHandlers {
  onPdu(pdu: Pdu): void;
  onError(e: ProtocolError): void;
  /**
   * For a PDU whose data segment straddles chunks (and carries no AHS or digests): a buffer
   * with room for the DataSegmentLength bytes, where they are then copied straight from the
   * socket chunks; the PDU is delivered with `data` a view of that region. null: assemble as
   * usual.
   */
  placeData?(bhs: Buffer): Placement | null;
}

const EMPTY = Buffer.alloc(0);


/** Where the parser is inside the byte stream. */
type Stage = 'bhs' | 'rest' | 'skip' | 'dead';

/** Layout of the PDU being parsed, fixed when its BHS is complete. */
interface Plan {
  ahsLen: number;
  hdLen: number;
  dsl: number;
  /** Bytes after the header part: data + padding + data digest. */
  bodyLen: number;
  /** Body bytes are present only when the data segment is accepted. */
  tooLong: boolean;
  ddLen: number;
}

export class PduReceiver {
  /** Header digest expected on PDUs whose BHS starts after this is set. */
  headerDigest = false;
  /** Data digest expected on PDUs whose BHS starts after this is set. */
  dataDigest = false;
  /** The limit we declared; longer data segments are skipped with a data-too-long error. */
  maxRecvDataSegmentLength = DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH;

  private stage: Stage = 'bhs';
  private bhsBuf: Buffer | null = null; // BHS being assembled (fresh per PDU: it is handed out)
  private bhsFill = 0;
  private bhs: Buffer = EMPTY; // complete BHS of the PDU in 'rest'
  private plan: Plan | null = null;
  private rest: Buffer = EMPTY; // header part (AHS + digest) then body, assembled
  private restFill = 0;
  /** The PDU in 'rest' has its data placed here (then `rest` is unused). */
  private placement: Placement | null = null;
  /** Data bytes still to place, then padding bytes still to skip. */
  private placeLeft = 0;
  private padLeft = 0;
  private skipLeft = 0;

  constructor(private readonly handlers: PduReceiverHandlers) {}

  /** True once a fatal error was reported or close() was called; push() then ignores input. */
  get closed(): boolean {
    return this.stage === 'dead';
  }

  /** Stops parsing for good (e.g. after Logout); later push() calls are ignored. */
  close(): void {
    this.releasePlacement();
    this.stage = 'dead';
    this.bhsBuf = null;
    this.rest = EMPTY;
    this.bhs = EMPTY;
  }

  /**
   * Parses every complete PDU in `chunk`, keeping any incomplete tail for the next call. Never
   * throws for bad input. If a handler throws, the receiver closes itself and the exception
   * propagates (a bug in the handler; the stream position would otherwise be lost).
   */
  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end && this.stage !== 'dead') {
      switch (this.stage) {
        case 'skip': {
          const n = Math.min(this.skipLeft, end - pos);
          pos += n;
          this.skipLeft -= n;
          if (this.skipLeft === 0) this.stage = 'bhs';
          break;
        }
        case 'bhs': {
          if (this.bhsFill === 0 && end - pos >= BHS_LENGTH) {
            // Whole BHS in this chunk: use a view, and the rest too if it is all here.
            const bhs = chunk.subarray(pos, pos + BHS_LENGTH);
            const plan = this.makePlan(bhs);
            const headerLen = plan.ahsLen + plan.hdLen;
            const bodyLen = plan.tooLong ? 0 : plan.bodyLen;
            const restStart = pos + BHS_LENGTH;
            if (end - restStart >= headerLen + bodyLen) {
              pos = restStart + headerLen + bodyLen;
              this.complete(
                bhs,
                plan,
                headerLen ? chunk.subarray(restStart, restStart + headerLen) : EMPTY,
                bodyLen ? chunk.subarray(restStart + headerLen, restStart + headerLen + bodyLen) : EMPTY,
              );
            } else {
              pos = restStart;
              // The BHS outlives this chunk: keep a copy, not a view.
              this.startRest(Buffer.from(bhs), plan);
            }
            break;
          }
          if (this.bhsFill === 0) this.bhsBuf = Buffer.allocUnsafe(BHS_LENGTH);
          const buf = this.bhsBuf!;
          const n = Math.min(BHS_LENGTH - this.bhsFill, end - pos);
          chunk.copy(buf, this.bhsFill, pos, pos + n);
          this.bhsFill += n;
          pos += n;
          if (this.bhsFill === BHS_LENGTH) {
            this.bhsFill = 0;
            this.bhsBuf = null;
            const plan = this.makePlan(buf);
            if (plan.ahsLen + plan.hdLen + (plan.tooLong ? 0 : plan.bodyLen) === 0) this.complete(buf, plan, EMPTY, EMPTY);
            else this.startRest(buf, plan);
          }
          break;
        }
        case 'rest': {
          if (this.placement) {
            pos = this.pushPlaced(chunk, pos, end);
            break;
          }
          const n = Math.min(this.rest.length - this.restFill, end - pos);
          chunk.copy(this.rest, this.restFill, pos, pos + n);
          this.restFill += n;
          pos += n;
          if (this.restFill === this.rest.length) {
            const plan = this.plan!;
            const bhs = this.bhs;
            const rest = this.rest;
            const headerLen = plan.ahsLen + plan.hdLen;
            this.plan = null;
            this.bhs = EMPTY;
            this.rest = EMPTY;
            this.restFill = 0;
            this.stage = 'bhs';
            this.complete(bhs, plan, rest.subarray(0, headerLen), rest.subarray(headerLen));
          }
          break;
        }
      }
    }
  }

  private makePlan(bhs: Buffer): Plan {
    const dsl = dataSegmentLength(bhs);
    const ddLen = this.dataDigest && dsl > 0 ? DIGEST_LENGTH : 0;
    return {
      ahsLen: bhs[4]! * 4,
      hdLen: this.headerDigest ? DIGEST_LENGTH : 0,
      dsl,
      bodyLen: dsl + paddingLength(dsl) + ddLen,
      tooLong: dsl > this.maxRecvDataSegmentLength,
      ddLen,
    };
  }

  private startRest(bhs: Buffer, plan: Plan): void {
    this.bhs = bhs;
    this.plan = plan;
    this.stage = 'rest';
    if (this.handlers.placeData && plan.dsl > 0 && plan.ahsLen === 0 && plan.hdLen === 0 && plan.ddLen === 0 && !plan.tooLong) {
      const p = this.handlers.placeData(bhs);
      if (p && p.offset >= 0 && p.offset + plan.dsl <= p.buf.length) {
        this.placement = p;
        this.placeLeft = plan.dsl;
        this.padLeft = plan.bodyLen - plan.dsl;
        this.restFill = 0;
        return;
      }
      p?.release();
    }
    this.rest = Buffer.allocUnsafe(plan.ahsLen + plan.hdLen + (plan.tooLong ? 0 : plan.bodyLen));
    this.restFill = 0;
  }

  /** Copies data of the placed PDU straight to its place; delivers it when complete. */
  private pushPlaced(chunk: Buffer, pos: number, end: number): number {
    const p = this.placement!;
    if (this.placeLeft > 0) {
      const n = Math.min(this.placeLeft, end - pos);
      chunk.copy(p.buf, p.offset + this.restFill, pos, pos + n);
      this.restFill += n;
      this.placeLeft -= n;
      pos += n;
    }
    const skip = Math.min(this.padLeft, end - pos);
    this.padLeft -= skip;
    pos += skip;
    if (this.placeLeft === 0 && this.padLeft === 0) {
      const plan = this.plan!;
      const bhs = this.bhs;
      this.plan = null;
      this.bhs = EMPTY;
      this.placement = null;
      this.restFill = 0;
      this.stage = 'bhs';
      try {
        this.complete(bhs, plan, EMPTY, p.buf.subarray(p.offset, p.offset + plan.dsl));
      } finally {
        p.release();
      }
    }
    return pos;
  }

  private releasePlacement(): void {
    const p = this.placement;
    this.placement = null;
    p?.release();
  }

  /** A PDU's bytes are all here (body empty when tooLong): check digests and deliver. */
  private complete(bhs: Buffer, plan: Plan, header: Buffer, body: Buffer): void {
    const ahs = plan.ahsLen > 0 ? header.subarray(0, plan.ahsLen) : null;
    if (plan.hdLen > 0) {
      const want = crc32cDigest(ahs ? [bhs, ahs] : [bhs]);
      const got = readDigest(header, plan.ahsLen);
      if (want !== got) {
        this.close();
        this.emitError(new ProtocolError('header-digest', true, `header digest mismatch (computed 0x${hex8(want)}, received 0x${hex8(got)})`, bhs));
        return;
      }
    }
    if (plan.tooLong) {
      // Skip before reporting so that a handler reading `closed` or pushing again sees a sane state.
      this.skipLeft = plan.bodyLen;
      if (this.skipLeft > 0) this.stage = 'skip';
      this.emitError(
        new ProtocolError(
          'data-too-long',
          false,
          `DataSegmentLength ${plan.dsl} exceeds MaxRecvDataSegmentLength ${this.maxRecvDataSegmentLength}`,
          bhs,
          RejectReason.PROTOCOL_ERROR,
        ),
      );
      return;
    }
    if (ahs) {
      const bad = checkAhs(ahs);
      if (bad) {
        this.emitError(new ProtocolError('bad-ahs', false, `malformed AHS: ${bad}`, bhs, RejectReason.INVALID_PDU_FIELD));
        return;
      }
    }
    if (plan.ddLen > 0) {
      const covered = body.length - plan.ddLen; // data + padding, both covered by the digest
      const want = crc32cDigest([body.subarray(0, covered)]);
      const got = readDigest(body, covered);
      if (want !== got) {
        this.emitError(
          new ProtocolError('data-digest', false, `data digest mismatch (computed 0x${hex8(want)}, received 0x${hex8(got)})`, bhs, RejectReason.DATA_DIGEST_ERROR),
        );
        return;
      }
    }
    const pdu: Pdu = { bhs, ahs, data: plan.dsl === 0 ? EMPTY : plan.dsl === body.length ? body : body.subarray(0, plan.dsl) };
    try {
      this.handlers.onPdu(pdu);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private emitError(e: ProtocolError): void {
    try {
      this.handlers.onError(e);
    } catch (err) {
      this.close();
      throw err;
    }
  }
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
