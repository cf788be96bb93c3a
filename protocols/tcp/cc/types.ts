/**
 * Pluggable congestion control (RFC 5681 framework). Sans-IO: the connection passes `now` (ms) in every call and
 * no module reads a clock. Windows are in bytes.
 *
 * What the connection must do (shared by every algorithm here):
 * - Call `onAck` for each ACK that cumulatively acknowledges new data while NOT in loss recovery, with the bytes
 *   newly acknowledged, the bytes in flight after the ACK (FlightSize), and the latest RTT sample (or undefined).
 * - On loss detected by fast retransmit / SACK / RACK call `onEnterRecovery(now, FlightSize)` once per recovery
 *   episode (RFC 6582 3.2 step 2: not again until the recovery point is acknowledged). Afterwards cwnd = ssthresh.
 *   Fast-recovery window management is the connection's job: with SACK, use the RFC 6675 pipe algorithm (send while
 *   pipe < cwnd) or PRR (RFC 6937); without SACK, emulate RFC 5681 3.2 steps 4-5 / RFC 6582 by letting
 *   cwnd + 3*SMSS + SMSS per further duplicate ACK (minus data acknowledged by partial ACKs, plus one SMSS) bound
 *   what it sends. These modules do not inflate cwnd.
 * - When the recovery point is acknowledged call `onExitRecovery(now)` (cwnd deflates to ssthresh, RFC 6582 3.2
 *   step 3 option 1).
 * - On a retransmission timeout call `onRto(now, FlightSize)` (RFC 5681 3.1 eq. 4; cwnd = 1 SMSS), once per
 *   timeout. An RTO during recovery ends the recovery: do not call onExitRecovery afterwards.
 * - Call `setMss` when SMSS changes (PMTU discovery).
 */
import { BywayError } from '../../util/errors.js';
import type { HystartOptions } from './hystart.js';

export interface CongestionControl {
  readonly name: string;
  /** Congestion window, bytes. */
  readonly cwnd: number;
  /** Slow start threshold, bytes (INITIAL_SSTHRESH until the first loss). */
  readonly ssthresh: number;
  /** New data cumulatively acknowledged outside recovery (slow start / congestion avoidance). */
  onAck(now: number, ackedBytes: number, bytesInFlight: number, rttMs: number | undefined): void;
  /** Loss detected by fast retransmit / SACK / RACK: entering recovery (RFC 5681 3.2, RFC 6582, RFC 9438 4.6). */
  onEnterRecovery(now: number, bytesInFlight: number): void;
  /** Recovery ends (the recovery point was acknowledged): cwnd deflates to ssthresh. */
  onExitRecovery(now: number): void;
  /** Retransmission timeout (RFC 5681 3.1 eq. 4; cwnd = 1 SMSS (loss window)). */
  onRto(now: number, bytesInFlight: number): void;
  /** The sender's MSS changed (PMTU). */
  setMss(mss: number): void;
  /**
   * Optional spurious-recovery undo (RFC 3708 D-SACK detection; Linux tcp_undo_cwnd_reduction): the last
   * onEnterRecovery answered reordering, not loss. Restore the state from just before it (cwnd never lower than
   * now). Does nothing after an onRto, or when there is nothing to undo.
   */
  undoRecovery?(now: number): void;
  /**
   * Optional: the sender was idle (nothing in flight) for longer than the RTO and sends again: RFC 5681 4.1
   * restarts from cwnd = min(RW, cwnd), RW = min(IW, cwnd), keeping ssthresh (RFC 7661 discusses the trade-off).
   * Called only when the connection's slowStartAfterIdle option is on.
   */
  onIdleRestart?(now: number, restartWindow: number): void;
  /**
   * Optional: an ACK that advanced SND.UNA to `sndUna` (SND.NXT is `sndNxt`) gave an RTT sample, outside recovery;
   * called before onAck for the same ACK (HyStart, hystart.ts, may end slow start on it).
   */
  onRttSample?(now: number, rttMs: number, sndUna: number, sndNxt: number): void;
}

export interface CongestionControlOptions {
  /** SMSS, bytes. */
  mss: number;
  /** Creation time (ms). */
  now: number;
  /** Initial window in segments; default 10 (RFC 6928, like Linux: 10 * SMSS whatever the SMSS). */
  initialWindowSegments?: number;
  /**
   * RFC 3465's L: the most one ACK grows cwnd by in slow start, in segments (1 in the slow start after an RTO).
   * Default 2 (RFC 3465 2.2); 0: no limit, every segment the ACK covers counts, as in Linux's tcp_slow_start.
   */
  abcLimit?: number;
  /** Leaving the initial slow start on RTT increase (hystart.ts; CUBIC only). Default off. */
  hystart?: HystartOptions;
}

export type CongestionControlFactory = (opts: CongestionControlOptions) => CongestionControl;

/** "Arbitrarily high" initial ssthresh (RFC 5681 3.1), kept a 31-bit integer. */
export const INITIAL_SSTHRESH = 0x7fffffff;

/** RFC 6928 default initial window, in segments. */
export const DEFAULT_INITIAL_WINDOW_SEGMENTS = 10;

/** RFC 3465 section 2.2: L, the slow-start byte-counting limit, in SMSS (2, or 1 right after an RTO). */
export const ABC_LIMIT_SEGMENTS = 2;

export function checkMss(mss: number): number {
  if (!Number.isFinite(mss) || mss < 1) throw new BywayError('ERR_INVALID_ARG_VALUE', `congestion control: bad MSS ${mss}`);
  return Math.floor(mss);
}
