/**
 * A fixed-capacity byte ring buffer: the connection's send buffer (bytes written by the application, kept until
 * acknowledged). The receive side is a queue of chunks (recv-queue.ts), so that a reader can take its bytes as
 * views; `read` remains for other users of a ring.
 *
 * Contract:
 * - No allocation per call for small copies: `write`/`read`/`copyOut` copy with `Uint8Array.set` over a view (one
 *   view object per call) above SMALL_COPY bytes, with an unrolled loop up to it; `peek` hands out `subarray` views
 *   into the ring through a caller-provided array (so the caller may reuse one two-slot array for every call).
 * - Views returned by `peek` alias the ring's storage: they are valid until the next `write`, `discard`, `read` or
 *   `resize`; whoever keeps the bytes longer copies them.
 * - Misuse (a negative or fractional size, a range past the stored bytes, shrinking below the stored length) throws
 *   `BywayError` with code ERR_OUT_OF_RANGE. `write` and `read` never throw: they take what fits.
 */
import { PrefixView, SMALL_COPY } from '../util/bytes.js';
import { BywayError } from '../util/errors.js';

function outOfRange(what: string): BywayError {
  return new BywayError('ERR_OUT_OF_RANGE', `ByteRing: ${what}`);
}

/*
 * The copies into and out of the ring are two functions of their own, not the shared `copyRange`: V8 keeps the
 * type feedback of an element access per function, and one copy loop used by every caller saw the ring's
 * Uint8Array, received frames, transmit slots and user Buffers at the same load and store sites. Polymorphic there,
 * a 64-byte copy took 200-330 ns against 53 ns monomorphic (2026-12-03, in isolation); the TCP ping-pong spent a
 * tenth of its time in it. Here one side of each loop is always the ring's own array, and reads into a reader's
 * buffer (ringRead) are apart from copies into frames (ringOut).
 */
function ringIn(src: Uint8Array, from: number, len: number, ring: Uint8Array, to: number): void {
  // The whole of the caller's array (an application's write, unless the ring wraps under it): `set` takes it with no
  // view object, and is a memmove: 15-17 ns for 64 bytes against 43-65 ns for the loop below (2026-12-04, the two
  // alone; in a 64 B transaction the loop cost about twice that).
  if (from === 0 && len === src.length) {
    ring.set(src, to);
    return;
  }
  if (len > SMALL_COPY) {
    ring.set(src.subarray(from, from + len), to);
    return;
  }
  let i = 0;
  for (const e = len - 7; i < e; i += 8) {
    ring[to + i] = src[from + i]!;
    ring[to + i + 1] = src[from + i + 1]!;
    ring[to + i + 2] = src[from + i + 2]!;
    ring[to + i + 3] = src[from + i + 3]!;
    ring[to + i + 4] = src[from + i + 4]!;
    ring[to + i + 5] = src[from + i + 5]!;
    ring[to + i + 6] = src[from + i + 6]!;
    ring[to + i + 7] = src[from + i + 7]!;
  }
  for (; i < len; i++) ring[to + i] = src[from + i]!;
}

function ringOut(ring: Uint8Array, from: number, len: number, dst: Uint8Array, to: number): void {
  if (len > SMALL_COPY) {
    dst.set(ring.subarray(from, from + len), to);
    return;
  }
  let i = 0;
  for (const e = len - 7; i < e; i += 8) {
    dst[to + i] = ring[from + i]!;
    dst[to + i + 1] = ring[from + i + 1]!;
    dst[to + i + 2] = ring[from + i + 2]!;
    dst[to + i + 3] = ring[from + i + 3]!;
    dst[to + i + 4] = ring[from + i + 4]!;
    dst[to + i + 5] = ring[from + i + 5]!;
    dst[to + i + 6] = ring[from + i + 6]!;
    dst[to + i + 7] = ring[from + i + 7]!;
  }
  for (; i < len; i++) dst[to + i] = ring[from + i]!;
}

function ringRead(ring: Uint8Array, from: number, len: number, dst: Uint8Array, to: number): void {
  if (len > SMALL_COPY) {
    dst.set(ring.subarray(from, from + len), to);
    return;
  }
  // Unrolled as ringIn and ringOut: a plain byte loop took 2-3x as long as the unrolled one for 64 bytes (the two
  // loops alone, 2026-12-03; bench/ring-copy.ts times the ring's copies).
  let i = 0;
  for (const e = len - 7; i < e; i += 8) {
    dst[to + i] = ring[from + i]!;
    dst[to + i + 1] = ring[from + i + 1]!;
    dst[to + i + 2] = ring[from + i + 2]!;
    dst[to + i + 3] = ring[from + i + 3]!;
    dst[to + i + 4] = ring[from + i + 4]!;
    dst[to + i + 5] = ring[from + i + 5]!;
    dst[to + i + 6] = ring[from + i + 6]!;
    dst[to + i + 7] = ring[from + i + 7]!;
  }
  for (; i < len; i++) dst[to + i] = ring[from + i]!;
}

