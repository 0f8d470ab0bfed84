// Lines a peer can trigger at will are written once an interval per kind, the next one saying
// how many were held back; the table of kinds does not grow without bound.
import { describe, expect, it } from 'vitest';
import { heldBack, LogThrottle } from '../src/engine/log-throttle.js';

describe('LogThrottle', () => {
  it('admits one line per kind and interval, then reports how many were held back', () => {
    const t = new LogThrottle(1000);
    expect(t.admit('reject', 0)).toBe(0);
    expect(t.admit('reject', 10)).toBeNull();
    expect(t.admit('reject', 999)).toBeNull();
    expect(t.admit('cmdsn', 500)).toBe(0); // another kind is not held back by the first
    expect(t.admit('reject', 1000)).toBe(2);
    expect(t.admit('reject', 1500)).toBeNull();
    expect(t.admit('reject', 2000)).toBe(1);
    expect(heldBack(2)).toBe(' (2 more since the last line)');
    expect(heldBack(0)).toBe('');
  });

  it('forgets kinds long quiet once many are known (one per peer address cannot grow for ever)', () => {
    const t = new LogThrottle(1000);
    const size = (): number => (t as unknown as { last: Map<string, unknown> }).last.size;
    for (let i = 0; i < 5000; i++) t.admit(`login-refused 10.0.${i >> 8}.${i & 255}`, i * 10);
    expect(size()).toBeLessThanOrEqual(1024);
    // A flood of new kinds all at once: the table stays bounded too.
    for (let i = 0; i < 5000; i++) t.admit(`login-refused 10.1.${i >> 8}.${i & 255}`, 60_000);
    expect(size()).toBeLessThanOrEqual(1024);
    expect(t.admit('login-refused 10.1.19.135', 60_500)).toBeNull();
    expect(t.admit('login-refused 10.1.19.135', 61_000)).toBe(1);
  });
});
