/**
 * Per-family TCP counters (`stats.tcp.ipv6`, the IPv6 share of the layer's counters of the same names): two
 * dual-stack stacks exchange data over IPv4 and IPv6 under loss, then a RST for a closed port over IPv6; each
 * IPv6 share must equal what the IPv6 layer itself counted, and IPv4's (the total minus IPv6's) what IPv4 saw.
 */
import { describe, expect, it } from 'vitest';
import { faults } from '../../drivers/middleware/index.js';
import { makePair6 } from '../ipv6/stack-helpers.js';
import { addrId, transfer6 } from './helpers.js';

describe('per-family TCP counters', () => {
  it('segments, retransmissions, opens and resets are split by family', () => {
    const p = makePair6(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24', 'fd00::2/64'], {
      wrapA: (d) => faults(d, { seed: 3, tx: { loss: 0.03 } }),
    });
    p.run(3_500);
    const a = p.a.stats;
    const b = p.b.stats;
    // IPv6 first, alone: every segment of the layer is IPv6.
    transfer6(p, 'fd00::2', 200_000, { port: 80 });
    expect(a.tcp!.ipv6.segsOut).toBe(a.tcp!.segsOut);
    expect(a.tcp!.ipv6.segsIn).toBe(a.tcp!.segsIn);
    expect(a.tcp!.ipv6.retransmittedSegs).toBe(a.tcp!.retransmittedSegs);
    expect(a.tcp!.ipv6.retransmittedSegs).toBeGreaterThan(0); // the 3 % loss
    // What the IPv6 layer handed TCP, less what GRO merged on the way (only IPv6 has flowed so far).
    expect(b.tcp!.ipv6.segsIn + b.gro!.merged).toBe(b.ipv6!.tcpIn);
    expect(a.tcp!.ipv6.segsOut).toBe(a.ipv6!.tcpOut); // and what it sent for it
    expect([a.tcp!.ipv6.activeOpens, b.tcp!.ipv6.passiveOpens]).toEqual([1, 1]);
    // Then IPv4: the IPv6 shares do not move; IPv4's is the rest. The IPv6 connection's last ACKs (a delayed one
    // may still be due when the reader has its bytes) are let through first.
    p.run(p.clock.now() + 1_000);
    const v6Before = structuredClone(a.tcp!.ipv6);
    transfer6(p, '10.0.0.2', 200_000, { port: 81 });
    expect(a.tcp!.ipv6).toEqual(v6Before);
    expect(a.tcp!.segsOut - a.tcp!.ipv6.segsOut).toBeGreaterThan(100);
    expect(a.tcp!.retransmittedSegs - a.tcp!.ipv6.retransmittedSegs).toBeGreaterThan(0);
    expect(a.tcp!.activeOpens - a.tcp!.ipv6.activeOpens).toBe(1);
    // A SYN to a closed port over IPv6: the RST is counted as IPv6's on both ends.
    const rstsBefore = [b.tcp!.ipv6.rstsSent, a.tcp!.ipv6.rstsReceived];
    const c = p.a.tcp!.connect(p.clock.now(), addrId(p.a, 'fd00::2'), 9);
    p.run(p.clock.now() + 20_000, () => c.state === 'CLOSED');
    expect(c.state).toBe('CLOSED');
    expect([b.tcp!.ipv6.rstsSent, a.tcp!.ipv6.rstsReceived]).toEqual([rstsBefore[0]! + 1, rstsBefore[1]! + 1]);
    expect(b.tcp!.rstsSent - b.tcp!.ipv6.rstsSent).toBe(0);
  });
});
