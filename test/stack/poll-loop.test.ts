/**
 * The runtime on Node's real event loop (this file only: protocol tests use the virtual clock). Bounded by the
 * test time-out; it waits on events, never on a fixed sleep.
 */
import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { PollLoop } from '../../src/runtime/poll-loop.js';
import { runStack } from '../../src/runtime/run-stack.js';
import type { Pollable } from '../../src/stack/sim.js';
import { ip, makeStack } from './harness.js';

describe('PollLoop', () => {
  it('wakes a stack on driver readiness and on its own timers', async () => {
    const [da, db] = memoryLink();
    const a = runStack(makeStack(da, '10.0.0.1/24', 1));
    const b = runStack(makeStack(db, '10.0.0.2/24', 2));
    try {
      const ok = await a.ping(ip('10.0.0.2'));
      expect(ok.ok).toBe(true);
      // A timer-driven outcome: ARP for an absent host gives up after 3 x 20 ms, woken only by pollAt.
      a.stack.neighbours.options.retransmitMs = 20;
      const r = await a.ping(ip('10.0.0.99'), { timeoutMs: 5_000 });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('EHOSTUNREACH');
    } finally {
      a.stop();
      b.stop();
    }
  });

  it('arms one timer for pollAt, polls when it fires, and leaves nothing behind', async () => {
    let t = 0;
    let due = 5;
    let fired!: () => void;
    const firedAt = new Promise<void>((resolve) => (fired = resolve));
    const node: Pollable = {
      poll: () => {
        if (t >= due) {
          due = Infinity;
          fired();
        }
        return 0;
      },
      pollAt: () => (due === Infinity ? undefined : due),
    };
    // The loop arms its timers through the globals: count the ones it holds (set, neither fired nor cleared).
    // Counting the process's Timeout resources instead also counted the test runner's own under load.
    const live = new Set<unknown>();
    const realSet = globalThis.setTimeout;
    const realClear = globalThis.clearTimeout;
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      const h: ReturnType<typeof setTimeout> = realSet(() => {
        live.delete(h);
        fn();
      }, ms);
      live.add(h);
      return h;
    }) as typeof setTimeout;
    globalThis.clearTimeout = ((h: ReturnType<typeof setTimeout> | undefined) => {
      live.delete(h);
      realClear(h);
    }) as typeof clearTimeout;
    const loop = new PollLoop(node, { now: () => t });
    try {
      loop.start();
      expect(live.size).toBe(1); // armed for t = 5, nothing else
      t = 5; // the clock reaches the deadline; the armed timer fires and the poll sees it
      await firedAt;
      await new Promise((resolve) => setImmediate(resolve));
      expect(live.size).toBe(0); // nothing more wanted: no timer left armed
    } finally {
      loop.stop();
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    }
  });
});

describe('PollLoop spin after work (event mode)', () => {
  /** A node that handles one frame on its first poll, then nothing; each poll advances the clock by `step` ms. */
  function oneBurst(step: number) {
    let t = 0;
    let polls = 0;
    let done!: () => void;
    const settled = new Promise<void>((resolve) => (done = resolve));
    const node: Pollable = {
      poll: () => {
        polls++;
        t += step;
        return polls === 1 ? 1 : 0;
      },
      pollAt: () => undefined,
    };
    return { node, clock: { now: () => t }, polls: () => polls, settled, done };
  }

  /** Resolves once the loop has made no poll during a few event-loop turns. */
  async function quiet(polls: () => number): Promise<void> {
    for (let last = -1; last !== polls(); ) {
      last = polls();
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  it('keeps polling for spinMs after a poll that handled frames, then sleeps', async () => {
    const b = oneBurst(0.01);
    const loop = new PollLoop(b.node, b.clock, { spinMs: 0.1 });
    loop.start();
    loop.wake();
    await quiet(b.polls);
    // The first run drains: a poll that finds the frame, one that finds nothing (t = 0.02, the last work). Then
    // one empty poll per turn while t - 0.02 < 0.1: t = 0.03 ... 0.12 (float sums: allow one either way).
    expect(b.polls()).toBeGreaterThanOrEqual(11);
    expect(b.polls()).toBeLessThanOrEqual(13);
    loop.stop();
  });

  it('polls once and sleeps when spinMs is 0, and never spins forever on a clock that stands still', async () => {
    const off = oneBurst(0.01);
    const a = new PollLoop(off.node, off.clock, { spinMs: 0 });
    a.start();
    a.wake();
    await quiet(off.polls);
    expect(off.polls()).toBe(2); // the draining run only: the frame, then an empty poll
    a.stop();
    const frozen = oneBurst(0);
    const b = new PollLoop(frozen.node, frozen.clock, { spinMs: 0.1 });
    b.start();
    b.wake();
    await quiet(frozen.polls);
    expect(frozen.polls()).toBe(2 + 1000); // the draining run, then the empty-poll bound
    b.stop();
    expect(() => new PollLoop(frozen.node, frozen.clock, { spinMs: -1 })).toThrow(/spinMs/);
  });
});
