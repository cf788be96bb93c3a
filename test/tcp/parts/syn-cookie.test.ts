import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  SYN_COOKIE_MSS_TABLE, SYN_COOKIE_SLOT_MS, synCookieDecode, synCookieEncode, synCookieMssIndex,
} from '../../../protocols/tcp/syn-cookie.js';
import { BywayError } from '../../../protocols/util/errors.js';

const KEY = Uint8Array.from({ length: 16 }, (_, i) => (i * 29 + 3) & 0xff);
const L = 0x0a000001, LP = 80, R = 0xc0a80105, RP = 51234, PISN = 0xdeadbeef;
const T0 = 1_700_000_000_000; // an epoch-like time

describe('SYN cookies: MSS table (like Linux)', () => {
  it('encodes the largest table MSS <= the peer MSS', () => {
    const cases: Array<[number, number]> = [
      [9000, 1460], [1460, 1460], [1459, 1440], [1440, 1440], [1439, 1300], [1300, 1300], [1299, 536], [536, 536],
      [400, 536], // below every entry: 536, as Linux
    ];
    for (const [peer, want] of cases) {
      expect(SYN_COOKIE_MSS_TABLE[synCookieMssIndex(peer)]).toBe(want);
      const c = synCookieEncode(KEY, L, LP, R, RP, PISN, peer, T0);
      expect(c.mss).toBe(want);
      expect(synCookieDecode(KEY, L, LP, R, RP, PISN, c.isn, T0)?.mss).toBe(want);
    }
  });
});

describe('SYN cookies: round trip and rejection', () => {
  it('round-trips for random tuples, ISNs, MSS and times within the slot and the next', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.tuple(fc.nat(0xffffffff), fc.nat(0xffff), fc.nat(0xffffffff), fc.nat(0xffff), fc.nat(0xffffffff)),
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 0, max: 2 ** 45 }),
        fc.integer({ min: 0, max: 2 * SYN_COOKIE_SLOT_MS - 1 }),
        (key, [lip, lp, rip, rp, pisn], mss, t, dt) => {
          const c = synCookieEncode(key, lip, lp, rip, rp, pisn, mss, t);
          const slotEnd = (Math.floor(t / SYN_COOKIE_SLOT_MS) + 2) * SYN_COOKIE_SLOT_MS; // first invalid time
          const later = Math.min(t + dt, slotEnd - 1);
          const d = synCookieDecode(key, lip, lp, rip, rp, pisn, c.isn, later);
          expect(d).toEqual({ mss: c.mss, sackOk: false, tsOk: false });
          expect(synCookieDecode(key, lip, lp, rip, rp, pisn, c.isn, slotEnd)).toBeNull();
        },
      ),
      { numRuns: 300, seed: 4987 },
    );
  });

  it('rejects a wrong 4-tuple, a wrong peer ISN and a wrong key', () => {
    const c = synCookieEncode(KEY, L, LP, R, RP, PISN, 1460, T0);
    expect(synCookieDecode(KEY, L, LP, R, RP, PISN, c.isn, T0)).not.toBeNull();
    expect(synCookieDecode(KEY, L + 1, LP, R, RP, PISN, c.isn, T0)).toBeNull();
    expect(synCookieDecode(KEY, L, LP + 1, R, RP, PISN, c.isn, T0)).toBeNull();
    expect(synCookieDecode(KEY, L, LP, R + 1, RP, PISN, c.isn, T0)).toBeNull();
    expect(synCookieDecode(KEY, L, LP, R, RP + 1, PISN, c.isn, T0)).toBeNull();
    expect(synCookieDecode(KEY, R, RP, L, LP, PISN, c.isn, T0)).toBeNull(); // reversed direction
    expect(synCookieDecode(KEY, L, LP, R, RP, (PISN + 1) >>> 0, c.isn, T0)).toBeNull();
    const k2 = KEY.slice();
    k2[0]! ^= 0x80;
    expect(synCookieDecode(k2, L, LP, R, RP, PISN, c.isn, T0)).toBeNull();
    expect(() => synCookieEncode(new Uint8Array(4), L, LP, R, RP, PISN, 1460, T0)).toThrow(BywayError);
  });

  it('rejects every single-bit change of the cookie (the MSS index bits included)', () => {
    for (const mss of [536, 1300, 1440, 1460]) {
      const c = synCookieEncode(KEY, L, LP, R, RP, PISN, mss, T0);
      for (let bit = 0; bit < 32; bit++) {
        expect(synCookieDecode(KEY, L, LP, R, RP, PISN, (c.isn ^ (1 << bit)) >>> 0, T0), `bit ${bit}`).toBeNull();
      }
    }
  });

  it('rejects cookies shifted by any small delta, and random cookies', () => {
    const c = synCookieEncode(KEY, L, LP, R, RP, PISN, 1440, T0);
    for (let d = 1; d < 4096; d++) {
      expect(synCookieDecode(KEY, L, LP, R, RP, PISN, (c.isn + d) >>> 0, T0)).toBeNull();
      expect(synCookieDecode(KEY, L, LP, R, RP, PISN, (c.isn - d) >>> 0, T0)).toBeNull();
    }
    fc.assert(
      fc.property(fc.nat(0xffffffff), (guess) => {
        fc.pre(guess !== c.isn);
        expect(synCookieDecode(KEY, L, LP, R, RP, PISN, guess, T0)).toBeNull();
      }),
      { numRuns: 2000, seed: 1 },
    );
  });

  it('is valid for the slot it was made in and the next (2 slots of 64 s), not before, not after', () => {
    const slot = Math.floor(T0 / SYN_COOKIE_SLOT_MS);
    const made = slot * SYN_COOKIE_SLOT_MS + 63_999; // the last ms of its slot
    const c = synCookieEncode(KEY, L, LP, R, RP, PISN, 1460, made);
    expect(synCookieDecode(KEY, L, LP, R, RP, PISN, c.isn, made)).not.toBeNull();
    expect(synCookieDecode(KEY, L, LP, R, RP, PISN, c.isn, made + 1)).not.toBeNull(); // next slot
    expect(synCookieDecode(KEY, L, LP, R, RP, PISN, c.isn, made + 64_000)).not.toBeNull(); // last ms of next slot
    expect(synCookieDecode(KEY, L, LP, R, RP, PISN, c.isn, made + 64_001)).toBeNull(); // third slot: too old
    expect(synCookieDecode(KEY, L, LP, R, RP, PISN, c.isn, made - 64_000)).toBeNull(); // from the future
    // The slot counter is 8 bits in the cookie: 256 slots later it must still fail (H2 binds the full slot).
    expect(synCookieDecode(KEY, L, LP, R, RP, PISN, c.isn, made + 256 * 64_000)).toBeNull();
    expect(synCookieDecode(KEY, L, LP, R, RP, PISN, c.isn, made + 257 * 64_000)).toBeNull();
  });
});

