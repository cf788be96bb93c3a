/**
 * The in-memory workload of bench/run.ts in rounds: bench/inmemory-tcp.ts run once per round, each round a fresh
 * process, and the rounds merged into one record whose figures are medians with the lowest and highest round, as
 * every other workload of a `--repeat N` run (the targets are medians of at least 3 rounds; one process's
 * figure on these VMs moves by 10-15 % from one run to the next). Pure but for `runInMemoryRounds`, which runs the
 * processes.
 *
 * The record keeps the shape one round had (top-level `mtu`, `bulk`, `transactions` of the first link, and `links`),
 * with the medians in the fields a single round filled, so scripts that read records need no change; what is new is
 * each figure's `Min` / `Max` companion (`gbitPerSecMin`, `perSecMax`...) and `rounds` (every round's own figures).
 */
import { execFileSync } from 'node:child_process';
import { median } from './stats.js';

/** The vCPU a timed phase started and ended on (bench/inmemory-tcp.ts; null where /proc did not say; none before 2026-12-04 21:00 UTC). */
export type RanOn = [number | null, number | null];

/** One link's figures from one round (bench/inmemory-tcp.ts --json, `links[i]`). */
export interface InMemoryLinkRound {
  link: string;
  mtu: number;
  checksumOffload: boolean;
  tso?: boolean;
  bulk: { bytes: number; gbitPerSec: number; gbitPerCpuSec: number; seconds?: number; cpuSeconds?: number; ranOn?: RanOn };
  transactions: { count: number; size?: number; perSec: number; perCpuSec: number; seconds?: number; cpuSeconds?: number; ranOn?: RanOn };
  [k: string]: unknown;
}

/** One round's record (the JSON line bench/inmemory-tcp.ts prints last). */
export interface InMemoryRound {
  links: InMemoryLinkRound[];
  cpu?: unknown;
  [k: string]: unknown;
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** `name` -> median, `nameMin`, `nameMax` over the rounds' values (rounded like the rounds' own figures). */
function spread(values: number[], name: string, round: (x: number) => number): Record<string, number> {
  return { [name]: round(median(values)), [`${name}Min`]: round(Math.min(...values)), [`${name}Max`]: round(Math.max(...values)) };
}

/**
 * One record from several rounds: per link (in the first round's order, matched by name), each rate is the median
 * of the rounds with its min and max; byte and transaction counts are the first round's (every round runs the same
 * command). The rounds themselves are kept under `rounds`.
 */
export function mergeInMemoryRounds(rounds: InMemoryRound[]): Record<string, unknown> {
  if (rounds.length === 0) throw new Error('mergeInMemoryRounds: no rounds');
  const links = rounds[0]!.links.map((first) => {
    const all = rounds.map((r) => r.links.find((l) => l.link === first.link)).filter((l): l is InMemoryLinkRound => l !== undefined);
    return {
      ...first,
      rounds: all.length,
      bulk: {
        bytes: first.bulk.bytes,
        ...spread(all.map((l) => l.bulk.gbitPerSec), 'gbitPerSec', r3),
        ...spread(all.map((l) => l.bulk.gbitPerCpuSec), 'gbitPerCpuSec', r3),
      },
      transactions: {
        count: first.transactions.count,
        ...(first.transactions.size !== undefined ? { size: first.transactions.size } : {}),
        ...spread(all.map((l) => l.transactions.perSec), 'perSec', Math.round),
        ...spread(all.map((l) => l.transactions.perCpuSec), 'perCpuSec', Math.round),
      },
    };
  });
  const top = links[0]!;
  return { mtu: top.mtu, bulk: top.bulk, transactions: top.transactions, links, rounds };
}

/**
 * Run `node ...nodeArgs` (bench/inmemory-tcp.ts with --json) `count` times, each a process of its own, and merge the
 * rounds. `log` hears each round's own lines. Throws what a failing round threw (the caller records it).
 */
export function runInMemoryRounds(nodeArgs: string[], count: number, cwd: string, log: (line: string) => void): Record<string, unknown> {
  const rounds: InMemoryRound[] = [];
  for (let i = 0; i < count; i++) {
    const out = execFileSync('node', nodeArgs, { cwd, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = out.trim().split('\n');
    if (count > 1) log(`   round ${i + 1} of ${count}:`);
    for (const l of lines.slice(0, -1)) log(`   ${l}`);
    rounds.push(JSON.parse(lines[lines.length - 1]!) as InMemoryRound);
  }
  return mergeInMemoryRounds(rounds);
}
