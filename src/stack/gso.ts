/**
 * Software GSO for TCP over IPv4 and IPv6 (generic segmentation offload, as Linux does for a device without TSO):
 * the TCP layer builds packets of up to 64 KiB as it would for a TSO device, and the stack cuts each into MTU-sized
 * segments just before the driver (protocols/tcp/segment-cut.ts, the same cutter as the memory link's TSO model).
 * The per-segment work of the TCP sender (choosing what to send, options, the IP output's route and neighbour
 * lookups) then runs once per packet; what stays per segment is the copy into the driver's frame, the headers' few
 * changed fields, the checksums the driver does not compute, and the scoreboard's record (SACK and RACK work on
 * what the peer sees).
 *
 * Contract
 * - `open(now, len)` first sends what waits of the last packet (below), then lends the driver's frame (`len` bytes
 *   at most) for the next packet's first segment, before the packet is built: a driver without room refuses the
 *   packet at once (false: the sender keeps it and retries, as for any packet). `begin(frameLen)` then gives the
 *   buffer the packet is built in (the stack's, reused: one packet is open at a time, of either family).
 * - `send(now, ...)` cuts the packet into segments of `segment` payload bytes and commits each to the driver; the
 *   TCP checksum is filled when the driver does not (`fillTcp`, per family). When the driver has no room for a
 *   later segment, the rest waits (`pending`, the buffer kept) and `resume(now)` sends it first, as a qdisc
 *   requeues what a full device refused: nothing is lost locally and the order on the wire is kept. While a rest
 *   waits, `open` refuses new packets (the driver is full anyway), and the stack polls again at once.
 * - `sent(v6, n)`, given at construction, hears every segment handed to the driver (the families' `tx` counters).
 * - Never throws on its own; the driver may, for misuse.
 */
import type { FrameDriver, TxLease } from '../../drivers/types.js';
import { cutTcpPacket, type CutResult, type SegmentSink, type TcpPacketAt } from '../../protocols/tcp/segment-cut.js';
import { RangeViews } from '../../protocols/util/bytes.js';
import { lendFrame, type LentFrame } from './tx-lend.js';

/** The largest packet GSO takes: a 64 KiB IP packet, as Linux's default gso_max_size. */
export const GSO_MAX = 65535;

/** The sink that lends each segment's frame from the driver and commits it. */
class DriverSink implements SegmentSink, LentFrame {
  buf: Uint8Array = new Uint8Array(0);
  base = 0;
  frameLen = 0;
  now = 0;
  /** A frame was lent by `SoftGso.open`: the next `take` uses it. */
  primed = false;
  /** The packet buffer is reused: its segments' payload ranges repeat from one packet to the next. */
  readonly views = new RangeViews();
  constructor(
    readonly driver: FrameDriver,
    readonly lease: TxLease | undefined,
  ) {}

  take(len: number): boolean {
    if (this.primed) {
      this.primed = false;
      return true;
    }
    return lendFrame(this.driver, this.lease, len, this);
  }

  emit(len: number): boolean {
    return this.driver.txCommit(this.now, len) !== false;
  }
}

export class SoftGso {
  private scratch: Uint8Array | null = null;
  private readonly sink: DriverSink;
  private readonly at: TcpPacketAt = { start: 0, ip: 0, tcp: 0, end: 0, v6: false };
  private readonly result: CutResult = { total: 0, next: 0, emitted: 0, dropped: 0 };
  /** The packet whose rest waits for room (its buffer, kept until it is all sent), and how it is cut. */
  private pendingBuf: Uint8Array | null = null;
  private pendingFrom = 0;
  private pendingSegment = 0;
  private pendingFill = false;

  constructor(
    driver: FrameDriver,
    /** Segments handed to the driver, by family (the caller's `tx` counters). */
    private readonly sent: (v6: boolean, segments: number) => void,
  ) {
    this.sink = new DriverSink(driver, typeof driver.txLend === 'function' ? { buf: new Uint8Array(0), start: 0 } : undefined);
  }

  /** The rest of a packet waits for room in the driver. */
  get pending(): boolean {
    return this.pendingBuf !== null;
  }

  /**
   * Ready for the next packet: what waits of the last one sent first, then the driver's frame for the first
   * segment (`len` bytes at most) lent. False: no room now (the caller counts it and refuses the packet).
   */
  open(now: number, len: number): boolean {
    if (this.pendingBuf !== null && !this.resume(now)) return false;
    const sink = this.sink;
    sink.primed = lendFrame(sink.driver, sink.lease, len, sink);
    return sink.primed;
  }

  /** The buffer to build a packet of frameLen bytes in (at its index 0), after `open`. */
  begin(frameLen: number): Uint8Array {
    const s = this.scratch;
    if (s !== null && s.length >= frameLen) return s;
    return (this.scratch = new Uint8Array(Math.max(frameLen, 14 + 4 + 40 + GSO_MAX)));
  }

  /**
   * Cut the TCP packet buf[0, ipAt + ipLen) (link header first, the IP header at ipAt, `ipHeader` bytes, TCP
   * right behind it) into segments of `segment` payload bytes and send them; what the driver has no room for waits
   * (`pending`). Returns what this call did (one reused result). A packet is refused (nothing sent, `next` 0)
   * while another's rest waits (one that waited for the next hop's address, which did not pass `open`).
   */
  send(now: number, buf: Uint8Array, ipAt: number, ipHeader: number, ipLen: number, segment: number, v6: boolean, fillTcp: boolean): CutResult {
    if (this.pendingBuf !== null) {
      const r = this.result;
      r.total = 1;
      r.next = r.emitted = r.dropped = 0;
      return r;
    }
    const at = this.at;
    at.start = 0;
    at.ip = ipAt;
    at.tcp = ipAt + ipHeader;
    at.end = ipAt + ipLen;
    at.v6 = v6;
    return this.cut(now, buf, segment, fillTcp, 0);
  }

  /** Send what waits of the last packet, as far as the driver has room. True when nothing waits any more. */
  resume(now: number): boolean {
    const buf = this.pendingBuf;
    if (buf === null) return true;
    this.pendingBuf = null;
    this.cut(now, buf, this.pendingSegment, this.pendingFill, this.pendingFrom);
    return this.pendingBuf === null;
  }

  private cut(now: number, buf: Uint8Array, segment: number, fillTcp: boolean, from: number): CutResult {
    this.sink.now = now;
    const r = cutTcpPacket(buf, this.at, segment, fillTcp, this.sink, this.result, from);
    this.sink.primed = false;
    if (r.emitted > 0) this.sent(this.at.v6, r.emitted);
    if (r.next < r.total) {
      this.pendingBuf = buf;
      this.pendingFrom = r.next;
      this.pendingSegment = segment;
      this.pendingFill = fillTcp;
    }
    return r;
  }
}
