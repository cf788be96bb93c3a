/**
 * IPv6 extension headers (RFC 8200 section 4) as a host processes them: the Fragment header codec and
 * `walkExtensionHeaders`, which follows the chain from the fixed header to the upper-layer header.
 *
 * The walker checks, with limits, and never throws:
 * - hop-by-hop options only right after the fixed header (4.3), else parameter problem code 1 at the Next Header
 *   field that named it;
 * - options in hop-by-hop and destination options headers by their action bits (4.2): skip, discard, discard and
 *   send parameter problem code 2, or the same unless the destination is multicast; Pad1/PadN accepted with at most
 *   7 bytes of padding in a row and PadN carrying zeros (RFC 4942 section 2.1.9.5, as Linux checks); at most
 *   `maxOptions` other options per header (RFC 8504 section 5.3);
 * - a routing header with Segments Left 0 is skipped, any other one (type 0 included, RFC 5095: byway implements
 *   no routing type) is a parameter problem code 0 at its Routing Type field (4.4);
 * - a Fragment header (4.5): an atomic fragment (offset 0, M 0) is processed in isolation by walking on (RFC 6946);
 *   a non-first fragment stops the walk; a first fragment is walked on for structure only, and a header chain that
 *   does not reach a whole upper-layer header inside it is a parameter problem code 3 (RFC 7112); a second
 *   Fragment header in one chain is dropped;
 * - at most `maxHeaders` extension headers; a header running past the payload is dropped.
 * Offsets in results count from the start of the fixed header, as ICMPv6 pointers do (RFC 4443 section 3.4).
 */
import { read16, read32, write16, write32 } from '../util/bytes.js';
import { IPV6_HEADER_LEN, IPV6_NEXT_HEADER_OFFSET, NextHeader, type Ipv6Packet } from './wire.js';

export const FRAGMENT_HEADER_LEN = 8;

export const ParamProblemCode = {
  ErroneousHeaderField: 0,
  UnrecognizedNextHeader: 1,
  UnrecognizedOption: 2,
  IncompleteHeaderChain: 3,
} as const;

export interface ExtensionLimits {
  /** Extension headers in one chain. Default 8. */
  maxHeaders: number;
  /** Options other than padding in one hop-by-hop or destination options header. Default 8 (Linux's default). */
  maxOptions: number;
}

export const DEFAULT_EXTENSION_LIMITS: ExtensionLimits = { maxHeaders: 8, maxOptions: 8 };

export interface FragmentInfo {
  /** Offset of the Fragment header: the unfragmentable part is everything before it. */
  readonly headerOffset: number;
  /** Offset of the Next Header field that holds 44 (6 when the Fragment header follows the fixed header). */
  readonly nextHeaderFieldOffset: number;
  /** The Fragment header's Next Header: the first header of the fragmentable part. */
  readonly nextHeader: number;
  /** Fragment offset in bytes (a multiple of 8). */
  readonly offset: number;
  readonly more: boolean;
  readonly ident: number;
}

export type ChainDropReason =
  | 'truncated'
  | 'bad-option'
  | 'too-much-padding'
  | 'nonzero-padding'
  | 'too-many-options'
  | 'too-many-headers'
  | 'unknown-option'
  | 'two-fragment-headers';

export type ChainResult =
  /** Reached the upper-layer header `protocol` at `offset` (59, No Next Header, included). */
  | {
      readonly kind: 'upper';
      readonly protocol: number;
      readonly offset: number;
      /** Where the Next Header field naming `protocol` is: the pointer for a code 1 parameter problem. */
      readonly protocolFieldOffset: number;
      /** An atomic fragment header was passed (RFC 6946). */
      readonly atomicFragment: boolean;
      /** The hop-by-hop Router Alert option's value (RFC 2711), if present. */
      readonly routerAlert: number | undefined;
    }
  /** A fragment to reassemble. */
  | { readonly kind: 'fragment'; readonly fragment: FragmentInfo }
  /** Discard silently, counting `reason`. */
  | { readonly kind: 'drop'; readonly reason: ChainDropReason }
  /** Discard and send an ICMPv6 parameter problem (subject to rate limiting and RFC 4443 2.4(e)). */
  | { readonly kind: 'param-problem'; readonly code: number; readonly pointer: number; readonly reason: string };

export interface FragmentHeaderRepr {
  readonly nextHeader: number;
  readonly offset: number;
  readonly more: boolean;
  readonly ident: number;
}

/** Read a Fragment header at b[o..o+8) (the caller checked the length). Reserved bits are ignored (4.5). */
export function parseFragmentHeader(b: Uint8Array, o: number): FragmentHeaderRepr {
  const w = read16(b, o + 2);
  return { nextHeader: b[o]!, offset: w & 0xfff8, more: (w & 1) !== 0, ident: read32(b, o + 4) };
}

export function emitFragmentHeader(r: FragmentHeaderRepr, b: Uint8Array, o: number): number {
  b[o] = r.nextHeader;
  b[o + 1] = 0;
  write16(b, o + 2, (r.offset & 0xfff8) | (r.more ? 1 : 0));
  write32(b, o + 4, r.ident >>> 0);
  return FRAGMENT_HEADER_LEN;
}

/** Minimum upper-layer header a first fragment must hold whole (RFC 7112), for the protocols byway knows. */
function upperHeaderMin(protocol: number): number {
  if (protocol === NextHeader.TCP) return 20;
  if (protocol === NextHeader.UDP) return 8;
  if (protocol === NextHeader.ICMPv6) return 4;
  return 0;
}

