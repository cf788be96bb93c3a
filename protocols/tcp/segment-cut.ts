/**
 * Cutting a TCP packet above the MTU into segments of a given payload size: what a device does for TCP segmentation
 * offload (TSO), and what Linux's GSO does in software for a device without it (tcp_gso_segment). Shared by the
 * memory link's device model (drivers/memory/tso.ts) and the stack's software GSO (src/stack/gso.ts), so both cut
 * exactly alike.
 *
 * Each segment gets the packet's link, IP and TCP headers (options included), then its own IP total length, IP
 * ident (the first one's plus its index, as Linux's TSO does for DF packets), IP header checksum and sequence number
 * (over IPv6: its payload length and sequence number, as tcp6_gso_segment); CWR stays on the first segment only,
 * FIN and PSH on the last only. The TCP checksum is computed when `fillTcp` is set, else left as the packet had it
 * (a device that completes checksums fills it).
 *
 * The caller says where the headers are (`TcpPacketAt`): the device model finds them by parsing, the stack knows
 * them because it wrote them. Nothing here throws; a sink that has no room ends the cut early.
 */
import { copyRange, RangeViews, SMALL_COPY, read16, read32, write16, write32 } from '../util/bytes.js';
import { checksum, finish, onesSum, pseudoHeaderSum } from '../util/checksum.js';
import { ipv6PseudoHeaderSum } from '../ipv6/wire.js';

const TCP_PROTOCOL = 6;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;
/** Offset of the checksum in the TCP header. */
const TCP_CHECKSUM = 16;

/** Where a TCP packet's parts are in its buffer: link header at `start`, IP header at `ip`, TCP at `tcp`, end. */
export interface TcpPacketAt {
  start: number;
  ip: number;
  tcp: number;
  end: number;
  /** IPv6 (TCP right behind the fixed header), else IPv4. */
  v6: boolean;
}

/**
 * Where the segments go. `take(len)` finds room for a frame of `len` bytes and sets `buf` and `base` (the frame
 * is written at buf[base, base + len)); false when there is none. `emit(len)` sends the frame just written; false
 * when the device dropped it.
 */
export interface SegmentSink {
  buf: Uint8Array;
  base: number;
  /**
   * Views of the packet's ranges (headers, each segment's payload) kept from one cut to the next: for a caller that
   * cuts one reused buffer (software GSO), whose ranges repeat from packet to packet.
   */
  readonly views?: RangeViews;
  take(len: number): boolean;
  emit(len: number): boolean;
}

/**
 * What one cut did: the segments the packet makes (`total`), the index after the last one written and handed to
 * the sink (`next`: `total` when the cut finished, less when a `take` found no room), and how many the sink took
 * in this call (`emitted`) and dropped (`dropped`).
 */
export interface CutResult {
  total: number;
  next: number;
  emitted: number;
  dropped: number;
}

/**
 * Cut the packet frame[at.start, at.end) into segments of `segment` payload bytes (the last may be shorter) and
 * hand each to `sink`, from segment index `from` on (a cut resumed after the sink had no room). Stops at the first
 * `take` that finds no room. `out` is filled and returned (one object reused by a caller on the hot path).
 * `segment` must be positive (callers check it).
 */
export function cutTcpPacket(frame: Uint8Array, at: TcpPacketAt, segment: number, fillTcp: boolean, sink: SegmentSink, out: CutResult, from = 0): CutResult {
  const { start, ip, tcp, end, v6 } = at;
  const ihl = tcp - ip;
  const thl = (frame[tcp + 12]! >> 4) * 4;
  const headers = tcp + thl;
  out.total = Math.max(1, Math.ceil((end - headers) / segment));
  out.emitted = 0;
  out.dropped = 0;
  const ident = v6 ? 0 : read16(frame, ip + 4);
  const seq = read32(frame, tcp + 4);
  const flags = frame[tcp + 13]!;
  // The pseudo-header's sum without the length: the same for every segment.
  const pseudo = !fillTcp
    ? 0
    : v6
      ? ipv6PseudoHeaderSum(frame.subarray(ip + 8, ip + 24), frame.subarray(ip + 24, ip + 40), 0, TCP_PROTOCOL)
      : pseudoHeaderSum(read32(frame, ip + 12), read32(frame, ip + 16), TCP_PROTOCOL, 0);
  const hlen = headers - start;
  let n = from;
  let off = headers + from * segment;
  do {
    const size = Math.min(segment, end - off);
    const last = off + size >= end;
    const frameLen = hlen + size;
    if (!sink.take(frameLen)) break;
    const buf = sink.buf;
    const b = sink.base;
    const views = sink.views;
    if (views !== undefined && hlen > SMALL_COPY) views.copy(frame, start, hlen, buf, b);
    else copyRange(frame, start, hlen, buf, b);
    if (views !== undefined && size > SMALL_COPY) views.copy(frame, off, size, buf, b + hlen);
    else copyRange(frame, off, size, buf, b + hlen);
    const bip = b + (ip - start);
    const btcp = b + (tcp - start);
    const total = ihl + thl + size;
    if (v6) write16(buf, bip + 4, thl + size); // the payload length: IPv6 has no ident or header checksum
    else {
      write16(buf, bip + 2, total);
      write16(buf, bip + 4, (ident + n) & 0xffff);
      write16(buf, bip + 10, 0);
      write16(buf, bip + 10, checksum(buf, bip, bip + ihl));
    }
    write32(buf, btcp + 4, (seq + (off - headers)) >>> 0);
    let f = flags;
    if (n > 0) f &= ~TCP_CWR;
    if (!last) f &= ~(TCP_FIN | TCP_PSH);
    buf[btcp + 13] = f;
    if (fillTcp) {
      const tcpEnd = btcp + thl + size;
      write16(buf, btcp + TCP_CHECKSUM, 0);
      write16(buf, btcp + TCP_CHECKSUM, finish(onesSum(buf, btcp, tcpEnd, pseudo + (tcpEnd - btcp))));
    }
    if (!sink.emit(frameLen)) out.dropped++;
    out.emitted++;
    n++;
    off += size;
  } while (off < end);
  out.next = n;
  return out;
}
