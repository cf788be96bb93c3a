/**
 * IPv6 fragment reassembly (RFC 8200 section 4.5), sans-IO, with the same caps and counters as IPv4's
 * (protocols/ipv4/reassembly.ts).
 *
 * Fragments are keyed by (source, destination, Fragment Identification). The caller hands in a checked packet and
 * the FragmentInfo that `walkExtensionHeaders` returned for it. Defences, each configurable and counted:
 * - a time-out per datagram (RFC 8200: 60 s from the first-arriving fragment); on expiry, when the first fragment
 *   had arrived, `poll` hands it to `onTimeout` so the caller can send Time Exceeded code 1;
 * - a memory cap over all datagrams in progress, with eviction of the oldest only to start a new datagram;
 * - a cap on fragments per datagram and on datagrams in progress;
 * - overlapping fragments (RFC 5722, as RFC 8200 4.5 says): the whole datagram is discarded, and fragments of it
 *   that arrive later are discarded too until its time-out (a tombstone); an exact duplicate is ignored;
 * - a fragment whose length is not a multiple of 8 while M is set, or that would make the payload exceed 65535
 *   bytes, gives the parameter problem RFC 8200 asks for (pointer to Payload Length, resp. Fragment Offset);
 * - an atomic fragment (offset 0, M 0) is returned at once without the Fragment header and never touches a
 *   datagram in progress with the same identification (RFC 6946).
 *
 * Input views are only valid during the call: fragments are copied. A completed datagram is a new buffer owned by
 * the caller: the first fragment's unfragmentable part, with the Next Header field that named the Fragment header
 * set to the Fragment header's Next Header and the Payload Length fixed, followed by the fragmentable part.
 */
import { write16 } from '../util/bytes.js';
import { FRAGMENT_HEADER_LEN, ParamProblemCode, type FragmentInfo } from './wire-ext.js';
import { IPV6_HEADER_LEN, IPV6_MAX_PAYLOAD, IPV6_PAYLOAD_LEN_OFFSET, type Ipv6Packet } from './wire.js';

export interface Ipv6ReassemblyOptions {
  timeoutMs: number;
  /** Bytes of fragment data (plus a per-fragment overhead) held across all datagrams. Default 4 MiB. */
  maxBytes: number;
  /** Datagrams in progress (tombstones of discarded ones included). Default 64. */
  maxDatagrams: number;
  /** Fragments per datagram. Default 64. */
  maxFragments: number;
}

export const DEFAULT_IPV6_REASSEMBLY_OPTIONS: Ipv6ReassemblyOptions = {
  timeoutMs: 60_000,
  maxBytes: 4 * 1024 * 1024,
  maxDatagrams: 64,
  maxFragments: 64,
};

/** Memory charged per fragment (and per tombstone) on top of its bytes. */
const FRAGMENT_OVERHEAD = 64;

export interface Ipv6ReassemblyStats {
  fragments: number;
  reassembled: number;
  atomic: number;
  timeouts: number;
  overlaps: number;
  /** Fragments of a datagram already discarded for an overlap. */
  discardedAfterOverlap: number;
  duplicates: number;
  tooBig: number;
  memoryDrops: number;
  evicted: number;
  tooManyFragments: number;
  badFragment: number;
}

export type Ipv6ReassemblyResult =
  | { readonly kind: 'pending' }
  /** The whole packet, a new buffer. */
  | { readonly kind: 'done'; readonly packet: Uint8Array }
  | { readonly kind: 'drop'; readonly reason: keyof Ipv6ReassemblyStats }
  /** Discard and send parameter problem code 0 with this pointer (RFC 8200 4.5). */
  | { readonly kind: 'param-problem'; readonly code: number; readonly pointer: number };

interface Piece {
  start: number;
  end: number;
}

interface Datagram {
  key: string;
  created: number;
  deadline: number;
  /** Discarded for an overlap: later fragments are dropped until the deadline. */
  dead: boolean;
  /** The first fragment's bytes up to and including its Fragment header, and its FragmentInfo. */
  first: Uint8Array | undefined;
  firstInfo: FragmentInfo | undefined;
  firstLen: number;
  data: Uint8Array;
  pieces: Piece[];
  received: number;
  totalLen: number | undefined;
  charged: number;
}

