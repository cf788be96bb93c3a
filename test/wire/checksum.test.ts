/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624), checked against a naive byte-at-a-time
 * reference and the RFCs' worked examples. `onesSum` reads aligned 32-bit words for ranges of 256 bytes and more
 * (16 words per step, then one at a time, in blocks of 2^20 words), so the properties run it at every alignment of the
 * backing buffer (subarray offsets 0-7), every start/end and every length around those steps.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  checksum,
  finish,
  fold,
  onesSum,
  pseudoHeaderSum,
  updateChecksum16,
  updateChecksum32,
} from '../../protocols/util/checksum.js';
import { fromHex, read16, read32, write16, write32 } from '../../protocols/util/bytes.js';

/** Reference: big-endian 16-bit words, odd last byte padded with zero, end-around carry after every add. */
function naiveSum(b: Uint8Array, start = 0, end = b.length, initial = 0): number {
  let s = initial;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  for (let i = start; i < end; i += 2) {
    s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
    if (s > 0xffff) s = (s & 0xffff) + 1;
  }
  return s;
}

/** A copy of `data` placed at byte offset `align` of a fresh ArrayBuffer (so its byteOffset is `align`). */
function atAlignment(data: Uint8Array, align: number): Uint8Array {
  const backing = new Uint8Array(data.length + align + 8);
  backing.fill(0xa5); // bytes around the view must not be read
  backing.set(data, align);
  return backing.subarray(align, align + data.length);
}

