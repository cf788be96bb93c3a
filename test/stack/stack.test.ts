import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { faults } from '../../drivers/middleware/index.js';
import { SOFTWARE_CHECKSUMS, type FrameDriver } from '../../drivers/types.js';
import { emitEthernet, EtherType } from '../../protocols/ethernet/wire.js';
import { IpProtocol, writeIpv4Header, IPV4_FLAG_MF } from '../../protocols/ipv4/wire.js';
import { writeUdpHeader } from '../../protocols/udp/wire.js';
import type { PingResult } from '../../src/stack/stack.js';
import { cidr, ip, makePair, makeStack } from './harness.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { runUntil } from '../../src/stack/sim.js';

function pingOnce(p: ReturnType<typeof makePair>, dst: string, opts = {}): PingResult {
  let result: PingResult | undefined;
  p.a.ping(p.clock.now(), ip(dst), opts, (r) => (result = r));
  p.run({ stopWhen: () => result !== undefined, until: p.clock.now() + 60_000 });
  if (result === undefined) throw new Error('ping never finished');
  return result;
}

describe('ARP', () => {
  it('resolves a neighbour on first use and answers requests for its own address', () => {
    const p = makePair();
    const r = pingOnce(p, '10.0.0.2');
    expect(r.ok).toBe(true);
    expect(p.a.stats.arp.neighbour.requestsSent).toBe(1);
    expect(p.a.stats.arp.neighbour.resolved).toBe(1);
    expect(p.b.stats.arp.repliesSent).toBe(1);
    const entryA = p.a.neighbours.entriesSnapshot().find((e) => e.ip === ip('10.0.0.2'));
    expect(entryA?.state).toBe('reachable');
    expect([...entryA!.mac!]).toEqual([...p.b.mac]);
    // B learned A from A's request (it was the target), so its reply needed no ARP of its own.
    expect(p.b.stats.arp.neighbour.requestsSent).toBe(0);
    expect(p.b.neighbours.lookup(p.clock.now(), ip('10.0.0.1'))).toEqual(p.a.mac);
  });

  it('sends a gratuitous announcement on start', () => {
    const [da, db] = memoryLink();
    const a = makeStack(da, '10.0.0.1/24', 1);
    a.start(0);
    const frames: Uint8Array[] = [];
    db.receive(0, 64, (f) => frames.push(f.slice()));
    expect(frames).toHaveLength(1);
    const f = frames[0]!;
    expect((f[12]! << 8) | f[13]!).toBe(EtherType.ARP);
    // sender IP == target IP == our address
    expect([...f.subarray(28, 32)]).toEqual([10, 0, 0, 1]);
    expect([...f.subarray(38, 42)]).toEqual([10, 0, 0, 1]);
  });

  it('gives up after the configured retries and reports EHOSTUNREACH', () => {
    const p = makePair();
    const start = p.clock.now();
    const r = pingOnce(p, '10.0.0.77', { timeoutMs: 60_000 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('EHOSTUNREACH');
    expect(p.a.stats.arp.neighbour.requestsSent).toBe(3);
    expect(p.a.stats.arp.neighbour.failed).toBe(1);
    expect(p.clock.now() - start).toBe(3_000); // three requests one second apart (RFC 1122 2.3.2.1)
  });

  it('creates no entry from an unsolicited reply', () => {
    const [da, db] = memoryLink();
    const b = makeStack(db, '10.0.0.2/24', 2);
    // An ARP reply from 10.0.0.66 to us that we never asked for.
    const f = da.txReserve(42)!;
    emitEthernet({ dst: b.mac, src: new Uint8Array([2, 0, 0, 0, 0, 0x66]), ethertype: EtherType.ARP }, f);
    f.set([0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 0x66, 10, 0, 0, 66, ...b.mac, 10, 0, 0, 2], 14);
    da.txCommit(0, 42);
    b.poll(0);
    expect(b.neighbours.size).toBe(0);
    expect(b.stats.arp.neighbour.unsolicitedIgnored).toBe(1);
  });
});

describe('ICMP echo', () => {
  it('measures the round trip on the virtual clock', () => {
    const delayed = (d: FrameDriver) => faults(d, { seed: 9, tx: { delayMs: 5 } });
    const p = makePair({ wrapA: delayed, wrapB: delayed });
    const first = pingOnce(p, '10.0.0.2');
    expect(first.ok).toBe(true);
    const second = pingOnce(p, '10.0.0.2', { size: 1000 });
    expect(second).toMatchObject({ ok: true, rttMs: 10, bytes: 1000, from: ip('10.0.0.2'), ttl: 64 });
    expect(p.b.stats.icmp.echoRepliesSent).toBe(2);
  });

  it('times out with ETIMEDOUT when replies are lost', () => {
    const p = makePair({ wrapB: (d) => faults(d, { seed: 1, tx: { loss: 1 } }) });
    // B's replies (and ARP replies) are all lost; A gives up on ARP after 3 s, so pre-seed the neighbour.
    p.a.neighbours.addStatic(ip('10.0.0.2'), p.b.mac);
    const r = pingOnce(p, '10.0.0.2', { timeoutMs: 2_000 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('ETIMEDOUT');
  });

  it('ping to our own address loops back', () => {
    const p = makePair();
    const r = pingOnce(p, '10.0.0.1');
    expect(r).toMatchObject({ ok: true, rttMs: 0 });
    expect(p.a.stats.ipv4.loopback).toBe(2);
  });

  it('throws ENETUNREACH for an address with no route', () => {
    const p = makePair();
    expect(() => p.a.ping(0, ip('192.0.2.1'), {}, () => {})).toThrowError(expect.objectContaining({ code: 'ENETUNREACH' }));
  });
});

describe('UDP', () => {
  it('exchanges datagrams with the remote address reported', () => {
    const p = makePair();
    const sa = p.a.udp.createSocket();
    sa.bind(0, 5000);
    const sb = p.b.udp.createSocket();
    sb.bind(0, 0);
    expect(sb.localPort).toBeGreaterThanOrEqual(49152);
    sb.send(p.clock.now(), new TextEncoder().encode('hello'), ip('10.0.0.1'), 5000);
    p.run();
    const d = sa.recv();
    expect(d && new TextDecoder().decode(d.data)).toBe('hello');
    expect(d?.srcIp).toBe(ip('10.0.0.2'));
    expect(d?.srcPort).toBe(sb.localPort);
    sa.send(p.clock.now(), new Uint8Array([1, 2, 3]), d!.srcIp, d!.srcPort);
    p.run();
    expect([...sb.recv()!.data]).toEqual([1, 2, 3]);
  });

  it('a connected socket only hears its peer', () => {
    const p = makePair();
    const sa = p.a.udp.createSocket();
    sa.bind(0, 6000);
    sa.connect(ip('10.0.0.2'), 7000);
    const good = p.b.udp.createSocket();
    good.bind(0, 7000);
    const other = p.b.udp.createSocket();
    other.bind(0, 7001);
    good.send(p.clock.now(), new Uint8Array([1]), ip('10.0.0.1'), 6000);
    other.send(p.clock.now(), new Uint8Array([2]), ip('10.0.0.1'), 6000);
    p.run();
    expect([...sa.recv()!.data]).toEqual([1]);
    expect(sa.recv()).toBeUndefined();
    // The datagram from the wrong port found no socket: ICMP port unreachable went back.
    expect(p.a.stats.udp.noPort).toBe(1);
  });

  it('reports ECONNREFUSED from ICMP port unreachable to the sending socket', () => {
    const p = makePair();
    const s = p.a.udp.createSocket();
    const errors: string[] = [];
    s.onError = (e) => errors.push(e.code);
    s.connect(ip('10.0.0.2'), 9);
    s.send(p.clock.now(), new Uint8Array(10));
    p.run();
    expect(errors).toEqual(['ECONNREFUSED']);
    expect(p.b.stats.icmp.errorsSent).toBe(1);
    expect(p.a.stats.udp.icmpErrors).toBe(1);
  });

  it('rate-limits port unreachable messages', () => {
    const p = makePair({ configB: { icmp: { errorRatePerSec: 10, errorBurst: 5 } } });
    const s = p.a.udp.createSocket();
    s.bind(0, 0);
    for (let i = 0; i < 20; i++) s.send(p.clock.now(), new Uint8Array(4), ip('10.0.0.2'), 9);
    p.run({ until: p.clock.now() + 10 });
    expect(p.b.stats.udp.noPort).toBe(20);
    expect(p.b.stats.icmp.errorsSent).toBe(5);
    expect(p.b.stats.icmp.rateLimited).toBe(15);
  });

  it('throws stable codes on misuse', () => {
    const p = makePair();
    const a = p.a.udp.createSocket();
    a.bind(0, 4000);
    const b = p.a.udp.createSocket();
    expect(() => b.bind(0, 4000)).toThrowError(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(() => b.bind(ip('10.0.0.9'), 4001)).toThrowError(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
    expect(() => b.bind(0, 70000)).toThrowError(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
    expect(() => a.send(0, new Uint8Array(65508), ip('10.0.0.2'), 1)).toThrowError(expect.objectContaining({ code: 'EMSGSIZE' }));
    expect(() => a.send(0, new Uint8Array(1), ip('10.0.0.255'), 1)).toThrowError(expect.objectContaining({ code: 'EACCES' }));
    a.close();
    expect(() => a.send(0, new Uint8Array(1), ip('10.0.0.2'), 1)).toThrowError(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
    // The port is free again after close.
    b.bind(0, 4000);
    expect(b.localPort).toBe(4000);
  });

  it('delivers broadcasts once opted in', () => {
    const p = makePair();
    const rx = p.b.udp.createSocket();
    rx.bind(0, 6666);
    const tx = p.a.udp.createSocket();
    tx.broadcast = true;
    tx.send(p.clock.now(), new Uint8Array([7]), ip('255.255.255.255'), 6666);
    tx.send(p.clock.now(), new Uint8Array([8]), ip('10.0.0.255'), 6666);
    p.run();
    expect([...rx.recv()!.data]).toEqual([7]);
    expect([...rx.recv()!.data]).toEqual([8]);
    expect(p.a.stats.arp.neighbour.requestsSent).toBe(0); // broadcast needs no ARP
  });

  it('drops and counts datagrams beyond the receive buffer', () => {
    const p = makePair();
    const rx = p.b.udp.createSocket();
    rx.bind(0, 1234);
    rx.recvBufferBytes = 2500;
    const tx = p.a.udp.createSocket();
    for (let i = 0; i < 5; i++) tx.send(p.clock.now(), new Uint8Array(1000), ip('10.0.0.2'), 1234);
    p.run();
    expect(rx.queuedBytes).toBe(2000);
    expect(p.b.stats.udp.recvBufferDrops).toBe(3);
  });
});

describe('IPv4 fragmentation and reassembly', () => {
  function bigDatagram(n: number): Uint8Array {
    const d = new Uint8Array(n);
    for (let i = 0; i < n; i++) d[i] = (i * 31 + 7) & 0xff;
    return d;
  }

  it('fragments on send and reassembles on receive', () => {
    const p = makePair();
    const rx = p.b.udp.createSocket();
    rx.bind(0, 9000);
    const tx = p.a.udp.createSocket();
    const data = bigDatagram(5000);
    tx.send(p.clock.now(), data, ip('10.0.0.2'), 9000);
    p.run();
    expect(p.a.stats.ipv4.fragmentsSent).toBe(4); // 5008 bytes of UDP in 1480-byte pieces
    expect(p.b.stats.ipv4.reassembly.reassembled).toBe(1);
    expect(rx.recv()!.data).toEqual(data);
    expect(p.b.reassembler.memory).toBe(0);
  });

  it('reassembles fragments that arrive reordered and duplicated', () => {
    const p = makePair({ wrapA: (d) => faults(d, { seed: 4, tx: { reorder: 0.5, duplicate: 0.3, reorderDelayMs: 3 } }) });
    expect(pingOnce(p, '10.0.0.2').ok).toBe(true); // resolve ARP first: 150 fragments would overflow its queue
    const rx = p.b.udp.createSocket();
    rx.bind(0, 9000);
    const tx = p.a.udp.createSocket();
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) {
      const d = bigDatagram(3000 + i * 500);
      d[0] = i;
      sent.push(d);
      tx.send(p.clock.now(), d, ip('10.0.0.2'), 9000);
    }
    p.run();
    const got: Uint8Array[] = [];
    for (let d = rx.recv(); d; d = rx.recv()) got.push(d.data);
    got.sort((x, y) => x[0]! - y[0]!);
    expect(got).toEqual(sent);
    expect(p.b.stats.ipv4.reassembly.duplicates).toBeGreaterThan(0);
    expect(p.a.stats.ipv4.neighbourDrops).toBe(0);
  });

  it('drops what overflows the queue of packets waiting for ARP, and counts it', () => {
    const p = makePair({ configA: { neighbour: { maxQueuedPackets: 4 } } });
    const tx = p.a.udp.createSocket();
    const rx = p.b.udp.createSocket();
    rx.bind(0, 9000);
    for (let i = 0; i < 6; i++) tx.send(p.clock.now(), new Uint8Array([i]), ip('10.0.0.2'), 9000);
    p.run();
    expect(p.a.stats.ipv4.neighbourDrops).toBe(2);
    expect(p.a.stats.arp.neighbour.queueDrops).toBe(2);
    expect([rx.recv()!.data[0], rx.recv()!.data[0], rx.recv()!.data[0], rx.recv()!.data[0], rx.recv()]).toEqual([0, 1, 2, 3, undefined]);
  });

  it('drops a datagram whose fragments overlap with different bytes, and times out incomplete ones', () => {
    const [da, db] = memoryLink();
    const b = makeStack(db, '10.0.0.2/24', 2);
    const rx = b.udp.createSocket();
    rx.bind(0, 9000);
    const src = ip('10.0.0.1');
    const dst = ip('10.0.0.2');
    const send = (ident: number, off: number, more: boolean, payload: Uint8Array) => {
      const f = da.txReserve(34 + payload.length)!;
      emitEthernet({ dst: b.mac, src: new Uint8Array([2, 0, 0, 0, 0, 1]), ethertype: EtherType.IPv4 }, f);
      f.set(payload, 34);
      writeIpv4Header(f, 14, src, dst, IpProtocol.UDP, payload.length, 64, ident, (more ? IPV4_FLAG_MF : 0) | (off >>> 3), 0, true);
      da.txCommit(0, 34 + payload.length);
    };
    const udp = new Uint8Array(24);
    writeUdpHeader(udp, 0, 1, 9000, 24, src, dst, false);
    send(1, 0, true, udp.subarray(0, 16));
    send(1, 8, false, new Uint8Array(16).fill(9)); // overlaps bytes 8..16 with different content
    b.poll(0);
    expect(b.stats.ipv4.reassembly.overlaps).toBe(1);
    expect(rx.recv()).toBeUndefined();
    expect(b.reassembler.inProgress).toBe(0);

    send(2, 0, true, udp.subarray(0, 16)); // never completed
    b.poll(0);
    expect(b.reassembler.inProgress).toBe(1);
    expect(b.pollAt(0)).toBe(30_000);
    b.poll(30_000);
    expect(b.stats.ipv4.reassembly.timeouts).toBe(1);
    expect(b.reassembler.memory).toBe(0);
  });

  it('bounds reassembly memory under a flood of first fragments', () => {
    const [da, db] = memoryLink({ queueLimit: 10_000 });
    const b = makeStack(db, '10.0.0.2/24', 2, { reassembly: { maxBytes: 64 * 1024, maxDatagrams: 16 } });
    for (let ident = 0; ident < 2000; ident++) {
      const f = da.txReserve(34 + 1480)!;
      emitEthernet({ dst: b.mac, src: new Uint8Array([2, 0, 0, 0, 0, 1]), ethertype: EtherType.IPv4 }, f);
      writeIpv4Header(f, 14, ip('10.0.0.1'), ip('10.0.0.2'), IpProtocol.UDP, 1480, 64, ident, IPV4_FLAG_MF, 0, true);
      da.txCommit(0, 34 + 1480);
      if (ident % 100 === 99) b.poll(0);
    }
    b.poll(0);
    expect(b.reassembler.memory).toBeLessThanOrEqual(64 * 1024);
    expect(b.reassembler.inProgress).toBeLessThanOrEqual(16);
    expect(b.stats.ipv4.reassembly.evicted).toBeGreaterThan(1900);
  });
});

describe('routing', () => {
  it('sends off-link traffic to the gateway, resolving the gateway by ARP', () => {
    const [da, db] = memoryLink();
    const clock = new VirtualClock(0);
    const a = makeStack(da, '10.0.0.1/24', 1, { gateway: ip('10.0.0.254') });
    // The "router" answers ARP for 10.0.0.254 and sees the UDP datagram addressed to 198.51.100.7.
    const router = makeStack(db, '10.0.0.254/24', 2);
    const s = a.udp.createSocket();
    s.send(0, new Uint8Array([1]), ip('198.51.100.7'), 53);
    runUntil(clock, [a, router]);
    expect(a.neighbours.lookup(clock.now(), ip('10.0.0.254'))).toEqual(router.mac);
    expect(router.stats.ipv4.notForUs).toBe(1); // hosts do not forward
  });

  it('picks the longest prefix', () => {
    const [da] = memoryLink();
    const a = makeStack(da, '10.0.0.1/24', 1, {
      gateway: ip('10.0.0.254'),
      routes: [{ destination: cidr('172.16.0.0/12'), gateway: ip('10.0.0.253') }, { destination: cidr('172.16.5.0/24'), gateway: ip('10.0.0.252') }],
    });
    expect(a.routes.lookup(ip('172.16.5.9'))?.nextHop).toBe(ip('10.0.0.252'));
    expect(a.routes.lookup(ip('172.17.0.1'))?.nextHop).toBe(ip('10.0.0.253'));
    expect(a.routes.lookup(ip('8.8.8.8'))?.nextHop).toBe(ip('10.0.0.254'));
    expect(a.routes.lookup(ip('10.0.0.9'))?.nextHop).toBe(ip('10.0.0.9'));
  });
});

describe('malformed frames', () => {
  it('are dropped and counted, never thrown', () => {
    const [da, db] = memoryLink();
    const b = makeStack(db, '10.0.0.2/24', 2);
    const mac = b.mac;
    const frames: number[][] = [
      [1, 2, 3], // runt
      [...mac, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45], // truncated IPv4
      [...mac, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x65, 0, 0, 20, ...new Array(16).fill(0)], // version 6
      [...mac, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x43, 0, 0, 20, ...new Array(16).fill(0)], // IHL 3
      [...mac, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 10, ...new Array(16).fill(0)], // total < IHL
      [...mac, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1], // truncated ARP
      [...mac, 2, 0, 0, 0, 0, 1, 0x86, 0xdd, 0, 0], // IPv6: not ours
    ];
    // A well-formed IPv4/UDP header with a wrong header checksum.
    const bad = new Uint8Array(14 + 28);
    emitEthernet({ dst: mac, src: new Uint8Array([2, 0, 0, 0, 0, 1]), ethertype: EtherType.IPv4 }, bad);
    writeIpv4Header(bad, 14, ip('10.0.0.1'), ip('10.0.0.2'), IpProtocol.UDP, 8, 64, 1, 0, 0, true);
    bad[24] ^= 0xff;
    frames.push([...bad]);
    for (const f of frames) {
      const buf = da.txReserve(f.length)!;
      buf.set(f);
      da.txCommit(0, f.length);
    }
    expect(() => b.poll(0)).not.toThrow();
    const s = b.stats;
    expect(s.ethernet.truncated).toBe(1);
    expect(s.ipv4.truncated).toBe(1);
    expect(s.ipv4.badVersion).toBe(1);
    expect(s.ipv4.badIhl).toBe(1);
    expect(s.ipv4.badLength).toBe(1);
    expect(s.arp.truncated).toBe(1);
    expect(s.ethernet.unknownEthertype).toBe(1);
    expect(s.ipv4.badChecksum).toBe(1);
  });
});

describe('ICMP echo reply with an offloaded transmit checksum', () => {
  it('updates the request checksum incrementally (RFC 1624) to a valid reply checksum', () => {
    const [da, db] = memoryLink();
    // B's driver claims ICMP transmit offload, so B relies on the incremental update; A verifies in software.
    const offloaded = { ...db.caps, checksum: { ...SOFTWARE_CHECKSUMS, icmp: { tx: 'offload' as const, rx: 'verify' as const } } };
    const bDriver: FrameDriver = {
      caps: offloaded,
      hwAddress: db.hwAddress,
      stats: db.stats,
      receive: (now, max, sink) => db.receive(now, max, sink),
      txReserve: (len) => db.txReserve(len),
      txCommit: (now, len) => db.txCommit(now, len),
      flush: (now) => db.flush(now),
      pollAt: (now) => db.pollAt(now),
      setReadyCallback: (cb) => db.setReadyCallback(cb),
      close: () => db.close(),
    };
    const a = makeStack(da, '10.0.0.1/24', 1);
    const b = makeStack(bDriver, '10.0.0.2/24', 2);
    const clock = new VirtualClock(0);
    const replies: PingResult[] = [];
    for (let size = 0; size < 40; size++) a.ping(0, ip('10.0.0.2'), { size, data: new Uint8Array(size).fill(size * 37) }, (r) => replies.push(r));
    runUntil(clock, [a, b]);
    expect(replies.filter((r) => r.ok)).toHaveLength(40);
    expect(a.stats.icmp.badChecksum).toBe(0);
  });
});
