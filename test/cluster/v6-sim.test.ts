/**
 * IPv6 on the AF_PACKET fanout cluster, on the virtual clock: two worker stacks behind the steering program's rules
 * (fanout.ts flowClass: TCP and UDP by port, NDP and the rest of ICMPv6 by worker 0's slot), the workers relaying
 * what plan.ts `fanoutRelays` selects. A router on the link (the peer, whose second prefix is off-link for the
 * workers) advertises itself; only worker 0 receives the advertisement, and worker 1 learns the default router
 * through the relay, so its own connection to the off-link address goes out through it. Fragmented datagrams: every
 * fragment goes by the source address (the first one too, though it carries the ports), so one worker gets them all
 * and reassembles: a datagram to a service port is delivered there; one to another worker's ephemeral port is
 * answered with port unreachable by a worker without the stray relay (these workers have none; with it the datagram
 * goes on to its owner: strays-sim.test.ts). On queues the device
 * picks (TAP, AF_XDP: the device's hash, here every frame of the peer on queue 0), the workers relay neighbour and
 * router advertisements too (plan.ts everyWorkerSees), so worker 1 resolves the peer it connects to.
 */
import { describe, expect, it } from 'vitest';
import { memoryLink, memoryQueues } from '../../drivers/memory/index.js';
import { relay, type RelayDriver } from '../../drivers/middleware/index.js';
import { flowClass, workerEphemeralRange } from '../../drivers/af-packet/fanout.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { seededRng } from '../../protocols/util/rng.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { runUntil } from '../../src/stack/sim.js';
import { NetStack } from '../../src/stack/stack.js';
import { everyWorkerSees, fanoutRelays, sliceOwner, workerSettings } from '../../src/cluster/plan.js';
import { v6, v6cidr } from '../ipv6/stack-helpers.js';
import { routerAdvertisement } from './ra.js';
import { workerStack } from './sim-workers.js';

/**
 * Two workers and the peer. 'fanout': the program's rule picks the queue (flowClass) and the workers relay what
 * `relays` selects; 'device': every frame of the peer lands on queue 0 (a device hash byway cannot compute), a
 * frame for the other worker's ephemeral slice hops to it (plan.ts sliceOwner), and the workers relay what `relays`
 * selects (everyWorkerSees on TAP and AF_XDP clusters).
 */
function makeCluster(relays: (f: Uint8Array) => boolean = fanoutRelays, peerAddresses: readonly string[] = [], steering: 'fanout' | 'device' = 'fanout') {
  const [peerEnd, serverEnd] = memoryLink({ mtu: 1500 });
  const clock = new VirtualClock(1_000);
  const spec = { workers: 2 };
  const received: number[][] = [[], []];
  const queues = memoryQueues(serverEnd, 2, (f) => {
    if (steering === 'device') return 0;
    const c = flowClass(spec, (f[12]! << 8) | f[13]!, f.subarray(14));
    return c === undefined ? 0 : c.worker;
  });
  const workers: RelayDriver[] = [];
  const hops: RelayDriver[] = [];
  const stacks: NetStack[] = [];
  for (let w = 0; w < 2; w++) {
    const hop = relay(queues[w]!, {
      match: (f) => steering === 'device' && (sliceOwner(spec, f) ?? w) !== w,
      divert: true,
      relay: (f) => hops[sliceOwner(spec, f)!]!.inject(f),
    });
    hops.push(hop);
    const r = relay(hop, { relay: (f) => workers.forEach((o, i) => i !== w && o.inject(f)), match: relays });
    workers.push(r);
    const s = workerSettings(spec, w, 0);
    stacks.push(workerStack(r, w, s, { ipv4: false }));
  }
  // The peer: on the link as fd00::1, and the router to fd01::/64 (its own fd01::1, off-link for the workers).
  const peer = new NetStack({ driver: peerEnd, addresses: [], addresses6: [v6cidr('fd00::1/64'), v6cidr('fd01::1/64'), ...peerAddresses.map(v6cidr)], ipv6: true, rng: seededRng(1) });
  peer.tcp!.listen(0, 80, 128, { family: 46 }).onConnection = (x) => {
    x.onReadable = () => {
      const b = new Uint8Array(64);
      const n = x.read(clock.now(), b);
      if (n > 0) x.send(clock.now(), b.subarray(0, n));
    };
  };
  /** The peer advertises itself as a default router (from its link-local address, to all nodes). */
  const advertise = (): void => {
    const f = routerAdvertisement(peerEnd.hwAddress!);
    peerEnd.txReserve(f.length)!.set(f);
    peerEnd.txCommit(clock.now(), f.length);
    peerEnd.flush(clock.now());
  };
  return { clock, peer, stacks, received, advertise, run: (ms: number) => runUntil(clock, [peer, ...stacks], { until: clock.now() + ms }) };
}

/** Worker `w` connects to [fd01::1]:80 and sends 3 bytes: the connection and the bytes echoed. */
function connectOffLink(c: ReturnType<typeof makeCluster>, w: number): { conn: TcpConnection; echoed: () => number } {
  const tcp = c.stacks[w]!.tcp!;
  const conn = tcp.connect(c.clock.now(), tcp.addrs.intern(v6('fd01::1')), 80);
  let echoed = 0;
  conn.onConnect = () => conn.send(c.clock.now(), new Uint8Array([1, 2, 3]));
  conn.onReadable = () => (echoed += conn.read(c.clock.now(), new Uint8Array(64)));
  return { conn, echoed: () => echoed };
}

