/**
 * Neighbor Discovery messages (RFC 4861 section 4): router solicitation and advertisement, neighbor solicitation
 * and advertisement, redirect, with the options byway uses (source/target link-layer address, prefix information,
 * redirected header, MTU, and the nonce of enhanced DAD). Unknown options are kept as 'unknown' (the receiver
 * ignores them, 4.6) so they re-emit.
 *
 * `parseNdp` checks what the message itself can show (code 0, length, options well formed: an option of length 0
 * or one running past the end invalidates the whole message, 4.6); `validateNdp` adds the checks that need the IPv6
 * header (sections 6.1.1, 6.1.2, 7.1.1, 7.1.2, 8.1): hop limit 255, no fragmentation (RFC 6980), the rules on
 * unspecified sources, multicast targets and link-local router addresses. Both return a reason, never throw.
 * A known option with the wrong length (a prefix information option that is not 32 bytes, say) is kept as
 * 'unknown', that is ignored, as Linux does. Address and data fields are views into the caller's buffer.
 */
import { read16, read32, write16, write32 } from '../util/bytes.js';
import { ipv6Equals, isLinkLocal, isMulticast, isSolicitedNodeMulticast, isUnspecified } from '../ipv6/address.js';
import { Icmpv6Type, fillIcmpv6Checksum, type Icmpv6Packet } from './wire.js';

export const NdpOptionType = {
  SourceLinkLayerAddress: 1,
  TargetLinkLayerAddress: 2,
  PrefixInformation: 3,
  RedirectedHeader: 4,
  Mtu: 5,
  /** RFC 3971 section 5.3.2, used by enhanced DAD (RFC 7527): Linux puts one in its DAD probes. */
  Nonce: 14,
} as const;

/** RA flags byte (RFC 4861 4.2). */
export const RA_FLAG_MANAGED = 0x80;
export const RA_FLAG_OTHER = 0x40;

export type NdpOption =
  /** A link-layer address: 6 bytes for Ethernet (RFC 2464 section 8), else the option's 8n-2 bytes. */
  | { readonly kind: 'source-lla' | 'target-lla'; readonly address: Uint8Array }
  | {
      readonly kind: 'prefix-info';
      readonly prefixLen: number;
      /** L: the prefix is on-link. */
      readonly onLink: boolean;
      /** A: usable for stateless address autoconfiguration. */
      readonly autonomous: boolean;
      /** Seconds; 0xffffffff is infinity. */
      readonly validLifetime: number;
      readonly preferredLifetime: number;
      readonly prefix: Uint8Array;
    }
  /** As much of the redirected packet as fits (RFC 4861 4.6.3). */
  | { readonly kind: 'redirected-header'; readonly data: Uint8Array }
  | { readonly kind: 'mtu'; readonly mtu: number }
  /** The option's 8n-2 bytes (6 from Linux). */
  | { readonly kind: 'nonce'; readonly nonce: Uint8Array }
  /** Any other option, or a known one of the wrong length: its bytes after type and length. */
  | { readonly kind: 'unknown'; readonly type: number; readonly data: Uint8Array };

export type NdpRepr =
  | { readonly kind: 'router-solicitation'; readonly options: readonly NdpOption[] }
  | {
      readonly kind: 'router-advertisement';
      readonly curHopLimit: number;
      /** M, O and the bits later RFCs define (RFC 4191 preference, ...), as on the wire. */
      readonly flags: number;
      /** Seconds; 0: not a default router. */
      readonly routerLifetime: number;
      /** Milliseconds; 0: unspecified. */
      readonly reachableTime: number;
      /** Milliseconds; 0: unspecified. */
      readonly retransTimer: number;
      readonly options: readonly NdpOption[];
    }
  | { readonly kind: 'neighbor-solicitation'; readonly target: Uint8Array; readonly options: readonly NdpOption[] }
  | {
      readonly kind: 'neighbor-advertisement';
      readonly router: boolean;
      readonly solicited: boolean;
      readonly override: boolean;
      readonly target: Uint8Array;
      readonly options: readonly NdpOption[];
    }
  | { readonly kind: 'redirect'; readonly target: Uint8Array; readonly destination: Uint8Array; readonly options: readonly NdpOption[] };

