/**
 * The memory link's device model for TCP segmentation offload: what a NIC with TSO (or the kernel's GSO) does to
 * an IPv4 TCP packet above the MTU, so the stack's TSO path runs in memory exactly as it would on a device.
 *
 * `segmentTcp` cuts one packet into segments of `segment` payload bytes. Each gets the packet's Ethernet, IP and
 * TCP headers (options included), then its own IP total length, IP ident (the first one's plus its index, as
 * Linux's TSO does for DF packets), IP header checksum and sequence number; CWR stays on the first segment only,
 * FIN and PSH on the last only. The TCP checksum is computed when `fillTcp` is set (a receiver that verifies).
 *
 * Nothing here throws: a frame that is not a well-formed IPv4 TCP packet comes back as `false` and the caller
 * drops and counts it, as a device would.
 */
import { read16, read32, write16, write32 } from '../../protocols/util/bytes.js';
import { checksum } from '../../protocols/util/checksum.js';
import { fillTcpChecksum } from '../../protocols/tcp/wire.js';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_VLAN = 0x8100;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/** Offset of the IPv4 header in `frame` (after Ethernet and one 802.1Q tag), or -1 when it is not IPv4. */
export function ipv4Offset(frame: Uint8Array, len: number, ethernet: boolean): number {
  if (!ethernet) return len >= 20 && frame[0]! >> 4 === 4 ? 0 : -1;
  if (len < 14) return -1;
  let type = read16(frame, 12);
  let l2 = 14;
  if (type === ETHERTYPE_VLAN) {
    if (len < 18) return -1;
    type = read16(frame, 16);
    l2 = 18;
  }
  return type === ETHERTYPE_IPV4 && len >= l2 + 20 && frame[l2]! >> 4 === 4 ? l2 : -1;
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

/** Fill the TCP checksum of an IPv4 TCP frame (a device completing an offloaded checksum). False: not TCP. */
export function completeTcpChecksum(frame: Uint8Array, len: number, ethernet: boolean): boolean {
  const ip = ipv4Offset(frame, len, ethernet);
  if (ip < 0) return false;
  const tcp = tcpOffset(frame, len, ip);
  if (tcp < 0) return false;
  write16(frame, tcp + 16, 0);
  fillTcpChecksum(frame, tcp, ip + read16(frame, ip + 2), read32(frame, ip + 12), read32(frame, ip + 16));
  return true;
}

/**
 * Cut the IPv4 TCP packet in `frame` (`len` bytes) into segments of `segment` payload bytes: each is written
 * into a buffer from `take()` and handed to `emit(buf, frameLen)`. Returns the number of segments, or 0 (nothing
 * emitted) when the frame is not an unfragmented IPv4 TCP packet, or `segment` is not positive or makes a segment
 * longer than `maxFrame` bytes.
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
  const ip = ipv4Offset(frame, len, ethernet);
  if (ip < 0) return 0;
  const tcp = tcpOffset(frame, len, ip);
  if (tcp < 0) return 0;
  const ihl = tcp - ip;
  const thl = (frame[tcp + 12]! >> 4) * 4;
  const headers = tcp + thl;
  if (headers + segment > maxFrame) return 0;
  const end = ip + read16(frame, ip + 2);
  const ident = read16(frame, ip + 4);
  const seq = read32(frame, tcp + 4);
  const flags = frame[tcp + 13]!;
  const src = read32(frame, ip + 12);
  const dst = read32(frame, ip + 16);
  let n = 0;
  let off = headers;
  do {
    const size = Math.min(segment, end - off);
    const last = off + size >= end;
    const buf = take();
    buf.set(frame.subarray(0, headers), 0);
    buf.set(frame.subarray(off, off + size), headers);
    const total = ihl + thl + size;
    write16(buf, ip + 2, total);
    write16(buf, ip + 4, (ident + n) & 0xffff);
    write16(buf, ip + 10, 0);
    write16(buf, ip + 10, checksum(buf, ip, ip + ihl));
    write32(buf, tcp + 4, (seq + (off - headers)) >>> 0);
    let f = flags;
    if (n > 0) f &= ~TCP_CWR;
    if (!last) f &= ~(TCP_FIN | TCP_PSH);
    buf[tcp + 13] = f;
    if (fillTcp) {
      write16(buf, tcp + 16, 0);
      fillTcpChecksum(buf, tcp, ip + total, src, dst);
    }
    emit(buf, ip + total);
    n++;
    off += size;
  } while (off < end);
  return n;
}
