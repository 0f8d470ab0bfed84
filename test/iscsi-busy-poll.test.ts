// The busy-poll window keeps the event loop turning (never blocking it) for a bounded time after
// activity, then lets it sleep.
import { describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import { BusyPoll } from '../src/engine/iscsi/busy-poll.js';

describe('BusyPoll', () => {
  it('spins for about its window after the last touch, then stops', async () => {
    const p = new BusyPoll(20_000); // 20 ms: long enough to observe on a loaded machine
    const t0 = performance.now();
    p.touch();
    expect(p.active).toBe(true);
    // Timers still run while it spins: the loop is polled, not blocked.
    let ticks = 0;
    const iv = setInterval(() => ticks++, 1);
    await new Promise((r) => setTimeout(r, 10));
    p.touch(); // activity again: the window restarts from here
    const deadline = Date.now() + 2_000;
    while (p.active && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    clearInterval(iv);
    const spun = performance.now() - t0;
    expect(p.active).toBe(false);
    expect(spun).toBeGreaterThanOrEqual(29);
    expect(spun).toBeLessThan(1_500);
    expect(ticks).toBeGreaterThan(3);
  });

  it('a zero window never spins; stop() ends a spin at the next turn', async () => {
    const off = new BusyPoll(0);
    off.touch();
    expect(off.active).toBe(false);
    const p = new BusyPoll(10_000_000);
    p.touch();
    p.stop();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(p.active).toBe(false);
  });
});

describe('BusyPoll back-off', () => {
  it('lets the loop sleep while its back-off condition holds (work out in other threads)', async () => {
    let busyElsewhere = true;
    const p = new BusyPoll(10_000_000, () => busyElsewhere);
    p.touch();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(p.active).toBe(false);
    busyElsewhere = false;
    p.touch(); // the next activity spins again
    await new Promise((r) => setImmediate(r));
    expect(p.active).toBe(true);
    p.stop();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(p.active).toBe(false);
  });
});
