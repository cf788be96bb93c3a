/**
 * The configuration of the IPv6 layer (ipv6.ts): its options and their defaults, and the routes it is given.
 * Types and constants only.
 */
import type { ExtensionLimits } from '../../protocols/ipv6/wire-ext.js';
import { DEFAULT_EXTENSION_LIMITS } from '../../protocols/ipv6/wire-ext.js';
import type { Ipv6ReassemblyOptions } from '../../protocols/ipv6/reassembly.js';
import type { PathMtuOptions } from '../../protocols/ipv6/pmtu.js';
import type { Icmpv6RateLimitOptions } from '../../protocols/icmpv6/errors.js';
import type { DadOptions } from '../../protocols/icmpv6/dad.js';
import type { NdpNeighbourOptions } from '../../protocols/icmpv6/neighbour-cache.js';
import type { RouterDiscoveryTuning } from './autoconf.js';
import type { Ipv6Address, Ipv6Cidr } from '../../protocols/ipv6/address.js';
import type { MldOptions } from '../../protocols/icmpv6/mld.js';

export interface Ipv6Options {
  /** A link-local address from the MAC (fe80::/64, modified EUI-64). Default true. */
  linkLocal: boolean;
  /** Hop limit of the packets we originate (UDP sockets have their own, from setTTL). Default 64. */
  hopLimit: number;
  /** Answer echo requests (to our addresses and to all-nodes, as Linux). Default true. */
  echoReplies: boolean;
  dad: Partial<DadOptions>;
  neighbour: Partial<NdpNeighbourOptions>;
  reassembly: Partial<Ipv6ReassemblyOptions>;
  /** ICMPv6 errors: token bucket, 1000/s with a burst of 50 by default. */
  icmpErrors: Partial<Icmpv6RateLimitOptions>;
  pmtu: Partial<PathMtuOptions>;
  extensionLimits: ExtensionLimits;
  /** Router discovery (autoconf.ts): solicit routers, take default routers, prefixes, MTU from RAs. Default true. */
  acceptRa: boolean;
  /** SLAAC from the RAs' autonomous prefixes (with acceptRa). Default true. */
  slaac: boolean;
  /** Follow redirects from the first-hop router (RFC 4861 8.3; with acceptRa). Default true. */
  acceptRedirects: boolean;
  /** RFC 4861's host constants: solicitations, their interval and delay, list bounds, IDGEN_RETRIES. */
  routerDiscovery: RouterDiscoveryTuning;
  /** RFC 7217's secret_key in hex (at least 32 digits); '' : the runtime's (see docs/ipv6.md), else random. */
  stableSecret: string;
  /** MLDv2 (RFC 3810, mld.ts): its tuning, or false to send no MLD (groups are still received). Default on. */
  mld: Partial<MldOptions> | false;
}

export const DEFAULT_IPV6_OPTIONS: Ipv6Options = {
  linkLocal: true,
  hopLimit: 64,
  echoReplies: true,
  dad: {},
  neighbour: {},
  reassembly: {},
  icmpErrors: {},
  pmtu: {},
  extensionLimits: DEFAULT_EXTENSION_LIMITS,
  acceptRa: true,
  slaac: true,
  acceptRedirects: true,
  routerDiscovery: {},
  stableSecret: '',
  mld: {},
};

export interface Ipv6RouteConfig {
  readonly destination: Ipv6Cidr;
  /** A neighbour (link-local or on one of our prefixes); undefined: on-link. */
  readonly gateway?: Ipv6Address | undefined;
  readonly metric?: number | undefined;
  readonly mtu?: number | undefined;
}
