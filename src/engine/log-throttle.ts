// What a peer can make the daemon log is bounded like everything else it can make it do: lines a
// peer triggers at will (a Reject for each bad PDU, a refused login for each attempt) are written
// at most once per interval for each kind, and the next line says how many were held back.

/** Kinds whose last line is older than this many intervals are forgotten (the table stays small). */
const FORGET_AFTER_INTERVALS = 10;
/** Past this many kinds, forgotten ones are swept out before a new one is added. */
const SWEEP_AT = 1024;

export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs = 1000) {}

  /**
   * Whether a line of `kind` may be written now: the number of lines held back since the last
   * one written (0 or more), or null when this one is to be held back.
   */
  admit(kind: string, now = Date.now()): number | null {
    const e = this.last.get(kind);
    if (e && now - e.at < this.intervalMs) {
      e.suppressed++;
      return null;
    }
    const suppressed = e?.suppressed ?? 0;
    if (e) {
      e.at = now;
      e.suppressed = 0;
    } else {
      if (this.last.size >= SWEEP_AT) this.sweep(now);
      this.last.set(kind, { at: now, suppressed: 0 });
    }
    return suppressed;
  }

  private sweep(now: number): void {
    for (const [k, e] of this.last) if (now - e.at > this.intervalMs * FORGET_AFTER_INTERVALS) this.last.delete(k);
    // Still full (many kinds at once, say a flood from many addresses): the oldest go first,
    // down to half, so that a sweep comes once per SWEEP_AT / 2 new kinds at most.
    for (const k of this.last.keys()) {
      if (this.last.size <= SWEEP_AT / 2) break;
      this.last.delete(k);
    }
  }
}

/** " (N more since the last line)" for a count held back, '' for none. */
export function heldBack(n: number): string {
  return n > 0 ? ` (${n} more since the last line)` : '';
}
