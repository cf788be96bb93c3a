/**
 * The poll loop's native spin (PollLoopOptions.wait, FrameDriver.wait), scheduled against a fake node, a fake
 * clock and a fake `wait` that records its budget: no real spinning and no sleeping. The loop runs on Node's event
 * loop (as in poll-loop.test.ts); the tests wait on its turns, never on time.
 */
import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { faults } from '../../drivers/middleware/faults.js';
import { pcap } from '../../drivers/middleware/pcap.js';
import type { FrameDriver } from '../../drivers/types.js';
import { createStack } from '../../src/api/stack.js';
import { BUSY_IDLE_MS, DEFAULT_SPIN_US, PollLoop, SPIN_MISS_LIMIT, SPIN_PROBE_TURNS } from '../../src/runtime/poll-loop.js';
import { runStack } from '../../src/runtime/run-stack.js';
import type { Pollable } from '../../src/stack/sim.js';
import { makeStack } from './harness.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A link seen by the loop: `arrive(n)` queues frames; poll() takes them all. The fake wait advances the clock by
 * the whole budget when nothing comes (as a spin that ran out), or delivers the frames `during` names.
 */
function fakeLink(opts: { pollAt?: (now: number) => number | undefined; timersAt?: (now: number) => number | undefined } = {}) {
  const clock = { t: 0, now: () => clock.t };
  let queued = 0;
  const log: string[] = [];
  const waits: number[] = [];
  let during = 0; // frames that arrive during the next wait
  let late = 0; // frames that arrive just after the next wait that runs out (before the loop's next turn)
  const node: Pollable = {
    poll: () => {
      const n = queued;
      queued = 0;
      log.push(n > 0 ? `poll:${n}` : 'poll:0');
      return n;
    },
    pollAt: (now) => opts.pollAt?.(now),
    ...(opts.timersAt ? { timersAt: opts.timersAt } : {}),
  };
  const wait = (_now: number, us: number): boolean => {
    const shown = Math.round(us * 1000) / 1000; // 20.000000000000004 (from the float clock) reads as 20
    waits.push(shown);
    log.push(`wait:${shown}`);
    if (during > 0) {
      queued += during;
      during = 0;
      clock.t += 0.001; // a frame came 1 us into the spin
      return true;
    }
    clock.t += us / 1000;
    queued += late;
    late = 0;
    return false;
  };
  return {
    node,
    clock,
    wait,
    log,
    waits,
    arrive: (n: number) => (queued += n),
    arriveDuringWait: (n: number) => (during = n),
    arriveAfterWait: (n: number) => (late = n),
  };
}

