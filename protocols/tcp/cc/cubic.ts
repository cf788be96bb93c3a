/**
 * CUBIC congestion control (RFC 9438). Window growth is a cubic function of the time since the congestion
 * avoidance stage began, with the Reno-friendly estimate W_est as a floor. Time comes only from the `now` (ms)
 * passed in; no clock is read. Slow start is RFC 5681 with RFC 3465 byte counting, and may end before a loss by
 * HyStart (hystart.ts: RFC 9406 HyStart++, or Linux's CUBIC HyStart) when the `hystart` option asks for it.
 *
 * State in segments (floats), as in the RFC's formulas; cwnd is exposed in bytes (rounded down, >= 1 SMSS).
 * The connection's duties are in types.ts.
 */
import {
  ABC_LIMIT_SEGMENTS, checkMss, DEFAULT_INITIAL_WINDOW_SEGMENTS, INITIAL_SSTHRESH,
  type CongestionControl, type CongestionControlOptions,
} from './types.js';
import { HyStart, resolveHystart } from './hystart.js';

/** RFC 9438 4.1: C = 0.4, beta_cubic = 0.7. */
export const CUBIC_C = 0.4;
export const CUBIC_BETA = 0.7;
/** RFC 9438 4.3 eq. (4): alpha_cubic = 3 * (1 - beta) / (1 + beta). */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

export class Cubic implements CongestionControl {
  readonly name: string = 'cubic';
  /** RFC 9438 4.7 fast convergence (on by default). */
  fastConvergence = true;
  private smss: number;
  /** cwnd in segments. */
  private w: number;
  private ssthreshSeg = INITIAL_SSTHRESH;
  /** W_max (segments): the window just before the last reduction (after fast convergence). */
  private wMaxV: number | undefined = undefined;
  /** cwnd_prev: cwnd when ssthresh was last set by a congestion event (for alpha_cubic, 4.3). */
  private cwndPrev: number | undefined = undefined;
  /** Start (ms) of the current congestion avoidance stage; undefined until the first CA ACK. */
  private tEpoch: number | undefined = undefined;
  private cwndEpoch = 0;
  private kV = 0;
  private wEst = 0;
  /** The last RTT seen (ms), used when an ACK carries no sample. */
  private rtt: number | undefined = undefined;
  /** RFC 9438 4.8: the first CA stage after an RTO uses K = 0 and W_max = cwnd_epoch. */
  private afterRto = false;

  /** RFC 3465's L in segments (0: none). */
  private readonly abcLimit: number;
  /** HyStart (hystart.ts), or null when off. */
  private readonly hs: HyStart | null;

  constructor(opts: CongestionControlOptions) {
    this.smss = checkMss(opts.mss);
    this.abcLimit = opts.abcLimit ?? ABC_LIMIT_SEGMENTS;
    this.w = opts.initialWindowSegments ?? DEFAULT_INITIAL_WINDOW_SEGMENTS;
    const h = resolveHystart(opts.hystart);
    this.hs = h.variant === 'off' ? null : new HyStart(h);
  }

  /** In HyStart++'s Conservative Slow Start (RFC 9406 4.2). */
  get conservativeSlowStart(): boolean {
    return this.hs?.conservative ?? false;
  }

  onRttSample(now: number, rttMs: number, sndUna: number, sndNxt: number): void {
    if (this.hs === null || !Number.isFinite(rttMs) || rttMs < 0) return;
    const slowStart = this.w < this.ssthreshSeg;
    // Leaving slow start: ssthresh = cwnd (Linux's HyStart, and RFC 9406 at the end of CSS).
    if (this.hs.sample(now, rttMs, sndUna, sndNxt, Math.floor(this.w), slowStart, this.ssthreshSeg === INITIAL_SSTHRESH)) this.ssthreshSeg = this.w;
  }

  get cwnd(): number {
    return Math.max(this.smss, Math.floor(this.w * this.smss));
  }

  get ssthresh(): number {
    return this.ssthreshSeg === INITIAL_SSTHRESH ? INITIAL_SSTHRESH : Math.floor(this.ssthreshSeg * this.smss);
  }

  /** Diagnostics (segments / seconds): W_max, K, W_est, and the epoch start (ms). */
  get wMax(): number | undefined {
    return this.wMaxV;
  }
  get k(): number {
    return this.kV;
  }
  get renoEstimate(): number {
    return this.wEst;
  }
  get epochStart(): number | undefined {
    return this.tEpoch;
  }

  /** RFC 9438 eq. (1): W_cubic(t) = C * (t - K)^3 + W_max, t in seconds since the epoch, in segments. */
  wCubic(tSeconds: number): number {
    const d = tSeconds - this.kV;
    return CUBIC_C * d * d * d + (this.wMaxV ?? this.cwndEpoch);
  }

