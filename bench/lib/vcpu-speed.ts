/**
 * How fast the vCPU this thread runs on computes (issue #12, honest measurement): a fixed amount of integer and
 * typed-array work, timed in slices, in ns per unit of work. Unlike bench/jitter.ts's gap counts (time taken away
 * from a spinning thread), this sees a vCPU that runs but runs slower: an SMT sibling or host contention. On the
 * 2-vCPU VMs of 2026-12-04 one vCPU ran the same loop 1.5x slower than the other, for minutes, and moved every
 * figure taken on it by as much (docs/performance-targets.md, "Each vCPU's compute speed in every
 * run's record").
 *
 * The work is fixed (never calibrated against time), so ns per unit compares across runs and machines: one unit is
 * one pass over a 4096-word (16 KiB) Uint32Array that folds the words into a 16-bit ones' complement sum and a
 * multiplicative hash, the loads, adds and multiplies of a checksum and a table lookup. No allocation in the loop,
 * so no garbage collection inside a slice. Each slice is timed in wall time and in the process's CPU time.
 * `measureVcpuSpeed` spins the thread for its whole time (a few hundred ms on these VMs); the rest is pure.
 */
import { median } from './stats.js';

/** What one measurement saw: ns per unit over each slice, the median and the spread. */
export interface VcpuSpeed {
  /** The work unit, in words, so a reader of an old record knows what was timed. */
  readonly unit: string;
  readonly unitsPerSlice: number;
  /** Slices timed (after the untimed warm-up ones). */
  readonly slices: number;
  /** Median over the slices, ns per unit (lower is faster). */
  readonly nsPerUnit: number;
  readonly minNsPerUnit: number;
  readonly maxNsPerUnit: number;
  /**
   * Median over the slices of the process's CPU time (user + system) per unit: the vCPU's own pace while it runs
   * this thread. Near nsPerUnit when nothing took the vCPU away; a wall figure well above it means time shared
   * with other tasks (which the gaps of bench/jitter.ts count too), a CPU figure that is itself high means the
   * vCPU runs slower. Absent in records from before it was added.
   */
  readonly cpuNsPerUnit?: number;
  /** The work's result (the same for the same work on any machine): kept so that the work is not dead code. */
  readonly check: number;
}

export const SPEED_UNIT = 'one pass over 4096 words (Uint32Array): 16-bit ones\' complement sum and multiplicative hash';
const WORDS = 4096;
/** About 14 ms per slice at 1.15 ns per word (the faster vCPU of 2026-12-04), so 20 slices take about 0.3 s there. */
export const UNITS_PER_SLICE = 3000;
export const SLICES = 20;
const WARM_SLICES = 4;

/** One unit of work over `words`; `seed` threads the previous result through so no pass can be skipped. */
function pass(words: Uint32Array, seed: number): number {
  let sum = seed & 0xffff;
  let hash = seed | 0;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    sum += (w >>> 16) + (w & 0xffff);
    hash = Math.imul(hash ^ w, 0x01000193);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return (sum ^ hash) >>> 0;
}

/**
 * Times `slices` slices of `unitsPerSlice` units each (after a few untimed slices that get the loop optimised) on
 * whatever vCPU this thread is on; pin the process (taskset) to say which.
 */
export function measureVcpuSpeed(slices = SLICES, unitsPerSlice = UNITS_PER_SLICE): VcpuSpeed {
  const words = new Uint32Array(WORDS);
  for (let i = 0; i < WORDS; i++) words[i] = Math.imul(i + 1, 0x9e3779b1) >>> 0;
  const ns = new Float64Array(slices);
  const cpuNs = new Float64Array(slices);
  let check = 0;
  for (let s = -WARM_SLICES; s < slices; s++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let u = 0; u < unitsPerSlice; u++) check = pass(words, check);
    const t1 = performance.now();
    const c = process.cpuUsage(c0);
    if (s >= 0) {
      ns[s] = ((t1 - t0) * 1e6) / unitsPerSlice;
      cpuNs[s] = ((c.user + c.system) * 1e3) / unitsPerSlice;
    }
  }
  return speedOfSlices(ns, cpuNs, unitsPerSlice, check);
}

/** The figures of measured slices (wall and CPU ns per unit each): medians, the wall min and max, to 0.1 ns. */
export function speedOfSlices(nsPerUnit: ArrayLike<number>, cpuNsPerUnit: ArrayLike<number>, unitsPerSlice: number, check: number): VcpuSpeed {
  const v = Array.from(nsPerUnit).sort((a, b) => a - b);
  const n = v.length;
  const r1 = (x: number): number => Math.round(x * 10) / 10;
  return { unit: SPEED_UNIT, unitsPerSlice, slices: n, nsPerUnit: r1(median(v)), minNsPerUnit: r1(n ? v[0]! : NaN), maxNsPerUnit: r1(n ? v[n - 1]! : NaN), cpuNsPerUnit: r1(median(Array.from(cpuNsPerUnit))), check };
}

const fmtNs = (x: number): string => (x >= 100 ? Math.round(x).toLocaleString('en') : x.toFixed(1));

const hasCpu = (s: VcpuSpeed): boolean => s.cpuNsPerUnit !== undefined && Number.isFinite(s.cpuNsPerUnit);

/** `1,480 ns/unit (1,470-1,530; on-CPU 1,460)`: one vCPU's figure with the spread of its slices and its CPU-time median. */
export function fmtSpeed(s: VcpuSpeed): string {
  return `${fmtNs(s.nsPerUnit)} ns/unit (${fmtNs(s.minNsPerUnit)}-${fmtNs(s.maxNsPerUnit)}${hasCpu(s) ? `; on-CPU ${fmtNs(s.cpuNsPerUnit!)}` : ''})`;
}

/**
 * One line for every vCPU's speed and the slowest against the fastest, from per-vCPU results that may lack a
 * speed (older records, a failed run): `cpu0 1,480 ns/unit (1,470-1,530; on-CPU 1,460), cpu1 2,330 ns/unit
 * (2,300-2,410; on-CPU 2,320); slowest cpu1 1.57x cpu0's time per unit (on-CPU 1.59x)`: an on-CPU ratio near 1
 * under a high wall ratio says the slow vCPU was shared with other tasks, not slower. Undefined when no vCPU has a
 * speed.
 */
export function speedSummary(per: Record<string, { speed?: VcpuSpeed | undefined } | { error: string }>): string | undefined {
  const have = Object.entries(per).flatMap(([cpu, f]) => ('speed' in f && f.speed && Number.isFinite(f.speed.nsPerUnit) ? [[cpu, f.speed] as const] : []));
  if (have.length === 0) return undefined;
  const parts = have.map(([cpu, s]) => `${cpu} ${fmtSpeed(s)}`).join(', ');
  if (have.length < 2) return parts;
  const slow = have.reduce((a, b) => (b[1].nsPerUnit > a[1].nsPerUnit ? b : a));
  const fast = have.reduce((a, b) => (b[1].nsPerUnit < a[1].nsPerUnit ? b : a));
  const onCpu = hasCpu(slow[1]) && hasCpu(fast[1]) ? ` (on-CPU ${(slow[1].cpuNsPerUnit! / fast[1].cpuNsPerUnit!).toFixed(2)}x)` : '';
  return `${parts}; slowest ${slow[0]} ${(slow[1].nsPerUnit / fast[1].nsPerUnit).toFixed(2)}x ${fast[0]}'s time per unit${onCpu}`;
}
