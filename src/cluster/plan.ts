/**
 * The plan of a byway cluster: N stacks (workers) sharing one address and MAC over one link, each receiving the
 * flows the link's steering gives its queue (an AF_PACKET fanout member with byway's steering program,
 * drivers/af-packet/fanout.ts). No I/O here: what each worker's stack is configured with, and the kernel's fanout
 * member order, so the primary can compute the program's slot table. Used by the worker_threads cluster
 * (cluster.ts) and by the virtual-clock tests, so both run the same rules.
 *
 * - Ports: a listening TCP port and a bound UDP port exist in every worker (each program listens); each worker
 *   takes its ephemeral ports (TCP connect, UDP bind(0)) from its own slice of the ephemeral range, which the
 *   steering program sends back to it.
 * - ARP: the program sends ARP (and NDP: every IPv6 frame but TCP, UDP and echo replies) to worker 0's member, the
 *   ARP owner's while worker 0 has none; the owner answers requests for the address and relays every ARP frame
 *   (and the IPv6 neighbour and router advertisements and ICMPv6 errors: `fanoutRelays`) to the others
 *   (drivers/middleware/relay.ts), which learn from it but do not answer. The owner is the lowest live worker.
 * - Members: the kernel keeps a fanout group's members in join order and, when one leaves, moves the last into its
 *   place (net/packet/af_packet.c __fanout_unlink). `Membership` mirrors that, and `slots()` gives the program's
 *   worker -> member table; a worker without a member (not started, or dead) maps to the ARP owner's member, so
 *   new flows that hash to it are served by a live worker.
 */
