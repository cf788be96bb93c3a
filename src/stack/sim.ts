/**
 * Drive several sans-IO nodes (stacks, or anything with poll/pollAt) on a virtual clock: poll every node until none
 * has work, then jump the clock to the earliest `pollAt`, and repeat. No real time passes, so a test of a 2-minute
 * TCP time-out runs in milliseconds and the same inputs always give the same run.
 */
import type { VirtualClock } from './clock.js';

export interface Pollable {
  /**
   * Take in what arrived, run due timers, send what is queued; returns the frames handled. `afterReceive`, when
   * given, runs once the frames are taken in and before the timers; when it answers true (it queued output: the
   * replies of the receivers' callbacks), that output is handed to the driver at once.
   */
  poll(now: number, afterReceive?: () => boolean): number;
  pollAt(now: number): number | undefined;
  /**
   * Optional: `pollAt` leaving out the driver's readiness (a busy-polling driver answers `now` to pollAt on every
   * call): the earliest time the node's own work (timers, queued output) needs a poll; `now` when it is waiting.
   * A busy poll loop that has it spins on the receive ring before its poll instead of after an empty one.
   */
  timersAt?(now: number): number | undefined;
  /**
   * Most frames one poll takes in; a poll that handled fewer found its driver empty. Absent: a poll that handled
   * anything may have left more.
   */
  readonly pollBudget?: number;
  /** Hand what is queued for transmit to the driver now (its doorbell), without a poll. */
  flush?(now: number): void;
}

export interface RunOptions {
  /** Stop once the clock would pass this time (the clock is left at it). Default: run until idle. */
  readonly until?: number;
  /** Stop as soon as this returns true (checked after every round). */
  readonly stopWhen?: () => boolean;
  /** Guard against a livelock: rounds before giving up with an error. Default 10 million. */
  readonly maxRounds?: number;
}

/** Returns true if it stopped because `stopWhen` held, false when idle or at `until`. */
export function runUntil(clock: VirtualClock, nodes: readonly Pollable[], options: RunOptions = {}): boolean {
  const until = options.until ?? Infinity;
  const maxRounds = options.maxRounds ?? 10_000_000;
  let idleRounds = 0;
  for (let round = 0; round < maxRounds; round++) {
    const now = clock.now();
    let work = 0;
    for (const n of nodes) work += n.poll(now);
    if (options.stopWhen?.()) return true;
    if (work > 0) {
      idleRounds = 0;
      continue;
    }
    let next: number | undefined;
    for (const n of nodes) {
      const at = n.pollAt(now);
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    if (next === undefined) {
      if (until !== Infinity) clock.set(Math.max(now, until));
      return false;
    }
    if (next <= now) {
      // Something wants attention now but produced no work: let one more round run, then step time forward a
      // little so a node waiting on "now" (a blocked ring) cannot spin forever.
      if (++idleRounds < 3) continue;
      next = now + 1;
    }
    idleRounds = 0;
    if (next > until) {
      clock.set(Math.max(now, until));
      return false;
    }
    clock.set(next);
  }
  throw new Error(`runUntil: no quiescence after ${maxRounds} rounds (a livelock?)`);
}
