/**
 * byway benchmarks, side by side with the kernel path (needs root: namespaces, veth, AF_XDP, AF_PACKET, TAP).
 *
 *   node --import tsx bench/run.ts [options]        (npm run bench -- [options])
 *
 * Two namespaces joined by a veth pair (bench/lib/topology.ts). The peer is always Node on the kernel path in
 * namespace B (`ip netns exec B node bench/peer.ts`). The subject, in namespace A, is either Node on the kernel path
 * (`ip netns exec A node bench/peer.ts`) or byway (`node bench/peer.ts` with the driver's netns option) over
 * AF_XDP, AF_PACKET or TAP, in 'event' and 'busy' poll modes. One Node process per side in every case, the same
 * workload code on both (bench/lib/workloads.ts), so the figures are ratios. The sides run compiled
 * (dist/bench/peer.js, built at the start with tsconfig.bench.json), as users run the published package;
 * BYWAY_BENCH_SIDES=tsx runs them through tsx instead.
 *
 * With --symmetric, the ping-pong workloads (udp-pp, tcp-pp) also run with byway on BOTH ends, as sfnt-pingpong
 * runs OpenOnload on both hosts: for each AF_XDP / AF_PACKET path and poll mode, a second path
 * '<driver>/<mode>/both' whose peer is byway too (same driver kind and poll mode, address 10.77.9.4 on vethB,
 * started in the root namespace with the driver's netns option). Its figures are compared with the kernel path
 * (kernel on both ends). TAP is not covered (it would need a second TAP and bridge in namespace B).
 *
 * The floor (issue #12): paths 'floor-af-xdp' and 'floor-af-packet-v2' run bench/lib/floor.c, a busy-polling C
 * program, on both ends of the same veth (AF_XDP copy mode, or AF_PACKET TPACKET_V2 rings; the addresses of the
 * both-ends byway paths), for the UDP workloads (udp-pp, udp-stream, udp-capacity; bench/lib/floor-path.ts), and
 * floor-af-packet-v2 for TCP bulk receive with one connection (tcp-bulk-rx-1: bench/lib/tcp-sink-floor.c under a
 * kernel sender, one copy of every byte). The report divides each AF_XDP / AF_PACKET byway path by the floor of its
 * kind, beside byway/kernel.
 *
 * Workloads (modelled on sfnt-pingpong / sfnt-stream): UDP ping-pong half round trip (1, 64, 1024, 1472 B);
 * UDP 64 B one-way rate both ways (loss counted); UDP 64 B receive capacity ('udp-capacity': bench/lib/blast.c in
 * namespace B, paced and rate-stepped, doubling then bisecting; the highest rate received with under 0.1 % loss,
 * bench/lib/capacity.ts); TCP 64 B ping-pong; TCP bulk goodput with 1 and 4 connections both ways; connection
 * set-up rate (connect, one request, close); 10 000 idle connections (time to open, memory per connection); and
 * the in-process two-stack figures of bench/inmemory-tcp.ts. The ping-pongs also report the driver's kicks per
 * round trip (its `txKicks` counter, when the driver has one).
 *
 * Every run measures bench/jitter.ts on each vCPU at the start and at the end (--jitter seconds) and keeps the
 * figures in the record, beside the results.
 *
 * Output: progress on stdout, one JSON record in bench/results/<timestamp>.json, a Markdown table of byway/kernel
 * ratios on stdout, and docs/benchmarks.md (tables, SVG chart, machine, kernel, Node, command) unless --no-doc.
 * A driver that fails to open, or a workload that fails, is recorded with its error and the run goes on. A TCP bulk
 * transfer under 10 Mbit/s counts as failed ('ESTALLED', the figure in the message): on a veth that is a stall
 * (e.g. with offloads on, TPACKET_V2's 2 KiB frames cut every 64 KiB GSO packet of a kernel sender), not a rate.
 *
 * Options:
 *   --duration S     measured seconds per workload (default 2; --long: 10)
 *   --warmup S       warm-up seconds before each measurement (default 0.5; --long: 2)
 *   --long           longer runs (the defaults above)
 *   --paths LIST     kernel,af-xdp,af-packet,af-packet-v2,af-packet-tso,tap,tap-tso,floor-af-xdp,floor-af-packet-v2
 *                    (default all; af-packet is the driver's default TPACKET_V3 ring, af-packet-v2 the same driver
 *                    with tpacketVersion: 2; af-packet-tso and tap-tso add TCP segmentation offload: 64 KiB packets
 *                    the kernel cuts; floor-* are the C floor: UDP workloads, and tcp-bulk-rx-1 on AF_PACKET)
 *   --modes LIST     byway poll modes: event,busy (default both)
 *   --workloads LIST udp-pp,udp-stream,udp-capacity,tcp-pp,tcp-bulk,tcp-connrate,tcp-idle,inmemory (default all)
 *   --sizes LIST     UDP ping-pong sizes (default 1,64,1024,1472)
 *   --idle N         idle connections (default 10000)
 *   --repeat N       run every path N times, in rounds (kernel, byway..., kernel, byway...); figures are the medians
 *   --offloads M     on (default: the veth's and the TAP's kernel defaults on both ends, every path: the kernel path
 *                    as users run it), off (off on both ends, the secondary "same link settings" view, see
 *                    topology.ts), or gro (off but GRO on; only with --paths kernel,tap,tap-tso)
 *   --symmetric      also run udp-pp and tcp-pp with byway on both ends (paths '<driver>/<mode>/both'; not TAP)
 *   --pin            pin the subject to CPU 0 and the peer to CPU 1 (taskset), for every path; default: not pinned
 *   --reuse-sides    run all of a path's workloads in one pair of side processes (default: a fresh pair for each
 *                    workload, so no workload measures what an earlier one left in a process: see runPath)
 *   --jitter S       seconds of bench/jitter.ts per vCPU at the start and at the end (default 3; 0: not measured)
 *   --note TEXT      a note stored in the record and shown in the doc
 *   --out DIR        results directory (default bench/results)
 *   --no-doc         do not rewrite docs/benchmarks.md
 *   --verbose        echo the sides' stderr
 */