export type NdpInvalidReason =
  | 'not-ndp'
  | 'bad-code'
  | 'truncated'
  | 'bad-option-length'
  | 'hop-limit'
  | 'fragmented'
  | 'multicast-target'
  | 'unspecified-source-with-lla'
  | 'unspecified-source-not-solicited-node'
  | 'solicited-to-multicast'
  | 'router-source-not-link-local'
  | 'redirect-target'
  | 'redirect-multicast-destination';

export type NdpParse = NdpRepr | { readonly kind: 'invalid'; readonly reason: NdpInvalidReason };

/** Bytes of each message before its options, counting the 4-byte ICMPv6 type/code/checksum. */
const FIXED_LEN: Record<number, number> = {
  [Icmpv6Type.RouterSolicitation]: 8,
  [Icmpv6Type.RouterAdvertisement]: 16,
  [Icmpv6Type.NeighborSolicitation]: 24,
  [Icmpv6Type.NeighborAdvertisement]: 24,
  [Icmpv6Type.Redirect]: 40,
};

const NA_ROUTER = 0x80000000;
const NA_SOLICITED = 0x40000000;
const NA_OVERRIDE = 0x20000000;

export function isNdpType(type: number): boolean {
  return type >= Icmpv6Type.RouterSolicitation && type <= Icmpv6Type.Redirect;
}

function invalid(reason: NdpInvalidReason): NdpParse {
  return { kind: 'invalid', reason };
}

/** The options in b[start..), or undefined when one is malformed (RFC 4861 4.6: length 0, or past the end). */
export function parseNdpOptions(b: Uint8Array, start: number): NdpOption[] | undefined {
  const out: NdpOption[] = [];
  let o = start;
  while (o < b.length) {
    if (o + 2 > b.length) return undefined;
    const type = b[o]!;
    const len = b[o + 1]! * 8;
    if (len === 0 || o + len > b.length) return undefined;
    const data = b.subarray(o + 2, o + len);
    if (type === NdpOptionType.SourceLinkLayerAddress || type === NdpOptionType.TargetLinkLayerAddress) {
      out.push({ kind: type === NdpOptionType.SourceLinkLayerAddress ? 'source-lla' : 'target-lla', address: data });
    } else if (type === NdpOptionType.PrefixInformation && len === 32) {
      out.push({
        kind: 'prefix-info',
        prefixLen: b[o + 2]!,
        onLink: (b[o + 3]! & 0x80) !== 0,
        autonomous: (b[o + 3]! & 0x40) !== 0,
        validLifetime: read32(b, o + 4),
        preferredLifetime: read32(b, o + 8),
        prefix: b.subarray(o + 16, o + 32),
      });
    } else if (type === NdpOptionType.RedirectedHeader && len >= 8) {
      out.push({ kind: 'redirected-header', data: b.subarray(o + 8, o + len) });
    } else if (type === NdpOptionType.Mtu && len === 8) {
      out.push({ kind: 'mtu', mtu: read32(b, o + 4) });
    } else if (type === NdpOptionType.Nonce) {
      out.push({ kind: 'nonce', nonce: data });
    } else {
      out.push({ kind: 'unknown', type, data });
    }
    o += len;
  }
  return out;
}

