/**
 * The byte encoding of multi-step fuzz inputs (a sequence of frames or segments, each with a one-byte tag).
 *
 * Layout: repeated `[tag u8][len u16 BE][len bytes]`. Decoding is total: any byte string decodes (a short last
 * record keeps what is there), so a mutated or truncated file is still an input. Concatenating two encodings
 * encodes the concatenated sequences, which is how a long-running session's history is saved as one input.
 */
export interface Rec {
  readonly tag: number;
  readonly data: Uint8Array;
}

export function encodeRecords(recs: readonly Rec[]): Uint8Array {
  let n = 0;
  for (const r of recs) n += 3 + Math.min(r.data.length, 0xffff);
  const out = new Uint8Array(n);
  let o = 0;
  for (const r of recs) {
    const len = Math.min(r.data.length, 0xffff);
    out[o] = r.tag & 0xff;
    out[o + 1] = len >>> 8;
    out[o + 2] = len & 0xff;
    out.set(r.data.subarray(0, len), o + 3);
    o += 3 + len;
  }
  return out;
}

export function decodeRecords(buf: Uint8Array): Rec[] {
  const out: Rec[] = [];
  let o = 0;
  while (o < buf.length) {
    const tag = buf[o]!;
    const len = o + 2 < buf.length ? (buf[o + 1]! << 8) | buf[o + 2]! : 0;
    const start = Math.min(o + 3, buf.length);
    const end = Math.min(start + len, buf.length);
    out.push({ tag, data: buf.subarray(start, end) });
    o = end === start && len === 0 ? start : end;
    if (start === buf.length) break;
  }
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
