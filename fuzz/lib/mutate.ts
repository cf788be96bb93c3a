/**
 * Byte mutation (AFL's "havoc" stage, in small): bit flips, interesting values, arithmetic on 8/16/32-bit
 * big-endian fields, truncation, extension, insertion and deletion of bytes, duplication of a range, and splicing
 * with another corpus entry. Record-aware mutation (records.ts) also drops, duplicates, reorders and inserts whole
 * records and changes their tags, so a multi-frame input keeps its framing most of the time.
 *
 * Everything draws from the seeded `FuzzRng`, so a run replays from its seed.
 */
import { decodeRecords, encodeRecords, type Rec } from './records.js';

export interface FuzzRng {
  nextU32(): number;
  nextInt(n: number): number;
  nextFloat(): number;
}

const INTERESTING_8 = [0, 1, 2, 4, 5, 6, 8, 0x0f, 0x10, 0x14, 0x1f, 0x20, 0x3f, 0x40, 0x45, 0x4f, 0x7f, 0x80, 0xef, 0xf0, 0xfe, 0xff];
const INTERESTING_16 = [0, 1, 7, 8, 19, 20, 21, 28, 40, 60, 64, 68, 576, 1279, 1280, 1480, 1500, 1514, 0x0800, 0x0806, 0x8100, 0x1fff, 0x2000, 0x3fff, 0x4000, 0x7fff, 0x8000, 0xfff8, 0xfffe, 0xffff];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x10000, 0xffff];

function pick<T>(rng: FuzzRng, xs: readonly T[]): T {
  return xs[rng.nextInt(xs.length)]!;
}

function randomBytes(rng: FuzzRng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextU32() & 0xff;
  return out;
}

/** One havoc step on a copy of `b`. `other` is a splice partner (another corpus entry). */
function havocStep(rng: FuzzRng, b: Uint8Array, other: Uint8Array | undefined, maxLen: number): Uint8Array {
  const n = b.length;
  const op = rng.nextInt(14);
  switch (op) {
    case 0: // flip one bit
      if (n > 0) b[rng.nextInt(n)]! ^= 1 << rng.nextInt(8);
      return b;
    case 1: // random byte
      if (n > 0) b[rng.nextInt(n)] = rng.nextU32() & 0xff;
      return b;
    case 2: // interesting byte
      if (n > 0) b[rng.nextInt(n)] = pick(rng, INTERESTING_8);
      return b;
    case 3: // interesting 16-bit value, big-endian
      if (n > 1) {
        const i = rng.nextInt(n - 1);
        const v = pick(rng, INTERESTING_16);
        b[i] = v >>> 8;
        b[i + 1] = v & 0xff;
      }
      return b;
    case 4: // interesting 32-bit value
      if (n > 3) {
        const i = rng.nextInt(n - 3);
        const v = pick(rng, INTERESTING_32);
        b[i] = v >>> 24;
        b[i + 1] = v >>> 16;
        b[i + 2] = v >>> 8;
        b[i + 3] = v;
      }
      return b;
    case 5: // small arithmetic on a byte
      if (n > 0) {
        const i = rng.nextInt(n);
        b[i] = (b[i]! + rng.nextInt(35) - 17) & 0xff;
      }
      return b;
    case 6: // small arithmetic on a 16-bit field
      if (n > 1) {
        const i = rng.nextInt(n - 1);
        const v = (((b[i]! << 8) | b[i + 1]!) + rng.nextInt(35) - 17) & 0xffff;
        b[i] = v >>> 8;
        b[i + 1] = v & 0xff;
      }
      return b;
    case 7: // truncate
      return n > 0 ? b.subarray(0, rng.nextInt(n)) : b;
    case 8: { // extend with random bytes
      const add = Math.min(maxLen - n, 1 + rng.nextInt(64));
      if (add <= 0) return b;
      const out = new Uint8Array(n + add);
      out.set(b);
      out.set(randomBytes(rng, add), n);
      return out;
    }
    case 9: { // insert bytes in the middle
      const add = Math.min(maxLen - n, 1 + rng.nextInt(16));
      if (add <= 0) return b;
      const at = rng.nextInt(n + 1);
      const out = new Uint8Array(n + add);
      out.set(b.subarray(0, at));
      const fill = rng.nextInt(2) === 0 ? randomBytes(rng, add) : new Uint8Array(add).fill(pick(rng, INTERESTING_8));
      out.set(fill, at);
      out.set(b.subarray(at), at + add);
      return out;
    }
    case 10: { // delete a range
      if (n === 0) return b;
      const at = rng.nextInt(n);
      const len = 1 + rng.nextInt(Math.min(32, n - at));
      const out = new Uint8Array(n - len);
      out.set(b.subarray(0, at));
      out.set(b.subarray(at + len), at);
      return out;
    }
    case 11: { // duplicate a range in place
      if (n === 0) return b;
      const at = rng.nextInt(n);
      const len = Math.min(1 + rng.nextInt(Math.min(64, n - at)), maxLen - n);
      if (len <= 0) return b;
      const out = new Uint8Array(n + len);
      out.set(b.subarray(0, at + len));
      out.set(b.subarray(at, at + len), at + len);
      out.set(b.subarray(at + len), at + 2 * len);
      return out;
    }
    case 12: { // splice: our head, the other's tail
      if (other === undefined || other.length === 0) return b;
      const a = rng.nextInt(n + 1);
      const c = rng.nextInt(other.length);
      const len = Math.min(a + other.length - c, maxLen);
      const out = new Uint8Array(len);
      out.set(b.subarray(0, Math.min(a, len)));
      if (len > a) out.set(other.subarray(c, c + len - a), a);
      return out;
    }
    default: { // overwrite a range with bytes from the other entry
      if (other === undefined || other.length === 0 || n === 0) return b;
      const len = 1 + rng.nextInt(Math.min(32, n, other.length));
      const at = rng.nextInt(n - len + 1);
      const from = rng.nextInt(other.length - len + 1);
      b.set(other.subarray(from, from + len), at);
      return b;
    }
  }
}

