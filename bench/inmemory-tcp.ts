/**
 * Two byway stacks in one process on the in-memory link, no faults: TCP bulk goodput and 64-byte request/response
 * transactions per second, on one core. Time is the wall clock (performance.now) passed into the stacks, so TCP's
 * timers run in real time.
 *   node --import tsx bench/inmemory-tcp.ts [--link ethernet|veth|loopback | --all] [--bytes N] [--transactions N]
 *        [--mtu N] [--offload] [--tso] [--no-gro] [--cpu N] [--json]
 * --link names what the in-memory link imitates (default ethernet):
 *   ethernet  MTU 1500 (or --mtu), software checksums on both ends: the stack's whole per-segment and per-byte cost.
 *   veth      MTU 1500, the link claims checksum offload both ways, as a veth at its defaults does (the kernel
 *             passes CHECKSUM_PARTIAL to the peer, which does not verify).
 *   loopback  MTU 65535, checksums not computed, as Linux's loopback device (MTU 65536, CHECKSUM_UNNECESSARY):
 *             the configuration in-memory figures of other stacks are usually taken on.
 * --all runs the three in turn (`npm run bench:inmemory`).
 * --offload: the memory link claims checksum offload both ways (as a NIC would), so no software checksum pass.
 * --tso: the link also segments (caps.tso, 64 KiB packets; implies --offload): the sender's per-packet work is
 *   paid once per 64 KiB, the link's cutting (drivers/memory/tso.ts, in JS) and the receiver's per-segment work
 *   stay.
 * --no-gro: both stacks without software GRO (src/stack/gro.ts), for A/B runs.
 * --isn N: both stacks' connections start at ISN N (the `isn` TCP option) instead of RFC 6528's hash: a sequence
 *   number at or above 2^30 is no small integer for V8 (a heap number whenever it is passed to a call not inlined),
 *   so `--isn 1000` against `--isn 3000000000` measures what that costs.
 * --heap: also sample what the transactions allocate (the inspector's sampling heap profiler, every 128 bytes,
 *   objects the garbage collector already took included) and print the bytes per transaction and the functions
 *   that allocate most. Load-independent, unlike the rates; the harness's own clock reads are in it (about 31 B).
 * --views: the bulk receiver takes the receive queue's bytes as views (`readView`, as a net.Socket does for 'data';
 *   slabs from Buffer.allocUnsafeSlow, as the API's) instead of copying them into one reused buffer (`read`).
 * --warmup N: before each configuration's timed bulk and transactions, untimed runs of each on two fresh pairs of
 *   stacks (N/2 bytes of bulk and N/8000 transactions on each; default 200000000, `--warmup 0` for none), so the
 *   figures are V8's optimised code in steady state, as a long-running service runs, not the interpreter and
 *   baseline tiers of a process's first second (200 MB measured cold ran at 5-6 Gbit/s where the same code in
 *   steady state ran at 11-14), nor the deoptimisations a second connection causes.
 * --cpu N: run pinned to vCPU N (the script runs itself again under `taskset -c N`; Node cannot set its own
 *   affinity), print where it ran, and that vCPU's compute speed (bench/lib/vcpu-speed.ts, the figure bench/jitter.ts
 *   records) before and after the runs, in the --json record too (`cpu`). The vCPUs of these VMs have differed by
 *   1.5x in speed for minutes (docs/performance-targets.md, issue #12), and an unpinned run lands on either.
 * Each figure is given against wall time and against the process's CPU time (user + system), which a busy shared
 * machine disturbs less, with the vCPU the process was on when the timing started and ended (`ranOn` in the
 * record). With --json the last line of output is one JSON record (bench/run.ts folds it into its results): the
 * first configuration's figures at the top level, every configuration's under `links`.
 */
import { Session } from 'node:inspector';
import { makePair, type Pair } from './lib/pair-entry.js';
import { lastRanOn, pinToCpu, placement } from './lib/pin-cpu.js';
import { fmtSpeed, measureVcpuSpeed } from './lib/vcpu-speed.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

interface LinkConfig {
  name: string;
  mtu: number;
  offload: boolean;
  tso: boolean;
}

