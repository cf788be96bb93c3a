/**
 * rtnetlink wire format (RFC 3549; linux/netlink.h, linux/rtnetlink.h, linux/neighbour.h, linux/if_addr.h): the
 * netlink message header, the four rtnetlink family headers byway reads (ifaddrmsg, rtmsg, ndmsg, ifinfomsg) and
 * their rtattr attributes.
 *
 * Netlink integers are in the host's byte order (little-endian on every machine byway runs on; checked once
 * below), while addresses inside attributes are in network order: IPv4 addresses come out as host numbers (the
 * same form as protocols/ipv4/address.ts) and MACs as views.
 *
 * Parsing never throws: a message or attribute whose lengths do not fit is skipped and counted in the
 * `NetlinkParseStats` passed in. Parsed reprs hold views (`subarray`) into the caller's buffer for byte fields
 * (a neighbour's MAC): valid until the caller reuses the buffer; whoever keeps them copies.
 * Encoders write into a caller buffer of exactly `…Len` bytes and return the length written.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function h16(b: Uint8Array, o: number): number {
  return LITTLE_ENDIAN ? b[o]! | (b[o + 1]! << 8) : (b[o]! << 8) | b[o + 1]!;
}
function h32(b: Uint8Array, o: number): number {
  return LITTLE_ENDIAN
    ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
    : ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function w16(b: Uint8Array, o: number, v: number): void {
  if (LITTLE_ENDIAN) (b[o] = v), (b[o + 1] = v >>> 8);
  else (b[o] = v >>> 8), (b[o + 1] = v);
}
function w32(b: Uint8Array, o: number, v: number): void {
  if (LITTLE_ENDIAN) (b[o] = v), (b[o + 1] = v >>> 8), (b[o + 2] = v >>> 16), (b[o + 3] = v >>> 24);
  else (b[o] = v >>> 24), (b[o + 1] = v >>> 16), (b[o + 2] = v >>> 8), (b[o + 3] = v);
}
/** A network-order IPv4 address at `o`, as a host number. */
function ip4(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** NLMSG_ALIGN / RTA_ALIGN: 4 bytes. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

// linux/netlink.h
export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

// linux/rtnetlink.h
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
/** Multicast group bits for sockaddr_nl.nl_groups. */
export const RTMGRP_LINK = 0x1;
export const RTMGRP_NEIGH = 0x4;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV6_ROUTE = 0x400;
/** IFA_F_TENTATIVE, IFA_F_DADFAILED (linux/if_addr.h): an IPv6 address not usable (yet, or ever). */
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_DADFAILED = 0x08;
const IFA_FLAGS = 8;
export const RT_TABLE_MAIN = 254;
export const RTN_UNICAST = 1;
export const RTM_F_CLONED = 0x200;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_METRICS = 8;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;
export const RTAX_MTU = 2;
// linux/if_addr.h
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
// linux/neighbour.h
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NTF_USE = 0x01;
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
/** States whose link-layer address can be used to send (the kernel's NUD_VALID minus NUD_NONE). */
export const NUD_USABLE = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;
// linux/if_link.h
export const IFLA_ADDRESS = 1;
export const IFLA_MTU = 4;

/** Family header sizes (struct ifaddrmsg, rtmsg, ndmsg, ifinfomsg). */
export const IFADDRMSG_LEN = 8;
export const RTMSG_LEN = 12;
export const NDMSG_LEN = 12;
export const IFINFOMSG_LEN = 16;
const RTA_HDRLEN = 4;

/** Counters for input that did not parse. */
export interface NetlinkParseStats {
  /** Messages whose header or family header did not fit. */
  malformedMessages: number;
  /** Attributes whose length did not fit (the rest of that message's attributes are skipped). */
  malformedAttributes: number;
}

export function newParseStats(): NetlinkParseStats {
  return { malformedMessages: 0, malformedAttributes: 0 };
}

/** One netlink message: header fields and a view of its payload (family header and attributes). */
export interface NlMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
  readonly payload: Uint8Array;
}

