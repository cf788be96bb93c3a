/**
 * Router discovery, SLAAC and redirects in the stack (RFC 4861 6.3 and 8, RFC 4862 5.5, RFC 7217), for the IPv6
 * layer's one interface, over the sans-IO `RouterDiscovery` core:
 *
 * - router solicitations to ff02::2 once the link-local address is usable (from it, with our MAC), up to
 *   MAX_RTR_SOLICITATIONS, until an advertisement arrives (6.3.7);
 * - advertisements (validated by the caller: link-local source, hop limit 255) into the default router list and the
 *   on-link prefix list, the MTU option into the link MTU (never below 1280, never above the driver's), Cur Hop
 *   Limit, Reachable Time and Retrans Timer into the layer and the neighbour cache; the router's link-layer address
 *   into the neighbour cache with IsRouter (6.3.4); a router whose NA clears the Router flag leaves the list (7.2.5);
 * - SLAAC: an address per autonomous /64 prefix, its interface identifier RFC 7217's (`stableInterfaceId` over the
 *   PRF the runtime supplies, SHA-256 from node:crypto in the API; modified EUI-64 without one), added to the NDP
 *   host TENTATIVE with DAD, DEPRECATED when its preferred lifetime ends, removed when its valid lifetime ends, and
 *   formed again with the next DAD_Counter after a DAD failure;
 * - next-hop determination (RFC 4861 5.2) for what the configured routes do not cover more precisely: a redirect
 *   for the destination, an on-link prefix, else a default router (one believed reachable first, 6.3.6);
 * - redirects (8.3) from the destination's current first-hop router: the destination goes to the target (a better
 *   router, or itself: on-link), kept in a bounded destination table for 10 minutes.
 *
 * Sans-IO: `now` comes in, randomness is the layer's Rng, NDP messages go out through the host. Nothing throws on
 * input; what is ignored is counted in `stats`.
 */
import {
  IPV6_ALL_ROUTERS,
  IPV6_UNSPECIFIED,
  eui64InterfaceId,
  ipv6Equals,
  ipv6Key,
  type Ipv6Address,
} from '../../protocols/ipv6/address.js';
import { stableInterfaceId, type PseudoRandomFunction } from '../../protocols/ipv6/stable-iid.js';
import { RouterDiscovery, type RouterAdvertisement, type RouterDiscoveryOptions } from '../../protocols/icmpv6/router-discovery.js';
import { linkLayerOption, type NdpRepr } from '../../protocols/icmpv6/wire-ndp.js';
import type { NdpHost } from './ndp.js';
import type { Rng } from '../../protocols/util/rng.js';
import { BywayError } from '../../protocols/util/errors.js';

export type RouterDiscoveryTuning = Partial<Omit<RouterDiscoveryOptions, 'linkMtu'>>;

export interface AutoconfHost {
  readonly ndp: NdpHost;
  readonly mac: Uint8Array;
  /** The driver's (the interface's) MTU: an RA may lower the IPv6 link MTU below it, never raise it above. */
  readonly mtu: number;
  readonly rng: Rng;
  /** RFC 7217's F (SHA-256 in the API); undefined: modified EUI-64 interface identifiers. */
  readonly prf?: PseudoRandomFunction | undefined;
  sendNdp(now: number, repr: NdpRepr, src: Ipv6Address, dst: Ipv6Address, mac: Uint8Array | undefined): void;
  /** The first hop the layer uses towards `dst` now (a gateway, or dst itself when on-link), for 8.1's check. */
  firstHop(dst: Ipv6Address): Ipv6Address | undefined;
}

/** The `ipv6` options this part takes (Ipv6Options has them). */
export interface AutoconfOptions {
  readonly slaac: boolean;
  readonly acceptRedirects: boolean;
  readonly routerDiscovery: RouterDiscoveryTuning;
  /** RFC 7217's secret_key in hex; '': random (stable for this stack only). */
  readonly stableSecret: string;
}

