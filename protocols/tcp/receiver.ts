/**
 * The receiving half of one connection: the receive sequence variables (RFC 9293 3.3.1), the receive ring and its
 * logical size (auto-tuned like Linux's tcp_rcv_space_adjust), the out-of-order queue, the right edge offered to the
 * peer (receiver SWS avoidance, never shrinking), and the ACK policy: delayed, quick, coalesced per receive batch, and
 * the SACK / D-SACK blocks the next ACK reports (RFC 2018, RFC 2883). It decides what is owed; the connection sends.
 * Payload views are borrowed: kept bytes are copied (once) into the receive queue or the out-of-order queue, and the
 * reader may take the receive queue's bytes as views. Nothing throws.
 */
import type { TcpConnection } from './connection.js';
import type { TcpConnHost } from './host.js';
import type { ResolvedTcpOptions } from './options.js';
import type { TcpStats } from './info.js';
import { RecvQueue } from './recv-queue.js';
import { OutOfOrderQueue } from './ooo-queue.js';
import { COALESCE_MAX_BYTES, EMPTY_OOO, EMPTY_RCV, MAX_WINDOW, NEVER } from './conn-common.js';
import { seqAdd, seqDiff, seqLe, seqLt } from './seq.js';

export class Receiver {
  private readonly c: TcpConnection;
  private readonly o: ResolvedTcpOptions;
  private readonly stats: TcpStats;
  private readonly host: TcpConnHost;
  irs = 0;
  rcvNxt = 0;
  /** The right edge of the window last offered (RCV.NXT + RCV.WND when it was sent): never moves left. */
  rcvAdvEdge = 0;
  /** In-order bytes not read yet (the shared empty stand-in until the first data). */
  rcvBuf: RecvQueue = EMPTY_RCV;
  /** The receive buffer size (what the window offers): the bytes queued count against it. Auto-tuning raises it. */
  rcvCap = 0;
  ooo: OutOfOrderQueue = EMPTY_OOO;
  finRcvd = false;
  /** A FIN arrived beyond RCV.NXT (at oooFinSeq): it is processed when the hole before it fills. */
  oooFin = false;
  oooFinSeq = 0;
  /** An ACK is owed now. */
  ackNow = false;
  /**
   * An ACK is owed for in-order data only (coalesceAcks): it goes out with the next output, at the latest when the
   * layer polls after the receive batch, so several segments of one batch get one ACK (as GRO gives Linux).
   */
  ackSoon = false;
  /** In-order bytes received since the last ACK (an ACK at least every second full-sized segment). */
  unackedBytes = 0;
  /** ACKs still sent at once, without delay (at the start of a connection, like Linux's quick ACK mode). */
  quickAcks: number;
  /** The peer's segment size as seen (the largest segment received, up to our MSS). */
  rcvMssEst = 536;
  /** A D-SACK block [dsackL, dsackR) goes out with the next ACK. */
  hasDsack = false;
  dsackL = 0;
  dsackR = 0;
  /** rcvWrite bound to this connection, for draining the out-of-order queue (made with the queue). */
  sink: ((d: Uint8Array) => number) | undefined = undefined;
  /** Auto-tuning: when the current measurement interval began and what the reader took in it. */
  rcvSpaceTime = 0;
  rcvSpaceCopied = 0;
  /**
   * Receive-side RTT estimate (ms) for auto-tuning (like Linux tcp_rcv_rtt_measure), negative until measured. A
   * number field, never undefined: a field that may hold undefined boxes every double stored in it (a heap number
   * per segment received); `rcvRtt` gives the undefined form.
   */
  private rcvRttV = -1;
  rcvRttSeq = 0;
  rcvRttTime = -1;

  get rcvRtt(): number | undefined {
    return this.rcvRttV >= 0 ? this.rcvRttV : undefined;
  }
  /** When an unacceptable segment was last answered (the invalidAckIntervalMs rate limit). */
  lastInvalidAckAt = -Infinity;

  constructor(c: TcpConnection, host: TcpConnHost) {
    this.c = c;
    this.host = host;
    this.o = host.opts;
    this.stats = host.stats;
    this.quickAcks = this.o.quickAcks;
  }

  /** RCV.NXT + RCV.WND: the right edge of the window offered (never left of RCV.NXT). */
  windowEnd(): number {
    return seqAdd(this.rcvNxt, Math.max(0, seqDiff(this.rcvAdvEdge, this.rcvNxt)));
  }

