/**
 * The timer phase of a stack's poll (StackCore.poll): the neighbour cache, the reassembler and the transports
 * with timers, polled only from the time one of them may have something to do.
 *
 * Contract: each source polled here says, after the phase, the earliest time its `poll` may do anything
 * (`dueAt`); the phase runs again at the next poll at or after the earliest of those, or at the next poll after any
 * source calls `wake()` (it armed something: a neighbour asked for, a fragment held, a ping sent, a TCP timer filed
 * earlier than its entry or output queued for the poll). Skipping a poll before its `dueAt` changes nothing: each
 * source's poll is a no-op before then. Transports without `dueAt` (Transport.dueAt) are polled on every poll, after
 * the others. Time may be any number; nothing throws.
 *
 * Why: in a request/response exchange a stack polls at least twice per message, and the phase's five calls to
 * early-returning methods (four classes behind one list) were about 5 % of a 64 B transaction in memory
 * (2026-12-04, docs/performance-targets.md), for timers due once per tens of milliseconds.
 */
import type { Transport } from './transport.js';

/** Something with timers the phase polls: `dueAt` is the earliest time its `poll` may do anything. */
export interface TimerSource {
  poll(now: number): void;
  dueAt(now: number): number;
}

export class TimerPhase {
  /** When the phase next runs; -Infinity: at the next poll. */
  private at = -Infinity;
  private gated: TimerSource[];
  private ungated: { poll(now: number): void }[] = [];

  /** `fixed`: the sources that are not transports (polled first, in this order). */
  constructor(private readonly fixed: readonly TimerSource[]) {
    this.gated = [...fixed];
  }

  /** The transports (in the stack's order): those with `dueAt` join the gated sources. */
  setTransports(list: readonly Transport[]): void {
    const gated: TimerSource[] = [...this.fixed];
    const ungated: { poll(now: number): void }[] = [];
    for (const t of list) {
      if (t.poll === undefined) continue;
      if (t.dueAt !== undefined) gated.push(t as Transport & TimerSource);
      else ungated.push(t as Transport & { poll(now: number): void });
    }
    this.gated = gated;
    this.ungated = ungated;
    this.at = -Infinity;
  }

  /** A source armed something: run the phase at the next poll. */
  wake(): void {
    this.at = -Infinity;
  }

  /** The earliest time the phase runs again (-Infinity: at the next poll). For tests. */
  get nextAt(): number {
    return this.at;
  }

  poll(now: number): void {
    if (now >= this.at) {
      const g = this.gated;
      for (let i = 0; i < g.length; i++) g[i]!.poll(now);
      // Asked after every source polled, so what one armed in another (a segment sent from a timer asking for a
      // neighbour) is counted; wakes during the asking (a heap settling) are in the answers.
      let at = Infinity;
      for (let i = 0; i < g.length; i++) {
        const t = g[i]!.dueAt(now);
        if (t < at) at = t;
      }
      this.at = at;
    }
    const u = this.ungated;
    for (let i = 0; i < u.length; i++) u[i]!.poll(now);
  }
}
