import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PduReceiver, type ProtocolError } from '../src/engine/iscsi/receiver.js';
import type { Pdu } from '../src/engine/iscsi/pdu.js';
import { crc32cDigest, digestBytes, paddingLength } from '../src/engine/iscsi/digest.js';
import { RejectReason } from '../src/engine/iscsi/constants.js';

interface Spec {
  op: number;
  tag: number;
  ahs?: Buffer;
  data?: Buffer;
}

/** Wire bytes of one PDU, built independently of the code under test. */
function wire(s: Spec, hd: boolean, dd: boolean): Buffer {
  const bhs = Buffer.alloc(48);
  bhs[0] = s.op;
  bhs[1] = 0x80;
  const ahs = s.ahs ?? Buffer.alloc(0);
  const data = s.data ?? Buffer.alloc(0);
  bhs[4] = ahs.length / 4;
  bhs.writeUIntBE(data.length, 5, 3);
  bhs.writeUInt32BE(s.tag, 16);
  const parts = [bhs, ahs];
  if (hd) parts.push(digestBytes(crc32cDigest([bhs, ahs])));
  if (data.length) {
    const pad = Buffer.alloc(paddingLength(data.length));
    parts.push(data, pad);
    if (dd) parts.push(digestBytes(crc32cDigest([data, pad])));
  }
  return Buffer.concat(parts);
}

function collect(opts: { hd?: boolean; dd?: boolean; max?: number } = {}) {
  const pdus: Pdu[] = [];
  const errors: ProtocolError[] = [];
  const rx = new PduReceiver({ onPdu: (p) => pdus.push(p), onError: (e) => errors.push(e) });
  rx.headerDigest = !!opts.hd;
  rx.dataDigest = !!opts.dd;
  if (opts.max !== undefined) rx.maxRecvDataSegmentLength = opts.max;
  return { rx, pdus, errors };
}

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
const EXT_AHS = Buffer.concat([Buffer.from([0x00, 0x05, 0x01, 0x00]), Buffer.from([1, 2, 3, 4]) /* 5 bytes + 3 pad */]);

const SPECS: Spec[] = [
  { op: 0x01, tag: 1 },
  { op: 0x05, tag: 2, data: bytes(1, 1) },
  { op: 0x05, tag: 3, data: bytes(4, 2) },
  { op: 0x04, tag: 4, data: bytes(7, 3) },
  { op: 0x01, tag: 5, ahs: EXT_AHS, data: bytes(10, 4) },
  { op: 0x00, tag: 6 },
  { op: 0x05, tag: 7, data: bytes(300, 5) },
];

function expectSame(got: Pdu[], specs: Spec[]) {
  expect(got.map((p) => p.bhs.readUInt32BE(16))).toEqual(specs.map((s) => s.tag));
  got.forEach((p, i) => {
    const s = specs[i]!;
    expect(p.bhs.length).toBe(48);
    expect(p.bhs[0]).toBe(s.op);
    expect(p.data.equals(s.data ?? Buffer.alloc(0))).toBe(true);
    if (s.ahs) expect(p.ahs!.equals(s.ahs)).toBe(true);
    else expect(p.ahs).toBeNull();
  });
}

