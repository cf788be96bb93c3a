/**
 * Strays on the virtual clock (src/cluster/strays.ts, plan.ts strayNext): two worker stacks sharing one address
 * behind the steering program's two tables (flowClass: 'slots' for ARP and the ephemeral slices, 'service' for the
 * hashed client classes), the supervisor's routing in between. Worker 0 joins serving nothing (its class goes to
 * worker 1), clients open connections worker 1 accepts, then worker 0 serves and takes its class: the later
 * segments of those connections land on worker 0, which holds no connection for them and hands them on, so worker 1
 * keeps serving them and nobody is reset; new connections spread over both. A segment of a flow nobody holds gets
 * exactly one RST. The same over IPv6, whose TCP the fanout program sends by the same tables, while NDP goes by worker
 * 0's slot: a worker 0 that has joined but does not serve yet gets no IPv6 client, and worker 1 resolves its
 * clients through the neighbour advertisements worker 0 relays (plan.ts fanoutRelays). A client whose SYN-ACK was
 * lost retransmits its SYN after the table moved its class: the SYN goes on to the worker holding the connection
 * half-open (strays.ts HalfOpens), and the client completes with that one.
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
import { fanoutRelays, splitSegment, strayFrame, strayFrame6, strayNext, workerSettings } from '../../src/cluster/plan.js';
import { HalfOpens, StrayRelay, routeStray } from '../../src/cluster/strays.js';
import { verifyTcpChecksum } from '../../protocols/tcp/wire.js';
import { verifyTcp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import { cidr, ip } from '../stack/harness.js';
import { workerStack } from './sim-workers.js';
import { v6, v6cidr } from '../ipv6/stack-helpers.js';

/** An IPv4 TCP segment with SYN and ACK set (a SYN-ACK). */
const isSynAck = (f: Uint8Array): boolean => f[12] === 0x08 && f[13] === 0x00 && f[23] === 6 && (f[14 + (f[14]! & 0x0f) * 4 + 13]! & 0x12) === 0x12;

function makeCluster(maxMessage?: number) {
  const [wire, serverEnd] = memoryLink({ mtu: 1500 });
  /** While dropSynAcks[0], every SYN-ACK the client would receive is lost. */
  const dropSynAcks = [false];
  const clientEnd = relay(wire, { match: (f) => dropSynAcks[0]! && isSynAck(f), divert: true, relay: () => {} });
  const clock = new VirtualClock(1_000);
  const spec = { workers: 2 };
  /** The service table: class -> worker (worker 0 not serving yet: its class goes to worker 1). */
  const service = [1, 1];
  /**
   * Where worker 0's slot goes for IPv6 (NDP, the rest of ICMPv6, worker 0's ephemeral slice): its own member once it
   * has joined (0), the ARP owner's while it has none (1). ARP goes to worker 1 here (the ARP owner).
   */
  const slot0 = [1];
  /** While set, every frame goes to that worker's queue (a datagram the steering sent elsewhere, say). */
  const misroute: Array<number | undefined> = [undefined];
  const queues = memoryQueues(serverEnd, 2, (f) => {
    if (misroute[0] !== undefined) return misroute[0];
    const type = (f[12]! << 8) | f[13]!;
    const c = flowClass(spec, type, f.subarray(14));
    if (c === undefined) return 0;
    if (c.table === 'service') return service[c.worker]!;
    if (type === 0x0806) return 1;
    return type === 0x86dd && c.worker === 0 ? slot0[0]! : c.worker;
  });
  const relays: RelayDriver[] = [];
  const stacks: NetStack[] = [];
  const strays: StrayRelay[] = [];
  const halfOpens: HalfOpens[] = [];
  const live = [0, 1];
  // The supervisor's routing of a stray (processes.ts), without the socket between it and the workers.
  const route = (w: number, payload: Uint8Array): void => {
    const m = routeStray(w, payload, live)!;
    const frame = strays[m.to]!.received(m.message, clock.now());
    if (frame !== undefined) relays[m.to]!.inject(frame);
  };
  for (let w = 0; w < 2; w++) {
    const h = new HalfOpens(spec, Uint8Array.of(2, 0, 0, 0, 0, 2), (payload) => {
      strays[w]!.counters.sent++; // counted with the strays, as member.ts does
      route(w, payload);
    });
    halfOpens.push(h);
    const syns = relay(queues[w]!, { match: (f) => h.diverts(f, clock.now()), divert: true, relay: (f) => h.divert(f) });
    const r = relay(syns, { relay: (f) => relays.forEach((o, i) => i !== w && o.inject(f)), match: fanoutRelays });
    relays.push(r);
    const s = workerSettings(spec, w, 1);
    const stack = workerStack(r, w, s);
    stacks.push(stack);
    // The worker's preload and the supervisor (member.ts, processes.ts), without the socket between them.
    const sr = new StrayRelay({ ...spec, index: w }, r.hwAddress!, (payload) => route(w, payload), maxMessage);
    strays.push(sr);
    sr.attach(stack.tcp!, undefined, () => clock.now(), stack.udp);
  }
  const client = new NetStack({ driver: clientEnd, addresses: [cidr('10.0.0.1/24')], addresses6: [v6cidr('fd00::1/64')], ipv6: true, rng: seededRng(1) });
  /** What the supervisor does at a table change: each worker's half-open connections listed to the others. */
  const retable = (): void => {
    for (let w = 0; w < 2; w++) {
      const list = halfOpens[w]!.list(stacks[w]!.tcp!);
      if (list.length > 0) halfOpens.forEach((o, i) => i !== w && o.learn(Uint8Array.of(w, ...list), clock.now()));
    }
  };
  return { clock, client, stacks, strays, halfOpens, relays, service, slot0, misroute, dropSynAcks, retable, live, run: (ms: number) => runUntil(clock, [client, ...stacks], { until: clock.now() + ms }) };
}

