/**
 * `ndp-host`: the IPv6 neighbour discovery cores of one host (neighbour cache, DAD, router discovery, reassembly)
 * behind a small receive path like the one the stack will have (check, walk, reassemble, checksum, parseNdp,
 * validateNdp), fed a sequence of records. Each record's tag says what happens first: bits 0-2 a clock step,
 * bit 3 "fix the ICMPv6 checksum" (so mutated messages get past it and reach the cores), bit 4 "send a packet to
 * one of three neighbours" (bit 5 picks which). The data is an IPv6 packet.
 *
 * Oracles after every record: nothing throws; the neighbour cache within its entry and byte caps, its queued bytes
 * equal to the sum over entries; every packet handed to the cache comes back exactly once (transmitted,
 * unreachable, dropped, or still queued at the end); DAD reports an address no more often than it started; router discovery's
 * lists and addresses within their bounds; reassembly memory within its cap; every pollAt finite and not in the
 * past after a poll.
 */
import fc from 'fast-check';
import { IPV6_ALL_NODES, ipv6Key, isUnspecified, parseIpv6, solicitedNodeMulticast } from '../../protocols/ipv6/address.js';
import { IPV6_HEADER_LEN, Ipv6Packet, NextHeader, emitIpv6Header } from '../../protocols/ipv6/wire.js';
import { walkExtensionHeaders } from '../../protocols/ipv6/wire-ext.js';
import { Ipv6Reassembler } from '../../protocols/ipv6/reassembly.js';
import { fillIcmpv6Checksum, Icmpv6Packet } from '../../protocols/icmpv6/wire.js';
import { emitNdp, linkLayerOption, ndpBufferLen, parseNdp, validateNdp, type NdpRepr } from '../../protocols/icmpv6/wire-ndp.js';
import { NdpNeighbourCache, type PendingPacket } from '../../protocols/icmpv6/neighbour-cache.js';
import { DuplicateAddressDetection } from '../../protocols/icmpv6/dad.js';
import { RouterDiscovery } from '../../protocols/icmpv6/router-discovery.js';
import { decodeRecords, encodeRecords } from '../lib/records.js';
import { check, type FuzzTarget } from '../lib/target.js';

const ME = parseIpv6('fe80::1')!;
const PEERS = [parseIpv6('fe80::2')!, parseIpv6('fe80::3')!, parseIpv6('2001:db8::4')!];
const DELAYS = [0, 0, 1, 10, 500, 1000, 5000, 40_000];
const CACHE = { maxEntries: 4, maxQueuedPackets: 3, maxQueuedBytes: 400 };
const RD = { maxRouters: 3, maxPrefixes: 3 };
const REASM = { maxBytes: 8 * 1024, maxDatagrams: 4, maxFragments: 8, timeoutMs: 2000 };

function ndpPacket(r: NdpRepr, src: Uint8Array, dst: Uint8Array, hopLimit = 255): Uint8Array {
  const len = ndpBufferLen(r);
  const b = new Uint8Array(IPV6_HEADER_LEN + len);
  emitIpv6Header({ src, dst, nextHeader: NextHeader.ICMPv6, hopLimit, trafficClass: 0, flowLabel: 0, payloadLen: len }, b);
  emitNdp(r, b, IPV6_HEADER_LEN, src, dst);
  return b;
}

const lla = (n: number): Uint8Array => Uint8Array.of(2, 0, 0, 0, 0, n);

function seedMessages(): Uint8Array[] {
  const [p1, p2, p3] = PEERS as [Uint8Array, Uint8Array, Uint8Array];
  return [
    ndpPacket({ kind: 'neighbor-solicitation', target: ME, options: [{ kind: 'source-lla', address: lla(2) }] }, p1, solicitedNodeMulticast(ME)),
    ndpPacket({ kind: 'neighbor-advertisement', router: false, solicited: true, override: true, target: p1, options: [{ kind: 'target-lla', address: lla(2) }] }, p1, ME),
    ndpPacket({ kind: 'neighbor-advertisement', router: true, solicited: false, override: false, target: p2, options: [{ kind: 'target-lla', address: lla(3) }] }, p2, IPV6_ALL_NODES),
    ndpPacket({ kind: 'neighbor-solicitation', target: parseIpv6('2001:db8::aa01')!, options: [] }, parseIpv6('::')!, solicitedNodeMulticast(parseIpv6('2001:db8::aa01')!)),
    ndpPacket(
      {
        kind: 'router-advertisement',
        curHopLimit: 64,
        flags: 0,
        routerLifetime: 30,
        reachableTime: 10_000,
        retransTimer: 500,
        options: [
          { kind: 'source-lla', address: lla(9) },
          { kind: 'mtu', mtu: 1400 },
          { kind: 'prefix-info', prefixLen: 64, onLink: true, autonomous: true, validLifetime: 60, preferredLifetime: 30, prefix: parseIpv6('2001:db8::')! },
        ],
      },
      parseIpv6('fe80::9')!,
      IPV6_ALL_NODES,
    ),
    ndpPacket({ kind: 'redirect', target: p2, destination: p3, options: [{ kind: 'target-lla', address: lla(3) }] }, parseIpv6('fe80::9')!, ME),
    ndpPacket({ kind: 'router-solicitation', options: [{ kind: 'source-lla', address: lla(3) }] }, p2, parseIpv6('ff02::2')!),
  ];
}