const LINKS = ['ethernet', 'veth', 'loopback'] as const;
type LinkName = (typeof LINKS)[number];

function linkConfig(name: LinkName): LinkConfig {
  const tso = process.argv.includes('--tso');
  const offload = tso || process.argv.includes('--offload');
  if (name === 'veth') return { name, mtu: arg('--mtu', 1500), offload: true, tso };
  if (name === 'loopback') return { name, mtu: arg('--mtu', 65535), offload: true, tso: false };
  return { name, mtu: arg('--mtu', 1500), offload, tso };
}

function chosenLinks(): LinkName[] {
  if (process.argv.includes('--all')) return [...LINKS];
  const i = process.argv.indexOf('--link');
  if (i < 0) return ['ethernet'];
  const v = process.argv[i + 1] as LinkName;
  if (!LINKS.includes(v)) {
    console.error(`--link must be one of ${LINKS.join(', ')}, got ${String(v)}`);
    process.exit(2);
  }
  return [v];
}

const gro = !process.argv.includes('--no-gro');
const views = process.argv.includes('--views');
const fixedIsn = process.argv.includes('--isn') ? arg('--isn', 0) : undefined;

/** A fresh pair of stacks for `cfg` (bench/lib/pair-entry.ts, the loops ab-inprocess times too). */
const pair = (cfg: LinkConfig): Pair => makePair({ ...cfg, gro, views, ...(fixedIsn !== undefined ? { isn: fixedIsn } : {}) });

function bulk(cfg: LinkConfig, total: number): number {
  pair(cfg).bulk(total);
  return total;
}

function transactions(cfg: LinkConfig, count: number): number {
  pair(cfg).transactions(count);
  return count;
}

/** Heap sampling around `f` (--heap): bytes allocated per unit of `f`'s result, and the top allocating functions. */
function sampled(f: () => number): { result: number; perUnit: number; top: [string, number][] } {
  const s = new Session();
  s.connect();
  // A session of this thread answers synchronously: the callbacks have run when post returns.
  s.post('HeapProfiler.startSampling', { samplingInterval: 128, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true } as object);
  const result = f();
  let head: HeapNode | undefined;
  s.post('HeapProfiler.stopSampling', (err, r) => {
    if (err === null) head = (r as unknown as { profile: { head: HeapNode } }).profile.head;
  });
  s.disconnect();
  if (head === undefined) throw new Error('heap sampling gave no profile');
  const by = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode): void => {
    total += n.selfSize;
    const k = `${n.callFrame.functionName || '(anonymous)'}:${n.callFrame.lineNumber + 1}`;
    by.set(k, (by.get(k) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(head);
  const top = [...by].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]): [string, number] => [k, v / result]);
  return { result, perUnit: total / result, top };
}