import { ICMP_ERRORS, IPV6_EXT_WALK, flowClass, workerEphemeralRange, type FlowSteeringSpec } from '../../drivers/af-packet/fanout.js';
import { checksum, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { IPV4_FLAG_DF, writeIpv4Header } from '../../protocols/ipv4/wire.js';
import { NextHeader, writeIpv6Header } from '../../protocols/ipv6/wire.js';
import { fillTcp6Checksum, fillUdp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import { seqAdd } from '../../protocols/tcp/seq.js';
import { TcpFlag } from '../../protocols/tcp/wire.js';

/**
 * The worker whose ephemeral slice a received Ethernet frame (IPv4 or IPv6, untagged, not a fragment) belongs to: a
 * TCP or UDP destination port in it, or ICMP about a flow from it (an echo reply whose identifier is in it, an error
 * quoting a packet whose source port or echo identifier is in it: fanout.ts `flowClass`, and `flowClass6` below
 * for IPv6), or undefined for any other frame. Where the link's steering is the device's own hash (TAP multi-queue, AF_XDP queues), a worker hands
 * such a frame to its owner instead of answering it with a reset or dropping it.
 */
export function sliceOwner(spec: FlowSteeringSpec, frame: Uint8Array): number | undefined {
  if (frame[12] === 0x86 && frame[13] === 0xdd) {
    const c = flowClass6(spec, frame);
    return c?.table === 'slots' ? c.worker : undefined;
  }
  if (frame.length < 34 || frame[12] !== 0x08 || frame[13] !== 0x00) return undefined;
  const c = flowClass(spec, 0x0800, frame.subarray(14));
  return c?.table === 'slots' ? c.worker : undefined;
}

/** The workers' shared ephemeral range and the size of each one's slice (fanout.ts's rule), per spec. */
const ranges = new WeakMap<FlowSteeringSpec, { low: number; high: number; slice: number }>();
function rangeOf(spec: FlowSteeringSpec): { low: number; high: number; slice: number } {
  let r = ranges.get(spec);
  if (r === undefined) {
    const first = workerEphemeralRange(spec, 0);
    r = { low: first.low, high: workerEphemeralRange(spec, spec.workers - 1).high, slice: first.high - first.low + 1 };
    ranges.set(spec, r);
  }
  return r;
}

const ICMP6_ERRORS: readonly number[] = [1, 2, 3, 4]; // destination unreachable, packet too big, time exceeded, parameter problem (RFC 4443)

/**
 * An untagged IPv6 frame's class, as the shared-address program steers it (TCP, UDP or ICMPv6 right behind the
 * fixed header, and TCP or UDP behind walked extension headers; fragments are the kernel's): 'slots' with the worker whose
 * ephemeral slice it belongs to (a destination port in it; an echo reply whose identifier is in it; an error
 * quoting a packet whose source port or echo identifier is in it), 'service' for an ICMPv6 error quoting any other
 * TCP or UDP flow (a service port's), or undefined.
 */
function flowClass6(spec: FlowSteeringSpec, f: Uint8Array): { worker: number; table: 'slots' | 'service' } | undefined {
  if (f.length < 62) return undefined;
  const { low, high, slice } = rangeOf(spec);
  const u16 = (o: number): number => (f[o]! << 8) | f[o + 1]!;
  const mine = (port: number): { worker: number; table: 'slots' } | undefined =>
    port >= low && port <= high ? { worker: Math.floor((port - low) / slice), table: 'slots' } : undefined;
  // TCP and UDP behind at most IPV6_EXT_WALK hop-by-hop, routing and destination options headers, as the fanout
  // program walks them (a fragment, and ICMPv6 behind extension headers, are not walked here).
  let next = f[20];
  let x = 54;
  for (let i = 0; i < IPV6_EXT_WALK && (next === 0 || next === 43 || next === 60) && x + 2 <= f.length; i++) {
    next = f[x];
    x += (f[x + 1]! + 1) * 8;
  }
  if (next === 6 || next === 17) return x + 4 <= f.length ? mine(u16(x + 2)) : undefined;
  if (next !== 58 || x !== 54) return undefined;
  const type = f[54]!;
  if (type === 129) return mine(u16(58)); // echo reply: its identifier
  if (!ICMP6_ERRORS.includes(type) || f.length < 104) return undefined;
  // The quoted packet (its fixed header at 62) was sent from here: its source port, or its echo identifier.
  const quoted = f[68];
  if (quoted === 6 || quoted === 17) return mine(u16(102)) ?? { worker: 0, table: 'service' };
  if (quoted === 58 && f.length >= 108 && f[102] === 128) return mine(u16(106));
  return undefined;
}

/** A neighbour (136) or router (134) advertisement: ICMPv6 right behind the IPv6 fixed header of an Ethernet frame. */
function isAdvertisement6(frame: Uint8Array): boolean {
  return frame.length >= 55 && frame[20] === 58 && (frame[54] === 136 || frame[54] === 134);
}

/**
 * Whether every worker must see a received frame where the device's own hash picks the queue (TAP multi-queue,
 * AF_XDP queues): ARP and IPv6's neighbour and router advertisements (each stack keeps its own neighbour cache and
 * router list, and the device puts the answer to one worker's solicitation on whichever queue its hash picks:
 * relayed since the tenth session of 2026-12-04, as the fanout cluster relays them), and an ICMP or ICMPv6 error
 * quoting a service flow.
 * The device put that flow on a queue by a hash byway cannot compute, and the error (from a router, say, with its
 * own addresses) hashes elsewhere, so which worker serves the flow is unknown: each stack gets the error and only
 * the one whose connection it quotes, at an in-flight sequence number, acts on it (RFC 5927), so path MTU discovery
 * works for the clients of every worker. Errors about a worker's own ephemeral flows hop to it (`sliceOwner`).
 */
export function everyWorkerSees(spec: FlowSteeringSpec, frame: Uint8Array): boolean {
  if (frame[12] === 0x86 && frame[13] === 0xdd) return isAdvertisement6(frame) || flowClass6(spec, frame)?.table === 'service';
  if (frame.length < 14 || frame[12] !== 0x08) return false;
  if (frame[13] === 0x06) return true;
  if (frame[13] !== 0x00 || frame.length < 34 || frame[23] !== 1 || (((frame[20]! << 8) | frame[21]!) & 0x3fff) !== 0) return false;
  const type = frame[14 + (frame[14]! & 0x0f) * 4];
  return type !== undefined && ICMP_ERRORS.includes(type) && flowClass(spec, 0x0800, frame.subarray(14))?.table === 'service';
}

/**
 * The frames a worker of an AF_PACKET fanout cluster relays to the others (drivers/middleware/relay.ts): ARP, and
 * over IPv6 (ICMPv6 right behind the fixed header) neighbour and router advertisements and errors. The program (fanout.ts)
 * sends IPv6 TCP and UDP by its tables, so a worker serves IPv6 clients whose NDP goes to worker 0's slot: its own
 * resolutions are answered there, and reach it only through the relay (each stack's cache takes an advertisement
 * only for an entry it is resolving: RFC 4861 7.2.5). An ICMPv6 error (packet too big above all) goes where the
 * program sends other ICMPv6, not by the flow it quotes: every worker gets it and only the one whose connection it
 * quotes acts on it, as `everyWorkerSees` does for TAP and AF_XDP queues. Router advertisements too: each stack
 * keeps its own default router and prefix lists (RFC 4861 6.3.4), and a worker that learned no router could not
 * reach an off-link IPv6 address, its own connections' or a far client's (the relayed frame keeps its link-local
 * source and hop limit 255, so every stack validates it as the receiver did). Solicitations are not relayed: each
 * stack answers the ones it gets, and one answer is enough (the ARP owner's, for ARP, is the same rule).
 */
export function fanoutRelays(frame: Uint8Array): boolean {
  if (frame.length < 14) return false;
  if (frame[12] === 0x08 && frame[13] === 0x06) return true;
  if (frame[12] !== 0x86 || frame[13] !== 0xdd || frame.length < 55 || frame[20] !== 58) return false;
  return isAdvertisement6(frame) || ICMP6_ERRORS.includes(frame[54]!);
}

export interface WorkerSettings {
  readonly limits: {
    readonly tcp: { readonly ephemeralLow: number; readonly ephemeralHigh: number };
    readonly udp: { readonly ephemeralLow: number; readonly ephemeralHigh: number };
    /** Its pings' identifier, from its slice: the steering sends the echo replies back to it. */
    readonly icmp: { readonly echoIdent: number };
  };
  readonly answerArp: boolean;
}

/** What worker `index`'s stack is configured with (see the contract above). */
export function workerSettings(spec: FlowSteeringSpec, index: number, arpOwner: number): WorkerSettings {
  const { low, high } = workerEphemeralRange(spec, index);
  const range = { ephemeralLow: low, ephemeralHigh: high };
  return { limits: { tcp: range, udp: range, icmp: { echoIdent: low } }, answerArp: index === arpOwner };
}

type Limits = { readonly tcp?: object; readonly udp?: object; readonly icmp?: object };

/**
 * The program's createStack limits with a worker's own settings laid over them (its slice and echo identifier), and
 * under them the cluster's shared SYN-cookie options (cookies.ts `sharedCookies`; a cookie secret the program gives
 * is the same in every worker, and wins).
 */
export function withWorkerLimits<L extends Limits>(limits: L | undefined, own: WorkerSettings, cookies?: object): L {
  const l = (limits ?? {}) as L;
  return { ...l, tcp: { ...cookies, ...l.tcp, ...own.limits.tcp }, udp: { ...l.udp, ...own.limits.udp }, icmp: { ...l.icmp, ...own.limits.icmp } };
}

/** The kernel's member order of one fanout group, as worker indexes. */
export class Membership {
  /** members[i]: the worker at member position i. */
  private readonly members: number[] = [];
  /** Members whose program serves (it listens): the hashed classes may go to them (`serviceSlots`). */
  private readonly serving = new Set<number>();

  constructor(readonly workers: number) {}

  /** A worker's socket joined: appended (fanout_link). */
  join(worker: number): void {
    if (this.members.includes(worker)) throw new Error(`worker ${worker} is already a member`);
    this.members.push(worker);
  }

  /** A worker's socket left: the last member takes its place (__fanout_unlink). */
  leave(worker: number): void {
    this.serving.delete(worker);
    const i = this.members.indexOf(worker);
    if (i < 0) return;
    const last = this.members.pop()!;
    if (i < this.members.length) this.members[i] = last;
  }

  has(worker: number): boolean {
    return this.members.includes(worker);
  }

  get live(): readonly number[] {
    return [...this.members].sort((a, b) => a - b);
  }

  /** The lowest live worker (answers ARP), or undefined when none is. */
  get arpOwner(): number | undefined {
    return this.members.length === 0 ? undefined : Math.min(...this.members);
  }

  /** The steering program's slot table: worker -> member position (the ARP owner's for a worker with none). */
  slots(): number[] {
    const owner = this.arpOwner;
    const fallback = owner === undefined ? 0 : this.members.indexOf(owner);
    return Array.from({ length: this.workers }, (_, w) => {
      const i = this.members.indexOf(w);
      return i >= 0 ? i : fallback;
    });
  }

  /** A member's program serves now (it listens): its share of the hashed classes may go to it. */
  serve(worker: number): void {
    if (this.members.includes(worker)) this.serving.add(worker);
  }

  /**
   * The table for the hashed classes (service ports): a serving member's own position; any other worker's goes to
   * the lowest serving member (the ARP owner's position when none serves yet), so that a worker that has joined
   * but does not listen yet sends no client a reset.
   */
  serviceSlots(): number[] {
    const slots = this.slots();
    const first = [...this.serving].sort((a, b) => a - b)[0];
    const fallback = first === undefined ? slots[this.arpOwner ?? 0]! : this.members.indexOf(first);
    return Array.from({ length: this.workers }, (_, w) => (this.serving.has(w) ? this.members.indexOf(w) : fallback));
  }

  /** The slot table once `worker` has joined (for the program it installs when it joins). */
  slotsAfterJoin(worker: number): number[] {
    return this.afterJoin(worker).slots();
  }

  /** The service table once `worker` has joined, not serving yet. */
  serviceSlotsAfterJoin(worker: number): number[] {
    return this.afterJoin(worker).serviceSlots();
  }

  private afterJoin(worker: number): Membership {
    const m = new Membership(this.workers);
    for (const w of this.members) m.join(w);
    for (const w of this.serving) m.serve(w);
    m.join(worker);
    return m;
  }
}

/**
 * Where a stray goes next: a TCP segment for no connection (not a new flow's SYN) that worker `from` received on a
 * service port, after the workers in `tried` (a bit per worker index, `from` included once added here) did not
 * hold its flow. Steering moves a flow's later segments when the service table changes (a worker starts serving,
 * one dies), so the flow may be held by any other live worker: each is asked in turn, lowest index first. The last
 * one asked is `final`: it answers the segment as any stack answers a segment for no connection (a RST, RFC 9293
 * 3.10.7.1), so exactly one RST leaves the cluster for a flow nobody holds, as from Linux's one stack. When no other
 * worker lives, the segment goes back to `from`, final.
 */
export function strayNext(from: number, tried: bigint, live: readonly number[]): { to: number; final: boolean; tried: bigint } {
  const mask = tried | (1n << BigInt(from));
  const left = live.filter((w) => (mask & (1n << BigInt(w))) === 0n).sort((a, b) => a - b);
  if (left.length === 0) return { to: from, final: true, tried: mask };
  return { to: left[0]!, final: left.length === 1, tried: mask };
}

/** Whether a TCP or UDP destination port is in the workers' ephemeral range (steered by slice to its owner). */
export function inEphemeralRange(spec: FlowSteeringSpec, port: number): boolean {
  const { low, high } = rangeOf(spec);
  return port >= low && port <= high;
}

/** The worker whose ephemeral slice holds `port`, or undefined outside the range. */
export function ephemeralOwner(spec: FlowSteeringSpec, port: number): number | undefined {
  const { low, high, slice } = rangeOf(spec);
  return port >= low && port <= high ? Math.floor((port - low) / slice) : undefined;
}

/** A zeroed frame of `len` bytes with an Ethernet header from and to `mac` (the cluster's shared one), EtherType `type`. */
function ownFrame(mac: Uint8Array, len: number, type: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set(mac, 0);
  f.set(mac, 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  return f;
}

/**
 * An Ethernet frame carrying the IPv4 TCP segment (or, `udp`, UDP datagram) `segment` from `src` to `dst`
 * (numbers), to `mac` (the shared address's), for another worker's stack to receive as if from the link: a fresh
 * IPv4 header (no options, DF, TTL 64) and the transport checksum computed again (the received one may have been
 * left to the device). A copy.
 */
export function strayFrame(mac: Uint8Array, src: number, dst: number, segment: Uint8Array, udp = false): Uint8Array {
  const f = ownFrame(mac, 34 + segment.length, 0x0800);
  const proto = udp ? 17 : 6;
  writeIpv4Header(f, 14, src, dst, proto, segment.length, 64, 0, IPV4_FLAG_DF, 0, true);
  f.set(segment, 34);
  const at = 34 + (udp ? 6 : 16);
  f[at] = 0;
  f[at + 1] = 0;
  let c = checksum(f, 34, f.length, pseudoHeaderSum(src, dst, proto, segment.length));
  if (udp && c === 0) c = 0xffff; // RFC 768: a computed zero is sent as all ones (zero means none)
  f[at] = c >>> 8;
  f[at + 1] = c & 0xff;
  return f;
}

/**
 * The IPv6 form of `strayFrame`: the segment (or datagram) from `src` to `dst` (16 bytes each) behind a fresh IPv6
 * header (no extension headers, hop limit 64, no flow label) and the checksum computed again (RFC 8200 8.1). A copy.
 */
export function strayFrame6(mac: Uint8Array, src: Uint8Array, dst: Uint8Array, segment: Uint8Array, udp = false): Uint8Array {
  const f = ownFrame(mac, 54 + segment.length, 0x86dd);
  writeIpv6Header(f, 14, src, dst, udp ? NextHeader.UDP : NextHeader.TCP, segment.length, 64);
  f.set(segment, 54);
  if (udp) fillUdp6Checksum(f, 54, f.length, src, dst);
  else fillTcp6Checksum(f, 54, f.length, src, dst);
  return f;
}

/**
 * A TCP segment cut into segments of at most `max` bytes each (header included), for a stray larger than a link
 * message (a GSO packet AF_PACKET received whole, up to 64 KiB of payload): each piece has the header (options too)
 * and the next stretch of the payload at its sequence number; FIN and PSH stay on the last piece only, as a sender
 * that had sent them apart would have. Undefined when it cannot be cut that way: a SYN or URG segment (its sequence
 * space or urgent pointer would change meaning), or a header that leaves no room for payload. Copies.
 */
export function splitSegment(segment: Uint8Array, max: number): Uint8Array[] | undefined {
  const hl = (segment[12]! >> 4) * 4;
  const flags = segment[13]!;
  if (hl < 20 || hl > segment.length || hl >= max || flags & (TcpFlag.SYN | TcpFlag.URG)) return undefined;
  const payload = segment.subarray(hl);
  const per = max - hl;
  const seq = ((segment[4]! << 24) | (segment[5]! << 16) | (segment[6]! << 8) | segment[7]!) >>> 0;
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += per) {
    const n = Math.min(per, payload.length - off);
    const piece = new Uint8Array(hl + n);
    piece.set(segment.subarray(0, hl));
    piece.set(payload.subarray(off, off + n), hl);
    const s = seqAdd(seq, off);
    piece[4] = s >>> 24;
    piece[5] = (s >>> 16) & 0xff;
    piece[6] = (s >>> 8) & 0xff;
    piece[7] = s & 0xff;
    if (off + n < payload.length) piece[13] = flags & ~(TcpFlag.FIN | TcpFlag.PSH);
    out.push(piece);
  }
  return out;
}

/** Every number in `b` added into `a` (same shape), for the aggregated stats. */
export function addInto(a: Record<string, unknown>, b: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(b)) {
    if (typeof v === 'number') a[k] = ((a[k] as number | undefined) ?? 0) + v;
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      if (typeof a[k] !== 'object' || a[k] === null) a[k] = {};
      addInto(a[k] as Record<string, unknown>, v as Record<string, unknown>);
    }
  }
}
