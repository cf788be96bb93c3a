/**
 * CPU per transaction of one TCP echo server under many connections, byway (one stack, event mode, AF_PACKET
 * TPACKET_V2 with a MAC of its own, in the server process's main thread: no cluster) against the kernel path
 * (node:net in one process), alternated, on one veth pair. The load is bench/lib/scale-load.c's (64 connections,
 * each: write 64 bytes, read the echo, repeat), in the peer namespace. This is bench/scale.ts's TCP workload for
 * byway-1 and kernel-1 without the cluster, so a profile shows the stack alone.
 *
 *   node --import tsx bench/conn-echo.ts [--seconds 3] [--warm 1] [--rounds 3] [--conns 64] [--servers byway,kernel]
 *                                        [--workload tcp|http] [--mode event|busy] [--spin-ms MS] [--spin-us US] [--count] [--prof DIR] [--dist] [--pin] [--heap]
 *
 * Per trial, after --warm seconds of the same load (not counted: the JIT compiles on V8's threads): transactions/s, the server's CPU (user + system of its process) per transaction, and for byway
 * with --count (wrappers that cost CPU of their own) counts per transaction (they do not depend on the machine's load): NetStack.poll, calls into the addon by name,
 * clock reads, frames in and out, doorbells. --prof writes a V8 CPU profile of each byway server to DIR; --dist runs the compiled tree (`npm run build`), so the
 * profile names source lines.
 * --workload http: bench/scale.ts's HTTP workload instead (64 keep-alive connections, GET / answered by node:http with a
 * 17-byte body, on byway's TCP or node:net); "transaction" then means a request.
 * BYWAY_CONN_NODE_FLAGS: more flags for the server's node (e.g. --trace-deopt).
 * Needs root (namespaces, veth, AF_PACKET) and the addon; removes what it made.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NetLab, execInAsync } from '../test/helpers/netns.js';
import { childLines } from './lib/child-lines.js';
import { median } from './lib/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const KERNEL = '10.77.14.1';
const PEER = '10.77.14.2';
const BYWAY = '10.77.14.3';
const PORT = 7000;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    conns: { type: 'string', default: '64' },
    warm: { type: 'string', default: '1' },
    'spin-ms': { type: 'string' },
    'spin-us': { type: 'string' },
    servers: { type: 'string', default: 'byway,kernel' },
    mode: { type: 'string', default: 'event' },
    prof: { type: 'string' },
    pin: { type: 'boolean', default: false },
    heap: { type: 'boolean', default: false },
    count: { type: 'boolean', default: false },
    workload: { type: 'string', default: 'tcp' },
    dist: { type: 'boolean', default: false },
    role: { type: 'string' },
  },
});

/** --workload http: bench/lib/scale-worker.ts's HTTP server (a 17-byte body). */
const hello = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
  res.end('hello from byway\n');
};