describe('onesSum against a naive reference', () => {
  it('matches for random buffers at every alignment 0-7 and lengths 0..2000', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 2000, size: 'max' }), fc.integer({ min: 0, max: 7 }), (data, align) => {
        const view = atAlignment(data, align);
        expect(view.byteOffset).toBe(align);
        expect(onesSum(view)).toBe(naiveSum(data));
      }),
      { numRuns: 400 },
    );
  });

  it('matches for every alignment and every length 0..140 exhaustively (small and bulk paths, every tail)', () => {
    const data = new Uint8Array(140);
    for (let i = 0; i < data.length; i++) data[i] = (i * 167 + 13) & 0xff;
    for (let align = 0; align < 8; align++) {
      const view = atAlignment(data, align);
      for (let len = 0; len <= data.length; len++) expect(onesSum(view, 0, len)).toBe(naiveSum(data, 0, len));
    }
  });

  it('matches over ring-sized views (remembered, two at a time) mixed with per-packet views, any range and initial', () => {
    // Views of at least 128 KiB are remembered with their offset and word views (two at a time, as AF_PACKET's receive
    // and transmit rings); small sums over them read 32-bit words from even addresses. Two rings (one at an odd byte
    // offset of its buffer, so its even ranges are at odd addresses), a third ring that evicts one of them, and
    // small views of their own, summed in random order.
    const ring = (bytes: number, at: number, seed: number): Uint8Array => {
      const backing = new Uint8Array(bytes + at + 8);
      for (let i = 0; i < backing.length; i++) backing[i] = (i * seed + (i >>> 9)) & 0xff;
      return backing.subarray(at, at + bytes);
    };
    const views = [ring(256 * 1024, 0, 151), ring(192 * 1024, 1, 97), ring(160 * 1024, 6, 61), atAlignment(new Uint8Array(300).fill(0x5a), 3), atAlignment(Uint8Array.from({ length: 300 }, (_, i) => i * 7), 0)];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: views.length - 1 }), fc.integer({ min: 0, max: 299 }), fc.integer({ min: 0, max: 300 }), fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff }))), { minLength: 1, maxLength: 40 }),
        (calls) => {
          for (const [v, at, n, initial] of calls) {
            const b = views[v]!;
            const start = v < 3 ? ((at * 4099) % (b.length - 600)) + (at & 1) : Math.min(at, b.length);
            const end = Math.min(b.length, start + n);
            expect(onesSum(b, start, end, initial)).toBe(naiveSum(b, start, end, initial));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('matches for arbitrary start/end inside a buffer, with an initial partial sum', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 1500, size: 'max' }),
        fc.integer({ min: 0, max: 7 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 0x3ffff }),
        (data, align, a, b, initial) => {
          const view = atAlignment(data, align);
          const start = data.length === 0 ? 0 : a % (data.length + 1);
          const end = start + (data.length - start === 0 ? 0 : b % (data.length - start + 1));
          expect(onesSum(view, start, end, initial)).toBe(naiveSum(data, start, end, initial));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('does not lose precision on a 64 KiB buffer of 0xff (the largest IPv4 datagram and more)', () => {
    for (const len of [65535, 65536, 65537]) {
      const b = new Uint8Array(len).fill(0xff);
      expect(onesSum(b)).toBe(naiveSum(b));
      const expected = len % 2 === 0 ? 0xffff : 0xff00; // an odd last 0xff byte is the word 0xff00
      expect(onesSum(b)).toBe(expected);
      expect(onesSum(atAlignment(b, 3))).toBe(expected);
    }
  });

  it('matches at every alignment and every length 250..400 exhaustively (the word loop\'s 16/8/4/1-word steps)', () => {
    const data = new Uint8Array(400);
    for (let i = 0; i < data.length; i++) data[i] = (i * 151 + 7) & 0xff;
    for (let align = 0; align < 8; align++) {
      const view = atAlignment(data, align);
      for (let len = 250; len <= data.length; len++) expect(onesSum(view, 0, len)).toBe(naiveSum(data, 0, len));
      for (let start = 1; start < 8; start++) expect(onesSum(view, start, 399)).toBe(naiveSum(data, start, 399));
    }
  });

  it('stays exact past the 2^20-word block: 0xff over 12 MiB and random data over 4 MiB, +- a few bytes', () => {
    // 2^20 words of 0xffffffff sum to just under 2^52, so three unfolded blocks of them would pass 2^53.
    const big = new Uint8Array((12 << 20) + 16).fill(0xff);
    for (const len of [(4 << 20) - 3, (4 << 20) + 6, (12 << 20) - 3, 12 << 20, (12 << 20) + 1, (12 << 20) + 11]) {
      for (const start of [0, 1, 2, 3]) {
        const expected = (len - start) % 2 === 0 ? 0xffff : naiveSum(big, start, start + len - start);
        expect(onesSum(big, start, len)).toBe(expected);
      }
    }
    const rnd = new Uint8Array((4 << 20) + 40);
    let x = 0x2545f491;
    for (let i = 0; i < rnd.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      rnd[i] = x & 0xff;
    }
    for (const [start, end] of [[0, rnd.length], [3, rnd.length - 1], [2, (4 << 20) + 2], [1, (4 << 20) + 33]] as const) {
      expect(onesSum(rnd, start, end)).toBe(naiveSum(rnd, start, end));
    }
  });

  it('an initial partial sum up to 2^53 - 2^32 folds exactly with a bulk range', () => {
    const b = new Uint8Array(1500).fill(0xff);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 53 - 2 ** 32 }), fc.integer({ min: 0, max: 7 }), (initial, start) => {
        expect(onesSum(b, start, 1500, initial)).toBe(naiveSum(b, start, 1500, initial));
      }),
      { numRuns: 300 },
    );
  });

  it('a zero buffer sums to +0 and an empty range returns the folded initial value', () => {
    expect(onesSum(new Uint8Array(100))).toBe(0);
    expect(onesSum(new Uint8Array(0))).toBe(0);
    expect(onesSum(new Uint8Array(10), 4, 4, 0x1_2345)).toBe(0x2346);
  });
});