const PENDING: Ipv6ReassemblyResult = { kind: 'pending' };

export class Ipv6Reassembler {
  readonly options: Ipv6ReassemblyOptions;
  readonly stats: Ipv6ReassemblyStats = {
    fragments: 0,
    reassembled: 0,
    atomic: 0,
    timeouts: 0,
    overlaps: 0,
    discardedAfterOverlap: 0,
    duplicates: 0,
    tooBig: 0,
    memoryDrops: 0,
    evicted: 0,
    tooManyFragments: 0,
    badFragment: 0,
  };
  private readonly datagrams = new Map<string, Datagram>();
  private charged = 0;

  constructor(options: Partial<Ipv6ReassemblyOptions> = {}) {
    this.options = { ...DEFAULT_IPV6_REASSEMBLY_OPTIONS, ...options };
  }

  /** Bytes currently charged against `maxBytes`. */
  get memory(): number {
    return this.charged;
  }

  get inProgress(): number {
    return this.datagrams.size;
  }

  input(now: number, p: Ipv6Packet, f: FragmentInfo): Ipv6ReassemblyResult {
    this.stats.fragments++;
    const b = p.buffer;
    const dataStart = f.headerOffset + FRAGMENT_HEADER_LEN;
    if (dataStart > b.length || f.nextHeaderFieldOffset >= f.headerOffset) return this.count('badFragment');
    const len = b.length - dataStart;
    const start = f.offset;
    const end = start + len;

    if (start === 0 && !f.more) {
      // RFC 6946: an atomic fragment, processed in isolation.
      this.stats.atomic++;
      return { kind: 'done', packet: this.assemble(b.subarray(0, f.headerOffset), f, b.subarray(dataStart)) };
    }
    if (f.more && (len & 7) !== 0) {
      this.stats.badFragment++;
      return { kind: 'param-problem', code: ParamProblemCode.ErroneousHeaderField, pointer: IPV6_PAYLOAD_LEN_OFFSET };
    }
    if (len === 0) return this.count('badFragment');
    if (f.headerOffset - IPV6_HEADER_LEN + end > IPV6_MAX_PAYLOAD) {
      this.stats.tooBig++;
      return { kind: 'param-problem', code: ParamProblemCode.ErroneousHeaderField, pointer: f.headerOffset + 2 };
    }

    const key = keyOf(p, f.ident);
    let d = this.datagrams.get(key);
    if (d !== undefined && d.dead) return this.count('discardedAfterOverlap');
    const cost = len + FRAGMENT_OVERHEAD + (start === 0 ? dataStart : 0);
    if (d === undefined) {
      while ((this.datagrams.size >= this.options.maxDatagrams || this.charged + cost > this.options.maxBytes) && this.evictOldest()) {
        this.stats.evicted++;
      }
      if (this.datagrams.size >= this.options.maxDatagrams || this.charged + cost > this.options.maxBytes) return this.count('memoryDrops');
      d = {
        key,
        created: now,
        deadline: now + this.options.timeoutMs,
        dead: false,
        first: undefined,
        firstInfo: undefined,
        firstLen: 0,
        data: new Uint8Array(Math.max(end, 1232)),
        pieces: [],
        received: 0,
        totalLen: undefined,
        charged: 0,
      };
      this.datagrams.set(key, d);
    } else if (this.charged + cost > this.options.maxBytes) {
      return this.count('memoryDrops');
    }

    // A second last fragment with another end, data past the end, or a last fragment short of data we hold.
    if (!f.more) {
      if ((d.totalLen !== undefined && d.totalLen !== end) || (d.pieces.length > 0 && d.pieces[d.pieces.length - 1]!.end > end)) {
        return this.overlap(d);
      }
    } else if (d.totalLen !== undefined && end > d.totalLen) {
      return this.overlap(d);
    }

    const pieces = d.pieces;
    let i = 0;
    while (i < pieces.length && pieces[i]!.end <= start) i++;
    if (i < pieces.length && pieces[i]!.start < end) {
      const q = pieces[i]!;
      if (q.start === start && q.end === end && sameBytes(d.data, start, b.subarray(dataStart))) return this.count('duplicates');
      return this.overlap(d);
    }
    if (pieces.length >= this.options.maxFragments) {
      this.drop(key);
      return this.count('tooManyFragments');
    }
    if (!f.more) d.totalLen = end;
    if (end > d.data.length) {
      const grown = new Uint8Array(Math.min(IPV6_MAX_PAYLOAD, Math.max(end, d.data.length * 2)));
      grown.set(d.data);
      d.data = grown;
    }
    d.data.set(b.subarray(dataStart), start);
    pieces.splice(i, 0, { start, end });
    d.received += len;
    d.charged += cost;
    this.charged += cost;
    if (start === 0) {
      d.first = b.slice(0, dataStart);
      d.firstInfo = f;
      d.firstLen = len;
    }
    if (d.totalLen === undefined || d.received !== d.totalLen || d.first === undefined) return PENDING;
    // Complete: the pieces are disjoint and cover totalLen bytes, so they cover [0, totalLen).
    const packet = this.assemble(d.first.subarray(0, d.firstInfo!.headerOffset), d.firstInfo!, d.data.subarray(0, d.totalLen));
    this.drop(key);
    this.stats.reassembled++;
    return { kind: 'done', packet };
  }