describe('PollLoop native spin, busy mode', () => {
  it('spins natively after an empty poll, polls again at once when a frame came, then yields one turn', async () => {
    const l = fakeLink();
    const turns: string[][] = [];
    const loop = new PollLoop(l.node, l.clock, {
      mode: 'busy',
      spinUs: 40,
      wait: l.wait,
      afterPoll: () => turns.push(l.log.splice(0)),
    });
    l.arriveDuringWait(1);
    loop.start();
    await turn();
    await turn();
    loop.stop();
    // Turn 1: nothing waiting, so a native spin of spinUs; a frame arrives in it and is polled in the same turn.
    expect(turns[0]).toEqual(['poll:0', 'wait:40', 'poll:1', 'poll:0']);
    // Turn 2: empty again; the spin runs out and the turn ends (back to the event loop).
    expect(turns[1]).toEqual(['poll:0', 'wait:40']);
    expect(loop.spins).toBe(2);
    expect(loop.spinHits).toBe(1);
  });

  it('never spins in a turn whose poll handled frames (the reply the user sends needs the turn to end)', async () => {
    const l = fakeLink();
    const turns: string[][] = [];
    const loop = new PollLoop(l.node, l.clock, { mode: 'busy', wait: l.wait, afterPoll: () => turns.push(l.log.splice(0)) });
    l.arrive(3);
    loop.start();
    await turn();
    loop.stop();
    expect(turns[0]).toEqual(['poll:3', 'poll:0']);
  });

  it('gives the event loop a turn between spins, so immediates and timers run', async () => {
    const l = fakeLink();
    let turns = 0;
    let threeTurns!: () => void;
    const started = new Promise<void>((resolve) => (threeTurns = resolve));
    const loop = new PollLoop(l.node, l.clock, {
      mode: 'busy',
      wait: l.wait,
      afterPoll: () => {
        if (++turns === 3) threeTurns();
      },
    });
    loop.start();
    await started; // the loop is spinning turn after turn
    await new Promise<void>((resolve) => setTimeout(resolve, 1)); // would never fire if a spin never returned
    // And the loop keeps turning after the timer: two immediates of ours span at least one of its turns. (Counting
    // turns while the timer waited was flaky: on a loaded machine the timer can be due before the next turn.)
    const afterTimer = turns;
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    const during = turns - afterTimer;
    loop.stop();
    expect(during).toBeGreaterThan(0);
    expect(l.waits.length).toBe(turns); // one spin per (empty) turn
    expect(l.waits.every((us) => us === DEFAULT_SPIN_US)).toBe(true);
  });

  it('does not spin with spinUs 0 or without a driver wait, nor from pollNow', async () => {
    const a = fakeLink();
    const off = new PollLoop(a.node, a.clock, { mode: 'busy', spinUs: 0, wait: a.wait });
    off.start();
    await turn();
    await turn();
    off.stop();
    expect(a.waits).toEqual([]);
    expect(a.log.length).toBeGreaterThanOrEqual(2);

    const b = fakeLink();
    const none = new PollLoop(b.node, b.clock, { mode: 'busy' });
    none.start();
    await turn();
    none.stop();
    expect(b.waits).toEqual([]);

    const c = fakeLink();
    const sync = new PollLoop(c.node, c.clock, { mode: 'event', wait: c.wait });
    sync.start();
    c.log.length = 0;
    sync.pollNow();
    expect(c.log).toEqual(['poll:0']);
    sync.stop();
  });

  it('spins only while setSpinning(true); off, it polls on a timer and neither spins nor arms immediates', async () => {
    const l = fakeLink({ pollAt: (now) => now }); // a busy-polling driver: always due
    const loop = new PollLoop(l.node, l.clock, { mode: 'busy', wait: l.wait });
    loop.setSpinning(false);
    loop.start();
    await turn();
    await turn();
    await turn();
    expect(l.waits).toEqual([]);
    expect(l.log.length).toBeLessThanOrEqual(1); // at most the first poll: the next ones wait for the timer
    loop.setSpinning(true);
    await turn();
    await turn();
    expect(l.waits.length).toBeGreaterThanOrEqual(1);
    expect(l.waits[0]).toBe(DEFAULT_SPIN_US);
    loop.setSpinning(false);
    await turn();
    const waitsOff = l.waits.length;
    const pollsOff = l.log.length;
    const t0 = performance.now();
    await turn();
    await turn();
    const elapsed = performance.now() - t0;
    expect(l.waits.length).toBe(waitsOff);
    // No poll per turn: only the BUSY_IDLE_MS timer's, which a loaded machine may reach within two turns (one per
    // timer period at most, where a loop on immediates would poll every turn; plus one: the timer armed before t0
    // may fire at any time after it).
    expect(l.log.length - pollsOff).toBeLessThanOrEqual(Math.floor(elapsed / BUSY_IDLE_MS) + 1);
    while (l.log.length === pollsOff) await turn(); // until the timer (BUSY_IDLE_MS) polls: without a spin
    expect(l.log.length).toBeGreaterThan(pollsOff);
    expect(l.waits.length).toBe(waitsOff);
    loop.stop();
  });

  it('polls in a microtask when woken (a reply sent from a handler), at most once per event-loop turn', async () => {
    const l = fakeLink();
    const loop = new PollLoop(l.node, l.clock, { mode: 'busy', wait: l.wait });
    loop.start();
    await turn();
    l.log.length = 0;
    loop.wake(); // what poke() does after a send
    loop.wake(); // a second send in the same tick: no second poll
    expect(l.log).toEqual([]); // not synchronously: the caller's code finishes first
    await Promise.resolve();
    expect(l.log).toEqual(['poll:0']); // the microtask poll (flushes the reply), no spin in it
    loop.wake(); // again before the next turn: the turn's poll will do
    await Promise.resolve();
    await Promise.resolve();
    expect(l.log).toEqual(['poll:0']);
    await turn();
    expect(l.log.slice(1, 3)).toEqual(['poll:0', `wait:${DEFAULT_SPIN_US}`]); // the next turn: poll, then spin
    loop.stop();
  });

  it('validates spinUs', () => {
    const l = fakeLink();
    for (const bad of [-1, Number.NaN, 10_001, Infinity]) {
      expect(() => new PollLoop(l.node, l.clock, { spinUs: bad })).toThrow(/spinUs/);
    }
    expect(() => new PollLoop(l.node, l.clock, { spinUs: 0 })).not.toThrow();
    expect(() => new PollLoop(l.node, l.clock, { spinUs: 10_000 })).not.toThrow();
    for (const bad of [-1, Number.NaN, 10_001]) {
      expect(() => new PollLoop(l.node, l.clock, { turnBurstUs: bad })).toThrow(/turnBurstUs/);
    }
  });
});

