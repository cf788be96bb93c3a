/**
 * The protocol pieces together, as the stack will wire them: two hosts on one link resolve each other with NDP
 * messages built by emitNdp, carried in IPv6 packets, walked, checksum-verified, parsed and validated on the other
 * side, feeding each host's neighbour cache; a fragmented solicitation is refused (RFC 6980). No stack involved.
 */
import { describe, expect, it } from 'vitest';
import { IPV6_ALL_NODES, formatIpv6, isMulticast, isUnspecified, ipv6Equals, parseIpv6, solicitedNodeMulticast } from '../../protocols/ipv6/address.js';
import { IPV6_HEADER_LEN, Ipv6Packet, NextHeader, emitIpv6Header } from '../../protocols/ipv6/wire.js';
import { walkExtensionHeaders } from '../../protocols/ipv6/wire-ext.js';
import { fragmentIpv6 } from '../../protocols/ipv6/fragmenter.js';
import { Ipv6Reassembler } from '../../protocols/ipv6/reassembly.js';
import { Icmpv6Packet } from '../../protocols/icmpv6/wire.js';
import { emitNdp, linkLayerOption, ndpBufferLen, parseNdp, validateNdp, type NdpRepr } from '../../protocols/icmpv6/wire-ndp.js';
import { NdpNeighbourCache, type PendingPacket } from '../../protocols/icmpv6/neighbour-cache.js';

interface Frame {
  readonly dstMac: Uint8Array | 'multicast';
  readonly packet: Uint8Array;
}

function ndpPacket(r: NdpRepr, src: Uint8Array, dst: Uint8Array, hopLimit = 255): Uint8Array {
  const len = ndpBufferLen(r);
  const b = new Uint8Array(IPV6_HEADER_LEN + len);
  emitIpv6Header({ src, dst, nextHeader: NextHeader.ICMPv6, hopLimit, trafficClass: 0, flowLabel: 0, payloadLen: len }, b);
  emitNdp(r, b, IPV6_HEADER_LEN, src, dst);
  return b;
}

class Host {
  readonly out: Frame[] = [];
  readonly delivered: string[] = [];
  readonly dropped: string[] = [];
  readonly cache: NdpNeighbourCache<PendingPacket & { tag: string }>;
  readonly reassembler = new Ipv6Reassembler();

  constructor(
    readonly ip: Uint8Array,
    readonly mac: Uint8Array,
  ) {
    this.cache = new NdpNeighbourCache(
      {
        solicit: (target, unicastMac) => {
          const dst = unicastMac === undefined ? solicitedNodeMulticast(target) : target;
          const ns: NdpRepr = { kind: 'neighbor-solicitation', target, options: [{ kind: 'source-lla', address: this.mac }] };
          this.out.push({ dstMac: unicastMac ?? 'multicast', packet: ndpPacket(ns, this.ip, dst) });
        },
        transmit: (p, mac) => this.out.push({ dstMac: mac, packet: p.frame }),
        unreachable: (p) => this.dropped.push(p.tag),
      },
      () => 0.5,
    );
  }

  receive(now: number, bytes: Uint8Array): void {
    let p = Ipv6Packet.checked(bytes);
    if (p === undefined) return this.drop('bad-ipv6');
    let w = walkExtensionHeaders(p);
    let fragmented = false;
    if (w.kind === 'fragment') {
      const r = this.reassembler.input(now, p, w.fragment);
      if (r.kind !== 'done') return;
      fragmented = true;
      p = Ipv6Packet.checked(r.packet)!;
      w = walkExtensionHeaders(p);
    }
    if (w.kind !== 'upper') return this.drop(w.kind);
    if (w.protocol !== NextHeader.ICMPv6) return void this.delivered.push(`proto ${w.protocol}`);
    const icmp = Icmpv6Packet.checked(p.buffer.subarray(w.offset));
    if (icmp === undefined || !icmp.verifyChecksum(p.src, p.dst)) return this.drop('checksum');
    const m = parseNdp(icmp);
    if (m.kind === 'invalid') return this.drop(m.reason);
    const why = validateNdp(m, { src: p.src, dst: p.dst, hopLimit: p.hopLimit, fragmented: fragmented || w.atomicFragment });
    if (why !== undefined) return this.drop(why);
    const src = p.src.slice();
    if (m.kind === 'neighbor-solicitation' && ipv6Equals(m.target, this.ip)) {
      const lla = linkLayerOption(m, 'source-lla');
      if (!isUnspecified(src) && lla !== undefined) this.cache.learn(now, src, lla);
      const dst = isUnspecified(src) ? IPV6_ALL_NODES : src;
      const na: NdpRepr = { kind: 'neighbor-advertisement', router: false, solicited: !isUnspecified(src), override: true, target: this.ip, options: [{ kind: 'target-lla', address: this.mac }] };
      this.out.push({ dstMac: lla ?? 'multicast', packet: ndpPacket(na, this.ip, dst) });
    } else if (m.kind === 'neighbor-advertisement') {
      this.cache.advertisement(now, m.target, m, linkLayerOption(m, 'target-lla'));
    }
    this.delivered.push(m.kind);
  }

