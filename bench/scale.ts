/**
 * Scaling over cores (issue #19): byway with 1 and 2 workers (src/cluster: worker threads, each an AF_PACKET fanout
 * member) against the kernel path with 1 and 2 Node processes (node:cluster), in one run, on one veth pair with two
 * queues. Variants `run-N` (not in the default list): the same servers as an unmodified program under
 * `byway run --workers N` (N processes on the fanout group; counters from `byway stat` on the supervisor). The load comes from bench/lib/scale-load.c in the peer namespace (C, one thread, epoll), on the same two
 * vCPUs: what the load generator takes, the servers do not get.
 *
 *   namespace A (servers)                                namespace B (load)
 *   vethA 10.77.13.1 kernel path (scale-kernel.cjs)  <-> vethB 10.77.13.2  scale-load udp|tcp|http
 *   byway 10.77.13.3 (own MAC) on vethA, fanout group
 *
 * Workloads, each `--seconds` long: UDP receive (64-byte datagrams from 64 flows, unpaced: the datagrams the
 * server's sockets took per second), TCP transactions (64 connections, 64-byte request and echo), HTTP requests
 * (64 keep-alive connections, GET / with a 17-byte body). `--rounds` rounds (default 3), variants in turn within a
 * round; medians with min-max, CPU time of the server per operation, and bench/jitter.ts on every vCPU first.
 *
 *   node --import tsx bench/scale.ts [--seconds 3] [--rounds 3] [--variants byway-1,byway-2,kernel-1,kernel-2,run-1,run-2,xdp-1,xdp-2]
 * (xdp-N: the worker-thread cluster on the veth's AF_XDP queues instead of the fanout group)
 *                                    [--workloads udp,tcp,http] [--warm 1] [--out bench/results/scale-DATE.json]
 *                                    [--spin-ms MS] [--spin-us US] [--perf]
 * --spin-ms, --spin-us: the byway cluster's poll-loop spin window and native spin (createStack's spinMs, spinUs);
 * a variant may carry its own after `~`, to alternate settings within each round: `byway-2~spinMs=0,spinUs=0`.
 * Beside CPU per operation: the server's context switches per operation, voluntary (it slept on readiness) and
 * involuntary (preempted), of all its threads (getrusage; for byway-N the bench process, which holds the cluster).
 * The load generator's own CPU time per operation (getrusage, printed by scale-load), and the machine's (/proc/stat:
 * all vCPUs, busy and idle, whoever ran; read by scale-load at the edges of its counted seconds, the ksoftirqd
 * threads' share over the load process's life), per operation: on a veth the sender's system time includes the receiver's
 * protocol work (softirq in the sending syscall), so a server's CPU alone does not say what an operation costs.
 * --perf: the server's system calls by kind per operation (`perf stat` on tracepoints, bench/lib/scale-perf.ts).
 * --warm S: each server first serves every workload for S seconds, not counted (default 1; 0 for none), so the
 * figures are of a warm server, as a service runs, not of V8's first seconds (compiling on its threads cost byway's
 * servers about 8 us per transaction then: docs/performance-targets.md, "Many connections in event mode").
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startCluster, type Cluster } from '../src/cluster/index.js';
import { query } from '../src/control/client.js';
import { NetLab, execInAsync } from '../test/helpers/netns.js';
import { measureJitter } from './lib/jitter-run.js';
import { speedSummary } from './lib/vcpu-speed.js';
import { childLines } from './lib/child-lines.js';
import { median } from './lib/stats.js';
import { WORKER_COUNTERS } from './lib/scale-counters.js';
import { perfCount, threadsOf } from './lib/scale-perf.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    warm: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    out: { type: 'string' },
    variants: { type: 'string', default: 'byway-1,byway-2,kernel-1,kernel-2' },
    workloads: { type: 'string', default: 'udp,tcp,http' },
    'spin-ms': { type: 'string' },
    'spin-us': { type: 'string' },
    perf: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const WARM = Number(values.warm);
const ROUNDS = Number(values.rounds);
const KERNEL = '10.77.13.1';
const PEER = '10.77.13.2';
const BYWAY = '10.77.13.3';
const BYWAY_MAC = new Uint8Array([0x02, 0xb7, 0, 0, 0x0d, 0x03]);
const PORTS = { udp: 7001, tcp: 7000, http: 8080 } as const;
/** The byway cluster's stack options from --spin-ms / --spin-us (the poll loop's spin window and native spin). */
const STACK: { spinMs?: number; spinUs?: number } = {
  ...(values['spin-ms'] === undefined ? {} : { spinMs: Number(values['spin-ms']) }),
  ...(values['spin-us'] === undefined ? {} : { spinUs: Number(values['spin-us']) }),
};
/** A variant's own tuning after `~` (`byway-2~spinMs=0,spinUs=0`), over --spin-ms / --spin-us. */
function stackOf(tuning: string | undefined): typeof STACK {
  const out = { ...STACK };
  for (const kv of tuning?.split(',') ?? []) {
    const [k, v] = kv.split('=');
    if ((k !== 'spinMs' && k !== 'spinUs') || !(Number(v) >= 0)) throw new Error(`variant tuning: ${kv}? (spinMs=MS or spinUs=US)`);
    out[k] = Number(v);
  }
  return out;
}
type Workload = keyof typeof PORTS;

