import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { computeIsn, isnClock, keyedHash32, sipHash24 } from '../../../protocols/tcp/isn.js';
import { BywayError } from '../../../protocols/util/errors.js';

// SipHash-2-4 reference vectors (the paper's / reference implementation's vectors.h): key 00 01 .. 0f,
// message 00 01 .. (n-1) for n = 0..63, output read as a little-endian 64-bit integer.
const VECTORS = [
  '726fdb47dd0e0e31', '74f839c593dc67fd', '0d6c8009d9a94f5a', '85676696d7fb7e2d',
  'cf2794e0277187b7', '18765564cd99a68d', 'cbc9466e58fee3ce', 'ab0200f58b01d137',
  '93f5f5799a932462', '9e0082df0ba9e4b0', '7a5dbbc594ddb9f3', 'f4b32f46226bada7',
  '751e8fbc860ee5fb', '14ea5627c0843d90', 'f723ca908e7af2ee', 'a129ca6149be45e5',
  '3f2acc7f57c29bdb', '699ae9f52cbe4794', '4bc1b3f0968dd39c', 'bb6dc91da77961bd',
  'bed65cf21aa2ee98', 'd0f2cbb02e3b67c7', '93536795e3a33e88', 'a80c038ccd5ccec8',
  'b8ad50c6f649af94', 'bce192de8a85b8ea', '17d835b85bbb15f3', '2f2e6163076bcfad',
  'de4daaaca71dc9a5', 'a6a2506687956571', 'ad87a3535c49ef28', '32d892fad841c342',
  '7127512f72f27cce', 'a7f32346f95978e3', '12e0b01abb051238', '15e034d40fa197ae',
  '314dffbe0815a3b4', '027990f029623981', 'cadcd4e59ef40c4d', '9abfd8766a33735c',
  '0e3ea96b5304a7d0', 'ad0c42d6fc585992', '187306c89bc215a9', 'd4a60abcf3792b95',
  'f935451de4f21df2', 'a9538f0419755787', 'db9acddff56ca510', 'd06c98cd5c0975eb',
  'e612a3cb9ecba951', 'c766e62cfcadaf96', 'ee64435a9752fe72', 'a192d576b245165a',
  '0a8787bf8ecb74b2', '81b3e73d20b49b6f', '7fa8220ba3b2ecea', '245731c13ca42499',
  'b78dbfaf3a8d83bd', 'ea1ad565322a1a0b', '60e61c23a3795013', '6606d7e446282b93',
  '6ca4ecb15c5f91e1', '9f626da15c9625f3', 'e51b38608ef25f57', '958a324ceb064572',
];

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);

describe('SipHash-2-4 (32-bit halves)', () => {
  it('matches all 64 reference vectors', () => {
    const msg = Uint8Array.from({ length: 64 }, (_, i) => i);
    const out = new Uint32Array(2);
    VECTORS.forEach((hex, n) => {
      const lo = sipHash24(KEY, msg.subarray(0, n), out);
      const got = out[1]!.toString(16).padStart(8, '0') + out[0]!.toString(16).padStart(8, '0');
      expect(got, `n = ${n}`).toBe(hex);
      expect(lo).toBe(out[0]);
    });
  });

  it('rejects keys that are not 16 bytes', () => {
    expect(() => sipHash24(new Uint8Array(15), new Uint8Array(0))).toThrow(BywayError);
    expect(() => computeIsn(new Uint8Array(8), 1, 2, 3, 4, 0)).toThrow(BywayError);
  });

  it('keyedHash32 hashes four big-endian words', () => {
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    expect(keyedHash32(KEY, 0x01020304, 0x05060708, 0x090a0b0c, 0x0d0e0f10)).toBe(sipHash24(KEY, bytes));
  });
});

describe('computeIsn (RFC 6528)', () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => (i * 37 + 11) & 0xff);
  const tuple = [0x0a000001, 40000, 0xc0a80102, 80] as const;
  const isn = (k: Uint8Array, lip: number, lport: number, rip: number, rport: number, t: number): number =>
    computeIsn(k, lip, lport, rip, rport, t);

  it('advances by 250 per millisecond (a 4 us clock) for one 4-tuple, wrapping modulo 2^32', () => {
    const a = isn(key, ...tuple, 1000);
    expect((isn(key, ...tuple, 1001) - a) >>> 0).toBe(250);
    expect((isn(key, ...tuple, 1000.004) - a) >>> 0).toBe(1); // 4 us
    expect((isn(key, ...tuple, 1000.003) - a) >>> 0).toBe(0);
    expect((isn(key, ...tuple, 61_000) - a) >>> 0).toBe(15_000_000);
    // The clock wraps after 2^32 ticks = 17179869.184 ms.
    expect(isn(key, ...tuple, 1000 + 17_179_869.184)).toBe(a);
    expect(isnClock(17_179_869.184)).toBe(0);
    expect(isnClock(1.7e12)).toBe((1.7e12 * 250) % 2 ** 32);
  });

  it('the offset is F(4-tuple, key) = keyedHash32 of the tuple', () => {
    expect(isn(key, ...tuple, 0)).toBe(keyedHash32(key, tuple[0], tuple[2], (tuple[1] << 16) | tuple[3], 0));
  });

  it('changes with every element of the 4-tuple and with the key', () => {
    const base = isn(key, ...tuple, 5000);
    const other = new Set<number>([
      isn(key, tuple[0] + 1, tuple[1], tuple[2], tuple[3], 5000),
      isn(key, tuple[0], tuple[1] + 1, tuple[2], tuple[3], 5000),
      isn(key, tuple[0], tuple[1], tuple[2] + 1, tuple[3], 5000),
      isn(key, tuple[0], tuple[1], tuple[2], tuple[3] + 1, 5000),
      isn(key, tuple[2], tuple[3], tuple[0], tuple[1], 5000), // the reverse direction
    ]);
    const k2 = key.slice();
    k2[15]! ^= 1;
    other.add(isn(k2, ...tuple, 5000));
    expect(other.size).toBe(6);
    expect(other.has(base)).toBe(false);
  });

  it('offsets look uniformly spread over random tuples (no obvious structure)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(0xffff), fc.nat(0xffff)), { minLength: 200, maxLength: 200 }), (ports) => {
        const seen = new Set<number>();
        let high = 0;
        for (const [lp, rp] of ports) {
          const v = isn(key, 0x0a000001, lp, 0x0a000002, rp, 0);
          seen.add(v);
          if (v >= 0x80000000) high++;
        }
        const distinct = new Set(ports.map(([a, b]) => a * 65536 + b)).size;
        expect(seen.size).toBe(distinct); // no collisions in 200 draws from 2^32
        expect(high).toBeGreaterThan(60); // top bit roughly half set (binomial(200, 1/2): 60 is > 5.5 sigma off)
        expect(high).toBeLessThan(140);
      }),
      { numRuns: 20 },
    );
  });
});
