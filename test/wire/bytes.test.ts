/** Big-endian field access and hex helpers (protocols/util/bytes.ts), checked against DataView. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytesEqual, fromHex, RangeViews, read16, read32, toHex, write16, write32 } from '../../protocols/util/bytes.js';

const buffer = fc.uint8Array({ minLength: 4, maxLength: 64, size: 'max' });

describe('read16 / read32', () => {
  it('equal DataView big-endian reads at every offset, also on a subarray with a non-zero byteOffset', () => {
    fc.assert(
      fc.property(buffer, fc.integer({ min: 0, max: 3 }), (data, skip) => {
        const b = data.subarray(skip);
        const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
        for (let o = 0; o + 2 <= b.length; o++) expect(read16(b, o)).toBe(dv.getUint16(o));
        for (let o = 0; o + 4 <= b.length; o++) expect(read32(b, o)).toBe(dv.getUint32(o));
      }),
      { numRuns: 300 },
    );
  });

  it('read32 is unsigned (a set top bit does not go negative)', () => {
    expect(read32(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0)).toBe(0xffffffff);
    expect(read32(new Uint8Array([0x80, 0, 0, 0]), 0)).toBe(0x80000000);
  });
});

describe('write16 / write32', () => {
  it('write what DataView reads back, touching only their own bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 8 }), (v16, v32, o) => {
        const b = new Uint8Array(16).fill(0xa5);
        write16(b, o, v16);
        write32(b, o + 2, v32);
        const dv = new DataView(b.buffer);
        expect(dv.getUint16(o)).toBe(v16);
        expect(dv.getUint32(o + 2)).toBe(v32);
        for (let i = 0; i < b.length; i++) if (i < o || i >= o + 6) expect(b[i]).toBe(0xa5);
        expect(read16(b, o)).toBe(v16);
        expect(read32(b, o + 2)).toBe(v32);
      }),
      { numRuns: 500 },
    );
  });

  it('keep the low 16/32 bits of out-of-range and negative values (modular, like the wire field)', () => {
    const b = new Uint8Array(4);
    write16(b, 0, 0x12345);
    expect(read16(b, 0)).toBe(0x2345);
    write16(b, 0, -1);
    expect(read16(b, 0)).toBe(0xffff);
    write32(b, 0, -1);
    expect(read32(b, 0)).toBe(0xffffffff);
    write32(b, 0, 2 ** 32 + 5);
    expect(read32(b, 0)).toBe(5);
  });
});

describe('toHex / fromHex / bytesEqual', () => {
  it('round-trip any bytes; toHex is lower-case, two digits a byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200, size: 'max' }), (b) => {
        const hex = toHex(b);
        expect(hex).toMatch(/^([0-9a-f]{2})*$/);
        expect(hex.length).toBe(b.length * 2);
        expect(fromHex(hex)).toEqual(b);
        expect(fromHex(hex.toUpperCase())).toEqual(b);
        expect(toHex(b)).toBe(Buffer.from(b).toString('hex'));
      }),
      { numRuns: 300 },
    );
  });

  it('fromHex ignores separators (spaces, colons, newlines) and rejects an odd digit count', () => {
    expect(fromHex('de ad:be\nef')).toEqual(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    expect(fromHex('')).toEqual(new Uint8Array(0));
    expect(() => fromHex('abc')).toThrow(RangeError);
  });

  it('bytesEqual compares length and contents', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }), (a, b) => {
        expect(bytesEqual(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)));
        expect(bytesEqual(a, a.slice())).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0]))).toBe(false);
    expect(bytesEqual(new Uint8Array([1, 2, 3]).subarray(1), new Uint8Array([2, 3]))).toBe(true);
  });
});

describe('RangeViews', () => {
  const big = (seed: number): Uint8Array => {
    const a = new Uint8Array(128 * 1024);
    for (let i = 0; i < a.length; i++) a[i] = (i * 31 + seed) & 0xff;
    return a;
  };

  it('copies exactly src[from, from + len) whatever the arrays, ranges and order, also after the source changed', () => {
    // Two ring-sized arrays and fresh per-packet ones, ranges that repeat (slots) and ranges that do not.
    const rings = [big(1), big(2)];
    const op = fc.record({
      which: fc.integer({ min: 0, max: 2 }),
      slot: fc.integer({ min: 0, max: 63 }),
      odd: fc.integer({ min: 0, max: 2047 }),
      repeat: fc.boolean(),
      len: fc.integer({ min: 1, max: 1600 }),
      poke: fc.integer({ min: 0, max: 255 }),
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 200 }), (ops) => {
        const rv = new RangeViews();
        for (const o of ops) {
          const src = o.which < 2 ? rings[o.which]! : big(o.poke).subarray(0, 4096);
          const from = Math.min(o.repeat ? o.slot * 2048 + 66 : o.odd * 61, src.length - 1);
          const len = Math.min(o.len, src.length - from);
          src[from] = o.poke; // a kept view is a view: it sees what the array holds now
          const dst = new Uint8Array(len + 8).fill(0xee);
          rv.copy(src, from, len, dst, 4);
          for (let i = 0; i < len; i++) if (dst[4 + i] !== src[from + i]) throw new Error(`byte ${i} of [${from}, +${len}) differs`);
          for (const i of [0, 1, 2, 3, len + 4, len + 5, len + 6, len + 7]) expect(dst[i]).toBe(0xee);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps one view per range of an array asked for twice in a row, and none of a small per-packet array', () => {
    const rv = new RangeViews();
    const ring = big(3);
    const first = rv.view(ring, 2048 + 66, 1448); // not adopted yet: asked for once
    const second = rv.view(ring, 2048 + 66, 1448); // adopted now
    expect(second).not.toBe(first);
    expect(rv.view(ring, 2048 + 66, 1448)).toBe(second);
    expect(rv.view(ring, 2048 + 66, 1000)).not.toBe(second); // another length is another range
    const small = new Uint8Array(2048);
    expect(rv.view(small, 66, 1448)).not.toBe(rv.view(small, 66, 1448));
    // A per-packet array between two uses of the ring leaves the ring's views as they were.
    expect(rv.view(ring, 2048 + 66, 1448)).toBe(second);
    expect(second.byteOffset).toBe(2048 + 66);
    expect(second.length).toBe(1448);
  });

  it('never hands out the view of another range that shares its table entry', () => {
    // Thousands of ranges through 4096 entries: many share an entry, and each must still get its own view.
    const rv = new RangeViews();
    const ring = big(6);
    for (let round = 0; round < 2; round++) {
      for (let len = 1; len <= 3000; len++) {
        const v = rv.view(ring, 5000, len);
        expect(v.byteOffset === 5000 && v.length === len).toBe(true);
      }
      for (let from = 0; from < 3000; from++) {
        const v = rv.view(ring, from, 1448);
        expect(v.byteOffset === from && v.length === 1448).toBe(true);
      }
    }
  });

  it('hands the table to another large array only when it is asked for twice in a row', () => {
    const rv = new RangeViews();
    const a = big(4);
    const b = big(5);
    rv.view(a, 100, 200);
    const kept = rv.view(a, 100, 200);
    // Alternating with a once-asked b does not take the table from a.
    for (let i = 0; i < 3; i++) {
      rv.view(b, 100, 200);
      expect(rv.view(a, 100, 200)).toBe(kept);
    }
    rv.view(b, 100, 200);
    const kb = rv.view(b, 100, 200);
    expect(rv.view(b, 100, 200)).toBe(kb);
    expect(kb.buffer).toBe(b.buffer);
    expect(rv.view(a, 100, 200)).not.toBe(kept); // a lost the table; its views are made anew
  });
});
