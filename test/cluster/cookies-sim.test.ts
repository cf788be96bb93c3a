/**
 * SYN cookies across a cluster's workers (src/cluster/cookies.ts), on the virtual clock: two worker stacks sharing
 * one address, every SYN answered with a cookie (a SYN queue of 0), and steering that sends a client's SYN to worker
 * 0 and the rest of its segments to worker 1 (what a moved service table, a dead worker's class taken by another,
 * or a hash that differs by direction does to a handshake). Worker 1's clock starts 300 s after worker 0's, as a
 * worker thread's or a replacement process's `performance.now()` does. With the cluster's shared secret and each
 * worker's clock origin, worker 1 validates worker 0's cookie and the connection opens there, over IPv4 and IPv6;
 * with a secret each, or with the secret but the clocks not put on one line, worker 1 answers the ACK with a RST,
 * as Linux answers an ACK whose cookie fails (cookie_v4_check leaves it to the listener, which resets it).
 */
import { describe, expect, it } from 'vitest';
import { memoryLink, memoryQueues } from '../../drivers/memory/index.js';
import { relay, type RelayDriver } from '../../drivers/middleware/index.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { seededRng } from '../../protocols/util/rng.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { runUntil, type Pollable } from '../../src/stack/sim.js';
import { NetStack } from '../../src/stack/stack.js';
import { fanoutRelays, workerSettings } from '../../src/cluster/plan.js';
import { cookieKeyFromEnv, cookieKeyToEnv, COOKIE_ENV, sharedCookies } from '../../src/cluster/cookies.js';
import { memberFromEnv, memberStackOptions } from '../../src/register/member.js';
import { cidr, ip } from '../stack/harness.js';
import { workerStack } from './sim-workers.js';
import { v6, v6cidr } from '../ipv6/stack-helpers.js';

/** How much later worker 1's clock starts than worker 0's (ms). */
const LATER = 300_000;

/** A TCP segment (IPv4 or IPv6, no extension headers) whose flags are SYN alone. */
function isBareSyn(f: Uint8Array): boolean {
  const type = (f[12]! << 8) | f[13]!;
  if (type === 0x0800 && f[23] === 6) return (f[14 + (f[14]! & 0x0f) * 4 + 13]! & 0x12) === 0x02;
  if (type === 0x86dd && f[20] === 6) return (f[54 + 13]! & 0x12) === 0x02;
  return false;
}

const isTcp = (f: Uint8Array): boolean => (f[12] === 0x08 && f[13] === 0x00 && f[23] === 6) || (f[12] === 0x86 && f[13] === 0xdd && f[20] === 6);

/** A stack polled on a clock `shift` ms behind the simulation's (its origin that much later). */
function shifted(s: NetStack, shift: number): Pollable {
  return {
    poll: (now) => s.poll(now - shift),
    pollAt: (now) => {
      const at = s.pollAt(now - shift);
      return at === undefined ? undefined : at + shift;
    },
  };
}

type Sharing = 'shared' | 'own secrets' | 'one secret, own clocks';

function makeCluster(sharing: Sharing) {
  const [clientEnd, serverEnd] = memoryLink({ mtu: 1500 });
  const clock = new VirtualClock(1_000_000);
  const spec = { workers: 2 };
  // A client's bare SYN and everything not TCP (ARP, NDP) to worker 0; its other TCP segments to worker 1.
  const queues = memoryQueues(serverEnd, 2, (f) => (isTcp(f) && !isBareSyn(f) ? 1 : 0));
  const relays: RelayDriver[] = [];
  const stacks: NetStack[] = [];
  const key = Uint8Array.from({ length: 16 }, (_, i) => 0x40 + i);
  for (let w = 0; w < 2; w++) {
    const r = relay(queues[w]!, { relay: (f) => relays.forEach((o, i) => i !== w && o.inject(f)), match: fanoutRelays });
    relays.push(r);
    const s = workerSettings(spec, w, 0);
    // Worker w's clock reads w * LATER less than worker 0's at one instant: its origin is that much later.
    const cookies =
      sharing === 'shared' ? { cookieKey: key, cookieTimeOrigin: 5_000_000 + w * LATER } : sharing === 'one secret, own clocks' ? { cookieKey: key } : {};
    stacks.push(workerStack(r, w, s, { tcp: cookies }));
  }
  const client = new NetStack({ driver: clientEnd, addresses: [cidr('10.0.0.1/24')], addresses6: [v6cidr('fd00::1/64')], ipv6: true, rng: seededRng(1) });
  const nodes = [client, stacks[0]!, shifted(stacks[1]!, LATER)];
  const served: TcpConnection[][] = [[], []];
  for (let w = 0; w < 2; w++) {
    // A SYN queue of 0: every SYN is answered with a cookie (RFC 4987 3.6), as under a SYN flood.
    stacks[w]!.tcp!.listen(0, 80, 128, { family: 46, synQueueLimit: 0 }).onConnection = (x) => {
      served[w]!.push(x);
      x.onReadable = () => {
        const b = new Uint8Array(64);
        const n = x.read(clock.now() - w * LATER, b);
        if (n > 0) x.send(clock.now() - w * LATER, b.subarray(0, n));
      };
    };
  }
  return { clock, client, stacks, served, run: (ms: number) => runUntil(clock, nodes, { until: clock.now() + ms }) };
}

