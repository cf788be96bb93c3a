/**
 * Leaving slow start before the first loss, from the RTT samples (for CUBIC, cubic.ts). Two variants:
 *
 * - 'rfc9406': HyStart++ (RFC 9406). Per round (SND.UNA passing the SND.NXT of the round's start) the minimum RTT of
 *   at least N_RTT_SAMPLE samples; when it rose by RttThresh = clamp(lastRoundMinRTT / 8, 4 ms, 16 ms) over the
 *   last round's, Conservative Slow Start (CSS) begins: growth divided by CSS_GROWTH_DIVISOR, back to slow start
 *   when a CSS round's minimum falls below the baseline, congestion avoidance (ssthresh = cwnd) after CSS_ROUNDS
 *   rounds. Slow start grows by at most L segments per ACK. Only the initial slow start (RFC 9406 4.3).
 * - 'linux': CUBIC's HyStart as Linux's tcp_cubic (since the 2020 fixes) runs it, from cwnd >= lowWindow segments:
 *   delay detection (after minSamples samples in a round, the round's minimum RTT above the connection's minimum
 *   by clamp(min / 8, 4 ms, 16 ms); the round's minimum takes every sample, so an RTT that falls does not trigger
 *   it) and ACK-train detection (ACKs less than ackDeltaMs apart spanning more than (min RTT + the pacing
 *   allowance) / 2 since the round began); either sets ssthresh = cwnd. Linux runs it again in the slow start after
 *   a timeout.
 *
 * Times in ms; sequence numbers are TCP's (modular). Nothing throws; option values are checked by the TCP options.
 */
import { seqGe, seqGt } from '../seq.js';

export type HystartVariant = 'off' | 'rfc9406' | 'linux';

export interface HystartOptions {
  /** 'off' (plain slow start), 'rfc9406' (HyStart++), 'linux' (CUBIC's HyStart as Linux runs it). Default 'off'. */
  variant?: HystartVariant;
  /** 'linux': which detections run (Linux's hystart_detect: 1 ack train, 2 delay, 3 both). Default 'both'. */
  detect?: 'delay' | 'ack-train' | 'both';
  /** 'linux': the cwnd, in segments, from which HyStart acts (hystart_low_window). Default 16. */
  lowWindow?: number;
  /** 'linux': ACKs at most this far apart (ms) make a train (hystart_ack_delta_us). Default 2. */
  ackDeltaMs?: number;
  /** RTT samples in a round before the delay test (N_RTT_SAMPLE, HYSTART_MIN_SAMPLES). Default 8. */
  minSamples?: number;
  /** Bounds of the delay threshold, ms (MIN_RTT_THRESH / MAX_RTT_THRESH, HYSTART_DELAY_MIN / MAX). Defaults 4, 16. */
  minRttThreshMs?: number;
  maxRttThreshMs?: number;
  /** 'rfc9406': CSS_GROWTH_DIVISOR (4), CSS_ROUNDS (5), and L, the most segments one ACK grows cwnd by (8; 0: none). */
  cssGrowthDivisor?: number;
  cssRounds?: number;
  slowStartLimit?: number;
}

export type ResolvedHystartOptions = Required<HystartOptions>;

export const HYSTART_DEFAULTS: ResolvedHystartOptions = Object.freeze({
  variant: 'off',
  detect: 'both',
  lowWindow: 16,
  ackDeltaMs: 2,
  minSamples: 8,
  minRttThreshMs: 4,
  maxRttThreshMs: 16,
  cssGrowthDivisor: 4,
  cssRounds: 5,
  slowStartLimit: 8,
});

export function resolveHystart(h: HystartOptions | undefined): ResolvedHystartOptions {
  return h === undefined ? HYSTART_DEFAULTS : { ...HYSTART_DEFAULTS, ...h };
}

export class HyStart {
  private readonly o: ResolvedHystartOptions;
  /** A round is under way, and the SND.NXT that ends it. */
  private inRound = false;
  private windowEnd = 0;
  private samples = 0;
  private curRoundMin = Infinity;
  private lastRoundMin = Infinity;
  /** rfc9406: in CSS, its baseline minimum RTT and the CSS rounds begun. */
  private css = false;
  private cssBaseline = Infinity;
  private cssRoundsDone = 0;
  /** linux: the connection's minimum RTT (delay_min), when the round and the last ACK of a train were seen. */
  private delayMin = Infinity;
  private roundStart = 0;
  private lastAck = 0;
  /** Slow start was left: nothing more to do until a timeout restarts it ('linux'). */
  private done = false;

