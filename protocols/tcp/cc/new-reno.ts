/**
 * NewReno congestion control: RFC 5681 slow start and congestion avoidance with appropriate byte counting
 * (RFC 3465), RFC 5681 3.2 / RFC 6582 window reduction on loss. See types.ts for the connection's duties
 * (fast-recovery inflation is the connection's, through pipe / PRR / dupack counting).
 */
import {
  ABC_LIMIT_SEGMENTS, checkMss, DEFAULT_INITIAL_WINDOW_SEGMENTS, INITIAL_SSTHRESH,
  type CongestionControl, type CongestionControlOptions,
} from './types.js';

export class NewReno implements CongestionControl {
  readonly name: string = 'newreno';
  protected smss: number;
  protected cwndBytes: number;
  protected ssthreshBytes = INITIAL_SSTHRESH;
  /** RFC 3465 2.1: bytes acknowledged in congestion avoidance not yet turned into cwnd growth. */
  protected bytesAcked = 0;
  /** RFC 3465 2.3: L = 1 SMSS in the slow start that follows an RTO. */
  protected afterRto = false;

  /** RFC 3465's L in segments (0: none). */
  private readonly abcLimit: number;

  constructor(opts: CongestionControlOptions) {
    this.smss = checkMss(opts.mss);
    this.abcLimit = opts.abcLimit ?? ABC_LIMIT_SEGMENTS;
    this.cwndBytes = (opts.initialWindowSegments ?? DEFAULT_INITIAL_WINDOW_SEGMENTS) * this.smss;
  }

  get cwnd(): number {
    return this.cwndBytes;
  }

  get ssthresh(): number {
    return this.ssthreshBytes;
  }

  get mss(): number {
    return this.smss;
  }

  onAck(_now: number, ackedBytes: number, _bytesInFlight: number, _rttMs: number | undefined): void {
    if (!(ackedBytes > 0)) return;
    if (this.cwndBytes < this.ssthreshBytes) {
      // RFC 5681 3.1 slow start with RFC 3465 byte counting: cwnd += min(N, L*SMSS).
      const l = this.abcLimit === 0 ? ackedBytes / this.smss : this.afterRto ? 1 : this.abcLimit;
      this.cwndBytes += Math.min(ackedBytes, l * this.smss);
      return;
    }
    this.afterRto = false;
    // RFC 5681 3.1 congestion avoidance, RFC 3465 2.1: one SMSS per cwnd of bytes acknowledged.
    this.bytesAcked += ackedBytes;
    if (this.bytesAcked >= this.cwndBytes) {
      this.bytesAcked -= this.cwndBytes;
      this.cwndBytes += this.smss;
    }
  }

  /** RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2*SMSS). */
  protected lossSsthresh(bytesInFlight: number): number {
    return Math.max(Math.floor(Math.max(0, bytesInFlight) / 2), 2 * this.smss);
  }

  /** cwnd / ssthresh before the last onEnterRecovery (for undoRecovery), or undefined. */
  protected prior: { cwnd: number; ssthresh: number } | undefined = undefined;

  onEnterRecovery(_now: number, bytesInFlight: number): void {
    this.prior = { cwnd: this.cwndBytes, ssthresh: this.ssthreshBytes };
    // RFC 5681 3.2 step 2 / RFC 6582 3.2 step 2; cwnd = ssthresh (inflation is the connection's, see types.ts).
    this.ssthreshBytes = this.lossSsthresh(bytesInFlight);
    this.cwndBytes = this.ssthreshBytes;
    this.bytesAcked = 0;
  }

  onExitRecovery(_now: number): void {
    // RFC 6582 3.2 step 3, option 1 ("deflate"): cwnd = ssthresh.
    this.cwndBytes = this.ssthreshBytes;
    this.bytesAcked = 0;
  }

  onRto(_now: number, bytesInFlight: number): void {
    // RFC 5681 3.1 eq. (4) and "cwnd to no more than the loss window, LW, which equals 1 full-sized segment".
    this.ssthreshBytes = this.lossSsthresh(bytesInFlight);
    this.cwndBytes = this.smss;
    this.bytesAcked = 0;
    this.afterRto = true;
    this.prior = undefined;
  }

  /** RFC 5681 4.1 after idle: cwnd = min(RW, cwnd). */
  onIdleRestart(_now: number, restartWindow: number): void {
    this.cwndBytes = Math.min(this.cwndBytes, Math.max(this.smss, restartWindow));
    this.bytesAcked = 0;
  }

  undoRecovery(_now: number): void {
    const p = this.prior;
    if (p === undefined) return;
    this.prior = undefined;
    if (p.cwnd > this.cwndBytes) this.cwndBytes = p.cwnd;
    if (p.ssthresh > this.ssthreshBytes) this.ssthreshBytes = p.ssthresh;
  }

  /** cwnd and ssthresh stay in bytes; cwnd is kept at least one (new) SMSS, ssthresh at least 2 SMSS once set. */
  setMss(mss: number): void {
    this.smss = checkMss(mss);
    if (this.cwndBytes < this.smss) this.cwndBytes = this.smss;
    if (this.ssthreshBytes !== INITIAL_SSTHRESH && this.ssthreshBytes < 2 * this.smss) this.ssthreshBytes = 2 * this.smss;
  }
}

export const newReno = (opts: CongestionControlOptions): CongestionControl => new NewReno(opts);
