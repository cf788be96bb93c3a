/**
 * The poll loop's doorbell at the end of a turn and its re-poll rule, against a fake node (no driver, no real
 * time): a send made by a callback of the turn (a reply from a 'message' handler, queued by the API and run in
 * afterPoll) is flushed before the turn returns, with no poll of its own; a wake from outside a turn still polls
 * in a microtask (busy mode); and a poll that found its driver empty (fewer frames than its budget) is not
 * followed by another poll in the same turn.
 */
import { describe, expect, it } from 'vitest';
import { PollLoop } from '../../src/runtime/poll-loop.js';
import type { Pollable } from '../../src/stack/sim.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function fakeNode(opts: { budget?: number; withFlush?: boolean } = {}) {
  const clock = { t: 0, now: () => clock.t };
  const log: string[] = [];
  const arrivals: number[] = []; // frames each successive poll finds
  const node: { -readonly [K in keyof Pollable]: Pollable[K] } = {
    poll: () => {
      const n = arrivals.shift() ?? 0;
      log.push(`poll:${n}`);
      return n;
    },
    pollAt: () => undefined,
  };
  if (opts.budget !== undefined) node.pollBudget = opts.budget;
  if (opts.withFlush !== false) node.flush = () => log.push('flush');
  return { node: node as Pollable, clock, log, arrivals };
}

/** A loop whose afterPoll sends one reply (a wake, as stack.poke() after core.send()) the first time it runs. */
function replyingLoop(f: ReturnType<typeof fakeNode>, mode: 'busy' | 'event'): PollLoop {
  let reply = true;
  const loop: PollLoop = new PollLoop(f.node, f.clock, {
    mode,
    spinUs: 0,
    spinMs: 0,
    afterPoll: () => {
      if (reply) loop.wake();
      reply = false;
      f.log.push('afterPoll');
    },
  });
  return loop;
}

describe('PollLoop: the doorbell at the end of a turn', () => {
  it('flushes what a callback of the turn sent before the turn ends, without another poll (busy mode)', async () => {
    const f = fakeNode({ budget: 8 });
    const turns: string[][] = [];
    const loop = replyingLoop(f, 'busy'); // the API runs deferred sends in afterPoll, each poking the loop
    f.arrivals.push(1);
    loop.start();
    await turn();
    turns.push(f.log.splice(0));
    await turn();
    turns.push(f.log.splice(0));
    loop.stop();
    // One poll (it found 1 frame, under its budget of 8: no second poll), the deferred reply, its doorbell.
    expect(turns[0]).toEqual(['poll:1', 'afterPoll', 'flush']);
    // The next turn polls as usual; no microtask poll ran in between.
    expect(turns[1]![0]).toBe('poll:0');
    expect(turns[1]).not.toContain('flush');
  });

  it('still polls in a microtask after a wake from outside a turn (busy mode)', async () => {
    const f = fakeNode({ budget: 8 });
    const loop = new PollLoop(f.node, f.clock, { mode: 'busy', spinUs: 0 });
    loop.start();
    await turn();
    f.log.splice(0);
    loop.wake(); // a send from a timer or another callback, not from the loop's turn
    expect(f.log).toEqual([]); // not synchronously
    await Promise.resolve();
    expect(f.log).toEqual(['poll:0']); // the microtask's poll, which ends with the node's own flush
    expect(f.log).not.toContain('flush');
    loop.stop();
  });

  it('keeps the microtask poll for a node without flush()', async () => {
    const f = fakeNode({ budget: 8, withFlush: false });
    const loop = replyingLoop(f, 'busy');
    f.arrivals.push(1);
    loop.start();
    await turn();
    loop.stop();
    expect(f.log.slice(0, 3)).toEqual(['poll:1', 'afterPoll', 'poll:0']);
  });

  it('event mode: a reply from the turn leaves at its end too', async () => {
    const f = fakeNode({ budget: 8 });
    const loop = replyingLoop(f, 'event');
    f.arrivals.push(2);
    loop.start();
    loop.wake(); // the driver's ready callback
    await turn();
    loop.stop();
    expect(f.log).toEqual(['poll:2', 'afterPoll', 'flush']);
  });
});

