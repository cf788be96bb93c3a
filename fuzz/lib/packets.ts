/**
 * Packet surgery for the fuzzers: a reference Internet checksum (deliberately naive and independent of
 * protocols/util/checksum.ts, so it can judge it), fix-ups that make a mutated frame get past the stack's
 * checks (retarget addresses, recompute checksums), builders for crafted frames, and `validateEmitted`, the
 * oracle for every frame the stack under test sends.
 */
import { read16, read32, write16, write32 } from '../../protocols/util/bytes.js';

export const ETH_LEN = 14;

/** RFC 1071 by the book: 16-bit big-endian words, odd byte padded, end-around carry. Not complemented. */
export function refSum(b: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i < end; i += 2) {
    sum += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
    sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function refPseudo(src: number, dst: number, proto: number, len: number): number {
  return refSum(Uint8Array.of(src >>> 24, src >>> 16, src >>> 8, src, dst >>> 24, dst >>> 16, dst >>> 8, dst, 0, proto, len >>> 8, len), 0, 12);
}

/** Where the IPv4 packet starts in an Ethernet frame (after an optional 802.1Q tag), or -1. */
export function ipOffset(frame: Uint8Array): number {
  if (frame.length < ETH_LEN) return -1;
  let type = read16(frame, 12);
  let off = ETH_LEN;
  if (type === 0x8100) {
    if (frame.length < ETH_LEN + 4) return -1;
    type = read16(frame, 16);
    off += 4;
  }
  return type === 0x0800 ? off : -1;
}

/** Bounds of the IPv4 header and packet at `o`, if the fixed header is there and says version 4. */
export function ipBounds(b: Uint8Array, o: number): { ihl: number; end: number } | undefined {
  if (o < 0 || b.length < o + 20 || b[o]! >>> 4 !== 4) return undefined;
  const ihl = (b[o]! & 0x0f) * 4;
  const total = read16(b, o + 2);
  const end = Math.min(b.length, o + Math.max(total, 0));
  if (ihl < 20 || o + ihl > end) return undefined;
  return { ihl, end };
}

export function fixIpChecksum(b: Uint8Array, o: number): void {
  if (o < 0 || b.length < o + 20) return;
  const ihl = Math.min((b[o]! & 0x0f) * 4, b.length - o);
  write16(b, o + 10, 0);
  write16(b, o + 10, ~refSum(b, o, o + ihl) & 0xffff);
}

/** Recompute the TCP, UDP or ICMP checksum of an unfragmented IPv4 packet at `o` (a no-op when it cannot). */
export function fixL4Checksum(b: Uint8Array, o: number): void {
  const ip = ipBounds(b, o);
  if (ip === undefined) return;
  if ((read16(b, o + 6) & 0x3fff) !== 0) return; // a fragment: the checksum covers the reassembled datagram
  const proto = b[o + 9]!;
  const l4 = o + ip.ihl;
  const len = ip.end - l4;
  const src = read32(b, o + 12);
  const dst = read32(b, o + 16);
  if (proto === 6 && len >= 18) {
    write16(b, l4 + 16, 0);
    write16(b, l4 + 16, ~refSum(b, l4, ip.end, refPseudo(src, dst, 6, len)) & 0xffff);
  } else if (proto === 17 && len >= 8) {
    const ulen = Math.min(read16(b, l4 + 4), len);
    write16(b, l4 + 6, 0);
    const c = ~refSum(b, l4, l4 + ulen, refPseudo(src, dst, 17, read16(b, l4 + 4))) & 0xffff;
    write16(b, l4 + 6, c === 0 ? 0xffff : c);
  } else if (proto === 1 && len >= 4) {
    write16(b, l4 + 2, 0);
    write16(b, l4 + 2, ~refSum(b, l4, ip.end) & 0xffff);
  }
}

export function writeMac(b: Uint8Array, o: number, mac: Uint8Array): void {
  if (b.length >= o + 6) b.set(mac.subarray(0, 6), o);
}

export function setIpAddrs(b: Uint8Array, o: number, src: number, dst: number): void {
  if (o < 0 || b.length < o + 20) return;
  write32(b, o + 12, src);
  write32(b, o + 16, dst);
}

export interface IpBuild {
  src: number;
  dst: number;
  proto: number;
  payload: Uint8Array;
  ttl?: number;
  ident?: number;
  /** The 16-bit flags + fragment-offset word (offset in 8-byte units). */
  flagsFrag?: number;
  tos?: number;
  options?: Uint8Array;
}

/** An IPv4 packet with a correct header checksum (options padded to 4 bytes). */
export function buildIpv4(p: IpBuild): Uint8Array {
  const opt = p.options ?? new Uint8Array(0);
  const optLen = (opt.length + 3) & ~3;
  const ihl = 20 + optLen;
  const b = new Uint8Array(ihl + p.payload.length);
  b[0] = 0x40 | (ihl >>> 2);
  b[1] = p.tos ?? 0;
  write16(b, 2, b.length);
  write16(b, 4, p.ident ?? 0);
  write16(b, 6, p.flagsFrag ?? 0);
  b[8] = p.ttl ?? 64;
  b[9] = p.proto;
  write32(b, 12, p.src);
  write32(b, 16, p.dst);
  b.set(opt, 20);
  b.set(p.payload, ihl);
  fixIpChecksum(b, 0);
  return b;
}

export function buildEthernet(dst: Uint8Array, src: Uint8Array, ethertype: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(ETH_LEN + payload.length);
  b.set(dst, 0);
  b.set(src, 6);
  write16(b, 12, ethertype);
  b.set(payload, ETH_LEN);
  return b;
}

/** A TCP segment (header with raw option bytes, padded) with its checksum for src -> dst. */
export function buildTcp(f: {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent?: number;
  options?: Uint8Array;
  payload?: Uint8Array;
  src: number;
  dst: number;
  /** Override the data offset (words); the bytes stay as built. */
  dataOffset?: number;
}): Uint8Array {
  const opt = f.options ?? new Uint8Array(0);
  const optLen = Math.min((opt.length + 3) & ~3, 40);
  const hl = 20 + optLen;
  const payload = f.payload ?? new Uint8Array(0);
  const b = new Uint8Array(hl + payload.length);
  write16(b, 0, f.srcPort);
  write16(b, 2, f.dstPort);
  write32(b, 4, f.seq >>> 0);
  write32(b, 8, f.ack >>> 0);
  b[12] = (f.dataOffset ?? hl >>> 2) << 4;
  b[13] = f.flags;
  write16(b, 14, f.window);
  write16(b, 18, f.urgent ?? 0);
  b.set(opt.subarray(0, optLen), 20);
  b.set(payload, hl);
  write16(b, 16, ~refSum(b, 0, b.length, refPseudo(f.src, f.dst, 6, b.length)) & 0xffff);
  return b;
}

/**
 * The oracle for what the stack under test sends: every frame must be well-formed Ethernet from our MAC carrying
 * ARP or IPv4 from one of our addresses, with correct checksums (IPv4 header, and TCP/UDP/ICMP unless fragmented),
 * a TTL, a total length that matches the frame, and TCP options that parse. Returns a description of the first
 * problem, or undefined.
 */
export function validateEmitted(frame: Uint8Array, ourMac: Uint8Array, ourIps: readonly number[], mtu: number): string | undefined {
  if (frame.length < ETH_LEN) return `runt frame of ${frame.length} bytes`;
  for (let i = 0; i < 6; i++) if (frame[6 + i] !== ourMac[i]) return 'source MAC is not ours';
  let type = read16(frame, 12);
  let o = ETH_LEN;
  if (type === 0x8100) {
    type = read16(frame, 16);
    o += 4;
  }
  if (type === 0x0806) {
    if (frame.length - o < 28) return 'short ARP';
    if (read16(frame, o) !== 1 || read16(frame, o + 2) !== 0x0800 || frame[o + 4] !== 6 || frame[o + 5] !== 4) return 'bad ARP header';
    const op = read16(frame, o + 6);
    if (op !== 1 && op !== 2) return `ARP operation ${op}`;
    if (!ourIps.includes(read32(frame, o + 14))) return 'ARP sender IP is not ours';
    return undefined;
  }
  if (type !== 0x0800) return `ethertype 0x${type.toString(16)}`;
  const len = frame.length - o;
  if (len < 20) return 'short IPv4';
  if (frame[o]! !== 0x45) return `IPv4 first byte 0x${frame[o]!.toString(16)}`;
  const total = read16(frame, o + 2);
  if (total !== len) return `IPv4 total length ${total} but ${len} bytes in the frame`;
  if (total > mtu) return `IPv4 packet of ${total} bytes above the MTU ${mtu}`;
  if (refSum(frame, o, o + 20) !== 0xffff) return 'bad IPv4 header checksum';
  if (frame[o + 8] === 0) return 'TTL 0';
  const src = read32(frame, o + 12);
  if (!ourIps.includes(src)) return `IPv4 source ${src >>> 0} is not ours`;
  const ff = read16(frame, o + 6);
  if ((ff & 0x8000) !== 0) return 'reserved IPv4 flag set';
  if ((ff & 0x2000) !== 0 && ((total - 20) & 7) !== 0) return 'non-final fragment payload not a multiple of 8';
  if ((ff & 0x3fff) !== 0) return undefined; // a fragment: the L4 checksum spans the datagram
  const dst = read32(frame, o + 16);
  const l4 = o + 20;
  const l4len = total - 20;
  const proto = frame[o + 9]!;
  if (proto === 6) {
    if (l4len < 20) return 'short TCP';
    const hl = (frame[l4 + 12]! >>> 4) * 4;
    if (hl < 20 || hl > l4len) return `TCP data offset ${hl}`;
    if (refSum(frame, l4, l4 + l4len, refPseudo(src, dst, 6, l4len)) !== 0xffff) return 'bad TCP checksum';
    if (read16(frame, l4) === 0 || read16(frame, l4 + 2) === 0) return 'TCP port 0';
    const flags = frame[l4 + 13]!;
    if ((flags & 0x02) !== 0 && (flags & 0x04) !== 0) return 'TCP SYN+RST';
    let i = l4 + 20;
    while (i < l4 + hl) {
      const k = frame[i]!;
      if (k === 0) break;
      if (k === 1) {
        i++;
        continue;
      }
      const ol = frame[i + 1]!;
      if (i + 1 >= l4 + hl || ol < 2 || i + ol > l4 + hl) return 'malformed TCP option';
      i += ol;
    }
    return undefined;
  }
  if (proto === 17) {
    if (l4len < 8) return 'short UDP';
    if (read16(frame, l4 + 4) !== l4len) return 'UDP length does not match';
    if (read16(frame, l4 + 6) === 0) return undefined;
    if (refSum(frame, l4, l4 + l4len, refPseudo(src, dst, 17, l4len)) !== 0xffff) return 'bad UDP checksum';
    return undefined;
  }
  if (proto === 1) {
    if (l4len < 8) return 'short ICMP';
    if (refSum(frame, l4, l4 + l4len) !== 0xffff) return 'bad ICMP checksum';
    return undefined;
  }
  return `IP protocol ${proto}`;
}
