/**
 * IPv6 in the stack core (RFC 8200) for its one Ethernet interface: receive (EtherType 0x86dd: header check, our
 * addresses and multicast groups, the extension-header chain, reassembly), transmit (routes, source selection,
 * neighbour resolution through NDP, path MTU and source fragmentation, loopback to our own addresses), ICMPv6
 * (echo, errors with the RFC 4443 2.4(e) rules and a rate limit, Packet Too Big lowering the path MTU). UDP over
 * IPv6 for the shared UDP table's udp6 sockets is udp6.ts; addresses and NDP live in ndp.ts.
 *
 * Sans-IO like the rest of the stack: `now` comes in, randomness from the injected Rng, frames go to the driver the
 * stack owns. A received frame is only read during `input`; what is kept (fragments, queued datagrams, packets
 * waiting for a neighbour) is copied by its owner. Bad input is dropped and counted in `stats`, never thrown;
 * `ping` and the UDP send path throw BywayError with Node's codes (ENETUNREACH, EADDRNOTAVAIL, EMSGSIZE).
 *
 * Transmit builds each packet whole in a new buffer and copies it into the driver's, except TCP's: tcp6.ts writes a
 * segment straight into the driver's buffer once `directMac` knows its way out, and `inputRange` hands a plain TCP
 * segment (no extension header) to it as a range of the frame, with no view object per packet.
 */
import type { FrameDriver } from '../../drivers/types.js';
import type { Rng } from '../../protocols/util/rng.js';
import { BywayError } from '../../protocols/util/errors.js';
import { read16, write16 } from '../../protocols/util/bytes.js';
import { EtherType, writeEthernetHeader } from '../../protocols/ethernet/wire.js';
import {
  formatIpv6,
  ipv6CidrContains,
  ipv6Equals,
  isLoopback,
  isMulticast,
  isUnspecified,
  multicastMac,
  type Ipv6Address,
  type Ipv6Cidr,
} from '../../protocols/ipv6/address.js';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, Ipv6Packet, NextHeader, writeIpv6Header } from '../../protocols/ipv6/wire.js';
import { walkExtensionHeaders, ParamProblemCode } from '../../protocols/ipv6/wire-ext.js';
import { Ipv6Reassembler } from '../../protocols/ipv6/reassembly.js';
import { fragmentIpv6 } from '../../protocols/ipv6/fragmenter.js';
import { PathMtuCache } from '../../protocols/ipv6/pmtu.js';
import { ICMPV6_HEADER_LEN, Icmpv6Packet, Icmpv6Type, emitIcmpv6, parseIcmpv6 } from '../../protocols/icmpv6/wire.js';
import { Icmpv6RateLimiter, buildIcmpv6Error, mayAnswerWithError, type Icmpv6ErrorKind } from '../../protocols/icmpv6/errors.js';
import { emitNdp, isNdpType, ndpBufferLen, parseNdp, validateNdp, type NdpRepr } from '../../protocols/icmpv6/wire-ndp.js';
import { NdpHost, type NdpStats, type PendingIpv6 } from './ndp.js';
import { Ipv6Autoconf, type AutoconfStats } from './autoconf.js';
import type { PseudoRandomFunction } from '../../protocols/ipv6/stable-iid.js';
import type { UdpSocket, UdpStats, UdpTable } from './udp.js';
import { PingTable } from './ping-table.js';
import { Udp6 } from './udp6.js';
import { Ipv6Mld } from './mld.js';
import { isMldType, type MldStats } from '../../protocols/icmpv6/mld.js';
import type { EthernetStats } from './stats.js';
import { icmpv6ToError, newIcmpv6Stats, newIpv6Stats, newUdp6Stats, type Icmpv6Stats, type Ipv6Stats } from './ipv6-stats.js';
import { DEFAULT_IPV6_OPTIONS, type Ipv6Options, type Ipv6RouteConfig } from './ipv6-options.js';

export { DEFAULT_IPV6_OPTIONS, type Ipv6Options, type Ipv6RouteConfig };

interface Ipv6Route {
  readonly destination: Ipv6Cidr;
  readonly gateway: Ipv6Address | undefined;
  readonly metric: number;
  readonly mtu: number | undefined;
}

/** What the layer needs from the stack: the link it sends on and the UDP table it shares. */
export interface Ipv6Link {
  readonly driver: FrameDriver;
  readonly mac: Uint8Array;
  /** Link header length (14, or 18 with a VLAN tag). */
  readonly l2len: number;
  readonly vlan: number | undefined;
  /** The interface MTU (at least 1280 for IPv6). */
  readonly mtu: number;
  readonly ethernet: EthernetStats;
  readonly rng: Rng;
  readonly udp: UdpTable;
  /** RFC 7217's pseudorandom function for SLAAC identifiers (SHA-256, from the runtime); none: modified EUI-64. */
  readonly prf?: PseudoRandomFunction | undefined;
  /**
   * The identifier of this stack's echo requests (`limits.icmp.echoIdent`, as for ICMP): a cluster worker's comes
   * from its slice, so the replies are steered back to it. Default: drawn from `rng`.
   */
  readonly echoIdent?: number | undefined;
}

