/**
 * The cluster's rules (src/cluster/plan.ts) on the virtual clock: one memory link end split into queues by the same
 * steering function the kernel runs (flowWorker through the slot table), one NetStack per queue with one address
 * and MAC, ARP relayed from the owner to the others. A port is served by every worker, connections made by a
 * worker come back to it, ARP is answered once, and when a worker dies the others keep their connections and take
 * the new ones. ICMP about a worker's flows (echo replies to its pings, port unreachable, fragmentation needed)
 * reaches that worker, not the one the sender's address hashes to.
 */
import { describe, expect, it } from 'vitest';
import { memoryLink, memoryQueues } from '../../drivers/memory/index.js';
import { relay, type RelayDriver } from '../../drivers/middleware/index.js';
import { flowWorker } from '../../drivers/af-packet/fanout.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { seededRng } from '../../protocols/util/rng.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { runUntil } from '../../src/stack/sim.js';
import { NetStack } from '../../src/stack/stack.js';
import { Membership, workerSettings } from '../../src/cluster/plan.js';
import { cidr, ip } from '../stack/harness.js';
import { buildEthernet, buildIpv4, fixL4Checksum } from '../../fuzz/lib/packets.js';

function makeCluster(workers: number) {
  const [clientEnd, serverEnd] = memoryLink({ mtu: 1500 });
  const clock = new VirtualClock(1_000);
  const spec = { workers };
  const members = new Membership(workers);
  for (let w = 0; w < workers; w++) members.join(w);
  let slots = members.slots();
  const queues = memoryQueues(serverEnd, workers, (f) => slots[flowWorker(spec, (f[12]! << 8) | f[13]!, f.subarray(14))]!);
  const relays: RelayDriver[] = [];
  const stacks: NetStack[] = [];
  for (let w = 0; w < workers; w++) {
    const r = relay(queues[w]!, { relay: (f) => relays.forEach((o, i) => i !== w && members.has(i) && o.inject(f)) });
    relays.push(r);
    const s = workerSettings(spec, w, 0);
    stacks.push(new NetStack({ driver: r, addresses: [cidr('10.0.0.2/24')], rng: seededRng(10 + w), answerArp: s.answerArp, udp: s.limits.udp, tcp: s.limits.tcp, icmp: s.limits.icmp }));
  }
  const client = new NetStack({ driver: clientEnd, addresses: [cidr('10.0.0.1/24')], rng: seededRng(1) });
  let alive = stacks.map(() => true);
  return {
    clock,
    client,
    clientEnd,
    stacks,
    /** Run the workers only: the client is frozen (what it was sent waits, unacknowledged). */
    runWorkers: (ms: number) => runUntil(clock, stacks.filter((_, i) => alive[i]), { until: clock.now() + ms }),
    run: (ms: number) => runUntil(clock, [client, ...stacks.filter((_, i) => alive[i])], { until: clock.now() + ms }),
    /** Worker `w` dies: its queue closes, the kernel reorders members, the primary installs the new slots. */
    kill(w: number) {
      alive = alive.map((a, i) => a && i !== w);
      queues[w]!.close();
      members.leave(w);
      const owner = members.arpOwner!;
      // Memory queues keep their index (no kernel reordering here): a dead worker's class goes to the ARP owner.
      slots = slots.map((_, cls) => (members.has(cls) ? cls : owner));
      stacks[owner]!.answerArp = true;
    },
  };
}

