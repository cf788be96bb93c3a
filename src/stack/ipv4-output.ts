/**
 * IPv4 transmit: one packet at a time, built in place in a buffer the driver lends, through a transmit token
 * (`TxPacket`, the shape of smoltcp's TX token): a layer asks `begin` for a packet, writes its L4 bytes at
 * `packet.offset`, and sends it with `packet.commit(now)`. Everything the send depends on (addresses, next hop,
 * MTU, TSO segment, where the bytes live) is in the token, not in fields of the stack set before the call.
 *
 * Only a packet that must wait goes through a scratch copy: for ARP (queued in the neighbour cache), to be
 * fragmented (RFC 791), or looped back to our own address. A TCP packet above the MTU goes to the driver whole
 * when it segments (TSO), else it is built in the stack's GSO buffer and cut into segments at commit (gso.ts).
 * The path MTU table (RFC 1191) lives here too, since every send reads it.
 */
import type { FrameDriver, TxLease } from '../../drivers/types.js';
import { BROADCAST_MAC, EtherType, ZERO_MAC } from '../../protocols/ethernet/wire.js';
import { IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_HEADER_LEN, IpProtocol, writeIpv4Header } from '../../protocols/ipv4/wire.js';
import { ipv4MulticastMac, isMulticast } from '../../protocols/ipv4/address.js';
import type { NeighbourCache } from './neighbour.js';
import type { RoutingTable } from './routing.js';
import type { StackStats } from './stats.js';
import type { SystemErrorCode } from '../../protocols/util/errors.js';
import { lendFrame } from './tx-lend.js';
import type { SoftGso } from './gso.js';

/** Where a packet's bytes are built, and so how `commit` sends it. */
export const enum TxKind {
  /** In the driver's transmit buffer, the link header written: sent as it is. */
  Direct,
  /** A scratch copy waiting for the next hop's MAC (ARP). */
  Neighbour,
  /** A scratch copy of a datagram above the MTU, cut into fragments at commit. */
  Fragment,
  /** A scratch copy to one of our own addresses, received at the next poll. */
  Loopback,
  /** A TCP packet above the MTU in the stack's GSO buffer, cut into segments at commit (software GSO, gso.ts). */
  Gso,
}

/** What a destination is to this stack (Ipv4Output's one-entry cache). */
const enum Way {
  Local,
  Broadcast,
  /** An IPv4 multicast group: sent on the link to its MAC (RFC 1112 6.4), no route or ARP. */
  Multicast,
  Routed,
  NoRoute,
}

/** Node's error code for a packet that `begin` could not lend room for. */
export type TxErrorCode = Extract<SystemErrorCode, 'ENETUNREACH' | 'EMSGSIZE' | 'ENOBUFS'>;

/** What the output needs of the stack it sends for. */
export interface Ipv4Link {
  readonly driver: FrameDriver;
  readonly ethernet: boolean;
  /** Link header bytes before the IP header (Ethernet, plus a VLAN tag). */
  readonly l2len: number;
  readonly mtu: number;
  readonly routes: RoutingTable;
  readonly neighbours: NeighbourCache;
  readonly stats: StackStats;
  /** Compute the IPv4 header checksum (the driver does not). */
  readonly ipChecksum: boolean;
  isLocalAddress(ip: number): boolean;
  isBroadcastFor(ip: number): boolean;
  /** The next hop's MAC, or undefined while it is resolved (the packet then waits in the neighbour cache). */
  neighbourMac(now: number, ip: number): Uint8Array | undefined;
  /** The link header at frame[at, ...). */
  writeL2(frame: Uint8Array, at: number, dst: Uint8Array, ethertype: number): void;
}

/**
 * The transmit token: the open packet. `buf[offset, offset + l4Len)` is the L4 part to write; `commit(now)` sends
 * it. One token per output, reused: it is valid from `begin` to `commit`, and committing it twice throws.
 */
