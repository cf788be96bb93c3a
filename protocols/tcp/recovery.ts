/**
 * Loss recovery of one connection's sender: duplicate-ACK counting and NewReno fast recovery (RFC 5681, RFC 6582),
 * the SACK-based IsLost rule (RFC 6675), RACK and tail loss probes (RFC 8985), D-SACK handling (RFC 2883) and
 * the undo of a spurious recovery (RFC 3708), and the response to a retransmission timeout. It decides which
 * records of the scoreboard are lost and tells congestion control; the sender retransmits them. Nothing throws.
 */
import type { TcpConnection } from './connection.js';
import type { ResolvedTcpOptions } from './options.js';
import type { TcpStats } from './info.js';
import type { DeliveryObserver, SentSeg } from './scoreboard.js';
import { NEVER } from './conn-common.js';
import { RESOURCE_PROBE_MS } from './timers.js';
import { SpuriousUndo } from './undo.js';
import { ReorderingEstimator } from './reordering.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';

export class LossRecovery implements DeliveryObserver {
  private readonly c: TcpConnection;
  private readonly o: ResolvedTcpOptions;
  private readonly stats: TcpStats;
  /** Duplicate ACKs in a row (RFC 5681 2). */
  dupAcks = 0;
  inRecovery = false;
  /** RFC 6582 `recover`: SND.NXT when the last recovery (or timeout) began. */
  recoverSeq = 0;
  /** Fast recovery must retransmit its first segment whatever cwnd says (RFC 5681 3.2 step 2). */
  forceRetransmit = false;
  /** A retransmission timeout happened and no fast recovery started since (caState 'loss' until SND.UNA passes recoverSeq). */
  rtoEpisode = false;
  /** Timeouts without forward progress (the give-up count; the RTO backoff itself follows Karn's rule). */
  consecutiveRtos = 0;
  // RACK (RFC 8985 6.1)
  rackXmitTime = -1;
  rackXmitOrder = 0;
  rackRtt = 0;
  rackMinRtt = NEVER;
  /** The highest sequence number delivered so far (RACK.fack). */
  rackFack = 0;
  // tail loss probes (RFC 8985 7)
  tlpOutstanding = false;
  tlpEpisode = false;
  tlpDsacked = false;
  tlpRetransSeq = 0;
  tlpRetransEnd = 0;
  tlpHigh = 0;
  /** Reordering seen, its degree, and RACK's reo_wnd multiplier (reordering.ts). */
  readonly reorder = new ReorderingEstimator();
  /**
   * Spurious-recovery undo (RFC 3708 section 3, undo.ts): when every retransmission since the last fast recovery
   * began was D-SACKed, the recovery answered reordering, and its cwnd reduction is undone.
   */
  readonly undo = new SpuriousUndo();
  /**
   * Proportional rate reduction (RFC 6937, option prr): bytes delivered to the receiver and sent by us since the
   * recovery began, RecoverFS (cwnd when it began, as Linux's prior_cwnd), and the window the sender may fill now.
   */
  prrDelivered = 0;
  prrOut = 0;
  prrRecoverFs = 0;
  prrCwnd = 0;

  constructor(c: TcpConnection, o: ResolvedTcpOptions, stats: TcpStats) {
    this.c = c;
    this.o = o;
    this.stats = stats;
  }

