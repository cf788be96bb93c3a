/**
 * The IPv6 family's counters (stats.ipv6, stats.icmpv6, stats.udp6; stats.ndp is ndp.ts's), kept apart from
 * IPv4's so a reader sees each family on its own, and the errors an ICMPv6 message becomes for a socket or a ping.
 */
import { BywayError } from '../../protocols/util/errors.js';
import type { Ipv6ReassemblyStats } from '../../protocols/ipv6/reassembly.js';
import type { UdpStats } from './udp.js';

export interface Ipv6Stats {
  rx: number;
  tx: number;
  delivered: number;
  truncated: number;
  badVersion: number;
  /** Multicast, loopback, or one of our own addresses as the source of a packet from the wire. */
  badSource: number;
  notForUs: number;
  /** Sent to one of our addresses still under duplicate address detection (RFC 4862 5.4: discarded). */
  tentativeDst: number;
  multicastRx: number;
  /** Extension-header chains dropped without an error (walkExtensionHeaders' drop reasons). */
  badExtensionHeaders: number;
  /** Packets answered with a parameter problem (bad extension header, unknown next header, bad fragment). */
  paramProblems: number;
  unknownProtocol: number;
  /** TCP over IPv6 to a stack without TCP (`tcp: false`): dropped. */
  tcpNotSupported: number;
  /** TCP segments handed to the TCP layer, and sent by it, over IPv6 (on the wire: a TSO or GSO packet's segments). */
  tcpIn: number;
  tcpOut: number;
  /** TCP packets over IPv6 sent for the driver to cut into segments (TSO, GSO_TCPV6). */
  tsoPackets: number;
  /** TCP packets over IPv6 the stack cut itself (software GSO, no TSO in the driver; gso.ts), and their segments. */
  gsoPackets: number;
  gsoSegments: number;
  /** TCP over IPv6 with a wrong checksum (RFC 8200 8.1 pseudo-header), to a multicast address, or from a source
   * for which no address id was free (protocols/tcp/addr-ids.ts): dropped. */
  tcpBadChecksum: number;
  tcpMulticast: number;
  tcpNoAddressId: number;
  /** TCP over IPv6 from the unspecified or an IPv4-mapped address: dropped. */
  tcpBadSource: number;
  fragmentsSent: number;
  noRoute: number;
  /** No usable source address (every candidate tentative or duplicate). */
  noSource: number;
  tooBig: number;
  txNoBuffer: number;
  neighbourDrops: number;
  loopback: number;
  reassembly: Ipv6ReassemblyStats;
}

export interface Icmpv6Stats {
  rx: number;
  truncated: number;
  badChecksum: number;
  /** NDP messages failing RFC 4861's checks (hop limit 255, no fragments, option lengths...). */
  ndpInvalid: number;
  echoRequests: number;
  echoRepliesSent: number;
  echoRequestsSent: number;
  echoReplies: number;
  unmatchedReplies: number;
  errorsReceived: number;
  errorsUnmatched: number;
  packetTooBig: number;
  pmtuUpdates: number;
  pmtuIgnored: number;
  errorsSent: number;
  /** Errors RFC 4443 2.4(e) forbids (about an error, to multicast, from an unspecified source). */
  errorsSuppressed: number;
  rateLimited: number;
  otherTypes: number;
}

export function newIpv6Stats(reassembly: Ipv6ReassemblyStats): Ipv6Stats {
  return {
    rx: 0,
    tx: 0,
    delivered: 0,
    truncated: 0,
    badVersion: 0,
    badSource: 0,
    notForUs: 0,
    tentativeDst: 0,
    multicastRx: 0,
    badExtensionHeaders: 0,
    paramProblems: 0,
    unknownProtocol: 0,
    tcpNotSupported: 0,
    tcpIn: 0,
    tcpOut: 0,
    tsoPackets: 0,
    gsoPackets: 0,
    gsoSegments: 0,
    tcpBadChecksum: 0,
    tcpMulticast: 0,
    tcpNoAddressId: 0,
    tcpBadSource: 0,
    fragmentsSent: 0,
    noRoute: 0,
    noSource: 0,
    tooBig: 0,
    txNoBuffer: 0,
    neighbourDrops: 0,
    loopback: 0,
    reassembly,
  };
}

export function newIcmpv6Stats(): Icmpv6Stats {
  return {
    rx: 0,
    truncated: 0,
    badChecksum: 0,
    ndpInvalid: 0,
    echoRequests: 0,
    echoRepliesSent: 0,
    echoRequestsSent: 0,
    echoReplies: 0,
    unmatchedReplies: 0,
    errorsReceived: 0,
    errorsUnmatched: 0,
    packetTooBig: 0,
    pmtuUpdates: 0,
    pmtuIgnored: 0,
    errorsSent: 0,
    errorsSuppressed: 0,
    rateLimited: 0,
    otherTypes: 0,
  };
}

export function newUdp6Stats(): UdpStats {
  return { rx: 0, tx: 0, truncated: 0, badLength: 0, badChecksum: 0, noPort: 0, recvBufferDrops: 0, txErrors: 0, icmpErrors: 0, strayHandedOff: 0 };
}

/** The error a socket or ping sees for an ICMPv6 error (RFC 4443 codes, as Linux's icmpv6_err_convert maps them). */
export function icmpv6ToError(kind: 'dest-unreachable' | 'time-exceeded' | 'param-problem', code: number): BywayError {
  if (kind === 'time-exceeded') return new BywayError('EHOSTUNREACH', 'hop limit exceeded in transit (ICMPv6 time exceeded)');
  if (kind === 'param-problem') return new BywayError('EPROTO', `parameter problem, code ${code} (ICMPv6)`);
  switch (code) {
    case 4:
      return new BywayError('ECONNREFUSED', 'port unreachable (ICMPv6)');
    case 0:
      return new BywayError('ENETUNREACH', 'no route to destination (ICMPv6)');
    case 1:
    case 5:
    case 6:
      return new BywayError('EACCES', `communication administratively prohibited, code ${code} (ICMPv6)`);
    default:
      return new BywayError('EHOSTUNREACH', `destination unreachable, code ${code} (ICMPv6)`);
  }
}