export class TxPacket {
  buf: Uint8Array = new Uint8Array(0);
  /** Where the frame starts in `buf` (a driver lends a range of its memory), and its length. */
  base = 0;
  frameLen = 0;
  offset = 0;
  kind = TxKind.Direct;
  src = 0;
  dst = 0;
  protocol = 0;
  l4Len = 0;
  ttl = 64;
  flags = 0;
  /** The TOS byte (DSCP and ECN, RFC 3168 5), 0 unless the protocol sets it before commit. */
  tos = 0;
  /**
   * TCP's checksum duty for this packet (TcpTxPacket.pseudoSum): the IPv4 pseudo-header sum without the length,
   * or -1 when the device completes the checksum. Set by the TCP transport after `begin`; other protocols ignore it.
   */
  pseudoSum = -1;
  nextHop = 0;
  mtu = 0;
  /** TCP payload bytes per segment when the driver cuts this packet (TSO), else 0. */
  segment = 0;
  /** Told (with the destination) when the packet waits for ARP and ARP gives up. */
  unreachable: ((dst: number) => void) | undefined = undefined;
  open = false;

  constructor(private readonly out: Ipv4Output) {}

  /**
   * Whether the L4 checksum must be computed in software: the driver completes it only for a packet it sends
   * straight from its own buffer; a fragmented datagram's checksum covers pieces no device sees whole.
   */
  get scratch(): boolean {
    return this.kind !== TxKind.Direct;
  }

  /** Sends the packet; false when the driver dropped it (a transmission failed locally, FrameDriver.txCommit). */
  commit(now: number): boolean {
    if (!this.open) throw new Error('TxPacket committed twice, or never begun');
    this.open = false;
    return this.out.commit(now, this);
  }
}

export class Ipv4Output {
  readonly packet: TxPacket = new TxPacket(this);
  /** Filled in by the driver's txLend (when it has one: no view object per packet), else undefined. */
  private readonly lease: TxLease | undefined;
  /** Why the last `begin` returned null. */
  error: TxErrorCode = 'ENOBUFS';
  /** Packets to our own addresses, received at the next poll. */
  loopback: Uint8Array[] = [];
  private ipIdent: number;
  /** Largest IP packet TCP may hand over (the driver's TSO, or the stack's GSO), 0 for neither. */
  readonly tsoMax: number;
  /** The stack cuts TCP packets above the MTU itself (the driver has no TSO), else undefined. */
  readonly gso: SoftGso | undefined;
  private readonly pmtu = new Map<number, { mtu: number; expires: number }>();
  /**
   * The last destination's way out, as a one-entry cache (a connection sends many packets to one peer in a row):
   * what kind of address it is and its route, valid while the routing table keeps its generation. Addresses are
   * fixed for the stack's life; the next hop's MAC and the path MTU are still looked up per packet.
   */
  private lastDst = -1;
  private lastGeneration = -1;
  private lastWay = Way.Routed;
  private lastNextHop = 0;
  /** The interface's MTU, lowered by the route's: the path MTU before what ICMP taught. */
  private lastLinkMtu = 0;
  /** The MAC of the group being sent to (written into the frame at once: one array, reused). */
  private readonly groupMac = new Uint8Array(6);

  constructor(
    private readonly link: Ipv4Link,
    ident: number,
    tsoMax: number,
    gso?: SoftGso,
    /** GSO fills each IPv4 segment's TCP checksum (the driver does not compute it). */
    private readonly gsoFillTcp = false,
  ) {
    this.ipIdent = ident & 0xffff;
    this.tsoMax = tsoMax;
    this.gso = gso;
    this.lease = typeof link.driver.txLend === 'function' ? { buf: new Uint8Array(0), start: 0 } : undefined;
  }

