/**
 * IGMP messages (IP protocol 2): Membership Query in its three versions (RFC 1112 appendix I, RFC 2236 2,
 * RFC 3376 4.1; told apart by length and Max Resp Code as RFC 3376 7.1 says), the IGMPv1 and IGMPv2 Membership
 * Reports and the Leave Group message, and IGMPv3 Membership Reports with their group records (RFC 3376 4.2).
 *
 * `parseIgmp(msg)` takes the whole IGMP message (the IP payload) and returns its `IgmpRepr`, or a string naming
 * why it was refused (the stack counts it): it never throws. The checksum is the Internet checksum of the whole
 * message (RFC 3376 4.1.2); `emitIgmp` writes it. Addresses are IPv4 numbers; the message is copied out of the
 * frame into the repr (no view outlives the call).
 */
import { read16, read32, write16, write32 } from '../util/bytes.js';
import { checksum } from '../util/checksum.js';

export const IgmpType = { Query: 0x11, V1Report: 0x12, V2Report: 0x16, Leave: 0x17, V3Report: 0x22 } as const;
/** 224.0.0.1, all systems (RFC 1112); 224.0.0.2, all routers (IGMPv2 leaves); 224.0.0.22, IGMPv3 reports. */
export const IGMP_ALL_SYSTEMS = 0xe0000001;
export const IGMP_ALL_ROUTERS = 0xe0000002;
export const IGMPV3_ALL_ROUTERS = 0xe0000016;

export interface IgmpQuery {
  readonly kind: 'query';
  /** 1: 8 bytes with a zero Max Resp Time; 2: 8 bytes; 3: 12 bytes or more (RFC 3376 7.1). */
  readonly version: 1 | 2 | 3;
  /** The Max Resp Code as sent (tenths of a second, or RFC 3376 4.1.1's floating point for version 3). */
  readonly maxRespCode: number;
  readonly group: number;
  /** Version 3 only (else false, 0, 0, []). */
  readonly suppress: boolean;
  readonly qrv: number;
  readonly qqic: number;
  readonly sources: readonly number[];
}

export interface IgmpGroupRecord {
  readonly type: number;
  readonly group: number;
  readonly sources: readonly number[];
  /** Auxiliary data, in 32-bit words (RFC 3376 4.2.6: none is defined; receivers skip it). */
  readonly auxWords: number;
}

export type IgmpRepr =
  | IgmpQuery
  | { readonly kind: 'v1-report' | 'v2-report' | 'leave'; readonly group: number }
  | { readonly kind: 'v3-report'; readonly records: readonly IgmpGroupRecord[] };

export type IgmpRefusal = 'truncated' | 'bad-checksum' | 'bad-length' | 'unknown-type';

/** RFC 3376 4.1.1: a code below 128 is tenths of a second; above, (mant | 0x10) << (exp + 3). Returns ms. */
export function igmpMaxRespDelayMs(version: 1 | 2 | 3, code: number): number {
  if (version === 1) return 10_000; // RFC 2236 4: an IGMPv1 query's delay is 10 s (its field is zero)
  if (version === 2 || code < 128) return code * 100;
  return ((code & 0x0f) | 0x10) * 2 ** (((code >>> 4) & 7) + 3) * 100;
}

export function parseIgmp(msg: Uint8Array): IgmpRepr | IgmpRefusal {
  if (msg.length < 8) return 'truncated';
  if (checksum(msg) !== 0) return 'bad-checksum';
  const type = msg[0]!;
  const code = msg[1]!;
  switch (type) {
    case IgmpType.Query: {
      const group = read32(msg, 4);
      if (msg.length === 8) return { kind: 'query', version: code === 0 ? 1 : 2, maxRespCode: code, group, suppress: false, qrv: 0, qqic: 0, sources: [] };
      if (msg.length < 12) return 'bad-length'; // RFC 3376 7.1: 9 to 11 bytes is no query; ignored
      const n = read16(msg, 10);
      if (msg.length < 12 + 4 * n) return 'truncated';
      const sources: number[] = [];
      for (let i = 0; i < n; i++) sources.push(read32(msg, 12 + 4 * i));
      return { kind: 'query', version: 3, maxRespCode: code, group, suppress: (msg[8]! & 8) !== 0, qrv: msg[8]! & 7, qqic: msg[9]!, sources };
    }
    case IgmpType.V1Report:
      return { kind: 'v1-report', group: read32(msg, 4) };
    case IgmpType.V2Report:
      return { kind: 'v2-report', group: read32(msg, 4) };
    case IgmpType.Leave:
      return { kind: 'leave', group: read32(msg, 4) };
    case IgmpType.V3Report: {
      const count = read16(msg, 6);
      const records: IgmpGroupRecord[] = [];
      let o = 8;
      for (let i = 0; i < count; i++) {
        if (o + 8 > msg.length) return 'truncated';
        const auxWords = msg[o + 1]!;
        const n = read16(msg, o + 2);
        const end = o + 8 + 4 * n + 4 * auxWords;
        if (end > msg.length) return 'truncated';
        const sources: number[] = [];
        for (let j = 0; j < n; j++) sources.push(read32(msg, o + 8 + 4 * j));
        records.push({ type: msg[o]!, group: read32(msg, o + 4), sources, auxWords });
        o = end;
      }
      return { kind: 'v3-report', records };
    }
    default:
      return 'unknown-type';
  }
}

export function igmpBufferLen(r: IgmpRepr): number {
  if (r.kind === 'query') return r.version === 3 ? 12 + 4 * r.sources.length : 8;
  if (r.kind !== 'v3-report') return 8;
  let len = 8;
  for (const g of r.records) len += 8 + 4 * g.sources.length + 4 * g.auxWords;
  return len;
}

/** The message for `r`, checksum included (auxiliary data is written as zeros). */
export function emitIgmp(r: IgmpRepr): Uint8Array {
  const b = new Uint8Array(igmpBufferLen(r));
  switch (r.kind) {
    case 'query':
      b[0] = IgmpType.Query;
      b[1] = r.version === 1 ? 0 : r.maxRespCode;
      write32(b, 4, r.group);
      if (r.version === 3) {
        b[8] = (r.suppress ? 8 : 0) | (r.qrv & 7);
        b[9] = r.qqic;
        write16(b, 10, r.sources.length);
        r.sources.forEach((s, i) => write32(b, 12 + 4 * i, s));
      }
      break;
    case 'v1-report':
    case 'v2-report':
    case 'leave':
      b[0] = r.kind === 'v1-report' ? IgmpType.V1Report : r.kind === 'v2-report' ? IgmpType.V2Report : IgmpType.Leave;
      write32(b, 4, r.group);
      break;
    case 'v3-report': {
      b[0] = IgmpType.V3Report;
      write16(b, 6, r.records.length);
      let o = 8;
      for (const g of r.records) {
        b[o] = g.type;
        b[o + 1] = g.auxWords;
        write16(b, o + 2, g.sources.length);
        write32(b, o + 4, g.group);
        g.sources.forEach((s, i) => write32(b, o + 8 + 4 * i, s));
        o += 8 + 4 * g.sources.length + 4 * g.auxWords;
      }
      break;
    }
  }
  write16(b, 2, checksum(b));
  return b;
}
