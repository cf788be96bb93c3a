/**
 * The receive queue of one connection: in-order bytes kept until the application reads them, as a queue of chunks
 * (Linux's skb queue, BSD's mbuf chain) rather than a byte ring, so that a reader can take the bytes as views
 * without a second copy.
 *
 * Contract:
 * - `write` copies the caller's bytes (a range of a received frame, valid only during the call) once, into the
 *   current slab: consecutive writes fill one slab; a new one is allocated when it is full (16 KiB while the queue
 *   holds less than that, else 64 KiB). A slab is append-only: bytes once written there are never overwritten while a view of the slab
 *   may exist, so a view handed out by `readView` stays valid (and unchanged) for as long as its holder keeps it.
 *   The exceptions, for a reader that copies (`read`): while no view of the current slab was handed out, an
 *   emptied queue starts the slab over, as a ring would; and slabs copied out whole, never lent, are the next slabs.
 * - `readView(max)` hands out the head's bytes as one view (up to `max` bytes, never crossing a slab) and consumes
 *   them; `read(dst)` copies instead. The queue never hands out a view of the writer's memory (a driver's ring).
 * - The queue sets no limit: the receiver decides how much to write (its window). Nothing throws.
 * - Slabs come from an allocator given at construction (the runtime's, not zero-filled; the default zero-fills).
 */
import { PrefixView, RangeViews, SMALL_COPY } from '../util/bytes.js';

/**
 * From this many bytes up to SMALL_COPY a write goes through a kept view of the writer's array (`views`), where
 * the byte loop would run: 64 bytes took 43-65 ns in the loop and 15-17 ns through `set` (bytes.ts, PrefixView).
 * Above SMALL_COPY the copy makes its view anyway (one per segment of a bulk transfer, whose offsets in a GRO
 * buffer do not repeat).
 */
const KEPT_VIEW_COPY = 32;

/** The two slab sizes: the small one while the queue holds little, the large one for bulk. */
export const FIRST_SLAB = 16 * 1024;
export const MAX_SLAB = 64 * 1024;
/** Slabs kept for reuse by a reader that copies (2 MiB of 64 KiB ones): a ring of that size would be kept too. */
const MAX_SPARES = 32;

const NO_BYTES = new Uint8Array(0);

/** Fresh memory nobody else writes (TcpOptions.allocBytes). */
export type AllocBytes = (n: number) => Uint8Array;

export const allocZeroed: AllocBytes = (n) => new Uint8Array(n);

/*
 * The copy into a slab is a function of its own (as ByteRing's copies are): V8 keeps an element access's type
 * feedback per function, and here one side is always a slab.
 */
function slabIn(src: Uint8Array, from: number, len: number, slab: Uint8Array, to: number): void {
  if (len > SMALL_COPY) {
    slab.set(src.subarray(from, from + len), to);
    return;
  }
  let i = 0;
  for (const e = len - 7; i < e; i += 8) {
    slab[to + i] = src[from + i]!;
    slab[to + i + 1] = src[from + i + 1]!;
    slab[to + i + 2] = src[from + i + 2]!;
    slab[to + i + 3] = src[from + i + 3]!;
    slab[to + i + 4] = src[from + i + 4]!;
    slab[to + i + 5] = src[from + i + 5]!;
    slab[to + i + 6] = src[from + i + 6]!;
    slab[to + i + 7] = src[from + i + 7]!;
  }
  for (; i < len; i++) slab[to + i] = src[from + i]!;
}

function slabOut(slab: Uint8Array, from: number, len: number, dst: Uint8Array, to: number): void {
  if (len > SMALL_COPY) {
    dst.set(slab.subarray(from, from + len), to);
    return;
  }
  let i = 0;
  for (const e = len - 7; i < e; i += 8) {
    dst[to + i] = slab[from + i]!;
    dst[to + i + 1] = slab[from + i + 1]!;
    dst[to + i + 2] = slab[from + i + 2]!;
    dst[to + i + 3] = slab[from + i + 3]!;
    dst[to + i + 4] = slab[from + i + 4]!;
    dst[to + i + 5] = slab[from + i + 5]!;
    dst[to + i + 6] = slab[from + i + 6]!;
    dst[to + i + 7] = slab[from + i + 7]!;
  }
  for (; i < len; i++) dst[to + i] = slab[from + i]!;
}

