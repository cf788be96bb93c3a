/**
 * Initial sequence numbers (RFC 6528) and the keyed hash behind them and the SYN cookies.
 *
 * RFC 6528 section 3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a timer that
 * ticks every 4 microseconds (250 ticks per millisecond, taken from the `nowMs` passed in) and F is a keyed
 * pseudorandom function. F here is SipHash-2-4 (Aumasson and Bernstein, 2012), implemented with 32-bit integer
 * halves (no BigInt, no allocation per call), truncated to its low 32 bits.
 *
 * Contract: sans-IO (the caller supplies the time and a 16-byte secret key drawn from a CSPRNG). A key that is not
 * 16 bytes throws BywayError ERR_INVALID_ARG_VALUE. Addresses are IPv4 addresses as unsigned 32-bit numbers.
 */
import { BywayError } from '../util/errors.js';

// State of one SipHash computation: v0..v3 as (hi, lo) pairs. Module-level scratch: cores are single-threaded.
let v0h = 0, v0l = 0, v1h = 0, v1l = 0, v2h = 0, v2l = 0, v3h = 0, v3l = 0;

function sipRound(): void {
  let s: number, h: number, l: number;
  // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
  s = v0l + v1l;
  v0h = (v0h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  v0l = s >>> 0;
  h = ((v1h << 13) | (v1l >>> 19)) >>> 0;
  l = ((v1l << 13) | (v1h >>> 19)) >>> 0;
  v1h = (h ^ v0h) >>> 0;
  v1l = (l ^ v0l) >>> 0;
  h = v0h;
  v0h = v0l;
  v0l = h;
  // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
  s = v2l + v3l;
  v2h = (v2h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  v2l = s >>> 0;
  h = ((v3h << 16) | (v3l >>> 16)) >>> 0;
  l = ((v3l << 16) | (v3h >>> 16)) >>> 0;
  v3h = (h ^ v2h) >>> 0;
  v3l = (l ^ v2l) >>> 0;
  // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
  s = v0l + v3l;
  v0h = (v0h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  v0l = s >>> 0;
  h = ((v3h << 21) | (v3l >>> 11)) >>> 0;
  l = ((v3l << 21) | (v3h >>> 11)) >>> 0;
  v3h = (h ^ v0h) >>> 0;
  v3l = (l ^ v0l) >>> 0;
  // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
  s = v2l + v1l;
  v2h = (v2h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
  v2l = s >>> 0;
  h = ((v1h << 17) | (v1l >>> 15)) >>> 0;
  l = ((v1l << 17) | (v1h >>> 15)) >>> 0;
  v1h = (h ^ v2h) >>> 0;
  v1l = (l ^ v2l) >>> 0;
  h = v2h;
  v2h = v2l;
  v2l = h;
}

function le32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function checkKey(key: Uint8Array): void {
  if (key.length !== 16) throw new BywayError('ERR_INVALID_ARG_VALUE', `keyed hash: the key must be 16 bytes, got ${key.length}`);
}

/**
 * SipHash-2-4 of data under a 16-byte key. Writes the 64-bit result into out as [low 32 bits, high 32 bits]
 * (the result read as a little-endian 64-bit integer, as in the reference implementation) and returns out[0].
 */
export function sipHash24(key: Uint8Array, data: Uint8Array, out?: Uint32Array | number[]): number {
  checkKey(key);
  const k0l = le32(key, 0), k0h = le32(key, 4), k1l = le32(key, 8), k1h = le32(key, 12);
  // "somepseudorandomlygeneratedbytes"
  v0h = (k0h ^ 0x736f6d65) >>> 0; v0l = (k0l ^ 0x70736575) >>> 0;
  v1h = (k1h ^ 0x646f7261) >>> 0; v1l = (k1l ^ 0x6e646f6d) >>> 0;
  v2h = (k0h ^ 0x6c796765) >>> 0; v2l = (k0l ^ 0x6e657261) >>> 0;
  v3h = (k1h ^ 0x74656462) >>> 0; v3l = (k1l ^ 0x79746573) >>> 0;
  const len = data.length;
  const full = len - (len & 7);
  for (let i = 0; i < full; i += 8) {
    const ml = le32(data, i), mh = le32(data, i + 4);
    v3l = (v3l ^ ml) >>> 0; v3h = (v3h ^ mh) >>> 0;
    sipRound();
    sipRound();
    v0l = (v0l ^ ml) >>> 0; v0h = (v0h ^ mh) >>> 0;
  }
  // Last block: the remaining bytes little-endian, the length (mod 256) in the top byte.
  let bl = 0, bh = (len & 0xff) << 24;
  for (let j = len - 1; j >= full; j--) {
    const shift = (j - full) * 8;
    if (shift < 32) bl |= data[j]! << shift;
    else bh |= data[j]! << (shift - 32);
  }
  bl >>>= 0; bh >>>= 0;
  v3l = (v3l ^ bl) >>> 0; v3h = (v3h ^ bh) >>> 0;
  sipRound();
  sipRound();
  v0l = (v0l ^ bl) >>> 0; v0h = (v0h ^ bh) >>> 0;
  v2l = (v2l ^ 0xff) >>> 0;
  sipRound();
  sipRound();
  sipRound();
  sipRound();
  const lo = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
  const hi = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
  if (out !== undefined) {
    out[0] = lo;
    out[1] = hi;
  }
  return lo;
}

const scratch = new Uint8Array(16);

function put32(o: number, v: number): void {
  scratch[o] = v >>> 24;
  scratch[o + 1] = v >>> 16;
  scratch[o + 2] = v >>> 8;
  scratch[o + 3] = v;
}

/** The low 32 bits of SipHash-2-4 over four 32-bit words (big-endian, 16 bytes). No allocation. */
export function keyedHash32(key: Uint8Array, w0: number, w1: number, w2: number, w3: number): number {
  put32(0, w0);
  put32(4, w1);
  put32(8, w2);
  put32(12, w3);
  return sipHash24(key, scratch);
}

/** RFC 6528 section 3: M, the 4-microsecond clock, from milliseconds (wraps modulo 2^32, about every 4.77 hours). */
export function isnClock(nowMs: number): number {
  return Math.floor(nowMs * 250) >>> 0;
}

/**
 * RFC 6528 ISN = M + F(localip, localport, remoteip, remoteport, secretkey), modulo 2^32.
 * F hashes (localIp, remoteIp, localPort << 16 | remotePort, 0): a different 4-tuple or key gives an unrelated
 * offset; for one 4-tuple the ISN advances by 250 per millisecond.
 */
export function computeIsn(key: Uint8Array, localIp: number, localPort: number, remoteIp: number, remotePort: number, nowMs: number): number {
  const f = keyedHash32(key, localIp >>> 0, remoteIp >>> 0, (((localPort & 0xffff) << 16) | (remotePort & 0xffff)) >>> 0, 0);
  return (f + isnClock(nowMs)) >>> 0;
}
