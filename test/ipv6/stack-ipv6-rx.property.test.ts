/**
 * The IPv6 receive path under hostile input (fast-check): valid frames of every kind the stack handles (echo, UDP
 * to an open and a closed port, NS, NA, RA, redirect, fragments, a hop-by-hop header, an unknown next header, TCP
 * SYNs to a listener and a closed port, a data segment for no connection), mutated byte by
 * byte, truncated, with their checksums fixed up or not, fed to a stack. Oracles: nothing throws; every frame to
 * our MAC or a 33:33 group counts in stats.ipv6.rx; every frame the stack sends in answer is a well-formed
 * IPv6 packet with a valid ICMPv6/UDP/TCP checksum and hop limit 255 on NDP; the stack stays usable (a ping after the
 * run succeeds).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EtherType, emitEthernet } from '../../protocols/ethernet/wire.js';
import { IPV6_HEADER_LEN, Ipv6Packet, NextHeader, writeIpv6Header } from '../../protocols/ipv6/wire.js';
import { walkExtensionHeaders } from '../../protocols/ipv6/wire-ext.js';
import { fillTcp6Checksum, fillUdp6Checksum, verifyTcp6Checksum, verifyUdp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import { fragmentIpv6 } from '../../protocols/ipv6/fragmenter.js';
import { Icmpv6Packet, emitIcmpv6, fillIcmpv6Checksum } from '../../protocols/icmpv6/wire.js';
import { emitNdp, isNdpType, ndpBufferLen, type NdpRepr } from '../../protocols/icmpv6/wire-ndp.js';
import { solicitedNodeMulticast, multicastMac } from '../../protocols/ipv6/address.js';
import { makePair6, ping6, v6 } from './stack-helpers.js';

const A = v6('fd00::1');
const B = v6('fd00::2');
const ROUTER = v6('fe80::a');

function packet(next: number, body: Uint8Array, dst = B, hop = 64, src = A): Uint8Array {
  const b = new Uint8Array(IPV6_HEADER_LEN + body.length);
  writeIpv6Header(b, 0, src, dst, next, body.length, hop);
  b.set(body, IPV6_HEADER_LEN);
  return b;
}

function icmp(kind: 'echo-request', data: Uint8Array): Uint8Array {
  const p = packet(NextHeader.ICMPv6, new Uint8Array(8 + data.length));
  emitIcmpv6({ kind, ident: 7, seq: 1, data }, p, IPV6_HEADER_LEN, A, B);
  return p;
}

function udp(port: number, data: Uint8Array): Uint8Array {
  const body = new Uint8Array(8 + data.length);
  body[0] = 0x30;
  body[1] = 0x39;
  body[2] = port >> 8;
  body[3] = port & 0xff;
  body[4] = body.length >> 8;
  body[5] = body.length & 0xff;
  body.set(data, 8);
  const p = packet(NextHeader.UDP, body);
  fillUdp6Checksum(p, IPV6_HEADER_LEN, p.length, A, B);
  return p;
}

function ndp(repr: NdpRepr, dst: Uint8Array, src = A): Uint8Array {
  const p = packet(NextHeader.ICMPv6, new Uint8Array(ndpBufferLen(repr)), dst, 255, src);
  emitNdp(repr, p, IPV6_HEADER_LEN, src, dst);
  return p;
}

/** A TCP segment (20-byte header, `flags`, `data`) from A:12345 to B:port. */
function tcp(port: number, flags: number, data: Uint8Array): Uint8Array {
  const body = new Uint8Array(20 + data.length);
  body.set([0x30, 0x39, port >> 8, port & 0xff, 0, 0, 0x10, 0, 0, 0, 0, 0, 5 << 4, flags, 0xff, 0xff]);
  body.set(data, 20);
  const p = packet(NextHeader.TCP, body);
  fillTcp6Checksum(p, IPV6_HEADER_LEN, p.length, A, B);
  return p;
}

const MAC_A = Uint8Array.of(2, 0, 0, 0, 0, 0xa);

