/**
 * Issue #13's fault mix over TAP, as the issue's tester most likely ran it (root): two byway stacks, each on its own
 * TAP device, the two TAPs bridged in a namespace this script creates (bwfmT, bridge bwfmbr0), the fault middleware
 * on both (bench/lib/fault-mix-real.ts); per seed one transfer A -> B through the API, bounded to 120 s. The TAPs
 * vanish when the stacks close; the namespace (with its bridge) is deleted at the end.
 *
 *   node --import tsx bench/fault-mix-tap.ts [seeds: 40,41 or 30-49] [bytes, default 4 MB] [same]
 *
 * `same` gives B the same seed as A (the issue names one seed for both sides); by default B's is seed + 1000.
 */
import { execFileSync } from 'node:child_process';
import { openTap } from '../drivers/tap/index.js';
import { runFaultMix } from './lib/fault-mix-real.js';

const NS = 'bwfmT';
const ip = (...a: string[]): string => execFileSync('ip', a, { stdio: 'pipe' }).toString();
const arg = process.argv[2] ?? '40,41';
const range = /^(\d+)-(\d+)$/.exec(arg);
const seeds = range ? Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i) : arg.split(',').map(Number);
const size = Number(process.argv[3] ?? 4_000_000);
const dropNs = (): void => {
  try {
    ip('netns', 'del', NS);
  } catch {
    // not there
  }
};
dropNs();
ip('netns', 'add', NS);
try {
  ip('-n', NS, 'link', 'add', 'bwfmbr0', 'type', 'bridge');
  ip('-n', NS, 'link', 'set', 'bwfmbr0', 'up');
  await runFaultMix({
    seeds,
    size,
    boundMs: 120_000,
    bSeedOffset: process.argv[4] === 'same' ? 0 : 1000,
    open: () => {
      const a = openTap({ name: 'bwfmta', netns: NS });
      const b = openTap({ name: 'bwfmtb', netns: NS });
      for (const t of [a, b]) {
        ip('-n', NS, 'link', 'set', t.ifname, 'master', 'bwfmbr0');
        ip('-n', NS, 'link', 'set', t.ifname, 'up');
      }
      return { a, b };
    },
  });
} finally {
  dropNs();
}
process.exit(0);
