/**
 * IPv6 in the stack core, continued: UDP over IPv6 (udp6 sockets, dual-stack, mandatory checksum, fragments at
 * every split), ICMPv6 errors with their rate limit, Packet Too Big lowering the path MTU, and the neighbour
 * cache's states driven through the stack on the virtual clock.
 */
import { describe, expect, it } from 'vitest';
import type { FrameDriver } from '../../drivers/types.js';
import { EtherType, emitEthernet } from '../../protocols/ethernet/wire.js';
import { IPV6_HEADER_LEN, NextHeader, writeIpv6Header } from '../../protocols/ipv6/wire.js';
import { fillUdp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import { buildIcmpv6Error } from '../../protocols/icmpv6/errors.js';
import { fragmentIpv6 } from '../../protocols/ipv6/fragmenter.js';
import { runUntil } from '../../src/stack/sim.js';
import type { NetStack } from '../../src/stack/stack.js';
import type { UdpSocket } from '../../src/stack/udp.js';
import { pattern } from '../stack/harness.js';
import { makePair6, ping6, v6, v6cidr, type Pair6 } from './stack-helpers.js';

/** Put a raw IPv6 packet on the link from `from`'s driver to `to`'s MAC. */
function inject(p: Pair6, from: FrameDriver, fromMac: Uint8Array, toMac: Uint8Array, packet: Uint8Array): void {
  const frame = from.txReserve(14 + packet.length)!;
  emitEthernet({ dst: toMac, src: fromMac, ethertype: EtherType.IPv6 }, frame, 0);
  frame.set(packet, 14);
  from.txCommit(p.clock.now(), frame.length);
}

function udpPacket(src: string, dst: string, sport: number, dport: number, data: Uint8Array, checksum = true): Uint8Array {
  const len = 8 + data.length;
  const b = new Uint8Array(IPV6_HEADER_LEN + len);
  writeIpv6Header(b, 0, v6(src), v6(dst), NextHeader.UDP, len, 64);
  b[40] = sport >> 8;
  b[41] = sport & 0xff;
  b[42] = dport >> 8;
  b[43] = dport & 0xff;
  b[44] = len >> 8;
  b[45] = len & 0xff;
  b.set(data, 48);
  if (checksum) fillUdp6Checksum(b, 40, b.length, v6(src), v6(dst));
  return b;
}

interface Got {
  data: Uint8Array;
  from: string;
  port: number;
}

function listen6(s: NetStack, port: number, ipv6Only = false): { sock: UdpSocket; got: Got[] } {
  const sock = s.udp.createSocket();
  sock.ipv6Only = ipv6Only;
  sock.bind6(undefined, port);
  const got: Got[] = [];
  sock.onMessage6 = (data, src, srcPort) => got.push({ data: data.slice(), from: Buffer.from(src).toString('hex'), port: srcPort });
  sock.onMessage = (data, srcIp, srcPort) => got.push({ data: data.slice(), from: `v4:${srcIp >>> 0}`, port: srcPort });
  return { sock, got };
}

const ready = (addrA: string[], addrB: string[], extra = {}): Pair6 => {
  const p = makePair6(addrA, addrB, extra);
  p.run(3_500);
  return p;
};

describe('UDP over IPv6 in the stack', () => {
  it('echoes a datagram between two udp6 sockets and fills rinfo-worthy addresses', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    const server = listen6(p.b, 7000);
    server.sock.onMessage6 = (data, src, port) => server.sock.send6(p.clock.now(), data, src, port);
    const client = listen6(p.a, 0);
    client.sock.send6(p.clock.now(), pattern(100), v6('fd00::2'), 7000);
    p.run(p.clock.now() + 100);
    expect(client.got).toHaveLength(1);
    expect(client.got[0]!.data).toEqual(pattern(100));
    expect(client.got[0]!.from).toBe(Buffer.from(v6('fd00::2')).toString('hex'));
    expect(client.got[0]!.port).toBe(7000);
    expect(p.a.stats.udp6!.tx).toBe(1);
    expect(p.a.stats.udp.tx).toBe(0); // per family
  });

  it('a dual-stack socket also gets IPv4; an ipv6Only one does not (IPv4 port unreachable)', () => {
    const p = ready(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24', 'fd00::2/64']);
    const dual = listen6(p.b, 7000);
    const only = listen6(p.b, 7001, true);
    const c = p.a.udp.createSocket();
    c.bind(0, 0);
    c.send(p.clock.now(), Uint8Array.of(1), 0x0a000002, 7000);
    c.send(p.clock.now(), Uint8Array.of(2), 0x0a000002, 7001);
    p.run(p.clock.now() + 100);
    expect(dual.got).toEqual([{ data: Uint8Array.of(1), from: `v4:${0x0a000001}`, port: c.localPort }]);
    expect(only.got).toEqual([]);
    expect(p.b.stats.udp.noPort).toBe(1);
  });

  it('binds as Linux: a dual-stack :: port collides with IPv4 on it, an ipv6Only one does not', () => {
    const p = ready(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24']);
    const v4 = p.a.udp.createSocket();
    v4.bind(0, 5000);
    const dual = p.a.udp.createSocket();
    expect(() => dual.bind6(undefined, 5000)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    const only = p.a.udp.createSocket();
    only.ipv6Only = true;
    only.bind6(undefined, 5000);
    const again = p.a.udp.createSocket();
    expect(() => again.bind6(v6('fd00::1'), 5000)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(() => p.a.udp.createSocket().bind6(v6('fd00::9'), 0)).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
  });

  it('drops and counts a zero checksum (mandatory over IPv6) and a wrong one', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    const server = listen6(p.b, 7000);
    inject(p, p.da, p.a.mac, p.b.mac, udpPacket('fd00::1', 'fd00::2', 1234, 7000, Uint8Array.of(9), false));
    const bad = udpPacket('fd00::1', 'fd00::2', 1234, 7000, Uint8Array.of(9));
    bad[47]! ^= 1;
    inject(p, p.da, p.a.mac, p.b.mac, bad);
    inject(p, p.da, p.a.mac, p.b.mac, udpPacket('fd00::1', 'fd00::2', 1234, 7000, Uint8Array.of(9)));
    p.run(p.clock.now() + 10);
    expect(p.b.stats.udp6!.badChecksum).toBe(2);
    expect(server.got).toHaveLength(1);
  });

  it('carries a datagram cut into fragments at every 8-byte split the path MTU allows', () => {
    for (let mtu = 1280; mtu <= 1500; mtu += 8) {
      const p = ready(['fd00::1/64'], ['fd00::2/64'], { a: { routes6: [{ destination: v6cidr('fd00::2/128'), mtu }] } });
      const server = listen6(p.b, 7000);
      const c = listen6(p.a, 0);
      for (const size of [mtu - 48, mtu - 47, 2 * mtu, 5000]) c.sock.send6(p.clock.now(), pattern(size, size), v6('fd00::2'), 7000);
      p.run(p.clock.now() + 100);
      expect(server.got.map((g) => g.data.length)).toEqual([mtu - 48, mtu - 47, 2 * mtu, 5000]);
      for (const g of server.got) expect(g.data).toEqual(pattern(g.data.length, g.data.length));
      expect(p.a.stats.ipv6!.fragmentsSent).toBe(0 + 2 + 3 + Math.ceil((5008) / (((mtu - 48) >> 3) << 3)));
    }
  });

  it('a full 65527-byte datagram goes and comes whole; one byte more is EMSGSIZE', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    const server = listen6(p.b, 7000);
    const c = listen6(p.a, 0);
    c.sock.send6(p.clock.now(), pattern(65527), v6('fd00::2'), 7000);
    p.run(p.clock.now() + 100);
    expect(server.got[0]!.data).toEqual(pattern(65527));
    expect(() => c.sock.send6(p.clock.now(), new Uint8Array(65528), v6('fd00::2'), 7000)).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
  });
});

describe('ICMPv6 errors in the stack', () => {
  it('a closed port draws port unreachable, which fails the connected sender with ECONNREFUSED', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    const c = listen6(p.a, 0);
    const errors: string[] = [];
    c.sock.onError = (e) => errors.push(e.code);
    c.sock.connect6(v6('fd00::2'), 9);
    c.sock.send6(p.clock.now(), Uint8Array.of(1));
    p.run(p.clock.now() + 100);
    expect(p.b.stats.icmpv6!.errorsSent).toBe(1);
    expect(errors).toEqual(['ECONNREFUSED']);
    expect(p.a.stats.udp6!.icmpErrors).toBe(1);
  });

  it('rate-limits errors: a burst of 50, then 1 per ms', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    expect(ping6(p, p.a, 'fd00::2').ok).toBe(true); // b resolved: nothing waits in the neighbour queue
    const c = listen6(p.a, 0);
    for (let i = 0; i < 120; i++) c.sock.send6(p.clock.now(), Uint8Array.of(i), v6('fd00::2'), 9);
    runUntil(p.clock, [p.a, p.b], { until: p.clock.now() });
    expect(p.b.stats.icmpv6!.errorsSent).toBe(50);
    expect(p.b.stats.icmpv6!.rateLimited).toBe(70);
  });

  it('an unknown next header draws a parameter problem pointing at it', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    const b = new Uint8Array(IPV6_HEADER_LEN + 8);
    writeIpv6Header(b, 0, v6('fd00::1'), v6('fd00::2'), 253, 8, 64);
    inject(p, p.da, p.a.mac, p.b.mac, b);
    p.run(p.clock.now() + 10);
    expect(p.b.stats.ipv6!.unknownProtocol).toBe(1);
    expect(p.b.stats.icmpv6!.errorsSent).toBe(1);
    expect(p.a.stats.icmpv6!.errorsReceived).toBe(1);
  });

  it('a datagram whose last fragment never comes draws Time Exceeded (code 1) after 60 s, quoting the first', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    expect(ping6(p, p.b, 'fd00::1').ok).toBe(true); // b knows a's MAC: its error needs no resolution
    const pieces = fragmentIpv6(udpPacket('fd00::1', 'fd00::2', 1234, 7000, pattern(3000)), 40, 6, 1280, 77);
    inject(p, p.da, p.a.mac, p.b.mac, pieces[0]!);
    inject(p, p.da, p.a.mac, p.b.mac, pieces[1]!);
    p.run(p.clock.now() + 59_000);
    expect(p.b.stats.icmpv6!.errorsSent).toBe(0);
    p.run(p.clock.now() + 2_000);
    expect(p.b.stats.ipv6!.reassembly.timeouts).toBe(1);
    expect(p.b.stats.icmpv6!.errorsSent).toBe(1);
    expect(p.a.stats.icmpv6!.errorsReceived).toBe(1);
  });

  it('walks extension headers: UDP behind hop-by-hop and destination options arrives; an unknown option asking for it draws parameter problem code 2', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    const server = listen6(p.b, 7000);
    const udp = udpPacket('fd00::1', 'fd00::2', 1234, 7000, Uint8Array.of(42)).subarray(40);
    const chain = (opt: number[]): Uint8Array => {
      // hop-by-hop (PadN 4) -> destination options (opt, padded to 8) -> UDP
      const hbh = [NextHeader.DestinationOptions, 0, 1, 4, 0, 0, 0, 0];
      const dst = [NextHeader.UDP, 0, ...opt];
      const body = Uint8Array.from([...hbh, ...dst, ...udp]);
      const b = new Uint8Array(40 + body.length);
      writeIpv6Header(b, 0, v6('fd00::1'), v6('fd00::2'), NextHeader.HopByHop, body.length, 64);
      b.set(body, 40);
      return b;
    };
    inject(p, p.da, p.a.mac, p.b.mac, chain([1, 4, 0, 0, 0, 0])); // PadN only: skipped
    inject(p, p.da, p.a.mac, p.b.mac, chain([0x1e, 4, 0, 0, 0, 0])); // type 0x1e, action 00: skip it
    inject(p, p.da, p.a.mac, p.b.mac, chain([0x9e, 4, 0, 0, 0, 0])); // action 10: discard, parameter problem
    p.run(p.clock.now() + 10);
    expect(server.got.map((g) => g.data)).toEqual([Uint8Array.of(42), Uint8Array.of(42)]);
    expect(p.b.stats.ipv6!.paramProblems).toBe(1);
    expect(p.b.stats.icmpv6!.errorsSent).toBe(1);
    expect(p.a.stats.icmpv6!.errorsReceived).toBe(1);
  });

  it('never answers an error with an error, nor a multicast destination', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    const pkt = udpPacket('fd00::1', 'ff02::1', 1, 9, Uint8Array.of(1));
    inject(p, p.da, p.a.mac, Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), pkt);
    p.run(p.clock.now() + 10);
    expect(p.b.stats.icmpv6!.errorsSent).toBe(0);
    expect(p.b.stats.ipv6!.multicastRx).toBeGreaterThanOrEqual(1);
  });
});

