/**
 * IPv4 addresses as unsigned 32-bit numbers (the fastest form to compare, hash and write), with strict text
 * parsing: dotted quad only, each part 0..255, no leading zeros beyond a single '0' (so "010.1.1.1" is rejected,
 * not read as octal the way inet_aton would).
 */

export type Ipv4Address = number;

export const IPV4_ANY = 0;
export const IPV4_BROADCAST = 0xffffffff;

export function parseIpv4(text: string): Ipv4Address | undefined {
  if (typeof text !== 'string') return undefined;
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function formatIpv4(a: Ipv4Address): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

export function prefixMask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

export interface Ipv4Cidr {
  readonly address: Ipv4Address;
  readonly prefixLen: number;
}

/** "10.0.0.1/24" -> { address, prefixLen }; undefined when malformed. */
export function parseCidr(text: string): Ipv4Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) {
    const address = parseIpv4(text);
    return address === undefined ? undefined : { address, prefixLen: 32 };
  }
  const address = parseIpv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (address === undefined || !/^(0|[1-9][0-9]?)$/.test(lenText)) return undefined;
  const prefixLen = Number(lenText);
  if (prefixLen > 32) return undefined;
  return { address, prefixLen };
}

export function cidrContains(cidr: Ipv4Cidr, a: Ipv4Address): boolean {
  const mask = prefixMask(cidr.prefixLen);
  return ((cidr.address & mask) >>> 0) === ((a & mask) >>> 0);
}

export function networkOf(cidr: Ipv4Cidr): Ipv4Address {
  return (cidr.address & prefixMask(cidr.prefixLen)) >>> 0;
}

/** The directed broadcast address of a prefix (for /31 and /32 there is none: returns undefined). */
export function directedBroadcast(cidr: Ipv4Cidr): Ipv4Address | undefined {
  if (cidr.prefixLen >= 31) return undefined;
  return (cidr.address | ~prefixMask(cidr.prefixLen)) >>> 0;
}

/** 224.0.0.0/4 */
export function isMulticast(a: Ipv4Address): boolean {
  return a >>> 28 === 0xe;
}

/** 127.0.0.0/8 */
/** The Ethernet MAC of IPv4 group `group` (into `out`): 01:00:5e and the group's low 23 bits (RFC 1112 6.4). */
export function ipv4MulticastMac(group: Ipv4Address, out = new Uint8Array(6)): Uint8Array {
  out[0] = 0x01;
  out[1] = 0x00;
  out[2] = 0x5e;
  out[3] = (group >>> 16) & 0x7f;
  out[4] = (group >>> 8) & 0xff;
  out[5] = group & 0xff;
  return out;
}

export function isLoopback(a: Ipv4Address): boolean {
  return a >>> 24 === 127;
}
