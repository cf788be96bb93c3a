/**
 * UDP and TCP checksums over IPv6 (RFC 8200 section 8.1), for the existing codecs in protocols/udp and
 * protocols/tcp, whose own checksum helpers take IPv4 addresses: the headers are the same, only the pseudo-header
 * differs. Unlike IPv4, a UDP checksum is mandatory over IPv6: a received zero checksum fails verification (the
 * datagram is discarded), and a computed zero is sent as 0xffff (RFC 768). Offsets are into the caller's buffer;
 * nothing is kept. Nothing throws.
 */
import { write16 } from '../util/bytes.js';
import { finish, onesSum } from '../util/checksum.js';
import { NextHeader, ipv6PseudoHeaderSum } from './wire.js';

const UDP_CHECKSUM = 6;
const TCP_CHECKSUM = 16;

/** Whether the UDP datagram at buf[start, end) carries a right, non-zero checksum for this source and destination. */
export function verifyUdp6Checksum(buf: Uint8Array, start: number, end: number, src: Uint8Array, dst: Uint8Array): boolean {
  if (end - start < 8 || (buf[start + UDP_CHECKSUM] === 0 && buf[start + UDP_CHECKSUM + 1] === 0)) return false;
  return onesSum(buf, start, end, ipv6PseudoHeaderSum(src, dst, end - start, NextHeader.UDP)) === 0xffff;
}

/** Compute and write the checksum of the UDP datagram at buf[start, end) (its field is read as zero). */
export function fillUdp6Checksum(buf: Uint8Array, start: number, end: number, src: Uint8Array, dst: Uint8Array): void {
  write16(buf, start + UDP_CHECKSUM, 0);
  const c = finish(onesSum(buf, start, end, ipv6PseudoHeaderSum(src, dst, end - start, NextHeader.UDP)));
  write16(buf, start + UDP_CHECKSUM, c === 0 ? 0xffff : c);
}

export function verifyTcp6Checksum(buf: Uint8Array, start: number, end: number, src: Uint8Array, dst: Uint8Array): boolean {
  if (end - start < 20) return false;
  return onesSum(buf, start, end, ipv6PseudoHeaderSum(src, dst, end - start, NextHeader.TCP)) === 0xffff;
}

/** Compute and write the checksum of the TCP segment at buf[start, end) (its field is read as zero). */
export function fillTcp6Checksum(buf: Uint8Array, start: number, end: number, src: Uint8Array, dst: Uint8Array): void {
  write16(buf, start + TCP_CHECKSUM, 0);
  write16(buf, start + TCP_CHECKSUM, finish(onesSum(buf, start, end, ipv6PseudoHeaderSum(src, dst, end - start, NextHeader.TCP))));
}

/** The TCP MSS to announce over a link of this IPv6 MTU: 40 bytes of IPv6 header and 20 of TCP header less. */
export function tcpMssForIpv6Mtu(mtu: number): number {
  return mtu - 60;
}