export class RecvQueue {
  /**
   * The queued chunks, [head, tail): slabs[i][starts[i], ends[i]). Consecutive writes into one slab make one chunk.
   * The arrays are reused, never truncated (an emptied array allocates its store again on the next push).
   */
  private readonly slabs: Uint8Array[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  /** A view of chunk i was handed out (its slab is never reused). */
  private readonly lents: boolean[] = [];
  private head = 0;
  private tail = 0;
  private len = 0;
  /** The slab being filled, and how far. */
  private cur: Uint8Array = NO_BYTES;
  private fill = 0;
  /** A view of `cur` was handed out: its bytes up to `fill` are never written again. */
  private lent = false;
  /**
   * Slabs whose bytes were all copied out and never lent (a reader that copies): the next slabs, as a ring's memory
   * is reused. At most MAX_SPARES; the queue is dropped whole when the connection no longer needs it.
   */
  private readonly spares: Uint8Array[] = [];
  private nSpares = 0;
  private readonly alloc: AllocBytes;
  private readonly views: RangeViews | undefined;
  /**
   * For `read` of a small chunk at a slab's index 0 (a request/response exchange: an emptied queue starts its slab
   * over). Keeps that slab alive (at most one, MAX_SLAB bytes) for as long as the queue lives.
   */
  private readonly prefix = new PrefixView();

  /**
   * `alloc` makes the slabs: Node's `Buffer.allocUnsafeSlow` in the API (no zero-fill; views of it are Buffers).
   * `views`: kept views of the writers' arrays (a driver's ring, whose frames sit at fixed slots), shared by the
   * layer's queues: a small segment's bytes then go in through `set` (a memmove) rather than a byte loop.
   */
  constructor(alloc: AllocBytes = allocZeroed, views?: RangeViews) {
    this.alloc = alloc;
    this.views = views;
  }

  /** Bytes queued. */
  get length(): number {
    return this.len;
  }

  /** Queue src[from, to) (copied); returns the count (all of it). */
  writeRange(src: Uint8Array, from: number, to: number): number {
    const total = to - from;
    let n = total;
    while (n > 0) {
      let room = this.cur.length - this.fill;
      if (room === 0) room = this.newSlab(n);
      const k = n < room ? n : room;
      if (k >= KEPT_VIEW_COPY && k <= SMALL_COPY && this.views !== undefined) this.views.copy(src, from, k, this.cur, this.fill);
      else slabIn(src, from, k, this.cur, this.fill);
      const last = this.tail - 1;
      if (last >= this.head && this.slabs[last] === this.cur && this.ends[last] === this.fill) this.ends[last] = this.fill + k;
      else {
        const t = this.tail++;
        this.slabs[t] = this.cur;
        this.starts[t] = this.fill;
        this.ends[t] = this.fill + k;
        this.lents[t] = false;
      }
      this.fill += k;
      this.len += k;
      from += k;
      n -= k;
    }
    return total;
  }

  private newSlab(want: number): number {
    // The slab left behind keeps its own flag from now on (in its chunk, when still queued).
    const last = this.tail - 1;
    if (last >= this.head && this.slabs[last] === this.cur) this.lents[last] = this.lent;
    // A reader that keeps up with small messages gets small slabs (an idle connection keeps one, as a ring of
    // FIRST_SLAB); large segments, or a reader behind, get MAX_SLAB ones (fewer allocations, longer views).
    const size = this.len + want > FIRST_SLAB ? MAX_SLAB : FIRST_SLAB;
    const sp = this.nSpares > 0 ? this.spares[this.nSpares - 1]! : NO_BYTES;
    if (sp.length >= size) {
      this.cur = sp;
      this.spares[--this.nSpares] = NO_BYTES;
    } else this.cur = this.alloc(size);
    this.fill = 0;
    this.lent = false;
    return size;
  }

  /**
   * The head's bytes as one view of at most `max` bytes (never across two slabs), consumed: the caller owns the
   * view for as long as it likes. Returns an empty view when the queue is empty.
   */
  readView(max: number): Uint8Array {
    if (this.len === 0 || max <= 0) return NO_BYTES;
    const i = this.head;
    const slab = this.slabs[i]!;
    const s = this.starts[i]!;
    const avail = this.ends[i]! - s;
    const k = max < avail ? max : avail;
    if (slab === this.cur) this.lent = true;
    else this.lents[i] = true;
    this.consume(i, k, avail);
    return slab.subarray(s, s + k);
  }

  /** Move up to dst.length bytes from the head into dst (copied); returns the count. */
  read(dst: Uint8Array): number {
    let done = 0;
    while (done < dst.length && this.len > 0) {
      const i = this.head;
      const s = this.starts[i]!;
      const avail = this.ends[i]! - s;
      const want = dst.length - done;
      const k = want < avail ? want : avail;
      const slab = this.slabs[i]!;
      if (s !== 0 || k > SMALL_COPY || !this.prefix.copyOut(slab, k, dst, done)) slabOut(slab, s, k, dst, done);
      this.consume(i, k, avail);
      done += k;
    }
    return done;
  }

  /** Drop n bytes from the head (n <= length). */
  discard(n: number): void {
    while (n > 0 && this.len > 0) {
      const i = this.head;
      const avail = this.ends[i]! - this.starts[i]!;
      const k = n < avail ? n : avail;
      this.consume(i, k, avail);
      n -= k;
    }
  }

  /** Consume k of the `avail` bytes of chunk i (the head). */
  private consume(i: number, k: number, avail: number): void {
    this.len -= k;
    if (k < avail) {
      this.starts[i]! += k;
      return;
    }
    const slab = this.slabs[i]!;
    if (slab !== this.cur && !this.lents[i] && this.nSpares < MAX_SPARES) this.spares[this.nSpares++] = slab; // copied out only: nobody else holds it
    this.slabs[i] = NO_BYTES; // the queue no longer keeps the slab alive (the current slab stays in `cur`)
    this.head = i + 1;
    if (this.len === 0) {
      this.head = this.tail = 0;
      if (!this.lent) this.fill = 0; // nothing of this slab is held outside: start it over
    } else if (this.head >= 32 && this.head * 2 >= this.tail) {
      // Move the live chunks to the front (rare: a reader far behind, many slabs queued).
      const h = this.head;
      const n = this.tail - h;
      for (let j = 0; j < n; j++) {
        this.slabs[j] = this.slabs[h + j]!;
        this.starts[j] = this.starts[h + j]!;
        this.ends[j] = this.ends[h + j]!;
        this.lents[j] = this.lents[h + j]!;
        this.slabs[h + j] = NO_BYTES;
      }
      this.head = 0;
      this.tail = n;
    }
  }
}
