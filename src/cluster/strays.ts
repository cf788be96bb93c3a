/**
 * Strays in a fanout cluster (src/cluster/processes.ts, src/register/member.ts): a TCP segment for no connection
 * on a service port, not a new flow's SYN, that the steering gave a worker which does not hold its flow. The service
 * table changes while flows are open (a worker starts serving, one dies: plan.ts Membership.serviceSlots), and the
 * steering program cannot tell an established flow from a new one, so the later segments of a flow one worker
 * accepted may land on another. Linux's SO_REUSEPORT has no such problem: its demux looks established connections
 * up first and uses the listener group only for SYNs. Here the stack that holds no connection hands the segment to
 * the supervisor instead of resetting it (the TCP layer's `stray` hook), and the supervisor asks the other live
 * workers in turn (`routeStray`, plan.ts strayNext); the last one asked answers as any stack does (a RST), so a
 * flow nobody holds gets exactly one RST. A segment for another worker's ephemeral slice (a fragmented datagram,
 * which the steering sends by its source address, reassembled here) goes to that worker alone, final, and so does a
 * UDP datagram no socket took for such a port (the UDP table's `stray` hook). No I/O here:
 * the worker's preload and the supervisor move the bytes.
 *
 * Messages (link.ts `stray`): to the supervisor u64 tried (big-endian, a bit per worker index) | frame; to a worker
 * u8 final | u64 tried | frame. The frame is an Ethernet frame rebuilt from the segment: IPv4 (plan.ts strayFrame)
 * or IPv6 (strayFrame6; the TCP layer keys IPv6 addresses by ids of its own, addr-ids.ts, turned back into bytes
 * here, since each worker's layer deals its own ids).
 */
import { isIpv6Id } from '../../protocols/tcp/addr-ids.js';
import { formatIpv6 } from '../../protocols/ipv6/address.js';
import { TcpFlag } from '../../protocols/tcp/wire.js';
import { MAX_MESSAGE } from './link.js';
import { ephemeralOwner, inEphemeralRange, splitSegment, strayFrame, strayFrame6, strayNext } from './plan.js';

/** What the relay needs of a TCP layer (protocols/tcp/layer.ts): its `stray` hook and its IPv6 address ids. */
export interface StrayHost {
  stray: ((now: number, src: number, dst: number, segment: Uint8Array) => boolean) | undefined;
  readonly addrs: { bytes(id: number): Uint8Array | undefined };
}

/** What the relay needs of a UDP table (src/stack/udp.ts): its `stray` hook. */
export interface UdpStrayHost {
  stray: ((src: number | Uint8Array, dst: number | Uint8Array, datagram: Uint8Array) => boolean) | undefined;
}

export interface StrayCounters {
  /**
   * Segments this stack held no connection for, sent to the supervisor for the worker that holds the flow (one
   * message each; a stray cut in pieces counts once per piece, as the supervisor and the receiver count it), and
   * SYNs of another worker's half-open connections sent to it (`HalfOpens`).
   */
  sent: number;
  /** Strays of other workers the supervisor handed to this one. */
  received: number;
  /** Of those, the ones this worker was the last to be asked about (it answers them if it holds no flow either). */
  final: number;
  /** Not sent because more than STRAYS_PER_SECOND came in one second: answered here, as without the relay. */
  limited: number;
  /** Strays larger than a message (a GSO packet received whole) sent as several segments (splitSegment), each in `sent`. */
  split: number;
  /** Larger than a message and not cut (a SYN or URG segment): answered here, as without the relay. */
  oversize: number;
}

/** All zero. */
export const noStrays = (): StrayCounters => ({ sent: 0, received: 0, final: 0, limited: 0, split: 0, oversize: 0 });

/**
 * Strays a worker sends per second at most. Each costs a copy and two messages where a RST cost one segment, and a
 * flood of ACKs for no connection (an ACK scan, a reflection) is all strays: past this the stack answers them
 * itself (its RST rate limit applies), as before the relay. Far above what a table change moves: each open flow of
 * the moved class sends a few segments until its next one reaches the holder.
 */
const STRAYS_PER_SECOND = 10_000;

/** Relayed strays remembered, by flow, at most (the oldest go first) and for how long. */
const STRAYS_KEPT = 1024;
const STRAY_KEPT_MS = 5000;

