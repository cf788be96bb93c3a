/** The IPv6 fixed header codec and the extension-header walker (protocols/ipv6/wire.ts, wire-ext.ts). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../protocols/util/bytes.js';
import { onesSum } from '../../protocols/util/checksum.js';
import { IPV6_HEADER_LEN, Ipv6Packet, NextHeader, emitIpv6Header, ipv6BufferLen, ipv6PseudoHeaderSum, parseIpv6Header, type Ipv6Repr } from '../../protocols/ipv6/wire.js';
import { FRAGMENT_HEADER_LEN, emitFragmentHeader, parseFragmentHeader, walkExtensionHeaders, type ChainResult } from '../../protocols/ipv6/wire-ext.js';
import { parseIpv6 } from '../../protocols/ipv6/address.js';

const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
export const ipv6Repr: fc.Arbitrary<Ipv6Repr> = fc.record({
  src: addr,
  dst: addr,
  nextHeader: fc.integer({ min: 0, max: 255 }),
  hopLimit: fc.integer({ min: 0, max: 255 }),
  trafficClass: fc.integer({ min: 0, max: 255 }),
  flowLabel: fc.integer({ min: 0, max: 0xfffff }),
  payloadLen: fc.integer({ min: 0, max: 200 }),
});

const SRC = parseIpv6('2001:db8::1')!;
const DST = parseIpv6('2001:db8::2')!;

/** A packet: fixed header naming `first`, then `chain` (raw extension-header bytes), then `upper` bytes. */
function packet(first: number, chain: number[], upper = 8, dst = DST): Ipv6Packet {
  const b = new Uint8Array(IPV6_HEADER_LEN + chain.length + upper);
  emitIpv6Header({ src: SRC, dst, nextHeader: first, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLen: chain.length + upper }, b);
  b.set(chain, IPV6_HEADER_LEN);
  return Ipv6Packet.checked(b)!;
}

/** An options header (hop-by-hop or destination options): next header, then TLVs padded by the caller to 8n. */
function opts(next: number, tlvs: number[]): number[] {
  const body = [next, 0, ...tlvs];
  if (body.length % 8 !== 0) throw new Error(`options header of ${body.length} bytes`);
  body[1] = body.length / 8 - 1;
  return body;
}

function frag(next: number, offset: number, more: boolean, ident: number): number[] {
  const b = new Uint8Array(8);
  emitFragmentHeader({ nextHeader: next, offset, more, ident }, b, 0);
  return [...b];
}

describe('IPv6 fixed header (RFC 8200 section 3)', () => {
  it('parses a hand-built echo request packet', () => {
    // Version 6, traffic class 0xb8 (EF), flow label 0x12345, payload 8, next header 58, hop limit 255.
    const b = fromHex('6b812345 0008 3a ff fe800000000000000000000000000001 ff020000000000000000000000000001 8000823700000000');
    const p = Ipv6Packet.checked(b)!;
    expect(p).toBeDefined();
    const r = parseIpv6Header(p);
    expect(r.trafficClass).toBe(0xb8);
    expect(r.flowLabel).toBe(0x12345);
    expect(r.payloadLen).toBe(8);
    expect(r.nextHeader).toBe(NextHeader.ICMPv6);
    expect(r.hopLimit).toBe(255);
    expect(toHex(r.src)).toBe('fe800000000000000000000000000001');
    expect(toHex(p.payload)).toBe('8000823700000000');
    // ICMPv6 checksum over the pseudo-header (RFC 4443 2.3), summed by hand: fe80+1+ff02+1+8+3a+8000 = 0x27dc6 -> 0x7dc8 -> ~ 0x8237.
    expect(onesSum(p.payload, 0, 8, ipv6PseudoHeaderSum(p.src, p.dst, 8, 58))).toBe(0xffff);
  });

  it('says why it refuses a header, and trims link padding', () => {
    const ok = new Uint8Array(48);
    emitIpv6Header({ src: SRC, dst: DST, nextHeader: 59, hopLimit: 1, trafficClass: 0, flowLabel: 0, payloadLen: 4 }, ok);
    expect(Ipv6Packet.check(ok)).toBe('ok');
    expect(Ipv6Packet.checked(ok)!.buffer.length).toBe(44);
    expect(Ipv6Packet.check(ok.subarray(0, 43))).toBe('truncated');
    expect(Ipv6Packet.check(ok.subarray(0, 39))).toBe('truncated');
    const v4 = ok.slice();
    v4[0] = 0x45;
    expect(Ipv6Packet.check(v4)).toBe('bad-version');
    expect(Ipv6Packet.checked(v4)).toBeUndefined();
  });

  it('parse(emit(r)) equals r, writing exactly 40 bytes', () => {
    fc.assert(
      fc.property(ipv6Repr, fc.integer({ min: 0, max: 7 }), (r, off) => {
        const buf = new Uint8Array(off + ipv6BufferLen(r) + 3).fill(0x5a);
        expect(emitIpv6Header(r, buf, off)).toBe(IPV6_HEADER_LEN);
        for (let i = 0; i < off; i++) expect(buf[i]).toBe(0x5a);
        for (let i = off + IPV6_HEADER_LEN; i < buf.length; i++) expect(buf[i]).toBe(0x5a);
        const p = Ipv6Packet.checked(buf.subarray(off))!;
        expect(p.buffer.length).toBe(ipv6BufferLen(r));
        const back = parseIpv6Header(p);
        expect({ ...back, src: toHex(back.src), dst: toHex(back.dst) }).toEqual({ ...r, src: toHex(r.src), dst: toHex(r.dst) });
      }),
    );
  });

  it('never throws on any bytes, and check agrees with checked', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (b, six) => {
        if (six && b.length > 0) b[0] = (b[0]! & 0x0f) | 0x60;
        const p = Ipv6Packet.checked(b);
        expect(Ipv6Packet.check(b) === 'ok').toBe(p !== undefined);
        if (p !== undefined) walkExtensionHeaders(p);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('Fragment header', () => {
  it('round-trips and ignores the reserved bits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 8191 }), fc.boolean(), fc.integer({ min: 0, max: 0xffffffff }), (nh, units, more, ident) => {
        const b = new Uint8Array(8);
        expect(emitFragmentHeader({ nextHeader: nh, offset: units * 8, more, ident }, b, 0)).toBe(FRAGMENT_HEADER_LEN);
        b[1] = 0xff; // reserved
        b[3] |= 0x06; // res bits
        expect(parseFragmentHeader(b, 0)).toEqual({ nextHeader: nh, offset: units * 8, more, ident });
      }),
    );
  });
});

