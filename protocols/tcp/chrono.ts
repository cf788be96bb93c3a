/**
 * What limits a sender, over time (Linux's tcp_chrono, reported as tcpi_busy_time, tcpi_rwnd_limited and
 * tcpi_sndbuf_limited): after every output the connection says whether it is idle (nothing queued or in flight),
 * busy (sending or waiting for ACKs), limited by the receiver's window (data queued that the peer's window does not
 * admit, RFC 9293 3.8.6.2.1) or by its send buffer (the application offered more than the buffer took). The time
 * spent in each state is summed; busy time, as Linux reports it, is the sum of the three non-idle states. Times are
 * in the caller's clock (ms). Sans-IO: the caller passes `now`.
 */
export type SenderLimit = 'idle' | 'busy' | 'rwnd' | 'sndbuf';

export interface ChronoTotals {
  /** Time not idle (busy, receiver-window-limited or send-buffer-limited), ms. */
  readonly busyTime: number;
  readonly rwndLimited: number;
  readonly sndbufLimited: number;
}

export class SenderChrono {
  private state: SenderLimit = 'idle';
  private since = 0;
  private busy = 0;
  private rwnd = 0;
  private sndbuf = 0;

  set(now: number, state: SenderLimit): void {
    if (state === this.state) return;
    this.add(this.state, now - this.since);
    this.state = state;
    this.since = now;
  }

  /** The totals, the running period counted up to `now` when given. */
  totals(now?: number): ChronoTotals {
    const running = now !== undefined && now > this.since ? now - this.since : 0;
    const busy = this.busy + (this.state === 'busy' ? running : 0);
    const rwnd = this.rwnd + (this.state === 'rwnd' ? running : 0);
    const sndbuf = this.sndbuf + (this.state === 'sndbuf' ? running : 0);
    return { busyTime: busy + rwnd + sndbuf, rwndLimited: rwnd, sndbufLimited: sndbuf };
  }

  private add(state: SenderLimit, d: number): void {
    if (!(d > 0)) return;
    if (state === 'busy') this.busy += d;
    else if (state === 'rwnd') this.rwnd += d;
    else if (state === 'sndbuf') this.sndbuf += d;
  }
}