/**
 * Call `fn` for each message in one received datagram (several messages, NLMSG_ALIGNed). A header whose
 * nlmsg_len is below the header size or past the end stops the walk and is counted: nothing after it can be
 * framed. Returns the number of messages handed over.
 */
export function forEachMessage(buf: Uint8Array, stats: NetlinkParseStats, fn: (m: NlMessage) => void): number {
  let o = 0;
  let n = 0;
  while (o + NLMSG_HDRLEN <= buf.length) {
    const len = h32(buf, o);
    if (len < NLMSG_HDRLEN || o + len > buf.length) {
      stats.malformedMessages++;
      return n;
    }
    fn({ type: h16(buf, o + 4), flags: h16(buf, o + 6), seq: h32(buf, o + 8), pid: h32(buf, o + 12), payload: buf.subarray(o + NLMSG_HDRLEN, o + len) });
    n++;
    o += align4(len);
  }
  if (o < buf.length && buf.length - o >= 4) stats.malformedMessages++; // trailing bytes too short for a header
  return n;
}

/** NLMSG_ERROR's payload: the negative errno (0: an ACK) and the sequence number of the request it answers. */
export function parseError(payload: Uint8Array, stats: NetlinkParseStats): { readonly error: number; readonly seq: number } | undefined {
  if (payload.length < 4 + NLMSG_HDRLEN) {
    stats.malformedMessages++;
    return undefined;
  }
  return { error: h32(payload, 0) | 0, seq: h32(payload, 4 + 8) };
}

/**
 * Walk the rtattrs in `b` from `start`; `fn(type, value)` gets each attribute's type (nested/byte-order bits
 * masked off) and a view of its value. A bad length stops the walk (counted).
 */
export function forEachAttr(b: Uint8Array, start: number, stats: NetlinkParseStats, fn: (type: number, value: Uint8Array) => void): void {
  let o = start;
  while (o + RTA_HDRLEN <= b.length) {
    const len = h16(b, o);
    if (len < RTA_HDRLEN || o + len > b.length) {
      stats.malformedAttributes++;
      return;
    }
    fn(h16(b, o + 2) & 0x3fff, b.subarray(o + RTA_HDRLEN, o + len));
    o += align4(len);
  }
}

/** RTM_NEWADDR / RTM_DELADDR (IPv4 only: other families give undefined, uncounted). */
export interface AddrRepr {
  readonly family: number;
  readonly prefixLen: number;
  readonly flags: number;
  readonly scope: number;
  readonly ifindex: number;
  /** IFA_LOCAL when present (the interface's own address; on point-to-point links IFA_ADDRESS is the peer), else IFA_ADDRESS. */
  readonly address: number | undefined;
}

export function parseAddr(p: Uint8Array, stats: NetlinkParseStats): AddrRepr | undefined {
  const a = addrFields(p, stats, AF_INET, 4);
  if (a === undefined) return undefined;
  return { family: p[0]!, prefixLen: p[1]!, flags: p[2]!, scope: p[3]!, ifindex: h32(p, 4), address: a.address && ip4(a.address, 0) };
}

/**
 * An ifaddrmsg of `family`: IFA_LOCAL when present (on point-to-point links IFA_ADDRESS is the peer), else
 * IFA_ADDRESS, as a view of `alen` bytes, and IFA_FLAGS (32 bits) when present. Undefined for another family.
 */
function addrFields(p: Uint8Array, stats: NetlinkParseStats, family: number, alen: number): { address: Uint8Array | undefined; flags: number | undefined } | undefined {
  if (p.length < IFADDRMSG_LEN) {
    stats.malformedMessages++;
    return undefined;
  }
  if (p[0] !== family) return undefined;
  let address: Uint8Array | undefined;
  let local: Uint8Array | undefined;
  let flags: number | undefined;
  forEachAttr(p, IFADDRMSG_LEN, stats, (t, v) => {
    if (t === IFA_FLAGS && v.length >= 4) flags = h32(v, 0);
    if (v.length < alen) return;
    if (t === IFA_ADDRESS) address = v.subarray(0, alen);
    else if (t === IFA_LOCAL) local = v.subarray(0, alen);
  });
  return { address: local ?? address, flags };
}

