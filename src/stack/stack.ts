/**
 * The stack core: one interface over one FrameDriver, with ARP, IPv4 (fragmentation and reassembly), ICMP, UDP
 * and the TCP layer. Sans-IO: it never reads a clock or sets a timer. The runtime (or a test) calls `poll(now)`
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
import { RxFlag, type FlowSteering, type FrameDriver, type HostRoute, type HostTables } from '../../drivers/types.js';
import { BywayError } from '../../protocols/util/errors.js';
import type { Rng } from '../../protocols/util/rng.js';
import { read16, read32, write16 } from '../../protocols/util/bytes.js';
import { checksum, onesSum, pseudoHeaderSum, updateChecksum16 } from '../../protocols/util/checksum.js';
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
import {
  IPV4_FLAG_DF,
  IPV4_HEADER_LEN,
  IpProtocol,
  Ipv4Packet,
} from '../../protocols/ipv4/wire.js';
import { checkIpv4Options } from '../../protocols/ipv4/options.js';
import { directedBroadcast, isMulticast, IPV4_BROADCAST, type Ipv4Cidr, cidrContains } from '../../protocols/ipv4/address.js';
import { Reassembler, type ReassemblyOptions } from '../../protocols/ipv4/reassembly.js';
import { ICMP_HEADER_LEN, IcmpPacket, IcmpType, UnreachableCode, emitIcmp, parseIcmp } from '../../protocols/icmp/wire.js';
import { UDP_HEADER_LEN, writeUdpHeader } from '../../protocols/udp/wire.js';
import { TcpLayer, type TcpOptions } from '../../protocols/tcp/layer.js';
import { NeighbourCache, type NeighbourOptions } from './neighbour.js';
import { RoutingTable } from './routing.js';
import { UdpTable, type UdpOptions, type UdpSocket } from './udp.js';
import { newStats, type StackStats } from './stats.js';
import { TcpGro } from './gro.js';
import { Ipv4Output, TxKind, type TxPacket } from './ipv4-output.js';
import { Ipv6Layer, type Ipv6Options, type Ipv6RouteConfig } from './ipv6.js';
import type { Ipv6Cidr } from '../../protocols/ipv6/address.js';
import { PingTable } from './ping-table.js';

export interface IcmpOptions {
  /** ICMP errors (port/protocol unreachable) per second, token bucket (Linux's icmp_msgs_per_sec is 1000). */
  errorRatePerSec: number;
  errorBurst: number;
  /** Answer echo requests. Default true. */
  echoReplies: boolean;
  /** Lowest path MTU a fragmentation-needed message may set (RFC 1191 safeguard; Linux's min_pmtu is 552). */
  minPmtu: number;
  /** How long a learned path MTU holds before it is forgotten (RFC 1191 section 6.3: 10 minutes). */
  pmtuExpiryMs: number;
}

/** The source of a packet to 127.0.0.0/8 other than our own addresses, as Linux picks it (127.0.0.1). */
const LOOPBACK_SOURCE = 0x7f000001;
/** Drivers some stack owns (weakly held: a dropped stack and driver are not kept alive by this). */
const DRIVERS_IN_USE = new WeakSet<FrameDriver>();

export const DEFAULT_ICMP_OPTIONS: IcmpOptions = {
  errorRatePerSec: 1000,
  errorBurst: 50,
  echoReplies: true,
  minPmtu: 552,
  pmtuExpiryMs: 600_000,
};

export interface RouteConfig {
  readonly destination: Ipv4Cidr;
  readonly gateway?: number | undefined;
  readonly metric?: number | undefined;
  readonly mtu?: number | undefined;
}

export interface StackConfig {
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
  /** TCP options (buffers, timers, limits; see protocols/tcp/options.ts). `false` leaves TCP out. */
  readonly tcp?: Partial<Omit<TcpOptions, 'rng'>> | false | undefined;
  /** Frames handled per poll before returning (keeps the event loop responsive). Default 256. */
  readonly pollBudget?: number | undefined;
  /**
   * Software GRO (src/stack/gro.ts): merge a receive batch's in-order TCP segments of one flow before the TCP
   * layer. Default true; needs TCP.
   */
  readonly gro?: boolean | undefined;
}

export type PingResult =
  | { readonly ok: true; readonly rttMs: number; readonly ttl: number; readonly bytes: number; readonly from: number; readonly seq: number }
  | { readonly ok: false; readonly error: BywayError; readonly seq: number };

export interface PingOptions {
  /** Echo data length (default 56, like ping(8)). */
  readonly size?: number;
  readonly timeoutMs?: number;
  readonly ttl?: number;
  /** Fill byte pattern (default 0x00, 0x01, ...). */
  readonly data?: Uint8Array;
}

interface PendingPing {
  readonly key: number;
  readonly dst: number;
  readonly sentAt: number;
  readonly deadline: number;
  readonly bytes: number;
  readonly seq: number;
  readonly cb: (r: PingResult) => void;
}

/** Callbacks for things the stack core cannot decide itself (TCP is attached through this). */
export interface TransportHandler {
  input(now: number, src: number, dst: number, segment: Uint8Array): void;
  /** Returns whether the error matched something of the transport's (RFC 5927 validation). */
  icmpError(now: number, src: number, dst: number, quoted: Uint8Array, kind: 'unreachable' | 'frag-needed' | 'ttl-exceeded', code: number, mtu: number): boolean;
  poll(now: number): void;
  pollAt(now: number): number | undefined;
}

