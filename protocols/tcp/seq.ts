/**
 * 32-bit modular sequence-number arithmetic (RFC 9293 section 3.4), the only place it is written.
 * Inside the TCP core a sequence number is held as a signed 32-bit integer (-2^31 .. 2^31-1, the same 32 bits as
 * the wire's unsigned number): V8 keeps those as small integers, while an unsigned value of 2^31 or more is a heap
 * number, allocated whenever it is stored or passed (measured: a connection whose numbers sat in the upper half
 * made about 200-250 B more garbage per 64 B round trip, bench/udp-alloc.ts --proto tcp --profile). Values enter
 * through `seqFrom` (the wire codec, ISNs) and leave for display through `seqU32`. Comparison is valid when the
 * two numbers are less than 2^31 apart, which the window rules guarantee.
 */

/** A sequence number from any 32-bit source (unsigned or signed), as the core holds it. */
export function seqFrom(x: number): number {
  return x | 0;
}

/** A sequence number as the wire's unsigned 32-bit value (for display and reports). */
export function seqU32(x: number): number {
  return x >>> 0;
}

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
  return (a + n) | 0;
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