describe('SYN cookies: options in the timestamp', () => {
  it('carries window scale and SACK-permitted in TSval low bits, echoed back in TSecr', () => {
    for (const wscale of [undefined, 0, 7, 14]) {
      for (const sackOk of [false, true]) {
        const c = synCookieEncode(KEY, L, LP, R, RP, PISN, 1460, T0, { wscale, sackOk, tsOk: true, tsClock: 123_456_789 });
        expect(c.tsval).toBeDefined();
        const ts = c.tsval!;
        expect(ts).toBeLessThanOrEqual(123_456_789);
        expect(123_456_789 - ts).toBeLessThan(128);
        const d = synCookieDecode(KEY, L, LP, R, RP, PISN, c.isn, T0 + 1000, ts);
        const want: Record<string, unknown> = { mss: 1460, sackOk, tsOk: true };
        if (wscale !== undefined) want['wscale'] = wscale;
        expect(d).toEqual(want);
      }
    }
  });

  it('clamps a window scale above 14 (RFC 7323 2.3)', () => {
    const c = synCookieEncode(KEY, L, LP, R, RP, PISN, 1460, T0, { wscale: 20, tsOk: true });
    expect(synCookieDecode(KEY, L, LP, R, RP, PISN, c.isn, T0, c.tsval)?.wscale).toBe(14);
  });

  it('never puts TSval after the clock, including across the 2^32 wrap', () => {
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.integer({ min: 0, max: 15 }), fc.boolean(), (clock, ws, sack) => {
        const c = synCookieEncode(KEY, L, LP, R, RP, PISN, 1460, T0, { wscale: ws, sackOk: sack, tsOk: true, tsClock: clock });
        const behind = (clock - c.tsval!) | 0;
        expect(behind).toBeGreaterThanOrEqual(0);
        expect(behind).toBeLessThan(128);
        expect(c.tsval! & 0x3f).toBe(0x20 | (sack ? 0x10 : 0) | (ws === 15 ? 14 : ws));
      }),
      { numRuns: 300 },
    );
  });

  it('default TS clock is floor(now); no TSval without tsOk; no options without an echoed cookie TSval', () => {
    const c = synCookieEncode(KEY, L, LP, R, RP, PISN, 1460, 10_047.7, { tsOk: true, sackOk: true, wscale: 3 });
    expect(c.tsval).toBe(64 * 156 + 0x33); // floor(10047.7) = 64*156 + 63, low bits 0x20 | 0x10 | 3
    const back = synCookieEncode(KEY, L, LP, R, RP, PISN, 1460, 64 * 156 + 0x32, { tsOk: true, sackOk: true, wscale: 3 });
    expect(back.tsval).toBe(64 * 155 + 0x33); // would be 1 tick in the future: one block back
    const n = synCookieEncode(KEY, L, LP, R, RP, PISN, 1460, T0, { sackOk: true, wscale: 3 });
    expect(n.tsval).toBeUndefined();
    expect(synCookieDecode(KEY, L, LP, R, RP, PISN, n.isn, T0)).toEqual({ mss: 1460, sackOk: false, tsOk: false });
    // A TSecr without the cookie marker bit carries nothing.
    expect(synCookieDecode(KEY, L, LP, R, RP, PISN, n.isn, T0, 0x1f)).toEqual({ mss: 1460, sackOk: false, tsOk: false });
  });
});
