/**
 * IPv6 addresses (RFC 4291) as 16-byte Uint8Arrays in network order, with strict text parsing and RFC 5952
 * canonical formatting.
 *
 * Parsing accepts what RFC 4291 section 2.2 allows: eight groups of 1-4 hex digits, one `::` standing for one or
 * more zero groups, and a dotted-quad IPv4 address as the last 32 bits. It returns undefined for anything else
 * (never throws). A zone id (`fe80::1%eth0`, RFC 4007 section 11) is split off only by `parseIpv6WithZone`.
 * Formatting follows RFC 5952: lowercase, no leading zeros, `::` for the longest run of two or more zero groups
 * (the first one on a tie), and IPv4-mapped addresses as `::ffff:a.b.c.d` (section 5), as Node prints them.
 * Helpers return fresh arrays; nothing keeps a reference to its argument.
 */
import { parseIpv4 } from '../ipv4/address.js';

export type Ipv6Address = Uint8Array;

export const IPV6_ADDRESS_LEN = 16;

function fromWords(...w: number[]): Ipv6Address {
  const a = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    a[i * 2] = (w[i] ?? 0) >>> 8;
    a[i * 2 + 1] = w[i] ?? 0;
  }
  return a;
}

/** `::` */
export const IPV6_UNSPECIFIED: Ipv6Address = new Uint8Array(16);
/** `::1` */
export const IPV6_LOOPBACK: Ipv6Address = fromWords(0, 0, 0, 0, 0, 0, 0, 1);
/** `ff02::1`, all nodes on the link (RFC 4291 section 2.7.1). */
export const IPV6_ALL_NODES: Ipv6Address = fromWords(0xff02, 0, 0, 0, 0, 0, 0, 1);
/** `ff02::2`, all routers on the link. */
export const IPV6_ALL_ROUTERS: Ipv6Address = fromWords(0xff02, 0, 0, 0, 0, 0, 0, 2);

/** Scope values (RFC 4291 section 2.7, RFC 7346). */
export const Ipv6Scope = {
  InterfaceLocal: 1,
  LinkLocal: 2,
  AdminLocal: 4,
  SiteLocal: 5,
  OrganizationLocal: 8,
  Global: 14,
} as const;

const GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseGroups(text: string, out: number[], allowIpv4Last: boolean): boolean {
  if (text === '') return true;
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (GROUP.test(p)) {
      out.push(parseInt(p, 16));
    } else if (allowIpv4Last && i === parts.length - 1 && p.includes('.')) {
      const v4 = parseIpv4(p);
      if (v4 === undefined) return false;
      out.push(v4 >>> 16, v4 & 0xffff);
    } else {
      return false;
    }
  }
  return true;
}

/** Text to address, or undefined when malformed (a zone id is malformed here: see `parseIpv6WithZone`). */
export function parseIpv6(text: string): Ipv6Address | undefined {
  if (typeof text !== 'string' || text.length < 2 || text.length > 45) return undefined;
  const dc = text.indexOf('::');
  const head: number[] = [];
  const tail: number[] = [];
  if (dc < 0) {
    if (!parseGroups(text, head, true) || head.length !== 8) return undefined;
    return fromWords(...head);
  }
  if (text.indexOf('::', dc + 1) >= 0) return undefined; // at most one '::' (and no ':::')
  const left = text.slice(0, dc);
  const right = text.slice(dc + 2);
  if (!parseGroups(left, head, false) || !parseGroups(right, tail, true)) return undefined;
  // '::' stands for at least one zero group (RFC 4291 2.2; RFC 5952 4.2.2 only says not to *write* it so).
  if (head.length + tail.length > 7) return undefined;
  const words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  return fromWords(...words);
}

export interface Ipv6WithZone {
  readonly address: Ipv6Address;
  /** The zone id after '%' (an interface name or index), or undefined. */
  readonly zone: string | undefined;
}

/** `fe80::1%eth0` -> address and zone. An empty zone (`fe80::1%`) is malformed. */
export function parseIpv6WithZone(text: string): Ipv6WithZone | undefined {
  if (typeof text !== 'string') return undefined;
  const pct = text.indexOf('%');
  if (pct < 0) {
    const address = parseIpv6(text);
    return address === undefined ? undefined : { address, zone: undefined };
  }
  const zone = text.slice(pct + 1);
  if (zone.length === 0 || zone.includes('%')) return undefined;
  const address = parseIpv6(text.slice(0, pct));
  return address === undefined ? undefined : { address, zone };
}