/** Echo what a server connection reads; count what a client connection reads. */
function echo(c: ReturnType<typeof makeCluster>, s: TcpConnection): void {
  s.onReadable = () => {
    const b = new Uint8Array(64);
    const n = s.read(c.clock.now(), b);
    if (n > 0) s.send(c.clock.now(), b.subarray(0, n));
  };
}

/** Worker `w` listens on port 80 (`family`), echoing; each connection it accepts goes into `served[w]`. */
function serve(c: ReturnType<typeof makeCluster>, w: number, served: TcpConnection[][], family: 4 | 46 = 4): void {
  c.stacks[w]!.tcp!.listen(0, 80, 128, { family }).onConnection = (x) => {
    served[w]!.push(x);
    echo(c, x);
  };
}

/** Each connection sends 3 bytes; the map counts the bytes that come back on each. */
function sendThree(c: ReturnType<typeof makeCluster>, conns: readonly TcpConnection[]): Map<TcpConnection, number> {
  const echoed = new Map<TcpConnection, number>();
  for (const x of conns) {
    x.onReadable = () => {
      const b = new Uint8Array(64);
      echoed.set(x, (echoed.get(x) ?? 0) + x.read(c.clock.now(), b));
    };
    x.send(c.clock.now(), new Uint8Array([1, 2, 3]));
  }
  return echoed;
}

/**
 * Worker 0 handed on the moved flows' segments and worker 1 took them, nobody reset anything; then `before` and
 * worker 1's ends close, the FINs and last ACKs of the moved flows going the same way, still with no RST.
 */
function expectRelayedThenClosed(c: ReturnType<typeof makeCluster>, before: readonly TcpConnection[], held: readonly TcpConnection[]): void {
  expect(c.strays[0]!.counters.sent).toBe(c.stacks[0]!.stats.tcp!.strayHandedOff + c.halfOpens[0]!.counters.diverted);
  expect(c.strays[1]!.counters.received).toBe(c.strays[0]!.counters.sent);
  for (const s of [c.client, ...c.stacks]) expect(s.stats.tcp!.rstsSent).toBe(0);
  for (const x of before) x.close(c.clock.now());
  for (const x of held) x.close(c.clock.now());
  c.run(5_000);
  expect(before.every((x) => x.state === 'TIME-WAIT' || x.state === 'CLOSED')).toBe(true);
  expect(held.every((x) => x.state === 'TIME-WAIT' || x.state === 'CLOSED')).toBe(true);
  for (const s of [c.client, ...c.stacks]) expect(s.stats.tcp!.rstsSent).toBe(0);
}

