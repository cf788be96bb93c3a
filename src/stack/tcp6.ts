/**
 * TCP over IPv6: the one TCP layer (protocols/tcp) reached through the IPv6 layer (ipv6.ts). The core keys an IPv6
 * address by an interned id (protocols/tcp/addr-ids.ts); this bridge interns the addresses of what arrives, turns
 * the core's ids back into addresses on the way out, and answers the TcpHost questions for IPv6 ids (routes, MTUs,
 * sources), for TcpTransport (tcp-transport.ts), which routes each question by the id's range.
 *
 * - Receive: the checksum with the IPv6 pseudo-header (RFC 8200 8.1) is verified here unless the device vouched
 *   for it, then the segment goes to the layer as already verified (the layer's own check is IPv4's).
 * - Transmit, through one reused token as IPv4's (ipv4-output.ts): when the IPv6 layer knows the way out (a
 *   route, the next hop's MAC, within the path MTU or TSO's limit) the segment is written straight into the
 *   driver's buffer behind the Ethernet header, and commit writes the IPv6 header and hands the frame to the
 *   driver; the TCP checksum is the device's when it completes IPv6 checksums (`Tcp6Offloads`), else TCP's, from
 *   the IPv6 pseudo-header sum the token carries. Otherwise (loopback, a next hop still resolved by NDP, a path MTU
 *   lowered under a segment in flight) it is built in a packet of its own that the IPv6 layer takes.
 * - MSS: the layer reckons 40 bytes of IP and TCP headers; over IPv6 they are 60 (RFC 8200 8.3), so the MTUs
 *   reported for an IPv6 id are 20 bytes less, and the layer's MSS is the IPv6 MTU - 60 everywhere (the option it
 *   sends, the PMTU it follows, a Packet Too Big's MTU).
 * - ICMPv6 errors quoting a segment: validated by the layer (RFC 5927); a Packet Too Big under 1280 is taken as
 *   1280 (RFC 8201 4). Forward progress of a connection confirms its next hop reachable (RFC 4861 7.3.1), at most
 *   once a second per peer.
 *
 * Sans-IO; bad input is dropped and counted (stats.ipv6.tcp*), never thrown.
 */