describe('router advertisements on the fanout cluster', () => {
  it('worker 1 learns the default router from the advertisement worker 0 received, and reaches an off-link peer through it', () => {
    const c = makeCluster();
    c.run(3_500); // duplicate address detection (RFC 4862 5.4)
    c.advertise();
    c.run(100);
    expect(c.stacks.map((s) => s.stats.autoconf!.advertisements)).toEqual([1, 1]);
    const [a, b] = [connectOffLink(c, 0), connectOffLink(c, 1)];
    c.run(3_000);
    expect([a.conn.state, b.conn.state]).toEqual(['ESTABLISHED', 'ESTABLISHED']);
    expect([a.echoed(), b.echoed()]).toEqual([3, 3]);
  });

  it('without the relay of advertisements, worker 1 has no router for the off-link peer', () => {
    const c = makeCluster((f) => fanoutRelays(f) && f[54] !== 134);
    c.run(3_500);
    c.advertise();
    c.run(100);
    expect(c.stacks.map((s) => s.stats.autoconf!.advertisements)).toEqual([1, 0]);
    const a = connectOffLink(c, 0);
    expect(() => connectOffLink(c, 1)).toThrow(/no route/);
    c.run(3_000);
    expect(a.echoed()).toBe(3);
  });
});

describe('NDP on queues the device picks (TAP, AF_XDP own-address clusters)', () => {
  const spec = { workers: 2 };
  for (const relayed of [true, false]) {
    it(relayed ? "worker 1 resolves the peer through the advertisement that reached worker 0's queue, connects and is echoed" : 'without the advertisement relay, worker 1 never resolves the peer', () => {
      const c = makeCluster(relayed ? (f) => everyWorkerSees(spec, f) : (f) => everyWorkerSees(spec, f) && f[12] !== 0x86, [], 'device');
      c.run(3_500);
      const tcp = c.stacks[1]!.tcp!;
      const conn = tcp.connect(c.clock.now(), tcp.addrs.intern(v6('fd00::1')), 80);
      let echoed = 0;
      conn.onConnect = () => conn.send(c.clock.now(), new Uint8Array([1, 2, 3]));
      conn.onReadable = () => (echoed += conn.read(c.clock.now(), new Uint8Array(64)));
      c.run(5_000);
      expect(c.stacks[1]!.stats.ndp!.solicitationsSent).toBeGreaterThan(0);
      expect(echoed).toBe(relayed ? 3 : 0);
      expect(conn.state === 'ESTABLISHED').toBe(relayed);
    });
  }
});

describe('fragmented IPv6 datagrams on the fanout cluster', () => {
  /** `n` datagrams of 3000 bytes (three fragments at MTU 1500) from the peer's port 5000 + i to `port`, sources varied. */
  function sendFragmented(c: ReturnType<typeof makeCluster>, port: number, n: number, from?: Uint8Array): void {
    c.run(3_500);
    const sock = c.peer.udp.createSocket();
    sock.bind6(from, 5353);
    for (let i = 0; i < n; i++) sock.send6(c.clock.now(), new Uint8Array(3000).fill(i), v6('fd00::2'), port);
    c.run(200);
  }

  it('to a service port: the fragments of each datagram meet in one worker, which reassembles and delivers it', () => {
    const c = makeCluster();
    const got = [0, 0];
    c.stacks.forEach((s, w) => {
      const u = s.udp.createSocket();
      u.bind6(undefined, 7001);
      u.onMessage6 = (data) => (got[w]! += data.length === 3000 ? 1 : 0);
    });
    sendFragmented(c, 7001, 8);
    expect(got[0]! + got[1]!).toBe(8);
    const r = c.stacks.map((s) => s.stats.ipv6!.reassembly);
    expect(r[0]!.reassembled + r[1]!.reassembled).toBe(8);
    // Each worker got the three fragments of every datagram it reassembled, and no others.
    expect(r.map((x) => x.fragments)).toEqual(r.map((x) => 3 * x.reassembled));
  });

  it("to worker 1's ephemeral port: delivered only when the source address hashes to worker 1; else worker 0 answers port unreachable (not handed on, as on IPv4)", () => {
    const spec = { workers: 2 };
    // Two sources of the peer: one whose fragments the program sends to each worker (the hash of the address).
    const fragmentFrom = (a: string): number => {
      const ip = new Uint8Array(48);
      ip[0] = 0x60;
      ip[6] = 44;
      ip.set(v6(a), 8);
      return flowClass(spec, 0x86dd, ip)!.worker;
    };
    const sources = Array.from({ length: 32 }, (_, i) => `fd00::1:${i + 1}`);
    const from = [sources.find((a) => fragmentFrom(a) === 0)!, sources.find((a) => fragmentFrom(a) === 1)!];
    const port = workerEphemeralRange(spec, 1).low + 3;
    for (const w of [0, 1]) {
      const c = makeCluster(fanoutRelays, [`${from[w]!}/64`]);
      let got = 0;
      const u = c.stacks[1]!.udp.createSocket();
      u.bind6(undefined, port);
      u.onMessage6 = () => got++;
      sendFragmented(c, port, 4, v6(from[w]!));
      expect(c.stacks[w]!.stats.ipv6!.reassembly.reassembled).toBe(4);
      expect(got).toBe(w === 1 ? 4 : 0);
      expect(c.stacks[0]!.stats.icmpv6!.errorsSent).toBe(w === 1 ? 0 : 4);
    }
  });
});
