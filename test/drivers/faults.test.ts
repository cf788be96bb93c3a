import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { memoryLink } from '../../drivers/memory/index.js';
import { faults, TX_RETRY_MS, type FaultConfig } from '../../drivers/middleware/index.js';
import type { FrameDriver, FrameSink } from '../../drivers/types.js';
import { BywayError } from '../../protocols/util/errors.js';
import { BROADCAST, ethFrame, frameId, recvAll, send } from './helpers.js';

const SRC = Uint8Array.of(2, 0, 0, 0, 0, 1);
const frame = (id: number, payloadLen = 46) => ethFrame(BROADCAST, SRC, id, payloadLen);

/** Sends frames through a tx-faulted wrapper every `stepMs` and records what comes out of the peer, and when. */
function runTx(seed: number, tx: FaultConfig, n: number, stepMs = 0.1, rx?: FaultConfig) {
  const [a, b] = memoryLink({ queueLimit: 1 << 16 });
  const f = faults(a, { seed, tx, rx });
  const out: Array<{ t: number; bytes: Uint8Array }> = [];
  const collect = (t: number) => {
    f.flush(t);
    for (const bytes of recvAll(b, t)) out.push({ t, bytes });
  };
  let t = 0;
  for (let i = 0; i < n; i++) {
    send(f, t, frame(i));
    collect(t);
    t += stepMs;
  }
  for (let next = f.pollAt(t); next !== undefined; next = f.pollAt(t)) {
    t = next;
    collect(t);
  }
  return { f, out };
}

function errCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BywayError);
    return (e as BywayError).code;
  }
  return undefined;
}

function bitDiff(x: Uint8Array, y: Uint8Array): number {
  expect(x.length).toBe(y.length);
  let bits = 0;
  for (let i = 0; i < x.length; i++) for (let v = x[i]! ^ y[i]!; v !== 0; v &= v - 1) bits++;
  return bits;
}

/** Wraps a driver and remembers the views it handed to receive() sinks, to check zero-copy. */
function spy(inner: FrameDriver): FrameDriver & { views: Uint8Array[] } {
  const views: Uint8Array[] = [];
  return {
    views,
    caps: inner.caps,
    hwAddress: inner.hwAddress,
    stats: inner.stats,
    receive: (now: number, max: number, sink: FrameSink) =>
      inner.receive(now, max, (f) => {
        views.push(f);
        sink(f);
      }),
    txReserve: (len) => inner.txReserve(len),
    txCommit: (now, len) => inner.txCommit(now, len),
    flush: (now) => inner.flush(now),
    pollAt: (now) => inner.pollAt?.(now),
    setReadyCallback: (cb) => inner.setReadyCallback(cb),
    close: () => inner.close(),
  };
}