/** RTM_NEWROUTE / RTM_DELROUTE (IPv4 only). */
export interface RouteRepr {
  readonly family: number;
  readonly dstLen: number;
  readonly tos: number;
  /** RTA_TABLE when present (tables above 255), else rtm_table. */
  readonly table: number;
  readonly protocol: number;
  readonly scope: number;
  readonly type: number;
  readonly flags: number;
  /** RTA_DST; 0 for the default route (no attribute). */
  readonly destination: number;
  readonly gateway: number | undefined;
  readonly oif: number | undefined;
  /** RTA_PRIORITY (the metric); 0 when absent. */
  readonly priority: number;
  readonly prefsrc: number | undefined;
  /** RTAX_MTU inside RTA_METRICS. */
  readonly mtu: number | undefined;
  /** True for an ECMP route (RTA_MULTIPATH): its next hops are not decoded. */
  readonly multipath: boolean;
}

export function parseRoute(p: Uint8Array, stats: NetlinkParseStats): RouteRepr | undefined {
  const r = routeFields(p, stats, AF_INET, 4);
  if (r === undefined) return undefined;
  const v4 = (v: Uint8Array | undefined): number | undefined => v && ip4(v, 0);
  return { ...r, destination: v4(r.destination) ?? 0, gateway: v4(r.gateway), prefsrc: v4(r.prefsrc) };
}

/** RTM_NEWROUTE / RTM_DELROUTE for AF_INET6: the same fields, addresses as views of 16 bytes (`::` for none). */
export type Route6Repr = Omit<RouteRepr, 'destination' | 'gateway' | 'prefsrc'> & {
  readonly destination: Uint8Array;
  readonly gateway: Uint8Array | undefined;
};

export function parseRoute6(p: Uint8Array, stats: NetlinkParseStats): Route6Repr | undefined {
  const r = routeFields(p, stats, AF_INET6, 16);
  if (r === undefined) return undefined;
  return { ...r, destination: r.destination ?? new Uint8Array(16) };
}

/** An rtmsg of `family` with its attributes; addresses as views of `alen` bytes. Undefined for another family. */
function routeFields(p: Uint8Array, stats: NetlinkParseStats, family: number, alen: number) {
  if (p.length < RTMSG_LEN) {
    stats.malformedMessages++;
    return undefined;
  }
  if (p[0] !== family) return undefined;
  let table = p[4]!;
  let destination: Uint8Array | undefined;
  let gateway: Uint8Array | undefined;
  let oif: number | undefined;
  let priority = 0;
  let prefsrc: Uint8Array | undefined;
  let mtu: number | undefined;
  let multipath = false;
  forEachAttr(p, RTMSG_LEN, stats, (t, v) => {
    if (t === RTA_METRICS) {
      forEachAttr(v, 0, stats, (mt, mv) => {
        if (mt === RTAX_MTU && mv.length >= 4) mtu = h32(mv, 0);
      });
      return;
    }
    if (t === RTA_MULTIPATH) {
      multipath = true;
      return;
    }
    if (v.length < 4) return;
    if (t === RTA_OIF) oif = h32(v, 0);
    else if (t === RTA_PRIORITY) priority = h32(v, 0);
    else if (t === RTA_TABLE) table = h32(v, 0);
    if (v.length < alen) return;
    if (t === RTA_DST) destination = v.subarray(0, alen);
    else if (t === RTA_GATEWAY) gateway = v.subarray(0, alen);
    else if (t === RTA_PREFSRC) prefsrc = v.subarray(0, alen);
  });
  const fields = { family: p[0]!, dstLen: p[1]!, tos: p[3]!, table, protocol: p[5]!, scope: p[6]!, type: p[7]!, flags: h32(p, 8) };
  return { ...fields, destination, gateway, oif, priority, prefsrc, mtu, multipath };
}

