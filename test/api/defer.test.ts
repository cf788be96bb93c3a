import { describe, expect, it } from 'vitest';
import { DeferQueue } from '../../src/api/defer.js';
import { SendQueue } from '../../src/api/send-queue.js';

describe('DeferQueue (work run after a poll)', () => {
  it('runs a batch in order, once; work added meanwhile waits for the next run', () => {
    const q = new DeferQueue();
    const seen: string[] = [];
    const late = { runDeferred: () => seen.push('late') };
    q.add({ runDeferred: () => seen.push('a') });
    q.add({
      runDeferred: () => {
        seen.push('b');
        q.add(late);
      },
    });
    q.run();
    expect(seen).toEqual(['a', 'b']);
    expect(q.length).toBe(1);
    q.run();
    q.run();
    expect(seen).toEqual(['a', 'b', 'late']);
  });

  it('an exception from one item does not stop the others and is rethrown from a microtask', async () => {
    const q = new DeferQueue();
    const seen: string[] = [];
    const boom = new Error('boom');
    q.add({
      runDeferred: () => {
        throw boom;
      },
    });
    q.add({ runDeferred: () => seen.push('after') });
    const thrown = new Promise<unknown>((resolve) => {
      const original = globalThis.queueMicrotask;
      globalThis.queueMicrotask = (cb) => {
        globalThis.queueMicrotask = original;
        try {
          cb();
        } catch (err) {
          resolve(err);
        }
      };
    });
    q.run();
    expect(seen).toEqual(['after']);
    expect(await thrown).toBe(boom);
  });
});

describe('SendQueue (datagrams waiting for the drain)', () => {
  it('drains the given count oldest first, keeps later sends for the next drain, and drops references', () => {
    const q = new SendQueue();
    const a = new Uint8Array(1);
    const b = new Uint8Array(2);
    const out: [number, number, number][] = [];
    q.push(a, 1, 10, undefined);
    q.push(b, 2, 0, undefined);
    q.drain(q.length, (data, ip, port) => {
      out.push([data.length, ip, port]);
      if (data === a) q.push(a, 3, 30, undefined); // queued from a callback: not in this drain
    });
    expect(out).toEqual([
      [1, 1, 10],
      [2, 2, 0],
    ]);
    expect(q.length).toBe(1);
    q.drain(q.length, (data, ip, port) => out.push([data.length, ip, port]));
    expect(out[2]).toEqual([1, 3, 30]);
    expect(q.length).toBe(0);
    q.push(b, 4, 40, () => {});
    q.clear();
    expect(q.length).toBe(0);
  });
});