describe('faults: pass-through', () => {
  it('is zero-copy both ways with no faults configured, and shares stats', () => {
    const [a, b] = memoryLink();
    const s = spy(a);
    const f = faults(s, { seed: 1, rx: { loss: 0 } });
    const reserved = f.txReserve(60)!;
    reserved.set(frame(7));
    f.txCommit(0, 60);
    let seenTx: Uint8Array | undefined;
    b.receive(0, 1, (v) => (seenTx = v));
    expect(seenTx!.buffer).toBe(reserved.buffer); // the inner driver's own buffer went out
    send(b, 0, frame(8));
    let seenRx: Uint8Array | undefined;
    expect(f.receive(0, 10, (v) => (seenRx = v))).toBe(1);
    expect(seenRx).toBe(s.views[0]); // the very view the inner driver handed over
    expect(f.stats).toBe(a.stats);
    expect(f.caps).toBe(a.caps);
    expect(f.hwAddress).toBe(a.hwAddress);
    expect(f.pollAt(0)).toBeUndefined();
    expect(f.faultStats.rx.frames).toBe(0); // not even counted: the pipeline is bypassed
  });

  it('preserves the ready callback and closes the inner driver', () => {
    const [a, b] = memoryLink();
    const f = faults(a, { seed: 1, tx: { loss: 0.5 }, rx: { delayMs: 1 } });
    let ready = 0;
    f.setReadyCallback(() => ready++);
    send(b, 0, frame(1));
    expect(ready).toBe(1);
    expect(errCode(() => f.txCommit(0, 10))).toBe('ERR_INVALID_STATE');
    expect(errCode(() => f.txReserve(1519))).toBe('ERR_FRAME_TOO_BIG');
    f.close();
    f.close();
    expect(a.closed).toBe(true);
    expect(errCode(() => f.txReserve(10))).toBe('ERR_DRIVER_CLOSED');
    expect(errCode(() => f.receive(0, 1, () => {}))).toBe('ERR_DRIVER_CLOSED');
    expect(errCode(() => f.pollAt(0))).toBe('ERR_DRIVER_CLOSED');
  });

  it('rejects bad options', () => {
    const [a] = memoryLink();
    expect(errCode(() => faults(a, { seed: 1, tx: { loss: 1.5 } }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(errCode(() => faults(a, { seed: 1, rx: { delayMs: -1 } }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(errCode(() => faults(a, { seed: 1, rx: { rateBitsPerSecond: 0 } }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(errCode(() => faults(a, { seed: Number.NaN }))).toBe('ERR_INVALID_ARG_VALUE');
  });
});

describe('faults: determinism', () => {
  const cfg: FaultConfig = { loss: 0.1, duplicate: 0.1, reorder: 0.1, corrupt: 0.1, delayMs: 2, jitterMs: 3 };
  const key = (r: ReturnType<typeof runTx>) => r.out.map((o) => `${o.t.toFixed(6)}:${Buffer.from(o.bytes).toString('hex')}`);

  it('same seed gives the identical output sequence; another seed differs', () => {
    const r1 = key(runTx(42, cfg, 500));
    const r2 = key(runTx(42, cfg, 500));
    const r3 = key(runTx(43, cfg, 500));
    expect(r1.length).toBeGreaterThan(400);
    expect(r2).toEqual(r1);
    expect(r3).not.toEqual(r1);
  });

  it('the rx configuration does not change tx decisions', () => {
    const r1 = key(runTx(7, cfg, 300, 0.1, undefined));
    const r2 = key(runTx(7, cfg, 300, 0.1, { loss: 0.5, duplicate: 0.3, jitterMs: 4 }));
    expect(r2).toEqual(r1);
  });
});

describe('faults: loss, duplication, reorder, corruption', () => {
  it('drops at the configured rate (20 000 frames, within 5 sigma)', () => {
    const n = 20_000;
    const p = 0.1;
    const { f, out } = runTx(2024, { loss: p }, n, 0.01);
    const sigma = Math.sqrt(n * p * (1 - p));
    expect(Math.abs(f.faultStats.tx.dropped - n * p)).toBeLessThan(5 * sigma);
    expect(out.length).toBe(n - f.faultStats.tx.dropped);
    // the survivors are in order and intact
    const ids = out.map((o) => frameId(o.bytes));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    for (const o of out) expect(o.bytes).toEqual(frame(frameId(o.bytes)));
  });

  it('loses rx frames at the configured rate', () => {
    const [a, b] = memoryLink();
    const f = faults(a, { seed: 9, rx: { loss: 0.25 } });
    let got = 0;
    for (let i = 0; i < 8000; i++) {
      send(b, i, frame(i));
      got += f.receive(i, 64, () => {});
    }
    const sigma = Math.sqrt(8000 * 0.25 * 0.75);
    expect(Math.abs(8000 - got - 2000)).toBeLessThan(5 * sigma);
    expect(f.faultStats.rx.dropped).toBe(8000 - got);
    expect(f.faultStats.tx.frames).toBe(0);
  });

  it('duplicates frames back to back', () => {
    const n = 5000;
    const { f, out } = runTx(5, { duplicate: 0.2 }, n);
    const d = f.faultStats.tx.duplicated;
    expect(Math.abs(d - n * 0.2)).toBeLessThan(5 * Math.sqrt(n * 0.2 * 0.8));
    expect(out.length).toBe(n + d);
    const ids = out.map((o) => frameId(o.bytes));
    let pairs = 0;
    for (let i = 1; i < ids.length; i++) if (ids[i] === ids[i - 1]) pairs++;
    expect(pairs).toBe(d);
    expect(new Set(ids).size).toBe(n);
  });

  it('reorders some frames and loses none', () => {
    const n = 2000;
    const { f, out } = runTx(11, { reorder: 0.1, reorderDelayMs: 1 }, n, 0.1);
    const ids = out.map((o) => frameId(o.bytes));
    expect([...ids].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    let inversions = 0;
    for (let i = 1; i < ids.length; i++) if (ids[i]! < ids[i - 1]!) inversions++;
    expect(f.faultStats.tx.reordered).toBeGreaterThan(100);
    expect(inversions).toBeGreaterThan(100);
    // a held-back frame overtaken by about 10 frames sent in the next millisecond
    const pos = new Map(ids.map((id, i) => [id, i]));
    const maxLag = Math.max(...ids.map((id) => pos.get(id)! - id));
    expect(maxLag).toBeLessThanOrEqual(12);
  });

  it('corruption flips exactly one bit, on tx and on rx', () => {
    const { f, out } = runTx(3, { corrupt: 1 }, 500);
    expect(f.faultStats.tx.corrupted).toBe(500);
    expect(out).toHaveLength(500);
    const positions = new Set<number>();
    out.forEach((o, i) => {
      const orig = frame(i);
      expect(bitDiff(o.bytes, orig)).toBe(1);
      positions.add(o.bytes.findIndex((v, j) => v !== orig[j]));
    });
    expect(positions.size).toBeGreaterThan(30); // random bytes, not always the same
    const [a, b] = memoryLink();
    const fr = faults(a, { seed: 3, rx: { corrupt: 0.5 } });
    let flipped = 0;
    for (let i = 0; i < 400; i++) {
      send(b, 0, frame(i));
      fr.receive(0, 1, (v) => {
        const d = bitDiff(v, frame(i));
        expect(d === 0 || d === 1).toBe(true);
        flipped += d;
      });
    }
    expect(flipped).toBe(fr.faultStats.rx.corrupted);
  });
});

describe('faults: time on a virtual clock', () => {
  it('delays rx frames until now reaches their time, and pollAt says when', () => {
    const [a, b] = memoryLink();
    const f = faults(a, { seed: 1, rx: { delayMs: 10 } });
    send(b, 0, frame(1));
    expect(f.receive(0, 10, () => {})).toBe(0); // pulled from the link at 0: the delay starts now
    send(b, 3, frame(2));
    expect(f.receive(3, 10, () => {})).toBe(0);
    expect(f.pollAt(3)).toBe(10);
    expect(f.receive(9.999, 10, () => {})).toBe(0);
    const ids: number[] = [];
    expect(f.receive(10, 10, (v) => ids.push(frameId(v)))).toBe(1);
    expect(f.pollAt(10)).toBe(13);
    expect(f.receive(13, 10, (v) => ids.push(frameId(v)))).toBe(1);
    expect(ids).toEqual([1, 2]);
    expect(f.pollAt(13)).toBeUndefined();
    expect(f.faultStats.rx.delayed).toBe(2);
  });

  it('honours delay + jitter: frames come out in [delay, delay + jitter), exactly at pollAt times', () => {
    const [a, b] = memoryLink();
    const f = faults(a, { seed: 77, rx: { delayMs: 10, jitterMs: 5 } });
    const pulledAt: number[] = [];
    for (let i = 0; i * 0.05 < 10; i++) {
      // sending for 10 ms, each frame pulled at once: nothing is due before 10 ms
      send(b, i * 0.05, frame(i));
      expect(f.receive(i * 0.05, 64, () => {})).toBe(0);
      pulledAt.push(i * 0.05);
    }
    // From now on drive time only by pollAt: each announced time yields frames, a moment before yields none.
    let t = pulledAt[pulledAt.length - 1]!;
    const latency: number[] = [];
    for (let next = f.pollAt(t); next !== undefined; next = f.pollAt(t)) {
      expect(next).toBeGreaterThanOrEqual(t);
      if (next > t) expect(f.receive(next - 1e-7, 64, () => {})).toBe(0);
      t = next;
      const n = f.receive(t, 64, (v) => latency.push(t - pulledAt[frameId(v)]!));
      expect(n).toBeGreaterThan(0);
    }
    expect(latency).toHaveLength(pulledAt.length);
    for (const l of latency) {
      expect(l).toBeGreaterThanOrEqual(10);
      expect(l).toBeLessThan(15);
    }
    expect(Math.max(...latency) - Math.min(...latency)).toBeGreaterThan(4);
  });

  it('delay + jitter measured from the moment each frame is received', () => {
    const [a, b] = memoryLink();
    const f = faults(a, { seed: 78, rx: { delayMs: 10, jitterMs: 5 } });
    const pulledAt = new Map<number, number>();
    const lat: number[] = [];
    let t = 0;
    let i = 0;
    while (t < 400) {
      if (i < 1000 && t >= i * 0.3) send(b, t, frame(i++));
      f.receive(t, 64, (v) => lat.push(t - pulledAt.get(frameId(v))!));
      // frames the link had were pulled at this t
      for (let k = 0; k < i; k++) if (!pulledAt.has(k)) pulledAt.set(k, t);
      const next = f.pollAt(t);
      t = Math.min(next ?? Infinity, (i < 1000 ? i * 0.3 : Infinity), t + 1);
      if (!Number.isFinite(t)) break;
    }
    expect(lat).toHaveLength(1000);
    for (const l of lat) {
      expect(l).toBeGreaterThanOrEqual(10);
      expect(l).toBeLessThan(15 + 1e-9);
    }
    expect(Math.max(...lat) - Math.min(...lat)).toBeGreaterThan(4); // jitter spreads over the range
  });

  it('releases held tx frames on flush, receive and pollAt', () => {
    const [a, b] = memoryLink();
    const f = faults(a, { seed: 1, tx: { delayMs: 5 } });
    send(f, 0, frame(1));
    send(f, 0, frame(2));
    send(f, 0, frame(3));
    expect(f.held.tx).toBe(3);
    expect(f.pollAt(0)).toBe(5);
    f.flush(4.99);
    expect(b.queued).toBe(0);
    f.receive(5, 64, () => {});
    expect(recvAll(b, 5).map(frameId)).toEqual([1, 2, 3]);
    send(f, 10, frame(4));
    expect(f.pollAt(15)).toBeUndefined(); // released (and flushed) by pollAt itself
    expect(recvAll(b, 15).map(frameId)).toEqual([4]);
    send(f, 20, frame(5));
    f.flush(25);
    expect(recvAll(b, 25).map(frameId)).toEqual([5]);
    expect(f.held.tx).toBe(0);
  });

  it('never hands more than max frames; extra duplicates wait for the next call', () => {
    const [a, b] = memoryLink();
    const f = faults(a, { seed: 1, rx: { duplicate: 1 } });
    for (let i = 0; i < 3; i++) send(b, 0, frame(i));
    const ids: number[] = [];
    const counts: number[] = [];
    for (let k = 0; k < 5; k++) counts.push(f.receive(0, 2, (v) => ids.push(frameId(v))));
    expect(counts).toEqual([2, 2, 2, 0, 0]);
    expect(ids).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it('keeps tx frames in order while the inner driver has no room, and retries', () => {
    const [a, b] = memoryLink();
    let full = false;
    const inner: FrameDriver = { ...spy(a), txReserve: (len: number) => (full ? null : a.txReserve(len)) };
    const f = faults(inner, { seed: 4, tx: { duplicate: 0.5 } });
    send(f, 0, frame(1));
    full = true;
    send(f, 0, frame(2));
    send(f, 0, frame(3));
    expect(f.held.tx).toBeGreaterThanOrEqual(2);
    expect(f.pollAt(0)).toBe(TX_RETRY_MS); // not "now": that would make the poll loop spin
    f.flush(0.5);
    full = false;
    send(f, 1, frame(4)); // the backlog leaves first
    expect(f.held.tx).toBe(0);
    const ids = recvAll(b, 1).map(frameId);
    expect([...new Set(ids)]).toEqual([1, 2, 3, 4]);
    expect(ids.length).toBe(4 + f.faultStats.tx.duplicated);
    expect(f.pollAt(1)).toBeUndefined();
  });

  it('bounds held frames by holdLimit', () => {
    const [a] = memoryLink();
    const f = faults(a, { seed: 1, tx: { delayMs: 10, holdLimit: 5 } });
    for (let i = 0; i < 10; i++) send(f, 0, frame(i));
    expect(f.held.tx).toBe(5);
    expect(f.faultStats.tx.holdDrops).toBe(5);
  });

  it('conserves frames and never releases early under delay, jitter, reorder and rate (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          delayMs: fc.integer({ min: 0, max: 20 }),
          jitterMs: fc.integer({ min: 0, max: 10 }),
          reorder: fc.double({ min: 0, max: 0.5, noNaN: true }),
          rateBitsPerSecond: fc.option(fc.integer({ min: 100_000, max: 100_000_000 }), { nil: undefined }),
        }),
        fc.integer(),
        fc.array(fc.double({ min: 0, max: 2, noNaN: true }), { minLength: 1, maxLength: 80 }),
        (cfg, seed, gaps) => {
          const [a, b] = memoryLink();
          const f = faults(a, { seed, tx: { ...cfg, queueLimit: 4096 } });
          const sentAt: number[] = [];
          const seen: number[] = [];
          let t = 0;
          const collect = () => {
            f.flush(t);
            for (const v of recvAll(b, t)) {
              const id = frameId(v);
              expect(t).toBeGreaterThanOrEqual(sentAt[id]! + cfg.delayMs - 1e-9);
              seen.push(id);
            }
          };
          gaps.forEach((g, i) => {
            t += g;
            sentAt.push(t);
            send(f, t, frame(i));
            collect();
          });
          for (let next = f.pollAt(t); next !== undefined; next = f.pollAt(t)) {
            expect(next).toBeGreaterThanOrEqual(t);
            t = next;
            collect();
          }
          expect(seen.sort((x, y) => x - y)).toEqual(gaps.map((_, i) => i));
          expect(f.held.tx).toBe(0);
        },
      ),
      { numRuns: 80 },
    );
  });
});

describe('faults: rate limit', () => {
  it('gives the configured throughput when offered twice the rate', () => {
    // 8 Mbit/s = 1000 bytes per ms; 1000-byte frames offered every 0.5 ms for 2 s.
    const [a, b] = memoryLink({ queueLimit: 4096 });
    const f = faults(a, { seed: 1, tx: { rateBitsPerSecond: 8_000_000, burstBytes: 1000, queueLimit: 50 } });
    let t = 0;
    let delivered = 0;
    const arrivals: number[] = [];
    for (let i = 0; i < 4000; i++) {
      send(f, t, frame(i, 986)); // 14 + 986 = 1000 bytes
      f.flush(t);
      b.receive(t, 64, (v) => {
        expect(v.length).toBe(1000);
        delivered++;
        arrivals.push(t);
      });
      t += 0.5;
    }
    // 2000 ms at 1 frame per ms, give or take the burst and the last partial step
    expect(delivered).toBeGreaterThanOrEqual(1999);
    expect(delivered).toBeLessThanOrEqual(2001);
    expect(f.faultStats.tx.rateLimitedDrops).toBeGreaterThan(1900);
    expect(f.held.tx).toBeLessThanOrEqual(51);
    // steady state: about 1 frame per ms in every 100 ms window
    for (let w = 100; w < 1900; w += 100) {
      const inWindow = arrivals.filter((x) => x >= w && x < w + 100).length;
      expect(inWindow).toBeGreaterThanOrEqual(99);
      expect(inWindow).toBeLessThanOrEqual(101);
    }
  });

  it('spaces a burst by the token rate and tail-drops beyond queueLimit', () => {
    const [a, b] = memoryLink();
    const f = faults(a, { seed: 1, tx: { rateBitsPerSecond: 8_000_000, queueLimit: 10 } }); // burst: 1518 bytes
    for (let i = 0; i < 100; i++) send(f, 0, frame(i, 986));
    expect(f.faultStats.tx.rateLimitedDrops).toBe(89);
    expect(f.faultStats.tx.rateLimited).toBe(10);
    const times: number[] = [];
    let t = 0;
    times.push(...recvAll(b, 0).map(() => 0));
    for (let next = f.pollAt(t); next !== undefined; next = f.pollAt(t)) {
      t = next;
      f.flush(t);
      times.push(...recvAll(b, t).map(() => t));
    }
    expect(times).toHaveLength(11);
    expect(times[0]).toBe(0);
    // 518 tokens were left: the second frame waits 0.482 ms, each further one 1 ms
    times.slice(1).forEach((x, k) => expect(x).toBeCloseTo(0.482 + k, 9));
  });
});