export interface AutoconfStats {
  /** Advertisements acted on; the solicitations sent, prefixes ignored, addresses formed, DAD retries are in `discovery`. */
  advertisements: number;
  /** The MTU option changed the link MTU. */
  mtuUpdates: number;
  addressesDeprecated: number;
  addressesRemoved: number;
  /** A router left the default router list because its NA said it is no router any more. */
  routersLost: number;
  redirects: number;
  /** Redirects not from the destination's current first-hop router, or with redirects off. */
  redirectsIgnored: number;
  readonly discovery: RouterDiscovery['stats'];
}

/** The next hop for a destination, from the RA-learned state: `gateway` undefined means on-link. */
export interface AutoRoute {
  readonly prefixLen: number;
  readonly gateway: Ipv6Address | undefined;
}

interface Redirected {
  readonly target: Ipv6Address;
  readonly onLink: boolean;
  readonly expires: number;
}

const REDIRECT_TTL_MS = 10 * 60_000;
const MAX_REDIRECTS = 256;

export class Ipv6Autoconf {
  readonly rd: RouterDiscovery;
  readonly stats: AutoconfStats;
  /** The last Cur Hop Limit an RA specified (undefined: keep the configured hop limit). */
  hopLimit: number | undefined;
  private readonly redirects = new Map<string, Redirected>();
  /** What `route` answers (reused). */
  private readonly found: { prefixLen: number; gateway: Ipv6Address | undefined } = { prefixLen: 0, gateway: undefined };
  private started = false;
  /** When `poll` has work: the next solicitation, expiry or deprecation. */
  private wakeAt = Infinity;
  private now = 0;
  private readonly slaac: boolean;
  private readonly acceptRedirects: boolean;
  /** RFC 7217's secret_key and Net_Iface (the MAC, as text). */
  private readonly secretKey: Uint8Array;
  private readonly netIface: string;

  constructor(
    private readonly host: AutoconfHost,
    options: AutoconfOptions,
  ) {
    this.slaac = options.slaac;
    this.acceptRedirects = options.acceptRedirects;
    this.secretKey = stableSecretBytes(options.stableSecret, host.rng);
    this.netIface = Array.from(host.mac, (b) => b.toString(16).padStart(2, '0')).join(':');
    this.rd = new RouterDiscovery(
      {
        solicit: () => this.solicit(),
        addressAdded: (address, prefixLen) => void host.ndp.addAddress(this.now, { address, prefixLen }, 'slaac'),
        addressRemoved: (address) => {
          if (host.ndp.find(address)?.origin !== 'slaac') return;
          host.ndp.removeAddress(address);
          this.stats.addressesRemoved++;
        },
      },
      (prefix, dadCounter) => this.interfaceId(prefix, dadCounter),
      () => host.rng.nextU32() / 0x1_0000_0000,
      { ...options.routerDiscovery, linkMtu: host.mtu },
    );
    this.stats = { advertisements: 0, mtuUpdates: 0, addressesDeprecated: 0, addressesRemoved: 0, routersLost: 0, redirects: 0, redirectsIgnored: 0, discovery: this.rd.stats };
  }

  /** The IPv6 MTU of the link: the driver's, or lower by an RA's MTU option. */
  get linkMtu(): number {
    return this.rd.linkMtu;
  }

  /** Begin soliciting routers (the link-local address is usable, or there is none). Once. */
  start(now: number): void {
    if (this.started) return;
    this.started = true;
    this.now = now;
    this.rd.start(now);
    this.rearm(now);
  }

  /** An address's DAD ended: start soliciting after the link-local one; a duplicate SLAAC address is formed anew. */
  dadResult(now: number, address: Ipv6Address, state: 'PREFERRED' | 'DUPLICATE'): void {
    this.now = now;
    const a = this.host.ndp.find(address);
    if (a === undefined) return;
    if (a.origin === 'link-local' && state === 'PREFERRED') this.start(now);
    else if (a.origin === 'slaac' && state === 'DUPLICATE') {
      this.rd.addressDuplicate(address); // removes it, forms the next DAD_Counter's (RFC 7217 section 6)
      this.rearm(now);
    } else if (a.origin === 'slaac') this.sync(now); // its preferred lifetime may have ended during DAD
  }

