/** Router discovery (RFC 4861 6.3) and SLAAC (RFC 4862 5.5) on the virtual clock: protocols/icmpv6/router-discovery.ts. */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { formatIpv6, parseIpv6 } from '../../protocols/ipv6/address.js';
import { stableInterfaceId } from '../../protocols/ipv6/stable-iid.js';
import { RouterDiscovery, type RouterAdvertisement } from '../../protocols/icmpv6/router-discovery.js';
import type { NdpOption } from '../../protocols/icmpv6/wire-ndp.js';

const ROUTER = parseIpv6('fe80::1')!;
const ROUTER2 = parseIpv6('fe80::2')!;
const H = 3600;

function ra(options: NdpOption[], routerLifetime = 1800, extra: Partial<RouterAdvertisement> = {}): RouterAdvertisement {
  return { kind: 'router-advertisement', curHopLimit: 64, flags: 0, routerLifetime, reachableTime: 0, retransTimer: 0, options, ...extra };
}

function prefix(text: string, validLifetime: number, preferredLifetime: number, flags: { onLink?: boolean; autonomous?: boolean; prefixLen?: number } = {}): NdpOption {
  return { kind: 'prefix-info', prefixLen: flags.prefixLen ?? 64, onLink: flags.onLink ?? true, autonomous: flags.autonomous ?? true, validLifetime, preferredLifetime, prefix: parseIpv6(text)! };
}

function setup(linkMtu = 1500): { rd: RouterDiscovery; log: string[] } {
  const log: string[] = [];
  const iid = (_p: Uint8Array, counter: number): Uint8Array => Uint8Array.of(0, 0, 0, 0, 0, 0, 0xaa, counter + 1);
  const rd = new RouterDiscovery(
    { solicit: () => log.push('RS'), addressAdded: (a, l) => log.push(`+ ${formatIpv6(a)}/${l}`), addressRemoved: (a) => log.push(`- ${formatIpv6(a)}`) },
    iid,
    () => 0.5,
    { linkMtu },
  );
  return { rd, log };
}

describe('router solicitations (RFC 4861 6.3.7)', () => {
  it('sends up to 3, 4 s apart after a random delay, and stops at the first advertisement', () => {
    const { rd, log } = setup();
    rd.start(0);
    expect(rd.pollAt(0)).toBe(500);
    rd.poll(500);
    rd.poll(4500);
    rd.poll(8500);
    rd.poll(12_500);
    expect(log).toEqual(['RS', 'RS', 'RS']);
    const b = setup();
    b.rd.start(0);
    b.rd.poll(500);
    b.rd.advertisement(600, ROUTER, ra([]));
    b.rd.poll(4500);
    expect(b.log).toEqual(['RS']);
  });
});

