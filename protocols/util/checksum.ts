/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624), shared by IPv4, ICMP, UDP and TCP.
 *
 * `onesSum` returns the 16-bit ones'-complement sum (not yet complemented) of a byte range, as if the range were
 * read as big-endian 16-bit words (an odd last byte is padded with zero). It reads 32-bit little-endian words
 * through a view of the whole buffer: past 256 bytes always, and below that when the range is a ring's (the last
 * two views summed are remembered: a driver's ring or UMEM is one view), else bytes: by RFC 1071's
 * byte-order independence the folded little-endian sum is the byte-swapped big-endian sum, so one swap at the end
 * is all the fix-up needed. Partial sums combine by addition then `fold`, so a pseudo-header and a payload in
 * separate buffers are summed without copying them together.
 */

/**
 * Fold a sum of 16-bit words (any size up to 2^53) to 16 bits with end-around carry. hi * 0x10000 + lo becomes
 * hi + lo, written as a subtraction: `%` on a double above 2^31 is a call to fmod in V8, which cost onesSum about
 * an eighth of its time at 1500 bytes (6.1 against 7.0 GB/s).
 */
export function fold(sum: number): number {
  while (sum > 0xffff) {
    const hi = Math.floor(sum / 0x10000);
    sum = sum - hi * 0xffff;
  }
  return sum;
}

function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

/**
 * The 32-bit word and 16-bit half-word views over each whole ArrayBuffer, made once (creating a typed-array view per
 * call costs more than summing a small packet). Views over the whole buffer start at offset 0, so an address that
 * is a multiple of 4 (or 2) is aligned for them.
 */
interface BufferViews {
  words: Uint32Array;
  halves: Uint16Array;
}
const bufferViews = new WeakMap<ArrayBufferLike, BufferViews>();
/** The last buffer looked up: views made per frame over one ring (a driver's `receive`) skip the WeakMap. */
let lastBuffer: ArrayBufferLike | undefined;
let lastViews: BufferViews | undefined;

function viewsOf(buffer: ArrayBufferLike): BufferViews {
  if (buffer === lastBuffer) return lastViews!;
  let v = bufferViews.get(buffer);
  if (v === undefined) {
    v = { words: new Uint32Array(buffer, 0, buffer.byteLength >>> 2), halves: new Uint16Array(buffer, 0, buffer.byteLength >>> 1) };
    bufferViews.set(buffer, v);
  }
  lastBuffer = buffer;
  lastViews = v;
  return v;
}

/**
 * A view remembered with its byteOffset and the word and half-word views of its whole buffer. `byteOffset` and
 * `buffer` are not field loads to V8 here but calls (about 15 and 22 ns each, measured on Node 20): three of them
 * cost a sum about 50 ns. A driver's ring or UMEM is one view that every frame is a range of, so the stack's sums
 * keep meeting the same one or two views (AF_PACKET's receive and transmit rings are two). A view's buffer and
 * offset never change (the stack detaches nothing and uses no resizable buffers).
 */
class ViewEntry {
  view: Uint8Array | undefined = undefined;
  offset = 0;
  words: Uint32Array = new Uint32Array(0);
  halves: Uint16Array = new Uint16Array(0);
}

/** The two views summed last, the most recent first. */
let recent = new ViewEntry();
let older = new ViewEntry();

/** The entry for `b`, remembered in place of the older one when it is neither. */
function entryFor(b: Uint8Array): ViewEntry {
  if (b === recent.view) return recent;
  const e = older;
  older = recent;
  recent = e;
  if (e.view !== b) {
    e.view = b;
    e.offset = b.byteOffset;
    const v = viewsOf(b.buffer);
    e.words = v.words;
    e.halves = v.halves;
  }
  return e;
}

/**
 * A view at least this long is a ring or an arena rather than one packet: a small sum over it remembers it (the
 * calls above, once), where a view per packet would pay them on every sum.
 */
const RING_VIEW = 128 * 1024;
/** From this many bytes a small sum over a remembered view reads 32-bit words instead of bytes (smallSum). */
const SMALL_WORDS = 16;