describe('cluster steering on the virtual clock', () => {
  it('a listening port is served by every worker, each accepting the flows its queue gets; ARP is answered once', () => {
    const c = makeCluster(2);
    const accepted = [0, 0];
    c.stacks.forEach((s, w) => (s.tcp!.listen(0, 80, 128).onConnection = () => accepted[w]!++));
    const conns: TcpConnection[] = [];
    for (let i = 0; i < 40; i++) conns.push(c.client.tcp!.connect(c.clock.now(), ip('10.0.0.2'), 80));
    c.run(5_000);
    expect(conns.filter((x) => x.state === 'ESTABLISHED')).toHaveLength(40);
    expect(accepted[0]! + accepted[1]!).toBe(40);
    expect(accepted[0]).toBeGreaterThan(5);
    expect(accepted[1]).toBeGreaterThan(5);
    expect(c.client.stats.arp.repliesReceived).toBe(1);
    for (const s of c.stacks) expect(s.stats.tcp!.rstsSent).toBe(0);
  });

  it("each worker's outgoing connections come back to it (its ephemeral slice); a worker learns the peer's MAC from relayed ARP", () => {
    const c = makeCluster(3);
    let accepted = 0;
    c.client.tcp!.listen(0, 8080, 128).onConnection = () => accepted++;
    const conns: TcpConnection[][] = c.stacks.map((s) => Array.from({ length: 10 }, () => s.tcp!.connect(c.clock.now(), ip('10.0.0.1'), 8080)));
    c.run(5_000);
    for (let w = 0; w < 3; w++) {
      expect(conns[w]!.filter((x) => x.state === 'ESTABLISHED')).toHaveLength(10);
      const s = workerSettings({ workers: 3 }, w, 0).limits.tcp;
      for (const x of conns[w]!) expect(x.localPort >= s.ephemeralLow && x.localPort <= s.ephemeralHigh).toBe(true);
    }
    expect(accepted).toBe(30);
    for (const s of c.stacks) expect(s.stats.tcp!.rstsSent).toBe(0);
    expect(c.client.stats.tcp!.rstsSent).toBe(0);
  });

  it('UDP: a bound port is served by every worker; replies to a worker\'s ephemeral port reach it', () => {
    const c = makeCluster(2);
    const got = [0, 0];
    c.stacks.forEach((s, w) => {
      const u = s.udp.createSocket();
      u.bind(0, 53);
      u.onMessage = () => got[w]!++;
    });
    for (let i = 0; i < 32; i++) {
      const u = c.client.udp.createSocket();
      u.bind(0, 0);
      u.send(c.clock.now(), new Uint8Array([i]), ip('10.0.0.2'), 53);
    }
    const echo = c.client.udp.createSocket();
    echo.bind(0, 7);
    echo.onMessage = (d, src, sport) => echo.send(c.clock.now(), d.slice(), src, sport);
    const back = [0, 0];
    c.stacks.forEach((s, w) => {
      const u = s.udp.createSocket();
      u.bind(0, 0);
      u.onMessage = () => back[w]!++;
      for (let i = 0; i < 5; i++) u.send(c.clock.now(), new Uint8Array([w, i]), ip('10.0.0.1'), 7);
    });
    c.run(3_000);
    expect(got[0]! + got[1]!).toBe(32);
    expect(got[0]).toBeGreaterThan(0);
    expect(got[1]).toBeGreaterThan(0);
    expect(back).toEqual([5, 5]);
  });

  it('a worker dies: the others keep their connections and take every new one, and the ARP role moves', () => {
    const c = makeCluster(2);
    const accepted = [0, 0];
    const served: TcpConnection[][] = [[], []];
    c.stacks.forEach((s, w) => (s.tcp!.listen(0, 80, 128).onConnection = (x) => {
      accepted[w]!++;
      served[w]!.push(x);
    }));
    const before = Array.from({ length: 20 }, () => c.client.tcp!.connect(c.clock.now(), ip('10.0.0.2'), 80));
    c.run(3_000);
    expect(accepted[0]).toBeGreaterThan(0);
    expect(accepted[1]).toBeGreaterThan(0);
    c.kill(0);
    // Worker 1's connections still carry data both ways.
    const survivors = before.filter((x) => served[1]!.some((s) => s.remotePort === x.localPort));
    expect(survivors.length).toBe(accepted[1]);
    let echoed = 0;
    for (const s of served[1]!) s.onReadable = () => {
      const b = new Uint8Array(16);
      const n = s.read(c.clock.now(), b);
      if (n > 0) s.send(c.clock.now(), b.subarray(0, n));
    };
    for (const x of survivors) {
      x.onReadable = () => {
        const b = new Uint8Array(16);
        if (x.read(c.clock.now(), b) > 0) echoed++;
      };
      x.send(c.clock.now(), new Uint8Array([1, 2, 3]));
    }
    const after = Array.from({ length: 10 }, () => c.client.tcp!.connect(c.clock.now(), ip('10.0.0.2'), 80));
    c.run(3_000);
    expect(echoed).toBe(survivors.length);
    expect(after.filter((x) => x.state === 'ESTABLISHED')).toHaveLength(10);
    expect(accepted[1]).toBe(survivors.length + 10);
    expect(c.stacks[1]!.answerArp).toBe(true);
  });
});