describe('router advertisements (RFC 4861 6.3.4)', () => {
  it('keeps a default router list by Router Lifetime, 0 removing', () => {
    const { rd } = setup();
    rd.advertisement(0, ROUTER, ra([], 1800));
    rd.advertisement(0, ROUTER2, ra([], 600));
    expect(rd.defaultRouters(1).map(formatIpv6)).toEqual(['fe80::1', 'fe80::2']);
    rd.poll(600_000);
    expect(rd.defaultRouters(600_000).map(formatIpv6)).toEqual(['fe80::1']);
    rd.advertisement(1_000_000, ROUTER, ra([], 1800)); // refreshed
    expect(rd.defaultRouters(2_000_000).length).toBe(1);
    rd.advertisement(2_000_001, ROUTER, ra([], 0));
    expect(rd.defaultRouters(2_000_001)).toEqual([]);
  });

  it('returns the parameters to apply, 0 meaning unspecified', () => {
    const { rd } = setup();
    expect(rd.advertisement(0, ROUTER, ra([], 1800, { curHopLimit: 0, reachableTime: 0, retransTimer: 0 }))).toEqual({ curHopLimit: undefined, reachableTimeMs: undefined, retransTimerMs: undefined });
    expect(rd.advertisement(0, ROUTER, ra([], 1800, { curHopLimit: 32, reachableTime: 20_000, retransTimer: 500 }))).toEqual({ curHopLimit: 32, reachableTimeMs: 20_000, retransTimerMs: 500 });
  });

  it('takes an MTU option between 1280 and the link MTU only', () => {
    const { rd } = setup(1500);
    rd.advertisement(0, ROUTER, ra([{ kind: 'mtu', mtu: 9000 }]));
    expect(rd.linkMtu).toBe(1500);
    rd.advertisement(0, ROUTER, ra([{ kind: 'mtu', mtu: 1000 }]));
    expect(rd.linkMtu).toBe(1500);
    rd.advertisement(0, ROUTER, ra([{ kind: 'mtu', mtu: 1400 }]));
    expect(rd.linkMtu).toBe(1400);
  });

  it('keeps on-link prefixes (L), never link-local ones, removed by valid lifetime 0 or its end', () => {
    const { rd } = setup();
    rd.advertisement(0, ROUTER, ra([prefix('2001:db8:1::', 600, 300, { autonomous: false }), prefix('fe80::', 600, 300, { autonomous: false }), prefix('2001:db8:2::', 600, 300, { onLink: false, autonomous: false })]));
    expect(rd.onLinkPrefixes(1).map((c) => `${formatIpv6(c.address)}/${c.prefixLen}`)).toEqual(['2001:db8:1::/64']);
    expect(rd.isOnLink(1, parseIpv6('2001:db8:1::99')!)).toBe(true);
    expect(rd.isOnLink(1, parseIpv6('2001:db8:2::99')!)).toBe(false);
    expect(rd.isOnLink(1, parseIpv6('fe80::99')!)).toBe(true);
    rd.advertisement(2, ROUTER, ra([prefix('2001:db8:1::', 0, 0, { autonomous: false })]));
    expect(rd.onLinkPrefixes(3)).toEqual([]);
  });
});

