/**
 * A byway host on a memory link whose other end the test drives by hand as a router: it injects router
 * advertisements, neighbor advertisements and redirects as frames, and reads what the host sent (for the
 * test/ipv6/stack-autoconf*.test.ts files). On the virtual clock.
 */
import { createHash } from 'node:crypto';
import { memoryLink } from '../../drivers/memory/index.js';
import type { AddressSteering, FrameDriver } from '../../drivers/types.js';
import { seededRng } from '../../protocols/util/rng.js';
import { EtherType, emitEthernet } from '../../protocols/ethernet/wire.js';
import { IPV6_ALL_NODES, isMulticast, multicastMac, withInterfaceId } from '../../protocols/ipv6/address.js';
import { Ipv6Packet, NextHeader, writeIpv6Header } from '../../protocols/ipv6/wire.js';
import { stableInterfaceId } from '../../protocols/ipv6/stable-iid.js';
import { Icmpv6Packet } from '../../protocols/icmpv6/wire.js';
import { emitNdp, isNdpType, ndpBufferLen, parseNdp, type NdpOption, type NdpRepr } from '../../protocols/icmpv6/wire-ndp.js';
import type { RouterAdvertisement } from '../../protocols/icmpv6/router-discovery.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { runUntil } from '../../src/stack/sim.js';
import { NetStack } from '../../src/stack/stack.js';
import type { Ipv6Options } from '../../src/stack/ipv6.js';
import { v6 } from './stack-helpers.js';

export const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());
export const SECRET = '0123456789abcdef0123456789abcdef';
export const HOST_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x10);
export const ROUTER_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01);
export const ROUTER = v6('fe80::1');

/** What the host sent, decoded enough to assert on. */
export interface Sent {
  readonly dstMac: Uint8Array;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly hopLimit: number;
  readonly nextHeader: number;
  /** The NDP message, when it is one. */
  readonly ndp: NdpRepr | undefined;
}

export interface RouterLab {
  clock: VirtualClock;
  host: NetStack;
  wire: FrameDriver;
  /** Run the host (virtual clock) until `until`, collecting what it sends. */
  run(until: number): void;
  /** Everything the host sent so far (and forget it). */
  take(): Sent[];
  /** Put a frame from the router (or another node) on the wire. */
  inject(frame: Uint8Array): void;
  /** The SLAAC address the host forms in `prefix` (RFC 7217, SHA-256 over the test's secret). */
  slaacAddress(prefix: string, dadCounter?: number): Uint8Array;
}

export function routerLab(
  ipv6: Partial<Ipv6Options> = {},
  extra: { mtu?: number; addresses6?: string[]; gateway6?: string; steering?: AddressSteering } = {},
): RouterLab {
  const [dh, dr] = memoryLink({ mtu: extra.mtu ?? 1500 });
  // A driver that picks IPv6 by destination (as AF_XDP's own-address program does) and wants the address set.
  if (extra.steering !== undefined) Object.assign(dh, { addressSteering: extra.steering });
  const clock = new VirtualClock(1_000);
  const host = new NetStack({
    driver: dh,
    mac: HOST_MAC,
    addresses: [],
    addresses6: (extra.addresses6 ?? []).map((s) => {
      const [a, l] = s.split('/');
      return { address: v6(a!), prefixLen: Number(l) };
    }),
    routes6: extra.gateway6 === undefined ? [] : [{ destination: { address: new Uint8Array(16), prefixLen: 0 }, gateway: v6(extra.gateway6) }],
    ipv6: { stableSecret: SECRET, ...ipv6 },
    ipv6Prf: sha256,
    rng: seededRng(7),
  });
  let sent: Sent[] = [];
  const drain = (): void => {
    dr.receive(clock.now(), 1 << 20, (f) => {
      if (f.length < 14 + 40 || f[12] !== 0x86 || f[13] !== 0xdd) return;
      const p = Ipv6Packet.checked(f.subarray(14));
      if (p === undefined) return;
      let ndp: NdpRepr | undefined;
      if (p.nextHeader === NextHeader.ICMPv6) {
        const icmp = Icmpv6Packet.checked(f.subarray(54));
        if (icmp !== undefined && isNdpType(icmp.type)) {
          const r = parseNdp(icmp);
          if (r.kind !== 'invalid') ndp = structuredClone(r);
        }
      }
      sent.push({ dstMac: f.slice(0, 6), src: p.src.slice(), dst: p.dst.slice(), hopLimit: p.hopLimit, nextHeader: p.nextHeader, ndp });
    });
  };
  const secret = Uint8Array.from(SECRET.match(/../g)!.map((h) => parseInt(h, 16)));
  const netIface = Array.from(HOST_MAC, (b) => b.toString(16).padStart(2, '0')).join(':');
  return {
    clock,
    host,
    wire: dr,
    run(until) {
      runUntil(clock, [host], { until });
      drain();
    },
    take() {
      drain();
      const s = sent;
      sent = [];
      return s;
    },
    inject(frame) {
      const b = dr.txReserve(frame.length)!;
      b.set(frame);
      dr.txCommit(clock.now(), frame.length);
      dr.flush(clock.now());
    },
    slaacAddress(prefix, dadCounter = 0) {
      const iid = stableInterfaceId(sha256, { prefix: v6(prefix), netIface, dadCounter, secretKey: secret })!.iid;
      return withInterfaceId(v6(prefix), iid);
    },
  };
}

/** An NDP message as a whole Ethernet frame (hop limit 255), to `dst` (a multicast group's MAC, or `dstMac`). */
export function ndpFrame(repr: NdpRepr, src: Uint8Array, dst: Uint8Array, srcMac: Uint8Array = ROUTER_MAC, dstMac?: Uint8Array): Uint8Array {
  const len = ndpBufferLen(repr);
  const f = new Uint8Array(14 + 40 + len);
  emitEthernet({ dst: dstMac ?? (isMulticast(dst) ? multicastMac(dst) : HOST_MAC), src: srcMac, ethertype: EtherType.IPv6 }, f, 0);
  const pkt = f.subarray(14);
  writeIpv6Header(pkt, 0, src, dst, NextHeader.ICMPv6, len, 255);
  emitNdp(repr, pkt, 40, src, dst);
  return f;
}

export function raFrame(options: NdpOption[], routerLifetime = 1800, extra: Partial<RouterAdvertisement> = {}, src: Uint8Array = ROUTER, srcMac: Uint8Array = ROUTER_MAC): Uint8Array {
  const ra: RouterAdvertisement = { kind: 'router-advertisement', curHopLimit: 0, flags: 0, routerLifetime, reachableTime: 0, retransTimer: 0, options, ...extra };
  return ndpFrame(ra, src, IPV6_ALL_NODES, srcMac);
}

export function prefixInfo(text: string, validLifetime: number, preferredLifetime: number, flags: { onLink?: boolean; autonomous?: boolean; prefixLen?: number } = {}): NdpOption {
  return { kind: 'prefix-info', prefixLen: flags.prefixLen ?? 64, onLink: flags.onLink ?? true, autonomous: flags.autonomous ?? true, validLifetime, preferredLifetime, prefix: v6(text) };
}

export const routerLla = (mac: Uint8Array = ROUTER_MAC): NdpOption => ({ kind: 'source-lla', address: mac });