/** Parse an ICMPv6 message of an NDP type (133-137). Checks the message alone: see `validateNdp` for the rest. */
export function parseNdp(p: Icmpv6Packet): NdpParse {
  const b = p.buffer;
  const type = p.type;
  if (!isNdpType(type)) return invalid('not-ndp');
  if (p.code !== 0) return invalid('bad-code');
  const fixed = FIXED_LEN[type]!;
  if (b.length < fixed) return invalid('truncated');
  const options = parseNdpOptions(b, fixed);
  if (options === undefined) return invalid('bad-option-length');
  switch (type) {
    case Icmpv6Type.RouterSolicitation:
      return { kind: 'router-solicitation', options };
    case Icmpv6Type.RouterAdvertisement:
      return {
        kind: 'router-advertisement',
        curHopLimit: b[4]!,
        flags: b[5]!,
        routerLifetime: read16(b, 6),
        reachableTime: read32(b, 8),
        retransTimer: read32(b, 12),
        options,
      };
    case Icmpv6Type.NeighborSolicitation:
      return { kind: 'neighbor-solicitation', target: b.subarray(8, 24), options };
    case Icmpv6Type.NeighborAdvertisement: {
      const w = read32(b, 4);
      return { kind: 'neighbor-advertisement', router: (w & NA_ROUTER) !== 0, solicited: (w & NA_SOLICITED) !== 0, override: (w & NA_OVERRIDE) !== 0, target: b.subarray(8, 24), options };
    }
    default:
      return { kind: 'redirect', target: b.subarray(8, 24), destination: b.subarray(24, 40), options };
  }
}

/** What `validateNdp` needs from the IPv6 header and the receive path. */
export interface NdpContext {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly hopLimit: number;
  /** The message came in a fragmented (now reassembled) packet, or carried a Fragment header. */
  readonly fragmented: boolean;
}

function hasOption(r: NdpRepr, kind: NdpOption['kind']): boolean {
  return r.options.some((o) => o.kind === kind);
}

/** RFC 4861's validity checks that need the IPv6 header; undefined when the message is valid. */
export function validateNdp(r: NdpRepr, ctx: NdpContext): NdpInvalidReason | undefined {
  // Every NDP message: hop limit 255, so it cannot have come from off-link (6.1, 7.1, 8.1).
  if (ctx.hopLimit !== 255) return 'hop-limit';
  if (ctx.fragmented) return 'fragmented'; // RFC 6980 section 5
  const unspecified = isUnspecified(ctx.src);
  switch (r.kind) {
    case 'router-solicitation':
      if (unspecified && hasOption(r, 'source-lla')) return 'unspecified-source-with-lla';
      return undefined;
    case 'router-advertisement':
      return isLinkLocal(ctx.src) ? undefined : 'router-source-not-link-local';
    case 'neighbor-solicitation':
      if (isMulticast(r.target)) return 'multicast-target';
      if (unspecified && !isSolicitedNodeMulticast(ctx.dst)) return 'unspecified-source-not-solicited-node';
      if (unspecified && hasOption(r, 'source-lla')) return 'unspecified-source-with-lla';
      return undefined;
    case 'neighbor-advertisement':
      if (isMulticast(r.target)) return 'multicast-target';
      if (r.solicited && isMulticast(ctx.dst)) return 'solicited-to-multicast';
      return undefined;
    case 'redirect':
      if (!isLinkLocal(ctx.src)) return 'router-source-not-link-local';
      if (isMulticast(r.destination)) return 'redirect-multicast-destination';
      if (!isLinkLocal(r.target) && !ipv6Equals(r.target, r.destination)) return 'redirect-target';
      return undefined;
  }
}

function optionLen(o: NdpOption): number {
  switch (o.kind) {
    case 'source-lla':
    case 'target-lla':
      return (2 + o.address.length + 7) & ~7;
    case 'prefix-info':
      return 32;
    case 'redirected-header':
      return (8 + o.data.length + 7) & ~7;
    case 'mtu':
      return 8;
    case 'nonce':
      return (2 + o.nonce.length + 7) & ~7;
    default:
      return (2 + o.data.length + 7) & ~7;
  }
}

export function ndpBufferLen(r: NdpRepr): number {
  let n = FIXED_LEN[typeOf(r)]!;
  for (const o of r.options) n += optionLen(o);
  return n;
}

