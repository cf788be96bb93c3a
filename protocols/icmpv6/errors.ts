/**
 * When byway may send an ICMPv6 error (RFC 4443 section 2.4), sans-IO: the rule on which packets never draw an
 * error (2.4(e)), the rate limit every node must apply (2.4(f)), a token bucket on the virtual clock, and
 * `buildIcmpv6Error`, which makes the whole error packet. Nothing here throws on wire input or reads a clock: time
 * is the `now` argument (ms).
 */
import { ParamProblemCode, walkExtensionHeaders } from '../ipv6/wire-ext.js';
import { IPV6_HEADER_LEN, NextHeader, emitIpv6Header, type Ipv6Packet } from '../ipv6/wire.js';
import { Icmpv6Type, emitIcmpv6, icmpv6BufferLen, icmpv6Quote, type Icmpv6Repr } from './wire.js';

/** Whether the packet carries an ICMPv6 error message or a redirect (found through its extension headers). */
export function carriesIcmpv6ErrorOrRedirect(p: Ipv6Packet): boolean {
  const w = walkExtensionHeaders(p);
  if (w.kind !== 'upper' || w.protocol !== NextHeader.ICMPv6 || w.offset >= p.buffer.length) return false;
  const type = p.buffer[w.offset]!;
  return type < 128 || type === Icmpv6Type.Redirect;
}

/**
 * RFC 4443 2.4(e): no error in answer to an ICMPv6 error or a redirect; none to a packet sent to an IPv6
 * multicast address or as a link-layer multicast or broadcast (`linkMulticast`), except Packet Too Big and
 * Parameter Problem code 2 for an unrecognized option whose action bits ask for it; none when the source is not
 * one node's unicast address (unspecified or multicast).
 */
export function mayAnswerWithError(invoking: Ipv6Packet, type: number, code: number, linkMulticast: boolean): boolean {
  const src = invoking.buffer;
  let unspecified = true;
  for (let i = 8; i < 24; i++) if (src[i] !== 0) unspecified = false;
  if (unspecified || src[8] === 0xff) return false;
  const exempt = type === Icmpv6Type.PacketTooBig || (type === Icmpv6Type.ParameterProblem && code === ParamProblemCode.UnrecognizedOption);
  if (!exempt && (linkMulticast || invoking.buffer[24] === 0xff)) return false;
  return !carriesIcmpv6ErrorOrRedirect(invoking);
}

export interface Icmpv6RateLimitOptions {
  /** Errors per second in the long run. Default 1000 (Linux's icmp_msgs_per_sec). */
  ratePerSecond: number;
  /** Errors that may go out back to back. Default 50 (Linux's icmp_msgs_burst). */
  burst: number;
}

export const DEFAULT_ICMPV6_RATE_LIMIT: Icmpv6RateLimitOptions = { ratePerSecond: 1000, burst: 50 };

/** RFC 4443 2.4(f): a token bucket. `allow(now)` takes a token if one is there. */
export class Icmpv6RateLimiter {
  readonly options: Icmpv6RateLimitOptions;
  readonly stats = { allowed: 0, limited: 0 };
  private tokens: number;
  private last: number | undefined;

  constructor(options: Partial<Icmpv6RateLimitOptions> = {}) {
    this.options = { ...DEFAULT_ICMPV6_RATE_LIMIT, ...options };
    this.tokens = this.options.burst;
  }

  allow(now: number): boolean {
    if (this.last !== undefined && now > this.last) {
      this.tokens = Math.min(this.options.burst, this.tokens + ((now - this.last) * this.options.ratePerSecond) / 1000);
    }
    if (this.last === undefined || now > this.last) this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.stats.allowed++;
      return true;
    }
    this.stats.limited++;
    return false;
  }
}

/** The error to send: an ICMPv6 error repr without its quote. */
export type Icmpv6ErrorKind =
  | { readonly kind: 'dest-unreachable'; readonly code: number }
  | { readonly kind: 'packet-too-big'; readonly mtu: number }
  | { readonly kind: 'time-exceeded'; readonly code: number }
  | { readonly kind: 'param-problem'; readonly code: number; readonly pointer: number };

/**
 * A whole IPv6 packet (a new buffer) carrying `error` about `invoking` from `src` to `dst` (the invoking packet's
 * source), quoting as much of the invoking packet as keeps the error within 1280 bytes (RFC 4443 2.4(c)), with the
 * checksum computed. Whether to send it at all is `mayAnswerWithError` and the rate limiter's business.
 */
export function buildIcmpv6Error(error: Icmpv6ErrorKind, invoking: Uint8Array, src: Uint8Array, dst: Uint8Array, hopLimit = 64): Uint8Array {
  const repr = { ...error, quoted: icmpv6Quote(invoking) } as Icmpv6Repr;
  const len = icmpv6BufferLen(repr);
  const out = new Uint8Array(IPV6_HEADER_LEN + len);
  emitIpv6Header({ src, dst, nextHeader: NextHeader.ICMPv6, hopLimit, trafficClass: 0, flowLabel: 0, payloadLen: len }, out);
  emitIcmpv6(repr, out, IPV6_HEADER_LEN, src, dst);
  return out;
}
