/**
 * What one connection's sender knows about reordering on its path: whether it was seen (RFC 8985 6.2 step 3: an
 * original transmission delivered below the highest delivery), how far (Linux's tp->reordering, in segments, as
 * tcp_check_sack_reordering measures it: from the lowest such segment to the highest delivered byte, raised only,
 * from 3 up to 300), how often (Linux's reord_seen: ACKs that showed it), and RACK's reordering window multiplier
 * (RFC 8985 6.2 step 4: widened by a D-SACK once per round trip, back to 1 after 16 recoveries without one).
 *
 * Loss recovery (recovery.ts) feeds it from each delivery and each D-SACK and reads reo_wnd from it. Sequence numbers
 * are modular (seq.ts). Nothing throws, nothing is allocated.
 */
import { seqDiff, seqGe, seqLt } from './seq.js';

/** Linux's sysctl_tcp_reordering (the degree before any is measured) and sysctl_tcp_max_reordering. */
export const INITIAL_REORDERING = 3;
export const MAX_REORDERING = 300;
/** The most RACK's reo_wnd is widened to, in quarters of min_RTT (RFC 8985 6.2 step 4, Linux's reo_wnd_steps). */
const MAX_REO_WND_MULT = 8;
/** Recoveries a widened reo_wnd persists for (Linux's TCP_RACK_RECOVERY_THRESH). */
const REO_WND_PERSIST = 16;

export class ReorderingEstimator {
  /** Reordering was seen on the path (RFC 8985 6.2 step 3). */
  seen = false;
  /** The reordering degree in segments (Linux's tcpi_reordering). */
  degree = INITIAL_REORDERING;
  /** ACKs that showed reordering (Linux's tcpi_reord_seen). */
  events = 0;
  /** reo_wnd in quarters of min_RTT, and for how many recoveries it stays widened. */
  reoWndMult = 1;
  reoWndPersist = 0;
  /** SND.NXT when reo_wnd was last widened: once per round trip. */
  private dsackRound = 0;
  private dsackRoundSet = false;
  /** The lowest original transmission this ACK delivered below the highest delivery. */
  private low = 0;
  private lowSet = false;

  /** An original transmission starting at `seq` was delivered below the highest delivered byte. */
  delivered(seq: number): void {
    this.seen = true;
    if (!this.lowSet || seqLt(seq, this.low)) {
      this.low = seq;
      this.lowSet = true;
    }
  }

  /**
   * The ACK is processed: `fack` is the highest delivered byte now (RACK.fack). `measure` is false while a
   * retransmission timeout's episode runs (Linux measures nothing in its Loss state: what is delivered then may be
   * a retransmission's doing).
   */
  endAck(fack: number, mss: number, measure: boolean): void {
    if (!this.lowSet) return;
    this.lowSet = false;
    if (!measure || mss <= 0) return;
    const metric = seqDiff(fack, this.low);
    if (metric <= 0) return;
    if (metric > this.degree * mss) this.degree = Math.min(Math.ceil(metric / mss), MAX_REORDERING);
    this.events++;
  }

  /** A credible D-SACK arrived with SND.UNA `sndUna`, SND.NXT `sndNxt`: widen reo_wnd, once per round trip. */
  onDsack(sndUna: number, sndNxt: number): void {
    if (this.dsackRoundSet && !seqGe(sndUna, this.dsackRound)) return;
    this.dsackRoundSet = true;
    this.dsackRound = sndNxt;
    if (this.reoWndMult < MAX_REO_WND_MULT) this.reoWndMult++;
    this.reoWndPersist = REO_WND_PERSIST;
  }

  /** A fast recovery ended: a widened reo_wnd falls back after REO_WND_PERSIST of them. */
  onRecoveryEnd(): void {
    if (this.reoWndPersist > 0 && --this.reoWndPersist === 0) this.reoWndMult = 1;
  }
}