describe('strays: a worker that starts serving does not reset the flows another holds', () => {
  it('connections worker 1 accepted for worker 0 class keep working after worker 0 serves; new ones spread; no RST', () => {
    const c = makeCluster();
    const served: TcpConnection[][] = [[], []];
    serve(c, 1, served);
    const before = Array.from({ length: 20 }, () => c.client.tcp!.connect(c.clock.now(), ip('10.0.0.2'), 80));
    c.run(2_000);
    expect(before.filter((x) => x.state === 'ESTABLISHED')).toHaveLength(20);
    expect(served[1]).toHaveLength(20);
    // Worker 0 serves: it listens, and the table gives it its class.
    serve(c, 0, served);
    c.service[0] = 0;
    const echoed = sendThree(c, before);
    const after = Array.from({ length: 20 }, () => c.client.tcp!.connect(c.clock.now(), ip('10.0.0.2'), 80));
    c.run(2_000);
    expect(before.filter((x) => echoed.get(x) === 3)).toHaveLength(20);
    expect(before.every((x) => x.state === 'ESTABLISHED')).toBe(true);
    expect(after.filter((x) => x.state === 'ESTABLISHED')).toHaveLength(20);
    expect(served[0]!.length).toBeGreaterThan(3);
    expect(served[1]!.length - 20).toBeGreaterThan(3);
    expect(c.stacks[0]!.stats.tcp!.strayHandedOff).toBeGreaterThan(0);
    expectRelayedThenClosed(c, before, served[1]!.slice(0, 20)); // worker 1's first 20: the `before` ones
  });

  it('a segment of a flow nobody holds is asked of the other worker, then answered with exactly one RST', () => {
    const c = makeCluster();
    c.service[0] = 0;
    c.service[1] = 1;
    c.stacks.forEach((s) => s.tcp!.listen(0, 80, 128));
    c.run(1);
    // An ACK with data of a flow neither worker holds (as after its holder died), steered to worker 0.
    const seg = new Uint8Array(21);
    seg.set([0x30, 0x39, 0x00, 0x50, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0x50, 0x18, 0xff, 0xff], 0);
    seg[20] = 9;
    c.relays[0]!.inject(strayFrame(c.relays[0]!.hwAddress!, ip('10.0.0.1'), ip('10.0.0.2'), seg));
    c.run(1_000);
    expect(c.stacks[0]!.stats.tcp!.rstsSent + c.stacks[1]!.stats.tcp!.rstsSent).toBe(1);
    expect(c.strays[0]!.counters.sent).toBe(1); // worker 0 asked worker 1 (final): worker 1 answered
    expect(c.strays[1]!.counters).toEqual({ sent: 0, received: 1, final: 1, limited: 0, split: 0, oversize: 0 });
    expect(c.stacks[1]!.stats.tcp!.rstsSent).toBe(1);
  });
});