describe('RFC 1071 worked example (section 3)', () => {
  // Bytes 00 01 f2 03 f4 f5 f6 f7: 0001 + f203 + f4f5 + f6f7 = 2ddf0, folded ddf2, checksum 220d.
  const EXAMPLE = fromHex('0001f203f4f5f6f7');

  it('sums to 0xddf2 and checksums to 0x220d', () => {
    expect(onesSum(EXAMPLE)).toBe(0xddf2);
    expect(checksum(EXAMPLE)).toBe(0x220d);
    expect(finish(0x2ddf0)).toBe(0x220d);
  });

  it('gives the same value on the bulk path (zeros around it, every alignment)', () => {
    for (let align = 0; align < 8; align++) {
      for (const before of [0, 2, 64, 70]) {
        const b = new Uint8Array(before + EXAMPLE.length + 80);
        b.set(EXAMPLE, before);
        const view = atAlignment(b, align);
        expect(onesSum(view)).toBe(0xddf2);
      }
    }
  });

  it('byte order independence (section 2(B)): swapping every byte pair swaps the sum', () => {
    const swapped = fromHex('0100 03f2 f5f4 f7f6');
    expect(onesSum(swapped)).toBe(0xf2dd);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600, size: 'max' }).filter((a) => a.length % 2 === 0), (data) => {
        const sw = new Uint8Array(data.length);
        for (let i = 0; i < data.length; i += 2) {
          sw[i] = data[i + 1]!;
          sw[i + 1] = data[i]!;
        }
        const s = onesSum(data);
        expect(onesSum(sw)).toBe(((s & 0xff) << 8) | (s >>> 8));
      }),
      { numRuns: 200 },
    );
  });

  it('a buffer with its checksum in place sums to 0xffff (section 1(3))', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 300, size: 'max' }), fc.integer({ min: 0, max: 7 }), (data, align) => {
        // put the checksum in the first word (zeroed while computing)
        const b = atAlignment(data, align);
        write16(b, 0, 0);
        write16(b, 0, checksum(b));
        expect(onesSum(b)).toBe(0xffff);
      }),
      { numRuns: 300 },
    );
  });

  it('verifies a textbook IPv4 header (checksum b861)', () => {
    const h = fromHex('450000730000400040110000c0a80001c0a800c7');
    expect(checksum(h)).toBe(0xb861);
    write16(h, 10, 0xb861);
    expect(onesSum(h)).toBe(0xffff);
  });

  it('fold reduces large sums with end-around carry', () => {
    expect(fold(0)).toBe(0);
    expect(fold(0xffff)).toBe(0xffff);
    expect(fold(0x10000)).toBe(1);
    expect(fold(0x1fffe)).toBe(0xffff);
    expect(fold(2 ** 52)).toBe(naiveFold(2 ** 52));
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        expect(fold(n)).toBe(naiveFold(n));
      }),
      { numRuns: 500 },
    );
  });
});

/** n mod 0xffff, mapped into 1..0xffff for n > 0 (the ones'-complement value of a non-zero sum). */
function naiveFold(n: number): number {
  if (n === 0) return 0;
  const r = Number(BigInt(n) % 0xffffn);
  return r === 0 ? 0xffff : r;
}