describe('PollLoop native spin, busy mode, spin before the poll (a node with timersAt)', () => {
  it('after a busy turn, spins first and polls once after the spin: no empty poll before it, timers polled every turn', async () => {
    const l = fakeLink({ pollAt: (now) => now, timersAt: () => undefined }); // a busy driver; no timer of the node's
    const turns: string[][] = [];
    const loop = new PollLoop(l.node, l.clock, { mode: 'busy', spinUs: 40, wait: l.wait, afterPoll: () => turns.push(l.log.splice(0)) });
    loop.start();
    await turn(); // turn 1: the first turn polls first, as before
    l.arriveDuringWait(1);
    await turn(); // turn 2: the spin takes the frame, then one poll
    await turn(); // turn 3: the spin runs out; the poll after it still runs (the node's timers)
    loop.stop();
    expect(turns[0]).toEqual(['poll:0', 'wait:40']);
    expect(turns[1]).toEqual(['wait:40', 'poll:1', 'poll:0']); // (the fake node has no pollBudget: a second poll)
    expect(turns[2]).toEqual(['wait:40', 'poll:0']);
    expect(loop.spins).toBe(3);
    expect(loop.spinHits).toBe(1);
  });

  it('cuts the spin at the node\'s next deadline, and polls first when its own work is due', async () => {
    let due: number | undefined;
    const l = fakeLink({ pollAt: (now) => now, timersAt: (now) => (due === undefined ? undefined : Math.max(now, due)) });
    const turns: string[][] = [];
    const loop = new PollLoop(l.node, l.clock, { mode: 'busy', spinUs: 40, wait: l.wait, afterPoll: () => turns.push(l.log.splice(0)) });
    loop.start();
    await turn(); // poll:0 at t = 0, then wait:40
    due = 0.025; // a timer 25 us after the last poll (the deadline is read at the last poll's time, no clock read)
    await turn();
    due = 0; // work waiting (output that found no buffer, a looped-back packet): timersAt answers the poll's time
    await turn();
    loop.stop();
    expect(turns[1]!.length).toBe(2);
    expect(turns[1]![0]).toMatch(/^wait:25(\.0*\d?)?$/);
    expect(turns[1]![1]).toBe('poll:0');
    expect(turns[2]).toEqual(['poll:0', 'wait:40']); // polled first, then the usual spin after an empty poll
  });

  it('a NetStack answers timersAt without its busy driver: undefined when idle, a ping\'s deadline while one waits', () => {
    const [da] = memoryLink();
    const busy = Object.assign(da, { pollAt: (now: number) => now });
    const stack = makeStack(busy, '10.0.0.1/24', 1);
    stack.start(0);
    expect(stack.pollAt(5)).toBe(5);
    expect(stack.timersAt(5)).toBeUndefined();
    stack.ping(5, 0x0a000002, { timeoutMs: 1000 }, () => {});
    const at = stack.timersAt(5);
    expect(at).toBeGreaterThan(5);
    expect(at).toBeLessThanOrEqual(1005);
    expect(stack.pollAt(5)).toBe(5);
  });
});

describe('PollLoop native spin, event mode (the post-burst window)', () => {
  /** Runs the loop until it has gone quiet (no poll during a few turns). */
  async function quiet(log: string[]): Promise<void> {
    for (let last = -1; last !== log.length; ) {
      last = log.length;
      for (let i = 0; i < 5; i++) await turn();
    }
  }

  it('spins only inside the spinMs window, for what is left of it, then sleeps on readiness', async () => {
    const l = fakeLink();
    const loop = new PollLoop(l.node, l.clock, { mode: 'event', spinMs: 0.1, spinUs: 40, wait: l.wait });
    loop.start();
    l.arrive(1);
    loop.wake();
    await quiet(l.log);
    loop.stop();
    // Work at t = 0; then spins of 40, 40 and the 20 us left of the 100 us window; then nothing.
    expect(l.waits).toEqual([40, 40, 20]);
    expect(l.log).toEqual(['poll:1', 'poll:0', 'poll:0', 'wait:40', 'poll:0', 'wait:40', 'poll:0', 'wait:20']);
  });

  it('never spins past the node\'s next timer, and not at all outside the window', async () => {
    const l = fakeLink({ pollAt: () => 0.025 }); // a timer due at 25 us
    const loop = new PollLoop(l.node, l.clock, { mode: 'event', spinMs: 0.1, spinUs: 40, wait: l.wait });
    loop.start();
    l.arrive(1);
    loop.wake();
    for (let i = 0; i < 3; i++) await turn();
    loop.stop();
    expect(l.waits[0]).toBeCloseTo(25, 6);

    const idle = fakeLink();
    const quietLoop = new PollLoop(idle.node, idle.clock, { mode: 'event', spinMs: 0.1, wait: idle.wait });
    quietLoop.start();
    quietLoop.wake(); // a wake-up that finds nothing: no recent work, so no spin
    await quiet(idle.log);
    quietLoop.stop();
    expect(idle.waits).toEqual([]);
  });
});

