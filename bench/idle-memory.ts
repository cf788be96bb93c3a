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
 *
 * TIME-WAIT (--only timewait): heap per connection in TIME-WAIT, in two workloads on the same in-memory pair.
 * idle: N connections are opened and held (as above), then every client closes first and every server answers
 * with its own FIN; churn: N short connections one after another (at most 128 at a time), each a 100-byte request
 * and a 100-byte reply, closed by the client. The clients' ends stay in TIME-WAIT (2 MSL = 60 s of virtual time,
 * which does not pass while measuring); no reference to any connection is kept. A warm-up round of N/10 first
 * (then 61 s, so it leaves TIME-WAIT) compiles the code paths before the baseline. Figure: heapUsed (and
 * arrayBuffers: the TIME-WAIT table lives in typed arrays) after GC minus the baseline, divided by the connections
 * in TIME-WAIT.
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

/** The stacks for the TIME-WAIT cases, warmed up: one connection through a whole close. */
function twPair(n: number) {
  const [da, db] = memoryLink({ queueLimit: 4096 });
  const tcp = { maxConnections: 2 * n + 1024, maxTimeWait: n + 16, synQueueLimit: 1024 };
  const a = new NetStack({ driver: da, addresses: [parseCidr('10.0.0.1/24')!], rng: seededRng(1), tcp: { ...tcp, ephemeralLow: 1024 } });
  const b = new NetStack({ driver: db, addresses: [parseCidr('10.0.0.2/24')!], rng: seededRng(2), tcp });
  const clock = { t: 0 };
  const step = (): void => {
    clock.t += 0.05;
    a.poll(clock.t);
    b.poll(clock.t);
  };
  const listener = b.tcp!.listen(0, 5001, n + 1);
  const reply = new Uint8Array(100);
  const buf = new Uint8Array(4096);
  // The server reads what arrives, answers each request with 100 bytes, and closes when the client has closed.
  listener.onConnection = (c) => {
    c.onReadable = () => {
      while (c.read(clock.t, buf) > 0) c.send(clock.t, reply);
    };
    c.onEnd = () => c.close(clock.t);
  };
  return { a, b, clock, step, dst: parseIpv4('10.0.0.2')! };
}

function timeWaitCount(s: NetStack): number {
  let n = 0;
  for (const c of s.tcp!.connections()) if (c.state === 'TIME-WAIT') n++;
  return n;
}

async function timeWait(mode: 'idle' | 'churn'): Promise<Result> {
  const p = twPair(N);
  const request = new Uint8Array(100);
  const buf = new Uint8Array(4096);
  const open = (): TcpConnection => {
    const c = p.a.tcp!.connect(p.clock.t, p.dst, 5001);
    if (mode === 'churn') {
      c.onConnect = () => c.send(p.clock.t, request);
      // The reply read, the client closes (active close: its end goes to TIME-WAIT).
      c.onReadable = () => {
        let got = 0;
        let k;
        while ((k = c.read(p.clock.t, buf)) > 0) got += k;
        if (got > 0) c.close(p.clock.t);
      };
    }
    return c;
  };
  /** `n` connections through the workload into TIME-WAIT; no reference to them is kept. */
  const run = (n: number): void => {
    let started = 0;
    let live: TcpConnection[] = [];
    if (mode === 'idle') {
      for (;;) {
        const opening = live.filter((c) => c.state !== 'ESTABLISHED');
        if (opening.some((c) => c.state === 'CLOSED')) throw new Error('connect failed');
        if (started === n && opening.length === 0) break;
        for (let k = opening.length; k < INFLIGHT && started < n; k++, started++) live.push(open());
        p.step();
      }
      for (const c of live) c.close(p.clock.t);
    } else {
      while (started < n || live.length > 0) {
        while (live.length < INFLIGHT && started < n) {
          live.push(open());
          started++;
        }
        p.step();
        live = live.filter((c) => c.state !== 'TIME-WAIT' && c.state !== 'CLOSED');
      }
    }
    live = [];
    for (let i = 0; i < 400; i++) p.step();
    // 5 s more (well inside the 60 s TIME-WAIT): timers left from the connections' lives (RTOs) come due, so what
    // stays is what TIME-WAIT holds, not connections the timer heaps still reference.
    for (let i = 0; i < 10; i++) {
      p.clock.t += 500;
      p.step();
    }
  };
  // Warm-up: the same workload on a tenth of N, then 61 s so that all of it leaves TIME-WAIT; the baseline then
  // holds the compiled code and the stacks' tables, and nothing in TIME-WAIT.
  run(Math.ceil(N / 10));
  for (let i = 0; i < 122; i++) {
    p.clock.t += 500;
    p.step();
  }
  const tw0 = timeWaitCount(p.a);
  const m0 = await settle();
  run(N);
  const m1 = await settle();
  const tw = timeWaitCount(p.a) - tw0;
  if (tw < N) throw new Error(`only ${tw} of ${N} connections in TIME-WAIT`);
  if ([...p.b.tcp!.connections()].length !== 0) throw new Error('server connections left open');
  return per(`byway TIME-WAIT, ${mode} (per TIME-WAIT)`, tw, m0, m1);
}

