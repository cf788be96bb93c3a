/**
 * The socket's idle timeout (src/api/idle-timer.ts) keeps node:net's setTimeout semantics (fire `ms` after the last
 * activity, once; a new timeout restarts the period; 0 turns it off) with one event-loop timer, not one per
 * activity or per setTimeout call. Fake timers and a clock that reads the faked Date: no real waiting.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IdleTimer } from '../../src/api/idle-timer.js';

describe('IdleTimer', () => {
  let fired: number[];
  let t: IdleTimer;
  const clock = { now: () => Date.now() };
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
    fired = [];
    t = new IdleTimer(clock, () => fired.push(Date.now()));
  });
  afterEach(() => {
    t.clear();
    vi.useRealTimers();
  });

  it('fires ms after the last activity, once', () => {
    t.set(100);
    vi.advanceTimersByTime(60);
    t.touch();
    vi.advanceTimersByTime(99); // t = 159: the period began at 60
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([160]);
    vi.advanceTimersByTime(1000);
    expect(fired).toEqual([160]); // no activity since: not again
  });

  it('activity after it fired arms it again (as node:net refresh() does)', () => {
    t.set(50);
    vi.advanceTimersByTime(50);
    t.touch();
    vi.advanceTimersByTime(50);
    expect(fired).toEqual([50, 100]);
  });

  it("node:http's keep-alive cycle (5 s after each response, 0 at each request) arms one timer, not one per request", () => {
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    for (let i = 0; i < 1000; i++) {
      t.set(5000); // response sent
      vi.advanceTimersByTime(1);
      t.set(0); // next request arrived
      t.touch(); // its bytes
    }
    t.set(5000); // last response, at t = 1000
    expect(setTimeoutSpy.mock.calls.length).toBe(1);
    vi.advanceTimersByTime(4999);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([6000]);
    expect(setTimeoutSpy.mock.calls.length).toBe(2); // re-armed once, at 5000, for what was left
    setTimeoutSpy.mockRestore();
  });

  it('set(0) stops it: an armed timer finds no timeout when it fires', () => {
    t.set(100);
    vi.advanceTimersByTime(10);
    t.set(0);
    t.touch();
    vi.advanceTimersByTime(1000);
    expect(fired).toEqual([]);
    expect(t.armed).toBe(false);
  });

  it('a shorter timeout replacing a longer one fires at the shorter', () => {
    t.set(5000);
    vi.advanceTimersByTime(10);
    t.set(100);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([110]);
  });

  it('clear() disarms it', () => {
    t.set(100);
    t.clear();
    vi.advanceTimersByTime(1000);
    expect(fired).toEqual([]);
  });
});
