import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OutOfOrderQueue, SEGMENT_OVERHEAD } from '../../../protocols/tcp/ooo-queue.js';
import { seqAdd, seqFrom, seqU32, seqDiff, seqLe, seqLt } from '../../../protocols/tcp/seq.js';

const OH = SEGMENT_OVERHEAD;

function fill(n: number, v: number): Uint8Array {
  return new Uint8Array(n).fill(v);
}

/** Drain everything contiguous into an array. */
function drainAll(q: OutOfOrderQueue, rcvNxt: number): { rcvNxt: number; out: number[] } {
  const out: number[] = [];
  const next = q.drain(rcvNxt, (d) => {
    out.push(...d);
    return d.length;
  });
  return { rcvNxt: next, out };
}

describe('OutOfOrderQueue', () => {
  it('keeps a copy: mutating the caller view after insert changes nothing', () => {
    const q = new OutOfOrderQueue(10_000);
    const buf = new Uint8Array([1, 2, 3, 4]);
    expect(q.insert(1010, buf.subarray(1, 3))).toBe(true);
    buf.fill(9);
    q.insert(1000, new Uint8Array(10).fill(7));
    const { rcvNxt, out } = drainAll(q, 1000);
    expect(rcvNxt).toBe(1012);
    expect(out).toEqual([...new Array(10).fill(7), 2, 3]);
    expect(q.bytes).toBe(0);
    expect(q.segments).toBe(0);
  });

  it('trims overlaps: bytes held earlier win, only gaps are kept', () => {
    const q = new OutOfOrderQueue(10_000);
    q.insert(110, fill(10, 1)); // [110,120)
    q.insert(130, fill(10, 2)); // [130,140)
    expect(q.insert(105, fill(40, 3))).toBe(true); // [105,145): gaps [105,110) [120,130) [140,145)
    expect(q.bytes).toBe(40);
    expect(q.segments).toBe(5);
    expect(q.memory).toBe(40 + 5 * OH);
    const { out, rcvNxt } = drainAll(q, 105);
    expect(rcvNxt).toBe(145);
    expect(out).toEqual([...fill(5, 3), ...fill(10, 1), ...fill(10, 3), ...fill(10, 2), ...fill(5, 3)]);
  });

  it('a duplicate keeps nothing and costs nothing', () => {
    const q = new OutOfOrderQueue(10_000);
    q.insert(200, fill(20, 1));
    const mem = q.memory;
    expect(q.insert(205, fill(10, 9))).toBe(true);
    expect(q.insert(200, fill(20, 9))).toBe(true);
    expect(q.memory).toBe(mem);
    expect(q.segments).toBe(1);
    expect(drainAll(q, 200).out).toEqual([...fill(20, 1)]);
  });

  it('drain discards data wholly before rcvNxt and hands over partial segments from rcvNxt', () => {
    const q = new OutOfOrderQueue(10_000);
    q.insert(10, new Uint8Array([10, 11, 12, 13, 14]));
    q.insert(20, new Uint8Array([20, 21]));
    q.insert(22, new Uint8Array([22]));
    const r = drainAll(q, 12);
    expect(r.out).toEqual([12, 13, 14]);
    expect(r.rcvNxt).toBe(15);
    expect(q.segments).toBe(2);
    // The caller delivered [15,21) itself; drain discards nothing else, hands over 21 and 22.
    const r2 = drainAll(q, 21);
    expect(r2.out).toEqual([21, 22]);
    expect(r2.rcvNxt).toBe(23);
    expect(q.bytes).toBe(0);
    // A hole stops the drain.
    q.insert(30, fill(3, 1));
    expect(drainAll(q, 25)).toEqual({ rcvNxt: 25, out: [] });
    expect(q.segments).toBe(1);
  });

  it('drain stops when the sink takes fewer bytes and resumes later', () => {
    const q = new OutOfOrderQueue(10_000);
    q.insert(0, new Uint8Array([0, 1, 2, 3, 4, 5]));
    q.insert(6, new Uint8Array([6, 7]));
    const got: number[] = [];
    let budget = 4;
    const sink = (d: Uint8Array): number => {
      const n = Math.min(budget, d.length);
      got.push(...d.subarray(0, n));
      budget -= n;
      return n;
    };
    expect(q.drain(0, sink)).toBe(4);
    expect(q.bytes).toBe(4);
    budget = 100;
    expect(q.drain(4, sink)).toBe(8);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(q.bytes).toBe(0);
  });

  it('a sink returning nonsense cannot advance past the data', () => {
    const q = new OutOfOrderQueue(10_000);
    q.insert(0, fill(4, 1));
    expect(q.drain(0, () => 1000)).toBe(4);
    q.insert(10, fill(4, 1));
    expect(q.drain(10, () => -5)).toBe(10);
    expect(q.bytes).toBe(4);
  });

  it('never exceeds the cap: an insert that would is refused whole', () => {
    const q = new OutOfOrderQueue(200 + 2 * OH);
    expect(q.insert(1000, fill(100, 1))).toBe(true);
    expect(q.insert(2000, fill(101, 1))).toBe(false);
    expect(q.segments).toBe(1);
    expect(q.insert(2000, fill(100, 1))).toBe(true);
    expect(q.memory).toBe(200 + 2 * OH);
    expect(q.insert(3000, fill(1, 1))).toBe(false);
    // A duplicate still succeeds at the cap (keeps nothing).
    expect(q.insert(1000, fill(100, 1))).toBe(true);
    // Overlap spanning a hole that would need one more segment is refused whole.
    expect(q.insert(1050, fill(1000, 1))).toBe(false);
    expect(q.bytes).toBe(200);
    const big = new OutOfOrderQueue(50);
    expect(big.insert(0, fill(51, 1))).toBe(false);
    expect(big.bytes).toBe(0);
  });

  it('many 1-byte segments are bounded by the per-segment overhead', () => {
    const limit = 64 * 1024;
    const q = new OutOfOrderQueue(limit);
    let kept = 0;
    for (let i = 0; i < 100_000; i++) if (q.insert(seqAdd(0xfffff000, 2 * i + 1), fill(1, i & 0xff))) kept++;
    expect(kept).toBe(Math.floor(limit / (1 + OH)));
    expect(q.segments).toBe(kept);
    expect(q.memory).toBeLessThanOrEqual(limit);
    // Without overhead counting the same flood would have kept 64K records.
    const naive = new OutOfOrderQueue(limit, 0);
    for (let i = 0; i < 70_000; i++) naive.insert(2 * i + 1, fill(1, 0));
    expect(naive.segments).toBe(limit);
  });

  it('works across 2^31 and the 2^32 wrap (the core holds sequence numbers signed: 2^31 is where they turn negative)', () => {
    for (const base of [seqFrom(0x7ffffff8), seqFrom(0xfffffff8)]) {
      const q = new OutOfOrderQueue(10_000);
      q.insert(seqAdd(base, 4), new Uint8Array([4, 5, 6, 7, 8, 9, 10, 11])); // crosses the boundary
      q.insert(seqAdd(base, 14), new Uint8Array([14]));
      expect(q.sackBlocks(4)).toEqual([
        [seqAdd(base, 14), seqAdd(base, 15)],
        [seqAdd(base, 4), seqAdd(base, 12)],
      ]);
      q.insert(base, new Uint8Array([0, 1, 2, 3]));
      const r = drainAll(q, base);
      expect(r.out).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(r.rcvNxt).toBe(seqAdd(base, 12));
      expect(seqU32(r.rcvNxt)).toBe((seqU32(base) + 12) % 2 ** 32);
    }
  });

  it('SACK blocks: most recent first (RFC 2018 section 4), adjacent segments merged, at most max', () => {
    const q = new OutOfOrderQueue(100_000);
    q.insert(100, fill(10, 1)); // A [100,110)
    q.insert(300, fill(10, 1)); // C [300,310)
    q.insert(200, fill(10, 1)); // B [200,210)
    expect(q.sackBlocks(3)).toEqual([
      [200, 210],
      [300, 310],
      [100, 110],
    ]);
    q.insert(110, fill(5, 1)); // extends A: [100,115), now most recent
    expect(q.sackBlocks(3)).toEqual([
      [100, 115],
      [200, 210],
      [300, 310],
    ]);
    expect(q.sackBlocks(1)).toEqual([[100, 115]]);
    expect(q.sackBlocks(0)).toEqual([]);
    // A duplicate of C still triggers the ACK: C's block goes first (it holds the triggering segment).
    q.insert(302, fill(3, 1));
    expect(q.sackBlocks(2)).toEqual([
      [300, 310],
      [100, 115],
    ]);
    // Filling the hole between B and C merges them into one block.
    q.insert(210, fill(90, 1));
    expect(q.sackBlocks(4)).toEqual([
      [200, 310],
      [100, 115],
    ]);
    q.clear();
    expect(q.sackBlocks(4)).toEqual([]);
    expect([q.bytes, q.segments, q.memory]).toEqual([0, 0, 0]);
  });

  it('SACK blocks follow the order of arrival across many runs, then fall back to the lowest blocks', () => {
    const q = new OutOfOrderQueue(100_000);
    for (let i = 0; i < 12; i++) q.insert(1000 + 100 * i, fill(10, 1));
    expect(q.sackBlocks(4)).toEqual([
      [2100, 2110],
      [2000, 2010],
      [1900, 1910],
      [1800, 1810],
    ]);
    // Remembered: the last 8 distinct runs; beyond them the lowest blocks fill in.
    const all = q.sackBlocks(12);
    expect(all.slice(0, 8).map((b) => b[0])).toEqual([2100, 2000, 1900, 1800, 1700, 1600, 1500, 1400]);
    expect(all.slice(8).map((b) => b[0])).toEqual([1000, 1100, 1200, 1300]);
    // Draining the first runs drops them from the blocks; a partly drained run starts at RCV.NXT.
    const got: number[] = [];
    q.insert(995, fill(5, 2)); // joins the run at 1000
    expect(q.sackBlocks(1)).toEqual([[995, 1010]]);
    expect(q.drain(995, (d) => (got.push(...d), Math.min(d.length, 7)))).toBe(1007); // 5 + 2 of the next
    // The latest segment (995) was delivered, so the blocks of earlier arrivals lead; the rest of the first run
    // is still reported, from RCV.NXT on.
    expect(q.sackBlocks(2)).toEqual([
      [2100, 2110],
      [2000, 2010],
    ]);
    expect(q.sackBlocks(12)).toContainEqual([1007, 1010]);
    expect(q.sackBlocks(12).length).toBe(12);
  });

  it('a flood of tiny segments with holes stays cheap per insert + sackBlocks (no per-ACK scan)', () => {
    for (const down of [false, true]) {
      const q = new OutOfOrderQueue(1 << 20);
      const n = Math.floor((1 << 20) / (1 + OH));
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        expect(q.insert(seqAdd(0xffff0000, 2 * (down ? n - i : i)), fill(1, 1))).toBe(true);
        const b = q.sackBlocks(4);
        expect(b.length).toBe(Math.min(4, i + 1));
      }
      // About 50-300 ms here; a per-call scan of all 16K segments took 5 s.
      expect(performance.now() - t0).toBeLessThan(3000);
    }
  });

  it('a refused insert does not change the SACK order', () => {
    const q = new OutOfOrderQueue(20 + 2 * OH);
    q.insert(100, fill(10, 1));
    q.insert(200, fill(10, 1));
    expect(q.insert(300, fill(10, 1))).toBe(false);
    expect(q.sackBlocks(4)[0]).toEqual([200, 210]);
  });
});

