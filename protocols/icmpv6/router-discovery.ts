/**
 * Router discovery (RFC 4861 section 6.3) and stateless address autoconfiguration (RFC 4862 section 5.5) for one
 * interface of a host, sans-IO: time is the `now` argument (ms), randomness is injected, output goes to a sink.
 *
 * - Router solicitations: after a random delay in [0, MAX_RTR_SOLICITATION_DELAY), up to MAX_RTR_SOLICITATIONS,
 *   RTR_SOLICITATION_INTERVAL apart, until an advertisement arrives (6.3.7).
 * - `advertisement` takes a router advertisement that `validateNdp` accepted (source link-local, hop limit 255) and
 *   applies 6.3.4: the default router list (Router Lifetime, 0 removes), the on-link prefix list (Prefix
 *   Information with L set; a link-local prefix is ignored; valid lifetime 0 removes), the link MTU (an MTU option
 *   between 1280 and the link's MTU), and returns the parameters the caller applies elsewhere (Cur Hop Limit,
 *   Reachable Time, Retrans Timer: 0 means unspecified).
 * - SLAAC (5.5.3): a prefix with A set, not link-local, preferred lifetime <= valid lifetime, and a /64 (the
 *   interface identifier is 64 bits) forms an address with the interface identifier `interfaceId` returns (an
 *   RFC 7217 stable identifier, say), handed to `sink.addressAdded` (the caller runs DAD); a known prefix refreshes
 *   the preferred lifetime and the valid lifetime by the "two hours" rule of 5.5.3(e). Addresses become deprecated
 *   when their preferred lifetime ends and are removed when their valid lifetime ends. After a DAD failure
 *   (`addressDuplicate`) the address is dropped and formed again with the next DAD_Counter, up to IDGEN_RETRIES
 *   times (RFC 7217 section 6).
 * Lifetimes of 0xffffffff seconds are infinite. Lists are bounded (`maxRouters`, `maxPrefixes`) so a flood of
 * advertisements cannot grow them without end; entries beyond the bound are ignored.
 */
import { ipv6Equals, ipv6Key, ipv6NetworkOf, isLinkLocal, samePrefix, withInterfaceId, type Ipv6Cidr } from '../ipv6/address.js';
import { IPV6_MIN_MTU } from '../ipv6/wire.js';
import type { NdpRepr } from './wire-ndp.js';

export type RouterAdvertisement = Extract<NdpRepr, { kind: 'router-advertisement' }>;

export interface RouterDiscoveryOptions {
  /** MAX_RTR_SOLICITATIONS: 3. */
  maxRtrSolicitations: number;
  /** RTR_SOLICITATION_INTERVAL: 4 s. */
  rtrSolicitationIntervalMs: number;
  /** MAX_RTR_SOLICITATION_DELAY: 1 s. */
  maxRtrSolicitationDelayMs: number;
  /** The link's own MTU: an RA's MTU option may lower, never raise, the IPv6 MTU. */
  linkMtu: number;
  /** IDGEN_RETRIES (RFC 7217 section 6): 3. */
  idgenRetries: number;
  maxRouters: number;
  maxPrefixes: number;
}

export const DEFAULT_ROUTER_DISCOVERY_OPTIONS: RouterDiscoveryOptions = {
  maxRtrSolicitations: 3,
  rtrSolicitationIntervalMs: 4_000,
  maxRtrSolicitationDelayMs: 1_000,
  linkMtu: 1500,
  idgenRetries: 3,
  maxRouters: 16,
  maxPrefixes: 16,
};

/** RFC 4862 5.5.3(e): the two hours below which an advertisement may not shorten a valid lifetime. */
const TWO_HOURS_MS = 2 * 3600 * 1000;
const INFINITE = 0xffffffff;

export interface RouterDiscoverySink {
  /** Send a router solicitation to ff02::2. */
  solicit(): void;
  /** A SLAAC address was formed: run DAD on it, then use it. */
  addressAdded(address: Uint8Array, prefixLen: number): void;
  /** A SLAAC address's valid lifetime ended (or DAD failed): stop using it. */
  addressRemoved(address: Uint8Array): void;
}

/** The parameters of an advertisement that the caller applies (undefined: unspecified, keep the current value). */
export interface RaParameters {
  readonly curHopLimit: number | undefined;
  /** For `NdpNeighbourCache.setBaseReachableTime`. */
  readonly reachableTimeMs: number | undefined;
  /** For `NdpNeighbourCache.setRetransTimer`. */
  readonly retransTimerMs: number | undefined;
}

export interface SlaacAddress {
  readonly address: Uint8Array;
  readonly prefixLen: number;
  readonly preferredUntil: number;
  readonly validUntil: number;
}

interface Router {
  ip: Uint8Array;
  expires: number;
}

interface Prefix {
  cidr: Ipv6Cidr;
  expires: number;
}

interface Autoconf {
  key: string;
  prefix: Uint8Array;
  address: Uint8Array;
  preferredUntil: number;
  validUntil: number;
  dadCounter: number;
}

