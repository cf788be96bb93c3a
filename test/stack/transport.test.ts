/**
 * Transports registered with the stack (src/stack/transport.ts): a protocol the stack does not know is handed to
 * the transport registered for its number, with ICMP errors quoting its packets; without one, the stack answers
 * protocol unreachable. Virtual clock only.
 */
import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { seededRng } from '../../protocols/util/rng.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { runUntil } from '../../src/stack/sim.js';
import { StackCore, type IcmpErrorKind, type Transport } from '../../src/stack/stack.js';
import { TcpTransport } from '../../src/stack/tcp-transport.js';
import { cidr, ip, makePair } from './harness.js';

const EXPERIMENTAL = 253; // RFC 3692: for experimentation and testing

class Recorder implements Transport {
  readonly protocol = EXPERIMENTAL;
  readonly got: { src: number; dst: number; bytes: number[]; broadcast: boolean }[] = [];
  readonly times: number[] = [];
  readonly errors: { kind: IcmpErrorKind; code: number; quotedFirst: number }[] = [];
  polls = 0;
  input(now: number, buf: Uint8Array, _ipOff: number, start: number, end: number, src: number, dst: number, broadcast: boolean): void {
    this.times.push(now);
    this.got.push({ src, dst, bytes: [...buf.subarray(start, end)], broadcast });
  }
  flush(): void {}
  icmpError(_now: number, _src: number, _dst: number, quoted: Uint8Array, kind: IcmpErrorKind, code: number): boolean {
    this.errors.push({ kind, code, quotedFirst: quoted[0]! });
    return true;
  }
  poll(): void {
    this.polls++;
  }
  pollAt(): number | undefined {
    return undefined;
  }
}

/** Input only: no flush, no poll (as ICMP's and UDP's transports hold nothing across a batch). */
class Bare implements Transport {
  readonly protocol = EXPERIMENTAL;
  got = 0;
  input(): void {
    this.got++;
  }
  icmpError(): boolean {
    return false;
  }
  pollAt(): number | undefined {
    return undefined;
  }
}

function send(p: ReturnType<typeof makePair>, bytes: number[]): void {
  const t = p.a.output.begin(p.clock.now(), ip('10.0.0.1'), ip('10.0.0.2'), EXPERIMENTAL, bytes.length, 64, 0, 0, undefined)!;
  t.buf.set(bytes, t.offset);
  t.commit(p.clock.now());
  p.a.flush(p.clock.now());
}

describe('transports registered with the stack', () => {
  it('without a transport, a packet of an unknown protocol is counted and answered with protocol unreachable', () => {
    const p = makePair();
    const mine = new Recorder();
    p.a.register(mine);
    send(p, [1, 2, 3, 4, 5, 6, 7, 8]);
    p.run({ until: p.clock.now() + 100 });
    expect(p.b.stats.ipv4.unknownProtocol).toBe(1);
    expect(p.b.stats.icmp.errorsSent).toBe(1);
    // The error quotes A's packet: it reaches A's transport for that protocol, with the quoted L4 bytes.
    expect(mine.errors).toEqual([{ kind: 'unreachable', code: 2, quotedFirst: 1 }]);
  });

  it('with one, the packet is handed over in place with its addresses, and the transport is polled', () => {
    const p = makePair();
    const theirs = new Recorder();
    p.b.register(theirs);
    send(p, [9, 8, 7]);
    p.run({ until: p.clock.now() + 100 });
    expect(theirs.got).toEqual([{ src: ip('10.0.0.1'), dst: ip('10.0.0.2'), bytes: [9, 8, 7], broadcast: false }]);
    expect(theirs.polls).toBeGreaterThan(0);
    expect(p.b.stats.ipv4.unknownProtocol).toBe(0);
    expect(p.b.stats.icmp.errorsSent).toBe(0);
  });

  it('a transport without flush or poll still gets its packets; the stack flushes and polls only those that have them', () => {
    const p = makePair();
    const bare = new Bare();
    p.b.register(bare);
    send(p, [1, 2]);
    p.run({ until: p.clock.now() + 100 });
    expect(bare.got).toBe(1);
    expect(p.b.stats.ipv4.unknownProtocol).toBe(0);
    // Replaced by one with flush and poll (the lists are rebuilt on register): flushed after each receive batch
    // (so at least once per poll) and polled once per poll.
    const full = Object.assign(new Recorder(), { flushes: 0 });
    full.flush = () => void full.flushes++;
    p.b.register(full);
    const polls = 5;
    for (let i = 0; i < polls; i++) p.b.poll(p.clock.now());
    expect(full.polls).toBe(polls);
    expect(full.flushes).toBeGreaterThanOrEqual(polls);
    send(p, [3]);
    p.run({ until: p.clock.now() + 100 });
    expect(full.got.map((g) => g.bytes)).toEqual([[3]]);
    expect(bare.got).toBe(1);
  });

  it('hands input the time of the poll that took the packet in (pollTime: 0 before the first poll)', () => {
    const p = makePair();
    const theirs = new Recorder();
    p.b.register(theirs);
    expect(p.b.pollTime).toBe(0);
    send(p, [1]); // the first resolves A's neighbour entry for B
    p.run({ until: p.clock.now() + 100 });
    expect(theirs.times).toHaveLength(1);
    send(p, [2]);
    const t = p.clock.now() + 0.123456789; // a fraction of a millisecond, as a real clock gives
    p.b.poll(t);
    expect(theirs.times.slice(1)).toEqual([t]);
    expect(p.b.pollTime).toBe(t);
  });

  it('refuses a protocol number outside 0-255', () => {
    const p = makePair();
    const bad = Object.assign(new Recorder(), { protocol: 256 });
    expect(() => p.a.register(bad)).toThrow(/0-255/);
  });
});

