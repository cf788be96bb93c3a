import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeadlineHeap } from '../../../protocols/util/deadline-heap.js';

describe('DeadlineHeap (the TCP layer\'s and the TIME-WAIT table\'s timers)', () => {
  it('property: pops come out in deadline order, whatever the interleaving of pushes and pops', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.constant(-1)), { maxLength: 300 }), (ops) => {
        const h = new DeadlineHeap<number>();
        const model: number[] = [];
        let id = 0;
        const items = new Map<number, number>();
        for (const op of ops) {
          if (op < 0) {
            if (model.length === 0) continue;
            model.sort((a, b) => a - b);
            expect(h.topAt).toBe(model[0]);
            expect(items.get(h.top)).toBe(h.topAt);
            model.shift();
            h.pop();
          } else {
            items.set(id, op);
            h.push(op, id++);
            model.push(op);
          }
          expect(h.length).toBe(model.length);
        }
      }),
    );
  });

  it('grows past its first 16 entries, and takeAll empties it and hands back every item', () => {
    const h = new DeadlineHeap<string>();
    for (let i = 0; i < 100; i++) h.push(100 - i, `t${100 - i}`);
    expect(h.length).toBe(100);
    expect(h.topAt).toBe(1);
    expect(h.top).toBe('t1');
    const all = h.takeAll();
    expect(all.sort()).toEqual(Array.from({ length: 100 }, (_, i) => `t${i + 1}`).sort());
    expect(h.length).toBe(0);
    h.push(5, 'again');
    expect(h.top).toBe('again');
  });
});