  /** RFC 2018 / RFC 2883 / RFC 6675 scoreboard update from the SACK blocks of an ACK. */
  processSack(now: number, blocks: number[], ack: number): void {
    for (let b = 0; b < blocks.length; b += 2) {
      const l = blocks[b]!;
      const r = blocks[b + 1]!;
      if (!seqLt(l, r)) continue;
      // RFC 2883 4: the first block is a D-SACK when it lies below the ACK or inside the second block.
      if (b === 0 && (seqLe(r, ack) || (blocks.length >= 4 && seqLe(blocks[2]!, l) && seqLe(r, blocks[3]!)))) {
        this.c.cnt.nDsack++;
        this.stats.dsacksReceived++;
        // RFC 8985 7.4.2: a D-SACK for the probe's data means the original arrived: the probe repaired nothing.
        if (this.tlpEpisode && seqLe(l, this.tlpRetransSeq) && seqLe(this.tlpRetransEnd, r)) this.tlpDsacked = true;
        // RFC 3708 3: a D-SACK for data retransmitted in this episode shows a needless retransmission (undo.ts;
        // one the network's duplication explains is dubious, as Linux's tcp_dsack_seen judges, and ignored).
        if (!this.undo.dsack(l, r, Math.max(1, Math.ceil(seqDiff(r, l) / this.c.neg.mss)), this.c.cnt.nRetrans)) {
          this.stats.dsacksIgnored++;
          continue;
        }
        if (this.undo.spurious && !this.inRecovery) this.undoRecovery(now);
        // RFC 8985 6.2 step 4: a D-SACK suggests a spurious retransmission: widen reo_wnd (once per round trip).
        this.reorder.onDsack(this.c.snd.sndUna, this.c.snd.sndNxt);
        continue;
      }
      // Ignore blocks outside (SND.UNA, SND.NXT] (RFC 2018 section 8 / RFC 6675 sanity).
      if (seqLe(l, this.c.snd.sndUna) && seqLe(r, this.c.snd.sndUna)) continue;
      if (seqGt(r, this.c.snd.sndNxt)) continue;
      this.c.sb.markSacked(now, l, r, this);
    }
  }

  /** A duplicate ACK (RFC 5681 2) arrived. */
  onDupAck(now: number): void {
    // RFC 5681 2: a duplicate ACK.
    this.dupAcks++; // without SACK each one lets a segment leave the network (pipe), RFC 6582 3.2 step 4
    // RFC 6582 3.2 step 2: enter fast recovery only when the ACK covers more than `recover`.
    // With SACK, once reordering has been seen, RACK alone decides (as for IsLost in detectLosses).
    if (this.dupAcks === 3 && !this.inRecovery && seqGt(this.c.snd.sndUna, this.recoverSeq) && !(this.c.neg.sackOk && this.reorder.seen && this.rack())) {
      const head = this.c.sb.headSeg();
      if (head && !head.sacked) {
        this.c.sb.markLost(head);
        this.enterRecovery(now);
      }
    }
  }

  /** Before SND.UNA moves to `ack`: end a tail-loss-probe episode the ACK settles. */
  onTlpAcked(now: number, ack: number): void {
    if (this.tlpEpisode && (this.tlpDsacked || seqGt(ack, this.tlpHigh))) {
      // RFC 8985 7.4.2 (as Linux tcp_process_tlp_ack): a D-SACK for the probe means the original arrived; an ACK
      // beyond the probe's SND.NXT without one means the probe repaired a real loss, and congestion control
      // responds as for a fast recovery.
      this.tlpEpisode = false;
      if (!this.tlpDsacked && !this.inRecovery) {
        this.undo.disarm(); // this reduction replaces the state the undo would restore
        this.stats.tlpRecoveries++;
        this.c.cc.onEnterRecovery(now, this.lossFlightSize());
        this.c.cc.onExitRecovery(now);
      }
    }
  }

