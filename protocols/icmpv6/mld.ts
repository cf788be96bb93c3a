/**
 * Multicast Listener Discovery for a host: MLDv2 (RFC 3810) with MLDv1 compatibility (RFC 2710, RFC 3810 8).
 *
 * - Codec: `parseMldQuery` (Multicast Listener Query, type 130: 24 bytes is MLDv1's, 28 and more MLDv2's with its
 *   sources; the Maximum Response Code decoded per RFC 3810 5.1.3), `emitMldv2Report` (type 143, one Multicast
 *   Address Record per group, no sources), `emitMldv1` (Report 131, Done 132). Messages are built with the checksum
 *   field zero: the stack writes it with the pseudo-header (its source is chosen at send time).
 * - `MldListener`: the listener core shared with IGMP (protocols/multicast/listener.ts: group records with source
 *   filters, state change reports repeated [Robustness Variable] times, query responses by RFC 3810 6.2's rules,
 *   MLDv1 compatibility after an MLDv1 query) with MLD's codec (`MLD_CODEC`).
 * - Groups of scope 0 or 1 and all-nodes (ff02::1) are never reported (RFC 3810 6).
 * Time, randomness and output are passed in; nothing throws; a query that does not parse is refused (undefined).
 */
import { read16, write16 } from '../util/bytes.js';
import type { Rng } from '../util/rng.js';
import { IPV6_ALL_NODES, IPV6_ALL_ROUTERS, ipv6Equals, type Ipv6Address } from '../ipv6/address.js';
import {
  Compat,
  DEFAULT_LISTENER_OPTIONS,
  MulticastListener,
  newListenerStats,
  type ListenerCodec,
  type ListenerOptions,
  type ListenerStats,
  type MulticastQuery,
} from '../multicast/listener.js';

export const MldType = { Query: 130, V1Report: 131, V1Done: 132, V2Report: 143 } as const;
/** Where MLDv2 reports go (RFC 3810 5.2.14). */
export const IPV6_ALL_MLDV2_ROUTERS: Ipv6Address = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16);
/** Multicast Address Record types (RFC 3810 5.2.12). */
export { RecordType as MldRecord } from '../multicast/listener.js';

export interface MldQuery {
  readonly version: 1 | 2;
  /** The Maximum Response Delay, ms. */
  readonly maxRespDelayMs: number;
  /** The unspecified address for a general query. */
  readonly group: Ipv6Address;
  readonly sources: readonly Ipv6Address[];
}

/** An MLD message type: query, MLDv1 report or done, MLDv2 report. */
export function isMldType(type: number): boolean {
  return type === MldType.Query || type === MldType.V1Report || type === MldType.V1Done || type === MldType.V2Report;
}

/** RFC 3810 5.1.3: a code below 32768 is the delay in ms; above, a floating-point value (mant | 0x1000) << (exp + 3). */
export function mldMaxRespDelay(code: number): number {
  if (code < 0x8000) return code;
  return ((code & 0x0fff) | 0x1000) * 2 ** (((code >>> 12) & 7) + 3);
}

/** A Multicast Listener Query (`msg` the whole ICMPv6 message), or undefined when it is malformed. */
export function parseMldQuery(msg: Uint8Array): MldQuery | undefined {
  if (msg[0] !== MldType.Query || msg[1] !== 0) return undefined;
  if (msg.length === 24) return { version: 1, maxRespDelayMs: read16(msg, 4), group: msg.slice(8, 24), sources: [] };
  if (msg.length < 28) return undefined; // RFC 3810 8.1: 25-27 bytes is neither version
  const n = read16(msg, 26);
  if (msg.length < 28 + 16 * n) return undefined;
  const sources: Ipv6Address[] = [];
  for (let i = 0; i < n; i++) sources.push(msg.slice(28 + 16 * i, 44 + 16 * i));
  return { version: 2, maxRespDelayMs: mldMaxRespDelay(read16(msg, 4)), group: msg.slice(8, 24), sources };
}

/** An MLDv2 Report with one record per group (`type` for all, `sources` only for one group). */
export function emitMldv2Report(records: readonly { type: number; group: Ipv6Address; sources?: readonly Ipv6Address[] | undefined }[]): Uint8Array {
  let len = 8;
  for (const r of records) len += 20 + 16 * (r.sources?.length ?? 0);
  const b = new Uint8Array(len);
  b[0] = MldType.V2Report;
  write16(b, 6, records.length);
  let o = 8;
  for (const r of records) {
    const sources = r.sources ?? [];
    b[o] = r.type;
    write16(b, o + 2, sources.length);
    b.set(r.group.subarray(0, 16), o + 4);
    o += 20;
    for (const s of sources) {
      b.set(s.subarray(0, 16), o);
      o += 16;
    }
  }
  return b;
}

/** An MLDv1 Report (131) or Done (132) for `group` (RFC 2710 3). */
export function emitMldv1(type: 131 | 132, group: Ipv6Address): Uint8Array {
  const b = new Uint8Array(24);
  b[0] = type;
  b.set(group.subarray(0, 16), 8);
  return b;
}

/** RFC 3810 6: no MLD message is ever sent for all-nodes, nor for a group of scope 0 (reserved) or 1 (interface-local). */
export function isReportable(group: Ipv6Address): boolean {
  const scope = group[1]! & 0x0f;
  return group[0] === 0xff && scope > 1 && !ipv6Equals(group, IPV6_ALL_NODES);
}

export type MldOptions = ListenerOptions;
export const DEFAULT_MLD_OPTIONS: MldOptions = DEFAULT_LISTENER_OPTIONS;
export type MldStats = ListenerStats;
export const newMldStats = newListenerStats;

/** Send one MLD message (checksum field zero) to `dst`. */
export type MldSend = (now: number, message: Uint8Array, dst: Ipv6Address) => void;

/** Records per report: 60 x 20 bytes keeps a report well inside a 1280-byte packet. */
const RECORDS_PER_REPORT = 60;

/** MLD's codec for the shared listener core. */
export const MLD_CODEC: ListenerCodec = {
  reportable: isReportable,
  report: (records) => emitMldv2Report(records),
  reportDst: IPV6_ALL_MLDV2_ROUTERS,
  recordsPerReport: RECORDS_PER_REPORT,
  // MLDv1 is the older version (RFC 3810 8): a Report to the group, a Done to all-routers. There is no "oldest".
  older: (_compat, leave, group) =>
    leave ? { message: emitMldv1(MldType.V1Done, group), dst: IPV6_ALL_ROUTERS } : { message: emitMldv1(MldType.V1Report, group), dst: group },
};

/** The MLD listener: the shared core (protocols/multicast/listener.ts) with MLD's codec, taking MLD's queries. */
export class MldListener extends MulticastListener {
  constructor(send: MldSend, rng: Rng, options: Partial<MldOptions> = {}) {
    super(MLD_CODEC, send, rng, options);
  }

  /** A query that passed the IPv6 checks (link-local source, hop limit 1, Router Alert). */
  override query(now: number, q: MldQuery | MulticastQuery): void {
    super.query(now, 'version' in q ? { compat: q.version === 1 ? Compat.Older : Compat.Current, maxRespDelayMs: q.maxRespDelayMs, group: q.group, sources: q.sources } : q);
  }
}
