import type { SgvPool } from '../../engine/sgv.js';
import { pad } from '../procfs/cmdline.js';
import { rw, sdir } from './attr.js';
import type { SysfsContext } from './context.js';
import type { PdeDir } from '../node.js';

// R/sgv (sysfs.md §9): the engine has one buffer pool, shown as the pool `sgv`. A write resets
// counters; the pool's own counters only grow, so a reset is a baseline subtracted on display.

const CACHE_SIZES = ['4K', '8K', '16K', '32K', '64K', '128K', '256K', '512K', '1024K', '2048K', '4096K'];

interface Baseline {
  releases: number;
  failures: number;
  orders: Array<{ hits: number; total: number; merged: number }>;
  bigTotal: number;
}

const baselines = new WeakMap<SgvPool, { global: Baseline; pool: Baseline }>();

function zero(pool: SgvPool): Baseline {
  return { releases: 0, failures: 0, orders: pool.snapshot().orders.map(() => ({ hits: 0, total: 0, merged: 0 })), bigTotal: 0 };
}

function now(pool: SgvPool): Baseline {
  const s = pool.snapshot();
  return { releases: s.hiWatermarkReleases, failures: s.allocFailures, orders: s.orders.map((o) => ({ hits: o.hits, total: o.total, merged: o.merged })), bigTotal: s.big.total };
}

function base(pool: SgvPool): { global: Baseline; pool: Baseline } {
  let b = baselines.get(pool);
  if (!b) baselines.set(pool, (b = { global: zero(pool), pool: zero(pool) }));
  return b;
}

export function renderGlobalStats(pool: SgvPool): string {
  const s = pool.snapshot();
  const b = base(pool).global;
  return (
    `${pad('Inactive/active pages', 42)} ${s.cachedPages}/${s.outstandingPages}\n` +
    `${pad('Hi/lo watermarks [pages]', 42)} ${s.hiWatermarkPages}/0\n` +
    `${pad('Hi watermark releases/failures', 42)} ${s.hiWatermarkReleases - b.releases}/${s.allocFailures - b.failures}\n` +
    `${pad('Other allocs', 42)} ${pad(0, 11)}\n`
  );
}

const pct = (merged: number, pages: number) => (pages > 0 ? Math.floor((merged * 100) / pages) : 0);

export function renderPoolStats(pool: SgvPool, name: string): string {
  const s = pool.snapshot();
  const b = base(pool).pool;
  let hits = 0;
  let total = 0;
  let merged = 0;
  let allocated = 0;
  let idle = 0;
  let rows = '';
  s.orders.forEach((o, i) => {
    const ob = b.orders[i] ?? { hits: 0, total: 0, merged: 0 };
    const h = o.hits - ob.hits;
    const t = o.total - ob.total;
    const m = o.merged - ob.merged;
    const pages = (t - h) * (1 << i);
    hits += h;
    total += t;
    merged += m;
    allocated += pages;
    idle += o.cached;
    rows += `  ${pad(`${name}-${CACHE_SIZES[i]}`, 28)} ${pad(h, 11)} ${pad(t, 11)} ${pct(m, pages)}\n`;
  });
  let out = `${pad('Name', 30)} ${pad('Hit', 11)} ${pad('Total', 11)} ${pad('% merged', 11)} ${pad('Cached (P/I/O)', 11)}`;
  out += `\n${pad(name, 30)} ${pad(hits, 11)} ${pad(total, 11)} ${pad(pct(merged, allocated), 11)} ${s.outstandingPages + s.cachedPages}/${s.cachedPages}/${idle + s.outstanding}\n`;
  out += rows;
  out += `  ${pad('big/other', 40)} ${s.big.total - b.bigTotal}/${pad(0, 9)} 0/0\n`;
  return out;
}

export function sgvDir(ctx: SysfsContext): PdeDir {
  const pool = ctx.scst.pool;
  const stats = rw(
    () => renderPoolStats(pool, 'sgv'),
    () => {
      const n = now(pool);
      base(pool).pool = { ...n, releases: base(pool).pool.releases, failures: base(pool).pool.failures };
      ctx.log.info('SGV pool sgv statistics reset');
    },
  );
  const entries = [
    [
      'global_stats',
      rw(
        () => renderGlobalStats(pool),
        () => {
          const n = now(pool);
          base(pool).global = { ...base(pool).global, releases: n.releases, failures: n.failures };
          ctx.log.info('Global SGV pool statistics reset');
        },
      ),
    ],
    ['sgv', sdir(() => [['stats', stats]])],
  ] as const;
  return sdir(() => entries);
}
