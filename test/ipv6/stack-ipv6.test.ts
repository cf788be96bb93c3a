/**
 * IPv6 in the stack core, in memory on the virtual clock: two stacks over IPv6 only, link-local only and dual-stack;
 * DAD before use; NDP resolution both ways; ping both ways; ICMPv6 errors; packet too big lowering the path MTU.
 */
import { describe, expect, it } from 'vitest';
import { runUntil } from '../../src/stack/sim.js';
import type { NetStack } from '../../src/stack/stack.js';
import { formatIpv6, eui64InterfaceId, linkLocalAddress } from '../../protocols/ipv6/address.js';
import { makePair6, ping6, v6, v6cidr } from './stack-helpers.js';

const llOf = (s: NetStack): string => formatIpv6(linkLocalAddress(eui64InterfaceId(s.mac)));

describe('IPv6 stack: addresses and DAD', () => {
  it('derives a link-local address from the MAC and keeps every address tentative until DAD ends', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    const a = p.a.ipv6!;
    expect(a.ndp.addresses.map((x) => `${formatIpv6(x.address)}/${x.prefixLen}`)).toEqual([`${llOf(p.a)}/64`, 'fd00::1/64']);
    p.a.poll(p.clock.now());
    expect(a.ndp.addresses.every((x) => x.state === 'TENTATIVE')).toBe(true);
    // A tentative address is no source: ping says EADDRNOTAVAIL as Linux does.
    expect(() => a.ping(p.clock.now(), v6('fd00::2'), {}, () => {})).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
    p.run(p.clock.now() + 2_100); // start delay < 1 s, one probe, 1 s wait
    expect(a.ndp.addresses.map((x) => x.state)).toEqual(['PREFERRED', 'PREFERRED']);
    expect(p.a.stats.ndp!.dadProbesSent).toBe(2);
    expect(p.b.stats.ndp!.dadDuplicates).toBe(0);
  });

  it('finds a duplicate: a later stack probing an address in use is answered and gives it up', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::1/64']);
    runUntil(p.clock, [p.a], { until: 3_500 }); // a alone: its addresses become preferred
    expect(p.a.ipv6!.ndp.find(v6('fd00::1'))!.state).toBe('PREFERRED');
    p.db.receive(p.clock.now(), 1 << 20, () => {}); // b's interface was down: a's probes never reached it
    p.run(7_000); // now b starts: its probe for fd00::1 draws a's advertisement to all-nodes
    expect(p.b.ipv6!.ndp.find(v6('fd00::1'))!.state).toBe('DUPLICATE');
    expect(p.b.ipv6!.ndp.addresses[0]!.state).toBe('PREFERRED'); // its link-local differs (another MAC)
    expect(p.b.stats.ndp!.dadDuplicates).toBe(1);
    expect(p.a.stats.ndp!.solicitationsAnswered).toBe(1);
    expect(p.a.ipv6!.ndp.find(v6('fd00::1'))!.state).toBe('PREFERRED');
    // b never uses it: no source towards fd00::/64 but its link-local, and fd00::1 is not its own
    expect(p.b.ipv6!.isLocal(v6('fd00::1'))).toBe(false);
  });

  it('two stacks probing the same address at once: the one that hears the other\'s probe first gives it up (RFC 4862 5.4.3)', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::1/64']);
    p.run(3_500);
    const states = [p.a, p.b].map((s) => s.ipv6!.ndp.find(v6('fd00::1'))!.state).sort();
    expect(states).toEqual(['DUPLICATE', 'PREFERRED']);
    // Our own probe looped back (same nonce) is not a duplicate: a's probe counted as b's conflict only.
    expect(p.a.stats.ndp!.dadDuplicates + p.b.stats.ndp!.dadDuplicates).toBe(1);
  });
});