describe('Path MTU (RFC 8201) in the stack', () => {
  it('a Packet Too Big about our packet lowers the path MTU, never below 1280, never raised by one', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    expect(ping6(p, p.a, 'fd00::2', { size: 1400 }).ok).toBe(true);
    expect(p.a.stats.ipv6!.fragmentsSent).toBe(0);
    // A router (here b) says the path to fd00::2 takes 1300 bytes, quoting a packet of a's.
    const quoted = new Uint8Array(1440);
    writeIpv6Header(quoted, 0, v6('fd00::1'), v6('fd00::2'), NextHeader.ICMPv6, 1400, 64);
    inject(p, p.db, p.b.mac, p.a.mac, buildIcmpv6Error({ kind: 'packet-too-big', mtu: 1300 }, quoted, v6('fd00::2'), v6('fd00::1')));
    p.run(p.clock.now() + 10);
    expect(p.a.stats.icmpv6!.pmtuUpdates).toBe(1);
    expect(p.a.ipv6!.mtuFor(v6('fd00::2'))).toBe(1300);
    expect(ping6(p, p.a, 'fd00::2', { size: 1400 }).ok).toBe(true);
    expect(p.a.stats.ipv6!.fragmentsSent).toBe(2);
    // Lower than the minimum: clamped to 1280. Higher: ignored.
    inject(p, p.db, p.b.mac, p.a.mac, buildIcmpv6Error({ kind: 'packet-too-big', mtu: 600 }, quoted, v6('fd00::2'), v6('fd00::1')));
    inject(p, p.db, p.b.mac, p.a.mac, buildIcmpv6Error({ kind: 'packet-too-big', mtu: 1400 }, quoted, v6('fd00::2'), v6('fd00::1')));
    p.run(p.clock.now() + 10);
    expect(p.a.ipv6!.mtuFor(v6('fd00::2'))).toBe(1280);
    expect(p.a.stats.icmpv6!.pmtuIgnored).toBe(1);
    // A PTB quoting a packet that is not ours changes nothing.
    const forged = quoted.slice();
    forged.set(v6('fd00::77'), 8);
    inject(p, p.db, p.b.mac, p.a.mac, buildIcmpv6Error({ kind: 'packet-too-big', mtu: 1280 }, forged, v6('fd00::2'), v6('fd00::1')));
    p.run(p.clock.now() + 10);
    expect(p.a.stats.icmpv6!.errorsUnmatched).toBe(1);
    // Expiry (10 min): back to the link MTU.
    p.run(p.clock.now() + 601_000);
    p.a.poll(p.clock.now());
    expect(p.a.ipv6!.mtuFor(v6('fd00::2'))).toBe(1500);
  });
});