export class NetStack {
  readonly driver: FrameDriver;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly addresses: readonly Ipv4Cidr[];
  readonly routes = new RoutingTable();
  readonly neighbours: NeighbourCache;
  readonly reassembler: Reassembler;
  readonly udp: UdpTable;
  /** The TCP layer, unless the stack was built with `tcp: false`. */
  readonly tcp: TcpLayer | undefined;
  /** Software GRO in front of the TCP layer, unless the stack was built with `gro: false` (or without TCP). */
  readonly gro: TcpGro | undefined;
  readonly stats: StackStats;
  /** IPv4 transmit: the transmit token, fragmentation, the path MTU table. */
  readonly output: Ipv4Output;
  readonly icmpOptions: IcmpOptions;
  readonly vlan: number | undefined;
  /** IPv6 (src/stack/ipv6.ts), when the stack was given IPv6 addresses or the `ipv6` option. */
  readonly ipv6: Ipv6Layer | undefined;
  /** TCP, or another transport keyed by IP protocol number. Attach with `attachTransport`. */
  readonly transports = new Map<number, TransportHandler>();
  private transportList: TransportHandler[] = [];

  private readonly ttl: number;
  private readonly l2len: number;
  private readonly ethernet: boolean;
  private readonly pollBudget: number;
  private readonly csum: { ipTx: boolean; ipRx: boolean; icmpTx: boolean; icmpRx: boolean; udpTx: boolean; udpRx: boolean };
  private now = 0;
  private readonly pings = new PingTable<PendingPing>();
  private readonly pingIdent: number;
  private errorTokens: number;
  private errorTokensAt = 0;
  private started = false;

  /** The frame being received came with RxFlag.L4ChecksumValid (or from our own loopback): skip the TCP/UDP check. */
  private rxL4Trusted = false;
  /** The driver's flow steering, when it shares its address with the kernel (claims ports for our sockets). */
  private readonly flows: FlowSteering | undefined;
  /** The kernel's tables, when the kernel resolves neighbours for us (no ARP of our own). */
  private readonly hostTables: HostTables | undefined;
  private pingClaimed = false;

