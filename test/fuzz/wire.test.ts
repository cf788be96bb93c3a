/**
 * CI slice of the fuzzers for the wire codecs, checksum, address parsers, reassembly and the pcap reader: each
 * target runs a fixed number of inputs (seed corpus, fast-check generators, mutation) with a fixed seed, and
 * must report no failure. `npm run fuzz` runs the same targets for as long as asked.
 */
import { describe, expect, it } from 'vitest';
import { TargetFuzzer } from '../../fuzz/engine.js';
import { targetByName } from '../../fuzz/targets/index.js';

const SEED = 0xb1a5;
const BUDGET: Record<string, number> = {
  ethernet: 15_000,
  arp: 15_000,
  ipv4: 15_000,
  icmp: 15_000,
  udp: 15_000,
  tcp: 10_000,
  checksum: 15_000,
  address: 15_000,
  reassembly: 2_500,
  pcap: 10_000,
  'ipv6-address': 15_000,
  ipv6: 10_000,
  icmpv6: 15_000,
  'ipv6-reassembly': 1_500,
  'ndp-host': 1_500,
  mld: 3_000,
};

describe('fuzz slice: parsers', () => {
  for (const [name, n] of Object.entries(BUDGET)) {
    it(`${name}: ${n} inputs with seed ${SEED} uphold every oracle`, () => {
      const target = targetByName(name);
      expect(target).toBeDefined();
      const f = new TargetFuzzer(target!, { seed: SEED, slowMs: 10_000 });
      const failure = f.step(n);
      expect(failure?.error).toBeUndefined();
      expect(f.execs).toBeGreaterThanOrEqual(n);
      // The seeds ran and the feedback kept more than the seeds: the generators and mutators reach new behaviour.
      expect(f.corpus.length).toBeGreaterThan(target!.seeds().length);
    });
  }
});
