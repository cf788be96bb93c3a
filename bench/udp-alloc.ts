/**
 * Garbage per round trip through the public API (createStack + dgram or net), two stacks in one process on the
 * memory link: how many young-generation collections (scavenges) a 64-byte ping-pong causes, which sets the p99.9
 * of the ping-pong benchmark (each scavenge stalls one round trip; docs/performance-targets.md).
 *
 *   node --import tsx bench/udp-alloc.ts [--proto udp|tcp] [--family 4|6] [--n 200000] [--profile] [--waste BYTES]
 *
 * udp: a dgram socket sends 64 B, the peer's 'message' listener sends it back. tcp: a net.Socket writes 64 B, the
 * server's 'data' listener writes it back (noDelay both ends); a round trip ends when 64 B are back.
 * After a warm-up of n/10 round trips (not counted), it prints the round trips' time and the collections seen by a
 * PerformanceObserver (scavenges and mark-compacts apart), per 100k round trips.
 * --family 6: the two stacks talk over IPv6 only (fd00::1, fd00::2; DAD off), TCP or udp6.
 * --profile: bytes allocated per round trip, from the inspector's sampling heap profiler (every 128 bytes, objects
 *   later collected by scavenge or mark-compact included, so it counts garbage), by source file and by allocating
 *   function (top 25). The figure is the sampler's estimate: expect a few percent of noise.
 * --reuse: the receive paths that reuse the application's buffer: udp, dgram's onmessage option on both sockets
 *   (src/api/dgram-onmessage.ts: each datagram copied into one 64-byte buffer, one rinfo reused; the echo sends
 *   that buffer back); tcp, node:net's onread on the connecting socket and byway's createServer onread on the
 *   accepted one (one 4 KiB buffer each; the echo writes its bytes back as a view of it).
 * --waste BYTES: the echoing side also allocates one garbage array of about BYTES per round trip (a JSArray of
 *   BYTES/8 slots, 8-byte tagged slots: BYTES + ~48 B): a check that the profile counts garbage (the total should
 *   rise by that much, under bench/udp-alloc.ts in the by-file table; seen: +1072 B for --waste 1024).
 */
import { Session } from 'node:inspector/promises';
import { memoryLink } from '../drivers/memory/index.js';
import { createStack } from '../src/index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const proto = arg('--proto') ?? 'udp';
if (proto !== 'udp' && proto !== 'tcp') throw new Error(`--proto udp|tcp, got ${proto}`);
const n = Number(arg('--n') ?? 0) || 200_000;
const warm = Math.ceil(n / 10);
const profile = process.argv.includes('--profile');
const reuse = process.argv.includes('--reuse');
const wasteSlots = Math.ceil(Number(arg('--waste') ?? 0) / 8);
/** The deliberate garbage of --waste, in its own function so the profile names it. */
function waste(): void {
  (globalThis as { wasteSink?: unknown }).wasteSink = new Array(wasteSlots).fill(0);
}

const six = arg('--family') === '6';
const A = six ? 'fd00::1' : '10.0.0.1';
const B = six ? 'fd00::2' : '10.0.0.2';
const [da, db] = memoryLink();
const ipv6 = six ? { dad: { dupAddrDetectTransmits: 0 } } : undefined;
const a = createStack({ driver: da, address: six ? `${A}/64` : `${A}/24`, pollMode: 'event', ipv6 });
const b = createStack({ driver: db, address: six ? `${B}/64` : `${B}/24`, pollMode: 'event', ipv6 });
const msg = Buffer.alloc(64, 0x61);

