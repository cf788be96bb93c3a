/**
 * UDP (RFC 768). `UdpPacket.check` validates the length field (>= 8, <= the IP payload); bytes after `length`
 * are ignored. The checksum covers the IPv4 pseudo-header; a zero checksum on receive means "none" (RFC 768) and
 * is accepted; on transmit a computed zero is sent as 0xffff. `payload` is a view into the caller's buffer.
 */
import { read16, write16 } from '../util/bytes.js';
import { finish, onesSum, pseudoHeaderSum } from '../util/checksum.js';
import { IpProtocol } from '../ipv4/wire.js';

export const UDP_HEADER_LEN = 8;

export type UdpCheck = 'ok' | 'truncated' | 'bad-length';

export interface UdpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
}

export class UdpPacket {
  private constructor(readonly buffer: Uint8Array) {}

  static check(buf: Uint8Array): UdpCheck {
    if (buf.length < UDP_HEADER_LEN) return 'truncated';
    const len = read16(buf, 4);
    if (len < UDP_HEADER_LEN) return 'bad-length';
    if (len > buf.length) return 'truncated';
    return 'ok';
  }

  static checked(buf: Uint8Array): UdpPacket | undefined {
    if (UdpPacket.check(buf) !== 'ok') return undefined;
    return new UdpPacket(buf.subarray(0, read16(buf, 4)));
  }

  get srcPort(): number {
    return read16(this.buffer, 0);
  }
  get dstPort(): number {
    return read16(this.buffer, 2);
  }
  get length(): number {
    return read16(this.buffer, 4);
  }
  get checksumField(): number {
    return read16(this.buffer, 6);
  }
  get payload(): Uint8Array {
    return this.buffer.subarray(UDP_HEADER_LEN);
  }
  /** True when the checksum is absent (zero) or correct for the given IPv4 addresses. */
  verifyChecksum(src: number, dst: number): boolean {
    if (this.checksumField === 0) return true;
    const sum = onesSum(this.buffer, 0, this.buffer.length, pseudoHeaderSum(src, dst, IpProtocol.UDP, this.buffer.length));
    return sum === 0xffff;
  }
}

export function parseUdp(p: UdpPacket): UdpRepr {
  return { srcPort: p.srcPort, dstPort: p.dstPort, payload: p.payload };
}

export function udpBufferLen(repr: Pick<UdpRepr, 'payload'>): number {
  return UDP_HEADER_LEN + repr.payload.length;
}

/**
 * Write header and payload at buf[offset..]. With `computeChecksum` the checksum over the pseudo-header is filled
 * (0 becomes 0xffff); without it the field is left zero for a device to fill. Returns the datagram length.
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, offset: number, src: number, dst: number, computeChecksum = true): number {
  const len = UDP_HEADER_LEN + repr.payload.length;
  buf.set(repr.payload, offset + UDP_HEADER_LEN);
  writeUdpHeader(buf, offset, repr.srcPort, repr.dstPort, len, src, dst, computeChecksum);
  return len;
}

/** The transmit hot path: the payload is already in place at buf[offset+8 .. offset+len). */
export function writeUdpHeader(
  buf: Uint8Array,
  offset: number,
  srcPort: number,
  dstPort: number,
  len: number,
  src: number,
  dst: number,
  computeChecksum: boolean,
): void {
  write16(buf, offset, srcPort);
  write16(buf, offset + 2, dstPort);
  write16(buf, offset + 4, len);
  write16(buf, offset + 6, 0);
  if (computeChecksum) {
    const c = finish(onesSum(buf, offset, offset + len, pseudoHeaderSum(src, dst, IpProtocol.UDP, len)));
    write16(buf, offset + 6, c === 0 ? 0xffff : c);
  }
}
