/**
 * The stack core: one interface over one FrameDriver, with ARP, IPv4 (fragmentation and reassembly), ICMP and UDP,
 * and the transports registered with it by IP protocol number (transport.ts). It builds no TCP: NetStack (stack.ts)
 * plugs TCP in through `register`, like any other transport. Sans-IO: it never reads a clock or sets a timer. The runtime (or a test) calls `poll(now)`
 * whenever the driver is ready or the time returned by `pollAt(now)` has come.
 *
 * Receive: `poll` pulls batches from the driver; each frame is parsed as views and handled before the next, so a
 * frame's bytes are never kept past its handler (what must be kept, e.g. a fragment or a datagram queued on a
 * socket, is copied by its owner). Transmit: a packet is built once, in place, in a buffer the driver lends
 * (the transmit token of ipv4-output.ts); only a packet that must wait (for ARP, or to be fragmented, or looped
 * back) goes through a scratch copy.
 *
 * Bad input is dropped and counted in `stats`; API misuse throws BywayError with a stable code.
 */
import { RxFlag, type FlowSteering, type FrameDriver, type HostTables } from '../../drivers/types.js';
import { BywayError } from '../../protocols/util/errors.js';
import type { Rng } from '../../protocols/util/rng.js';
import { read16, read32 } from '../../protocols/util/bytes.js';
import { onesSum } from '../../protocols/util/checksum.js';
import {
  BROADCAST_MAC,
  ETHERNET_HEADER_LEN,
  EtherType,
  VLAN_TAG_LEN,
  ZERO_MAC,
  emitEthernet,
  isMulticastMac,
  macEquals,
} from '../../protocols/ethernet/wire.js';
import { ArpOperation, ArpPacket, emitArp, ARP_PACKET_LEN } from '../../protocols/arp/wire.js';
import { IPV4_HEADER_LEN, Ipv4Packet } from '../../protocols/ipv4/wire.js';
import { checkIpv4Options } from '../../protocols/ipv4/options.js';
import { directedBroadcast, isMulticast, IPV4_BROADCAST, type Ipv4Cidr, cidrContains } from '../../protocols/ipv4/address.js';
import { Reassembler, type ReassemblyOptions } from '../../protocols/ipv4/reassembly.js';
import { IcmpType, UnreachableCode } from '../../protocols/icmp/wire.js';
import { NeighbourCache, type NeighbourOptions } from './neighbour.js';
import { RoutingTable } from './routing.js';
import type { UdpTable, UdpOptions } from './udp.js';
import { newStats, type StackStats } from './stats.js';
import { Ipv4Output } from './ipv4-output.js';
import { Icmp4, type IcmpOptions, type PingOptions, type PingResult } from './icmp.js';
import type { Transport, TransportHost } from './transport.js';
import { UdpTransport } from './udp-transport.js';
import { Ipv6Layer, type Ipv6Options, type Ipv6RouteConfig } from './ipv6.js';
import { IGMP_PROTOCOL, Ipv4Igmp } from './igmp.js';
import type { ListenerOptions } from '../../protocols/multicast/listener.js';
import type { Ipv6Cidr } from '../../protocols/ipv6/address.js';
import type { PseudoRandomFunction } from '../../protocols/ipv6/stable-iid.js';
import { TimerPhase } from './timer-phase.js';
import { mirrorHostTables } from './host-mirror.js';
import { GSO_MAX, SoftGso } from './gso.js';

export { DEFAULT_ICMP_OPTIONS, type IcmpOptions, type PingOptions, type PingResult } from './icmp.js';
export type { Transport, TransportHost, IcmpErrorKind } from './transport.js';

/** The source of a packet to 127.0.0.0/8 other than our own addresses, as Linux picks it (127.0.0.1). */
const LOOPBACK_SOURCE = 0x7f000001;
/** Drivers some stack owns (weakly held: a dropped stack and driver are not kept alive by this). */
const DRIVERS_IN_USE = new WeakSet<FrameDriver>();

export interface RouteConfig {
  readonly destination: Ipv4Cidr;
  readonly gateway?: number | undefined;
  readonly metric?: number | undefined;
  readonly mtu?: number | undefined;
}

