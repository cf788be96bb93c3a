/**
 * MLD through the stack (src/stack/mld.ts), on the virtual clock:
 * - what a starting host sends: MLDv2 reports for the solicited-node groups of its addresses, from :: before DAD
 *   (as Linux's, test/fixtures), hop limit 1, Router Alert, to ff02::16 (33:33:00:00:00:16), checksum valid;
 *   from the link-local address afterwards; a group joined and left;
 * - queries crafted by the test (playing the router): answered within their Maximum Response Delay; refused without
 *   Router Alert, with hop limit 64 or from a global source;
 * - behind a snooping switch (a memorySwitch whose ports deliver a group's frames only to ports that reported it,
 *   as RFC 4541 switches do): NDP reaches a host only because it reported its solicited-node group (with
 *   `mld: false` the ping fails), and a UDP datagram to a group reaches the member, not the other host, and no one
 *   after the member left.
 */
import { describe, expect, it } from 'vitest';
import { memorySwitch } from '../../drivers/memory/index.js';
import { forwardRest } from '../../drivers/middleware/forward.js';
import type { FrameDriver } from '../../drivers/types.js';
import { read16 } from '../../protocols/util/bytes.js';
import { seededRng } from '../../protocols/util/rng.js';
import { eui64InterfaceId, formatIpv6, linkLocalAddress, multicastMac, solicitedNodeMulticast } from '../../protocols/ipv6/address.js';
import { Icmpv6Packet, fillIcmpv6Checksum } from '../../protocols/icmpv6/wire.js';
import { MldRecord } from '../../protocols/icmpv6/mld.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { runUntil } from '../../src/stack/sim.js';
import { NetStack } from '../../src/stack/stack.js';
import { HOST_MAC, ROUTER_MAC, routerLab } from './autoconf-helpers.js';
import { makePair6, v6, v6cidr } from './stack-helpers.js';

