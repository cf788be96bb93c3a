/**
 * The undo state of one connection's loss recovery: spurious fast-recovery detection by D-SACK (RFC 3708 section 3,
 * like Linux's undo_marker / undo_retrans), and the filter Linux applies to D-SACKs the sender's retransmissions
 * cannot explain (tcp_dsack_seen: more segments reported duplicate than were ever retransmitted means the network
 * duplicated them).
 *
 * While armed (from the start of a SACK fast recovery), `retrans` counts the episode's retransmissions that no
 * D-SACK has yet reported as needless; when it reaches zero every one of them was spurious and the recovery's cwnd
 * reduction may be undone (recovery.ts decides when). A D-SACK counts only when it covers a range retransmitted in
 * the episode (RFC 3708 3: "a D-SACK for a retransmitted segment"): a path that duplicates packets D-SACKs original
 * transmissions too, and those say nothing about the retransmissions. The ranges are kept for up to MAX_RANGES
 * retransmissions per episode; past that, a D-SACK above the marker counts unchecked, as Linux counts D-SACKs for
 * data it no longer holds. With timestamps, the ACK that ends the recovery also tells (RFC 3522 Eifel detection, as
 * Linux's tcp_packet_delayed): when it echoes a TSval older than the episode's first retransmission, the data up to
 * the recovery point arrived without any retransmission. Sequence numbers and timestamps are modular. Nothing
 * throws; nothing is allocated per segment once the range table has grown.
 */
import { seqAdd, seqGt, seqLt } from './seq.js';

/** Retransmitted ranges remembered per episode. */
const MAX_RANGES = 64;

export class SpuriousUndo {
  /** A SACK fast recovery began and its reduction has not been undone or superseded. */
  armed = false;
  /** SND.UNA when the episode began (RFC 3708's RetransmitTS point; Linux's undo_marker). */
  marker = 0;
  /** Retransmissions of the episode not yet D-SACKed. */
  retrans = 0;
  /** Retransmissions sent since the episode began (an episode whose retransmission never left is not undone). */
  sent = 0;
  /** Segments reported by D-SACK over the connection's life (Linux's dsack_dups). */
  dsackDups = 0;
  /** The TSval of the episode's first retransmission (RFC 3522's RetransmitTS), when timestamps are on. */
  private retransTs = 0;
  private retransTsSet = false;
  /** [seq, end) of the episode's retransmissions, `n` pairs used. */
  private readonly ranges: number[] = [];
  private n = 0;
  private overflow = false;

  /** A fast recovery begins at SND.UNA `sndUna`; `enabled`: the connection can undo (SACK, and an undoing cc). */
  arm(sndUna: number, enabled: boolean): void {
    this.armed = enabled;
    this.marker = sndUna;
    this.retrans = 0;
    this.sent = 0;
    this.n = 0;
    this.overflow = false;
    this.retransTsSet = false;
  }

  /** The episode's response is final (a timeout, a probe's repair) or was undone. */
  disarm(): void {
    this.armed = false;
  }

  /** `len` sequence numbers from `seq` were retransmitted, carrying TSval `tsVal` (undefined: no timestamps). */
  retransmitted(seq: number, len: number, tsVal: number | undefined): void {
    if (!this.armed) return;
    this.retrans++;
    this.sent++;
    if (!this.retransTsSet && tsVal !== undefined) {
      this.retransTs = tsVal;
      this.retransTsSet = true;
    }
    if (this.n >= MAX_RANGES) {
      this.overflow = true;
      return;
    }
    this.ranges[2 * this.n] = seq;
    this.ranges[2 * this.n + 1] = seqAdd(seq, len);
    this.n++;
  }

  /**
   * A D-SACK for [l, r), `segs` segments, with `totalRetrans` segments retransmitted over the connection's life.
   * Returns false for a dubious one (Linux tcp_dsack_seen: more duplicates than retransmissions, so the network
   * duplicated packets), which must not widen RACK's reordering window either. A credible one that covers a
   * retransmission of the armed episode counts against `retrans`.
   */
  dsack(l: number, r: number, segs: number, totalRetrans: number): boolean {
    this.dsackDups += segs;
    if (this.dsackDups > totalRetrans) return false;
    if (this.armed && this.retrans > 0 && seqGt(r, this.marker) && this.covers(l, r)) this.retrans = Math.max(0, this.retrans - segs);
    return true;
  }

  /** Every retransmission of the armed episode was D-SACKed (RFC 3708 3: the recovery was spurious). */
  get spurious(): boolean {
    return this.armed && this.retrans === 0;
  }

  /**
   * RFC 3522 3.2 (Linux tcp_packet_delayed): an ACK echoing `tsEcr` acknowledges data sent before the episode's first
   * retransmission: what it covers arrived without one. (A receiver echoes the TSval of the segment that last advanced
   * its window's left edge, RFC 7323 4.3: a retransmission that filled a hole echoes its own, newer, TSval.)
   */
  delayed(tsEcr: number | undefined): boolean {
    return this.armed && this.retransTsSet && tsEcr !== undefined && tsEcr !== 0 && ((tsEcr - this.retransTs) | 0) < 0;
  }

  /** Whether [l, r) overlaps a range retransmitted in the episode. */
  private covers(l: number, r: number): boolean {
    if (this.overflow) return true;
    for (let i = 0; i < this.n; i++) {
      if (seqLt(l, this.ranges[2 * i + 1]!) && seqLt(this.ranges[2 * i]!, r)) return true;
    }
    return false;
  }
}
