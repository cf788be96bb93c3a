/**
 * Bad wire input is never thrown (STYLE rule 9): any byte string fed to any `check`/`checked`/parse either parses
 * or is rejected. Random bytes, bytes biased to get past the first checks, and mutations (truncation at every
 * length, single-byte changes, random multi-byte edits) of valid emitted frames. A checked view must also stay
 * inside the lengths it declares: bytes after them never change what is parsed.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { read16, write16 } from '../../protocols/util/bytes.js';
import { EtherType, EthernetFrame, emitEthernet, ethernetHeaderLen, parseEthernet } from '../../protocols/ethernet/wire.js';
import { ArpPacket, emitArp, parseArp } from '../../protocols/arp/wire.js';
import { IPV4_HEADER_LEN, IpProtocol, Ipv4Packet, emitIpv4Header, parseIpv4Header } from '../../protocols/ipv4/wire.js';
import { IcmpPacket, emitIcmp, icmpBufferLen, parseIcmp } from '../../protocols/icmp/wire.js';
import { UdpPacket, emitUdp, parseUdp, udpBufferLen } from '../../protocols/udp/wire.js';
import { arpRepr, decodeFrame, ethernetRepr, icmpRepr, ipv4Repr, u16, u32, udpRepr } from './helpers.js';

const RUNS = 2000;

/** Bytes that often get past a parser's first checks: a chosen first byte and a 16-bit length field near the end. */
function biased(firstByte: fc.Arbitrary<number>, lenOffset: number): fc.Arbitrary<Uint8Array> {
  return fc
    .record({
      bytes: fc.uint8Array({ minLength: 0, maxLength: 120, size: 'max' }),
      first: firstByte,
      lenDelta: fc.integer({ min: -30, max: 6 }),
      setLen: fc.boolean(),
    })
    .map(({ bytes, first, lenDelta, setLen }) => {
      const b = bytes.slice();
      if (b.length > 0) b[0] = first;
      if (setLen && b.length >= lenOffset + 2) write16(b, lenOffset, Math.max(0, b.length + lenDelta));
      return b;
    });
}

const anyBytes = fc.uint8Array({ minLength: 0, maxLength: 120, size: 'max' });

function isU(n: unknown, bits: number): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 2 ** bits;
}

/** Both a view's bytes and its start lie inside `outer` (it is a subarray of it, not a copy). */
function expectWithin(view: Uint8Array, outer: Uint8Array): void {
  expect(view.buffer).toBe(outer.buffer);
  expect(view.byteOffset).toBeGreaterThanOrEqual(outer.byteOffset);
  expect(view.byteOffset + view.length).toBeLessThanOrEqual(outer.byteOffset + outer.length);
}

function withTrailer(b: Uint8Array, trailer: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length + trailer.length);
  out.set(b);
  out.set(trailer, b.length);
  return out;
}