interface HeapNode {
  callFrame: { functionName: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/**
 * Runs `f` (setup included: a handshake, well under a millisecond) and returns its result per wall second and per
 * CPU second (user + system of the whole process), and the vCPU the process was on when `f` started and when it
 * ended (`ranOn`; an unpinned process lands on either, and these VMs' vCPUs have differed by 1.4x in speed for a
 * whole run).
 */
function timed(f: () => number): { wall: number; cpu: number; seconds: number; cpuSeconds: number; ranOn: [number | null, number | null] } {
  const from = lastRanOn() ?? null;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const work = f();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpuSeconds = (c.user + c.system) / 1e6;
  return { wall: work / seconds, cpu: work / cpuSeconds, seconds, cpuSeconds, ranOn: [from, lastRanOn() ?? null] };
}

/** " on vCPU 1", " on vCPU 0 -> 1" (started on one, ended on the other), or nothing when /proc did not say. */
function onCpu(r: [number | null, number | null]): string {
  if (r[0] === null || r[1] === null) return '';
  return r[0] === r[1] ? ` on vCPU ${r[0]}` : ` on vCPU ${r[0]} -> ${r[1]}`;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const cpuArg = process.argv.includes('--cpu') ? arg('--cpu', NaN) : undefined;
if (cpuArg !== undefined && !(Number.isInteger(cpuArg) && cpuArg >= 0)) {
  console.error(`--cpu must be a vCPU number, got ${String(process.argv[process.argv.indexOf('--cpu') + 1])}`);
  process.exit(2);
}
// With --cpu, the first process re-runs this script under taskset and exits here with its status.
const pinned = await pinToCpu(cpuArg);
const speedStart = pinned ? measureVcpuSpeed() : undefined;
if (pinned) console.log(`pinned to vCPU ${pinned.cpu} (allowed: ${pinned.allowed ?? '?'}, running on ${pinned.lastRan ?? '?'}); its compute speed before the runs: ${fmtSpeed(speedStart!)}`);
const bytes = arg('--bytes', 200_000_000);
const count = arg('--transactions', 100_000);
const warmup = arg('--warmup', 200_000_000);
const results = [];
for (const name of chosenLinks()) {
  const cfg = linkConfig(name);
  const what = `${cfg.name}: MTU ${cfg.mtu}, ${cfg.offload ? 'checksum offload' : 'software checksums'}${cfg.tso ? ', TSO' : ''}${views ? ', read as views' : ''}`;
  if (warmup > 0) {
    // Each half on a pair of its own: a fresh pair's first tens of thousands of transactions ran 20-25 % slower
    // after a warm-up on one pair (V8 deoptimised code shaped by the first pair: its sequence numbers small integers
    // where the next pair's ISN was not, code holding the collected pair's objects); a third pair ran at once at the
    // steady rate (2026-12-05, 50,000-transaction slices).
    for (const half of [0, 1]) {
      bulk(cfg, Math.floor(warmup / 2) + half * (warmup % 2));
      transactions(cfg, Math.max(1, Math.round(warmup / 8000)));
    }
  }
  const b = timed(() => bulk(cfg, bytes));
  console.log(`${what}: bulk ${(bytes / 1e6).toFixed(0)} MB: ${((b.wall * 8) / 1e9).toFixed(2)} Gbit/s (${((b.cpu * 8) / 1e9).toFixed(2)} per CPU-second)${onCpu(b.ranOn)}`);
  const t = timed(() => transactions(cfg, count));
  console.log(`${what}: request/response 64 B: ${Math.round(t.wall).toLocaleString('en')} transactions/s (${Math.round(t.cpu).toLocaleString('en')} per CPU-second)${onCpu(t.ranOn)}`);
  if (process.argv.includes('--heap')) {
    const h = sampled(() => transactions(cfg, count));
    console.log(`${what}: request/response 64 B: ${h.perUnit.toFixed(0)} B allocated per transaction (sampled; top: ${h.top.map(([k, v]) => `${k} ${v.toFixed(1)} B`).join(', ')})`);
  }
  results.push({
    link: cfg.name,
    mtu: cfg.mtu,
    checksumOffload: cfg.offload,
    tso: cfg.tso,
    readViews: views,
    warmup: { bytes: warmup, transactions: warmup > 0 ? 2 * Math.max(1, Math.round(warmup / 8000)) : 0, pairs: warmup > 0 ? 2 : 0 },
    bulk: { bytes, gbitPerSec: r3((b.wall * 8) / 1e9), gbitPerCpuSec: r3((b.cpu * 8) / 1e9), seconds: r3(b.seconds), cpuSeconds: r3(b.cpuSeconds), ranOn: b.ranOn },
    transactions: { count, size: 64, perSec: Math.round(t.wall), perCpuSec: Math.round(t.cpu), seconds: r3(t.seconds), cpuSeconds: r3(t.cpuSeconds), ranOn: t.ranOn },
  });
}
const cpu = pinned ? { ...placement(pinned.cpu), speedStart: speedStart!, speedEnd: measureVcpuSpeed() } : undefined;
if (cpu) console.log(`vCPU ${cpu.cpu} (last ran on ${cpu.lastRan ?? '?'}): compute speed before the runs ${fmtSpeed(cpu.speedStart)}, after ${fmtSpeed(cpu.speedEnd)}`);
if (process.argv.includes('--json')) {
  const first = results[0]!;
  console.log(JSON.stringify({ mtu: first.mtu, bulk: first.bulk, transactions: first.transactions, links: results, ...(cpu ? { cpu } : {}) }));
}