  constructor(config: StackConfig) {
    const ipv6On = (config.addresses6?.length ?? 0) > 0 || (config.ipv6 !== undefined && config.ipv6 !== false);
    if (config.addresses.length === 0 && !ipv6On) throw new BywayError('ERR_INVALID_ARG_VALUE', 'a stack needs at least one address');
    // A driver belongs to one stack: two would split its frames between them (one's ARP reply swallowed by the
    // other), which fails far from the cause. Closing the driver (the API's stack.close()) ends the claim.
    if (DRIVERS_IN_USE.has(config.driver)) {
      throw new BywayError('EBUSY', 'this driver already belongs to another stack: a driver serves one stack (close that stack, or open a second driver)');
    }
    DRIVERS_IN_USE.add(config.driver);
    this.driver = config.driver;
    this.ethernet = config.driver.caps.medium === 'ethernet';
    this.vlan = config.vlan;
    this.l2len = this.ethernet ? ETHERNET_HEADER_LEN + (config.vlan !== undefined ? VLAN_TAG_LEN : 0) : 0;
    this.mtu = Math.min(config.mtu ?? config.driver.caps.mtu, config.driver.caps.mtu);
    if (this.mtu < 68) throw new BywayError('ERR_INVALID_ARG_VALUE', `MTU ${this.mtu} is below IPv4's minimum of 68`);
    this.mac = (config.mac ?? config.driver.hwAddress ?? randomMac(config.rng)).slice(0, 6);
    this.addresses = config.addresses.map((a) => ({ address: a.address >>> 0, prefixLen: a.prefixLen }));
    this.ttl = config.ttl ?? 64;
    this.pollBudget = config.pollBudget ?? 256;
    this.icmpOptions = { ...DEFAULT_ICMP_OPTIONS, ...config.icmp };
    this.errorTokens = this.icmpOptions.errorBurst;
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
    const tsoMax = tso !== undefined && c.tcp.tx === 'offload' && tso.maxBytes > this.mtu ? Math.min(tso.maxBytes, 65535) : 0;
    const ident = config.rng.nextU32();
    this.pingIdent = config.rng.nextU32() & 0xffff;
    this.flows = config.driver.flows;
    this.hostTables = config.driver.hostTables;
    const hostTables = this.hostTables;
    this.neighbours = new NeighbourCache(
      {
        sendRequest: hostTables
          ? (_now, ip) => hostTables.resolve(ip)
          : (now, ip) => this.sendArp(now, ArpOperation.Request, ZERO_MAC, ip, this.sourceFor(ip) ?? this.addresses[0]?.address ?? 0),
        sendResolved: (now, frame, mac, segment) => this.output.sendResolved(now, frame, mac, segment),
      },
      config.neighbour,
    );
    this.reassembler = new Reassembler(config.reassembly);
    this.udp = new UdpTable(
      {
        sendUdp: (now, sock, dstIp, dstPort, data) => this.sendUdp(now, sock, dstIp, dstPort, data),
        isLocalAddress: (ip) => this.isLocalAddress(ip),
        ...(ipv6On && {
          sendUdp6: (now: number, sock: UdpSocket, dst: Uint8Array, dstPort: number, data: Uint8Array) => this.ipv6!.sendUdp(now, sock, dst, dstPort, data),
          isLocalAddress6: (ip: Uint8Array) => this.ipv6!.isLocal(ip),
        }),
        ...this.portClaims('udp'),
      },
      config.rng,
      config.udp,
    );
    this.stats = newStats(this.neighbours.stats, this.reassembler.stats, this.udp.stats);
    this.ipv6 = ipv6On ? this.makeIpv6(config) : undefined;
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
        writeL2: (frame, dst, ethertype) => this.writeL2(frame, dst, ethertype),
      },
      ident,
      tsoMax,
    );
    if (config.tcp !== false) {
      const tcp = new TcpLayer(this.tcpHost(), { ...config.tcp, rng: config.rng });
      this.tcp = tcp;
      this.stats.tcp = tcp.stats;
      this.attachTransport(IpProtocol.TCP, {
        input: (now, src, dst, segment) => tcp.input(now, src, dst, segment),
        icmpError: (now, src, dst, quoted, kind, code, mtu) => {
          // The layer counts every error it cannot match to a connection and in-flight sequence in icmpIgnored.
          const ignoredBefore = tcp.stats.icmpIgnored;
          tcp.icmpError(now, src, dst, read16(quoted, 0), read16(quoted, 2), read32(quoted, 4), kind, code, mtu);
          return tcp.stats.icmpIgnored === ignoredBefore;
        },
        poll: (now) => tcp.poll(now),
        pollAt: (now) => tcp.pollAt(now),
      });
    } else {
      this.tcp = undefined;
    }
    if (this.tcp !== undefined && config.gro !== false) {
      const tcp = this.tcp;
      const gro = new TcpGro((src, dst, buf, start, end, trusted) => {
        this.rxL4Trusted = trusted;
        tcp.inputAt(this.now, src, dst, buf, start, end);
      }, c.tcp.rx === 'verify');
      this.gro = gro;
      this.stats.gro = gro.stats;
    } else {
      this.gro = undefined;
    }
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
    if (hostTables !== undefined) this.mirrorHostTables(hostTables);
  }

  private makeIpv6(config: StackConfig): Ipv6Layer {
    if (!this.ethernet) throw new BywayError('ERR_INVALID_ARG_VALUE', 'IPv6 needs an Ethernet driver');
    const options = typeof config.ipv6 === 'object' ? config.ipv6 : {};
    const l = new Ipv6Layer(
      { driver: this.driver, mac: this.mac, l2len: this.l2len, vlan: this.vlan, mtu: this.mtu, ethernet: this.stats.ethernet, rng: config.rng, udp: this.udp },
      config.addresses6 ?? [],
      config.routes6 ?? [],
      options,
    );
    Object.assign(this.stats, l.stats);
    return l;
  }

  /** Claim/release hooks for a transport's ports when the driver steers flows (shared address), else nothing. */
  private portClaims(protocol: 'tcp' | 'udp'): { claimPort?: (port: number) => boolean; releasePort?: (port: number) => void } {
    const flows = this.flows;
    if (flows === undefined) return {};
    return {
      claimPort: (port) => flows.claim({ protocol, port }),
      releasePort: (port) => flows.release({ protocol, port }),
    };
  }

  /**
   * Shared address: take the kernel's routes and follow their changes. Neighbours stay in the driver's mirror of the
   * kernel's table and enter the cache when a packet needs them; a change to one already cached applies at once.
   */
  private mirrorHostTables(host: HostTables): void {
    for (const r of host.routes()) this.hostRoute('add', r);
    host.setListener({
      neighbour: (ip, mac) => this.neighbours.learnFromHost(this.now, ip >>> 0, mac, false),
      route: (change, route) => this.hostRoute(change, route),
    });
  }

  private hostRoute(change: 'add' | 'delete', r: HostRoute): void {
    const own = r.gateway === undefined && this.addresses.some((a) => a.prefixLen === r.destination.prefixLen && cidrContains(a, r.destination.address));
    if (own) return; // the interface's own prefix: routed already
    if (change === 'delete') {
      this.routes.remove(r.destination);
      return;
    }
    const src = r.gateway !== undefined ? this.onLinkSource(r.gateway) : this.addresses[0]?.address;
    if (src === undefined) return; // a gateway off our prefixes: unusable here
    this.routes.remove(r.destination);
    this.routes.add({ destination: r.destination, gateway: r.gateway, source: src, metric: r.metric, mtu: r.mtu });
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

  /** Hand IPv4 packets of `protocol` (and ICMP errors about them) to `handler`, and poll it with the stack. */
  attachTransport(protocol: number, handler: TransportHandler): void {
    if (protocol === IpProtocol.ICMP || protocol === IpProtocol.UDP) {
      throw new BywayError('ERR_INVALID_ARG_VALUE', 'ICMP and UDP are built into the stack');
    }
    this.transports.set(protocol, handler);
    this.transportList = [...this.transports.values()];
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
  poll(now: number): number {
    this.now = now;
    if (!this.started) this.start(now);
    let handled = 0;
    while (handled < this.pollBudget) {
      const n = this.driver.receive(now, Math.min(this.driver.caps.maxBatch, this.pollBudget - handled), this.onFrame);
      this.gro?.flush(); // nothing held waits past its batch
      if (n === 0) break;
      handled += n;
    }
    if (this.output.loopback.length > 0) {
      const queue = this.output.loopback;
      this.output.loopback = [];
      for (const packet of queue) {
        this.rxL4Trusted = true; // built here, never on a wire (and checksums may be left to a device)
        this.ipv4Input(packet, 0, false);
      }
      this.gro?.flush();
      handled += queue.length;
    }
    if (this.ipv6 !== undefined) handled += this.ipv6.poll(now);
    this.neighbours.poll(now);
    this.reassembler.poll(now);
    if (this.pings.size > 0) this.pings.expire(now);
    for (const t of this.transportList) t.poll(now);
    this.driver.flush(now);
    return handled;
  }

  /** The earliest time `poll` must run even if no frame arrives; `now` itself when work is waiting. */
  pollAt(now: number): number | undefined {
    if (this.output.loopback.length > 0) return now;
    let at = minTime(this.neighbours.pollAt(), this.reassembler.pollAt());
    at = minTime(at, this.driver.pollAt?.(now));
    if (this.ipv6 !== undefined) at = minTime(at, this.ipv6.pollAt(now));
    if (this.pings.size > 0) at = minTime(at, this.pings.pollAt());
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

  private isBroadcastFor(ip: number): boolean {
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
    if (dst === IPV4_BROADCAST) return this.addresses[0]?.address;
    return this.routes.lookupRoute(dst)?.source;
  }

  /** The path MTU towards dst: the route's or interface's, lowered by what ICMP taught us (RFC 1191). */
  mtuFor(dst: number): number {
    return this.output.mtuFor(this.now, dst);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Receive

  private readonly onFrame = (frame: Uint8Array, flags?: number): void => {
    this.rxL4Trusted = flags !== undefined && (flags & RxFlag.L4ChecksumValid) !== 0;
    if (!this.ethernet) {
      this.ipv4Input(frame, 0, true);
      return;
    }
    // The hot path reads the header in place (no view objects): destination, then the EtherType.
    const st = this.stats.ethernet;
    st.rx++;
    if (frame.length < ETHERNET_HEADER_LEN) {
      st.truncated++;
      return;
    }
    let type = (frame[12]! << 8) | frame[13]!;
    let hl = ETHERNET_HEADER_LEN;
    let vlan: number | undefined;
    if (type === EtherType.VLAN) {
      if (frame.length < ETHERNET_HEADER_LEN + VLAN_TAG_LEN) {
        st.truncated++;
        return;
      }
      vlan = ((frame[14]! << 8) | frame[15]!) & 0x0fff;
      type = (frame[16]! << 8) | frame[17]!;
      hl += VLAN_TAG_LEN;
    }
    if (vlan !== this.vlan) {
      st.vlanMismatch++;
      return;
    }
    const m = this.mac;
    const broadcast = (frame[0]! & frame[1]! & frame[2]! & frame[3]! & frame[4]! & frame[5]!) === 0xff;
    if (
      !broadcast &&
      (frame[0] !== m[0] || frame[1] !== m[1] || frame[2] !== m[2] || frame[3] !== m[3] || frame[4] !== m[4] || frame[5] !== m[5])
    ) {
      // IPv6 multicast (33:33:xx, RFC 2464 section 7): the IPv6 layer keeps the groups it listens to.
      if (type === EtherType.IPv6 && this.ipv6 !== undefined && frame[0] === 0x33 && frame[1] === 0x33) {
        this.ipv6.input(this.now, frame, hl, true, this.rxL4Trusted);
        return;
      }
      st.notForUs++;
      return;
    }
    if (type === EtherType.IPv4) this.ipv4Input(frame, hl, true);
    else if (type === EtherType.ARP) this.arpInput(frame.subarray(hl));
    else if (type === EtherType.IPv6 && this.ipv6 !== undefined) this.ipv6.input(this.now, frame, hl, broadcast, this.rxL4Trusted);
    else st.unknownEthertype++;
  };

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
    if (senderIp !== 0) this.neighbours.learn(this.now, senderIp, senderHw, targetIsUs, op === ArpOperation.Request);
    if (op === ArpOperation.Request && targetIsUs) {
      this.sendArp(this.now, ArpOperation.Reply, senderHw, senderIp, p.targetIp, senderHw);
      st.repliesSent++;
    }
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
  private ipv4Input(frame: Uint8Array, off: number, fromWire: boolean): void {
    const st = this.stats.ipv4;
    st.rx++;
    const check = Ipv4Packet.checkAt(frame, off);
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
      else {
        st.notForUs++;
        return;
      }
    }
    // RFC 1122 3.2.1.3, as Linux's martian checks: from the wire, a source that is "this network" (0/8),
    // loopback (127/8), broadcast (limited or directed to an attached subnet), multicast, or one of our own
    // addresses (a "land" packet, which would make us answer ourselves) is martian.
    if (fromWire ? this.isMartianSource(src) : src === IPV4_BROADCAST || isMulticast(src)) {
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
    let p: Ipv4Packet;
    if ((read16(frame, off + 6) & 0x3fff) !== 0) {
      // MF or a fragment offset: a fragment.
      const whole = this.reassembler.input(this.now, Ipv4Packet.uncheckedAt(frame, off));
      if (whole === undefined) return;
      p = Ipv4Packet.unchecked(whole);
      this.rxL4Trusted = false; // a device's verdict covers one frame, not a datagram built from several
    } else {
      const proto = frame[off + 9]!;
      if (proto === IpProtocol.UDP) {
        st.delivered++;
        this.udpInput(frame, off, headerLen, end, src, dst, broadcast);
        return;
      }
      if (proto === IpProtocol.TCP && this.gro !== undefined && !broadcast) {
        st.delivered++;
        this.gro.inputAt(src, dst, (frame[off + 1]! << 8) | frame[off + 8]!, frame, off + headerLen, end, this.rxL4Trusted); // TOS, TTL
        return;
      }
      p = Ipv4Packet.uncheckedAt(frame, off);
    }
    st.delivered++;
    const proto = p.protocol;
    if (proto === IpProtocol.TCP && this.gro !== undefined && !broadcast) {
      const ip = p.buffer;
      this.gro.input(src, dst, (ip[1]! << 8) | ip[8]!, p.payload, this.rxL4Trusted); // TOS, TTL
      return;
    }
    if (proto === IpProtocol.UDP) this.udpInput(p.buffer, 0, p.headerLen, p.buffer.length, src, dst, broadcast);
    else if (proto === IpProtocol.ICMP) this.icmpInput(p, broadcast);
    else {
      const t = this.transports.get(proto);
      if (t !== undefined) {
        if (!broadcast) t.input(this.now, src, dst, p.payload);
        return;
      }
      st.unknownProtocol++;
      if (!broadcast) this.sendIcmpError(p, IcmpType.DestUnreachable, UnreachableCode.Protocol, 0);
    }
  }

  /** The UDP datagram in the IPv4 packet buf[ipOff, ipEnd) whose header is `ipHeaderLen` bytes. */
  private udpInput(buf: Uint8Array, ipOff: number, ipHeaderLen: number, ipEnd: number, src: number, dst: number, broadcast: boolean): void {
    const st = this.stats.udp;
    st.rx++;
    // The hot path reads the UDP header in place inside the frame (the checks of UdpPacket.check, RFC 768):
    // one view per datagram (the payload handed to the socket) and one checksum pass, no header object.
    const off = ipOff + ipHeaderLen;
    if (ipEnd - off < UDP_HEADER_LEN) {
      st.truncated++;
      return;
    }
    const len = read16(buf, off + 4);
    if (len < UDP_HEADER_LEN) {
      st.badLength++;
      return;
    }
    if (len > ipEnd - off) {
      st.truncated++;
      return;
    }
    // RFC 768: a zero checksum field means the sender computed none.
    if (this.csum.udpRx && !this.rxL4Trusted && read16(buf, off + 6) !== 0 && onesSum(buf, off, off + len, pseudoHeaderSum(src, dst, IpProtocol.UDP, len)) !== 0xffff) {
      st.badChecksum++;
      return;
    }
    const srcPort = read16(buf, off);
    const dstPort = read16(buf, off + 2);
    const payload = buf.subarray(off + UDP_HEADER_LEN, off + len);
    if (broadcast) {
      const targets = this.udp.broadcastTargets(dstPort);
      for (const s of targets) if (!s.deliver(payload, src, srcPort, dst)) st.recvBufferDrops++;
      if (targets.length === 0) st.noPort++;
      return;
    }
    const sock = this.udp.lookup(dst, dstPort, src, srcPort);
    if (sock === undefined) {
      st.noPort++;
      this.sendIcmpError(Ipv4Packet.uncheckedAt(buf, ipOff), IcmpType.DestUnreachable, UnreachableCode.Port, 0);
      return;
    }
    if (!sock.deliver(payload, src, srcPort, dst)) st.recvBufferDrops++;
  }

  private icmpInput(p: Ipv4Packet, broadcast: boolean): void {
    const st = this.stats.icmp;
    st.rx++;
    const icmp = IcmpPacket.checked(p.payload);
    if (icmp === undefined) {
      st.truncated++;
      return;
    }
    if (this.csum.icmpRx && !icmp.verifyChecksum()) {
      st.badChecksum++;
      return;
    }
    const repr = parseIcmp(icmp);
    switch (repr.kind) {
      case 'echo-request':
        st.echoRequests++;
        if (broadcast) {
          st.broadcastEchoIgnored++; // RFC 1122 3.2.2.6 allows silence; it keeps us out of smurf attacks
          return;
        }
        if (this.icmpOptions.echoReplies) this.sendEchoReply(p, icmp);
        return;
      case 'echo-reply':
        this.echoReplyInput(p, repr.ident, repr.seq, repr.data.length);
        return;
      case 'dest-unreachable':
      case 'time-exceeded':
        st.errorsReceived++;
        this.icmpErrorInput(repr.kind, repr.code, repr.kind === 'dest-unreachable' ? repr.nextHopMtu : 0, repr.quoted);
        return;
      default:
        st.otherTypes++;
    }
  }

  /**
   * Hand an ICMP error to whoever sent the datagram it quotes (RFC 1122 3.2.2, RFC 5927: only when the quote names
   * one of our sockets; transports validate further, e.g. TCP checks the sequence number).
   */
  private icmpErrorInput(kind: 'dest-unreachable' | 'time-exceeded', code: number, nextHopMtu: number, quoted: Uint8Array): void {
    const st = this.stats.icmp;
    if (quoted.length < IPV4_HEADER_LEN + 8 || quoted[0]! >>> 4 !== 4) {
      st.errorsUnmatched++;
      return;
    }
    const ihl = (quoted[0]! & 0x0f) * 4;
    if (ihl < IPV4_HEADER_LEN || quoted.length < ihl + 8) {
      st.errorsUnmatched++;
      return;
    }
    const src = read32(quoted, 12);
    const dst = read32(quoted, 16);
    const proto = quoted[9]!;
    if (!this.isLocalAddress(src)) {
      st.errorsUnmatched++;
      return;
    }
    const l4 = quoted.subarray(ihl);
    const fragNeeded = kind === 'dest-unreachable' && code === UnreachableCode.FragNeeded;
    // RFC 5927 section 7.2: a path MTU is learned only from an error that a socket vouches for (TCP: a connection
    // with the quoted sequence number in flight), so a forged frag-needed cannot shrink every flow to a peer.
    const pmtu = fragNeeded ? this.pmtuCandidate(dst, nextHopMtu, read16(quoted, 2)) : undefined;
    if (proto === IpProtocol.UDP) {
      const sock = this.udp.lookup(src, read16(l4, 0), dst, read16(l4, 2));
      if (sock === undefined || (sock.connected && sock.remotePort !== read16(l4, 2))) {
        st.errorsUnmatched++;
        return;
      }
      if (pmtu !== undefined) this.storePmtu(dst, pmtu);
      this.stats.udp.icmpErrors++;
      sock.onError?.(icmpToError(kind, code));
      return;
    }
    if (proto === IpProtocol.ICMP) {
      if (l4[0] === IcmpType.EchoRequest && read16(l4, 4) === this.pingIdent) {
        const seq = read16(l4, 6);
        const ping = this.pings.get(seq);
        if (ping !== undefined && ping.dst === dst) {
          if (pmtu !== undefined) this.storePmtu(dst, pmtu);
          this.pings.delete(seq);
          ping.cb({ ok: false, error: icmpToError(kind, code), seq: ping.seq });
          return;
        }
      }
      st.errorsUnmatched++;
      return;
    }
    const t = this.transports.get(proto);
    if (t === undefined) {
      st.errorsUnmatched++;
      return;
    }
    const tkind = kind === 'time-exceeded' ? 'ttl-exceeded' : fragNeeded ? 'frag-needed' : 'unreachable';
    const validated = t.icmpError(this.now, src, dst, l4, tkind, code, pmtu ?? this.mtuFor(dst));
    if (!validated) st.errorsUnmatched++;
    else if (pmtu !== undefined) this.storePmtu(dst, pmtu);
  }

  /**
   * The path MTU a frag-needed message asks for, after RFC 1191 section 6.1's safeguards (never below minPmtu,
   * never a raise, the plateau estimate for routers that send no MTU), or undefined when it is to be ignored.
   */
  private pmtuCandidate(dst: number, nextHopMtu: number, quotedTotalLen: number): number | undefined {
    const st = this.stats.icmp;
    let mtu = nextHopMtu;
    if (mtu === 0) mtu = plateauBelow(quotedTotalLen); // RFC 1191 section 5
    if (mtu < 68) {
      st.pmtuIgnored++;
      return undefined;
    }
    mtu = Math.max(mtu, this.icmpOptions.minPmtu);
    if (mtu >= this.mtuFor(dst)) {
      st.pmtuIgnored++;
      return undefined;
    }
    return mtu;
  }

  private storePmtu(dst: number, mtu: number): void {
    this.output.learnPmtu(dst, mtu, this.now + this.icmpOptions.pmtuExpiryMs);
    this.stats.icmp.pmtuUpdates++;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // ICMP output and ping

  /**
   * Send an echo request; `cb` gets the reply's round trip or an error (ETIMEDOUT after `timeoutMs`, EHOSTUNREACH
   * when ARP gives up or ICMP says so). Returns the sequence number used.
   */
  ping(now: number, dst: number, options: PingOptions, cb: (r: PingResult) => void): number {
    this.now = now;
    const size = options.data?.length ?? options.size ?? 56;
    if (!Number.isInteger(size) || size < 0 || size > 65507) throw new BywayError('ERR_INVALID_ARG_VALUE', `ping size ${size} is out of range`);
    const seq = this.pings.allocate();
    const ping: PendingPing = {
      key: seq,
      dst,
      sentAt: now,
      deadline: now + (options.timeoutMs ?? 1000),
      bytes: size,
      seq,
      cb,
    };
    const src = this.sourceFor(dst);
    if (src === undefined) throw new BywayError('ENETUNREACH', 'no route to the destination');
    if (this.flows !== undefined && !this.pingClaimed) {
      // Shared address: echo replies carrying our identifier come to us from now on (the kernel keeps the rest).
      this.flows.claim({ protocol: 'icmp', port: this.pingIdent });
      this.pingClaimed = true;
    }
    this.pings.add(ping);
    const unreachable = (): void => this.pings.fail(seq, new BywayError('EHOSTUNREACH', 'the destination did not answer ARP'));
    const slot = this.output.begin(now, src, dst, IpProtocol.ICMP, ICMP_HEADER_LEN + size, options.ttl ?? this.ttl, 0, 0, unreachable);
    if (slot === null) {
      this.pings.delete(seq);
      throw new BywayError(this.output.error, 'cannot send the echo request');
    }
    const b = slot.buf;
    const o = slot.offset;
    b[o] = IcmpType.EchoRequest;
    b[o + 1] = 0;
    write16(b, o + 2, 0);
    write16(b, o + 4, this.pingIdent);
    write16(b, o + 6, seq);
    if (options.data !== undefined) b.set(options.data, o + ICMP_HEADER_LEN);
    else for (let i = 0; i < size; i++) b[o + ICMP_HEADER_LEN + i] = i & 0xff;
    if (this.csum.icmpTx || slot.kind === TxKind.Fragment) write16(b, o + 2, checksum(b, o, o + ICMP_HEADER_LEN + size));
    slot.commit(now);
    this.driver.flush(now);
    return seq;
  }

  private echoReplyInput(p: Ipv4Packet, ident: number, seq: number, bytes: number): void {
    const st = this.stats.icmp;
    const ping = ident === this.pingIdent ? this.pings.get(seq) : undefined;
    if (ping === undefined || ping.dst !== p.src) {
      st.unmatchedReplies++;
      return;
    }
    st.echoReplies++;
    this.pings.delete(seq);
    ping.cb({ ok: true, rttMs: this.now - ping.sentAt, ttl: p.ttl, bytes, from: p.src, seq });
  }

  private sendEchoReply(req: Ipv4Packet, icmp: IcmpPacket): void {
    const len = icmp.buffer.length;
    const slot = this.output.begin(this.now, req.dst, req.src, IpProtocol.ICMP, len, this.ttl, 0, 0, undefined);
    if (slot === null) return;
    const b = slot.buf;
    const o = slot.offset;
    b.set(icmp.buffer, o);
    b[o] = IcmpType.EchoReply;
    // RFC 1624: only the type byte changed (8 -> 0), so the checksum is updated, not recomputed.
    write16(b, o + 2, updateChecksum16(read16(b, o + 2), IcmpType.EchoRequest << 8, IcmpType.EchoReply << 8));
    if (this.csum.icmpTx || slot.kind === TxKind.Fragment) {
      write16(b, o + 2, 0);
      write16(b, o + 2, checksum(b, o, o + len));
    }
    slot.commit(this.now);
    this.stats.icmp.echoRepliesSent++;
  }

  /**
   * An ICMP error about `about` (RFC 792; RFC 1122 3.2.2 on when not to send one: never about an ICMP error, a
   * broadcast or multicast, a non-initial fragment, or a martian source). Rate-limited by a token bucket.
   */
  private sendIcmpError(about: Ipv4Packet, type: number, code: number, mtu: number): void {
    const st = this.stats.icmp;
    if (about.fragmentOffset !== 0) return;
    if (about.protocol === IpProtocol.ICMP) {
      const t = about.payload[0];
      if (t !== IcmpType.EchoRequest && t !== IcmpType.EchoReply) return;
    }
    const src = about.src;
    if (src === 0 || src === IPV4_BROADCAST || isMulticast(src) || this.isBroadcastFor(src)) return;
    if (!this.takeErrorToken(this.now)) {
      st.rateLimited++;
      return;
    }
    // Quote as much of the datagram as fits in a 576-byte reply (RFC 1812 4.3.2.3).
    const quoteLen = Math.min(about.buffer.length, 576 - IPV4_HEADER_LEN - ICMP_HEADER_LEN);
    const quoted = about.buffer.subarray(0, quoteLen);
    const repr =
      type === IcmpType.DestUnreachable
        ? ({ kind: 'dest-unreachable', code, nextHopMtu: mtu, quoted } as const)
        : ({ kind: 'time-exceeded', code, quoted } as const);
    const slot = this.output.begin(this.now, about.dst, src, IpProtocol.ICMP, ICMP_HEADER_LEN + quoteLen, this.ttl, 0, 0, undefined);
    if (slot === null) return;
    emitIcmp(repr, slot.buf, slot.offset, true);
    slot.commit(this.now);
    st.errorsSent++;
  }

  private takeErrorToken(now: number): boolean {
    const { errorRatePerSec, errorBurst } = this.icmpOptions;
    const elapsed = Math.max(0, now - this.errorTokensAt);
    this.errorTokensAt = now;
    this.errorTokens = Math.min(errorBurst, this.errorTokens + (elapsed * errorRatePerSec) / 1000);
    if (this.errorTokens < 1) return false;
    this.errorTokens -= 1;
    return true;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // UDP output

  private sendUdp(now: number, sock: UdpSocket, dstIp: number, dstPort: number, data: Uint8Array): void {
    this.now = now;
    const st = this.stats.udp;
    const broadcast = this.isBroadcastFor(dstIp);
    if (broadcast && !sock.broadcast) {
      st.txErrors++;
      throw new BywayError('EACCES', 'sending to a broadcast address needs setBroadcast(true)');
    }
    const src = sock.localIp !== 0 ? sock.localIp : this.sourceFor(dstIp);
    if (src === undefined) {
      st.txErrors++;
      throw new BywayError('ENETUNREACH', 'no route to the destination');
    }
    const len = UDP_HEADER_LEN + data.length;
    const unreachable = sock.onError !== undefined ? sock.reportUnreachable : undefined;
    const slot = this.output.begin(now, src, dstIp, IpProtocol.UDP, len, sock.ttl, 0, 0, unreachable);
    if (slot === null) {
      st.txErrors++;
      throw new BywayError(this.output.error, 'cannot send the datagram');
    }
    slot.buf.set(data, slot.offset + UDP_HEADER_LEN);
    writeUdpHeader(slot.buf, slot.offset, sock.localPort, dstPort, len, src, dstIp, this.csum.udpTx || slot.scratch);
    slot.commit(now);
    st.tx++;
  }

  private sendArp(now: number, op: number, dstMac: Uint8Array, targetIp: number, senderIp: number, targetHw: Uint8Array = ZERO_MAC): void {
    if (!this.ethernet) return;
    const len = this.l2len + ARP_PACKET_LEN;
    const frame = this.driver.txReserve(len);
    if (frame === null) return;
    this.writeL2(frame, op === ArpOperation.Request ? BROADCAST_MAC : dstMac, EtherType.ARP);
    emitArp({ operation: op, senderHw: this.mac, senderIp, targetHw, targetIp }, frame, this.l2len);
    this.driver.txCommit(now, len);
    this.stats.ethernet.tx++;
  }

  private writeL2(frame: Uint8Array, dst: Uint8Array, ethertype: number): void {
    emitEthernet({ dst, src: this.mac, ethertype, vlan: this.vlan }, frame, 0);
  }

  /** The TcpHost: TCP writes its segments straight into the packet the output lends (DF set: RFC 1191). */
  private tcpHost() {
    const tcpUnreachable = (dst: number): void => {
      // ARP gave up on the next hop: a connection still in SYN-SENT towards dst fails with EHOSTUNREACH,
      // as connect(2) does on Linux; established ones keep retransmitting until their own time-out.
      for (const c of this.tcp?.connections() ?? []) if (c.remoteIp === dst) c.icmpHardError('EHOSTUNREACH');
    };
    const caps = this.driver.caps.checksum.tcp;
    const verify = caps.rx === 'verify';
    const self = this;
    return {
      txChecksum: caps.tx === 'compute',
      get rxChecksum(): boolean {
        return verify && !self.rxL4Trusted;
      },
      txSegment: (now: number, src: number, dst: number, tcpLen: number, segment = 0): TxPacket | null =>
        this.output.begin(now, src, dst, IpProtocol.TCP, tcpLen, this.ttl, IPV4_FLAG_DF, segment, tcpUnreachable),
      tsoMaxFor: (dst: number): number => {
        const tsoMax = this.output.tsoMax;
        return tsoMax > 0 && !this.isLocalAddress(dst) && !this.isBroadcastFor(dst) ? tsoMax : 0;
      },
      mtuFor: (dst: number): number => this.mtuFor(dst),
      sourceFor: (dst: number): number | undefined => this.sourceFor(dst),
      negativeAdvice: (now: number, dst: number): void => {
        // RFC 1122 2.3.2.1 / 4.2.3.5: check the next hop's MAC again (a gateway, or dst itself on-link).
        const r = this.routes.lookupRoute(dst);
        if (r !== undefined && this.ethernet && !this.isLocalAddress(dst)) this.neighbours.advise(now, r.gateway ?? dst);
      },
      ...this.portClaims('tcp'),
    };
  }

}

function minTime(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

/** RFC 1191 section 7's plateau table: the largest plateau below a datagram's length. */
const PLATEAUS = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];
function plateauBelow(len: number): number {
  for (const p of PLATEAUS) if (p < len) return p;
  return 68;
}

function icmpToError(kind: 'dest-unreachable' | 'time-exceeded', code: number): BywayError {
  if (kind === 'time-exceeded') return new BywayError('EHOSTUNREACH', 'time to live exceeded in transit (ICMP time exceeded)');
  switch (code) {
    case UnreachableCode.Port:
      return new BywayError('ECONNREFUSED', 'port unreachable (ICMP)');
    case UnreachableCode.Net:
      return new BywayError('ENETUNREACH', 'network unreachable (ICMP)');
    case UnreachableCode.Protocol:
      return new BywayError('ENOPROTOOPT', 'protocol unreachable (ICMP)');
    case UnreachableCode.FragNeeded:
      return new BywayError('EMSGSIZE', 'fragmentation needed (ICMP)');
    default:
      return new BywayError('EHOSTUNREACH', `destination unreachable, code ${code} (ICMP)`);
  }
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