/**
 * The big-endian ones' complement sum of `len` bytes (16 to 255) from the even byte address `at` of the views of
 * one buffer: a leading half-word when `at` is not 4-aligned (an Ethernet frame's TCP header is at 2 mod 4), then
 * little-endian 32-bit words summed in two double accumulators (at most 64 words below 2^32: exact), then a
 * trailing half-word, all folded by 2^32 = 2^16 = 1 (mod 0xffff) and swapped once (RFC 1071's byte-order
 * independence); an odd last byte is b[end - 1]. Folded to 16 bits, `initial` (0 to 2^32 - 1) included. Half as
 * many loads as 16-bit halves: 20 against 30 ns for 96 bytes and 12 against 14 for 20 (2026-12-05, in isolation).
 */
function smallSum(words: Uint32Array, halves: Uint16Array, at: number, len: number, b: Uint8Array, end: number, initial: number): number {
  let lead = 0;
  let n = len;
  if ((at & 2) !== 0) {
    lead = halves[at >>> 1]!;
    at += 2;
    n -= 2;
  }
  let w = at >>> 2;
  const wEnd = w + (n >>> 2);
  let a0 = 0;
  let a1 = 0;
  for (; w + 1 < wEnd; w += 2) {
    a0 += words[w]!;
    a1 += words[w + 1]!;
  }
  if (w < wEnd) a0 += words[w]!;
  const le = a0 + a1;
  const hi = Math.floor(le / 0x1_0000_0000); // below 2^6
  const lo = (le - hi * 0x1_0000_0000) >>> 0;
  let s = (lo >>> 16) + (lo & 0xffff) + hi + lead;
  if ((n & 2) !== 0) s += halves[(at + (n & ~3)) >>> 1]!;
  s = (s >>> 16) + (s & 0xffff);
  s = swap16((s >>> 16) + (s & 0xffff));
  if ((len & 1) !== 0) s += b[end - 1]! << 8;
  s += (initial >>> 16) + (initial & 0xffff); // initial below 2^32: no call to fold
  s = (s >>> 16) + (s & 0xffff);
  return (s >>> 16) + (s & 0xffff);
}

/** Words per block of onesSum's word loop: a block's sum is below 2^20 * 2^32 = 2^52, exact in a double. */
const WORD_BLOCK = 1 << 20;

