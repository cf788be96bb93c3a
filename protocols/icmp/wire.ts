/**
 * ICMPv4 (RFC 792) messages byway sends and understands: echo request/reply, destination unreachable (including
 * fragmentation needed with the RFC 1191 next-hop MTU), time exceeded. Other types parse as 'other' so they can be
 * counted. The checksum covers the whole message. Repr `data`/`quoted` are views into the caller's buffer: valid
 * only as long as that buffer is; copy to keep.
 */
import { read16, read32, write16, write32 } from '../util/bytes.js';
import { checksum, onesSum } from '../util/checksum.js';

export const ICMP_HEADER_LEN = 8;

export const IcmpType = {
  EchoReply: 0,
  DestUnreachable: 3,
  EchoRequest: 8,
  TimeExceeded: 11,
} as const;

export const UnreachableCode = {
  Net: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  FragNeeded: 4,
  SourceRouteFailed: 5,
  AdminProhibited: 13,
} as const;

export type IcmpRepr =
  | { readonly kind: 'echo-request' | 'echo-reply'; readonly ident: number; readonly seq: number; readonly data: Uint8Array }
  | {
      readonly kind: 'dest-unreachable';
      readonly code: number;
      /** RFC 1191: the next-hop MTU for code 4 (0 from routers that predate it). */
      readonly nextHopMtu: number;
      /** The offending datagram's IP header and at least 8 bytes of its payload. */
      readonly quoted: Uint8Array;
    }
  | { readonly kind: 'time-exceeded'; readonly code: number; readonly quoted: Uint8Array }
  | { readonly kind: 'other'; readonly type: number; readonly code: number; readonly rest: number; readonly data: Uint8Array };

export class IcmpPacket {
  private constructor(readonly buffer: Uint8Array) {}

  static checked(buf: Uint8Array): IcmpPacket | undefined {
    return buf.length < ICMP_HEADER_LEN ? undefined : new IcmpPacket(buf);
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
    return this.buffer.subarray(ICMP_HEADER_LEN);
  }
  verifyChecksum(): boolean {
    return onesSum(this.buffer) === 0xffff;
  }
}

export function parseIcmp(p: IcmpPacket): IcmpRepr {
  const type = p.type;
  const rest = p.rest;
  switch (type) {
    case IcmpType.EchoRequest:
    case IcmpType.EchoReply:
      if (p.code === 0) {
        return {
          kind: type === IcmpType.EchoRequest ? 'echo-request' : 'echo-reply',
          ident: rest >>> 16,
          seq: rest & 0xffff,
          data: p.body,
        };
      }
      break;
    case IcmpType.DestUnreachable:
      return { kind: 'dest-unreachable', code: p.code, nextHopMtu: p.code === UnreachableCode.FragNeeded ? rest & 0xffff : 0, quoted: p.body };
    case IcmpType.TimeExceeded:
      return { kind: 'time-exceeded', code: p.code, quoted: p.body };
  }
  return { kind: 'other', type, code: p.code, rest, data: p.body };
}

export function icmpBufferLen(repr: IcmpRepr): number {
  return ICMP_HEADER_LEN + ('quoted' in repr ? repr.quoted.length : repr.data.length);
}

/** Write the message at buf[offset..], checksum included unless `computeChecksum` is false. Returns its length. */
export function emitIcmp(repr: IcmpRepr, buf: Uint8Array, offset = 0, computeChecksum = true): number {
  let type: number;
  let code: number;
  let rest: number;
  let body: Uint8Array;
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      type = repr.kind === 'echo-request' ? IcmpType.EchoRequest : IcmpType.EchoReply;
      code = 0;
      rest = ((repr.ident & 0xffff) << 16) | (repr.seq & 0xffff);
      body = repr.data;
      break;
    case 'dest-unreachable':
      type = IcmpType.DestUnreachable;
      code = repr.code;
      rest = repr.code === UnreachableCode.FragNeeded ? repr.nextHopMtu & 0xffff : 0;
      body = repr.quoted;
      break;
    case 'time-exceeded':
      type = IcmpType.TimeExceeded;
      code = repr.code;
      rest = 0;
      body = repr.quoted;
      break;
    default:
      type = repr.type;
      code = repr.code;
      rest = repr.rest;
      body = repr.data;
  }
  const len = ICMP_HEADER_LEN + body.length;
  buf[offset] = type;
  buf[offset + 1] = code;
  write16(buf, offset + 2, 0);
  write32(buf, offset + 4, rest >>> 0);
  buf.set(body, offset + ICMP_HEADER_LEN);
  if (computeChecksum) write16(buf, offset + 2, checksum(buf, offset, offset + len));
  return len;
}
