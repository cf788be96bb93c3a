/**
 * Where the sender sets PSH besides the end of the application's data (RFC 9293 3.9.1 leaves the sender free to
 * set it; a receiver such as a GRO engine delivers at once what a PSH ends).
 *
 * Linux (since 4.x, __tcp_transmit_skb) sets PSH on every GSO packet of two or more segments, so that the receiver's
 * GRO flushes it at once; the device or the GSO code keeps the flag on the last segment only. The segments of one
 * packet are bounded by tcp_tso_autosize (about a millisecond at the pacing rate, plus a share of 64 KiB that halves
 * for every 512 us of minimum RTT, at least tcp_min_tso_segs) and by tcp_cwnd_test (at most half the congestion
 * window, so two packets are in flight). A byway sender whose packets are cut below it (a TSO driver, or the stack's
 * software GSO) sends packets of exactly that size; with GSO off it sends the segments one by one and marks where
 * Linux's packets would end. Either way the flags and boundaries on the wire are Linux's.
 *
 * Pure functions of the connection's figures: no state, no allocation. Times in ms, sizes in bytes.
 */

/** Linux's default sk_gso_max_size: the largest packet tcp_tso_autosize sizes for. */
const GSO_MAX_SIZE = 65536;

/**
 * Segments per packet as tcp_tso_autosize and tcp_cwnd_test size them: the pacing rate (200 % of cwnd / SRTT in
 * slow start below half ssthresh, 120 % after: Linux's tcp_pacing_ss_ratio / ca_ratio) over 2^10 us, plus
 * GSO_MAX_SIZE >> (min RTT in us >> 9), capped at GSO_MAX_SIZE, in segments, at least `minSegs`; then at most half
 * of cwnd (in segments, at least one). Before an RTT sample (`srttUs` 0) the pacing rate is unlimited
 * (GSO_MAX_SIZE). `slowStartLow`: cwnd is below half of ssthresh. SRTT and the minimum RTT come in whole
 * microseconds, as Linux keeps them (srtt_us, rtt_min), and small integers for V8: the output path calls this once
 * per packet and V8 does not inline it there, so a fractional millisecond or the "infinite" ssthresh 0x7fffffff
 * passed in would be a new heap number per call (`burstArgs` makes the arguments).
 */
export function burstSegments(mss: number, cwnd: number, slowStartLow: boolean, srttUs: number, minRttUs: number, minSegs: number): number {
  let bytes = GSO_MAX_SIZE;
  if (srttUs > 0) {
    const ratio = slowStartLow ? 2 : 1.2;
    const rate = (ratio * cwnd * 1_000_000) / srttUs; // bytes per second
    bytes = rate / 1024;
    const shift = Math.floor(minRttUs / 512);
    if (shift < 32) bytes += Math.floor(GSO_MAX_SIZE / 2 ** shift);
    if (bytes > GSO_MAX_SIZE) bytes = GSO_MAX_SIZE;
  }
  const segs = Math.max(Math.floor(bytes / mss), minSegs);
  const half = Math.max(Math.floor(cwnd / mss) >> 1, 1);
  return segs < half ? segs : half;
}

/** A time in ms (fractional, or NEVER) as burstSegments' whole microseconds, at most 10^9 (a small integer). */
export function wholeUs(ms: number): number {
  return ms < 1_000_000 ? (ms * 1000) | 0 : 1_000_000_000;
}
