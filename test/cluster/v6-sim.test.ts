/**
 * IPv6 on the AF_PACKET fanout cluster, on the virtual clock: two worker stacks behind the steering program's rules
 * (fanout.ts flowClass: TCP and UDP by port, NDP and the rest of ICMPv6 by worker 0's slot), the workers relaying
 * what plan.ts `fanoutRelays` selects. A router on the link (the peer, whose second prefix is off-link for the
 * workers) advertises itself; only worker 0 receives the advertisement, and worker 1 learns the default router
 * through the relay, so its own connection to the off-link address goes out through it.
 */
import { describe, expect, it } from 'vitest';
import { memoryLink, memoryQueues } from '../../drivers/memory/index.js';
import { relay, type RelayDriver } from '../../drivers/middleware/index.js';
import { flowClass } from '../../drivers/af-packet/fanout.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { seededRng } from '../../protocols/util/rng.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { runUntil } from '../../src/stack/sim.js';
import { NetStack } from '../../src/stack/stack.js';
import { fanoutRelays, workerSettings } from '../../src/cluster/plan.js';
import { v6, v6cidr } from '../ipv6/stack-helpers.js';
import { routerAdvertisement } from './ra.js';

function makeCluster(relays: (f: Uint8Array) => boolean = fanoutRelays) {
  const [peerEnd, serverEnd] = memoryLink({ mtu: 1500 });
  const clock = new VirtualClock(1_000);
  const spec = { workers: 2 };
  const received: number[][] = [[], []];
  const queues = memoryQueues(serverEnd, 2, (f) => {
    const c = flowClass(spec, (f[12]! << 8) | f[13]!, f.subarray(14));
    return c === undefined ? 0 : c.worker;
  });
  const workers: RelayDriver[] = [];
  const stacks: NetStack[] = [];
  for (let w = 0; w < 2; w++) {
    const r = relay(queues[w]!, { relay: (f) => workers.forEach((o, i) => i !== w && o.inject(f)), match: relays });
    workers.push(r);
    const s = workerSettings(spec, w, 0);
    stacks.push(
      new NetStack({
        driver: r,
        addresses: [],
        addresses6: [v6cidr('fd00::2/64')],
        ipv6: true,
        rng: seededRng(10 + w),
        answerArp: s.answerArp,
        udp: s.limits.udp,
        tcp: s.limits.tcp,
        icmp: s.limits.icmp,
      }),
    );
  }
  // The peer: on the link as fd00::1, and the router to fd01::/64 (its own fd01::1, off-link for the workers).
  const peer = new NetStack({ driver: peerEnd, addresses: [], addresses6: [v6cidr('fd00::1/64'), v6cidr('fd01::1/64')], ipv6: true, rng: seededRng(1) });
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
