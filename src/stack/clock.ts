/**
 * Clocks. The core never reads one: the runtime reads a `Clock` and passes `now` in. `VirtualClock` is the clock of
 * tests and simulations: time moves only when told, so a run replays exactly.
 */
export interface Clock {
  /** Milliseconds, monotonic, any origin. */
  now(): number;
}

export class VirtualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError('a virtual clock only moves forward');
    this.t += ms;
    return this.t;
  }
  set(t: number): void {
    if (t < this.t) throw new RangeError('a virtual clock only moves forward');
    this.t = t;
  }
}