// A half-open connection (SYN-RECEIVED) on the old worker whose client retransmits its SYN after the table moved its
// class: the SYN reaches the new worker, whose listener would open a second connection with another ISN. The old
// worker owns it (strays.ts HalfOpens): the new worker sends the SYN on to it, and the client completes with it.
describe('a SYN retransmitted after the switch, for a connection half-open on the old worker', () => {
  const halfOpen = (c: ReturnType<typeof makeCluster>, w: number): number => [...c.stacks[w]!.tcp!.connections()].filter((x) => x.state === 'SYN-RECEIVED').length;

  it('goes to the old worker, which answers it with its SYN-ACK again: the client completes with it, no second connection, no RST', () => {
    const c = makeCluster();
    const served: TcpConnection[][] = [[], []];
    serve(c, 1, served);
    serve(c, 0, served); // its program listens; the table still gives its class to worker 1
    c.run(1);
    c.dropSynAcks[0] = true;
    const conns = Array.from({ length: 20 }, () => c.client.tcp!.connect(c.clock.now(), ip('10.0.0.2'), 80));
    c.run(300);
    expect(halfOpen(c, 1)).toBe(20); // every SYN-ACK lost
    c.dropSynAcks[0] = false;
    // The table moves worker 0's class to it; the supervisor has each worker list its half-open connections.
    c.service[0] = 0;
    c.retable();
    expect(c.halfOpens[1]!.counters.listed).toBe(20);
    expect(c.halfOpens[0]!.counters.learned).toBe(20);
    c.run(3_000); // the client's SYNs go again after 1 s; worker 1's SYN-ACKs too
    expect(conns.filter((x) => x.state === 'ESTABLISHED')).toHaveLength(20);
    expect(served[1]).toHaveLength(20);
    expect(served[0]).toHaveLength(0);
    expect(c.stacks[0]!.stats.tcp!.passiveOpens).toBe(0); // worker 0 answered none of the SYNs itself
    expect(c.halfOpens[0]!.counters.diverted).toBeGreaterThan(3); // the retransmitted SYNs of its class
    expect(c.strays[0]!.counters.sent).toBe(c.stacks[0]!.stats.tcp!.strayHandedOff + c.halfOpens[0]!.counters.diverted);
    const echoed = sendThree(c, conns);
    c.run(2_000);
    expect(conns.filter((x) => echoed.get(x) === 3)).toHaveLength(20);
    for (const s of [c.client, ...c.stacks]) expect(s.stats.tcp!.rstsSent).toBe(0);
    expectRelayedThenClosed(c, conns, served[1]!);
  });

  it('a half-open connection whose holder has dropped it: the SYN comes back, final, and the worker it reached answers it', () => {
    const c = makeCluster();
    const served: TcpConnection[][] = [[], []];
    serve(c, 0, served);
    serve(c, 1, served);
    c.service[0] = 0;
    c.run(1);
    // Worker 0 was told worker 1 holds every flow half-open, but worker 1 holds none (gone meanwhile): a SYN that
    // reaches worker 0 goes to worker 1, whose listener takes it as a new connection (its later segments reach
    // worker 0: strays, handed to worker 1). Nobody is reset and the client completes.
    const conns = Array.from({ length: 20 }, () => c.client.tcp!.connect(c.clock.now(), ip('10.0.0.2'), 80));
    const ports = conns.map((x) => x.localPort);
    const records = ports.flatMap((p) => [4, 10, 0, 0, 1, 10, 0, 0, 2, p >> 8, p & 0xff, 0, 80]);
    c.halfOpens[0]!.learn(Uint8Array.of(1, ...records), c.clock.now());
    c.run(2_000);
    expect(conns.filter((x) => x.state === 'ESTABLISHED')).toHaveLength(20);
    expect(served[0]).toHaveLength(0);
    expect(served[1]).toHaveLength(20);
    expect(c.halfOpens[0]!.counters.diverted).toBeGreaterThan(3);
    const echoed = sendThree(c, conns);
    c.run(2_000);
    expect(conns.filter((x) => echoed.get(x) === 3)).toHaveLength(20);
    for (const s of [c.client, ...c.stacks]) expect(s.stats.tcp!.rstsSent).toBe(0);
  });

  it('learn keeps a flow 64 s and drops a malformed record; list skips ephemeral ports and established connections', () => {
    const h = new HalfOpens({ workers: 2 }, Uint8Array.of(2, 0, 0, 0, 0, 2), () => {});
    h.learn(Uint8Array.of(1, 4, 10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0, 80, 9, 9), 0); // one record, then junk
    expect(h.counters.learned).toBe(1);
    const syn = strayFrame(Uint8Array.of(2, 0, 0, 0, 0, 2), ip('10.0.0.1'), ip('10.0.0.2'), Uint8Array.of(0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0));
    expect(h.diverts(syn, 63_000)).toBe(true);
    const ack = syn.slice();
    ack[34 + 13] = 0x10;
    expect(h.diverts(ack, 63_000)).toBe(false); // not a SYN: the stray hook's business
    expect(h.diverts(syn, 64_001)).toBe(false); // past the holder's SYN-RECEIVED lifetime
    const tcp = {
      addrs: { bytes: () => undefined },
      connections: () => [
        { state: 'SYN-RECEIVED', localIp: ip('10.0.0.2'), localPort: 80, remoteIp: ip('10.0.0.1'), remotePort: 1234 },
        { state: 'SYN-RECEIVED', localIp: ip('10.0.0.2'), localPort: 50000, remoteIp: ip('10.0.0.1'), remotePort: 1234 },
        { state: 'ESTABLISHED', localIp: ip('10.0.0.2'), localPort: 80, remoteIp: ip('10.0.0.1'), remotePort: 1235 },
      ],
    };
    expect([...h.list(tcp)]).toEqual([4, 10, 0, 0, 1, 10, 0, 0, 2, 1234 >> 8, 1234 & 0xff, 0, 80]);
  });
});

