/**
 * Binds a sans-IO node to Node's event loop: poll when the driver says frames are ready, then sleep until the time
 * the node asks for (`pollAt`). One timer at most is armed at a time, and it is re-armed only when the wanted time
 * moves earlier, so an idle stack costs nothing and a busy one does not churn timers.
 *
 * Modes: 'event' (readiness-driven; the default) and 'busy' (polls continuously through setImmediate, trading a
 * core for latency, like OpenOnload's spinning; it keeps the process alive until stop()). `unref()` lets the
 * process exit while the loop waits on a timer.
 *
 * In 'event' mode the loop keeps polling for `spinMs` after a poll that handled frames before it goes back to
 * sleep on readiness (like NAPI busy polling, bounded): on these machines a wake-up costs the waker about 35 us, so
 * a stream or a reply that follows within the window is picked up without one. Measured (docs/receive-path.md):
 * 64 B UDP one-way receive +24-30 %, UDP/TCP ping-pong half round trip about halved. Cost: up to spinMs of CPU
 * after each burst; an idle stack still costs nothing. spinMs 0 turns it off.
 * Uses only the timer globals (setTimeout, setImmediate), no `node:` import.
 */
import { invalidArg } from '../../protocols/util/errors.js';
import type { Clock } from '../stack/clock.js';
import type { Pollable } from '../stack/sim.js';

export interface PollLoopOptions {
  readonly mode?: 'event' | 'busy';
  /** Called after each poll (the API layer uses it to emit events outside the core's call stack). */
  readonly afterPoll?: () => void;
  /** Errors thrown by a poll (a bug, never bad input) are reported here; default: rethrown asynchronously. */
  readonly onError?: (err: unknown) => void;
  /** 'event' mode: keep polling this long (ms) after the last poll that handled frames. Default 0.1; 0 = off. */
  readonly spinMs?: number;
}

const DEFAULT_SPIN_MS = 0.1;
/** Empty polls allowed in one spin window, whatever the clock says (a clock that stands still must not spin forever). */
const MAX_EMPTY_SPINS = 1000;

export class PollLoop {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private immediate: ReturnType<typeof setImmediate> | undefined;
  private running = false;
  private refed = true;
  private readonly mode: 'event' | 'busy';
  private readonly spinMs: number;
  private lastWorkAt = -Infinity;
  private emptySpins = 0;

  constructor(private readonly node: Pollable, private readonly clock: Clock, private readonly options: PollLoopOptions = {}) {
    this.mode = options.mode ?? 'event';
    this.spinMs = options.spinMs ?? DEFAULT_SPIN_MS;
    if (!(this.spinMs >= 0)) throw invalidArg(`spinMs must be a non-negative number, got ${String(options.spinMs)}`);
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
      let handled = 0;
      // Drain what is ready, within a bound so one busy link cannot starve the rest of the event loop.
      for (let n = this.node.poll(this.clock.now()); n > 0; n = ++rounds < 16 ? this.node.poll(this.clock.now()) : 0) handled += n;
      if (handled > 0) {
        this.lastWorkAt = this.clock.now();
        this.emptySpins = 0;
      } else this.emptySpins++;
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
    if (now - this.lastWorkAt < this.spinMs && this.emptySpins < MAX_EMPTY_SPINS && (at === undefined || at > now)) {
      // Frames arrived a moment ago: more are likely, and polling again costs less than sleeping and being woken.
      this.wake();
      return;
    }
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
