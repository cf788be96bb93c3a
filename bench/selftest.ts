/**
 * Checks of the harness's pure parts (percentiles, ratios, the report renderers) that need no root:
 *   node --import tsx bench/selftest.ts
 * (bench/ is outside vitest's include list, so these run as a plain script and exit 1 on the first failure.)
 */
import assert from 'node:assert/strict';
import { mergeRounds } from './lib/merge.js';
import { judgeTrial, searchCapacity, DEFAULT_SEARCH, type CapacityTrial } from './lib/capacity.js';
import { capacityOutcome } from './lib/floor-path.js';
import { addKicksPerRoundTrip } from './lib/kicks.js';
import { Samples, median, percentile, summarize } from './lib/stats.js';
import {
  fmtRatioStats,
  ratio,
  ratioStats,
  renderAbsoluteTable,
  renderCounters,
  renderDoc,
  renderFloorTable,
  renderOffloadEffects,
  renderRatioTable,
  renderSvg,
  renderSymmetricTable,
  metricSpecs,
  type BenchRecord,
  type PathRecord,
} from './report.js';

// Nearest-rank percentiles.
const v = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
assert.equal(percentile(v, 50), 500);
assert.equal(percentile(v, 99), 990);
assert.equal(percentile(v, 99.9), 999);
assert.equal(percentile(v, 100), 1000);
assert.equal(percentile(v, 0), 1);
assert.ok(Number.isNaN(percentile([], 50)));
assert.equal(percentile([7], 99.9), 7);
assert.equal(median([3, 1, 2]), 2);
assert.equal(median([4, 1, 3, 2]), 2.5);

// Samples grow past their first buffer and sort numerically (not as strings).
const s = new Samples();
for (let i = 3000; i >= 1; i--) s.add(i * 10);
assert.equal(s.count, 3000);
const sum = summarize(s, 0.5);
assert.equal(sum.minUs, 5);
assert.equal(sum.maxUs, 15000);
assert.equal(sum.p50Us, 7500);
assert.equal(sum.samples, 3000);

// Ratios: byway / kernel, undefined when a side is missing or the kernel figure is 0.
assert.equal(ratio(10, 20), 2);
assert.equal(ratio(undefined, 20), undefined);
assert.equal(ratio(0, 20), undefined);

// The renderers on a small record: a working path, a failed workload, a path that could not start.
const rec: BenchRecord = {
  version: 1,
  startedAt: '2026-11-24T16:00:00.000Z',
  command: 'node --import tsx bench/run.ts',
  machine: { hostname: 'h', cpuModel: 'cpu', cpus: 2, memoryGiB: 4, kernel: '6.18', os: 'Debian', node: 'v20', gitCommit: 'abc', gitDirty: false },
  settings: { sizes: [64], idleCount: 100, warmupMs: 1, durationMs: 2 },
  loadavgStart: [3, 2, 1],
  topology: { offloads: 'tx off', offloadsApplied: true },
  inmemory: undefined,
  paths: [
    { id: 'kernel', stack: 'kernel', mode: null, ok: true, loadavgStart: [3, 2, 1], restarts: 0, workloads: {
      'udp-pp-64': { ok: true, label: 'x', loadavg: [], metrics: { p50Us: 40, p99Us: 80, p999Us: 100 } },
      'tcp-pp-64': { ok: true, label: 'y', loadavg: [], metrics: { transactionsPerSec: 1000, p50Us: 50, p99Us: 90 } },
    } },
    { id: 'af-xdp/busy', stack: 'af-xdp', mode: 'busy', ok: true, loadavgStart: [3, 2, 1], restarts: 0, workloads: {
      'udp-pp-64': { ok: true, label: 'x', loadavg: [], metrics: { p50Us: 10, p99Us: 160, p999Us: 100 }, counters: { 'driver.txDropped': 5 } },
      'tcp-pp-64': { ok: false, label: 'TCP ping-pong 64 B', loadavg: [], error: 'ETIMEDOUT: no answer' },
    } },
    { id: 'tap/event', stack: 'tap', mode: 'event', ok: false, error: 'ENOENT: no addon', loadavgStart: [3, 2, 1], restarts: 0, workloads: {} },
  ],
};
const table = renderRatioTable(rec);
assert.match(table, /\| UDP ping-pong 64 B, half-RTT p50 \| lower \| 0\.25 \| failed \|/);
assert.match(table, /\| UDP ping-pong 64 B, half-RTT p99 \| lower \| 2\.00 \| failed \|/);
assert.match(table, /\| TCP ping-pong 64 B: transactions\/s \| higher \| failed \| failed \|/);
assert.match(renderAbsoluteTable(rec), /\| TCP ping-pong 64 B: transactions\/s \| \/s \| 1,000 \| failed \| failed \|/);
const svg = renderSvg(rec);
assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
assert.match(svg, /<\/svg>$/);
assert.match(svg, /af-xdp\/busy: UDP ping-pong 64 B, half-RTT p50: byway\/kernel 0\.25/);
const doc = renderDoc(rec, 'bench/results/r.json');
assert.match(doc, /noisy/);
assert.match(doc, /load average/);
assert.match(doc, /\*\*tap\/event\*\*: ENOENT: no addon/);
assert.match(doc, /\*\*af-xdp\/busy\*\*, TCP ping-pong 64 B \(`tcp-pp-64`\): ETIMEDOUT/);
assert.match(doc, /driver\.txDropped 5/);