  /** RFC 9293 3.10.7.4 first check: whether `segLen` sequence numbers from `seq` are acceptable. */
  acceptable(seq: number, segLen: number): boolean {
    const rcvWnd = Math.max(0, seqDiff(this.rcvAdvEdge, this.rcvNxt));
    const rcvEnd = seqAdd(this.rcvNxt, rcvWnd);
    if (segLen === 0) {
      // Like Linux (tcp_sequence), a zero-length segment at the right edge is accepted: a peer that sent up to our
      // window edge carries SEG.SEQ = RCV.NXT + RCV.WND on its pure ACKs after a loss, and they must not be lost.
      return rcvWnd === 0 ? seq === this.rcvNxt : seqLe(this.rcvNxt, seq) && seqLe(seq, rcvEnd);
    }
    if (rcvWnd === 0) return false;
    const last = seqAdd(seq, segLen - 1);
    return (seqLe(this.rcvNxt, seq) && seqLt(seq, rcvEnd)) || (seqLe(this.rcvNxt, last) && seqLt(last, rcvEnd));
  }

  /** An unacceptable segment's text: a duplicate of data already received is reported with a D-SACK (RFC 2883). */
  duplicateArrived(seq: number, len: number): void {
    if (this.c.neg.sackOk && len > 0 && seqLe(seqAdd(seq, len), this.rcvNxt)) this.setDsack(seq, seqAdd(seq, len));
  }

  /**
   * Acceptable text starting at `seq` below RCV.NXT: how many of its `len` leading bytes were received before (all of
   * them, or up to RCV.NXT). Those are reported with a D-SACK block (RFC 2883 4.1).
   */
  oldBytes(seq: number, len: number): number {
    const skip = seqDiff(this.rcvNxt, seq);
    if (skip >= len) {
      if (len > 0 && this.c.neg.sackOk) this.setDsack(seq, seqAdd(seq, len));
      return len;
    }
    if (this.c.neg.sackOk) this.setDsack(seq, this.rcvNxt);
    return skip;
  }

  /** The first window offered (at the handshake): RCV.NXT plus what the buffer holds, within the window field. */
  openWindow(): void {
    this.rcvAdvEdge = seqAdd(this.rcvNxt, Math.min(this.rcvFree(), MAX_WINDOW << this.c.neg.rcvWs));
  }

  /**
   * An ACK owed for in-order data: coalesced per receive batch when coalesceAcks is on, else sent at once. A batch
   * never holds back more than COALESCE_MAX_BYTES unacknowledged (GRO's 64 KiB aggregate), so the sender's ACK
   * clock keeps ticking within large batches.
   */
  ackInOrder(): void {
    if (this.o.coalesceAcks && !this.ackNow && this.unackedBytes < COALESCE_MAX_BYTES) this.ackSoon = true;
    else this.ackNow = true;
  }

  /**
   * delayFinAck: the ACK of a FIN that moves us to CLOSE-WAIT waits for the delayed-ACK timer, as Linux's (tcp_fin
   * enters ping-pong mode): the application's answer (its FIN, or data) usually carries it. RFC 9293 3.10.7.4 asks
   * for an ACK of the FIN, RFC 1122 4.2.3.2 lets it be delayed like any other.
   */
  delayAck(now: number): void {
    this.ackNow = false;
    if (this.c.tmr.delackAt === NEVER) this.c.tmr.delackAt = now + this.o.delayedAckMs;
  }

  /**
   * Receive-side RTT (Linux tcp_rcv_rtt_measure / _ts): from TSecr on data segments (the echo of one of our ACKs),
   * else the time it takes to receive one window of data (an upper bound, so the minimum is kept).
   */
  rcvRttMeasure(now: number, tsEcr: number | undefined): void {
    if (this.c.neg.tsOk && tsEcr !== undefined && tsEcr !== 0) {
      const d = this.c.neg.tsDiff(now, tsEcr);
      if (d >= 0 && d < 0x7fffffff) this.rcvRttV = this.rcvRttV < 0 ? d : 0.875 * this.rcvRttV + 0.125 * d;
      return;
    }
    if (this.rcvRttTime >= 0 && seqLt(this.rcvNxt, this.rcvRttSeq)) return;
    if (this.rcvRttTime >= 0) {
      const d = now - this.rcvRttTime;
      this.rcvRttV = this.rcvRttV < 0 ? d : Math.min(this.rcvRttV, d);
    }
    this.rcvRttSeq = seqAdd(this.rcvNxt, Math.max(1, seqDiff(this.rcvAdvEdge, this.rcvNxt)));
    this.rcvRttTime = now;
  }

