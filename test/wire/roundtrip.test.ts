/**
 * parse(emit(r)) equals r under fast-check for every wire codec, emitted checksums verify, emit writes exactly its
 * own bytes, and the `check` reasons come out right for crafted headers.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytesEqual, read16, write16 } from '../../protocols/util/bytes.js';
import { checksum, onesSum } from '../../protocols/util/checksum.js';
import {
  BROADCAST_MAC,
  ETHERNET_HEADER_LEN,
  EtherType,
  EthernetFrame,
  VLAN_TAG_LEN,
  emitEthernet,
  ethernetHeaderLen,
  formatMac,
  isBroadcastMac,
  isMulticastMac,
  macEquals,
  parseEthernet,
  parseMac,
  writeEthernetHeader,
} from '../../protocols/ethernet/wire.js';
import { ARP_PACKET_LEN, ArpPacket, arpBufferLen, emitArp, parseArp } from '../../protocols/arp/wire.js';
import {
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_HEADER_LEN,
  IpProtocol,
  Ipv4Packet,
  emitIpv4Header,
  ipv4BufferLen,
  parseIpv4Header,
  writeIpv4Header,
} from '../../protocols/ipv4/wire.js';
import { ICMP_HEADER_LEN, IcmpPacket, emitIcmp, icmpBufferLen, parseIcmp, type IcmpRepr } from '../../protocols/icmp/wire.js';
import { UDP_HEADER_LEN, UdpPacket, emitUdp, parseUdp, udpBufferLen, writeUdpHeader } from '../../protocols/udp/wire.js';
import { arpRepr, ethernetRepr, icmpRepr, ipv4Repr, mac, smallBytes, u16, u32, udpRepr } from './helpers.js';

/** A buffer of `len` random-looking bytes with `pre` guard bytes before and `post` after, for overwrite checks. */
function guarded(len: number, pre: number, post: number, fill = 0x5a): Uint8Array {
  return new Uint8Array(pre + len + post).fill(fill);
}

/** Every byte outside [from, to) still holds the guard value (reports the first that does not). */
function expectGuardsIntact(buf: Uint8Array, from: number, to: number, fill = 0x5a): void {
  let bad = -1;
  for (let i = 0; i < buf.length && bad < 0; i++) if ((i < from || i >= to) && buf[i] !== fill) bad = i;
  expect(bad, 'first byte written outside the region').toBe(-1);
}

