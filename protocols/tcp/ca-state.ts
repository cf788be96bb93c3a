/**
 * The congestion-avoidance state a connection reports in `TcpInfo.caState`, in the words of Linux's tcp_info
 * (`tcpi_ca_state`), so tools written against Linux read byway's state the same way:
 * - 'open': nothing unusual; the sender follows the ACK clock (RFC 5681 slow start / congestion avoidance);
 * - 'disorder': SACKs, duplicate ACKs or segments marked lost, not (yet) a loss response (RFC 6675 before
 *   fast retransmit; RFC 8985 while RACK's reordering window runs);
 * - 'recovery': fast recovery (RFC 6675 / RFC 6582 / RFC 6937), until the recovery point is acknowledged;
 * - 'loss': after a retransmission timeout (RFC 5681 3.1, RFC 6298 5), until everything sent before it is ACKed.
 * - 'cwr': the window was reduced for an ECN-Echo (RFC 3168 6.1.2), until the data sent before it is ACKed (Linux
 *   also enters it on local congestion, which byway does not model).
 */
export type CaState = 'open' | 'disorder' | 'cwr' | 'recovery' | 'loss';

export interface CaFacts {
  readonly inRecovery: boolean;
  /** A retransmission timeout's episode is running (SND.UNA below the point recorded at the timeout). */
  readonly rtoEpisode: boolean;
  readonly sackedBytes: number;
  readonly lostBytes: number;
  readonly dupAcks: number;
  /** A congestion window reduction for ECE runs (ecn.ts). */
  readonly inCwr?: boolean;
}

export function caStateOf(f: CaFacts): CaState {
  if (f.rtoEpisode) return 'loss';
  if (f.inRecovery) return 'recovery';
  if (f.inCwr) return 'cwr';
  if (f.sackedBytes > 0 || f.lostBytes > 0 || f.dupAcks > 0) return 'disorder';
  return 'open';
}

/** Linux's numbering of the states (include/net/tcp.h, enum tcp_ca_state). */
export const LINUX_CA_STATE: Readonly<Record<CaState, number>> = { open: 0, disorder: 1, cwr: 2, recovery: 3, loss: 4 };