  receiveText(now: number, seq: number, data: Uint8Array, start = 0, end = data.length, tsEcr?: number): void {
    const len = end - start;
    // Linux's tcp_measure_rcv_mss: a GRO packet counts as its segment size (gso_size), not its length.
    const gso = this.host.rx.segSize;
    const segLen = gso > 0 && gso < len ? gso : len;
    if (segLen > this.rcvMssEst) this.rcvMssEst = Math.min(segLen, this.c.neg.advMss);
    if (seq === this.rcvNxt) {
      const n = this.rcvWrite(data, start, end);
      if (n < len) this.stats.rcvWindowTrimmed += len - n;
      this.rcvNxt = seqAdd(this.rcvNxt, n);
      this.c.cnt.bytesReceived += n;
      if (this.ooo.segments > 0) {
        const dup = this.c.neg.sackOk && !this.hasDsack ? this.ooo.firstHeldWithin(seq, seqAdd(seq, n)) : undefined;
        if (dup) this.setDsack(dup[0], dup[1]); // RFC 2883 4: the new data repeats bytes held out of order
        const before = this.rcvNxt;
        const held = this.ooo.memory;
        this.sink ??= (d: Uint8Array): number => this.rcvWrite(d, 0, d.length);
        this.rcvNxt = this.ooo.drain(this.rcvNxt, this.sink);
        this.host.oooAdjust(this.ooo.memory - held);
        if (this.ooo.segments === 0) this.ooo = EMPTY_OOO; // holes are rare: give the queue back to the GC
        this.c.cnt.bytesReceived += seqDiff(this.rcvNxt, before);
        this.ackNow = true; // a hole was filled: ACK at once (RFC 5681 4.2)
      }
      if (this.ackNow || this.quickAcks > 0) {
        if (this.quickAcks > 0) this.quickAcks--;
        this.ackInOrder();
      } else {
        // RFC 9293 3.8.6.3 / RFC 5681 4.2: ACK at least every second full-sized segment, else within delayedAckMs.
        this.unackedBytes += n;
        if (this.unackedBytes >= 2 * this.rcvMssEst) this.ackInOrder();
        else if (this.c.tmr.delackAt === NEVER) this.c.tmr.delackAt = now + this.o.delayedAckMs;
      }
      if (n > 0) {
        this.rcvRttMeasure(now, tsEcr);
        this.c.onReadable?.();
      }
    } else {
      // Out of order: keep a copy (within the cap) and send an immediate duplicate ACK (RFC 5681 4.2).
      const held = this.ooo.memory;
      if (!this.host.oooAllowed(len + this.ooo.overhead)) this.stats.oooTotalDrops++;
      else {
        if (this.ooo === EMPTY_OOO) this.ooo = new OutOfOrderQueue(this.o.oooLimit);
        if (!this.ooo.insert(seq, data.subarray(start, end))) this.stats.oooDrops++;
      }
      this.host.oooAdjust(this.ooo.memory - held);
      this.ackNow = true;
    }
  }

  /** RFC 2018 4 / RFC 2883: the D-SACK block first, then the most recent out-of-order blocks, at most `maxBlocks`. */
  sackBlocksInto(out: number[], maxBlocks: number): void {
    let n = 0;
    if (this.hasDsack) {
      out.push(this.dsackL, this.dsackR);
      n++;
    }
    if (n < maxBlocks && this.ooo.segments > 0) {
      for (const [l, r] of this.ooo.sackBlocks(maxBlocks - n)) out.push(l, r);
    }
  }

  setDsack(l: number, r: number): void {
    this.hasDsack = true;
    this.dsackL = l;
    this.dsackR = r;
    this.ackNow = true;
  }

  /** The window field for an outgoing segment: receiver SWS avoidance (RFC 9293 3.8.6.2.2), never shrinking. */
  windowField(): number {
    const free = this.rcvFree();
    const edge = seqAdd(this.rcvNxt, Math.min(free, MAX_WINDOW << this.c.neg.rcvWs));
    const grow = seqDiff(edge, this.rcvAdvEdge);
    if (grow > 0 && (grow >= Math.min(this.rcvCap >>> 1, this.c.neg.advMss) || seqLe(this.rcvAdvEdge, this.rcvNxt))) {
      this.rcvAdvEdge = edge;
    }
    const wnd = Math.max(0, seqDiff(this.rcvAdvEdge, this.rcvNxt));
    return Math.min(MAX_WINDOW, wnd >>> this.c.neg.rcvWs);
  }