  private drop(reason: string): void {
    this.dropped.push(reason);
  }
}

/** Move every frame A sent to B and back until both are quiet; returns what crossed, in order. */
function run(now: number, a: Host, b: Host): string[] {
  const seen: string[] = [];
  for (let round = 0; round < 10 && (a.out.length > 0 || b.out.length > 0); round++) {
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const frames = from.out.splice(0);
      for (const f of frames) {
        const mcast = f.dstMac === 'multicast';
        if (!mcast && !(f.dstMac as Uint8Array).every((x, i) => x === to.mac[i])) continue;
        const dst = Ipv6Packet.checked(f.packet)!.dst;
        seen.push(`${formatIpv6(Ipv6Packet.checked(f.packet)!.src)} -> ${formatIpv6(dst)}${mcast ? ' (multicast)' : ''}`);
        if (mcast !== isMulticast(dst)) throw new Error('link-layer and IPv6 destinations disagree');
        to.receive(now, f.packet);
      }
    }
  }
  return seen;
}

function udpPacket(src: Uint8Array, dst: Uint8Array, len: number): Uint8Array {
  const b = new Uint8Array(IPV6_HEADER_LEN + len);
  emitIpv6Header({ src, dst, nextHeader: NextHeader.UDP, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLen: len }, b);
  return b;
}

describe('two hosts resolve each other over NDP', () => {
  const A_IP = parseIpv6('fe80::a')!;
  const B_IP = parseIpv6('fe80::b')!;

  it('A queues a packet for B, solicits, B learns A and answers, A sends the packet to B\'s MAC', () => {
    const a = new Host(A_IP, Uint8Array.of(2, 0, 0, 0, 0, 0xa));
    const b = new Host(B_IP, Uint8Array.of(2, 0, 0, 0, 0, 0xb));
    expect(a.cache.send(0, B_IP, { frame: udpPacket(A_IP, B_IP, 8), tag: 'udp' })).toBe('queued');
    const crossed = run(0, a, b);
    expect(crossed).toEqual(['fe80::a -> ff02::1:ff00:b (multicast)', 'fe80::b -> fe80::a', 'fe80::a -> fe80::b']);
    expect(b.delivered).toEqual(['neighbor-solicitation', 'proto 17']);
    expect(a.delivered).toEqual(['neighbor-advertisement']);
    expect(a.cache.lookup(B_IP)).toMatchObject({ state: 'REACHABLE', mac: b.mac });
    expect(b.cache.lookup(A_IP)).toMatchObject({ state: 'STALE', mac: a.mac }); // learned from the solicitation (7.2.3)
    expect(a.dropped).toEqual([]);
    expect(b.dropped).toEqual([]);
  });

  it('after ReachableTime, a packet on the STALE entry leads to a unicast probe that B answers', () => {
    const a = new Host(A_IP, Uint8Array.of(2, 0, 0, 0, 0, 0xa));
    const b = new Host(B_IP, Uint8Array.of(2, 0, 0, 0, 0, 0xb));
    a.cache.send(0, B_IP, { frame: udpPacket(A_IP, B_IP, 8), tag: 'first' });
    run(0, a, b);
    a.cache.poll(30_000);
    expect(a.cache.lookup(B_IP)?.state).toBe('STALE');
    const mac = a.cache.send(30_000, B_IP, { frame: udpPacket(A_IP, B_IP, 8), tag: 'second' });
    expect(mac).toEqual(b.mac);
    a.cache.poll(35_000); // DELAY -> PROBE: unicast solicitation
    const crossed = run(35_000, a, b);
    expect(crossed).toEqual(['fe80::a -> fe80::b', 'fe80::b -> fe80::a']);
    expect(a.cache.lookup(B_IP)?.state).toBe('REACHABLE');
  });

  it('refuses a solicitation that arrives fragmented (RFC 6980) or with a hop limit under 255', () => {
    const b = new Host(B_IP, Uint8Array.of(2, 0, 0, 0, 0, 0xb));
    const bigNs: NdpRepr = { kind: 'neighbor-solicitation', target: B_IP, options: [{ kind: 'source-lla', address: Uint8Array.of(2, 0, 0, 0, 0, 0xa) }, { kind: 'unknown', type: 200, data: new Uint8Array(1526) }] };
    const whole = ndpPacket(bigNs, A_IP, solicitedNodeMulticast(B_IP));
    const frags = fragmentIpv6(whole, 40, 6, 1280, 99);
    expect(frags.length).toBe(2);
    for (const f of frags) b.receive(0, f);
    expect(b.dropped).toEqual(['fragmented']);
    b.receive(0, ndpPacket({ kind: 'neighbor-solicitation', target: B_IP, options: [] }, A_IP, solicitedNodeMulticast(B_IP), 64));
    expect(b.dropped).toEqual(['fragmented', 'hop-limit']);
    expect(b.out).toEqual([]);
    expect(b.cache.size).toBe(0);
  });
});