// IPv6 on the AF_PACKET fanout cluster: TCP by the service table like IPv4, NDP by worker 0's slot (fanout.ts).
describe('IPv6 on the fanout cluster: the join window, and a worker that starts serving', () => {
  it("IPv6 clients while a joined worker 0 does not serve yet are worker 1's, resolved through the relayed advertisements; then worker 0 serves: no RST", () => {
    const c = makeCluster();
    c.slot0[0] = 0; // worker 0 has joined: NDP comes to it; its class of clients still goes to worker 1
    const served: TcpConnection[][] = [[], []];
    serve(c, 1, served, 46);
    c.run(3_500); // duplicate address detection (RFC 4862 5.4) before the addresses are usable
    const server6 = c.client.tcp!.addrs.intern(v6('fd00::2'));
    const before = Array.from({ length: 20 }, () => c.client.tcp!.connect(c.clock.now(), server6, 80));
    c.run(3_000);
    expect(before.filter((x) => x.state === 'ESTABLISHED')).toHaveLength(20);
    expect(served[1]).toHaveLength(20);
    // Worker 1 asked for the client's address; the advertisement reached worker 0, which relayed it.
    expect(c.stacks[1]!.stats.ndp!.solicitationsSent).toBeGreaterThan(0);
    expect(c.stacks[0]!.stats.ndp!.solicitationsAnswered).toBeGreaterThan(0); // the client's for the address
    expect(c.relays[0]!.counters.relayed).toBeGreaterThan(0);
    // Worker 0 serves: its class of IPv6 clients goes to it, the flows worker 1 holds are handed on.
    serve(c, 0, served, 46);
    c.service[0] = 0;
    const echoed = sendThree(c, before);
    const after = Array.from({ length: 20 }, () => c.client.tcp!.connect(c.clock.now(), server6, 80));
    c.run(2_000);
    expect(before.filter((x) => echoed.get(x) === 3)).toHaveLength(20);
    expect(after.filter((x) => x.state === 'ESTABLISHED')).toHaveLength(20);
    expect(served[0]!.length).toBeGreaterThan(3);
    expect(served[1]!.length - 20).toBeGreaterThan(3);
    expect(c.stacks[0]!.stats.tcp!.strayHandedOff).toBeGreaterThan(0);
    expectRelayedThenClosed(c, before, served[1]!.slice(0, 20));
  });

  it('a segment of an IPv6 flow nobody holds is asked of the other worker, then answered with exactly one RST', () => {
    const c = makeCluster();
    c.slot0[0] = 0;
    c.service[0] = 0;
    c.stacks.forEach((s) => s.tcp!.listen(0, 80, 128, { family: 46 }));
    c.run(3_500);
    // An ACK with data of an IPv6 flow neither worker holds (as after its holder died), received by worker 0.
    const seg = new Uint8Array(21);
    seg.set([0x30, 0x39, 0x00, 0x50, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0x50, 0x18, 0xff, 0xff], 0);
    seg[20] = 9;
    const rsts = () => c.stacks.map((s) => s.stats.tcp!.rstsSent);
    c.relays[0]!.inject(strayFrame6(c.relays[0]!.hwAddress!, v6('fd00::1'), v6('fd00::2'), seg));
    c.run(1_000);
    expect(rsts()).toEqual([0, 1]); // worker 0 asked worker 1 (final): worker 1 answered, once
    expect(c.strays[0]!.counters).toEqual({ sent: 1, received: 0, final: 0, limited: 0, split: 0, oversize: 0 });
    expect(c.strays[1]!.counters).toEqual({ sent: 0, received: 1, final: 1, limited: 0, split: 0, oversize: 0 });
  });
});

