/** ICMPv6 (RFC 4443): the codec with its pseudo-header checksum, the error rules of 2.4(e) and the rate limit of 2.4(f). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../protocols/util/bytes.js';
import { IPV6_HEADER_LEN, Ipv6Packet, NextHeader, emitIpv6Header } from '../../protocols/ipv6/wire.js';
import { parseIpv6 } from '../../protocols/ipv6/address.js';
import {
  ICMPV6_HEADER_LEN,
  ICMPV6_MAX_QUOTE,
  Icmpv6Packet,
  emitIcmpv6,
  icmpv6BufferLen,
  icmpv6Quote,
  parseIcmpv6,
  type Icmpv6Repr,
} from '../../protocols/icmpv6/wire.js';
import { Icmpv6RateLimiter, buildIcmpv6Error, mayAnswerWithError } from '../../protocols/icmpv6/errors.js';
import { refChecksum } from './helpers.js';

const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
const bytes = fc.uint8Array({ maxLength: 80 });
export const icmpv6Repr: fc.Arbitrary<Icmpv6Repr> = fc.oneof(
  fc.record({ kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const), ident: fc.integer({ min: 0, max: 0xffff }), seq: fc.integer({ min: 0, max: 0xffff }), data: bytes }),
  fc.record({ kind: fc.constant('dest-unreachable' as const), code: fc.integer({ min: 0, max: 255 }), quoted: bytes }),
  fc.record({ kind: fc.constant('packet-too-big' as const), mtu: fc.integer({ min: 0, max: 0xffffffff }), quoted: bytes }),
  fc.record({ kind: fc.constant('time-exceeded' as const), code: fc.integer({ min: 0, max: 255 }), quoted: bytes }),
  fc.record({ kind: fc.constant('param-problem' as const), code: fc.integer({ min: 0, max: 255 }), pointer: fc.integer({ min: 0, max: 0xffffffff }), quoted: bytes }),
  fc.record({ kind: fc.constant('other' as const), type: fc.integer({ min: 5, max: 127 }).chain((t) => fc.constantFrom(t, t + 128 > 129 ? t + 128 : 200)), code: fc.integer({ min: 0, max: 255 }), rest: fc.integer({ min: 0, max: 0xffffffff }), data: bytes }),
);

describe('ICMPv6 codec', () => {
  it('parses hand-built messages of each type', () => {
    const ll = parseIpv6('fe80::1')!;
    const all = parseIpv6('ff02::1')!;
    const echo = Icmpv6Packet.checked(fromHex('80008237 00000000'))!;
    expect(echo.verifyChecksum(ll, all)).toBe(true);
    expect(parseIcmpv6(echo)).toEqual({ kind: 'echo-request', ident: 0, seq: 0, data: new Uint8Array(0) });
    const ptb = Icmpv6Packet.checked(fromHex('02000000 000005dc 6000000000003a40'))!;
    expect(parseIcmpv6(ptb)).toMatchObject({ kind: 'packet-too-big', mtu: 1500 });
    expect(parseIcmpv6(Icmpv6Packet.checked(fromHex('01040000 00000000 60'))!)).toMatchObject({ kind: 'dest-unreachable', code: 4 });
    expect(parseIcmpv6(Icmpv6Packet.checked(fromHex('03010000 00000000'))!)).toMatchObject({ kind: 'time-exceeded', code: 1 });
    expect(parseIcmpv6(Icmpv6Packet.checked(fromHex('04020000 0000002a'))!)).toMatchObject({ kind: 'param-problem', code: 2, pointer: 42 });
    expect(parseIcmpv6(Icmpv6Packet.checked(fromHex('87000000 00000000'))!)).toMatchObject({ kind: 'other', type: 135 });
    expect(parseIcmpv6(Icmpv6Packet.checked(fromHex('80010000 00010002'))!)).toMatchObject({ kind: 'other', type: 128, code: 1 });
    // Unused bits and PTB's code are ignored by the receiver (RFC 4443 3.1-3.3).
    expect(parseIcmpv6(Icmpv6Packet.checked(fromHex('01000000 ffffffff'))!)).toMatchObject({ kind: 'dest-unreachable', code: 0 });
    expect(parseIcmpv6(Icmpv6Packet.checked(fromHex('02070000 00000500'))!)).toMatchObject({ kind: 'packet-too-big', mtu: 1280 });
    expect(Icmpv6Packet.checked(new Uint8Array(7))).toBeUndefined();
  });

  it('parse(emit(r)) equals r; the emitted checksum matches a reference and verifies only with the right addresses', () => {
    fc.assert(
      fc.property(icmpv6Repr, addr, addr, fc.integer({ min: 0, max: 5 }), (r, src, dst, off) => {
        const len = icmpv6BufferLen(r);
        const buf = new Uint8Array(off + len + 2).fill(0xa5);
        expect(emitIcmpv6(r, buf, off, src, dst)).toBe(len);
        expect(buf[off + len]).toBe(0xa5);
        const msg = buf.subarray(off, off + len);
        const p = Icmpv6Packet.checked(msg)!;
        expect(p.checksumField).toBe(refChecksum(src, dst, msg));
        expect(p.verifyChecksum(src, dst)).toBe(true);
        const other = dst.slice();
        other[15] ^= 1;
        expect(p.verifyChecksum(src, other)).toBe(false);
        expect(parseIcmpv6(p)).toEqual(r);
      }),
    );
  });

  it('leaves the checksum zero without addresses (offload) and quotes at most 1232 bytes', () => {
    const buf = new Uint8Array(12);
    emitIcmpv6({ kind: 'echo-reply', ident: 1, seq: 2, data: Uint8Array.of(1, 2, 3, 4) }, buf);
    expect(toHex(buf)).toBe('810000000001000201020304');
    expect(icmpv6Quote(new Uint8Array(3000)).length).toBe(ICMPV6_MAX_QUOTE);
    expect(ICMPV6_MAX_QUOTE + ICMPV6_HEADER_LEN + IPV6_HEADER_LEN).toBe(1280);
    expect(icmpv6Quote(new Uint8Array(100)).length).toBe(100);
  });
});

function invoking(src: string, dst: string, upper: number[], nextHeader: number = NextHeader.UDP): Ipv6Packet {
  const b = new Uint8Array(40 + upper.length);
  emitIpv6Header({ src: parseIpv6(src)!, dst: parseIpv6(dst)!, nextHeader, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLen: upper.length }, b);
  b.set(upper, 40);
  return Ipv6Packet.checked(b)!;
}

describe('RFC 4443 2.4(e): packets that draw no error', () => {
  const udp = [0, 1, 0, 2, 0, 8, 0, 0];
  it('answers a unicast UDP packet, but not one to multicast or sent as link multicast, save the exceptions', () => {
    expect(mayAnswerWithError(invoking('fd00::2', 'fd00::1', udp), 1, 4, false)).toBe(true);
    expect(mayAnswerWithError(invoking('fd00::2', 'ff02::1', udp), 1, 4, false)).toBe(false);
    expect(mayAnswerWithError(invoking('fd00::2', 'fd00::1', udp), 1, 4, true)).toBe(false);
    expect(mayAnswerWithError(invoking('fd00::2', 'ff02::1', udp), 2, 0, false)).toBe(true); // packet too big
    expect(mayAnswerWithError(invoking('fd00::2', 'ff02::1', udp), 4, 2, true)).toBe(true); // unrecognized option
    expect(mayAnswerWithError(invoking('fd00::2', 'ff02::1', udp), 4, 0, false)).toBe(false);
  });

  it('never answers an error, a redirect, or a source that is not one node', () => {
    expect(mayAnswerWithError(invoking('fd00::2', 'fd00::1', [1, 4, 0, 0, 0, 0, 0, 0], 58), 4, 1, false)).toBe(false);
    expect(mayAnswerWithError(invoking('fd00::2', 'fd00::1', [137, 0, 0, 0, 0, 0, 0, 0], 58), 4, 1, false)).toBe(false);
    expect(mayAnswerWithError(invoking('fd00::2', 'fd00::1', [128, 0, 0, 0, 0, 0, 0, 0], 58), 4, 1, false)).toBe(true);
    // An error behind a destination options header is still an error.
    expect(mayAnswerWithError(invoking('fd00::2', 'fd00::1', [58, 0, 1, 4, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0], 60), 4, 1, false)).toBe(false);
    expect(mayAnswerWithError(invoking('::', 'fd00::1', udp), 1, 4, false)).toBe(false);
    expect(mayAnswerWithError(invoking('ff02::1', 'fd00::1', udp), 1, 4, false)).toBe(false);
  });
});

describe('buildIcmpv6Error', () => {
  it('quotes as much as fits in 1280 bytes, and the packet parses back with a good checksum', () => {
    const src = parseIpv6('fd00::1')!;
    const dst = parseIpv6('fd00::2')!;
    for (const n of [48, 1232, 1233, 3000]) {
      const inv = new Uint8Array(n).map((_, i) => i);
      const out = buildIcmpv6Error({ kind: 'time-exceeded', code: 1 }, inv, src, dst);
      expect(out.length).toBe(Math.min(1280, 48 + n));
      const p = Ipv6Packet.checked(out)!;
      expect(p.nextHeader).toBe(58);
      const m = Icmpv6Packet.checked(p.payload)!;
      expect(m.verifyChecksum(src, dst)).toBe(true);
      const r = parseIcmpv6(m);
      expect(r).toMatchObject({ kind: 'time-exceeded', code: 1 });
      expect(toHex((r as { quoted: Uint8Array }).quoted)).toBe(toHex(inv.subarray(0, 1232)));
    }
  });
});

describe('RFC 4443 2.4(f): the error rate limit', () => {
  it('lets a burst through, then the configured rate on the virtual clock', () => {
    const r = new Icmpv6RateLimiter({ ratePerSecond: 10, burst: 5 });
    let sent = 0;
    for (let i = 0; i < 20; i++) if (r.allow(0)) sent++;
    expect(sent).toBe(5);
    expect(r.allow(50)).toBe(false); // half a token
    expect(r.allow(100)).toBe(true);
    expect(r.allow(100)).toBe(false);
    // Over 10 s at 100 attempts per second, about 10 per second get through: 100 (+ what the start held).
    sent = 0;
    for (let t = 1000; t < 11_000; t += 10) if (r.allow(t)) sent++;
    expect(sent).toBeGreaterThanOrEqual(100);
    expect(sent).toBeLessThanOrEqual(106);
    // A long pause refills only up to the burst.
    sent = 0;
    for (let i = 0; i < 20; i++) if (r.allow(1_000_000)) sent++;
    expect(sent).toBe(5);
    // The clock going backwards refills nothing.
    expect(r.allow(0)).toBe(false);
    expect(r.stats.allowed + r.stats.limited).toBe(20 + 3 + 1000 + 20 + 1);
  });
});
