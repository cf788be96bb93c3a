/**
 * ICMPv6 (RFC 4443) messages: echo request/reply, destination unreachable, packet too big, time exceeded and
 * parameter problem. Other types (NDP's among them: protocols/icmpv6/wire-ndp.ts reads those) parse as 'other' so
 * they can be counted or passed on. The checksum covers the IPv6 pseudo-header (RFC 4443 section 2.3, RFC 8200
 * section 8.1), so verifying and emitting take the packet's source and destination.
 * `Icmpv6Packet.checked` wants 8 bytes (every message RFC 4443 and RFC 4861 define has them); nothing throws on
 * wire input. Repr `data`/`quoted` are views into the caller's buffer: valid only as long as that buffer is.
 */
import { read16, read32, write16, write32 } from '../util/bytes.js';
import { finish, onesSum } from '../util/checksum.js';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, NextHeader, ipv6PseudoHeaderSum } from '../ipv6/wire.js';

export const ICMPV6_HEADER_LEN = 8;

export const Icmpv6Type = {
  DestUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParameterProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  Redirect: 137,
} as const;

/** RFC 4443 section 3.1. */
export const Icmpv6UnreachableCode = {
  NoRoute: 0,
  AdminProhibited: 1,
  BeyondScope: 2,
  Address: 3,
  Port: 4,
  SourcePolicy: 5,
  RejectRoute: 6,
} as const;

/** RFC 4443 section 3.3. */
export const Icmpv6TimeExceededCode = { HopLimit: 0, Reassembly: 1 } as const;

/** Most of the invoking packet an error may quote: the error must fit in the minimum MTU (RFC 4443 2.4(c)). */
export const ICMPV6_MAX_QUOTE = IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;

export type Icmpv6Repr =
  | { readonly kind: 'echo-request' | 'echo-reply'; readonly ident: number; readonly seq: number; readonly data: Uint8Array }
  | { readonly kind: 'dest-unreachable'; readonly code: number; readonly quoted: Uint8Array }
  /** RFC 4443 3.2, RFC 8201: the MTU of the next-hop link. */
  | { readonly kind: 'packet-too-big'; readonly mtu: number; readonly quoted: Uint8Array }
  | { readonly kind: 'time-exceeded'; readonly code: number; readonly quoted: Uint8Array }
  /** RFC 4443 3.4: `pointer` is the offset of the offending byte in the invoking packet. */
  | { readonly kind: 'param-problem'; readonly code: number; readonly pointer: number; readonly quoted: Uint8Array }
  | { readonly kind: 'other'; readonly type: number; readonly code: number; readonly rest: number; readonly data: Uint8Array };

export class Icmpv6Packet {
  private constructor(readonly buffer: Uint8Array) {}

  static checked(buf: Uint8Array): Icmpv6Packet | undefined {
    return buf.length < ICMPV6_HEADER_LEN ? undefined : new Icmpv6Packet(buf);
  }

  get type(): number {
    return this.buffer[0]!;
  }
  get code(): number {
    return this.buffer[1]!;
  }
  get checksumField(): number {
    return read16(this.buffer, 2);
  }
  /** Bytes 4..7, whose meaning depends on the type. */
  get rest(): number {
    return read32(this.buffer, 4);
  }
  get body(): Uint8Array {
    return this.buffer.subarray(ICMPV6_HEADER_LEN);
  }
  /** Error messages have types 0-127 (RFC 4443 section 2.1). */
  get isError(): boolean {
    return this.buffer[0]! < 128;
  }
  /** The sum over the pseudo-header and the whole message, checksum field included, is 0xffff. */
  verifyChecksum(src: Uint8Array, dst: Uint8Array): boolean {
    const b = this.buffer;
    return onesSum(b, 0, b.length, ipv6PseudoHeaderSum(src, dst, b.length, NextHeader.ICMPv6)) === 0xffff;
  }
}