  /**
   * After the application read. With data received since the last ACK (RCV.NXT past Linux's rcv_wup), an ACK when
   * the window grows by 2 segments or half the buffer, or opens from zero: it acknowledges that data too. With
   * nothing new to acknowledge, only a window raised "significantly", Linux's tcp_cleanup_rbuf rule: the window
   * offered now is at most half the largest we can offer, and the read lets it at least double (by at least the SWS
   * threshold, RFC 9293 3.8.6.2.2); a window that is still large needs no update of its own, the next ACK carries
   * the new edge. The API reads a bulk transfer one view per slab, so a 64 KiB GSO packet is two or three reads:
   * each sent a pure window update before, 1.5 ACKs per packet received where Linux sends one.
   */
  maybeWindowUpdate(now: number): void {
    if (!this.c.isSynchronized() || this.finRcvd) return;
    // Only what the window field can carry counts: a buffer above 65535 << RCV.WIND.SHIFT does not open it further.
    const clamp = Math.min(this.rcvCap, MAX_WINDOW << this.c.neg.rcvWs);
    const free = Math.min(this.rcvFree(), clamp);
    const cur = Math.max(0, seqDiff(this.rcvAdvEdge, this.rcvNxt));
    const mss = this.c.neg.advMss;
    const send =
      this.rcvNxt !== this.c.neg.lastAckSent
        ? free - cur >= Math.min(this.rcvCap >>> 1, 2 * mss) || (cur < mss && free >= mss)
        : 2 * cur <= clamp && free >= 2 * cur && free - cur >= Math.min(this.rcvCap >>> 1, mss);
    if (send) {
      this.ackNow = true;
      this.c.snd.output(now);
    }
  }

  /** Receive-buffer auto-tuning (like Linux tcp_rcv_space_adjust): grow when the reader drains a lot per RTT. */
  autoTune(now: number): void {
    // The interval is one RTT as the receiver sees it (a pure receiver has no sender-side estimate).
    // Plain numbers (rcvRttV, srttMs), not the `number | undefined` getters: a heap number per segment read.
    if (this.rcvRttV < 0 && !this.c.rtt.hasSample) return;
    const rtt = this.rcvRttV >= 0 ? this.rcvRttV : this.c.rtt.srttMs;
    if (now - this.rcvSpaceTime < Math.max(rtt, 1)) return;
    const want = 2 * this.rcvSpaceCopied;
    if (want > this.rcvCap && this.rcvCap < this.o.maxReceiveBuffer) {
      // Growing past what the window field can offer (65535 << RCV.WIND.SHIFT) buys nothing; but the cap only ever
      // grows: the buffer may already be larger (receiveBuffer > 65535 without window scaling), and lowering it
      // below what is buffered plus offered would refuse in-window data (RFC 9293 3.8.6: no shrinking).
      const grown = Math.min(this.o.maxReceiveBuffer, Math.max(want, this.rcvCap * 2), MAX_WINDOW << this.c.neg.rcvWs);
      if (grown > this.rcvCap) {
        if (this.host.bufferAllowed(grown - this.rcvCap)) {
          this.rcvCap = grown;
          this.c.rechargeBuffers();
        } else {
          this.stats.bufferLimitHits++;
        }
      }
    }
    this.rcvSpaceTime = now;
    this.rcvSpaceCopied = 0;
  }

  /** Receive space left under the logical receive buffer size (the bytes queued count against it). */
  rcvFree(): number {
    const f = this.rcvCap - this.rcvBuf.length;
    return f > 0 ? f : 0;
  }

  /** Append d[start, end) to the receive queue, within the window; returns the bytes taken. */
  rcvWrite(d: Uint8Array, start: number, end: number): number {
    let q = this.rcvBuf;
    const len = end - start;
    // acceptWholeWhenEmpty: a segment into an empty buffer is taken whole (the connection checked it is in order).
    const n = this.o.acceptWholeWhenEmpty && q.length === 0 ? len : Math.min(len, this.rcvFree());
    if (n <= 0) return 0;
    // The logical buffer (rcvCap) is already charged; the shared empty stand-in is replaced on first data.
    if (q === EMPTY_RCV) this.rcvBuf = q = new RecvQueue(this.host.allocBytes, this.host.rxViews);
    return q.writeRange(d, start, start + n);
  }

  /**
   * The ACK owed to an unacceptable segment (RFC 9293 3.10.7.4 first check, RFC 7323 5.3 PAWS). Segments carrying
   * data are always answered (the peer needs the ACK / D-SACK to recover); pure ACKs and SYNs get at most one ACK
   * per invalidAckIntervalMs per connection, like Linux's tcp_oow_rate_limited: otherwise two ends that each find
   * the other's segments unacceptable ACK each other forever, and a flood at a 4-tuple is answered one for one.
   */
  invalidAck(now: number, segLen: number, syn: boolean): void {
    if (segLen > 0 && !syn) {
      this.c.tx.sendAck(now);
      return;
    }
    if (now - this.lastInvalidAckAt < this.o.invalidAckIntervalMs) {
      this.stats.invalidAcksRateLimited++;
      return;
    }
    if (this.c.tx.sendAck(now)) this.lastInvalidAckAt = now;
  }

  /** RFC 5961 section 7: a rate-limited ACK in answer to a suspicious RST / SYN / ACK. */
  challengeAck(now: number): void {
    if (!this.host.challengeAckAllowed(now)) {
      this.stats.challengeAcksRateLimited++;
      return;
    }
    this.stats.challengeAcksSent++;
    this.c.tx.sendAck(now);
  }
}
