/**
 * Micro-benchmark of the Internet checksum (protocols/util/checksum.ts onesSum) at packet sizes from 64 bytes to
 * 64 KiB, at three starting offsets within a 4-aligned buffer: 0 (aligned), 34 (2 mod 4: a TCP header after
 * Ethernet and IPv4 in a frame) and 35 (odd). The data rotates over the slots of one ArrayBuffer of `--ring` bytes
 * (default 1 MiB, at most 64 slots: it stays in the CPU's caches as a frame just written does; one buffer, as a
 * driver's ring or UMEM is, so onesSum's cached word view hits). `--ring 8388608` (more slots) measures frames that
 * have left the core's caches, as a receiver's frames have when thousands are queued on the link. Each size runs `--rounds` times (default 5), the
 * offsets alternating within a round; the figure is the median GB/s with the min-max spread.
 *   node --import tsx bench/checksum.ts [--rounds N] [--sizes 64,1500,...] [--offsets 0,34,35] [--ring BYTES]
 */
import { onesSum } from '../protocols/util/checksum.js';

function opt(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const rounds = Number(opt('--rounds', '5'));
const sizes = opt('--sizes', '40,64,128,256,576,1500,4096,16384,65536').split(',').map(Number);
const offsets = opt('--offsets', '0,34,35').split(',').map(Number);
const ringBytes = Number(opt('--ring', String(1 << 20)));

/** GB/s of `onesSum` over `len` bytes at `offset`, for about 200 MB of data. */
function measure(len: number, offset: number): number {
  const count = Math.max(4, Math.min(ringBytes === 1 << 20 ? 64 : Infinity, Math.floor(ringBytes / (len + 64))));
  const slot = (len + 64 + 63) & ~63;
  const ring = new Uint8Array(slot * count);
  for (let i = 0; i < ring.length; i++) ring[i] = (i * 13 + (i >>> 11)) & 0xff;
  const bufs = Array.from({ length: count }, (_, k) => ring.subarray(k * slot, (k + 1) * slot));
  const n = Math.max(1000, Math.round(2e8 / len));
  let s = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) s += onesSum(bufs[i % count]!, offset, offset + len);
  const dt = performance.now() - t0;
  if (s < 0) console.log(s); // keeps the sums live
  return (len * n) / (dt / 1000) / 1e9;
}

const med = (v: number[]): number => [...v].sort((x, y) => x - y)[v.length >> 1]!;
const results = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  for (const len of sizes) {
    for (const offset of r % 2 === 0 ? offsets : [...offsets].reverse()) {
      const k = `${len}@${offset}`;
      results.set(k, [...(results.get(k) ?? []), measure(len, offset)]);
    }
  }
}
console.log(`onesSum GB/s, median of ${rounds} rounds (min-max), by size and start offset`);
console.log('bytes'.padStart(6) + offsets.map((o) => `offset ${o}`.padStart(20)).join(''));
for (const len of sizes) {
  const cells = offsets.map((o) => {
    const v = results.get(`${len}@${o}`)!;
    return `${med(v).toFixed(2)} (${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)})`.padStart(20);
  });
  console.log(String(len).padStart(6) + cells.join(''));
}