/** A mutated copy of `input`: 1 to 8 stacked havoc steps. */
export function mutateBytes(rng: FuzzRng, input: Uint8Array, other: Uint8Array | undefined, maxLen: number): Uint8Array {
  let b: Uint8Array = input.slice(0, maxLen);
  const steps = 1 << rng.nextInt(4);
  for (let i = 0; i < steps; i++) b = havocStep(rng, b, other, maxLen);
  return b;
}

/**
 * Record-aware mutation: mostly mutate the data of one or two records (keeping the framing), sometimes change a
 * tag, drop, duplicate, swap, or splice in a record from another input.
 */
export function mutateRecords(rng: FuzzRng, input: Uint8Array, other: Uint8Array | undefined, maxRecordLen: number, maxRecords: number): Uint8Array {
  const recs: Rec[] = decodeRecords(input).slice(0, maxRecords);
  const others = other !== undefined ? decodeRecords(other) : [];
  if (recs.length === 0) {
    if (others.length > 0) return encodeRecords([pick(rng, others)]);
    return encodeRecords([{ tag: rng.nextU32() & 0xff, data: randomBytes(rng, rng.nextInt(64)) }]);
  }
  const steps = 1 + rng.nextInt(3);
  for (let s = 0; s < steps; s++) {
    const op = rng.nextInt(10);
    const i = rng.nextInt(recs.length);
    const r = recs[i]!;
    if (op < 6) {
      const partner = others.length > 0 ? pick(rng, others).data : recs[rng.nextInt(recs.length)]!.data;
      recs[i] = { tag: r.tag, data: mutateBytes(rng, r.data, partner, maxRecordLen) };
    } else if (op === 6) {
      recs[i] = { tag: rng.nextInt(2) === 0 ? r.tag ^ (1 << rng.nextInt(8)) : rng.nextU32() & 0xff, data: r.data };
    } else if (op === 7 && recs.length > 1) {
      recs.splice(i, 1);
    } else if (op === 8 && recs.length < maxRecords) {
      recs.splice(rng.nextInt(recs.length + 1), 0, others.length > 0 && rng.nextInt(2) === 0 ? pick(rng, others) : r);
    } else {
      const j = rng.nextInt(recs.length);
      recs[i] = recs[j]!;
      recs[j] = r;
    }
  }
  return encodeRecords(recs);
}
