// One sequence of Data-Out PDUs (RFC 7143 §3.2.4.2, §11.7): the unsolicited burst of a write
// (immediate data plus unsolicited Data-Out, up to FirstBurstLength) or the answer to one R2T.
// A sequence covers a fixed byte range of the command's buffer; what arrives is accounted for by
// range (Coverage), so an overlap, a PDU outside the range, a PDU out of order when
// DataPDUInOrder=Yes, or the F bit before the range is full is found here, before the data is
// used, and the caller treats it as the protocol error it is.

import { Coverage } from '../coverage.js';

export class DataSequence {
  private readonly got: Coverage;
  /** DataSN the next Data-Out of this sequence must carry (numbered from 0, §11.7.5). */
  expDataSN = 0;

  constructor(
    /** Buffer offset where the sequence starts. */
    readonly offset: number,
    readonly length: number,
    /** DataPDUInOrder=Yes: PDUs at continuously increasing offsets. */
    private readonly inOrder: boolean,
  ) {
    this.got = new Coverage(length);
  }

  /** Bytes of the sequence received so far. */
  get received(): number {
    return this.got.covered;
  }

  get complete(): boolean {
    return this.got.complete;
  }

  /**
   * Why a Data-Out of `len` bytes at buffer offset `off` (with the F bit `final`) does not fit
   * this sequence, or null. Changes nothing.
   */
  check(off: number, len: number, final: boolean): string | null {
    const rel = off - this.offset;
    if (this.inOrder && rel !== this.got.covered) {
      return `Data-Out at offset ${off} out of order (DataPDUInOrder=Yes, next offset ${this.offset + this.got.covered})`;
    }
    const why = this.got.check(rel, len);
    if (why) return `Data-Out of ${len} bytes at offset ${off} ${why} (its sequence: ${this.offset}..${this.offset + this.length})`;
    if (final && this.got.covered + len !== this.length) {
      return `Data-Out with F bit at offset ${off} leaves ${this.length - this.got.covered - len} bytes of its sequence (${this.offset}..${this.offset + this.length}) unsent`;
    }
    return null;
  }

  /** Takes in a Data-Out that check() accepted. */
  add(off: number, len: number): void {
    this.got.add(off - this.offset, len);
  }
}
