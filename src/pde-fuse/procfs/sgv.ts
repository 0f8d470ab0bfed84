import type { SgvPool } from '../../engine/sgv.js';
import { pad } from './cmdline.js';

// /proc/scsi_tgt/sgv (procfs.md §8.2) from the engine's one buffer pool. SCST has several pools
// (clustered, DMA, per CPU); this daemon has one, listed as `sgv` with its 11 size classes.

const CACHE_SIZES = ['4K', '8K', '16K', '32K', '64K', '128K', '256K', '512K', '1024K', '2048K', '4096K'];

/** merged pages as a percentage of the pages the misses allocated (0 when none). */
function mergedPct(merged: number, allocatedPages: number): number {
  return allocatedPages > 0 ? Math.floor((merged * 100) / allocatedPages) : 0;
}

export function renderSgv(pool: SgvPool): string {
  const s = pool.snapshot();
  const inactive = s.cachedPages;
  let out = '';
  out += `${pad('Inactive/active pages', 42)} ${inactive}/${s.outstandingPages}\n`;
  out += `${pad('Hi/lo watermarks [pages]', 42)} ${s.hiWatermarkPages}/0\n`;
  out += `${pad('Hi watermark releases/failures', 42)} ${s.hiWatermarkReleases}/${s.allocFailures}\n`;
  out += '\n';
  out += `${pad('Name', 30)} ${pad('Hit', 11)} ${pad('Total', 11)} ${pad('% merged', 11)} ${pad('Cached (P/I/O)', 11)}`;
  let hits = 0;
  let total = 0;
  let merged = 0;
  let allocated = 0;
  let idleObjects = 0;
  let rows = '';
  s.orders.forEach((o, i) => {
    const pages = 1 << i;
    const allocPages = (o.total - o.hits) * pages;
    hits += o.hits;
    total += o.total;
    merged += o.merged;
    allocated += allocPages;
    idleObjects += o.cached;
    rows += `  ${pad(`sgv-${CACHE_SIZES[i]}`, 28)} ${pad(o.hits, 11)} ${pad(o.total, 11)} ${mergedPct(o.merged, allocPages)}\n`;
  });
  // P: pages held by cached objects, in use or idle; I: idle ones; O: number of cached objects.
  const inUse = s.outstandingPages;
  out += `\n${pad('sgv', 30)} ${pad(hits, 11)} ${pad(total, 11)} ${pad(mergedPct(merged, allocated), 11)} ${inUse + inactive}/${inactive}/${idleObjects + s.outstanding}\n`;
  out += rows;
  out += `  ${pad('big/other', 40)} ${s.big.total}/${pad(0, 9)} 0/0\n`;
  out += `\n${pad('other', 42)} ${pad(0, 11)}\n`;
  return out;
}
