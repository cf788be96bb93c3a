/**
 * IPv4 multicast in the stack: IGMP (IP protocol 2) as a transport, and the groups this interface receives.
 * - The `IgmpListener` core (protocols/igmp/listener.ts, the listener core shared with MLD) holds the groups the
 *   sockets join (any-source or source-specific, counted: the last leave reports); `accepts(group, src)` is the
 *   receive filter ipv4Input asks for every multicast packet (224.0.0.1 always, else a joined group whose
 *   interface filter takes the source: RFC 3376 3.2, as Linux's ip_check_mc_rcv).
 * - Messages leave with TTL 1, IP precedence Internetwork Control (TOS 0xc0) and a Router Alert option (RFC 2113),
 *   from the interface's first address (0.0.0.0 without one), IGMPv3 reports to 224.0.0.22 (RFC 3376 4). Queries
 *   are taken with or without Router Alert (as Linux; those without are counted in `noRouterAlert`).
 * - The driver is told each group's MAC (01:00:5e + the low 23 bits, RFC 1112 6.4) when the interface joins or
 *   leaves it (`FrameDriver.multicastMembership`, optional: a driver that receives everything has none).
 * Malformed messages are dropped and counted in `stats.igmp`; nothing throws. Sans-IO.
 */
import type { FrameDriver } from '../../drivers/types.js';
import { checksum } from '../../protocols/util/checksum.js';
import { write16, write32 } from '../../protocols/util/bytes.js';
import type { Rng } from '../../protocols/util/rng.js';
import { ipv4MulticastMac } from '../../protocols/ipv4/address.js';
import { IGMP_ALL_SYSTEMS, parseIgmp } from '../../protocols/igmp/wire.js';
import { IgmpListener, igmpQuery, ipv4Bytes, ipv4FromBytes } from '../../protocols/igmp/listener.js';
import type { ListenerOptions, ListenerStats } from '../../protocols/multicast/listener.js';
import type { IcmpErrorKind, Transport } from './transport.js';

export const IGMP_PROTOCOL = 2;
/** IP header with the Router Alert option (RFC 2113: type 148, length 4, value 0). */
const IP_HEADER_RA_LEN = 24;

export interface IgmpStats extends ListenerStats {
  rx: number;
  truncated: number;
  badChecksum: number;
  /** Queries of 9 to 11 bytes (RFC 3376 7.1: no version of IGMP). */
  badLength: number;
  unknownType: number;
  /** Queries without a Router Alert option (accepted, as Linux does). */
  noRouterAlert: number;
  /** IPv4 multicast packets accepted (to a group the interface receives, or 224.0.0.1). */
  multicastRx: number;
  /** Multicast packets to a group the interface did not join (dropped). */
  notJoined: number;
  /** Multicast packets from a source the group's filter does not take (source-specific joins; dropped). */
  sourceFiltered: number;
}

export interface IgmpHost {
  readonly driver: FrameDriver;
  readonly rng: Rng;
  /** The interface's first IPv4 address, the source of reports (0 without one). */
  source(): number;
  /** Put a whole IPv4 packet on the wire to `mac` (the link header is the host's). */
  emit(now: number, packet: Uint8Array, mac: Uint8Array): void;
  /** Optional: a join, leave, query or report may have armed a timer (TransportHost.wakeTimers). */
  wakeTimers?(): void;
}

export class Ipv4Igmp implements Transport {
  readonly protocol = IGMP_PROTOCOL;
  readonly listener: IgmpListener;
  readonly stats: IgmpStats;
  /** The groups joined, as numbers: the per-packet check reads this set, not the core's maps. */
  private readonly joined = new Set<number>();
  private readonly silent: boolean;
  private ident = 0;

  constructor(
    private readonly host: IgmpHost,
    options: Partial<ListenerOptions> | false = {},
  ) {
    /** With IGMP off (`igmp: false`) the groups are still received; nothing is sent, queries are ignored. */
    this.silent = options === false;
    this.listener = new IgmpListener((now, msg, dst) => this.send(now, msg, ipv4FromBytes(dst)), host.rng, options === false ? {} : options);
    this.stats = Object.assign(this.listener.stats, {
      rx: 0,
      truncated: 0,
      badChecksum: 0,
      badLength: 0,
      unknownType: 0,
      noRouterAlert: 0,
      multicastRx: 0,
      notJoined: 0,
      sourceFiltered: 0,
    });
  }

  /** Whether the interface joined `group` (any source). */
  has(group: number): boolean {
    return this.joined.has(group);
  }