describe('IPv6 stack: two stacks', () => {
  it('IPv6 only: resolves by NDP and pings both ways over global addresses', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    const ab = ping6(p, p.a, 'fd00::2');
    expect(ab).toMatchObject({ ok: true, ttl: 64, bytes: 56 });
    expect(formatIpv6((ab as { from: Uint8Array }).from)).toBe('fd00::2');
    const ba = ping6(p, p.b, 'fd00::1');
    expect(ba.ok).toBe(true);
    // Each learned the other through a solicitation: a asked (multicast NS), b learned a from it and answered.
    expect(p.a.ipv6!.ndp.neighbours.lookup(v6('fd00::2'))?.mac).toEqual(p.b.mac);
    expect(p.b.ipv6!.ndp.neighbours.lookup(v6('fd00::1'))?.mac).toEqual(p.a.mac);
    expect(p.a.stats.ndp!.solicitationsSent).toBeGreaterThanOrEqual(1);
    expect(p.b.stats.ndp!.solicitationsAnswered).toBeGreaterThanOrEqual(1);
    expect(p.a.stats.icmpv6!.echoReplies).toBe(1);
    expect(p.b.stats.icmpv6!.echoRepliesSent).toBe(1);
    expect(p.a.stats.ipv4.tx).toBe(0);
    expect(p.a.stats.arp.rx + p.b.stats.arp.rx).toBe(0);
  });

  it('link-local only: pings fe80:: both ways', () => {
    const p = makePair6([], []);
    p.run(3_500);
    expect(ping6(p, p.a, llOf(p.b)).ok).toBe(true);
    expect(ping6(p, p.b, llOf(p.a)).ok).toBe(true);
    // no global address: a global destination has no route
    expect(() => p.a.ipv6!.ping(p.clock.now(), v6('2001:db8::1'), {}, () => {})).toThrow(expect.objectContaining({ code: 'ENETUNREACH' }));
  });

  it('dual-stack: IPv4 and IPv6 side by side', () => {
    const p = makePair6(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24', 'fd00::2/64']);
    p.run(3_500);
    expect(ping6(p, p.a, 'fd00::2').ok).toBe(true);
    let r4: { ok: boolean } | undefined;
    p.a.ping(p.clock.now(), 0x0a000002, {}, (r) => (r4 = r));
    runUntil(p.clock, [p.a, p.b], { stopWhen: () => r4 !== undefined });
    expect(r4?.ok).toBe(true);
    expect(p.a.stats.ipv6!.tx).toBeGreaterThan(0);
    expect(p.a.stats.ipv4.tx).toBeGreaterThan(0);
  });

  it('pings its own addresses through loopback, and ::1', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    expect(ping6(p, p.a, 'fd00::1')).toMatchObject({ ok: true, rttMs: 0 });
    expect(ping6(p, p.a, '::1').ok).toBe(true);
    expect(p.a.stats.ipv6!.loopback).toBe(4);
  });

  it('a ping to a silent on-link address fails with EHOSTUNREACH after 3 solicitations', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    const r = ping6(p, p.a, 'fd00::99', { timeoutMs: 10_000 });
    expect(r.ok).toBe(false);
    expect((r as { error: { code: string } }).error.code).toBe('EHOSTUNREACH');
    expect(p.a.stats.ndp!.neighbour.failed).toBe(1);
  });

  it('routes through an IPv6 gateway', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64', 'fd01::2/64'], { a: { routes6: [{ destination: v6cidr('::/0'), gateway: v6('fd00::2') }] } });
    p.run(3_500);
    // b answers for fd01::2 (its own); a reaches it through the gateway fd00::2 (b's MAC)
    expect(ping6(p, p.a, 'fd01::2').ok).toBe(true);
  });

  it('a large ping is fragmented at the MTU and reassembled', () => {
    const p = makePair6(['fd00::1/64'], ['fd00::2/64']);
    p.run(3_500);
    const r = ping6(p, p.a, 'fd00::2', { size: 4000 });
    expect(r).toMatchObject({ ok: true, bytes: 4000 });
    expect(p.a.stats.ipv6!.fragmentsSent).toBe(3);
    expect(p.b.stats.ipv6!.reassembly.reassembled).toBe(1);
    expect(p.b.stats.ipv6!.fragmentsSent).toBe(3); // the reply too
  });
});
