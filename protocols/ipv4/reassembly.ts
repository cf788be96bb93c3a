/**
 * IPv4 fragment reassembly (RFC 791 section 3.2, RFC 815's hole bookkeeping), sans-IO.
 *
 * Datagrams are keyed by (src, dst, protocol, ident). Defences, each configurable and counted:
 * - a time-out per datagram (RFC 1122 3.3.2 suggests 60-120 s; Linux uses 30 s; default 30 s);
 * - a memory cap over all datagrams in progress: a fragment that would exceed it is dropped, and the oldest
 *   datagrams are evicted first to make room only when the new fragment starts a datagram (a flood of first
 *   fragments cannot starve a datagram that is nearly done of its space indefinitely);
 * - a cap on fragments per datagram and on datagrams in progress;
 * - overlapping fragments (RFC 5722 reasoning, applied to IPv4 as Linux does since 2018): an overlap whose bytes
 *   differ, or any partial overlap, discards the whole datagram; an exact duplicate is ignored.
 * - a reassembled size over 65535 bytes discards the datagram (the "ping of death").
 *
 * Fragments are copied into a per-datagram buffer (input views are only valid during the call). A completed
 * datagram is handed back as a view of that buffer: header (the first fragment's, with the fragment fields cleared
 * and the total length fixed) plus payload, valid until the next call.
 */
import { write16 } from '../util/bytes.js';
import type { Ipv4Packet } from './wire.js';

export interface ReassemblyOptions {
  timeoutMs: number;
  /** Bytes of fragment data (plus a per-fragment overhead) held across all datagrams. Default 4 MiB. */
  maxBytes: number;
  /** Datagrams in progress. Default 64. */
  maxDatagrams: number;
  /** Fragments per datagram. Default 64 (RFC 791's 64 KiB in 1 KiB pieces). */
  maxFragments: number;
}

export const DEFAULT_REASSEMBLY_OPTIONS: ReassemblyOptions = {
  timeoutMs: 30_000,
  maxBytes: 4 * 1024 * 1024,
  maxDatagrams: 64,
  maxFragments: 64,
};

/** Memory charged per fragment on top of its bytes, so a flood of tiny fragments is bounded too. */
const FRAGMENT_OVERHEAD = 64;

export interface ReassemblyStats {
  fragments: number;
  reassembled: number;
  timeouts: number;
  overlaps: number;
  duplicates: number;
  tooBig: number;
  memoryDrops: number;
  evicted: number;
  tooManyFragments: number;
  badFragment: number;
}

interface Piece {
  start: number;
  end: number;
}

interface Datagram {
  key: string;
  created: number;
  deadline: number;
  header: Uint8Array | undefined; // copy of the first fragment's header
  data: Uint8Array;
  pieces: Piece[]; // sorted, non-overlapping
  received: number;
  totalLen: number | undefined; // payload length, known once the last fragment (MF=0) arrived
  charged: number;
}

export class Reassembler {
  readonly options: ReassemblyOptions;
  readonly stats: ReassemblyStats = {
    fragments: 0,
    reassembled: 0,
    timeouts: 0,
    overlaps: 0,
    duplicates: 0,
    tooBig: 0,
    memoryDrops: 0,
    evicted: 0,
    tooManyFragments: 0,
    badFragment: 0,
  };
  private readonly datagrams = new Map<string, Datagram>();
  private charged = 0;

  constructor(options: Partial<ReassemblyOptions> = {}) {
    this.options = { ...DEFAULT_REASSEMBLY_OPTIONS, ...options };
  }

  /** Bytes currently charged against `maxBytes`. */
  get memory(): number {
    return this.charged;
  }

  get inProgress(): number {
    return this.datagrams.size;
  }

