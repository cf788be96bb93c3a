/**
 * Binds a sans-IO node to Node's event loop: poll when the driver says frames are ready, then sleep until the time
 * the node asks for (`pollAt`). One timer at most is armed at a time, and it is re-armed only when the wanted time
 * moves earlier, so an idle stack costs nothing and a busy one does not churn timers.
 *
 * Modes: 'event' (readiness-driven; the default) and 'busy' (polls continuously through setImmediate, trading a
 * core for latency, like OpenOnload's spinning; it keeps the process alive until stop()). `unref()` lets the
 * process exit while the loop waits on a timer.
 * Uses only the timer globals (setTimeout, setImmediate), no `node:` import.
 */
import type { Clock } from '../stack/clock.js';
import type { Pollable } from '../stack/sim.js';

export interface PollLoopOptions {
  readonly mode?: 'event' | 'busy';
  /** Called after each poll (the API layer uses it to emit events outside the core's call stack). */
  readonly afterPoll?: () => void;
  /** Errors thrown by a poll (a bug, never bad input) are reported here; default: rethrown asynchronously. */
  readonly onError?: (err: unknown) => void;
}

export class PollLoop {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private immediate: ReturnType<typeof setImmediate> | undefined;
  private running = false;
  private refed = true;
  private readonly mode: 'event' | 'busy';

  constructor(private readonly node: Pollable, private readonly clock: Clock, private readonly options: PollLoopOptions = {}) {
    this.mode = options.mode ?? 'event';
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  /** Ask for a poll soon (from a driver's ready callback or after an API call queued output). */
  readonly wake = (): void => {
    if (!this.running || this.immediate !== undefined) return;
    // Never unref'd: Node runs an unref'd immediate only when something else wakes the event loop, which would
    // stall a poll behind the next unrelated timer. An immediate runs once and does not keep the process alive.
    this.immediate = setImmediate(this.run);
  };

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.timerAt = Infinity;
  }

  ref(): void {
    this.refed = true;
    this.timer?.ref?.();
  }

  unref(): void {
    this.refed = false;
    this.timer?.unref?.();
  }

  /** Poll now, synchronously (used by API calls that must see their effect at once). */
  pollNow(): void {
    this.run();
  }

  private readonly run = (): void => {
    this.immediate = undefined;
    if (!this.running) return;
    try {
      let rounds = 0;
      // Drain what is ready, within a bound so one busy link cannot starve the rest of the event loop.
      while (this.node.poll(this.clock.now()) > 0 && ++rounds < 16);
      this.options.afterPoll?.();
    } catch (err) {
      if (this.options.onError) this.options.onError(err);
      else queueMicrotask(() => {
        throw err;
      });
    }
    this.schedule();
  };

  private schedule(): void {
    if (!this.running) return;
    if (this.mode === 'busy') {
      this.wake();
      return;
    }
    const now = this.clock.now();
    const at = this.node.pollAt(now);
    if (at === undefined) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    if (at <= now) {
      this.wake();
      return;
    }
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.run();
    }, Math.max(0, Math.ceil(at - now)));
    if (!this.refed) this.timer.unref?.();
  }
}

/** The wall clock for the runtime: monotonic milliseconds from the platform's performance timer. */
export const systemClock: Clock = { now: () => performance.now() };