describe('the neighbour cache through the stack (RFC 4861 7.3)', () => {
  it('REACHABLE, STALE after ReachableTime, DELAY on use, PROBE by unicast, REACHABLE again', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    const state = () => p.a.ipv6!.ndp.neighbours.lookup(v6('fd00::2'))?.state;
    expect(ping6(p, p.a, 'fd00::2').ok).toBe(true);
    expect(state()).toBe('REACHABLE');
    runUntil(p.clock, [p.a, p.b], { until: p.clock.now() + 46_000 }); // past ReachableTime's largest draw (45 s)
    expect(state()).toBe('STALE');
    const c = listen6(p.a, 0);
    c.sock.send6(p.clock.now(), Uint8Array.of(1), v6('fd00::2'), 9);
    expect(state()).toBe('DELAY');
    const before = p.a.stats.ndp!.solicitationsSent;
    runUntil(p.clock, [p.a], { until: p.clock.now() + 5_000 }); // b does not run: the probe waits on the link
    expect(state()).toBe('PROBE');
    expect(p.a.stats.ndp!.solicitationsSent).toBe(before + 1);
    runUntil(p.clock, [p.a, p.b], { until: p.clock.now() + 10 }); // b answers the unicast NS
    expect(state()).toBe('REACHABLE');
  });

  it('a PROBE that gets no answer deletes the entry after 3 unicast solicitations', () => {
    const p = ready(['fd00::1/64'], ['fd00::2/64']);
    const state = () => p.a.ipv6!.ndp.neighbours.lookup(v6('fd00::2'))?.state;
    expect(ping6(p, p.a, 'fd00::2').ok).toBe(true);
    runUntil(p.clock, [p.a, p.b], { until: p.clock.now() + 46_000 });
    const c = listen6(p.a, 0);
    c.sock.send6(p.clock.now(), Uint8Array.of(1), v6('fd00::2'), 9);
    runUntil(p.clock, [p.a], { until: p.clock.now() + 5_000 + 3_000 + 10 });
    expect(state()).toBeUndefined();
    expect(p.a.stats.ndp!.neighbour.probesFailed).toBe(1);
  });
});
