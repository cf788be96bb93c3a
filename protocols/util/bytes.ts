/**
 * Big-endian field access on a Uint8Array. Typed arrays read `undefined` (becoming 0 or NaN) past their end
 * without complaint, so callers check lengths first: these helpers do no bounds checking.
 */

export function read16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function read32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function write16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function write32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/[^0-9a-fA-F]/g, '');
  if (clean.length % 2 !== 0) throw new RangeError('odd number of hex digits');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Up to this many bytes a copy is a loop (unrolled by 8): `dst.set(src.subarray(...))` costs a view object (about
 * 96 B of garbage) and a flat ~60-90 ns, which a 64-byte request/response segment would pay on every copy. Past it
 * the loop loses: measured on these machines (1e6 copies, best of 5): 64 B 65 ns unrolled, 197 ns as a plain loop,
 * 66 ns through set; 128 B 393 ns unrolled against 93 ns through set.
 */
export const SMALL_COPY = 64;

/** dst[to, to + len) = src[from, from + len), with no view object up to SMALL_COPY bytes. */
export function copyRange(src: Uint8Array, from: number, len: number, dst: Uint8Array, to: number): void {
  if (len > SMALL_COPY) {
    dst.set(src.subarray(from, from + len), to);
    return;
  }
  let i = 0;
  for (const e = len - 7; i < e; i += 8) {
    dst[to + i] = src[from + i]!;
    dst[to + i + 1] = src[from + i + 1]!;
    dst[to + i + 2] = src[from + i + 2]!;
    dst[to + i + 3] = src[from + i + 3]!;
    dst[to + i + 4] = src[from + i + 4]!;
    dst[to + i + 5] = src[from + i + 5]!;
    dst[to + i + 6] = src[from + i + 6]!;
    dst[to + i + 7] = src[from + i + 7]!;
  }
  for (; i < len; i++) dst[to + i] = src[from + i]!;
}

const NO_VIEW = new Uint8Array(0);

/**
 * A kept view of the first bytes of one array, for copies out of its index 0 that repeat: a request/response
 * connection writes each message at index 0 of its emptied send ring or receive slab and copies it out from there.
 * `dst.set(view)` is a memmove where copyRange's unrolled loop took 2-3x as long (64 bytes: 15-17 ns against 43-65
 * ns, the two alone, 2026-12-04). The view is made the second time in a row one array and size are asked for, so
 * copies of varying sizes allocate nothing. It keeps its array alive: `forget` when the owner lets the array go.
 */
export class PrefixView {
  private view: Uint8Array = NO_VIEW;
  private arr: Uint8Array = NO_VIEW;
  private asked: Uint8Array = NO_VIEW;
  private askedLen = 0;

  /** dst[to, to + n) = arr[0, n) (n > 0) through the kept view: true; false when there is none yet (copy it yourself). */
  copyOut(arr: Uint8Array, n: number, dst: Uint8Array, to: number): boolean {
    if (arr === this.arr && n === this.view.length) {
      dst.set(this.view, to);
      return true;
    }
    if (arr === this.asked && n === this.askedLen) {
      this.arr = arr;
      this.view = arr.subarray(0, n);
      dst.set(this.view, to);
      return true;
    }
    this.asked = arr;
    this.askedLen = n;
    return false;
  }

  forget(): void {
    this.view = this.arr = this.asked = NO_VIEW;
    this.askedLen = 0;
  }
}

/** Entries of a RangeViews table: a ring of 4096 frames keeps a view per frame. */
const RANGE_VIEWS = 4096;
/** Arrays below this many bytes get no table: a per-packet array is seldom copied from at the same range again. */
const RANGE_VIEWS_MIN_ARRAY = 64 * 1024;

/**
 * Kept views of ranges of one large array, for copies out of it that repeat at the same places: a driver's ring or
 * arena holds each frame at a fixed slot, and software GSO cuts its reused packet buffer at the same offsets every
 * packet. `dst.set(src.subarray(...))` costs a view object per copy (CreateTypedArray and subarray were 6.7 % of an
 * in-memory bulk transfer's time, 2026-12-04), which a kept view does not. A direct-mapped table of RANGE_VIEWS
 * entries (about 100 bytes each once filled) for the array in use; the table is taken over by another array only
 * when that one is asked for twice in a row (so per-packet arrays, copied from once, never hold it, and the table
 * keeps no short-lived array alive), and is emptied then.
 */
export class RangeViews {
  private arr: Uint8Array = NO_VIEW;
  private candidate: Uint8Array = NO_VIEW;
  private from: Int32Array | null = null;
  private len: Int32Array | null = null;
  private views: Uint8Array[] = [];

  /** dst[to, to + len) = src[from, from + len), through a kept view where one is kept. */
  copy(src: Uint8Array, from: number, len: number, dst: Uint8Array, to: number): void {
    dst.set(this.view(src, from, len), to);
  }

  /** src[from, from + len) as a view (len > 0): the kept one when this range was asked for last at its slot. */
  view(src: Uint8Array, from: number, len: number): Uint8Array {
    if (src === this.arr) this.candidate = NO_VIEW; // "twice in a row": any use of the kept array breaks a run
    else if (!this.adopt(src)) return src.subarray(from, from + len);
    const i = Math.imul(from ^ Math.imul(len, 0x85ebca6b), 0x9e3779b1) >>> 20; // 12 bits: RANGE_VIEWS entries
    if (this.from![i] === from && this.len![i] === len) return this.views[i]!;
    const v = src.subarray(from, from + len);
    this.from![i] = from;
    this.len![i] = len;
    this.views[i] = v;
    return v;
  }

  /** Take the table over for `src` when it was asked for last time too; false: not (yet). */
  private adopt(src: Uint8Array): boolean {
    if (src !== this.candidate || src.length < RANGE_VIEWS_MIN_ARRAY) {
      this.candidate = src.length >= RANGE_VIEWS_MIN_ARRAY ? src : NO_VIEW;
      return false;
    }
    this.arr = src;
    this.candidate = NO_VIEW;
    if (this.from === null) {
      this.from = new Int32Array(RANGE_VIEWS);
      this.len = new Int32Array(RANGE_VIEWS);
      this.views = new Array<Uint8Array>(RANGE_VIEWS).fill(NO_VIEW);
    }
    this.len!.fill(0); // len 0 is never asked for: every entry misses
    this.views.fill(NO_VIEW);
    return true;
  }
}