export function parseIcmpv6(p: Icmpv6Packet): Icmpv6Repr {
  const type = p.type;
  const code = p.code;
  const rest = p.rest;
  switch (type) {
    case Icmpv6Type.EchoRequest:
    case Icmpv6Type.EchoReply:
      if (code === 0) return { kind: type === Icmpv6Type.EchoRequest ? 'echo-request' : 'echo-reply', ident: rest >>> 16, seq: rest & 0xffff, data: p.body };
      break;
    // The Unused fields, and Packet Too Big's code, are "ignored by the receiver" (RFC 4443 3.1-3.3): not re-emitted.
    case Icmpv6Type.DestUnreachable:
      return { kind: 'dest-unreachable', code, quoted: p.body };
    case Icmpv6Type.PacketTooBig:
      return { kind: 'packet-too-big', mtu: rest, quoted: p.body };
    case Icmpv6Type.TimeExceeded:
      return { kind: 'time-exceeded', code, quoted: p.body };
    case Icmpv6Type.ParameterProblem:
      return { kind: 'param-problem', code, pointer: rest, quoted: p.body };
  }
  // Includes an echo message with a non-zero code: kept whole.
  return { kind: 'other', type, code, rest, data: p.body };
}

export function icmpv6BufferLen(repr: Icmpv6Repr): number {
  return ICMPV6_HEADER_LEN + ('quoted' in repr ? repr.quoted.length : repr.data.length);
}

/**
 * Write the message at buf[offset..]. With `src` and `dst` the checksum is computed over the pseudo-header; without
 * them (a device that offloads it) the field is left zero. Returns the message length.
 */
export function emitIcmpv6(repr: Icmpv6Repr, buf: Uint8Array, offset = 0, src?: Uint8Array, dst?: Uint8Array): number {
  let type: number;
  let code = 0;
  let rest = 0;
  let body: Uint8Array;
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      type = repr.kind === 'echo-request' ? Icmpv6Type.EchoRequest : Icmpv6Type.EchoReply;
      rest = ((repr.ident & 0xffff) << 16) | (repr.seq & 0xffff);
      body = repr.data;
      break;
    case 'dest-unreachable':
      type = Icmpv6Type.DestUnreachable;
      code = repr.code;
      body = repr.quoted;
      break;
    case 'packet-too-big':
      type = Icmpv6Type.PacketTooBig;
      rest = repr.mtu;
      body = repr.quoted;
      break;
    case 'time-exceeded':
      type = Icmpv6Type.TimeExceeded;
      code = repr.code;
      body = repr.quoted;
      break;
    case 'param-problem':
      type = Icmpv6Type.ParameterProblem;
      code = repr.code;
      rest = repr.pointer;
      body = repr.quoted;
      break;
    default:
      type = repr.type;
      code = repr.code;
      rest = repr.rest;
      body = repr.data;
  }
  const len = ICMPV6_HEADER_LEN + body.length;
  buf[offset] = type;
  buf[offset + 1] = code;
  write16(buf, offset + 2, 0);
  write32(buf, offset + 4, rest >>> 0);
  buf.set(body, offset + ICMPV6_HEADER_LEN);
  if (src !== undefined && dst !== undefined) fillIcmpv6Checksum(buf, offset, len, src, dst);
  return len;
}

/** Compute and write the checksum of the message at buf[offset, offset + len) (its field is read as zero). */
export function fillIcmpv6Checksum(buf: Uint8Array, offset: number, len: number, src: Uint8Array, dst: Uint8Array): void {
  write16(buf, offset + 2, 0);
  write16(buf, offset + 2, finish(onesSum(buf, offset, offset + len, ipv6PseudoHeaderSum(src, dst, len, NextHeader.ICMPv6))));
}

/** The part of an invoking packet an error quotes: as much as fits in a 1280-byte packet (RFC 4443 2.4(c)). */
export function icmpv6Quote(invoking: Uint8Array): Uint8Array {
  return invoking.subarray(0, Math.min(invoking.length, ICMPV6_MAX_QUOTE));
}
