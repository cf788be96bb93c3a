/**
 * Issue #13's fault mix over a real veth pair (root): two byway stacks on AF_PACKET, one in each of two fresh
 * namespaces, the fault middleware on both (bench/lib/fault-mix-real.ts); per seed one transfer A -> B through the
 * API, bounded to 90 s. The namespaces (bwfmA, bwfmB) are deleted at the end.
 *
 *   node --import tsx bench/fault-mix-veth.ts [seeds, e.g. 1,2,3] [bytes]
 */
import { execFileSync } from 'node:child_process';
import { openAfPacket } from '../drivers/af-packet/index.js';
import { runFaultMix } from './lib/fault-mix-real.js';

const ip = (...a: string[]): string => execFileSync('ip', a, { stdio: 'pipe' }).toString();
const seeds = (process.argv[2] ?? '1,2,3').split(',').map(Number);
const size = Number(process.argv[3] ?? 2_000_000);
const dropNs = (): void => {
  for (const n of ['bwfmA', 'bwfmB']) {
    try {
      ip('netns', 'del', n);
    } catch {
      // not there
    }
  }
};
dropNs();
ip('netns', 'add', 'bwfmA');
ip('netns', 'add', 'bwfmB');
try {
  ip('link', 'add', 'bwfma0', 'netns', 'bwfmA', 'type', 'veth', 'peer', 'name', 'bwfmb0', 'netns', 'bwfmB');
  ip('-n', 'bwfmA', 'link', 'set', 'bwfma0', 'up');
  ip('-n', 'bwfmB', 'link', 'set', 'bwfmb0', 'up');
  await runFaultMix({
    seeds,
    size,
    boundMs: 90_000,
    open: () => ({
      a: openAfPacket({ ifname: 'bwfma0', netns: 'bwfmA', ipv4: '10.79.1.1' }),
      b: openAfPacket({ ifname: 'bwfmb0', netns: 'bwfmB', ipv4: '10.79.1.2' }),
    }),
  });
} finally {
  dropNs();
}
process.exit(0);
