/**
 * Byte-for-byte equality for large buffers. vitest's `toEqual` walks a typed array element by element with its
 * generic deep-equality (about 8 s for 1 MB here), which made bulk-transfer tests slow and, on a loaded machine,
 * time out; this compares natively and, on a mismatch, names the first differing offset with the bytes around it.
 */
export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.equals(e)) return;
  let i = 0;
  const n = Math.min(a.length, e.length);
  while (i < n && a[i] === e[i]) i++;
  const from = Math.max(0, i - 8);
  // Fails with a short, readable diff: the lengths and the bytes around the first difference.
  const around = (b: Buffer): string => `${b.length} bytes, from offset ${from}: ${b.subarray(from, i + 16).toString('hex')}`;
  throw new Error(`bytes differ: first difference at offset ${i}; actual ${around(a)}; expected ${around(e)}`);
}

/** The chunks one after another, in one new array. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
