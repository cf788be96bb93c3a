/**
 * Before and after, in the same run: bench/inmemory-tcp.ts as it is at each given git revision, bundled with
 * esbuild from a detached worktree of that revision (so each side runs its own stack with its own harness), run
 * alternately round by round, and summarised per figure as the median with the lowest and highest round and the
 * ratio of medians to the first revision. On these shared VMs one bundle's runs vary by 1.5x or more between
 * processes, so only many alternated rounds of one run compare two trees (docs/performance-targets.md).
 *
 *   node --import tsx bench/ab-inmemory.ts --rev 3dc71b8 --rev HEAD [--rounds 10] [-- inmemory-tcp.ts args]
 *
 * Arguments after `--` go to inmemory-tcp.ts (default `--all`). `WORKTREE` is the working tree (uncommitted
 * changes included). The worktrees live under the system's temporary directory and are removed at the end.
 * Prints, per link and workload, the figures per CPU-second (user + system of the process), which a loaded
 * machine disturbs less than wall time.
 */
import { execFileSync } from 'node:child_process';
import { RevTrees } from './lib/rev-trees.js';
import { median } from './lib/stats.js';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const passed = dash >= 0 ? argv.slice(dash + 1) : ['--all'];
const revs: string[] = [];
let rounds = 10;
for (let i = 0; i < own.length; i++) {
  if (own[i] === '--rev') revs.push(own[++i]!);
  else if (own[i] === '--rounds') rounds = Number(own[++i]);
  else throw new Error(`unknown argument ${own[i]} (--rev R, --rounds N, -- args for inmemory-tcp.ts)`);
}
if (revs.length < 2) throw new Error('give at least two revisions: --rev A --rev B');
if (!(Number.isInteger(rounds) && rounds > 0)) throw new Error('--rounds must be a positive integer');

const trees = new RevTrees();

/** `label: request/response 64 B: 1,234 transactions/s (1,111 per CPU-second)` lines -> figure name -> per-CPU value. */
function parse(out: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of out.split('\n')) {
    const link = line.split(':')[0];
    const per = line.match(/\(([\d.,]+) per CPU-second\)/);
    if (link === undefined || per === null) continue;
    const kind = line.includes('request/response') ? 'transactions/s' : line.includes('bulk') ? 'Gbit/s' : undefined;
    if (kind !== undefined) m.set(`${link} ${kind}`, Number(per[1]!.replace(/,/g, '')));
  }
  return m;
}

const fmt = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(2));

try {
  const bundles = revs.map((r, i) => trees.bundle(r, i, 'bench/inmemory-tcp.ts'));
  const seen = revs.map(() => new Map<string, number[]>());
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < revs.length; i++) {
      const out = execFileSync(process.execPath, [bundles[i]!, ...passed], { encoding: 'utf8' });
      for (const [k, v] of parse(out)) {
        const list = seen[i]!.get(k) ?? [];
        list.push(v);
        seen[i]!.set(k, list);
      }
    }
    process.stderr.write(`round ${r + 1}/${rounds}\n`);
  }
  console.log(`per CPU-second, median (lowest-highest) of ${rounds} alternated rounds; x: ratio of medians to ${revs[0]}`);
  for (const k of seen[0]!.keys()) {
    const base = median(seen[0]!.get(k)!);
    const cells = revs.map((rev, i) => {
      const v = seen[i]!.get(k) ?? [];
      if (v.length === 0) return `${rev}: -`;
      const m = median(v);
      return `${rev}: ${fmt(m)} (${fmt(Math.min(...v))}-${fmt(Math.max(...v))}) x${(m / base).toFixed(2)}`;
    });
    console.log(`${k.padEnd(24)} ${cells.join(' | ')}`);
  }
} finally {
  trees.close();
}