/** `n` clients connect to port 80 (IPv4 or IPv6) and each sends 3 bytes; returns them and what came back. */
function connectAndSend(c: ReturnType<typeof makeCluster>, family: 4 | 6, n: number): { conns: TcpConnection[]; echoed: Map<TcpConnection, number> } {
  c.run(3_500); // IPv6 duplicate address detection (RFC 4862 5.4)
  const server = family === 4 ? ip('10.0.0.2') : c.client.tcp!.addrs.intern(v6('fd00::2'));
  const conns = Array.from({ length: n }, () => c.client.tcp!.connect(c.clock.now(), server, 80));
  const echoed = new Map<TcpConnection, number>();
  for (const x of conns) {
    x.onReadable = () => {
      echoed.set(x, (echoed.get(x) ?? 0) + x.read(c.clock.now(), new Uint8Array(64)));
    };
    x.onConnect = () => x.send(c.clock.now(), new Uint8Array([1, 2, 3]));
  }
  c.run(5_000);
  return { conns, echoed };
}

describe('SYN cookies across workers', () => {
  for (const family of [4, 6] as const) {
    it(`IPv${family}: with the cluster's secret and clock line, worker 1 opens the connection whose cookie worker 0 sent`, () => {
      const c = makeCluster('shared');
      const { conns, echoed } = connectAndSend(c, family, 10);
      const [w0, w1] = c.stacks.map((s) => s.stats.tcp!);
      expect(w0!.synCookiesSent).toBe(10);
      expect(w0!.passiveOpens).toBe(0);
      expect(w1!.synCookiesValidated).toBe(10);
      expect(w1!.synCookiesFailed).toBe(0);
      expect(c.served[1]).toHaveLength(10);
      expect(conns.every((x) => x.state === 'ESTABLISHED' && echoed.get(x) === 3)).toBe(true);
      expect(w0!.rstsSent + w1!.rstsSent + c.client.stats.tcp!.rstsSent).toBe(0);
    });
  }

  for (const sharing of ['own secrets', 'one secret, own clocks'] as const) {
    it(`${sharing}: worker 1 answers the ACK of worker 0's cookie with a RST, as Linux answers a failed cookie`, () => {
      const c = makeCluster(sharing);
      const { conns, echoed } = connectAndSend(c, 4, 10);
      const [w0, w1] = c.stacks.map((s) => s.stats.tcp!);
      expect(w0!.synCookiesSent).toBe(10);
      expect(w1!.synCookiesValidated).toBe(0);
      expect(w1!.synCookiesFailed).toBeGreaterThanOrEqual(10);
      expect(w1!.rstsSent).toBeGreaterThanOrEqual(10);
      expect(c.client.stats.tcp!.rstsReceived).toBeGreaterThanOrEqual(10);
      expect(c.served[1]).toHaveLength(0);
      expect(conns.filter((x) => x.state === 'ESTABLISHED')).toHaveLength(0);
      expect(echoed.size).toBe(0);
    });
  }
});

describe('the cluster secret reaches every worker', () => {
  it('byway run --workers: BYWAY_COOKIE becomes the stack\'s cookieKey and a clock origin; malformed values are refused', () => {
    const key = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
    const env = { BYWAY_WORKER: '1/2', BYWAY_CLUSTER: '/run/x.sock', BYWAY_FANOUT: '7:0,1:0,1', BYWAY_ARP: 'relay', [COOKIE_ENV]: cookieKeyToEnv(key) };
    const cfg = memberFromEnv(env)!;
    expect(cfg.cookieKey).toEqual(key);
    const tcp = memberStackOptions(cfg, { limits: { tcp: { mss: 1400 } } }).limits!.tcp!;
    expect(tcp.cookieKey).toEqual(key);
    expect(tcp.mss).toBe(1400);
    expect(tcp.ephemeralLow).toBeGreaterThan(49152); // the worker's own slice still lies over the program's limits
    // performance.now() + the origin is the machine's monotonic clock (process.hrtime), to well under a millisecond.
    expect(Math.abs(performance.now() + tcp.cookieTimeOrigin! - Number(process.hrtime.bigint()) / 1e6)).toBeLessThan(1);
    expect(memberFromEnv({ ...env, [COOKIE_ENV]: undefined })!.cookieKey).toBeUndefined();
    expect(() => cookieKeyFromEnv({ [COOKIE_ENV]: 'abc' })).toThrow(/BYWAY_COOKIE/);
    expect(sharedCookies(key).cookieKey).toBe(key);
  });
});
