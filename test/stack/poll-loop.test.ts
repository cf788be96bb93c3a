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
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const loop = new PollLoop(node, { now: () => t });
    loop.start();
    expect(timers() - before).toBe(1); // armed for t = 5, nothing else
    t = 5; // the clock reaches the deadline; the armed timer fires and the poll sees it
    await firedAt;
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers() - before).toBe(0); // nothing more wanted: no timer left armed
    loop.stop();
  });
});
