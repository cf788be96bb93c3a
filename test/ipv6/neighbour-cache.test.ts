/**
 * The IPv6 neighbour cache (RFC 4861 7.2-7.3) on the virtual clock: each state's timers and transitions, the
 * advertisement table of 7.2.5, the caps, and packet conservation under random event sequences.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseIpv6, formatIpv6 } from '../../protocols/ipv6/address.js';
import { NdpNeighbourCache, type NdpNeighbourOptions, type PendingPacket } from '../../protocols/icmpv6/neighbour-cache.js';

const A = parseIpv6('fe80::a')!;
const B = parseIpv6('fe80::b')!;
const C = parseIpv6('fe80::c')!;
const MAC1 = Uint8Array.of(2, 0, 0, 0, 0, 1);
const MAC2 = Uint8Array.of(2, 0, 0, 0, 0, 2);

interface Pkt extends PendingPacket {
  readonly id: number;
}

class Recorder {
  readonly log: string[] = [];
  readonly transmitted: number[] = [];
  readonly unreachable: number[] = [];
  readonly routersLost: string[] = [];
  solicit(target: Uint8Array, mac: Uint8Array | undefined): void {
    this.log.push(`NS ${formatIpv6(target)} ${mac === undefined ? 'multicast' : `unicast ${mac[5]}`}`);
  }
  transmit(p: Pkt, mac: Uint8Array): void {
    this.transmitted.push(p.id);
    this.log.push(`TX ${p.id} -> ${mac[5]}`);
  }
  unreachableFn = (p: Pkt): void => {
    this.unreachable.push(p.id);
  };
}

function setup(options: Partial<NdpNeighbourOptions> = {}, random = 0.5): { cache: NdpNeighbourCache<Pkt>; rec: Recorder } {
  const rec = new Recorder();
  const cache = new NdpNeighbourCache<Pkt>(
    { solicit: (t, m) => rec.solicit(t, m), transmit: (p, m) => rec.transmit(p, m), unreachable: rec.unreachableFn, routerLost: (ip) => rec.routersLost.push(formatIpv6(ip)) },
    () => random,
    options,
  );
  return { cache, rec };
}

const pkt = (id: number, len = 100): Pkt => ({ id, frame: new Uint8Array(len) });
const SOLICITED = { router: false, solicited: true, override: true };

describe('address resolution: INCOMPLETE (RFC 4861 7.2.2)', () => {
  it('queues, solicits the solicited-node group every RetransTimer, and fails after MAX_MULTICAST_SOLICIT', () => {
    const { cache, rec } = setup();
    expect(cache.send(0, A, pkt(1))).toBe('queued');
    expect(cache.send(10, A, pkt(2))).toBe('queued');
    expect(rec.log).toEqual(['NS fe80::a multicast']);
    expect(cache.lookup(A)).toMatchObject({ state: 'INCOMPLETE', queued: 2 });
    expect(cache.pollAt()).toBe(1000);
    cache.poll(999);
    expect(rec.log.length).toBe(1);
    cache.poll(1000);
    cache.poll(2000);
    expect(rec.log).toEqual(['NS fe80::a multicast', 'NS fe80::a multicast', 'NS fe80::a multicast']);
    cache.poll(3000);
    expect(rec.unreachable).toEqual([1, 2]);
    expect(cache.lookup(A)).toBeUndefined();
    expect(cache.stats.failed).toBe(1);
    expect(cache.totalQueuedBytes).toBe(0);
  });

  it('resolves on a solicited advertisement, sends the queue in order, and is REACHABLE', () => {
    const { cache, rec } = setup();
    cache.send(0, A, pkt(1));
    cache.send(0, A, pkt(2));
    cache.advertisement(500, A, SOLICITED, MAC1);
    expect(rec.transmitted).toEqual([1, 2]);
    expect(cache.lookup(A)).toMatchObject({ state: 'REACHABLE', queued: 0 });
    expect(cache.send(600, A, pkt(3))).toEqual(MAC1);
    expect(cache.stats.resolved).toBe(1);
  });

  it('ignores an advertisement without a link-layer address while INCOMPLETE, and one for an address it never asked', () => {
    const { cache } = setup();
    cache.send(0, A, pkt(1));
    cache.advertisement(1, A, SOLICITED, undefined);
    expect(cache.lookup(A)?.state).toBe('INCOMPLETE');
    cache.advertisement(1, B, SOLICITED, MAC1);
    expect(cache.lookup(B)).toBeUndefined();
    expect(cache.stats.unsolicitedIgnored).toBe(1);
  });

  it('an unsolicited advertisement resolves to STALE, and the queued packets move it to DELAY', () => {
    const { cache, rec } = setup();
    cache.send(0, A, pkt(1));
    cache.advertisement(1, A, { router: false, solicited: false, override: true }, MAC1);
    expect(rec.transmitted).toEqual([1]);
    expect(cache.lookup(A)?.state).toBe('DELAY');
  });
});

describe('neighbor unreachability detection (RFC 4861 7.3)', () => {
  function reachable(random = 0.5): ReturnType<typeof setup> {
    const s = setup({}, random);
    s.cache.send(0, A, pkt(1));
    s.cache.advertisement(0, A, SOLICITED, MAC1);
    s.rec.log.length = 0;
    return s;
  }

  it('REACHABLE -> STALE after ReachableTime, drawn in [0.5, 1.5) x BaseReachableTime', () => {
    expect(reachable(0).cache.reachableTime).toBe(15_000);
    expect(reachable(0.999999).cache.reachableTime).toBe(45_000);
    const { cache } = reachable(0.5);
    expect(cache.reachableTime).toBe(30_000);
    cache.poll(29_999);
    expect(cache.lookup(A)?.state).toBe('REACHABLE');
    cache.poll(30_000);
    expect(cache.lookup(A)?.state).toBe('STALE');
  });

  it('STALE -> DELAY on a packet, DELAY -> PROBE after 5 s with unicast solicitations, deleted after MAX_UNICAST_SOLICIT', () => {
    const { cache, rec } = reachable();
    cache.poll(30_000);
    expect(cache.send(31_000, A, pkt(2))).toEqual(MAC1); // STALE entries are used as they are
    expect(cache.lookup(A)?.state).toBe('DELAY');
    cache.poll(35_999);
    expect(rec.log).toEqual([]);
    cache.poll(36_000);
    expect(cache.lookup(A)?.state).toBe('PROBE');
    expect(cache.send(36_500, A, pkt(3))).toEqual(MAC1); // still usable while probing
    cache.poll(37_000);
    cache.poll(38_000);
    expect(rec.log).toEqual(['NS fe80::a unicast 1', 'NS fe80::a unicast 1', 'NS fe80::a unicast 1']);
    cache.poll(39_000);
    expect(cache.lookup(A)).toBeUndefined();
    expect(cache.stats.probesFailed).toBe(1);
  });

  it('a solicited advertisement during PROBE, or an upper-layer confirmation during DELAY, makes it REACHABLE', () => {
    const { cache, rec } = reachable();
    cache.poll(30_000);
    cache.send(30_000, A, pkt(2));
    cache.confirmReachable(31_000, A);
    expect(cache.lookup(A)?.state).toBe('REACHABLE');
    cache.poll(35_000);
    expect(rec.log).toEqual([]); // no probe
    cache.poll(61_000);
    cache.send(61_000, A, pkt(3));
    cache.poll(66_000);
    expect(cache.lookup(A)?.state).toBe('PROBE');
    cache.advertisement(66_100, A, SOLICITED, MAC1);
    expect(cache.lookup(A)?.state).toBe('REACHABLE');
  });

  it('removes STALE entries left unused for staleGcMs', () => {
    const { cache } = reachable();
    cache.poll(30_000);
    cache.poll(89_999);
    expect(cache.lookup(A)?.state).toBe('STALE');
    cache.poll(90_000);
    expect(cache.lookup(A)).toBeUndefined();
    expect(cache.pollAt()).toBeUndefined();
  });
});

describe('advertisements on a known entry (RFC 4861 7.2.5)', () => {
  function withEntry(): ReturnType<typeof setup> {
    const s = setup();
    s.cache.send(0, A, pkt(1));
    s.cache.advertisement(0, A, SOLICITED, MAC1);
    return s;
  }

  it('without Override, another address makes a REACHABLE entry STALE but keeps the address; otherwise it is ignored', () => {
    const { cache } = withEntry();
    cache.advertisement(1, A, { router: false, solicited: true, override: false }, MAC2);
    expect(cache.lookup(A)).toMatchObject({ state: 'STALE', mac: MAC1 });
    cache.advertisement(2, A, { router: false, solicited: true, override: false }, MAC2);
    expect(cache.lookup(A)).toMatchObject({ state: 'STALE', mac: MAC1 });
    expect(cache.stats.overrideIgnored).toBe(1);
  });

  it('with Override, another address is taken: REACHABLE if solicited, else STALE', () => {
    const { cache } = withEntry();
    cache.advertisement(1, A, { router: false, solicited: false, override: true }, MAC2);
    expect(cache.lookup(A)).toMatchObject({ state: 'STALE', mac: MAC2 });
    cache.advertisement(2, A, { router: false, solicited: true, override: true }, MAC1);
    expect(cache.lookup(A)).toMatchObject({ state: 'REACHABLE', mac: MAC1 });
    // Same address, not solicited: the state does not change.
    cache.advertisement(3, A, { router: false, solicited: false, override: false }, MAC1);
    expect(cache.lookup(A)?.state).toBe('REACHABLE');
  });

  it('tracks IsRouter and reports a router that stops being one', () => {
    const { cache, rec } = withEntry();
    cache.advertisement(1, A, { router: true, solicited: true, override: true }, MAC1);
    expect(cache.lookup(A)?.isRouter).toBe(true);
    cache.advertisement(2, A, { router: false, solicited: true, override: true }, undefined);
    expect(cache.lookup(A)?.isRouter).toBe(false);
    expect(rec.routersLost).toEqual(['fe80::a']);
  });
});

describe('learning from solicitations, router messages and redirects (7.2.3, 6.3.4, 8.3)', () => {
  it('creates a STALE entry, replaces a changed address, and resolves an INCOMPLETE one', () => {
    const { cache, rec } = setup();
    cache.learn(0, B, MAC1, true);
    expect(cache.lookup(B)).toMatchObject({ state: 'STALE', mac: MAC1, isRouter: true });
    cache.confirmReachable(1, B);
    cache.learn(2, B, MAC1);
    expect(cache.lookup(B)?.state).toBe('REACHABLE'); // same address: no change
    cache.learn(3, B, MAC2);
    expect(cache.lookup(B)).toMatchObject({ state: 'STALE', mac: MAC2 });
    cache.send(4, C, pkt(7));
    cache.learn(5, C, MAC1);
    expect(rec.transmitted).toEqual([7]);
    expect(cache.lookup(C)?.state).toBe('DELAY');
  });
});

describe('bounds', () => {
  it('caps the queue per entry and in bytes', () => {
    const { cache } = setup({ maxQueuedPackets: 2, maxQueuedBytes: 250 });
    expect(cache.send(0, A, pkt(1))).toBe('queued');
    expect(cache.send(0, A, pkt(2))).toBe('queued');
    expect(cache.send(0, A, pkt(3))).toBe('dropped');
    expect(cache.send(0, B, pkt(4))).toBe('dropped'); // 300 bytes would pass the byte cap
    expect(cache.send(0, B, pkt(5, 50))).toBe('queued');
    expect(cache.stats.queueDrops).toBe(2);
    expect(cache.totalQueuedBytes).toBe(250);
  });

  it('caps entries, evicting the least recently used STALE entry first', () => {
    const { cache, rec } = setup({ maxEntries: 2 });
    cache.learn(0, A, MAC1);
    cache.send(1, B, pkt(1));
    cache.send(2, C, pkt(2)); // evicts A (STALE)
    expect(cache.lookup(A)).toBeUndefined();
    expect(cache.size).toBe(2);
    cache.send(3, A, pkt(3)); // evicts B, the oldest INCOMPLETE: its packet is unreachable
    expect(rec.unreachable).toEqual([1]);
    expect(cache.stats.evicted).toBe(2);
  });
});

describe('the host\'s table (sink.known: a shared address, the kernel\'s neighbours)', () => {
  const withHost = (table: Map<string, Uint8Array>, options: Partial<NdpNeighbourOptions> = {}) => {
    const rec = new Recorder();
    const asked: string[] = [];
    const cache = new NdpNeighbourCache<Pkt>(
      {
        solicit: (t, m) => rec.solicit(t, m),
        transmit: (p, m) => rec.transmit(p, m),
        unreachable: rec.unreachableFn,
        known: (ip) => (asked.push(formatIpv6(ip)), table.get(formatIpv6(ip))),
      },
      () => 0.5,
      options,
    );
    return { cache, rec, asked };
  };

  it('a neighbour the host knows: send answers its MAC at once, the entry REACHABLE, nothing queued or solicited', () => {
    const { cache, rec, asked } = withHost(new Map([['fe80::a', MAC1]]));
    expect(cache.send(0, A, pkt(1))).toEqual(MAC1);
    expect(cache.lookup(A)).toMatchObject({ state: 'REACHABLE', queued: 0 });
    expect(cache.stats.fromHost).toBe(1);
    expect(rec.log).toEqual([]);
    expect(cache.send(5, A, pkt(2))).toEqual(MAC1); // from the entry now: the host is not asked again
    expect(asked).toEqual(['fe80::a']);
    expect(cache.pollAt()).toBe(cache.reachableTime); // REACHABLE for ReachableTime, then STALE as any entry
  });

  it('macFor asks the host too (a layer building in the driver\'s buffer); one it does not know goes through send', () => {
    const { cache, rec } = withHost(new Map([['fe80::a', MAC1]]));
    expect(cache.macFor(0, A)).toEqual(MAC1);
    expect(cache.lookup(A)?.state).toBe('REACHABLE');
    expect(cache.macFor(0, B)).toBeUndefined();
    expect(cache.lookup(B)).toBeUndefined();
    expect(cache.send(0, B, pkt(1))).toBe('queued');
    expect(rec.log).toEqual(['NS fe80::b multicast']);
    expect(cache.stats.fromHost).toBe(1);
  });

  it('is asked only for a neighbour with no entry: an INCOMPLETE one waits for its answer', () => {
    const table = new Map<string, Uint8Array>();
    const { cache, asked } = withHost(table);
    expect(cache.send(0, A, pkt(1))).toBe('queued');
    table.set('fe80::a', MAC1);
    expect(cache.send(1, A, pkt(2))).toBe('queued');
    expect(asked).toEqual(['fe80::a']);
    cache.advertisement(2, A, SOLICITED, MAC1);
    expect(cache.send(3, A, pkt(3))).toEqual(MAC1);
  });

  it('a full cache makes room for the host\'s entry as for any other (the oldest INCOMPLETE one goes)', () => {
    const { cache, rec } = withHost(new Map([['fe80::c', MAC2]]), { maxEntries: 2 });
    cache.send(0, A, pkt(1));
    cache.send(1, B, pkt(2));
    expect(cache.send(2, C, pkt(3))).toEqual(MAC2);
    expect(cache.lookup(A)).toBeUndefined();
    expect(rec.unreachable).toEqual([1]); // A's packet: its sender is told, as for any eviction
    expect(cache.lookup(C)?.state).toBe('REACHABLE');
    expect(cache.size).toBe(2);
  });
});

describe('random event sequences', () => {
  it('never loses or duplicates a packet, and keeps its accounting', () => {
    const ips = [A, B, C];
    const macs = [MAC1, MAC2];
    const event = fc.record({
      op: fc.constantFrom('send', 'na', 'learn', 'confirm', 'delete', 'wait'),
      who: fc.nat(2),
      mac: fc.nat(1),
      flags: fc.record({ router: fc.boolean(), solicited: fc.boolean(), override: fc.boolean() }),
      withMac: fc.boolean(),
      dt: fc.integer({ min: 0, max: 8000 }),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        const { cache, rec } = setup({ maxEntries: 2, maxQueuedPackets: 3 });
        let now = 0;
        let id = 0;
        let queued = 0;
        let direct = 0;
        let dropped = 0;
        for (const e of events) {
          now += e.dt;
          cache.poll(now);
          const at = cache.pollAt();
          if (at !== undefined) expect(at).toBeGreaterThan(now);
          const ip = ips[e.who]!;
          if (e.op === 'send') {
            const r = cache.send(now, ip, pkt(id++, 10));
            if (r === 'queued') queued++;
            else if (r === 'dropped') dropped++;
            else direct++;
          } else if (e.op === 'na') cache.advertisement(now, ip, e.flags, e.withMac ? macs[e.mac] : undefined);
          else if (e.op === 'learn') cache.learn(now, ip, macs[e.mac]!, e.flags.router);
          else if (e.op === 'confirm') cache.confirmReachable(now, ip);
          else if (e.op === 'delete') cache.delete(ip);
          expect(cache.size).toBeLessThanOrEqual(2);
          expect(cache.totalQueuedBytes).toBeGreaterThanOrEqual(0);
        }
        let still = 0;
        for (const ip of ips) still += cache.lookup(ip)?.queued ?? 0;
        expect(cache.totalQueuedBytes).toBe(still * 10);
        const handed = new Set([...rec.transmitted, ...rec.unreachable]);
        expect(handed.size).toBe(rec.transmitted.length + rec.unreachable.length); // nobody twice
        // Every queued packet was sent, reported unreachable, dropped with a deleted entry, or still waits.
        expect(rec.transmitted.length + rec.unreachable.length + (cache.stats.queueDrops - dropped) + still).toBe(queued);
        expect(direct + queued + dropped).toBe(id);
      }),
      { numRuns: 300 },
    );
  });
});