describe('TCP as a plug-in of the stack core (#16)', () => {
  const cores = () => {
    const [da, db] = memoryLink({ mtu: 1500 });
    const a = new StackCore({ driver: da, addresses: [cidr('10.0.0.1/24')], rng: seededRng(1) });
    const b = new StackCore({ driver: db, addresses: [cidr('10.0.0.2/24')], rng: seededRng(2) });
    return { a, b, clock: new VirtualClock(1_000) };
  };
  const plugTcp = (core: StackCore, seed: number): TcpTransport => {
    const t = new TcpTransport(core, { tcp: undefined, rng: seededRng(seed), gro: true, checksum: { tx: true, rx: true } });
    core.register(t);
    return t;
  };

  it('a bare core has no TCP: a SYN is answered with protocol unreachable', () => {
    const { a, b, clock } = cores();
    const tcpA = plugTcp(a, 11);
    const conn = tcpA.layer.connect(clock.now(), ip('10.0.0.2'), 80);
    runUntil(clock, [a, b], { until: clock.now() + 100 });
    expect(b.stats.ipv4.unknownProtocol).toBeGreaterThan(0);
    expect(b.stats.tcp).toBeUndefined();
    // RFC 1122 4.2.3.9: protocol unreachable while connecting is a hard error (through the ICMP seam).
    expect(conn.state).toBe('CLOSED');
    expect(conn.error).toBe('ECONNREFUSED');
  });

  it('registered on both cores, TCP connects and carries data, and its counters join the core\'s stats', () => {
    const { a, b, clock } = cores();
    const tcpA = plugTcp(a, 11);
    const tcpB = plugTcp(b, 12);
    const l = tcpB.layer.listen(ip('10.0.0.2'), 80, 4);
    const conn = tcpA.layer.connect(clock.now(), ip('10.0.0.2'), 80);
    runUntil(clock, [a, b], { until: clock.now() + 100 });
    const server = l.accept();
    expect(conn.state).toBe('ESTABLISHED');
    expect(server?.state).toBe('ESTABLISHED');
    expect(conn.send(clock.now(), new Uint8Array([1, 2, 3]))).toBe(3);
    runUntil(clock, [a, b], { until: clock.now() + 100 });
    const got = new Uint8Array(8);
    expect(server!.read(clock.now(), got)).toBe(3);
    expect([...got.subarray(0, 3)]).toEqual([1, 2, 3]);
    expect(a.stats.tcp).toBe(tcpA.layer.stats);
    expect(b.stats.gro).toBe(tcpB.gro!.stats);
  });
});