export class RouterDiscovery {
  readonly options: RouterDiscoveryOptions;
  readonly stats = { solicitationsSent: 0, advertisements: 0, prefixesIgnored: 0, addressesFormed: 0, dadRetries: 0 };
  private readonly routers = new Map<string, Router>();
  private readonly prefixes = new Map<string, Prefix>();
  private readonly addrs = new Map<string, Autoconf>();
  private solicitsSent = 0;
  private nextSolicit: number | undefined;
  private mtu: number;

  /**
   * `interfaceId(prefix, dadCounter)` returns the 8-byte interface identifier for a /64 prefix, or undefined when
   * none can be made; `random` returns a number in [0, 1).
   */
  constructor(
    private readonly sink: RouterDiscoverySink,
    private readonly interfaceId: (prefix: Uint8Array, dadCounter: number) => Uint8Array | undefined,
    private readonly random: () => number,
    options: Partial<RouterDiscoveryOptions> = {},
  ) {
    this.options = { ...DEFAULT_ROUTER_DISCOVERY_OPTIONS, ...options };
    this.mtu = this.options.linkMtu;
  }

  /** The interface came up: schedule the router solicitations. */
  start(now: number): void {
    const r = Math.min(Math.max(this.random(), 0), 0.999999);
    this.solicitsSent = 0;
    this.nextSolicit = now + Math.floor(r * this.options.maxRtrSolicitationDelayMs);
  }

  /** The IPv6 MTU of the link, as the last valid MTU option left it. */
  get linkMtu(): number {
    return this.mtu;
  }

