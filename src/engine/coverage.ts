// Which bytes of a data range have arrived. Data placed by offset (iSCSI Data-Out, any fabric's
// data-out) is accounted for by the ranges it covered, never by a byte count: a count lets a
// range sent twice stand in for a range never sent, and the bytes never sent would then be
// whatever the buffer held before (another command's data).
//
// Arrival is nearly always in order, so the common case is one number (everything below
// `contiguous` has arrived). Out-of-order pieces are kept as sorted, disjoint ranges, bounded in
// number: a peer cannot make the bookkeeping grow without limit.

/** Out-of-order pieces kept beyond the contiguous prefix; more is refused. */
export const MAX_PIECES = 128;

export class Coverage {
  /** [0, contiguous) has arrived. */
  private contiguous = 0;
  /** Pieces beyond `contiguous`, as [start, end) pairs, sorted, disjoint, none touching another. */
  private pieces: number[] | null = null;
  /** Bytes covered in all. */
  covered = 0;

  constructor(readonly length: number) {}

  /** Why [off, off + len) cannot be added (outside the range, overlapping, too fragmented), or null. */
  check(off: number, len: number): string | null {
    if (off < 0 || len < 0 || off + len > this.length) return 'lies outside the range';
    if (len === 0) return null;
    if (off < this.contiguous) return 'overlaps data already received';
    const p = this.pieces;
    if (!p || off === this.contiguous) {
      if (p && p.length > 0 && off + len > p[0]!) return 'overlaps data already received';
      return null;
    }
    const i = this.insertionIndex(off);
    if (i > 0 && p[i - 1]! > off) return 'overlaps data already received';
    if (i < p.length && p[i]! < off + len) return 'overlaps data already received';
    if (p.length >= MAX_PIECES * 2) return `would make more than ${MAX_PIECES} out-of-order pieces`;
    return null;
  }

  /** Adds [off, off + len); returns the reason instead when check() refuses it (nothing changes). */
  add(off: number, len: number): string | null {
    if (off === this.contiguous && !this.pieces && off + len <= this.length) {
      // The in-order case: no search, no allocation.
      this.contiguous += len;
      this.covered += len;
      return null;
    }
    const why = this.check(off, len);
    if (why || len === 0) return why;
    this.covered += len;
    if (off === this.contiguous) {
      this.contiguous += len;
      this.absorb();
      return null;
    }
    const p = (this.pieces ??= []);
    const i = this.insertionIndex(off);
    // Join neighbours that touch, so adjacent pieces never count twice against MAX_PIECES.
    const joinsLeft = i > 0 && p[i - 1] === off;
    const joinsRight = i < p.length && p[i] === off + len;
    if (joinsLeft && joinsRight) p.splice(i - 1, 2);
    else if (joinsLeft) p[i - 1] = off + len;
    else if (joinsRight) p[i] = off;
    else p.splice(i, 0, off, off + len);
    return null;
  }

  /** True when every byte of [0, n) has arrived. */
  coversPrefix(n: number): boolean {
    return this.contiguous >= n;
  }

  get complete(): boolean {
    return this.covered === this.length;
  }

  /** First pair index whose start is at or after `off`. */
  private insertionIndex(off: number): number {
    const p = this.pieces!;
    let lo = 0;
    let hi = p.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (p[mid * 2]! < off) lo = mid + 1;
      else hi = mid;
    }
    return lo * 2;
  }

  /** The contiguous prefix grew: take in the first piece if it now touches it. */
  private absorb(): void {
    const p = this.pieces;
    if (p && p.length > 0 && p[0] === this.contiguous) {
      this.contiguous = p[1]!;
      p.splice(0, 2);
    }
    if (p && p.length === 0) this.pieces = null;
  }
}
