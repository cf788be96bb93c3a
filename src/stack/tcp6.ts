/**
 * TCP over IPv6: the one TCP layer (protocols/tcp) reached through the IPv6 layer (ipv6.ts). The core keys an IPv6
 * address by an interned id (protocols/tcp/addr-ids.ts); this bridge interns the addresses of what arrives, turns
 * the core's ids back into addresses on the way out, and answers the TcpHost questions for IPv6 ids (routes, MTUs,
 * sources), for TcpTransport (tcp-transport.ts), which routes each question by the id's range.
 *
 * - Receive: the checksum with the IPv6 pseudo-header (RFC 8200 8.1) is verified here unless the device vouched
 *   for it, then the segment goes to the layer as already verified (the layer's own check is IPv4's).
 * - Transmit: each segment is built in a packet buffer of its own (40 + TCP bytes) behind a reused token; commit
 *   writes the IPv6 header and the checksum and hands the packet to the IPv6 layer (routes, NDP, loopback). One copy
 *   more than IPv4's in-place path, as for UDP over IPv6 (docs/ipv6.md).
 * - MSS: the layer reckons 40 bytes of IP and TCP headers; over IPv6 they are 60 (RFC 8200 8.3), so the MTUs
 *   reported for an IPv6 id are 20 bytes less, and the layer's MSS is the IPv6 MTU - 60 everywhere (the option it
 *   sends, the PMTU it follows, a Packet Too Big's MTU).
 * - ICMPv6 errors quoting a segment: validated by the layer (RFC 5927); a Packet Too Big under 1280 is taken as
 *   1280 (RFC 8201 4). Forward progress of a connection confirms its next hop reachable (RFC 4861 7.3.1), at most
 *   once a second per peer.
 *
 * Sans-IO; bad input is dropped and counted (stats.ipv6.tcp*), never thrown.
 */
import { IPV6_HEADER_LEN, NextHeader, writeIpv6Header } from '../../protocols/ipv6/wire.js';
import { fillTcp6Checksum, verifyTcp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import { IPV6_MIN_MTU } from '../../protocols/ipv6/wire.js';
import { read16, read32 } from '../../protocols/util/bytes.js';
import { isIpv4Mapped, isUnspecified, type Ipv6Address } from '../../protocols/ipv6/address.js';
import { ECN_CE } from '../../protocols/tcp/ecn.js';
import type { TcpLayer, TcpTxPacket } from '../../protocols/tcp/layer.js';
import type { Ipv6Layer, Ipv6Tcp } from './ipv6.js';

/** The extra bytes of the IPv6 header over IPv4's minimal one, taken off the MTUs the layer sees. */
const V6_EXTRA = IPV6_HEADER_LEN - 20;
/** Reachability confirmations per peer at most this often. */
const CONFIRM_EVERY_MS = 1000;

/** The transmit token of a segment over IPv6 (one, reused: the layer commits a token before asking again). */
class Tcp6Packet implements TcpTxPacket {
  buf: Uint8Array = new Uint8Array(0);
  readonly offset = IPV6_HEADER_LEN;
  src: Uint8Array = new Uint8Array(16);
  dst: Uint8Array = new Uint8Array(16);
  dstId = 0;
  /**
   * The TOS byte the layer asks for (ECT(0) on new data of an ECN connection, RFC 3168): written as the IPv6
   * Traffic Class, whose layout is the TOS byte's (DSCP and the ECN field, RFC 2474 3, RFC 3168 5); 0 per segment.
   */
  tos = 0;

  constructor(private readonly bridge: Tcp6Bridge) {}

  commit(now: number): void {
    this.bridge.commit(now, this);
  }
}

/** The packet whose IPv6 header is at buf[ipOff] arrived with the ECN field CE (its Traffic Class's low 2 bits). */
export function ceMarked(buf: Uint8Array, ipOff: number): boolean {
  return ((buf[ipOff + 1]! >>> 4) & 3) === ECN_CE;
}

export class Tcp6Bridge implements Ipv6Tcp {
  private readonly token = new Tcp6Packet(this);
  private readonly confirmedAt = new Map<number, number>();

  constructor(
    private readonly ip6: Ipv6Layer,
    private readonly layer: TcpLayer,
    /** Hand a segment whose checksum is already verified to the layer. */
    private readonly inputVerified: (now: number, src: number, dst: number, buf: Uint8Array, start: number, end: number) => void,
  ) {
    ip6.tcp = this;
  }

  input(now: number, buf: Uint8Array, start: number, end: number, src: Ipv6Address, dst: Ipv6Address, trusted: boolean): void {
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
    this.layer.rxCe = ceMarked(buf, 0); // buf starts at the IPv6 header
    const addrs = this.layer.addrs;
    const dstId = addrs.intern(dst);
    const srcId = dstId === 0 ? 0 : addrs.intern(src);
    if (srcId === 0) {
      st.tcpNoAddressId++;
      return;
    }
    this.inputVerified(now, srcId, dstId, buf, start, end);
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

  /** A token for a segment of tcpLen bytes from id src to id dst, or null (an id no longer interned). */
  txSegment(src: number, dst: number, tcpLen: number): TcpTxPacket | null {
    const addrs = this.layer.addrs;
    const s = addrs.bytes(src);
    const d = addrs.bytes(dst);
    if (s === undefined || d === undefined) return null;
    const t = this.token;
    t.buf = new Uint8Array(IPV6_HEADER_LEN + tcpLen); // the IPv6 layer keeps it (loopback, neighbour queue)
    t.src = s;
    t.dst = d;
    t.dstId = dst;
    t.tos = 0;
    return t;
  }

  /** @internal the token's commit */
  commit(now: number, t: Tcp6Packet): void {
    const packet = t.buf;
    const len = packet.length - IPV6_HEADER_LEN;
    writeIpv6Header(packet, 0, t.src, t.dst, NextHeader.TCP, len, this.ip6.hopLimit, t.tos);
    fillTcp6Checksum(packet, IPV6_HEADER_LEN, packet.length, t.src, t.dst);
    const dstId = t.dstId;
    const err = this.ip6.sendPacket(now, packet, () => this.unreachable(dstId));
    if (err === undefined) this.ip6.stats.ipv6.tcpOut++;
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