/** The server side (a child process in the server namespace): answers "count" on stdin with one JSON line. */
async function serve(role: string): Promise<void> {
  const counts: Record<string, number> = {};
  const bump = (k: string): void => {
    counts[k] = (counts[k] ?? 0) + 1;
  };
  let stats: () => Record<string, number> = () => ({});
  if (role === 'kernel') {
    if (values.workload === 'http') http.createServer(hello).listen(PORT, KERNEL);
    else net.createServer((s) => s.on('data', (b: Buffer) => s.write(b)).on('error', () => {})).listen(PORT, KERNEL);
  } else {
    // --dist: the compiled tree (npm run build), whose profiles name source lines (tsx's output is one line a file).
    const [{ createStack }, { openAfPacket }] = values.dist
      ? await Promise.all([import('../dist/src/index.js' as string) as Promise<typeof import('../src/index.js')>, import('../dist/drivers/af-packet/index.js' as string) as Promise<typeof import('../drivers/af-packet/index.js')>])
      : await Promise.all([import('../src/index.js'), import('../drivers/af-packet/index.js')]);
    const d = await openAfPacket({ ifname: process.env.BYWAY_CONN_IF!, tpacketVersion: 2, hwAddress: new Uint8Array([2, 0xb7, 0, 0, 0x0e, 3]), promiscuous: true });
    if (values.count) {
      const inner = d as unknown as { native: Record<string, (...a: unknown[]) => unknown> };
      const native = inner.native;
      const wrapped = Object.create(native) as Record<string, (...a: unknown[]) => unknown>;
      const clockNow = performance.now.bind(performance);
      for (const k of ['rxBatch', 'rxRelease', 'rxWait', 'rxPending', 'txAlloc', 'txSubmit']) {
        const f = native[k]!;
        wrapped[k] = (...a: unknown[]) => (bump(`addon ${k}`), f.apply(native, a));
      }
      const rxWait = native.rxWait!;
      wrapped.rxWait = (...a: unknown[]) => {
        bump('addon rxWait');
        const t0 = clockNow();
        const r = rxWait.apply(native, a) as number;
        counts['spin us'] = (counts['spin us'] ?? 0) + (clockNow() - t0) * 1000;
        if (r > 0) bump('spin hits');
        return r;
      };
      // The doorbell's time (its send() carries the frames through the veth into the peer's TCP), in us.
      const submit = native.txSubmit!;
      wrapped.txSubmit = (...a: unknown[]) => {
        bump('addon txSubmit');
        const t0 = clockNow();
        const c0 = process.cpuUsage();
        const r = submit.apply(native, a);
        const c1 = process.cpuUsage(c0);
        counts['doorbell us'] = (counts['doorbell us'] ?? 0) + (clockNow() - t0) * 1000;
        counts['doorbell cpu us'] = (counts['doorbell cpu us'] ?? 0) + c1.user + c1.system;
        return r;
      };
      wrapped.setReady = (h: unknown, cb: unknown) => native.setReady!(h, typeof cb === 'function' ? () => (bump('ready callbacks'), (cb as () => void)()) : cb);
      inner.native = wrapped;
      performance.now = () => (bump('clock reads'), clockNow());
    }
    const spin = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
    const s = createStack({ driver: d, address: `${BYWAY}/24`, pollMode: values.mode as 'event' | 'busy', spinMs: spin(values['spin-ms']), spinUs: spin(values['spin-us']) });
    if (values.count) {
      const core = s.core as unknown as { poll: (...a: unknown[]) => number };
      const poll = core.poll.bind(core);
      core.poll = (...a: unknown[]) => (bump('NetStack.poll'), poll(...a));
      const st = setTimeout;
      globalThis.setTimeout = ((...a: Parameters<typeof setTimeout>) => (bump('setTimeout'), st(...a))) as typeof setTimeout;
    }
    if (values.workload === 'http') {
      const app = http.createServer(hello);
      s.net.createServer((c) => app.emit('connection', c.on('error', () => {}))).listen(PORT, BYWAY);
    } else s.net.createServer((c) => c.on('data', (b: Buffer) => c.write(b)).on('error', () => {})).listen(PORT, BYWAY);
    stats = () => ({ 'frames in': d.stats.rxFrames, 'frames out': d.stats.txFrames, 'context switches': process.resourceUsage().voluntaryContextSwitches });
  }
  // --heap: V8's sampling heap profiler between the first two counts (garbage included), by allocating function.
  const session = values.heap ? new Session() : undefined;
  let counted = 0;
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (l: string) => {
    if (!l.includes('count')) return;
    if (session !== undefined && counted === 0) {
      session.connect();
      void session.post('HeapProfiler.startSampling', { samplingInterval: 128, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true } as object);
    } else if (session !== undefined && counted === 1) {
      void session.post('HeapProfiler.stopSampling').then((r) => printHeap((r as unknown as { profile: { head: HeapNode } }).profile.head));
    }
    counted++;
    const u = process.cpuUsage();
    const cpuMs = (u.user + u.system) / 1000;
    console.log(JSON.stringify({ cpuMs, counts: { ...counts, ...stats(), ...threadCpu() } }));
  });
  process.stdin.on('end', () => process.exit(0));
  console.log('ready');
}

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/** The sampled bytes by allocating function (and its caller), to stderr. */
function printHeap(head: HeapNode): void {
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode, parent: string): void => {
    const f = n.callFrame;
    const name = f.functionName || '(anonymous)';
    if (n.selfSize > 0) {
      const k = `${name} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}:${f.columnNumber + 1} <- ${parent}`;
      bySite.set(k, (bySite.get(k) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, name);
  };
  walk(head, '');
  process.stderr.write(`heap: ${total} bytes sampled between the counts; by site:\n`);
  for (const [k, v] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 30)) process.stderr.write(`  ${String(v).padStart(10)} ${k}\n`);
}

/** CPU time (us) of this process's threads by name (/proc, 10 ms ticks): the main thread against V8's and libuv's. */
function threadCpu(): Record<string, number> {
  const out: Record<string, number> = {};
  if (!values.count) return out;
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const k = `cpu us ${t === String(process.pid) ? "main thread" : `${name} ${t}`}`;
      out[k] = (out[k] ?? 0) + (Number(f[11]) + Number(f[12])) * 10_000;
    } catch {
      // the thread ended
    }
  }
  return out;
}

interface Server {
  count(): Promise<{ cpuMs: number; counts: Record<string, number> }>;
  stop(): Promise<void>;
}

