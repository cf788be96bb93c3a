import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteRing } from '../../../protocols/tcp/byte-ring.js';
import { BywayError } from '../../../protocols/util/errors.js';

function bytes(n: number, start = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (start + i) & 0xff;
  return b;
}

function concat(views: Uint8Array[], count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(...views[i]!);
  return out;
}

describe('ByteRing basics', () => {
  it('starts empty and reports capacity/free', () => {
    const r = new ByteRing(8);
    expect([r.length, r.capacity, r.free]).toEqual([0, 8, 8]);
  });

  it('write takes only what fits, read returns what is stored', () => {
    const r = new ByteRing(5);
    expect(r.write(bytes(7))).toBe(5);
    expect(r.free).toBe(0);
    expect(r.write(bytes(1))).toBe(0);
    const dst = new Uint8Array(10);
    expect(r.read(dst)).toBe(5);
    expect([...dst.subarray(0, 5)]).toEqual([0, 1, 2, 3, 4]);
    expect(r.length).toBe(0);
    expect(r.read(dst)).toBe(0);
  });

  it('wraps: write, discard, write past the end; peek gives two views', () => {
    const r = new ByteRing(8);
    r.write(bytes(6)); // 0..5 at [0,6)
    r.discard(4); // head = 4, 2 stored
    expect(r.write(bytes(5, 100))).toBe(5); // 100..104: two at [6,8), three at [0,3)
    expect(r.length).toBe(7);
    const out: Uint8Array[] = [];
    expect(r.peek(0, 7, out)).toBe(2);
    expect(out[0]!.length).toBe(4);
    expect(out[1]!.length).toBe(3);
    expect(concat(out, 2)).toEqual([4, 5, 100, 101, 102, 103, 104]);
    // A range wholly after the wrap point is one view.
    expect(r.peek(4, 3, out)).toBe(1);
    expect([...out[0]!]).toEqual([102, 103, 104]);
    // Peek is zero-copy: the view aliases the ring.
    r.peek(0, 1, out);
    out[0]![0] = 0x77;
    const dst = new Uint8Array(7);
    r.copyOut(0, dst, 0, 7);
    expect([...dst]).toEqual([0x77, 5, 100, 101, 102, 103, 104]);
  });

  it('peek of zero bytes writes no view; views past the count are untouched', () => {
    const r = new ByteRing(4);
    r.write(bytes(2));
    const sentinel = new Uint8Array(1);
    const out = [sentinel, sentinel];
    expect(r.peek(2, 0, out)).toBe(0);
    expect(out[0]).toBe(sentinel);
    expect(r.peek(0, 2, out)).toBe(1);
    expect(out[1]).toBe(sentinel);
  });

  it('copyOut writes at dstOffset and leaves the ring unchanged', () => {
    const r = new ByteRing(4);
    r.write(bytes(3));
    r.discard(2);
    r.write(bytes(3, 10)); // stored: 2,10,11,12 wrapping
    const dst = new Uint8Array(6).fill(0xee);
    r.copyOut(1, dst, 2, 3);
    expect([...dst]).toEqual([0xee, 0xee, 10, 11, 12, 0xee]);
    expect(r.length).toBe(4);
  });

  it('copyOut and read give the same bytes below and above the small-copy size (a loop, then a view), wrapped or not', () => {
    for (const len of [1, 64, 255, 256, 257, 1000]) {
      for (const skew of [0, 100, 999]) {
        const r = new ByteRing(1024);
        r.write(bytes(skew));
        r.discard(skew); // the head now sits `skew` bytes in: a long copy wraps
        expect(r.write(bytes(len, 7))).toBe(len);
        const dst = new Uint8Array(len + 3);
        r.copyOut(0, dst, 3, len);
        expect([...dst.subarray(3)]).toEqual([...bytes(len, 7)]);
        const out = new Uint8Array(len);
        expect(r.read(out)).toBe(len);
        expect(out).toEqual(bytes(len, 7));
      }
    }
  });

  it('a write of a whole array (taken with one set) stores the same bytes as a range of one: plain, a view at an offset, a Buffer, wrapped or not', () => {
    for (const len of [1, 63, 64, 65, 300]) {
      for (const skew of [0, 10, 1000]) {
        const backing = bytes(len + 20, 3);
        const sources = [bytes(len, 3), backing.subarray(5, 5 + len), Buffer.from(bytes(len, 3))];
        for (const src of sources) {
          const r = new ByteRing(1024);
          r.write(bytes(skew + 1, 200));
          r.discard(skew); // one byte stays, so the head stays `skew` bytes in: a write past the end wraps
          const want = [...src];
          expect(r.write(src)).toBe(len);
          expect(r.writeRange(backing, 5, 5 + len)).toBe(len); // the same bytes as a range of a larger array
          const out = new Uint8Array(1 + 2 * len);
          expect(r.read(out)).toBe(1 + 2 * len);
          expect([...out.subarray(1, 1 + len)]).toEqual(want);
          expect([...out.subarray(1 + len)]).toEqual([...backing.subarray(5, 5 + len)]);
        }
      }
    }
  });

  it('copyOut from index 0 gives the bytes stored now, write after write of one size or of varying sizes, and after a resize', () => {
    const r = new ByteRing(256);
    const sizes = [64, 64, 64, 64, 10, 64, 10, 10, 64, 64, 1, 1, 64];
    sizes.forEach((n, k) => {
      expect(r.write(bytes(n, 11 * k))).toBe(n); // the ring is empty: stored at index 0
      if (k === 2) r.resize(512); // the ring's memory is new from here
      const dst = new Uint8Array(n + 5).fill(0xee);
      r.copyOut(0, dst, 5, n);
      expect([...dst.subarray(0, 5)]).toEqual([0xee, 0xee, 0xee, 0xee, 0xee]);
      expect([...dst.subarray(5)]).toEqual([...bytes(n, 11 * k)]);
      r.discard(n); // emptied: the next write starts over at index 0
    });
    // From index 0 with more stored than copied, and again after the head moved on.
    r.write(bytes(100, 1));
    for (let k = 0; k < 3; k++) {
      const dst = new Uint8Array(64);
      r.copyOut(0, dst, 0, 64);
      expect(dst).toEqual(bytes(64, 1));
    }
    r.discard(30);
    const dst = new Uint8Array(64);
    r.copyOut(0, dst, 0, 64);
    expect(dst).toEqual(bytes(64, 31));
  });

  it('resize keeps contents across wrap, and allows shrink to length', () => {
    const r = new ByteRing(4);
    r.write(bytes(4));
    r.discard(3);
    r.write(bytes(3, 50)); // 3,50,51,52 wrapped
    r.resize(10);
    expect([r.capacity, r.length, r.free]).toEqual([10, 4, 6]);
    expect(r.write(bytes(6, 200))).toBe(6);
    const dst = new Uint8Array(10);
    expect(r.read(dst)).toBe(10);
    expect([...dst]).toEqual([3, 50, 51, 52, 200, 201, 202, 203, 204, 205]);
    r.write(bytes(3));
    r.resize(3);
    expect(r.capacity).toBe(3);
    expect(r.read(dst)).toBe(3);
    expect([...dst.subarray(0, 3)]).toEqual([0, 1, 2]);
  });

  it('capacity 0 and 1 work', () => {
    const z = new ByteRing(0);
    expect(z.write(bytes(3))).toBe(0);
    expect(z.read(new Uint8Array(3))).toBe(0);
    expect(z.peek(0, 0, [])).toBe(0);
    const one = new ByteRing(1);
    for (let i = 0; i < 5; i++) {
      expect(one.write(bytes(2, i))).toBe(1);
      const d = new Uint8Array(1);
      expect(one.read(d)).toBe(1);
      expect(d[0]).toBe(i);
    }
  });

  it('misuse throws BywayError ERR_OUT_OF_RANGE', () => {
    const r = new ByteRing(4);
    r.write(bytes(2));
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(BywayError);
        return (e as BywayError).code;
      }
      return undefined;
    };
    expect(code(() => new ByteRing(-1))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => new ByteRing(1.5))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => r.discard(3))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => r.discard(-1))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => r.peek(1, 2, []))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => r.copyOut(0, new Uint8Array(1), 0, 2))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => r.copyOut(0, new Uint8Array(4), 3, 2))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => r.resize(1))).toBe('ERR_OUT_OF_RANGE');
    expect(r.length).toBe(2); // nothing changed
  });
});