// Rounds merge into medians; a failed round is counted, not averaged in.
{
  const mk = (p50: number | undefined, txDropped: number): BenchRecord['paths'][number] => ({
    id: 'af-xdp/event', stack: 'af-xdp', mode: 'event', ok: true, loadavgStart: [1, 1, 1], restarts: 0,
    workloads: { 'udp-pp-64': p50 === undefined
      ? { ok: false, label: 'x', loadavg: [], error: 'ETIMEDOUT: t', counters: { 'driver.txDropped': txDropped } }
      : { ok: true, label: 'x', loadavg: [], metrics: { p50Us: p50 }, counters: { 'driver.txDropped': txDropped } } },
  });
  const merged = mergeRounds([[mk(10, 1)], [mk(30, 2)], [mk(undefined, 4)], [mk(20, 0)]]);
  const w = merged[0]!.workloads['udp-pp-64']!;
  assert.equal(w.ok, true);
  assert.equal(w.metrics!['p50Us'], 20);
  assert.equal(w.counters!['driver.txDropped'], 7);
  assert.equal(w.okRounds, 3);
  assert.equal(w.rounds, 4);
  assert.match(w.error!, /^1 of 4 rounds failed: ETIMEDOUT/);
  const one = [[mk(5, 0)]];
  assert.equal(mergeRounds(one), one[0]);
}
console.log('bench selftest: ok');

// With rounds, absolute cells show the median and the spread.
{
  const mkp = (p50: number): BenchRecord['paths'][number] => ({
    id: 'kernel', stack: 'kernel', mode: null, ok: true, loadavgStart: [1, 1, 1], restarts: 0,
    workloads: { 'udp-pp-64': { ok: true, label: 'x', loadavg: [], metrics: { p50Us: p50 } } },
  });
  const rounds = [[mkp(10)], [mkp(30)], [mkp(20)]];
  const r2: BenchRecord = { ...rec, rounds, paths: mergeRounds(rounds) };
  assert.match(renderAbsoluteTable(r2), /\| UDP ping-pong 64 B, half-RTT p50 \| us \| 20\.0 \(10\.0–30\.0\) \|/);
}
console.log('bench selftest: rounds ok');

