/**
 * Software GRO for TCP (generic receive offload, as Linux's tcp_gro_receive): within one receive batch, merge the
 * consecutive in-order segments of one flow into one segment before the TCP layer, so the layer's per-segment work
 * (lookup, option parsing, ACK and window processing, timers) runs once per run of segments instead of once per
 * frame. Drivers that deliver MTU-sized frames (AF_XDP, AF_PACKET without the kernel's GSO) gain most.
 *
 * Contract
 * - `input` takes one TCP segment addressed to us (not broadcast) with its IPv4 addresses, TOS and TTL, and
 *   whether the device vouched for its checksum. `flush` hands over what is held; the stack calls it after every
 *   receive batch, so a segment never waits past the batch it came in.
 * - Order is kept: a segment that cannot join the held one flushes it first. One flow is held at a time.
 * - A segment merges into the held one only when (Linux's rules): same addresses, ports, TOS and TTL; both carry
 *   data and only ACK (PSH allowed, which ends the run); the same ACK number, data offset and window; options
 *   byte-identical, except the TSval of a timestamps option in the usual NOP,NOP,TS layout (it may only grow; the
 *   merged segment keeps the first TSval, the one a delayed ACK would echo, RFC 7323 4.3); its sequence number
 *   follows the held data (modular, RFC 9293 3.4); its length is at most the first segment's (the run's MSS), and a
 *   shorter one ends the run; the merged segment stays within a 64 KiB IP packet.
 * - Checksums: a segment the device did not vouch for is verified here before it is held (when `verify`); one that
 *   fails is passed on untouched for the TCP layer to count and drop. What GRO delivers from its buffer is
 *   verified, so it goes on as trusted.
 * - Buffer ownership: a received frame's view is valid only until the stack's sink returns (drivers/types.ts), so
 *   held bytes are copied into GRO's own buffer; what `deliver` gets is valid only until it returns.
 * Never throws on wire input.
 */