describe('PduReceiver framing', () => {
  for (const [hd, dd] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    it(`delivers every PDU for a split at every byte position (header digest ${hd}, data digest ${dd})`, () => {
      const stream = Buffer.concat(SPECS.map((s) => wire(s, hd, dd)));
      for (let cut = 0; cut <= stream.length; cut++) {
        const { rx, pdus, errors } = collect({ hd, dd });
        rx.push(stream.subarray(0, cut));
        rx.push(stream.subarray(cut));
        expect(errors).toEqual([]);
        expectSame(pdus, SPECS);
      }
    });
  }

  it('handles random multi-way splits, including 1-byte chunks', () => {
    const stream = Buffer.concat(SPECS.map((s) => wire(s, true, true)));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 20 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
        const { rx, pdus, errors } = collect({ hd: true, dd: true });
        for (let i = 1; i < points.length; i++) rx.push(stream.subarray(points[i - 1]!, points[i]!));
        expect(errors).toEqual([]);
        expectSame(pdus, SPECS);
      }),
    );
    const { rx, pdus } = collect({ hd: true, dd: true });
    for (let i = 0; i < stream.length; i++) rx.push(stream.subarray(i, i + 1));
    expectSame(pdus, SPECS);
  });

  it('keeps nothing of a chunk past push(): the chunk buffer may be reused for the next read', () => {
    // The daemon reads every socket into one buffer (socket-reader.ts); simulate that by copying
    // each piece into one buffer and scribbling over it after each push.
    const stream = Buffer.concat(SPECS.map((s) => wire(s, true, true)));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 20 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
        const readBuf = Buffer.alloc(stream.length);
        const pdus: Pdu[] = [];
        const errors: ProtocolError[] = [];
        // Handlers copy what they keep, as the connection must.
        const rx = new PduReceiver({
          onPdu: (p) => pdus.push({ bhs: Buffer.from(p.bhs), ahs: p.ahs ? Buffer.from(p.ahs) : null, data: Buffer.from(p.data) }),
          onError: (e) => errors.push(e),
        });
        rx.headerDigest = true;
        rx.dataDigest = true;
        for (let i = 1; i < points.length; i++) {
          const n = stream.copy(readBuf, 0, points[i - 1]!, points[i]!);
          rx.push(readBuf.subarray(0, n));
          readBuf.fill(0xee);
        }
        expect(errors).toEqual([]);
        expectSame(pdus, SPECS);
      }),
    );
  });

  it('hands out views into the chunk for whole PDUs and one assembled copy for straddlers', () => {
    const a = wire({ op: 5, tag: 1, data: bytes(100, 1) }, false, false);
    const b = wire({ op: 5, tag: 2, data: bytes(100, 2) }, false, false);
    const chunk = Buffer.concat([a, b.subarray(0, 60)]);
    const { rx, pdus } = collect();
    rx.push(chunk);
    expect(pdus.length).toBe(1);
    expect(pdus[0]!.bhs.buffer).toBe(chunk.buffer);
    expect(pdus[0]!.data.buffer).toBe(chunk.buffer);
    expect(pdus[0]!.data.byteOffset).toBe(chunk.byteOffset + 48);
    rx.push(b.subarray(60));
    expect(pdus.length).toBe(2);
    // The BHS was whole in the first chunk, but its PDU straddled: nothing keeps a view of a chunk
    // past push() (the socket's read buffer is reused), so the BHS was copied and the data
    // assembled. (Both chunk and copy may come from Node's shared 8 KiB pool: compare ranges, not
    // ArrayBuffers.)
    const inside = (b: Buffer) => b.buffer === chunk.buffer && b.byteOffset >= chunk.byteOffset && b.byteOffset < chunk.byteOffset + chunk.length;
    expect(inside(pdus[1]!.bhs)).toBe(false);
    expect(pdus[1]!.bhs.equals(b.subarray(0, 48))).toBe(true);
    expect(inside(pdus[1]!.data)).toBe(false);
    expect(pdus[1]!.data.equals(bytes(100, 2))).toBe(true);
  });

  it('applies digest settings changed inside onPdu to the very next PDU of the same chunk', () => {
    const login = wire({ op: 3, tag: 1, data: bytes(8, 1) }, false, false);
    const cmd = wire({ op: 1, tag: 2, data: bytes(8, 2) }, true, true);
    const pdus: Pdu[] = [];
    const errors: ProtocolError[] = [];
    const rx = new PduReceiver({
      onPdu: (p) => {
        pdus.push(p);
        rx.headerDigest = true;
        rx.dataDigest = true;
      },
      onError: (e) => errors.push(e),
    });
    rx.push(Buffer.concat([login, cmd]));
    expect(errors).toEqual([]);
    expect(pdus.map((p) => p.bhs[0])).toEqual([3, 1]);
  });
});

