/**
 * The stack's Neighbor Discovery (RFC 4861) and address state (RFC 4862) for its one interface, over the sans-IO
 * cores of protocols/icmpv6: the IPv6 addresses (configured ones and the link-local address derived from the MAC),
 * duplicate address detection before an address is used (`DuplicateAddressDetection`), the neighbour cache
 * (`NdpNeighbourCache`), answering neighbor solicitations for our addresses, and the multicast groups we listen to
 * (all-nodes, and the solicited-node group of every address, tentative ones included: DAD needs them).
 *
 * An address is TENTATIVE until DAD ends, then PREFERRED, or DUPLICATE (never used). While tentative it is not a
 * source, packets to it are not accepted (RFC 4862 5.4), and solicitations for it only feed DAD.
 * Router advertisements and redirects are the IPv6 layer's (autoconf.ts, which adds and removes SLAAC addresses here
 * through `addAddress`, `removeAddress` and `setDeprecated`); without it they are counted and ignored.
 *
 * Sans-IO: time comes in as `now`; randomness from the injected Rng; frames go out through the `NdpOutput` the
 * IPv6 layer gives. Validated messages only (the caller ran `parseNdp` and `validateNdp`); nothing throws on input.
 */
import type { Rng } from '../../protocols/util/rng.js';
import {
  IPV6_ALL_NODES,
  eui64InterfaceId,
  ipv6Equals,
  ipv6Scope,
  isLinkLocal,
  isMulticast,
  isUnspecified,
  linkLocalAddress,
  samePrefix,
  solicitedNodeMulticast,
  type Ipv6Address,
  type Ipv6Cidr,
  IPV6_UNSPECIFIED,
} from '../../protocols/ipv6/address.js';
import { DuplicateAddressDetection, type DadOptions } from '../../protocols/icmpv6/dad.js';
import { NdpNeighbourCache, type NdpNeighbourOptions, type NdpNeighbourStats } from '../../protocols/icmpv6/neighbour-cache.js';
import { linkLayerOption, type NdpRepr } from '../../protocols/icmpv6/wire-ndp.js';

/** DEPRECATED: a SLAAC address past its preferred lifetime (RFC 4862 5.5.4), still ours, a source of last resort. */
export type Ipv6AddressState = 'TENTATIVE' | 'PREFERRED' | 'DEPRECATED' | 'DUPLICATE';

/** Where an address came from: the MAC (link-local), the configuration, or SLAAC from a router's prefix. */
export type Ipv6AddressOrigin = 'link-local' | 'configured' | 'slaac';

export interface Ipv6InterfaceAddress {
  readonly address: Ipv6Address;
  readonly prefixLen: number;
  readonly origin: Ipv6AddressOrigin;
  state: Ipv6AddressState;
}

/** A packet waiting for its next hop's MAC: the whole IPv6 packet; `onUnreachable` when resolution fails. */
export interface PendingIpv6 {
  readonly frame: Uint8Array;
  readonly onUnreachable?: (() => void) | undefined;
}

export interface NdpStats {
  solicitationsReceived: number;
  advertisementsReceived: number;
  solicitationsAnswered: number;
  /** Solicitations byway sent for address resolution and unreachability detection (on the wire). */
  solicitationsSent: number;
  /**
   * Resolutions asked of the kernel instead (a shared address: the kernel keeps NDP, `resolver`). The kernel sends a
   * solicitation for one only when its own entry needs it; a REACHABLE entry it answers from its table.
   */
  kernelResolves: number;
  dadProbesSent: number;
  /** Our addresses found in use by another node (DAD failed). */
  dadDuplicates: number;
  /** An advertisement for one of our preferred addresses from another node. */
  addressConflicts: number;
  /** Router solicitations/advertisements and redirects not acted on (a host ignores RSs; RAs when acceptRa is off). */
  routerMessagesIgnored: number;
  redirectsIgnored: number;
  /** Solicitations for an address that is not ours. */
  notOurTarget: number;
  neighbour: NdpNeighbourStats;
}

/** What the NDP part needs from the IPv6 layer: a way to send one NDP message (hop limit 255). */
export interface NdpOutput {
  /** Send `repr` from `src` to `dst`, to the link address `mac` (a multicast group's when undefined and dst is multicast). */
  sendNdp(now: number, repr: NdpRepr, src: Ipv6Address, dst: Ipv6Address, mac: Uint8Array | undefined): void;
  /** Send a packet that waited for resolution (the cache hands it back with the next hop's MAC). */
  transmitResolved(packet: PendingIpv6, mac: Uint8Array): void;
  /** Told when the DAD of `address` ended. */
  dadResult?(address: Ipv6Address, state: 'PREFERRED' | 'DUPLICATE'): void;
  /** Told when a neighbour's advertisement says it is no router any more (RFC 4861 7.2.5). */
  routerLost?(ip: Ipv6Address): void;
  /** Told when the address set changed (at start, an address added or removed, a DAD failure). */
  addressesChanged?(): void;
}