import type { TxLease } from '../../drivers/types.js';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, NextHeader, ipv6PseudoHeaderSum, writeIpv6Header } from '../../protocols/ipv6/wire.js';
import { verifyTcp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import { read16, read32 } from '../../protocols/util/bytes.js';
import { isIpv4Mapped, isUnspecified, type Ipv6Address } from '../../protocols/ipv6/address.js';
import type { TcpLayer, TcpTxPacket } from '../../protocols/tcp/layer.js';
import type { Ipv6Layer, Ipv6Tcp } from './ipv6.js';
import { lendFrame } from './tx-lend.js';
import { GSO_MAX, type SoftGso } from './gso.js';
import { cutTcpPacket, type CutResult, type SegmentSink } from '../../protocols/tcp/segment-cut.js';

/** The extra bytes of the IPv6 header over IPv4's minimal one, taken off the MTUs the layer sees. */
const V6_EXTRA = IPV6_HEADER_LEN - 20;
/** Reachability confirmations per peer at most this often. */
const CONFIRM_EVERY_MS = 1000;

/**
 * The transmit token of a segment over IPv6 (one, reused: the layer commits a token before asking again). Direct:
 * the frame is in the driver's buffer (`buf[base, base + frameLen)`), its Ethernet header written, the segment at
 * `offset`; otherwise a packet buffer of its own (40 + TCP bytes) that commit hands to the IPv6 layer.
 */
class Tcp6Packet implements TcpTxPacket {
  buf: Uint8Array = new Uint8Array(0);
  offset = IPV6_HEADER_LEN;
  base = 0;
  frameLen = 0;
  direct = false;
  src: Uint8Array = new Uint8Array(16);
  dst: Uint8Array = new Uint8Array(16);
  dstId = 0;
  /** TCP payload bytes per segment when the driver cuts this packet (TSO over IPv6), else 0. */
  segment = 0;
  /** Built in the stack's GSO buffer, cut into segments at commit (the driver has no TSO). */
  gso = false;
  /**
   * The TOS byte the layer asks for (ECT(0) on new data of an ECN connection, RFC 3168): written as the IPv6
   * Traffic Class, whose layout is the TOS byte's (DSCP and the ECN field, RFC 2474 3, RFC 3168 5); 0 per segment.
   */
  tos = 0;
  pseudoSum = -1;
  open = false;

  constructor(private readonly bridge: Tcp6Bridge) {}

  commit(now: number): boolean {
    if (!this.open) throw new Error('Tcp6Packet committed twice, or never begun');
    this.open = false;
    return this.bridge.commit(now, this);
  }
}

/** Segments of a cut packet as packets of their own, handed to the IPv6 layer (it resolves the next hop). */
class PacketSink implements SegmentSink {
  buf: Uint8Array = new Uint8Array(0);
  base = 0;
  now = 0;
  onUnreachable: (() => void) | undefined = undefined;
  constructor(private readonly ip6: Ipv6Layer) {}

  take(len: number): boolean {
    this.buf = new Uint8Array(len);
    return true;
  }

  emit(len: number): boolean {
    const first = this.onUnreachable;
    this.onUnreachable = undefined; // told once, with the first segment, as the IPv6 layer tells a fragmented packet
    // take() made the buffer exactly `len` long: the segment is the whole of it (the IPv6 layer keeps it).
    return this.ip6.sendPacket(this.now, len === this.buf.length ? this.buf : this.buf.subarray(0, len), first) === undefined;
  }
}

/** What the driver does for TCP over IPv6 (its virtio-net header handling, drivers/native/src/offload.c). */
export interface Tcp6Offloads {
  /** The device completes the TCP checksum of an IPv6 frame sent straight from its buffer. */
  readonly checksum: boolean;
  /** Largest IPv6 packet (40-byte header included) the device cuts into segments (TSO, GSO_TCPV6), or 0. */
  readonly tsoMax: number;
  /** Without TSO: the stack's software GSO (gso.ts), which cuts packets of up to 64 KiB itself. */
  readonly gso?: SoftGso | undefined;
}

export class Tcp6Bridge implements Ipv6Tcp {
  private readonly token = new Tcp6Packet(this);
  private readonly confirmedAt = new Map<number, number>();
  /** Filled in by the driver's txLend (when it has one: no view object per packet), else undefined. */
  private readonly lease: TxLease | undefined;
  /** The pseudo-header sum (without the length) of the last (src, dst) pair sent to. */
  private pseudoSrc = 0;
  private pseudoDst = 0;
  private pseudo = 0;
  /** Where a cut packet's segments go when it could not go straight to the driver: the IPv6 layer, one by one. */
  private readonly packetSink: PacketSink;
  private readonly cutResult: CutResult = { total: 0, next: 0, emitted: 0, dropped: 0 };

  constructor(
    private readonly ip6: Ipv6Layer,
    private readonly layer: TcpLayer,
    /** Hand a segment whose checksum is already verified to the layer (through GRO); tcHop as Ipv6Tcp.input's. */
    private readonly inputVerified: (now: number, src: number, dst: number, buf: Uint8Array, start: number, end: number, tcHop: number) => void,
    private readonly offloads: Tcp6Offloads = { checksum: false, tsoMax: 0 },
  ) {
    ip6.tcp = this;
    this.packetSink = new PacketSink(ip6);
    this.lease = typeof ip6.link.driver.txLend === 'function' ? { buf: new Uint8Array(0), start: 0 } : undefined;
  }

  input(now: number, buf: Uint8Array, start: number, end: number, src: Ipv6Address, dst: Ipv6Address, trusted: boolean, tcHop: number): void {
    const st = this.ip6.stats.ipv6;
    // No connection is possible with the unspecified address, and an IPv4-mapped source over IPv6 is a spoof
    // (Linux's tcp_v6_conn_request drops both).
    if (isUnspecified(src) || isIpv4Mapped(src)) {
      st.tcpBadSource++;
      return;
    }
    if (!trusted && !verifyTcp6Checksum(buf, start, end, src, dst)) {
      st.tcpBadChecksum++;
      this.layer.stats.segsIn++;
      this.layer.stats.badChecksum++;
      return;
    }
    const addrs = this.layer.addrs;
    const dstId = addrs.intern(dst);
    const srcId = dstId === 0 ? 0 : addrs.intern(src);
    if (srcId === 0) {
      st.tcpNoAddressId++;
      return;
    }
    this.inputVerified(now, srcId, dstId, buf, start, end, tcHop);
  }

  error(now: number, kind: 'packet-too-big' | 'dest-unreachable' | 'time-exceeded' | 'param-problem', code: number, mtu: number, src: Ipv6Address, dst: Ipv6Address, quoted: Uint8Array): boolean {
    const addrs = this.layer.addrs;
    const srcId = addrs.find(src);
    const dstId = srcId === 0 ? 0 : addrs.find(dst);
    if (dstId === 0) return false;
    const srcPort = read16(quoted, 0);
    const dstPort = read16(quoted, 2);
    const seq = read32(quoted, 4);
    switch (kind) {
      case 'packet-too-big':
        return this.layer.icmpError(now, srcId, dstId, srcPort, dstPort, seq, 'frag-needed', 0, Math.max(mtu, IPV6_MIN_MTU) - V6_EXTRA);
      case 'dest-unreachable':
        // RFC 4443 3.1 code 4, port unreachable, is a hard error while connecting (as IPv4's code 3); the others
        // (no route, administratively prohibited, address unreachable...) fail a connect with EHOSTUNREACH.
        return this.layer.icmpError(now, srcId, dstId, srcPort, dstPort, seq, 'unreachable', code === 4 ? 3 : 1, 0);
      case 'param-problem':
        // Code 1, unrecognized next header: the peer has no TCP (IPv4's protocol unreachable).
        if (code === 1) return this.layer.icmpError(now, srcId, dstId, srcPort, dstPort, seq, 'unreachable', 2, 0);
        return this.layer.icmpError(now, srcId, dstId, srcPort, dstPort, seq, 'ttl-exceeded', code, 0);
      default:
        return this.layer.icmpError(now, srcId, dstId, srcPort, dstPort, seq, 'ttl-exceeded', code, 0);
    }
  }

  /**
   * A token for a segment of tcpLen bytes from id src to id dst, or null (an id no longer interned, or no room in
   * the driver). `segment` > 0: a TSO packet (tsoMaxFor allowed it) the driver cuts into segments of that payload.
   */
  txSegment(now: number, src: number, dst: number, tcpLen: number, segment: number): TcpTxPacket | null {
    const addrs = this.layer.addrs;
    const s = addrs.bytes(src);
    const d = addrs.bytes(dst);
    if (s === undefined || d === undefined) return null;
    const t = this.token;
    t.open = false;
    // The rest of a GSO packet the driver had no room for goes first (it may be of either family).
    const pending = this.offloads.gso;
    if (pending !== undefined && pending.pending && !pending.resume(now)) {
      this.ip6.stats.ipv6.txNoBuffer++;
      return null;
    }
    t.src = s;
    t.dst = d;
    t.dstId = dst;
    t.tos = 0;
    const ipLen = IPV6_HEADER_LEN + tcpLen;
    const gso = segment > 0 ? this.offloads.gso : undefined;
    const tsoMax = segment > 0 ? (gso !== undefined ? GSO_MAX : this.offloads.tsoMax) : 0;
    const mac = this.ip6.directMac(now, d, ipLen, tsoMax);
    t.gso = false;
    if (mac !== undefined && gso !== undefined) {
      // Software GSO: the first segment's frame lent now (a driver without room refuses the packet here), the
      // packet built in the stack's buffer. Its segments' checksums are the cutter's (or the device's).
      const l2len = this.ip6.link.l2len;
      if (!gso.open(now, l2len + this.ip6.link.mtu)) {
        this.ip6.stats.ipv6.txNoBuffer++;
        return null;
      }
      t.buf = gso.begin(l2len + ipLen);
      t.base = 0;
      t.frameLen = l2len + ipLen;
      this.ip6.writeL2(t.buf, 0, mac);
      t.direct = true;
      t.gso = true;
      t.offset = l2len + IPV6_HEADER_LEN;
      t.segment = segment;
      t.pseudoSum = -1;
    } else if (mac !== undefined) {
      const l2len = this.ip6.link.l2len;
      if (!lendFrame(this.ip6.link.driver, this.lease, l2len + ipLen, t)) {
        this.ip6.stats.ipv6.txNoBuffer++;
        return null;
      }
      this.ip6.writeL2(t.buf, t.base, mac);
      t.direct = true;
      t.offset = t.base + l2len + IPV6_HEADER_LEN;
      t.segment = segment > 0 && ipLen <= tsoMax ? segment : 0;
      t.pseudoSum = this.offloads.checksum ? -1 : this.pseudoSumFor(src, dst, s, d);
    } else {
      // Looped back, waiting for NDP, or fragmented: a packet of its own, which the IPv6 layer keeps; its checksum
      // is computed here (no device sees it whole, or the loopback's receiver checks it). A packet the device (TSO)
      // or GSO would have cut (its next hop not resolved yet) is cut at commit into segments the IPv6 layer queues
      // one by one, with their checksums, rather than fragmented.
      t.buf = new Uint8Array(ipLen);
      t.base = 0;
      t.frameLen = ipLen;
      t.direct = false;
      t.offset = IPV6_HEADER_LEN;
      t.segment = segment; // > 0 only when tsoMaxFor allowed a packet above the MTU (TSO or GSO)
      t.pseudoSum = t.segment > 0 ? -1 : this.pseudoSumFor(src, dst, s, d);
    }
    t.open = true;
    return t;
  }

  /** The folded IPv6 pseudo-header sum for TCP between the two addresses, without the length (RFC 8200 8.1). */
  private pseudoSumFor(src: number, dst: number, s: Uint8Array, d: Uint8Array): number {
    if (src !== this.pseudoSrc || dst !== this.pseudoDst) {
      this.pseudoSrc = src;
      this.pseudoDst = dst;
      this.pseudo = ipv6PseudoHeaderSum(s, d, 0, NextHeader.TCP);
    }
    return this.pseudo;
  }

  /** @internal the token's commit: the IPv6 header, then the driver (direct) or the IPv6 layer. */
  commit(now: number, t: Tcp6Packet): boolean {
    const ip6 = this.ip6;
    const link = ip6.link;
    const st = ip6.stats.ipv6;
    if (t.direct) {
      const ipAt = t.base + link.l2len;
      const len = t.frameLen - link.l2len - IPV6_HEADER_LEN;
      writeIpv6Header(t.buf, ipAt, t.src, t.dst, NextHeader.TCP, len, ip6.hopLimit, t.tos);
      if (t.gso) {
        const r = this.offloads.gso!.send(now, t.buf, link.l2len, IPV6_HEADER_LEN, IPV6_HEADER_LEN + len, t.segment, true, !this.offloads.checksum);
        st.tcpOut += r.total; // segments on the wire, as TCP's segsOut counts them
        st.gsoPackets++;
        if (r.next < r.total) st.txNoBuffer++;
        return r.next > 0 && r.dropped === 0;
      }
      const sent = t.segment > 0 ? link.driver.txCommit(now, t.frameLen, t.segment) : link.driver.txCommit(now, t.frameLen);
      st.tx++;
      if (t.segment > 0) {
        st.tsoPackets++;
        const thl = (t.buf[ipAt + IPV6_HEADER_LEN + 12]! >> 4) * 4;
        st.tcpOut += Math.max(1, Math.ceil((len - thl) / t.segment)); // segments on the wire, as TCP's segsOut
      } else st.tcpOut++;
      link.ethernet.tx++;
      return sent !== false;
    }
    const packet = t.buf;
    writeIpv6Header(packet, 0, t.src, t.dst, NextHeader.TCP, packet.length - IPV6_HEADER_LEN, ip6.hopLimit, t.tos);
    const dstId = t.dstId;
    const onUnreachable = (): void => this.unreachable(dstId);
    if (t.segment > 0) {
      // Cut as GSO would, each segment a packet of its own for the IPv6 layer (which holds it for NDP).
      const sink = this.packetSink;
      sink.now = now;
      sink.onUnreachable = onUnreachable;
      const r = cutTcpPacket(packet, { start: 0, ip: 0, tcp: IPV6_HEADER_LEN, end: packet.length, v6: true }, t.segment, true, sink, this.cutResult);
      st.tcpOut += r.emitted - r.dropped;
      return true;
    }
    const err = ip6.sendPacket(now, packet, onUnreachable);
    if (err === undefined) st.tcpOut++;
    return true;
  }

  /** Largest IPv6 packet towards dst the device cuts (TSO), in the layer's reckoning (40 bytes of headers), or 0. */
  tsoMaxFor(dst: number): number {
    const tsoMax = this.offloads.gso !== undefined ? GSO_MAX : this.offloads.tsoMax;
    if (tsoMax === 0) return 0;
    const d = this.layer.addrs.bytes(dst);
    return d === undefined || this.ip6.isLocal(d) ? 0 : tsoMax - V6_EXTRA;
  }

  /** NDP gave up on the next hop: connections still connecting to dst fail with EHOSTUNREACH, as over IPv4. */
  private unreachable(dst: number): void {
    for (const c of this.layer.connections()) if (c.remoteIp === dst) c.icmpHardError('EHOSTUNREACH');
  }

  mtuFor(dst: number): number {
    const d = this.layer.addrs.bytes(dst);
    return (d === undefined ? IPV6_MIN_MTU : this.ip6.mtuFor(d)) - V6_EXTRA;
  }

  linkMtuFor(dst: number): number {
    const d = this.layer.addrs.bytes(dst);
    return (d === undefined ? IPV6_MIN_MTU : this.ip6.linkMtuFor(d)) - V6_EXTRA;
  }

  sourceFor(dst: number): number | undefined {
    const d = this.layer.addrs.bytes(dst);
    const s = d === undefined ? undefined : this.ip6.sourceFor(d);
    if (s === undefined) return undefined;
    const id = this.layer.addrs.intern(s);
    return id === 0 ? undefined : id;
  }

  isLocal(id: number): boolean {
    const d = this.layer.addrs.bytes(id);
    return d !== undefined && this.ip6.isLocal(d);
  }

  forwardProgress(now: number, dst: number): void {
    const last = this.confirmedAt.get(dst);
    if (last !== undefined && now - last < CONFIRM_EVERY_MS) return;
    if (this.confirmedAt.size > 4096) this.confirmedAt.clear();
    this.confirmedAt.set(dst, now);
    const d = this.layer.addrs.bytes(dst);
    if (d !== undefined) this.ip6.confirmReachable(now, d);
  }
}