describe('extension-header chain (RFC 8200 section 4)', () => {
  const upper = (r: ChainResult): unknown => (r.kind === 'upper' ? { protocol: r.protocol, offset: r.offset, field: r.protocolFieldOffset } : r);

  it('walks hop-by-hop, destination options and a spent routing header to the upper layer', () => {
    const chain = [
      ...opts(NextHeader.DestinationOptions, [5, 2, 0, 0, 1, 0]), // Router Alert (MLD), PadN(0)
      ...opts(NextHeader.Routing, [0x1e, 2, 9, 9, 0, 0]), // an unknown option with action 00: skipped
      ...[NextHeader.UDP, 0, 4, 0, 0, 0, 0, 0], // routing type 4, segments left 0: ignored
    ];
    const r = walkExtensionHeaders(packet(NextHeader.HopByHop, chain));
    expect(upper(r)).toEqual({ protocol: NextHeader.UDP, offset: 64, field: 56 });
    expect(r.kind === 'upper' && r.routerAlert).toBe(0);
    expect(upper(walkExtensionHeaders(packet(NextHeader.TCP, [])))).toEqual({ protocol: 6, offset: 40, field: 6 });
    expect(upper(walkExtensionHeaders(packet(NextHeader.NoNextHeader, [], 0)))).toEqual({ protocol: 59, offset: 40, field: 6 });
  });

  it('answers a hop-by-hop header that is not first with parameter problem code 1 at the field naming it', () => {
    const r = walkExtensionHeaders(packet(NextHeader.DestinationOptions, [...opts(NextHeader.HopByHop, [1, 4, 0, 0, 0, 0]), ...opts(17, [1, 4, 0, 0, 0, 0])]));
    expect(r).toEqual({ kind: 'param-problem', code: 1, pointer: 40, reason: 'hop-by-hop-not-first' });
  });

  it('rejects routing type 0 with segments left (RFC 5095) pointing at the Routing Type field', () => {
    const r = walkExtensionHeaders(packet(NextHeader.Routing, [17, 2, 0, 1, 0, 0, 0, 0, ...new Array(16).fill(0)]));
    expect(r).toEqual({ kind: 'param-problem', code: 0, pointer: 42, reason: 'routing-type' });
  });

  it('handles unknown options by their action bits', () => {
    const withOpt = (type: number, dst = DST): ChainResult => walkExtensionHeaders(packet(NextHeader.DestinationOptions, opts(17, [1, 0, type, 2, 0, 0]), 8, dst));
    const mc = parseIpv6('ff02::1')!;
    expect(withOpt(0x3f).kind).toBe('upper'); // 00: skip
    expect(withOpt(0x7f)).toEqual({ kind: 'drop', reason: 'unknown-option' }); // 01: discard
    expect(withOpt(0xbf)).toEqual({ kind: 'param-problem', code: 2, pointer: 44, reason: 'unknown-option' }); // 10
    expect(withOpt(0xbf, mc)).toEqual({ kind: 'param-problem', code: 2, pointer: 44, reason: 'unknown-option' }); // 10, even to multicast
    expect(withOpt(0xff)).toEqual({ kind: 'param-problem', code: 2, pointer: 44, reason: 'unknown-option' }); // 11
    expect(withOpt(0xff, mc)).toEqual({ kind: 'drop', reason: 'unknown-option' }); // 11 to multicast: silent
    // A jumbo payload option (0xc2, RFC 2675) is unknown to byway: action 11.
    expect(walkExtensionHeaders(packet(NextHeader.HopByHop, opts(17, [0xc2, 4, 0, 1, 0, 0])))).toMatchObject({ kind: 'param-problem', code: 2, pointer: 42 });
  });

  it('drops malformed options, too much padding and too many options', () => {
    expect(walkExtensionHeaders(packet(NextHeader.DestinationOptions, opts(17, [1, 0, 0x3f, 9, 0, 0])))).toEqual({ kind: 'drop', reason: 'bad-option' });
    expect(walkExtensionHeaders(packet(NextHeader.DestinationOptions, [...opts(17, [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0])]))).toEqual({ kind: 'drop', reason: 'too-much-padding' });
    expect(walkExtensionHeaders(packet(NextHeader.DestinationOptions, opts(17, [1, 4, 0, 0, 9, 0])))).toEqual({ kind: 'drop', reason: 'nonzero-padding' });
    expect(walkExtensionHeaders(packet(NextHeader.DestinationOptions, opts(17, [0, 0, 0, 0, 0, 0]))).kind).toBe('upper'); // six Pad1
    const nine = opts(17, [...new Array(9).fill([0x3e, 0]).flat(), 0, 0, 0, 0]);
    expect(walkExtensionHeaders(packet(NextHeader.DestinationOptions, nine))).toEqual({ kind: 'drop', reason: 'too-many-options' });
    expect(walkExtensionHeaders(packet(NextHeader.DestinationOptions, nine), { maxHeaders: 8, maxOptions: 9 }).kind).toBe('upper');
  });

  it('drops truncated headers and over-long chains', () => {
    expect(walkExtensionHeaders(packet(NextHeader.DestinationOptions, [17, 1, 1, 4, 0, 0, 0, 0], 0))).toEqual({ kind: 'drop', reason: 'truncated' });
    expect(walkExtensionHeaders(packet(NextHeader.DestinationOptions, [17], 0))).toEqual({ kind: 'drop', reason: 'truncated' });
    const chain: number[] = [];
    for (let i = 0; i < 9; i++) chain.push(...opts(i === 8 ? 17 : 60, [1, 4, 0, 0, 0, 0]));
    expect(walkExtensionHeaders(packet(NextHeader.DestinationOptions, chain))).toEqual({ kind: 'drop', reason: 'too-many-headers' });
    expect(walkExtensionHeaders(packet(NextHeader.DestinationOptions, chain.slice(8))).kind).toBe('upper');
  });

  it('reports fragments, walks past atomic ones (RFC 6946) and checks first fragments hold the chain (RFC 7112)', () => {
    const r = walkExtensionHeaders(packet(NextHeader.Fragment, frag(NextHeader.UDP, 0, true, 0xdeadbeef), 16));
    expect(r).toEqual({ kind: 'fragment', fragment: { headerOffset: 40, nextHeaderFieldOffset: 6, nextHeader: 17, offset: 0, more: true, ident: 0xdeadbeef } });
    const later = walkExtensionHeaders(packet(NextHeader.DestinationOptions, [...opts(44, [1, 4, 0, 0, 0, 0]), ...frag(NextHeader.UDP, 1232, false, 7)], 3));
    expect(later).toMatchObject({ kind: 'fragment', fragment: { headerOffset: 48, nextHeaderFieldOffset: 40, offset: 1232, more: false } });
    const atomic = walkExtensionHeaders(packet(NextHeader.Fragment, frag(NextHeader.TCP, 0, false, 1), 20));
    expect(atomic).toMatchObject({ kind: 'upper', protocol: 6, offset: 48, protocolFieldOffset: 40, atomicFragment: true });
    // First fragment whose TCP header is cut, or whose chain runs past it: parameter problem code 3, pointer 0.
    expect(walkExtensionHeaders(packet(NextHeader.Fragment, frag(NextHeader.TCP, 0, true, 1), 16))).toEqual({ kind: 'param-problem', code: 3, pointer: 0, reason: 'incomplete-first-fragment' });
    expect(walkExtensionHeaders(packet(NextHeader.Fragment, [...frag(NextHeader.DestinationOptions, 0, true, 1), 17, 3, 1, 0], 0))).toMatchObject({ kind: 'param-problem', code: 3 });
    expect(walkExtensionHeaders(packet(NextHeader.Fragment, [...frag(44, 0, false, 1), ...frag(17, 8, false, 2)]))).toEqual({ kind: 'drop', reason: 'two-fragment-headers' });
  });
});
