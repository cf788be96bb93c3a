/** Shared fixtures for stack tests: stacks on an in-memory link, driven on a virtual clock. */
import { memoryLink, type MemoryLinkOptions } from '../../drivers/memory/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { expect } from 'vitest';
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

/**
 * Delegates to `inner`, showing `tap` every received frame (and its driver flags) before the stack gets it: `tap`
 * may record it or change its bytes in place.
 */
export function tapReceive(inner: FrameDriver, tap: (frame: Uint8Array, flags: number | undefined) => void): FrameDriver {
  return {
    get caps() {
      return inner.caps;
    },
    hwAddress: inner.hwAddress,
    stats: inner.stats,
    receive: (now, max, sink) =>
      inner.receive(now, max, (frame, flags) => {
        tap(frame, flags);
        sink(frame, flags);
      }),
    txReserve: (len) => inner.txReserve(len),
    txCommit: (now, len, segment) => (segment === undefined ? inner.txCommit(now, len) : inner.txCommit(now, len, segment)),
    flush: (now) => inner.flush(now),
    pollAt: (now) => inner.pollAt?.(now),
    setReadyCallback: (cb) => inner.setReadyCallback(cb),
    close: () => inner.close(),
  };
}

/** `n` bytes of a deterministic pseudo-random pattern. */
export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/**
 * A connects to B's port 80 and sends `pattern(size)`; B reads as data arrives. Runs the pair until all of it is
 * read (or `until` virtual ms pass) and expects every byte.
 */
export function transfer(p: Pair, size: number, until = 600_000): { got: Uint8Array; client: TcpConnection; server: TcpConnection } {
  const listener = p.b.tcp!.listen(0, 80, 16);
  let server: TcpConnection | undefined;
  listener.onConnection = (c) => (server = c);
  const client = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80);
  const data = pattern(size);
  let sent = 0;
  const got = new Uint8Array(size);
  let recvd = 0;
  const scratch = new Uint8Array(65536);
  const pump = () => {
    if (client.state === 'ESTABLISHED' && sent < size) sent += client.send(p.clock.now(), data.subarray(sent));
    if (server) {
      for (let n = server.read(p.clock.now(), scratch); n > 0; n = server.read(p.clock.now(), scratch)) {
        got.set(scratch.subarray(0, n), recvd);
        recvd += n;
      }
    }
    return 0;
  };
  p.run({ stopWhen: () => (pump(), recvd === size), until: p.clock.now() + until });
  expect(recvd).toBe(size);
  return { got: got.subarray(0, recvd), client, server: server! };
}