/** What the core is built from (NetStack's StackConfig adds TCP's options). */
export interface StackCoreConfig {
  readonly driver: FrameDriver;
  /** The interface's MAC; defaults to the driver's, else a random locally administered one. */
  readonly mac?: Uint8Array | undefined;
  /** IPv4 addresses with their prefix (an on-link route is added for each). At least one, unless IPv6 is on. */
  readonly addresses: readonly Ipv4Cidr[];
  /** IPv6 addresses with their prefix (src/stack/ipv6.ts). Any, or `ipv6`, turns IPv6 on (Ethernet only). */
  readonly addresses6?: readonly Ipv6Cidr[] | undefined;
  readonly routes6?: readonly Ipv6RouteConfig[] | undefined;
  /** IPv6 options; `true` turns IPv6 on with a link-local address only. */
  readonly ipv6?: Partial<Ipv6Options> | boolean | undefined;
  /** RFC 7217's pseudorandom function for SLAAC interface identifiers (the API gives SHA-256); none: EUI-64. */
  readonly ipv6Prf?: PseudoRandomFunction | undefined;
  readonly gateway?: number | undefined;
  readonly routes?: readonly RouteConfig[] | undefined;
  /** L3 MTU; defaults to the driver's. */
  readonly mtu?: number | undefined;
  /** 802.1Q VLAN id: when set, only frames tagged with it are accepted and every frame sent carries it. */
  readonly vlan?: number | undefined;
  readonly rng: Rng;
  readonly ttl?: number | undefined;
  readonly neighbour?: Partial<NeighbourOptions> | undefined;
  readonly reassembly?: Partial<ReassemblyOptions> | undefined;
  readonly icmp?: Partial<IcmpOptions> | undefined;
  readonly udp?: Partial<UdpOptions> | undefined;
  /** Frames handled per poll before returning (keeps the event loop responsive). Default 256. */
  readonly pollBudget?: number | undefined;
  /**
   * Answer ARP requests for our addresses (default true). Several stacks sharing one address and MAC over the
   * queues of one link (src/cluster) let only one of them answer; the others still learn from what they receive.
   */
  readonly answerArp?: boolean | undefined;
  /** IGMP's timers (src/stack/igmp.ts); false: groups are received, but no report is sent nor query answered. */
  readonly igmp?: Partial<ListenerOptions> | false | undefined;
  /**
   * Software GSO (src/stack/gso.ts): when the driver cannot segment TCP itself (no TSO), TCP over IPv4 still builds
   * packets of up to 64 KiB and the stack cuts them into MTU-sized segments just before the driver, as Linux does
   * for such a device. Default true; false: TCP builds one MTU-sized segment at a time.
   */
  readonly gso?: boolean | undefined;
}

export class StackCore implements TransportHost {
  /** The driver hands frames over as ranges of its memory (receiveRanges): no view object per frame. */
  private readonly rangesIn: boolean;
  readonly driver: FrameDriver;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly addresses: readonly Ipv4Cidr[];
  readonly routes = new RoutingTable();
  readonly neighbours: NeighbourCache;
  readonly reassembler: Reassembler;
  /** UDP's socket table (the UDP transport's). */
  readonly udp: UdpTable;
  readonly stats: StackStats;
  /** IPv4 transmit: the transmit token, fragmentation, the path MTU table. */
  readonly output: Ipv4Output;
  readonly icmp: Icmp4;
  /** IPv4 multicast: IGMP and the groups the interface receives (src/stack/igmp.ts). */
  readonly igmp: Ipv4Igmp;
  /** StackConfig.answerArp; may change at run time (a cluster moves the answering role when its holder dies). */
  answerArp: boolean;
  readonly vlan: number | undefined;
  /** IPv6 (src/stack/ipv6.ts), when the stack was given IPv6 addresses or the `ipv6` option. */
  readonly ipv6: Ipv6Layer | undefined;
  /** The transports registered, by IP protocol number (`register`). */
  private readonly byProtocol: (Transport | undefined)[] = new Array<Transport | undefined>(256).fill(undefined);
  private transportList: Transport[] = [];
  /**
   * The transports that hold packets across a batch (GRO) and those with timers: the poll calls only these (it
   * runs at least twice per request/response on each stack; a call to an empty method through the list is a
   * call V8 cannot inline, to a different class each time).
   */
  private flushList: { flush(): void }[] = [];
  /** The neighbours', the reassembler's and the transports' timers (polled from when one may be due). */
  private readonly timers: TimerPhase;

  /** Default TTL of the packets sent. */
  readonly ttl: number;
  private readonly l2len: number;
  private readonly ethernet: boolean;
  /** Most frames one poll takes in (Pollable.pollBudget). */
  readonly pollBudget: number;
  private readonly csum: { ipTx: boolean; ipRx: boolean; icmpTx: boolean; icmpRx: boolean; udpTx: boolean; udpRx: boolean };
  /**
   * The time the current poll was given. Typed `number | undefined` and undefined until the first poll, so V8 keeps
   * the field tagged: it stores the poll's number object as it is, and passing it on to a transport's input (a call
   * not inlined) passes that same object. A field V8 holds as a double is boxed into a new heap number each time it
   * is passed to such a call: 16 B per segment received (2026-12-03, bench/inmemory-tcp.ts --heap).
   */
  private now: number | undefined = undefined;
  private started = false;

  /** The time the current (or last) poll was given: for work done on the poll's behalf, without a clock read. */
  get pollTime(): number {
    return this.time();
  }

  /** The current poll's time, 0 before the first poll (the number object as the poll got it: see `now`). */
  private time(): number {
    return this.now ?? 0;
  }