  constructor(o: ResolvedHystartOptions) {
    this.o = o;
  }

  /** In CSS (RFC 9406 4.2): slow start's growth is divided. */
  get conservative(): boolean {
    return this.css;
  }

  /** Slow start's growth for an ACK that covered `segs` segments (RFC 9406's L, and CSS's divisor). */
  growth(segs: number): number {
    if (this.o.variant !== 'rfc9406' || this.done) return segs;
    const l = this.o.slowStartLimit > 0 ? Math.min(segs, this.o.slowStartLimit) : segs;
    return this.css ? l / this.o.cssGrowthDivisor : l;
  }

  /**
   * An ACK advanced SND.UNA to `una` (SND.NXT is `nxt`) with an RTT sample, in slow start (`slowStart`; `initial`:
   * ssthresh never set) with `cwndSegs` segments. Returns true when slow start should end now (ssthresh = cwnd).
   */
  sample(now: number, rttMs: number, una: number, nxt: number, cwndSegs: number, slowStart: boolean, initial: boolean): boolean {
    const rtt = Math.max(rttMs, 0.001);
    if (this.o.variant === 'linux') return this.linux(now, rtt, una, nxt, cwndSegs, slowStart);
    if (this.o.variant !== 'rfc9406' || this.done || !slowStart || !initial) return false;
    if (!this.inRound || seqGe(una, this.windowEnd)) {
      // RFC 9406 4.2: at the start of each round.
      if (this.inRound && this.css && ++this.cssRoundsDone >= this.o.cssRounds) {
        this.done = true;
        this.css = false;
        return true; // CSS_ROUNDS rounds of CSS: congestion avoidance
      }
      this.inRound = true;
      this.windowEnd = nxt;
      this.lastRoundMin = this.curRoundMin;
      this.curRoundMin = Infinity;
      this.samples = 0;
    }
    this.curRoundMin = Math.min(this.curRoundMin, rtt);
    this.samples++;
    if (this.samples < this.o.minSamples) return false;
    if (this.css) {
      if (this.curRoundMin < this.cssBaseline) {
        // The exit was spurious: back to slow start.
        this.css = false;
        this.cssBaseline = Infinity;
      }
      return false;
    }
    if (this.lastRoundMin === Infinity) return false;
    if (this.curRoundMin >= this.lastRoundMin + this.threshold(this.lastRoundMin)) {
      this.css = true;
      this.cssBaseline = this.curRoundMin;
      this.cssRoundsDone = 0;
    }
    return false;
  }

  /** A loss or timeout: RFC 9406 stops for good (initial slow start only); Linux starts over (bictcp_hystart_reset). */
  onLoss(): void {
    this.css = false;
    this.inRound = false;
    this.curRoundMin = Infinity;
    this.done = this.o.variant === 'rfc9406';
  }

  private threshold(minRtt: number): number {
    return Math.max(this.o.minRttThreshMs, Math.min(minRtt / 8, this.o.maxRttThreshMs));
  }

  /** Linux's cubictcp_acked and hystart_update. */
  private linux(now: number, rtt: number, una: number, nxt: number, cwndSegs: number, slowStart: boolean): boolean {
    if (rtt < this.delayMin) this.delayMin = rtt;
    if (!slowStart || cwndSegs < this.o.lowWindow) return false;
    if (!this.inRound || seqGt(una, this.windowEnd)) {
      this.inRound = true;
      this.windowEnd = nxt;
      this.roundStart = this.lastAck = now;
      this.curRoundMin = Infinity;
      this.samples = 0;
    }
    let found = false;
    if (this.o.detect !== 'delay' && now - this.lastAck <= this.o.ackDeltaMs) {
      this.lastAck = now;
      // Linux adds what pacing may have delayed (min(1 ms, 4 GSO packets at the pacing rate), 1 ms at the rates a
      // slow start reaches before leaving it by this test) and halves the sum without fq pacing.
      if (now - this.roundStart > (this.delayMin + 1) / 2) found = true;
    }
    if (this.o.detect !== 'ack-train') {
      this.curRoundMin = Math.min(this.curRoundMin, rtt);
      if (this.samples < this.o.minSamples) this.samples++;
      else if (this.curRoundMin > this.delayMin + this.threshold(this.delayMin)) found = true;
    }
    return found;
  }
}