describe('Ethernet', () => {
  it('parse(emit(r)) equals r, tagged and untagged, at any offset, writing only the header', () => {
    fc.assert(
      fc.property(ethernetRepr, smallBytes(100), fc.integer({ min: 0, max: 9 }), (r, payload, off) => {
        const hlen = ethernetHeaderLen(r);
        expect(hlen).toBe(r.vlan === undefined ? ETHERNET_HEADER_LEN : ETHERNET_HEADER_LEN + VLAN_TAG_LEN);
        const buf = guarded(hlen + payload.length, off, 3);
        buf.set(payload, off + hlen);
        expect(emitEthernet(r, buf, off)).toBe(hlen);
        expectGuardsIntact(buf, off, off + hlen + payload.length);
        const frame = buf.subarray(off, off + hlen + payload.length);
        const f = EthernetFrame.checked(frame)!;
        expect(f).toBeDefined();
        expect(f.tagged).toBe(r.vlan !== undefined);
        expect(f.headerLength).toBe(hlen);
        expect(bytesEqual(f.payload, payload)).toBe(true);
        expect(parseEthernet(f)).toEqual(r);
      }),
      { numRuns: 1000 },
    );
  });

  it('the Repr owns copies of the addresses; the view reads through to the buffer', () => {
    const buf = new Uint8Array(20);
    emitEthernet({ dst: BROADCAST_MAC, src: new Uint8Array([2, 0, 0, 0, 0, 1]), ethertype: EtherType.ARP }, buf);
    const f = EthernetFrame.checked(buf)!;
    const r = parseEthernet(f);
    buf[0] = 0;
    buf[11] = 9;
    expect(r.dst).toEqual(BROADCAST_MAC);
    expect(r.src[5]).toBe(1);
    expect(f.dst[0]).toBe(0);
    expect(f.src[5]).toBe(9);
  });

  it('writeEthernetHeader writes the same bytes as emitEthernet for an untagged Repr', () => {
    fc.assert(
      fc.property(mac, mac, u16, (dst, src, ethertype) => {
        const a = new Uint8Array(14);
        const b = new Uint8Array(16);
        emitEthernet({ dst, src, ethertype }, a);
        writeEthernetHeader(b, 2, dst, src, ethertype);
        expect(bytesEqual(a, b.subarray(2))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('802.1Q: the VID is the low 12 bits, PCP the top 3; the DEI bit belongs to neither', () => {
    const buf = new Uint8Array(18);
    write16(buf, 12, EtherType.VLAN);
    write16(buf, 14, (5 << 13) | 0x1000 | 0xabc); // PCP 5, DEI 1, VID 0xabc
    write16(buf, 16, EtherType.IPv4);
    const r = parseEthernet(EthernetFrame.checked(buf)!);
    expect(r).toMatchObject({ vlan: 0xabc, pcp: 5, ethertype: EtherType.IPv4 });
    // emit masks out-of-range values rather than spilling into neighbouring bits
    const out = new Uint8Array(18);
    emitEthernet({ dst: BROADCAST_MAC, src: BROADCAST_MAC, ethertype: 0x0800, vlan: 0x1fff, pcp: 9 }, out);
    expect(read16(out, 14)).toBe(((9 & 7) << 13) | 0x0fff);
  });

  it('checked rejects buffers too short for the header (13 bytes; a tag with fewer than 18 bytes)', () => {
    for (let len = 0; len < 14; len++) expect(EthernetFrame.checked(new Uint8Array(len))).toBeUndefined();
    expect(EthernetFrame.checked(new Uint8Array(14))?.payload.length).toBe(0);
    const tagged = new Uint8Array(18);
    write16(tagged, 12, EtherType.VLAN);
    for (let len = 14; len < 18; len++) expect(EthernetFrame.checked(tagged.subarray(0, len))).toBeUndefined();
    expect(EthernetFrame.checked(tagged)?.tagged).toBe(true);
  });

  it('MAC helpers: broadcast, group bit, equality, text round trip', () => {
    expect(isBroadcastMac(BROADCAST_MAC)).toBe(true);
    expect(isBroadcastMac(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]))).toBe(false);
    expect(isMulticastMac(new Uint8Array([0x01, 0x00, 0x5e, 0, 0, 1]))).toBe(true);
    expect(isMulticastMac(new Uint8Array([0x02, 0, 0, 0, 0, 1]))).toBe(false);
    expect(parseMac('aa-bb-cc-dd-ee-0F')).toEqual(new Uint8Array([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f]));
    for (const bad of ['', 'aa:bb:cc:dd:ee', 'aa:bb:cc:dd:ee:ff:00', 'aa:bb:cc:dd:ee:fg', 'aabb.ccdd.eeff', ' aa:bb:cc:dd:ee:ff']) {
      expect(parseMac(bad), bad).toBeUndefined();
    }
    fc.assert(
      fc.property(mac, mac, (a, b) => {
        const text = formatMac(a);
        expect(text).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
        expect(parseMac(text)).toEqual(a);
        expect(macEquals(a, b)).toBe(bytesEqual(a, b));
        expect(macEquals(a, a.slice())).toBe(true);
        expect(isBroadcastMac(a)).toBe(a.every((x) => x === 0xff));
      }),
      { numRuns: 500 },
    );
  });
});

describe('ARP', () => {
  it('parse(emit(r)) equals r; emit writes exactly 28 bytes with htype 1, ptype 0x0800, hlen 6, plen 4', () => {
    fc.assert(
      fc.property(arpRepr, fc.integer({ min: 0, max: 9 }), (r, off) => {
        const buf = guarded(arpBufferLen(), off, 4);
        expect(emitArp(r, buf, off)).toBe(ARP_PACKET_LEN);
        expectGuardsIntact(buf, off, off + ARP_PACKET_LEN);
        const pkt = buf.subarray(off, off + ARP_PACKET_LEN);
        expect([read16(pkt, 0), read16(pkt, 2), pkt[4], pkt[5]]).toEqual([1, 0x0800, 6, 4]);
        expect(ArpPacket.check(pkt)).toBe('ok');
        const back = parseArp(ArpPacket.checked(pkt)!);
        expect(back).toEqual(r);
        // the Repr keeps copies: later changes to the buffer do not reach it
        pkt.fill(0);
        expect(back).toEqual(r);
      }),
      { numRuns: 1000 },
    );
  });

  it('check: truncated below 8 bytes and below 28 with a good header; unsupported for other types and sizes', () => {
    const good = new Uint8Array(28);
    emitArp({ operation: 1, senderHw: BROADCAST_MAC, senderIp: 1, targetHw: BROADCAST_MAC, targetIp: 2 }, good);
    for (let len = 0; len < 8; len++) expect(ArpPacket.check(good.subarray(0, len))).toBe('truncated');
    for (let len = 8; len < 28; len++) expect(ArpPacket.check(good.subarray(0, len))).toBe('truncated');
    expect(ArpPacket.check(good)).toBe('ok');
    // Ethernet pads ARP to 46 bytes: the padding is accepted and ignored
    const padded = new Uint8Array(46).fill(0xee);
    padded.set(good);
    expect(parseArp(ArpPacket.checked(padded)!)).toEqual(parseArp(ArpPacket.checked(good)!));
    const variants: Array<[number, number]> = [[0, 1], [1, 6], [1, 0], [2, 0x86], [3, 0x01], [4, 0], [4, 5], [4, 8], [5, 0], [5, 3], [5, 16]];
    for (const [offset, value] of variants) {
      const b = good.slice();
      b[offset] = value;
      expect(ArpPacket.check(b), `byte ${offset} = ${value}`).toBe('unsupported');
      expect(ArpPacket.checked(b)).toBeUndefined();
    }
  });
});

describe('IPv4 header', () => {
  it('parse(emit(r)) equals r; the emitted checksum verifies; emit writes only 20 bytes', () => {
    fc.assert(
      fc.property(ipv4Repr, fc.integer({ min: 0, max: 7 }), (r, off) => {
        const len = ipv4BufferLen(r);
        expect(len).toBe(IPV4_HEADER_LEN + r.payloadLen);
        const buf = guarded(len, off, 2);
        expect(emitIpv4Header(r, buf, off)).toBe(IPV4_HEADER_LEN);
        // the payload region (still guard-filled) was not written
        expectGuardsIntact(buf, off, off + IPV4_HEADER_LEN);
        const view = buf.subarray(off, off + len);
        expect(Ipv4Packet.check(view)).toBe('ok');
        const p = Ipv4Packet.checked(view)!;
        expect(p.verifyChecksum()).toBe(true);
        expect(onesSum(view, 0, IPV4_HEADER_LEN)).toBe(0xffff);
        expect(p.headerLen).toBe(20);
        expect(p.options.length).toBe(0);
        expect(p.totalLen).toBe(len);
        expect(p.payload.length).toBe(r.payloadLen);
        expect(p.reservedFlag).toBe(false);
        expect(p.isFragment).toBe(r.moreFragments || r.fragmentOffset !== 0);
        expect(parseIpv4Header(p)).toEqual(r);
      }),
      { numRuns: 1000 },
    );
  });

  it('computeChecksum=false leaves the field zero; writeIpv4Header matches emitIpv4Header', () => {
    fc.assert(
      fc.property(ipv4Repr, (r) => {
        const a = new Uint8Array(20);
        emitIpv4Header(r, a, 0, false);
        expect(read16(a, 10)).toBe(0);
        const b = new Uint8Array(20);
        emitIpv4Header(r, b);
        const c = new Uint8Array(20);
        const flags = (r.dontFragment ? IPV4_FLAG_DF : 0) | (r.moreFragments ? IPV4_FLAG_MF : 0) | (r.fragmentOffset / 8);
        writeIpv4Header(c, 0, r.src, r.dst, r.protocol, r.payloadLen, r.ttl, r.ident, flags, r.tos, true);
        expect(bytesEqual(b, c)).toBe(true);
        // The checksum computed from the values equals RFC 1071's sum over the bytes written (the generic code).
        expect(read16(c, 10)).toBe(checksum(a, 0, 20));
        expect(onesSum(c, 0, 20)).toBe(0xffff);
        a[10] = b[10]!;
        a[11] = b[11]!;
        expect(bytesEqual(a, b)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  // A valid 20-byte header of a 28-byte datagram, then crafted variants for each `check` reason (RFC 791 3.1).
  function header(totalLen = 28, bufLen = totalLen): Uint8Array {
    const b = new Uint8Array(bufLen);
    emitIpv4Header(
      { src: 0x0a000001, dst: 0x0a000002, protocol: IpProtocol.UDP, ttl: 64, tos: 0, ident: 1, dontFragment: true, moreFragments: false, fragmentOffset: 0, payloadLen: totalLen - 20 },
      b,
    );
    return b;
  }

  it('check: truncated (short buffer, IHL past the buffer, total length past the buffer)', () => {
    const b = header();
    for (let len = 0; len < 20; len++) expect(Ipv4Packet.check(b.subarray(0, len)), `len ${len}`).toBe('truncated');
    for (let len = 20; len < 28; len++) expect(Ipv4Packet.check(b.subarray(0, len)), `len ${len}`).toBe('truncated');
    expect(Ipv4Packet.check(b)).toBe('ok');
    const opts = header(28);
    opts[0] = 0x48; // IHL 8 = 32 bytes > 28-byte buffer
    write16(opts, 2, 28);
    expect(Ipv4Packet.check(opts)).toBe('truncated');
    opts[0] = 0x4f; // IHL 15 = 60 bytes
    expect(Ipv4Packet.check(header(28, 59).map((x, i) => (i === 0 ? 0x4f : x)))).toBe('truncated');
    expect(Ipv4Packet.checked(b.subarray(0, 27))).toBeUndefined();
  });

  it('check: bad-version for every version but 4, even with a short IHL', () => {
    for (let v = 0; v < 16; v++) {
      if (v === 4) continue;
      const b = header();
      b[0] = (v << 4) | 5;
      expect(Ipv4Packet.check(b), `version ${v}`).toBe('bad-version');
      b[0] = (v << 4) | 2;
      expect(Ipv4Packet.check(b), `version ${v}, IHL 2`).toBe('bad-version');
      expect(Ipv4Packet.checked(b)).toBeUndefined();
    }
  });

  it('check: bad-ihl for IHL 0..4', () => {
    for (let ihl = 0; ihl < 5; ihl++) {
      const b = header();
      b[0] = 0x40 | ihl;
      expect(Ipv4Packet.check(b), `IHL ${ihl}`).toBe('bad-ihl');
    }
  });

  it('check: bad-length when total length is below the header length (including with options)', () => {
    for (const total of [0, 1, 19]) {
      const b = header();
      write16(b, 2, total);
      expect(Ipv4Packet.check(b), `total ${total}`).toBe('bad-length');
    }
    const withOpts = header(40);
    withOpts[0] = 0x46; // 24-byte header
    write16(withOpts, 2, 23);
    expect(Ipv4Packet.check(withOpts)).toBe('bad-length');
    write16(withOpts, 2, 24);
    expect(Ipv4Packet.check(withOpts)).toBe('ok');
    expect(Ipv4Packet.checked(withOpts)!.payload.length).toBe(0);
  });

  it('options inside IHL are skipped: payload starts after them; the Repr counts the payload only', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), smallBytes(40), (optWords, payload) => {
        const hlen = 20 + optWords * 4;
        const b = new Uint8Array(hlen + payload.length);
        emitIpv4Header(
          { src: 1, dst: 2, protocol: 17, ttl: 1, tos: 0, ident: 0, dontFragment: false, moreFragments: false, fragmentOffset: 0, payloadLen: 0 },
          b,
          0,
          false,
        );
        b[0] = 0x40 | (hlen / 4);
        write16(b, 2, hlen + payload.length);
        for (let i = 20; i < hlen; i++) b[i] = 1; // NOP options
        b.set(payload, hlen);
        const p = Ipv4Packet.checked(b)!;
        expect(p.headerLen).toBe(hlen);
        expect(p.options.length).toBe(hlen - 20);
        expect(bytesEqual(p.payload, payload)).toBe(true);
        expect(parseIpv4Header(p).payloadLen).toBe(payload.length);
        // the checksum covers the options (RFC 791 3.1: "the header")
        expect(p.verifyChecksum()).toBe(false);
        write16(b, 10, 0);
        write16(b, 10, ~onesSum(b, 0, hlen) & 0xffff);
        expect(Ipv4Packet.checked(b)!.verifyChecksum()).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('Ethernet padding beyond the IPv4 total length is excluded from the payload (and from UDP/ICMP checksums)', () => {
    fc.assert(
      fc.property(smallBytes(17), fc.integer({ min: 1, max: 255 }), u16, u16, (data, pad, sp, dp) => {
        // a small UDP datagram in a minimum-size (60-byte) Ethernet frame, padded with non-zero bytes
        const ipLen = 20 + 8 + data.length;
        const frame = new Uint8Array(Math.max(60, 14 + ipLen)).fill(pad);
        emitEthernet({ dst: BROADCAST_MAC, src: BROADCAST_MAC, ethertype: EtherType.IPv4 }, frame);
        emitIpv4Header(
          { src: 0x0a000001, dst: 0x0a000002, protocol: 17, ttl: 64, tos: 0, ident: 7, dontFragment: false, moreFragments: false, fragmentOffset: 0, payloadLen: 8 + data.length },
          frame,
          14,
        );
        emitUdp({ srcPort: sp, dstPort: dp, payload: data }, frame, 34, 0x0a000001, 0x0a000002);
        const eth = EthernetFrame.checked(frame)!;
        expect(eth.payload.length).toBe(frame.length - 14);
        const ip = Ipv4Packet.checked(eth.payload)!;
        expect(ip.buffer.length).toBe(ipLen);
        expect(ip.payload.length).toBe(8 + data.length);
        const udp = UdpPacket.checked(ip.payload)!;
        expect(bytesEqual(udp.payload, data)).toBe(true);
        expect(udp.verifyChecksum(ip.src, ip.dst)).toBe(true);
      }),
      { numRuns: 300 },
    );
    // ICMP: the checksum covers the message only, so the padding must not be handed to it
    const frame = new Uint8Array(60).fill(0xab);
    emitEthernet({ dst: BROADCAST_MAC, src: BROADCAST_MAC, ethertype: EtherType.IPv4 }, frame);
    emitIpv4Header(
      { src: 1, dst: 2, protocol: 1, ttl: 64, tos: 0, ident: 7, dontFragment: false, moreFragments: false, fragmentOffset: 0, payloadLen: 12 },
      frame,
      14,
    );
    emitIcmp({ kind: 'echo-request', ident: 1, seq: 2, data: new Uint8Array([1, 2, 3, 4]) }, frame, 34);
    const ip = Ipv4Packet.checked(EthernetFrame.checked(frame)!.payload)!;
    expect(ip.payload.length).toBe(12);
    const icmp = IcmpPacket.checked(ip.payload)!;
    expect(icmp.verifyChecksum()).toBe(true);
    expect(parseIcmp(icmp)).toEqual({ kind: 'echo-request', ident: 1, seq: 2, data: new Uint8Array([1, 2, 3, 4]) });
    // whereas the untrimmed Ethernet payload would fail
    expect(IcmpPacket.checked(frame.subarray(34))!.verifyChecksum()).toBe(false);
  });

  it('fragment offset is in bytes, 8-byte units on the wire; flags DF/MF and the reserved bit', () => {
    const b = header();
    write16(b, 6, 0x2000 | 185); // MF, offset 185*8 = 1480
    const p = Ipv4Packet.checked(b)!;
    expect([p.moreFragments, p.dontFragment, p.fragmentOffset, p.isFragment, p.reservedFlag]).toEqual([true, false, 1480, true, false]);
    write16(b, 6, 0x8000 | 0x4000);
    const q = Ipv4Packet.checked(b)!;
    expect([q.moreFragments, q.dontFragment, q.fragmentOffset, q.isFragment, q.reservedFlag]).toEqual([false, true, 0, false, true]);
    write16(b, 6, 0x1fff);
    expect(Ipv4Packet.checked(b)!.fragmentOffset).toBe(0x1fff * 8);
  });
});

describe('ICMP', () => {
  const kinds: Array<[string, fc.Arbitrary<IcmpRepr>]> = [
    ['echo request/reply', icmpRepr.echo],
    ['destination unreachable (RFC 1191 next-hop MTU for code 4)', icmpRepr.destUnreachable],
    ['time exceeded', icmpRepr.timeExceeded],
    ['other types', icmpRepr.other],
  ];
  for (const [name, arb] of kinds) {
    it(`${name}: parse(emit(r)) equals r and the checksum verifies`, () => {
      fc.assert(
        fc.property(arb, fc.integer({ min: 0, max: 7 }), (r, off) => {
          const len = icmpBufferLen(r);
          const buf = guarded(len, off, 3);
          expect(emitIcmp(r, buf, off)).toBe(len);
          expectGuardsIntact(buf, off, off + len);
          const msg = buf.subarray(off, off + len);
          const p = IcmpPacket.checked(msg)!;
          expect(p.verifyChecksum()).toBe(true);
          expect(p.body.length).toBe(len - ICMP_HEADER_LEN);
          expect(parseIcmp(p)).toEqual(r);
        }),
        { numRuns: 500 },
      );
    });
  }

  it('wire layout: type, code, ident/seq, next-hop MTU in the low 16 bits of the second word', () => {
    const b = new Uint8Array(8 + 28);
    emitIcmp({ kind: 'dest-unreachable', code: 4, nextHopMtu: 1280, quoted: new Uint8Array(28) }, b);
    expect([b[0], b[1], read16(b, 4), read16(b, 6)]).toEqual([3, 4, 0, 1280]);
    emitIcmp({ kind: 'dest-unreachable', code: 3, nextHopMtu: 1280, quoted: new Uint8Array(28) }, b);
    expect([b[0], b[1], read16(b, 4), read16(b, 6)]).toEqual([3, 3, 0, 0]); // unused for port unreachable
    const e = new Uint8Array(8);
    emitIcmp({ kind: 'echo-reply', ident: 0xbeef, seq: 0x0102, data: new Uint8Array(0) }, e);
    expect([e[0], e[1], read16(e, 4), read16(e, 6)]).toEqual([0, 0, 0xbeef, 0x0102]);
    emitIcmp({ kind: 'time-exceeded', code: 1, quoted: new Uint8Array(0) }, e);
    expect([e[0], e[1], read16(e, 4), read16(e, 6)]).toEqual([11, 1, 0, 0]);
  });

  it('echo with a non-zero code is not an echo (RFC 792: code 0) and parses as other', () => {
    const b = new Uint8Array(12);
    emitIcmp({ kind: 'other', type: 8, code: 1, rest: 0x00010002, data: new Uint8Array(4) }, b);
    expect(parseIcmp(IcmpPacket.checked(b)!)).toMatchObject({ kind: 'other', type: 8, code: 1, rest: 0x00010002 });
  });

  it('computeChecksum=false leaves the field zero; checked rejects fewer than 8 bytes', () => {
    fc.assert(
      fc.property(icmpRepr.any, (r) => {
        const buf = new Uint8Array(icmpBufferLen(r));
        emitIcmp(r, buf, 0, false);
        expect(read16(buf, 2)).toBe(0);
      }),
      { numRuns: 200 },
    );
    for (let len = 0; len < 8; len++) expect(IcmpPacket.checked(new Uint8Array(len))).toBeUndefined();
    expect(IcmpPacket.checked(new Uint8Array(8))).toBeDefined();
  });

  it('any single-byte change of an emitted message fails verification', () => {
    fc.assert(
      fc.property(icmpRepr.any, fc.nat(), fc.integer({ min: 1, max: 255 }), (r, at, delta) => {
        const buf = new Uint8Array(icmpBufferLen(r));
        emitIcmp(r, buf);
        const i = at % buf.length;
        buf[i] = (buf[i]! + delta) & 0xff;
        expect(IcmpPacket.checked(buf)!.verifyChecksum()).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('UDP', () => {
  it('parse(emit(r)) equals r; the checksum verifies against the pseudo-header and is never sent as 0', () => {
    fc.assert(
      fc.property(udpRepr, u32, u32, fc.integer({ min: 0, max: 7 }), (r, src, dst, off) => {
        const len = udpBufferLen(r);
        const buf = guarded(len, off, 3);
        expect(emitUdp(r, buf, off, src, dst)).toBe(len);
        expectGuardsIntact(buf, off, off + len);
        const dgram = buf.subarray(off, off + len);
        expect(UdpPacket.check(dgram)).toBe('ok');
        const p = UdpPacket.checked(dgram)!;
        expect(p.length).toBe(len);
        expect(p.checksumField).not.toBe(0);
        expect(p.verifyChecksum(src, dst)).toBe(true);
        expect(p.verifyChecksum(src ^ 1, dst)).toBe(false);
        expect(p.verifyChecksum(src, (dst ^ 0x10000) >>> 0)).toBe(false);
        expect(p.verifyChecksum(dst, src)).toBe(true); // the pseudo-header sum is symmetric in src and dst
        expect(parseUdp(p)).toEqual(r);
      }),
      { numRuns: 1000 },
    );
  });

  it('a computed checksum of 0 is sent as 0xffff (RFC 768), which verifies', () => {
    fc.assert(
      fc.property(u16, u16, u32, u32, smallBytes(30), (sp, dp, src, dst, data) => {
        // reserve the last two payload bytes as a word chosen to make the checksum come out 0
        const payload = new Uint8Array(data.length + (data.length % 2) + 2);
        payload.set(data);
        const buf = new Uint8Array(8 + payload.length);
        emitUdp({ srcPort: sp, dstPort: dp, payload }, buf, 0, src, dst);
        const ck = read16(buf, 6);
        // adding the current checksum as data makes the data sum 0xffff, so the checksum becomes 0
        write16(payload, payload.length - 2, ck === 0xffff ? 0 : ck);
        emitUdp({ srcPort: sp, dstPort: dp, payload }, buf, 0, src, dst);
        expect(read16(buf, 6)).toBe(0xffff);
        const p = UdpPacket.checked(buf)!;
        expect(p.verifyChecksum(src, dst)).toBe(true);
        expect(p.verifyChecksum(src ^ 0x100, dst)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('a zero checksum means none: computeChecksum=false emits 0, which always verifies', () => {
    fc.assert(
      fc.property(udpRepr, u32, u32, (r, src, dst) => {
        const buf = new Uint8Array(udpBufferLen(r));
        emitUdp(r, buf, 0, src, dst, false);
        const p = UdpPacket.checked(buf)!;
        expect(p.checksumField).toBe(0);
        expect(p.verifyChecksum(src, dst)).toBe(true);
        expect(p.verifyChecksum(~src >>> 0, dst)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('writeUdpHeader over a payload already in place equals emitUdp', () => {
    fc.assert(
      fc.property(udpRepr, u32, u32, (r, src, dst) => {
        const a = new Uint8Array(udpBufferLen(r));
        emitUdp(r, a, 0, src, dst);
        const b = new Uint8Array(udpBufferLen(r) + 5);
        b.set(r.payload, 5 + UDP_HEADER_LEN);
        writeUdpHeader(b, 5, r.srcPort, r.dstPort, a.length, src, dst, true);
        expect(bytesEqual(a, b.subarray(5))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('check: truncated below 8 bytes or when length exceeds the buffer; bad-length below 8; trailing bytes ignored', () => {
    const b = new Uint8Array(20);
    emitUdp({ srcPort: 1, dstPort: 2, payload: new Uint8Array(12).fill(7) }, b, 0, 1, 2);
    for (let len = 0; len < 8; len++) expect(UdpPacket.check(b.subarray(0, len))).toBe('truncated');
    for (let len = 8; len < 20; len++) expect(UdpPacket.check(b.subarray(0, len))).toBe('truncated');
    for (let l = 0; l < 8; l++) {
      const c = b.slice();
      write16(c, 4, l);
      expect(UdpPacket.check(c), `length ${l}`).toBe('bad-length');
      expect(UdpPacket.checked(c)).toBeUndefined();
    }
    const longer = new Uint8Array(30).fill(0xee);
    longer.set(b);
    const p = UdpPacket.checked(longer)!;
    expect(p.buffer.length).toBe(20);
    expect(p.payload.length).toBe(12);
    expect(p.verifyChecksum(1, 2)).toBe(true);
    // a shorter length field excludes bytes from the datagram (they become ignored trailing bytes)
    const shorter = b.slice();
    write16(shorter, 4, 8);
    expect(UdpPacket.checked(shorter)!.payload.length).toBe(0);
  });
});