export interface NdpHostOptions {
  readonly neighbour?: Partial<NdpNeighbourOptions> | undefined;
  readonly dad?: Partial<DadOptions> | undefined;
  /** Derive fe80::/64 + modified EUI-64 from the MAC (RFC 4862 5.3). Default true. */
  readonly linkLocal?: boolean | undefined;
  /**
   * The kernel keeps NDP for our (shared) addresses: resolution asks it (`resolver(target)`, no solicitation of
   * our own) and its answers come through `kernelNeighbour`.
   */
  readonly resolver?: ((target: Ipv6Address) => void) | undefined;
  /**
   * With `resolver`: the kernel's MAC for `target` from the driver's mirror of its neighbour table (no syscall).
   * A neighbour with no entry is looked up there first: known, its packet goes at once and the kernel is asked to
   * re-check its entry (a `resolver` call, counted in kernelResolves), as IPv4's does (core.ts neighbourMac).
   */
  readonly mirror?: ((target: Ipv6Address) => Uint8Array | undefined) | undefined;
}

export class NdpHost {
  readonly addresses: Ipv6InterfaceAddress[] = [];
  readonly neighbours: NdpNeighbourCache<PendingIpv6>;
  readonly dad: DuplicateAddressDetection;
  readonly stats: NdpStats;
  /** Bumped whenever an address comes, goes or turns DUPLICATE (MLD follows the solicited-node groups by it). */
  version = 0;
  private now = 0;
  private readonly resolver: ((target: Ipv6Address) => void) | undefined;

  constructor(
    private readonly mac: Uint8Array,
    configured: readonly Ipv6Cidr[],
    private readonly out: NdpOutput,
    rng: Rng,
    options: NdpHostOptions = {},
  ) {
    const random = (): number => rng.nextU32() / 0x1_0000_0000;
    this.resolver = options.resolver;
    this.neighbours = new NdpNeighbourCache<PendingIpv6>(
      {
        solicit: (target, unicastMac) => this.solicit(target, unicastMac),
        transmit: (packet, m) => out.transmitResolved(packet, m),
        unreachable: (packet) => packet.onUnreachable?.(),
        routerLost: (ip) => out.routerLost?.(ip),
        known: options.resolver !== undefined && options.mirror !== undefined ? (target) => this.kernelKnows(target, options.mirror!) : undefined,
      },
      random,
      options.neighbour,
    );
    this.dad = new DuplicateAddressDetection(
      {
        probe: (target, nonce) => {
          this.stats.dadProbesSent++;
          const repr: NdpRepr = { kind: 'neighbor-solicitation', target, options: [{ kind: 'nonce', nonce }] };
          out.sendNdp(this.now, repr, IPV6_UNSPECIFIED, solicitedNodeMulticast(target), undefined);
        },
        result: (address, state) => {
          const a = this.find(address);
          if (a !== undefined) a.state = state;
          if (state === 'DUPLICATE') this.stats.dadDuplicates++;
          out.dadResult?.(address, state);
          if (state === 'DUPLICATE') this.changed();
        },
      },
      random,
      options.dad,
    );
    this.stats = {
      solicitationsReceived: 0,
      advertisementsReceived: 0,
      solicitationsAnswered: 0,
      solicitationsSent: 0,
      kernelResolves: 0,
      dadProbesSent: 0,
      dadDuplicates: 0,
      addressConflicts: 0,
      routerMessagesIgnored: 0,
      redirectsIgnored: 0,
      notOurTarget: 0,
      neighbour: this.neighbours.stats,
    };
    if (options.linkLocal !== false) {
      this.addresses.push({ address: linkLocalAddress(eui64InterfaceId(mac)), prefixLen: 64, origin: 'link-local', state: 'TENTATIVE' });
    }
    for (const c of configured) {
      if (this.find(c.address) === undefined) this.addresses.push({ address: c.address.slice(0, 16), prefixLen: c.prefixLen, origin: 'configured', state: 'TENTATIVE' });
    }
  }

  /** A SLAAC address (RFC 4862 5.5.3): TENTATIVE, DAD started. False when the address is ours already. */
  addAddress(now: number, cidr: Ipv6Cidr, origin: Ipv6AddressOrigin): boolean {
    if (this.find(cidr.address) !== undefined) return false;
    this.now = now;
    this.addresses.push({ address: cidr.address.slice(0, 16), prefixLen: cidr.prefixLen, origin, state: 'TENTATIVE' });
    this.changed(); // before the first probe: the answer to it must reach us
    this.dad.start(now, cidr.address);
    return true;
  }