/** The seed packets (before mutation). */
function seeds(): Uint8Array[] {
  const hbh = packet(NextHeader.HopByHop, Uint8Array.of(NextHeader.UDP, 0, 1, 4, 0, 0, 0, 0, ...udp(7000, Uint8Array.of(1)).subarray(40)));
  return [
    icmp('echo-request', new Uint8Array(32).fill(5)),
    udp(7000, new Uint8Array(20).fill(1)),
    udp(9, new Uint8Array(4)),
    ndp({ kind: 'neighbor-solicitation', target: B, options: [{ kind: 'source-lla', address: MAC_A }] }, solicitedNodeMulticast(B)),
    ndp({ kind: 'neighbor-advertisement', router: false, solicited: false, override: true, target: A, options: [{ kind: 'target-lla', address: MAC_A }] }, B),
    // Router discovery and SLAAC (src/stack/autoconf.ts): an RA with an MTU and an autonomous prefix, a redirect.
    ndp(
      {
        kind: 'router-advertisement',
        curHopLimit: 64,
        flags: 0,
        routerLifetime: 1800,
        reachableTime: 20_000,
        retransTimer: 900,
        options: [
          { kind: 'source-lla', address: MAC_A },
          { kind: 'mtu', mtu: 1400 },
          { kind: 'prefix-info', prefixLen: 64, onLink: true, autonomous: true, validLifetime: 3600, preferredLifetime: 60, prefix: v6('2001:db8:5::') },
        ],
      },
      v6('ff02::1'),
      ROUTER,
    ),
    ndp({ kind: 'redirect', target: v6('fe80::b'), destination: v6('2001:db8:9::1'), options: [{ kind: 'target-lla', address: MAC_A }] }, B, ROUTER),
    ...fragmentIpv6(udp(7000, new Uint8Array(3000).fill(2)), 40, 6, 1280, 99),
    hbh,
    packet(253, new Uint8Array(8)),
    tcp(80, 0x02, new Uint8Array(0)), // SYN to a listener
    tcp(81, 0x02, new Uint8Array(0)), // SYN to a closed port: RST
    tcp(80, 0x18, new Uint8Array(40).fill(3)), // PSH|ACK with data, for no connection: RST
    // MLD (src/stack/mld.ts): general MLDv2 and MLDv1 queries and a group-and-source-specific one (answered with
    // reports behind a Router Alert), and another listener's report.
    mld(Uint8Array.of(130, 0, 0, 0, 0x03, 0xe8, 0, 0, ...new Uint8Array(16), 2, 125, 0, 0), v6('ff02::1')),
    mld(Uint8Array.of(130, 0, 0, 0, 0, 100, 0, 0, ...new Uint8Array(16)), v6('ff02::1')),
    mld(Uint8Array.of(130, 0, 0, 0, 0x80, 0x01, 0, 0, ...solicitedNodeMulticast(B), 2, 125, 0, 1, ...A), solicitedNodeMulticast(B)),
    mld(Uint8Array.of(143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, ...v6('ff15::1')), v6('ff02::16')),
  ];
}

/** An MLD message from the router's link-local address, hop limit 1, behind a Hop-by-Hop header with Router Alert. */
function mld(msg: Uint8Array, dst: Uint8Array): Uint8Array {
  const p = packet(NextHeader.HopByHop, Uint8Array.of(NextHeader.ICMPv6, 0, 5, 2, 0, 0, 1, 0, ...msg), dst, 1, ROUTER);
  fillIcmpv6Checksum(p, IPV6_HEADER_LEN + 8, msg.length, ROUTER, dst);
  return p;
}

/** Fix the upper-layer checksum of a (possibly mutated) packet when its chain can be walked. */
function fixChecksum(p: Uint8Array): void {
  const v = Ipv6Packet.checked(p);
  if (v === undefined) return;
  const w = walkExtensionHeaders(v);
  if (w.kind !== 'upper') return;
  const end = v.buffer.length;
  if (w.protocol === NextHeader.UDP && end - w.offset >= 8) fillUdp6Checksum(v.buffer, w.offset, end, v.src, v.dst);
  if (w.protocol === NextHeader.TCP && end - w.offset >= 20) fillTcp6Checksum(v.buffer, w.offset, end, v.src, v.dst);
  if (w.protocol === NextHeader.ICMPv6 && end - w.offset >= 8) fillIcmpv6Checksum(v.buffer, w.offset, end - w.offset, v.src, v.dst);
}

