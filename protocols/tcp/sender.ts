/**
 * The sending half of one connection: the send sequence variables (RFC 9293 3.3.1) and the peer's window, the send
 * ring (bytes from SND.UNA on), and the rules of output: retransmissions first, then new data within cwnd - pipe
 * (RFC 6675) and the offered window, with Nagle (RFC 896 / RFC 9293 3.7.4), sender SWS avoidance (RFC 9293
 * 3.8.6.2.1), zero-window probing (3.8.6.1) and TSO bursts; and the processing of the ACKs that come back (window
 * update, trimming the ring and the scoreboard, RTT samples, the FIN's acknowledgement). Segments are built and
 * handed to the layer by the Transmitter (tx.ts). Nothing throws.
 */
import type { TcpConnection } from './connection.js';
import type { TcpConnHost } from './host.js';
import type { ResolvedTcpOptions } from './options.js';
import type { TcpStats } from './info.js';
import { ByteRing } from './byte-ring.js';
import type { SentSeg } from './scoreboard.js';
import { CwndUsage } from './cwnd-usage.js';
import { SenderChrono } from './chrono.js';
import { EMPTY_RING, INITIAL_RING, NEVER } from './conn-common.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';
import { TcpFlag, type TcpFields } from './wire.js';
import { burstSegments, wholeUs } from './push.js';
import { RESOURCE_PROBE_MS } from './timers.js';
import { isIpv6Id } from './addr-ids.js';

export class Sender {
  private readonly c: TcpConnection;
  private readonly o: ResolvedTcpOptions;
  private readonly stats: TcpStats;
  private readonly host: TcpConnHost;
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  sndWnd = 0;
  /** The largest window the peer offered (sender SWS avoidance, RFC 5961 5.2's ACK check). */
  maxSndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  /** Sequence number of the first byte in sndBuf. */
  bufSeq = 0;
  sndBuf: ByteRing = EMPTY_RING;
  /** A FIN is queued after the data (shutdown or close), has been sent, has been acknowledged. */
  finQueued = false;
  finSent = false;
  finAcked = false;
  noDelay: boolean;
  /** `send` accepted less than offered: onWritable fires when space frees. */
  wantWritable = false;
  /** The persist timer expired with a window open: send what it allows (RFC 9293 3.8.6.2.1 (4)). */
  swsOverride = false;
  /** When the last acceptable ACK arrived. */
  lastAckAt = 0;
  /**
   * TCP_CORK is on (setCork); the last write asked for more to come (MSG_MORE); data up to pushSeq leaves whatever
   * either says (uncorking and setNoDelay(true) push what is queued, Linux's TCP_NAGLE_PUSH).
   */
  corked = false;
  more = false;
  pushSeq = 0;
  /** The end of the last segment shorter than the MSS sent (Minshall's Nagle, Linux's snd_sml). */
  sndSml = 0;
  /** When new data last left (slowStartAfterIdle, like Linux's lsndtime). */
  lastDataSentAt = 0;
  /** When SND.UNA last advanced or data left with nothing outstanding (the user timeout counts from it). */
  progressAt = 0;
  /** Whether cwnd limits the sender (cwnd-usage.ts), and the time it spent limited by what (chrono.ts). */
  readonly usage = new CwndUsage();
  readonly chrono = new SenderChrono();

  constructor(c: TcpConnection, host: TcpConnHost) {
    this.c = c;
    this.host = host;
    this.o = host.opts;
    this.stats = host.stats;
    this.noDelay = this.o.noDelay;
  }

  /** The send sequence space begins: ISS, SND.UNA, and SND.NXT where the first byte of data will go. */
  start(iss: number, una: number, nxt: number): void {
    this.iss = iss;
    this.sndUna = una;
    this.sndNxt = nxt;
    this.bufSeq = nxt;
    this.sndSml = nxt;
    this.pushSeq = nxt;
    this.c.rec.recoverSeq = iss;
    this.c.rec.rackFack = iss;
  }

  /** The peer's window from a handshake segment: SND.WND (scaled already) and the segment's SEQ and ACK. */
  setWindow(wnd: number, wl1: number, wl2: number): void {
    this.sndWnd = wnd;
    this.maxSndWnd = wnd;
    this.sndWl1 = wl1;
    this.sndWl2 = wl2;
  }

