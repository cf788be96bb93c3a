/**
 * The TCP byte ring's small copies in isolation (protocols/tcp/byte-ring.ts): ns per 64-byte write into the ring
 * and per 64-byte read out of it into a Buffer, median of rounds. The copies are loops of their own so V8's
 * element feedback stays monomorphic; this says what one costs.
 *
 *   node --import tsx bench/ring-copy.ts [--n 2000000] [--rounds 7] [--size 64]
 */
import { ByteRing } from '../protocols/tcp/byte-ring.js';

function opt(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const n = Number(opt('--n', '2000000'));
const rounds = Number(opt('--rounds', '7'));
const size = Number(opt('--size', '64'));
const src = Buffer.alloc(size, 7);
const dst = Buffer.alloc(size);
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;

const write: number[] = [];
const read: number[] = [];
const ring = new ByteRing(256 * 1024);
for (let r = 0; r < rounds; r++) {
  let t = performance.now();
  for (let i = 0; i < n; i++) {
    ring.writeRange(src, 0, size);
    ring.discard(size);
  }
  write.push(((performance.now() - t) * 1e6) / n);
  t = performance.now();
  for (let i = 0; i < n; i++) {
    ring.writeRange(src, 0, size);
    ring.read(dst);
  }
  read.push(((performance.now() - t) * 1e6) / n - write[write.length - 1]!);
}
if (dst[size - 1] !== 7) throw new Error('the copy is wrong');
console.log(`${size}-byte write into the ring: ${median(write).toFixed(1)} ns (rounds ${write.map((x) => x.toFixed(0)).join(' ')})`);
console.log(`${size}-byte read out of the ring: ${median(read).toFixed(1)} ns (rounds ${read.map((x) => x.toFixed(0)).join(' ')})`);