describe('PollLoop native spin, event mode: a window whose spins keep missing is suspended', () => {
  async function quiet(log: string[]): Promise<void> {
    for (let last = -1; last !== log.length; ) {
      last = log.length;
      for (let i = 0; i < 5; i++) await turn();
    }
  }
  /** One burst of one frame, woken as readiness wakes the loop; the loop's log of it once it is quiet again. */
  async function burst(l: ReturnType<typeof fakeLink>, loop: PollLoop, during = 0): Promise<string[]> {
    l.log.length = 0;
    l.arrive(1);
    if (during > 0) l.arriveDuringWait(during);
    loop.wake();
    await quiet(l.log);
    return l.log.slice();
  }

  it(`after ${SPIN_MISS_LIMIT} spins in a row that ran out, sleeps after each burst; probes every ${SPIN_PROBE_TURNS} bursts; a hit resumes`, async () => {
    const l = fakeLink();
    const loop = new PollLoop(l.node, l.clock, { mode: 'event', spinMs: 0.1, spinUs: 40, wait: l.wait });
    loop.start();
    // Burst 1: the whole window spins and misses (3 spins); burst 2: the 4th miss in a row shuts the window at once.
    expect(await burst(l, loop)).toEqual(['poll:1', 'poll:0', 'poll:0', 'wait:40', 'poll:0', 'wait:40', 'poll:0', 'wait:20']);
    expect(await burst(l, loop)).toEqual(['poll:1', 'poll:0', 'poll:0', 'wait:40']);
    expect(loop.spins).toBe(SPIN_MISS_LIMIT);
    expect(loop.window.spunUs).toBeCloseTo(140, 6);
    // Suspended: each burst is handled and the loop goes back to sleep, without an empty poll or a spin.
    for (let i = 1; i < SPIN_PROBE_TURNS; i++) expect(await burst(l, loop)).toEqual(['poll:1', 'poll:0']);
    expect(loop.window.windowsSkipped).toBe(SPIN_PROBE_TURNS - 1);
    expect(loop.spins).toBe(SPIN_MISS_LIMIT);
    // The probe: the window opens once; its first spin misses, and the window shuts again.
    expect(await burst(l, loop)).toEqual(['poll:1', 'poll:0', 'poll:0', 'wait:40']);
    for (let i = 1; i < SPIN_PROBE_TURNS; i++) await burst(l, loop);
    // The next probe's spin takes a frame: the window is back, for this burst and the next ones.
    expect(await burst(l, loop, 1)).toEqual(['poll:1', 'poll:0', 'poll:0', 'wait:40', 'poll:1', 'poll:0', 'poll:0', 'wait:40', 'poll:0', 'wait:40', 'poll:0', 'wait:20']);
    expect(loop.spinHits).toBe(1);
    expect(await burst(l, loop, 1)).toContain('wait:40');
    expect(loop.window.windowHits).toBe(0); // every burst above was woken from a sleep, or taken by a spin
    loop.stop();
  });

  it('keeps spinning while misses alternate with hits (a ping-pong whose reply sometimes comes after the first spin)', async () => {
    const l = fakeLink();
    const loop = new PollLoop(l.node, l.clock, { mode: 'event', spinMs: 0.1, spinUs: 40, wait: l.wait });
    loop.start();
    for (let i = 0; i < 20; i++) {
      // A frame during the spin: the wait that took it, and a window that then runs out (3 misses), every time.
      const log = await burst(l, loop, 1);
      expect(log.slice(0, 5)).toEqual(['poll:1', 'poll:0', 'poll:0', 'wait:40', 'poll:1']);
    }
    expect(loop.window.windowsSkipped).toBe(0);
    expect(loop.spinHits).toBe(20);
    expect(loop.window.windowHits).toBe(0); // a spin's hit is not also a window hit
    loop.stop();
  });

  it('counts a later turn of the window that finds frames after a spin ran out as a hit (a window hit): the window stays open', async () => {
    // As with the defaults (spinMs 0.1, spinUs 50) an empty window is two spins that run out (times exact in binary,
    // so the fake clock lands on the window's end).
    const l = fakeLink();
    const loop = new PollLoop(l.node, l.clock, { mode: 'event', spinMs: 0.125, spinUs: 62.5, wait: l.wait });
    loop.start();
    expect(await burst(l, loop)).toEqual(['poll:1', 'poll:0', 'poll:0', 'wait:62.5', 'poll:0', 'wait:62.5']); // 2 misses
    for (let i = 0; i < 20; i++) {
      // The window's first spin runs out (the 3rd miss in a row); the frame that comes just after it is taken by the
      // window's next turn, without a sleep; then the window runs out again (2 misses, no more).
      l.log.length = 0;
      l.arrive(1);
      l.arriveAfterWait(1);
      loop.wake();
      await quiet(l.log);
      expect(l.log).toEqual(['poll:1', 'poll:0', 'poll:0', 'wait:62.5', 'poll:1', 'poll:0', 'poll:0', 'wait:62.5', 'poll:0', 'wait:62.5']);
    }
    expect(loop.window.windowHits).toBe(20);
    expect(loop.spinHits).toBe(0);
    expect(loop.window.windowsSkipped).toBe(0);
    // A window with nothing after its burst: with the 2 misses before it, its 2 spins make 4 in a row, and the
    // window is suspended; a frame that then wakes the loop from its sleep is no window hit.
    expect(await burst(l, loop)).toEqual(['poll:1', 'poll:0', 'poll:0', 'wait:62.5', 'poll:0', 'wait:62.5']);
    expect(await burst(l, loop)).toEqual(['poll:1', 'poll:0']);
    expect(loop.window.windowsSkipped).toBe(1);
    expect(loop.window.windowHits).toBe(20);
    loop.stop();
  });

  it('a frame that wakes the loop after its window ran out is no window hit', async () => {
    const l = fakeLink();
    const loop = new PollLoop(l.node, l.clock, { mode: 'event', spinMs: 0.125, spinUs: 62.5, wait: l.wait });
    loop.start();
    // The window's last spin runs out at its end (t = 125 us); the frame just after it finds the loop asleep.
    l.arrive(1);
    loop.wake();
    for (let i = 0; i < 2; i++) await turn(); // the burst's turn and the first spin's
    l.arriveAfterWait(1); // after the second (the last) spin
    await quiet(l.log);
    expect(l.log).toEqual(['poll:1', 'poll:0', 'poll:0', 'wait:62.5', 'poll:0', 'wait:62.5']); // asleep: no turn armed
    loop.wake(); // readiness
    await quiet(l.log);
    expect(l.log.slice(6, 8)).toEqual(['poll:1', 'poll:0']);
    expect(loop.window.windowHits).toBe(0);
    loop.stop();
  });
});

