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
 * - Cost: insert is O(log n + k) comparisons plus array splices (n = segments held, bounded by the cap as above;
 *   k = segments the new one overlaps); drain is O(segments handed over); sackBlocks is O(max * log n): the queue
 *   keeps the contiguous runs (SACK blocks) and the last few inserted sequence numbers up to date, so a flood of
 *   tiny segments with holes between them costs no per-ACK scan of everything held.
 * - Never throws on wire data; a negative/non-integer limit throws BywayError.
 */
import { BywayError } from '../util/errors.js';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from './seq.js';

/**
 * Bytes charged per kept segment on top of its data: the record, its small Uint8Array (typed array + buffer
 * objects) and the array slot. Measured on Node 20 (V8 11): about 260 bytes of heap per {seq, data} record with a
 * 1-byte Uint8Array. With full-sized segments this charges about 18% over the data (256 / 1460), so a queue meant
 * to hold a whole receive window of out-of-order data needs limitBytes >= window * (1 + 256 / MSS).
 */
export const SEGMENT_OVERHEAD = 256;

/** How many recently inserted sequence numbers (in distinct runs) are remembered for SACK block order. */
const RECENT_MAX = 8;

/** A maximal contiguous range [l, r) of held bytes: one SACK block. */
interface Run {
  l: number;
  r: number;
}

interface Segment {
  seq: number;
  data: Uint8Array;
}

export class OutOfOrderQueue {
  readonly limitBytes: number;
  readonly overhead: number;
  private segs: Segment[] = [];
  /** Sorted, disjoint, non-adjacent: the union of segs. */
  private runs: Run[] = [];
  private dataBytes = 0;
  /**
   * First sequence numbers of the most recently received segments, newest first, each in a different run when it
   * was recorded (RFC 2018 section 4: the first block holds the latest segment, then recently reported blocks).
   */
  private recent: number[] = [];

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
    seq |= 0;
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
    // Pass 2: copy the gaps in, last first so earlier insert indices stay valid.
    if (gapCount === 1) {
      this.segs.splice(gapIdx, 0, { seq: seqAdd(seq, gapOff), data: copyOf(data, gapOff, gapLen) });
      this.dataBytes += gapLen;
    } else if (gapCount > 1) {
      for (let g = gaps!.length - 3; g >= 0; g -= 3) {
        const off = gaps![g]!;
        const len = gaps![g + 1]!;
        this.segs.splice(gaps![g + 2]!, 0, { seq: seqAdd(seq, off), data: copyOf(data, off, len) });
        this.dataBytes += len;
      }
    }
    if (gapCount > 0) this.addRun(seq, end);
    this.noteRecent(seq);
    return true;
  }

  /** Index of the first run whose end is at or after seq (a run ending exactly at seq is adjacent to it). */
  private firstRunReaching(seq: number): number {
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqLt(this.runs[mid]!.r, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the run holding byte seq, or -1. */
  private runIndexOf(seq: number): number {
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqLe(this.runs[mid]!.r, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.runs.length && seqLe(this.runs[lo]!.l, seq) ? lo : -1;
  }

  /** Union [l, r) into the runs, merging every run it overlaps or touches. */
  private addRun(l: number, r: number): void {
    const i = this.firstRunReaching(l);
    let j = i;
    while (j < this.runs.length && seqLe(this.runs[j]!.l, r)) {
      const run = this.runs[j]!;
      if (seqLt(run.l, l)) l = run.l;
      if (seqGt(run.r, r)) r = run.r;
      j++;
    }
    if (j === i + 1) {
      const run = this.runs[i]!;
      run.l = l;
      run.r = r;
    } else {
      this.runs.splice(i, j - i, { l, r });
    }
  }

  /** Record seq as the most recent segment; forget older entries now in the same run (or no longer held). */
  private noteRecent(seq: number): void {
    const run = this.runIndexOf(seq);
    let w = 0;
    for (let k = 0; k < this.recent.length && w < RECENT_MAX - 1; k++) {
      const e = this.recent[k]!;
      const er = this.runIndexOf(e);
      if (er !== -1 && er !== run) this.recent[w++] = e;
    }
    this.recent.length = w;
    this.recent.unshift(seq);
  }

  /**
   * Hand the bytes at and after rcvNxt that are now contiguous to sink, in order; sink returns how many bytes it
   * took (fewer when the receive buffer is full: delivery stops there). Data wholly before rcvNxt is discarded.
   * Returns the new RCV.NXT. The view passed to sink is valid only during the call.
   */
  drain(rcvNxt: number, sink: (data: Uint8Array) => number): number {
    rcvNxt |= 0;
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
    // The runs lose everything before the new RCV.NXT (all of it was delivered or discarded above).
    let r = 0;
    while (r < this.runs.length && seqLe(this.runs[r]!.r, rcvNxt)) r++;
    if (r > 0) this.runs.splice(0, r);
    if (this.runs.length > 0 && seqLt(this.runs[0]!.l, rcvNxt)) this.runs[0]!.l = rcvNxt;
    if (this.segs.length === 0) this.recent.length = 0;
    return rcvNxt;
  }

  /**
   * SACK blocks [left, right) (RFC 2018 section 3: left edge, right edge = last byte + 1), at most max of them.
   * Adjacent held segments form one block. RFC 2018 section 4: the first block holds the most recently received
   * segment, then the blocks of the segments received before it (most recent first: the blocks most recently
   * reported); if those run out, the lowest remaining blocks fill the rest.
   */
  sackBlocks(max: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    if (!(max > 0) || this.runs.length === 0) return out;
    const used: number[] = [];
    for (let k = 0; k < this.recent.length && out.length < max; k++) {
      const ri = this.runIndexOf(this.recent[k]!);
      if (ri === -1 || used.includes(ri)) continue;
      used.push(ri);
      const run = this.runs[ri]!;
      out.push([run.l, run.r]);
    }
    for (let ri = 0; ri < this.runs.length && out.length < max; ri++) {
      if (used.includes(ri)) continue;
      const run = this.runs[ri]!;
      out.push([run.l, run.r]);
    }
    return out;
  }

  /**
   * The lowest held run's part inside [l, r), or undefined: in-order data that covers bytes already held here is a
   * duplicate of them, which RFC 2883 section 4 reports with a D-SACK block (Linux's tcp_ofo_queue does the same).
   */
  firstHeldWithin(l: number, r: number): [number, number] | undefined {
    const i = this.firstRunReaching(l);
    const run = this.runs[i];
    if (run === undefined || !seqLt(run.l, r) || !seqLt(l, run.r)) return undefined;
    return [seqLt(run.l, l) ? l : run.l, seqLt(run.r, r) ? run.r : r];
  }

  /** Drop everything (connection reset / closed). */
  clear(): void {
    this.segs = [];
    this.runs = [];
    this.dataBytes = 0;
    this.recent.length = 0;
  }
}

function copyOf(src: Uint8Array, off: number, len: number): Uint8Array {
  const c = new Uint8Array(len);
  c.set(src.subarray(off, off + len));
  return c;
}