describe('PollLoop: polling again within a turn', () => {
  it('polls again only after a poll that spent its whole budget, at most 16 polls a turn', async () => {
    const f = fakeNode({ budget: 4 });
    const loop = new PollLoop(f.node, f.clock, { mode: 'event', spinMs: 0 });
    f.arrivals.push(4, 4, 3, 4); // full, full, then a poll that emptied the driver
    loop.start();
    loop.wake();
    await turn();
    loop.stop();
    expect(f.log).toEqual(['poll:4', 'poll:4', 'poll:3']);

    const g = fakeNode({ budget: 4 });
    const loop2 = new PollLoop(g.node, g.clock, { mode: 'event', spinMs: 0 });
    for (let i = 0; i < 20; i++) g.arrivals.push(4);
    loop2.start();
    loop2.wake();
    await turn();
    loop2.stop();
    expect(g.log.length).toBe(16); // the bound: the rest waits for the next turn
  });

  it('a node that does not say its budget is polled again after any poll that found work (as before)', async () => {
    const f = fakeNode({});
    const loop = new PollLoop(f.node, f.clock, { mode: 'event', spinMs: 0 });
    f.arrivals.push(1);
    loop.start();
    loop.wake();
    await turn();
    loop.stop();
    expect(f.log).toEqual(['poll:1', 'poll:0']);
  });
});

describe('NetStack.poll: asking the driver again', () => {
  it('stops after a receiveRanges batch short of what it asked for; receive() is asked until it answers 0', async () => {
    const { makePair, ip } = await import('./harness.js');
    const { pcap } = await import('../../drivers/middleware/pcap.js');
    for (const ranges of [true, false]) {
      const calls = { ranges: 0, receive: 0 };
      const p = makePair({
        // pcap (with nothing to write to) offers receive() only: the stack then cannot tell an empty driver.
        wrapB: (d) => {
          const w = ranges ? d : pcap(d, { sink: () => {} });
          if (w.receiveRanges) {
            const f = w.receiveRanges.bind(w);
            w.receiveRanges = (now, max, sink) => (calls.ranges++, f(now, max, sink));
          }
          const g = w.receive.bind(w);
          w.receive = (now, max, sink) => (calls.receive++, g(now, max, sink));
          return w;
        },
      });
      let done = false;
      p.a.ping(p.clock.now(), ip('10.0.0.2'), { size: 100 }, () => (done = true));
      p.a.poll(p.clock.now()); // the ARP request leaves
      const handled = p.b.poll(p.clock.now()); // a's announcement and its ARP request: fewer than one batch
      expect(handled).toBeGreaterThan(0);
      expect(handled).toBeLessThan(p.b.driver.caps.maxBatch);
      if (ranges) expect(calls).toEqual({ ranges: 1, receive: 0 });
      else expect(calls).toEqual({ ranges: 0, receive: 2 });
      p.run({ stopWhen: () => done });
      expect(done).toBe(true);
    }
  });
});

describe('PollLoop: the turn source', () => {
  it('asks a busy loop for bursts of turnBurstUs (default spinUs) and an event loop for none', () => {
    for (const [mode, spinUs, turnBurstUs, want] of [
      ['busy', 50, undefined, 50],
      ['busy', 0, undefined, 0],
      ['busy', 120, undefined, 120],
      ['busy', 50, 0, 0],
      ['busy', 50, 300, 300],
      ['event', 50, undefined, 0],
      ['event', 50, 300, 0],
    ] as const) {
      const f = fakeNode();
      const asked: number[] = [];
      const loop = new PollLoop(f.node, f.clock, {
        mode,
        spinUs,
        ...(turnBurstUs !== undefined ? { turnBurstUs } : {}),
        turns: (_run, burstUs) => {
          asked.push(burstUs);
          return { arm: () => {}, disarm: () => {}, close: () => {} };
        },
      });
      loop.start();
      loop.stop();
      expect(asked).toEqual([want]);
    }
  });
});