import { onesSum, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { RangeViews } from '../../protocols/util/bytes.js';

/** Hands one TCP segment, buf[start, end), to the TCP layer; `trusted`: its checksum is known good. */
/** `tosTtl`: the IP header's TOS byte << 8 | TTL, the same for every segment merged. */
/** `segSize`: the payload bytes of each segment merged into what is delivered (Linux's gso_size), 0 when not merged. */
export type GroDeliver = (src: number, dst: number, buf: Uint8Array, start: number, end: number, trusted: boolean, segSize: number, tosTtl: number) => void;

export interface GroStats {
  /** TCP segments offered. */
  segments: number;
  /** Segments appended to a held one: each is one pass through the TCP layer saved. */
  merged: number;
  /** Segments GRO handed on from its buffer (merged or alone). */
  flushed: number;
  /** Segments passed straight on: not candidates (flags, no data, malformed) or a failed checksum. */
  passed: number;
  /** Held runs ended early by a segment of the same flow out of sequence (loss, reordering, retransmission). */
  flushOutOfOrder: number;
  /** Held runs ended by a segment of another flow. */
  flushOtherFlow: number;
  /** Held runs ended by a header that differs (ACK number, window, options, TOS/TTL) or non-data flags. */
  flushMismatch: number;
  /** Segments whose checksum failed here (passed on unmerged; the TCP layer counts them as badChecksum too). */
  badChecksum: number;
}

export function newGroStats(): GroStats {
  return { segments: 0, merged: 0, flushed: 0, passed: 0, flushOutOfOrder: 0, flushOtherFlow: 0, flushMismatch: 0, badChecksum: 0 };
}

const TCP_PROTOCOL = 6;
const MIN_HEADER = 20;
const ACK = 0x10;
const PSH = 0x08;
/** Largest TCP segment in a 64 KiB IP packet with a 20-byte IP header. */
const MAX_SEGMENT = 65535 - 20;
/** TCP header offset of the TSval in the usual timestamps layout (NOP, NOP, kind 8, length 10, TSval, TSecr). */
const TSVAL = 24;

/** A big-endian 32-bit word, signed (a small integer to V8, as the TCP core holds sequence numbers). */
function read32(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

export class TcpGro {
  readonly stats: GroStats = newGroStats();
  private readonly buf = new Uint8Array(MAX_SEGMENT);
  /** Bytes held in buf (header + data); 0: nothing held. */
  private len = 0;
  private hl = 0;
  private src = 0;
  private dst = 0;
  private tosTtl = 0;
  /** The sequence number the next segment must carry. */
  private nextSeq = 0;
  /** The first segment's data length: the run's MSS. */
  private mss = 0;
  /** The held header has the usual timestamps layout (TSval at TSVAL). */
  private ts = false;

  constructor(
    private readonly deliver: GroDeliver,
    /** Verify checksums the device did not vouch for (false when the driver's caps say 'trusted'). */
    private readonly verify: boolean,
    /**
     * Views of the segments' ranges in a driver's ring or arena, kept (frames come back at the same slots): the
     * stack's one table for that ring, shared with the TCP layer's receive queues (TcpHost.rxViews).
     */
    private readonly views: RangeViews = new RangeViews(),
  ) {}

  /** Held bytes, 0 when nothing is held (for tests). */
  get held(): number {
    return this.len;
  }

  input(src: number, dst: number, tosTtl: number, seg: Uint8Array, trusted: boolean): void {
    this.inputAt(src, dst, tosTtl, seg, 0, seg.length, trusted);
  }

  /** `input` of the segment b[s, e) (inside a received frame: the hot path makes no view of it). */
  inputAt(src: number, dst: number, tosTtl: number, b: Uint8Array, s: number, e: number, trusted: boolean): void {
    const st = this.stats;
    st.segments++;
    const n = e - s;
    const hl = n >= MIN_HEADER ? (b[s + 12]! >>> 4) * 4 : 0;
    const flags = n >= MIN_HEADER ? b[s + 13]! : 0;
    // Candidates: a well-formed header, data, and no flag but ACK and PSH. Anything else goes on as it came.
    if (hl < MIN_HEADER || hl >= n || (flags & ~PSH) !== ACK) {
      if (this.len > 0 && n >= 4 && this.sameFlow(src, dst, b, s)) {
        st.flushMismatch++;
        this.flush();
      }
      this.pass(src, dst, tosTtl, b, s, e, trusted);
      return;
    }
    if (!trusted && this.verify && onesSum(b, s, e, pseudoHeaderSum(src, dst, TCP_PROTOCOL, n)) !== 0xffff) {
      st.badChecksum++;
      if (this.len > 0 && this.sameFlow(src, dst, b, s)) {
        st.flushMismatch++;
        this.flush();
      }
      this.pass(src, dst, tosTtl, b, s, e, false);
      return;
    }
    const dataLen = n - hl;
    if (this.len > 0) {
      if (!this.sameFlow(src, dst, b, s)) {
        st.flushOtherFlow++;
        this.flush();
      } else if (read32(b, s + 4) !== this.nextSeq) {
        st.flushOutOfOrder++;
        this.flush();
      } else if (tosTtl !== this.tosTtl || !this.sameHeader(b, s, hl)) {
        st.flushMismatch++;
        this.flush();
      } else if (dataLen > this.mss || this.len + dataLen > MAX_SEGMENT) {
        this.flush(); // a new run: this segment starts it
      } else {
        this.views.copy(b, s + hl, dataLen, this.buf, this.len);
        this.len += dataLen;
        this.nextSeq = (this.nextSeq + dataLen) | 0;
        this.buf[13]! |= flags & PSH;
        st.merged++;
        if ((flags & PSH) !== 0 || dataLen < this.mss) this.flush();
        return;
      }
    }
    // Nothing can follow a PSH segment, and no segment of this size fits after this one in a 64 KiB packet: on
    // (verified above, or vouched for) without a copy.
    if ((flags & PSH) !== 0 || n + dataLen > MAX_SEGMENT) {
      this.pass(src, dst, tosTtl, b, s, e, true);
      return;
    }
    this.views.copy(b, s, n, this.buf, 0);
    this.len = n;
    this.hl = hl;
    this.src = src;
    this.dst = dst;
    this.tosTtl = tosTtl;
    this.mss = dataLen;
    this.nextSeq = (read32(b, s + 4) + dataLen) | 0;
    this.ts = hl >= TSVAL + 8 && b[s + 20] === 1 && b[s + 21] === 1 && b[s + 22] === 8 && b[s + 23] === 10;
  }

  /** Hand over the held segment, if any. */
  flush(): void {
    const len = this.len;
    if (len === 0) return;
    this.len = 0;
    this.stats.flushed++;
    this.deliver(this.src, this.dst, this.buf, 0, len, true, len - this.hl > this.mss ? this.mss : 0, this.tosTtl);
  }

  private pass(src: number, dst: number, tosTtl: number, b: Uint8Array, s: number, e: number, trusted: boolean): void {
    this.stats.passed++;
    this.deliver(src, dst, b, s, e, trusted, 0, tosTtl);
  }

  /** Same addresses and ports as the held segment (the segment at seg[s..] has at least its 4 port bytes). */
  private sameFlow(src: number, dst: number, seg: Uint8Array, s: number): boolean {
    const b = this.buf;
    return src === this.src && dst === this.dst && seg[s] === b[0] && seg[s + 1] === b[1] && seg[s + 2] === b[2] && seg[s + 3] === b[3];
  }

  /** ACK number, data offset, flags but PSH, window equal; options equal except a TSval that did not go back. */
  private sameHeader(seg: Uint8Array, s: number, hl: number): boolean {
    const b = this.buf;
    if (hl !== this.hl) return false;
    for (let i = 8; i < 12; i++) if (seg[s + i] !== b[i]) return false;
    if (seg[s + 12] !== b[12] || (seg[s + 13]! & ~PSH) !== (b[13]! & ~PSH) || seg[s + 14] !== b[14] || seg[s + 15] !== b[15]) return false;
    let i = MIN_HEADER;
    if (this.ts) {
      for (; i < TSVAL; i++) if (seg[s + i] !== b[i]) return false;
      if (((read32(seg, s + TSVAL) - read32(b, TSVAL)) | 0) < 0) return false; // RFC 7323 PAWS order
      i = TSVAL + 4;
    }
    for (; i < hl; i++) if (seg[s + i] !== b[i]) return false;
    return true;
  }
}
