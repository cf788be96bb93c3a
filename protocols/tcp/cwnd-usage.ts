/**
 * Whether the congestion window limits the sender, per window of data (RFC 7661's question: cwnd should grow only
 * while the sender uses it). Modelled on Linux's tcp_cwnd_validate / tcp_is_cwnd_limited: after each transmission
 * round the sender reports how much is in flight and whether it stopped for want of cwnd; at the start of each
 * window (SND.UNA past the point recorded with the previous report), or when it becomes cwnd-limited, the round's
 * figures are kept for the window. In slow start cwnd may grow while it is below twice the flight at the window's
 * start (so an application-limited sender still doubles what it actually sent, RFC 5681 3.1 applied to the data
 * in flight); in congestion avoidance while the sender was cwnd-limited or had at least half of cwnd in flight
 * (byway's rule before this module, kept).
 *
 * Sans-IO, no allocation; sequence numbers compared modulo 2^32.
 */
import { seqGe } from './seq.js';

export class CwndUsage {
  private limited = false;
  /** Bytes in flight when the current window began. */
  private maxOut = 0;
  /** The window ends when SND.UNA reaches this. */
  private usageSeq = 0;
  private started = false;

  /** After a transmission round that sent something or was stopped by cwnd. */
  onTransmit(sndUna: number, sndNxt: number, inFlight: number, cwndLimited: boolean): void {
    // As Linux's tcp_cwnd_validate: a new window, a round cwnd limited (the window is extended to SND.NXT), or more in
    // flight than the window's figure while it was not limited.
    if (!this.started || seqGe(sndUna, this.usageSeq) || cwndLimited || (!this.limited && inFlight > this.maxOut)) {
      this.started = true;
      this.limited = cwndLimited;
      this.maxOut = inFlight;
      this.usageSeq = sndNxt;
    }
  }

  /** Whether an ACK may grow cwnd; `flightBefore` is what was outstanding before the ACK. */
  mayGrow(cwnd: number, ssthresh: number, flightBefore: number): boolean {
    if (this.limited) return true;
    if (cwnd < ssthresh) return cwnd < 2 * this.maxOut;
    return 2 * flightBefore >= cwnd;
  }
}
