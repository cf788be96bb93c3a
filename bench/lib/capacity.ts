/**
 * UDP receive capacity (issue #12): the highest offered rate a receiver takes with under 0.1 % loss, found by
 * stepping a paced sender (bench/lib/blast.c) up and down. Pure: the trial (one paced blast and its count at the
 * receiver) is passed in, so the search is tested without privileges (bench/selftest.ts).
 *
 * Search: double from `startPps` while trials pass (or halve while they fail, down to `minPps`), then bisect between the last rate that passed and the first
 * that failed until they are within `precision` of each other, within `maxTrials` and `deadlineMs`. A trial whose
 * sender fell short of the asked rate by more than 5 % says the sender, not the receiver, was the limit: the search
 * stops there and the result says so (`senderLimited`), never reporting a receiver figure the sender could not test.
 */

export interface CapacityTrial {
  /** The rate asked of the sender, datagrams per second. */
  readonly offeredPps: number;
  /** What the sender sent in the trial, and its achieved rate. */
  readonly sent: number;
  readonly sentPps: number;
  /** What the receiver counted for the trial (after a drain). */
  readonly received: number;
  readonly receivedPps: number;
  readonly lossPct: number;
  readonly pass: boolean;
  readonly senderShort: boolean;
}

export interface CapacityResult {
  /** The highest received rate of a passing trial (datagrams per second), or 0 if none passed. */
  readonly capacityPps: number;
  /** The offered rate of that trial. */
  readonly offeredPps: number;
  /** The lowest offered rate that failed (lost 0.1 % or more), if one was tried. */
  readonly failedAtPps?: number;
  /** True when the sender could not reach an asked rate: the capacity is at least `capacityPps`, maybe more. */
  readonly senderLimited: boolean;
  readonly trials: readonly CapacityTrial[];
  /** Why the search stopped. */
  readonly stoppedBy: 'converged' | 'max-rate' | 'sender' | 'trials' | 'deadline' | 'first-failed';
}

export interface SearchOptions {
  readonly startPps: number;
  readonly maxPps: number;
  /** When the start rate fails, the search halves down to this before it gives up. */
  readonly minPps: number;
  /** Stop bisecting when failed/passed is below 1 + precision. */
  readonly precision: number;
  readonly maxTrials: number;
  readonly deadlineMs: number;
  readonly lossLimitPct: number;
  /** Clock for the deadline (ms); injected for tests. */
  readonly now?: () => number;
}

export const DEFAULT_SEARCH: SearchOptions = { startPps: 50_000, maxPps: 3_200_000, minPps: 3_000, precision: 0.1, maxTrials: 12, deadlineMs: 45_000, lossLimitPct: 0.1 };

/** Judge one trial from its raw counts. */
export function judgeTrial(offeredPps: number, sent: number, received: number, seconds: number, lossLimitPct: number): CapacityTrial {
  const lossPct = sent > 0 ? (100 * Math.max(0, sent - received)) / sent : 100;
  const sentPps = Math.round(sent / seconds);
  return {
    offeredPps,
    sent,
    sentPps,
    received,
    receivedPps: Math.round(received / seconds),
    lossPct: Math.round(lossPct * 1000) / 1000,
    pass: sent > 0 && lossPct < lossLimitPct,
    senderShort: sentPps < 0.95 * offeredPps,
  };
}

export async function searchCapacity(trial: (pps: number) => Promise<CapacityTrial>, o: SearchOptions = DEFAULT_SEARCH): Promise<CapacityResult> {
  const now = o.now ?? (() => performance.now());
  const t0 = now();
  const trials: CapacityTrial[] = [];
  let best: CapacityTrial | undefined;
  let failed: number | undefined;
  let senderLimited = false;
  const done = (stoppedBy: CapacityResult['stoppedBy']): CapacityResult => ({
    capacityPps: best?.receivedPps ?? 0,
    offeredPps: best?.offeredPps ?? 0,
    ...(failed !== undefined ? { failedAtPps: failed } : {}),
    senderLimited,
    trials,
    stoppedBy,
  });
  const step = async (pps: number): Promise<CapacityTrial | 'stop'> => {
    const t = await trial(pps);
    trials.push(t);
    if (t.pass && (!best || t.receivedPps > best.receivedPps)) best = t;
    if (!t.pass) failed = failed === undefined ? pps : Math.min(failed, pps);
    if (t.senderShort && t.pass) {
      senderLimited = true;
      return 'stop';
    }
    return t;
  };
  // Doubling.
  let rate = o.startPps;
  for (;;) {
    if (trials.length >= o.maxTrials) return done('trials');
    if (now() - t0 > o.deadlineMs) return done('deadline');
    const t = await step(rate);
    if (t === 'stop') return done('sender');
    if (!t.pass) break;
    if (rate >= o.maxPps) return done('max-rate');
    rate = Math.min(o.maxPps, rate * 2);
  }
  // The first rate failed: halve down to minPps until one passes.
  while (!best) {
    rate = Math.round(rate / 2);
    if (rate < o.minPps) return done('first-failed');
    if (trials.length >= o.maxTrials) return done('trials');
    if (now() - t0 > o.deadlineMs) return done('deadline');
    const t = await step(rate);
    if (t === 'stop') return done('sender');
  }
  // Bisection between the best passing rate and the lowest failing one.
  let lo = best.offeredPps;
  let hi = failed!;
  while (hi / lo > 1 + o.precision) {
    if (trials.length >= o.maxTrials) return done('trials');
    if (now() - t0 > o.deadlineMs) return done('deadline');
    const mid = Math.round((lo + hi) / 2);
    const t = await step(mid);
    if (t === 'stop') return done('sender');
    if (t.pass) lo = mid;
    else hi = mid;
  }
  return done('converged');
}
