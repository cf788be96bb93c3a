/** Shared fixtures for stack tests: stacks on an in-memory link, driven on a virtual clock. */
import { memoryLink, type MemoryLinkOptions } from '../../drivers/memory/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { parseCidr, parseIpv4 } from '../../protocols/ipv4/address.js';
import { seededRng } from '../../protocols/util/rng.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { runUntil, type RunOptions } from '../../src/stack/sim.js';
import { NetStack, type StackConfig } from '../../src/stack/stack.js';

export const ip = (s: string): number => {
  const v = parseIpv4(s);
  if (v === undefined) throw new Error(`bad address ${s}`);
  return v;
};

export const cidr = (s: string) => {
  const v = parseCidr(s);
  if (v === undefined) throw new Error(`bad prefix ${s}`);
  return v;
};

export function makeStack(driver: FrameDriver, address: string, seed: number, extra: Partial<StackConfig> = {}): NetStack {
  return new NetStack({ driver, addresses: [cidr(address)], rng: seededRng(seed), ...extra });
}

export interface Pair {
  clock: VirtualClock;
  a: NetStack;
  b: NetStack;
  run(options?: RunOptions): boolean;
}

/** Two stacks, 10.0.0.1/24 and 10.0.0.2/24, on a memory link, optionally through wrappers (faults, pcap). */
export function makePair(
  options: {
    wrapA?: (d: FrameDriver) => FrameDriver;
    wrapB?: (d: FrameDriver) => FrameDriver;
    configA?: Partial<StackConfig>;
    configB?: Partial<StackConfig>;
    mtu?: number;
    /** More memory-link options (tso, checksum caps). */
    link?: MemoryLinkOptions;
  } = {},
): Pair {
  const [da, db] = memoryLink({ mtu: options.mtu ?? 1500, ...options.link });
  const clock = new VirtualClock(1_000);
  const a = makeStack(options.wrapA ? options.wrapA(da) : da, '10.0.0.1/24', 1, options.configA);
  const b = makeStack(options.wrapB ? options.wrapB(db) : db, '10.0.0.2/24', 2, options.configB);
  return { clock, a, b, run: (o = {}) => runUntil(clock, [a, b], o) };
}