  /** The frame being received came with RxFlag.L4ChecksumValid (or from our own loopback): skip the TCP/UDP check. */
  private rxL4Trusted = false;
  /** The driver's flow steering, when it shares its address with the kernel (claims ports for our sockets). */
  readonly flows: FlowSteering | undefined;
  /** The kernel's tables, when the kernel resolves neighbours for us (no ARP of our own). */
  private readonly hostTables: HostTables | undefined;

  constructor(config: StackCoreConfig) {
    const ipv6On = (config.addresses6?.length ?? 0) > 0 || (config.ipv6 !== undefined && config.ipv6 !== false);
    if (config.addresses.length === 0 && !ipv6On) throw new BywayError('ERR_INVALID_ARG_VALUE', 'a stack needs at least one address');
    // A driver belongs to one stack: two would split its frames between them (one's ARP reply swallowed by the
    // other), which fails far from the cause. Closing the driver (the API's stack.close()) ends the claim.
    if (DRIVERS_IN_USE.has(config.driver)) {
      throw new BywayError('EBUSY', 'this driver already belongs to another stack: a driver serves one stack (close that stack, or open a second driver)');
    }
    DRIVERS_IN_USE.add(config.driver);
    this.driver = config.driver;
    this.rangesIn = typeof config.driver.receiveRanges === 'function';
    this.ethernet = config.driver.caps.medium === 'ethernet';
    this.vlan = config.vlan;
    this.l2len = this.ethernet ? ETHERNET_HEADER_LEN + (config.vlan !== undefined ? VLAN_TAG_LEN : 0) : 0;
    this.mtu = Math.min(config.mtu ?? config.driver.caps.mtu, config.driver.caps.mtu);
    if (this.mtu < 68) throw new BywayError('ERR_INVALID_ARG_VALUE', `MTU ${this.mtu} is below IPv4's minimum of 68`);
    this.mac = (config.mac ?? config.driver.hwAddress ?? randomMac(config.rng)).slice(0, 6);
    this.addresses = config.addresses.map((a) => ({ address: a.address >>> 0, prefixLen: a.prefixLen }));
    this.ttl = config.ttl ?? 64;
    this.pollBudget = config.pollBudget ?? 256;
    this.answerArp = config.answerArp ?? true;
    const c = config.driver.caps.checksum;
    this.csum = {
      ipTx: c.ipv4.tx === 'compute',
      ipRx: c.ipv4.rx === 'verify',
      icmpTx: c.icmp.tx === 'compute',
      icmpRx: c.icmp.rx === 'verify',
      udpTx: c.udp.tx === 'compute',
      udpRx: c.udp.rx === 'verify',
    };
    const tso = config.driver.caps.tso;
    // TSO is used only when it can carry more than one full segment and the driver completes TCP checksums (the
    // contract); a driver that says otherwise is treated as having none.
    const driverTso = tso !== undefined && c.tcp.tx === 'offload' && tso.maxBytes > this.mtu ? Math.min(tso.maxBytes, 65535) : 0;
    const ident = config.rng.nextU32();
    const pingIdent = config.rng.nextU32();
    this.flows = config.driver.flows;
    this.hostTables = config.driver.hostTables;
    const hostTables = this.hostTables;
    this.neighbours = new NeighbourCache(
      {
        sendRequest: hostTables
          ? (_now, ip) => hostTables.resolve(ip)
          : (now, ip, mac) => this.sendArp(now, ArpOperation.Request, mac ?? BROADCAST_MAC, ip, this.sourceFor(ip) ?? this.addresses[0]?.address ?? 0),
        sendResolved: (now, frame, mac, segment) => this.output.sendResolved(now, frame, mac, segment),
        confirmed: (now, ip) => this.pathConfirmed(now, ip),
        timerArmed: () => this.timers.wake(),
      },
      config.neighbour,
    );
    this.reassembler = new Reassembler(config.reassembly);
    const reassembler = this.reassembler;
    this.timers = new TimerPhase([this.neighbours, { poll: (now) => reassembler.poll(now), dueAt: () => reassembler.pollAt() ?? Infinity }]);
    const udp = new UdpTransport(this, { tx: this.csum.udpTx, rx: this.csum.udpRx }, config.rng, config.udp);
    this.udp = udp.table;
    this.stats = newStats(this.neighbours.stats, this.reassembler.stats, udp.table.stats);
    this.ipv6 = ipv6On ? this.makeIpv6(config) : undefined;
    this.udp.ipv6 = this.ipv6;
    // Without TSO, software GSO (unless turned off, or the MTU is already as large as a GSO packet).
    const gso = driverTso === 0 && config.gso !== false && this.mtu < GSO_MAX ? new SoftGso(config.driver, (v6, n) => this.gsoSent(v6, n)) : undefined;
    this.output = new Ipv4Output(
      {
        driver: this.driver,
        ethernet: this.ethernet,
        l2len: this.l2len,
        mtu: this.mtu,
        routes: this.routes,
        neighbours: this.neighbours,
        stats: this.stats,
        ipChecksum: this.csum.ipTx,
        isLocalAddress: (ip) => this.isLocalAddress(ip),
        isBroadcastFor: (ip) => this.isBroadcastFor(ip),
        neighbourMac: (now, ip) => this.neighbourMac(now, ip),
        writeL2: (frame, at, dst, ethertype) => this.writeL2(frame, at, dst, ethertype),
      },
      ident,
      gso !== undefined ? GSO_MAX : driverTso,
      gso,
      c.tcp.tx === 'compute',
    );
    this.icmp = new Icmp4(this, (protocol) => this.byProtocol[protocol], { tx: this.csum.icmpTx, rx: this.csum.icmpRx }, pingIdent, config.icmp);
    this.igmp = new Ipv4Igmp(
      { driver: this.driver, rng: config.rng, source: () => this.addresses[0]?.address ?? 0, emit: (now, packet, mac) => this.emitIp(now, packet, mac), wakeTimers: () => this.timers.wake() },
      config.igmp,
    );
    this.stats.igmp = this.igmp.stats;
    this.register(this.icmp);
    this.register(udp);
    this.register(this.igmp);
    for (const a of this.addresses) this.routes.add({ destination: a, source: a.address, metric: 0 });
    if (config.gateway !== undefined) {
      const src = this.onLinkSource(config.gateway);
      if (src === undefined) throw new BywayError('ENETUNREACH', 'the gateway is not on any of the interface\'s prefixes');
      this.routes.add({ destination: { address: 0, prefixLen: 0 }, gateway: config.gateway, source: src, metric: 0 });
    }
    for (const r of config.routes ?? []) {
      const src = r.gateway !== undefined ? this.onLinkSource(r.gateway) : this.addresses[0]?.address;
      if (src === undefined) throw new BywayError('ENETUNREACH', 'a route\'s gateway is not on-link (or the stack has no IPv4 address)');
      this.routes.add({ destination: r.destination, gateway: r.gateway, source: src, metric: r.metric ?? 0, mtu: r.mtu });
    }
    if (hostTables !== undefined) {
      mirrorHostTables(hostTables, {
        addresses: this.addresses, routes: this.routes, neighbours: this.neighbours, ipv6: this.ipv6,
        time: () => this.time(), onLinkSource: (ip: number) => this.onLinkSource(ip),
      });
    }
  }