/** RTM_NEWNEIGH / RTM_DELNEIGH (IPv4 only). */
export interface NeighRepr {
  readonly family: number;
  readonly ifindex: number;
  /** NUD_* bits. */
  readonly state: number;
  readonly flags: number;
  readonly type: number;
  readonly destination: number | undefined;
  /** NDA_LLADDR: a view into the received buffer. */
  readonly lladdr: Uint8Array | undefined;
}

export function parseNeigh(p: Uint8Array, stats: NetlinkParseStats): NeighRepr | undefined {
  const n = neighFields(p, stats, AF_INET, 4);
  if (n === undefined) return undefined;
  return { family: p[0]!, ifindex: h32(p, 4) | 0, state: h16(p, 8), flags: p[10]!, type: p[11]!, destination: n.destination && ip4(n.destination, 0), lladdr: n.lladdr };
}

/** An ndmsg of `family`: NDA_DST as a view of `alen` bytes and NDA_LLADDR. Undefined for another family. */
function neighFields(p: Uint8Array, stats: NetlinkParseStats, family: number, alen: number): { destination: Uint8Array | undefined; lladdr: Uint8Array | undefined } | undefined {
  if (p.length < NDMSG_LEN) {
    stats.malformedMessages++;
    return undefined;
  }
  if (p[0] !== family) return undefined;
  let destination: Uint8Array | undefined;
  let lladdr: Uint8Array | undefined;
  forEachAttr(p, NDMSG_LEN, stats, (t, v) => {
    if (t === NDA_DST && v.length >= alen) destination = v.subarray(0, alen);
    else if (t === NDA_LLADDR) lladdr = v;
  });
  return { destination, lladdr };
}

/** RTM_NEWLINK / RTM_DELLINK. */
export interface LinkRepr {
  readonly ifindex: number;
  readonly type: number;
  readonly flags: number;
  readonly mtu: number | undefined;
  readonly address: Uint8Array | undefined;
}

export function parseLink(p: Uint8Array, stats: NetlinkParseStats): LinkRepr | undefined {
  if (p.length < IFINFOMSG_LEN) {
    stats.malformedMessages++;
    return undefined;
  }
  let mtu: number | undefined;
  let address: Uint8Array | undefined;
  forEachAttr(p, IFINFOMSG_LEN, stats, (t, v) => {
    if (t === IFLA_MTU && v.length >= 4) mtu = h32(v, 0);
    else if (t === IFLA_ADDRESS) address = v;
  });
  return { ifindex: h32(p, 4) | 0, type: h16(p, 2), flags: h32(p, 8), mtu, address };
}

function header(buf: Uint8Array, len: number, type: number, flags: number, seq: number): void {
  buf.fill(0, 0, len);
  w32(buf, 0, len);
  w16(buf, 4, type);
  w16(buf, 6, flags);
  w32(buf, 8, seq);
  // nlmsg_pid 0: the kernel fills in the socket's port id.
}

/** Size of a dump request for `type` (RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH or RTM_GETLINK). */
export function dumpRequestLen(type: number): number {
  const fam = type === RTM_GETADDR ? IFADDRMSG_LEN : type === RTM_GETLINK ? IFINFOMSG_LEN : RTMSG_LEN; // rtmsg and ndmsg are both 12
  return NLMSG_HDRLEN + fam;
}

/** A dump request (NLM_F_REQUEST | NLM_F_DUMP) for one table's IPv4 (or `family`'s) entries. Returns its length. */
export function emitDumpRequest(type: number, seq: number, buf: Uint8Array, family = AF_INET): number {
  const len = dumpRequestLen(type);
  header(buf, len, type, NLM_F_REQUEST | NLM_F_DUMP, seq);
  buf[NLMSG_HDRLEN] = type === RTM_GETLINK ? 0 : family; // the first byte of every family header is the family
  return len;
}