async function startServer(role: string, ns: string, ifname: string, prof: string | undefined): Promise<Server> {
  const flags = (process.env.BYWAY_CONN_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
  const args = ['netns', 'exec', ns, ...(values.pin ? ['taskset', '-c', '1'] : []), process.execPath, ...flags, ...(prof && role === 'byway' ? ['--cpu-prof', '--cpu-prof-dir', prof] : []), '--import', 'tsx', fileURLToPath(import.meta.url), '--role', role, '--mode', values.mode!, '--workload', values.workload!, ...(values.count ? ['--count'] : []), ...(values.dist ? ['--dist'] : []), ...(values.heap ? ['--heap'] : []), ...(['spin-ms', 'spin-us'] as const).flatMap((k) => (values[k] === undefined ? [] : [`--${k}`, values[k]!]))];
  const child: ChildProcess = spawn('ip', args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, BYWAY_CONN_IF: ifname } });
  // The server's own lines are 'ready' and JSON; anything else (a --trace flag's output) goes to stderr.
  const next = childLines(child, `${role} server`, 30_000, (line) => line === 'ready' || line.startsWith('{"cpuMs"'));
  const ready = await next();
  if (ready !== 'ready') throw new Error(`${role} server: ${ready}`);
  return {
    async count() {
      child.stdin!.write('count\n');
      return JSON.parse(await next()) as { cpuMs: number; counts: Record<string, number> };
    },
    stop: () =>
      new Promise<void>((r) => {
        child.once('exit', () => r());
        child.stdin!.end(); // the child exits (and writes its profile) when stdin ends
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      }),
  };
}

async function main(): Promise<void> {
  const seconds = Number(values.seconds);
  const lab = new NetLab();
  process.on('SIGINT', () => {
    lab.destroy();
    process.exit(130);
  });
  try {
    const dir = mkdtempSync(join(tmpdir(), 'byway-conn-'));
    const load = join(dir, 'scale-load');
    execFileSync('cc', ['-O2', '-Wall', '-o', load, join(HERE, 'lib/scale-load.c')], { stdio: 'inherit', timeout: 60_000 });
    // --pin: the server on vCPU 1, the load on vCPU 0 (the veth's softirq work runs on the sender's CPU).
    const loadCmd = values.pin ? 'taskset' : load;
    const loadPre = values.pin ? ['-c', '0', load] : [];
    const nsA = lab.addNetns('bwcA-');
    const nsB = lab.addNetns('bwcB-');
    const { a: vethA } = lab.addVeth(nsA, nsB, { addrA: `${KERNEL}/24`, addrB: `${PEER}/24`, txChecksumOffload: true });
    const rows: Record<string, { tps: number[]; us: number[]; per: Record<string, number>[] }> = {};
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const role of values.servers!.split(',')) {
        const server = await startServer(role, nsA, vethA, values.prof);
        try {
          // Warm-up (not counted): the JIT's compiles run on V8's worker threads, whose CPU the process's total has.
          if (Number(values.warm) > 0) await execInAsync(nsB, loadCmd, [...loadPre, values.workload!, role === 'kernel' ? KERNEL : BYWAY, String(PORT), values.conns!, values.warm!], { timeoutMs: 30_000 });
          const before = await server.count();
          const r = await execInAsync(nsB, loadCmd, [...loadPre, values.workload!, role === 'kernel' ? KERNEL : BYWAY, String(PORT), values.conns!, String(seconds)], { timeoutMs: (seconds + 20) * 1000 });
          if (r.code !== 0) throw new Error(`scale-load failed: ${r.stderr}`);
          await new Promise((res) => setTimeout(res, 200));
          const after = await server.count();
          const m = /done (\d+) errors (\d+)/.exec(r.stdout)!;
          const done = Number(m[1]);
          const us = ((after.cpuMs - before.cpuMs) * 1000) / Math.max(1, done);
          const per: Record<string, number> = {};
          for (const [k, v] of Object.entries(after.counts)) per[k] = (v - (before.counts[k] ?? 0)) / Math.max(1, done);
          const row = (rows[role] ??= { tps: [], us: [], per: [] });
          row.tps.push(done / seconds);
          row.us.push(us);
          row.per.push(per);
          const perText = Object.entries(per).sort().map(([k, v]) => `${k} ${v < 0.1 ? v.toFixed(4) : v.toFixed(2)}`).join(', ');
          console.log(`round ${round} ${role.padEnd(6)} ${(done / seconds / 1000).toFixed(1)}k transactions/s, errors ${m[2]}, server CPU ${us.toFixed(2)} us/transaction${perText ? `\n  per transaction: ${perText}` : ''}`);
        } finally {
          await server.stop();
        }
      }
    }
    console.log('\nmedians (min-max)');
    for (const [role, r] of Object.entries(rows)) {
      console.log(`${role.padEnd(6)} ${(median(r.tps) / 1000).toFixed(1)}k/s (${(Math.min(...r.tps) / 1000).toFixed(1)}-${(Math.max(...r.tps) / 1000).toFixed(1)}k), ${median(r.us).toFixed(2)} us CPU/transaction (${Math.min(...r.us).toFixed(2)}-${Math.max(...r.us).toFixed(2)})`);
    }
  } finally {
    lab.destroy();
  }
}

if (values.role !== undefined) await serve(values.role);
else await main();
