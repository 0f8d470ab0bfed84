// The output slab must put on the wire exactly what frame() describes for each PDU, in order,
// whether headers are serialized into it or copied in, data copied or referenced, with and
// without digests, across slab boundaries.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as S from '../src/engine/iscsi/sender.js';
import { COPY_MAX, OutQueue } from '../src/engine/iscsi/outq.js';

function wire(q: OutQueue): { bytes: Buffer; writes: number } {
  const parts: Buffer[] = [];
  const writes = q.drain((b) => parts.push(Buffer.from(b)));
  return { bytes: Buffer.concat(parts), writes };
}

function dataOf(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/**
 * Slabs needed for `bytes`, generously: they start at 4 KiB and double up to 128 KiB, and a PDU
 * that does not fit starts the next one; the copied PDUs here are at most COPY_MAX plus a header,
 * so counting each slab as half used is an upper bound once slabs reach 32 KiB.
 */
function slabsFor(bytes: number): number {
  let n = 0;
  for (let size = 4096, left = bytes; left > 0; size = Math.min(size * 2, 128 * 1024), n++) left -= size / 2;
  return n;
}

describe('OutQueue', () => {
  it('lays out PDUs exactly as frame() does, with and without digests, copied or referenced', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ len: fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: COPY_MAX - 4, max: COPY_MAX + 4000 })), inPlace: fc.boolean(), seed: fc.nat(255) }), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        (pdus, header, data) => {
          const q = new OutQueue();
          const expected: Buffer[] = [];
          let referenced = 0;
          pdus.forEach((p, i) => {
            const payload = p.len ? dataOf(p.len, p.seed) : null;
            const args = { final: true, status: 0, itt: i, expCmdSN: 7, maxCmdSN: 9, dataSN: i, bufferOffset: 0, statSN: i, lun: 3 };
            expected.push(...S.frame(S.dataIn(args), payload, { header, data }));
            let ref: boolean;
            if (p.inPlace) {
              // Serialized in place, the data given as a range of a larger buffer.
              const o = q.begin(header);
              S.dataIn(args, q.buf, o);
              const big = Buffer.alloc(p.len + 11, 0xee);
              payload?.copy(big, 7);
              ref = q.endRange(o, payload ? big : null, 7, p.len, data);
            } else ref = q.pdu(S.dataIn(args), payload, header, data);
            expect(ref).toBe(p.len > COPY_MAX);
            if (ref) referenced++;
          });
          const out = wire(q);
          expect(out.bytes.equals(Buffer.concat(expected))).toBe(true);
          // One write for the slab, plus one per referenced segment and the slab after it.
          expect(out.writes).toBeLessThanOrEqual(1 + 2 * referenced + slabsFor(out.bytes.length));
          expect(q.empty).toBe(true);
        },
      ),
      { numRuns: 300, seed: 8 },
    );
  });

  it('sends small replies of one turn in a single write, and nothing after discard()', () => {
    const q = new OutQueue();
    for (let i = 0; i < 32; i++) q.pdu(S.scsiResponse({ itt: i, status: 0, statSN: i, expCmdSN: 1, maxCmdSN: 2 }), null, false, false);
    const out = wire(q);
    expect(out.writes).toBe(1);
    expect(out.bytes.length).toBe(32 * 48);
    q.pdu(S.scsiResponse({ itt: 1, status: 0, statSN: 1, expCmdSN: 1, maxCmdSN: 2 }), null, false, false);
    q.discard();
    expect(q.empty).toBe(true);
    expect(wire(q).writes).toBe(0);
  });

  it('never rewrites bytes already handed out', () => {
    const q = new OutQueue();
    const first: Buffer[] = [];
    q.pdu(S.nopIn({ itt: 1, ttt: 0xffffffff, statSN: 1, expCmdSN: 1, maxCmdSN: 1 }), dataOf(100, 1), false, false);
    q.drain((b) => first.push(b)); // views, as the socket would hold them
    const snapshot = Buffer.concat(first.map((b) => Buffer.from(b)));
    for (let i = 0; i < 5000; i++) q.pdu(S.nopIn({ itt: i, ttt: 0xffffffff, statSN: i, expCmdSN: 1, maxCmdSN: 1 }), dataOf(60, i), true, true);
    wire(q);
    expect(Buffer.concat(first).equals(snapshot)).toBe(true);
  });
});