/** Sets up the echo and returns `start(rounds, done)`, which runs that many round trips then calls done. */
async function setup(): Promise<{ start: (rounds: number, done: () => void) => void; close: () => Promise<void> }> {
  if (proto === 'udp') {
    const type = six ? 'udp6' : 'udp4';
    let left = 0;
    let onDone = (): void => {};
    const echo = (m: Uint8Array, rinfo: { address: string; port: number }): void => {
      if (wasteSlots > 0) waste();
      sb.send(m, rinfo.port, rinfo.address);
    };
    const back = (): void => {
      if (--left === 0) onDone();
      else sa.send(msg, 7000, B);
    };
    // --reuse: one 64-byte buffer per socket, each datagram copied into it (the echo sends it back whole).
    const into = (f: (m: Uint8Array, r: { address: string; port: number }) => void) => ({ buffer: new Uint8Array(msg.length), callback: (_n: number, m: Uint8Array, r: { address: string; port: number }) => f(m, r) });
    const sa = a.dgram.createSocket(reuse ? { type, onmessage: into(back) } : type);
    const sb = b.dgram.createSocket(reuse ? { type, onmessage: into(echo) } : type);
    await new Promise<void>((r) => sb.bind(7000, B, () => r()));
    await new Promise<void>((r) => sa.bind(7001, A, () => r()));
    if (!reuse) {
      sb.on('message', echo);
      sa.on('message', back);
    }
    return {
      start(rounds, done) {
        left = rounds;
        onDone = done;
        sa.send(msg, 7000, B);
      },
      async close() {
        sa.close();
        sb.close();
      },
    };
  }
  const echoed = (s: { write(d: Uint8Array): boolean }, d: Uint8Array): void => {
    if (wasteSlots > 0) waste();
    s.write(d);
  };
  // --reuse: the echo's one buffer, and a view of it per message length (64 B here: one view, made once). A Buffer:
  // a stream's write() turns a plain Uint8Array into a Buffer view on every call.
  const serverBuf = Buffer.alloc(4096);
  const views = new Map<number, Uint8Array>();
  const viewOf = (n: number): Uint8Array => {
    let v = views.get(n);
    if (v === undefined) views.set(n, (v = serverBuf.subarray(0, n)));
    return v;
  };
  const server = reuse
    ? b.net.createServer({ noDelay: true, onread: { buffer: serverBuf, callback(this: { write(d: Uint8Array): boolean }, n: number) { echoed(this, viewOf(n)); } } })
    : b.net.createServer({ noDelay: true }, (s) => s.on('data', (d: Buffer) => echoed(s, d)));
  await new Promise<void>((r) => server.listen(7000, B, () => r()));
  let left = 0;
  let got = 0;
  let onDone = (): void => {};
  const received = (n: number): void => {
    got += n;
    if (got < msg.length) return;
    got -= msg.length;
    if (--left === 0) onDone();
    else c.write(msg);
  };
  const onread = reuse ? { onread: { buffer: new Uint8Array(4096), callback: (n: number) => received(n) } } : {};
  const c = a.net.createConnection({ port: 7000, host: B, noDelay: true, ...onread });
  await new Promise<void>((r) => c.once('connect', () => r()));
  if (!reuse) c.on('data', (d: Buffer) => received(d.length));
  return {
    start(rounds, done) {
      left = rounds;
      onDone = done;
      c.write(msg);
    },
    async close() {
      c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const bench = await setup();
await new Promise<void>((r) => bench.start(warm, r));

const gcs = { minor: 0, major: 0, other: 0 };
const obs = new PerformanceObserver((l) => {
  for (const e of l.getEntries()) {
    const kind = (e as { detail?: { kind?: number } }).detail?.kind;
    if (kind === 1) gcs.minor++; // NODE_PERFORMANCE_GC_MINOR: a scavenge
    else if (kind === 4) gcs.major++; // NODE_PERFORMANCE_GC_MAJOR: mark-compact
    else gcs.other++; // incremental marking steps, weak callbacks
  }
});
obs.observe({ entryTypes: ['gc'] });
const session = new Session();
if (profile) {
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 128, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true } as object);
}
const t0 = performance.now();
await new Promise<void>((r) => bench.start(n, r));
const ms = performance.now() - t0;
let sampled: { profile: { head: ProfileNode } } | undefined;
if (profile) sampled = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: ProfileNode } };
await new Promise((r) => setTimeout(r, 10)); // let the observer's last entries arrive
obs.disconnect();
const per100k = (x: number): string => ((x / n) * 1e5).toFixed(1);
console.log(`${proto}: ${n} round trips of 64 B in ${ms.toFixed(0)} ms (${((ms * 1000) / n).toFixed(2)} us each); per 100k round trips: ${per100k(gcs.minor)} scavenges, ${per100k(gcs.major)} mark-compacts (${gcs.minor}/${gcs.major}/${gcs.other} minor/major/other)`);

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}
if (sampled) {
  const root = new URL('..', import.meta.url).href;
  const bySite = new Map<string, number>();
  const byFile = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number): void => void m.set(k, (m.get(k) ?? 0) + v);
  const walk = (node: ProfileNode, parent: string): void => {
    const f = node.callFrame;
    const name = f.functionName || '(anonymous)';
    const file = f.url === '' ? '(native)' : f.url.replace(root, '');
    if (node.selfSize > 0) {
      add(bySite, `${name} ${file}:${f.lineNumber + 1}:${f.columnNumber + 1} <- ${parent}`, node.selfSize);
      add(byFile, file, node.selfSize);
    }
    for (const c of node.children) walk(c, name);
  };
  walk(sampled.profile.head, '');
  const total = [...byFile.values()].reduce((x, y) => x + y, 0);
  const per = (bytes: number): string => (bytes / n).toFixed(1).padStart(8);
  console.log(`sampled ${(total / n).toFixed(0)} bytes allocated per round trip; by file:`);
  for (const [file, bytes] of [...byFile].sort((x, y) => y[1] - x[1])) if (bytes / n >= 0.5) console.log(`${per(bytes)} B  ${file}`);
  console.log('by allocating function (caller after <-):');
  for (const [site, bytes] of [...bySite].sort((x, y) => y[1] - x[1]).slice(0, 25)) console.log(`${per(bytes)} B  ${site}`);
  session.disconnect();
}
await bench.close();
await a.close();
await b.close();