  /**
   * The send buffer's limit now: `sendBuffer`, raised to twice the congestion window up to `maxSendBuffer`, as
   * Linux's tcp_sndbuf_expand sizes sk_sndbuf (2 * cwnd segments' worth), so the buffer never caps what the
   * network would take. Memory stays bounded by maxSendBuffer per connection and bufferMemoryLimit in total.
   */
  sndLimit(): number {
    const o = this.o;
    if (o.maxSendBuffer <= o.sendBuffer) return o.sendBuffer;
    return Math.min(o.maxSendBuffer, Math.max(o.sendBuffer, 2 * this.c.cc.cwnd));
  }

  /**
   * Grow the send ring (within sndLimit and the layer's bufferMemoryLimit) so that `len` more bytes may fit; what
   * does not fit is the caller's backpressure.
   */
  makeRoom(len: number): void {
    const limit = this.sndLimit();
    if (len > this.sndBuf.free && this.sndBuf.capacity < limit) {
      if (this.sndBuf === EMPTY_RING) {
        // The first ring (up to INITIAL_RING) is always granted, as the eager 16 KiB ring was: a connection must be
        // able to send something whatever the others hold. Growth beyond it asks bufferMemoryLimit, below.
        this.sndBuf = new ByteRing(Math.min(this.o.sendBuffer, INITIAL_RING));
        this.c.rechargeBuffers();
      }
      if (len > this.sndBuf.free && this.sndBuf.capacity < limit) {
        const cap = this.sndBuf.capacity;
        // Each resize copies what the ring holds, and the limit (twice cwnd) creeps up by a segment or two per ACK:
        // growing to just the limit on every write that does not fit copied the whole ring per ACK (1.3 GB copied
        // for a 5 MiB transfer over the raw-IP driver, 2026-12-03). So grow by at least a quarter, past the limit
        // if need be (within maxSendBuffer); the connection's send() still queues no more than the limit.
        const target = Math.min(Math.max(limit, this.o.maxSendBuffer), Math.max(Math.min(limit, Math.max(cap * 2, this.sndBuf.length + len)), cap + (cap >> 2)));
        if (this.host.bufferAllowed(target - cap)) {
          this.sndBuf.resize(target);
          this.c.rechargeBuffers();
        } else {
          this.stats.bufferLimitHits++; // no growth: the caller sees backpressure
        }
      }
    }
  }

  /**
   * Send the FIN a shutdown queued, now or, when the layer has already sent closeBurst FINs since its last poll
   * (an application closing thousands of connections in one loop), from the next poll: the peer's answers then
   * arrive at the pace the stack takes frames in instead of overrunning its receive ring all at once.
   */
  finOutput(now: number): void {
    if (this.host.finAllowed()) {
      this.output(now);
      return;
    }
    this.stats.finsDeferred++;
    this.c.txPending = true;
    this.host.connWake(this.c);
  }

  /** RFC 5482: data waited longer than the user timeout without progress: RST, ETIMEDOUT. */
  userTimedOut(now: number): boolean {
    const limit = this.c.tmr.userTimeout;
    if (limit === 0 || now - this.progressAt < limit) return false;
    this.stats.timeouts++;
    this.c.tx.sendRst(now, this.sndNxt);
    this.c.toClosed('ETIMEDOUT');
    return true;
  }


