/**
 * The memory link's device model for TCP segmentation offload: what a NIC with TSO (or the kernel's GSO) does to
 * an IPv4 or IPv6 TCP packet above the MTU, so the stack's TSO path runs in memory exactly as it would on a device.
 *
 * `segmentTcp` finds the packet's headers and cuts it into segments of `segment` payload bytes with the cutter the
 * stack's software GSO uses (protocols/tcp/segment-cut.ts, which says what each segment gets). The TCP checksum is
 * computed when `fillTcp` is set (a receiver that verifies).
 *
 * Nothing here throws: a frame that is not a well-formed IPv4 or IPv6 TCP packet comes back as `false` and the caller
 * drops and counts it, as a device would.
 */
import { read16, read32, write16 } from '../../protocols/util/bytes.js';
import { cutTcpPacket, type SegmentSink } from '../../protocols/tcp/segment-cut.js';
import { fillTcpChecksum } from '../../protocols/tcp/wire.js';
import { fillTcp6Checksum } from '../../protocols/ipv6/wire-l4.js';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;

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
 * Cut the IPv4 or IPv6 TCP packet in `frame` (`len` bytes) into segments of `segment` payload bytes
 * (protocols/tcp/segment-cut.ts, as the stack's software GSO cuts): each is written into a buffer from `take()` and
 * handed to `emit(buf, frameLen)`. Returns the number of segments, or 0 (nothing emitted) when the frame is not an
 * unfragmented IPv4 TCP packet or an IPv6 one with TCP right behind the fixed header, or `segment` is not positive
 * or makes a segment longer than `maxFrame` bytes.
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
  const headers = found.tcp + (frame[found.tcp + 12]! >> 4) * 4;
  if (headers + segment > maxFrame) return 0;
  const sink: SegmentSink = {
    buf: frame,
    base: 0,
    take(): boolean {
      this.buf = take();
      return true;
    },
    emit(l: number): boolean {
      emit(this.buf, l);
      return true;
    },
  };
  return cutTcpPacket(frame, { start: 0, ...found }, segment, fillTcp, sink, { total: 0, next: 0, emitted: 0, dropped: 0 }).emitted;
}
