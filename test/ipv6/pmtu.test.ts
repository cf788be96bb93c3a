/** IPv6 path MTU estimates (RFC 8201): protocols/ipv6/pmtu.ts on the virtual clock. */
import { describe, expect, it } from 'vitest';
import { parseIpv6 } from '../../protocols/ipv6/address.js';
import { PathMtuCache } from '../../protocols/ipv6/pmtu.js';

const D1 = parseIpv6('2001:db8::1')!;
const D2 = parseIpv6('2001:db8::2')!;

describe('path MTU (RFC 8201)', () => {
  it('lowers on Packet Too Big, never raises, and never goes below 1280', () => {
    const c = new PathMtuCache();
    expect(c.mtu(0, D1, 1500)).toBe(1500);
    expect(c.packetTooBig(0, D1, 1400, 1500)).toBe(1400);
    expect(c.mtu(1, D1, 1500)).toBe(1400);
    expect(c.mtu(1, D2, 1500)).toBe(1500); // per destination
    expect(c.packetTooBig(2, D1, 1450, 1500)).toBeUndefined(); // section 4: never increased by a PTB
    expect(c.packetTooBig(3, D1, 9000, 1500)).toBeUndefined();
    expect(c.packetTooBig(4, D1, 576, 1500)).toBe(1280); // clamped to the minimum link MTU
    expect(c.packetTooBig(5, D1, 0, 1500)).toBeUndefined(); // already at 1280
    expect(c.stats).toMatchObject({ lowered: 2, ignored: 3, clamped: 2 });
    // A link MTU below the estimate wins.
    expect(c.mtu(6, D1, 1280)).toBe(1280);
  });

  it('expires estimates after 10 minutes so the path is probed upward again', () => {
    const c = new PathMtuCache();
    c.packetTooBig(1000, D1, 1400, 1500);
    expect(c.pollAt()).toBe(601_000);
    expect(c.mtu(600_999, D1, 1500)).toBe(1400);
    expect(c.mtu(601_000, D1, 1500)).toBe(1500);
    c.packetTooBig(0, D2, 1300, 1500);
    c.poll(600_000);
    expect(c.size).toBe(0);
    expect(c.stats.expired).toBe(2);
  });

  it('keeps at most maxEntries destinations, dropping the one expiring soonest', () => {
    const c = new PathMtuCache({ maxEntries: 2 });
    const d = (i: number): Uint8Array => parseIpv6(`2001:db8::${i + 1}`)!;
    for (let i = 0; i < 5; i++) c.packetTooBig(i, d(i), 1300, 1500);
    expect(c.size).toBe(2);
    expect(c.stats.evicted).toBe(3);
    expect(c.mtu(10, d(4), 1500)).toBe(1300);
    expect(c.mtu(10, d(0), 1500)).toBe(1500);
  });
});