describe('SLAAC (RFC 4862 5.5.3)', () => {
  it('forms an address from a /64 with A set, deprecates it, then removes it', () => {
    const { rd, log } = setup();
    rd.advertisement(0, ROUTER, ra([prefix('2001:db8:1::', 600, 300)]));
    expect(log).toEqual(['+ 2001:db8:1::aa01/64']);
    expect(rd.addresses(1)).toMatchObject([{ prefixLen: 64, preferredUntil: 300_000, validUntil: 600_000, deprecated: false }]);
    expect(rd.addresses(300_000)[0]!.deprecated).toBe(true);
    rd.poll(600_000);
    expect(log).toEqual(['+ 2001:db8:1::aa01/64', '- 2001:db8:1::aa01']);
    expect(rd.addresses(600_000)).toEqual([]);
  });

  it('ignores what 5.5.3 says to ignore: no A, link-local, preferred > valid, not a /64, valid lifetime 0', () => {
    const { rd, log } = setup();
    rd.advertisement(0, ROUTER, ra([
      prefix('2001:db8:1::', 600, 300, { autonomous: false }),
      prefix('fe80::', 600, 300),
      prefix('2001:db8:2::', 300, 600),
      prefix('2001:db8:3::', 600, 300, { prefixLen: 48 }),
      prefix('2001:db8:4::', 0, 0),
    ]));
    expect(log).toEqual([]);
    expect(rd.stats.prefixesIgnored).toBe(4);
  });

  it('refreshes lifetimes by the two-hour rule', () => {
    const { rd } = setup();
    rd.advertisement(0, ROUTER, ra([prefix('2001:db8:1::', 10 * H, 5 * H)]));
    // A shorter valid lifetime than 2 h cannot cut a longer remaining lifetime below 2 h...
    rd.advertisement(1000, ROUTER, ra([prefix('2001:db8:1::', 60, 30)]));
    expect(rd.addresses(1000)[0]).toMatchObject({ validUntil: 1000 + 2 * H * 1000, preferredUntil: 1000 + 30_000 });
    // ...and with 2 h or less remaining, a shorter one is ignored.
    rd.advertisement(2000, ROUTER, ra([prefix('2001:db8:1::', 60, 30)]));
    expect(rd.addresses(2000)[0]!.validUntil).toBe(1000 + 2 * H * 1000);
    // A longer one is always taken; infinity too.
    rd.advertisement(3000, ROUTER, ra([prefix('2001:db8:1::', 3 * H, 30)]));
    expect(rd.addresses(3000)[0]!.validUntil).toBe(3000 + 3 * H * 1000);
    rd.advertisement(4000, ROUTER, ra([prefix('2001:db8:1::', 0xffffffff, 0xffffffff)]));
    expect(rd.addresses(4000)[0]).toMatchObject({ validUntil: Infinity, preferredUntil: Infinity, deprecated: false });
    expect(rd.pollAt(4000)).toBe(4000 + 1800 * 1000); // only the router's lifetime (refreshed by the last RA) is left to watch
  });

  it('after a DAD failure forms the next address with DAD_Counter + 1, up to IDGEN_RETRIES (RFC 7217 6)', () => {
    const { rd, log } = setup();
    rd.advertisement(0, ROUTER, ra([prefix('2001:db8:1::', 600, 300)]));
    rd.addressDuplicate(parseIpv6('2001:db8:1::aa01')!);
    rd.addressDuplicate(parseIpv6('2001:db8:1::aa02')!);
    rd.addressDuplicate(parseIpv6('2001:db8:1::aa03')!);
    rd.addressDuplicate(parseIpv6('2001:db8:1::aa04')!);
    expect(log).toEqual([
      '+ 2001:db8:1::aa01/64', '- 2001:db8:1::aa01',
      '+ 2001:db8:1::aa02/64', '- 2001:db8:1::aa02',
      '+ 2001:db8:1::aa03/64', '- 2001:db8:1::aa03',
      '+ 2001:db8:1::aa04/64', '- 2001:db8:1::aa04',
    ]);
    expect(rd.addresses(1)).toEqual([]);
    expect(rd.stats.dadRetries).toBe(3);
  });

  it('works with RFC 7217 identifiers: stable per prefix, different across prefixes', () => {
    const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());
    const key = new Uint8Array(16).fill(7);
    const added: string[] = [];
    const make = (): RouterDiscovery =>
      new RouterDiscovery(
        { solicit: () => {}, addressAdded: (a) => added.push(formatIpv6(a)), addressRemoved: () => {} },
        (p, dadCounter) => stableInterfaceId(sha256, { prefix: p, netIface: 'eth0', dadCounter, secretKey: key })?.iid,
        () => 0,
      );
    make().advertisement(0, ROUTER, ra([prefix('2001:db8:1::', 600, 300), prefix('2001:db8:2::', 600, 300)]));
    make().advertisement(0, ROUTER, ra([prefix('2001:db8:1::', 600, 300)]));
    expect(added.length).toBe(3);
    expect(added[2]).toBe(added[0]); // the same prefix gives the same address again
    expect(added[0]!.split(':').slice(-4).join(':')).not.toBe(added[1]!.split(':').slice(-4).join(':'));
  });

  it('bounds its lists', () => {
    const rd = new RouterDiscovery({ solicit: () => {}, addressAdded: () => {}, addressRemoved: () => {} }, () => new Uint8Array(8).fill(1), () => 0, { maxRouters: 2, maxPrefixes: 2 });
    for (let i = 1; i <= 5; i++) rd.advertisement(0, parseIpv6(`fe80::${i}`)!, ra([prefix(`2001:db8:${i}::`, 600, 300)]));
    expect(rd.defaultRouters(1).length).toBe(2);
    expect(rd.onLinkPrefixes(1).length).toBe(2);
    expect(rd.addresses(1).length).toBe(2);
  });
});
