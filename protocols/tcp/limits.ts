/**
 * What a TCP layer's connections share and must not overrun together: the memory of their out-of-order queues
 * (oooTotalLimit) and of their buffers (bufferMemoryLimit), the FINs that shutdown/close may send per poll
 * (closeBurst), and two per-second rates: challenge ACKs (RFC 5961 7) and RSTs answering segments that match
 * nothing (rstRateLimit, RFC 9293 3.10.7.1). Counting only; nothing throws.
 */
import type { ResolvedTcpOptions } from './options.js';

/** A count per one-second window (a limit of 0 or less: no limit). */
class PerSecond {
  private start = -Infinity;
  private count = 0;

  /** Whether one more is allowed at `now` (and count it). */
  take(now: number, limit: number): boolean {
    if (now - this.start >= 1000) {
      this.start = now;
      this.count = 0;
    }
    if (this.count >= limit) return false;
    this.count++;
    return true;
  }
}

export class LayerLimits {
  /** Out-of-order data held by all connections (charged as the queues charge it). */
  oooTotal = 0;
  /** Send rings and logical receive buffers of all connections. */
  bufferTotal = 0;
  /** FINs sent by shutdown/close since the last poll began. */
  finsSincePoll = 0;
  private readonly challenges = new PerSecond();
  private readonly rsts = new PerSecond();

  /** `armed()`: a FIN was counted since the last poll (the next poll must start the count again). */
  constructor(
    private readonly o: ResolvedTcpOptions,
    private readonly armed: () => void = () => {},
  ) {}

  oooAllowed(bytes: number): boolean {
    return this.oooTotal + bytes <= this.o.oooTotalLimit;
  }

  oooAdjust(delta: number): void {
    this.oooTotal += delta;
  }

  bufferAllowed(bytes: number): boolean {
    return this.bufferTotal + bytes <= this.o.bufferMemoryLimit;
  }

  bufferAdjust(delta: number): void {
    this.bufferTotal += delta;
  }

  /** Whether a FIN from shutdown/close may go out now (false: from the next poll). */
  finAllowed(): boolean {
    if (this.finsSincePoll >= this.o.closeBurst) return false;
    if (this.finsSincePoll++ === 0) this.armed();
    return true;
  }

  /** RFC 5961 section 7: challengeAckLimit per second. */
  challengeAckAllowed(now: number): boolean {
    return this.challenges.take(now, this.o.challengeAckLimit);
  }

  /** rstRateLimit per second (0: unlimited). */
  rstAllowed(now: number): boolean {
    const limit = this.o.rstRateLimit;
    return limit <= 0 || this.rsts.take(now, limit);
  }
}