  /**
   * SND.UNA advanced to `ack` (by `ackedBytes`, `flightBefore` having been outstanding; the ACK echoed `tsEcr`):
   * leave recovery at `recover`, retransmit on a partial ACK without SACK, or let congestion control grow the window.
   */
  onAckAdvanced(now: number, ack: number, ackedBytes: number, flightBefore: number, rttMs: number | undefined, tsEcr?: number, delivered = ackedBytes): void {
    // Counting delivered segments (abcLimit 0, as Linux's tcp_cong_control): with SACK, what this ACK delivered, so
    // data SACKed before is not counted again (it was counted when SACKed, or not at all: tcp_may_raise_cwnd).
    if (this.c.neg.sackOk && this.o.abcLimit === 0) ackedBytes = Math.max(0, delivered);
    if (!this.c.neg.sackOk && this.o.abcLimit === 0 && this.dupAcks > 0) {
      // Counting delivered segments (abcLimit 0, as Linux's Reno emulation, tcp_remove_reno_sacks): each duplicate
      // ACK reported a segment delivered; the ACK that fills the hole counts only the rest, at least one.
      ackedBytes = Math.min(ackedBytes, Math.max(ackedBytes - this.dupAcks * this.c.neg.mss, this.c.neg.mss));
    }
    this.dupAcks = 0;
    this.tlpOutstanding = false;
    this.consecutiveRtos = 0;
    // Congestion control (RFC 5681, RFC 6582, RFC 6675).
    if (this.inRecovery) {
      if (seqGe(ack, this.recoverSeq)) {
        this.inRecovery = false;
        this.c.cc.onExitRecovery(now);
        // RFC 3708 (every retransmission D-SACKed) or RFC 3522 (the ACK echoes a time before the first retransmission:
        // the data reached the receiver without them), as Linux's tcp_try_undo_recovery: the reduction is undone.
        if (this.undo.spurious || this.undo.delayed(tsEcr)) this.undoRecovery(now);
        this.reorder.onRecoveryEnd();
      } else if (this.c.neg.sackOk && this.undo.delayed(tsEcr)) {
        // Linux tcp_try_undo_partial: a partial ACK echoing a time before the episode's first retransmission was
        // caused by an original that arrived late, not by a retransmission: the hole was reordering. Recorded at the
        // old SND.UNA, as tcp_check_sack_reordering(prior_snd_una), so RACK widens reo_wnd from now on.
        this.reorder.delivered(seqAdd(ack, -ackedBytes));
        this.reorder.endAck(this.rackFack, this.c.neg.mss, true);
      } else if (!this.c.neg.sackOk) {
        // RFC 6582 3.2 step 5: a partial ACK -> retransmit the first unacknowledged segment.
        const head = this.c.sb.headSeg();
        if (head && !head.lost && !head.sacked) {
          this.c.sb.markLost(head);
          this.forceRetransmit = true;
        }
      }
    } else if (!this.c.ecn.inCwr && this.c.snd.usage.mayGrow(this.c.cc.cwnd, this.c.cc.ssthresh, flightBefore)) {
      // (Not in an ECN window reduction, RFC 3168 6.1.2: Linux's CA state CWR raises no cwnd, tcp_cong_control.)
      // Grow cwnd only while it limits the sender (cwnd-usage.ts: Linux tcp_is_cwnd_limited; RFC 7661's concern).
      this.c.cc.onAck(now, ackedBytes, this.pipe(), rttMs);
    }
  }

  /**
   * An ACK that did not advance SND.UNA SACKed `bytes` new bytes. Counting delivered segments (abcLimit 0), Linux
   * grows cwnd by them only once reordering above 3 segments was seen (tcp_may_raise_cwnd: with less it waits for
   * in-order delivery, RFC 5681); outside recovery, and while cwnd limits the sender (cwnd-usage.ts).
   */
  onSackDelivered(now: number, bytes: number): void {
    if (this.o.abcLimit !== 0 || this.inRecovery || this.reorder.degree <= 3) return;
    const flight = seqDiff(this.c.snd.sndNxt, this.c.snd.sndUna);
    if (!this.c.ecn.inCwr && this.c.snd.usage.mayGrow(this.c.cc.cwnd, this.c.cc.ssthresh, flight)) this.c.cc.onAck(now, bytes, this.pipe(), undefined);
  }

  /** RFC 8985 6.2 step 2: RACK.update for a newly delivered segment. */
  rackUpdate(now: number, s: SentSeg): void {
    const rtt = now - s.xmitTime;
    // A retransmitted segment delivered faster than min_rtt is probably the original's ACK: skip.
    if (s.xmits > 1 && rtt < this.rackMinRtt) return;
    this.rackRtt = rtt;
    const end = seqAdd(s.seq, s.len);
    // RFC 8985 6.2 step 3: an original transmission delivered below the forward-most delivery = reordering.
    if (s.xmits === 1 && seqLt(end, this.rackFack)) this.reorder.delivered(s.seq);
    if (seqGt(end, this.rackFack)) this.rackFack = end;
    // RFC 8985 6.2 step 2 "sent after": by transmission order, not by end sequence for equal timestamps: a
    // retransmission sent in the same millisecond as (or after) a higher segment is later than that segment.
    if (s.xmitOrder > this.rackXmitOrder) {
      this.rackXmitTime = s.xmitTime;
      this.rackXmitOrder = s.xmitOrder;
    }
  }

