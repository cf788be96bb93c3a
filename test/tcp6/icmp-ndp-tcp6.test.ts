/**
 * TCP over IPv6 and the IPv6 layer around it, in memory on the virtual clock: Packet Too Big lowering a
 * connection's MSS only when it quotes a segment in flight (RFC 8201 5.2, RFC 5927), and NDP told of TCP's forward
 * progress (RFC 4861 7.3.1).
 */
import { describe, expect, it } from 'vitest';
import { faults } from '../../drivers/middleware/index.js';
import { EtherType, emitEthernet } from '../../protocols/ethernet/wire.js';
import { buildIcmpv6Error } from '../../protocols/icmpv6/errors.js';
import { IPV6_HEADER_LEN, NextHeader, writeIpv6Header } from '../../protocols/ipv6/wire.js';
import { fillTcp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import { write16, write32 } from '../../protocols/util/bytes.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import type { FrameDriver } from '../../drivers/types.js';
import { makePair6, v6, type Pair6 } from '../ipv6/stack-helpers.js';
import { addrId } from './helpers.js';

/** Put an ICMPv6 Packet Too Big on the wire towards a, from fd00::2, quoting a's segment with `seq`. */
function packetTooBig(p: Pair6, c: TcpConnection, seq: number, mtu: number): void {
  const quoted = new Uint8Array(IPV6_HEADER_LEN + 20);
  writeIpv6Header(quoted, 0, v6('fd00::1'), v6('fd00::2'), NextHeader.TCP, 20, 64);
  write16(quoted, IPV6_HEADER_LEN, c.localPort);
  write16(quoted, IPV6_HEADER_LEN + 2, c.remotePort);
  write32(quoted, IPV6_HEADER_LEN + 4, seq >>> 0);
  const icmp = buildIcmpv6Error({ kind: 'packet-too-big', mtu }, quoted, v6('fd00::2'), v6('fd00::1'));
  const frame = p.db.txReserve(14 + icmp.length)!;
  emitEthernet({ dst: p.a.mac, src: p.b.mac, ethertype: EtherType.IPv6, vlan: undefined }, frame, 0);
  frame.set(icmp, 14);
  p.db.txCommit(p.clock.now(), 14 + icmp.length);
}

function bulkStarted(p: Pair6): { client: TcpConnection; received: () => number; pump: () => void } {
  const l = p.b.tcp!.listen(0, 80, 4, { family: 6 });
  let server: TcpConnection | undefined;
  l.onConnection = (s) => (server = s);
  const client = p.a.tcp!.connect(p.clock.now(), addrId(p.a, 'fd00::2'), 80);
  p.run(p.clock.now() + 100);
  let got = 0;
  const scratch = new Uint8Array(65536);
  const data = new Uint8Array(4_000_000);
  let sent = 0;
  const pump = (): void => {
    if (sent < data.length) sent += client.send(p.clock.now(), data.subarray(sent));
    if (server) for (let n = server.read(p.clock.now(), scratch); n > 0; n = server.read(p.clock.now(), scratch)) got += n;
  };
  return { client, received: () => got, pump };
}

describe('Packet Too Big and TCP over IPv6', () => {
  // b's frames take 5 ms, so a's segments stay in flight while the error (put straight on the link) arrives.
  const slowB = { wrapB: (d: FrameDriver) => faults(d, { seed: 1, tx: { delayMs: 5 } }) };

  it('lowers the MSS of the connection it quotes (1280: 1220), and only then the path MTU', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64'], slowB);
    p.run(3_500);
    const { client, received, pump } = bulkStarted(p);
    p.run(p.clock.now() + 60_000, () => (pump(), received() > 200_000 && client.snd.sndNxt !== client.snd.sndUna)); // data in flight
    expect(client.info().sndMss).toBe(1428);
    // A forged quote: a sequence number not in flight. Ignored by TCP, so the path MTU stays.
    packetTooBig(p, client, (client.snd.sndUna - 1_000_000) | 0, 1280);
    p.run(p.clock.now() + 1, () => (pump(), false));
    expect(p.a.stats.tcp!.icmpIgnored).toBe(1);
    expect(p.a.ipv6!.mtuFor(v6('fd00::2'))).toBe(1500);
    expect(client.info().sndMss).toBe(1428);
    // The real one.
    packetTooBig(p, client, client.snd.sndUna, 1280);
    p.run(p.clock.now() + 1, () => (pump(), false));
    expect(p.a.stats.tcp!.pmtuUpdates).toBe(1);
    expect(p.a.ipv6!.mtuFor(v6('fd00::2'))).toBe(1280);
    expect(p.a.stats.icmpv6!.pmtuUpdates).toBe(1);
    p.run(p.clock.now() + 60_000, () => (pump(), received() >= 4_000_000));
    expect(received()).toBe(4_000_000);
    expect(client.info().sndMss).toBe(1208); // 1280 - 60 - 12 (timestamps)
  });

  it('takes an MTU under 1280 as 1280 (RFC 8201 4)', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64'], slowB);
    p.run(3_500);
    const { client, received, pump } = bulkStarted(p);
    p.run(p.clock.now() + 60_000, () => (pump(), received() > 200_000 && client.snd.sndNxt !== client.snd.sndUna)); // data in flight
    packetTooBig(p, client, client.snd.sndUna, 600);
    p.run(p.clock.now() + 1, () => (pump(), false));
    expect([p.a.stats.tcp!.pmtuUpdates, p.a.stats.tcp!.icmpIgnored, p.a.stats.icmpv6!.packetTooBig, p.a.stats.icmpv6!.pmtuUpdates, p.a.ipv6!.mtuFor(v6("fd00::2"))]).toEqual([1, 0, 1, 1, 1280]);
    p.run(p.clock.now() + 60_000, () => (pump(), received() >= 1_000_000));
    expect(client.info().sndMss).toBe(1208);
  });
});

