/**
 * Injected randomness. Cores never call Math.random: ISNs, ephemeral ports and fault decisions draw from an `Rng`
 * given to them, so a whole run replays from a seed. `seededRng` is xoshiro128** (Blackman and Vigna), seeded
 * through splitmix32; it is for replayable tests and simulations, not for secrets (RFC 6528 ISNs take a keyed
 * hash with a key the caller supplies).
 */
export interface Rng {
  /** A uniformly distributed unsigned 32-bit integer. */
  nextU32(): number;
}

export function seededRng(seed: number): Rng & { nextFloat(): number; nextInt(n: number): number } {
  let x = seed >>> 0;
  const split = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let s0 = split();
  let s1 = split();
  let s2 = split();
  let s3 = split();
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3 >>> 0, 11);
    s0 >>>= 0;
    s1 >>>= 0;
    s2 >>>= 0;
    return result;
  };
  return {
    nextU32,
    nextFloat: () => nextU32() / 4294967296,
    nextInt: (n: number) => Math.floor((nextU32() / 4294967296) * n),
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Randomness for production: the platform's CSPRNG through the Web Crypto global (no `node:` import). */
export function cryptoRng(): Rng {
  const pool = new Uint32Array(256);
  let next = pool.length;
  return {
    nextU32(): number {
      if (next === pool.length) {
        globalThis.crypto.getRandomValues(pool);
        next = 0;
      }
      return pool[next++]!;
    },
  };
}
