/**
 * The memory link's device model for TCP segmentation offload: what a NIC with TSO (or the kernel's GSO) does to
 * an IPv4 or IPv6 TCP packet above the MTU, so the stack's TSO path runs in memory exactly as it would on a device.
 *
 * `segmentTcp` cuts one packet into segments of `segment` payload bytes. Each gets the packet's Ethernet, IP and
 * TCP headers (options included), then its own IP total length, IP ident (the first one's plus its index, as
 * Linux's TSO does for DF packets), IP header checksum and sequence number (over IPv6: its payload length and
 * sequence number, as tcp6_gso_segment); CWR stays on the first segment only,
 * FIN and PSH on the last only. The TCP checksum is computed when `fillTcp` is set (a receiver that verifies).
 *
 * Nothing here throws: a frame that is not a well-formed IPv4 or IPv6 TCP packet comes back as `false` and the caller
 * drops and counts it, as a device would.
 */
import { read16, read32, write16, write32 } from '../../protocols/util/bytes.js';
import { checksum } from '../../protocols/util/checksum.js';
import { fillTcpChecksum } from '../../protocols/tcp/wire.js';
import { fillTcp6Checksum } from '../../protocols/ipv6/wire-l4.js';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/** Offset of the IP header of `version` (4 or 6) in `frame` (after Ethernet and one 802.1Q tag), or -1. */
function ipOffset(frame: Uint8Array, len: number, ethernet: boolean, version: 4 | 6): number {
  const min = version === 4 ? 20 : 40;
  if (!ethernet) return len >= min && frame[0]! >> 4 === version ? 0 : -1;
  if (len < 14) return -1;
  let type = read16(frame, 12);
  let l2 = 14;
  if (type === ETHERTYPE_VLAN) {
    if (len < 18) return -1;
    type = read16(frame, 16);
    l2 = 18;
  }
  return type === (version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6) && len >= l2 + min && frame[l2]! >> 4 === version ? l2 : -1;
}

/** Where the TCP header of an unfragmented IPv4 TCP packet at `ip` starts, or -1. */
function tcpOffset(frame: Uint8Array, len: number, ip: number): number {
  const ihl = (frame[ip]! & 15) * 4;
  const total = read16(frame, ip + 2);
  if (ihl < 20 || frame[ip + 9] !== 6 || ip + total > len || total < ihl + 20) return -1;
  if ((read16(frame, ip + 6) & 0x3fff) !== 0) return -1; // a fragment (MF or an offset)
  const thl = (frame[ip + ihl + 12]! >> 4) * 4;
  if (thl < 20 || ihl + thl > total) return -1;
  return ip + ihl;
}

/**
 * The TCP packet in a frame: its IP header at `ip` (IPv4, or IPv6 with TCP right behind the fixed header), the
 * TCP header at `tcp`, the packet's end. Written by `findTcp`, one reused object (the device model is
 * single-threaded).
 */
const found = { ip: 0, tcp: 0, end: 0, v6: false };

function findTcp(frame: Uint8Array, len: number, ethernet: boolean): boolean {
  let ip = ipOffset(frame, len, ethernet, 4);
  if (ip >= 0) {
    const tcp = tcpOffset(frame, len, ip);
    if (tcp < 0) return false;
    found.ip = ip;
    found.tcp = tcp;
    found.end = ip + read16(frame, ip + 2);
    found.v6 = false;
    return true;
  }
  ip = ipOffset(frame, len, ethernet, 6);
  if (ip < 0 || frame[ip + 6] !== 6) return false;
  const end = ip + 40 + read16(frame, ip + 4);
  const tcp = ip + 40;
  if (end > len || end < tcp + 20) return false;
  const thl = (frame[tcp + 12]! >> 4) * 4;
  if (thl < 20 || tcp + thl > end) return false;
  found.ip = ip;
  found.tcp = tcp;
  found.end = end;
  found.v6 = true;
  return true;
}

/** The TCP checksum of the segment frame[tcp, end), over the IPv4 or IPv6 pseudo-header of the header at `ip`. */
function fillChecksum(frame: Uint8Array, ip: number, tcp: number, end: number, v6: boolean): void {
  write16(frame, tcp + 16, 0);
  if (v6) fillTcp6Checksum(frame, tcp, end, frame.subarray(ip + 8, ip + 24), frame.subarray(ip + 24, ip + 40));
  else fillTcpChecksum(frame, tcp, end, read32(frame, ip + 12), read32(frame, ip + 16));
}

/** Fill the TCP checksum of an IPv4 or IPv6 TCP frame (a device completing an offloaded checksum). False: not TCP. */
export function completeTcpChecksum(frame: Uint8Array, len: number, ethernet: boolean): boolean {
  if (!findTcp(frame, len, ethernet)) return false;
  fillChecksum(frame, found.ip, found.tcp, found.end, found.v6);
  return true;
}

/**
 * Cut the IPv4 or IPv6 TCP packet in `frame` (`len` bytes) into segments of `segment` payload bytes: each is
 * written into a buffer from `take()` and handed to `emit(buf, frameLen)`. Returns the number of segments, or 0
 * (nothing emitted) when the frame is not an unfragmented IPv4 TCP packet or an IPv6 one with TCP right behind the
 * fixed header, or `segment` is not positive or makes a segment longer than `maxFrame` bytes.
 */
export function segmentTcp(
  frame: Uint8Array,
  len: number,
  ethernet: boolean,
  segment: number,
  maxFrame: number,
  fillTcp: boolean,
  take: () => Uint8Array,
  emit: (buf: Uint8Array, len: number) => void,
): number {
  if (!(segment > 0)) return 0;
  if (!findTcp(frame, len, ethernet)) return 0;
  const { ip, tcp, end, v6 } = found;
  const ihl = tcp - ip;
  const thl = (frame[tcp + 12]! >> 4) * 4;
  const headers = tcp + thl;
  if (headers + segment > maxFrame) return 0;
  const ident = v6 ? 0 : read16(frame, ip + 4);
  const seq = read32(frame, tcp + 4);
  const flags = frame[tcp + 13]!;
  let n = 0;
  let off = headers;
  do {
    const size = Math.min(segment, end - off);
    const last = off + size >= end;
    const buf = take();
    buf.set(frame.subarray(0, headers), 0);
    buf.set(frame.subarray(off, off + size), headers);
    const total = ihl + thl + size;
    if (v6) write16(buf, ip + 4, thl + size); // the payload length: IPv6 has no ident or header checksum
    else {
      write16(buf, ip + 2, total);
      write16(buf, ip + 4, (ident + n) & 0xffff);
      write16(buf, ip + 10, 0);
      write16(buf, ip + 10, checksum(buf, ip, ip + ihl));
    }
    write32(buf, tcp + 4, (seq + (off - headers)) >>> 0);
    let f = flags;
    if (n > 0) f &= ~TCP_CWR;
    if (!last) f &= ~(TCP_FIN | TCP_PSH);
    buf[tcp + 13] = f;
    if (fillTcp) fillChecksum(buf, ip, tcp, ip + total, v6);
    emit(buf, ip + total);
    n++;
    off += size;
  } while (off < end);
  return n;
}
