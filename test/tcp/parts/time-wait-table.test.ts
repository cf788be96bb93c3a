/** TimeWaitTable storage: the four-tuple index against a Map model, slot reuse, and expiry in deadline order. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cubic } from '../../../protocols/tcp/parts.js';
import { newTcpStats } from '../../../protocols/tcp/info.js';
import { resolveTcpOptions } from '../../../protocols/tcp/options.js';
import { TimeWaitTable, TimeWaitView, emptyTimeWaitSeed, type TimeWaitHost } from '../../../protocols/tcp/time-wait.js';
import { emptyTcpFields } from '../../../protocols/tcp/wire.js';
import { seededRng } from '../../../protocols/util/rng.js';

function table(): { t: TimeWaitTable; released: number[] } {
  const released: number[] = [];
  const host: TimeWaitHost = {
    opts: resolveTcpOptions({ rng: seededRng(1), msl: 1000 }, cubic),
    stats: newTcpStats(),
    txFields: emptyTcpFields(),
    emitHeader: () => true,
    challengeAckAllowed: () => true,
    timeWaitReleased: (p) => released.push(p),
  };
  return { t: new TimeWaitTable(host, new Uint8Array(16).fill(7)), released };
}

interface Tuple {
  localIp: number;
  localPort: number;
  remoteIp: number;
  remotePort: number;
}
const key = (x: Tuple): string => `${x.localIp}:${x.localPort}:${x.remoteIp}:${x.remotePort}`;

function add(t: TimeWaitTable, x: Tuple, deadline: number): number {
  const s = emptyTimeWaitSeed();
  Object.assign(s, x, { deadline });
  return t.add(s, undefined);
}

describe('TimeWaitTable', () => {
  it('finds exactly the records added and not removed (random adds and removes against a Map)', () => {
    // Few addresses and ports, so that tuples collide in the index and deletions shift chains.
    const tuple = fc.record({
      localIp: fc.constantFrom(0x0a000001, 0x0a000003),
      localPort: fc.integer({ min: 1, max: 40 }),
      remoteIp: fc.constantFrom(0x0a000002, 0xc0a80101, 0xffffff00),
      remotePort: fc.constantFrom(80, 443, 65535),
    });
    const op = fc.record({ remove: fc.boolean(), x: tuple });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 600 }), (ops) => {
        const { t, released } = table();
        const model = new Map<string, Tuple>();
        for (const { remove, x } of ops) {
          const slot = t.find(x.localIp, x.localPort, x.remoteIp, x.remotePort);
          expect(slot >= 0).toBe(model.has(key(x)));
          if (remove && slot >= 0) {
            t.remove(slot);
            model.delete(key(x));
            expect(released[released.length - 1]).toBe(x.localPort);
          } else if (!remove && slot < 0) {
            add(t, x, 1000);
            model.set(key(x), x);
          }
          expect(t.size).toBe(model.size);
        }
        for (const x of model.values()) expect(t.find(x.localIp, x.localPort, x.remoteIp, x.remotePort)).toBeGreaterThanOrEqual(0);
        expect(new Set(t.rows().map(key))).toEqual(new Set(model.keys()));
      }),
      { numRuns: 60 },
    );
  });

  it('keeps every other record findable when half are removed at the fullest loads (backward-shift deletion)', () => {
    // Just below each growth the index is half full: the longest probe chains, where a wrong shift loses records.
    for (const n of [63, 64, 95, 96, 143, 144, 215, 216, 500]) {
      const { t } = table();
      for (let i = 0; i < n; i++) add(t, { localIp: 1, localPort: 1000 + i, remoteIp: 2, remotePort: 80 }, 1);
      for (let i = 0; i < n; i += 2) t.remove(t.find(1, 1000 + i, 2, 80));
      for (let i = 0; i < n; i++) expect(t.find(1, 1000 + i, 2, 80) >= 0, `n ${n} port ${1000 + i}`).toBe(i % 2 === 1);
    }
  });

  it('expires records in deadline order, a bounded number per call, and reuses freed slots', () => {
    const { t, released } = table();
    const deadlines = [50, 10, 30, 20, 40];
    deadlines.forEach((d, i) => add(t, { localIp: 1, localPort: 100 + i, remoteIp: 2, remotePort: 80 }, d));
    expect(t.nextDeadline()).toBe(10);
    t.expire(35, 2, () => undefined);
    expect(released).toEqual([101, 103]);
    t.expire(35, 10, () => undefined);
    expect(released).toEqual([101, 103, 102]);
    expect(t.nextDeadline()).toBe(40);
    const slot = add(t, { localIp: 1, localPort: 200, remoteIp: 2, remotePort: 80 }, 45);
    expect(slot).toBeLessThan(5); // a freed slot, not a new one
    t.expire(1000, 100, () => undefined);
    expect(released).toEqual([101, 103, 102, 104, 200, 100]);
    expect(t.size).toBe(0);
    expect(t.nextDeadline()).toBeUndefined();
  });

  it('grows past its initial size and keeps every record findable', () => {
    const { t } = table();
    for (let i = 0; i < 5000; i++) add(t, { localIp: 1, localPort: 1024 + (i % 60000), remoteIp: 2 + (i >> 10), remotePort: 80 }, i);
    expect(t.size).toBe(5000);
    for (let i = 0; i < 5000; i++) expect(t.find(1, 1024 + (i % 60000), 2 + (i >> 10), 80)).toBeGreaterThanOrEqual(0);
    expect(t.find(1, 1023, 2, 80)).toBe(-1);
  });

  it('a view of a record reports TIME-WAIT with the record window, and abort forgets it', () => {
    const { t } = table();
    const s = emptyTimeWaitSeed();
    Object.assign(s, { localIp: 1, localPort: 5, remoteIp: 2, remotePort: 6, rcvWnd: 4096, rcvWs: 3, tsOk: true, deadline: 10 });
    const slot = t.add(s, undefined);
    const v = new TimeWaitView(1, 5, 2, 6, t.window(slot), (x) => t.remove(t.find(x.localIp, x.localPort, x.remoteIp, x.remotePort)));
    expect(v.info()).toMatchObject({ state: 'TIME-WAIT', rcvWnd: 4096, rcvWscale: 3, timestamps: true, sackPermitted: false });
    v.abort(0);
    expect(t.size).toBe(0);
  });
});