  /** The valid lifetime of an address ended (RFC 4862 5.5.4), or its DAD failed: it is no longer ours at all. */
  removeAddress(ip: Ipv6Address): void {
    const i = this.addresses.findIndex((a) => ipv6Equals(a.address, ip));
    if (i < 0) return;
    this.addresses.splice(i, 1);
    this.changed();
  }

  /** Its preferred lifetime ended (DEPRECATED) or was renewed (PREFERRED again); tentative and duplicate stay so. */
  setDeprecated(ip: Ipv6Address, deprecated: boolean): void {
    const a = this.find(ip);
    if (a === undefined || a.state === 'TENTATIVE' || a.state === 'DUPLICATE') return;
    a.state = deprecated ? 'DEPRECATED' : 'PREFERRED';
  }

  /** The address set changed: MLD follows it by `version` (mld.ts), the layer through `addressesChanged`. */
  private changed(): void {
    this.version++;
    this.out.addressesChanged?.();
  }

  /** Start DAD for every address (the interface came up). */
  start(now: number): void {
    this.now = now;
    this.out.addressesChanged?.();
    for (const a of this.addresses) if (a.state === 'TENTATIVE') this.dad.start(now, a.address);
  }

  /** Our address entry for `ip`, in any state. */
  find(ip: Ipv6Address): Ipv6InterfaceAddress | undefined {
    for (const a of this.addresses) if (ipv6Equals(a.address, ip)) return a;
    return undefined;
  }

  /** One of our addresses, usable (not tentative, not duplicate; a deprecated one still receives, RFC 4862 5.5.4). */
  isOwn(ip: Ipv6Address): boolean {
    const s = this.find(ip)?.state;
    return s === 'PREFERRED' || s === 'DEPRECATED';
  }

  get tentativeCount(): number {
    let n = 0;
    for (const a of this.addresses) if (a.state === 'TENTATIVE') n++;
    return n;
  }

  /** A multicast group we listen to: all-nodes, or the solicited-node group of one of our addresses (any state). */
  isOurGroup(group: Ipv6Address): boolean {
    if (ipv6Equals(group, IPV6_ALL_NODES)) return true;
    if (group[0] !== 0xff || group[1] !== 0x02 || group[11] !== 1 || group[12] !== 0xff) return false;
    for (const a of this.addresses) {
      if (a.state !== 'DUPLICATE' && a.address[13] === group[13] && a.address[14] === group[14] && a.address[15] === group[15]) {
        return ipv6Equals(group, solicitedNodeMulticast(a.address));
      }
    }
    return false;
  }

  /**
   * Source address selection (RFC 6724 section 5, the rules a one-interface host needs): an address of the
   * destination's scope first (rule 2), then a preferred one over a deprecated one (rule 3), then the longest
   * matching prefix (rule 8); undefined when no address is usable (all tentative or duplicate).
   */
  sourceFor(dst: Ipv6Address): Ipv6Address | undefined {
    const scope = isMulticast(dst) ? Math.min(dst[1]! & 0x0f, 0xe) : ipv6Scope(dst);
    let best: Ipv6InterfaceAddress | undefined;
    let bestScore = -1;
    for (const a of this.addresses) {
      if (a.state !== 'PREFERRED' && a.state !== 'DEPRECATED') continue;
      const s = ipv6Scope(a.address);
      let score = s === scope ? 1 << 10 : s > scope ? 1 << 9 : 0;
      if (a.state === 'PREFERRED') score += 1 << 8;
      score += commonPrefixLen(a.address, dst);
      if (score > bestScore) {
        best = a;
        bestScore = score;
      }
    }
    return best?.address;
  }

  /**
   * Whether `ip` is on-link: inside one of our configured prefixes, or link-local. A SLAAC address says nothing
   * about on-link (RFC 5942): only the RA's L flag does, in autoconf.ts.
   */
  isOnLink(ip: Ipv6Address): boolean {
    if (isLinkLocal(ip)) return true;
    for (const a of this.addresses) if (a.origin !== 'slaac' && a.state !== 'DUPLICATE' && samePrefix(a.address, ip, a.prefixLen)) return true;
    return false;
  }

  /** The on-link prefixes (for the routing table), link-local included. */
  onLinkPrefixes(): Ipv6Cidr[] {
    return this.addresses.map((a) => ({ address: a.address, prefixLen: a.prefixLen }));
  }

  poll(now: number): void {
    this.now = now;
    this.dad.poll(now);
    this.neighbours.poll(now);
  }

  pollAt(): number | undefined {
    const a = this.dad.pollAt();
    const b = this.neighbours.pollAt();
    if (a === undefined) return b;
    if (b === undefined) return a;
    return a < b ? a : b;
  }

