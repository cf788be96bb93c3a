/**
 * 32-bit modular sequence-number arithmetic (RFC 9293 section 3.4), the only place it is written.
 * All values are unsigned 32-bit integers as JS numbers (0 .. 2^32-1). Comparison is valid when the two numbers
 * are less than 2^31 apart, which the window rules guarantee.
 */

/** a < b in sequence space. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** a <= b in sequence space. */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** a + n, wrapped to 32 bits (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance b - a (positive when b is after a). */
export function seqDiff(b: number, a: number): number {
  return (b - a) | 0;
}

/** lo <= x < hi in sequence space. */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return seqLe(lo, x) && seqLt(x, hi);
}

export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}

export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}