/** RFC 5952 canonical text. */
export function formatIpv6(a: Ipv6Address): string {
  if (isIpv4Mapped(a)) return `::ffff:${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((a[i * 2]! << 8) | a[i * 2 + 1]!);
  // Longest run of zero groups, length >= 2 (RFC 5952 4.2.2), first one on a tie (4.2.3).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(w);
  return `${hex(w.slice(0, bestStart))}::${hex(w.slice(bestStart + bestLen))}`;
}

export function ipv6Equals(a: Ipv6Address, b: Ipv6Address): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A compact map key (32 hex digits). */
export function ipv6Key(a: Ipv6Address): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += (a[i]! < 16 ? '0' : '') + a[i]!.toString(16);
  return s;
}

export function isUnspecified(a: Ipv6Address): boolean {
  return ipv6Equals(a, IPV6_UNSPECIFIED);
}

export function isLoopback(a: Ipv6Address): boolean {
  return ipv6Equals(a, IPV6_LOOPBACK);
}

/** ff00::/8 */
export function isMulticast(a: Ipv6Address): boolean {
  return a[0] === 0xff;
}

/** fe80::/10, link-local unicast. */
export function isLinkLocal(a: Ipv6Address): boolean {
  return a[0] === 0xfe && (a[1]! & 0xc0) === 0x80;
}

/** ff02::/16, link-local multicast. */
export function isLinkLocalMulticast(a: Ipv6Address): boolean {
  return a[0] === 0xff && (a[1]! & 0x0f) === Ipv6Scope.LinkLocal;
}

/** fc00::/7, unique local (RFC 4193). Global scope, but not routed on the Internet. */
export function isUniqueLocal(a: Ipv6Address): boolean {
  return (a[0]! & 0xfe) === 0xfc;
}

/** ::ffff:0:0/96 (RFC 4291 section 2.5.5.2). */
export function isIpv4Mapped(a: Ipv6Address): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/** ::ffff:a.b.c.d for an IPv4 address given as an unsigned 32-bit number. */
export function ipv4Mapped(v4: number): Ipv6Address {
  return fromWords(0, 0, 0, 0, 0, 0xffff, v4 >>> 16, v4 & 0xffff);
}

/** The IPv4 address inside an IPv4-mapped address, or undefined. */
export function mappedIpv4(a: Ipv6Address): number | undefined {
  return isIpv4Mapped(a) ? ((a[12]! << 24) | (a[13]! << 16) | (a[14]! << 8) | a[15]!) >>> 0 : undefined;
}

/**
 * The address's scope: a multicast address's scope field (RFC 4291 2.7); link-local unicast and the loopback
 * address are link-local (RFC 6724 section 3.1); the deprecated fec0::/10 is site-local; everything else, unique
 * local addresses included (RFC 4193 section 3.3), is global. The unspecified address has no scope: 0.
 */
export function ipv6Scope(a: Ipv6Address): number {
  if (isMulticast(a)) return a[1]! & 0x0f;
  if (isLinkLocal(a) || isLoopback(a)) return Ipv6Scope.LinkLocal;
  if (isUnspecified(a)) return 0;
  if (a[0] === 0xfe && (a[1]! & 0xc0) === 0xc0) return Ipv6Scope.SiteLocal;
  return Ipv6Scope.Global;
}

/** ff02::1:ffXX:XXXX, the solicited-node multicast group of `a` (RFC 4291 section 2.7.1). */
export function solicitedNodeMulticast(a: Ipv6Address): Ipv6Address {
  const m = fromWords(0xff02, 0, 0, 0, 0, 1, 0xff00, 0);
  m[13] = a[13]!;
  m[14] = a[14]!;
  m[15] = a[15]!;
  return m;
}

/** Whether `m` is some address's solicited-node multicast group (ff02::1:ff00:0/104). */
export function isSolicitedNodeMulticast(m: Ipv6Address): boolean {
  const prefix = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff];
  for (let i = 0; i < prefix.length; i++) if (m[i] !== prefix[i]) return false;
  return true;
}

/** The Ethernet address a multicast IPv6 address maps to: 33:33 and its last 32 bits (RFC 2464 section 7). */
export function multicastMac(a: Ipv6Address): Uint8Array {
  return Uint8Array.of(0x33, 0x33, a[12]!, a[13]!, a[14]!, a[15]!);
}

/** The modified EUI-64 interface identifier of a 48-bit MAC (RFC 4291 appendix A): 8 bytes. */
export function eui64InterfaceId(mac: Uint8Array): Uint8Array {
  return Uint8Array.of(mac[0]! ^ 0x02, mac[1]!, mac[2]!, 0xff, 0xfe, mac[3]!, mac[4]!, mac[5]!);
}

/** A /64 prefix's first 8 bytes followed by an 8-byte interface identifier. */
export function withInterfaceId(prefix: Ipv6Address, iid: Uint8Array): Ipv6Address {
  const a = new Uint8Array(16);
  a.set(prefix.subarray(0, 8));
  a.set(iid.subarray(0, 8), 8);
  return a;
}

/** fe80::/64 plus the interface identifier (RFC 4862 section 5.3). */
export function linkLocalAddress(iid: Uint8Array): Ipv6Address {
  return withInterfaceId(fromWords(0xfe80), iid);
}

export interface Ipv6Cidr {
  readonly address: Ipv6Address;
  readonly prefixLen: number;
}

/** "fd00::1/64" -> { address, prefixLen }; a bare address is a /128; undefined when malformed. */
export function parseIpv6Cidr(text: string): Ipv6Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) {
    const address = parseIpv6(text);
    return address === undefined ? undefined : { address, prefixLen: 128 };
  }
  const address = parseIpv6(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (address === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return undefined;
  const prefixLen = Number(lenText);
  if (prefixLen > 128) return undefined;
  return { address, prefixLen };
}

/** Whether the first `prefixLen` bits of `a` and `b` agree. */
export function samePrefix(a: Ipv6Address, b: Ipv6Address, prefixLen: number): boolean {
  const whole = prefixLen >>> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const bits = prefixLen & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

export function ipv6CidrContains(cidr: Ipv6Cidr, a: Ipv6Address): boolean {
  return samePrefix(cidr.address, a, cidr.prefixLen);
}

/** The prefix with its host bits cleared. */
export function ipv6NetworkOf(cidr: Ipv6Cidr): Ipv6Address {
  const a = new Uint8Array(16);
  const whole = cidr.prefixLen >>> 3;
  a.set(cidr.address.subarray(0, whole));
  const bits = cidr.prefixLen & 7;
  if (bits !== 0) a[whole] = cidr.address[whole]! & ((0xff << (8 - bits)) & 0xff);
  return a;
}