describe('PduReceiver errors', () => {
  it('header digest error is fatal and later input is ignored', () => {
    const good = wire({ op: 1, tag: 1 }, true, false);
    const bad = Buffer.from(wire({ op: 1, tag: 2 }, true, false));
    bad[48] ^= 0xff;
    const { rx, pdus, errors } = collect({ hd: true });
    rx.push(Buffer.concat([good, bad, good]));
    expect(pdus.length).toBe(1);
    expect(errors.length).toBe(1);
    expect(errors[0]!.kind).toBe('header-digest');
    expect(errors[0]!.fatal).toBe(true);
    expect(rx.closed).toBe(true);
    rx.push(good);
    expect(pdus.length).toBe(1);
    expect(errors.length).toBe(1);
  });

  it('data digest error drops the PDU, carries its BHS and keeps the stream in sync', () => {
    const bad = Buffer.from(wire({ op: 5, tag: 7, data: bytes(5, 1) }, false, true));
    bad[50] ^= 1; // corrupt a data byte
    const next = wire({ op: 5, tag: 8, data: bytes(5, 2) }, false, true);
    for (let cut = 0; cut <= bad.length + next.length; cut++) {
      const stream = Buffer.concat([bad, next]);
      const { rx, pdus, errors } = collect({ dd: true });
      rx.push(stream.subarray(0, cut));
      rx.push(stream.subarray(cut));
      expect(errors.map((e) => [e.kind, e.fatal, e.rejectReason])).toEqual([['data-digest', false, RejectReason.DATA_DIGEST_ERROR]]);
      expect(errors[0]!.bhs!.readUInt32BE(16)).toBe(7);
      expect(pdus.map((p) => p.bhs.readUInt32BE(16))).toEqual([8]);
    }
  });

  it('a corrupt padding byte is a data digest error too (padding is covered)', () => {
    const bad = Buffer.from(wire({ op: 5, tag: 7, data: bytes(5, 1) }, false, true));
    bad[48 + 6] = 1;
    const { rx, errors } = collect({ dd: true });
    rx.push(bad);
    expect(errors[0]!.kind).toBe('data-digest');
  });

  it('data longer than maxRecvDataSegmentLength is skipped, not buffered, and reported non-fatally', () => {
    const big = wire({ op: 5, tag: 1, data: bytes(1001, 1) }, true, true);
    const after = wire({ op: 0, tag: 2, data: bytes(3, 2) }, true, true);
    const stream = Buffer.concat([big, after]);
    for (let cut = 0; cut <= stream.length; cut += 7) {
      const { rx, pdus, errors } = collect({ hd: true, dd: true, max: 1000 });
      rx.push(stream.subarray(0, cut));
      rx.push(stream.subarray(cut));
      expect(errors.map((e) => [e.kind, e.fatal, e.rejectReason])).toEqual([['data-too-long', false, RejectReason.PROTOCOL_ERROR]]);
      expect(errors[0]!.bhs!.readUInt32BE(16)).toBe(1);
      expect(pdus.map((p) => p.bhs.readUInt32BE(16))).toEqual([2]);
    }
  });

  it('a malformed AHS chain drops the PDU with a non-fatal error', () => {
    const ahs = Buffer.from([0x00, 0x09, 0x01, 0x00, 0, 0, 0, 0]); // claims 12 bytes, has 8
    const stream = Buffer.concat([wire({ op: 1, tag: 1, ahs, data: bytes(2, 1) }, false, false), wire({ op: 0, tag: 2 }, false, false)]);
    const { rx, pdus, errors } = collect();
    rx.push(stream);
    expect(errors.map((e) => [e.kind, e.fatal, e.rejectReason])).toEqual([['bad-ahs', false, RejectReason.INVALID_PDU_FIELD]]);
    expect(pdus.map((p) => p.bhs.readUInt32BE(16))).toEqual([2]);
  });

  it('close() stops parsing; a throwing handler closes the receiver and propagates', () => {
    const p = wire({ op: 0, tag: 1 }, false, false);
    const { rx, pdus } = collect();
    rx.close();
    rx.push(p);
    expect(pdus.length).toBe(0);
    const rx2 = new PduReceiver({
      onPdu: () => {
        throw new Error('handler bug');
      },
      onError: () => {},
    });
    expect(() => rx2.push(p)).toThrow('handler bug');
    expect(rx2.closed).toBe(true);
  });

  it('does not allocate for an oversized DataSegmentLength', () => {
    const bhs = Buffer.alloc(48);
    bhs[0] = 5;
    bhs.writeUIntBE(0xffffff, 5, 3);
    const { rx, errors } = collect({ max: 8192 });
    rx.push(bhs);
    rx.push(Buffer.alloc(1 << 20));
    expect(errors.map((e) => e.kind)).toEqual(['data-too-long']);
    expect((rx as unknown as { rest: Buffer }).rest.length).toBe(0);
    expect((rx as unknown as { skipLeft: number }).skipLeft).toBe(0xffffff + 1 - (1 << 20));
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), fc.boolean(), fc.boolean(), (chunks, hd, dd) => {
        const { rx } = collect({ hd, dd, max: 512 });
        for (const c of chunks) rx.push(Buffer.from(c));
      }),
    );
  });
});

