/**
 * Checks of the harness's pure parts (percentiles, ratios, the report renderers) that need no root:
 *   node --import tsx bench/selftest.ts
 * (bench/ is outside vitest's include list, so these run as a plain script and exit 1 on the first failure.)
 */
import assert from 'node:assert/strict';
import { mergeRounds } from './lib/merge.js';
import { Samples, median, percentile, summarize } from './lib/stats.js';
import { ratio, renderAbsoluteTable, renderCounters, renderDoc, renderRatioTable, renderSvg, renderSymmetricTable, type BenchRecord } from './report.js';

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