// A stray larger than a link message (a GSO packet AF_PACKET took whole: up to 64 KiB) goes as several segments.
// Here the message limit is 700 bytes, so a segment of 1400 bytes of data goes in three.
describe('strays larger than a message', () => {
  it('go cut in pieces: the holder reads every byte of the moved flows, in order; no RST', () => {
    const c = makeCluster(700);
    const got = new Map<TcpConnection, number[]>();
    const reader = (x: TcpConnection): void => {
      got.set(x, []);
      x.onReadable = () => {
        const b = new Uint8Array(4096);
        for (let n = x.read(c.clock.now(), b); n > 0; n = x.read(c.clock.now(), b)) got.get(x)!.push(...b.subarray(0, n));
      };
    };
    const held: TcpConnection[] = [];
    c.stacks[1]!.tcp!.listen(0, 80, 128).onConnection = (x) => {
      held.push(x);
      reader(x);
    };
    const before = Array.from({ length: 20 }, () => c.client.tcp!.connect(c.clock.now(), ip('10.0.0.2'), 80));
    c.run(2_000);
    c.stacks[0]!.tcp!.listen(0, 80, 128);
    c.service[0] = 0;
    const data = Uint8Array.from({ length: 1400 }, (_, i) => (i * 7) & 0xff);
    for (const x of before) x.send(c.clock.now(), data);
    c.run(2_000);
    expect(held).toHaveLength(20);
    expect(held.filter((x) => got.get(x)!.length === 1400 && got.get(x)!.every((b, i) => b === data[i]))).toHaveLength(20);
    expect(c.strays[0]!.counters.split).toBeGreaterThan(3); // the moved flows' data segments
    expect(c.strays[0]!.counters.oversize).toBe(0);
    expect(c.strays[1]!.counters.received).toBe(c.strays[0]!.counters.sent);
    for (const s of [c.client, ...c.stacks]) expect(s.stats.tcp!.rstsSent).toBe(0);
  });

  it('splitSegment: the header on each piece, the payload at its sequence number, FIN and PSH on the last only', () => {
    const seg = new Uint8Array(32 + 2500);
    seg.set([0x30, 0x39, 0x1f, 0x90, 0xff, 0xff, 0xff, 0x00], 0); // sequence number 2^32 - 256: the pieces wrap
    seg[12] = 0x80; // 32 bytes of header (12 of options)
    seg[13] = 0x10 | 0x08 | 0x01; // ACK PSH FIN
    seg.fill(0x01, 20, 32); // options: NOPs
    for (let i = 0; i < 2500; i++) seg[32 + i] = i & 0xff;
    const pieces = splitSegment(seg, 1000)!;
    expect(pieces.map((p) => p.length)).toEqual([1000, 1000, 32 + 2500 - 2 * 968]);
    expect(pieces.map((p) => ((p[4]! << 24) | (p[5]! << 16) | (p[6]! << 8) | p[7]!) >>> 0)).toEqual([0xffffff00, (0xffffff00 + 968) >>> 0, (0xffffff00 + 2 * 968) >>> 0]);
    expect(pieces.map((p) => p[13])).toEqual([0x10, 0x10, 0x19]);
    expect(pieces.flatMap((p) => [...p.subarray(32)])).toEqual([...seg.subarray(32)]);
    for (const p of pieces) expect([...p.subarray(14, 32)]).toEqual([...seg.subarray(14, 32)]);
    seg[13] = 0x12; // SYN ACK: not cut
    expect(splitSegment(seg, 1000)).toBeUndefined();
    seg[13] = 0x30; // URG ACK: not cut
    expect(splitSegment(seg, 1000)).toBeUndefined();
  });

  it('one that cannot be cut is answered by the stack, counted as oversize', () => {
    const r = new StrayRelay({ workers: 2 }, Uint8Array.of(2, 0, 0, 0, 0, 2), () => {}, 700);
    const seg = new Uint8Array(20 + 1000);
    seg.set([0x30, 0x39, 0x00, 0x50], 0);
    seg[12] = 0x50;
    seg[13] = 0x30; // URG ACK
    expect(r.take(ip('10.0.0.1'), ip('10.0.0.2'), seg, 0)).toBe(false);
    expect(r.counters).toEqual({ sent: 0, received: 0, final: 0, limited: 0, split: 0, oversize: 1 });
  });
});

describe('StrayRelay', () => {
  it('sends at most 10000 strays a second; past that the stack answers them itself (counted)', () => {
    const sent: Uint8Array[] = [];
    const r = new StrayRelay({ workers: 2 }, Uint8Array.of(2, 0, 0, 0, 0, 2), (p) => sent.push(p));
    const seg = new Uint8Array(20);
    seg.set([0x30, 0x39, 0x00, 0x50], 0);
    seg[12] = 0x50;
    seg[13] = 0x10;
    let taken = 0;
    for (let i = 0; i < 10_050; i++) if (r.take(ip('10.0.0.1'), ip('10.0.0.2'), seg, 5_000 + i * 0.05)) taken++;
    expect(taken).toBe(10_000);
    expect(r.counters.limited).toBe(50);
    expect(r.take(ip('10.0.0.1'), ip('10.0.0.2'), seg, 6_001)).toBe(true); // the next second
    expect(sent).toHaveLength(10_001);
  });

  it('leaves alone a segment to an ephemeral port (steered by slice: nobody else holds it), and an IPv6 id it cannot resolve', () => {
    const r = new StrayRelay({ workers: 2 }, Uint8Array.of(2, 0, 0, 0, 0, 2), () => {});
    const seg = new Uint8Array(20);
    seg.set([0x00, 0x50, 0xc0, 0x10], 0); // 80 -> 49168, worker 0's slice
    expect(r.take(ip('10.0.0.1'), ip('10.0.0.2'), seg, 0)).toBe(false);
    seg.set([0x00, 0x50, 0x1f, 0x90], 0); // 80 -> 8080, a service port
    expect(r.take(5, 6, seg, 0)).toBe(false); // IPv6 ids (0/8) with no layer attached to name them
    const host = { stray: undefined, addrs: { bytes: (id: number) => (id === 5 ? v6('fd00::1') : undefined) } };
    r.attach(host, undefined, () => 0);
    expect(r.take(5, 6, seg, 0)).toBe(false); // 6 unknown to the layer
    expect(r.counters.sent).toBe(0);
    expect(r.take(ip('10.0.0.1'), ip('10.0.0.2'), seg, 0)).toBe(true);
  });
});

