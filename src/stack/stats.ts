/**
 * Counters for every packet the stack handles, per protocol. Every drop has a named reason here, so a malformed or
 * hostile frame is never silent. Plain objects of numbers: cheap to bump, easy to print and snapshot.
 */
import type { NeighbourStats } from './neighbour.js';
import type { ReassemblyStats } from '../../protocols/ipv4/reassembly.js';
import type { UdpStats } from './udp.js';
import type { TcpStats } from '../../protocols/tcp/info.js';
import type { GroStats } from './gro.js';
import type { Icmpv6Stats, Ipv6Stats } from './ipv6-stats.js';
import type { NdpStats } from './ndp.js';
import type { AutoconfStats } from './autoconf.js';
import type { MldStats } from '../../protocols/icmpv6/mld.js';
import type { IgmpStats } from './igmp.js';

export interface EthernetStats {
  rx: number;
  tx: number;
  truncated: number;
  notForUs: number;
  unknownEthertype: number;
  vlanMismatch: number;
}

export interface ArpStats {
  rx: number;
  truncated: number;
  unsupported: number;
  requestsReceived: number;
  repliesReceived: number;
  repliesSent: number;
  badSender: number;
  conflicts: number;
  /** ARP packets ignored because the kernel owns ARP for a shared address (the driver should not pass them up). */
  hostOwned: number;
  neighbour: NeighbourStats;
}

export interface Ipv4Stats {
  rx: number;
  tx: number;
  delivered: number;
  truncated: number;
  badVersion: number;
  badIhl: number;
  badLength: number;
  badChecksum: number;
  /** Martian sources (RFC 1122 3.2.1.3): this-network, loopback, broadcast, multicast, or our own address. */
  badSource: number;
  /** Malformed options area (an option length under 2 or past the header). */
  badOptions: number;
  /** Loose or strict source route options: refused, as Linux does by default. */
  sourceRouted: number;
  notForUs: number;
  unknownProtocol: number;
  withOptions: number;
  fragmentsSent: number;
  noRoute: number;
  tooBig: number;
  txNoBuffer: number;
  /** TCP packets above the MTU handed to the driver to segment (caps.tso); each counts once in \`tx\`. */
  tsoPackets: number;
  /** TCP packets above the MTU the stack cut itself (software GSO, no TSO in the driver; gso.ts). */
  gsoPackets: number;
  /** The segments GSO cut them into; each counts in \`tx\`. */
  gsoSegments: number;
  neighbourDrops: number;
  loopback: number;
  reassembly: ReassemblyStats;
}

export interface IcmpStats {
  rx: number;
  truncated: number;
  badChecksum: number;
  echoRequests: number;
  echoRepliesSent: number;
  echoReplies: number;
  unmatchedReplies: number;
  broadcastEchoIgnored: number;
  errorsReceived: number;
  errorsUnmatched: number;
  errorsSent: number;
  rateLimited: number;
  pmtuUpdates: number;
  pmtuIgnored: number;
  otherTypes: number;
}

export interface StackStats {
  ethernet: EthernetStats;
  arp: ArpStats;
  ipv4: Ipv4Stats;
  icmp: IcmpStats;
  udp: UdpStats;
  /** Present when the stack has TCP. */
  tcp?: TcpStats;
  /** Present when the stack has software GRO in front of TCP (src/stack/gro.ts). */
  gro?: GroStats;
  /** The IPv6 family's counters, present when the stack has IPv6 (src/stack/ipv6.ts); `udp` counts IPv4's only. */
  ipv6?: Ipv6Stats;
  icmpv6?: Icmpv6Stats;
  ndp?: NdpStats;
  udp6?: UdpStats;
  /** Router discovery, SLAAC and redirects (src/stack/autoconf.ts), present with IPv6 and `ipv6.acceptRa`. */
  autoconf?: AutoconfStats;
  /** Multicast Listener Discovery (src/stack/mld.ts), present with IPv6 unless `ipv6.mld` is false. */
  mld?: MldStats;
  /** IGMP and IPv4 multicast receive (src/stack/igmp.ts). */
  igmp?: IgmpStats;
}

export function newStats(neighbour: NeighbourStats, reassembly: ReassemblyStats, udp: UdpStats): StackStats {
  return {
    ethernet: { rx: 0, tx: 0, truncated: 0, notForUs: 0, unknownEthertype: 0, vlanMismatch: 0 },
    arp: {
      rx: 0,
      truncated: 0,
      unsupported: 0,
      requestsReceived: 0,
      repliesReceived: 0,
      repliesSent: 0,
      badSender: 0,
      conflicts: 0,
      hostOwned: 0,
      neighbour,
    },
    ipv4: {
      rx: 0,
      tx: 0,
      delivered: 0,
      truncated: 0,
      badVersion: 0,
      badIhl: 0,
      badLength: 0,
      badChecksum: 0,
      badSource: 0,
      badOptions: 0,
      sourceRouted: 0,
      notForUs: 0,
      unknownProtocol: 0,
      withOptions: 0,
      fragmentsSent: 0,
      noRoute: 0,
      tooBig: 0,
      txNoBuffer: 0,
      tsoPackets: 0,
      gsoPackets: 0,
      gsoSegments: 0,
      neighbourDrops: 0,
      loopback: 0,
      reassembly,
    },
    icmp: {
      rx: 0,
      truncated: 0,
      badChecksum: 0,
      echoRequests: 0,
      echoRepliesSent: 0,
      echoReplies: 0,
      unmatchedReplies: 0,
      broadcastEchoIgnored: 0,
      errorsReceived: 0,
      errorsUnmatched: 0,
      errorsSent: 0,
      rateLimited: 0,
      pmtuUpdates: 0,
      pmtuIgnored: 0,
      otherTypes: 0,
    },
    udp,
  };
}