describe('NDP reachability confirmation from TCP', () => {
  it("a connection's forward progress keeps its neighbour REACHABLE without solicitations", () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    const l = p.b.tcp!.listen(0, 80, 4, { family: 6 });
    let server: TcpConnection | undefined;
    l.onConnection = (s) => (server = s);
    const client = p.a.tcp!.connect(p.clock.now(), addrId(p.a, 'fd00::2'), 80);
    p.run(p.clock.now() + 100);
    const nc = p.a.ipv6!.ndp.neighbours;
    const before = nc.stats.solicitationsSent;
    const scratch = new Uint8Array(1024);
    // 100 bytes every 2 s for 3 minutes: far past ReachableTime (30 s x [0.5, 1.5)).
    for (let i = 0; i < 90; i++) {
      client.send(p.clock.now(), new Uint8Array(100));
      p.run(p.clock.now() + 2_000);
      server!.read(p.clock.now(), scratch);
    }
    expect(nc.lookup(v6('fd00::2'))?.state).toBe('REACHABLE');
    expect(nc.stats.solicitationsSent).toBe(before);
  });
});

describe('TCP over IPv6 input that no connection may come from', () => {
  it('drops a SYN from the unspecified or an IPv4-mapped source, and one with a bad checksum, counting each', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    p.b.tcp!.listen(0, 80, 4, { family: 6 });
    const send = (src: string, corrupt = false): void => {
      const seg = new Uint8Array(IPV6_HEADER_LEN + 20);
      writeIpv6Header(seg, 0, v6(src), v6('fd00::2'), NextHeader.TCP, 20, 64);
      seg.set([0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 5 << 4, 0x02, 0xff, 0xff], IPV6_HEADER_LEN);
      fillTcp6Checksum(seg, IPV6_HEADER_LEN, seg.length, v6(src), v6('fd00::2'));
      if (corrupt) seg[IPV6_HEADER_LEN + 18] ^= 1;
      const frame = p.da.txReserve(14 + seg.length)!;
      emitEthernet({ dst: p.b.mac, src: p.a.mac, ethertype: EtherType.IPv6, vlan: undefined }, frame, 0);
      frame.set(seg, 14);
      p.da.txCommit(p.clock.now(), frame.length);
      p.run(p.clock.now() + 10);
    };
    send('::');
    send('::ffff:10.0.0.1');
    expect(p.b.stats.ipv6!.tcpBadSource).toBe(2);
    send('fd00::1', true);
    expect(p.b.stats.ipv6!.tcpBadChecksum).toBe(1);
    expect(p.b.stats.tcp!.badChecksum).toBe(1);
    expect(p.b.stats.tcp!.passiveOpens).toBe(0);
    send('fd00::1');
    expect(p.b.stats.tcp!.passiveOpens).toBe(1); // the same SYN, well formed, is taken
  });
});
