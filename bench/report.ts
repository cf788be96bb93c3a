/**
 * Turns a benchmark record (bench/results/<timestamp>.json, written by bench/run.ts) into Markdown tables of
 * byway/kernel ratios and absolute figures, an SVG chart, and docs/benchmarks.md. Pure rendering, except
 * `writeDoc` and the CLI:
 *
 *   node --import tsx bench/report.ts bench/results/<timestamp>.json [--doc docs/benchmarks.md]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { median } from './lib/stats.js';
import { fmtSpeed, speedSummary, type VcpuSpeed } from './lib/vcpu-speed.js';
import type { InMemoryRound } from './lib/inmemory-rounds.js';

export interface WorkloadRecord {
  ok: boolean;
  label: string;
  loadavg: number[];
  metrics?: Record<string, number>;
  raw?: Record<string, unknown>;
  error?: string;
  uncaught?: string[];
  seconds?: number;
  /** With --repeat: how many rounds ran this workload, and in how many it succeeded (metrics are their medians). */
  rounds?: number;
  okRounds?: number;
  /** byway paths: non-zero changes of the driver's and stack's counters during the workload (summed over rounds). */
  counters?: Record<string, number>;
  /** Paths with a byway peer (--symmetric): the same, counted by the peer. */
  peerCounters?: Record<string, number>;
}

export interface PathRecord {
  id: string;
  stack: 'kernel' | 'af-xdp' | 'af-packet' | 'af-packet-v2' | 'af-packet-tso' | 'tap' | 'tap-tso' | 'floor-af-xdp' | 'floor-af-packet-v2';
  mode: 'event' | 'busy' | null;
  /**
   * 'byway' when the peer in namespace B ran byway too (same driver kind and poll mode; --symmetric); 'floor' for
   * the floor paths (bench/lib/floor.c on both ends); else the kernel path.
   */
  peer?: 'kernel' | 'byway' | 'floor';
  ok: boolean;
  error?: string;
  loadavgStart: number[];
  loadavgEnd?: number[];
  init?: Record<string, unknown>;
  commands?: Record<string, string>;
  workloads: Record<string, WorkloadRecord>;
  restarts: number;
  subjectStats?: unknown;
}

export interface BenchRecord {
  version: 1;
  startedAt: string;
  finishedAt?: string;
  command: string;
  note?: string | undefined;
  machine: { hostname: string; cpuModel: string; cpus: number; memoryGiB: number; kernel: string; os: string; node: string; gitCommit: string; gitDirty: boolean; addon?: string };
  settings: Record<string, unknown>;
  loadavgStart: number[];
  loadavgEnd?: number[];
  topology: Record<string, unknown> | undefined;
  /** The merged view (medians over rounds when --repeat was given). */
  paths: PathRecord[];
  /** With --repeat N: every round's own path records, raw results included. */
  rounds?: PathRecord[][];
  inmemory: Record<string, unknown> | undefined;
  sockstatEnd?: Record<string, string>;
  /** bench/jitter.ts on each vCPU at once, at the start and at the end of the run (absent in older records). */
  jitter?: { seconds: number; start?: Record<string, JitterFigures | { error: string }>; end?: Record<string, JitterFigures | { error: string }> };
}

/** What bench/jitter.ts prints with --json. */
export interface JitterFigures {
  seconds: number;
  readNs: number;
  gapsPerSec: Record<string, number>;
  lostPct: number;
  maxUs: number;
  gcs: number;
  involuntarySwitches: number;
  voluntarySwitches: number;
  /** The vCPU's compute speed (bench/lib/vcpu-speed.ts); absent in records from before 2026-12-04's eleventh session. */
  speed?: VcpuSpeed;
}

/** One row of the comparison: a metric of a workload, its unit, and which way is better. */
export interface MetricSpec {
  readonly workload: string;
  readonly metric: string;
  readonly label: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  /** Shown in the SVG chart (the headline rows). */
  readonly chart?: boolean;
  /** A figure with no kernel counterpart (driver kicks): in the absolute tables only, never a ratio. */
  readonly noRatio?: boolean;
}

export function metricSpecs(rec: BenchRecord): MetricSpec[] {
  const sizes = (rec.settings['sizes'] as number[] | undefined) ?? [1, 64, 1024, 1472];
  const idle = (rec.settings['idleCount'] as number | undefined) ?? 10000;
  const m: MetricSpec[] = [];
  for (const s of sizes) {
    m.push({ workload: `udp-pp-${s}`, metric: 'p50Us', label: `UDP ping-pong ${s} B, half-RTT p50`, unit: 'us', better: 'lower', chart: true });
    m.push({ workload: `udp-pp-${s}`, metric: 'p99Us', label: `UDP ping-pong ${s} B, half-RTT p99`, unit: 'us', better: 'lower' });
    m.push({ workload: `udp-pp-${s}`, metric: 'p999Us', label: `UDP ping-pong ${s} B, half-RTT p99.9`, unit: 'us', better: 'lower' });
    m.push({ workload: `udp-pp-${s}`, metric: 'kicksPerRoundTrip', label: `UDP ping-pong ${s} B, driver kicks per round trip`, unit: 'kicks', better: 'lower', noRatio: true });
    m.push({ workload: `udp-pp-${s}`, metric: 'peerKicksPerRoundTrip', label: `UDP ping-pong ${s} B, peer's driver kicks per round trip`, unit: 'kicks', better: 'lower', noRatio: true });
  }
  m.push({ workload: 'udp-stream-tx', metric: 'sentPerSec', label: 'UDP 64 B one-way, subject sends: sent/s', unit: '/s', better: 'higher', chart: true });
  m.push({ workload: 'udp-stream-tx', metric: 'receivedPerSec', label: 'UDP 64 B one-way, subject sends: received/s at peer', unit: '/s', better: 'higher' });
  m.push({ workload: 'udp-stream-tx', metric: 'lossPct', label: 'UDP 64 B one-way, subject sends: loss', unit: '%', better: 'lower' });
  m.push({ workload: 'udp-stream-rx', metric: 'receivedPerSec', label: 'UDP 64 B one-way, subject receives: received/s', unit: '/s', better: 'higher', chart: true });
  m.push({ workload: 'udp-stream-rx', metric: 'lossPct', label: 'UDP 64 B one-way, subject receives: loss', unit: '%', better: 'lower' });
  m.push({ workload: 'udp-capacity', metric: 'capacityPerSec', label: 'UDP 64 B receive capacity (C sender, < 0.1 % loss): received/s', unit: '/s', better: 'higher', chart: true });
  m.push({ workload: 'tcp-pp-64', metric: 'transactionsPerSec', label: 'TCP ping-pong 64 B: transactions/s', unit: '/s', better: 'higher', chart: true });
  m.push({ workload: 'tcp-pp-64', metric: 'p50Us', label: 'TCP ping-pong 64 B: half-RTT p50', unit: 'us', better: 'lower' });
  m.push({ workload: 'tcp-pp-64', metric: 'p99Us', label: 'TCP ping-pong 64 B: half-RTT p99', unit: 'us', better: 'lower' });
  m.push({ workload: 'tcp-pp-64', metric: 'kicksPerRoundTrip', label: 'TCP ping-pong 64 B: driver kicks per round trip', unit: 'kicks', better: 'lower', noRatio: true });
  m.push({ workload: 'tcp-pp-64', metric: 'peerKicksPerRoundTrip', label: "TCP ping-pong 64 B: peer's driver kicks per round trip", unit: 'kicks', better: 'lower', noRatio: true });
  for (const d of ['tx', 'rx'] as const) {
    for (const n of [1, 4]) {
      m.push({ workload: `tcp-bulk-${d}-${n}`, metric: 'gbitPerSec', label: `TCP bulk, subject ${d === 'tx' ? 'sends' : 'receives'}, ${n} conn: goodput`, unit: 'Gbit/s', better: 'higher', chart: true });
    }
  }
  m.push({ workload: 'tcp-connrate', metric: 'connectionsPerSec', label: 'TCP connect + 64 B request + close: per s', unit: '/s', better: 'higher', chart: true });
  m.push({ workload: 'tcp-idle', metric: 'openMs', label: `${idle} idle TCP connections: time to open`, unit: 'ms', better: 'lower', chart: true });
  m.push({ workload: 'tcp-idle', metric: 'rssPerConn', label: `${idle} idle TCP connections: process RSS per connection`, unit: 'B', better: 'lower' });
  m.push({ workload: 'tcp-idle', metric: 'heapPerConn', label: `${idle} idle TCP connections: JS heap per connection`, unit: 'B', better: 'lower' });
  return m;
}

