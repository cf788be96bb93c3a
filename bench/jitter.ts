/**
 * How often a spinning thread loses its vCPU, and for how long (OpenOnload's sysjitter idea): spin reading the
 * clock and record every gap between two reads above 1 us. No allocation in the loop, so no garbage collection:
 * what it sees is interrupts, the hypervisor and other tasks. Run one per vCPU at once (pinned with taskset), as the
 * two busy-polling sides of a ping-pong run, to compare with the slow round trips the UDP ping-pong reports
 * (bench/lib/workloads.ts TailReport).
 *
 *   taskset -c 0 node --import tsx bench/jitter.ts [--seconds 3] [--json] & taskset -c 1 node --import tsx bench/jitter.ts
 *
 * Reports, per threshold (1, 2, 5, 10, 20, 50, 100 us), the gaps per second above it, and the share of the time lost.
 * First, the vCPU's compute speed (bench/lib/vcpu-speed.ts, a few hundred ms): ns per unit of fixed integer work, the
 * median and min-max of 20 slices, and the median in CPU time. The gaps cannot show a vCPU that runs slower (an SMT sibling, host contention);
 * this does, and on 2026-12-04 one vCPU of these VMs ran 1.5x slower than the other.
 */
import { measureVcpuSpeed } from './lib/vcpu-speed.js';

function opt(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const seconds = Number(opt('--seconds', '3'));
// Anything of this process's own that could take the vCPU shows here: garbage collections, context switches.
let gcs = 0;
const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
obs.observe({ entryTypes: ['gc'] });
// The speed first, before the clock-read loop, so neither changes the other's figures; no allocation in it.
const speed = measureVcpuSpeed();
const THRESHOLDS_US = [1, 2, 5, 10, 20, 50, 100];
const counts = new Float64Array(THRESHOLDS_US.length);
let lostUs = 0;
let maxUs = 0;
// Warm the loop up (JIT) for 200 ms before counting.
const now = performance.now.bind(performance);
for (const end = now() + 200; now() < end; );
const usage0 = process.resourceUsage();
const t0 = now();
const end = t0 + seconds * 1000;
let prev = t0;
let reads = 0;
for (;;) {
  const t = now();
  reads++;
  const gapUs = (t - prev) * 1000;
  prev = t;
  if (gapUs > 1) {
    lostUs += gapUs;
    if (gapUs > maxUs) maxUs = gapUs;
    for (let i = 0; i < THRESHOLDS_US.length; i++) if (gapUs > THRESHOLDS_US[i]!) counts[i]!++;
  }
  if (t >= end) break;
}
const elapsedS = (prev - t0) / 1000;
const usage1 = process.resourceUsage();
gcs += obs.takeRecords().length;
obs.disconnect();
const perSec: Record<string, number> = {};
THRESHOLDS_US.forEach((th, i) => (perSec[`>${th}us`] = Math.round(counts[i]! / elapsedS)));
const result = {
  seconds: Math.round(elapsedS * 1000) / 1000,
  readNs: Math.round((elapsedS * 1e9) / reads),
  gapsPerSec: perSec,
  lostPct: Math.round((lostUs / (elapsedS * 1e6)) * 10000) / 100,
  maxUs: Math.round(maxUs),
  gcs,
  involuntarySwitches: usage1.involuntaryContextSwitches - usage0.involuntaryContextSwitches,
  voluntarySwitches: usage1.voluntaryContextSwitches - usage0.voluntaryContextSwitches,
  speed,
};
if (process.argv.includes('--json')) console.log(JSON.stringify(result));
else console.log(result);