  onAck(now: number, ackedBytes: number, _bytesInFlight: number, rttMs: number | undefined): void {
    if (rttMs !== undefined && Number.isFinite(rttMs) && rttMs >= 0) this.rtt = rttMs;
    if (!(ackedBytes > 0)) return;
    const acked = ackedBytes / this.smss; // segments
    if (this.w < this.ssthreshSeg) {
      // RFC 9438 4.10 / RFC 5681 slow start with RFC 3465 byte counting (L = 1 SMSS after an RTO).
      const l = this.abcLimit === 0 ? acked : this.afterRto ? 1 : this.abcLimit;
      this.w += this.hs === null ? Math.min(acked, l) : this.hs.growth(Math.min(acked, l));
      return;
    }
    if (this.tEpoch === undefined) this.startEpoch(now);
    const t = (now - this.tEpoch!) / 1000;
    const rttS = (this.rtt ?? 0) / 1000;
    // RFC 9438 4.3 eq. (4): W_est += alpha_cubic * segments_acked / cwnd; alpha = 1 once W_est >= cwnd_prev.
    const alpha = this.cwndPrev === undefined || this.wEst >= this.cwndPrev ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * acked) / this.w;
    const wT = this.wCubic(t);
    if (wT < this.wEst) {
      // RFC 9438 4.3 Reno-friendly region: cwnd = W_est.
      this.w = this.wEst;
      return;
    }
    // RFC 9438 4.4 / 4.5 concave and convex regions: target = W_cubic(t + RTT) clamped to [cwnd, 1.5 cwnd];
    // cwnd += (target - cwnd) / cwnd per SMSS acknowledged.
    let target = this.wCubic(t + rttS);
    if (target < this.w) target = this.w;
    else if (target > 1.5 * this.w) target = 1.5 * this.w;
    this.w += ((target - this.w) / this.w) * acked;
  }

  /** RFC 9438 4.2: a congestion avoidance stage begins: t_epoch, cwnd_epoch, K (eq. 2), W_est = cwnd_epoch. */
  private startEpoch(now: number): void {
    this.tEpoch = now;
    this.cwndEpoch = this.w;
    this.wEst = this.w;
    if (this.afterRto || this.wMaxV === undefined || this.wMaxV <= this.w) {
      // RFC 9438 4.8 after an RTO (and after slow start without loss, or above W_max): K = 0, W_max = cwnd_epoch.
      this.wMaxV = this.w;
      this.kV = 0;
      if (this.cwndPrev === undefined) this.cwndPrev = this.w;
    } else {
      this.kV = Math.cbrt((this.wMaxV - this.w) / CUBIC_C);
    }
    this.afterRto = false;
  }

  /** RFC 9438 4.6 multiplicative decrease and 4.7 fast convergence. */
  private reduce(bytesInFlight: number): void {
    this.hs?.onLoss();
    const flight = Math.max(0, bytesInFlight) / this.smss;
    if (this.fastConvergence && this.wMaxV !== undefined && this.w < this.wMaxV) {
      this.wMaxV = (this.w * (1 + CUBIC_BETA)) / 2;
    } else {
      this.wMaxV = this.w;
    }
    this.cwndPrev = this.w;
    // ssthresh = flight_size * beta_cubic, at least 2 SMSS.
    this.ssthreshSeg = Math.max(flight * CUBIC_BETA, 2);
    this.tEpoch = undefined;
  }

  /** The state before the last onEnterRecovery (for undoRecovery), or undefined. */
  private prior:
    | { w: number; ssthreshSeg: number; wMaxV: number | undefined; cwndPrev: number | undefined; tEpoch: number | undefined; cwndEpoch: number; kV: number; wEst: number }
    | undefined = undefined;

  onEnterRecovery(_now: number, bytesInFlight: number): void {
    this.prior = {
      w: this.w, ssthreshSeg: this.ssthreshSeg, wMaxV: this.wMaxV, cwndPrev: this.cwndPrev, tEpoch: this.tEpoch,
      cwndEpoch: this.cwndEpoch, kV: this.kV, wEst: this.wEst,
    };
    this.reduce(bytesInFlight);
    this.w = this.ssthreshSeg; // cwnd = max(ssthresh, 2)
  }

  onExitRecovery(_now: number): void {
    this.w = this.ssthreshSeg;
    this.tEpoch = undefined;
  }

  onRto(_now: number, bytesInFlight: number): void {
    // RFC 9438 4.8: ssthresh as in 4.6, cwnd = 1 SMSS (RFC 5681); the next CA stage starts with K = 0.
    const flight = Math.max(0, bytesInFlight) / this.smss;
    this.cwndPrev = this.w;
    this.ssthreshSeg = Math.max(flight * CUBIC_BETA, 2);
    this.w = 1;
    this.tEpoch = undefined;
    this.afterRto = true;
    this.hs?.onLoss();
    this.prior = undefined;
  }

  /** RFC 5681 4.1 after idle: cwnd = min(RW, cwnd); the next congestion avoidance stage starts a new epoch. */
  onIdleRestart(_now: number, restartWindow: number): void {
    this.w = Math.min(this.w, Math.max(1, restartWindow / this.smss));
    this.tEpoch = undefined;
  }

  /** Back to the window, W_max and epoch from before the spurious reduction (cwnd never lowered). */
  undoRecovery(_now: number): void {
    const p = this.prior;
    if (p === undefined) return;
    this.prior = undefined;
    this.ssthreshSeg = Math.max(this.ssthreshSeg, p.ssthreshSeg);
    this.wMaxV = p.wMaxV;
    this.cwndPrev = p.cwndPrev;
    if (p.w > this.w) {
      this.w = p.w;
      this.tEpoch = p.tEpoch;
      this.cwndEpoch = p.cwndEpoch;
      this.kV = p.kV;
      this.wEst = p.wEst;
    }
  }

  /** Keep the window in segments (like Linux): a smaller SMSS shrinks cwnd in bytes. */
  setMss(mss: number): void {
    this.smss = checkMss(mss);
  }
}

export const cubic = (opts: CongestionControlOptions): CongestionControl => new Cubic(opts);