describe("cluster steering: ICMP about a worker's flows reaches that worker", () => {
  it('echo replies to every worker\'s pings come back to it (its identifier is in its slice)', () => {
    const c = makeCluster(3);
    const results: Array<boolean | undefined> = [undefined, undefined, undefined];
    c.stacks.forEach((s, w) => s.ping(c.clock.now(), ip('10.0.0.1'), { timeoutMs: 1_000 }, (r) => (results[w] = r.ok)));
    c.run(3_000);
    expect(results).toEqual([true, true, true]);
  });

  it("port unreachable for a worker's UDP datagram reaches its socket", () => {
    const c = makeCluster(3);
    const errors = [0, 0, 0];
    c.stacks.forEach((s, w) => {
      const u = s.udp.createSocket();
      u.bind(0, 0);
      u.onError = () => errors[w]!++;
      u.send(c.clock.now(), new Uint8Array([w]), ip('10.0.0.1'), 9); // no socket there: port unreachable
    });
    c.run(3_000);
    expect(errors).toEqual([1, 1, 1]);
    for (const s of c.stacks) expect(s.stats.icmp.errorsUnmatched).toBe(0);
  });

  it("fragmentation needed (from a router) quoting a worker's TCP segment in flight reaches it and lowers its path MTU", () => {
    const c = makeCluster(3);
    c.client.tcp!.listen(0, 8080, 128);
    const conns = c.stacks.map((s) => s.tcp!.connect(c.clock.now(), ip('10.0.0.1'), 8080));
    c.run(2_000);
    expect(conns.map((x) => x.state)).toEqual(['ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED']);
    for (const x of conns) x.send(c.clock.now(), new Uint8Array(3000));
    c.runWorkers(10); // sent, not acknowledged: the client is frozen
    const serverMac = c.stacks[0]!.mac;
    const clientMac = c.client.mac;
    conns.forEach((x) => {
      // The quoted packet: byway's IPv4 header and the first 8 bytes of its TCP header (ports, sequence number).
      const tcp = new Uint8Array(8);
      tcp[0] = x.localPort >> 8;
      tcp[1] = x.localPort & 0xff;
      tcp[3] = 8080 & 0xff;
      tcp[2] = 8080 >> 8;
      new DataView(tcp.buffer).setUint32(4, x.snd.sndUna);
      const quoted = buildIpv4({ src: ip('10.0.0.2'), dst: ip('10.0.0.1'), proto: 6, payload: tcp, flagsFrag: 0x4000 });
      new DataView(quoted.buffer).setUint16(2, 1500); // the quoted datagram's own length
      const icmp = new Uint8Array(8 + quoted.length);
      icmp[0] = 3;
      icmp[1] = 4;
      new DataView(icmp.buffer).setUint16(6, 1000); // next-hop MTU
      icmp.set(quoted, 8);
      const pkt = buildIpv4({ src: ip('10.0.0.254'), dst: ip('10.0.0.2'), proto: 1, payload: icmp });
      fixL4Checksum(pkt, 0);
      const frame = buildEthernet(serverMac, clientMac, 0x0800, pkt);
      c.clientEnd.txReserve(frame.length)!.set(frame);
      c.clientEnd.txCommit(c.clock.now(), frame.length);
    });
    c.clientEnd.flush(c.clock.now());
    c.runWorkers(10);
    expect(c.stacks.map((s) => s.stats.icmp.pmtuUpdates)).toEqual([1, 1, 1]);
    expect(c.stacks.map((s) => s.mtuFor(ip('10.0.0.1')))).toEqual([1000, 1000, 1000]);
  });
});

describe('Membership (the kernel fanout group order)', () => {
  it('appends on join, moves the last member into a leaver\'s place, and maps workers without a member to the ARP owner', () => {
    const m = new Membership(4);
    expect(m.slotsAfterJoin(0)).toEqual([0, 0, 0, 0]);
    for (const w of [0, 1, 2, 3]) m.join(w);
    expect(m.slots()).toEqual([0, 1, 2, 3]);
    m.leave(1); // the kernel: arr[1] = arr[3]
    expect(m.slots()).toEqual([0, 0, 2, 1]);
    m.leave(0); // arr[0] = arr[2] (worker 2); the ARP owner is now worker 2
    expect(m.arpOwner).toBe(2);
    expect(m.slots()).toEqual([0, 0, 0, 1]);
    // Worker 1 rejoins at the end and, the lowest live worker, becomes the ARP owner: dead worker 0's class follows it.
    expect(m.slotsAfterJoin(1)).toEqual([2, 2, 0, 1]);
    m.join(1);
    expect(m.slots()).toEqual([2, 2, 0, 1]);
    expect(m.arpOwner).toBe(1);
    expect(m.live).toEqual([1, 2, 3]);
    expect(() => m.join(1)).toThrow();
  });
});
