import type { Device } from '../device.js';

// Logical block range locks: what makes COMPARE AND WRITE, ORWRITE and WRITE ATOMIC atomic
// against other commands touching the same blocks. Commands that modify blocks other than by a
// plain WRITE hold an exclusive lock on their range for the duration of their backstore I/O; the
// read-modify-write commands (and atomic writes) additionally make overlapping reads and plain
// writes wait, so nobody observes or splits half of them. Plain READs and WRITEs take the fast
// path: counted, not listed (SAM leaves the order of overlapping SIMPLE commands open, and each
// one is a single pread/pwrite, which the file system already performs whole). Non-overlapping
// ranges never wait for each other. Waiters are served in arrival order among overlapping
// ranges, so nothing starves.

export type LockMode = 'write' | 'atomic' | 'read';

interface Held {
  lba: number;
  end: number;
  mode: LockMode;
}

interface Waiter extends Held {
  grant: () => void;
}

function overlaps(a: { lba: number; end: number }, b: { lba: number; end: number }): boolean {
  return a.lba < b.end && b.lba < a.end;
}

/** Two holders conflict unless both only read, or a plain read meets a plain write. */
function conflicts(a: LockMode, b: LockMode): boolean {
  if (a === 'read' && b === 'read') return false;
  if ((a === 'read' && b === 'write') || (a === 'write' && b === 'read')) return false;
  return true;
}

export class RangeLock {
  private readonly held: Held[] = [];
  private readonly waiting: Waiter[] = [];
  /** Plain reads and writes in flight that took the fast path: counted, not listed. */
  private fast = 0;
  /** Atomic holders and waiters; while there is one, reads are listed like everything else. */
  private atomics = 0;

  /** Holders plus waiters (diagnostics, tests). */
  get size(): number {
    return this.held.length + this.waiting.length + this.fast;
  }

  /**
   * Only atomic commands ever make a plain read or write wait, so while none holds or waits for
   * a range one is merely counted (no lists, no closures: they are the hot path). Returns false
   * when the command must go through acquire(); otherwise endFast() must follow exactly once.
   */
  tryFast(): boolean {
    if (this.atomics > 0) return false;
    this.fast++;
    return true;
  }

  endFast(): void {
    this.fast--;
    if (this.fast === 0 && this.waiting.length > 0) this.wake();
  }

  /**
   * Lock [lba, lba+blocks) and call `grant` once it is ours (synchronously when free), with the
   * release function: to be called exactly once, when the I/O is over.
   */
  acquire(lba: number, blocks: number, mode: LockMode, grant: (release: () => void) => void): void {
    let released = false;
    if (mode === 'atomic') this.atomics++;
    const w: Waiter = {
      lba,
      end: lba + Math.max(blocks, 1),
      mode,
      grant: () => grant(release),
    };
    const release = (): void => {
      if (released) return;
      released = true;
      if (mode === 'atomic') this.atomics--;
      const i = this.held.indexOf(w);
      if (i >= 0) this.held.splice(i, 1);
      else {
        const j = this.waiting.indexOf(w);
        if (j >= 0) this.waiting.splice(j, 1);
      }
      this.wake();
    };
    if (this.canGrant(w, this.waiting.length)) {
      this.held.push(w);
      w.grant();
    } else this.waiting.push(w);
  }

  /** `w` may run if it conflicts with no holder and no earlier overlapping waiter. */
  private canGrant(w: Held, before: number): boolean {
    // Fast-path commands are not listed: an atomic command waits until none is left.
    if (w.mode === 'atomic' && this.fast > 0) return false;
    for (const h of this.held) if (overlaps(h, w) && conflicts(h.mode, w.mode)) return false;
    for (let i = 0; i < before; i++) {
      const o = this.waiting[i]!;
      if (o !== w && overlaps(o, w) && conflicts(o.mode, w.mode)) return false;
    }
    return true;
  }

  private wake(): void {
    // Settle the tables first: a grant may release (and so re-enter wake) synchronously.
    const granted: Waiter[] = [];
    for (let i = 0; i < this.waiting.length; ) {
      const w = this.waiting[i]!;
      if (this.canGrant(w, i)) {
        this.waiting.splice(i, 1);
        this.held.push(w);
        granted.push(w);
      } else i++;
    }
    for (const w of granted) w.grant();
  }
}

const locks = new WeakMap<Device, RangeLock>();

export function rangeLock(dev: Device): RangeLock {
  let l = locks.get(dev);
  if (!l) {
    l = new RangeLock();
    locks.set(dev, l);
  }
  return l;
}
