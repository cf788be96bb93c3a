// A node:net sink and sender in one process over loopback, 64 KiB writes, 0.5 s warm-up then 2 s counted:
// `node bench/import-sink.mjs [MODULE]` imports MODULE first (e.g. dist/src/api/stack.js after `npm run build`),
// to measure what merely loading a module costs a plain node:net receiver. Prints Gbit/s and the GCs in the window.
import net from 'node:net';
import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const mod = process.argv[2];
if (mod) await import(pathToFileURL(resolve(mod)).href);
let major = 0;
let majorMs = 0;
let minor = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = e.detail?.kind;
    if (kind === 4) {
      major++;
      majorMs += e.duration;
    } else if (kind === 1) minor++;
  }
}).observe({ entryTypes: ['gc'] });
let bytes = 0;
const server = net.createServer((s) => s.on('data', (b) => (bytes += b.length)));
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  const chunk = Buffer.alloc(65536);
  const pump = () => {
    while (c.write(chunk));
  };
  c.on('connect', pump);
  c.on('drain', pump);
  setTimeout(() => {
    bytes = major = majorMs = minor = 0;
    const t0 = performance.now();
    setTimeout(() => {
      const s = (performance.now() - t0) / 1000;
      console.log(`${mod ?? 'nothing imported'}: ${((bytes * 8) / s / 1e9).toFixed(2)} Gbit/s, mark-compacts ${major} (${majorMs.toFixed(0)} ms), scavenges ${minor}`);
      process.exit(0);
    }, 2000);
  }, 500);
});
