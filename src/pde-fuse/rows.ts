// Listings of one line per device or LUN (procfs vdisk, scsi_tgt, a group's devices): the lines
// of a long one are made a slice per event-loop turn, so that 10,000 of them never hold the
// iSCSI I/O waiting on the same loop for the whole listing.

/** Lines made in one turn: 10,000 devices are listed in 20 turns of about a millisecond each. */
export const ROWS_PER_TURN = 500;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * `head`, then one line per item. The items are taken when the listing starts (a listing shows one
 * moment's set); each line is made from its item's state when its slice is made.
 */
export function renderRows<T>(head: string, items: Iterable<T>, row: (x: T) => string): string | Promise<string> {
  const all = [...items];
  if (all.length <= ROWS_PER_TURN) {
    let out = head;
    for (const x of all) out += row(x);
    return out;
  }
  return (async () => {
    let out = head;
    for (let i = 0; i < all.length; i += ROWS_PER_TURN) {
      if (i > 0) await nextTurn();
      const end = Math.min(all.length, i + ROWS_PER_TURN);
      for (let j = i; j < end; j++) out += row(all[j]!);
    }
    return out;
  })();
}

/** The items of `it` that `keep` accepts (a listing of one handler's devices). */
export function* filtered<T>(it: Iterable<T>, keep: (x: T) => boolean): Iterable<T> {
  for (const x of it) if (keep(x)) yield x;
}
