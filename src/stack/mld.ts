/**
 * MLD in the stack (RFC 3810, with MLDv1 compatibility): the `MldListener` core (protocols/icmpv6/mld.ts) fed with
 * the groups this interface listens to, so a snooping switch forwards them to us:
 * - the solicited-node group of every address that is not DUPLICATE (joined before its DAD probe, RFC 4862 5.4.2,
 *   left when the address goes), followed from the NDP part's address list (its `version`);
 * - the groups sockets join (`join`/`leave`, counted: the last leave sends the report).
 * Messages leave with hop limit 1, a Hop-by-Hop header carrying Router Alert (value 0, MLD: RFC 2711) and our
 * preferred link-local source, or the unspecified address before it passed DAD (RFC 3810 5.2.13); MLDv2 reports
 * to ff02::16. Queries are taken only from a link-local source, with hop limit 1 and Router Alert (RFC 3810 5);
 * others are dropped and counted (`stats.mld.invalid`). Sans-IO: time, randomness and output come from the layer.
 */
import { fillIcmpv6Checksum } from '../../protocols/icmpv6/wire.js';
import { MldListener, MldType, parseMldQuery, type MldOptions, type MldStats } from '../../protocols/icmpv6/mld.js';
import { IPV6_UNSPECIFIED, isLinkLocal, multicastMac, solicitedNodeMulticast, type Ipv6Address } from '../../protocols/ipv6/address.js';
import { IPV6_HEADER_LEN, NextHeader, writeIpv6Header, type Ipv6Packet } from '../../protocols/ipv6/wire.js';
import type { Rng } from '../../protocols/util/rng.js';
import type { NdpHost } from './ndp.js';

/** Hop-by-Hop header: next header ICMPv6, length 0 (8 bytes), Router Alert (type 5, 2 bytes, value 0), PadN (2 bytes). */
const HOP_BY_HOP = Uint8Array.of(NextHeader.ICMPv6, 0, 5, 2, 0, 0, 1, 0);
const ROUTER_ALERT = 5;

export interface MldHost {
  readonly ndp: NdpHost;
  readonly rng: Rng;
  /** Put a whole IPv6 packet on the wire to `mac`. */
  emit(now: number, packet: Uint8Array, mac: Uint8Array): void;
}

export class Ipv6Mld {
  readonly listener: MldListener;
  /** Solicited-node groups joined for addresses, by address. */
  private readonly forAddresses = new Map<string, Ipv6Address>();
  private seenVersion = -1;
  private readonly silent: boolean;

  constructor(
    private readonly host: MldHost,
    options: Partial<MldOptions> | false = {},
  ) {
    /** With MLD off (`ipv6.mld: false`) the groups are still ours to receive; nothing is sent, queries are ignored. */
    this.silent = options === false;
    if (options === false) options = {};
    this.listener = new MldListener((now, msg, dst) => this.send(now, msg, dst), host.rng, options);
  }

  get stats(): MldStats {
    return this.listener.stats;
  }

  /** Whether the interface listens to `group` (a socket's, or a solicited-node group). */
  has(group: Ipv6Address): boolean {
    return this.listener.has(group);
  }

  /** One more user of `group`, of any source or of `source` only (a socket's source-specific membership). */
  join(now: number, group: Ipv6Address, source?: Ipv6Address): void {
    this.listener.join(now, group, source);
  }

  leave(now: number, group: Ipv6Address, source?: Ipv6Address): void {
    this.listener.leave(now, group, source);
  }

  poll(now: number): void {
    if (this.host.ndp.version !== this.seenVersion) this.sync(now);
    this.listener.poll(now);
  }

  pollAt(now: number): number | undefined {
    return this.host.ndp.version !== this.seenVersion ? now : this.listener.pollAt();
  }

  /** Follow the address list: join the solicited-node group of a new address, leave that of one gone or DUPLICATE. */
  private sync(now: number): void {
    this.seenVersion = this.host.ndp.version;
    const live = new Set<string>();
    for (const a of this.host.ndp.addresses) {
      if (a.state === 'DUPLICATE') continue;
      const k = String.fromCharCode(...a.address);
      live.add(k);
      if (this.forAddresses.has(k)) continue;
      const g = solicitedNodeMulticast(a.address);
      this.forAddresses.set(k, g);
      this.listener.join(now, g);
    }
    for (const [k, g] of this.forAddresses) {
      if (live.has(k)) continue;
      this.forAddresses.delete(k);
      this.listener.leave(now, g);
    }
  }

  /** An MLD message (type 130, 131, 132 or 143; checksum verified) in packet `p`, at `msg`. */
  input(now: number, p: Ipv6Packet, msg: Uint8Array): void {
    const st = this.listener.stats;
    if (this.silent) return;
    if (msg[0] === MldType.Query) {
      const q = parseMldQuery(msg);
      if (q === undefined || p.hopLimit !== 1 || !isLinkLocal(p.src) || !hasRouterAlert(p.buffer)) {
        st.invalid++;
        return;
      }
      this.listener.query(now, q);
      return;
    }
    this.listener.report(now, msg[0] === MldType.V1Report && msg.length >= 24 ? msg.slice(8, 24) : undefined);
  }

  private send(now: number, msg: Uint8Array, dst: Ipv6Address): void {
    if (this.silent) return;
    const src = this.source();
    const packet = new Uint8Array(IPV6_HEADER_LEN + HOP_BY_HOP.length + msg.length);
    writeIpv6Header(packet, 0, src, dst, NextHeader.HopByHop, HOP_BY_HOP.length + msg.length, 1);
    packet.set(HOP_BY_HOP, IPV6_HEADER_LEN);
    const at = IPV6_HEADER_LEN + HOP_BY_HOP.length;
    packet.set(msg, at);
    fillIcmpv6Checksum(packet, at, msg.length, src, dst);
    this.host.emit(now, packet, multicastMac(dst));
  }

  /** Our preferred link-local address, or :: before one passed DAD. */
  private source(): Ipv6Address {
    for (const a of this.host.ndp.addresses) if (a.state === 'PREFERRED' && isLinkLocal(a.address)) return a.address;
    return IPV6_UNSPECIFIED;
  }
}

/** The packet (IPv6 header at 0) carries a Hop-by-Hop header with a Router Alert option (RFC 2711). */
function hasRouterAlert(b: Uint8Array): boolean {
  if (b[6] !== NextHeader.HopByHop || b.length < IPV6_HEADER_LEN + 8) return false;
  const end = Math.min(b.length, IPV6_HEADER_LEN + (b[IPV6_HEADER_LEN + 1]! + 1) * 8);
  for (let o = IPV6_HEADER_LEN + 2; o < end; ) {
    const type = b[o]!;
    if (type === 0) {
      o++; // Pad1
      continue;
    }
    if (type === ROUTER_ALERT) return true;
    o += 2 + (b[o + 1] ?? 0);
  }
  return false;
}