/**
 * TCP over IPv6 (src/stack/tcp6.ts), attached by NetStack: the segments delivered to it (the TCP bytes are
 * `buf[start, end)`, a view valid during the call) and the ICMPv6 errors quoting a segment of ours, which it
 * validates against a connection (RFC 5927) and answers whether it acted.
 */
export interface Ipv6Tcp {
  /** `tcHop`: the Traffic Class << 8 | the Hop Limit (for GRO and ECN, as IPv4's TOS and TTL). */
  input(now: number, buf: Uint8Array, start: number, end: number, src: Ipv6Address, dst: Ipv6Address, trusted: boolean, tcHop: number): void;
  error(now: number, kind: 'packet-too-big' | 'dest-unreachable' | 'time-exceeded' | 'param-problem', code: number, mtu: number, src: Ipv6Address, dst: Ipv6Address, quoted: Uint8Array): boolean;
}

export type Ping6Result =
  | { readonly ok: true; readonly rttMs: number; readonly ttl: number; readonly bytes: number; readonly from: Ipv6Address; readonly seq: number }
  | { readonly ok: false; readonly error: BywayError; readonly seq: number };

interface PendingPing6 {
  readonly dst: Ipv6Address;
  readonly sentAt: number;
  readonly deadline: number;
  readonly seq: number;
  readonly cb: (r: Ping6Result) => void;
}

export class Ipv6Layer {
  readonly ndp: NdpHost;
  readonly reassembler: Ipv6Reassembler;
  readonly pmtu: PathMtuCache;
  readonly options: Ipv6Options;
  /** Router discovery, SLAAC and redirects (undefined with acceptRa off). */
  readonly autoconf: Ipv6Autoconf | undefined;
  readonly stats: { ipv6: Ipv6Stats; icmpv6: Icmpv6Stats; ndp: NdpStats; udp6: UdpStats; autoconf?: AutoconfStats; mld?: MldStats };
  /** Multicast Listener Discovery and the groups this interface listens to beyond all-nodes. */
  readonly mld: Ipv6Mld;
  private readonly limiter: Icmpv6RateLimiter;
  private readonly routes: Ipv6Route[] = [];
  /** What `route` answers for a route learned from routers (autoconf.ts), reused. */
  private readonly autoRoute = { destination: { address: new Uint8Array(16) as Ipv6Address, prefixLen: 0 }, gateway: undefined as Ipv6Address | undefined, metric: 1024, mtu: undefined };
  private loopbackQueue: Uint8Array[] = [];
  private readonly pings = new PingTable<PendingPing6>();
  private readonly pingIdent: number;
  private pingClaimed = false;
  private readyWaiters: (() => void)[] = [];
  private now = 0;
  /** TCP over IPv6, when the stack has TCP (NetStack attaches it). */
  tcp: Ipv6Tcp | undefined = undefined;

  /** What the layer sends on (tcp6.ts writes TCP segments into the driver's buffer itself). */
  readonly link: Ipv6Link;
  /** UDP over IPv6 (udp6.ts). */
  private readonly udp6: Udp6;
  /** Scratch copies of the addresses of the TCP segment `inputRange` is handing on (no view per packet). */
  private readonly rxSrc = new Uint8Array(16);
  private readonly rxDst = new Uint8Array(16);

