/** Two stacks with IPv6 on a memory link, driven on the virtual clock (for the test/ipv6/stack-*.test.ts files). */
import { memoryLink } from '../../drivers/memory/index.js';
import type { MemoryLinkOptions } from '../../drivers/memory/link.js';
import type { FrameDriver } from '../../drivers/types.js';
import { seededRng } from '../../protocols/util/rng.js';
import { parseIpv6, parseIpv6Cidr } from '../../protocols/ipv6/address.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { runUntil } from '../../src/stack/sim.js';
import { NetStack, type StackConfig } from '../../src/stack/stack.js';
import type { Ping6Result } from '../../src/stack/ipv6.js';
import { cidr } from '../stack/harness.js';

export const v6 = (s: string): Uint8Array => {
  const a = parseIpv6(s);
  if (a === undefined) throw new Error(`bad IPv6 address ${s}`);
  return a;
};
export const v6cidr = (s: string) => {
  const c = parseIpv6Cidr(s);
  if (c === undefined) throw new Error(`bad IPv6 prefix ${s}`);
  return c;
};

export interface Pair6 {
  clock: VirtualClock;
  a: NetStack;
  b: NetStack;
  da: FrameDriver;
  db: FrameDriver;
  run(until?: number, stopWhen?: () => boolean): void;
}

/** Two stacks on a memory link; `a`/`b` get the given addresses ('fd00::1/64', '10.0.0.1/24', ...). */
export function makePair6(
  addrA: string[],
  addrB: string[],
  extra: { a?: Partial<StackConfig>; b?: Partial<StackConfig>; mtu?: number; link?: MemoryLinkOptions; wrapA?: (d: FrameDriver) => FrameDriver; wrapB?: (d: FrameDriver) => FrameDriver } = {},
): Pair6 {
  const [da, db] = memoryLink({ ...extra.link, mtu: extra.mtu ?? 1500 });
  const clock = new VirtualClock(1_000);
  const make = (d: FrameDriver, addrs: string[], seed: number, x: Partial<StackConfig> = {}) =>
    new NetStack({
      driver: d,
      addresses: addrs.filter((s) => !s.includes(':')).map(cidr),
      addresses6: addrs.filter((s) => s.includes(':')).map(v6cidr),
      ipv6: true,
      rng: seededRng(seed),
      ...x,
    });
  const a = make(extra.wrapA ? extra.wrapA(da) : da, addrA, 1, extra.a);
  const b = make(extra.wrapB ? extra.wrapB(db) : db, addrB, 2, extra.b);
  return {
    clock,
    a,
    b,
    da,
    db,
    run: (until, stopWhen) => void runUntil(clock, [a, b], { ...(until === undefined ? {} : { until }), ...(stopWhen === undefined ? {} : { stopWhen }) }),
  };
}

export function ping6(p: Pair6, from: NetStack, to: string, options: { size?: number; timeoutMs?: number } = {}): Ping6Result {
  let result: Ping6Result | undefined;
  from.ipv6!.ping(p.clock.now(), v6(to), options, (r) => (result = r));
  runUntil(p.clock, [p.a, p.b], { stopWhen: () => result !== undefined });
  if (result === undefined) throw new Error('ping never finished');
  return result;
}

