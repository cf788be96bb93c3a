/**
 * UDP over IPv6 (RFC 768 with RFC 8200 8.1's mandatory checksum) for the shared UDP table's udp6 sockets: a datagram
 * in (checked, to its socket or to every socket on the port of a group joined, else port unreachable) and a
 * datagram out (built whole, handed to the IPv6 layer's transmit: routes, NDP, fragmentation). The layer
 * (ipv6.ts) parses the IPv6 header and answers for the rest.
 */
import { BywayError } from '../../protocols/util/errors.js';
import { read16, write16 } from '../../protocols/util/bytes.js';
import { isMulticast, type Ipv6Address } from '../../protocols/ipv6/address.js';
import { IPV6_HEADER_LEN, NextHeader, writeIpv6Header, type Ipv6Packet } from '../../protocols/ipv6/wire.js';
import { fillUdp6Checksum, verifyUdp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import type { UdpSocket, UdpStats, UdpTable } from './udp.js';

/** What UDP over IPv6 asks of the IPv6 layer. */
export interface Udp6Host {
  readonly udp: UdpTable;
  readonly stats: UdpStats;
  sourceFor(dst: Ipv6Address): Ipv6Address | undefined;
  /** ENETUNREACH or EADDRNOTAVAIL, as Linux says when no source fits. */
  noSourceError(dst: Ipv6Address): BywayError;
  transmit(now: number, packet: Uint8Array, onUnreachable?: () => void): 'EMSGSIZE' | 'ENETUNREACH' | undefined;
  /** ICMPv6 destination unreachable, code 4 (port), about the datagram `p`. */
  portUnreachable(p: Ipv6Packet, linkMulticast: boolean): void;
}

export class Udp6 {
  constructor(private readonly host: Udp6Host) {}

  input(p: Ipv6Packet, off: number, linkMulticast: boolean, trusted: boolean): void {
    const st = this.host.stats;
    st.rx++;
    const b = p.buffer;
    if (b.length - off < 8) {
      st.truncated++;
      return;
    }
    const len = read16(b, off + 4);
    if (len < 8) {
      st.badLength++;
      return;
    }
    if (len > b.length - off) {
      st.truncated++;
      return;
    }
    // RFC 8200 8.1: the checksum is mandatory over IPv6; a zero one fails verification.
    if (!trusted && !verifyUdp6Checksum(b, off, off + len, p.src, p.dst)) {
      st.badChecksum++;
      return;
    }
    const srcPort = read16(b, off);
    const dstPort = read16(b, off + 2);
    if (isMulticast(p.dst)) {
      // A group this interface joined (input checked): every udp6 socket on the port hears it (Linux's default).
      const targets = this.host.udp.multicastTargets6(p.dst, dstPort, p.src, srcPort);
      if (targets.length === 0) st.noPort++;
      for (const s of targets) if (!s.deliver6(b.subarray(off + 8, off + len), p.src, srcPort)) st.recvBufferDrops++;
      return;
    }
    const sock = this.host.udp.lookup6(p.dst, dstPort, p.src, srcPort);
    if (sock === undefined) {
      if (this.host.udp.stray?.(p.src, p.dst, b.subarray(off, off + len)) === true) {
        st.strayHandedOff++;
        return;
      }
      st.noPort++;
      this.host.portUnreachable(p, linkMulticast);
      return;
    }
    if (!sock.deliver6(b.subarray(off + 8, off + len), p.src, srcPort)) st.recvBufferDrops++;
  }

  /** A datagram from a udp6 socket. Throws Node's codes. */
  send(now: number, sock: UdpSocket, dst: Ipv6Address, dstPort: number, data: Uint8Array): void {
    const st = this.host.stats;
    const src = sock.localIp6 ?? this.host.sourceFor(dst);
    if (src === undefined) {
      st.txErrors++;
      throw this.host.noSourceError(dst);
    }
    const len = 8 + data.length;
    const packet = new Uint8Array(IPV6_HEADER_LEN + len);
    writeIpv6Header(packet, 0, src, dst, NextHeader.UDP, len, isMulticast(dst) ? sock.multicastTtl : sock.ttl); // IPV6_MULTICAST_HOPS: 1 by default
    write16(packet, IPV6_HEADER_LEN, sock.localPort);
    write16(packet, IPV6_HEADER_LEN + 2, dstPort);
    write16(packet, IPV6_HEADER_LEN + 4, len);
    packet.set(data, IPV6_HEADER_LEN + 8);
    fillUdp6Checksum(packet, IPV6_HEADER_LEN, IPV6_HEADER_LEN + len, src, dst);
    const err = this.host.transmit(now, packet, sock.onError !== undefined ? sock.reportUnreachable : undefined);
    if (err !== undefined) {
      st.txErrors++;
      throw new BywayError(err, 'cannot send the datagram');
    }
    st.tx++;
  }
}