const lab = new NetLab();
process.on('SIGINT', () => {
  lab.destroy();
  process.exit(130);
});

/** What a server reports: datagrams its sockets received, its CPU time (ms) and its context switches, so far. */
interface Counts {
  udp: number;
  cpuMs: number;
  /** Voluntary (the server slept: a wait for readiness) and involuntary (preempted) context switches, if known. */
  vcsw?: number;
  ivcsw?: number;
  /** byway cluster: WORKER_COUNTERS summed over the workers (scale-worker.ts). */
  workers?: Record<string, number>;
  /** byway cluster: the CPU time (us) of the bench process's threads by kind (threadKinds). */
  threads?: Record<string, number>;
}

/**
 * The CPU time (us, clock ticks of 10 ms) of this process's threads, by kind: 'main' (the bench and the cluster's
 * primary: its relays), 'workers' (the byway workers' threads, from their own counters), 'other' (the rest: V8's
 * GC and compile threads, libuv's pool; on Node 20 every thread is named 'node', so they are not told apart).
 */
function threadKinds(workersUs: number): Record<string, number> {
  let main = 0;
  let all = 0;
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const us = (Number(f[11]) + Number(f[12])) * 10_000;
      all += us;
      if (t === String(process.pid)) main = us;
    } catch {
      // the thread ended
    }
  }
  return { main, workers: workersUs, other: all - main - workersUs };
}

interface Server {
  count(): Promise<Counts>;
  stop(): Promise<void>;
  /** The server's thread ids, for --perf. */
  threads(): number[];
}

/** The worker-thread cluster: on an AF_PACKET fanout group, or (`xdp`) on the veth's AF_XDP queues (native, copy mode). */
async function bywayServer(workers: number, nsA: string, vethA: string, xdp: boolean, stack: typeof STACK): Promise<Server> {
  const shared = new SharedArrayBuffer(workers * WORKER_COUNTERS.length * 8);
  const slots = new Float64Array(shared);
  const c: Cluster = await startCluster({
    workers,
    file: new URL('./lib/scale-worker.ts', import.meta.url),
    driver: xdp
      ? { kind: 'af-xdp', ifname: vethA, netns: nsA, hwAddress: BYWAY_MAC, attachMode: 'native', bindMode: 'copy' }
      : { kind: 'af-packet', ifname: vethA, netns: nsA, hwAddress: BYWAY_MAC, tpacketVersion: 2 },
    address: `${BYWAY}/24`,
    stack,
    data: { counters: shared },
  });
  return {
    async count() {
      const s = await c.stats();
      const r = process.resourceUsage();
      await new Promise((res) => setTimeout(res, 120)); // the workers' counters are at most 100 ms old
      const sums: Record<string, number> = {};
      WORKER_COUNTERS.forEach((k, i) => {
        let t = 0;
        for (let w = 0; w < workers; w++) t += slots[w * WORKER_COUNTERS.length + i]!;
        sums[k] = t;
      });
      return { udp: s.total.udp.rx, cpuMs: (r.userCPUTime + r.systemCPUTime) / 1000, vcsw: r.voluntaryContextSwitches, ivcsw: r.involuntaryContextSwitches, workers: sums, threads: threadKinds(sums.threadCpuUs!) };
    },
    stop: () => c.close(),
    threads: () => threadsOf(process.pid, false), // (the load generator is this process's child: not counted)
  };
}

