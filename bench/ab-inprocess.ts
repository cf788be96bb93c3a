/**
 * Before and after in one process: the in-memory TCP pair (bench/lib/pair-entry.ts: two NetStacks, one connection)
 * of two git revisions, each bundled from its own tree, loaded side by side into one Node process and run in
 * alternated bursts (the order swapped every burst). Each burst's figure is per CPU-second, and the two sides of a
 * burst see the same machine: on these shared VMs a process's speed moves by 1.5-2x within minutes and differs
 * between processes (bench/ab-inmemory.ts, process pairs, reads 25 % apart for one tree).
 *
 * Which bundle is loaded first matters too: single processes of the same two trees read x0.99-1.07 with one loaded
 * first and x0.99-1.09 with the other, each with an interquartile range under 2 % wide (2026-12-04). So the
 * measuring process runs `--runs` times (default 4), the loading order reversed every other run, and the result is
 * the geometric mean over the runs of each run's median per-burst ratio (B to A), each run's beside it.
 *
 *   node --import tsx bench/ab-inprocess.ts --rev A --rev B [--workload transactions|bulk] [--link ethernet|veth]
 *        [--bursts 30] [--burst N] [--runs 4]
 *
 * `WORKTREE` is the working tree (uncommitted changes included). --burst: transactions (default 50,000) or bytes
 * (default 100,000,000) per burst. Each side first runs four bursts' worth untimed (V8's optimised code). The trees
 * and bundles live under the system's temporary directory and are removed at the end. The measuring runs in a
 * child process (`--child`), pinned to nothing: pin the whole command with taskset to take one vCPU.
 */
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { RevTrees } from './lib/rev-trees.js';
import { median, pairedRatios } from './lib/stats.js';
import type { Pair, PairConfig } from './lib/pair-entry.js';

function opt(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const workload = opt('--workload', 'transactions');
if (workload !== 'transactions' && workload !== 'bulk') throw new Error(`--workload transactions|bulk, got ${workload}`);
const link = opt('--link', 'ethernet');
if (link !== 'ethernet' && link !== 'veth') throw new Error(`--link ethernet|veth, got ${link}`);
const bursts = Number(opt('--bursts', '30'));
const runs = Number(opt('--runs', '4'));
const burst = Number(opt('--burst', workload === 'transactions' ? '50000' : '100000000'));
if (!(Number.isInteger(bursts) && bursts > 1 && burst > 0 && Number.isInteger(runs) && runs > 0)) throw new Error('--bursts must be an integer above 1, --runs a positive integer and --burst positive');

async function child(bundles: string[]): Promise<void> {
  const pairs: Pair[] = [];
  for (const b of bundles) pairs.push(((await import(pathToFileURL(b).href)) as { makePair: (c: PairConfig) => Pair }).makePair({ mtu: 1500, offload: link === 'veth', tso: false }));
  const run = (p: Pair, n: number): void => (workload === 'transactions' ? p.transactions(n) : p.bulk(n));
  for (const p of pairs) run(p, 4 * burst);
  const perBurst = pairs.map((): number[] => []);
  for (let k = 0; k < bursts; k++) {
    const order = pairs.map((_, i) => i);
    if (k % 2 === 1) order.reverse();
    for (const i of order) {
      const c0 = process.cpuUsage();
      run(pairs[i]!, burst);
      const c = process.cpuUsage(c0);
      const cpu = (c.user + c.system) / 1e6;
      perBurst[i]!.push(workload === 'transactions' ? burst / cpu : (burst * 8) / cpu / 1e9);
    }
  }
  console.log(JSON.stringify(perBurst));
}

if (process.argv.includes('--child')) await child(opt('--child', '').split(','));
else {
  const revs: string[] = [];
  for (let i = 0; i < process.argv.length; i++) if (process.argv[i] === '--rev') revs.push(process.argv[i + 1]!);
  if (revs.length !== 2) throw new Error('give two revisions: --rev A --rev B');
  const trees = new RevTrees();
  try {
    const bundles = revs.map((r, i) => trees.bundle(r, i, 'bench/lib/pair-entry.ts', true));
    const fmt = (x: number): string => (workload === 'transactions' ? Math.round(x).toLocaleString('en') : x.toFixed(2));
    const unit = workload === 'transactions' ? 'transactions' : 'Gbit';
    console.log(`${workload} on the ${link}-like link, ${runs} processes of ${bursts} alternated bursts of ${burst.toLocaleString('en')}; ${unit} per CPU-second, median; x: ${revs[1]} to ${revs[0]}, median of the per-burst ratios (interquartile)`);
    const ratios: number[] = [];
    for (let k = 0; k < runs; k++) {
      const order = k % 2 === 0 ? [0, 1] : [1, 0]; // which tree's bundle the process loads first
      const args = [...process.execArgv, process.argv[1]!, '--child', order.map((i) => bundles[i]).join(','), '--workload', workload, '--link', link, '--bursts', String(bursts), '--burst', String(burst)];
      const out = execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
      const loaded = JSON.parse(out.trim().split('\n').pop()!) as number[][];
      const per = [loaded[order.indexOf(0)]!, loaded[order.indexOf(1)]!]; // back in --rev order
      const r = pairedRatios(per[0]!, per[1]!);
      ratios.push(r.median);
      console.log(`run ${k + 1}, ${revs[order[0]!]} loaded first: ${revs[0]} ${fmt(median(per[0]!))}, ${revs[1]} ${fmt(median(per[1]!))}  x${r.median.toFixed(3)} (${r.p25.toFixed(3)}-${r.p75.toFixed(3)})`);
    }
    const geo = Math.exp(ratios.reduce((a, x) => a + Math.log(x), 0) / ratios.length);
    console.log(`${revs[1]} to ${revs[0]}: x${geo.toFixed(3)} (geometric mean of ${runs} runs, loading order alternated; runs from x${Math.min(...ratios).toFixed(3)} to x${Math.max(...ratios).toFixed(3)})`);
  } finally {
    trees.close();
  }
}