  /** A router advertisement or a redirect (validated): true when handled here. */
  input(now: number, repr: NdpRepr, src: Ipv6Address): boolean {
    this.now = now;
    if (repr.kind === 'router-advertisement') {
      this.advertisement(now, src, repr);
      return true;
    }
    if (repr.kind === 'redirect') {
      this.redirect(now, src, repr.target, repr.destination, linkLayerOption(repr, 'target-lla'));
      return true;
    }
    return false;
  }

  /** The neighbour cache saw `ip` stop being a router (7.2.5). */
  routerLost(ip: Ipv6Address): void {
    if (!this.rd.defaultRouters(this.now).some((r) => ipv6Equals(r, ip))) return;
    this.rd.removeRouter(ip);
    this.stats.routersLost++;
  }

  /**
   * RFC 4861 5.2's next hop from what routers told us, when it beats a configured route of `configuredLen` bits
   * (-1: none): a redirect (/128), an on-link prefix longer than the configured route, else, without a
   * configured route, a default router. The answer is one reused object, valid until the next call (the transmit
   * path asks per packet: nothing is allocated with one router and no redirect).
   */
  route(now: number, dst: Ipv6Address, configuredLen: number): AutoRoute | undefined {
    if (this.redirects.size > 0) {
      const r = this.redirects.get(ipv6Key(dst));
      if (r !== undefined && now < r.expires) return this.answer(128, r.onLink ? undefined : r.target);
    }
    const best = this.rd.longestOnLinkPrefix(now, dst, configuredLen);
    if (best !== undefined) return this.answer(best.prefixLen, undefined);
    if (configuredLen >= 0) return undefined;
    const router = this.defaultRouter(now);
    return router === undefined ? undefined : this.answer(0, router);
  }

  private answer(prefixLen: number, gateway: Ipv6Address | undefined): AutoRoute {
    const out = this.found;
    out.prefixLen = prefixLen;
    out.gateway = gateway;
    return out;
  }

  /** 6.3.6: a router whose neighbour entry is REACHABLE first, then any with a link-layer address, then the first. */
  private defaultRouter(now: number): Ipv6Address | undefined {
    if (this.rd.liveRouterCount(now) <= 1) return this.rd.firstLiveRouter(now);
    const routers = this.rd.defaultRouters(now);
    let known: Ipv6Address | undefined;
    for (const r of routers) {
      const e = this.host.ndp.neighbours.lookup(r);
      if (e?.state === 'REACHABLE') return r;
      if (known === undefined && e !== undefined && e.state !== 'INCOMPLETE') known = r;
    }
    return known ?? routers[0];
  }

  poll(now: number): void {
    this.now = now;
    if (now < this.wakeAt) return;
    this.rd.poll(now);
    this.sync(now);
    for (const [k, r] of this.redirects) if (now >= r.expires) this.redirects.delete(k);
    this.rearm(now);
  }

  pollAt(): number | undefined {
    return this.wakeAt === Infinity ? undefined : this.wakeAt;
  }

  private rearm(now: number): void {
    let at = this.rd.pollAt(now) ?? Infinity;
    for (const r of this.redirects.values()) if (r.expires < at) at = r.expires;
    this.wakeAt = at;
  }

  private advertisement(now: number, src: Ipv6Address, ra: RouterAdvertisement): void {
    this.stats.advertisements++;
    const lla = linkLayerOption(ra, 'source-lla');
    if (lla !== undefined) this.host.ndp.neighbours.learn(now, src, lla, true);
    const mtu = this.rd.linkMtu;
    // Without SLAAC the prefixes still say what is on-link; their A flag is ignored.
    const input = this.slaac ? ra : { ...ra, options: ra.options.map((o) => (o.kind === 'prefix-info' ? { ...o, autonomous: false } : o)) };
    const params = this.rd.advertisement(now, src, input);
    if (this.rd.linkMtu !== mtu) this.stats.mtuUpdates++;
    if (params.curHopLimit !== undefined) this.hopLimit = params.curHopLimit;
    if (params.reachableTimeMs !== undefined) this.host.ndp.neighbours.setBaseReachableTime(params.reachableTimeMs);
    if (params.retransTimerMs !== undefined) this.host.ndp.neighbours.setRetransTimer(params.retransTimerMs);
    this.sync(now);
    this.rearm(now);
  }