  /** RACK and tail-loss probes detect losses (lossDetection 'rack-tlp'), not Linux 3.x's rules. */
  rack(): boolean {
    return this.o.lossDetection === 'rack-tlp';
  }

  /** RFC 6675 IsLost (DupThresh = 3) and RFC 8985 6.2 RACK detect_loss. */
  detectLosses(now: number): void {
    let marked = false;
    const rack = this.rack();
    // RFC 6675 4 IsLost: more than (DupThresh - 1) * SMSS bytes SACKed above an original transmission.
    // Once reordering has been seen, loss detection is RACK's alone (RFC 8985 section 4: a fixed DupThresh marks
    // every segment that three others overtook; Linux raises its reordering threshold instead).
    if ((!rack || !this.reorder.seen) && this.c.sb.sackedBytes > 2 * this.c.neg.mss && this.c.sb.markLostByDupThresh(this.c.neg.mss)) marked = true;
    // RACK: a segment sent before the most recently delivered one, outstanding for longer than rtt + reo_wnd.
    if (rack && this.rackXmitTime >= 0) {
      const srtt = this.c.rtt.hasSample ? this.c.rtt.srttMs : this.rackRtt;
      // RFC 8985 6.2 step 4: reo_wnd is 0 in recovery or with DupThresh SACKed segments unless reordering was seen.
      const reoWnd =
        !this.reorder.seen && (this.inRecovery || this.c.sb.sackedBytes >= 3 * this.c.neg.mss)
          ? 0
          : Math.min(this.rackMinRtt === NEVER ? 0 : (this.reorder.reoWndMult * this.rackMinRtt) / 4, srtt);
      let timeout = 0;
      for (let i = this.c.sb.segHead; i < this.c.sb.segs.length; i++) {
        const s = this.c.sb.segs[i]!;
        if (s.sacked || s.lost) continue;
        if (s.xmitOrder >= this.rackXmitOrder) continue; // not sent before the most recently delivered segment
        const remaining = s.xmitTime + this.rackRtt + reoWnd - now;
        if (remaining <= 0) {
          this.c.sb.markLost(s);
          this.c.cnt.nRack++;
          this.stats.rackLosses++;
          marked = true;
        } else if (remaining > timeout) timeout = remaining;
      }
      this.c.tmr.reoAt = timeout > 0 ? now + timeout : NEVER;
    }
    if (marked && !this.inRecovery && seqGe(this.c.snd.sndUna, this.recoverSeq)) this.enterRecovery(now);
  }

  /** The reordering timer (reoAt) expired: RACK's next look (RFC 8985 6.2), or the delayed early retransmit. */
  onReoTimer(now: number): void {
    if (this.rack()) {
      const was = this.inRecovery;
      this.detectLosses(now);
      // A recovery the timer starts has no ACK to pace PRR: as Linux's tcp_rack_reo_timeout, count one segment
      // delivered (RFC 6937's sndcnt then lets one retransmission go), instead of sending up to ssthresh at once.
      if (!was && this.inRecovery) this.onAckDone(this.c.neg.mss, false, true);
    } else if (this.earlyRetransmitApplies()) this.startEarlyRetransmit(now);
  }