describe('strayNext and strayFrame', () => {
  it('asks each other live worker once, lowest first, the last one final; alone, back to the sender, final', () => {
    expect(strayNext(0, 0n, [0, 1])).toEqual({ to: 1, final: true, tried: 1n });
    expect(strayNext(1, 0n, [0, 1, 2])).toEqual({ to: 0, final: false, tried: 2n });
    expect(strayNext(0, 2n, [0, 1, 2])).toEqual({ to: 2, final: true, tried: 3n });
    expect(strayNext(2, 0n, [2])).toEqual({ to: 2, final: true, tried: 4n });
    // Every live one asked already (a worker that joined meanwhile is asked; one that died is not).
    expect(strayNext(1, 1n, [0, 1])).toEqual({ to: 1, final: true, tried: 3n });
    expect(strayNext(40, 0n, [3, 40, 63])).toEqual({ to: 3, final: false, tried: 1n << 40n });
  });

  it('rebuilds an IPv4 frame whose TCP checksum verifies, whatever the received one held', () => {
    const seg = new Uint8Array(24);
    seg.set([0x30, 0x39, 0x00, 0x50], 0); // 12345 -> 80
    seg[12] = 0x50;
    seg[13] = 0x10;
    seg[16] = 0xde; // a checksum left to the device
    seg.set([1, 2, 3, 4], 20);
    const mac = Uint8Array.of(2, 0, 0, 0, 0, 2);
    const f = strayFrame(mac, ip('10.0.0.1'), ip('10.0.0.2'), seg);
    expect([...f.subarray(0, 6)]).toEqual([...mac]);
    expect(f[23]).toBe(6);
    expect(verifyTcpChecksum(f, 34, f.length, ip('10.0.0.1'), ip('10.0.0.2'))).toBe(true);
    expect([...f.subarray(54)]).toEqual([1, 2, 3, 4]);
  });

  it('rebuilds an IPv6 frame whose TCP checksum verifies, and the receiving relay takes it back by its flow', () => {
    const seg = new Uint8Array(24);
    seg.set([0x30, 0x39, 0x1f, 0x90], 0); // 12345 -> 8080
    seg[12] = 0x50;
    seg[13] = 0x10;
    seg[16] = 0xde;
    seg.set([1, 2, 3, 4], 20);
    const mac = Uint8Array.of(2, 0, 0, 0, 0, 2);
    const f = strayFrame6(mac, v6('fd00::1'), v6('fd00::2'), seg);
    expect([f[12], f[13], f[20], f[21]]).toEqual([0x86, 0xdd, 6, 64]);
    expect(verifyTcp6Checksum(f, 54, f.length, v6('fd00::1'), v6('fd00::2'))).toBe(true);
    expect([...f.subarray(54 + 20)]).toEqual([1, 2, 3, 4]);
    // Through the relays: worker 0 sends it, the supervisor routes it, worker 1 gets the same frame, final.
    const sent: Uint8Array[] = [];
    const r0 = new StrayRelay({ workers: 2 }, mac, (p) => sent.push(p));
    const ids = new Map([[7, v6('fd00::1')], [8, v6('fd00::2')]]);
    r0.attach({ stray: undefined, addrs: { bytes: (id) => ids.get(id) } }, undefined, () => 0);
    expect(r0.take(7, 8, seg, 0)).toBe(true);
    const m = routeStray(0, sent[0]!, [0, 1])!;
    expect(m.to).toBe(1);
    const r1 = new StrayRelay({ workers: 2 }, mac, () => {});
    expect([...r1.received(m.message, 0)!]).toEqual([...f]);
    expect(r1.counters).toEqual({ sent: 0, received: 1, final: 1, limited: 0, split: 0, oversize: 0 });
    // Worker 1 holds no connection either: the last asked, it answers (its hook declines the flow).
    r1.attach({ stray: undefined, addrs: { bytes: (id) => ids.get(id) } }, undefined, () => 0);
    expect(r1.take(7, 8, seg, 0)).toBe(false);
  });
});

