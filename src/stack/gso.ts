/**
 * Software GSO for TCP over IPv4 (generic segmentation offload, as Linux does for a device without TSO): the TCP
 * layer builds packets of up to 64 KiB as it would for a TSO device, and the stack cuts each into MTU-sized
 * segments just before the driver (protocols/tcp/segment-cut.ts, the same cutter as the memory link's TSO model).
 * The per-segment work of the TCP sender (choosing what to send, options, the scoreboard's record, the IP output's
 * route and neighbour lookups) then runs once per 64 KiB; what stays per segment is the copy into the driver's
 * frame, the headers' few changed fields, and the checksums the driver does not compute.
 *
 * Contract
 * - `begin(frameLen)` gives the buffer a packet is built in (the stack's, reused: one packet is open at a time).
 *   `prime(len)` lends the driver's frame for the first segment before the packet is built, so that a driver
 *   without room refuses the packet at once (the sender keeps it and retries, as for any packet).
 * - `send(now, ...)` cuts the packet into segments of `segment` payload bytes and commits each to the driver; the
 *   TCP checksum is filled when the driver does not (`fillTcp`). When the driver has no room for a later segment,
 *   the rest waits (`pending`, the buffer kept) and `resume(now)` sends it first, as a qdisc requeues what a full
 *   device refused: nothing is lost locally and the order on the wire is kept. While a rest waits, the output
 *   refuses new packets (the driver is full anyway), and the stack polls again at once.
 * - Never throws on its own; the driver may, for misuse.
 */
import type { FrameDriver, TxLease } from '../../drivers/types.js';
import { cutTcpPacket, type CutResult, type SegmentSink, type TcpPacketAt } from '../../protocols/tcp/segment-cut.js';
import { lendFrame, type LentFrame } from './tx-lend.js';

/** The largest packet GSO takes: a 64 KiB IP packet, as Linux's default gso_max_size. */
export const GSO_MAX = 65535;

export interface GsoStats {
  /** TCP packets above the MTU the stack cut itself (no TSO in the driver). */
  gsoPackets: number;
  /** The segments they were cut into (each counts in the IPv4 and link `tx` too). */
  gsoSegments: number;
}

/** The sink that lends each segment's frame from the driver and commits it. */
class DriverSink implements SegmentSink, LentFrame {
  buf: Uint8Array = new Uint8Array(0);
  base = 0;
  frameLen = 0;
  now = 0;
  /** A frame was lent by `SoftGso.prime`: the next `take` uses it. */
  primed = false;
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
  /** The packet whose rest waits for room (its buffer, kept until it is all sent), and what it was cut by. */
  private pendingBuf: Uint8Array | null = null;
  private pendingFrom = 0;
  private pendingSegment = 0;

  constructor(
    driver: FrameDriver,
    /** Fill each segment's TCP checksum (the driver does not compute it). */
    private readonly fillTcp: boolean,
    private readonly stats: GsoStats,
  ) {
    this.sink = new DriverSink(driver, typeof driver.txLend === 'function' ? { buf: new Uint8Array(0), start: 0 } : undefined);
  }

  /** The rest of a packet waits for room in the driver. */
  get pending(): boolean {
    return this.pendingBuf !== null;
  }

  /** Lend the driver's frame (`len` bytes at most) for the next packet's first segment; false: no room now. */
  prime(len: number): boolean {
    const sink = this.sink;
    sink.primed = lendFrame(sink.driver, sink.lease, len, sink);
    return sink.primed;
  }

  /** The buffer to build a packet of frameLen bytes in (at its index 0). */
  begin(frameLen: number): Uint8Array {
    const s = this.scratch;
    if (s !== null && s.length >= frameLen) return s;
    return (this.scratch = new Uint8Array(Math.max(frameLen, 14 + 4 + GSO_MAX)));
  }

  /**
   * Cut the IPv4 TCP packet buf[0, ipAt + ipLen) (link header first, IP header at ipAt, `ihl` bytes) into segments
   * of `segment` payload bytes and send them; what the driver has no room for waits (`pending`). Returns what this
   * call did (one reused result). A packet is refused (nothing sent, `next` 0) while another's rest waits.
   */
  send(now: number, buf: Uint8Array, ipAt: number, ihl: number, ipLen: number, segment: number): CutResult {
    const at = this.at;
    if (this.pendingBuf !== null) {
      const r = this.result;
      r.total = 1;
      r.next = r.emitted = r.dropped = 0;
      return r;
    }
    at.start = 0;
    at.ip = ipAt;
    at.tcp = ipAt + ihl;
    at.end = ipAt + ipLen;
    this.stats.gsoPackets++;
    return this.cut(now, buf, segment, 0);
  }

  /** Send what waits of the last packet, as far as the driver has room. True when nothing waits any more. */
  resume(now: number): boolean {
    const buf = this.pendingBuf;
    if (buf === null) return true;
    this.pendingBuf = null;
    this.cut(now, buf, this.pendingSegment, this.pendingFrom);
    return this.pendingBuf === null;
  }

  private cut(now: number, buf: Uint8Array, segment: number, from: number): CutResult {
    this.sink.now = now;
    const r = cutTcpPacket(buf, this.at, segment, this.fillTcp, this.sink, this.result, from);
    this.sink.primed = false; // a primed frame left unused (none: the first take uses it) is not kept
    this.stats.gsoSegments += r.emitted;
    if (r.next < r.total) {
      this.pendingBuf = buf;
      this.pendingFrom = r.next;
      this.pendingSegment = segment;
    }
    return r;
  }
}
