/**
 * IPv4 header (RFC 791). `Ipv4Packet.check` validates version, IHL (>= 5 words and within the buffer) and total
 * length (>= header, <= buffer; a buffer longer than total length is link padding and `payload` excludes it).
 * Options are skipped safely: they are inside IHL and never interpreted. The header checksum is verified
 * separately (`verifyChecksum`) because a device may already have done it.
 * Nothing throws on wire input; `emit` writes a 20-byte header (byway never sends options).
 */
import { read16, read32, write16, write32 } from '../util/bytes.js';
import { onesSum } from '../util/checksum.js';

export const IPV4_HEADER_LEN = 20;
export const IPV4_MAX_PACKET = 65535;

export const IpProtocol = { ICMP: 1, TCP: 6, UDP: 17 } as const;

const VER_IHL = 0;
const TOS = 1;
const TOTAL_LEN = 2;
const IDENT = 4;
const FLAGS_FRAG = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;

const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_MASK = 0x1fff;

export type Ipv4Check = 'ok' | 'truncated' | 'bad-version' | 'bad-ihl' | 'bad-length';

export interface Ipv4Repr {
  readonly src: number;
  readonly dst: number;
  readonly protocol: number;
  readonly ttl: number;
  /** The whole TOS byte: DSCP (6 bits) and ECN (2 bits). */
  readonly tos: number;
  readonly ident: number;
  readonly dontFragment: boolean;
  readonly moreFragments: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  readonly fragmentOffset: number;
  /** Length of the payload after the header. */
  readonly payloadLen: number;
}

export class Ipv4Packet {
  private constructor(readonly buffer: Uint8Array) {}

  static check(buf: Uint8Array): Ipv4Check {
    return Ipv4Packet.checkAt(buf, 0);
  }

  /**
   * `check` of the packet starting `off` bytes into `buf` (a received frame, the IPv4 header after the link
   * header): the receive hot path reads the header in place, with no view object per packet.
   */
  static checkAt(buf: Uint8Array, off: number, limit = buf.length): Ipv4Check {
    const avail = limit - off;
    if (avail < IPV4_HEADER_LEN) return 'truncated';
    if (buf[off + VER_IHL]! >>> 4 !== 4) return 'bad-version';
    const ihl = (buf[off + VER_IHL]! & 0x0f) * 4;
    if (ihl < IPV4_HEADER_LEN) return 'bad-ihl';
    if (ihl > avail) return 'truncated';
    const total = read16(buf, off + TOTAL_LEN);
    if (total < ihl) return 'bad-length';
    if (total > avail) return 'truncated';
    return 'ok';
  }

  /** A view over `buf` (trimmed to the total length), or undefined when `check` fails. */
  static checked(buf: Uint8Array): Ipv4Packet | undefined {
    if (Ipv4Packet.check(buf) !== 'ok') return undefined;
    return new Ipv4Packet(buf.subarray(0, read16(buf, TOTAL_LEN)));
  }

  /** A view over a buffer that was already checked (the receive hot path: no second pass). */
  static unchecked(buf: Uint8Array): Ipv4Packet {
    return new Ipv4Packet(buf.subarray(0, read16(buf, TOTAL_LEN)));
  }

  /** `unchecked` of the packet starting `off` bytes into `buf` (checked with `checkAt`): one view. */
  static uncheckedAt(buf: Uint8Array, off: number): Ipv4Packet {
    return new Ipv4Packet(buf.subarray(off, off + read16(buf, off + TOTAL_LEN)));
  }

  get headerLen(): number {
    return (this.buffer[VER_IHL]! & 0x0f) * 4;
  }
  get tos(): number {
    return this.buffer[TOS]!;
  }
  get totalLen(): number {
    return read16(this.buffer, TOTAL_LEN);
  }
  get ident(): number {
    return read16(this.buffer, IDENT);
  }
  get dontFragment(): boolean {
    return (read16(this.buffer, FLAGS_FRAG) & FLAG_DF) !== 0;
  }
  get moreFragments(): boolean {
    return (read16(this.buffer, FLAGS_FRAG) & FLAG_MF) !== 0;
  }
  /** The reserved (evil) bit, which RFC 791 says must be zero. */
  get reservedFlag(): boolean {
    return (this.buffer[FLAGS_FRAG]! & 0x80) !== 0;
  }
  get fragmentOffset(): number {
    return (read16(this.buffer, FLAGS_FRAG) & FRAG_MASK) * 8;
  }
  get isFragment(): boolean {
    return (read16(this.buffer, FLAGS_FRAG) & (FLAG_MF | FRAG_MASK)) !== 0;
  }
  get ttl(): number {
    return this.buffer[TTL]!;
  }
  get protocol(): number {
    return this.buffer[PROTOCOL]!;
  }
  get checksumField(): number {
    return read16(this.buffer, CHECKSUM);
  }
  get src(): number {
    return read32(this.buffer, SRC);
  }
  get dst(): number {
    return read32(this.buffer, DST);
  }
  get options(): Uint8Array {
    return this.buffer.subarray(IPV4_HEADER_LEN, this.headerLen);
  }
  get payload(): Uint8Array {
    return this.buffer.subarray(this.headerLen);
  }
  /** RFC 791 / RFC 1071: the header's ones'-complement sum including the checksum field is 0xffff. */
  verifyChecksum(): boolean {
    return onesSum(this.buffer, 0, this.headerLen) === 0xffff;
  }
}