describe('IPv6 receive path under hostile input', () => {
  it('never throws, counts every frame, and answers only with well-formed packets', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    const echo = p.b.udp.createSocket();
    echo.bind6(undefined, 7000);
    echo.onMessage6 = (data, src, port) => {
      try {
        echo.send6(p.clock.now(), data, src, port);
      } catch {
        // an unroutable source: the application's problem
      }
    };
    p.b.tcp!.listen(0, 80, 64, { family: 6 });
    const base = seeds();
    const mutation = fc.record({
      which: fc.nat(base.length - 1),
      edits: fc.array(fc.tuple(fc.nat(1600), fc.nat(255)), { maxLength: 6 }),
      cut: fc.option(fc.nat(1600), { nil: undefined }),
      fix: fc.boolean(),
      multicast: fc.boolean(),
      advance: fc.constantFrom(0, 0, 1, 1000, 61_000),
    });
    let tcpAnswers = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 8 }), (muts) => {
        for (const m of muts) {
          let pkt = base[m.which]!.slice();
          for (const [off, val] of m.edits) if (off < pkt.length) pkt[off] = val;
          if (m.cut !== undefined && m.cut < pkt.length) pkt = pkt.subarray(0, m.cut);
          if (m.fix) fixChecksum(pkt);
          const frame = p.da.txReserve(14 + pkt.length)!;
          const dstMac = m.multicast ? multicastMac(pkt.length >= 40 ? pkt.subarray(24, 40) : solicitedNodeMulticast(B)) : p.b.mac;
          emitEthernet({ dst: dstMac, src: MAC_A, ethertype: EtherType.IPv6 }, frame, 0);
          frame.set(pkt, 14);
          const before = p.b.stats.ipv6!.rx;
          p.da.txCommit(p.clock.now(), frame.length);
          p.clock.set(p.clock.now() + m.advance);
          p.b.poll(p.clock.now());
          expect(p.b.stats.ipv6!.rx - before).toBeGreaterThanOrEqual(1); // one, plus any looped-back packet
          // What b sent back (a's side of the link): every IPv6 packet well formed with a valid checksum.
          p.da.receive(p.clock.now(), 1 << 20, (out) => {
            if (((out[12]! << 8) | out[13]!) !== EtherType.IPv6) return;
            const v = Ipv6Packet.checked(out.subarray(14));
            expect(v).toBeDefined();
            const w = walkExtensionHeaders(v!);
            if (w.kind === 'fragment') return;
            expect(w.kind).toBe('upper');
            if (w.kind !== 'upper') return;
            const l4 = v!.buffer.subarray(w.offset);
            if (w.protocol === NextHeader.ICMPv6) {
              const i = Icmpv6Packet.checked(l4)!;
              expect(i.verifyChecksum(v!.src, v!.dst)).toBe(true);
              if (isNdpType(i.type)) expect(v!.hopLimit).toBe(255);
              expect(v!.buffer.length).toBeLessThanOrEqual(1500);
            } else if (w.protocol === NextHeader.UDP) {
              expect(verifyUdp6Checksum(v!.buffer, w.offset, v!.buffer.length, v!.src, v!.dst)).toBe(true);
            } else if (w.protocol === NextHeader.TCP) {
              expect(verifyTcp6Checksum(v!.buffer, w.offset, v!.buffer.length, v!.src, v!.dst)).toBe(true);
              tcpAnswers++;
            }
          });
        }
      }),
      { numRuns: 300, seed: 1806 },
    );
    // Still in working order: a ping from a to b.
    p.run(p.clock.now() + 70_000);
    expect(ping6(p, p.a, 'fd00::2').ok).toBe(true);
    const s = p.b.stats;
    // The runs reached deep: echoes answered, datagrams delivered, errors sent, some input refused.
    expect(s.icmpv6!.echoRepliesSent).toBeGreaterThan(0);
    expect(s.udp6!.rx).toBeGreaterThan(0);
    expect(s.icmpv6!.errorsSent).toBeGreaterThan(0);
    expect(s.ipv6!.reassembly.fragments).toBeGreaterThan(0);
    expect(s.autoconf!.advertisements).toBeGreaterThan(0);
    expect(s.autoconf!.redirects + s.autoconf!.redirectsIgnored).toBeGreaterThan(0);
    // MLD: queries taken (and answered: reports sent beyond the start's), others refused.
    expect(s.mld!.queriesReceived).toBeGreaterThan(0);
    expect(s.mld!.v1QueriesReceived).toBeGreaterThan(0);
    expect(s.mld!.invalid).toBeGreaterThan(0);
    expect(s.mld!.reportsSent + s.mld!.v1MessagesSent).toBeGreaterThan(2);
    // TCP over IPv6 was reached too: SYN-ACKs and RSTs, each with a valid checksum (checked above).
    expect(tcpAnswers).toBeGreaterThan(0);
    expect(s.tcp!.rstsSent).toBeGreaterThan(0);
    expect(s.tcp!.passiveOpens).toBeGreaterThan(0);
    expect(s.ipv6!.tcpBadChecksum).toBeGreaterThan(0);
    expect(s.ipv6!.truncated + s.ipv6!.badVersion + s.udp6!.badChecksum + s.icmpv6!.badChecksum).toBeGreaterThan(0);
  });
});