describe('FrameDriver.wait plumbing', () => {
  /** A memory-link driver given a recording wait, as a native driver would have. */
  function withWait(d: FrameDriver, calls: number[]): FrameDriver {
    return Object.assign(d, {
      wait: (_now: number, us: number): boolean => {
        calls.push(us);
        return false;
      },
    });
  }

  it('runStack hands the driver\'s wait to the loop; middleware passes it through, or lacks it when the inner does', async () => {
    const [da, db] = memoryLink();
    const calls: number[] = [];
    const traced = pcap(withWait(da, calls), { sink: () => {} });
    expect(typeof traced.wait).toBe('function');
    expect(pcap(db, { sink: () => {} }).wait).toBeUndefined();
    const running = runStack(makeStack(traced, '10.0.0.1/24', 1), { mode: 'busy', spinUs: 30 });
    await turn();
    await turn();
    running.stop();
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((us) => us === 30)).toBe(true);
  });

  it('the faults middleware spins in the inner driver only while it holds nothing', () => {
    const [da, db] = memoryLink();
    const calls: number[] = [];
    const f = faults(withWait(da, calls), { seed: 1, tx: { delayMs: 5 } });
    expect(f.wait!(0, 10)).toBe(false);
    expect(calls).toEqual([10]);
    const buf = f.txReserve(60)!;
    buf.fill(0);
    f.txCommit(0, 60); // held for 5 ms
    expect(f.held.tx).toBe(1);
    expect(f.wait!(0, 10)).toBe(false);
    expect(calls).toEqual([10]); // not asked again: the held frame is due by time, which a spin would not see
    expect(faults(db, { seed: 1 }).wait).toBeUndefined();
  });

  it('createStack validates spinUs', () => {
    const [da] = memoryLink();
    let err: unknown;
    try {
      createStack({ driver: da, address: '10.0.0.1/24', spinUs: -5 });
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE');
  });
});