/**
 * The stray relay of a fanout worker (see the module comment): a TCP segment for no connection to a service port
 * (not a new flow's SYN) may be of a flow another worker holds, which the steering moved here when the service table
 * changed; it goes to the supervisor, which asks the other live workers in turn (plan.ts strayNext). A stray that
 * came from the supervisor is remembered by its flow with the workers already asked, so that if this stack holds
 * no connection for it either it goes on (or, the last one asked, is answered here: exactly one RST).
 */
export class StrayRelay {
  readonly counters: StrayCounters = noStrays();
  private second = -Infinity;
  private inSecond = 0;
  private readonly relayed = new Map<string, { tried: bigint; final: boolean; at: number }>();

  /**
   * @param maxMessage the largest message `send` takes (the link's MAX_MESSAGE by default; a worker thread's
   *   MessagePort has no limit: Infinity). A stray whose message would be larger goes as several (splitSegment).
   */
  /**
   * @param spec the worker count, and `index`, this worker's: a segment for another worker's ephemeral slice then
   *   goes to that worker alone (without `index`, and for its own slice, such a segment is answered here).
   */
  constructor(
    private readonly spec: { readonly workers: number; readonly index?: number },
    private readonly mac: Uint8Array,
    private readonly send: (payload: Uint8Array) => void,
    private readonly maxMessage = MAX_MESSAGE,
  ) {}

  /** IPv6: the TCP layer's address ids -> bytes (set by `attach`; without it IPv6 strays are answered here). */
  private addrs: StrayHost['addrs'] | undefined = undefined;

  /**
   * Make this relay `tcp`'s stray hook: a segment goes to the supervisor when `ready()` (the link to it is up),
   * timed by `clock` (ms; the wall clock, as `received` is). With `udp` (the stack's UDP table), also the hook for a
   * datagram no socket took: one for another worker's ephemeral port goes to that worker (see `takeDatagram`).
   */
  attach(tcp: StrayHost, ready: () => boolean = () => true, clock: () => number = Date.now, udp?: UdpStrayHost): void {
    this.addrs = tcp.addrs;
    tcp.stray = (_now, src, dst, segment) => ready() && this.take(src, dst, segment, clock());
    if (udp !== undefined) udp.stray = (src, dst, datagram) => ready() && this.takeDatagram(src, dst, datagram, clock());
  }

  /** The TCP layer's `stray` hook: true when the segment went to the supervisor. `now`: a wall clock in ms. */
  take(src: number, dst: number, segment: Uint8Array, now = Date.now()): boolean {
    if (segment.length < 20) return false;
    if (!isIpv6Id(src)) return this.relay(src, dst, undefined, undefined, segment, false, now);
    const src6 = this.addrs?.bytes(src);
    const dst6 = this.addrs?.bytes(dst);
    return src6 !== undefined && dst6 !== undefined && this.relay(0, 0, src6, dst6, segment, false, now);
  }

  /**
   * The UDP table's `stray` hook: a datagram (UDP header and payload) no socket took. Only one for another worker's
   * ephemeral slice goes on, to that worker alone (a service port's datagram is any worker's socket's to take): its
   * IP datagram came in fragments, which the steering sends by source address, and this worker reassembled it.
   * The owner answers it (port unreachable) if it has no socket either.
   */
  takeDatagram(src: number | Uint8Array, dst: number | Uint8Array, datagram: Uint8Array, now = Date.now()): boolean {
    if (datagram.length < 8 || this.spec.index === undefined) return false;
    const owner = ephemeralOwner(this.spec, (datagram[2]! << 8) | datagram[3]!);
    if (owner === undefined || owner === this.spec.index) return false;
    if (typeof src === 'number') return this.relay(src, dst as number, undefined, undefined, datagram, true, now);
    return this.relay(0, 0, src, dst as Uint8Array, datagram, true, now);
  }