describe("another worker's ephemeral slice", () => {
  it("a segment of worker 1's own connection that reaches worker 0 (a fragmented datagram reassembled there) goes to worker 1 alone: no RST", () => {
    const c = makeCluster();
    c.client.tcp!.listen(0, 80, 128).onConnection = (x) => echo(c, x);
    const conn = c.stacks[1]!.tcp!.connect(c.clock.now(), ip('10.0.0.1'), 80);
    c.run(1_000);
    expect(conn.state).toBe('ESTABLISHED');
    c.misroute[0] = 0; // the client's segments to worker 1's port now land on worker 0
    const echoed = sendThree(c, [conn]);
    c.run(1_000);
    expect(echoed.get(conn)).toBe(3);
    expect(c.strays[0]!.counters.sent).toBeGreaterThan(0);
    expect(c.strays[1]!.counters.final).toBe(c.strays[0]!.counters.sent); // to the owner alone, the last asked
    expect([...c.stacks, c.client].map((s) => s.stats.tcp!.rstsSent)).toEqual([0, 0, 0]);
  });

  /** `n` datagrams of 3000 bytes (three fragments at MTU 1500) from the client to `port` on worker 1's slice, all landing on worker 0. */
  function fragmentedToWorker1(c: ReturnType<typeof makeCluster>, family: 4 | 6, port: number, n: number): void {
    c.run(3_500); // IPv6: addresses past DAD
    c.misroute[0] = 0; // every fragment lands on worker 0, as the steering sends fragments by source address
    const u = c.client.udp.createSocket();
    for (let i = 0; i < n; i++) {
      if (family === 4) u.send(c.clock.now(), new Uint8Array(3000).fill(i), ip('10.0.0.2'), port);
      else u.send6(c.clock.now(), new Uint8Array(3000).fill(i), v6('fd00::2'), port);
    }
    c.run(200);
  }

  for (const family of [4, 6] as const) {
    it(`IPv${family}: a fragmented datagram for worker 1's ephemeral port, reassembled on worker 0, goes to worker 1 alone; none answered port unreachable`, () => {
      const c = makeCluster();
      const port = workerEphemeralRange({ workers: 2 }, 1).low + 3;
      const got: number[] = [];
      const u = c.stacks[1]!.udp.createSocket();
      if (family === 4) {
        u.bind(0, port);
        u.onMessage = (data) => got.push(data.length === 3000 ? data[0]! : -1);
      } else {
        u.bind6(undefined, port);
        u.onMessage6 = (data) => got.push(data.length === 3000 ? data[0]! : -1);
      }
      fragmentedToWorker1(c, family, port, 4);
      expect(got).toEqual([0, 1, 2, 3]);
      const udp0 = family === 4 ? c.stacks[0]!.stats.udp : c.stacks[0]!.stats.udp6!;
      expect(udp0.strayHandedOff).toBe(4);
      expect(udp0.noPort).toBe(0);
      expect(c.strays[1]!.counters.final).toBe(4);
      const errors = (s: NetStack): number => (family === 4 ? s.stats.icmp.errorsSent : s.stats.icmpv6!.errorsSent);
      expect(c.stacks.map(errors)).toEqual([0, 0]);
    });
  }

  it('a datagram for a port worker 1 has no socket on is answered by worker 1 (port unreachable), once each; with worker 1 gone, by worker 0, once each, without a loop', () => {
    const c = makeCluster();
    const port = workerEphemeralRange({ workers: 2 }, 1).low + 7;
    fragmentedToWorker1(c, 4, port, 2);
    expect(c.stacks[0]!.stats.udp.strayHandedOff).toBe(2);
    expect(c.stacks.map((s) => [s.stats.udp.noPort, s.stats.icmp.errorsSent])).toEqual([[0, 0], [2, 2]]);
    // Worker 1 no longer live: the supervisor hands the first stray back to worker 0, final, which answers it and
    // remembers the flow as its own to answer (as for TCP: STRAY_KEPT_MS), so the second is answered at once.
    c.live.splice(c.live.indexOf(1), 1);
    fragmentedToWorker1(c, 4, port, 2);
    expect(c.stacks[0]!.stats.udp.strayHandedOff).toBe(3);
    expect(c.stacks.map((s) => [s.stats.udp.noPort, s.stats.icmp.errorsSent])).toEqual([[2, 2], [2, 2]]);
  });
});

describe('fanoutRelays', () => {
  it('relays ARP and, over IPv6, neighbour and router advertisements and ICMPv6 errors; not solicitations, echo or TCP', () => {
    const frame6 = (next: number, type: number): Uint8Array => {
      const f = new Uint8Array(14 + 40 + 24);
      f[12] = 0x86;
      f[13] = 0xdd;
      f[20] = next;
      f[54] = type;
      return f;
    };
    const arp = new Uint8Array(42);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(fanoutRelays(arp)).toBe(true);
    expect([136, 134, 1, 2, 3, 4].map((t) => fanoutRelays(frame6(58, t)))).toEqual([true, true, true, true, true, true]);
    expect([135, 133, 128, 129, 143].map((t) => fanoutRelays(frame6(58, t)))).toEqual([false, false, false, false, false]);
    expect(fanoutRelays(frame6(6, 136))).toBe(false); // TCP whose byte 40 happens to be 136
    expect(fanoutRelays(frame6(58, 136).subarray(0, 54))).toBe(false); // too short to have a type
  });
});