  /** RFC 4861 8.3: accept a redirect from the router we use for `destination`; learn the target's MAC. */
  private redirect(now: number, src: Ipv6Address, target: Ipv6Address, destination: Ipv6Address, lla: Uint8Array | undefined): void {
    const hop = this.host.firstHop(destination);
    if (!this.acceptRedirects || hop === undefined || !ipv6Equals(hop, src) || this.host.ndp.isOwn(destination)) {
      this.stats.redirectsIgnored++;
      return;
    }
    const onLink = ipv6Equals(target, destination);
    const key = ipv6Key(destination);
    this.redirects.delete(key);
    if (this.redirects.size >= MAX_REDIRECTS) this.redirects.delete(this.redirects.keys().next().value!);
    this.redirects.set(key, { target: target.slice(0, 16), onLink, expires: now + REDIRECT_TTL_MS });
    if (lla !== undefined) this.host.ndp.neighbours.learn(now, target, lla, !onLink);
    this.stats.redirects++;
    this.rearm(now);
  }

  /** Mirror the core's preferred/valid lifetimes onto the NDP host's address states. */
  private sync(now: number): void {
    for (const a of this.rd.addresses(now)) {
      const mine = this.host.ndp.find(a.address);
      if (mine === undefined || mine.origin !== 'slaac') continue;
      if (a.deprecated && mine.state === 'PREFERRED') this.stats.addressesDeprecated++;
      this.host.ndp.setDeprecated(a.address, a.deprecated);
    }
  }

  /** 6.3.7: from the link-local address (with our MAC), or from :: (without) when none is usable yet. */
  private solicit(): void {
    const ll = this.host.ndp.addresses.find((a) => a.origin === 'link-local' && a.state === 'PREFERRED')?.address;
    const src = ll ?? this.host.ndp.sourceFor(IPV6_ALL_ROUTERS) ?? IPV6_UNSPECIFIED;
    const unspecified = ipv6Equals(src, IPV6_UNSPECIFIED);
    const repr: NdpRepr = { kind: 'router-solicitation', options: unspecified ? [] : [{ kind: 'source-lla', address: this.host.mac }] };
    this.host.sendNdp(this.now, repr, src, IPV6_ALL_ROUTERS, undefined);
  }

  /** RFC 7217 identifiers over the runtime's PRF; without one, modified EUI-64 (no second identifier after a DAD failure). */
  private interfaceId(prefix: Uint8Array, dadCounter: number): Uint8Array | undefined {
    const prf = this.host.prf;
    if (prf === undefined) return dadCounter === 0 ? eui64InterfaceId(this.host.mac) : undefined;
    return stableInterfaceId(prf, { prefix, netIface: this.netIface, dadCounter, secretKey: this.secretKey })?.iid;
  }
}


/** RFC 7217's secret_key from its hex text (at least 128 bits), or 128 random bits for '' (stable per stack only). */
export function stableSecretBytes(hex: string, rng: Rng): Uint8Array {
  if (hex === '') {
    const key = new Uint8Array(16);
    for (let i = 0; i < 16; i++) key[i] = rng.nextU32() & 0xff;
    return key;
  }
  if (!/^(?:[0-9a-fA-F]{2}){16,}$/.test(hex)) throw new BywayError('ERR_INVALID_ARG_VALUE', 'ipv6.stableSecret must be an even number of hex digits, at least 32');
  const key = new Uint8Array(hex.length / 2);
  for (let i = 0; i < key.length; i++) key[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return key;
}
