/**
 * The IGMP host: IGMPv3 (RFC 3376) with IGMPv1 and IGMPv2 compatibility (RFC 3376 7), as the listener core shared
 * with MLD (protocols/multicast/listener.ts) with IGMP's codec. Reports go to 224.0.0.22 (IGMPv3), to the group
 * (IGMPv1/v2 Reports), leaves to 224.0.0.2 (IGMPv2; IGMPv1 has none). 224.0.0.1 is never reported (RFC 3376 5).
 * Groups and sources are IPv4 numbers here; the core keeps them as 4 bytes. Nothing throws.
 */
import type { Rng } from '../util/rng.js';
import {
  Compat,
  MulticastListener,
  type GroupRecord,
  type ListenerCodec,
  type ListenerOptions,
  type ListenerSend,
  type MulticastQuery,
} from '../multicast/listener.js';
import { IGMP_ALL_ROUTERS, IGMP_ALL_SYSTEMS, IGMPV3_ALL_ROUTERS, emitIgmp, igmpMaxRespDelayMs, type IgmpQuery } from './wire.js';

/** An IPv4 address as the core's 4 bytes. */
export function ipv4Bytes(a: number): Uint8Array {
  return Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff);
}

export function ipv4FromBytes(b: Uint8Array): number {
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

/** Records per report: 8 + 30 x 8 bytes, with room for sources, inside a 576-byte packet. */
const RECORDS_PER_REPORT = 30;

export const IGMP_CODEC: ListenerCodec = {
  reportable: (group) => ipv4FromBytes(group) !== IGMP_ALL_SYSTEMS,
  report: (records: readonly GroupRecord[]) =>
    emitIgmp({
      kind: 'v3-report',
      records: records.map((r) => ({ type: r.type, group: ipv4FromBytes(r.group), sources: r.sources.map(ipv4FromBytes), auxWords: 0 })),
    }),
  reportDst: ipv4Bytes(IGMPV3_ALL_ROUTERS),
  recordsPerReport: RECORDS_PER_REPORT,
  older: (compat, leave, group) => {
    if (leave) return compat === 1 ? undefined : { message: emitIgmp({ kind: 'leave', group: ipv4FromBytes(group) }), dst: ipv4Bytes(IGMP_ALL_ROUTERS) };
    return { message: emitIgmp({ kind: compat === 1 ? 'v1-report' : 'v2-report', group: ipv4FromBytes(group) }), dst: group };
  },
};

/** The core's query for a decoded IGMP query. */
export function igmpQuery(q: IgmpQuery): MulticastQuery {
  return {
    compat: q.version === 1 ? Compat.Oldest : q.version === 2 ? Compat.Older : Compat.Current,
    maxRespDelayMs: igmpMaxRespDelayMs(q.version, q.maxRespCode),
    group: ipv4Bytes(q.group),
    sources: q.sources.map(ipv4Bytes),
  };
}

export class IgmpListener extends MulticastListener {
  constructor(send: ListenerSend, rng: Rng, options: Partial<ListenerOptions> = {}) {
    super(IGMP_CODEC, send, rng, options);
  }
}