  /**
   * Lend a packet with `l4Len` bytes of payload from src to dst. Returns null (and sets `error`) when it cannot be
   * sent: no route (ENETUNREACH), too big with DF (EMSGSIZE), no transmit room (ENOBUFS). `segment` > 0 asks for
   * TSO (a TCP packet above the MTU that the driver cuts into segments of that many payload bytes).
   */
  begin(
    now: number,
    src: number,
    dst: number,
    protocol: number,
    l4Len: number,
    ttl: number,
    flags: number,
    segment: number,
    unreachable: ((dst: number) => void) | undefined,
  ): TxPacket | null {
    const link = this.link;
    const st = link.stats.ipv4;
    const p = this.packet;
    p.open = false;
    // The rest of a GSO packet the driver had no room for goes first; while it waits, the driver is full.
    if (this.gso !== undefined && this.gso.pending && !this.gso.resume(now)) {
      st.txNoBuffer++;
      this.error = 'ENOBUFS';
      return null;
    }
    const ipLen = IPV4_HEADER_LEN + l4Len;
    if (ipLen > 65535) return this.fail(st, 'EMSGSIZE');
    p.src = src;
    p.dst = dst;
    p.protocol = protocol;
    p.l4Len = l4Len;
    p.ttl = ttl;
    p.flags = flags;
    p.tos = 0;
    p.segment = 0;
    p.unreachable = unreachable;
    if (dst !== this.lastDst || link.routes.generation !== this.lastGeneration) this.findWay(dst);
    const way = this.lastWay;
    if (way === Way.Local) return this.scratch(p, TxKind.Loopback, ipLen, IPV4_HEADER_LEN);
    let mac: Uint8Array | undefined;
    let mtu = link.mtu;
    if (way === Way.Broadcast) {
      mac = BROADCAST_MAC;
      p.nextHop = dst;
    } else if (way === Way.Multicast) {
      mac = link.ethernet ? ipv4MulticastMac(dst, this.groupMac) : ZERO_MAC;
      p.nextHop = dst;
    } else if (way === Way.NoRoute) {
      st.noRoute++;
      this.error = 'ENETUNREACH';
      return null;
    } else {
      const nextHop = this.lastNextHop;
      p.nextHop = nextHop;
      mtu = this.pmtu.size === 0 ? this.lastLinkMtu : this.pathMtu(now, dst, this.lastLinkMtu);
      mac = link.ethernet ? link.neighbourMac(now, nextHop) : ZERO_MAC;
    }
    p.mtu = mtu;
    if (ipLen > mtu) {
      const df = (flags & IPV4_FLAG_DF) !== 0;
      if (segment > 0 && ipLen <= this.tsoMax && protocol === IpProtocol.TCP && df && segment + 40 <= mtu) {
        p.segment = segment; // the driver cuts it (caps.tso), or the stack (gso)
      } else if (df) {
        return this.fail(st, 'EMSGSIZE');
      } else {
        return this.scratch(p, TxKind.Fragment, ipLen, IPV4_HEADER_LEN);
      }
    }
    const frameLen = link.l2len + ipLen;
    if (mac === undefined) return this.scratch(p, TxKind.Neighbour, frameLen, link.l2len + IPV4_HEADER_LEN);
    if (p.segment > 0 && this.gso !== undefined) {
      // The first segment's frame now: a driver without room refuses the packet here, as any other.
      if (!this.gso.open(now, link.l2len + mtu)) {
        st.txNoBuffer++;
        this.error = 'ENOBUFS';
        return null;
      }
      p.buf = this.gso.begin(frameLen);
      p.base = 0;
      p.frameLen = frameLen;
      if (link.ethernet) link.writeL2(p.buf, 0, mac, EtherType.IPv4);
      p.kind = TxKind.Gso;
      p.offset = link.l2len + IPV4_HEADER_LEN;
      p.open = true;
      return p;
    }
    if (!this.lend(frameLen, p)) {
      st.txNoBuffer++;
      this.error = 'ENOBUFS';
      return null;
    }
    if (link.ethernet) link.writeL2(p.buf, p.base, mac, EtherType.IPv4);
    p.kind = TxKind.Direct;
    p.offset = p.base + link.l2len + IPV4_HEADER_LEN;
    p.open = true;
    return p;
  }