  /** The receive filter for a multicast packet from `src` to `group` (counts what it drops). */
  accepts(group: number, src: number): boolean {
    const st = this.stats;
    if (group === IGMP_ALL_SYSTEMS) {
      st.multicastRx++;
      return true;
    }
    if (!this.joined.has(group)) {
      st.notJoined++;
      return false;
    }
    if (!this.listener.receives(ipv4Bytes(group), ipv4Bytes(src))) {
      st.sourceFiltered++;
      return false;
    }
    st.multicastRx++;
    return true;
  }

  /** One more user of `group`, of any source or of `source` only. */
  join(now: number, group: number, source?: number): void {
    this.listener.join(now, ipv4Bytes(group), source === undefined ? undefined : ipv4Bytes(source));
    this.host.wakeTimers?.();
    this.sync(group);
  }

  /** One user fewer (nothing when there is no such user). */
  leave(now: number, group: number, source?: number): void {
    this.listener.leave(now, ipv4Bytes(group), source === undefined ? undefined : ipv4Bytes(source));
    this.host.wakeTimers?.();
    this.sync(group);
  }

  /** Follow the core's membership of `group` in the set and in the driver's multicast list. */
  private sync(group: number): void {
    const member = this.listener.has(ipv4Bytes(group));
    if (member === this.joined.has(group)) return;
    if (member) this.joined.add(group);
    else this.joined.delete(group);
    // Two groups may share a MAC (32 groups per MAC): the driver keeps the MAC while any of them is joined.
    const mac = ipv4MulticastMac(group);
    for (const g of this.joined) if ((g & 0x7fffff) === (group & 0x7fffff) && g !== group) return;
    this.host.driver.multicastMembership?.(member ? 'add' : 'drop', mac);
  }

  input(now: number, buf: Uint8Array, ipOff: number, start: number, end: number): void {
    const st = this.stats;
    st.rx++;
    if (this.silent) return;
    const r = parseIgmp(buf.subarray(start, end));
    if (typeof r === 'string') {
      if (r === 'truncated') st.truncated++;
      else if (r === 'bad-checksum') st.badChecksum++;
      else if (r === 'bad-length') st.badLength++;
      else st.unknownType++;
      return;
    }
    if (r.kind === 'query') {
      if (!hasRouterAlert(buf, ipOff, start)) st.noRouterAlert++;
      this.listener.query(now, igmpQuery(r));
      this.host.wakeTimers?.();
      return;
    }
    this.listener.report(now, r.kind === 'v1-report' || r.kind === 'v2-report' ? ipv4Bytes(r.group) : undefined);
    this.host.wakeTimers?.();
  }

  icmpError(_now: number, _src: number, _dst: number, _quoted: Uint8Array, _kind: IcmpErrorKind): boolean {
    return false;
  }

  poll(now: number): void {
    this.listener.poll(now);
  }

  pollAt(): number | undefined {
    return this.listener.pollAt();
  }

  /** Transport.dueAt (joins, leaves and received IGMP wake the stack's timers). */
  dueAt(): number {
    return this.listener.pollAt() ?? Infinity;
  }

  private send(now: number, msg: Uint8Array, dst: number): void {
    if (this.silent) return;
    const p = new Uint8Array(IP_HEADER_RA_LEN + msg.length);
    p[0] = 0x46; // version 4, IHL 6
    p[1] = 0xc0; // precedence Internetwork Control (RFC 3376 4)
    write16(p, 2, p.length);
    this.ident = (this.ident + 1) & 0xffff;
    write16(p, 4, this.ident);
    p[6] = 0x40; // DF, as Linux sends them
    p[8] = 1; // TTL 1
    p[9] = IGMP_PROTOCOL;
    write32(p, 12, this.host.source());
    write32(p, 16, dst);
    p[20] = 148; // Router Alert
    p[21] = 4;
    write16(p, 10, checksum(p, 0, IP_HEADER_RA_LEN));
    p.set(msg, IP_HEADER_RA_LEN);
    this.host.emit(now, p, ipv4MulticastMac(dst));
  }
}

/** The IPv4 header at buf[ipOff, l4) carries a Router Alert option (RFC 2113). */
function hasRouterAlert(buf: Uint8Array, ipOff: number, l4: number): boolean {
  for (let o = ipOff + 20; o < l4; ) {
    const type = buf[o]!;
    if (type === 0) return false;
    if (type === 1) {
      o++;
      continue;
    }
    if (type === 148) return true;
    o += Math.max(2, buf[o + 1] ?? 2);
  }
  return false;
}
