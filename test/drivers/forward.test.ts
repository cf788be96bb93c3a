/**
 * Middleware keeps the driver's capabilities through one generic pass-through (drivers/middleware/forward.ts,
 * issue #16): pcap() and faults() forward every member of the inner driver they do not define themselves, read
 * through at access time, methods bound to the inner driver once. The shared-address stack tests
 * (test/stack/shared-address.test.ts) show flows and hostTables reaching a stack; this one shows that a member no
 * middleware knows of (a capability a driver gains later) passes too, and that the wrapper's own members win.
 */
import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { faults, pcap } from '../../drivers/middleware/index.js';
import { forwardRest } from '../../drivers/middleware/forward.js';
import type { FrameDriver } from '../../drivers/types.js';

/** A memory driver with members no middleware knows of: a field, a getter over state, a method using `this`. */
class Extended {
  linkDown = false;
  private kicks = 0;
  constructor(readonly base: FrameDriver) {}
  get kickCount(): number {
    return this.kicks;
  }
  kick(n: number): number {
    this.kicks += n;
    return this.kicks;
  }
}

function extended(): FrameDriver & Extended {
  const [a] = memoryLink();
  return forwardRest(new Extended(a), a) as FrameDriver & Extended;
}

const wrappers: Array<[string, (d: FrameDriver) => FrameDriver]> = [
  ['pcap', (d) => pcap(d, { sink: () => {} })],
  ['faults (inactive)', (d) => faults(d, { seed: 1 })],
  ['faults (active)', (d) => faults(d, { seed: 1, tx: { delayMs: 1 }, rx: { loss: 0.5 } })],
  ['faults over pcap', (d) => faults(pcap(d, { sink: () => {} }), { seed: 2, tx: { delayMs: 1 } })],
];

describe('middleware passes on what it does not change', () => {
  for (const [name, wrap] of wrappers) {
    it(`${name}: unknown members read through, methods bound to the inner driver once`, () => {
      const inner = extended();
      const w = wrap(inner) as FrameDriver & Extended;
      expect(w.linkDown).toBe(false);
      inner.linkDown = true; // read at access time, not copied at wrap time
      expect(w.linkDown).toBe(true);
      expect(w.kick(2)).toBe(2); // `this` is the inner driver
      expect(inner.kickCount).toBe(2);
      expect(w.kickCount).toBe(2);
      expect(w.kick).toBe(w.kick); // one bound function, not one per access
      // The frame path and the capabilities are the wrapper's own: a frame sent through it goes out.
      expect(w.caps.mtu).toBe(inner.caps.mtu);
      const buf = w.txReserve(60)!;
      buf.fill(0xff, 0, 6);
      w.txCommit(0, 60);
      w.flush?.(0);
      w.close();
      expect(() => inner.txReserve(60)).toThrow(expect.objectContaining({ code: 'ERR_DRIVER_CLOSED' })); // close reached it
    });
  }

  it('the wrapper\'s own members win, and `hide` keeps a member back', () => {
    const inner = extended();
    const w = forwardRest({ linkDown: 'mine' }, inner, ['kick']) as unknown as Record<string, unknown>;
    expect(w['linkDown']).toBe('mine');
    expect(w['kick']).toBeUndefined();
    expect(w['kickCount']).toBe(0);
  });
});