/** RTM_NEWNEIGH with NTF_USE: NLMSG_HDRLEN + ndmsg + NDA_DST (4 + 4). */
export const NEIGH_USE_LEN = NLMSG_HDRLEN + NDMSG_LEN + 8;

/**
 * "Resolve `ip` on `ifindex` as if there were a packet for it": RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE,
 * ndm_flags NTF_USE (the kernel runs neigh_event_send: an ARP request for a new or stale entry), with NLM_F_ACK
 * so a refusal comes back as an error. ndm_state stays NUD_NONE: with NTF_USE the kernel ignores it, and a
 * permanent state would exempt the created entry from garbage collection. Returns the length.
 */
export function emitNeighUse(ip: number, ifindex: number, seq: number, buf: Uint8Array): number {
  const a = neighUseHeader(AF_INET, 4, ifindex, seq, buf);
  buf[a] = ip >>> 24;
  buf[a + 1] = ip >>> 16;
  buf[a + 2] = ip >>> 8;
  buf[a + 3] = ip;
  return NEIGH_USE_LEN;
}

/** The same request for an IPv6 neighbour (the kernel sends a neighbor solicitation): NDA_DST of 16 bytes. */
export const NEIGH_USE6_LEN = NLMSG_HDRLEN + NDMSG_LEN + 20;

export function emitNeighUse6(ip: Uint8Array, ifindex: number, seq: number, buf: Uint8Array): number {
  buf.set(ip.subarray(0, 16), neighUseHeader(AF_INET6, 16, ifindex, seq, buf));
  return NEIGH_USE6_LEN;
}

/** RTM_NEWNEIGH NTF_USE's header and ndmsg for an NDA_DST of `alen` bytes; returns where the address goes. */
function neighUseHeader(family: number, alen: number, ifindex: number, seq: number, buf: Uint8Array): number {
  header(buf, NLMSG_HDRLEN + NDMSG_LEN + 4 + alen, RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, seq);
  const o = NLMSG_HDRLEN;
  buf[o] = family;
  w32(buf, o + 4, ifindex);
  buf[o + 10] = NTF_USE;
  w16(buf, o + NDMSG_LEN, 4 + alen);
  w16(buf, o + NDMSG_LEN + 2, NDA_DST);
  return o + NDMSG_LEN + 4;
}

/** RTM_NEWADDR / RTM_DELADDR for AF_INET6 (other families: undefined, uncounted). `address` is a view. */
export interface Addr6Repr {
  readonly prefixLen: number;
  /** ifa_flags, or IFA_FLAGS (32 bits) when present. */
  readonly flags: number;
  readonly scope: number;
  readonly ifindex: number;
  readonly address: Uint8Array | undefined;
}

export function parseAddr6(p: Uint8Array, stats: NetlinkParseStats): Addr6Repr | undefined {
  const a = addrFields(p, stats, AF_INET6, 16);
  if (a === undefined) return undefined;
  return { prefixLen: p[1]!, flags: a.flags ?? p[2]!, scope: p[3]!, ifindex: h32(p, 4), address: a.address };
}

/** RTM_NEWNEIGH / RTM_DELNEIGH for AF_INET6: `destination` and `lladdr` are views. */
export interface Neigh6Repr {
  readonly ifindex: number;
  readonly state: number;
  readonly destination: Uint8Array | undefined;
  readonly lladdr: Uint8Array | undefined;
}

export function parseNeigh6(p: Uint8Array, stats: NetlinkParseStats): Neigh6Repr | undefined {
  const n = neighFields(p, stats, AF_INET6, 16);
  if (n === undefined) return undefined;
  return { ifindex: h32(p, 4) | 0, state: h16(p, 8), destination: n.destination, lladdr: n.lladdr };
}