type Op =
  | { k: 'write'; n: number; fill: number }
  | { k: 'read'; n: number }
  | { k: 'discard'; n: number }
  | { k: 'peek'; off: number; n: number }
  | { k: 'copy'; off: number; n: number; dstOff: number }
  | { k: 'resize'; extra: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('write' as const), n: fc.nat(40), fill: fc.nat(255) }),
  fc.record({ k: fc.constant('read' as const), n: fc.nat(40) }),
  fc.record({ k: fc.constant('discard' as const), n: fc.nat(40) }),
  fc.record({ k: fc.constant('peek' as const), off: fc.nat(40), n: fc.nat(40) }),
  fc.record({ k: fc.constant('copy' as const), off: fc.nat(40), n: fc.nat(40), dstOff: fc.nat(5) }),
  fc.record({ k: fc.constant('resize' as const), extra: fc.nat(20) }),
);

describe('ByteRing against an array model (fast-check)', () => {
  it('every operation matches a plain array', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 33 }), fc.array(opArb, { maxLength: 80 }), (cap, ops) => {
        const r = new ByteRing(cap);
        let model: number[] = [];
        let capacity = cap;
        let counter = 0;
        const views: Uint8Array[] = [];
        for (const op of ops) {
          switch (op.k) {
            case 'write': {
              const src = new Uint8Array(op.n);
              for (let i = 0; i < op.n; i++) src[i] = (op.fill + counter++) & 0xff;
              const took = r.write(src);
              const expectTook = Math.min(op.n, capacity - model.length);
              expect(took).toBe(expectTook);
              model.push(...src.subarray(0, took));
              break;
            }
            case 'read': {
              const dst = new Uint8Array(op.n);
              const got = r.read(dst);
              const want = model.splice(0, op.n);
              expect(got).toBe(want.length);
              expect([...dst.subarray(0, got)]).toEqual(want);
              break;
            }
            case 'discard': {
              const n = Math.min(op.n, model.length);
              r.discard(n);
              model = model.slice(n);
              break;
            }
            case 'peek': {
              const off = Math.min(op.off, model.length);
              const n = Math.min(op.n, model.length - off);
              const count = r.peek(off, n, views);
              expect(count).toBeLessThanOrEqual(2);
              if (n === 0) expect(count).toBe(0);
              else expect(count).toBeGreaterThanOrEqual(1);
              expect(concat(views, count)).toEqual(model.slice(off, off + n));
              break;
            }
            case 'copy': {
              const off = Math.min(op.off, model.length);
              const n = Math.min(op.n, model.length - off);
              const dst = new Uint8Array(n + op.dstOff + 2).fill(0xab);
              r.copyOut(off, dst, op.dstOff, n);
              expect([...dst.subarray(op.dstOff, op.dstOff + n)]).toEqual(model.slice(off, off + n));
              expect(dst[op.dstOff + n]).toBe(0xab);
              if (op.dstOff > 0) expect(dst[op.dstOff - 1]).toBe(0xab);
              break;
            }
            case 'resize': {
              capacity = model.length + op.extra;
              r.resize(capacity);
              break;
            }
          }
          expect(r.length).toBe(model.length);
          expect(r.capacity).toBe(capacity);
          expect(r.free).toBe(capacity - model.length);
        }
      }),
      { numRuns: 300 },
    );
  });
});