  /**
   * RFC 5827 early retransmit, after an ACK was processed (lossDetection 'early-retransmit' or
   * 'early-retransmit-delayed'): when few segments are outstanding, fewer than three duplicate ACKs can ever
   * arrive, so one segment fewer than outstanding reported delivered is enough to retransmit the first. The delayed
   * form (RFC 5827 appendix A.3, Linux 3.x's tcp_pause_early_retransmit) waits max(SRTT / 4, 2 ms), restarted by
   * every ACK, unless the retransmission timer would fire first or no RTT was measured yet.
   */
  earlyRetransmit(now: number): void {
    const mode = this.o.lossDetection;
    if (mode !== 'early-retransmit' && mode !== 'early-retransmit-delayed') return;
    if (mode === 'early-retransmit-delayed') this.c.tmr.reoAt = NEVER; // every ACK restarts the wait
    if (!this.earlyRetransmitApplies()) return;
    const srtt = this.c.rtt.srtt;
    if (mode === 'early-retransmit-delayed' && srtt !== undefined) {
      const delay = Math.max(srtt / 4, 2);
      if (this.c.tmr.rtoAt > now + delay) {
        this.c.tmr.reoAt = now + delay;
        return;
      }
    }
    this.startEarlyRetransmit(now);
  }

  /**
   * RFC 5827 3.1 / 3.2: outside recovery, nothing retransmitted or marked lost yet, 2 or 3 segments outstanding, no
   * new data the window lets us send (limited transmit, RFC 3042, would earn the duplicate ACKs instead), the first
   * segment not SACKed and all the others reported delivered: SACKed, or, without SACK, as many duplicate ACKs
   * (ER_thresh = oldSegmentsOutstanding - 1). Never once reordering was seen (Linux's tcp_disable_early_retrans).
   */
  private earlyRetransmitApplies(): boolean {
    const sb = this.c.sb;
    const snd = this.c.snd;
    if (this.inRecovery || !seqGe(snd.sndUna, this.recoverSeq) || this.reorder.seen || sb.retransOut > 0 || sb.lostBytes > 0) return false;
    const outstanding = sb.segs.length - sb.segHead;
    if (outstanding < 2 || outstanding >= 4) return false;
    if (snd.sndBuf.length > seqDiff(snd.sndNxt, snd.bufSeq) && snd.sndRoom() > 0) return false;
    const head = sb.headSeg()!;
    if (head.sacked) return false;
    let delivered = this.dupAcks;
    if (this.c.neg.sackOk) {
      delivered = 0;
      for (let i = sb.segHead + 1; i < sb.segs.length; i++) if (sb.segs[i]!.sacked) delivered++;
    }
    return delivered >= outstanding - 1;
  }

  private startEarlyRetransmit(now: number): void {
    this.c.tmr.reoAt = NEVER;
    this.c.sb.markLost(this.c.sb.headSeg()!);
    this.stats.earlyRetransmits++;
    this.enterRecovery(now);
  }

  /** RFC 3708 3 (Linux tcp_try_undo_dsack): every retransmission of the episode was needless: undo its response. */
  undoRecovery(now: number): void {
    this.undo.disarm();
    if (this.undo.sent === 0) return;
    this.c.cc.undoRecovery?.(now);
    this.c.cnt.nUndo++;
    this.stats.recoveriesUndone++;
  }

  enterRecovery(now: number): void {
    this.inRecovery = true;
    this.rtoEpisode = false;
    this.forceRetransmit = true;
    this.recoverSeq = this.c.snd.sndNxt;
    // RFC 8985 7.2: no probe in fast recovery; Linux's first retransmission replaces a pending probe timer. Only
    // with Linux's timers: byway's default lets one armed before recovery fire (the simulated grid's NewReno cells
    // at 1 ms / 5 % lose 10 % of goodput without it).
    if (this.o.rtoFormula === 'linux') this.c.tmr.tlpAt = NEVER;
    this.c.cnt.nFastRec++;
    this.stats.fastRecoveries++;
    this.prrRecoverFs = this.c.cc.cwnd;
    this.prrDelivered = 0;
    this.prrOut = 0;
    this.c.cc.onEnterRecovery(now, this.lossFlightSize());
    this.prrCwnd = this.c.cc.cwnd; // until the first ACK is counted (onAckDone)
    this.undo.arm(this.c.snd.sndUna, this.c.neg.sackOk && this.c.cc.undoRecovery !== undefined);
  }

