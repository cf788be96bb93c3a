/** Big-endian field access and hex helpers (protocols/util/bytes.ts), checked against DataView. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytesEqual, fromHex, read16, read32, toHex, write16, write32 } from '../../protocols/util/bytes.js';

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
