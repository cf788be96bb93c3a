/**
 * Garbage per UDP round trip through the public API (createStack + dgram), two stacks in one process on the memory
 * link: how many young-generation collections a ping-pong causes, which sets the p99.9 of the ping-pong benchmark
 * (each scavenge stalls one round trip; docs/performance-targets.md). Counts collections over N round trips and
 * with --profile, the bytes allocated per round trip by function (the inspector's sampling heap profiler, collected
 * objects included), top 25.
 *   node --import tsx bench/udp-alloc.ts [--n 200000] [--profile]
 */
import { Session } from 'node:inspector/promises';
import { memoryLink } from '../drivers/memory/index.js';
import { createStack } from '../src/index.js';

const n = Number(process.argv[process.argv.indexOf('--n') + 1] ?? 0) || 200_000;
const [da, db] = memoryLink();
const a = createStack({ driver: da, address: '10.0.0.1/24', pollMode: 'event' });
const b = createStack({ driver: db, address: '10.0.0.2/24', pollMode: 'event' });
const sa = a.dgram.createSocket('udp4');
const sb = b.dgram.createSocket('udp4');
await new Promise<void>((r) => sb.bind(7000, '10.0.0.2', () => r()));
await new Promise<void>((r) => sa.bind(7001, '10.0.0.1', () => r()));
sb.on('message', (m: Uint8Array, rinfo: { address: string; port: number }) => sb.send(m, rinfo.port, rinfo.address));
const msg = Buffer.alloc(64, 0x61);
let gcs = 0;
const obs = new PerformanceObserver((l) => (gcs += l.getEntries().length));
obs.observe({ entryTypes: ['gc'] });
const profile = process.argv.includes('--profile');
const session = new Session();
if (profile) {
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 128, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true } as object);
}
let left = n;
const t0 = performance.now();
await new Promise<void>((resolve) => {
  sa.on('message', () => {
    if (--left === 0) resolve();
    else sa.send(msg, 7000, '10.0.0.2');
  });
  sa.send(msg, 7000, '10.0.0.2');
});
const ms = performance.now() - t0;
gcs += obs.takeRecords().length;
obs.disconnect();
console.log(`${n} round trips in ${ms.toFixed(0)} ms (${((ms * 1000) / n).toFixed(2)} us each), ${gcs} collections: ${((gcs / n) * 1e6).toFixed(0)} per million round trips`);
if (profile) {
  interface Node { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] }
  const { profile: p } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: Node } };
  const bySite = new Map<string, number>();
  const walk = (node: Node, parent: string): void => {
    const f = node.callFrame;
    const site = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/work\/main\//, '')}:${f.lineNumber + 1} <- ${parent}`;
    if (node.selfSize > 0) bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    for (const c of node.children) walk(c, f.functionName || '(anonymous)');
  };
  walk(p.head, '');
  const total = [...bySite.values()].reduce((x, y) => x + y, 0);
  console.log(`sampled ${(total / n).toFixed(0)} bytes per round trip`);
  for (const [site, bytes] of [...bySite].sort((x, y) => y[1] - x[1]).slice(0, 25)) console.log(`${(bytes / n).toFixed(1).padStart(8)} B  ${site}`);
  session.disconnect();
}
sa.close();
sb.close();
await a.close();
await b.close();
