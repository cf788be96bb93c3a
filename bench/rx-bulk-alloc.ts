/**
 * What receiving in bulk costs per MiB, counted rather than timed (so a loaded machine does not change it): two
 * stacks in one process on the memory link, a net.Socket writing 64 KiB chunks, the peer's 'data' listener counting.
 *
 *   node --import tsx bench/rx-bulk-alloc.ts [--mib 256] [--mtu 1500] [--profile]
 *
 * Per MiB received, for the whole process (both stacks, the sender's side included, which is the same in an A/B):
 * - 'data' events, and the Buffer memory asked for (Buffer.alloc, allocUnsafe, allocUnsafeSlow: the receive
 *   Buffers; the slabs of the receive queue);
 * - bytes copied by typed-array `set` and `Buffer.copy` (the byte copies above 64 bytes: frame -> ring or queue,
 *   ring -> Buffer, user Buffer -> send ring, ring -> frame, and the memory link's copy of each frame), and how many
 *   calls;
 * - scavenges and mark-compacts; and the time (informational: it depends on the machine's load).
 * --profile: also the JS heap bytes allocated per MiB (the inspector's sampling heap profiler, garbage included;
 *   backing stores of ArrayBuffers are not in it), by allocating function (top 12).
 * The link claims checksum offload both ways (veth-like), so no software checksum pass; MTU 1500 unless --mtu.
 */
import { Session } from 'node:inspector/promises';
import { memoryLink } from '../drivers/memory/index.js';
import { createStack } from '../src/index.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const mib = arg('--mib', 256);
const mtu = arg('--mtu', 1500);
const profile = process.argv.includes('--profile');
const total = mib * 1024 * 1024;


/** Counting wrappers, on only while the measured transfer runs. */
const counts = { setBytes: 0, setCalls: 0, copyBytes: 0, copyCalls: 0, bufferBytes: 0, buffers: 0 };
let counting = false;
const TA = Object.getPrototypeOf(Uint8Array.prototype) as { set: (this: Uint8Array, src: ArrayLike<number>, off?: number) => void };
const set0 = TA.set;
TA.set = function (this: Uint8Array, src: ArrayLike<number>, off?: number): void {
  if (counting) {
    counts.setCalls++;
    counts.setBytes += src.length;
  }
  set0.call(this, src, off);
};
const copy0 = Buffer.prototype.copy;
Buffer.prototype.copy = function (this: Buffer, ...args: Parameters<Buffer['copy']>): number {
  const n = copy0.apply(this, args);
  if (counting) {
    counts.copyCalls++;
    counts.copyBytes += n;
  }
  return n;
};
for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
  const f0 = Buffer[name] as (...x: unknown[]) => Buffer;
  (Buffer as unknown as Record<string, unknown>)[name] = function (...x: unknown[]): Buffer {
    if (counting) {
      counts.buffers++;
      counts.bufferBytes += Number(x[0]);
    }
    return f0.apply(Buffer, x);
  };
}

// After the wrappers: the stacks keep a reference to Buffer.allocUnsafeSlow (their receive queues' slabs).
const OFFLOADED = { tx: 'offload', rx: 'trusted' } as const;
const [da, db] = memoryLink({ mtu, queueLimit: 4096, checksum: { ipv4: OFFLOADED, icmp: OFFLOADED, udp: OFFLOADED, tcp: OFFLOADED } });
const a = createStack({ driver: da, address: '10.0.0.1/24', pollMode: 'event' });
const b = createStack({ driver: db, address: '10.0.0.2/24', pollMode: 'event' });

let dataEvents = 0;
let received = 0;
let onDone = (): void => {};
let target = 0;
const server = b.net.createServer((s) => {
  s.on('data', (d: Buffer) => {
    dataEvents++;
    received += d.length;
    if (received >= target) onDone();
  });
});
await new Promise<void>((r) => server.listen(7000, '10.0.0.2', () => r()));
const c = a.net.createConnection({ port: 7000, host: '10.0.0.2' });
await new Promise<void>((r) => c.once('connect', () => r()));
const chunk = Buffer.alloc(64 * 1024, 0x42);

/** Writes `bytes` more (as fast as the socket takes them) and resolves when the peer has received them. */
function run(bytes: number): Promise<void> {
  target = received + bytes;
  let left = bytes;
  const write = (): void => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!c.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        c.once('drain', write);
        return;
      }
    }
  };
  return new Promise<void>((resolve) => {
    onDone = resolve;
    write();
  });
}

await run(Math.min(total, 32 << 20)); // warm-up (receive buffer auto-tuning, JIT), not counted
const gcs = { minor: 0, major: 0 };
const obs = new PerformanceObserver((l) => {
  for (const e of l.getEntries()) {
    const kind = (e as { detail?: { kind?: number } }).detail?.kind;
    if (kind === 1) gcs.minor++;
    else if (kind === 4) gcs.major++;
  }
});
obs.observe({ entryTypes: ['gc'] });
const session = new Session();
if (profile) {
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true } as object);
}
const events0 = dataEvents;
counting = true;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await run(total);
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
counting = false;
interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}
let sampled: { profile: { head: ProfileNode } } | undefined;
if (profile) sampled = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: ProfileNode } };
await new Promise((r) => setTimeout(r, 10));
obs.disconnect();

const per = (x: number): string => (x / mib).toFixed(x / mib < 10 ? 2 : 0);
const kib = (x: number): string => (x / mib / 1024).toFixed(0);
console.log(`received ${mib} MiB (MTU ${mtu}) in ${ms.toFixed(0)} ms: ${((total * 8) / (ms / 1000) / 1e9).toFixed(2)} Gbit/s, ${((total * 8) / ((cpu.user + cpu.system) / 1e6) / 1e9).toFixed(2)} per CPU-second`);
console.log(`per MiB received: ${per(dataEvents - events0)} 'data' events; ${per(counts.buffers)} Buffers allocated, ${kib(counts.bufferBytes)} KiB`);
console.log(`  copies: set ${per(counts.setCalls)} calls, ${kib(counts.setBytes)} KiB; Buffer.copy ${per(counts.copyCalls)} calls, ${kib(counts.copyBytes)} KiB; ${per(gcs.minor)} scavenges, ${per(gcs.major)} mark-compacts`);
if (sampled) {
  const root = new URL('..', import.meta.url).href;
  const bySite = new Map<string, number>();
  let heap = 0;
  const walk = (node: ProfileNode): void => {
    const f = node.callFrame;
    if (node.selfSize > 0) {
      const k = `${f.functionName || '(anonymous)'} ${f.url.replace(root, '')}:${f.lineNumber + 1}`;
      bySite.set(k, (bySite.get(k) ?? 0) + node.selfSize);
      heap += node.selfSize;
    }
    for (const ch of node.children) walk(ch);
  };
  walk(sampled.profile.head);
  console.log(`  JS heap allocated: ${kib(heap)} KiB per MiB; by function:`);
  for (const [k, v] of [...bySite].sort((x, y) => y[1] - x[1]).slice(0, 12)) console.log(`  ${kib(v).padStart(6)} KiB  ${k}`);
  session.disconnect();
}
c.destroy();
await new Promise<void>((r) => server.close(() => r()));
await a.close();
await b.close();
