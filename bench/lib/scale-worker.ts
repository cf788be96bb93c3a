/**
 * A byway cluster worker for bench/scale.ts: TCP echo on 7000, node:http on byway's TCP on 8080 (a 17-byte body),
 * UDP on 7001 (datagrams received and dropped after the 'message' event; the stack's udp.rx counts them).
 * With `data.counters` (a SharedArrayBuffer from scale.ts), every 100 ms it writes its slot of WORKER_COUNTERS
 * there: its own thread's CPU time (/proc/thread-self: not the process's GC and compile threads, nor the other
 * worker's), its poll loop's turns, spins and window hits, and its driver's doorbells and frames.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { clusterWorker } from '../../src/cluster/index.js';
import type { NativeDriverStats } from '../../drivers/native/ring-driver.js';
import { WORKER_COUNTERS } from './scale-counters.js';

const { stack, index, data } = clusterWorker()!;
stack.net.createServer((s) => s.on('data', (b: Buffer) => s.write(b)).on('error', () => {})).listen(7000);
const app = http.createServer((_req, res) => res.end('hello from byway\n'));
stack.net.createServer((s) => app.emit('connection', s.on('error', () => {}))).listen(8080);
const u = stack.dgram.createSocket('udp4');
u.on('message', () => {});
u.bind(7001);

const shared = (data as { counters?: SharedArrayBuffer } | undefined)?.counters;
if (shared !== undefined) {
  const slot = new Float64Array(shared, index * WORKER_COUNTERS.length * 8, WORKER_COUNTERS.length);
  const ticks = (): number => {
    const st = readFileSync('/proc/thread-self/stat', 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks of 10 ms
  };
  setInterval(() => {
    // (A base from before loopStats, measured with these bench files copied in: no loop counters.)
    const l: Partial<typeof stack.loopStats> = stack.loopStats ?? {};
    const d = stack.core.driver.stats as Partial<NativeDriverStats>;
    const v: Record<(typeof WORKER_COUNTERS)[number], number> = {
      threadCpuUs: ticks() * 10_000,
      turns: l.turns ?? 0,
      spins: l.spins ?? 0,
      spinHits: l.spinHits ?? 0,
      spunUs: l.spunUs ?? 0,
      windowsSkipped: l.windowsSkipped ?? 0,
      windowHits: l.windowHits ?? 0, // (a base from before windowHits: 0)
      txKicks: d.txKicks ?? 0,
      rxFrames: d.rxFrames ?? 0,
      txFrames: d.txFrames ?? 0,
    };
    WORKER_COUNTERS.forEach((k, i) => (slot[i] = v[k]));
  }, 100).unref();
}
