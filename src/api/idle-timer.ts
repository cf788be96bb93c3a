/**
 * A socket's idle timeout (node:net's `socket.setTimeout(ms)`): `fire` runs once `ms` pass without activity.
 *
 * Activity only stamps the time (`touch`); the one event-loop timer, armed for `due`, checks the stamp when it
 * fires and re-arms for what is left, as Linux's keepalive timer checks the last receive time instead of being
 * rearmed per segment. node:http sets 5 s after every response and 0 when the next request arrives, and marks
 * activity on every chunk: with a timer created, cleared or refreshed each time, a keep-alive request cost a Timeout
 * and several timer-list operations (each with a read of libuv's clock). `set(0)` leaves an armed timer alone: it
 * finds no timeout set when it fires, and stops. A timer that fired is armed again by the next activity, as
 * node:net's refresh() does.
 *
 * Times come from `clock` (the API's clock: the poll turn's time inside a turn), which must advance with real
 * time, as the stack's own timers need. Uses only the timer globals; throws nothing.
 */
import type { Clock } from '../stack/clock.js';

export class IdleTimer {
  /** The timeout (ms); 0: none. */
  private ms = 0;
  /** When the idle period began (the last activity). */
  private from = 0;
  /** When the armed timer fires. */
  private due = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly clock: Clock, private readonly fire: () => void) {}

  /** A timer is armed (it may find no timeout set when it fires). */
  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** Set the timeout (0: none) and start its period now. */
  set(ms: number): void {
    this.ms = ms;
    this.touch();
  }

  /** Activity: the idle period starts again now. */
  touch(): void {
    const ms = this.ms;
    if (ms === 0) return;
    const now = this.clock.now();
    this.from = now;
    // Armed for later than the new period's end (a shorter timeout replaced a longer one): arm again. Armed for
    // sooner, it re-arms itself when it fires.
    if (this.timer === undefined || now + ms < this.due) this.arm(now, ms);
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(now: number, ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.due = now + ms;
    this.timer = setTimeout(this.onTimer, ms);
    this.timer.unref?.();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const ms = this.ms;
    if (ms === 0) return;
    const now = this.clock.now();
    const left = this.from + ms - now;
    if (left > 0) this.arm(now, Math.ceil(left)); // activity since it was armed: the period ends later
    else this.fire();
  };
}