describe('data placement', () => {
  it('writes a straddling data segment straight into the placed buffer, at every split point, releasing once', () => {
    const data = Buffer.from(Array.from({ length: 1001 }, (_, i) => (i * 7) & 0xff)); // needs padding
    const stream = Buffer.concat([wire({ op: 0x05, tag: 9, data }, false, false), wire({ op: 0x00, tag: 10 }, false, false)]);
    for (let cut = 1; cut < stream.length; cut += 13) {
      const target = Buffer.alloc(2000, 0xee);
      let placed = 0;
      let released = 0;
      const pdus: Pdu[] = [];
      const rx = new PduReceiver({
        onPdu: (p) => pdus.push(p),
        onError: (e) => {
          throw e;
        },
        placeData: () => (placed++, { buf: target, offset: 500, release: () => released++ }),
      });
      rx.maxRecvDataSegmentLength = 1 << 20;
      rx.push(stream.subarray(0, cut));
      rx.push(stream.subarray(cut));
      expect(pdus.length).toBe(2);
      expect(pdus[0]!.data.equals(data)).toBe(true);
      // Asked only when the data did not arrive in one chunk with its header.
      if (placed) {
        expect(pdus[0]!.data.buffer).toBe(target.buffer);
        expect(target.subarray(500, 1501).equals(data)).toBe(true);
        expect(target[499]).toBe(0xee);
        expect(target[1501]).toBe(0xee); // padding skipped, not written
      }
      expect(released).toBe(placed);
      expect(pdus[1]!.bhs.readUInt32BE(16)).toBe(10);
    }
  });

  it('falls back to assembly when the place is too small, and releases a placement cut short by close()', () => {
    const data = Buffer.alloc(3000, 5);
    const stream = wire({ op: 0x05, tag: 1, data }, false, false);
    let released = 0;
    const pdus: Pdu[] = [];
    const small = new PduReceiver({ onPdu: (p) => pdus.push(p), onError: () => {}, placeData: () => ({ buf: Buffer.alloc(100), offset: 0, release: () => released++ }) });
    small.maxRecvDataSegmentLength = 1 << 20;
    small.push(stream.subarray(0, 100));
    small.push(stream.subarray(100));
    expect(pdus[0]!.data.equals(data)).toBe(true);
    expect(released).toBe(1);
    const rx = new PduReceiver({ onPdu: (p) => pdus.push(p), onError: () => {}, placeData: () => ({ buf: Buffer.alloc(4000), offset: 0, release: () => released++ }) });
    rx.maxRecvDataSegmentLength = 1 << 20;
    rx.push(stream.subarray(0, 1000));
    expect(released).toBe(1);
    rx.close();
    expect(released).toBe(2);
    rx.close();
    expect(released).toBe(2);
  });
});
