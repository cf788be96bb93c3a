/**
 * Merging the rounds of a `--repeat N` run into one record per path. Pure.
 */
import { median } from './stats.js';
import type { PathRecord, WorkloadRecord } from '../report.js';

const round = (x: number, d: number): number => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : NaN);

/**
 * One PathRecord per path from several rounds: each metric is the median of the rounds where the workload
 * succeeded; counters are summed; failures are kept with how many rounds failed. Raw results stay in the rounds.
 */
export function mergeRounds(rounds: PathRecord[][]): PathRecord[] {
  if (rounds.length === 1) return rounds[0]!;
  const ids = rounds[0]!.map((p) => p.id);
  return ids.map((id) => {
    const recs = rounds.map((r) => r.find((p) => p.id === id)).filter((p): p is PathRecord => p !== undefined);
    const first = recs[0]!;
    const errors = [...new Set(recs.map((p) => p.error).filter((e): e is string => e !== undefined))];
    const merged: PathRecord = {
      id,
      stack: first.stack,
      mode: first.mode,
      ...(first.peer ? { peer: first.peer } : {}),
      ok: recs.some((p) => p.ok),
      ...(errors.length ? { error: `${recs.filter((p) => p.error).length} of ${recs.length} rounds: ${errors.join('; ')}` } : {}),
      loadavgStart: first.loadavgStart,
      loadavgEnd: recs[recs.length - 1]!.loadavgEnd,
      init: first.init,
      commands: first.commands,
      workloads: {},
      restarts: recs.reduce((a, p) => a + p.restarts, 0),
    };
    const wids = [...new Set(recs.flatMap((p) => Object.keys(p.workloads)))];
    for (const wid of wids) {
      const ws = recs.map((p) => p.workloads[wid]).filter((w): w is WorkloadRecord => w !== undefined);
      const good = ws.filter((w) => w.ok && w.metrics);
      const failed = ws.filter((w) => !w.ok);
      const metrics: Record<string, number> = {};
      for (const k of new Set(good.flatMap((w) => Object.keys(w.metrics!)))) metrics[k] = round(median(good.map((w) => w.metrics![k]!)), 3);
      const counters: Record<string, number> = {};
      for (const w of ws) for (const [k, v] of Object.entries(w.counters ?? {})) counters[k] = (counters[k] ?? 0) + v;
      const peerCounters: Record<string, number> = {};
      for (const w of ws) for (const [k, v] of Object.entries(w.peerCounters ?? {})) peerCounters[k] = (peerCounters[k] ?? 0) + v;
      const wr: WorkloadRecord = { ok: good.length > 0, label: ws[0]!.label, loadavg: ws[0]!.loadavg, rounds: ws.length, okRounds: good.length };
      if (good.length) wr.metrics = metrics;
      if (Object.keys(counters).length) wr.counters = counters;
      if (Object.keys(peerCounters).length) wr.peerCounters = peerCounters;
      if (failed.length) wr.error = `${failed.length} of ${ws.length} rounds failed: ${[...new Set(failed.map((w) => w.error))].join('; ')}`;
      const uncaught = ws.flatMap((w) => w.uncaught ?? []);
      if (uncaught.length) wr.uncaught = uncaught;
      merged.workloads[wid] = wr;
    }
    return merged;
  });
}

