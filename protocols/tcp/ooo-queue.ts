/**
 * The receiver's out-of-order queue (RFC 9293 section 3.10.7.4: segments beyond RCV.NXT are kept for later
 * delivery), with a memory cap and the SACK blocks it implies (RFC 2018).
 *
 * Contract:
 * - `insert` COPIES the bytes it keeps: the caller's view is only valid during the call.
 * - Kept segments never overlap: on insert, bytes already held win (the earlier-received bytes), only the gaps are
 *   copied. A wholly duplicate segment keeps nothing and costs nothing (it still counts as "most recent" for SACK).
 * - Memory cap: every kept segment is charged its data length plus SEGMENT_OVERHEAD bytes (the per-segment record,
 *   its Uint8Array header and the array slot), so a flood of 1-byte segments cannot hold more than
 *   limitBytes / (1 + overhead) records. `memory` (the charged total) never exceeds limitBytes; an insert that
 *   would exceed it keeps nothing and returns false. `bytes` is the data held (without overhead).
 * - Sequence numbers are 32-bit modular (protocols/tcp/seq.ts); everything held must lie within 2^31 of each other,
 *   which the receive window guarantees.
 * - Cost: insert is O(log n + k) comparisons plus an array splice; drain is O(segments handed over);
 *   sackBlocks is O(n) (n = segments held, bounded by the cap as above).
 * - Never throws on wire data; a negative/non-integer limit throws BywayError.
 */
import { BywayError } from '../util/errors.js';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from './seq.js';

/** Bytes charged per kept segment on top of its data (an estimate of V8's object + typed-array header cost). */
export const SEGMENT_OVERHEAD = 64;

interface Segment {
  seq: number;
  data: Uint8Array;
  /** Insert counter of the last insert that added bytes here (for SACK block ordering). */
  stamp: number;
}

export class OutOfOrderQueue {
  readonly limitBytes: number;
  readonly overhead: number;
  private segs: Segment[] = [];
  private dataBytes = 0;
  private stampCounter = 0;
  /** The first sequence number of the most recently received (inserted) segment, for RFC 2018 section 4. */
  private recentSeq = 0;
  private recentEnd = 0;
  private haveRecent = false;

  constructor(limitBytes: number, overhead: number = SEGMENT_OVERHEAD) {
    if (!Number.isInteger(limitBytes) || limitBytes < 0) throw new BywayError('ERR_INVALID_ARG_VALUE', `OutOfOrderQueue: bad limit ${limitBytes}`);
    if (!Number.isInteger(overhead) || overhead < 0) throw new BywayError('ERR_INVALID_ARG_VALUE', `OutOfOrderQueue: bad overhead ${overhead}`);
    this.limitBytes = limitBytes;
    this.overhead = overhead;
  }

  /** Data bytes held. */
  get bytes(): number {
    return this.dataBytes;
  }

  /** Segments held (after trimming overlaps; adjacent segments are not coalesced). */
  get segments(): number {
    return this.segs.length;
  }

  /** Charged memory: bytes + segments * overhead; never above limitBytes. */
  get memory(): number {
    return this.dataBytes + this.segs.length * this.overhead;
  }

  /** The lowest sequence number held, or undefined when empty. */
  get firstSeq(): number | undefined {
    return this.segs.length > 0 ? this.segs[0]!.seq : undefined;
  }