import { execFileSync } from 'node:child_process';
import { cpus, hostname, loadavg, release, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { privilegeProblem } from '../test/helpers/netns.js';
import { Side, killAllSides } from './lib/side.js';
import { BYWAY_A, BYWAY_PACKET_MAC, KERNEL_A, PEER_B, PEER_BYWAY_B, PEER_BYWAY_PACKET_MAC, SUBNET_PREFIX, Topology } from './lib/topology.js';
import { mergeRounds } from './lib/merge.js';
import { runInMemoryRounds } from './lib/inmemory-rounds.js';
import { cpuSplit, cpuStat, fmtCpuSplit } from './lib/cpu-split.js';
import { DEFAULT_SEARCH, judgeTrial, searchCapacity } from './lib/capacity.js';
import { buildCPrograms, killAllC, removeCPrograms, runC } from './lib/cprogs.js';
import { capacityOutcome, FLOOR_STACKS, FLOOR_WORKLOADS, runFloorPath, type FloorStack } from './lib/floor-path.js';
import { measureJitter } from './lib/jitter-run.js';
import { speedSummary } from './lib/vcpu-speed.js';
import { addKicksPerRoundTrip } from './lib/kicks.js';
import { renderFloorTable, renderRatioTable, renderSymmetricTable, writeDoc, type BenchRecord, type PathRecord, type WorkloadRecord } from './report.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------------- options

function opt(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string): boolean => process.argv.includes(name);
const list = (name: string, dflt: string[]): string[] => (opt(name) ?? dflt.join(',')).split(',').map((s) => s.trim()).filter(Boolean);

const long = flag('--long');
const durationMs = Math.round(Number(opt('--duration') ?? (long ? 10 : 2)) * 1000);
const warmupMs = Math.round(Number(opt('--warmup') ?? (long ? 2 : 0.5)) * 1000);
const drivers = list('--paths', ['kernel', 'af-xdp', 'af-packet', 'af-packet-v2', 'af-packet-tso', 'tap', 'tap-tso', ...FLOOR_STACKS]);
const modes = list('--modes', ['event', 'busy']) as Array<'event' | 'busy'>;
const workloads = list('--workloads', ['udp-pp', 'udp-stream', 'udp-capacity', 'tcp-pp', 'tcp-bulk', 'tcp-connrate', 'tcp-idle', 'inmemory']);
const sizes = list('--sizes', ['1', '64', '1024', '1472']).map(Number);
const idleCount = Number(opt('--idle') ?? 10000);
const offloadsMode = (opt('--offloads') ?? 'on') as 'off' | 'on' | 'gro';
if (!['off', 'on', 'gro'].includes(offloadsMode)) throw new Error(`--offloads must be off, on or gro, got ${offloadsMode}`);
if (offloadsMode === 'gro' && drivers.some((d) => !['kernel', 'tap', 'tap-tso'].includes(d))) {
  throw new Error('--offloads gro runs only the kernel and TAP paths (AF_PACKET would see 64 KiB frames, AF_XDP runs before GRO)');
}
const offloadsOff = offloadsMode !== 'on';
const outDir = resolve(opt('--out') ?? join(ROOT, 'bench/results'));
const verbose = flag('--verbose');
const repeat = Math.max(1, Math.floor(Number(opt('--repeat') ?? 1)));
const symmetric = flag('--symmetric');
const jitterS = Number(opt('--jitter') ?? 3);
// A capacity trial lasts about half the measured time, between 0.5 and 2 s (1 s by default).
const capacitySearch = { ...DEFAULT_SEARCH, trialS: Math.min(2, Math.max(0.5, durationMs / 2000)) };
// Two busy-polling sides (or two 'event' sides in their post-burst spin) that the scheduler puts on one vCPU take
// turns by time slice; pinning them apart is how sfnt-pingpong's two hosts would see it.
const pin = flag('--pin');
/** One pair of side processes for all of a path's workloads, as before 2026-12-05 (see runPath). */
const reuseSides = flag('--reuse-sides');
/** The workloads a both-ends-byway path runs (the ping-pongs: latency end to end, sfnt-pingpong's layout). */
const SYMMETRIC_WORKLOADS = ['udp-pp', 'tcp-pp'];

for (const [n, v] of [['--duration', durationMs], ['--warmup', warmupMs], ['--idle', idleCount], ['--jitter', jitterS]] as const) {
  if (!Number.isFinite(v) || v < 0) {
    console.error(`${n} must be a non-negative number`);
    process.exit(2);
  }
}

// ---------------------------------------------------------------------------------------------------- helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 2): number => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : NaN);
const load = (): number[] => loadavg().map((x) => round(x));
const errMsg = (e: unknown): string => {
  const x = e as { code?: string; message?: string };
  return `${x?.code ? x.code + ': ' : ''}${x?.message ?? String(e)}`;
};

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function log(line: string): void {
  process.stdout.write(line + '\n');
}

// BYWAY_BENCH_NODE_FLAGS: extra V8/Node flags for both sides of every path, for an A/B run (e.g. a larger young
// generation: '--max-semi-space-size=64'); recorded in the settings.
const EXTRA_NODE_FLAGS = (process.env.BYWAY_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
// The sides run compiled (dist/bench/peer.js and what it imports, built at the start with tsconfig.bench.json), as
// users run the published package; BYWAY_BENCH_SIDES=tsx runs them through tsx as before. tsx is not what users
// run, and it changes what is measured: it adds about 3 MB to each side's heap (6.0 MB compiled against 9.0 MB after
// importing src/api/stack), and V8 decides on mark-compacts by the heap's size (docs/performance-targets.md, branch
// rxgc): byway receiving through tsx showed 30-43 mark-compacts per 2 s window where compiled showed 3-6.
const COMPILED_SIDES = process.env.BYWAY_BENCH_SIDES !== 'tsx';
const NODE_ARGS = ['node', '--expose-gc', ...EXTRA_NODE_FLAGS, ...(COMPILED_SIDES ? ['dist/bench/peer.js'] : ['--import', 'tsx', 'bench/peer.ts'])];
// As many descriptors as the hard limit allows (10 000 sockets need more than the usual soft 1024; raising the
// hard limit needs CAP_SYS_RESOURCE, which these VMs do not give). prlimit, taskset and `ip netns exec` all exec, so the
// pid we hold is Node's own.
const NOFILE = Number(sh('sh', ['-c', 'ulimit -Hn'])) || 1024;
const PRLIMIT = ['prlimit', `--nofile=${NOFILE}:${NOFILE}`];

function sideCommand(role: 'peer' | 'subject', ns: string | undefined): string[] {
  const netns = ns ? ['ip', 'netns', 'exec', ns] : [];
  const taskset = pin ? ['taskset', '-c', role === 'subject' ? '0' : '1'] : [];
  return [...PRLIMIT, ...taskset, ...netns, ...NODE_ARGS, '--name', role];
}

// ---------------------------------------------------------------------------------------------------- workloads

interface Ctx {
  subject: Side;
  peer: Side;
  subjectAddr: string;
  peerAddr: string;
  nextPort: () => number;
  /** The peer's namespace (where the C sender of udp-capacity runs). */
  nsB: string;
}

type Metrics = Record<string, number>;
type WorkloadFn = (c: Ctx) => Promise<{ metrics: Metrics; raw: Record<string, unknown>; summary: string }>;

const T = (extra = 0): number => warmupMs + durationMs + 20_000 + extra;

async function withServer<R>(side: Side, kind: string, port: number, fn: (handle: number) => Promise<R>): Promise<{ r: R; final: Record<string, number> }> {
  const { handle } = await side.request<{ handle: number }>('server', { kind, port });
  try {
    const r = await fn(handle);
    await sleep(300); // let the tail drain before the final count
    const final = await side.request<Record<string, number>>('stop', { handle });
    return { r, final };
  } catch (e) {
    await side.request('stop', { handle }, 5000).catch(() => undefined);
    throw e;
  }
}

interface Lat {
  samples: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  meanUs: number;
}

function udpPingPong(size: number): WorkloadFn {
  return async (c) => {
    const port = c.nextPort();
    const { r, final } = await withServer(c.peer, 'udp-echo', port, () =>
      c.subject.request<{ halfRtt: Lat; roundTripsPerSec: number; lost: number; errors: number; cpuMs: number }>(
        'udpPingPong',
        { host: c.peerAddr, port, size, warmupMs, durationMs },
        T(),
      ),
    );
    const h = r.halfRtt;
    if (h.samples === 0) throw Object.assign(new Error(`no echo came back (lost ${r.lost}, errors ${r.errors})`), { code: 'ENOREPLY' });
    return {
      metrics: { p50Us: h.p50Us, p99Us: h.p99Us, p999Us: h.p999Us, meanUs: h.meanUs, roundTripsPerSec: r.roundTripsPerSec, lost: r.lost, subjectCpuMs: r.cpuMs },
      raw: { client: r, server: final },
      summary: `half-RTT p50 ${h.p50Us} us, p99 ${h.p99Us} us, p99.9 ${h.p999Us} us (${h.samples} samples, ${r.lost} lost)`,
    };
  };
}

function udpStream(dir: 'tx' | 'rx'): WorkloadFn {
  return async (c) => {
    const port = c.nextPort();
    const [sender, receiver, to] = dir === 'tx' ? [c.subject, c.peer, c.peerAddr] : [c.peer, c.subject, c.subjectAddr];
    let m0: Metrics = {};
    let m1: Metrics = {};
    const { r, final } = await withServer(receiver, 'udp-sink', port, async (handle) => {
      const blast = sender.request<{ sentTotal: number; sentPerSec: number; errors: number; errorCodes: Metrics; cpuMs: number }>(
        'udpBlast',
        { host: to, port, size: 64, warmupMs, durationMs },
        T(),
      );
      await sleep(warmupMs);
      m0 = await receiver.request<Metrics>('mark', { handle });
      await sleep(durationMs);
      m1 = await receiver.request<Metrics>('mark', { handle });
      return blast;
    });
    const receivedPerSec = Math.round((m1['received']! - m0['received']!) / ((m1['t']! - m0['t']!) / 1000));
    const lost = r.sentTotal - final['received']!;
    const lossPct = r.sentTotal ? round((100 * lost) / r.sentTotal, 3) : NaN;
    return {
      metrics: { sentPerSec: r.sentPerSec, receivedPerSec, lost, lossPct, sendErrors: r.errors, senderCpuMs: r.cpuMs },
      raw: { sender: r, receiverMarks: [m0, m1], receiverFinal: final },
      summary: `sent ${r.sentPerSec.toLocaleString('en')}/s, received ${receivedPerSec.toLocaleString('en')}/s, lost ${lost} of ${r.sentTotal} (${lossPct} %)${r.errors ? `, ${r.errors} send errors ${JSON.stringify(r.errorCodes)}` : ''}`,
    };
  };
}

/**
 * UDP receive capacity of the subject: bench/lib/blast.c in namespace B (pinned to the peer's CPU with --pin), paced
 * and rate-stepped by bench/lib/capacity.ts; each trial is counted by the subject's sink (marks before and after a
 * drain). A short slow blast first, not counted, so that neighbour resolution is not in the first trial.
 */
const udpCapacity: WorkloadFn = async (c) => {
  const progs = buildCPrograms();
  const port = c.nextPort();
  const blast = (pps: number, seconds: number): Promise<string> =>
    runC(['ip', 'netns', 'exec', c.nsB, ...(pin ? ['taskset', '-c', '1'] : []), progs.blast, 'udp', c.subjectAddr, String(port), '64', String(seconds), String(pps)], (seconds + 10) * 1000).done;
  const { r } = await withServer(c.subject, 'udp-sink', port, async (handle) => {
    await blast(1000, 0.3);
    await sleep(200);
    return searchCapacity(async (pps) => {
      const m0 = await c.subject.request<Metrics>('mark', { handle });
      const out = await blast(pps, capacitySearch.trialS);
      await sleep(300); // drain
      const m1 = await c.subject.request<Metrics>('mark', { handle });
      const sent = Number(/sent (\d+)/.exec(out)?.[1] ?? NaN);
      return judgeTrial(pps, sent, m1['received']! - m0['received']!, capacitySearch.trialS, capacitySearch.lossLimitPct);
    }, capacitySearch);
  });
  return capacityOutcome(r);
};

const tcpPingPong: WorkloadFn = async (c) => {
  const port = c.nextPort();
  const { r, final } = await withServer(c.peer, 'tcp-echo', port, () =>
    c.subject.request<{ halfRtt: Lat; roundTripsPerSec: number; errors: number; errorCodes: Metrics; cpuMs: number; connectMs: number }>(
      'tcpPingPong',
      { host: c.peerAddr, port, size: 64, warmupMs, durationMs },
      T(),
    ),
  );
  const h = r.halfRtt;
  if (h.samples === 0) throw Object.assign(new Error(`no transaction completed (errors ${JSON.stringify(r.errorCodes)})`), { code: 'ENOREPLY' });
  return {
    metrics: { transactionsPerSec: r.roundTripsPerSec, p50Us: h.p50Us, p99Us: h.p99Us, p999Us: h.p999Us, meanUs: h.meanUs, subjectCpuMs: r.cpuMs },
    raw: { client: r, server: final },
    summary: `${r.roundTripsPerSec.toLocaleString('en')} transactions/s, half-RTT p50 ${h.p50Us} us, p99 ${h.p99Us} us`,
  };
};

function tcpBulk(dir: 'tx' | 'rx', conns: number): WorkloadFn {
  return async (c) => {
    const port = c.nextPort();
    const [sender, receiver, to] = dir === 'tx' ? [c.subject, c.peer, c.peerAddr] : [c.peer, c.subject, c.subjectAddr];
    let m0: Metrics = {};
    let m1: Metrics = {};
    let c0: number[][] = [];
    let c1: number[][] = [];
    const { r, final } = await withServer(receiver, 'tcp-sink', port, async (handle) => {
      const send = sender.request<{ connected: number; bytesWritten: number; errors: number; errorCodes: Metrics; cpuMs: number }>(
        'tcpBulkSend',
        { host: to, port, conns, warmupMs, durationMs },
        T(),
      );
      await sleep(warmupMs);
      m0 = await receiver.request<Metrics>('mark', { handle });
      c0 = cpuStat();
      await sleep(durationMs);
      m1 = await receiver.request<Metrics>('mark', { handle });
      c1 = cpuStat();
      return send;
    });
    // How each vCPU spent the window (the whole machine): which side had time left.
    const vcpus = cpuSplit(c0, c1);
    const gbit = ((m1['bytes']! - m0['bytes']!) * 8) / ((m1['t']! - m0['t']!) / 1000) / 1e9;
    if (r.connected < conns && gbit === 0) throw Object.assign(new Error(`${r.connected} of ${conns} connections opened; errors ${JSON.stringify(r.errorCodes)}`), { code: 'ECONNFAIL' });
    // Under 10 Mbit/s on a veth is no slow transfer but a stalled one (e.g. every data packet dropped by the receiving
    // driver): a failure, with the figure in the message, so no table shows it as a ratio.
    if (gbit < STALLED_GBIT) {
      throw Object.assign(new Error(`stalled: ${round(gbit * 1000, 2)} Mbit/s at the receiver (${r.connected}/${conns} connected${r.errors ? `, errors ${JSON.stringify(r.errorCodes)}` : ''}); see the workload's counters`), { code: 'ESTALLED' });
    }
    // The receiving process's collections in the window (marks of bench/lib/workloads.ts's tcp-sink).
    const gcIn = (k: string): number => round((m1[k] ?? 0) - (m0[k] ?? 0), 1);
    const receiverGc = {
      minor: gcIn('gcMinor'),
      minorMs: gcIn('gcMinorMs'),
      major: gcIn('gcMajor'),
      majorMs: gcIn('gcMajorMs'),
      markCompacts: gcIn('gcMarkCompacts'),
      markCompactMs: gcIn('gcMarkCompactMs'),
      minorFaults: gcIn('minorFaults'),
    };
    return {
      metrics: { gbitPerSec: round(gbit, 3), connected: r.connected, senderCpuMs: r.cpuMs },
      raw: { sender: r, receiverMarks: [m0, m1], receiverFinal: final, receiverGc, vcpus },
      summary: `${round(gbit, 3)} Gbit/s goodput at the receiver (${r.connected}/${conns} connected${r.errors ? `, errors ${JSON.stringify(r.errorCodes)}` : ''}; receiver GC ${receiverGc.minorMs} ms in ${receiverGc.minor} scavenges, ${receiverGc.majorMs} ms in ${receiverGc.major} mark-compact steps, of which ${receiverGc.markCompacts} mark-compacts; vCPUs: ${fmtCpuSplit(vcpus)})`,
    };
  };
}

/** TCP bulk goodput below which the transfer counts as stalled (Gbit/s). */
const STALLED_GBIT = 0.01;

const tcpConnRate: WorkloadFn = async (c) => {
  const port = c.nextPort();
  const { r, final } = await withServer(c.peer, 'tcp-echo', port, () =>
    c.subject.request<{ completed: number; perSec: number; cycle: Lat; errors: number; errorCodes: Metrics; cpuMs: number }>(
      'tcpConnRate',
      { host: c.peerAddr, port, size: 64, concurrency: 1, warmupMs, durationMs },
      T(),
    ),
  );
  if (r.completed === 0) throw Object.assign(new Error(`no connection completed (errors ${JSON.stringify(r.errorCodes)})`), { code: 'ENOREPLY' });
  return {
    metrics: { connectionsPerSec: r.perSec, cycleP50Us: r.cycle.p50Us, cycleP99Us: r.cycle.p99Us, errors: r.errors, subjectCpuMs: r.cpuMs },
    raw: { client: r, server: final },
    summary: `${r.perSec.toLocaleString('en')} connections/s (connect, 64 B request/echo, close; cycle p50 ${r.cycle.p50Us} us)${r.errors ? `, errors ${JSON.stringify(r.errorCodes)}` : ''}`,
  };
};

const tcpIdle: WorkloadFn = async (c) => {
  const port = c.nextPort();
  const { handle } = await c.peer.request<{ handle: number }>('server', { kind: 'tcp-hold', port });
  // The workload's counters cover the close of every connection too (a burst of FINs and their answers); these
  // cover the opening alone (byway only; the kernel side answers with an empty set).
  const countersBefore = await c.subject.request<Metrics>('counters', {}, 5000).catch(() => undefined);
  try {
    const r = await c.subject.request<{
      requested: number;
      opened: number;
      openMs: number;
      openPerSec: number;
      errors: number;
      errorCodes: Metrics;
      rssPerConn: number;
      heapPerConn: number;
      externalPerConn: number;
      gcForced: boolean;
      cpuMs: number;
    }>('tcpIdleOpen', { host: c.peerAddr, port, count: idleCount, inflight: 128, timeoutMs: 90_000 }, 120_000);
    const peerMark = await c.peer.request<Metrics>('mark', { handle });
    const countersOpened = countersBefore ? await c.subject.request<Metrics>('counters', {}, 5000).catch(() => undefined) : undefined;
    const subjectStats = await c.subject.request<Record<string, unknown>>('stats', {}, 10_000);
    await c.subject.request('tcpIdleClose', {}, 30_000);
    if (r.opened === 0) throw Object.assign(new Error(`no connection opened (errors ${JSON.stringify(r.errorCodes)})`), { code: 'ECONNFAIL' });
    return {
      metrics: {
        opened: r.opened,
        openMs: r.openMs,
        openPerSec: r.openPerSec,
        rssPerConn: r.rssPerConn,
        heapPerConn: r.heapPerConn,
        externalPerConn: r.externalPerConn,
        peerAccepted: peerMark['accepted']!,
        errors: r.errors,
      },
      raw: {
        client: r,
        peer: peerMark,
        subjectMemory: subjectStats['memory'],
        subjectTcpConnections: subjectStats['tcpConnections'],
        countersWhileOpening: countersBefore && countersOpened ? counterDelta(countersBefore, countersOpened) : undefined,
      },
      summary: `${r.opened}/${r.requested} open in ${r.openMs} ms (${r.openPerSec.toLocaleString('en')}/s); process memory per connection: rss ${r.rssPerConn} B, heap ${r.heapPerConn} B, external ${r.externalPerConn} B${r.errors ? `; errors ${JSON.stringify(r.errorCodes)}` : ''}`,
    };
  } finally {
    await c.peer.request('stop', { handle }, 30_000).catch(() => undefined);
  }
};

function plan(spec: PathSpec): Array<{ id: string; fn: WorkloadFn; label: string }> {
  const p: Array<{ id: string; fn: WorkloadFn; label: string }> = [];
  if (workloads.includes('udp-pp')) for (const s of sizes) p.push({ id: `udp-pp-${s}`, fn: udpPingPong(s), label: `UDP ping-pong ${s} B` });
  if (workloads.includes('udp-stream')) {
    p.push({ id: 'udp-stream-tx', fn: udpStream('tx'), label: 'UDP 64 B one-way, subject sends' });
    p.push({ id: 'udp-stream-rx', fn: udpStream('rx'), label: 'UDP 64 B one-way, subject receives' });
  }
  if (workloads.includes('udp-capacity')) p.push({ id: 'udp-capacity', fn: udpCapacity, label: 'UDP 64 B receive capacity (< 0.1 % loss)' });
  if (workloads.includes('tcp-pp')) p.push({ id: 'tcp-pp-64', fn: tcpPingPong, label: 'TCP ping-pong 64 B' });
  if (workloads.includes('tcp-bulk')) {
    for (const n of [1, 4]) p.push({ id: `tcp-bulk-tx-${n}`, fn: tcpBulk('tx', n), label: `TCP bulk, subject sends, ${n} conn` });
    for (const n of [1, 4]) p.push({ id: `tcp-bulk-rx-${n}`, fn: tcpBulk('rx', n), label: `TCP bulk, subject receives, ${n} conn` });
  }
  if (workloads.includes('tcp-connrate')) p.push({ id: 'tcp-connrate', fn: tcpConnRate, label: 'TCP connect + 64 B request + close' });
  // Last: closing 10 000 connections at once sends a storm of FINs whose retransmissions would spill into the next
  // workload. (The rate test before it leaves a few thousand TIME-WAIT entries; the port range holds 28 000.)
  if (workloads.includes('tcp-idle')) p.push({ id: 'tcp-idle', fn: tcpIdle, label: `${idleCount} idle TCP connections` });
  return spec.peer === 'byway' ? p.filter((w) => SYMMETRIC_WORKLOADS.some((k) => w.id.startsWith(`${k}-`))) : p;
}

// ---------------------------------------------------------------------------------------------------- paths

interface PathSpec {
  id: string;
  stack: 'kernel' | 'af-xdp' | 'af-packet' | 'af-packet-v2' | 'af-packet-tso' | 'tap' | 'tap-tso' | FloorStack;
  mode: 'event' | 'busy' | null;
  /**
   * What runs in namespace B: the kernel path (every path by default), byway with the subject's driver and mode, or
   * (floor paths) bench/lib/floor.c, which also is the subject.
   */
  peer: 'kernel' | 'byway' | 'floor';
}

function pathSpecs(): PathSpec[] {
  const out: PathSpec[] = [];
  if (drivers.includes('kernel')) out.push({ id: 'kernel', stack: 'kernel', mode: null, peer: 'kernel' });
  for (const d of ['af-xdp', 'af-packet', 'af-packet-v2', 'af-packet-tso', 'tap', 'tap-tso'] as const) {
    if (!drivers.includes(d)) continue;
    for (const m of modes) out.push({ id: `${d}/${m}`, stack: d, mode: m, peer: 'kernel' });
  }
  if (symmetric && workloads.some((w) => SYMMETRIC_WORKLOADS.includes(w))) {
    // After the one-sided paths, so those keep their place in each round. TAP is left out (see the header).
    for (const d of ['af-xdp', 'af-packet', 'af-packet-v2'] as const) {
      if (!drivers.includes(d)) continue;
      for (const m of modes) out.push({ id: `${d}/${m}/both`, stack: d, mode: m, peer: 'byway' });
    }
  }
  if (workloads.some((w) => FLOOR_WORKLOADS.includes(w))) {
    for (const f of FLOOR_STACKS) if (drivers.includes(f)) out.push({ id: f, stack: f, mode: 'busy', peer: 'floor' });
  }
  return out;
}

class Sides {
  subject!: Side;
  peer!: Side;
  init: Record<string, unknown> = {};
  commands: Record<string, string> = {};

  constructor(private readonly topo: Topology, private readonly spec: PathSpec) {}

  async start(): Promise<void> {
    const { nsA, nsB, vethA, vethB, tapA } = this.topo.info;
    const bywayPeer = this.spec.peer === 'byway';
    // A byway peer starts in the root namespace and opens its driver in B with the driver's netns option, as the
    // byway subject does in A.
    this.peer = new Side('peer', sideCommand('peer', bywayPeer ? undefined : nsB), ROOT, verbose);
    const kernel = this.spec.stack === 'kernel';
    this.subject = new Side('subject', sideCommand('subject', kernel ? nsA : undefined), ROOT, verbose);
    this.commands = { peer: this.peer.command.join(' '), subject: this.subject.command.join(' ') };
    await Promise.all([this.peer.ready, this.subject.ready]);
    const isPacket = this.spec.stack === 'af-packet' || this.spec.stack === 'af-packet-v2' || this.spec.stack === 'af-packet-tso';
    const peerArgs = bywayPeer
      ? {
          stack: this.spec.stack,
          address: PEER_BYWAY_B,
          prefixLen: SUBNET_PREFIX,
          ifname: vethB,
          netns: nsB,
          pollMode: this.spec.mode,
          ...(isPacket ? { mac: PEER_BYWAY_PACKET_MAC } : {}),
        }
      : { stack: 'kernel', address: PEER_B };
    const peerInit = await this.peer.request('init', peerArgs, 20_000);
    const subjectArgs = kernel
      ? { stack: 'kernel', address: KERNEL_A }
      : {
          stack: this.spec.stack,
          address: BYWAY_A,
          prefixLen: SUBNET_PREFIX,
          ifname: this.spec.stack === 'tap' || this.spec.stack === 'tap-tso' ? tapA : vethA,
          netns: nsA,
          pollMode: this.spec.mode,
          ...(isPacket ? { mac: BYWAY_PACKET_MAC } : {}),
        };
    const subjectInit = await this.subject.request('init', subjectArgs, 20_000);
    this.init = { peer: peerInit, subject: subjectInit, subjectArgs, ...(bywayPeer ? { peerArgs } : {}) };
  }

  async stop(): Promise<void> {
    await Promise.all([this.subject?.close(), this.peer?.close()]);
  }

  /** True when both sides answer a cheap request. */
  async healthy(): Promise<boolean> {
    try {
      await Promise.all([this.subject.request('stats', {}, 5000), this.peer.request('stats', {}, 5000)]);
      return true;
    } catch {
      return false;
    }
  }
}

function counterDelta(a: Metrics, b: Metrics): Metrics {
  const d: Metrics = {};
  for (const [k, v] of Object.entries(b)) {
    const x = v - (a[k] ?? 0);
    if (x !== 0) d[k] = x;
  }
  return d;
}

async function runPath(topo: Topology, spec: PathSpec, nextPort: () => number): Promise<PathRecord> {
  if (spec.peer === 'floor') {
    try {
      return await runFloorPath(spec.stack as FloorStack, {
        topo: topo.info,
        progs: buildCPrograms(),
        pin,
        workloads,
        sizes,
        warmupMs,
        durationMs,
        capacity: capacitySearch,
        nextPort,
        log,
      });
    } catch (e) {
      log(`\n== ${spec.id}: could not run: ${errMsg(e)}`);
      return { id: spec.id, stack: spec.stack, mode: spec.mode, peer: 'floor', ok: false, error: errMsg(e), loadavgStart: load(), workloads: {}, restarts: 0 };
    }
  }
  const rec: PathRecord = { id: spec.id, stack: spec.stack, mode: spec.mode, ...(spec.peer === 'byway' ? { peer: 'byway' as const } : {}), ok: true, loadavgStart: load(), workloads: {}, restarts: 0 };
  const what = spec.stack === 'kernel' ? '(node:net / node:dgram in namespace A)' : `(byway over ${spec.stack}, pollMode '${spec.mode}'${spec.peer === 'byway' ? `, on both ends: peer byway at ${PEER_BYWAY_B} in B` : ''})`;
  log(`\n== ${spec.id} ${what}  load ${rec.loadavgStart.join(' ')}`);
  let bridged = false;
  let sides: Sides | undefined;
  const subjectAddr = spec.stack === 'kernel' ? KERNEL_A : BYWAY_A;
  const peerAddr = spec.peer === 'byway' ? PEER_BYWAY_B : PEER_B;
  try {
    if (spec.stack === 'tap' || spec.stack === 'tap-tso') {
      topo.bridgeTap();
      bridged = true;
    }
    topo.flushNeighbours();
    sides = new Sides(topo, spec);
    try {
      await sides.start();
    } catch (e) {
      rec.ok = false;
      rec.error = errMsg(e);
      log(`   could not start: ${rec.error}`);
      return rec;
    }
    rec.init = sides.init;
    rec.commands = sides.commands;
    /** Both sides stopped and started again; false (recorded in rec) when the new ones did not start. */
    const restart = async (): Promise<boolean> => {
      await sides!.stop();
      topo.flushNeighbours();
      sides = new Sides(topo, spec);
      try {
        await sides.start();
        return true;
      } catch (e) {
        rec.ok = false;
        rec.error = `restart failed: ${errMsg(e)}`;
        log(`   restart failed: ${rec.error}`);
        return false;
      }
    };
    let first = true;
    for (const w of plan(spec)) {
      // Every workload in a fresh pair of processes (unless --reuse-sides): what a process ran before changes what
      // it measures. A node:net receiver that had served a UDP ping-pong took TCP bulk at 2.4-3.1 Gbit/s where a
      // fresh one took 16.6-21.8 on the same veth (glibc returned the top of its heap to the kernel after each
      // 64 KiB read buffer and faulted it in again for the next: with MALLOC_TOP_PAD_ set, 22 Gbit/s): every
      // kernel-path bulk figure of the runs since 2026-12-03 22:00 was that, docs/performance-targets.md.
      if (!first && !reuseSides && !(await restart())) break;
      first = false;
      const t0 = performance.now();
      const wr: WorkloadRecord = { ok: false, label: w.label, loadavg: load() };
      const before = spec.stack === 'kernel' ? undefined : await sides.subject.request<Metrics>('counters', {}, 5000).catch(() => undefined);
      const peerBefore = spec.peer === 'byway' ? await sides.peer.request<Metrics>('counters', {}, 5000).catch(() => undefined) : undefined;
      try {
        const r = await w.fn({ subject: sides.subject, peer: sides.peer, subjectAddr, peerAddr, nextPort, nsB: topo.info.nsB });
        Object.assign(wr, { ok: true, metrics: r.metrics, raw: r.raw });
        log(`   ${w.label.padEnd(40)} ${r.summary}`);
      } catch (e) {
        wr.error = errMsg(e);
        log(`   ${w.label.padEnd(40)} FAILED: ${wr.error}`);
      }
      const kicksCounted = { subject: false, peer: false };
      if (before) {
        // What the byway stack and driver counted during this workload (drops, retransmissions...), non-zero only.
        const after = await sides.subject.request<Metrics>('counters', {}, 5000).catch(() => undefined);
        if (after) wr.counters = counterDelta(before, after);
        kicksCounted.subject = after !== undefined && 'driver.txKicks' in after;
      }
      if (peerBefore) {
        const after = await sides.peer.request<Metrics>('counters', {}, 5000).catch(() => undefined);
        if (after) wr.peerCounters = counterDelta(peerBefore, after);
        kicksCounted.peer = after !== undefined && 'driver.txKicks' in after;
      }
      if (w.id.startsWith('udp-pp-') || w.id === 'tcp-pp-64') addKicksPerRoundTrip(wr, kicksCounted);
      const uncaught = [...sides.subject.uncaught.splice(0), ...sides.peer.uncaught.splice(0)];
      if (uncaught.length) wr.uncaught = uncaught;
      wr.seconds = round((performance.now() - t0) / 1000, 1);
      rec.workloads[w.id] = wr;
      if (!wr.ok && !(await sides.healthy())) {
        // A side that stopped answering is replaced, so one failure does not take the rest of the path with it: at
        // once with --reuse-sides, else by the next workload's fresh pair.
        rec.restarts++;
        if (reuseSides) {
          log('   (restarting both sides)');
          if (!(await restart())) break;
        }
      }
    }
    try {
      rec.subjectStats = await sides.subject.request('stats', {}, 5000);
    } catch {
      // not essential
    }
  } catch (e) {
    rec.ok = false;
    rec.error = errMsg(e);
    log(`   FAILED: ${rec.error}`);
  } finally {
    await sides?.stop();
    if (bridged) topo.unbridgeTap();
    rec.loadavgEnd = load();
  }
  return rec;
}

async function runInMemory(): Promise<Record<string, unknown>> {
  log('\n== in-memory (two byway stacks in one process, bench/inmemory-tcp.ts)');
  // Sized for about a second each at the speeds of 2026-12-04 (veth-like 12 Gbit/s, 400k transactions/s; 200 MB
  // and 50,000 transactions were an eighth of that, and run H read 15-20 % below the issue's own
  // `npm run bench:inmemory` in the same hour); --long gives five times as much. One process per round, `--repeat`
  // rounds, the figures their medians (bench/lib/inmemory-rounds.ts); compiled like the sides unless
  // BYWAY_BENCH_SIDES=tsx.
  const k = long ? 5 : 1;
  const script = COMPILED_SIDES ? 'dist/bench/inmemory-tcp.js' : 'bench/inmemory-tcp.ts';
  const pre = COMPILED_SIDES ? [] : ['--import', 'tsx'];
  const args = ['--all', '--json', '--bytes', String(1_000_000_000 * k), '--transactions', String(400_000 * k)];
  const command = ['node', ...pre, script, ...args].join(' ') + (repeat > 1 ? ` (${repeat} rounds)` : '');
  try {
    const merged = runInMemoryRounds([...pre, script, ...args], repeat, ROOT, log);
    return { ok: true, command, loadavg: load(), ...merged };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    const why = (err.stderr?.trim().split('\n').slice(-3).join(' | ') || err.message).slice(0, 500);
    log(`   FAILED: ${why}`);
    return { ok: false, command, error: why };
  }
}

// ---------------------------------------------------------------------------------------------------- main

function jitterSummary(per: NonNullable<BenchRecord['jitter']>['start']): string {
  const gaps = Object.entries(per ?? {})
    .map(([cpu, f]) => ('error' in f ? `${cpu} failed: ${f.error}` : `${cpu} lost ${f.lostPct} %, longest gap ${f.maxUs} us, ${f.gapsPerSec['>10us']} gaps > 10 us/s`))
    .join('; ');
  const speed = speedSummary(per ?? {});
  return speed === undefined ? gaps : `${gaps}\n   compute speed: ${speed}`;
}

async function main(): Promise<void> {
  const problem = privilegeProblem({ native: false });
  if (problem) {
    console.error(`bench: cannot run: ${problem}`);
    process.exit(1);
  }
  if (COMPILED_SIDES) {
    // tsc from this checkout's node_modules; about 10 s. A type error stops the run (tsc exits non-zero).
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.bench.json')], { cwd: ROOT, timeout: 300_000, stdio: 'inherit' });
  }
  const started = new Date();
  const command = process.env['npm_lifecycle_event'] === 'bench' ? `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}` : `node --import tsx ${relative(ROOT, process.argv[1]!)} ${process.argv.slice(2).join(' ')}`.trim();
  const cpu = cpus();
  const record: BenchRecord = {
    version: 1,
    startedAt: started.toISOString(),
    command,
    note: opt('--note'),
    machine: {
      hostname: hostname(),
      cpuModel: cpu[0]?.model ?? 'unknown',
      cpus: cpu.length,
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      kernel: release(),
      os: sh('sh', ['-c', '. /etc/os-release && echo "$PRETTY_NAME"']),
      node: process.version,
      gitCommit: sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
      gitDirty: sh('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'drivers', 'protocols', 'bench']) !== '',
      // The native addon is rebuilt by whoever changes drivers/native; which build ran is part of the record.
      addon: sh('sh', ['-c', 'f=drivers/native/build/Release/byway_native.node; [ -f $f ] && echo "$(sha256sum $f | cut -c1-16) built $(date -u -r $f +%FT%TZ)"']),
    },
    settings: { durationMs, warmupMs, sizes, idleCount, paths: drivers, modes, workloads, symmetric, offloadsOff, offloads: offloadsMode, nodeFlags: EXTRA_NODE_FLAGS, sides: COMPILED_SIDES ? 'dist (compiled)' : 'tsx', repeat, cpuPinning: pin ? 'subject on CPU 0, peer on CPU 1 (taskset)' : 'none (scheduler places both processes)', nofile: NOFILE, sidesPerWorkload: reuseSides ? 'one pair per path (--reuse-sides)' : 'a fresh pair per workload' },
    loadavgStart: load(),
    topology: undefined,
    paths: [],
    inmemory: undefined,
  };
  log(`byway bench: ${command}`);
  log(`${record.machine.cpus} x ${record.machine.cpuModel}, Linux ${record.machine.kernel}, Node ${record.machine.node}, load ${record.loadavgStart.join(' ')}`);
  log(`each workload: ${warmupMs} ms warm-up + ${durationMs} ms measured`);
  if (idleCount + 256 > NOFILE) log(`warning: the descriptor limit (${NOFILE}) is too low for ${idleCount} idle connections on the kernel path`);

  let topo: Topology | undefined;
  const cleanup = (): void => {
    killAllSides();
    killAllC();
    topo?.destroy();
    removeCPrograms();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`\n${sig}: cleaning up`);
      cleanup();
      process.exit(130);
    });
  }
  let port = 20000;
  const nextPort = (): number => port++;
  if (jitterS > 0) {
    log(`\njitter (bench/jitter.ts, ${jitterS} s on each vCPU at once): start`);
    record.jitter = { seconds: jitterS, start: await measureJitter(ROOT, jitterS) };
    log(`   ${jitterSummary(record.jitter.start!)}`);
  }
  try {
    const specs = pathSpecs();
    if (specs.length) {
      topo = new Topology({ offloads: offloadsMode });
      record.topology = { ...topo.info, offloadState: topo.offloadState(), addresses: { kernelA: KERNEL_A, peerB: PEER_B, bywayA: BYWAY_A, bywayPacketMac: BYWAY_PACKET_MAC, ...(symmetric ? { peerBywayB: PEER_BYWAY_B, peerBywayPacketMac: PEER_BYWAY_PACKET_MAC } : {}) } };
      if (offloadsOff && !topo.info.offloadsApplied) log(`warning: could not turn offloads off: ${topo.info.offloadError}`);
      const rounds: PathRecord[][] = [];
      for (let r = 1; r <= repeat; r++) {
        if (repeat > 1) log(`\n##### round ${r} of ${repeat}`);
        const paths: PathRecord[] = [];
        for (const spec of specs) paths.push(await runPath(topo, spec, nextPort));
        rounds.push(paths);
      }
      if (repeat > 1) record.rounds = rounds;
      record.paths = mergeRounds(rounds);
      record.sockstatEnd = { A: topo.sockstat(topo.info.nsA), B: topo.sockstat(topo.info.nsB) };
    }
  } finally {
    cleanup();
  }
  if (workloads.includes('inmemory')) record.inmemory = await runInMemory();
  if (record.jitter) {
    log(`\njitter: end`);
    record.jitter.end = await measureJitter(ROOT, jitterS);
    log(`   ${jitterSummary(record.jitter.end)}`);
  }
  record.loadavgEnd = load();
  record.finishedAt = new Date().toISOString();

  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  log(`\nrecord: ${relative(ROOT, file)}`);
  log(`\nbyway / kernel (same veth, same process layout; ${record.settings['offloads'] === 'on' ? 'offloads on, the kernel defaults' : `offloads ${String(record.settings['offloads'])}: the secondary "same link settings" view`}; median (lowest-highest) of per-round ratios; see docs/benchmarks.md for what each row means)\n`);
  log(renderRatioTable(record));
  const floorTable = renderFloorTable(record);
  if (floorTable) {
    log('\nbyway / floor (bench/lib/floor.c busy-polling the same kind of raw interface on both ends)\n');
    log(floorTable);
  }
  if (record.paths.some((p) => p.peer === 'byway')) {
    log('\nbyway on both ends / kernel on both ends (the subject and the peer run the same stack; sfnt-pingpong layout)\n');
    log(renderSymmetricTable(record));
  }
  if (!flag('--no-doc')) {
    const doc = join(ROOT, 'docs/benchmarks.md');
    writeDoc(record, doc, relative(ROOT, file));
    log(`\nwrote ${relative(ROOT, doc)}`);
  }
}

main().catch((e) => {
  killAllSides();
  console.error(e);
  process.exit(1);
});