  /**
   * Expire datagrams past their time-out. For each one whose first fragment arrived, `onTimeout` gets that
   * fragment rebuilt (a new buffer) to quote in a Time Exceeded message.
   */
  poll(now: number, onTimeout?: (firstFragment: Uint8Array) => void): void {
    if (this.datagrams.size === 0) return;
    for (const d of this.datagrams.values()) {
      if (now < d.deadline) continue;
      if (!d.dead) {
        this.stats.timeouts++;
        if (onTimeout !== undefined && d.first !== undefined) {
          const out = new Uint8Array(d.first.length + d.firstLen);
          out.set(d.first);
          out.set(d.data.subarray(0, d.firstLen), d.first.length);
          onTimeout(out);
        }
      }
      this.drop(d.key);
    }
  }

  pollAt(): number | undefined {
    let at: number | undefined;
    for (const d of this.datagrams.values()) if (at === undefined || d.deadline < at) at = d.deadline;
    return at;
  }

  private assemble(unfragmentable: Uint8Array, f: FragmentInfo, data: Uint8Array): Uint8Array {
    const out = new Uint8Array(unfragmentable.length + data.length);
    out.set(unfragmentable);
    out.set(data, unfragmentable.length);
    out[f.nextHeaderFieldOffset] = f.nextHeader;
    write16(out, IPV6_PAYLOAD_LEN_OFFSET, out.length - IPV6_HEADER_LEN);
    return out;
  }

  private count(reason: keyof Ipv6ReassemblyStats): Ipv6ReassemblyResult {
    this.stats[reason]++;
    return { kind: 'drop', reason };
  }

  /** RFC 5722: discard the datagram, and keep a tombstone so its later fragments are discarded too. */
  private overlap(d: Datagram): Ipv6ReassemblyResult {
    this.stats.overlaps++;
    this.charged -= d.charged;
    d.dead = true;
    d.first = undefined;
    d.data = new Uint8Array(0);
    d.pieces = [];
    d.charged = FRAGMENT_OVERHEAD;
    this.charged += d.charged;
    return { kind: 'drop', reason: 'overlaps' };
  }

  private drop(key: string): void {
    const d = this.datagrams.get(key);
    if (d === undefined) return;
    this.charged -= d.charged;
    this.datagrams.delete(key);
  }

  private evictOldest(): boolean {
    let oldest: Datagram | undefined;
    for (const d of this.datagrams.values()) if (oldest === undefined || d.created < oldest.created) oldest = d;
    if (oldest === undefined) return false;
    this.drop(oldest.key);
    return true;
  }
}

function keyOf(p: Ipv6Packet, ident: number): string {
  const b = p.buffer;
  let s = '';
  for (let i = 8; i < 40; i++) s += String.fromCharCode(b[i]!);
  return s + ident.toString(36);
}

function sameBytes(data: Uint8Array, at: number, bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (data[at + i] !== bytes[i]) return false;
  return true;
}
