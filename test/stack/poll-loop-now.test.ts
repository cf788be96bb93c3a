/**
 * The poll loop's time for the API (PollLoop.now, the API's clock): within a turn, every call (the receive
 * callbacks, afterReceive, afterPoll) gets the time of the turn's poll without reading the clock; outside a turn
 * (a timer's callback, a user's code) it reads the clock. Against a fake node and a clock that counts its reads.
 */
import { describe, expect, it } from 'vitest';
import { PollLoop } from '../../src/runtime/poll-loop.js';
import type { Pollable } from '../../src/stack/sim.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('PollLoop.now: one clock read per poll, shared by what the turn runs', () => {
  it("answers the poll's time inside a turn and the clock outside it", async () => {
    let reads = 0;
    let t = 100;
    const clock = { now: () => (reads++, t) };
    const seen: Array<[string, number, number]> = []; // where, loop.now(), clock reads so far
    let frames = 1;
    const node: Pollable = {
      poll: (now, after) => {
        seen.push(['poll', now, reads]);
        t += 5; // time passes while the poll runs: the turn's time stays the poll's
        seen.push(['in poll', loop.now(), reads]);
        const n = frames;
        frames = 0;
        if (n > 0) after?.();
        return n;
      },
      pollAt: () => undefined,
      pollBudget: 8, // a poll that took fewer frames emptied its driver: no second poll this turn
    };
    const loop: PollLoop = new PollLoop(node, clock, {
      mode: 'event',
      spinMs: 0,
      afterReceive: () => {
        seen.push(['afterReceive', loop.now(), reads]);
        return false;
      },
      afterPoll: () => seen.push(['afterPoll', loop.now(), reads]),
    });
    loop.start();
    loop.wake(); // as the driver's ready callback
    await turn();
    loop.stop();
    // The turn read the clock once for its poll; everything inside answered 100 without another read.
    const inTurn = seen.filter(([w]) => w !== 'poll');
    expect(inTurn.map(([w, now]) => [w, now])).toEqual([
      ['in poll', 100],
      ['afterReceive', 100],
      ['afterPoll', 100],
    ]);
    const pollReads = seen[0]![2];
    for (const [, , r] of inTurn) expect(r).toBe(pollReads);
    // Outside a turn: the clock, read now.
    t = 250;
    const before = reads;
    expect(loop.now()).toBe(250);
    expect(reads).toBe(before + 1);
  });
});