export function parseIpv4Header(p: Ipv4Packet): Ipv4Repr {
  return {
    src: p.src,
    dst: p.dst,
    protocol: p.protocol,
    ttl: p.ttl,
    tos: p.tos,
    ident: p.ident,
    dontFragment: p.dontFragment,
    moreFragments: p.moreFragments,
    fragmentOffset: p.fragmentOffset,
    payloadLen: p.totalLen - p.headerLen,
  };
}

export function ipv4BufferLen(repr: Pick<Ipv4Repr, 'payloadLen'>): number {
  return IPV4_HEADER_LEN + repr.payloadLen;
}

/**
 * Write a 20-byte header at buf[offset..] for `repr`. The checksum is computed unless `computeChecksum` is false
 * (a device that offloads it), in which case the field is left zero. Returns the header length.
 */
export function emitIpv4Header(repr: Ipv4Repr, buf: Uint8Array, offset = 0, computeChecksum = true): number {
  writeIpv4Header(
    buf,
    offset,
    repr.src,
    repr.dst,
    repr.protocol,
    repr.payloadLen,
    repr.ttl,
    repr.ident,
    (repr.dontFragment ? FLAG_DF : 0) | (repr.moreFragments ? FLAG_MF : 0) | ((repr.fragmentOffset >>> 3) & FRAG_MASK),
    repr.tos,
    computeChecksum,
  );
  return IPV4_HEADER_LEN;
}

/** The transmit hot path: write a header from raw fields. `flagsFrag` is the 16-bit flags + offset word. */
export function writeIpv4Header(
  buf: Uint8Array,
  o: number,
  src: number,
  dst: number,
  protocol: number,
  payloadLen: number,
  ttl: number,
  ident: number,
  flagsFrag: number,
  tos: number,
  computeChecksum: boolean,
): void {
  buf[o + VER_IHL] = 0x45;
  buf[o + TOS] = tos;
  write16(buf, o + TOTAL_LEN, IPV4_HEADER_LEN + payloadLen);
  write16(buf, o + IDENT, ident);
  write16(buf, o + FLAGS_FRAG, flagsFrag);
  buf[o + TTL] = ttl;
  buf[o + PROTOCOL] = protocol;
  write16(buf, o + CHECKSUM, 0);
  write32(buf, o + SRC, src);
  write32(buf, o + DST, dst);
  if (computeChecksum) write16(buf, o + CHECKSUM, headerChecksum(tos, IPV4_HEADER_LEN + payloadLen, ident, flagsFrag, ttl, protocol, src, dst));
}

/**
 * RFC 791's header checksum of an option-less header, from the values written (RFC 1071: the ones'-complement sum
 * of its ten 16-bit words, the checksum word zero) without reading the bytes back: nine additions and a fold, no
 * loop or call (this runs once per packet sent).
 */
function headerChecksum(tos: number, total: number, ident: number, flagsFrag: number, ttl: number, protocol: number, src: number, dst: number): number {
  // Each word < 2^16: the sum of nine stays below 2^20, in a small integer.
  let sum = (0x4500 | (tos & 0xff)) + (total & 0xffff) + (ident & 0xffff) + (flagsFrag & 0xffff) + (((ttl & 0xff) << 8) | (protocol & 0xff));
  sum += (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  sum = (sum >>> 16) + (sum & 0xffff);
  sum += sum >>> 16;
  return ~sum & 0xffff;
}

export const IPV4_FLAG_DF = FLAG_DF;
export const IPV4_FLAG_MF = FLAG_MF;
