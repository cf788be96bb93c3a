/**
 * Event mode's spin window, the part of the poll loop (poll-loop.ts) that decides whether it stays open: after
 * SPIN_MISS_LIMIT native spins in a row that ran out the window is suspended (the loop sleeps on readiness after
 * each burst), and it opens again only to probe, once every SPIN_PROBE_TURNS turns that handled frames. A spin a
 * frame ends resumes it, and so does a window hit: a later turn of the open window that finds frames after a spin
 * ran out (the window kept the loop from sleeping until they came). Counters for diagnostics (`stack.loopStats`).
 * No I/O and no clock: the poll loop reports what happened.
 */

/** Native spins in a row that ran out, after which the spin window is suspended. */
export const SPIN_MISS_LIMIT = 4;
/** Window suspended: turns that handled frames between two probes (a window opened to see if spins hit). */
export const SPIN_PROBE_TURNS = 64;

export class SpinWindow {
  /**
   * Microseconds spent in native spins after empty polls (a spin a frame ended: from the clock read before it to
   * the poll after it; one that ran out: its budget, which the addon spins whole). How much of a stack's CPU its
   * spin window takes.
   */
  spunUs = 0;
  /** Turns with frames after which the window stayed shut (suspended). */
  windowsSkipped = 0;
  /** Turns of an open window that found frames after a native spin of it ran out; each resets the miss count. */
  windowHits = 0;
  /** Native spins in a row that ran out (reset by a hit). */
  private misses = 0;
  /** While > 0 the window is suspended, and this many turns with frames are left before a probe. */
  private probeIn = 0;
  /** The poll loop armed the coming turn because the window was open (not woken from a sleep). */
  private armedTurn = false;
  /** A native spin ran out since the last turn that handled frames. */
  private missedSinceWork = false;

  /** Whether the window may open (not suspended, or a probe is due). */
  get open(): boolean {
    return this.probeIn === 0;
  }

  /** The poll loop armed (true) or did not arm (false) the next turn for the open window. */
  armed(inWindow: boolean): void {
    this.armedTurn = inWindow;
  }

  /** A native spin that a frame ended, `us` long: the window pays off. */
  spinHit(us: number): void {
    this.spunUs += us;
    this.misses = this.probeIn = 0;
    this.missedSinceWork = false; // a spin hit, not a window hit
  }

  /** A native spin of `us` that ran out. */
  spinMissed(us: number): void {
    this.spunUs += us;
    this.missedSinceWork = true;
    // (A probe that missed lands here too: the count was not reset.)
    if (++this.misses >= SPIN_MISS_LIMIT) this.probeIn = SPIN_PROBE_TURNS;
  }

  /** A turn handled frames. */
  worked(): void {
    if (this.missedSinceWork) {
      this.missedSinceWork = false;
      // Frames after a spin that ran out, in a turn the window armed: the window paid off (a window hit).
      if (this.armedTurn) {
        this.windowHits++;
        this.misses = 0;
      }
    }
    // Suspended: shut, but for a probe every SPIN_PROBE_TURNS.
    if (this.probeIn > 0 && --this.probeIn > 0) this.windowsSkipped++;
  }
}