  /** A TCP segment or UDP datagram to the supervisor (IPv6 when `src6` is given): true when it went. */
  private relay(src: number, dst: number, src6: Uint8Array | undefined, dst6: Uint8Array | undefined, l4: Uint8Array, udp: boolean, now: number): boolean {
    const dport = (l4[2]! << 8) | l4[3]!;
    // A port of an ephemeral slice is steered to its owner, so only the owner can hold the flow; a segment of another
    // worker's slice gets here when its IP datagram came in fragments (every fragment goes by the source address,
    // and this worker reassembled it): it goes to the owner alone, which answers it if it holds nothing either.
    const owner = ephemeralOwner(this.spec, dport);
    if (owner !== undefined && (this.spec.index === undefined || owner === this.spec.index)) return false;
    const key = flowKey(src, dst, src6, dst6, l4, udp);
    const r = this.relayed.get(key);
    if (r !== undefined && now - r.at <= STRAY_KEPT_MS && r.final) return false; // the last asked: answer it
    // Room for the segment in one message: u8 final | u64 tried | the frame's headers, to the worker that gets it.
    const room = this.maxMessage - 9 - (src6 !== undefined ? 54 : 34);
    // A datagram is not cut: one too large for a message is answered here.
    const pieces = l4.length <= room ? [l4] : udp ? undefined : splitSegment(l4, room);
    if (pieces === undefined) {
      this.counters.oversize++;
      return false;
    }
    if (now - this.second >= 1000) {
      this.second = now;
      this.inSecond = 0;
    }
    if (++this.inSecond > STRAYS_PER_SECOND) {
      this.counters.limited++;
      return false;
    }
    const all = (1n << BigInt(this.spec.workers)) - 1n;
    const tried = owner !== undefined ? all & ~(1n << BigInt(owner)) : r !== undefined && now - r.at <= STRAY_KEPT_MS ? r.tried : 0n;
    for (const piece of pieces) {
      const frame = src6 !== undefined ? strayFrame6(this.mac, src6, dst6!, piece, udp) : strayFrame(this.mac, src, dst, piece, udp);
      this.send(strayMessage(tried, frame));
      this.counters.sent++;
    }
    if (pieces.length > 1) this.counters.split++;
    return true;
  }

  /** A stray from the supervisor (u8 final | u64 tried | frame): remembered by its flow; the frame to inject. */
  received(payload: Uint8Array, now = Date.now()): Uint8Array | undefined {
    if (payload.length < 9 + 34 + 8) return undefined;
    const dv = new DataView(payload.buffer, payload.byteOffset, payload.length);
    const frame = payload.subarray(9);
    let key: string;
    if (frame[12] === 0x86 && frame[13] === 0xdd) {
      const proto = frame[20];
      if ((proto !== 6 && proto !== 17) || frame.length < 54 + (proto === 6 ? 20 : 8)) return undefined;
      key = flowKey(0, 0, frame.subarray(22, 38), frame.subarray(38, 54), frame.subarray(54), proto === 17);
    } else {
      const ihl = (frame[14]! & 0x0f) * 4;
      const proto = frame[23];
      if (frame[12] !== 0x08 || frame[13] !== 0x00 || (proto !== 6 && proto !== 17) || frame.length < 14 + ihl + (proto === 6 ? 20 : 8)) return undefined;
      key = flowKey(dv.getUint32(9 + 26), dv.getUint32(9 + 30), undefined, undefined, frame.subarray(14 + ihl), proto === 17);
    }
    const final = payload[0] === 1;
    this.relayed.delete(key);
    this.relayed.set(key, { tried: dv.getBigUint64(1), final, at: now });
    if (this.relayed.size > STRAYS_KEPT) this.relayed.delete(this.relayed.keys().next().value!);
    this.counters.received++;
    if (final) this.counters.final++;
    return frame;
  }
}

/** A worker's stray message to the supervisor: u64 the workers already asked (bit per index) | the frame. */
function strayMessage(tried: bigint, frame: Uint8Array): Uint8Array {
  const payload = new Uint8Array(8 + frame.length);
  new DataView(payload.buffer).setBigUint64(0, tried);
  payload.set(frame, 8);
  return payload;
}

/** A TCP (or, `udp`, UDP) flow's key from its addresses (IPv6 when `src6` is given) and ports. */
function flowKey(src: number, dst: number, src6: Uint8Array | undefined, dst6: Uint8Array | undefined, l4: Uint8Array, udp: boolean): string {
  const addrs = src6 !== undefined ? `[${formatIpv6(src6)}]:[${formatIpv6(dst6!)}]` : `${src >>> 0}:${dst >>> 0}`;
  return `${udp ? 'u' : 't'}${addrs}:${(l4[0]! << 8) | l4[1]!}:${(l4[2]! << 8) | l4[3]!}`;
}

/** The supervisor's counts of the strays it routed (`byway stat`'s and `cluster.stats()`'s `strays`). */
export interface StrayRouting {
  /** Strays workers sent it. */
  received: number;
  /** Of those, handed to another worker (the rest went back to their sender, final: no other worker lived). */
  passed: number;
  /** Of those, marked final: the worker they went to was the last one asked and answers a flow nobody holds. */
  final: number;
}