  /**
   * The FlightSize a loss response is computed from (RFC 5681 eq. 4, RFC 9438 4.6): the data sent and not yet
   * cumulatively acknowledged (RFC 5681 section 2; SACKed data counts, as in RFC 6675 5 step 4.2), never above cwnd,
   * so a multiplicative decrease can never raise cwnd (recovery keeps sending as SACKs free the pipe, so SND.NXT -
   * SND.UNA can grow far past cwnd; Linux bases ssthresh on cwnd). Taking the SACKed data out cut far deeper than
   * beta on a reordering path: RACK's widened reo_wnd lets a round trip's worth be SACKed above a hole before it is
   * declared lost, and 0.7 x (a few unSACKed segments) left 2-3 segments of a 7-13 segment window.
   */
  lossFlightSize(): number {
    // ssthreshFromCwnd: cwnd itself, as Linux's CUBIC and Reno compute ssthresh (RFC 9438 4.6 notes the practice).
    if (this.o.ssthreshFromCwnd) return this.c.cc.cwnd;
    const f = seqDiff(this.c.snd.sndNxt, this.c.snd.sndUna);
    return Math.max(0, Math.min(f, this.c.cc.cwnd));
  }

  /** The congestion window the sender fills: PRR's during a SACK recovery with the prr option, else cwnd. */
  sendCwnd(): number {
    return this.inRecovery && this.o.prr && this.c.neg.sackOk ? this.prrCwnd : this.c.cc.cwnd;
  }

  /**
   * After an ACK was processed in recovery: RFC 6937's sndcnt as Linux's tcp_cwnd_reduction computes it, from the
   * bytes this ACK delivered (cumulatively or by SACK). While pipe is above ssthresh, send in proportion to what was
   * delivered (ssthresh / RecoverFS); below it, send what was delivered and not yet answered, at least what this ACK
   * delivered (one segment more when SND.UNA advanced and nothing was newly lost), up to ssthresh. The sender may
   * then fill pipe + sndcnt.
   */
  onAckDone(deliveredBytes: number, unaAdvanced: boolean, newlyLost: boolean): void {
    if (!this.inRecovery || !this.o.prr || !this.c.neg.sackOk || deliveredBytes <= 0 || this.prrRecoverFs <= 0) return;
    this.prrDelivered += deliveredBytes;
    const pipe = this.pipe();
    const ssthresh = this.c.cc.ssthresh;
    const delta = ssthresh - pipe;
    let sndcnt: number;
    if (delta < 0) {
      // CEIL(prr_delivered * ssthresh / RecoverFS), in whole segments as Linux counts it (RFC 6937 3).
      const mss = this.c.neg.mss;
      sndcnt = Math.ceil((ssthresh * this.prrDelivered) / this.prrRecoverFs / mss) * mss - this.prrOut;
    } else {
      sndcnt = Math.max(this.prrDelivered - this.prrOut, deliveredBytes);
      if (unaAdvanced && !newlyLost) sndcnt += this.c.neg.mss;
      sndcnt = Math.min(delta, sndcnt);
    }
    this.prrCwnd = pipe + Math.max(sndcnt, 0);
  }

  /**
   * Limited transmit (RFC 3042 2; with SACK, RFC 6675 5's note on the first DupThresh - 1 duplicate ACKs): on the
   * first and second duplicate ACK outside recovery, one new segment each may go beyond cwnd, as long as FlightSize
   * stays within cwnd + 2*SMSS; cwnd itself is unchanged. The room this grants for new data (0 when it does not
   * apply); the sender takes the larger of it and cwnd - pipe. pipe alone already frees a segment per duplicate ACK
   * when each reports a full segment delivered; this rule also holds when the segment reported is short (a SACK for a
   * small segment, which left a sub-MSS room the sender's SWS avoidance would not fill).
   */
  limitedTransmitRoom(): number {
    if (this.inRecovery || this.dupAcks === 0 || this.dupAcks > 2 || !this.o.limitedTransmit) return 0;
    const flight = seqDiff(this.c.snd.sndNxt, this.c.snd.sndUna);
    return this.c.cc.cwnd + this.dupAcks * this.c.neg.mss - flight;
  }

