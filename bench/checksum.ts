/**
 * Micro-benchmark of the Internet checksum (protocols/util/checksum.ts onesSum) at packet sizes, over 64 rotating
 * 2 KiB buffers at a 14-byte offset (where an IPv4 header starts in an Ethernet frame).
 *   node --import tsx bench/checksum.ts
 */
import { onesSum } from '../protocols/util/checksum.js';

const bufs = Array.from({ length: 64 }, () => {
  const b = new Uint8Array(2048);
  for (let i = 0; i < b.length; i++) b[i] = (i * 13) & 0xff;
  return b;
});
for (const len of [40, 84, 128, 256, 1500]) {
  let s = 0;
  const n = 2_000_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) s += onesSum(bufs[i & 63]!, 14, 14 + len);
  const dt = performance.now() - t0;
  console.log(`${String(len).padStart(5)} bytes: ${((dt * 1e6) / n).toFixed(1)} ns/call, ${((len * n) / (dt / 1000) / 1e9).toFixed(2)} GB/s (check ${s & 0xff})`);
}