/**
 * The supervisor's part: worker `from` sent `payload` (u64 tried | frame); the worker to hand it to and the message
 * (u8 final | u64 tried | frame), among the `live` workers (those connected), counted in `counts`. Undefined for a
 * payload too short.
 */
export function routeStray(
  from: number,
  payload: Uint8Array,
  live: readonly number[],
  counts?: StrayRouting,
): { to: number; final: boolean; message: Uint8Array } | undefined {
  if (payload.length <= 8) return undefined;
  const tried = new DataView(payload.buffer, payload.byteOffset, 8).getBigUint64(0);
  const next = strayNext(from, tried, live);
  if (counts !== undefined) {
    counts.received++;
    if (next.to !== from) counts.passed++;
    if (next.final) counts.final++;
  }
  const message = new Uint8Array(payload.length + 1);
  message[0] = next.final ? 1 : 0;
  new DataView(message.buffer).setBigUint64(1, next.tried);
  message.set(payload.subarray(8), 9);
  return { to: next.to, final: next.final, message };
}

/** What `HalfOpens.list` reads of a TCP layer: its connections and its IPv6 address ids. */
export interface HalfOpenHost {
  connections(): Iterable<{ readonly state: string; readonly localIp: number; readonly localPort: number; readonly remoteIp: number; readonly remotePort: number }>;
  readonly addrs: StrayHost['addrs'];
}

/**
 * How long a worker keeps another's half-open flow: the holder's SYN-RECEIVED lives through its SYN-ACK
 * retransmissions (5 by default, backing off from 1 s: 1 + 2 + 4 + 8 + 16 + 32 = 63 s).
 */
const HALF_OPEN_KEPT_MS = 64_000;
/** Half-open flows of other workers kept at most (the oldest go first). */
const HALF_OPENS_KEPT = 4096;

/** `byway stat`'s `halfOpens` of a fanout worker. */
export interface HalfOpenCounters {
  /** Its own half-open connections it listed for the others (at table changes). */
  listed: number;
  /** Other workers' half-open flows it was told of. */
  learned: number;
  /** SYNs of those it sent to their holder (also in the stray relay's `sent`). */
  diverted: number;
}

/**
 * Half-open connections across a service table change. A worker that received a client's SYN holds its
 * connection in SYN-RECEIVED (its SYN-ACK sent, no ACK yet); if the table then moves the client's class to another
 * worker and the client retransmits its SYN (its SYN-ACK was lost or late), the SYN reaches the other worker's
 * listener, which never asks the stray hook about a SYN: it opens a second connection with another initial sequence
 * number, and the client may complete either. If it completes the first (the old worker's SYN-ACK came first), its
 * ACK reaches the new worker's SYN-RECEIVED connection, which answers the unacceptable ACK with a RST that resets
 * the client (RFC 9293 3.10.7.4); if the second, the old worker's connection retransmits its SYN-ACK for a minute.
 * Linux's SO_REUSEPORT looks request sockets up before the listener, so a retransmitted SYN finds its half-open
 * connection and gets the same SYN-ACK again. Here the old worker owns it too: at each table change every worker
 * lists its half-open connections on service ports (`list`: u8 family 4|6 | client address | local address | u16
 * client port | u16 local port, each record), the supervisor hands each list to the other workers (u8 holder |
 * records: `learn`), and a worker that receives the SYN of a listed flow (`diverts`) sends it to its holder as a
 * stray (`divert`: the holder alone is left to ask, so it is final), whose connection answers it with its SYN-ACK
 * again (connection.ts: "the peer's SYN was retransmitted"). The client's ACK then reaches the new worker, which
 * holds no connection for it: a stray, handed to the holder as any other. If the holder died meanwhile the stray
 * comes back, final, and the listener here answers it. Costs nothing while no list is kept (one size check per
 * frame). Not covered: a SYN that reaches the old worker after its list was made and before the kernel runs the
 * new program (one message between the processes).
 */
export class HalfOpens {
  readonly counters: HalfOpenCounters = { listed: 0, learned: 0, diverted: 0 };
  private readonly held = new Map<string, { holder: number; until: number }>();
  private holder = -1;

  constructor(
    private readonly spec: { workers: number },
    private readonly mac: Uint8Array,
    private readonly send: (payload: Uint8Array) => void,
  ) {}