  processAck(now: number, seg: TcpFields, dataLen: number): void {
    const ack = seg.ack;
    const acked = seqDiff(ack, this.sndUna);
    const sackedBefore = this.c.sb.sackedBytes;
    const wndBefore = this.sndWnd;
    this.lastAckAt = now;
    if (acked > 0) this.progressAt = now;
    // Window update (RFC 9293 3.10.7.4 fifth check, SND.WL1 / SND.WL2), and, like Linux (tcp_may_update_window),
    // from any ACK that advances SND.UNA: it carries the receiver's current offer even when its SEG.SEQ is older
    // (a retransmission overtaken by a later ACK). The offered right edge is SND.WL2 + SND.WND (see sndRoom).
    if (seqGe(ack, this.sndUna) && (acked > 0 || seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack)))) {
      this.sndWnd = seg.window << this.c.neg.sndWs;
      if (this.sndWnd > this.maxSndWnd) this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
    }
    if (this.c.neg.sackOk && seg.sackBlocks.length > 0) this.c.rec.processSack(now, seg.sackBlocks, ack);
    if (acked > 0) {
      this.ackNewData(now, seg, ack, sackedBefore);
    } else if (
      acked === 0 &&
      dataLen === 0 &&
      !(seg.flags & (TcpFlag.SYN | TcpFlag.FIN)) &&
      this.sndWnd === wndBefore &&
      seqGt(this.sndNxt, this.sndUna) &&
      // RFC 6675 2: with SACK, a duplicate ACK also SACKs data not SACKed before (one that repeats the blocks reports
      // nothing new having left the network).
      (!this.c.neg.sackOk || this.c.sb.sackedBytes > sackedBefore)
    ) {
      this.c.rec.onDupAck(now);
    }
    const lostBefore = this.c.sb.lostBytes;
    // RACK (RFC 8985 6.2) on every ACK that may reveal a loss: with SACKed or retransmitted data outstanding, and
    // on every ACK of a recovery (a cumulative ACK a retransmission earned can leave neither, while an original sent
    // before that retransmission is still missing; Linux runs RACK from tcp_fastretrans_alert in Recovery).
    if (this.c.neg.sackOk && (this.c.sb.sackedBytes > 0 || this.c.sb.retransOut > 0 || this.c.rec.inRecovery) && !this.c.sb.empty) {
      this.c.rec.detectLosses(now);
    }
    this.c.rec.earlyRetransmit(now); // RFC 5827, when lossDetection asks for it
    // Delivered by this ACK: cumulatively (acked, taking back what was SACKed before) or newly SACKed (RFC 6937).
    if (this.c.rec.inRecovery) this.c.rec.onAckDone(Math.max(0, acked) + this.c.sb.sackedBytes - sackedBefore, acked > 0, this.c.sb.lostBytes > lostBefore);
    this.c.rec.reorder.endAck(this.c.rec.rackFack, this.c.neg.mss, !this.c.rec.rtoEpisode);
    if (acked <= 0 && this.c.sb.sackedBytes > sackedBefore) this.c.rec.onSackDelivered(now, this.c.sb.sackedBytes - sackedBefore);
    if (this.sndRoom() > 0 && this.c.tmr.persistAt !== NEVER) {
      this.c.tmr.persistAt = NEVER;
      this.c.tmr.persistBackoff = 0;
    }
  }

  /**
   * Bytes the peer's offered window still allows beyond SND.NXT: the right edge is SND.WL2 + SND.WND (RFC 9293
   * 3.8.6: the window offered by the segment that updated it counts from that segment's ACK, not from SND.UNA).
   */
  sndRoom(): number {
    return seqDiff(seqAdd(this.sndWl2, this.sndWnd), this.sndNxt);
  }

  ackNewData(now: number, seg: TcpFields, ack: number, sackedBefore: number): void {
    const sackedMid = this.c.sb.sackedBytes;
    this.c.sb.trimAcked(now, ack, this.c.rec);
    const rttCandidate = this.c.sb.rttCandidate;
    // Delivered by this ACK (RFC 6937's DeliveredData): newly acknowledged but not SACKed before, plus newly SACKed.
    const delivered = seqDiff(ack, this.sndUna) - (sackedMid - this.c.sb.sackedBytes) + (sackedMid - sackedBefore);
    if (this.c.sb.finDelivered) this.finAcked = true;
    // Data bytes acknowledged (excluding SYN / FIN sequence numbers).
    const dataEnd = seqAdd(this.bufSeq, this.sndBuf.length);
    const dataAcked = seqDiff(seqLt(ack, dataEnd) ? ack : dataEnd, this.bufSeq);
    if (dataAcked > 0) {
      this.sndBuf.discard(dataAcked);
      this.bufSeq = seqAdd(this.bufSeq, dataAcked);
      this.c.cnt.bytesAcked += dataAcked;
    }
    const ackedBytes = seqDiff(ack, this.sndUna);
    const flightBefore = seqDiff(this.sndNxt, this.sndUna);
    this.c.rec.onTlpAcked(now, ack);
    this.sndUna = ack;
    // Forward progress confirms an IPv6 neighbour (RFC 4861 7.3.1); ARP takes no such hint: no call per IPv4 ACK.
    if (isIpv6Id(this.c.remoteIp)) this.host.connProgress(now, this.c);
    // RTT measurement: RFC 7323 4 (timestamps) or RFC 6298 3 with Karn's algorithm.
    let rttMs: number | undefined;
    if (this.c.neg.tsOk && seg.tsEcr !== undefined && seg.tsEcr !== 0) {
      const d = this.c.neg.tsDiff(now, seg.tsEcr);
      if (d >= 0 && d < 0x7fffffff) rttMs = d;
    } else if (rttCandidate >= 0) rttMs = rttCandidate;
    if (rttMs !== undefined) {
      this.rttSample(rttMs);
      if (!this.c.rec.inRecovery) this.c.cc.onRttSample?.(now, rttMs, ack, this.sndNxt); // HyStart
    }

    this.c.rec.onAckAdvanced(now, ack, ackedBytes, flightBefore, rttMs, this.c.neg.tsOk ? seg.tsEcr : undefined, delivered);

    // RFC 6298 5.2 / 5.3: stop the timer when all is acknowledged, else restart it.
    if (this.c.sb.empty) {
      this.c.tmr.rtoAt = NEVER;
      this.c.tmr.tlpAt = NEVER;
      this.c.tmr.reoAt = NEVER;
    } else {
      this.c.tmr.armRto(now);
      this.c.tmr.tlpAt = NEVER;
      this.c.tmr.armTlp(now); // RFC 8985 7.2: re-arm the PTO on an ACK that advances SND.UNA
    }
    if (this.finAcked) {
      switch (this.c.state) {
        case 'FIN-WAIT-1':
          this.c.state = 'FIN-WAIT-2';
          if (this.c.appClosed) this.c.tmr.closeAt = now + this.o.finWait2Timeout;
          break;
        case 'CLOSING':
          this.c.toTimeWait(now);
          break;
        case 'LAST-ACK':
          this.c.toClosed(undefined);
          return;
        default:
          break;
      }
    }
    if (this.wantWritable && this.sndBuf.length < this.sndLimit() && !this.finQueued) {
      this.wantWritable = false;
      this.c.onWritable?.();
    }
  }

  rttSample(ms: number): void {
    this.c.rtt.sample(ms);
    this.c.rtt.resetBackoff();
    if (ms < this.c.rec.rackMinRtt) this.c.rec.rackMinRtt = ms;
  }

  /**
   * `output` after a received segment: when nothing is lost, no byte or FIN unsent and the path unchanged, what
   * output would do without the windows' arithmetic (in a request/response exchange the ACK the segment carried
   * emptied the ring). A method of its own: the same test inside `output` made V8 box the time it passes on, a
   * 16 B heap number per call (bench/inmemory-tcp.ts --heap, 2026-12-04). The shortcut leaves `rearm` to the caller
   * (segmentArrives rearms right after it); `output` rearms as before.
   */
  outputAfterSegment(now: number): void {
    const neg = this.c.neg;
    if (
      this.c.sb.lostBytes === 0 &&
      this.sndBuf.length <= seqDiff(this.sndNxt, this.bufSeq) &&
      !(this.finQueued && !this.finSent) &&
      this.host.paths.generation === neg.pathGen &&
      neg.pathMtu - 40 >= neg.mssRaw &&
      this.c.isSynchronized()
    ) {
      this.c.txPending = false;
      this.chrono.set(now, this.wantWritable ? 'sndbuf' : this.sndNxt !== this.sndUna ? 'busy' : 'idle');
      if (this.c.rcv.ackNow || this.c.rcv.ackSoon) this.c.tx.sendAck(now);
      return;
    }
    this.output(now);
  }

  /** Send what the windows allow: lost segments first, then new data, then a pure ACK if one is owed. */
  output(now: number): void {
    this.c.txPending = false;
    let sentAck = false;
    if (!this.c.isSynchronized()) {
      if (this.c.hs.synPending && (this.c.state === 'SYN-SENT' || this.c.state === 'SYN-RECEIVED')) this.c.tx.sendSyn(now);
      else if (this.c.rcv.ackNow && this.c.state === 'TIME-WAIT') this.c.tx.sendAck(now);
      return;
    }
    // RFC 1191 6.4: build segments for the current PMTU estimate. The host's path MTU can drop without this.c
    // connection seeing an ICMP message (a PMTU learned from another flow's error, a route MTU); segments sized
    // for the old MSS would then be refused (EMSGSIZE) until the estimate expires.
    const neg = this.c.neg;
    if (this.host.paths.generation !== neg.pathGen) this.refreshPath();
    const pmtu = neg.pathMtu;
    // The host refuses anything larger, so its estimate is obeyed below minMss too (the host floors it itself).
    if (pmtu - 40 < this.c.neg.mssRaw) this.lowerMss(now, pmtu, 64);
    if (this.sendOne(now)) return;
    const cwnd = this.c.rec.sendCwnd();
    // 1. Retransmissions (RFC 6675 5 NextSeg rule 1, RFC 8985, RFC 6298 5.4).
    if (this.c.sb.lostBytes > 0) {
      for (let i = this.c.sb.segHead; i < this.c.sb.segs.length && this.c.sb.lostBytes > 0; i++) {
        const s = this.c.sb.segs[i]!;
        if (!s.lost) continue;
        // RFC 5681 3.2 step 2 / RFC 6675 5 step 3: the first retransmission on entering recovery ignores cwnd.
        if (!this.c.rec.forceRetransmit && this.c.rec.pipe() + Math.min(s.len, this.c.neg.mss) > cwnd && this.c.rec.pipe() > 0) break;
        this.c.rec.forceRetransmit = false;
        if (!this.retransmit(now, s, i)) return this.driverBlocked(sentAck, now);
        sentAck = true;
      }
    }
    // 2. New data (RFC 9293 3.8.6.2.1 sender SWS, Nagle). With TSO, whole segments go out several at a time in one
    // packet the device cuts (Linux's tcp_tso_autosize without the pacing): the windows, Nagle and SWS still see
    // MSS-sized segments, because the batch holds only full ones and any short tail goes alone, as without TSO.
    const tsoMax = neg.pathTsoMax;
    const burst = tsoMax > 0 ? Math.max(1, Math.floor((tsoMax - 40 - (this.c.neg.tsOk ? 12 : 0)) / this.c.neg.mss)) * this.c.neg.mss : this.c.neg.mss;
    // The end of the packet Linux would send from here (push.ts), and whether it holds more than one segment.
    let pushEnd = this.sndNxt;
    let pushMulti = false;
    for (;;) {
      const offset = seqDiff(this.sndNxt, this.bufSeq);
      const avail = this.sndBuf.length - offset;
      const finPending = this.finQueued && !this.finSent;
      if (avail <= 0 && !finPending) break;
      const wndRoom = this.sndRoom();
      const cwndRoom = Math.max(cwnd - this.c.rec.pipe(), this.c.rec.limitedTransmitRoom());
      let len = Math.min(avail, burst, wndRoom, cwndRoom);
      if (len < 0) len = 0;
      if (len > this.c.neg.mss) len -= len % this.c.neg.mss;
      if (avail > 0 && len < avail && len < this.c.neg.mss) {
        // Sender SWS: only a full segment, or at least half the largest window the peer offered.
        const outstanding = seqGt(this.sndNxt, this.sndUna);
        const override = this.swsOverride && len > 0 && !outstanding;
        if (!override && !(len > 0 && len >= this.maxSndWnd / 2 && len === Math.min(avail, wndRoom))) {
          if (!outstanding && len < avail) this.c.tmr.armPersist(now);
          break;
        }
      }
      if (avail > 0 && len === avail && len < this.c.neg.mss && !this.noDelay && !finPending && this.nagleWaits()) {
        break; // Nagle (RFC 9293 3.7.4): a small segment waits while data is unacknowledged
      }
      if (avail > 0 && len === avail && len < this.c.neg.mss && (this.corked || this.more) && !finPending && seqLt(this.pushSeq, seqAdd(this.bufSeq, this.sndBuf.length))) {
        break; // TCP_CORK / MSG_MORE: a short segment waits for more data or a push
      }
      let withFin = finPending && len === Math.max(avail, 0) && wndRoom > len;
      if (len <= 0 && !withFin) {
        if (finPending && avail <= 0 && wndRoom <= 0 && !seqGt(this.sndNxt, this.sndUna)) this.c.tmr.armPersist(now);
        break;
      }
      const mss = this.c.neg.mss;
      if (this.o.pushBursts && len > 0 && seqGe(this.sndNxt, pushEnd)) {
        if (avail <= mss) {
          // At most one segment to send, whatever the burst size: the packet is this segment alone (pushMulti
          // false, PSH from the end of the data). burstSegments' pacing arithmetic would not change that (the
          // request/response case: once per segment, 1.5 % of a 64-byte transaction's profile, 2026-12-03).
          pushEnd = seqAdd(this.sndNxt, len);
          pushMulti = false;
        } else {
          const slowStartLow = cwnd < this.c.cc.ssthresh / 2;
          const segs = burstSegments(mss, cwnd, slowStartLow, wholeUs(this.c.rtt.srttMs), wholeUs(this.c.rec.rackMinRtt), this.o.minTsoSegs);
          let g = Math.min(avail, segs * mss, wndRoom, cwndRoom);
          // Whole segments, but for the tail of the data when Nagle lets it go with them.
          if (g > mss && (g < avail || (!this.noDelay && !finPending))) g -= g % mss;
          pushEnd = seqAdd(this.sndNxt, g);
          pushMulti = g > mss;
        }
      }
      // A packet the device or the stack's GSO cuts ends where Linux's would (push.ts): its segments, flags and
      // boundaries on the wire are those of a sender without TSO.
      if (burst > mss && this.o.pushBursts && len > 0 && seqGt(pushEnd, this.sndNxt) && len > seqDiff(pushEnd, this.sndNxt)) {
        len = seqDiff(pushEnd, this.sndNxt);
        withFin = false;
      }
      const push = this.o.pushBursts && (len > mss || (pushMulti && seqAdd(this.sndNxt, len) === pushEnd));
      if (!this.sendNew(now, offset, len, withFin, push)) return this.driverBlocked(sentAck, now);
      sentAck = true;
      if (withFin) break;
    }
    this.afterOutput(now, sentAck, cwnd);
  }

  /**
   * The end of an output round (the loop's, or sendOne's with nothing left unsent): what limited it for cwnd growth
   * and the chronographs, a pure ACK if one is owed and nothing carried it, the timers.
   */
  private afterOutput(now: number, sentAck: boolean, cwnd: number): void {
    const unsent = this.sndBuf.length - seqDiff(this.sndNxt, this.bufSeq);
    const cwndLimited = unsent > 0 && cwnd - this.c.rec.pipe() < Math.min(unsent, this.c.neg.mss);
    if (sentAck || cwndLimited) this.usage.onTransmit(this.sndUna, this.sndNxt, seqDiff(this.sndNxt, this.sndUna) - this.c.sb.sackedBytes, cwndLimited);
    const rwndLimited = unsent > 0 && this.sndRoom() < Math.min(unsent, this.c.neg.mss);
    this.chrono.set(now, rwndLimited ? 'rwnd' : this.wantWritable ? 'sndbuf' : unsent > 0 || this.sndNxt !== this.sndUna ? 'busy' : 'idle');
    if (!sentAck && (this.c.rcv.ackNow || this.c.rcv.ackSoon)) this.c.tx.sendAck(now);
    this.c.rearm();
  }

  /**
   * `output`'s answer when nothing is in flight and what waits is one segment the windows allow at once (a request
   * or a response, written whole): that segment, with what the loop below would decide for it, without the loop.
   * With nothing outstanding there is nothing lost, pipe is 0, Nagle (either variant) and the sender's SWS rule
   * let it go, it is its packet's only segment (PSH from the end of the data, as sendNew sets it), and no FIN, cork
   * or MSG_MORE waits; anything else (data beyond one MSS, a window or cwnd smaller than it, a FIN) is the loop's.
   * False: nothing done, the loop decides. The loop's own arithmetic for this case cost about 50 ns of a 64-byte
   * send's 520 in memory (bench/inmemory-tcp.ts, 2026-12-04). The round ends as the loop's does (afterOutput).
   */
  private sendOne(now: number): boolean {
    if (this.sndNxt !== this.sndUna || this.finQueued || this.corked || this.more || this.c.sb.lostBytes !== 0) return false;
    const offset = seqDiff(this.sndNxt, this.bufSeq);
    const len = this.sndBuf.length - offset;
    const cwnd = this.c.rec.sendCwnd();
    if (len <= 0 || len > this.c.neg.mss || len > this.sndRoom() || len > cwnd) return false;
    if (!this.sendNew(now, offset, len, false)) this.driverBlocked(false, now);
    else this.afterOutput(now, true, cwnd);
    return true;
  }

  /**
   * Ask the host for the path's MTU and TSO limit and keep them while its paths' generation stays (an IPv6 peer's
   * are asked on every output: the IPv6 layer keeps no generation).
   */
  private refreshPath(): void {
    const neg = this.c.neg;
    const dst = this.c.remoteIp;
    const gen = this.host.paths.generation;
    neg.pathMtu = this.host.mtuFor(dst);
    neg.pathTsoMax = this.host.tsoMaxFor(dst);
    neg.pathGen = isIpv6Id(dst) || gen < 0 ? -1 : gen; // -1 matches no generation: ask at the next output
  }

  /**
   * The driver had no transmit buffer (the layer retries from its next poll): this round ends without cwnd having
   * limited it, which cwnd growth must hear (Linux's tcp_write_xmit validates cwnd the same way when its queues
   * stop it). Not reporting it left the last round's "cwnd-limited" standing, and a sender held back by its driver
   * grew cwnd without bound (to megabytes over the raw-IP driver, with a few hundred kilobytes in flight).
   */
  private driverBlocked(sent: boolean, now: number): void {
    if (sent) this.usage.onTransmit(this.sndUna, this.sndNxt, seqDiff(this.sndNxt, this.sndUna) - this.c.sb.sackedBytes, false);
    if (this.c.tmr.localDrop) {
      this.c.tmr.armResourceProbe(now);
      this.c.rearm();
    }
  }

  /** TCP_CORK on or off; off pushes what is queued (at `now`, when given). */
  setCork(on: boolean, now: number | undefined): void {
    this.corked = on;
    if (!on) this.push(now);
  }

  /** What is queued now leaves whatever cork, MSG_MORE or Nagle say (sent at `now`, when given). */
  push(now: number | undefined): void {
    this.pushSeq = seqAdd(this.bufSeq, this.sndBuf.length);
    if (now !== undefined) this.output(now);
  }

  /**
   * Whether Nagle holds a short segment: while any data is unacknowledged (RFC 896, RFC 9293 3.7.4), or with
   * minshallNagle only while a short segment is (Minshall's variant, Linux's tcp_minshall_check), so the short tail
   * of a write leaves with its full segments.
   */
  private nagleWaits(): boolean {
    if (!this.o.minshallNagle) return seqGt(this.sndNxt, this.sndUna);
    return seqGt(this.sndSml, this.sndUna) && seqLe(this.sndSml, this.sndNxt);
  }

  /** `push`: PSH although the data goes on (the end of a packet of several segments, push.ts). */
  sendNew(now: number, offset: number, len: number, fin: boolean, push = false): boolean {
    const f = this.host.txFields;
    const mss = this.c.neg.mss;
    // PSH where the application's data ends (RFC 9293 3.9.1; Linux's tcp_push marks a write's last skb).
    const dataEnd = len > 0 && offset + len === this.sndBuf.length && !this.more; // MSG_MORE: not the end
    this.c.tx.fillHeader(f, this.sndNxt, TcpFlag.ACK | (fin ? TcpFlag.FIN : 0) | (dataEnd || (push && len > 0) ? TcpFlag.PSH : 0));
    this.c.tx.fillOptions(now, f, len);
    const tos = len > 0 ? this.c.ecn.newDataEct(f) : 0; // RFC 3168 6.1.2 / 6.1.4: ECT(0), and CWR after a reduction
    if (!this.c.tx.xmit(now, f, len > 0 ? this.sndBuf : null, offset, len, len > mss ? mss : undefined, tos)) {
      if (f.flags & TcpFlag.CWR) this.c.ecn.cwrPending = true; // not sent: the next one carries it
      return false;
    }
    // One record per segment on the wire, as if each had been sent alone: SACK, RACK, loss marking and
    // retransmission work on what the peer sees, not on how the packet left this.c host.
    if (len > 0 && len % mss !== 0) this.sndSml = seqAdd(this.sndNxt, len); // ends in a short segment
    this.sndNxt = this.c.sb.record(now, this.sndNxt, len, fin, mss);
    if (dataEnd) this.c.sb.segs[this.c.sb.segs.length - 1]!.psh = true;
    if (fin) this.finSent = true;
    if (seqDiff(this.sndNxt, this.sndUna) === len + (fin ? 1 : 0)) this.progressAt = now; // nothing was outstanding
    this.c.cnt.bytesSent += len;
    if (this.c.rec.inRecovery) this.c.rec.prrOut += len;
    this.lastDataSentAt = now;
    if (this.c.tmr.rtoAt === NEVER) this.c.tmr.armRto(now); // RFC 6298 5.1
    this.c.tmr.armTlp(now);
    return true;
  }

  retransmit(now: number, s: SentSeg, index: number): boolean {
    const dataLen = s.len - (s.fin ? 1 : 0);
    if (dataLen > this.c.neg.mss) {
      // PMTU went down: re-cut the lost run from here into segments of the new MSS (Linux's tcp_simple_retransmit),
      // or split this record (RFC 1191 / RFC 9293 3.7.3).
      if (!this.c.sb.recut(index, this.c.neg.mss)) this.c.sb.split(index, this.c.neg.mss);
      return this.retransmit(now, this.c.sb.segs[index]!, index);
    }
    const f = this.host.txFields;
    const offset = seqDiff(s.seq, this.bufSeq);
    this.c.tx.fillHeader(f, s.seq, TcpFlag.ACK | (s.fin ? TcpFlag.FIN : 0) | (s.psh ? TcpFlag.PSH : 0));
    this.c.tx.fillOptions(now, f, dataLen);
    if (!this.c.tx.xmit(now, f, dataLen > 0 ? this.sndBuf : null, offset, dataLen)) return false;
    this.c.sb.retransmitted(now, s);
    if (this.c.rec.inRecovery) this.c.rec.prrOut += s.len;
    this.c.rec.undo.retransmitted(s.seq, s.len, this.c.neg.tsOk ? this.c.neg.tsNow(now) : undefined);
    this.c.cnt.nRetrans++;
    this.stats.retransmittedSegs++;
    if (isIpv6Id(this.c.remoteIp)) this.stats.ipv6.retransmittedSegs++;
    // RFC 6298 5.3 / 5.5, as Linux tcp_xmit_retransmit_queue: a retransmission of the segment at SND.UNA restarts
    // the timer, so the RTO cannot expire before that retransmission could have been answered.
    if (index === this.c.sb.segHead || this.c.tmr.rtoAt === NEVER) this.c.tmr.armRto(now);
    return true;
  }

  /** RFC 9293 3.8.6.1: a zero-window probe (an ACK below the window elicits the peer's current window). */
  onPersist(now: number): void {
    if (!this.c.isSynchronized()) return;
    if (this.c.tmr.localDrop && this.c.sb.empty) {
      this.resourceProbe(now);
      return;
    }
    const unsent = this.sndBuf.length - seqDiff(this.sndNxt, this.bufSeq) > 0 || (this.finQueued && !this.finSent);
    if (!unsent || this.sndRoom() > 0) {
      // RFC 9293 3.8.6.2.1 (4): the SWS override timeout: send what the window allows.
      this.c.tmr.persistBackoff = 0;
      this.swsOverride = true;
      this.output(now);
      this.swsOverride = false;
      return;
    }
    // RFC 1122 4.2.2.17: probing continues while the peer answers; a peer that went silent is given up on after
    // maxRetransmits unanswered probes (like Linux), with ETIMEDOUT. A user timeout ends it earlier (RFC 5482).
    if (this.userTimedOut(now)) return;
    if (this.c.tmr.probesUnanswered >= this.o.maxRetransmits) {
      this.stats.timeouts++;
      this.c.tx.sendRst(now, this.sndNxt);
      this.c.toClosed('ETIMEDOUT');
      return;
    }
    this.c.tmr.probesUnanswered++;
    this.stats.zeroWindowProbes++;
    this.c.tx.sendProbe(now);
    this.c.tmr.persistBackoff++;
    this.c.tmr.armPersist(now);
  }

  /**
   * The driver dropped our data with nothing in flight (Linux's tcp_probe_timer / tcp_send_probe0 after a local
   * failure): try again; while it still fails, count a probe (tcpi_probes) and retry after RESOURCE_PROBE_MS, with
   * no backoff (the congestion is local, not the network's). The user timeout (RFC 5482) and maxRetransmits probes
   * end it with ETIMEDOUT.
   */
  private resourceProbe(now: number): void {
    if (this.userTimedOut(now)) return;
    if (this.c.tmr.probesUnanswered >= this.o.maxRetransmits) {
      this.stats.timeouts++;
      this.c.toClosed('ETIMEDOUT');
      return;
    }
    this.c.tmr.persistAt = now + RESOURCE_PROBE_MS; // armed before output, which tells the layer when it ends
    this.output(now);
    if (this.c.tmr.localDrop && this.c.sb.empty) this.c.tmr.probesUnanswered++;
    else {
      this.c.tmr.probesUnanswered = 0;
      this.c.tmr.persistAt = NEVER;
    }
  }

  /** Lower the MSS to fit a path MTU of `mtu`, not below `floor` (never raises it). Returns whether it changed. */
  lowerMss(now: number, mtu: number, floor: number): boolean {
    const raw = Math.max(floor, Math.min(mtu - 40, this.c.neg.advMss));
    if (raw >= this.c.neg.mssRaw) return false;
    this.c.neg.setMssRaw(now, raw);
    // Segments larger than the new MSS that are in flight are lost (RFC 1191 6.5 / Linux tcp_simple_retransmit).
    this.c.sb.markOversizeLost(this.c.neg.mss);
    return true;
  }
}