/** Ones'-complement sum of b[start, end), big-endian 16-bit words, folded to 16 bits. */
export function onesSum(b: Uint8Array, start = 0, end = b.length, initial = 0): number {
  let len = end - start;
  if (len < 256 && initial >= 0 && initial <= 0xffffffff) {
    // A ring's or arena's view, remembered: 32-bit words from an even address (an Ethernet frame's IP and TCP headers
    // are at even offsets); 16-bit halves took 20 against 36 ns for bytes at 20 bytes and 43 against 62 at 96
    // (2026-12-04, in isolation), words a third less again at 96 (smallSum).
    if (len >= SMALL_WORDS) {
      const e = b === recent.view ? recent : b === older.view || b.length >= RING_VIEW ? entryFor(b) : undefined;
      if (e !== undefined && ((e.offset + start) & 1) === 0) return smallSum(e.words, e.halves, e.offset + start, len, b, end, initial);
    }
    // Other small packets: a view lookup costs more than it saves. Unrolled big-endian 16-bit words, in 32-bit integer
    // arithmetic: at most 128 words of 0xffff (under 2^23) on a folded initial value, so `| 0` never wraps, and V8
    // keeps the sum in a register instead of a double (about a quarter faster at 72 bytes).
    let sum = ((initial >>> 16) + (initial & 0xffff)) | 0; // initial below 2^32, folded once: below 2^17
    let i = start | 0;
    for (const e8 = end - 7; i < e8; i += 8) {
      sum = (sum + ((b[i]! << 8) | b[i + 1]!) + ((b[i + 2]! << 8) | b[i + 3]!) + ((b[i + 4]! << 8) | b[i + 5]!) + ((b[i + 6]! << 8) | b[i + 7]!)) | 0;
    }
    for (; i + 1 < end; i += 2) sum = (sum + ((b[i]! << 8) | b[i + 1]!)) | 0;
    if (i < end) sum = (sum + (b[i]! << 8)) | 0;
    sum = (sum >>> 16) + (sum & 0xffff);
    return (sum >>> 16) + (sum & 0xffff);
  }
  // Big-endian sum of the bytes before the first 4-aligned address, so the bulk reads whole aligned words.
  let head = 0;
  let i = start;
  const view = entryFor(b);
  const base = view.offset;
  const u32 = view.words;
  const abs = base + start;
  const lead = (4 - (abs & 3)) & 3;
  // An odd lead shifts the word boundary: the bulk and tail are summed as a run starting at an odd offset, and
  // that run's sum is rotated by 8 bits (RFC 1071 section 2(B): byte-swapping commutes with the sum).
  for (let k = 0; k < lead; k++, i++) head += (k & 1) === 0 ? b[i]! << 8 : b[i]!;
  len -= lead;
  const words = len >>> 2;
  let w = (base + i) >>> 2;
  const wEnd = w + words;
  // The plain sum of the words, in blocks of 2^20 words (every partial sum exact, below 2^52: see WORD_BLOCK; a
  // packet takes one block). Four accumulators, each adding a tree of four words per 64-byte step: the trees' adds
  // do not wait on the accumulators, so the CPU overlaps them (onesSum at 64 KiB 9.3 -> 10.8 GB/s; integer variants,
  // 32-bit loads split into 16-bit halves summed in int32, ran slower than V8's double adds: docs/performance-
  // targets.md, "Software checksums at memory speed"). The loop is written here rather than called: as a function
  // of its own it was not inlined where the stack sums a segment, and its double result came back boxed.
  let le = 0;
  while (w < wEnd) {
    const bEnd = wEnd - w > WORD_BLOCK ? w + WORD_BLOCK : wEnd;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (; w + 15 < bEnd; w += 16) {
      a0 += u32[w]! + u32[w + 4]! + (u32[w + 8]! + u32[w + 12]!);
      a1 += u32[w + 1]! + u32[w + 5]! + (u32[w + 9]! + u32[w + 13]!);
      a2 += u32[w + 2]! + u32[w + 6]! + (u32[w + 10]! + u32[w + 14]!);
      a3 += u32[w + 3]! + u32[w + 7]! + (u32[w + 11]! + u32[w + 15]!);
    }
    for (; w < bEnd; w++) a0 += u32[w]!;
    le = fold(le) + (a0 + a1 + (a2 + a3));
  }
  i += words << 2;
  // Tail bytes continue the big-endian run from an even position within the bulk run.
  let tail = 0;
  for (let k = 0; i < end; k++, i++) tail += (k & 1) === 0 ? b[i]! << 8 : b[i]!;
  // 2^32 = 1 mod 0xffff: le's two 32-bit halves, then their 16-bit halves, add up to le's folded sum, and the rest
  // is int32 arithmetic (onesSum at 1500 bytes: 6.1 -> 7.7 GB/s with the fold above, 576 bytes 3.6 -> 5.1).
  const hi = Math.floor(le / 0x1_0000_0000);
  const lo = (le - hi * 0x1_0000_0000) >>> 0;
  let bulk = (lo >>> 16) + (lo & 0xffff) + (hi >>> 16) + (hi & 0xffff); // below 2^18
  bulk = (bulk >>> 16) + (bulk & 0xffff);
  bulk = swap16((bulk >>> 16) + (bulk & 0xffff)) + tail; // big-endian sum of the run that starts at the aligned address
  bulk = (bulk >>> 16) + (bulk & 0xffff);
  bulk = (bulk >>> 16) + (bulk & 0xffff);
  if ((lead & 1) === 1) bulk = swap16(bulk);
  return fold(initial + head + bulk);
}

/** Ones'-complement sum of the IPv4 pseudo-header (RFC 768, RFC 9293 section 3.1), folded. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  // Below 2^31 for any length below 2^30: two folds in int32, not fold's loop (once per segment sent and received).
  let s = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
  s = (s >>> 16) + (s & 0xffff);
  return (s >>> 16) + (s & 0xffff);
}

/** The checksum field value for a folded sum: its ones' complement. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** The Internet checksum of b[start, end). */
export function checksum(b: Uint8Array, start = 0, end = b.length, initial = 0): number {
  return finish(onesSum(b, start, end, initial));
}

/**
 * RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data changes from `oldWord` to `newWord`.
 * HC' = ~(~HC + ~m + m')
 */
export function updateChecksum16(hc: number, oldWord: number, newWord: number): number {
  return ~fold((~hc & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/** RFC 1624 for a 32-bit field (an IPv4 address, a sequence number): two word updates. */
export function updateChecksum32(hc: number, oldValue: number, newValue: number): number {
  return ~fold(
    (~hc & 0xffff) +
      (~(oldValue >>> 16) & 0xffff) +
      (~oldValue & 0xffff) +
      (newValue >>> 16) +
      (newValue & 0xffff),
  ) & 0xffff;
}