function value(p: PathRecord | undefined, s: MetricSpec): number | undefined {
  const w = p?.workloads[s.workload];
  if (!w?.ok || !w.metrics) return undefined;
  const v = w.metrics[s.metric];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** byway / kernel for one metric, or undefined when either is missing (or the kernel figure is 0). */
export function ratio(kernel: number | undefined, byway: number | undefined): number | undefined {
  if (kernel === undefined || byway === undefined || kernel === 0) return undefined;
  return byway / kernel;
}

function fmtRatio(r: number | undefined): string {
  if (r === undefined) return '–';
  if (r >= 100) return r.toFixed(0);
  if (r >= 10) return r.toFixed(1);
  return r.toFixed(2);
}

function fmtNum(v: number | undefined, unit: string): string {
  if (v === undefined) return '–';
  if (unit === '/s' || unit === 'B' || unit === 'ms') return Math.round(v).toLocaleString('en');
  if (unit === 'Gbit/s') return v.toFixed(3);
  if (unit === '%' || unit === 'kicks') return v.toFixed(2);
  return v.toFixed(1);
}

/** byway subject, kernel peer: the paths of the main tables. */
function bywayPaths(rec: BenchRecord): PathRecord[] {
  return rec.paths.filter((p) => p.stack !== 'kernel' && p.peer !== 'byway' && p.peer !== 'floor');
}

/** The floor paths (bench/lib/floor.c on both ends). */
export function floorPaths(rec: BenchRecord): PathRecord[] {
  return rec.paths.filter((p) => p.peer === 'floor');
}

/** The floor path a byway path is compared with: the same kind of raw interface (TAP has none). */
export function floorFor(p: PathRecord): string | undefined {
  if (p.stack === 'af-xdp') return 'floor-af-xdp';
  if (p.stack === 'af-packet' || p.stack === 'af-packet-v2' || p.stack === 'af-packet-tso') return 'floor-af-packet-v2';
  return undefined;
}

export interface RatioStats {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Rounds in which both figures were there. */
  readonly rounds: number;
}

/**
 * path/reference for one metric, computed round by round (both figures from the same round of the same run),
 * then the median and the spread over the rounds. One round (or an old record without rounds): that ratio alone.
 */
export function ratioStats(rec: BenchRecord, pathId: string, refId: string, s: MetricSpec): RatioStats | undefined {
  const rounds = rec.rounds && rec.rounds.length > 1 ? rec.rounds : [rec.paths];
  const rs = rounds
    .map((r) => ratio(value(r.find((x) => x.id === refId), s), value(r.find((x) => x.id === pathId), s)))
    .filter((x): x is number => x !== undefined);
  if (!rs.length) return undefined;
  return { median: median(rs), min: Math.min(...rs), max: Math.max(...rs), rounds: rs.length };
}

/**
 * A capacity figure the sender could not push past (the receiver may take more): a lower bound, marked '≥' in the
 * absolute table and '†' in ratio cells that use it.
 */
export function lowerBound(p: PathRecord | undefined, s: MetricSpec): boolean {
  return s.metric === 'capacityPerSec' && (p?.workloads[s.workload]?.metrics?.['senderLimited'] ?? 0) > 0;
}

/** A ratio cell: the median, and with more than one round its lowest–highest in brackets. */
export function fmtRatioStats(st: RatioStats | undefined): string {
  if (!st) return '–';
  return st.rounds > 1 ? `${fmtRatio(st.median)} (${fmtRatio(st.min)}–${fmtRatio(st.max)})` : fmtRatio(st.median);
}

/** byway on both ends (--symmetric), compared with the kernel path, which has the kernel on both ends. */
export function symmetricPaths(rec: BenchRecord): PathRecord[] {
  return rec.paths.filter((p) => p.peer === 'byway');
}

/** The paths of the absolute table: the kernel path, the one-sided byway paths and the floor paths. */
function oneSidedPaths(rec: BenchRecord): PathRecord[] {
  return rec.paths.filter((p) => p.peer !== 'byway');
}

function failedCell(p: PathRecord, s: MetricSpec): string {
  if (!p.ok && p.error && Object.keys(p.workloads).length === 0) return 'failed';
  const w = p.workloads[s.workload];
  if (w && !w.ok) return 'failed';
  return '–';
}

/**
 * Markdown table: one row per metric, one column per byway path, cells byway/kernel: the median of the per-round
 * ratios, and with rounds their lowest–highest.
 */
export function renderRatioTable(rec: BenchRecord): string {
  const kernel = rec.paths.find((p) => p.stack === 'kernel');
  const bp = bywayPaths(rec);
  if (!bp.length) return '(no byway path with a kernel peer in this record)';
  const head = `| metric | better | ${bp.map((p) => p.id).join(' | ')} |`;
  const sep = `|---|---|${bp.map(() => '---:').join('|')}|`;
  const rows = metricSpecs(rec)
    .filter((s) => !s.noRatio && (value(kernel, s) !== undefined || bp.some((p) => value(p, s) !== undefined)))
    .map((s) => {
      const cells = bp.map((p) => {
        const b = value(p, s);
        if (b === undefined) return failedCell(p, s);
        const mark = lowerBound(p, s) || lowerBound(kernel, s) ? ' †' : '';
        return fmtRatioStats(kernel ? ratioStats(rec, p.id, kernel.id, s) : undefined) + mark;
      });
      return `| ${s.label} | ${s.better} | ${cells.join(' | ')} |`;
    });
  return [head, sep, ...rows].join('\n');
}

/**
 * Markdown table of byway/floor: one column per byway path that has a floor of its kind (AF_XDP, AF_PACKET; the
 * both-ends paths too), one row per metric the floor measures; cells as in renderRatioTable.
 */
export function renderFloorTable(rec: BenchRecord): string {
  const floors = new Set(floorPaths(rec).map((p) => p.id));
  const bp = [...bywayPaths(rec), ...symmetricPaths(rec)].filter((p) => floors.has(floorFor(p) ?? ''));
  if (!bp.length) return '';
  const head = `| metric | better | ${bp.map((p) => `${p.id} / ${floorFor(p)}`).join(' | ')} |`;
  const sep = `|---|---|${bp.map(() => '---:').join('|')}|`;
  const rows = metricSpecs(rec)
    .filter((s) => !s.noRatio && floorPaths(rec).some((f) => value(f, s) !== undefined))
    .filter((s) => bp.some((p) => value(p, s) !== undefined || p.workloads[s.workload]))
    .map((s) => {
      const cells = bp.map((p) => {
        const f = floorFor(p)!;
        const b = value(p, s);
        if (b === undefined) return failedCell(p, s);
        const mark = lowerBound(p, s) || lowerBound(rec.paths.find((x) => x.id === f), s) ? ' †' : '';
        return fmtRatioStats(ratioStats(rec, p.id, f, s)) + mark;
      });
      return `| ${s.label} | ${s.better} | ${cells.join(' | ')} |`;
    });
  return [head, sep, ...rows].join('\n');
}

/** The lowest and highest figure of a metric over the rounds of a --repeat run, or undefined for one round. */
function spread(rec: BenchRecord, p: PathRecord, s: MetricSpec): [number, number] | undefined {
  if (!rec.rounds || rec.rounds.length < 2) return undefined;
  const vs = rec.rounds.map((r) => value(r.find((x) => x.id === p.id), s)).filter((v): v is number => v !== undefined);
  if (vs.length < 2) return undefined;
  return [Math.min(...vs), Math.max(...vs)];
}

/** Markdown table of the absolute figures, kernel first; with rounds, each cell is the median (lowest–highest). */
export function renderAbsoluteTable(rec: BenchRecord): string {
  const paths = oneSidedPaths(rec);
  const head = `| metric | unit | ${paths.map((p) => p.id).join(' | ')} |`;
  const sep = `|---|---|${paths.map(() => '---:').join('|')}|`;
  const cell = (p: PathRecord, s: MetricSpec): string => {
    const v = value(p, s);
    if (v === undefined) return failedCell(p, s);
    const r = spread(rec, p, s);
    const lb = lowerBound(p, s) ? '≥ ' : '';
    return r ? `${lb}${fmtNum(v, s.unit)} (${fmtNum(r[0], s.unit)}–${fmtNum(r[1], s.unit)})` : `${lb}${fmtNum(v, s.unit)}`;
  };
  const rows = metricSpecs(rec)
    .filter((s) => paths.some((p) => value(p, s) !== undefined))
    .map((s) => `| ${s.label} | ${s.unit} | ${paths.map((p) => cell(p, s)).join(' | ')} |`);
  return [head, sep, ...rows].join('\n');
}

/** The rows of the both-ends table: the ping-pong metrics, labelled so that a row cannot be read as a one-sided one. */
export function symmetricSpecs(rec: BenchRecord): MetricSpec[] {
  return metricSpecs(rec)
    .filter((s) => s.workload.startsWith('udp-pp-') || s.workload === 'tcp-pp-64')
    .map((s) => ({ ...s, label: s.label.replace(/^(UDP ping-pong \d+ B|TCP ping-pong 64 B)/, '$1, both ends byway') }));
}

/**
 * Markdown table of the --symmetric paths: one row per ping-pong metric; first the kernel path's figure (kernel on
 * both ends), then per path the byway-on-both-ends figure and, in brackets, its ratio to the kernel figure.
 */
export function renderSymmetricTable(rec: BenchRecord): string {
  const kernel = rec.paths.find((p) => p.stack === 'kernel');
  const sp = symmetricPaths(rec);
  const head = `| metric | better | unit | kernel <-> kernel | ${sp.map((p) => `${p.id.replace(/\/both$/, '')} <-> same`).join(' | ')} |`;
  const sep = `|---|---|---|---:|${sp.map(() => '---:').join('|')}|`;
  const rows = symmetricSpecs(rec)
    .filter((s) => value(kernel, s) !== undefined || sp.some((p) => value(p, s) !== undefined))
    .map((s) => {
      const k = value(kernel, s);
      const cells = sp.map((p) => {
        const b = value(p, s);
        if (b === undefined) return failedCell(p, s);
        if (s.noRatio || !kernel) return fmtNum(b, s.unit);
        const st = ratioStats(rec, p.id, kernel.id, s);
        return `${fmtNum(b, s.unit)} (${st && st.rounds > 1 ? `${fmtRatio(st.median)}x, ${fmtRatio(st.min)}–${fmtRatio(st.max)}` : `${fmtRatio(st?.median)}x`})`;
      });
      return `| ${s.label} | ${s.better} | ${s.unit} | ${fmtNum(k, s.unit)} | ${cells.join(' | ')} |`;
    });
  return [head, sep, ...rows].join('\n');
}

function symmetricLines(rec: BenchRecord): string[] {
  const sp = symmetricPaths(rec);
  if (!sp.length) return [];
  const a = (rec.topology?.['addresses'] as Record<string, string> | undefined) ?? {};
  return [
    '## Both ends byway (sfnt-pingpong layout)',
    '',
    'The issue\'s latency targets compare byway with the kernel path end to end, as sfnt-pingpong runs the accelerated',
    'stack on both hosts. These paths (`--symmetric`) run the ping-pong workloads with byway on both ends: the subject',
    `as above (byway at ${a['bywayA'] ?? '10.77.9.3'} on the veth end in A) and the peer byway too, with the same driver kind and`,
    `poll mode, at ${a['peerBywayB'] ?? '10.77.9.4'} on the veth end in B${a['peerBywayPacketMac'] ? ` (AF_PACKET: own MAC ${a['peerBywayPacketMac']}, promiscuous; AF_XDP: own-address mode)` : ''}.`,
    'Both byway processes start in the root namespace and open their drivers in A and B with the driver\'s `netns`',
    `option: two Node processes, one per stack, ${String(rec.settings['cpuPinning'] ?? '').startsWith('subject') ? 'pinned apart (subject on CPU 0, peer on CPU 1, `--pin`)' : 'not pinned'}, on the ${rec.machine.cpus} vCPUs. The reference is the kernel path, which`,
    'already has the kernel on both ends (`node:net` / `node:dgram` under `ip netns exec` in A and in B). In busy mode',
    'both processes spin, so each holds one of the two vCPUs and everything else on the machine (the coordinator, other',
    'users) preempts one of them. TAP is not covered.',
    ...(String(rec.settings['cpuPinning'] ?? '').startsWith('subject')
      ? []
      : [
          '**Not pinned in this run**: when the scheduler puts both sides on one vCPU, a side that is spinning (busy mode,',
          'or `event` mode in its `spinMs` after a burst) holds it until its spin or time slice ends, and a round trip then',
          'takes 100 us or more (seen in about a third of unpinned rounds). Run with `--pin` for figures comparable with two hosts.',
        ]),
    '',
    'Each cell: the figure with byway on both ends, and in brackets that figure divided by the kernel-on-both-ends figure.',
    '',
    renderSymmetricTable(rec),
    '',
  ];
}

/** Which view a table is: the primary one (the kernel's default offloads) or the secondary 'same link settings'. */
export function offloadsView(rec: BenchRecord): string {
  const mode = (rec.settings['offloads'] as string | undefined) ?? (rec.settings['offloadsOff'] === false ? 'on' : 'off');
  if (mode === 'on') return 'offloads on: the kernel\'s defaults on both ends, as users run it';
  if (mode === 'gro') return 'offloads off but GRO on, both ends: a secondary view';
  return 'offloads off on both ends: the secondary "same link settings" view';
}

function offloadsLine(rec: BenchRecord): string {
  const t = rec.topology as Record<string, unknown> | undefined;
  if (!t) return 'Offloads: n/a.';
  const mode = (rec.settings['offloads'] as string | undefined) ?? (rec.settings['offloadsOff'] === false ? 'on' : 'off');
  const state = t['offloadState'] as Record<string, string> | undefined;
  const seen = state ? ` As \`ethtool -k\` showed them at the start: ${Object.entries(state).map(([k, v]) => `${k}: ${v}`).join('; ')}.` : '';
  if (mode === 'on') {
    return `Offloads: **on**, the veth's and the TAP's kernel defaults (checksum offload, TSO/GSO, GRO where the device has it) left as they are on both ends, for every path: the kernel path as users run it (the primary view of issue #12). byway uses whatever offloads its driver can use.${seen}`;
  }
  return `Offloads: \`ethtool -K ${String(t['offloads'])}\` on both ends${t['offloadsApplied'] ? '' : ' (**could not be applied**: ' + String(t['offloadError']) + ')'}, for every path, so the kernel path runs on the same link settings as byway: the secondary "same link settings" view (\`--offloads on\`, the default, is the primary one).${seen}`;
}

function floorLines(rec: BenchRecord): string[] {
  const t = renderFloorTable(rec);
  if (!t) return [];
  return [
    '## byway / floor',
    '',
    'The floor: bench/lib/floor.c on both ends of the same veth, busy-polling the same raw interface with no stack',
    '(`floor-af-xdp`: AF_XDP copy mode; `floor-af-packet-v2`: AF_PACKET TPACKET_V2 rings), at the addresses of the',
    'both-ends byway paths. Each byway path is divided by the floor of its kind of interface (AF_PACKET paths by the',
    'TPACKET_V2 floor; TAP has none); the `/both` paths have byway on both ends like the floor, the others a kernel',
    'peer. Same rules as above: per-round ratios, median (lowest–highest). A ratio of 1 is the most any stack could do',
    'over that interface on this machine. TCP bulk receive (one connection) has its own floor on AF_PACKET:',
    'bench/lib/tcp-sink-floor.c under the same kernel sender, as little TCP as a receiver can have over the TPACKET_V2',
    'ring with the vnet header that af-packet-tso uses, copying every byte once (the copy any reader of the bytes needs).',
    '',
    t,
    '',
  ];
}

function jitterLines(rec: BenchRecord): string[] {
  const j = rec.jitter;
  const out = ['## The machine during this run (bench/jitter.ts)', ''];
  if (!j) return [...out, 'Not measured in this record (older harness).', ''];
  out.push(
    `A spinning thread per vCPU (pinned), ${j.seconds} s at the start of the run and again at the end: how often and for how long`,
    'each vCPU was taken away (interrupts, the hypervisor, other tasks). Latency tails below a few such gaps per second',
    'cannot be told apart from this machine\'s noise.',
    'The last column is each vCPU\'s compute speed (bench/lib/vcpu-speed.ts: ns per pass of fixed integer work over',
    '16 KiB, median and min-max of 20 slices, and the median in the process\'s CPU time, "on-CPU"; lower is faster),',
    'which the gaps cannot show: a vCPU that runs slower (an SMT sibling, host contention) has a high on-CPU figure,',
    'a vCPU shared with other tasks only a high wall figure. One vCPU of these VMs has run 1.5x slower than the other',
    'for minutes and moved every figure taken on it as much (docs/performance-targets.md, issue #12): compare figures',
    'only within a run.',
    '',
    '| when | vCPU | time lost | gaps > 10 us /s | gaps > 100 us /s | longest gap | involuntary switches | compute speed |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  );
  const speeds: string[] = [];
  for (const [when, per] of [['start', j.start], ['end', j.end]] as const) {
    for (const [cpu, f] of Object.entries(per ?? {})) {
      if ('error' in f) out.push(`| ${when} | ${cpu} | failed: ${f.error} | | | | | |`);
      else out.push(`| ${when} | ${cpu} | ${f.lostPct.toFixed(2)} % | ${f.gapsPerSec['>10us'] ?? '–'} | ${f.gapsPerSec['>100us'] ?? '–'} | ${f.maxUs.toLocaleString('en')} us | ${f.involuntarySwitches} | ${f.speed ? fmtSpeed(f.speed) : '–'} |`);
    }
    const line = speedSummary(per ?? {});
    if (line !== undefined) speeds.push(`- ${when}: ${line}`);
  }
  out.push('');
  if (speeds.length > 0) out.push('Compute speed, slowest vCPU against the fastest (ns per unit):', '', ...speeds, '');
  else out.push('Compute speed: not measured in this record (older harness).', '');
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const COLOURS = ['#1f77b4', '#aec7e8', '#d62728', '#ff9896', '#2ca02c', '#98df8a', '#9467bd', '#c5b0d5'];

/**
 * Horizontal grouped bars on a log2 axis: how byway compares with the kernel path per headline metric, turned so
 * that right of 1 always means byway is better (byway/kernel for higher-is-better rows, kernel/byway for
 * lower-is-better rows). Missing figures leave a gap marked 'n/a'.
 */
export function renderSvg(rec: BenchRecord): string {
  const kernel = rec.paths.find((p) => p.stack === 'kernel');
  const bp = bywayPaths(rec);
  const specs = metricSpecs(rec).filter((s) => s.chart && value(kernel, s) !== undefined);
  const labelW = 330;
  const plotW = 420;
  const barH = 9;
  const groupGap = 10;
  const top = 48;
  const groupH = Math.max(1, bp.length) * barH + groupGap;
  const legendH = 18 * Math.ceil(bp.length / 4) + 10;
  const height = top + specs.length * groupH + 30 + legendH;
  const width = labelW + plotW + 30;
  const lo = -6; // 1/64
  const hi = 4; // 16
  const x = (r: number): number => labelW + ((Math.min(hi, Math.max(lo, Math.log2(r))) - lo) / (hi - lo)) * plotW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">byway relative to the kernel path (right of 1: byway better)</text>`);
  out.push(`<text x="${width / 2}" y="31" text-anchor="middle" fill="#555">${esc(`${rec.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${rec.machine.cpus} vCPU, Linux ${rec.machine.kernel}, Node ${rec.machine.node}; shared, noisy machine (load ${rec.loadavgStart.join(' ')})`)}</text>`);
  for (let e = lo; e <= hi; e++) {
    const gx = x(2 ** e);
    out.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${top + specs.length * groupH}" stroke="${e === 0 ? '#000' : '#ddd'}"/>`);
    const lbl = e >= 0 ? `${2 ** e}` : `1/${2 ** -e}`;
    out.push(`<text x="${gx}" y="${top + specs.length * groupH + 14}" text-anchor="middle" fill="#555">${lbl}</text>`);
  }
  specs.forEach((s, i) => {
    const gy = top + i * groupH;
    out.push(`<text x="${labelW - 8}" y="${gy + (bp.length * barH) / 2 + 4}" text-anchor="end">${esc(s.label)}</text>`);
    bp.forEach((p, j) => {
      const b = value(p, s);
      const k = value(kernel, s);
      const y = gy + j * barH;
      const r = k !== undefined && b !== undefined && kernel ? ratioStats(rec, p.id, kernel.id, s)?.median : undefined;
      if (r === undefined || r <= 0) {
        out.push(`<text x="${x(1) + 3}" y="${y + barH - 1}" font-size="8" fill="#999">n/a</text>`);
        return;
      }
      const adv = s.better === 'higher' ? r : 1 / r;
      const x0 = x(1);
      const x1 = x(adv);
      out.push(`<rect x="${Math.min(x0, x1)}" y="${y}" width="${Math.max(1, Math.abs(x1 - x0))}" height="${barH - 1}" fill="${COLOURS[j % COLOURS.length]}"><title>${esc(`${p.id}: ${s.label}: byway/kernel ${fmtRatio(r)}`)}</title></rect>`);
    });
  });
  const ly = top + specs.length * groupH + 30;
  bp.forEach((p, j) => {
    const lx = 20 + (j % 4) * 180;
    const yy = ly + Math.floor(j / 4) * 18;
    out.push(`<rect x="${lx}" y="${yy}" width="12" height="10" fill="${COLOURS[j % COLOURS.length]}"/>`);
    out.push(`<text x="${lx + 16}" y="${yy + 9}">${esc(p.id)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function failures(rec: BenchRecord): string[] {
  const out: string[] = [];
  for (const p of rec.paths) {
    if (p.error) out.push(`- **${p.id}**: ${p.error}`);
    for (const [id, w] of Object.entries(p.workloads)) {
      if (w.error) out.push(`- **${p.id}**, ${w.label} (\`${id}\`): ${w.error}`);
      if (w.uncaught?.length) out.push(`- **${p.id}**, ${w.label}: uncaught in a side process: ${w.uncaught.slice(0, 3).join('; ')}`);
    }
  }
  if (rec.inmemory && rec.inmemory['ok'] === false) out.push(`- **in-memory**: ${String(rec.inmemory['error'])}`);
  return out;
}

interface InMemoryFigures {
  link?: string;
  mtu: number;
  checksumOffload?: boolean;
  /** Rounds merged (bench/lib/inmemory-rounds.ts): the figures are medians, with their lowest and highest round. */
  rounds?: number;
  bulk: { bytes: number; gbitPerSec: number; gbitPerSecMin?: number; gbitPerSecMax?: number; gbitPerCpuSec?: number };
  transactions: { count: number; perSec: number; perSecMin?: number; perSecMax?: number; perCpuSec?: number };
}

/** A figure, with its rounds' lowest and highest when there were several. */
function withSpread(v: number, lo: number | undefined, hi: number | undefined, f: (x: number) => string): string {
  return lo === undefined || hi === undefined || lo === hi ? f(v) : `${f(v)} (${f(lo)}-${f(hi)})`;
}

/**
 * One line per round saying which vCPU(s) its timed phases ran on, with its first link's figures: an unpinned
 * round lands on either vCPU, and the vCPUs' speeds (the jitter lines) can differ enough to split the rounds.
 */
function roundPlacement(rounds: unknown): string[] {
  if (!Array.isArray(rounds) || rounds.length < 2) return [];
  const lines: string[] = [];
  rounds.forEach((r: Partial<InMemoryRound>, i) => {
    const links = r.links ?? [];
    const cpus = new Set<number>();
    for (const l of links) for (const v of [...(l.bulk.ranOn ?? []), ...(l.transactions.ranOn ?? [])]) if (typeof v === 'number') cpus.add(v);
    if (cpus.size === 0 || links.length === 0) return;
    const first = links[0]!;
    const on = [...cpus].sort((a, b) => a - b).join(' and ');
    lines.push(`- round ${i + 1}: on vCPU ${on}; ${first.link ?? 'ethernet'} ${first.bulk.gbitPerSec.toFixed(2)} Gbit/s, ${Math.round(first.transactions.perSec).toLocaleString('en')} /s`);
  });
  return lines.length === 0 ? [] : ['', 'Where each round ran (the vCPU when each timed phase started and ended):', ...lines];
}

function inMemoryLines(rec: BenchRecord): string[] {
  const m = rec.inmemory;
  if (!m || m['ok'] !== true) return ['Not run in this record.'];
  // Records before the link presets hold one configuration at the top level (MTU as given, software checksums).
  const links = (m['links'] as InMemoryFigures[] | undefined) ?? [{ ...(m as unknown as InMemoryFigures), link: 'ethernet' }];
  const cpu = (x: number | undefined, f: (v: number) => string) => (x === undefined ? '' : ` (${f(x)} per CPU-s)`);
  const first = links[0]!;
  const rounds = first.rounds ?? 1;
  return [
    `Two byway stacks in one process over the in-memory link (no driver, no kernel, one core), \`${String(m['command'])}\`;`,
    `bulk ${(first.bulk.bytes / 1e6).toFixed(0)} MB, ${first.transactions.count.toLocaleString('en')} transactions of 64 B each way` +
      (rounds > 1 ? `; median of ${rounds} rounds (a process each), lowest-highest in brackets, per CPU-second the median:` : ':'),
    '',
    '| link imitated | MTU | checksums | TCP bulk | TCP 64 B request/response |',
    '|---|---:|---|---:|---:|',
    ...links.map(
      (l) =>
        `| ${l.link ?? 'ethernet'} | ${l.mtu} | ${l.checksumOffload ? 'offloaded' : 'software'} | ${withSpread(l.bulk.gbitPerSec, l.bulk.gbitPerSecMin, l.bulk.gbitPerSecMax, (v) => v.toFixed(2))} Gbit/s${cpu(l.bulk.gbitPerCpuSec, (v) => v.toFixed(2))} | ${withSpread(l.transactions.perSec, l.transactions.perSecMin, l.transactions.perSecMax, (v) => Math.round(v).toLocaleString('en'))} /s${cpu(l.transactions.perCpuSec, (v) => Math.round(v).toLocaleString('en'))} |`,
    ),
    ...roundPlacement(m['rounds']),
    '',
    'ethernet: software checksums, the stack\'s whole cost; veth: checksum offload claimed both ways, as a veth at its',
    'defaults; loopback: MTU 65535 and no checksums, as Linux\'s loopback device. These have no kernel counterpart in',
    'this harness (they measure the stack alone), so they are not ratios.',
  ];
}

/** Counters that explain a figure: drops, truncation, retransmissions (byway paths, per workload). */
export const NOTABLE_COUNTERS = [
  'driver.txDropped',
  'driver.rxDropped',
  'driver.rxTruncated',
  'tcp.badChecksum',
  'udp.badChecksum',
  'driver.xdp.rxRingFull',
  'driver.xdp.rxDropped',
  'driver.xdp.rxFillRingEmpty',
  'ipv4.neighbourDrops',
  'udp.recvBufferDrops',
  'udp.txErrors',
  'tcp.retransmittedSegs',
  'tcp.rtoExpirations',
  'tcp.outOfWindow',
  'tcp.rstsReceived',
  'tcp.synQueueDrops',
  'tcp.backlogDrops',
];

export function renderCounters(rec: BenchRecord): string[] {
  const rows: string[] = [];
  for (const p of [...bywayPaths(rec), ...symmetricPaths(rec)]) {
    for (const w of Object.values(p.workloads)) {
      for (const [who, c] of [['', w.counters], [' (peer)', w.peerCounters]] as const) {
        if (!c) continue;
        const parts = NOTABLE_COUNTERS.filter((k) => c[k]).map((k) => `${k} ${c[k]!.toLocaleString('en')}`);
        if (parts.length) rows.push(`| ${p.id}${who} | ${w.label} | ${parts.join(', ')} |`);
      }
    }
  }
  if (!rows.length) return ['No drops or retransmissions counted.'];
  return ['| path | workload | counted during the workload |', '|---|---|---|', ...rows];
}

/** The receive-side workloads in which a kernel sender's offloads reach a byway driver. */
const OFFLOAD_WORKLOADS = ['tcp-bulk-rx-1', 'tcp-bulk-rx-4', 'udp-stream-rx', 'udp-capacity'];

/**
 * What the kernel's default offloads did to each byway path, from the driver's and stack's counters: the frames
 * received (their mean size: above 1514 B means GSO/GRO packets came through whole), those cut to the ring's frame
 * (rxTruncated), those dropped for a bad checksum (a CHECKSUM_PARTIAL frame the stack checked), and failures.
 */
export function renderOffloadEffects(rec: BenchRecord): string[] {
  const rows: string[] = [];
  for (const p of bywayPaths(rec)) {
    if (!p.ok && Object.keys(p.workloads).length === 0) {
      rows.push(`| ${p.id} | (path) | failed: ${p.error ?? '?'} | | | |`);
      continue;
    }
    for (const id of OFFLOAD_WORKLOADS) {
      const w = p.workloads[id];
      if (!w) continue;
      const c = w.counters ?? {};
      const frames = c['driver.rxFrames'] ?? 0;
      const mean = frames ? Math.round((c['driver.rxBytes'] ?? 0) / frames) : 0;
      const bad = (c['tcp.badChecksum'] ?? 0) + (c['udp.badChecksum'] ?? 0) + (c['ipv4.badChecksum'] ?? 0);
      const outcome = w.ok ? (w.error ? `partly failed: ${w.error}` : 'ran') : `failed: ${w.error ?? '?'}`;
      rows.push(`| ${p.id} | ${w.label} | ${outcome.replace(/\|/g, '/')} | ${frames.toLocaleString('en')} (${mean.toLocaleString('en')} B) | ${(c['driver.rxTruncated'] ?? 0).toLocaleString('en')} | ${bad.toLocaleString('en')} |`);
    }
  }
  if (!rows.length) return [];
  return ['| path | workload | outcome | frames received (mean size) | cut to the frame (rxTruncated) | bad checksum, dropped |', '|---|---|---|---:|---:|---:|', ...rows];
}

function offloadEffectLines(rec: BenchRecord): string[] {
  const mode = (rec.settings['offloads'] as string | undefined) ?? (rec.settings['offloadsOff'] === false ? 'on' : 'off');
  const t = renderOffloadEffects(rec);
  if (mode !== 'on' || !t.length) return [];
  return [
    '## What the kernel\'s offloads did to each byway path',
    '',
    'With the veth\'s defaults on, the kernel peer in B sends TCP in packets of up to 64 KiB (TSO/GSO: the veth passes',
    'them on uncut) and leaves TCP and UDP checksums partial (CHECKSUM_PARTIAL: only the pseudo-header sum is in the',
    'frame). AF_PACKET sees such packets as they are: a driver must take the large ones or have them cut to its ring',
    'frame, and must not check a partial checksum as if it were final. AF_XDP sees them after the veth\'s XDP hook (an',
    'attached program makes the peer veth stop GSO unless it handles fragments). TAP sees what the bridge forwards,',
    'which the TAP\'s own offload flags decide. Counted during each receiving workload (summed over rounds):',
    '',
    ...t,
    '',
  ];
}

/** The whole of docs/benchmarks.md for one record. */
export function renderDoc(rec: BenchRecord, recordPath: string): string {
  const s = rec.settings;
  const loads = rec.paths.map((p) => `${p.id} ${p.loadavgStart.join('/')}`).join('; ');
  const fails = failures(rec);
  // A 1-minute load above 2.5 at any path's start (2 vCPUs, this run's two sides) means other work was competing.
  const busy = [rec.loadavgStart, ...rec.paths.map((p) => p.loadavgStart)].some((l) => (l[0] ?? 0) > 2.5);
  return [
    '# Benchmarks: byway next to the kernel path',
    '',
    '<!-- Generated by bench/report.ts from a bench/run.ts record; edit the generator, not this file. -->',
    '',
    `> **Read these figures as rough.** They come from one short run${rec.rounds ? ` (${rec.rounds.length} rounds)` : ''} on a shared 2-vCPU VM${busy ? ' while other work ran on it' : ' with no other known work on it (the load is mostly this run itself: two sides and the coordinator)'}.`,
    '> The load average is recorded with every path and workload in the JSON record;',
    `> at the start of this run it was ${rec.loadavgStart.join(' / ')} (1/5/15 min), and per path: ${loads}.`,
    '> Ratios are more trustworthy than absolute numbers (both sides of a ratio ran minutes apart on the same',
    '> machine), but a noisy neighbour during one path and not the other moves a ratio too. Re-run on a quiet machine',
    '> with `--long` before quoting any number.',
    '>',
    '> Where byway stands against the targets of the benchmark issue, and what holds each back, measured: docs/performance-targets.md.',
    ...(rec.note ? ['>', `> Note: ${rec.note}`] : []),
    '',
    '## What ran',
    '',
    `- Command: \`${rec.command}\` (record: \`${recordPath}\`).`,
    `- Machine: ${rec.machine.cpus} x ${rec.machine.cpuModel}, ${rec.machine.memoryGiB} GiB; ${rec.machine.os}; Linux ${rec.machine.kernel}; Node ${rec.machine.node}; byway ${rec.machine.gitCommit}${rec.machine.gitDirty ? ' (with uncommitted changes)' : ''}${rec.machine.addon ? `, native addon ${rec.machine.addon}` : ''}.`,
    `- Started ${rec.startedAt}, finished ${rec.finishedAt ?? '?'}. Each workload: ${s['warmupMs']} ms warm-up, then ${s['durationMs']} ms measured (\`--long\` for 2 s + 10 s).${Number(s['repeat'] ?? 1) > 1 ? ` Every path ran ${String(s['repeat'])} times, in rounds (kernel, then each byway path, then again); each figure is the median over the rounds in which that workload succeeded.` : ' One round: each figure is from a single measurement.'}`,
    `- Network: namespaces A and B joined by one veth pair (MTU 1500), made and removed by the harness. ${offloadsLine(rec)}`,
    `- Peer: always Node on the kernel path (\`node:net\` / \`node:dgram\`) in namespace B, started with \`ip netns exec B node --expose-gc ${s['sides'] === 'tsx' || s['sides'] === undefined ? '--import tsx bench/peer.ts' : 'dist/bench/peer.js'}\`${s['sides'] === 'tsx' || s['sides'] === undefined ? ' (through tsx: records before 2026-12-03 22:40 UTC, or `BYWAY_BENCH_SIDES=tsx`)' : ' (both sides compiled at the start with tsconfig.bench.json, as users run the package)'}.`,
    ...(symmetricPaths(rec).length ? ['  (Except the paths ending in `/both`, whose peer runs byway too: see "Both ends byway" below.)'] : []),
    '- Subject, in namespace A: **kernel**, the same script under `ip netns exec A` with `node:net` / `node:dgram` (address 10.77.9.1 on the veth); or **byway** (`createStack({ driver, address: \'10.77.9.3/24\', pollMode })`), started in the root namespace with the driver\'s `netns` option: AF_XDP own-address mode on the veth end, AF_PACKET on the veth end (own MAC, promiscuous; `af-packet` is the driver\'s default TPACKET_V3 ring, whose blocks are handed over when full or after a 1 ms timeout, `af-packet-v2` the same driver with `tpacketVersion: 2`), TAP with the TAP device and the veth end in a bridge. `event` and `busy` are byway\'s two poll modes.',
    `- One Node process per side in every case (plus the idle coordinator)${s['sidesPerWorkload'] === undefined ? '' : s['sidesPerWorkload'] === 'a fresh pair per workload' ? ', a fresh pair for each workload (a process\'s history changed what it measured: a node:net receiver that had served a UDP ping-pong took TCP bulk 6x slower, glibc trimming its heap after every read buffer; `--reuse-sides` for one pair per path)' : ', one pair for all of a path\'s workloads (`--reuse-sides`)'}. ${String(s['cpuPinning'] ?? '').startsWith('subject') ? `Processes are pinned (\`--pin\`): ${String(s['cpuPinning'])}; the other load on the machine still shares both CPUs.` : 'Processes are not pinned: the scheduler and the other load on the machine decide where each side runs.'}` +
      ' For scale (docs of these VMs): a blocking ping-pong across the two vCPUs of an idle machine takes about 78 us round trip in the kernel alone, about 6 us with both ends on one vCPU; on a loaded machine the vCPUs rarely sleep, so wake-ups are cheaper and less predictable. Busy mode spins one of the only two vCPUs, which the peer and everyone else then share.',
    '- Latencies are half round trips (sfnt-pingpong convention). One-way rates are counted at the sender (sent/s) and at the receiver (received/s over a window measured by the receiver); loss is sent minus received after a drain. Bulk goodput is measured at the receiver. The connection rate is one connection at a time (connect, 64 B request, 64 B echo, close). Idle connections: opened 128 handshakes at a time; memory is the subject process\'s growth after a forced GC (kernel path: the kernel\'s socket memory is not in the process, so that ratio says how much memory byway moves into the process, not a like-for-like cost).',
    `- Floor paths (\`floor-af-xdp\`, \`floor-af-packet-v2\`): bench/lib/floor.c, a C program built by the harness, on both ends of the same veth (in A at 10.77.9.3, in B at 10.77.9.4, as the \`/both\` paths), busy-polling AF_XDP in copy mode (an XDP program, attached through a BPF link, redirects every frame to the socket) or AF_PACKET TPACKET_V2 rings (own MACs, promiscuous, qdisc bypass), with no stack: UDP ping-pong (one end reflects), one-way blast and sink, and the receive capacity (the C sender on B's kernel socket into the floor's sink); on \`floor-af-packet-v2\` also TCP bulk receive with one connection (bench/lib/tcp-sink-floor.c in A under the kernel paths' node:net sender: ARP, one handshake, in-order counting, SACK of held ranges, one ACK per receive batch, every byte copied once into 1 MiB of buffers). It is the most any stack could get from that interface on this machine; the report shows byway/floor beside byway/kernel.${floorPaths(rec).length ? '' : ' (Not run in this record.)'}`,
    '- UDP receive capacity (`udp-capacity`): bench/lib/blast.c, a C sender on a kernel UDP socket in namespace B (sendmmsg, paced to a given rate, on the peer\'s CPU with `--pin`), sends 64 B datagrams to the subject\'s receiver: doubling the rate from 50 000/s while fewer than 0.1 % are lost, then bisecting between the last rate that passed and the first that failed (to 10 %, at most 12 trials of about a second). The figure is the received rate of the highest passing trial. A trial in which the sender fell more than 5 % short of the asked rate stops the search and marks the figure as a lower bound (`senderLimited` in the record), so the sender is never the hidden bottleneck.',
    '- Driver kicks per round trip (ping-pongs): the change of the driver\'s `txKicks` counter (the syscalls or doorbells that make the kernel transmit) over the workload, divided by the round trips completed, warm-up included; shown only where the driver counts kicks.',
    '',
    `## byway / kernel (${offloadsView(rec)})`,
    '',
    'Each cell is the byway figure divided by the kernel figure for the same metric; the "better" column says which',
    'way is good (for latency and time a ratio below 1 means byway is faster). "failed" means the run of that',
    'workload failed (see below); "–" means not measured. † marks a ratio with a capacity figure that is only a',
    'lower bound (the C sender could go no faster; "≥" in the absolute figures).',
    ...(rec.rounds && rec.rounds.length > 1
      ? ['Each ratio is computed round by round (the byway and kernel figures of the same round), and shown as the median', `over the ${rec.rounds.length} rounds with the lowest and highest round in brackets.`]
      : ['One round: each ratio is from a single pair of measurements, with no spread to show; run with `--repeat 3`.']),
    '',
    renderRatioTable(rec),
    '',
    renderSvg(rec),
    '',
    ...floorLines(rec),
    ...jitterLines(rec),
    '## Absolute figures',
    '',
    ...(rec.rounds && rec.rounds.length > 1
      ? [`Median over ${rec.rounds.length} rounds, with the lowest and highest round in brackets: the spread is the noise of this machine at the time.`, '']
      : []),
    renderAbsoluteTable(rec),
    '',
    ...symmetricLines(rec),
    ...offloadEffectLines(rec),
    '## Drops and retransmissions byway counted',
    '',
    'Non-zero changes of the driver\'s and the stack\'s own counters during each workload (all counters are in the',
    'record, under `paths[].workloads[].counters`). They explain many of the figures above.',
    '',
    ...renderCounters(rec),
    '',
    '## In memory',
    '',
    ...inMemoryLines(rec),
    '',
    '## What failed',
    '',
    ...(fails.length ? fails : ['Nothing.']),
    '',
    '## Running it',
    '',
    '```',
    'sudo npm run bench -- --repeat 3 --symmetric --pin   # the full run this page is made from: every path, workload,',
    '                                                     # offloads on (the default), 3 rounds (medians and spreads)',
    'sudo npm run bench -- --repeat 3 --symmetric --pin --offloads off   # the secondary "same link settings" view',
    'sudo npm run bench -- --long            # 2 s + 10 s each',
    'sudo npm run bench -- --paths kernel,af-xdp,af-packet-v2,floor-af-xdp,floor-af-packet-v2 --modes busy --workloads udp-pp,udp-capacity --sizes 64 --symmetric --pin',
    'node --import tsx bench/report.ts bench/results/<record>.json   # rewrite this page from a record',
    '```',
    '',
    'Harness: `bench/run.ts` (coordinator: topology, paths, workloads, record), `bench/peer.ts` (a side process),',
    '`bench/lib/workloads.ts` (the workloads, written once over node:net/node:dgram-shaped sockets),',
    '`bench/lib/topology.ts` (namespaces, veth, bridge, offloads), `bench/lib/side.ts` (process control),',
    '`bench/lib/stats.ts`, `bench/report.ts` (this page), `bench/inmemory-tcp.ts`; the floor: `bench/lib/floor.c` (C,',
    'built by the harness with cc: Debian\'s gcc, libc6-dev and linux-libc-dev) and `bench/lib/floor-path.ts`; the',
    'capacity search: `bench/lib/capacity.ts` with `bench/lib/blast.c`; `bench/jitter.ts` (`bench/lib/jitter-run.ts`).',
    'Measures a shared machine does not move: `bench/echo-anatomy.ts --count` (calls into the addon, polls and clock',
    'reads per round trip of a byway echo on the veth; `--timeline` for where a responder\'s time goes),',
    '`bench/udp-alloc.ts --profile` (bytes allocated per round trip).',
    'Run every heavy command under `flock /tmp/byway-heavy.lock` on a shared machine.',
    '',
  ].join('\n');
}

export function writeDoc(rec: BenchRecord, docPath: string, recordPath: string): void {
  writeFileSync(docPath, renderDoc(rec, recordPath));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node --import tsx bench/report.ts bench/results/<record>.json [--doc docs/benchmarks.md]');
    process.exit(2);
  }
  const i = process.argv.indexOf('--doc');
  const doc = i >= 0 ? process.argv[i + 1]! : fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
  const rec = JSON.parse(readFileSync(file, 'utf8')) as BenchRecord;
  writeDoc(rec, doc, file);
  console.log(renderRatioTable(rec));
  console.log(`wrote ${doc}`);
}