  private makeIpv6(config: StackCoreConfig): Ipv6Layer {
    if (!this.ethernet) throw new BywayError('ERR_INVALID_ARG_VALUE', 'IPv6 needs an Ethernet driver');
    const options = typeof config.ipv6 === 'object' ? config.ipv6 : {};
    const l = new Ipv6Layer(
      {
        driver: this.driver,
        mac: this.mac,
        l2len: this.l2len,
        vlan: this.vlan,
        mtu: this.mtu,
        ethernet: this.stats.ethernet,
        rng: config.rng,
        udp: this.udp,
        prf: config.ipv6Prf,
        echoIdent: config.icmp?.echoIdent,
      },
      config.addresses6 ?? [],
      config.routes6 ?? [],
      options,
    );
    Object.assign(this.stats, l.stats);
    return l;
  }

  /** The next hop's MAC: the cache, else (shared address) the kernel's, from the driver's mirror. */
  private neighbourMac(now: number, ip: number): Uint8Array | undefined {
    const mac = this.neighbours.lookup(now, ip);
    if (mac !== undefined || this.hostTables === undefined) return mac;
    const known = this.hostTables.neighbour(ip);
    if (known === undefined) return undefined;
    this.neighbours.learnFromHost(now, ip, known);
    // Let the kernel re-check an entry it may hold as stale; a failure comes back as an event.
    this.hostTables.resolve(ip);
    return this.neighbours.lookup(now, ip) ?? known;
  }

  /**
   * Hand IPv4 packets of the transport's protocol (and ICMP errors quoting them) to it, and poll it with the stack.
   * A protocol has one transport; registering another for it replaces it.
   */
  register(transport: Transport): void {
    const p = transport.protocol;
    if (!Number.isInteger(p) || p < 0 || p > 255) throw new BywayError('ERR_INVALID_ARG_VALUE', `IP protocol ${p} is not 0-255`);
    this.byProtocol[p] = transport;
    this.transportList = this.byProtocol.filter((t): t is Transport => t !== undefined);
    this.flushList = this.transportList.filter((t): t is Transport & { flush(): void } => t.flush !== undefined);
    this.timers.setTransports(this.transportList);
  }

