// Data-out accounting by range (engine/coverage.ts) and the iSCSI data sequences built on it
// (iscsi/data-seq.ts): a range sent twice never stands in for a range never sent.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Coverage, MAX_PIECES } from '../src/engine/coverage.js';
import { DataSequence } from '../src/engine/iscsi/data-seq.js';

describe('Coverage', () => {
  it('in order: complete exactly when every byte arrived', () => {
    const c = new Coverage(100);
    expect(c.add(0, 40)).toBeNull();
    expect(c.add(40, 60)).toBeNull();
    expect(c.complete).toBe(true);
    expect(c.coversPrefix(100)).toBe(true);
  });

  it('an overlap is refused and changes nothing (the byte count cannot be inflated)', () => {
    const c = new Coverage(100);
    expect(c.add(0, 50)).toBeNull();
    expect(c.add(0, 50)).toMatch(/overlaps/);
    expect(c.add(49, 2)).toMatch(/overlaps/);
    expect(c.covered).toBe(50);
    expect(c.complete).toBe(false);
    expect(c.coversPrefix(51)).toBe(false);
  });

  it('out of order: pieces join, overlaps with pieces are refused, a gap keeps it incomplete', () => {
    const c = new Coverage(100);
    expect(c.add(60, 20)).toBeNull();
    expect(c.add(20, 20)).toBeNull();
    expect(c.add(70, 5)).toMatch(/overlaps/);
    expect(c.add(10, 11)).toMatch(/overlaps/);
    expect(c.add(40, 20)).toBeNull(); // joins 20..40 and 60..80
    expect(c.coversPrefix(1)).toBe(false);
    expect(c.add(0, 20)).toBeNull(); // the prefix takes in 20..80
    expect(c.coversPrefix(80)).toBe(true);
    expect(c.complete).toBe(false);
    expect(c.add(80, 20)).toBeNull();
    expect(c.complete).toBe(true);
  });

  it('refuses ranges outside it and too many out-of-order pieces', () => {
    const c = new Coverage(10_000);
    expect(c.add(9_990, 11)).toMatch(/outside/);
    expect(c.add(-1, 2)).toMatch(/outside/);
    for (let i = 0; i < MAX_PIECES; i++) expect(c.add(10 + i * 2, 1)).toBeNull();
    expect(c.add(5_000, 1)).toMatch(/out-of-order pieces/);
  });

  it('property: covered equals the union of accepted ranges; complete iff the union is everything', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 20 })), { maxLength: 40 }), (ranges) => {
        const len = 64;
        const c = new Coverage(len);
        const seen = new Array<boolean>(len).fill(false);
        for (const [off, n] of ranges) {
          const overlaps = seen.slice(off, off + n).some(Boolean);
          const why = c.add(off, n);
          if (off + n > len) expect(why).not.toBeNull();
          else if (overlaps && n > 0) expect(why).not.toBeNull();
          if (why === null) for (let i = off; i < off + n; i++) seen[i] = true;
        }
        const covered = seen.filter(Boolean).length;
        expect(c.covered).toBe(covered);
        expect(c.complete).toBe(covered === len);
        const prefix = seen.indexOf(false) === -1 ? len : seen.indexOf(false);
        expect(c.coversPrefix(prefix)).toBe(true);
        if (prefix < len) expect(c.coversPrefix(prefix + 1)).toBe(false);
      }),
      { seed: 1414, numRuns: 2000 },
    );
  });
});

describe('DataSequence', () => {
  it('DataPDUInOrder=Yes: the next PDU must start where the last ended', () => {
    const s = new DataSequence(8192, 8192, true);
    expect(s.check(8192, 4096, false)).toBeNull();
    s.add(8192, 4096);
    expect(s.check(8192, 4096, false)).toMatch(/out of order/);
    expect(s.check(16384 - 2048, 2048, false)).toMatch(/out of order/);
    expect(s.check(12288, 4096, true)).toBeNull();
  });

  it('DataPDUInOrder=No: any order, no overlays', () => {
    const s = new DataSequence(0, 8192, false);
    expect(s.check(4096, 4096, false)).toBeNull();
    s.add(4096, 4096);
    expect(s.check(4096, 512, false)).toMatch(/overlaps/);
    expect(s.check(0, 4096, true)).toBeNull();
    s.add(0, 4096);
    expect(s.complete).toBe(true);
  });

  it('the F bit before the range is full, or data beyond it, is refused', () => {
    const s = new DataSequence(0, 65536, true);
    expect(s.check(0, 8192, true)).toMatch(/F bit.*leaves 57344 bytes/);
    expect(s.check(0, 65537, false)).toMatch(/outside/);
    s.add(0, 8192);
    expect(s.received).toBe(8192);
    expect(s.complete).toBe(false);
  });
});
