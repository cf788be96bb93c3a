/**
 * Small statistics for the benchmark harness: latency samples in a growable Float64Array (no per-sample
 * allocation) and nearest-rank percentiles. Pure functions; no I/O.
 */

/** Latency samples in microseconds, stored in a doubling Float64Array. */
export class Samples {
  private buf = new Float64Array(1024);
  private n = 0;

  add(us: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = us;
  }

  get count(): number {
    return this.n;
  }

  /** The samples in the order added (a view, valid until the next add). */
  values(): Float64Array {
    return this.buf.subarray(0, this.n);
  }

  /** A sorted copy of the samples. */
  sorted(): Float64Array {
    return this.buf.subarray(0, this.n).slice().sort();
  }
}

/**
 * Nearest-rank percentile (p in 0..100) of ascending `sorted`: the smallest sample with at least p % of the
 * samples at or below it. NaN for no samples.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (p <= 0) return sorted[0]!;
  // The small epsilon keeps p = 99.9 of 1000 samples at rank 999 (0.999 * 1000 is 999.0000000000001 in doubles).
  const rank = Math.ceil((p / 100) * n - 1e-9);
  return sorted[Math.max(1, Math.min(n, rank)) - 1]!;
}

export interface LatencySummary {
  readonly samples: number;
  readonly minUs: number;
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

/** Summary of latency samples; `scale` multiplies every figure (0.5 turns round trips into half round trips). */
export function summarize(s: Samples, scale = 1): LatencySummary {
  const v = s.sorted();
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]!;
  const r = (x: number): number => Math.round(x * scale * 100) / 100;
  return {
    samples: v.length,
    minUs: r(v.length ? v[0]! : NaN),
    meanUs: r(v.length ? sum / v.length : NaN),
    p50Us: r(percentile(v, 50)),
    p99Us: r(percentile(v, 99)),
    p999Us: r(percentile(v, 99.9)),
    maxUs: r(v.length ? v[v.length - 1]! : NaN),
  };
}

/** Median of a few numbers (for repeated runs). NaN for none. */
export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/**
 * Ratios of paired samples (other[k] / base[k], pairs measured together): their median and nearest-rank quartiles.
 * Pairs beyond the shorter list are ignored; NaN for none.
 */
export function pairedRatios(base: readonly number[], other: readonly number[]): { median: number; p25: number; p75: number } {
  const n = Math.min(base.length, other.length);
  const r: number[] = [];
  for (let k = 0; k < n; k++) r.push(other[k]! / base[k]!);
  r.sort((a, b) => a - b);
  return { median: median(r), p25: percentile(r, 25), p75: percentile(r, 75) };
}
