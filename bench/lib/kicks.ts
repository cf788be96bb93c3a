/**
 * Driver kicks per round trip (issue #12): a ping-pong workload's change of the driver's `txKicks` counter (the
 * syscalls or doorbells that make the kernel transmit), divided by the round trips it completed, warm-up included
 * (the counters cover the whole workload). Pure. Added only for a side whose driver reports the counter: a driver
 * without it shows nothing, never a 0.
 */
import type { WorkloadRecord } from '../report.js';

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Sets metrics.kicksPerRoundTrip / peerKicksPerRoundTrip on `wr` for the sides whose counters have txKicks. */
export function addKicksPerRoundTrip(wr: WorkloadRecord, counted: { subject: boolean; peer: boolean }): void {
  const total = (wr.raw?.['client'] as { roundTripsTotal?: number } | undefined)?.roundTripsTotal;
  if (!wr.metrics || !total) return;
  // The counter deltas keep non-zero changes only: a counted side with no entry sent no kick.
  if (counted.subject) wr.metrics['kicksPerRoundTrip'] = round3((wr.counters?.['driver.txKicks'] ?? 0) / total);
  if (counted.peer) wr.metrics['peerKicksPerRoundTrip'] = round3((wr.peerCounters?.['driver.txKicks'] ?? 0) / total);
}