  defaultRouters(now: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const r of this.routers.values()) if (now < r.expires) out.push(r.ip);
    return out;
  }

  /** How many default routers are live (no list made: the transmit path asks per packet). */
  liveRouterCount(now: number): number {
    let n = 0;
    for (const r of this.routers.values()) if (now < r.expires) n++;
    return n;
  }

  /** The first live default router (defaultRouters(now)[0] without the list). */
  firstLiveRouter(now: number): Uint8Array | undefined {
    for (const r of this.routers.values()) if (now < r.expires) return r.ip;
    return undefined;
  }

  /** The longest live on-link prefix holding `dst` and longer than `minLen` bits (no list made). */
  longestOnLinkPrefix(now: number, dst: Uint8Array, minLen: number): Ipv6Cidr | undefined {
    let best: Ipv6Cidr | undefined;
    for (const p of this.prefixes.values()) {
      const c = p.cidr;
      if (now < p.expires && c.prefixLen > minLen && (best === undefined || c.prefixLen > best.prefixLen) && samePrefix(c.address, dst, c.prefixLen)) best = c;
    }
    return best;
  }

  onLinkPrefixes(now: number): Ipv6Cidr[] {
    const out: Ipv6Cidr[] = [];
    for (const p of this.prefixes.values()) if (now < p.expires) out.push(p.cidr);
    return out;
  }

  /** Whether `dst` is on-link by the prefix list (link-local destinations always are, RFC 4861 5.2). */
  isOnLink(now: number, dst: Uint8Array): boolean {
    if (isLinkLocal(dst)) return true;
    for (const p of this.prefixes.values()) if (now < p.expires && samePrefix(p.cidr.address, dst, p.cidr.prefixLen)) return true;
    return false;
  }

  addresses(now: number): (SlaacAddress & { readonly deprecated: boolean })[] {
    const out: (SlaacAddress & { deprecated: boolean })[] = [];
    for (const a of this.addrs.values()) {
      if (now < a.validUntil) out.push({ address: a.address, prefixLen: 64, preferredUntil: a.preferredUntil, validUntil: a.validUntil, deprecated: now >= a.preferredUntil });
    }
    return out;
  }

  /** A valid router advertisement from link-local `src` (RFC 4861 6.3.4, RFC 4862 5.5.3). */
  advertisement(now: number, src: Uint8Array, ra: RouterAdvertisement): RaParameters {
    this.stats.advertisements++;
    this.nextSolicit = undefined; // 6.3.7: a host stops soliciting once it has an advertisement
    const key = ipv6Key(src);
    if (ra.routerLifetime === 0) this.routers.delete(key);
    else {
      const r = this.routers.get(key);
      if (r !== undefined) r.expires = now + ra.routerLifetime * 1000;
      else if (this.routers.size < this.options.maxRouters) this.routers.set(key, { ip: src.slice(0, 16), expires: now + ra.routerLifetime * 1000 });
    }
    for (const o of ra.options) {
      if (o.kind === 'mtu') {
        if (o.mtu >= IPV6_MIN_MTU && o.mtu <= this.options.linkMtu) this.mtu = o.mtu;
      } else if (o.kind === 'prefix-info') {
        if (o.prefixLen > 128 || isLinkLocal(o.prefix)) {
          this.stats.prefixesIgnored++;
          continue;
        }
        const cidr = { address: ipv6NetworkOf({ address: o.prefix, prefixLen: o.prefixLen }), prefixLen: o.prefixLen };
        if (o.onLink) this.onLinkPrefix(now, cidr, o.validLifetime);
        if (o.autonomous) this.autoconfigure(now, cidr, o.validLifetime, o.preferredLifetime);
      }
    }
    return {
      curHopLimit: ra.curHopLimit === 0 ? undefined : ra.curHopLimit,
      reachableTimeMs: ra.reachableTime === 0 ? undefined : ra.reachableTime,
      retransTimerMs: ra.retransTimer === 0 ? undefined : ra.retransTimer,
    };
  }

  /**
   * `ip` is no router any more (a neighbor advertisement with the Router flag clear, RFC 4861 7.2.5; or its
   * neighbour entry is gone): take it off the default router list.
   */
  removeRouter(ip: Uint8Array): void {
    this.routers.delete(ipv6Key(ip));
  }

  /** DAD found `address` in use: drop it and form another with the next DAD_Counter (RFC 7217 section 6). */
  addressDuplicate(address: Uint8Array): void {
    for (const [k, a] of this.addrs) {
      if (!ipv6Equals(a.address, address)) continue;
      this.addrs.delete(k);
      this.sink.addressRemoved(a.address);
      if (a.dadCounter + 1 > this.options.idgenRetries) return;
      this.stats.dadRetries++;
      this.form(a.prefix, a.preferredUntil, a.validUntil, a.dadCounter + 1);
      return;
    }
  }

  poll(now: number): void {
    if (this.nextSolicit !== undefined && now >= this.nextSolicit) {
      this.solicitsSent++;
      this.stats.solicitationsSent++;
      this.sink.solicit();
      this.nextSolicit = this.solicitsSent < this.options.maxRtrSolicitations ? now + this.options.rtrSolicitationIntervalMs : undefined;
    }
    for (const [k, r] of this.routers) if (now >= r.expires) this.routers.delete(k);
    for (const [k, p] of this.prefixes) if (now >= p.expires) this.prefixes.delete(k);
    for (const [k, a] of this.addrs) {
      if (now >= a.validUntil) {
        this.addrs.delete(k);
        this.sink.addressRemoved(a.address);
      }
    }
  }

  pollAt(now: number): number | undefined {
    let at = this.nextSolicit;
    const consider = (t: number): void => {
      if (Number.isFinite(t) && (at === undefined || t < at)) at = t;
    };
    for (const r of this.routers.values()) consider(r.expires);
    for (const p of this.prefixes.values()) consider(p.expires);
    for (const a of this.addrs.values()) {
      consider(a.validUntil);
      if (a.preferredUntil > now) consider(a.preferredUntil); // deprecation: the caller may want to re-pick sources
    }
    return at;
  }

  private onLinkPrefix(now: number, cidr: Ipv6Cidr, validLifetime: number): void {
    const key = `${ipv6Key(cidr.address)}/${cidr.prefixLen}`;
    if (validLifetime === 0) {
      this.prefixes.delete(key);
      return;
    }
    const expires = lifetimeEnd(now, validLifetime);
    const p = this.prefixes.get(key);
    if (p !== undefined) p.expires = expires;
    else if (this.prefixes.size < this.options.maxPrefixes) this.prefixes.set(key, { cidr, expires });
  }

  private autoconfigure(now: number, cidr: Ipv6Cidr, validLifetime: number, preferredLifetime: number): void {
    if (preferredLifetime > validLifetime) {
      this.stats.prefixesIgnored++; // 5.5.3(c)
      return;
    }
    const key = ipv6Key(cidr.address);
    const existing = this.addrs.get(key);
    if (existing === undefined) {
      // 5.5.3(d): only a prefix that leaves room for the 64-bit interface identifier, with a non-zero valid lifetime.
      if (validLifetime === 0 || cidr.prefixLen !== 64 || this.addrs.size >= this.options.maxPrefixes) {
        this.stats.prefixesIgnored++;
        return;
      }
      this.form(cidr.address, lifetimeEnd(now, preferredLifetime), lifetimeEnd(now, validLifetime), 0);
      return;
    }
    // 5.5.3(e): the preferred lifetime is reset; the valid lifetime only within the two-hour rule.
    existing.preferredUntil = lifetimeEnd(now, preferredLifetime);
    const received = lifetimeEnd(now, validLifetime);
    const remaining = existing.validUntil - now;
    if (received - now > TWO_HOURS_MS || received > existing.validUntil) existing.validUntil = received;
    else if (remaining > TWO_HOURS_MS) existing.validUntil = now + TWO_HOURS_MS;
  }

  private form(prefix: Uint8Array, preferredUntil: number, validUntil: number, dadCounter: number): void {
    for (let counter = dadCounter; counter <= this.options.idgenRetries; counter++) {
      const iid = this.interfaceId(prefix, counter);
      if (iid === undefined || iid.length < 8) continue;
      const address = withInterfaceId(prefix, iid);
      this.addrs.set(ipv6Key(prefix), { key: ipv6Key(prefix), prefix: prefix.slice(0, 16), address, preferredUntil, validUntil, dadCounter: counter });
      this.stats.addressesFormed++;
      this.sink.addressAdded(address, 64);
      return;
    }
  }
}

/** The end of a lifetime in seconds received at `now` (0xffffffff: never). */
function lifetimeEnd(now: number, seconds: number): number {
  return seconds === INFINITE ? Infinity : now + seconds * 1000;
}