export const ndpHostTarget: FuzzTarget = {
  name: 'ndp-host',
  description: 'neighbour cache, DAD, router discovery and reassembly behind a small IPv6 receive path: caps, packet conservation, one DAD result per address, pollAt sane',
  format: 'records',
  maxLen: 600,
  maxRecords: 40,
  seeds: () => {
    const m = seedMessages();
    return [
      encodeRecords(m.map((data, i) => ({ tag: 0x10 | (i & 0x20) | (i % 8), data }))),
      encodeRecords([...m, ...m].map((data, i) => ({ tag: (i * 37) & 0x3f, data }))),
    ];
  },
  generator: () =>
    fc
      .array(fc.tuple(fc.nat(6), fc.integer({ min: 0, max: 63 }), fc.option(fc.tuple(fc.nat(200), fc.integer({ min: 0, max: 255 })), { nil: undefined })), { minLength: 1, maxLength: 30 })
      .map((steps) => {
        const m = seedMessages();
        return encodeRecords(
          steps.map(([which, tag, flip]) => {
            const data = m[which % m.length]!.slice();
            if (flip !== undefined) data[flip[0] % data.length] = flip[1];
            return { tag, data };
          }),
        );
      }),
  run(input) {
    let now = 1000;
    let handedIn = 0;
    let direct = 0;
    let droppedAtSend = 0;
    const handedBack = new Set<number>();
    const dadResults = new Map<string, number>();
    let id = 0;
    const cache = new NdpNeighbourCache<PendingPacket & { id: number }>(
      {
        solicit: () => {},
        transmit: (p) => {
          check(!handedBack.has(p.id), `packet ${p.id} handed back twice`);
          handedBack.add(p.id);
        },
        unreachable: (p) => {
          check(!handedBack.has(p.id), `packet ${p.id} handed back twice`);
          handedBack.add(p.id);
        },
      },
      () => 0.5,
      CACHE,
    );
    const dadStarts = new Map<string, number>();
    const dad = new DuplicateAddressDetection(
      {
        probe: () => {},
        result: (a) => {
          const k = ipv6Key(a);
          dadResults.set(k, (dadResults.get(k) ?? 0) + 1);
          check(dadResults.get(k)! <= (dadStarts.get(k) ?? 0), 'DAD reported an address more often than it was started');
        },
      },
      () => 0.3,
    );
    const startDad = (a: Uint8Array): void => {
      const k = ipv6Key(a);
      if (!dad.isTentative(a)) dadStarts.set(k, (dadStarts.get(k) ?? 0) + 1);
      dad.start(now, a);
    };
    const rd = new RouterDiscovery({ solicit: () => {}, addressAdded: (a) => startDad(a), addressRemoved: () => {} }, (_p, c) => Uint8Array.of(0, 0, 0, 0, 0, 0, 0xaa, c + 1), () => 0.5, RD);
    const reasm = new Ipv6Reassembler(REASM);
    rd.start(now);
    startDad(ME);
    let messages = 0;

    for (const rec of decodeRecords(input)) {
      now += DELAYS[rec.tag & 7]!;
      cache.poll(now);
      dad.poll(now);
      rd.poll(now);
      reasm.poll(now);
      for (const at of [cache.pollAt(), dad.pollAt(), rd.pollAt(now), reasm.pollAt()]) check(at === undefined || (Number.isFinite(at) && at > now) || at === Infinity, `pollAt ${at} at ${now}`);
      if ((rec.tag & 0x10) !== 0) {
        const r = cache.send(now, PEERS[(rec.tag >> 5) & 1]!, { frame: new Uint8Array(100), id: id++ });
        handedIn++;
        if (r === 'dropped') droppedAtSend++;
        else if (r !== 'queued') direct++;
      }
      const bytes = rec.data.slice();
      let p = Ipv6Packet.checked(bytes);
      if (p === undefined) continue;
      let w = walkExtensionHeaders(p);
      let fragmented = false;
      if (w.kind === 'fragment') {
        const res = reasm.input(now, p, w.fragment);
        check(reasm.memory <= REASM.maxBytes, 'reassembly memory over its cap');
        if (res.kind !== 'done') continue;
        p = Ipv6Packet.checked(res.packet)!;
        w = walkExtensionHeaders(p);
        fragmented = true;
      }
      if (w.kind !== 'upper' || w.protocol !== NextHeader.ICMPv6) continue;
      const body = p.buffer.subarray(w.offset);
      if ((rec.tag & 0x08) !== 0 && body.length >= 4) fillIcmpv6Checksum(body, 0, body.length, p.src, p.dst);
      const icmp = Icmpv6Packet.checked(body);
      if (icmp === undefined || !icmp.verifyChecksum(p.src, p.dst)) continue;
      const m = parseNdp(icmp);
      if (m.kind === 'invalid') continue;
      if (validateNdp(m, { src: p.src, dst: p.dst, hopLimit: p.hopLimit, fragmented: fragmented || w.atomicFragment }) !== undefined) continue;
      messages++;
      const src = p.src.slice();
      switch (m.kind) {
        case 'neighbor-solicitation': {
          const nonce = m.options.find((o) => o.kind === 'nonce');
          dad.solicitation(m.target, isUnspecified(src), nonce?.kind === 'nonce' ? nonce.nonce : undefined);
          const a = linkLayerOption(m, 'source-lla');
          if (!isUnspecified(src) && a !== undefined) cache.learn(now, src, a);
          break;
        }
        case 'neighbor-advertisement':
          dad.advertisement(m.target);
          cache.advertisement(now, m.target, m, linkLayerOption(m, 'target-lla'));
          break;
        case 'router-advertisement': {
          const params = rd.advertisement(now, src, m);
          if (params.reachableTimeMs !== undefined) cache.setBaseReachableTime(params.reachableTimeMs);
          if (params.retransTimerMs !== undefined) cache.setRetransTimer(params.retransTimerMs);
          const a = linkLayerOption(m, 'source-lla');
          if (a !== undefined) cache.learn(now, src, a, true);
          break;
        }
        case 'router-solicitation': {
          const a = linkLayerOption(m, 'source-lla');
          if (a !== undefined && !isUnspecified(src)) cache.learn(now, src, a);
          break;
        }
        case 'redirect': {
          const a = linkLayerOption(m, 'target-lla');
          if (a !== undefined) cache.learn(now, m.target, a, !Array.from(m.target).every((x, i) => x === m.destination[i]));
          break;
        }
      }
      check(cache.size <= CACHE.maxEntries, `${cache.size} neighbour entries`);
      check(cache.totalQueuedBytes >= 0 && cache.totalQueuedBytes <= CACHE.maxQueuedBytes, `queued bytes ${cache.totalQueuedBytes}`);
      check(rd.defaultRouters(now).length <= RD.maxRouters && rd.onLinkPrefixes(now).length <= RD.maxPrefixes && rd.addresses(now).length <= RD.maxPrefixes, 'router discovery lists over their bounds');
      check(rd.linkMtu >= 1280 && rd.linkMtu <= 1500, `link MTU ${rd.linkMtu}`);
    }
    let still = 0;
    let stillBytes = 0;
    for (const ip of PEERS) {
      const q = cache.lookup(ip)?.queued ?? 0;
      check(q <= CACHE.maxQueuedPackets, `${q} packets queued for one neighbour`);
      still += q;
      stillBytes += q * 100;
    }
    check(cache.totalQueuedBytes === stillBytes, `queued bytes ${cache.totalQueuedBytes} but entries hold ${stillBytes}`);
    const queued = handedIn - direct - droppedAtSend;
    const droppedFromQueue = cache.stats.queueDrops - droppedAtSend;
    check(handedBack.size + droppedFromQueue + still === queued, `conservation: ${queued} queued, ${handedBack.size} handed back, ${droppedFromQueue} dropped, ${still} still queued`);
    return `m${Math.min(messages, 4)}r${rd.defaultRouters(now).length}a${rd.addresses(now).length}d${dadResults.size}c${cache.size}`;
  },
};