function typeOf(r: NdpRepr): number {
  switch (r.kind) {
    case 'router-solicitation':
      return Icmpv6Type.RouterSolicitation;
    case 'router-advertisement':
      return Icmpv6Type.RouterAdvertisement;
    case 'neighbor-solicitation':
      return Icmpv6Type.NeighborSolicitation;
    case 'neighbor-advertisement':
      return Icmpv6Type.NeighborAdvertisement;
    default:
      return Icmpv6Type.Redirect;
  }
}

/** Write one option at b[o..]; returns its length. Padding bytes are zero. */
function emitOption(opt: NdpOption, b: Uint8Array, o: number): number {
  const len = optionLen(opt);
  b.fill(0, o, o + len);
  b[o + 1] = len / 8;
  switch (opt.kind) {
    case 'source-lla':
    case 'target-lla':
      b[o] = opt.kind === 'source-lla' ? NdpOptionType.SourceLinkLayerAddress : NdpOptionType.TargetLinkLayerAddress;
      b.set(opt.address, o + 2);
      break;
    case 'prefix-info':
      b[o] = NdpOptionType.PrefixInformation;
      b[o + 2] = opt.prefixLen;
      b[o + 3] = (opt.onLink ? 0x80 : 0) | (opt.autonomous ? 0x40 : 0);
      write32(b, o + 4, opt.validLifetime >>> 0);
      write32(b, o + 8, opt.preferredLifetime >>> 0);
      b.set(opt.prefix.subarray(0, 16), o + 16);
      break;
    case 'redirected-header':
      b[o] = NdpOptionType.RedirectedHeader;
      b.set(opt.data, o + 8);
      break;
    case 'mtu':
      b[o] = NdpOptionType.Mtu;
      write32(b, o + 4, opt.mtu >>> 0);
      break;
    case 'nonce':
      b[o] = NdpOptionType.Nonce;
      b.set(opt.nonce, o + 2);
      break;
    default:
      b[o] = opt.type;
      b.set(opt.data, o + 2);
  }
  return len;
}

/**
 * Write the message at buf[offset..]: the ICMPv6 header, the fixed fields, the options. The checksum is computed
 * when `src` and `dst` are given (else left zero). Returns the message length (`ndpBufferLen`).
 */
export function emitNdp(r: NdpRepr, buf: Uint8Array, offset = 0, src?: Uint8Array, dst?: Uint8Array): number {
  const type = typeOf(r);
  const fixed = FIXED_LEN[type]!;
  buf.fill(0, offset, offset + fixed);
  buf[offset] = type;
  switch (r.kind) {
    case 'router-advertisement':
      buf[offset + 4] = r.curHopLimit;
      buf[offset + 5] = r.flags;
      write16(buf, offset + 6, r.routerLifetime);
      write32(buf, offset + 8, r.reachableTime >>> 0);
      write32(buf, offset + 12, r.retransTimer >>> 0);
      break;
    case 'neighbor-solicitation':
      buf.set(r.target.subarray(0, 16), offset + 8);
      break;
    case 'neighbor-advertisement':
      write32(buf, offset + 4, ((r.router ? NA_ROUTER : 0) | (r.solicited ? NA_SOLICITED : 0) | (r.override ? NA_OVERRIDE : 0)) >>> 0);
      buf.set(r.target.subarray(0, 16), offset + 8);
      break;
    case 'redirect':
      buf.set(r.target.subarray(0, 16), offset + 8);
      buf.set(r.destination.subarray(0, 16), offset + 24);
      break;
  }
  let o = offset + fixed;
  for (const opt of r.options) o += emitOption(opt, buf, o);
  const len = o - offset;
  if (src !== undefined && dst !== undefined) fillIcmpv6Checksum(buf, offset, len, src, dst);
  return len;
}

/** The first link-layer address option of a kind, if any. */
export function linkLayerOption(r: NdpRepr, kind: 'source-lla' | 'target-lla'): Uint8Array | undefined {
  for (const o of r.options) if (o.kind === kind) return o.address;
  return undefined;
}