async function kernelServer(workers: number, nsA: string): Promise<Server> {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', nsA, process.execPath, join(HERE, 'lib/scale-kernel.cjs'), String(workers), KERNEL], { stdio: ['pipe', 'pipe', 'inherit'] });
  const next = childLines(child, 'kernel server', 20_000);
  const ready = await next();
  if (ready !== 'ready') throw new Error(`kernel server: ${ready}`);
  return {
    async count() {
      child.stdin!.write('count\n');
      return JSON.parse(await next()) as Counts;
    },
    threads: () => threadsOf(child.pid!, true),
    stop: () => new Promise<void>((r) => {
      child.once('exit', () => r());
      child.stdin!.end();
      setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
    }),
  };
}

/** CPU time (user + system, ms) of a process so far, from /proc (clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

/**
 * The servers of scale-plain.cjs, unmodified, under `byway run --workers N` (its supervisor answers byway stat), on
 * the interface's MAC as `byway run` users have it (the cluster variants take a MAC of their own).
 */
async function runServer(workers: number, nsA: string, vethA: string): Promise<Server> {
  const cli = join(ROOT, 'src/cli/byway.ts');
  const child = spawn('ip', ['netns', 'exec', nsA, process.execPath, '--import', 'tsx', cli, 'run', '--workers', String(workers), '--driver', `af-packet:${vethA}`,
    '--address', `${BYWAY}/24`, '--', process.execPath, join(HERE, 'lib/scale-plain.cjs'), BYWAY], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const seen = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`byway run --workers ${workers} not ready in 60 s: ${out}`)), 60_000);
    const check = (d: Buffer): void => {
      out = (out + d.toString()).slice(-8192);
      if ((out.match(/^ready \d+$/gm) ?? []).length >= workers && /^byway run: pid \d+ /m.test(out)) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
  });
  await seen;
  const sup = Number(/^byway run: pid (\d+) /m.exec(out)![1]);
  return {
    async count() {
      const s = (await query(sup, { cmd: 'stat' })) as { stack: { udp: { rx: number } }; workers: Array<{ pid: number }> };
      const cpuMs = cpuMsOf(sup) + s.workers.reduce((a, w) => a + cpuMsOf(w.pid), 0);
      return { udp: s.stack.udp.rx, cpuMs };
    },
    threads: () => threadsOf(child.pid!, true),
    stop: () =>
      new Promise<void>((r) => {
        child.once('exit', () => r());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      }),
  };
}

interface Trial {
  readonly variant: string;
  readonly workload: Workload;
  readonly round: number;
  /** Datagrams received, or transactions/requests completed, per second. */
  readonly perSecond: number;
  readonly errors: number;
  /** What the load generator sent (udp), per second. */
  readonly offeredPerSecond?: number;
  /** Server CPU time per operation, microseconds. */
  readonly cpuUsPerOp: number;
  /** The server's voluntary and involuntary context switches per operation (all its threads; the byway cluster's bench process). */
  readonly vcswPerOp?: number;
  readonly ivcswPerOp?: number;
  /** byway cluster: the workers' counters per operation (WORKER_COUNTERS; threadCpuUs: the worker threads' own CPU). */
  readonly workersPerOp?: Record<string, number>;
  /** byway cluster: CPU time (us) per operation of the process's threads by kind (threadKinds). */
  readonly threadsUsPerOp?: Record<string, number>;
  /** The load generator's user and system CPU time (us) and voluntary context switches per operation. */
  readonly loadUserUsPerOp?: number;
  readonly loadSysUsPerOp?: number;
  readonly loadVcswPerOp?: number;
  /** --perf: the server's system calls (all, and by kind) and context switches per operation (scale-perf.ts). */
  readonly syscallsPerOp?: Record<string, number>;
  /**
   * The machine's (all vCPUs, all processes) busy CPU time (us) per operation, and the share of vCPU time idle; of
   * the busy time, per operation: in softirq (wherever it ran) and stolen, all over the load's counted seconds
   * (scale-load's `machine_us`); and the ksoftirqd threads' over the load process's life (ksoftirqdUs).
   */
  readonly machineBusyUsPerOp: number;
  readonly machineIdle: number;
  /**
   * Always `counted`: the machine figures cover the load's counted seconds. Records without it (before 2026-12-04,
   * 16:00 UTC) took them over the load process's whole life, which reads high per operation.
   */
  readonly machineWindow: 'counted';
  readonly machineSoftirqUsPerOp: number;
  readonly machineStealUsPerOp: number;
  readonly ksoftirqdUsPerOp: number;
}