describe('RFC 1624 incremental update', () => {
  it('section 3 example: m 0x5555 -> 0x3285 with the rest summing to 0xcd7a gives HC\' = 0x0000 (eqn. 3, not 0xffff)', () => {
    // HC = ~(0xcd7a + 0x5555) = 0xdd2f; recomputed from scratch HC' = ~(0xcd7a + 0x3285) = ~0xffff = 0x0000.
    const hdr = new Uint8Array(4);
    write16(hdr, 0, 0xcd7a);
    write16(hdr, 2, 0x5555);
    const hc = checksum(hdr);
    expect(hc).toBe(0xdd2f);
    write16(hdr, 2, 0x3285);
    expect(checksum(hdr)).toBe(0x0000);
    expect(updateChecksum16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
    // and back again: from the +0 checksum the update is still exact
    expect(updateChecksum16(0x0000, 0x3285, 0x5555)).toBe(0xdd2f);
    // the 32-bit form over the same pair of words
    expect(updateChecksum32(0xdd2f, 0xcd7a5555, 0xcd7a3285)).toBe(0x0000);
  });

  it('an unchanged word leaves a checksum unchanged', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfffe }), fc.integer({ min: 0, max: 0xffff }), (hc, m) => {
        expect(updateChecksum16(hc, m, m)).toBe(hc);
      }),
    );
  });

  // Data whose new contents are all zero is the one case where eqn. 3 (which never yields a +0 sum from a
  // non-zero one) and recomputation (sum +0, checksum 0xffff) differ; it never occurs in IPv4, UDP or TCP, whose
  // covered data always holds a non-zero version or protocol. See `all-zero corner` below.
  const words = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 2, maxLength: 40, size: 'max' });

  it('16-bit: equals full recomputation for random changes', () => {
    fc.assert(
      fc.property(words, fc.nat(), fc.integer({ min: 0, max: 0xffff }), (ws, idx, m2) => {
        const b = new Uint8Array(ws.length * 2);
        ws.forEach((w, i) => write16(b, i * 2, w));
        const i = (idx % ws.length) * 2;
        const hc = checksum(b);
        const m = read16(b, i);
        write16(b, i, m2);
        fc.pre(b.some((x) => x !== 0));
        const expected = checksum(b);
        expect(updateChecksum16(hc, m, m2)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('32-bit: equals full recomputation for random changes of an aligned or unaligned 32-bit field', () => {
    fc.assert(
      fc.property(words, fc.nat(), fc.integer({ min: 0, max: 0xffffffff }), (ws, idx, v2) => {
        const b = new Uint8Array(ws.length * 2);
        ws.forEach((w, i) => write16(b, i * 2, w));
        const i = (idx % (ws.length - 1)) * 2;
        const hc = checksum(b);
        const v = read32(b, i);
        write32(b, i, v2);
        fc.pre(b.some((x) => x !== 0));
        expect(updateChecksum32(hc, v, v2)).toBe(checksum(b));
      }),
      { numRuns: 2000 },
    );
  });

  it('hits the -0/+0 corner: changes that make the data sum exactly 0xffff (checksum +0)', () => {
    fc.assert(
      fc.property(words, fc.nat(), (ws, idx) => {
        const b = new Uint8Array(ws.length * 2);
        ws.forEach((w, i) => write16(b, i * 2, w));
        const i = (idx % ws.length) * 2;
        const hc = checksum(b);
        const m = read16(b, i);
        // choose m' so that the rest + m' = 0xffff in ones' complement
        write16(b, i, 0);
        const rest = onesSum(b);
        const m2 = ~rest & 0xffff;
        write16(b, i, m2);
        fc.pre(b.some((x) => x !== 0));
        expect(onesSum(b)).toBe(0xffff);
        expect(checksum(b)).toBe(0);
        expect(updateChecksum16(hc, m, m2)).toBe(0);
        // and the checksum verifies when written into a word of its own
        const withCk = new Uint8Array(b.length + 2);
        withCk.set(b);
        write16(withCk, b.length, updateChecksum16(hc, m, m2));
        expect(onesSum(withCk)).toBe(0xffff);
      }),
      { numRuns: 500 },
    );
  });

  it('a checksum updated by a chain of random changes still verifies (IPv4 TTL decrement, NAT rewrite)', () => {
    const h = fromHex('450000730000400040110000c0a80001c0a800c7');
    write16(h, 10, checksum(h));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 0xffffffff })), { maxLength: 30, size: 'max' }),
        (changes) => {
          const b = h.slice();
          for (const [which, v] of changes) {
            if (which === 0) {
              // TTL/protocol word (offset 8)
              const old = read16(b, 8);
              write16(b, 8, v & 0xffff);
              write16(b, 10, updateChecksum16(read16(b, 10), old, v & 0xffff));
            } else {
              // source address (offset 12)
              const old = read32(b, 12);
              write32(b, 12, v);
              write16(b, 10, updateChecksum32(read16(b, 10), old, v));
            }
            expect(onesSum(b)).toBe(0xffff);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('all-zero corner: eqn. 3 yields 0x0000 where recomputation of all-zero data yields 0xffff', () => {
    // Documented behaviour, not reachable for IPv4 (version 4 is never zero) or UDP/TCP (pseudo-header protocol).
    const b = new Uint8Array(4);
    write16(b, 2, 0x1234);
    const hc = checksum(b);
    write16(b, 2, 0);
    expect(checksum(b)).toBe(0xffff);
    expect(updateChecksum16(hc, 0x1234, 0)).toBe(0x0000);
  });
});

describe('pseudoHeaderSum', () => {
  it('equals the sum of the 12-byte pseudo-header (RFC 768) laid out in bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffff }),
        (src, dst, proto, len) => {
          const ph = new Uint8Array(12);
          write32(ph, 0, src);
          write32(ph, 4, dst);
          ph[8] = 0;
          ph[9] = proto;
          write16(ph, 10, len);
          expect(pseudoHeaderSum(src, dst, proto, len)).toBe(naiveSum(ph));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('combined with a payload through `initial` equals summing pseudo-header and payload together', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ minLength: 0, maxLength: 300, size: 'max' }),
        fc.integer({ min: 0, max: 7 }),
        (src, dst, payload, align) => {
          const joined = new Uint8Array(12 + payload.length);
          write32(joined, 0, src);
          write32(joined, 4, dst);
          joined[9] = 17;
          write16(joined, 10, payload.length);
          joined.set(payload, 12);
          const view = atAlignment(payload, align);
          expect(onesSum(view, 0, view.length, pseudoHeaderSum(src, dst, 17, payload.length))).toBe(naiveSum(joined));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('known value: 192.168.0.1 -> 192.168.0.199, UDP, length 8', () => {
    // c0a8 + 0001 + c0a8 + 00c7 + 0011 + 0008 = 0x18231 -> 0x8232
    expect(pseudoHeaderSum(0xc0a80001, 0xc0a800c7, 17, 8)).toBe(0x8232);
  });
});