  /** RFC 6675 pipe: outstanding bytes not SACKed and not marked lost (without SACK, each dup ACK counts a segment). */
  pipe(): number {
    let p = seqDiff(this.c.snd.sndNxt, this.c.snd.sndUna) - this.c.sb.sackedBytes - this.c.sb.lostBytes;
    if (!this.c.neg.sackOk && this.dupAcks > 0) p -= this.dupAcks * this.c.neg.mss;
    return p > 0 ? p : 0;
  }

  /** RFC 5681 3.1 / RFC 6298 5.5-5.7: the retransmission timer expired with data outstanding. */
  onRto(now: number): void {
    if (this.c.sb.empty) return;
    // The receiver shrank its window to zero below data in flight and keeps answering: the retransmissions act as
    // zero-window probes and do not count towards giving up (RFC 9293 3.8.6, RFC 1122 4.2.2.17; like Linux's
    // tcp_retransmit_timer), as long as an ACK came within maxRto.
    const probing = this.c.snd.sndWnd === 0 && now - this.c.snd.lastAckAt < this.o.maxRto;
    if (this.c.snd.userTimedOut(now)) return;
    if (!probing && this.consecutiveRtos >= this.o.maxRetransmits) {
      this.stats.timeouts++;
      this.c.tx.sendRst(now, this.c.snd.sndNxt);
      this.c.toClosed('ETIMEDOUT');
      return;
    }
    this.c.cnt.nRto++;
    this.rtoEpisode = true;
    if (!probing) this.consecutiveRtos++;
    // RFC 1122 4.2.3.5: from R1 = 3 timeouts on, tell IP (Linux: tcp_retries1), which checks the next hop again.
    if (this.consecutiveRtos >= 3) this.c.negativeAdvice(now);
    this.stats.rtoExpirations++;
    // RFC 5681 3.1 / RFC 6298 5.5-5.6: collapse cwnd, back off, retransmit the earliest unacknowledged segment.
    this.c.cc.onRto(now, this.lossFlightSize());
    this.undo.disarm(); // the timeout's response is not undone (no F-RTO / Eifel here)
    this.c.sb.markAllLost();
    this.inRecovery = false;
    this.dupAcks = 0;
    this.recoverSeq = this.c.snd.sndNxt; // RFC 6582 3.2 step 1 after a timeout
    this.c.tmr.tlpAt = NEVER;
    this.c.tmr.reoAt = NEVER;
    this.c.rtt.backoff();
    this.c.tmr.armRto(now);
    this.c.snd.output(now);
    if (this.c.tmr.localDrop && this.c.sb.headSeg()?.lost === true) {
      // The driver dropped the retransmission (a local failure, not a loss): as Linux's tcp_retransmit_timer, try
      // again after the resource-probe interval without backing off (the timeout still counts towards giving up).
      this.c.rtt.cancelBackoff();
      this.c.tmr.rtoAt = now + RESOURCE_PROBE_MS;
      this.c.rearm();
    }
  }

  /** RFC 8985 7.3: send one new segment if possible, else retransmit the last one. */
  onTlp(now: number): void {
    if (!this.c.isSynchronized() || this.c.sb.empty) return;
    this.tlpOutstanding = true;
    this.c.cnt.nTlp++;
    this.stats.tlpProbes++;
    const offset = seqDiff(this.c.snd.sndNxt, this.c.snd.bufSeq);
    const avail = this.c.snd.sndBuf.length - offset;
    const wndRoom = this.c.snd.sndRoom();
    if (avail > 0 && wndRoom > 0) {
      this.c.snd.sendNew(now, offset, Math.min(avail, this.c.neg.mss, wndRoom), false);
    } else {
      const last = this.c.sb.segs.length - 1;
      const s = this.c.sb.segs[last]!;
      if (!s.sacked && this.c.snd.retransmit(now, s, last)) {
        // RFC 8985 7.4: remember the probe to tell, when it is acknowledged, whether it repaired a loss.
        this.tlpRetransSeq = s.seq;
        this.tlpRetransEnd = seqAdd(s.seq, s.len);
        this.tlpHigh = this.c.snd.sndNxt;
        this.tlpEpisode = true;
        this.tlpDsacked = false;
      }
    }
    this.c.tmr.armRto(now);
  }
}