  /** Index of the first segment whose end is after seq (segments are sorted and disjoint, so ends are sorted too). */
  private firstEndingAfter(seq: number): number {
    let lo = 0;
    let hi = this.segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.segs[mid]!;
      if (seqLe(seqAdd(s.seq, s.data.length), seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Keep the bytes of data (which starts at seq) that are not held yet. Returns false, keeping nothing, when the
   * charged memory would exceed the cap; true otherwise (including when everything was already held).
   */
  insert(seq: number, data: Uint8Array): boolean {
    const n = data.length;
    if (n === 0) return true;
    seq >>>= 0;
    const end = seqAdd(seq, n);
    const first = this.firstEndingAfter(seq);
    // Pass 1: the gaps of [seq, end) not covered by held segments, as (offset in data, length, insert index).
    // At most (segments overlapped + 1) gaps; usually one.
    let gaps: number[] | undefined;
    let gapOff = -1;
    let gapLen = 0;
    let gapIdx = 0;
    let gapCount = 0;
    let cost = 0;
    let cur = 0; // offset in data not yet accounted for
    let i = first;
    const addGap = (off: number, len: number, idx: number): void => {
      if (gapCount === 0) {
        gapOff = off;
        gapLen = len;
        gapIdx = idx;
      } else {
        (gaps ??= [gapOff, gapLen, gapIdx]).push(off, len, idx);
      }
      gapCount++;
      cost += len + this.overhead;
    };
    while (cur < n && i < this.segs.length) {
      const s = this.segs[i]!;
      const sOff = seqDiff(s.seq, seq); // where s starts relative to data (may be negative)
      if (sOff >= n) break;
      if (sOff > cur) addGap(cur, sOff - cur, i);
      cur = Math.max(cur, sOff + s.data.length);
      i++;
    }
    if (cur < n) addGap(cur, n - cur, i);
    if (gapCount > 0 && this.memory + cost > this.limitBytes) return false;
    const stamp = ++this.stampCounter;
    // Pass 2: copy the gaps in, last first so earlier insert indices stay valid.
    if (gapCount === 1) {
      this.segs.splice(gapIdx, 0, { seq: seqAdd(seq, gapOff), data: copyOf(data, gapOff, gapLen), stamp });
      this.dataBytes += gapLen;
    } else if (gapCount > 1) {
      for (let g = gaps!.length - 3; g >= 0; g -= 3) {
        const off = gaps![g]!;
        const len = gaps![g + 1]!;
        this.segs.splice(gaps![g + 2]!, 0, { seq: seqAdd(seq, off), data: copyOf(data, off, len), stamp });
        this.dataBytes += len;
      }
    }
    this.recentSeq = seq;
    this.recentEnd = end;
    this.haveRecent = true;
    return true;
  }

  /**
   * Hand the bytes at and after rcvNxt that are now contiguous to sink, in order; sink returns how many bytes it
   * took (fewer when the receive buffer is full: delivery stops there). Data wholly before rcvNxt is discarded.
   * Returns the new RCV.NXT. The view passed to sink is valid only during the call.
   */
  drain(rcvNxt: number, sink: (data: Uint8Array) => number): number {
    rcvNxt >>>= 0;
    let k = 0; // segments fully consumed or discarded
    while (k < this.segs.length) {
      const s = this.segs[k]!;
      const len = s.data.length;
      const sEnd = seqAdd(s.seq, len);
      if (seqLe(sEnd, rcvNxt)) {
        // Wholly old (already delivered by the caller): discard.
        this.dataBytes -= len;
        k++;
        continue;
      }
      if (seqGt(s.seq, rcvNxt)) break; // a hole
      const off = seqDiff(rcvNxt, s.seq);
      const want = len - off;
      let took = sink(off === 0 ? s.data : s.data.subarray(off));
      took = Math.max(0, Math.min(want, Math.floor(took) || 0));
      rcvNxt = seqAdd(rcvNxt, took);
      if (took < want) {
        // Keep the rest (drop the delivered prefix; the copy stays charged as its remaining length).
        const rest = s.data.subarray(off + took);
        this.dataBytes -= len - rest.length;
        s.seq = rcvNxt;
        s.data = rest;
        break;
      }
      this.dataBytes -= len;
      k++;
    }
    if (k > 0) this.segs.splice(0, k);
    if (this.segs.length === 0) this.haveRecent = false;
    return rcvNxt;
  }

  /**
   * SACK blocks [left, right) (RFC 2018 section 3: left edge, right edge = last byte + 1), at most max of them.
   * Adjacent held segments form one block. RFC 2018 section 4: the first block holds the most recently received
   * segment; the others follow by how recently they gained data (approximating "repeat the most recently reported
   * blocks").
   */
  sackBlocks(max: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    if (max <= 0 || this.segs.length === 0) return out;
    const runs: Array<{ l: number; r: number; stamp: number }> = [];
    for (const s of this.segs) {
      const e = seqAdd(s.seq, s.data.length);
      const last = runs[runs.length - 1];
      if (last !== undefined && last.r === s.seq) {
        last.r = e;
        if (s.stamp > last.stamp) last.stamp = s.stamp;
      } else {
        runs.push({ l: s.seq, r: e, stamp: s.stamp });
      }
    }
    let firstRun = -1;
    if (this.haveRecent) {
      // The run holding the most recent segment (its first byte, or any byte of it still held).
      for (let j = 0; j < runs.length; j++) {
        const run = runs[j]!;
        if (seqLt(this.recentSeq, run.r) && seqLt(run.l, this.recentEnd)) {
          firstRun = j;
          break;
        }
      }
    }
    if (firstRun >= 0) {
      const r = runs[firstRun]!;
      out.push([r.l, r.r]);
      runs.splice(firstRun, 1);
    }
    if (out.length < max && runs.length > 0) {
      runs.sort((a, b) => b.stamp - a.stamp);
      for (const r of runs) {
        if (out.length >= max) break;
        out.push([r.l, r.r]);
      }
    }
    return out;
  }

  /** Drop everything (connection reset / closed). */
  clear(): void {
    this.segs = [];
    this.dataBytes = 0;
    this.haveRecent = false;
  }
}

function copyOf(src: Uint8Array, off: number, len: number): Uint8Array {
  const c = new Uint8Array(len);
  c.set(src.subarray(off, off + len));
  return c;
}