function isCount(n: number): boolean {
  return Number.isInteger(n) && n >= 0;
}

export class ByteRing {
  private buf: Uint8Array;
  /** Index of the first stored byte. Always < buf.length (or 0 when the capacity is 0). */
  private head = 0;
  private len = 0;
  /** For `copyOut` of small segments from index 0 (a request/response exchange: an emptied ring starts over). */
  private readonly prefix = new PrefixView();

  constructor(capacity: number) {
    if (!isCount(capacity)) throw outOfRange(`capacity must be a non-negative integer, got ${capacity}`);
    this.buf = new Uint8Array(capacity);
  }

  /** Bytes stored. */
  get length(): number {
    return this.len;
  }

  get capacity(): number {
    return this.buf.length;
  }

  /** Bytes that `write` would still take. */
  get free(): number {
    return this.buf.length - this.len;
  }

  /** Physical index of the byte `offset` bytes after the head (offset <= capacity). */
  private index(offset: number): number {
    const i = this.head + offset;
    const cap = this.buf.length;
    return i >= cap ? i - cap : i;
  }

  /** Append as much of src as fits; returns the number of bytes taken. */
  write(src: Uint8Array): number {
    return this.writeRange(src, 0, src.length);
  }

  /** `write` of src[from, to) (a range of a received frame: no view of it is made for a small one). */
  writeRange(src: Uint8Array, from: number, to: number): number {
    const n = Math.min(to - from, this.buf.length - this.len);
    if (n <= 0) return 0;
    const tail = this.index(this.len);
    const first = Math.min(n, this.buf.length - tail);
    ringIn(src, from, first, this.buf, tail);
    if (n > first) ringIn(src, from + first, n - first, this.buf, 0);
    this.len += n;
    return n;
  }

  /** Move up to dst.length bytes from the head into dst; returns the number moved. */
  read(dst: Uint8Array): number {
    const n = Math.min(dst.length, this.len);
    if (n === 0) return 0;
    // Its own loop (ringRead): the reader's buffers (a Buffer for the API) are not the frames copyOut writes.
    const first = Math.min(n, this.buf.length - this.head);
    ringRead(this.buf, this.head, first, dst, 0);
    if (n > first) ringRead(this.buf, 0, n - first, dst, first);
    this.discard(n);
    return n;
  }

  /** Drop n bytes from the head (acknowledged send data, or data already consumed). */
  discard(n: number): void {
    if (!isCount(n) || n > this.len) throw outOfRange(`discard(${n}) with ${this.len} bytes stored`);
    if (n === 0) return;
    this.len -= n;
    // Restart at 0 when empty so that later writes are contiguous (fewer two-view peeks).
    this.head = this.len === 0 ? 0 : this.index(n);
  }

  /**
   * Views of `len` bytes starting `offset` bytes after the head, without copying: out[0] and, when the range wraps,
   * out[1]. Returns how many views were written (0 when len is 0). Entries of `out` past the returned count are
   * left untouched.
   */
  peek(offset: number, len: number, out: Uint8Array[]): number {
    if (!isCount(offset) || !isCount(len) || offset + len > this.len) {
      throw outOfRange(`peek(${offset}, ${len}) with ${this.len} bytes stored`);
    }
    if (len === 0) return 0;
    const start = this.index(offset);
    const first = Math.min(len, this.buf.length - start);
    out[0] = this.buf.subarray(start, start + first);
    if (len === first) return 1;
    out[1] = this.buf.subarray(0, len - first);
    return 2;
  }

  /** Copy `len` bytes starting `offset` bytes after the head into dst at dstOffset (the ring is unchanged). */
  copyOut(offset: number, dst: Uint8Array, dstOffset: number, len: number): void {
    if (!isCount(offset) || !isCount(len) || offset + len > this.len) {
      throw outOfRange(`copyOut(${offset}, ${len}) with ${this.len} bytes stored`);
    }
    if (!isCount(dstOffset) || dstOffset + len > dst.length) throw outOfRange('copyOut destination too small');
    if (len === 0) return;
    const start = this.index(offset);
    if (start === 0 && len <= SMALL_COPY && this.prefix.copyOut(this.buf, len, dst, dstOffset)) return;
    const first = Math.min(len, this.buf.length - start);
    ringOut(this.buf, start, first, dst, dstOffset);
    if (len > first) ringOut(this.buf, 0, len - first, dst, dstOffset + first);
  }

  /**
   * Change the capacity keeping the stored bytes (receive-buffer auto-tuning grows it; shrinking is allowed down
   * to the stored length). Allocates once; the stored bytes become contiguous from index 0.
   */
  resize(newCapacity: number): void {
    if (!isCount(newCapacity) || newCapacity < this.len) {
      throw outOfRange(`resize(${newCapacity}) with ${this.len} bytes stored`);
    }
    if (newCapacity === this.buf.length) return;
    const nb = new Uint8Array(newCapacity);
    if (this.len > 0) this.copyOut(0, nb, 0, this.len);
    this.buf = nb;
    this.head = 0;
    this.prefix.forget();
  }
}