  constructor(
    link: Ipv6Link,
    addresses: readonly Ipv6Cidr[],
    routes: readonly Ipv6RouteConfig[],
    options: Partial<Ipv6Options> = {},
  ) {
    this.link = link;
    // A shared address (AF_XDP shared mode): the kernel keeps NDP, DAD and router discovery for its addresses; we
    // ask it to resolve (ndp.ts) and hear its answers (core.ts). No link-local address or RS of our own.
    const host = link.driver.hostTables;
    const kernel = host?.resolve6 !== undefined && (host.addresses6?.().length ?? 0) > 0 ? host : undefined;
    this.options = { ...DEFAULT_IPV6_OPTIONS, ...options, ...(kernel ? { linkLocal: false, acceptRa: false, dad: { dupAddrDetectTransmits: 0 } } : {}) };
    if (link.mtu < IPV6_MIN_MTU) throw new BywayError('ERR_INVALID_ARG_VALUE', `MTU ${link.mtu} is below IPv6's minimum of ${IPV6_MIN_MTU}`);
    this.ndp = new NdpHost(
      link.mac,
      addresses,
      {
        sendNdp: (now, repr, src, dst, mac) => this.sendNdp(now, repr, src, dst, mac),
        transmitResolved: (packet, mac) => this.emit(packet.frame, mac),
        dadResult: (address, state) => {
          this.autoconf?.dadResult(this.now, address, state);
          this.checkReady();
        },
        routerLost: (ip) => this.autoconf?.routerLost(ip),
        // A driver that picks IPv6 by destination (AF_XDP own-address mode) must know every address we answer on.
        addressesChanged: () => link.driver.addressSteering?.setIpv6Addresses(this.ndp.addresses.filter((a) => a.state !== 'DUPLICATE').map((a) => a.address)),
      },
      link.rng,
      {
        neighbour: this.options.neighbour,
        dad: this.options.dad,
        linkLocal: this.options.linkLocal,
        resolver: kernel && ((t) => kernel.resolve6!(t)),
        mirror: kernel?.neighbour6 !== undefined ? (t) => kernel.neighbour6!(t) : undefined,
      },
    );
    if (this.ndp.addresses.length === 0) throw new BywayError('ERR_INVALID_ARG_VALUE', 'IPv6 needs an address (or the link-local one)');
    this.reassembler = new Ipv6Reassembler(this.options.reassembly);
    this.pmtu = new PathMtuCache(this.options.pmtu);
    this.limiter = new Icmpv6RateLimiter(this.options.icmpErrors);
    const drawn = link.rng.nextU32() & 0xffff; // drawn whatever: the rng's sequence does not depend on echoIdent
    this.pingIdent = link.echoIdent ?? drawn;
    this.stats = { ipv6: newIpv6Stats(this.reassembler.stats), icmpv6: newIcmpv6Stats(), ndp: this.ndp.stats, udp6: newUdp6Stats() };
    this.udp6 = new Udp6({
      udp: link.udp,
      stats: this.stats.udp6,
      sourceFor: (dst) => this.sourceFor(dst),
      noSourceError: (dst) => this.noSourceError(dst),
      transmit: (now, packet, onUnreachable) => this.transmit(now, packet, onUnreachable),
      portUnreachable: (p, linkMulticast) => this.sendError({ kind: 'dest-unreachable', code: 4 }, p, linkMulticast),
    });
    this.mld = new Ipv6Mld({ ndp: this.ndp, rng: link.rng, emit: (now, packet, mac) => ((this.now = now), this.emit(packet, mac)) }, this.options.mld);
    if (this.options.mld !== false) this.stats.mld = this.mld.stats;
    const firstHop = (dst: Ipv6Address): Ipv6Address | undefined => {
      const r = this.route(dst);
      return r === undefined ? undefined : (r.gateway ?? dst);
    };
    const sendNdp = this.sendNdp.bind(this);
    this.autoconf = this.options.acceptRa ? new Ipv6Autoconf({ ...link, ndp: this.ndp, sendNdp, firstHop }, this.options) : undefined;
    if (this.autoconf !== undefined) this.stats.autoconf = this.autoconf.stats;
    for (const p of this.ndp.onLinkPrefixes()) this.addRoute({ destination: p });
    for (const r of routes) {
      if (r.gateway !== undefined && !this.ndp.isOnLink(r.gateway)) throw new BywayError('ENETUNREACH', `the IPv6 gateway ${formatIpv6(r.gateway)} is not on-link`);
      this.addRoute(r);
    }
  }

  /** The IPv6 MTU of the link: the interface's, or lower by a router's MTU option. */
  private get linkMtu(): number {
    return this.autoconf?.linkMtu ?? this.link.mtu;
  }

  /** The hop limit of the packets we originate: a router's Cur Hop Limit, else the configured one. */
  get hopLimit(): number {
    return this.autoconf?.hopLimit ?? this.options.hopLimit;
  }

  /** A route, as configured or as the kernel has it (shared address: core.ts follows its table). */
  addRoute(r: Ipv6RouteConfig): void {
    this.routes.push({ destination: r.destination, gateway: r.gateway?.slice(0, 16), metric: r.metric ?? 0, mtu: r.mtu });
    this.routes.sort((a, b) => b.destination.prefixLen - a.destination.prefixLen || a.metric - b.metric);
  }

  removeRoute(destination: Ipv6Cidr, metric: number): void {
    const i = this.routes.findIndex((r) => r.metric === metric && r.destination.prefixLen === destination.prefixLen && ipv6Equals(r.destination.address, destination.address));
    if (i >= 0) this.routes.splice(i, 1);
  }

  /** The configured route for dst, unless what routers said (autoconf.ts) is more precise (RFC 4861 5.2). */
  private route(dst: Ipv6Address): Ipv6Route | undefined {
    let found: Ipv6Route | undefined;
    for (const r of this.routes) {
      if (ipv6CidrContains(r.destination, dst)) {
        found = r;
        break;
      }
    }
    const auto = this.autoconf?.route(this.now, dst, found?.destination.prefixLen ?? -1);
    if (auto === undefined) return found;
    // One reused answer (every caller reads it at once): no objects per packet on the transmit path.
    const r = this.autoRoute;
    r.destination.address = dst;
    r.destination.prefixLen = auto.prefixLen;
    r.gateway = auto.gateway;
    return r;
  }

  /** Start DAD on every address (the interface is up). */
  start(now: number): void {
    this.now = now;
    this.ndp.start(now);
    // Routers are solicited from the link-local address once DAD made it usable (dadResult), or at once without one.
    if (!this.ndp.addresses.some((a) => a.origin === 'link-local')) this.autoconf?.start(now);
    this.checkReady();
  }