  /** Room for a frame of len bytes in the driver's transmit memory, recorded in p; false when there is none. */
  private lend(len: number, p: TxPacket): boolean {
    return lendFrame(this.link.driver, this.lease, len, p);
  }

  /** Fill the one-entry cache for dst (see lastDst). */
  private findWay(dst: number): void {
    const link = this.link;
    this.lastDst = dst;
    this.lastGeneration = link.routes.generation;
    this.lastLinkMtu = link.mtu;
    if (link.isLocalAddress(dst)) this.lastWay = Way.Local;
    else if (link.isBroadcastFor(dst)) this.lastWay = Way.Broadcast;
    else if (isMulticast(dst)) this.lastWay = Way.Multicast;
    else {
      const r = link.routes.lookupRoute(dst);
      if (r === undefined) this.lastWay = Way.NoRoute;
      else {
        this.lastWay = Way.Routed;
        this.lastNextHop = r.gateway ?? dst;
        if (r.mtu !== undefined && r.mtu < link.mtu) this.lastLinkMtu = r.mtu;
      }
    }
  }

  private fail(st: { tooBig: number }, code: 'EMSGSIZE'): null {
    st.tooBig++;
    this.error = code;
    return null;
  }

  private scratch(p: TxPacket, kind: TxKind, len: number, offset: number): TxPacket {
    p.kind = kind;
    p.buf = new Uint8Array(len);
    p.base = 0;
    p.frameLen = len;
    p.offset = offset;
    p.open = true;
    return p;
  }

  /** Send the packet `p` (called by `p.commit`). */
  commit(now: number, p: TxPacket): boolean {
    const link = this.link;
    const st = link.stats.ipv4;
    const b = p.buf;
    switch (p.kind) {
      case TxKind.Direct: {
        const segment = p.segment;
        writeIpv4Header(b, p.base + link.l2len, p.src, p.dst, p.protocol, p.l4Len, p.ttl, this.nextIdent(), p.flags, p.tos, link.ipChecksum);
        let sent: boolean | void;
        if (segment > 0) {
          this.skipIdents(p);
          st.tsoPackets++;
          sent = link.driver.txCommit(now, p.frameLen, segment);
        } else sent = link.driver.txCommit(now, p.frameLen);
        st.tx++;
        link.stats.ethernet.tx++;
        return sent !== false;
      }
      case TxKind.Gso: {
        // The cutter writes each segment's IP header checksum.
        writeIpv4Header(b, link.l2len, p.src, p.dst, p.protocol, p.l4Len, p.ttl, this.nextIdent(), p.flags, p.tos, false);
        this.skipIdents(p);
        return this.cut(now, b, p.frameLen, p.segment);
      }
      case TxKind.Neighbour: {
        const segment = p.segment;
        writeIpv4Header(b, link.l2len, p.src, p.dst, p.protocol, p.l4Len, p.ttl, this.nextIdent(), p.flags, p.tos, link.ipChecksum);
        if (segment > 0) {
          this.skipIdents(p);
          if (this.gso === undefined) link.stats.ipv4.tsoPackets++;
        }
        const pending = { frame: b, onUnreachable: bindDst(p.unreachable, p.dst), segment: segment > 0 ? segment : undefined };
        if (!link.neighbours.enqueue(now, p.nextHop, pending)) st.neighbourDrops++;
        return true;
      }
      case TxKind.Loopback:
        writeIpv4Header(b, 0, p.src, p.dst, p.protocol, p.l4Len, p.ttl, this.nextIdent(), p.flags, p.tos, true);
        this.loopback.push(b);
        st.loopback++;
        st.tx++;
        return true;
      case TxKind.Fragment:
        this.sendFragments(now, p);
        return true;
    }
  }

