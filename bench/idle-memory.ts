/**
 * Memory per idle TCP connection, byway against node:net, in one process.
 *
 * byway: two stacks on the in-memory link (virtual time, no driver, no kernel); N connections are opened (at most
 * 128 handshakes in flight, like bench/run.ts's tcp-idle), the server keeps every accepted TcpConnection, and the
 * process memory is measured after a forced GC. node:net: N connections over loopback to a server in the same
 * process, same measurement. Each figure counts BOTH ends of a connection (client and server objects are in this
 * process in both cases); kernel socket memory of the node:net case is not process memory and is not counted.
 *
 *   node --expose-gc --import tsx bench/idle-memory.ts [--n 10000] [--only byway|net] [--json]
 *
 * Run each case in its own process (--only) for the cleanest figures: RSS does not shrink after the first case.
 */
import * as net from 'node:net';
import { memoryLink } from '../drivers/memory/index.js';
import { parseCidr, parseIpv4 } from '../protocols/ipv4/address.js';
import { seededRng } from '../protocols/util/rng.js';
import type { TcpConnection } from '../protocols/tcp/connection.js';
import { NetStack } from '../src/stack/stack.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const N = Number(arg('--n') ?? 10000);
const only = arg('--only');
const json = process.argv.includes('--json');
const INFLIGHT = 128;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc');
  process.exit(2);
}

interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

async function settle(): Promise<Mem> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 20));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

interface Result {
  case: string;
  opened: number;
  rssPerConn: number;
  heapPerConn: number;
  externalPerConn: number;
  arrayBuffersPerConn: number;
}

function per(label: string, opened: number, a: Mem, b: Mem): Result {
  const d = (k: keyof Mem): number => Math.round((b[k] - a[k]) / opened);
  return { case: label, opened, rssPerConn: d('rss'), heapPerConn: d('heapUsed'), externalPerConn: d('external'), arrayBuffersPerConn: d('arrayBuffers') };
}

async function byway(): Promise<Result> {
  const [da, db] = memoryLink({ queueLimit: 4096 });
  const tcp = { maxConnections: 4 * N + 1024, synQueueLimit: 1024 };
  const a = new NetStack({ driver: da, addresses: [parseCidr('10.0.0.1/24')!], rng: seededRng(1), tcp: { ...tcp, ephemeralLow: 1024 } });
  const b = new NetStack({ driver: db, addresses: [parseCidr('10.0.0.2/24')!], rng: seededRng(2), tcp });
  let t = 0;
  const step = (): void => {
    t += 0.05;
    a.poll(t);
    b.poll(t);
  };
  const server: TcpConnection[] = [];
  const listener = b.tcp!.listen(0, 5001, N + 1);
  listener.onConnection = (c) => server.push(c);
  const dst = parseIpv4('10.0.0.2')!;
  // Warm up (ARP, code paths, one connection's allocations) before the baseline.
  const w = a.tcp!.connect(t, dst, 5001);
  while (w.state !== 'ESTABLISHED') step();
  w.abort(t);
  server.pop()?.abort(t);
  for (let i = 0; i < 50; i++) step();
  const m0 = await settle();
  const client: TcpConnection[] = [];
  let pending: TcpConnection[] = [];
  while (client.length + pending.length < N || pending.length > 0) {
    while (pending.length < INFLIGHT && client.length + pending.length < N) pending.push(a.tcp!.connect(t, dst, 5001));
    step();
    const still: TcpConnection[] = [];
    for (const c of pending) {
      if (c.state === 'ESTABLISHED') client.push(c);
      else if (c.state === 'CLOSED') throw new Error(`connect failed: ${c.error}`);
      else still.push(c);
    }
    pending = still;
  }
  for (let i = 0; i < 50; i++) step();
  if (server.length !== N) throw new Error(`server accepted ${server.length} of ${N}`);
  const m1 = await settle();
  const r = per('byway (core, both ends)', N, m0, m1);
  // Keep both arrays alive until after the measurement.
  if (client.length + server.length < 0) console.log('unreachable');
  for (const c of client) c.abort(t);
  return r;
}

async function nodeNet(): Promise<Result> {
  const accepted: net.Socket[] = [];
  const srv = net.createServer((s) => {
    accepted.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const open = (): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  (await open()).destroy();
  const m0 = await settle();
  const clients: net.Socket[] = [];
  let started = 0;
  await new Promise<void>((resolve, reject) => {
    let pending = 0;
    const next = (): void => {
      while (pending < INFLIGHT && started < N) {
        started++;
        pending++;
        open().then((s) => {
          clients.push(s);
          pending--;
          if (clients.length === N) resolve();
          else next();
        }, reject);
      }
    };
    next();
  });
  while (accepted.length < N) await new Promise((r) => setTimeout(r, 10));
  const m1 = await settle();
  const r = per('node:net over loopback (both ends)', N, m0, m1);
  for (const s of clients) s.destroy();
  for (const s of accepted) s.destroy();
  await new Promise((r) => srv.close(() => r(undefined)));
  return r;
}

const results: Result[] = [];
if (only !== 'net') results.push(await byway());
if (only !== 'byway') results.push(await nodeNet());
if (json) console.log(JSON.stringify({ n: N, results }));
else {
  console.log(`N = ${N} connections; bytes per connection (both ends together)`);
  console.log('case'.padEnd(38), 'rss'.padStart(8), 'heap'.padStart(8), 'external'.padStart(9), 'arrayBuf'.padStart(9));
  for (const r of results) {
    console.log(r.case.padEnd(38), String(r.rssPerConn).padStart(8), String(r.heapPerConn).padStart(8), String(r.externalPerConn).padStart(9), String(r.arrayBuffersPerConn).padStart(9));
  }
}