  /** Calls `cb` (from inside a poll) once no address is tentative any more; at once if none is. */
  whenReady(cb: () => void): void {
    this.readyWaiters.push(cb);
    this.checkReady();
  }

  private checkReady(): void {
    if (this.readyWaiters.length === 0 || this.ndp.tentativeCount > 0) return;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w();
  }

  /** Shared address: our echo replies come to us (an IPv4 claim of this identifier, ERR_INVALID_STATE, steers both). */
  private claimPingIdent(): void {
    const flows = this.link.driver.flows;
    if (flows === undefined || this.pingClaimed) return;
    this.pingClaimed = true;
    try {
      flows.claim({ protocol: 'icmp', port: this.pingIdent });
    } catch (e) {
      if ((e as BywayError).code !== 'ERR_INVALID_STATE') throw e;
    }
  }

  /** One of our usable addresses, or ::1. */
  isLocal(ip: Ipv6Address): boolean {
    return isLoopback(ip) || this.ndp.isOwn(ip);
  }

  /** The source to use towards dst (undefined: no usable address, or no route). */
  sourceFor(dst: Ipv6Address): Ipv6Address | undefined {
    if (isLoopback(dst)) return dst;
    if (this.ndp.isOwn(dst)) return dst;
    if (!isMulticast(dst) && this.route(dst) === undefined) return undefined;
    return this.ndp.sourceFor(dst);
  }

  /** The path MTU towards dst: the interface's, the route's, lowered by Packet Too Big (RFC 8201). */
  mtuFor(dst: Ipv6Address): number {
    return this.pmtu.mtu(this.now, dst, this.linkMtuFor(dst));
  }

  /** The interface's or the route's MTU towards dst, without what Packet Too Big taught (TCP's MSS option). */
  linkMtuFor(dst: Ipv6Address): number {
    const r = this.route(dst);
    return r?.mtu !== undefined ? Math.min(this.linkMtu, r.mtu) : this.linkMtu;
  }