// Both ends byway (--symmetric): its own table against the kernel path; the one-sided tables are unchanged.
{
  const sym: BenchRecord['paths'][number] = {
    id: 'af-xdp/busy/both', stack: 'af-xdp', mode: 'busy', peer: 'byway', ok: true, loadavgStart: [1, 1, 1], restarts: 0,
    workloads: {
      'udp-pp-64': { ok: true, label: 'x', loadavg: [], metrics: { p50Us: 8, p99Us: 20, p999Us: 50 }, peerCounters: { 'udp.recvBufferDrops': 3 } },
      'tcp-pp-64': { ok: true, label: 'y', loadavg: [], metrics: { transactionsPerSec: 4000, p50Us: 10, p99Us: 45 } },
    },
  };
  const r3: BenchRecord = { ...rec, topology: { addresses: { bywayA: '10.77.9.3', peerBywayB: '10.77.9.4' } }, paths: [...rec.paths, sym] };
  assert.equal(renderRatioTable(r3), renderRatioTable(rec));
  assert.equal(renderAbsoluteTable(r3), renderAbsoluteTable(rec));
  const t = renderSymmetricTable(r3);
  assert.match(t, /\| metric \| better \| unit \| kernel <-> kernel \| af-xdp\/busy <-> same \|/);
  assert.match(t, /\| UDP ping-pong 64 B, both ends byway, half-RTT p50 \| lower \| us \| 40\.0 \| 8\.0 \(0\.20x\) \|/);
  assert.match(t, /\| TCP ping-pong 64 B, both ends byway: transactions\/s \| higher \| \/s \| 1,000 \| 4,000 \(4\.00x\) \|/);
  assert.match(t, /\| TCP ping-pong 64 B, both ends byway: half-RTT p99 \| lower \| us \| 90\.0 \| 45\.0 \(0\.50x\) \|/);
  assert.match(renderCounters(r3).join('\n'), /\| af-xdp\/busy\/both \(peer\) \| x \| udp\.recvBufferDrops 3 \|/);
  const d3 = renderDoc(r3, 'r.json');
  assert.match(d3, /## Both ends byway \(sfnt-pingpong layout\)/);
  assert.match(d3, /at 10\.77\.9\.4 on the veth end in B/);
  assert.doesNotMatch(renderDoc(rec, 'r.json'), /Both ends byway/);
  assert.match(d3, /one per stack, not pinned, on the 2 vCPUs/);
  const pinned = renderDoc({ ...r3, settings: { ...r3.settings, cpuPinning: 'subject on CPU 0, peer on CPU 1 (taskset)' } }, 'r.json');
  assert.match(pinned, /Processes are pinned \(`--pin`\): subject on CPU 0/);
  assert.match(pinned, /pinned apart \(subject on CPU 0, peer on CPU 1/);
  const merged = mergeRounds([[sym], [sym]]);
  assert.equal(merged[0]!.peer, 'byway');
  assert.equal(merged[0]!.workloads['udp-pp-64']!.peerCounters!['udp.recvBufferDrops'], 6);
}
console.log('bench selftest: symmetric ok');

// Per-round ratios: each round's byway figure over the same round's kernel figure, median and spread; the floor
// table divides by the floor of the same kind; floor paths are no column of byway/kernel; kicks are no ratio.
{
  type W = Record<string, number>;
  const mk = (id: string, stack: PathRecord['stack'], peer: PathRecord['peer'], pp: W, cap?: W): PathRecord => ({
    id, stack, mode: stack === 'kernel' ? null : 'busy', ...(peer ? { peer } : {}), ok: true, loadavgStart: [1, 1, 1], restarts: 0,
    workloads: { 'udp-pp-64': { ok: true, label: 'x', loadavg: [], metrics: pp }, ...(cap ? { 'udp-capacity': { ok: true, label: 'c', loadavg: [], metrics: cap } } : {}) },
  });
  // Round k: kernel p50 40, 20, 10; byway p50 10, 10, 10 -> ratios 0.25, 0.5, 1 (median 0.5), while the ratio of
  // the medians would be 10/20 = 0.5 too, but the spread is only known round by round.
  const kernelP50 = [40, 20, 10];
  const rounds = kernelP50.map((k, i) => [
    mk('kernel', 'kernel', undefined, { p50Us: k }, { capacityPerSec: 100_000, senderLimited: 0 }),
    mk('af-xdp/busy', 'af-xdp', undefined, { p50Us: 10, kicksPerRoundTrip: 1 }, { capacityPerSec: 50_000 + i, senderLimited: 0 }),
    mk('tap/busy', 'tap', undefined, { p50Us: 20 }),
    mk('af-packet-v2/busy/both', 'af-packet-v2', 'byway', { p50Us: 6 }),
    mk('floor-af-xdp', 'floor-af-xdp', 'floor', { p50Us: 2 }, { capacityPerSec: 700_000, senderLimited: 1 }),
    mk('floor-af-packet-v2', 'floor-af-packet-v2', 'floor', { p50Us: 3 }),
  ]);
  const r4: BenchRecord = { ...rec, settings: { ...rec.settings, offloads: 'on' }, rounds, paths: mergeRounds(rounds) };
  const p50 = metricSpecs(r4).find((m) => m.workload === 'udp-pp-64' && m.metric === 'p50Us')!;
  const st = ratioStats(r4, 'af-xdp/busy', 'kernel', p50)!;
  assert.deepEqual(st, { median: 0.5, min: 0.25, max: 1, rounds: 3 });
  assert.equal(fmtRatioStats(st), '0.50 (0.25–1.00)');
  const rt = renderRatioTable(r4);
  assert.match(rt, /^\| metric \| better \| af-xdp\/busy \| tap\/busy \|$/m);
  assert.match(rt, /\| UDP ping-pong 64 B, half-RTT p50 \| lower \| 0\.50 \(0\.25–1\.00\) \| 1\.00 \(0\.50–2\.00\) \|/);
  assert.doesNotMatch(rt, /kicks/);
  assert.match(rt, /receive capacity.*\| higher \| 0\.50 \(0\.50–0\.50\) \| – \|/);
  const ft = renderFloorTable(r4);
  assert.match(ft, /^\| metric \| better \| af-xdp\/busy \/ floor-af-xdp \| af-packet-v2\/busy\/both \/ floor-af-packet-v2 \|$/m);
  assert.match(ft, /\| UDP ping-pong 64 B, half-RTT p50 \| lower \| 5\.00 \(5\.00–5\.00\) \| 2\.00 \(2\.00–2\.00\) \|/);
  // The floor's capacity was sender-limited: a lower bound, so the ratio is marked.
  assert.match(ft, /receive capacity.*\| 0\.07 \(0\.07–0\.07\) † \|/);
  // TCP bulk receive with one connection has a floor on AF_PACKET only (tcp-sink-floor.c): its row divides
  // af-packet-tso by it, and the AF_XDP column, with no such floor figure, shows none.
  const bulk = (p: PathRecord, gbit: number): PathRecord => ({
    ...p,
    workloads: { ...p.workloads, 'tcp-bulk-rx-1': { ok: true, label: 'b', loadavg: [], metrics: { gbitPerSec: gbit } } },
  });
  const rb = [[bulk(mk('kernel', 'kernel', undefined, { p50Us: 40 }), 18), bulk(mk('af-xdp/busy', 'af-xdp', undefined, { p50Us: 10 }), 6),
    bulk(mk('af-packet-tso/busy', 'af-packet-tso', undefined, { p50Us: 10 }), 10), mk('floor-af-xdp', 'floor-af-xdp', 'floor', { p50Us: 2 }),
    bulk(mk('floor-af-packet-v2', 'floor-af-packet-v2', 'floor', { p50Us: 3 }), 20)]];
  const ftb = renderFloorTable({ ...rec, settings: { ...rec.settings, offloads: 'on' }, rounds: rb, paths: mergeRounds(rb) });
  assert.match(ftb, /^\| TCP bulk, subject receives, 1 conn: goodput \| higher \| – \| 0\.50 \|$/m);
  const abs = renderAbsoluteTable(r4);
  assert.match(abs, /\| UDP ping-pong 64 B, driver kicks per round trip \| kicks \| – \| 1\.00 \(1\.00–1\.00\) \|/);
  assert.match(abs, /receive capacity.*\| ≥ 700,000 \(700,000–700,000\) \| – \|$/m);
  const d4 = renderDoc(r4, 'r.json');
  assert.match(d4, /## byway \/ kernel \(offloads on: the kernel's defaults on both ends, as users run it\)/);
  assert.match(d4, /## byway \/ floor/);
  assert.match(d4, /Not measured in this record/);
  const off = renderDoc({ ...r4, settings: { ...r4.settings, offloads: 'off' } }, 'r.json');
  assert.match(off, /## byway \/ kernel \(offloads off on both ends: the secondary "same link settings" view\)/);
  // Records from before the offloads setting existed said offloadsOff: true.
  assert.match(renderDoc({ ...rec, settings: { ...rec.settings, offloadsOff: true } }, 'r.json'), /same link settings/);
  const jf = { seconds: 3, readNs: 30, gapsPerSec: { '>10us': 12, '>100us': 2 }, lostPct: 8.5, maxUs: 3400, gcs: 0, involuntarySwitches: 7, voluntarySwitches: 0 };
  const d5 = renderDoc({ ...r4, jitter: { seconds: 3, start: { cpu0: jf, cpu1: { error: 'taskset: failed' } }, end: { cpu0: jf } } }, 'r.json');
  assert.match(d5, /\| start \| cpu0 \| 8\.50 % \| 12 \| 2 \| 3,400 us \| 7 \|/);
  assert.match(d5, /\| start \| cpu1 \| failed: taskset: failed \|/);
  assert.match(d5, /\| end \| cpu0 \| 8\.50 % \|/);
  assert.equal(mergeRounds(rounds).find((p) => p.id === 'floor-af-xdp')!.peer, 'floor');
}
console.log('bench selftest: ratios, floor, jitter ok');

// The capacity search: doubling, then bisection to 10 %; a sender that falls short stops it as a lower bound.
{
  const fake = (receiverMax: number, senderMax = Infinity) => async (pps: number): Promise<CapacityTrial> => {
    const sent = Math.min(pps, senderMax);
    return judgeTrial(pps, sent, Math.min(sent, receiverMax), 1, 0.1);
  };
  const a = await searchCapacity(fake(300_000));
  assert.equal(a.stoppedBy, 'converged');
  assert.deepEqual(a.trials.slice(0, 4).map((t) => t.offeredPps), [50_000, 100_000, 200_000, 400_000]);
  assert.ok(a.capacityPps <= 300_000 && a.capacityPps >= 300_000 / 1.1, `capacity ${a.capacityPps}`);
  assert.ok(a.failedAtPps! > a.offeredPps && a.failedAtPps! / a.offeredPps <= 1.1);
  assert.equal(a.senderLimited, false);
  const b = await searchCapacity(fake(Infinity, 500_000));
  assert.equal(b.stoppedBy, 'sender');
  assert.equal(b.senderLimited, true);
  assert.equal(b.capacityPps, 500_000);
  assert.match(capacityOutcome(b).summary, /lower bound/);
  assert.equal(capacityOutcome(b).metrics['senderLimited'], 1);
  const c = await searchCapacity(fake(Infinity), { ...DEFAULT_SEARCH, maxPps: 200_000 });
  assert.equal(c.stoppedBy, 'max-rate');
  assert.equal(c.capacityPps, 200_000);
  // A receiver below the start rate: halving down, then bisecting up to it.
  const low = await searchCapacity(fake(20_000));
  assert.deepEqual(low.trials.slice(0, 3).map((t) => t.offeredPps), [50_000, 25_000, 12_500]);
  assert.equal(low.stoppedBy, 'converged');
  assert.ok(low.capacityPps <= 20_000 && low.capacityPps >= 20_000 / 1.1, `capacity ${low.capacityPps}`);
  const d = await searchCapacity(fake(1_000));
  assert.equal(d.stoppedBy, 'first-failed');
  assert.throws(() => capacityOutcome(d), /no rate passed/);
  let clock = 0;
  const e = await searchCapacity(async (pps) => ((clock += 10_000), fake(1e9)(pps)), { ...DEFAULT_SEARCH, deadlineMs: 25_000, now: () => clock });
  assert.equal(e.stoppedBy, 'deadline');
  assert.equal(e.trials.length, 3);
  // Exactly 0.1 % lost fails; just under passes.
  assert.equal(judgeTrial(100_000, 100_000, 99_900, 1, 0.1).pass, false);
  assert.equal(judgeTrial(100_000, 100_000, 99_901, 1, 0.1).pass, true);
}
console.log('bench selftest: capacity search ok');

// Kicks per round trip: from the workload's txKicks change over every round trip (warm-up included); nothing for a
// side whose driver has no such counter.
{
  const w = (): BenchRecord['paths'][number]['workloads'][string] => ({
    ok: true, label: 'x', loadavg: [], metrics: { p50Us: 5 }, raw: { client: { roundTripsTotal: 1000 } },
    counters: { 'driver.txKicks': 1500 }, peerCounters: { 'driver.rxFrames': 1000 },
  });
  const both = w();
  addKicksPerRoundTrip(both, { subject: true, peer: true });
  assert.equal(both.metrics!['kicksPerRoundTrip'], 1.5);
  assert.equal(both.metrics!['peerKicksPerRoundTrip'], 0);
  const none = w();
  addKicksPerRoundTrip(none, { subject: false, peer: false });
  assert.deepEqual(Object.keys(none.metrics!), ['p50Us']);
  const failed = { ok: false, label: 'x', loadavg: [] };
  addKicksPerRoundTrip(failed, { subject: true, peer: true });
  assert.equal('metrics' in failed, false);
}
console.log('bench selftest: kicks ok');

// What the offloads did: mean received frame size, truncation and checksum drops per receiving workload, failures.
{
  const p: PathRecord = {
    id: 'af-packet/event', stack: 'af-packet', mode: 'event', ok: true, loadavgStart: [1, 1, 1], restarts: 0,
    workloads: {
      'tcp-bulk-rx-1': { ok: true, label: 'TCP bulk, subject receives, 1 conn', loadavg: [], metrics: { gbitPerSec: 1 }, counters: { 'driver.rxFrames': 10, 'driver.rxBytes': 300_000, 'driver.rxTruncated': 4, 'tcp.badChecksum': 3 } },
      'tcp-bulk-rx-4': { ok: false, label: 'TCP bulk, subject receives, 4 conn', loadavg: [], error: 'ECONNFAIL: 0 of 4 | x' },
      'tcp-pp-64': { ok: true, label: 'not a receive workload', loadavg: [] },
    },
  };
  const t = renderOffloadEffects({ ...rec, paths: [p] }).join('\n');
  assert.match(t, /\| af-packet\/event \| TCP bulk, subject receives, 1 conn \| ran \| 10 \(30,000 B\) \| 4 \| 3 \|/);
  assert.match(t, /\| af-packet\/event \| TCP bulk, subject receives, 4 conn \| failed: ECONNFAIL: 0 of 4 \/ x \| 0 \(0 B\) \| 0 \| 0 \|/);
  assert.doesNotMatch(t, /not a receive workload/);
  const on = renderDoc({ ...rec, settings: { ...rec.settings, offloads: 'on' }, paths: [p] }, 'r.json');
  assert.match(on, /## What the kernel's offloads did to each byway path/);
  assert.doesNotMatch(renderDoc({ ...rec, settings: { ...rec.settings, offloads: 'off' }, paths: [p] }, 'r.json'), /offloads did/);
}
console.log('bench selftest: offload effects ok');
