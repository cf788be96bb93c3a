/**
 * TCP over IPv6 through whole stacks (NDP, IPv6, the memory link) on the virtual clock: IPv6 only, link-local only,
 * dual-stack, loss/reordering/duplication, sequence wrap, RST, MSS from the IPv6 MTU.
 */
import { describe, expect, it } from 'vitest';
import { faults } from '../../drivers/middleware/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { eui64InterfaceId, formatIpv6, linkLocalAddress } from '../../protocols/ipv6/address.js';
import type { NetStack } from '../../src/stack/stack.js';
import { NextHeader, writeIpv6Header } from '../../protocols/ipv6/wire.js';
import { fillTcp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import { write16, write32 } from '../../protocols/util/bytes.js';
import { makePair6, v6 } from '../ipv6/stack-helpers.js';
import { addrId, transfer6 } from './helpers.js';

const llOf = (s: NetStack): string => formatIpv6(linkLocalAddress(eui64InterfaceId(s.mac)));

describe('TCP over IPv6 between two stacks', () => {
  it('IPv6 only: connects through NDP and moves 1 MB SHA-exact, MSS 1440 from MTU 1500 (RFC 8200 8.3)', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    const { client, server } = transfer6(p, 'fd00::2', 1_000_000);
    expect(client.info().sndMss).toBe(1428); // 1440 less 12 bytes of timestamps option
    expect(client.info().advMss).toBe(1440);
    expect(server.info().advMss).toBe(1440);
    expect(p.a.stats.ipv4.tx).toBe(0);
    expect(p.a.stats.arp.rx + p.b.stats.arp.rx).toBe(0);
    expect(p.a.stats.ipv6!.tcpOut).toBeGreaterThan(600);
    // Software GRO merges in-order IPv6 segments as it does IPv4's: each merge is one pass through TCP saved.
    expect(p.b.stats.gro!.merged).toBeGreaterThan(0);
    expect(p.b.stats.ipv6!.tcpIn).toBe(p.b.stats.tcp!.segsIn + p.b.stats.gro!.merged);
    expect(p.b.stats.ipv6!.tcpBadChecksum).toBe(0);
  });

  it('link-local only: fe80:: to fe80::', () => {
    const p = makePair6([], []);
    p.run(3_500);
    transfer6(p, llOf(p.b), 200_000);
  });

  it('MSS follows a smaller link MTU: 1280 gives 1220', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64'], { mtu: 1280 });
    p.run(3_500);
    const { client } = transfer6(p, 'fd00::2', 100_000);
    expect(client.info().advMss).toBe(1220);
    expect(client.info().sndMss).toBe(1208);
  });

  it('dual-stack: a `::` listener takes IPv4 and IPv6 clients; v6-only takes IPv6 alone', () => {
    const p = makePair6(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24', 'fd00::2/64']);
    p.run(3_500);
    const l = p.b.tcp!.listen(0, 80, 16, { family: 46 });
    const accepted: number[] = [];
    l.onConnection = (c) => accepted.push(c.remoteIp);
    const c4 = p.a.tcp!.connect(p.clock.now(), addrId(p.a, '10.0.0.2'), 80);
    const c6 = p.a.tcp!.connect(p.clock.now(), addrId(p.a, 'fd00::2'), 80);
    p.run(p.clock.now() + 1_000);
    expect(c4.state).toBe('ESTABLISHED');
    expect(c6.state).toBe('ESTABLISHED');
    expect(accepted).toContain(0x0a000001);
    expect(accepted).toContain(p.b.tcp!.addrs.find(p.a.ipv6!.ndp.addresses[1]!.address));
    // v6-only on another port: an IPv4 SYN is refused with a RST.
    p.b.tcp!.listen(0, 81, 16, { family: 6 });
    const r4 = p.a.tcp!.connect(p.clock.now(), addrId(p.a, '10.0.0.2'), 81);
    let err: string | undefined;
    r4.onClose = (e) => (err = e);
    const r6 = p.a.tcp!.connect(p.clock.now(), addrId(p.a, 'fd00::2'), 81);
    p.run(p.clock.now() + 1_000);
    expect(err).toBe('ECONNREFUSED');
    expect(r6.state).toBe('ESTABLISHED');
    // and IPv4 wildcards on a third: an IPv6 SYN refused.
    p.b.tcp!.listen(0, 82, 16);
    const x6 = p.a.tcp!.connect(p.clock.now(), addrId(p.a, 'fd00::2'), 82);
    let err6: string | undefined;
    x6.onClose = (e) => (err6 = e);
    p.run(p.clock.now() + 1_000);
    expect(err6).toBe('ECONNREFUSED');
  });

  it("Linux's bind conflicts between the families", () => {
    const p = makePair6(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24', 'fd00::2/64']);
    const t = p.b.tcp!;
    const l = t.listen(0, 80, 1, { family: 46 });
    expect(() => t.listen(0, 80, 1)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' })); // 0.0.0.0 vs dual ::
    expect(() => t.listen(addrId(p.b, '10.0.0.2'), 80, 1)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(() => t.listen(addrId(p.b, 'fd00::2'), 80, 1)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    l.close(0);
    const v6only = t.listen(0, 80, 1, { family: 6 });
    const v4 = t.listen(0, 80, 1); // v6-only :: and 0.0.0.0 live side by side
    expect(v6only.family).toBe(6);
    expect(v4.family).toBe(4);
    expect(() => t.listen(addrId(p.b, 'fd00::2'), 80, 1)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
  });

  it('a SYN to a closed port is answered with a RST (not port unreachable): ECONNREFUSED', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    const c = p.a.tcp!.connect(p.clock.now(), addrId(p.a, 'fd00::2'), 81);
    let err: string | undefined;
    c.onClose = (e) => (err = e);
    p.run(p.clock.now() + 5_000);
    expect(err).toBe('ECONNREFUSED');
    expect(p.b.stats.tcp!.rstsSent).toBe(1);
    expect(p.b.stats.icmpv6!.errorsSent).toBe(0);
  });

  it('fails a connect with EHOSTUNREACH when NDP gives up', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    const c = p.a.tcp!.connect(p.clock.now(), addrId(p.a, 'fd00::99'), 80);
    let err: string | undefined;
    c.onClose = (e) => (err = e);
    p.run(p.clock.now() + 10_000);
    expect(err).toBe('EHOSTUNREACH');
  });

  it('loopback: a stack connects to its own address and ::1', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    for (const dst of ['fd00::1', '::1']) {
      const l = p.a.tcp!.listen(0, 90, 4, { family: 6 });
      let server: unknown;
      l.onConnection = (c) => (server = c);
      const c = p.a.tcp!.connect(p.clock.now(), addrId(p.a, dst), 90);
      p.run(p.clock.now() + 100);
      expect(c.state).toBe('ESTABLISHED');
      expect(server).toBeDefined();
      l.close(p.clock.now());
    }
  });

  it('loopback through GRO: a looped-back segment is not held past the poll that received it', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    // A data segment with only ACK set (a GRO candidate: no PSH) to our own address, looped back.
    const me = v6('fd00::1');
    const pkt = new Uint8Array(40 + 20 + 100);
    writeIpv6Header(pkt, 0, me, me, NextHeader.TCP, 120, 64);
    write16(pkt, 40, 40000);
    write16(pkt, 42, 92);
    write32(pkt, 44, 1000);
    write32(pkt, 48, 1);
    pkt[52] = 5 << 4;
    pkt[53] = 0x10;
    write16(pkt, 54, 65535);
    fillTcp6Checksum(pkt, 40, pkt.length, me, me);
    const before = p.a.stats.gro!.segments;
    p.a.ipv6!.sendPacket(p.clock.now(), pkt);
    p.a.poll(p.clock.now());
    expect(p.a.stats.gro!.segments).toBe(before + 1); // it went through GRO...
    expect(p.a.gro!.held).toBe(0); // ...and on to TCP in that poll (it answers with a RST: no such connection)
    expect(p.a.stats.tcp!.segsIn).toBeGreaterThan(0);
  });

  it('recovers from loss, reordering and duplication both ways: 500 kB SHA-exact', () => {
    const impair = (seed: number) => (d: FrameDriver) =>
      faults(d, { seed, tx: { loss: 0.05, reorder: 0.1, duplicate: 0.02, delayMs: 5, jitterMs: 2 } });
    const p = makePair6(['fd00::1/64'], ['fd00::2/64'], { wrapA: impair(61), wrapB: impair(62) });
    p.run(3_500);
    const { client } = transfer6(p, 'fd00::2', 500_000);
    expect(client.info().retransmits).toBeGreaterThan(0);
  });

  for (const [name, isn] of [
    ['2^31', 0x7fffffff - 20_000],
    ['2^32', 0xffffffff - 20_000],
  ] as const) {
    it(`sequence numbers wrap across ${name} over IPv6`, () => {
      const tcp = { isn: () => isn | 0 };
      const p = makePair6(['fd00::1/64'], ['fd00::2/64'], { a: { tcp }, b: { tcp } });
      p.run(3_500);
      const { client, server } = transfer6(p, 'fd00::2', 200_000);
      expect(client.info().retransmits).toBe(0);
      expect(server.state).toBe('ESTABLISHED');
    });
  }
});