  /**
   * Take one fragment (a checked packet with MF set or a non-zero offset). Returns the reassembled datagram
   * (header + payload) when this fragment completes it, else undefined.
   */
  input(now: number, p: Ipv4Packet): Uint8Array | undefined {
    this.stats.fragments++;
    const payload = p.payload;
    const start = p.fragmentOffset;
    const end = start + payload.length;
    const more = p.moreFragments;
    // Every fragment but the last carries a multiple of 8 bytes (RFC 791); an empty fragment is meaningless.
    if ((more && (payload.length & 7) !== 0) || payload.length === 0) {
      this.stats.badFragment++;
      return undefined;
    }
    if (end + p.headerLen > 65535) {
      this.stats.tooBig++;
      this.drop(this.keyOf(p));
      return undefined;
    }
    const key = this.keyOf(p);
    let d = this.datagrams.get(key);
    const cost = payload.length + FRAGMENT_OVERHEAD;
    if (d === undefined) {
      while ((this.datagrams.size >= this.options.maxDatagrams || this.charged + cost > this.options.maxBytes) && this.evictOldest()) {
        this.stats.evicted++;
      }
      if (this.datagrams.size >= this.options.maxDatagrams || this.charged + cost > this.options.maxBytes) {
        this.stats.memoryDrops++;
        return undefined;
      }
      d = {
        key,
        created: now,
        deadline: now + this.options.timeoutMs,
        header: undefined,
        data: new Uint8Array(Math.max(end, 1480)),
        pieces: [],
        received: 0,
        totalLen: undefined,
        charged: 0,
      };
      this.datagrams.set(key, d);
    } else if (this.charged + cost > this.options.maxBytes) {
      this.stats.memoryDrops++;
      return undefined;
    }

    if (!more) {
      if ((d.totalLen !== undefined && d.totalLen !== end) || (d.pieces.length > 0 && d.pieces[d.pieces.length - 1]!.end > end)) {
        this.stats.overlaps++; // two different ends, or data past the end
        this.drop(key);
        return undefined;
      }
      d.totalLen = end;
    } else if (d.totalLen !== undefined && end > d.totalLen) {
      this.stats.overlaps++;
      this.drop(key);
      return undefined;
    }

    // Find the insertion point and check for overlaps.
    const pieces = d.pieces;
    let i = 0;
    while (i < pieces.length && pieces[i]!.end <= start) i++;
    if (i < pieces.length && pieces[i]!.start < end) {
      const q = pieces[i]!;
      if (q.start === start && q.end === end && sameBytes(d.data, start, payload)) {
        this.stats.duplicates++;
        return undefined;
      }
      this.stats.overlaps++;
      this.drop(key);
      return undefined;
    }
    if (pieces.length >= this.options.maxFragments) {
      this.stats.tooManyFragments++;
      this.drop(key);
      return undefined;
    }
    if (end > d.data.length) {
      const grown = new Uint8Array(Math.min(65535, Math.max(end, d.data.length * 2)));
      grown.set(d.data);
      d.data = grown;
    }
    d.data.set(payload, start);
    pieces.splice(i, 0, { start, end });
    d.received += payload.length;
    d.charged += cost;
    this.charged += cost;
    if (start === 0) d.header = p.buffer.slice(0, p.headerLen);

    if (d.totalLen === undefined || d.received !== d.totalLen || d.header === undefined) return undefined;
    // Complete: the pieces are disjoint and cover totalLen bytes, so they cover [0, totalLen).
    const hl = d.header.length;
    const out = new Uint8Array(hl + d.totalLen);
    out.set(d.header);
    out.set(d.data.subarray(0, d.totalLen), hl);
    write16(out, 2, hl + d.totalLen);
    write16(out, 6, 0); // clear MF and offset (DF cannot be set on a fragment anyway)
    this.drop(key);
    this.stats.reassembled++;
    return out;
  }

  poll(now: number): void {
    if (this.datagrams.size === 0) return;
    for (const d of this.datagrams.values()) {
      if (now >= d.deadline) {
        this.stats.timeouts++;
        this.drop(d.key);
      }
    }
  }

  pollAt(): number | undefined {
    if (this.datagrams.size === 0) return undefined;
    let at: number | undefined;
    for (const d of this.datagrams.values()) if (at === undefined || d.deadline < at) at = d.deadline;
    return at;
  }

  private keyOf(p: Ipv4Packet): string {
    return `${p.src}:${p.dst}:${p.protocol}:${p.ident}`;
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

function sameBytes(data: Uint8Array, at: number, bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (data[at + i] !== bytes[i]) return false;
  return true;
}
