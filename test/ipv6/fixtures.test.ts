/**
 * Real IPv6 frames captured from the Linux kernel (test/fixtures/ipv6-frames.json, made by
 * scripts/capture-ipv6-fixtures.sh) through every IPv6 codec and core: addresses, header, extension headers,
 * fragments, ICMPv6, NDP. The expected values were read independently with tshark 4.0.17 (`-o ipv6.defragment:FALSE
 * -o udp.check_checksum:TRUE`, every checksum it could verify reported good), not from our codecs.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bytesEqual, fromHex, read16, toHex } from '../../protocols/util/bytes.js';
import { onesSum } from '../../protocols/util/checksum.js';
import { EthernetFrame, formatMac } from '../../protocols/ethernet/wire.js';
import { eui64InterfaceId, formatIpv6, linkLocalAddress, multicastMac, parseIpv6, solicitedNodeMulticast } from '../../protocols/ipv6/address.js';
import { IPV6_HEADER_LEN, Ipv6Packet, emitIpv6Header, ipv6PseudoHeaderSum, parseIpv6Header } from '../../protocols/ipv6/wire.js';
import { walkExtensionHeaders } from '../../protocols/ipv6/wire-ext.js';
import { Ipv6Reassembler } from '../../protocols/ipv6/reassembly.js';
import { fragmentIpv6 } from '../../protocols/ipv6/fragmenter.js';
import { PathMtuCache } from '../../protocols/ipv6/pmtu.js';
import { ICMPV6_MAX_QUOTE, Icmpv6Packet, emitIcmpv6, icmpv6BufferLen, parseIcmpv6, type Icmpv6Repr } from '../../protocols/icmpv6/wire.js';
import { emitNdp, linkLayerOption, ndpBufferLen, parseNdp, validateNdp, type NdpRepr } from '../../protocols/icmpv6/wire-ndp.js';
import { buildIcmpv6Error, mayAnswerWithError } from '../../protocols/icmpv6/errors.js';
import { DuplicateAddressDetection } from '../../protocols/icmpv6/dad.js';
import { RouterDiscovery } from '../../protocols/icmpv6/router-discovery.js';

interface Fixture {
  readonly name: string;
  readonly hex: string;
}
const FIXTURES: readonly Fixture[] = JSON.parse(readFileSync(new URL('../fixtures/ipv6-frames.json', import.meta.url), 'utf8'));
const frame = (name: string): Uint8Array => {
  const f = FIXTURES.find((x) => x.name === name);
  if (!f) throw new Error(`fixture ${name} missing from test/fixtures/ipv6-frames.json`);
  return fromHex(f.hex);
};
const A_MAC = '02:00:00:99:00:01';
const R_MAC = '02:00:00:99:00:fe';

/** The IPv6 packet of a fixture frame, after checking the Ethernet layer. */
function packet(name: string): Ipv6Packet {
  const e = EthernetFrame.checked(frame(name))!;
  expect(e.ethertype).toBe(0x86dd);
  const p = Ipv6Packet.checked(e.payload);
  expect(p, name).toBeDefined();
  return p!;
}

function icmp(p: Ipv6Packet): Icmpv6Packet {
  const w = walkExtensionHeaders(p);
  if (w.kind !== 'upper' || w.protocol !== 58) throw new Error(`not ICMPv6: ${JSON.stringify(w)}`);
  const m = Icmpv6Packet.checked(p.buffer.subarray(w.offset))!;
  expect(m.verifyChecksum(p.src, p.dst)).toBe(true);
  return m;
}

function ndp(name: string): { p: Ipv6Packet; m: Icmpv6Packet; r: NdpRepr } {
  const p = packet(name);
  const m = icmp(p);
  const r = parseNdp(m);
  if (r.kind === 'invalid') throw new Error(`${name}: ${r.reason}`);
  expect(validateNdp(r, { src: p.src, dst: p.dst, hopLimit: p.hopLimit, fragmented: false }), name).toBeUndefined();
  // Re-emitting gives the kernel's bytes back, checksum included.
  const out = new Uint8Array(ndpBufferLen(r));
  emitNdp(r, out, 0, p.src, p.dst);
  expect(toHex(out)).toBe(toHex(m.buffer));
  return { p, m, r };
}