function isExtension(nh: number): boolean {
  return nh === NextHeader.HopByHop || nh === NextHeader.Routing || nh === NextHeader.Fragment || nh === NextHeader.DestinationOptions;
}

const DROP = (reason: ChainDropReason): ChainResult => ({ kind: 'drop', reason });

/**
 * The options of a hop-by-hop or destination options header at b[start..end). Returns undefined when they are all
 * acceptable (and sets `alert.value` for a Router Alert), else the result to give.
 */
function walkOptions(
  b: Uint8Array,
  start: number,
  end: number,
  dstMulticast: boolean,
  hopByHop: boolean,
  limits: ExtensionLimits,
  alert: { value: number | undefined },
): ChainResult | undefined {
  let o = start + 2;
  let pad = 0;
  let count = 0;
  while (o < end) {
    const type = b[o]!;
    if (type === 0) {
      // Pad1
      if (++pad > 7) return DROP('too-much-padding');
      o++;
      continue;
    }
    if (o + 2 > end) return DROP('bad-option');
    const len = b[o + 1]!;
    if (o + 2 + len > end) return DROP('bad-option');
    if (type === 1) {
      // PadN
      pad += 2 + len;
      if (pad > 7) return DROP('too-much-padding');
      for (let i = o + 2; i < o + 2 + len; i++) if (b[i] !== 0) return DROP('nonzero-padding');
      o += 2 + len;
      continue;
    }
    pad = 0;
    if (++count > limits.maxOptions) return DROP('too-many-options');
    if (hopByHop && type === 5 && len === 2) {
      alert.value = read16(b, o + 2); // Router Alert (RFC 2711): known, nothing to do for a host
    } else {
      // Unrecognized: the two high-order bits say what to do (RFC 8200 section 4.2).
      switch (type >>> 6) {
        case 0:
          break;
        case 1:
          return DROP('unknown-option');
        case 2:
          return { kind: 'param-problem', code: ParamProblemCode.UnrecognizedOption, pointer: o, reason: 'unknown-option' };
        default:
          if (dstMulticast) return DROP('unknown-option');
          return { kind: 'param-problem', code: ParamProblemCode.UnrecognizedOption, pointer: o, reason: 'unknown-option' };
      }
    }
    o += 2 + len;
  }
  return undefined;
}

/** Follow the extension-header chain of a checked packet (see the module comment). */
export function walkExtensionHeaders(p: Ipv6Packet, limits: ExtensionLimits = DEFAULT_EXTENSION_LIMITS): ChainResult {
  const b = p.buffer;
  const end = b.length;
  const dstMulticast = b[24] === 0xff;
  let nh = p.nextHeader;
  let nhField = IPV6_NEXT_HEADER_OFFSET;
  let o = IPV6_HEADER_LEN;
  let headers = 0;
  let atomic = false;
  let fragment: FragmentInfo | undefined;
  const alert = { value: undefined as number | undefined };

  while (isExtension(nh)) {
    if (++headers > limits.maxHeaders) return DROP('too-many-headers');
    if (nh === NextHeader.HopByHop && o !== IPV6_HEADER_LEN) {
      return { kind: 'param-problem', code: ParamProblemCode.UnrecognizedNextHeader, pointer: nhField, reason: 'hop-by-hop-not-first' };
    }
    const len = nh === NextHeader.Fragment ? FRAGMENT_HEADER_LEN : o + 2 <= end ? (b[o + 1]! + 1) * 8 : 8;
    if (o + len > end) {
      if (fragment !== undefined) {
        return { kind: 'param-problem', code: ParamProblemCode.IncompleteHeaderChain, pointer: 0, reason: 'incomplete-first-fragment' };
      }
      return DROP('truncated');
    }
    if (fragment === undefined) {
      // Headers after a first fragment's Fragment header are processed after reassembly: only their length counts.
      if (nh === NextHeader.HopByHop || nh === NextHeader.DestinationOptions) {
        const r = walkOptions(b, o, o + len, dstMulticast, nh === NextHeader.HopByHop, limits, alert);
        if (r !== undefined) return r;
      } else if (nh === NextHeader.Routing) {
        if (b[o + 3] !== 0) {
          return { kind: 'param-problem', code: ParamProblemCode.ErroneousHeaderField, pointer: o + 2, reason: 'routing-type' };
        }
      } else {
        if (atomic) return DROP('two-fragment-headers');
        const f = parseFragmentHeader(b, o);
        if (f.offset === 0 && !f.more) {
          atomic = true; // RFC 6946: an atomic fragment is processed in isolation, never reassembled
        } else {
          fragment = { headerOffset: o, nextHeaderFieldOffset: nhField, nextHeader: f.nextHeader, offset: f.offset, more: f.more, ident: f.ident };
          if (f.offset !== 0) return { kind: 'fragment', fragment };
        }
      }
    } else if (nh === NextHeader.Fragment) {
      return DROP('two-fragment-headers');
    }
    nhField = o;
    nh = b[o]!;
    o += len;
  }
  if (fragment !== undefined) {
    if (o + upperHeaderMin(nh) > end) {
      return { kind: 'param-problem', code: ParamProblemCode.IncompleteHeaderChain, pointer: 0, reason: 'incomplete-first-fragment' };
    }
    return { kind: 'fragment', fragment };
  }
  return { kind: 'upper', protocol: nh, offset: o, protocolFieldOffset: nhField, atomicFragment: atomic, routerAlert: alert.value };
}