/** The ids of the kernel's softirq threads (ksoftirqd/N), read once. */
let ksoftirqd: number[] | undefined;

/** The ksoftirqd threads' CPU time so far (us): softirq work deferred out of the processes. */
function ksoftirqdUs(): number {
  ksoftirqd ??= readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').startsWith('ksoftirqd/');
    } catch {
      return false;
    }
  }).map(Number);
  return ksoftirqd.reduce((a, p) => a + cpuMsOf(p) * 1000, 0);
}

async function trial(server: Server, nsB: string, load: string, variant: string, workload: Workload, round: number, seconds = SECONDS): Promise<Trial> {
  const host = variant.startsWith('kernel') ? KERNEL : BYWAY;
  const before = await server.count();
  const perf = values.perf ? await perfCount(server.threads()) : undefined;
  const k0 = ksoftirqdUs();
  const r = await execInAsync(nsB, load, [workload, host, String(PORTS[workload]), '64', String(seconds)], { timeoutMs: (seconds + 20) * 1000 });
  const k1 = ksoftirqdUs(); // (the load's exit, before the drain below and the counters' reads)
  const sys = await perf?.stop();
  if (r.code !== 0) throw new Error(`scale-load ${workload} failed: ${r.stderr}`);
  await new Promise((res) => setTimeout(res, 200)); // what is still in the rings drains into the counters
  const after = await server.count();
  const cpuMs = after.cpuMs - before.cpuMs;
  const ru = /cpu_us (\d+) (\d+) vcsw (\d+)/.exec(r.stdout);
  // The machine over the load's counted seconds, as scale-load read /proc/stat at their edges (the load process's
  // whole life is a few hundred ms longer: setup and exit, which per-operation figures must not include).
  const mw = /machine_us (\d+) (\d+) (\d+) (\d+)/.exec(r.stdout);
  if (mw === null) throw new Error(`scale-load ${workload} printed no machine_us line: ${r.stdout}`);
  const [busy, idle, softirq, steal] = mw.slice(1).map(Number) as [number, number, number, number];
  const per = (ops: number) => ({
    cpuUsPerOp: (cpuMs * 1000) / Math.max(1, ops),
    ...(ru === null ? {} : { loadUserUsPerOp: Number(ru[1]) / Math.max(1, ops), loadSysUsPerOp: Number(ru[2]) / Math.max(1, ops), loadVcswPerOp: Number(ru[3]) / Math.max(1, ops) }),
    ...(sys === undefined ? {} : { syscallsPerOp: Object.fromEntries(Object.entries(sys).map(([k, v]) => [k, v / Math.max(1, ops)])) }),
    machineBusyUsPerOp: busy / Math.max(1, ops),
    machineIdle: idle / Math.max(1, idle + busy),
    machineSoftirqUsPerOp: softirq / Math.max(1, ops),
    machineStealUsPerOp: steal / Math.max(1, ops),
    machineWindow: 'counted' as const,
    ksoftirqdUsPerOp: (k1 - k0) / Math.max(1, ops),
    ...(after.vcsw === undefined || before.vcsw === undefined ? {} : { vcswPerOp: (after.vcsw - before.vcsw) / Math.max(1, ops), ivcswPerOp: (after.ivcsw! - before.ivcsw!) / Math.max(1, ops) }),
    ...(after.workers === undefined ? {} : { workersPerOp: Object.fromEntries(Object.entries(after.workers).map(([k, v]) => [k, (v - before.workers![k]!) / Math.max(1, ops)])) }),
    ...(after.threads === undefined ? {} : { threadsUsPerOp: Object.fromEntries(Object.entries(after.threads).map(([k, v]) => [k, (v - (before.threads![k] ?? 0)) / Math.max(1, ops)])) }),
  });
  if (workload === 'udp') {
    const sent = Number(/sent (\d+)/.exec(r.stdout)![1]);
    const got = after.udp - before.udp;
    return { variant, workload, round, perSecond: got / seconds, errors: 0, offeredPerSecond: sent / seconds, ...per(got) };
  }
  const m = /done (\d+) errors (\d+)/.exec(r.stdout)!;
  const done = Number(m[1]);
  return { variant, workload, round, perSecond: done / seconds, errors: Number(m[2]), ...per(done) };
}