  /** A validated NDP message from `src`. */
  input(now: number, repr: NdpRepr, src: Ipv6Address): void {
    this.now = now;
    switch (repr.kind) {
      case 'neighbor-solicitation':
        this.solicitationInput(now, repr.target, src, repr);
        return;
      case 'neighbor-advertisement': {
        this.stats.advertisementsReceived++;
        const ours = this.find(repr.target);
        if (ours !== undefined) {
          if (ours.state === 'TENTATIVE') this.dad.advertisement(repr.target);
          else if (ours.state === 'PREFERRED' || ours.state === 'DEPRECATED') {
            const lla = linkLayerOption(repr, 'target-lla');
            if (lla === undefined || !sameBytes(lla, this.mac)) this.stats.addressConflicts++;
          }
          return;
        }
        const lla = linkLayerOption(repr, 'target-lla');
        this.neighbours.advertisement(now, repr.target, { router: repr.router, solicited: repr.solicited, override: repr.override }, lla);
        return;
      }
      case 'redirect':
        this.stats.redirectsIgnored++;
        return;
      default:
        this.stats.routerMessagesIgnored++;
    }
  }

  /** RFC 4861 7.2.3 (answer for our address, learn the sender) and RFC 4862 5.4.3 (a probe for a tentative one). */
  private solicitationInput(now: number, target: Ipv6Address, src: Ipv6Address, repr: NdpRepr): void {
    this.stats.solicitationsReceived++;
    const ours = this.find(target);
    if (ours === undefined || ours.state === 'DUPLICATE') {
      this.stats.notOurTarget++;
      return;
    }
    const fromUnspecified = isUnspecified(src);
    if (ours.state === 'TENTATIVE') {
      let nonce: Uint8Array | undefined;
      for (const o of repr.options) if (o.kind === 'nonce') nonce = o.nonce;
      this.dad.solicitation(target, fromUnspecified, nonce);
      return;
    }
    const lla = linkLayerOption(repr, 'source-lla');
    if (!fromUnspecified && lla !== undefined) this.neighbours.learn(now, src, lla);
    // The answer: to the solicitor (its MAC from the option or the cache), or to all-nodes for a DAD probe (7.2.4).
    const answer: NdpRepr = {
      kind: 'neighbor-advertisement',
      router: false,
      solicited: !fromUnspecified,
      override: true,
      target: ours.address,
      options: [{ kind: 'target-lla', address: this.mac }],
    };
    const dst = fromUnspecified ? IPV6_ALL_NODES : src;
    const mac = fromUnspecified ? undefined : (lla ?? this.neighbours.lookup(src)?.mac);
    if (!fromUnspecified && mac === undefined) return; // no way to reach it without resolving: it will ask again
    this.out.sendNdp(now, answer, ours.address, dst, mac);
    this.stats.solicitationsAnswered++;
  }

  /** The kernel resolved `ip` for us (shared address): as a solicited advertisement (RFC 4861 7.2.5). */
  kernelNeighbour(now: number, ip: Ipv6Address, mac: Uint8Array): void {
    this.now = now;
    this.neighbours.advertisement(now, ip, { router: false, solicited: true, override: true }, mac);
  }

  /** The cache has no entry for `target`: the kernel's MAC from the mirror, if it has one (then asked to re-check it). */
  private kernelKnows(target: Ipv6Address, mirror: (target: Ipv6Address) => Uint8Array | undefined): Uint8Array | undefined {
    const mac = mirror(target);
    if (mac === undefined) return undefined;
    this.stats.kernelResolves++;
    this.resolver!(target);
    return mac;
  }

  /** The neighbour cache asks for a solicitation: multicast to the solicited-node group, or unicast (a probe). */
  private solicit(target: Ipv6Address, unicastMac: Uint8Array | undefined): void {
    if (this.resolver !== undefined) {
      this.stats.kernelResolves++; // byway sends nothing: the kernel solicits if its entry needs it
      this.resolver(target);
      return;
    }
    const src = this.sourceFor(target);
    if (src === undefined) return; // nothing usable yet: the cache's retries or failure take over
    this.stats.solicitationsSent++;
    const repr: NdpRepr = { kind: 'neighbor-solicitation', target, options: [{ kind: 'source-lla', address: this.mac }] };
    const dst = unicastMac === undefined ? solicitedNodeMulticast(target) : target;
    this.out.sendNdp(this.now, repr, src, dst, unicastMac);
  }
}

/** Bits two addresses share from the start (RFC 6724's CommonPrefixLen, over the whole address). */
function commonPrefixLen(a: Ipv6Address, b: Ipv6Address): number {
  for (let i = 0; i < 16; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return 128;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}