/**
 * The churn workload through the API (createStack, net.createServer / net.connect on the memory link, real time):
 * what a TIME-WAIT costs when the application's sockets come and go, as in the HTTP test.
 */
async function timeWaitApi(): Promise<Result> {
  const { createStack } = await import('../src/api/stack.js');
  const [da, db] = memoryLink({ queueLimit: 4096 });
  const limits = { tcp: { maxConnections: 2 * N + 1024, maxTimeWait: 2 * N + 16 } };
  const client = createStack({ driver: da, address: '10.0.0.1/24', rng: seededRng(1), limits });
  const server = createStack({ driver: db, address: '10.0.0.2/24', rng: seededRng(2), limits });
  const srv = server.net.createServer((s) => {
    s.on('data', () => s.write(Buffer.alloc(100)));
    s.on('end', () => s.end());
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(5001, r));
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const c = client.net.connect(5001, '10.0.0.2', () => c.write(Buffer.alloc(100)));
      c.on('data', () => c.end());
      c.on('error', reject);
      c.on('close', () => resolve());
      c.resume();
    });
  const churn = async (n: number): Promise<void> => {
    let started = 0;
    const worker = async (): Promise<void> => {
      while (started < n) {
        started++;
        await one();
      }
    };
    await Promise.all(Array.from({ length: INFLIGHT }, worker));
  };
  await churn(Math.ceil(N / 10)); // warm-up (its TIME-WAITs stay: counted in the baseline and subtracted)
  await new Promise((r) => setTimeout(r, 200));
  const count = (): number => client.connections().filter((c) => c.state === 'TIME-WAIT').length;
  const tw0 = count();
  const m0 = await settle();
  await churn(N);
  await new Promise((r) => setTimeout(r, 200));
  const m1 = await settle();
  const tw = count() - tw0;
  client.close();
  server.close();
  if (tw < N) throw new Error(`only ${tw} of ${N} connections in TIME-WAIT`);
  return per('byway TIME-WAIT, churn via the API', tw, m0, m1);
}

const results: Result[] = [];
if (only === 'timewait-api') results.push(await timeWaitApi());
if (only === 'timewait') {
  results.push(await timeWait('idle'));
  results.push(await timeWait('churn'));
}
if (only !== 'net' && !only?.startsWith('timewait')) results.push(await byway());
if (only !== 'byway' && !only?.startsWith('timewait')) results.push(await nodeNet());
if (json) console.log(JSON.stringify({ n: N, results }));
else {
  console.log(only?.startsWith('timewait') ? `N = ${N} connections; bytes per connection in TIME-WAIT` : `N = ${N} connections; bytes per connection (both ends together)`);
  console.log('case'.padEnd(38), 'rss'.padStart(8), 'heap'.padStart(8), 'external'.padStart(9), 'arrayBuf'.padStart(9));
  for (const r of results) {
    console.log(r.case.padEnd(38), String(r.rssPerConn).padStart(8), String(r.heapPerConn).padStart(8), String(r.externalPerConn).padStart(9), String(r.arrayBuffersPerConn).padStart(9));
  }
}