  /**
   * RFC 791 section 3.2 fragmentation: every fragment but the last carries a multiple of 8 payload bytes; all share
   * the ident; MF is set on all but the last.
   */
  private sendFragments(now: number, p: TxPacket): void {
    const link = this.link;
    const st = link.stats.ipv4;
    const ident = this.nextIdent();
    const payload = p.buf.subarray(IPV4_HEADER_LEN);
    const chunk = (p.mtu - IPV4_HEADER_LEN) & ~7;
    const mac = link.isBroadcastFor(p.dst)
      ? BROADCAST_MAC
      : !link.ethernet
        ? ZERO_MAC
        : isMulticast(p.dst)
          ? ipv4MulticastMac(p.dst, new Uint8Array(6))
          : link.neighbourMac(now, p.nextHop);
    const l2len = link.l2len;
    for (let off = 0; off < payload.length; off += chunk) {
      const n = Math.min(chunk, payload.length - off);
      const more = off + n < payload.length;
      const frameLen = l2len + IPV4_HEADER_LEN + n;
      const flagsFrag = (more ? IPV4_FLAG_MF : 0) | (off >>> 3);
      const direct = mac !== undefined ? link.driver.txReserve(frameLen) : null;
      if (mac !== undefined && direct === null) {
        st.txNoBuffer++;
        return; // the rest is useless without this piece
      }
      const frame = direct ?? new Uint8Array(frameLen);
      if (direct !== null && link.ethernet) link.writeL2(frame, 0, mac!, EtherType.IPv4);
      frame.set(payload.subarray(off, off + n), l2len + IPV4_HEADER_LEN);
      writeIpv4Header(frame, l2len, p.src, p.dst, p.protocol, n, p.ttl, ident, flagsFrag, 0, link.ipChecksum);
      st.fragmentsSent++;
      if (direct !== null) {
        link.driver.txCommit(now, frameLen);
        st.tx++;
        link.stats.ethernet.tx++;
      } else if (!link.neighbours.enqueue(now, p.nextHop, { frame, onUnreachable: off === 0 ? bindDst(p.unreachable, p.dst) : undefined })) {
        st.neighbourDrops++;
        return;
      }
    }
  }

  /**
   * A TSO or GSO packet goes out as several IP datagrams, each with its own ident (the device or the cutter
   * increments it, as Linux's TSO does): skip the idents they use so the next packet does not repeat one (RFC 6864
   * 4.1 asks unique idents only of non-atomic datagrams, but a DF packet may still be fragmented by a middlebox that
   * ignores DF).
   */
  private skipIdents(p: TxPacket): void {
    const pieces = Math.ceil((p.l4Len - 20) / p.segment); // at least the TCP header's 20 bytes are not payload
    if (pieces > 1) this.ipIdent = (this.ipIdent + pieces - 1) & 0xffff;
  }

  /**
   * Software GSO: cut the TCP packet frame[0, frameLen) (link header written) into segments and send them; what
   * the driver has no room for waits and goes first at the next output or poll (`resumeGso`). False when the
   * driver dropped a segment, or the packet was refused because another's rest still waits (one that waited for
   * ARP: it is lost locally and TCP's recovery resends it).
   */
  private cut(now: number, frame: Uint8Array, frameLen: number, segment: number): boolean {
    const link = this.link;
    const st = link.stats.ipv4;
    const r = this.gso!.send(now, frame, link.l2len, IPV4_HEADER_LEN, frameLen - link.l2len, segment, false, this.gsoFillTcp);
    st.gsoPackets++;
    if (r.next < r.total) st.txNoBuffer++;
    return r.next > 0 && r.dropped === 0;
  }

  /** The rest of a GSO packet waits for room in the driver. */
  get gsoPending(): boolean {
    return this.gso !== undefined && this.gso.pending;
  }

  /** Send what waits of a GSO packet, as far as the driver has room. True when nothing waits any more. */
  resumeGso(now: number): boolean {
    return this.gso === undefined || this.gso.resume(now);
  }

