/**
 * The IPv6 fixed header (RFC 8200 section 3). `Ipv6Packet.check` validates the version and that the payload length
 * fits in the buffer; a buffer longer than 40 + payload length is link padding and `payload` excludes it. A
 * payload length of 0 is an empty payload (byway does not support RFC 2675 jumbograms, whose hop-by-hop option is
 * then unknown to the extension-header walker and handled by its action bits). Nothing throws on wire input.
 * `src`/`dst` are views into the packet: copy them to keep them past the packet's lifetime.
 *
 * Also here: the upper-layer pseudo-header sum (RFC 8200 section 8.1) for ICMPv6, UDP and TCP over IPv6.
 */
import { read16, read32, write16, write32 } from '../util/bytes.js';
import { fold, onesSum } from '../util/checksum.js';

export const IPV6_HEADER_LEN = 40;
/** RFC 8200 section 5: every link carries packets of 1280 bytes. */
export const IPV6_MIN_MTU = 1280;
/** The largest payload length the 16-bit field holds. */
export const IPV6_MAX_PAYLOAD = 65535;

/** Next Header values (IANA "Assigned Internet Protocol Numbers") that byway knows. */
export const NextHeader = {
  HopByHop: 0,
  TCP: 6,
  UDP: 17,
  Routing: 43,
  Fragment: 44,
  ESP: 50,
  AH: 51,
  ICMPv6: 58,
  NoNextHeader: 59,
  DestinationOptions: 60,
} as const;

const VER_TC_FL = 0;
const PAYLOAD_LEN = 4;
const NEXT_HEADER = 6;
const HOP_LIMIT = 7;
const SRC = 8;
const DST = 24;

/** Offsets of the fixed header's fields, for ICMPv6 parameter-problem pointers (RFC 4443 section 3.4). */
export const IPV6_PAYLOAD_LEN_OFFSET = PAYLOAD_LEN;
export const IPV6_NEXT_HEADER_OFFSET = NEXT_HEADER;

export type Ipv6Check = 'ok' | 'truncated' | 'bad-version';

export interface Ipv6Repr {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly nextHeader: number;
  readonly hopLimit: number;
  /** DSCP (6 bits) and ECN (2 bits). */
  readonly trafficClass: number;
  /** 20 bits (RFC 6437). */
  readonly flowLabel: number;
  /** Bytes after the fixed header, extension headers included. */
  readonly payloadLen: number;
}

export class Ipv6Packet {
  private constructor(readonly buffer: Uint8Array) {}

  static check(buf: Uint8Array): Ipv6Check {
    if (buf.length < IPV6_HEADER_LEN) return 'truncated';
    if (buf[VER_TC_FL]! >>> 4 !== 6) return 'bad-version';
    if (IPV6_HEADER_LEN + read16(buf, PAYLOAD_LEN) > buf.length) return 'truncated';
    return 'ok';
  }

  /** A view over `buf` trimmed to 40 + payload length, or undefined when `check` fails. */
  static checked(buf: Uint8Array): Ipv6Packet | undefined {
    if (Ipv6Packet.check(buf) !== 'ok') return undefined;
    return new Ipv6Packet(buf.subarray(0, IPV6_HEADER_LEN + read16(buf, PAYLOAD_LEN)));
  }

  get trafficClass(): number {
    return (read16(this.buffer, VER_TC_FL) >>> 4) & 0xff;
  }
  get flowLabel(): number {
    return read32(this.buffer, VER_TC_FL) & 0xfffff;
  }
  get payloadLen(): number {
    return read16(this.buffer, PAYLOAD_LEN);
  }
  get nextHeader(): number {
    return this.buffer[NEXT_HEADER]!;
  }
  get hopLimit(): number {
    return this.buffer[HOP_LIMIT]!;
  }
  get src(): Uint8Array {
    return this.buffer.subarray(SRC, SRC + 16);
  }
  get dst(): Uint8Array {
    return this.buffer.subarray(DST, DST + 16);
  }
  /** Everything after the fixed header: extension headers and the upper-layer packet. */
  get payload(): Uint8Array {
    return this.buffer.subarray(IPV6_HEADER_LEN);
  }
}

/** The repr; `src` and `dst` are views into the packet. */
export function parseIpv6Header(p: Ipv6Packet): Ipv6Repr {
  return {
    src: p.src,
    dst: p.dst,
    nextHeader: p.nextHeader,
    hopLimit: p.hopLimit,
    trafficClass: p.trafficClass,
    flowLabel: p.flowLabel,
    payloadLen: p.payloadLen,
  };
}

export function ipv6BufferLen(repr: Pick<Ipv6Repr, 'payloadLen'>): number {
  return IPV6_HEADER_LEN + repr.payloadLen;
}

/** Write the 40-byte header at buf[offset..]. Returns its length. */
export function emitIpv6Header(repr: Ipv6Repr, buf: Uint8Array, offset = 0): number {
  writeIpv6Header(buf, offset, repr.src, repr.dst, repr.nextHeader, repr.payloadLen, repr.hopLimit, repr.trafficClass, repr.flowLabel);
  return IPV6_HEADER_LEN;
}

/** The transmit path: write the header from raw fields. */
export function writeIpv6Header(
  buf: Uint8Array,
  o: number,
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  payloadLen: number,
  hopLimit: number,
  trafficClass = 0,
  flowLabel = 0,
): void {
  write32(buf, o + VER_TC_FL, ((6 << 28) | ((trafficClass & 0xff) << 20) | (flowLabel & 0xfffff)) >>> 0);
  write16(buf, o + PAYLOAD_LEN, payloadLen);
  buf[o + NEXT_HEADER] = nextHeader;
  buf[o + HOP_LIMIT] = hopLimit;
  for (let i = 0; i < 16; i++) buf[o + SRC + i] = src[i]!; // no view per packet (the transmit hot path)
  for (let i = 0; i < 16; i++) buf[o + DST + i] = dst[i]!;
}

/**
 * The ones'-complement sum (folded, not complemented) of the IPv6 pseudo-header (RFC 8200 section 8.1): source,
 * destination, the upper-layer packet length (32 bits) and the next header value (the upper-layer protocol, not
 * that of an extension header). Add it as `initial` to `onesSum` over the upper-layer packet.
 */
export function ipv6PseudoHeaderSum(src: Uint8Array, dst: Uint8Array, upperLen: number, protocol: number): number {
  const s = onesSum(src, 0, 16) + onesSum(dst, 0, 16);
  return fold(s + (upperLen >>> 16) + (upperLen & 0xffff) + protocol);
}