  /** Announce our addresses with gratuitous ARP (RFC 5227 section 2.3), once. */
  start(now: number): void {
    if (this.started) return;
    this.started = true;
    this.now = now;
    this.ipv6?.start(now);
    if (!this.ethernet || this.hostTables !== undefined) return; // shared address: the kernel announces it
    for (const a of this.addresses) this.sendArp(now, ArpOperation.Request, ZERO_MAC, a.address, a.address);
    this.driver.flush(now);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The poll cycle

  /** Receive and handle a batch, run due timers, flush transmits. Returns the number of frames handled. */
  poll(now: number, afterReceive?: () => boolean): number {
    this.now = now;
    if (!this.started) this.start(now);
    if (this.output.gsoPending) this.output.resumeGso(now); // what the driver had no room for goes first
    let handled = 0;
    while (handled < this.pollBudget) {
      const max = Math.min(this.driver.caps.maxBatch, this.pollBudget - handled);
      const n = this.rangesIn ? this.driver.receiveRanges!(now, max, this.onRange) : this.driver.receive(now, max, this.onFrame);
      this.flushTransports(); // nothing held waits past its batch
      if (n === 0) break;
      handled += n;
      // receiveRanges hands fewer than asked only when no more is waiting (FrameDriver.receiveRanges): asking
      // again at once (a call into the addon for a ring driver) would find nothing; what arrives meanwhile is the
      // next poll's. receive() may stop short for other reasons (a middleware dropping or delaying frames).
      if (n < max && this.rangesIn) break;
    }
    if (this.output.loopback.length > 0) {
      const queue = this.output.loopback;
      this.output.loopback = [];
      for (const packet of queue) {
        this.rxL4Trusted = true; // built here, never on a wire (and checksums may be left to a device)
        this.ipv4Input(packet, 0, packet.length, false);
      }
      this.flushTransports();
      handled += queue.length;
    }
    // The receivers' callbacks ran during the receive; what they deferred (a reply) leaves before the timers run.
    if (handled > 0 && afterReceive !== undefined && afterReceive()) this.driver.flush(now);
    if (this.ipv6 !== undefined) {
      const n = this.ipv6.poll(now);
      if (n > 0) this.flushTransports(); // its looped-back packets: GRO holds none past this poll either
      handled += n;
    }
    this.timers.poll(now);
    this.driver.flush(now);
    return handled;
  }

  /** Segments software GSO handed to the driver (gso.ts): IP datagrams and frames sent. */
  private gsoSent(v6: boolean, n: number): void {
    this.stats.ethernet.tx += n;
    if (v6) {
      this.stats.ipv6!.tx += n;
      this.stats.ipv6!.gsoSegments += n;
    }
    else {
      this.stats.ipv4.tx += n;
      this.stats.ipv4.gsoSegments += n;
    }
  }

  private flushTransports(): void {
    const list = this.flushList;
    for (let i = 0; i < list.length; i++) list[i]!.flush();
  }

  /** The earliest time `poll` must run even if no frame arrives; `now` itself when work is waiting. */
  pollAt(now: number): number | undefined {
    if (this.output.loopback.length > 0 || this.output.gsoPending) return now;
    return minTime(this.timersAt(now), this.driver.pollAt?.(now));
  }

  /**
   * `pollAt` without the driver (Pollable.timersAt): when the stack's own work (timers, output waiting for a
   * transmit buffer, looped-back packets, the rest of a GSO packet) needs a poll, whatever the receive ring holds. A busy-polling driver
   * answers `now` to pollAt on every call; this tells a busy loop whether it may spin on the ring first.
   */
  timersAt(now: number): number | undefined {
    if (this.output.loopback.length > 0 || this.output.gsoPending) return now;
    let at = minTime(this.neighbours.pollAt(), this.reassembler.pollAt());
    if (this.ipv6 !== undefined) at = minTime(at, this.ipv6.pollAt(now));
    for (const t of this.transportList) at = minTime(at, t.pollAt(now));
    return at;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Addresses and routes

  /**
   * An address this stack answers itself, without the driver: its own addresses and, as on a host, the whole of
   * loopback 127.0.0.0/8 (RFC 1122 3.2.1.3 (g)), which no frame on the wire may carry (see isMartianSource).
   */
  isLocalAddress(ip: number): boolean {
    if (ip >>> 24 === 127) return true;
    return this.isOwnAddress(ip);
  }

  /** One of the addresses configured on the interface (what ARP answers for). */
  isOwnAddress(ip: number): boolean {
    const addrs = this.addresses;
    for (let i = 0; i < addrs.length; i++) if (addrs[i]!.address === ip) return true;
    return false;
  }

  isBroadcastFor(ip: number): boolean {
    if (ip === IPV4_BROADCAST) return true;
    const addrs = this.addresses;
    for (let i = 0; i < addrs.length; i++) if (directedBroadcast(addrs[i]!) === ip) return true;
    return false;
  }

  private onLinkSource(ip: number): number | undefined {
    for (const a of this.addresses) if (cidrContains(a, ip)) return a.address;
    return undefined;
  }

  /** The source address to use towards dst, or undefined when there is no route. */
  sourceFor(dst: number): number | undefined {
    if (this.isOwnAddress(dst)) return dst;
    if (dst >>> 24 === 127) return LOOPBACK_SOURCE;
    if (dst === IPV4_BROADCAST || isMulticast(dst)) return this.addresses[0]?.address;
    return this.routes.lookupRoute(dst)?.source;
  }

  /** The path MTU towards dst: the route's or interface's, lowered by what ICMP taught us (RFC 1191). */
  mtuFor(dst: number): number {
    return this.output.mtuFor(this.time(), dst);
  }

  linkMtuFor(dst: number): number {
    return this.output.linkMtuFor(dst);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Receive

  private readonly onFrame = (frame: Uint8Array, flags?: number): void => this.frameIn(frame, 0, frame.length, flags ?? 0);
  private readonly onRange = (buf: Uint8Array, start: number, end: number, flags: number): void => this.frameIn(buf, start, end, flags);

  /** One received frame, frame[s, e). */
  private frameIn(frame: Uint8Array, s: number, e: number, flags: number): void {
    this.rxL4Trusted = (flags & RxFlag.L4ChecksumValid) !== 0;
    if (!this.ethernet) {
      this.ipv4Input(frame, s, e, true);
      return;
    }
    // The hot path reads the header in place (no view objects): destination, then the EtherType.
    const st = this.stats.ethernet;
    st.rx++;
    if (e - s < ETHERNET_HEADER_LEN) {
      st.truncated++;
      return;
    }
    let type = (frame[s + 12]! << 8) | frame[s + 13]!;
    let hl = ETHERNET_HEADER_LEN;
    let vlan: number | undefined;
    if (type === EtherType.VLAN) {
      if (e - s < ETHERNET_HEADER_LEN + VLAN_TAG_LEN) {
        st.truncated++;
        return;
      }
      vlan = ((frame[s + 14]! << 8) | frame[s + 15]!) & 0x0fff;
      type = (frame[s + 16]! << 8) | frame[s + 17]!;
      hl += VLAN_TAG_LEN;
    }
    if (vlan !== this.vlan) {
      st.vlanMismatch++;
      return;
    }
    const m = this.mac;
    const broadcast = (frame[s]! & frame[s + 1]! & frame[s + 2]! & frame[s + 3]! & frame[s + 4]! & frame[s + 5]!) === 0xff;
    if (
      !broadcast &&
      (frame[s] !== m[0] || frame[s + 1] !== m[1] || frame[s + 2] !== m[2] || frame[s + 3] !== m[3] || frame[s + 4] !== m[4] || frame[s + 5] !== m[5])
    ) {
      // IPv6 multicast (33:33:xx, RFC 2464 section 7): the IPv6 layer keeps the groups it listens to.
      if (type === EtherType.IPv6 && this.ipv6 !== undefined && frame[s] === 0x33 && frame[s + 1] === 0x33) {
        this.ipv6.input(this.time(), frame.subarray(s, e), hl, true, this.rxL4Trusted);
        return;
      }
      // IPv4 multicast (01:00:5e, RFC 1112 6.4): ipv4Input keeps the groups the interface joined.
      if (type === EtherType.IPv4 && frame[s] === 0x01 && frame[s + 1] === 0x00 && frame[s + 2] === 0x5e) {
        this.ipv4Input(frame, s + hl, e, true);
        return;
      }
      st.notForUs++;
      return;
    }
    if (type === EtherType.IPv4) this.ipv4Input(frame, s + hl, e, true);
    else if (type === EtherType.ARP) this.arpInput(frame.subarray(s + hl, e));
    else if (type === EtherType.IPv6 && this.ipv6 !== undefined) this.ipv6.inputRange(this.time(), frame, s + hl, e, broadcast, this.rxL4Trusted);
    else st.unknownEthertype++;
  }

  private arpInput(buf: Uint8Array): void {
    const st = this.stats.arp;
    if (this.hostTables !== undefined) {
      st.hostOwned++; // shared address: the kernel answers and learns from ARP, never byway
      return;
    }
    st.rx++;
    const check = ArpPacket.check(buf);
    if (check !== 'ok') {
      if (check === 'truncated') st.truncated++;
      else st.unsupported++;
      return;
    }
    const p = ArpPacket.checked(buf)!;
    const op = p.operation;
    const senderIp = p.senderIp;
    const senderHw = p.senderHw;
    if (op === ArpOperation.Request) st.requestsReceived++;
    else if (op === ArpOperation.Reply) st.repliesReceived++;
    else {
      st.unsupported++;
      return;
    }
    // A sender that claims a broadcast/multicast MAC or address is never learned.
    if (isMulticastMac(senderHw) || senderIp === IPV4_BROADCAST || isMulticast(senderIp)) {
      st.badSender++;
      return;
    }
    if (this.isOwnAddress(senderIp)) {
      // Someone else claims our address (RFC 5227 conflict), or our own announcement looped back.
      if (!macEquals(senderHw, this.mac)) st.conflicts++;
      return;
    }
    const targetIsUs = this.isOwnAddress(p.targetIp);
    // senderIp 0 is an RFC 5227 probe: answer it, learn nothing.
    if (senderIp !== 0) this.neighbours.learn(this.time(), senderIp, senderHw, targetIsUs, op === ArpOperation.Request);
    if (op === ArpOperation.Request && targetIsUs && this.answerArp) {
      this.sendArp(this.time(), ArpOperation.Reply, senderHw, senderIp, p.targetIp, senderHw);
      st.repliesSent++;
    }
  }

  /**
   * The last source address from the wire found not martian: a flow's packets come from one address, and the check
   * scans the addresses twice (about 1 % of a 64 B transaction in memory, 2026-12-04). Exact: the answer depends
   * on `src` and the IPv4 addresses alone, fixed for the stack's life. -1 matches no address.
   */
  private saneSource = -1;

  /** isMartianSource, remembering a source that is not (saneSource). */
  private martian(src: number): boolean {
    if (this.isMartianSource(src)) return true;
    this.saneSource = src;
    return false;
  }

  /** A source address no packet from the wire may carry (see ipv4Input). */
  private isMartianSource(src: number): boolean {
    const first = src >>> 24;
    return first === 0 || first === 127 || src === IPV4_BROADCAST || isMulticast(src) || this.isBroadcastFor(src) || this.isLocalAddress(src);
  }

  /**
   * The IPv4 packet starting `off` bytes into `frame` (after the link header). `fromWire` false: a packet of our
   * own, from the loopback queue. The header is read in place: a TCP segment goes on as one view of its bytes,
   * with no packet object; other protocols get an Ipv4Packet view.
   */
  /** The IPv4 packet at frame[off, limit) (limit: the frame's end, which may run past the packet's). */
  private ipv4Input(frame: Uint8Array, off: number, limit: number, fromWire: boolean): void {
    const st = this.stats.ipv4;
    st.rx++;
    const check = Ipv4Packet.checkAt(frame, off, limit);
    if (check !== 'ok') {
      if (check === 'truncated') st.truncated++;
      else if (check === 'bad-version') st.badVersion++;
      else if (check === 'bad-ihl') st.badIhl++;
      else st.badLength++;
      return;
    }
    const headerLen = (frame[off]! & 0x0f) * 4;
    const end = off + read16(frame, off + 2);
    if (this.csum.ipRx && onesSum(frame, off, off + headerLen) !== 0xffff) {
      st.badChecksum++;
      return;
    }
    const dst = read32(frame, off + 16);
    const src = read32(frame, off + 12);
    let broadcast = false;
    // 127.0.0.0/8 is answered for our own packets only: from the wire it is a martian destination (RFC 1122
    // 3.2.1.3 (g)), dropped as Linux does, so a service bound to loopback cannot be reached from the link.
    if (fromWire && dst >>> 24 === 127) {
      st.notForUs++;
      return;
    }
    if (!this.isLocalAddress(dst)) {
      if (this.isBroadcastFor(dst)) broadcast = true;
      else if (isMulticast(dst)) {
        if (!this.igmp.accepts(dst, src)) return; // counted there (notJoined, sourceFiltered)
        broadcast = true; // to a group: never answered with an ICMP error, never TCP (RFC 1122 3.2.2)
      } else {
        st.notForUs++;
        return;
      }
    }
    // RFC 1122 3.2.1.3, as Linux's martian checks: from the wire, a source that is "this network" (0/8),
    // loopback (127/8), broadcast (limited or directed to an attached subnet), multicast, or one of our own
    // addresses (a "land" packet, which would make us answer ourselves) is martian.
    // Linux's exception (ip_route_input_mc): source 0.0.0.0 is taken for IGMP and link-local groups (224.0.0.0/24),
    // as a snooping bridge's querier sends its queries (RFC 4541 2.1.1).
    const zeroOk = src === 0 && isMulticast(dst) && (dst >>> 8 === 0xe00000 || frame[off + 9] === IGMP_PROTOCOL);
    if (fromWire ? src !== this.saneSource && this.martian(src) && !zeroOk : src === IPV4_BROADCAST || isMulticast(src)) {
      st.badSource++;
      return;
    }
    if (headerLen > IPV4_HEADER_LEN) {
      st.withOptions++;
      const options = checkIpv4Options(frame.subarray(off, end), headerLen);
      if (options !== 'ok') {
        if (options === 'malformed') st.badOptions++;
        else st.sourceRouted++;
        return;
      }
    }
    let buf = frame;
    let ipOff = off;
    let ipEnd = end;
    let trusted = this.rxL4Trusted;
    if ((read16(frame, off + 6) & 0x3fff) !== 0) {
      // MF or a fragment offset: a fragment.
      const whole = this.reassembler.input(this.time(), Ipv4Packet.uncheckedAt(frame, off));
      this.timers.wake(); // a datagram may be held now (its deadline) or gone
      if (whole === undefined) return;
      buf = whole;
      ipOff = 0;
      ipEnd = whole.length;
      trusted = false; // a device's verdict covers one frame, not a datagram built from several
    }
    st.delivered++;
    const proto = buf[ipOff + 9]!;
    const t = this.byProtocol[proto];
    if (t !== undefined) {
      t.input(this.time(), buf, ipOff, ipOff + headerLen, ipEnd, src, dst, broadcast, trusted);
      return;
    }
    st.unknownProtocol++;
    if (!broadcast) this.icmp.sendError(this.time(), buf, ipOff, ipEnd, IcmpType.DestUnreachable, UnreachableCode.Protocol, 0);
  }

  /** TransportHost: an ICMP error about the IPv4 packet at buf[ipOff, end). */
  sendIcmpError(buf: Uint8Array, ipOff: number, end: number, type: number, code: number, mtu: number): void {
    this.icmp.sendError(this.time(), buf, ipOff, end, type, code, mtu);
  }

  /** TransportHost: send what is queued. */
  flush(now: number): void {
    this.driver.flush(now);
  }

  wakeTimers(): void {
    this.timers.wake();
  }

  /** Send an echo request (see Icmp4.ping). */
  ping(now: number, dst: number, options: PingOptions, cb: (r: PingResult) => void): number {
    this.now = now;
    return this.icmp.ping(now, dst, options, cb);
  }

  /**
   * TransportHost: RFC 1122 2.3.2.1 / 4.2.3.5 negative advice from a transport whose peer `dst` stopped answering:
   * check the next hop's MAC again (a gateway, or dst itself on-link).
   */
  negativeAdvice(now: number, dst: number): void {
    const r = this.routes.lookupRoute(dst);
    if (r !== undefined && this.ethernet && !this.isLocalAddress(dst)) this.neighbours.advise(now, r.gateway ?? dst);
  }

  /** The next hop `hop` answered the probe negative advice started: each transport's flows routed through it are told. */
  private pathConfirmed(now: number, hop: number): void {
    const via = (dst: number): boolean => {
      const r = this.routes.lookupRoute(dst);
      return r !== undefined && (r.gateway ?? dst) === hop;
    };
    for (const t of this.transportList) t.pathConfirmed?.(now, via);
  }

  private sendArp(now: number, op: number, dstMac: Uint8Array, targetIp: number, senderIp: number, targetHw: Uint8Array = ZERO_MAC): void {
    if (!this.ethernet) return;
    const len = this.l2len + ARP_PACKET_LEN;
    const frame = this.driver.txReserve(len);
    if (frame === null) return;
    // A request goes to dstMac: broadcast, or the MAC a neighbour probe checks (given ZERO_MAC: broadcast too).
    this.writeL2(frame, 0, op === ArpOperation.Request && dstMac === ZERO_MAC ? BROADCAST_MAC : dstMac, EtherType.ARP);
    emitArp({ operation: op, senderHw: this.mac, senderIp, targetHw, targetIp }, frame, this.l2len);
    this.driver.txCommit(now, len);
    this.stats.ethernet.tx++;
  }

  /** A whole IPv4 packet of our own (IGMP) to `mac`, copied into a driver buffer behind the link header. */
  private emitIp(now: number, packet: Uint8Array, mac: Uint8Array): void {
    const frame = this.driver.txReserve(this.l2len + packet.length);
    if (frame === null) {
      this.stats.ipv4.txNoBuffer++;
      return;
    }
    if (this.ethernet) this.writeL2(frame, 0, mac, EtherType.IPv4);
    frame.set(packet, this.l2len);
    this.driver.txCommit(now, this.l2len + packet.length);
    this.stats.ipv4.tx++;
    this.stats.ethernet.tx++;
  }

  /** TransportHost: whether a datagram we send to `group` is looped back to local sockets (a group joined here). */
  multicastMember(group: number): boolean {
    return this.igmp.has(group) || group === 0xe0000001;
  }

  /** The Ethernet header (and 802.1Q tag) at the frame's start, byte by byte: no header object, no `set` call. */
  private writeL2(frame: Uint8Array, at: number, dst: Uint8Array, ethertype: number): void {
    const m = this.mac;
    frame[at] = dst[0]!;
    frame[at + 1] = dst[1]!;
    frame[at + 2] = dst[2]!;
    frame[at + 3] = dst[3]!;
    frame[at + 4] = dst[4]!;
    frame[at + 5] = dst[5]!;
    frame[at + 6] = m[0]!;
    frame[at + 7] = m[1]!;
    frame[at + 8] = m[2]!;
    frame[at + 9] = m[3]!;
    frame[at + 10] = m[4]!;
    frame[at + 11] = m[5]!;
    if (this.vlan === undefined) {
      frame[at + 12] = ethertype >>> 8;
      frame[at + 13] = ethertype & 0xff;
      return;
    }
    emitEthernet({ dst, src: m, ethertype, vlan: this.vlan }, frame, at);
  }
}

function minTime(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

function randomMac(rng: Rng): Uint8Array {
  const mac = new Uint8Array(6);
  const a = rng.nextU32();
  const b = rng.nextU32();
  mac[0] = ((a & 0xfc) | 0x02) & 0xfe; // locally administered, unicast
  mac[1] = a >>> 8;
  mac[2] = a >>> 16;
  mac[3] = a >>> 24;
  mac[4] = b;
  mac[5] = b >>> 8;
  return mac;
}