describe('OutOfOrderQueue reassembly property (fast-check)', () => {
  const startArb = fc.oneof(
    fc.integer({ min: 0x7fffff00, max: 0x80000100 }), // around 2^31
    fc.integer({ min: 0xffffff00, max: 0xffffffff }), // just before the 2^32 wrap
    fc.integer({ min: 0, max: 0xffffffff }),
  );

  it('delivering a split stream in random order, with duplicates and overlaps, reassembles it exactly', () => {
    fc.assert(
      fc.property(
        startArb,
        fc.uint8Array({ minLength: 1, maxLength: 600 }),
        fc.array(fc.integer({ min: 1, max: 80 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 120 })), { maxLength: 30 }),
        fc.infiniteStream(fc.nat()),
        fc.integer({ min: 0, max: 3 }),
        (isn, stream, cuts, extra, rnd, sinkMode) => {
          const L = stream.length;
          // Split into consecutive segments by the cut sizes (repeating them).
          const segs: Array<[number, number]> = [];
          for (let off = 0, c = 0; off < L; c++) {
            const n = Math.min(cuts[c % cuts.length]!, L - off);
            segs.push([off, n]);
            off += n;
          }
          // Extra overlapping ranges carrying the same bytes, and duplicates of some segments.
          for (const [a, n] of extra) {
            const off = a % L;
            segs.push([off, Math.min(n, L - off)]);
          }
          const it = rnd[Symbol.iterator]();
          const next = (): number => it.next().value as number;
          for (let i = 0; i < segs.length && i < 10; i++) segs.push(segs[next() % segs.length]!);
          for (let i = segs.length - 1; i > 0; i--) {
            const j = next() % (i + 1);
            [segs[i], segs[j]] = [segs[j]!, segs[i]!];
          }
          const q = new OutOfOrderQueue(1 << 20);
          const out: number[] = [];
          let rcvNxt = isn >>> 0;
          // A sink that sometimes takes only part (receive buffer full), emulating a receiver that reads later.
          let budget = Infinity;
          const sink = (d: Uint8Array): number => {
            const n = Math.min(d.length, budget);
            out.push(...d.subarray(0, n));
            budget -= n;
            return n;
          };
          const deliver = (off: number, n: number): void => {
            const seq = seqAdd(isn, off);
            const data = stream.slice(off, off + n); // a fresh buffer we can scribble on afterwards
            const before = seqDiff(rcvNxt, seq);
            if (before >= n) return; // wholly old
            if (before >= 0) {
              // In order (possibly overlapping what we have): take the new part directly, as the connection does.
              const take = data.subarray(before);
              out.push(...take);
              rcvNxt = seqAdd(rcvNxt, take.length);
            } else {
              expect(q.insert(seq, data)).toBe(true);
              data.fill(0xee); // the queue must have copied
            }
            budget = sinkMode === 0 ? next() % 7 : Infinity;
            rcvNxt = q.drain(rcvNxt, sink);
            budget = Infinity;
            // Invariants: blocks are disjoint, non-adjacent, after rcvNxt; accounting adds up.
            const blocks = q.sackBlocks(1000);
            let total = 0;
            for (const [l, r] of blocks) {
              expect(seqLt(l, r)).toBe(true);
              expect(seqLe(rcvNxt, l)).toBe(true); // == when the sink stalled with data at RCV.NXT
              total += seqDiff(r, l);
            }
            expect(total).toBe(q.bytes);
            const sorted = [...blocks].sort((a, b) => seqDiff(a[0], rcvNxt) - seqDiff(b[0], rcvNxt));
            for (let i = 1; i < sorted.length; i++) expect(seqLt(sorted[i - 1]![1], sorted[i]![0])).toBe(true);
            // RFC 2018 section 4: after an out-of-order arrival still held, the first block holds it.
            if (before < 0 && q.bytes > 0 && seqLt(rcvNxt, seq)) {
              const [l, r] = blocks[0]!;
              expect(seqDiff(seq, l) >= 0 && seqDiff(r, seq) > 0).toBe(true);
            }
            expect(q.memory).toBe(q.bytes + q.segments * OH);
            expect(q.memory).toBeLessThanOrEqual(q.limitBytes);
          };
          for (const [off, n] of segs) deliver(off, n);
          // Everything was delivered at least once: the queue drains completely.
          rcvNxt = q.drain(rcvNxt, sink);
          expect(out.length).toBe(L);
          expect(Uint8Array.from(out)).toEqual(stream);
          expect(rcvNxt).toBe(seqAdd(isn, L));
          expect(q.bytes).toBe(0);
          expect(q.segments).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