  /** This worker's half-open connections on service ports, as records (empty: none). */
  list(tcp: HalfOpenHost): Uint8Array {
    const records: number[] = [];
    for (const c of tcp.connections()) {
      if (c.state !== 'SYN-RECEIVED' || inEphemeralRange(this.spec, c.localPort)) continue;
      const six = isIpv6Id(c.remoteIp);
      const remote = six ? tcp.addrs.bytes(c.remoteIp) : u32(c.remoteIp);
      const local = six ? tcp.addrs.bytes(c.localIp) : u32(c.localIp);
      if (remote === undefined || local === undefined) continue;
      records.push(six ? 6 : 4, ...remote, ...local, c.remotePort >>> 8, c.remotePort & 0xff, c.localPort >>> 8, c.localPort & 0xff);
      this.counters.listed++;
    }
    return Uint8Array.from(records);
  }

  /** Another worker's list from the supervisor (u8 holder | records): its flows' SYNs go to it. `now` in ms. */
  learn(payload: Uint8Array, now = Date.now()): void {
    for (const [k, v] of this.held) if (v.until < now) this.held.delete(k);
    const holder = payload[0]!;
    for (let at = 1; at < payload.length; ) {
      const n = payload[at] === 4 ? 13 : payload[at] === 6 ? 37 : 0;
      if (n === 0 || at + n > payload.length) return; // malformed: the rest is dropped
      const key = payload.subarray(at, at + n).join(',');
      this.held.delete(key);
      this.held.set(key, { holder, until: now + HALF_OPEN_KEPT_MS });
      if (this.held.size > HALF_OPENS_KEPT) this.held.delete(this.held.keys().next().value!);
      this.counters.learned++;
      at += n;
    }
  }

  /**
   * Whether a received frame is a SYN (without ACK) of a flow another worker holds half-open. Called for every frame
   * a fanout worker receives: with no list kept it is one size check (the clock is read only for a listed flow).
   */
  diverts(frame: Uint8Array, now?: number): boolean {
    if (this.held.size === 0) return false;
    const k = synKey(frame);
    const h = k === undefined ? undefined : this.held.get(k);
    if (h === undefined) return false;
    if (h.until < (now ?? Date.now())) {
      this.held.delete(k!);
      return false;
    }
    this.holder = h.holder;
    return true;
  }

  /** The frame `diverts` accepted last (a copy), to its holder as a stray: every other worker marked asked. */
  divert(frame: Uint8Array): void {
    const six = frame[12] === 0x86;
    const at = six ? 54 : 14 + (frame[14]! & 0x0f) * 4;
    const end = six ? 54 + ((frame[18]! << 8) | frame[19]!) : 14 + ((frame[16]! << 8) | frame[17]!);
    const seg = frame.subarray(at, Math.min(end, frame.length));
    const rebuilt = six
      ? strayFrame6(this.mac, frame.subarray(22, 38), frame.subarray(38, 54), seg)
      : strayFrame(this.mac, readU32(frame, 26), readU32(frame, 30), seg);
    const all = (1n << BigInt(this.spec.workers)) - 1n;
    this.send(strayMessage(all & ~(1n << BigInt(this.holder)), rebuilt));
    this.counters.diverted++;
  }
}

const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const readU32 = (f: Uint8Array, o: number): number => ((f[o]! << 24) | (f[o + 1]! << 16) | (f[o + 2]! << 8) | f[o + 3]!) >>> 0;

/** A received Ethernet frame's record key (as `HalfOpens.list` writes it) if it is a TCP SYN without ACK, else undefined. */
function synKey(f: Uint8Array): string | undefined {
  if (f[12] === 0x08 && f[13] === 0x00 && f.length >= 34 && f[23] === 6 && (((f[20]! << 8) | f[21]!) & 0x3fff) === 0) {
    const t = 14 + (f[14]! & 0x0f) * 4;
    if (f.length < t + 14 || (f[t + 13]! & (TcpFlag.SYN | TcpFlag.ACK)) !== TcpFlag.SYN) return undefined;
    return [4, ...f.subarray(26, 30), ...f.subarray(30, 34), ...f.subarray(t, t + 4)].join(',');
  }
  if (f[12] !== 0x86 || f[13] !== 0xdd || f.length < 54 + 14 || f[20] !== 6) return undefined;
  if ((f[54 + 13]! & (TcpFlag.SYN | TcpFlag.ACK)) !== TcpFlag.SYN) return undefined;
  return [6, ...f.subarray(22, 38), ...f.subarray(38, 54), ...f.subarray(54, 58)].join(',');
}
