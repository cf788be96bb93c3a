/** What the API's sockets need from their stack (not exported from the package). */
import type { NetStack } from '../stack/stack.js';
import type { Clock } from '../stack/clock.js';
import type { Flow, Path } from './path.js';
import type { Deferred } from './defer.js';

export interface Tracked {
  readonly keepsAlive: boolean;
  destroyForStackClose(): void;
}

export interface StackInternals {
  readonly core: NetStack;
  readonly clock: Clock;
  /**
   * The time for a call into the core: while the work deferred to a poll runs (defer), that poll's time, which the
   * core was just given (no clock read per send); otherwise `clock`'s (the turn's time inside a poll-loop turn).
   */
  now(): number;
  /** Schedule a poll soon: call after any core call made outside a poll. */
  poke(): void;
  /** Run d.runDeferred() once after the current or next poll (and schedule that poll); see defer.ts. */
  defer(d: Deferred): void;
  decide(flow: Flow): Path;
  /** The strategy's answer when it is the same for every flow ('kernel' or 'bypass'), else undefined. */
  readonly fixedPath: Path | undefined;
  /** A datagram sent on its socket's path to an address the strategy gives to the other path (counted). */
  otherPath(flow: Flow, path: Path): void;
  track(s: Tracked): void;
  untrack(s: Tracked): void;
  /** Whether a tracked object keeps the process alive may have changed (ref/unref, bound, reading...). */
  refChanged(s: Tracked): void;
}
