import { describe, expect, it } from 'vitest';
import { turnNow } from '../src/engine/turn-clock.js';

const spin = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('turnNow: one clock read per callback', () => {
  it('is the same value throughout one callback and a new one in the next', async () => {
    const a = turnNow();
    spin(2);
    expect(turnNow()).toBe(a);
    await Promise.resolve();
    const b = turnNow();
    expect(b).toBeGreaterThanOrEqual(a + 2);
    spin(2);
    expect(turnNow()).toBe(b);
    await new Promise((r) => setImmediate(r));
    expect(turnNow()).toBeGreaterThanOrEqual(b + 2);
  });
});
