import { describe, expect, it } from 'vitest';
import { expectBytes } from './bytes.js';

describe('expectBytes', () => {
  it('passes on equal bytes, views at any offset included', () => {
    const big = new Uint8Array(1 << 20).map((_, i) => i * 7);
    expectBytes(big.subarray(3, 1000), big.slice(3, 1000));
  });
  it('fails naming the first differing offset, and on a length difference', () => {
    const a = new Uint8Array(100).fill(1);
    const b = a.slice();
    b[42] = 2;
    expect(() => expectBytes(a, b)).toThrow(/first difference at offset 42/);
    expect(() => expectBytes(a, a.subarray(0, 99))).toThrow(/100 bytes.*99 bytes|99 bytes.*100 bytes/);
  });
});