  /**
   * Upper-layer confirmation (RFC 4861 7.3.1): a connection to dst made forward progress, so the next hop
   * towards it (dst itself on-link, else the route's gateway) is reachable.
   */
  confirmReachable(now: number, dst: Ipv6Address): void {
    if (this.isLocal(dst)) return;
    const r = this.route(dst);
    if (r === undefined) return;
    this.ndp.neighbours.confirmReachable(now, r.gateway ?? dst);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The poll cycle

  poll(now: number): number {
    this.now = now;
    let handled = 0;
    if (this.loopbackQueue.length > 0) {
      const queue = this.loopbackQueue;
      this.loopbackQueue = [];
      for (const packet of queue) this.input(now, packet, 0, false, true, false);
      handled = queue.length;
    }
    this.ndp.poll(now);
    this.mld.poll(now);
    this.autoconf?.poll(now);
    this.reassembler.poll(now, (first) => {
      // RFC 8200 4.5: the first fragment arrived and the rest did not: Time Exceeded, code 1.
      const p = Ipv6Packet.checked(first);
      if (p !== undefined) this.sendError({ kind: 'time-exceeded', code: 1 }, p, false);
    });
    if (this.pings.size > 0) this.pings.expire(now);
    return handled;
  }

  pollAt(now: number): number | undefined {
    if (this.loopbackQueue.length > 0) return now;
    const at = minTime(minTime(this.ndp.pollAt(), this.reassembler.pollAt()), minTime(this.autoconf?.pollAt(), this.mld.pollAt(now)));
    return minTime(at, this.pings.pollAt());
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Receive

  /**
   * The IPv6 packet at frame[off..]. `linkMulticast`: it came in a multicast or broadcast frame. `trusted`: the
   * device vouched for the L4 checksum (or it is our own, looped back). `fromWire` false: from the loopback queue.
   */
  /**
   * The IPv6 packet at frame[start, end) from the wire, sent to one of our MACs. A TCP segment right behind the
   * fixed header (no extension header: what every TCP peer sends) to one of our addresses goes to TCP as a range of
   * the frame, after the checks `input` makes of it; anything else goes through `input`.
   */
  inputRange(now: number, frame: Uint8Array, start: number, end: number, linkMulticast: boolean, trusted: boolean): void {
    const tcp = this.tcp;
    if (tcp !== undefined && !linkMulticast && end - start >= IPV6_HEADER_LEN && frame[start + 6] === NextHeader.TCP && frame[start]! >>> 4 === 6) {
      const tcpEnd = start + IPV6_HEADER_LEN + read16(frame, start + 4);
      const src = this.rxSrc;
      const dst = this.rxDst;
      for (let i = 0; i < 16; i++) src[i] = frame[start + 8 + i]!;
      for (let i = 0; i < 16; i++) dst[i] = frame[start + 24 + i]!;
      // Unicast to a usable address of ours, from a source the wire may carry (else `input` counts the drop).
      if (tcpEnd <= end && dst[0] !== 0xff && src[0] !== 0xff && this.ndp.isOwn(dst) && !isLoopback(src) && !this.ndp.isOwn(src)) {
        this.now = now;
        const st = this.stats.ipv6;
        st.rx++;
        st.delivered++;
        st.tcpIn++;
        const tcHop = ((frame[start]! & 0x0f) << 12) | ((frame[start + 1]! >>> 4) << 8) | frame[start + 7]!;
        tcp.input(now, frame, start + IPV6_HEADER_LEN, tcpEnd, src, dst, trusted, tcHop);
        return;
      }
    }
    this.input(now, start === 0 && end === frame.length ? frame : frame.subarray(start, end), 0, linkMulticast, trusted);
  }

  /**
   * The next hop's MAC for a packet of `ipLen` bytes to dst that can go straight into the driver's buffer, or
   * undefined when it must go through `sendPacket` instead: to ourselves, multicast, no route, above the path MTU
   * (unless `tsoMax` allows it: the driver cuts it), or a next hop not resolved yet (NDP queues and solicits).
   */
  directMac(now: number, dst: Ipv6Address, ipLen: number, tsoMax: number): Uint8Array | undefined {
    if (dst[0] === 0xff || this.isLocal(dst)) return undefined;
    this.now = now;
    const r = this.route(dst);
    if (r === undefined) return undefined;
    if (ipLen > this.pmtu.mtu(now, dst, r.mtu !== undefined ? Math.min(this.linkMtu, r.mtu) : this.linkMtu) && ipLen > tsoMax) return undefined;
    return this.ndp.neighbours.macFor(now, r.gateway ?? dst);
  }

  /** The Ethernet header of an IPv6 frame to `mac` at frame[at, at + l2len). */
  writeL2(frame: Uint8Array, at: number, mac: Uint8Array): void {
    const link = this.link;
    const vlan = link.vlan;
    writeEthernetHeader(frame, at, mac, link.mac, vlan === undefined ? EtherType.IPv6 : EtherType.VLAN);
    if (vlan !== undefined) {
      write16(frame, at + 14, vlan & 0x0fff);
      write16(frame, at + 16, EtherType.IPv6);
    }
  }

  input(now: number, frame: Uint8Array, off: number, linkMulticast: boolean, trusted: boolean, fromWire = true): void {
    this.now = now;
    const st = this.stats.ipv6;
    st.rx++;
    const buf = off === 0 ? frame : frame.subarray(off);
    const check = Ipv6Packet.check(buf);
    if (check !== 'ok') {
      if (check === 'truncated') st.truncated++;
      else st.badVersion++;
      return;
    }
    const p = Ipv6Packet.checked(buf)!;
    const dst = p.dst;
    const src = p.src;
    if (isMulticast(dst)) {
      if (!this.ndp.isOurGroup(dst) && !this.mld.has(dst)) {
        st.notForUs++;
        return;
      }
      st.multicastRx++;
    } else if (fromWire ? !this.ndp.isOwn(dst) : !this.isLocal(dst)) {
      if (this.ndp.find(dst)?.state === 'TENTATIVE') st.tentativeDst++; // RFC 4862 5.4: not ours yet
      else st.notForUs++;
      return;
    }
    // A source no packet from the wire may carry: multicast, loopback, or one of our own (a reflected packet).
    if (isMulticast(src) || (fromWire && (isLoopback(src) || this.ndp.isOwn(src)))) {
      st.badSource++;
      return;
    }
    const walk = walkExtensionHeaders(p, this.options.extensionLimits);
    switch (walk.kind) {
      case 'drop':
        st.badExtensionHeaders++;
        return;
      case 'param-problem':
        st.paramProblems++;
        this.sendError({ kind: 'param-problem', code: walk.code, pointer: walk.pointer }, p, linkMulticast);
        return;
      case 'fragment': {
        const r = this.reassembler.input(now, p, walk.fragment);
        if (r.kind === 'param-problem') {
          st.paramProblems++;
          this.sendError({ kind: 'param-problem', code: r.code, pointer: r.pointer }, p, linkMulticast);
        }
        if (r.kind !== 'done') return;
        // The whole datagram: walk it again (its Fragment header is gone); a device's checksum verdict was per frame.
        const whole = Ipv6Packet.checked(r.packet);
        if (whole === undefined) return;
        const w = walkExtensionHeaders(whole, this.options.extensionLimits);
        if (w.kind !== 'upper') {
          st.badExtensionHeaders++;
          return;
        }
        this.deliver(whole, w.protocol, w.offset, w.protocolFieldOffset, linkMulticast, false, true);
        return;
      }
      case 'upper':
        this.deliver(p, walk.protocol, walk.offset, walk.protocolFieldOffset, linkMulticast, trusted, walk.atomicFragment);
    }
  }

  private deliver(p: Ipv6Packet, protocol: number, off: number, protoField: number, linkMulticast: boolean, trusted: boolean, fragmented: boolean): void {
    const st = this.stats.ipv6;
    st.delivered++;
    switch (protocol) {
      case NextHeader.ICMPv6:
        this.icmpInput(p, off, trusted, fragmented);
        return;
      case NextHeader.UDP:
        this.udp6.input(p, off, linkMulticast, trusted);
        return;
      case NextHeader.NoNextHeader:
        return;
      case NextHeader.TCP:
        if (this.tcp === undefined) st.tcpNotSupported++;
        else if (isMulticast(p.dst)) st.tcpMulticast++; // TCP is point to point (RFC 1122 4.2.3.10)
        else {
          st.tcpIn++;
          const b = p.buffer;
          this.tcp.input(this.now, b, off, b.length, p.src, p.dst, trusted, (((b[0]! & 0x0f) << 12) | ((b[1]! >>> 4) << 8) | b[7]!));
        }
        return;
      default:
        st.unknownProtocol++;
        this.sendError({ kind: 'param-problem', code: ParamProblemCode.UnrecognizedNextHeader, pointer: protoField }, p, linkMulticast);
    }
  }

  private icmpInput(p: Ipv6Packet, off: number, trusted: boolean, fragmented: boolean): void {
    const st = this.stats.icmpv6;
    st.rx++;
    const icmp = Icmpv6Packet.checked(p.buffer.subarray(off));
    if (icmp === undefined) {
      st.truncated++;
      return;
    }
    if (!trusted && !icmp.verifyChecksum(p.src, p.dst)) {
      st.badChecksum++;
      return;
    }
    if (isNdpType(icmp.type)) {
      const repr = parseNdp(icmp);
      if (repr.kind === 'invalid' || validateNdp(repr, { src: p.src, dst: p.dst, hopLimit: p.hopLimit, fragmented }) !== undefined) {
        st.ndpInvalid++;
        return;
      }
      if (this.autoconf === undefined || !this.autoconf.input(this.now, repr, p.src)) this.ndp.input(this.now, repr, p.src);
      return;
    }
    if (isMldType(icmp.type)) {
      this.mld.input(this.now, p, icmp.buffer);
      return;
    }
    const repr = parseIcmpv6(icmp);
    switch (repr.kind) {
      case 'echo-request':
        st.echoRequests++;
        if (this.options.echoReplies) this.sendEchoReply(p, repr.ident, repr.seq, repr.data);
        return;
      case 'echo-reply': {
        const ping = repr.ident === this.pingIdent ? this.pings.get(repr.seq) : undefined;
        if (ping === undefined || !ipv6Equals(ping.dst, p.src)) {
          st.unmatchedReplies++;
          return;
        }
        st.echoReplies++;
        this.pings.delete(repr.seq);
        ping.cb({ ok: true, rttMs: this.now - ping.sentAt, ttl: p.hopLimit, bytes: repr.data.length, from: p.src.slice(), seq: repr.seq });
        return;
      }
      case 'packet-too-big':
        st.errorsReceived++;
        st.packetTooBig++;
        this.errorInput(repr.kind, 0, repr.mtu, repr.quoted);
        return;
      case 'dest-unreachable':
      case 'time-exceeded':
      case 'param-problem':
        st.errorsReceived++;
        this.errorInput(repr.kind, repr.code, 0, repr.quoted);
        return;
      default:
        st.otherTypes++;
    }
  }

  /** An ICMPv6 error quoting a packet of ours: lower the path MTU, or tell the socket or ping it was about. */
  private errorInput(kind: 'packet-too-big' | 'dest-unreachable' | 'time-exceeded' | 'param-problem', code: number, mtu: number, quoted: Uint8Array): void {
    const st = this.stats.icmpv6;
    if (quoted.length < IPV6_HEADER_LEN || quoted[0]! >>> 4 !== 6) {
      st.errorsUnmatched++;
      return;
    }
    const src = quoted.subarray(8, 24);
    const dst = quoted.subarray(24, 40);
    if (!this.isLocal(src)) {
      st.errorsUnmatched++;
      return;
    }
    const tcpAt = quoted[6] === NextHeader.TCP && quoted.length >= IPV6_HEADER_LEN + 8 ? IPV6_HEADER_LEN : -1;
    if (tcpAt > 0 && this.tcp !== undefined) {
      // RFC 5927 4.1 (and RFC 8201 5.2 for Packet Too Big): TCP checks the quote against a connection and an
      // in-flight sequence number; only an error it accepts lowers the path MTU.
      if (!this.tcp.error(this.now, kind, code, mtu, src, dst, quoted.subarray(tcpAt))) {
        if (kind === 'packet-too-big') st.pmtuIgnored++;
        else st.errorsUnmatched++;
        return;
      }
      if (kind !== 'packet-too-big') return;
    }
    if (kind === 'packet-too-big') {
      // RFC 8201 4: the quote shows a packet we sent; the estimate only goes down, never under 1280.
      const r = this.route(dst);
      const link = r?.mtu !== undefined ? Math.min(this.linkMtu, r.mtu) : this.linkMtu;
      if (this.pmtu.packetTooBig(this.now, dst, mtu, link) !== undefined) st.pmtuUpdates++;
      else st.pmtuIgnored++;
      return;
    }
    let nh = quoted[6]!;
    let l4 = IPV6_HEADER_LEN;
    if (nh === NextHeader.Fragment && quoted.length >= l4 + 8 && (read16(quoted, l4 + 2) & 0xfff8) === 0) {
      nh = quoted[l4]!;
      l4 += 8;
    }
    if (quoted.length < l4 + 8) {
      st.errorsUnmatched++;
      return;
    }
    if (nh === NextHeader.UDP) {
      const sock = this.link.udp.lookup6(src, read16(quoted, l4), dst, read16(quoted, l4 + 2));
      if (sock === undefined) {
        st.errorsUnmatched++;
        return;
      }
      this.stats.udp6.icmpErrors++;
      sock.onError?.(icmpv6ToError(kind, code));
      return;
    }
    if (nh === NextHeader.ICMPv6 && quoted[l4] === Icmpv6Type.EchoRequest && read16(quoted, l4 + 4) === this.pingIdent) {
      const seq = read16(quoted, l4 + 6);
      const ping = this.pings.get(seq);
      if (ping !== undefined && ipv6Equals(ping.dst, dst)) {
        this.pings.fail(seq, icmpv6ToError(kind, code));
        return;
      }
    }
    st.errorsUnmatched++;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Transmit

  /** UDP over IPv6 from a udp6 socket (the UdpSender hook). Throws Node's codes. */
  sendUdp(now: number, sock: UdpSocket, dst: Ipv6Address, dstPort: number, data: Uint8Array): void {
    this.now = now;
    this.udp6.send(now, sock, dst, dstPort, data);
  }

  /**
   * Send a whole IPv6 packet built by an upper layer (TCP): `packet` is the layer's from now on. Returns an error
   * code, or undefined when it went out or waits for the next hop.
   */
  sendPacket(now: number, packet: Uint8Array, onUnreachable?: () => void): 'EMSGSIZE' | 'ENETUNREACH' | undefined {
    this.now = now;
    return this.transmit(now, packet, onUnreachable);
  }

  /** ENETUNREACH without a route, EADDRNOTAVAIL when the only candidates are tentative (as Linux says). */
  private noSourceError(dst: Ipv6Address): BywayError {
    if (!isMulticast(dst) && this.route(dst) === undefined) {
      this.stats.ipv6.noRoute++;
      return new BywayError('ENETUNREACH', `no route to ${formatIpv6(dst)}`);
    }
    this.stats.ipv6.noSource++;
    return new BywayError('EADDRNOTAVAIL', 'no usable IPv6 source address (duplicate address detection still running?)');
  }

  /**
   * Send an echo request; `cb` gets the reply, or ETIMEDOUT after `timeoutMs`, EHOSTUNREACH when NDP gives up or
   * an ICMPv6 error says so. Returns the sequence number.
   */
  ping(now: number, dst: Ipv6Address, options: { size?: number; timeoutMs?: number; ttl?: number; data?: Uint8Array }, cb: (r: Ping6Result) => void): number {
    this.now = now;
    const size = options.data?.length ?? options.size ?? 56;
    if (!Number.isInteger(size) || size < 0 || size > 65527) throw new BywayError('ERR_INVALID_ARG_VALUE', `ping size ${size} is out of range`);
    if (isUnspecified(dst)) throw new BywayError('EINVAL', 'cannot ping the unspecified address');
    const src = this.sourceFor(dst);
    if (src === undefined) throw this.noSourceError(dst);
    const seq = this.pings.allocate();
    this.claimPingIdent();
    let data = options.data;
    if (data === undefined) {
      data = new Uint8Array(size);
      for (let i = 0; i < size; i++) data[i] = i & 0xff;
    }
    const target = dst.slice(0, 16);
    this.pings.add({ dst: target, sentAt: now, deadline: now + (options.timeoutMs ?? 1000), seq, cb });
    const len = ICMPV6_HEADER_LEN + size;
    const packet = new Uint8Array(IPV6_HEADER_LEN + len);
    writeIpv6Header(packet, 0, src, target, NextHeader.ICMPv6, len, options.ttl ?? this.hopLimit);
    emitIcmpv6({ kind: 'echo-request', ident: this.pingIdent, seq, data }, packet, IPV6_HEADER_LEN, src, target);
    this.stats.icmpv6.echoRequestsSent++;
    const err = this.transmit(now, packet, () => this.pings.fail(seq, new BywayError('EHOSTUNREACH', 'the destination did not answer neighbour solicitations')));
    if (err !== undefined) {
      this.pings.delete(seq);
      throw new BywayError(err, 'cannot send the echo request');
    }
    return seq;
  }

  private sendEchoReply(req: Ipv6Packet, ident: number, seq: number, data: Uint8Array): void {
    // From the address asked, or (to all-nodes) from the address we would use towards the asker.
    const src = isMulticast(req.dst) ? this.ndp.sourceFor(req.src) : req.dst.slice();
    if (src === undefined) return;
    const dst = req.src.slice();
    const len = ICMPV6_HEADER_LEN + data.length;
    const packet = new Uint8Array(IPV6_HEADER_LEN + len);
    writeIpv6Header(packet, 0, src, dst, NextHeader.ICMPv6, len, this.hopLimit);
    emitIcmpv6({ kind: 'echo-reply', ident, seq, data }, packet, IPV6_HEADER_LEN, src, dst);
    if (this.transmit(this.now, packet) === undefined) this.stats.icmpv6.echoRepliesSent++;
  }

  /** An ICMPv6 error about `invoking`, when RFC 4443 2.4(e) allows one and the rate limit (2.4(f)) has a token. */
  private sendError(error: Icmpv6ErrorKind, invoking: Ipv6Packet, linkMulticast: boolean): void {
    const st = this.stats.icmpv6;
    const type = ERROR_TYPE[error.kind];
    const code = error.kind === 'packet-too-big' ? 0 : error.code;
    if (!mayAnswerWithError(invoking, type, code, linkMulticast)) {
      st.errorsSuppressed++;
      return;
    }
    if (!this.limiter.allow(this.now)) {
      st.rateLimited++;
      return;
    }
    const dst = invoking.src.slice();
    const src = this.ndp.isOwn(invoking.dst) ? invoking.dst.slice() : this.ndp.sourceFor(dst);
    if (src === undefined) return;
    const packet = buildIcmpv6Error(error, invoking.buffer, src, dst, this.hopLimit);
    if (this.transmit(this.now, packet) === undefined) st.errorsSent++;
  }

  private sendNdp(now: number, repr: NdpRepr, src: Ipv6Address, dst: Ipv6Address, mac: Uint8Array | undefined): void {
    const len = ndpBufferLen(repr);
    const packet = new Uint8Array(IPV6_HEADER_LEN + len);
    writeIpv6Header(packet, 0, src, dst, NextHeader.ICMPv6, len, 255); // RFC 4861: hop limit 255, always
    emitNdp(repr, packet, IPV6_HEADER_LEN, src, dst);
    this.now = now;
    this.emit(packet, mac ?? multicastMac(dst));
  }

  /**
   * Send a whole IPv6 packet (the layer owns it from now on): loop it back, or route it, cut it to the path MTU
   * (RFC 8200 4.5, never below 1280) and hand each piece to the neighbour cache. Returns an error code, or
   * undefined when it went out or waits for the next hop's MAC.
   */
  private transmit(now: number, packet: Uint8Array, onUnreachable?: () => void): 'EMSGSIZE' | 'ENETUNREACH' | undefined {
    const st = this.stats.ipv6;
    if (packet.length - IPV6_HEADER_LEN > 65535) {
      st.tooBig++;
      return 'EMSGSIZE';
    }
    const dst = packet.subarray(24, 40);
    if (this.isLocal(dst)) {
      this.loopbackQueue.push(packet);
      st.loopback++;
      st.tx++;
      return undefined;
    }
    if (isMulticast(dst)) {
      if (packet.length > this.linkMtu) {
        st.tooBig++;
        return 'EMSGSIZE';
      }
      this.emit(packet, multicastMac(dst));
      return undefined;
    }
    const r = this.route(dst);
    if (r === undefined) {
      st.noRoute++;
      return 'ENETUNREACH';
    }
    const nextHop = r.gateway ?? dst.slice();
    const mtu = this.pmtu.mtu(now, dst, r.mtu !== undefined ? Math.min(this.linkMtu, r.mtu) : this.linkMtu);
    let pieces: Uint8Array[] = [packet];
    if (packet.length > mtu) {
      // Our packets carry no extension headers: the unfragmentable part is the fixed header (RFC 7739: random ident).
      pieces = fragmentIpv6(packet, IPV6_HEADER_LEN, 6, mtu, this.link.rng.nextU32());
      st.fragmentsSent += pieces.length;
    }
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      const r2 = this.ndp.neighbours.send(now, nextHop, { frame: piece, onUnreachable: i === 0 ? onUnreachable : undefined });
      if (r2 === 'dropped') {
        st.neighbourDrops++;
        return undefined; // the rest is useless without this piece (counted, as a full queue drops silently)
      }
      if (r2 !== 'queued') this.emit(piece, r2);
    }
    return undefined;
  }

  /** Put one packet on the wire to `mac`, copied into a driver buffer behind the Ethernet header. */
  private emit(packet: Uint8Array, mac: Uint8Array): void {
    const link = this.link;
    const len = link.l2len + packet.length;
    const frame = link.driver.txReserve(len);
    if (frame === null) {
      this.stats.ipv6.txNoBuffer++;
      return;
    }
    this.writeL2(frame, 0, mac);
    frame.set(packet, link.l2len);
    link.driver.txCommit(this.now, len);
    this.stats.ipv6.tx++;
    link.ethernet.tx++;
  }
}

const ERROR_TYPE: Record<Icmpv6ErrorKind['kind'], number> = {
  'dest-unreachable': Icmpv6Type.DestUnreachable,
  'packet-too-big': Icmpv6Type.PacketTooBig,
  'time-exceeded': Icmpv6Type.TimeExceeded,
  'param-problem': Icmpv6Type.ParameterProblem,
};

function minTime(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

export type { PendingIpv6 };