describe('never throws, and accepted input is self-consistent', () => {
  it('Ethernet', () => {
    fc.assert(
      fc.property(fc.oneof(anyBytes, biased(fc.integer({ min: 0, max: 255 }), 12)), (b) => {
        const f = EthernetFrame.checked(b);
        if (!f) {
          expect(b.length < 14 || (read16(b, 12) === EtherType.VLAN && b.length < 18)).toBe(true);
          return;
        }
        const r = parseEthernet(f);
        expect(isU(r.ethertype, 16)).toBe(true);
        expect(f.headerLength + f.payload.length).toBe(b.length);
        expectWithin(f.payload, b);
        if (f.tagged) expect(isU(r.vlan, 12) && isU(r.pcp, 3)).toBe(true);
        else expect(r.vlan === undefined && r.pcp === undefined).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('ARP', () => {
    fc.assert(
      fc.property(fc.oneof(anyBytes, biased(fc.constant(0), 4), fc.uint8Array({ minLength: 28, maxLength: 60, size: 'max' }).map((b) => {
        const c = b.slice();
        c.set([0, 1, 8, 0, 6, 4]);
        return c;
      })), (b) => {
        const verdict = ArpPacket.check(b);
        const p = ArpPacket.checked(b);
        expect(p !== undefined).toBe(verdict === 'ok');
        if (!p) {
          expect(['truncated', 'unsupported']).toContain(verdict);
          return;
        }
        const r = parseArp(p);
        expect(b.length).toBeGreaterThanOrEqual(28);
        expect(isU(r.operation, 16) && isU(r.senderIp, 32) && isU(r.targetIp, 32)).toBe(true);
        expect(r.senderHw.length).toBe(6);
        expect(r.targetHw.length).toBe(6);
      }),
      { numRuns: RUNS },
    );
  });

  it('IPv4', () => {
    fc.assert(
      fc.property(fc.oneof(anyBytes, biased(fc.integer({ min: 0x40, max: 0x4f }), 2), biased(fc.integer({ min: 0, max: 255 }), 2)), (b) => {
        const verdict = Ipv4Packet.check(b);
        const p = Ipv4Packet.checked(b);
        expect(p !== undefined).toBe(verdict === 'ok');
        expect(['ok', 'truncated', 'bad-version', 'bad-ihl', 'bad-length']).toContain(verdict);
        if (!p) return;
        const r = parseIpv4Header(p);
        expect(p.headerLen).toBeGreaterThanOrEqual(20);
        expect(p.totalLen).toBeGreaterThanOrEqual(p.headerLen);
        expect(p.buffer.length).toBe(p.totalLen);
        expect(p.totalLen).toBeLessThanOrEqual(b.length);
        expect(p.options.length).toBe(p.headerLen - 20);
        expect(r.payloadLen).toBe(p.payload.length);
        expectWithin(p.payload, b);
        expect(typeof p.verifyChecksum()).toBe('boolean');
        expect(r.fragmentOffset % 8).toBe(0);
        for (const n of [r.src, r.dst]) expect(isU(n, 32)).toBe(true);
        for (const n of [r.ttl, r.tos, r.protocol]) expect(isU(n, 8)).toBe(true);
        expect(isU(r.ident, 16)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('ICMP', () => {
    fc.assert(
      fc.property(fc.oneof(anyBytes, biased(fc.constantFrom(0, 3, 8, 11, 5, 255), 2)), (b) => {
        const p = IcmpPacket.checked(b);
        expect(p !== undefined).toBe(b.length >= 8);
        if (!p) return;
        const r = parseIcmp(p);
        expect(typeof p.verifyChecksum()).toBe('boolean');
        const body = 'quoted' in r ? r.quoted : r.data;
        expect(body.length).toBe(b.length - 8);
        expectWithin(body, b);
        expect(icmpBufferLen(r)).toBe(b.length);
        // re-emitting a parsed message reproduces it except where the kind defines unused bits
        const out = new Uint8Array(icmpBufferLen(r));
        emitIcmp(r, out, 0, false);
        expect(out.subarray(8)).toEqual(b.subarray(8));
        expect([out[0], out[1]]).toEqual([b[0], b[1]]);
      }),
      { numRuns: RUNS },
    );
  });

  it('UDP', () => {
    fc.assert(
      fc.property(fc.oneof(anyBytes, biased(fc.integer({ min: 0, max: 255 }), 4)), u32, u32, (b, src, dst) => {
        const verdict = UdpPacket.check(b);
        const p = UdpPacket.checked(b);
        expect(p !== undefined).toBe(verdict === 'ok');
        expect(['ok', 'truncated', 'bad-length']).toContain(verdict);
        if (!p) return;
        const r = parseUdp(p);
        expect(p.length).toBeGreaterThanOrEqual(8);
        expect(p.buffer.length).toBe(p.length);
        expect(r.payload.length).toBe(p.length - 8);
        expectWithin(r.payload, b);
        expect(typeof p.verifyChecksum(src, dst)).toBe('boolean');
      }),
      { numRuns: RUNS },
    );
  });

  it('the layered decoder on random frames (Ethernet, tagged or not, carrying ARP/IPv4/ICMP/UDP-shaped bytes)', () => {
    const frame = fc
      .record({
        tagged: fc.boolean(),
        type: fc.oneof({ arbitrary: fc.constant(EtherType.IPv4), weight: 3 }, fc.constantFrom(EtherType.ARP, EtherType.VLAN, 0x86dd, 0x0001)),
        ipFirst: fc.oneof({ arbitrary: fc.constant(0x45), weight: 4 }, fc.integer({ min: 0x40, max: 0x4f }), fc.integer({ min: 0, max: 255 })),
        proto: fc.constantFrom(1, 17, 6, 0),
        consistentLength: fc.constantFrom(true, true, true, false),
        fragWord: fc.oneof({ arbitrary: fc.constantFrom(0, 0x4000), weight: 3 }, u16),
        udpLenDelta: fc.oneof(fc.constant(0), fc.integer({ min: -12, max: 4 })),
        rest: fc.uint8Array({ minLength: 0, maxLength: 100, size: 'max' }),
      })
      .map(({ tagged, type, ipFirst, proto, consistentLength, fragWord, udpLenDelta, rest }) => {
        const h = tagged ? 18 : 14;
        const b = new Uint8Array(h + rest.length);
        b.set(rest, h);
        if (tagged) write16(b, 12, EtherType.VLAN);
        write16(b, h - 2, type);
        if (rest.length > 0) b[h] = ipFirst;
        if (rest.length > 3 && consistentLength) write16(b, h + 2, rest.length);
        if (rest.length > 7) write16(b, h + 6, fragWord);
        if (rest.length > 9) b[h + 9] = proto;
        // a UDP length near what is there (after a 20-byte header)
        if (rest.length > 25 && proto === 17) write16(b, h + 24, Math.max(0, rest.length - 20 + udpLenDelta));
        return b;
      });
    let reachedTransport = 0;
    fc.assert(
      fc.property(fc.oneof({ arbitrary: frame, weight: 3 }, anyBytes), (b) => {
        const d = decodeFrame(b);
        if (d.icmp || d.udp) reachedTransport++;
      }),
      { numRuns: RUNS },
    );
    // the generator is only useful if it reaches the inner layers
    expect(reachedTransport).toBeGreaterThan(RUNS / 40);
  });
});

describe('checked views stay inside their declared lengths', () => {
  it('bytes after ARP, the IPv4 total length, or the UDP length never change the parse', () => {
    fc.assert(
      fc.property(arpRepr, ipv4Repr, udpRepr, u32, u32, fc.uint8Array({ minLength: 1, maxLength: 40, size: 'max' }), (arp, ip, udp, src, dst, trailer) => {
        const a = new Uint8Array(28);
        emitArp(arp, a);
        expect(parseArp(ArpPacket.checked(withTrailer(a, trailer))!)).toEqual(parseArp(ArpPacket.checked(a)!));

        const small = { ...ip, payloadLen: ip.payloadLen % 64 };
        const h = new Uint8Array(20 + small.payloadLen).fill(0x11);
        emitIpv4Header(small, h);
        const longer = Ipv4Packet.checked(withTrailer(h, trailer))!;
        expect(parseIpv4Header(longer)).toEqual(parseIpv4Header(Ipv4Packet.checked(h)!));
        expect(longer.payload).toEqual(Ipv4Packet.checked(h)!.payload);
        expect(longer.verifyChecksum()).toBe(true);

        const u = new Uint8Array(udpBufferLen(udp));
        emitUdp(udp, u, 0, src, dst);
        const ul = UdpPacket.checked(withTrailer(u, trailer))!;
        expect(parseUdp(ul)).toEqual(udp);
        expect(ul.verifyChecksum(src, dst)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

/** A valid frame of each kind our codecs emit, built from generated Reprs. */
const validFrame = fc.oneof(
  fc.tuple(ethernetRepr, arpRepr).map(([eth, arp]) => {
    const e = { ...eth, ethertype: EtherType.ARP };
    const h = ethernetHeaderLen(e);
    const b = new Uint8Array(h + 28);
    emitEthernet(e, b);
    emitArp(arp, b, h);
    return b;
  }),
  fc.tuple(ethernetRepr, ipv4Repr, icmpRepr.any).map(([eth, ip, icmp]) => {
    const e = { ...eth, ethertype: EtherType.IPv4 };
    const h = ethernetHeaderLen(e);
    const len = icmpBufferLen(icmp);
    const b = new Uint8Array(h + 20 + len);
    emitEthernet(e, b);
    emitIpv4Header({ ...ip, protocol: IpProtocol.ICMP, payloadLen: len, moreFragments: false, fragmentOffset: 0 }, b, h);
    emitIcmp(icmp, b, h + 20);
    return b;
  }),
  fc.tuple(ethernetRepr, ipv4Repr, udpRepr, fc.boolean()).map(([eth, ip, udp, ck]) => {
    const e = { ...eth, ethertype: EtherType.IPv4 };
    const h = ethernetHeaderLen(e);
    const len = udpBufferLen(udp);
    const b = new Uint8Array(h + 20 + len);
    emitEthernet(e, b);
    emitIpv4Header({ ...ip, protocol: IpProtocol.UDP, payloadLen: len, moreFragments: false, fragmentOffset: 0 }, b, h);
    emitUdp(udp, b, h + 20, ip.src, ip.dst, ck);
    return b;
  }),
);

describe('mutations of valid frames', () => {
  it('every valid emitted frame decodes fully with verified checksums', () => {
    fc.assert(
      fc.property(validFrame, (b) => {
        const d = decodeFrame(b);
        if (d.eth!.ethertype === EtherType.ARP) {
          expect(d.arp).toBeDefined();
          return;
        }
        expect(d.ipChecksumOk).toBe(true);
        if (d.icmp) expect(d.icmpChecksumOk).toBe(true);
        else expect(d.udpChecksumOk).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('truncation at every length never throws; IPv4 and UDP reject every cut into their declared length', () => {
    fc.assert(
      fc.property(validFrame, (b) => {
        const full = decodeFrame(b);
        for (let len = 0; len < b.length; len++) {
          const d = decodeFrame(b.subarray(0, len));
          const h = full.ethHeaderLen!;
          if (len < h) expect(d.eth).toBeUndefined();
          if (full.ip && len >= h) {
            // any cut inside the datagram is 'truncated' (never a parse of fewer bytes)
            expect(d.ip, `cut at ${len}`).toBeUndefined();
            expect(d.ipCheck).toBe('truncated');
          }
          if (full.arp && len >= h) expect(d.arp).toBeUndefined();
        }
      }),
      { numRuns: 150 },
    );
  });

  it('single-byte changes never throw; a change in the IPv4 header (not version/IHL) fails its checksum', () => {
    fc.assert(
      fc.property(validFrame, fc.nat(), fc.integer({ min: 1, max: 255 }), (b, at, delta) => {
        const full = decodeFrame(b);
        const m = b.slice();
        const i = at % m.length;
        m[i] = (m[i]! + delta) & 0xff;
        const d = decodeFrame(m);
        const h = full.ethHeaderLen!;
        if (full.ip && i > h && i < h + IPV4_HEADER_LEN && d.ip) expect(d.ipChecksumOk, `byte ${i}`).toBe(false);
        // a change inside the ICMP message is always detected (it has no length field of its own)
        if (full.icmp && i >= h + 20 && d.icmp) expect(d.icmpChecksumOk, `byte ${i}`).toBe(false);
        // UDP with a checksum: detected unless the change is to the length field (which also moves the
        // pseudo-header) or zeroes the checksum field (which means "no checksum")
        if (full.udp && full.udpChecksumField !== 0 && i >= h + 20 && d.udp && d.udpChecksumField !== 0 && i !== h + 24 && i !== h + 25) {
          expect(d.udpChecksumOk, `byte ${i}`).toBe(false);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('every single-byte value at every position of one frame of each kind never throws', () => {
    const samples = fc.sample(validFrame, { numRuns: 6, seed: 42 });
    let decoded = 0;
    for (const b of samples) {
      const limit = Math.min(b.length, 80);
      for (let i = 0; i < limit; i++) {
        const m = b.slice();
        for (let v = 0; v < 256; v++) {
          m[i] = v;
          if (decodeFrame(m).eth) decoded++;
        }
      }
    }
    expect(decoded).toBeGreaterThan(0);
  });

  it('random multi-byte edits (overwrite, insert, delete) never throw', () => {
    const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('set', 'insert', 'delete'), bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }) });
    fc.assert(
      fc.property(validFrame, fc.array(edit, { minLength: 1, maxLength: 5, size: 'max' }), (b, edits) => {
        let m = b.slice();
        for (const e of edits) {
          const i = m.length === 0 ? 0 : e.at % m.length;
          if (e.kind === 'set') for (let k = 0; k < e.bytes.length && i + k < m.length; k++) m[i + k] = e.bytes[k]!;
          else if (e.kind === 'insert') m = Uint8Array.from([...m.subarray(0, i), ...e.bytes, ...m.subarray(i)]);
          else m = Uint8Array.from([...m.subarray(0, i), ...m.subarray(i + e.bytes.length)]);
        }
        decodeFrame(m);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fragment and checksum odds', () => {
  it('IPv4 header checksum detects every single-bit error in the header', () => {
    fc.assert(
      fc.property(ipv4Repr, fc.integer({ min: 0, max: 159 }), (r, bit) => {
        const b = new Uint8Array(20);
        emitIpv4Header({ ...r, payloadLen: 0 }, b);
        b[bit >>> 3]! ^= 0x80 >>> (bit & 7);
        const p = Ipv4Packet.checked(b);
        if (p) expect(p.verifyChecksum()).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('UDP is not parsed as a whole datagram from a non-first fragment by the layered decoder', () => {
    fc.assert(
      fc.property(ipv4Repr, udpRepr, u16, (ip, udp, off) => {
        const len = udpBufferLen(udp);
        const b = new Uint8Array(14 + 20 + len);
        emitEthernet({ dst: new Uint8Array(6), src: new Uint8Array(6), ethertype: EtherType.IPv4 }, b);
        const frag = { ...ip, protocol: IpProtocol.UDP, payloadLen: len, moreFragments: true, fragmentOffset: (off % 0x1fff) * 8 };
        emitIpv4Header(frag, b, 14);
        emitUdp(udp, b, 34, ip.src, ip.dst);
        const d = decodeFrame(b);
        expect(d.ip).toEqual(frag);
        expect(d.udp).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});