  /** A frame that waited for ARP: fill in the MAC and send it (copied into the driver's buffer). */
  sendResolved(now: number, frame: Uint8Array, mac: Uint8Array, segment?: number): void {
    const link = this.link;
    if (segment !== undefined && this.gso !== undefined) {
      if (link.ethernet) link.writeL2(frame, 0, mac, EtherType.IPv4);
      this.cut(now, frame, frame.length, segment);
      return;
    }
    const out = link.driver.txReserve(frame.length);
    if (out === null) {
      link.stats.ipv4.txNoBuffer++;
      return;
    }
    out.set(frame);
    if (link.ethernet) link.writeL2(out, 0, mac, EtherType.IPv4);
    if (segment !== undefined) link.driver.txCommit(now, frame.length, segment);
    else link.driver.txCommit(now, frame.length);
    link.stats.ipv4.tx++;
    link.stats.ethernet.tx++;
  }

  /**
   * A copy of a multicast datagram we sent, for our own sockets (IP_MULTICAST_LOOP, RFC 1112 6.1): the L4 bytes
   * `l4` behind a new IPv4 header, received at the next poll as any looped-back packet.
   */
  loopbackCopy(src: number, dst: number, protocol: number, ttl: number, l4: Uint8Array): void {
    const b = new Uint8Array(IPV4_HEADER_LEN + l4.length);
    b.set(l4, IPV4_HEADER_LEN);
    writeIpv4Header(b, 0, src, dst, protocol, l4.length, ttl, this.nextIdent(), 0, 0, true);
    this.loopback.push(b);
    this.link.stats.ipv4.loopback++;
  }

  private nextIdent(): number {
    this.ipIdent = (this.ipIdent + 1) & 0xffff;
    return this.ipIdent;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Path MTU (RFC 1191)

  /** The path MTU towards dst: the route's or interface's, lowered by what ICMP taught us. */
  mtuFor(now: number, dst: number): number {
    return this.pathMtu(now, dst, this.link.routes.lookupRoute(dst)?.mtu);
  }

  /** The route's or interface's MTU, without the path MTUs learned (RFC 1191 3.1: the MSS option's basis). */
  linkMtuFor(dst: number): number {
    const routeMtu = this.link.routes.lookupRoute(dst)?.mtu;
    return routeMtu !== undefined ? Math.min(this.link.mtu, routeMtu) : this.link.mtu;
  }

  /** mtuFor with the route's MTU already looked up (the transmit path has the route in hand). */
  private pathMtu(now: number, dst: number, routeMtu: number | undefined): number {
    let mtu = this.link.mtu;
    if (routeMtu !== undefined) mtu = Math.min(mtu, routeMtu);
    if (this.pmtu.size === 0) return mtu;
    const p = this.pmtu.get(dst);
    if (p !== undefined) {
      if (now < p.expires) mtu = Math.min(mtu, p.mtu);
      else this.pmtu.delete(dst);
    }
    return mtu;
  }

  /** Remember a path MTU learned from ICMP until `expires`. */
  learnPmtu(dst: number, mtu: number, expires: number): void {
    this.pmtu.set(dst, { mtu, expires });
    this.link.routes.invalidate(); // paths.generation: what a connection cached may be too large now
  }

  /**
   * Whose `generation` moves whenever `mtuFor` or the TSO limit towards some destination may have fallen: a route
   * changed or a path MTU was learned (the interface's MTU, its addresses and `tsoMax` are fixed for the stack's
   * life). A caller may keep what it read while it stays the same, as Linux's dst cache entry stays valid until its
   * route is obsoleted (dst_check). A learned MTU's expiry only raises `mtuFor`, which TCP never follows upwards
   * (it only lowers its MSS, Sender.output), so expiries do not move it. It is the routing table, whose generation
   * learnPmtu moves too: one field to read per output, no call.
   */
  get paths(): { readonly generation: number } {
    return this.link.routes;
  }
}

function bindDst(cb: ((dst: number) => void) | undefined, dst: number): (() => void) | undefined {
  return cb === undefined ? undefined : () => cb(dst);
}