const fmt = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(1));

try {
  const dir = mkdtempSync(join(tmpdir(), 'byway-scale-'));
  const load = join(dir, 'scale-load');
  execFileSync('cc', ['-O2', '-Wall', '-o', load, join(HERE, 'lib/scale-load.c')], { stdio: 'inherit', timeout: 60_000 });
  console.log(`machine: ${cpus().length} vCPU ${cpus()[0]?.model ?? ''}; ${SECONDS} s per trial after ${WARM} s of warm-up per workload, ${ROUNDS} rounds`);
  const jitter = await measureJitter(ROOT, 2);
  console.log('jitter (share of a spinning thread\'s time lost, longest gap):', JSON.stringify(jitter));
  // Each vCPU's compute speed (in the record with the gaps): a vCPU that runs slower moves every figure taken on it.
  console.log(`vCPU compute speed (bench/lib/vcpu-speed.ts): ${speedSummary(jitter) ?? 'not measured'}`);
  const nsA = lab.addNetns('bwsA-');
  const nsB = lab.addNetns('bwsB-');
  const { a: vethA, b: vethB } = lab.addVeth(nsA, nsB, { addrA: `${KERNEL}/24`, addrB: `${PEER}/24`, queues: 2, txChecksumOffload: true });
  const variants = values.variants.split(',');
  const workloads = values.workloads.split(',') as Workload[];
  const trials: Trial[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const variant of variants) {
      const [name, tuning] = variant.split('~') as [string, string | undefined];
      const [kind, n] = name.split('-') as ['byway' | 'xdp' | 'kernel' | 'run', string];
      // An AF_XDP program serves as many queues as there are workers (ERR_XDP_QUEUES otherwise): the veth receives on
      // n queues for xdp-n, on both for the rest (over a veth the queue is the sender's choice, and native XDP on a
      // veth wants no more peer tx queues than its rx queues).
      const nq = kind === 'xdp' ? n : '2';
      for (const [ns, dev, dir] of [[nsB, vethB, 'tx'], [nsA, vethA, 'rx']] as const) {
        const q = await execInAsync(ns, 'ethtool', ['-L', dev, dir, nq], { timeoutMs: 10_000 });
        if (q.code !== 0 && !q.stderr.includes('unmodified')) throw new Error(`ethtool -L ${dev} ${dir} ${nq}: ${q.stderr.trim()}`);
      }
      const server = kind === 'byway' || kind === 'xdp' ? await bywayServer(Number(n), nsA, vethA, kind === 'xdp', stackOf(tuning)) : kind === 'run' ? await runServer(Number(n), nsA, vethA) : await kernelServer(Number(n), nsA);
      try {
        if (WARM > 0) for (const w of workloads) await trial(server, nsB, load, variant, w, round, WARM);
        for (const w of workloads) {
          const t = await trial(server, nsB, load, variant, w, round);
          trials.push(t);
          console.log(`round ${round} ${variant.padEnd(8)} ${w.padEnd(4)} ${fmt(t.perSecond)}/s${t.offeredPerSecond ? ` (offered ${fmt(t.offeredPerSecond)}/s)` : ''} errors ${t.errors}, server CPU ${t.cpuUsPerOp.toFixed(2)} us/op${t.vcswPerOp === undefined ? '' : `, csw/op ${t.vcswPerOp.toFixed(3)} vol ${t.ivcswPerOp!.toFixed(3)} invol`}`);
          if (t.workersPerOp) console.log(`         per op, workers: ${Object.entries(t.workersPerOp).map(([k, v]) => `${k} ${v.toFixed(k.endsWith('Us') ? 2 : 3)}`).join(', ')}`);
          console.log(`         per op, load generator: ${t.loadUserUsPerOp === undefined ? 'n/a' : `CPU ${t.loadUserUsPerOp.toFixed(2)} user + ${t.loadSysUsPerOp!.toFixed(2)} sys us, csw ${t.loadVcswPerOp!.toFixed(3)} vol`}; machine: busy ${t.machineBusyUsPerOp.toFixed(2)} us (softirq ${t.machineSoftirqUsPerOp.toFixed(2)}, ksoftirqd ${t.ksoftirqdUsPerOp.toFixed(2)}, steal ${t.machineStealUsPerOp.toFixed(2)}; not the server's or the load's: ${(t.machineBusyUsPerOp - t.cpuUsPerOp - (t.loadUserUsPerOp ?? 0) - (t.loadSysUsPerOp ?? 0)).toFixed(2)}), idle ${(t.machineIdle * 100).toFixed(0)} %`);
          if (t.syscallsPerOp) console.log(`         per op, server system calls (perf): ${Object.entries(t.syscallsPerOp).filter(([, v]) => v >= 0.0005).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
          if (t.threadsUsPerOp) console.log(`         CPU us per op by thread: ${Object.entries(t.threadsUsPerOp).filter(([, v]) => v > 0.005).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
        }
      } finally {
        await server.stop();
      }
    }
  }
  const summary: Record<string, Record<string, { median: number; min: number; max: number; cpuUsPerOp: number }>> = {};
  for (const w of workloads) {
    summary[w] = {};
    for (const v of variants) {
      const xs = trials.filter((t) => t.workload === w && t.variant === v);
      summary[w]![v] = {
        median: median(xs.map((t) => t.perSecond)),
        min: Math.min(...xs.map((t) => t.perSecond)),
        max: Math.max(...xs.map((t) => t.perSecond)),
        cpuUsPerOp: median(xs.map((t) => t.cpuUsPerOp)),
      };
    }
  }
  console.log('\nmedians (min-max) per second; ratios of medians');
  for (const w of workloads) {
    const s = summary[w]!;
    const row = variants.map((v) => `${v} ${fmt(s[v]!.median)} (${fmt(s[v]!.min)}-${fmt(s[v]!.max)}, ${s[v]!.cpuUsPerOp.toFixed(2)} us CPU/op)`).join('  ');
    const r = (a: string, b: string): string => (s[a] && s[b] ? (s[a]!.median / s[b]!.median).toFixed(2) : 'n/a');
    const runs =
      (s['run-2'] ? `  run-2/run-1 ${r('run-2', 'run-1')}  run-2/kernel-2 ${r('run-2', 'kernel-2')}` : '') +
      (s['xdp-2'] ? `  xdp-2/xdp-1 ${r('xdp-2', 'xdp-1')}  xdp-2/byway-2 ${r('xdp-2', 'byway-2')}` : '');
    console.log(`${w.padEnd(4)} ${row}\n     byway-2/byway-1 ${r('byway-2', 'byway-1')}  byway-2/kernel-2 ${r('byway-2', 'kernel-2')}  kernel-2/kernel-1 ${r('kernel-2', 'kernel-1')}${runs}`);
  }
  const out = values.out ?? join(ROOT, 'bench/results', `scale-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), seconds: SECONDS, warm: WARM, rounds: ROUNDS, cpus: cpus().length, jitter, trials, summary }, null, 1));
  console.log(`record: ${out}`);
} finally {
  lab.destroy();
}
