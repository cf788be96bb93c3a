/**
 * RFC 6298 retransmission timer computation: the smoothed round-trip time (SRTT), its variation (RTTVAR) and the
 * retransmission timeout (RTO), with exponential backoff.
 *
 * Contract: sans-IO, times in milliseconds (plain numbers, fractions allowed). The caller measures the RTT (RFC 6298
 * section 3: Karn's algorithm, never from a retransmitted segment unless timestamps disambiguate it, RFC 7323
 * section 4) and calls `sample`. On each retransmission timeout it calls `backoff` (section 5.5); when an ACK for new
 * data arrives after backoff it calls `resetBackoff` (section 5.7 lets the RTO collapse once a valid sample is taken).
 * A sample that is negative, NaN or infinite is ignored (counted in `ignoredSamples`). Bad options throw BywayError.
 */
import { BywayError } from '../util/errors.js';

export interface RtoOptions {
  /** RTO before the first sample (RFC 6298 2.1: 1 second). */
  initialRto: number;
  /** Lower clamp on the RTO (RFC 6298 2.4 says 1 s; like Linux we default to 200 ms). */
  minRto: number;
  /** Upper clamp, including backoff (RFC 6298 2.5: at least 60 s). */
  maxRto: number;
  /** Clock granularity G in the RTO formula (RFC 6298 2.2/2.3). Default 1 ms. */
  granularity: number;
  /**
   * 'rfc6298' (default): RTO = SRTT + max(G, K*RTTVAR). 'linux': RTO = SRTT + max(minRto, K*RTTVAR), Linux's
   * tcp_set_rto, whose variance term (rttvar_us) never falls below tcp_rto_min.
   */
  formula?: 'rfc6298' | 'linux';
}

export const DEFAULT_RTO_OPTIONS: Readonly<RtoOptions> = { initialRto: 1000, minRto: 200, maxRto: 120_000, granularity: 1 };

/** RFC 6298 2.3: alpha = 1/8, beta = 1/4; K = 4 (section 2). */
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;
/** Backoff doublings beyond this cannot matter (2^64 times any positive RTO exceeds any sane maxRto). */
const MAX_SHIFT = 64;

function isComplete(o: Partial<RtoOptions>): o is RtoOptions {
  return o.initialRto !== undefined && o.minRto !== undefined && o.maxRto !== undefined && o.granularity !== undefined;
}

export class RttEstimator {
  readonly options: Readonly<RtoOptions>;
  // Always numbers (never undefined), so V8 keeps them as doubles updated in place: a field that may hold
  // undefined stores each new fractional value as a fresh heap object (garbage on every ACK).
  private measured = false;
  private srttV = 0;
  private rttvarV = 0;
  /** The RTO without backoff, already clamped to [minRto, maxRto]. */
  private base: number;
  private k = 0;
  /** Samples rejected as not finite or negative. */
  ignoredSamples = 0;

  constructor(opts?: Partial<RtoOptions>) {
    // A complete, frozen options object is kept as is (a TCP layer shares one among all its connections).
    const o: RtoOptions = opts !== undefined && Object.isFrozen(opts) && isComplete(opts) ? opts : {
      initialRto: opts?.initialRto ?? DEFAULT_RTO_OPTIONS.initialRto,
      minRto: opts?.minRto ?? DEFAULT_RTO_OPTIONS.minRto,
      maxRto: opts?.maxRto ?? DEFAULT_RTO_OPTIONS.maxRto,
      granularity: opts?.granularity ?? DEFAULT_RTO_OPTIONS.granularity,
      formula: opts?.formula,
    };
    for (const [name, v] of Object.entries(o)) {
      if (name === 'formula') continue;
      if (!Number.isFinite(v) || v < 0) throw new BywayError('ERR_INVALID_ARG_VALUE', `RttEstimator: ${name} must be a finite number >= 0, got ${v}`);
    }
    if (o.minRto > o.maxRto) throw new BywayError('ERR_INVALID_ARG_VALUE', `RttEstimator: minRto ${o.minRto} > maxRto ${o.maxRto}`);
    this.options = o;
    this.base = this.clamp(o.initialRto);
  }

  private clamp(v: number): number {
    return Math.min(this.options.maxRto, Math.max(this.options.minRto, v));
  }

  /** SRTT (ms), undefined before the first sample. */
  get srtt(): number | undefined {
    return this.measured ? this.srttV : undefined;
  }

  /** Whether a sample was taken (srtt is defined). */
  get hasSample(): boolean {
    return this.measured;
  }

  /**
   * SRTT (ms), 0 before the first sample: a plain double for the per-segment paths. `srtt`'s `number | undefined`
   * is a heap number on every read, even inlined (the two branches meet as a tagged value): 32 B per data segment
   * in armTlp alone (bench/udp-alloc.ts --proto tcp --profile).
   */
  get srttMs(): number {
    return this.srttV;
  }

  /** RTTVAR (ms), undefined before the first sample. */
  get rttvar(): number | undefined {
    return this.measured ? this.rttvarV : undefined;
  }

  /** The RTO without backoff, clamped to [minRto, maxRto]. */
  get baseRto(): number {
    return this.base;
  }

  /** The RTO to arm the retransmission timer with: the base RTO doubled per backoff, capped at maxRto. */
  get rto(): number {
    if (this.k === 0) return this.base;
    return Math.min(this.options.maxRto, this.base * 2 ** Math.min(this.k, MAX_SHIFT));
  }

  /** Consecutive backoffs since the last resetBackoff. Keeps counting once the RTO reached maxRto. */
  get backoffCount(): number {
    return this.k;
  }

  /** Take a round-trip time measurement R (ms). */
  sample(rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) {
      this.ignoredSamples++;
      return;
    }
    if (!this.measured) {
      // RFC 6298 2.2: SRTT <- R, RTTVAR <- R/2.
      this.measured = true;
      this.srttV = rttMs;
      this.rttvarV = rttMs / 2;
    } else {
      // RFC 6298 2.3: RTTVAR first, with the old SRTT.
      this.rttvarV = (1 - BETA) * this.rttvarV + BETA * Math.abs(this.srttV - rttMs);
      this.srttV = (1 - ALPHA) * this.srttV + ALPHA * rttMs;
    }
    // RFC 6298 2.2/2.3: RTO <- SRTT + max(G, K*RTTVAR); 2.4/2.5: clamps. Linux floors the variance term at minRto.
    const floor = this.options.formula === 'linux' ? Math.max(this.options.granularity, this.options.minRto) : this.options.granularity;
    this.base = this.clamp(this.srttV + Math.max(floor, K * this.rttvarV));
  }

  /** RFC 6298 5.5: the retransmission timer expired: RTO <- RTO * 2 (capped at maxRto, 2.5). */
  backoff(): void {
    this.k++;
  }

  /** Take back the last backoff (a timeout whose retransmission the driver dropped: no network event to answer). */
  cancelBackoff(): void {
    if (this.k > 0) this.k--;
  }

  /** RFC 6298 5.7: new data was acknowledged after backoff: use the computed RTO again. */
  resetBackoff(): void {
    this.k = 0;
  }
}