interface Report {
  at: number;
  dstMac: string;
  src: string;
  hopLimit: number;
  routerAlert: boolean;
  checksumOk: boolean;
  records: [number, string][];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Decode an Ethernet frame carrying an MLDv2 report (behind the 8-byte Hop-by-Hop header), else undefined. */
function mldReport(f: Uint8Array, at: number): Report | undefined {
  if (f[12] !== 0x86 || f[13] !== 0xdd || f[14 + 6] !== 0 || f[54] !== 58) return undefined;
  const icmp = f.subarray(62);
  if (icmp[0] !== 143) return undefined;
  const records: [number, string][] = [];
  for (let i = 0, o = 8; i < read16(icmp, 6); i++, o += 20 + 16 * read16(icmp, o + 2)) records.push([icmp[o]!, formatIpv6(icmp.subarray(o + 4, o + 20))]);
  const ip = f.subarray(14);
  return {
    at,
    dstMac: hex(f.subarray(0, 6)),
    src: formatIpv6(ip.subarray(8, 24)),
    hopLimit: ip[7]!,
    routerAlert: f[56] === 5 && f[57] === 2 && f[58] === 0 && f[59] === 0,
    checksumOk: Icmpv6Packet.checked(icmp)!.verifyChecksum(ip.subarray(8, 24), ip.subarray(24, 40)),
    records: records.sort((a, b) => a[1].localeCompare(b[1])),
  };
}

/** A general (or group-specific) MLDv2 query from `src` as a whole frame; `opts` break it on purpose. */
function queryFrame(maxRespMs: number, o: { group?: string; src?: string; hopLimit?: number; routerAlert?: boolean } = {}): Uint8Array {
  const src = v6(o.src ?? 'fe80::1');
  const group = v6(o.group ?? '::');
  const dst = o.group === undefined ? v6('ff02::1') : group;
  const f = new Uint8Array(14 + 40 + 8 + 28);
  f.set(multicastMac(dst), 0);
  f.set(ROUTER_MAC, 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  const ip = f.subarray(14);
  ip[0] = 0x60;
  ip[5] = 36; // payload: 8 + 28
  ip[6] = 0; // Hop-by-Hop
  ip[7] = o.hopLimit ?? 1;
  ip.set(src, 8);
  ip.set(dst, 24);
  ip.set(o.routerAlert === false ? [58, 0, 1, 4, 0, 0, 0, 0] : [58, 0, 5, 2, 0, 0, 1, 0], 40);
  const q = ip.subarray(48);
  q[0] = 130;
  q[4] = maxRespMs >>> 8;
  q[5] = maxRespMs & 0xff;
  q.set(group, 8);
  q[24] = 2;
  q[25] = 125;
  fillIcmpv6Checksum(q, 0, 28, src, dst);
  return f;
}

const HOST_LL = linkLocalAddress(eui64InterfaceId(HOST_MAC));
const snGroup = (a: string): string => formatIpv6(solicitedNodeMulticast(v6(a)));

describe('MLD in the stack', () => {
  function lab(extra: { ipv6?: object } = {}) {
    const l = routerLab({ acceptRa: false, ...extra.ipv6 }, { addresses6: ['fd00::10/64'] });
    const reports: Report[] = [];
    const run = (until: number): void => {
      while (l.clock.now() < until) {
        runUntil(l.clock, [l.host], { until: Math.min(until, l.clock.now() + 50) });
        l.wire.receive(l.clock.now(), 1 << 20, (f) => {
          const r = mldReport(f, l.clock.now());
          if (r !== undefined) reports.push(r);
        });
      }
    };
    return { ...l, reports, run };
  }

  it('a starting host reports its solicited-node groups from :: (before DAD), as Linux does; later reports come from its link-local address', () => {
    const l = lab();
    l.run(l.clock.now() + 4000);
    const start = 1000;
    // fe80::ff:fe00:10 and fd00::10 share their solicited-node group (the low 24 bits): one record.
    const groups = [...new Set([snGroup('fd00::10'), formatIpv6(solicitedNodeMulticast(HOST_LL))])];
    expect(groups).toEqual(['ff02::1:ff00:10']);
    expect(l.reports.length).toBeGreaterThanOrEqual(2);
    const [first, second] = l.reports;
    expect(first).toMatchObject({ dstMac: '333300000016', src: '::', hopLimit: 1, routerAlert: true, checksumOk: true });
    expect(first!.at - start).toBeLessThan(100); // at once
    expect(first!.records).toEqual(groups.map((g) => [MldRecord.ToExclude, g]));
    expect(second!.records).toEqual(first!.records); // the Robustness Variable's second transmission
    expect(l.host.ipv6!.stats.mld!.reportsSent).toBe(l.reports.length);
    // Joined and left later, once DAD is done: from the link-local address.
    l.reports.length = 0;
    l.host.ipv6!.mld.join(l.clock.now(), v6('ff15::1234'));
    l.host.ipv6!.mld.join(l.clock.now(), v6('ff02::1')); // all-nodes: never reported
    l.run(l.clock.now() + 3000);
    expect(l.reports.map((r) => [r.src, r.records])).toEqual([
      [formatIpv6(HOST_LL), [[MldRecord.ToExclude, 'ff15::1234']]],
      [formatIpv6(HOST_LL), [[MldRecord.ToExclude, 'ff15::1234']]],
    ]);
    l.reports.length = 0;
    l.host.ipv6!.mld.leave(l.clock.now(), v6('ff15::1234'));
    l.run(l.clock.now() + 3000);
    expect(l.reports.map((r) => r.records)).toEqual([[[MldRecord.ToInclude, 'ff15::1234']], [[MldRecord.ToInclude, 'ff15::1234']]]);
  });

  it('answers a general query within its Maximum Response Delay with every group; a group-specific one for its group', () => {
    const l = lab();
    l.run(l.clock.now() + 5000);
    l.host.ipv6!.mld.join(l.clock.now(), v6('ff15::1234'));
    l.run(l.clock.now() + 3000);
    l.reports.length = 0;
    const t0 = l.clock.now();
    l.inject(queryFrame(2000));
    l.run(t0 + 5000);
    expect(l.reports).toHaveLength(1);
    expect(l.reports[0]!.at - t0).toBeLessThanOrEqual(2000 + 50);
    expect(l.reports[0]!.records).toEqual([
      [MldRecord.IsExclude, 'ff02::1:ff00:10'],
      [MldRecord.IsExclude, 'ff15::1234'],
    ]);
    l.reports.length = 0;
    l.inject(queryFrame(500, { group: 'ff15::1234' }));
    l.inject(queryFrame(500, { group: 'ff15::9999' })); // not ours: not even received (no such group here)
    l.run(l.clock.now() + 2000);
    expect(l.reports.map((r) => r.records)).toEqual([[[MldRecord.IsExclude, 'ff15::1234']]]);
    expect(l.host.ipv6!.stats.mld!.queriesReceived).toBe(2);
  });

  it('refuses queries without Router Alert, with hop limit 64, or from a global source (RFC 3810 5); mld: false sends nothing', () => {
    const l = lab();
    l.run(l.clock.now() + 5000);
    l.reports.length = 0;
    l.inject(queryFrame(100, { routerAlert: false }));
    l.inject(queryFrame(100, { hopLimit: 64 }));
    l.inject(queryFrame(100, { src: 'fd00::1' }));
    l.run(l.clock.now() + 2000);
    expect(l.reports).toEqual([]);
    expect(l.host.ipv6!.stats.mld!.invalid).toBe(3);
    const off = lab({ ipv6: { mld: false } });
    off.run(off.clock.now() + 5000);
    off.inject(queryFrame(100));
    off.run(off.clock.now() + 2000);
    expect(off.reports).toEqual([]);
    expect(off.host.ipv6!.stats.mld).toBeUndefined();
  });
});

describe('MLD follows the addresses', () => {
  it('an address found DUPLICATE leaves its solicited-node group (CHANGE_TO_INCLUDE), the link-local one stays', () => {
    const seen: Report[] = [];
    const p = makePair6(['fd00::1/64'], ['fd00::1/64'], { wrapB: (d) => reportTap(d, (r) => seen.push(r)) });
    runUntil(p.clock, [p.a], { until: 3_500 }); // a alone: fd00::1 is a's
    p.db.receive(p.clock.now(), 1 << 20, () => {}); // what b missed while down
    p.run(9_000);
    const b = p.b.ipv6!;
    expect(b.ndp.find(v6('fd00::1'))!.state).toBe('DUPLICATE');
    const llGroup = formatIpv6(solicitedNodeMulticast(b.ndp.addresses[0]!.address));
    expect(llGroup).not.toBe('ff02::1:ff00:1');
    expect(seen[0]!.records).toEqual(
      [
        [MldRecord.ToExclude, 'ff02::1:ff00:1'],
        [MldRecord.ToExclude, llGroup],
      ].sort((x, y) => (x[1] as string).localeCompare(y[1] as string)),
    );
    expect(seen.filter((r) => r.records.some(([t, g]) => t === MldRecord.ToInclude && g === 'ff02::1:ff00:1'))).toHaveLength(2);
    expect(b.mld.has(v6('ff02::1:ff00:1'))).toBe(false);
    expect(b.mld.has(v6(llGroup))).toBe(true);
  });
});

/** `inner` with every MLD report its stack sends handed to `seen` (the transmit side watched, nothing changed). */
function reportTap(inner: FrameDriver, seen: (r: Report) => void): FrameDriver {
  let frame: Uint8Array | null = null;
  const w = {
    txReserve(len: number): Uint8Array | null {
      frame = inner.txReserve(len);
      return frame;
    },
    txCommit(now: number, len: number, segment?: number): boolean | void {
      const r = mldReport(frame!.subarray(0, len), now);
      if (r !== undefined) seen(r);
      return segment === undefined ? inner.txCommit(now, len) : inner.txCommit(now, len, segment);
    },
  };
  return forwardRest(w as unknown as FrameDriver, inner);
}

/**
 * A snooping switch (RFC 4541): a memorySwitch whose ports deliver a multicast frame (33:33:xx) only to stacks that
 * reported its group, except all-nodes and the MLD routers' group (flooded). Learned from the reports each port sends.
 */
function snoopingSwitch() {
  const sw = memorySwitch();
  const members: Set<string>[] = [];
  const stats = { filtered: 0 };
  const port = (): FrameDriver => {
    const mine = new Set<string>();
    members.push(mine);
    // Learned from the reports the port's stack sends; group frames filtered on the way to it.
    const inner = reportTap(sw.port(), (r) => {
      for (const [type, group] of r.records) {
        if (type === MldRecord.ToInclude || type === MldRecord.IsInclude) mine.delete(group);
        else mine.add(group);
      }
    });
    const w = {
      receive(now: number, max: number, sink: (f: Uint8Array, flags?: number) => void): number {
        return inner.receive(now, max, (f, flags) => {
          if (f[0] === 0x33 && f[1] === 0x33 && f[12] === 0x86 && f[13] === 0xdd) {
            const group = formatIpv6(f.subarray(38, 54));
            if (group !== 'ff02::1' && group !== 'ff02::16' && !mine.has(group)) {
              stats.filtered++;
              return;
            }
          }
          sink(f, flags);
        });
      },
    };
    return forwardRest(w as unknown as FrameDriver, inner);
  };
  return { port, members, stats };
}

describe('behind a snooping switch', () => {
  function three(bMld = true) {
    const sw = snoopingSwitch();
    const clock = new VirtualClock(1_000);
    const make = (addr: string, seed: number, ipv6: object = {}) =>
      new NetStack({ driver: sw.port(), addresses: [], addresses6: [v6cidr(addr)], ipv6: { acceptRa: false, ...ipv6 }, rng: seededRng(seed) });
    const a = make('fd00::1/64', 1);
    const b = make('fd00::2/64', 2, bMld ? {} : { mld: false });
    const c = make('fd00::3/64', 3);
    const run = (ms: number, stop?: () => boolean) => runUntil(clock, [a, b, c], { until: clock.now() + ms, ...(stop ? { stopWhen: stop } : {}) });
    run(4000);
    return { sw, clock, a, b, c, run };
  }

  function ping(t: ReturnType<typeof three>, from: NetStack, to: string) {
    let result: { ok: boolean } | undefined;
    from.ipv6!.ping(t.clock.now(), v6(to), { timeoutMs: 5000 }, (r) => (result = r));
    t.run(10_000, () => result !== undefined);
    return result;
  }

  it('NDP reaches a host because it reported its solicited-node group: a ping works, and fails against a host with mld: false', () => {
    const on = three(true);
    expect(on.sw.members[1]!.has(snGroup('fd00::2'))).toBe(true);
    expect(ping(on, on.a, 'fd00::2')).toMatchObject({ ok: true });
    const off = three(false);
    expect(off.sw.members[1]!.size).toBe(0);
    expect(ping(off, off.a, 'fd00::2')).toMatchObject({ ok: false });
    expect(off.sw.stats.filtered).toBeGreaterThan(0); // its neighbour solicitations were not forwarded
  });

  it('a datagram to a group reaches the member that joined (and reported) it, not the other host; no one once it left', () => {
    const t = three();
    const G = v6('ff15::1234');
    const got = { a: 0, b: 0 };
    for (const [k, s] of [['a', t.a], ['b', t.b]] as const) {
      const u = s.udp.createSocket();
      u.family = 6;
      u.bind6(undefined, 5000);
      u.onMessage6 = (data) => {
        expect(Buffer.from(data).toString()).toBe('to the group');
        got[k]++;
      };
    }
    const sender = t.c.udp.createSocket();
    sender.family = 6;
    sender.bind6(undefined, 0);
    const send = (): void => {
      sender.send6(t.clock.now(), Buffer.from('to the group'), G, 5000);
      t.run(100);
    };
    send();
    expect(got).toEqual({ a: 0, b: 0 }); // nobody joined: the switch forwards it nowhere
    t.a.ipv6!.mld.join(t.clock.now(), G);
    t.run(50);
    expect(t.sw.members[0]!.has('ff15::1234')).toBe(true);
    send();
    send();
    expect(got).toEqual({ a: 2, b: 0 });
    t.a.ipv6!.mld.leave(t.clock.now(), G);
    t.run(50);
    expect(t.sw.members[0]!.has('ff15::1234')).toBe(false);
    send();
    expect(got).toEqual({ a: 2, b: 0 });
    expect(t.a.ipv6!.stats.udp6.noPort).toBe(0);
  });
});
