// Data-buffer pool, after SCST's SGV cache: buffers are handed out in power-of-two size classes
// ("orders" of 4 KiB pages, sgv-0 .. sgv-10) and kept for reuse when released, so the hot path
// does not allocate or give the garbage collector work. Requests above the largest class are
// served uncached ("big"). Every buffer handed out must come back: `outstanding` is checked at exit.

export const PAGE_SIZE = 4096;
export const MAX_CACHED_ORDER = 10; // 4 MiB

export interface PoolBuffer {
  readonly buf: Buffer;
  readonly order: number; // -1 for "big" (uncached)
  released: boolean;
}

interface OrderStats {
  hits: number;
  total: number;
  merged: number;
}

export class SgvPool {
  private readonly free: Buffer[][] = [];
  /**
   * Per order, the fewest buffers its free list held since the last purge: that many at the
   * bottom of the stack (the list is used LIFO) were not touched for a whole interval.
   */
  private readonly lowWater: number[] = [];
  private readonly stats: OrderStats[] = [];
  private cachedBytes = 0;
  private _outstanding = 0;
  private _outstandingBytes = 0;
  bigHits = 0;
  bigTotal = 0;
  hiWatermarkReleases = 0;
  allocFailures = 0;

  /** @param maxCachedBytes the high watermark for idle cached buffers. */
  constructor(readonly maxCachedBytes = 256 * 1024 * 1024) {
    for (let i = 0; i <= MAX_CACHED_ORDER; i++) {
      this.free.push([]);
      this.lowWater.push(0);
      this.stats.push({ hits: 0, total: 0, merged: 0 });
    }
  }

  static orderFor(len: number): number {
    const pages = Math.max(1, Math.ceil(len / PAGE_SIZE));
    const order = 32 - Math.clz32(pages - 1);
    return order > MAX_CACHED_ORDER ? -1 : order;
  }

  /** Bytes a buffer for `len` bytes occupies (its size class, or `len` itself when uncached). */
  sizeFor(len: number): number {
    const order = SgvPool.orderFor(len);
    return order < 0 ? len : PAGE_SIZE << order;
  }

  /** Bytes of buffers handed out and not yet released. */
  get outstandingBytes(): number {
    return this._outstandingBytes;
  }

  alloc(len: number): PoolBuffer {
    const order = SgvPool.orderFor(len);
    this._outstanding++;
    if (order < 0) {
      this.bigTotal++;
      this._outstandingBytes += len;
      return { buf: Buffer.allocUnsafe(len), order, released: false };
    }
    const st = this.stats[order]!;
    st.total++;
    const size = PAGE_SIZE << order;
    this._outstandingBytes += size;
    const list = this.free[order]!;
    const cached = list.pop();
    if (cached) {
      if (list.length < this.lowWater[order]!) this.lowWater[order] = list.length;
      st.hits++;
      this.cachedBytes -= size;
      return { buf: cached, order, released: false };
    }
    return { buf: Buffer.allocUnsafe(size), order, released: false };
  }

  release(pb: PoolBuffer): void {
    if (pb.released) throw new Error('sgv: buffer released twice');
    pb.released = true;
    this._outstanding--;
    if (pb.order < 0) {
      this._outstandingBytes -= pb.buf.length;
      return;
    }
    const size = PAGE_SIZE << pb.order;
    this._outstandingBytes -= size;
    if (this.cachedBytes + size > this.maxCachedBytes) {
      this.hiWatermarkReleases++;
      return; // let it go to the GC
    }
    this.free[pb.order]!.push(pb.buf);
    this.cachedBytes += size;
  }

  /**
   * Let go of cached buffers that no allocation needed since the last purge (SCST's SGV purges
   * what stayed unused for its purge interval): after a burst, the cache shrinks back to what
   * the load still uses, and memory comes back. Returns the bytes let go.
   */
  purgeIdle(): number {
    let freed = 0;
    for (let order = 0; order <= MAX_CACHED_ORDER; order++) {
      const list = this.free[order]!;
      const idle = Math.min(this.lowWater[order]!, list.length);
      if (idle > 0) {
        list.splice(0, idle);
        freed += idle * (PAGE_SIZE << order);
      }
      this.lowWater[order] = list.length;
    }
    this.cachedBytes -= freed;
    return freed;
  }

  /** Drop every idle cached buffer (memory pressure, shutdown). */
  flush(): void {
    for (const l of this.free) l.length = 0;
    this.lowWater.fill(0);
    this.cachedBytes = 0;
  }

  get outstanding(): number {
    return this._outstanding;
  }

  snapshot() {
    return {
      outstanding: this._outstanding,
      outstandingPages: Math.ceil(this._outstandingBytes / PAGE_SIZE),
      cachedPages: this.cachedBytes / PAGE_SIZE,
      hiWatermarkPages: this.maxCachedBytes / PAGE_SIZE,
      hiWatermarkReleases: this.hiWatermarkReleases,
      allocFailures: this.allocFailures,
      orders: this.stats.map((s, i) => ({
        name: `sgv-${i}`,
        hits: s.hits,
        total: s.total,
        merged: s.merged,
        cached: this.free[i]!.length,
      })),
      big: { hits: this.bigHits, total: this.bigTotal },
    };
  }
}
