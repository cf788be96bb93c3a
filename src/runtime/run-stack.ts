/**
 * Run a NetStack on Node's event loop: a PollLoop woken by the driver's readiness and by API calls.
 * `poke()` must follow any call into the core made from outside a poll (a send, a ping), so the driver is flushed
 * and the next timer re-armed.
 */
import type { NetStack, PingOptions, PingResult } from '../stack/stack.js';
import type { Clock } from '../stack/clock.js';
import { PollLoop, systemClock, type PollLoopOptions } from './poll-loop.js';

export interface RunningStack {
  readonly stack: NetStack;
  readonly clock: Clock;
  /** The clock for calls into the stack from the API: within a poll-loop turn, the turn's time (PollLoop.now). */
  readonly apiClock: Clock;
  readonly loop: PollLoop;
  /** Schedule a poll soon (after sending from outside a poll). */
  poke(): void;
  ping(dst: number, options?: PingOptions): Promise<PingResult>;
  stop(): void;
}

export function runStack(stack: NetStack, options: PollLoopOptions & { clock?: Clock } = {}): RunningStack {
  const clock = options.clock ?? systemClock;
  const driver = stack.driver;
  // The driver's native spin, when it has one (FrameDriver.wait); a test may pass its own.
  const wait = options.wait ?? (driver.wait ? (now: number, spinUs: number) => driver.wait!(now, spinUs) : undefined);
  const loop = new PollLoop(stack, clock, { ...options, wait });
  stack.driver.setReadyCallback(loop.wake);
  stack.start(clock.now());
  loop.start();
  loop.wake();
  return {
    stack,
    clock,
    apiClock: { now: loop.now },
    loop,
    poke: loop.wake,
    ping(dst, opts = {}) {
      return new Promise((resolve, reject) => {
        try {
          stack.ping(clock.now(), dst, opts, resolve);
          loop.wake();
        } catch (err) {
          reject(err);
        }
      });
    },
    stop() {
      loop.stop();
      stack.driver.setReadyCallback(null);
    },
  };
}