describe('real IPv6 frames from Linux', () => {
  it('every frame: header fields as tshark read them, header re-emitted byte for byte', () => {
    const expected: Record<string, [string, string, number, number, number, number]> = {
      // src, dst, flow label, hop limit, payload length, next header
      'ipv6-dad-ns': ['::', 'ff02::1:ff00:1', 0, 255, 32, 58],
      'ipv6-mld-report': ['::', 'ff02::16', 0, 1, 116, 0],
      'ipv6-router-solicitation': ['fe80::ff:fe99:1', 'ff02::2', 0, 255, 16, 58],
      'ipv6-ns': ['fd00:99::1', 'ff02::1:ff00:fe', 0, 255, 32, 58],
      'ipv6-na': ['fd00:99::fe', 'fd00:99::1', 0, 255, 32, 58],
      'ipv6-echo-request': ['fd00:99::1', 'fd00:99::fe', 0x0f0220, 64, 64, 58],
      'ipv6-echo-reply': ['fd00:99::fe', 'fd00:99::1', 0x013ac4, 64, 64, 58],
      'ipv6-fragment-1-of-3': ['fd00:99::1', 'fd00:99::fe', 0x0f0220, 64, 1456, 44],
      'ipv6-fragment-3-of-3': ['fd00:99::1', 'fd00:99::fe', 0x0f0220, 64, 120, 44],
      'ipv6-time-exceeded': ['fd00:99::fe', 'fd00:99::1', 0x01a6ab, 64, 112, 58],
      'ipv6-packet-too-big': ['fd00:99::fe', 'fd00:99::1', 0x017606, 64, 1240, 58],
      'ipv6-dest-unreachable-port': ['fd00:99::fe', 'fd00:99::1', 0x06cb39, 64, 86, 58],
      'ipv6-udp': ['fd00:99::1', 'fd00:99::fe', 0x059422, 64, 27, 17],
      'ipv6-udp-dstopts': ['fd00:99::1', 'fd00:99::fe', 0x025b63, 64, 37, 60],
      'ipv6-param-problem-option': ['fd00:99::fe', 'fd00:99::1', 0x0e9267, 64, 85, 58],
      'ipv6-router-advertisement': ['fe80::ff:fe99:fe', 'ff02::1', 0x0e4940, 255, 64, 58],
    };
    for (const [name, [src, dst, flow, hop, plen, nh]] of Object.entries(expected)) {
      const p = packet(name);
      const r = parseIpv6Header(p);
      expect([formatIpv6(r.src), formatIpv6(r.dst), r.flowLabel, r.hopLimit, r.payloadLen, r.nextHeader], name).toEqual([src, dst, flow, hop, plen, nh]);
      expect(r.trafficClass, name).toBe(0);
      const out = new Uint8Array(IPV6_HEADER_LEN);
      emitIpv6Header(r, out);
      expect(toHex(out), name).toBe(toHex(p.buffer.subarray(0, IPV6_HEADER_LEN)));
    }
    expect(FIXTURES.length).toBe(17);
  });

  it('addresses: the kernel\'s link-local addresses are modified EUI-64, multicast goes to 33:33 plus the low 32 bits', () => {
    expect(formatIpv6(linkLocalAddress(eui64InterfaceId(Uint8Array.of(2, 0, 0, 0x99, 0, 1))))).toBe('fe80::ff:fe99:1');
    expect(formatIpv6(linkLocalAddress(eui64InterfaceId(Uint8Array.of(2, 0, 0, 0x99, 0, 0xfe))))).toBe('fe80::ff:fe99:fe');
    for (const name of ['ipv6-dad-ns', 'ipv6-mld-report', 'ipv6-router-solicitation', 'ipv6-ns', 'ipv6-router-advertisement']) {
      const e = EthernetFrame.checked(frame(name))!;
      expect(formatMac(e.dst), name).toBe(formatMac(multicastMac(Ipv6Packet.checked(e.payload)!.dst)));
    }
  });

  it('duplicate address detection: the kernel\'s probe parses as a DAD probe and makes a tentative address duplicate', () => {
    const { p, r } = ndp('ipv6-dad-ns');
    expect(r.kind).toBe('neighbor-solicitation');
    if (r.kind !== 'neighbor-solicitation') return;
    expect(formatIpv6(r.target)).toBe('fd00:99::1');
    // Linux's probe carries the RFC 7527 Nonce option (type 14, 6 bytes): no source link-layer address.
    expect(r.options.map((o) => o.kind)).toEqual(['nonce']);
    const nonce = (r.options[0] as { nonce: Uint8Array }).nonce;
    expect(nonce.length).toBe(6);
    expect(formatIpv6(p.dst)).toBe(formatIpv6(solicitedNodeMulticast(r.target)));
    // Another node's probe (its nonce is not ours) makes our tentative address duplicate...
    const results: string[] = [];
    const sent: Uint8Array[] = [];
    const dad = new DuplicateAddressDetection({ probe: (_t, n) => sent.push(n), result: (_a, s) => results.push(s) }, () => 0);
    dad.start(0, parseIpv6('fd00:99::1')!);
    dad.poll(0);
    expect(toHex(sent[0]!)).not.toBe(toHex(nonce));
    dad.solicitation(r.target, formatIpv6(p.src) === '::', nonce);
    expect(results).toEqual(['DUPLICATE']);
    // ...but the same probe carrying our own nonce is our probe looped back (RFC 7527 4.2): ignored.
    const again = new DuplicateAddressDetection({ probe: () => {}, result: (_a, s) => results.push(s) }, () => 0);
    again.start(0, parseIpv6('fd00:99::1')!);
    again.solicitation(r.target, true, Uint8Array.of(0, 0, 0, 0, 0, 0));
    expect(again.isTentative(r.target)).toBe(true);
    expect(again.stats.loopedBack).toBe(1);
  });

  it('MLDv2 report: a hop-by-hop header with Router Alert 0 is walked to ICMPv6 type 143', () => {
    const p = packet('ipv6-mld-report');
    const w = walkExtensionHeaders(p);
    expect(w).toMatchObject({ kind: 'upper', protocol: 58, offset: 48, protocolFieldOffset: 40, routerAlert: 0 });
    const m = icmp(p);
    expect(parseIcmpv6(m)).toMatchObject({ kind: 'other', type: 143, code: 0 });
    expect(m.checksumField).toBe(0x628a);
  });

  it('router solicitation, neighbor solicitation and advertisement, router advertisement', () => {
    const rs = ndp('ipv6-router-solicitation').r;
    expect(rs.kind).toBe('router-solicitation');
    expect(formatMac(linkLayerOption(rs, 'source-lla')!)).toBe(A_MAC);
    const ns = ndp('ipv6-ns');
    expect(ns.m.checksumField).toBe(0x79d4);
    expect(ns.r.kind === 'neighbor-solicitation' && formatIpv6(ns.r.target)).toBe('fd00:99::fe');
    expect(formatMac(linkLayerOption(ns.r, 'source-lla')!)).toBe(A_MAC);
    const na = ndp('ipv6-na');
    expect(na.m.checksumField).toBe(0x9741);
    expect(na.r).toMatchObject({ kind: 'neighbor-advertisement', router: true, solicited: true, override: true }); // flags 0xe0000000
    expect(formatMac(linkLayerOption(na.r, 'target-lla')!)).toBe(R_MAC);
    const ra = ndp('ipv6-router-advertisement').r;
    expect(ra).toMatchObject({ kind: 'router-advertisement', curHopLimit: 64, flags: 0, routerLifetime: 1800, reachableTime: 0, retransTimer: 0 });
    if (ra.kind !== 'router-advertisement') return;
    expect(ra.options.map((o) => o.kind)).toEqual(['source-lla', 'mtu', 'prefix-info']);
    expect(ra.options[1]).toEqual({ kind: 'mtu', mtu: 1500 });
    expect(ra.options[2]).toMatchObject({ kind: 'prefix-info', prefixLen: 64, onLink: true, autonomous: true, validLifetime: 2592000, preferredLifetime: 604800 });
    // Fed to router discovery: R becomes the default router, its prefix on-link, and SLAAC forms an address in it.
    const added: string[] = [];
    const rd = new RouterDiscovery({ solicit: () => {}, addressAdded: (a) => added.push(formatIpv6(a)), addressRemoved: () => {} }, () => eui64InterfaceId(Uint8Array.of(2, 0, 0, 0x99, 0, 1)), () => 0);
    const raPacket = packet('ipv6-router-advertisement');
    expect(rd.advertisement(0, raPacket.src, ra)).toEqual({ curHopLimit: 64, reachableTimeMs: undefined, retransTimerMs: undefined });
    expect(rd.defaultRouters(1).map(formatIpv6)).toEqual(['fe80::ff:fe99:fe']);
    expect(rd.isOnLink(1, parseIpv6('fd00:99::fe')!)).toBe(true);
    expect(added).toEqual(['fd00:99::ff:fe99:1']);
    expect(rd.linkMtu).toBe(1500);
  });

  it('echo request and reply round-trip through the ICMPv6 codec', () => {
    for (const [name, kind, ck] of [['ipv6-echo-request', 'echo-request', 0x3ee6], ['ipv6-echo-reply', 'echo-reply', 0x3de6]] as const) {
      const p = packet(name);
      const m = icmp(p);
      expect(m.checksumField).toBe(ck);
      const r = parseIcmpv6(m);
      expect(r).toMatchObject({ kind, ident: 0x074e, seq: 1 });
      expect(r.kind === kind && r.data.length).toBe(56);
      const out = new Uint8Array(icmpv6BufferLen(r));
      emitIcmpv6(r, out, 0, p.src, p.dst);
      expect(toHex(out)).toBe(toHex(m.buffer));
    }
  });

  it('fragments: walked, reassembled into an echo request that verifies, and our fragmenter cuts it exactly as Linux did', () => {
    const frags = ['ipv6-fragment-1-of-3', 'ipv6-fragment-2-of-3', 'ipv6-fragment-3-of-3'].map(packet);
    const infos = frags.map((p) => {
      const w = walkExtensionHeaders(p);
      if (w.kind !== 'fragment') throw new Error('not a fragment');
      return w.fragment;
    });
    expect(infos.map((f) => [f.offset, f.more, f.ident, f.nextHeader])).toEqual([
      [0, true, 0x8d1da9a1, 58],
      [1448, true, 0x8d1da9a1, 58],
      [2896, false, 0x8d1da9a1, 58],
    ]);
    const r = new Ipv6Reassembler();
    expect(r.input(0, frags[2]!, infos[2]!).kind).toBe('pending');
    expect(r.input(0, frags[0]!, infos[0]!).kind).toBe('pending');
    const done = r.input(0, frags[1]!, infos[1]!);
    if (done.kind !== 'done') throw new Error(JSON.stringify(done));
    const whole = Ipv6Packet.checked(done.packet)!;
    expect(whole.payloadLen).toBe(3008);
    const m = icmp(whole);
    expect(m.checksumField).toBe(0xb50d);
    expect(parseIcmpv6(m)).toMatchObject({ kind: 'echo-request', ident: 0x0759, seq: 1 });
    const again = fragmentIpv6(done.packet, 40, 6, 1500, 0x8d1da9a1);
    expect(again.map(toHex)).toEqual(frags.map((p) => toHex(p.buffer)));
  });

  it('errors: time exceeded, packet too big (quote cut at 1232 bytes), port unreachable', () => {
    const te = parseIcmpv6(icmp(packet('ipv6-time-exceeded')));
    expect(te).toMatchObject({ kind: 'time-exceeded', code: 0 });
    const q = Ipv6Packet.checked((te as { quoted: Uint8Array }).quoted)!;
    expect([formatIpv6(q.dst), q.hopLimit]).toEqual(['fd00:98::1', 1]);
    const ptbPacket = packet('ipv6-packet-too-big');
    const ptb = parseIcmpv6(icmp(ptbPacket)) as Extract<Icmpv6Repr, { kind: 'packet-too-big' }>;
    expect(ptb).toMatchObject({ kind: 'packet-too-big', mtu: 1280 });
    expect(ptb.quoted.length).toBe(ICMPV6_MAX_QUOTE);
    expect(read16(ptb.quoted, 4)).toBe(1408); // the quoted packet's own payload length (tshark: 1408)
    const pmtu = new PathMtuCache();
    const quotedDst = ptb.quoted.subarray(24, 40);
    expect(pmtu.packetTooBig(0, quotedDst, ptb.mtu, 1500)).toBe(1280);
    expect(pmtu.mtu(1, parseIpv6('fd00:98::1')!, 1500)).toBe(1280);
    const un = parseIcmpv6(icmp(packet('ipv6-dest-unreachable-port')));
    expect(un).toMatchObject({ kind: 'dest-unreachable', code: 4 });
    expect(read16((un as { quoted: Uint8Array }).quoted, 42)).toBe(9999);
  });

  it('UDP over IPv6: the checksum verifies with our pseudo-header sum', () => {
    const p = packet('ipv6-udp');
    const udp = p.payload;
    expect(read16(udp, 6)).toBe(0x48bd);
    expect(onesSum(udp, 0, udp.length, ipv6PseudoHeaderSum(p.src, p.dst, udp.length, 17))).toBe(0xffff);
    expect(new TextDecoder().decode(udp.subarray(8))).toBe('byway udp over ipv6');
  });

  it('an unknown option with action bits 10: our walker asks for the parameter problem Linux sent (code 2, pointer 42)', () => {
    const p = packet('ipv6-udp-dstopts');
    expect(walkExtensionHeaders(p)).toEqual({ kind: 'param-problem', code: 2, pointer: 42, reason: 'unknown-option' });
    expect(mayAnswerWithError(p, 4, 2, false)).toBe(true);
    const pp = parseIcmpv6(icmp(packet('ipv6-param-problem-option')));
    expect(pp).toMatchObject({ kind: 'param-problem', code: 2, pointer: 42 });
    expect(bytesEqual((pp as { quoted: Uint8Array }).quoted, p.buffer)).toBe(true);
  });

  it('buildIcmpv6Error makes the ICMPv6 messages Linux made, byte for byte (checksum included)', () => {
    const linux = (name: string): Ipv6Packet => packet(name);
    const icmpOf = (b: Uint8Array): string => toHex(b.subarray(IPV6_HEADER_LEN));
    // Parameter problem about the destination-options datagram (which we have whole).
    const pp = linux('ipv6-param-problem-option');
    const ours = buildIcmpv6Error({ kind: 'param-problem', code: 2, pointer: 42 }, packet('ipv6-udp-dstopts').buffer, pp.src, pp.dst);
    expect(icmpOf(ours)).toBe(toHex(pp.payload));
    expect(Ipv6Packet.checked(ours)!.hopLimit).toBe(64);
    // Packet too big: the quote Linux cut at 1232 bytes, quoted again, gives the same message.
    const ptb = linux('ipv6-packet-too-big');
    const quoted = (parseIcmpv6(icmp(ptb)) as { quoted: Uint8Array }).quoted;
    const big = new Uint8Array(1448);
    big.set(quoted);
    expect(icmpOf(buildIcmpv6Error({ kind: 'packet-too-big', mtu: 1280 }, big, ptb.src, ptb.dst))).toBe(toHex(ptb.payload));
    for (const [name, error] of [
      ['ipv6-time-exceeded', { kind: 'time-exceeded', code: 0 }],
      ['ipv6-dest-unreachable-port', { kind: 'dest-unreachable', code: 4 }],
    ] as const) {
      const l = linux(name);
      const q = (parseIcmpv6(icmp(l)) as { quoted: Uint8Array }).quoted;
      expect(icmpOf(buildIcmpv6Error(error, q, l.src, l.dst)), name).toBe(toHex(l.payload));
    }
  });

  it('truncating any fixture at any length or flipping any byte never makes a codec throw', () => {
    for (const f of FIXTURES) {
      const b = fromHex(f.hex).subarray(14);
      for (let cut = 0; cut <= b.length; cut += cut < 100 ? 1 : 37) {
        const p = Ipv6Packet.checked(b.subarray(0, cut));
        if (p !== undefined) walkExtensionHeaders(p);
      }
      for (let i = 0; i < Math.min(b.length, 120); i++) {
        const c = b.slice();
        c[i] ^= 0xff;
        const p = Ipv6Packet.checked(c);
        if (p === undefined) continue;
        const w = walkExtensionHeaders(p);
        if (w.kind === 'upper' && w.protocol === 58) {
          const m = Icmpv6Packet.checked(p.buffer.subarray(w.offset));
          if (m !== undefined) {
            parseIcmpv6(m);
            const n = parseNdp(m);
            if (n.kind !== 'invalid') validateNdp(n, { src: p.src, dst: p.dst, hopLimit: p.hopLimit, fragmented: false });
          }
        }
      }
    }
  });
});
