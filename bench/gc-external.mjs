// V8's mark-compacts caused by fresh 64 KiB Buffers in a small heap, without byway (docs/performance-targets.md,
// branch rxgc). A receiver's loop: a fresh Buffer per 64 KiB (Buffer.allocUnsafeSlow, as byway's slabs and as
// node:net's reads), filled, dropped; `--heap MB` of small objects kept alive (the application's heap); a 160 KB
// array every `--old N` Buffers (some old-generation allocation, as any real program has); `--reuse` one Buffer.
//   node --expose-gc bench/gc-external.mjs [--heap 6] [--old 64] [--reuse] [--mb 2048]
// Prints the collections over the loop: a heap of about 8-11 MB gets a mark-compact every few MB of Buffers.
import { PerformanceObserver, performance } from 'node:perf_hooks';
const arg = (n, d) => (process.argv.includes(n) ? Number(process.argv[process.argv.indexOf(n) + 1]) : d);
const heapMb = arg('--heap', 0), oldEvery = arg('--old', 64), total = arg('--mb', 2048) * 2 ** 20, reuse = process.argv.includes('--reuse');
const keep = Array.from({ length: (heapMb * 1e6) / 170 }, (_, i) => ({ a: i, b: [i], c: 'x' + i }));
globalThis.gc?.(); // as a process that has started up: the old generation's limit is set from its live size
const gc = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0 };
new PerformanceObserver((l) => l.getEntries().forEach((e) => {
  if (e.detail.kind === 1) { gc.scavenges++; gc.scavengeMs += e.duration; } else if (e.detail.kind === 4) { gc.markCompacts++; gc.markCompactMs += e.duration; }
})).observe({ entryTypes: ['gc'] });
const src = Buffer.alloc(65536, 7), fixed = Buffer.allocUnsafeSlow(65536);
let done = 0, n = 0, big = null;
const f0 = process.resourceUsage().minorPageFault, c0 = process.cpuUsage(), t0 = performance.now();
function turn() {
  for (let i = 0; i < 16 && done < total; i++, done += 65536) {
    src.copy(reuse ? fixed : Buffer.allocUnsafeSlow(65536));
    if (oldEvery > 0 && ++n % oldEvery === 0) big = new Array(20000).fill(n);
  }
  if (done < total) setImmediate(turn);
  else setImmediate(() => {
    const gb = done / 1e9, c = process.cpuUsage(c0);
    console.log(JSON.stringify({ heapMb, oldEvery, reuse, heapUsedMB: +(process.memoryUsage().heapUsed / 1e6).toFixed(1), kept: keep.length, big: big?.length,
      ms: Math.round(performance.now() - t0), cpuMsPerGB: Math.round((c.user + c.system) / 1000 / gb), faultsPerGB: Math.round((process.resourceUsage().minorPageFault - f0) / gb),
      scavenges: gc.scavenges, scavengeMs: Math.round(gc.scavengeMs), markCompacts: gc.markCompacts, markCompactMs: Math.round(gc.markCompactMs) }));
  });
}
turn();
