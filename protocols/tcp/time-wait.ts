/**
 * Compact TIME-WAIT (like Linux's timewait sockets): once a connection's last ACK has gone out, the layer keeps its
 * TIME-WAIT (RFC 9293 3.10.7.4) as a record of a few numbers in this table and lets go of the TcpConnection.
 *
 * A record holds the four-tuple, SND.UNA / SND.NXT / MAX.SND.WND, RCV.NXT, the receive window as last offered,
 * Last.ACK.sent, the timestamp state (TS.Recent, its age, the connection's TSval offset), the per-connection
 * invalid-ACK rate limit and the deadline. It answers segments exactly as TcpConnection does in TIME-WAIT: PAWS
 * (RFC 7323 5), the acceptability test, RST ignored (RFC 1337), challenge ACKs for SYN and bad ACKs (RFC 5961), a
 * retransmitted FIN ACKed with the 2 MSL timer restarted, D-SACK for duplicate data. One difference, a fix: the
 * connection restarted the timer only for a FIN inside the window, which a retransmitted FIN (ending at RCV.NXT)
 * never is; the record restarts it for the retransmission as RFC 9293 intends. What it does not keep: an ACK
 * that finds no transmit buffer is not retried (Linux's timewait sockets do not retry either), and D-SACK or SACK
 * blocks the peer sends are not processed (there is no data left to acknowledge).
 *
 * Storage is struct-of-arrays (typed arrays grown by doubling), an open-addressing index over the four-tuple
 * (linear probing, backward-shift deletion, keyed hash) and a binary min-heap of deadlines with lazy deletion: no
 * allocation per record. Input never throws; the segment view is borrowed for the call only.
 */
import type { TcpConnection, TcpState } from './connection.js';
import type { TcpInfo, TcpStats } from './info.js';
import type { ResolvedTcpOptions } from './options.js';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from './seq.js';
import { TcpFlag, type TcpFields } from './wire.js';
import { INITIAL_REORDERING } from './reordering.js';
import { DeadlineHeap } from '../util/deadline-heap.js';
import type { TcpCloseError } from '../util/errors.js';

/** RFC 7323 5.5: TS.Recent is invalid after 24 days idle (PAWS then does not apply). Same as the connection's. */
const TS_RECENT_MAX_IDLE = 24 * 24 * 3600 * 1000;
const MAX_WINDOW = 0xffff;
const F_TS = 1;
const F_SACK = 2;
const F_LIVE = 4;
const INITIAL = 64;
/** Arrays grow by half (not doubling): less room held empty, still amortized O(1) per record. */
const GROWTH = 1.5;

/** What a connection hands over when its TIME-WAIT becomes a record (TcpConnection.timeWaitSeed fills it). */
export interface TimeWaitSeed {
  localIp: number;
  localPort: number;
  remoteIp: number;
  remotePort: number;
  sndUna: number;
  sndNxt: number;
  maxSndWnd: number;
  rcvNxt: number;
  /** RCV.WND in bytes (the offered right edge minus RCV.NXT); the window field is this >>> rcvWs. */
  rcvWnd: number;
  rcvWs: number;
  lastAckSent: number;
  tsOk: boolean;
  sackOk: boolean;
  tsRecent: number;
  tsRecentAt: number;
  tsOffset: number;
  lastInvalidAckAt: number;
  /** When the record expires (ms): 2 MSL after the connection entered TIME-WAIT. */
  deadline: number;
}

export function emptyTimeWaitSeed(): TimeWaitSeed {
  return {
    localIp: 0, localPort: 0, remoteIp: 0, remotePort: 0, sndUna: 0, sndNxt: 0, maxSndWnd: 0, rcvNxt: 0, rcvWnd: 0, rcvWs: 0,
    lastAckSent: 0, tsOk: false, sackOk: false, tsRecent: 0, tsRecentAt: 0, tsOffset: 0, lastInvalidAckAt: -Infinity, deadline: 0,
  };
}

/** What the table needs from its layer. */
export interface TimeWaitHost {
  readonly opts: ResolvedTcpOptions;
  readonly stats: TcpStats;
  readonly txFields: TcpFields;
  /** Emit a header-only segment from src to dst. False: no transmit buffer now. */
  emitHeader(now: number, src: number, dst: number, f: TcpFields): boolean;
  challengeAckAllowed(now: number): boolean;
  /** A record is gone (expired or removed): its local port loses a user. */
  timeWaitReleased(localPort: number): void;
  /** Optional: a record's deadline was filed (TcpHost.timerArmed). */
  timerArmed?(): void;
}

/** One TIME-WAIT record as `connections()` shows it when its connection object is gone. */
export interface TimeWaitRow {
  readonly slot: number;
  readonly localIp: number;
  readonly localPort: number;
  readonly remoteIp: number;
  readonly remotePort: number;
}

export class TimeWaitTable {
  private cap = 0;
  private n = 0;
  private localIp = new Uint32Array(0);
  private remoteIp = new Uint32Array(0);
  /** localPort << 16 | remotePort */
  private ports = new Uint32Array(0);
  /** Sequence numbers, signed as the core holds them (seq.ts). */
  private sndUna = new Int32Array(0);
  private sndNxt = new Int32Array(0);
  private maxSndWnd = new Uint32Array(0);
  private rcvNxt = new Int32Array(0);
  private rcvWnd = new Uint32Array(0);
  private lastAckSent = new Int32Array(0);
  /** Timestamps, signed like the sequence numbers. */
  private tsRecent = new Int32Array(0);
  private tsOffset = new Int32Array(0);
  private tsRecentAt = new Float64Array(0);
  private lastInvalidAckAt = new Float64Array(0);
  private deadline = new Float64Array(0);
  /** F_TS | F_SACK | F_LIVE, and RCV.WIND.SHIFT in bits 4-7. */
  private bits = new Uint8Array(0);
  /** The connection object while anyone else still holds it: told when the record goes (state CLOSED). */
  private owner: (WeakRef<TcpConnection> | undefined)[] = [];
  /** Free slots: a list linked through `ports` (a free slot's ports word is the next free slot, or -1 as u32). */
  private freeHead = -1;
  /** Open-addressing index: slot + 1, 0 = empty. Size a power of two, at least twice the capacity. */
  private index = new Int32Array(0);
  private mask = 0;
  /** Min-heap of (deadline, slot); entries whose deadline is no longer the slot's are stale. */
  private heap = new DeadlineHeap<number>();
  private readonly k0: number;
  private readonly k1: number;
  private readonly k2: number;

  constructor(
    private readonly host: TimeWaitHost,
    key: Uint8Array,
  ) {
    const w = (i: number): number => (key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24)) >>> 0;
    this.k0 = w(0) ^ 0x74696d65;
    this.k1 = w(4) ^ 0x77616974;
    this.k2 = w(8) ^ 0x2d746162;
  }

  /** Records held. */
  get size(): number {
    return this.n;
  }

  // ------------------------------------------------------------------------------------------------ records

  /** Keep `s` as a record; `owner` is the connection it came from (held weakly). Returns the slot. */
  add(s: TimeWaitSeed, owner: TcpConnection | undefined): number {
    if (this.freeHead < 0) this.grow();
    const i = this.freeHead;
    this.freeHead = this.ports[i]! | 0;
    this.localIp[i] = s.localIp;
    this.remoteIp[i] = s.remoteIp;
    this.ports[i] = ((s.localPort << 16) | s.remotePort) >>> 0;
    this.sndUna[i] = s.sndUna;
    this.sndNxt[i] = s.sndNxt;
    this.maxSndWnd[i] = s.maxSndWnd;
    this.rcvNxt[i] = s.rcvNxt;
    this.rcvWnd[i] = s.rcvWnd;
    this.lastAckSent[i] = s.lastAckSent;
    this.tsRecent[i] = s.tsRecent;
    this.tsOffset[i] = s.tsOffset;
    this.tsRecentAt[i] = s.tsRecentAt;
    this.lastInvalidAckAt[i] = s.lastInvalidAckAt;
    this.bits[i] = F_LIVE | (s.tsOk ? F_TS : 0) | (s.sackOk ? F_SACK : 0) | ((s.rcvWs & 15) << 4);
    this.owner[i] = owner === undefined ? undefined : new WeakRef(owner);
    this.n++;
    this.indexInsert(i);
    this.arm(i, s.deadline);
    return i;
  }

  /** The slot of the record for this four-tuple, or -1. */
  find(localIp: number, localPort: number, remoteIp: number, remotePort: number): number {
    if (this.n === 0) return -1;
    const ports = ((localPort << 16) | remotePort) >>> 0;
    localIp >>>= 0;
    remoteIp >>>= 0;
    for (let h = this.hash(localIp, remoteIp, ports); ; h = (h + 1) & this.mask) {
      const e = this.index[h]!;
      if (e === 0) return -1;
      const i = e - 1;
      if (this.ports[i] === ports && this.remoteIp[i] === remoteIp && this.localIp[i] === localIp) return i;
    }
  }

  /**
   * Forget the record in `slot` (expired, reused by a new incarnation, aborted). Returns its connection object if
   * that still exists, for the layer to close.
   */
  remove(slot: number): TcpConnection | undefined {
    if (!(this.bits[slot]! & F_LIVE)) return undefined;
    this.indexDelete(slot);
    this.bits[slot] = 0;
    const conn = this.owner[slot]?.deref();
    this.owner[slot] = undefined;
    const port = this.ports[slot]! >>> 16;
    this.ports[slot] = this.freeHead;
    this.freeHead = slot;
    this.n--;
    this.host.timeWaitReleased(port);
    return conn;
  }

  /** The record's connection object, if it still exists. */
  ownerOf(slot: number): TcpConnection | undefined {
    return this.owner[slot]?.deref();
  }

  tsOk(slot: number): boolean {
    return (this.bits[slot]! & F_TS) !== 0;
  }

  /** Every live record, for `connections()` and `abortAll`. */
  rows(): TimeWaitRow[] {
    const out: TimeWaitRow[] = [];
    for (let i = 0; i < this.cap; i++) {
      if (!(this.bits[i]! & F_LIVE)) continue;
      const p = this.ports[i]!;
      out.push({ slot: i, localIp: this.localIp[i]!, localPort: p >>> 16, remoteIp: this.remoteIp[i]!, remotePort: p & 0xffff });
    }
    return out;
  }

  /** RCV.WND in bytes and the window scale, for an info record. */
  window(slot: number): { rcvWnd: number; rcvWs: number; timestamps: boolean; sack: boolean } {
    const b = this.bits[slot]!;
    return { rcvWnd: this.rcvWnd[slot]!, rcvWs: b >>> 4, timestamps: (b & F_TS) !== 0, sack: (b & F_SACK) !== 0 };
  }

  // ------------------------------------------------------------------------------------------------ segments

  /** Whether a SYN may reopen this TIME-WAIT (RFC 6191 with timestamps, RFC 1122 4.2.2.13): as TcpConnection's. */
  acceptsSyn(slot: number, seg: TcpFields): boolean {
    if (this.bits[slot]! & F_TS && seg.tsVal !== undefined) return seqGt(seg.tsVal, this.tsRecent[slot]!);
    return seqGt(seg.seq, this.rcvNxt[slot]!);
  }

  /** RFC 9293 3.10.7.4 SEGMENT ARRIVES in TIME-WAIT. `seg` is borrowed for the call. */
  input(now: number, slot: number, seg: TcpFields, payloadLen: number): void {
    const stats = this.host.stats;
    const flags = seg.flags;
    const rst = (flags & TcpFlag.RST) !== 0;
    const syn = (flags & TcpFlag.SYN) !== 0;
    let fin = (flags & TcpFlag.FIN) !== 0;
    const seq = seg.seq;
    const segLen = payloadLen + (syn ? 1 : 0) + (fin ? 1 : 0);
    const b = this.bits[slot]!;
    const tsOk = (b & F_TS) !== 0;

    // RFC 7323 5.3 PAWS, before the sequence check.
    if (tsOk && seg.tsVal !== undefined && !rst && seqLt(seg.tsVal, this.tsRecent[slot]!) && now - this.tsRecentAt[slot]! < TS_RECENT_MAX_IDLE) {
      stats.pawsRejected++;
      this.invalidAck(now, slot, segLen, syn);
      return;
    }
    // First check: acceptability (RFC 9293 3.10.7.4 table; a zero-length segment at the right edge is accepted).
    const rcvNxt = this.rcvNxt[slot]!;
    const rcvWnd = this.rcvWnd[slot]!;
    const rcvEnd = seqAdd(rcvNxt, rcvWnd);
    let ok: boolean;
    if (segLen === 0) ok = rcvWnd === 0 ? seq === rcvNxt : seqLe(rcvNxt, seq) && seqLe(seq, rcvEnd);
    else if (rcvWnd === 0) ok = false;
    else {
      const last = seqAdd(seq, segLen - 1);
      ok = (seqLe(rcvNxt, seq) && seqLt(seq, rcvEnd)) || (seqLe(rcvNxt, last) && seqLt(last, rcvEnd));
    }
    if (!ok) {
      if (rst) {
        stats.rstsOutOfWindow++; // RFC 5961 3.2
        return;
      }
      stats.outOfWindow++;
      // A retransmission of the peer's FIN (it ends at RCV.NXT: our last ACK was lost) is ACKed below like any
      // unacceptable segment, and restarts the 2 MSL timeout (RFC 9293 3.10.7.4 eighth, TIME-WAIT; Linux too).
      if (fin && !syn && seqAdd(seq, segLen) === rcvNxt) this.arm(slot, now + 2 * this.host.opts.msl);
      // RFC 2883: a duplicate of data already received is reported with a D-SACK block (only segments carrying
      // data get an ACK at once, so the block always leaves with this answer).
      const dup = (b & F_SACK) !== 0 && payloadLen > 0 && seqLe(seqAdd(seq, payloadLen), rcvNxt);
      this.invalidAck(now, slot, segLen, syn, dup ? seq : undefined, dup ? seqAdd(seq, payloadLen) : 0);
      return;
    }
    // Second check: RFC 1337, no TIME-WAIT assassination.
    if (rst) {
      stats.rstsReceived++;
      return;
    }
    // Fourth check: a SYN gets a challenge ACK (RFC 5961 4.2).
    if (syn) {
      this.challengeAck(now, slot);
      return;
    }
    if (!(flags & TcpFlag.ACK)) return;
    // RFC 5961 5.2: acceptable if SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT.
    const ack = seg.ack;
    if (seqGt(ack, this.sndNxt[slot]!) || seqLt(ack, seqAdd(this.sndUna[slot]!, -Math.max(this.maxSndWnd[slot]!, 1)))) {
      stats.badAck++;
      this.challengeAck(now, slot);
      return;
    }
    // RFC 7323 4.3: update TS.Recent when the segment covers Last.ACK.sent.
    if (tsOk && seg.tsVal !== undefined && seqLe(seq, this.lastAckSent[slot]!)) {
      this.tsRecent[slot] = seg.tsVal;
      this.tsRecentAt[slot] = now;
    }
    // Text is ignored (the peer sent its FIN already); its overlap with what was received is D-SACKed and ACKed.
    let dsackL: number | undefined;
    let start = seq;
    let len = payloadLen;
    if (len > 0 && seqLt(start, rcvNxt)) {
      if ((b & F_SACK) !== 0) dsackL = start;
      const skip = seqDiff(rcvNxt, start);
      len = skip >= len ? 0 : len - skip;
      start = rcvNxt;
    }
    if (len > 0 && len > seqDiff(rcvEnd, start)) fin = false; // trimmed to the window: the FIN falls outside
    if (fin) {
      // A FIN again: ACK it and restart the 2 MSL timeout (RFC 9293 3.10.7.4 eighth, TIME-WAIT).
      this.arm(slot, now + 2 * this.host.opts.msl);
    }
    if (fin || dsackL !== undefined) this.sendAck(now, slot, dsackL, rcvNxt);
  }

  /** The ACK owed to an unacceptable segment: at once for data, else one per invalidAckIntervalMs per record. */
  private invalidAck(now: number, slot: number, segLen: number, syn: boolean, dsackL?: number, dsackR = 0): void {
    if (segLen > 0 && !syn) {
      this.sendAck(now, slot, dsackL, dsackR);
      return;
    }
    if (now - this.lastInvalidAckAt[slot]! < this.host.opts.invalidAckIntervalMs) {
      this.host.stats.invalidAcksRateLimited++;
      return;
    }
    if (this.sendAck(now, slot)) this.lastInvalidAckAt[slot] = now;
  }

  private challengeAck(now: number, slot: number): void {
    if (!this.host.challengeAckAllowed(now)) {
      this.host.stats.challengeAcksRateLimited++;
      return;
    }
    this.host.stats.challengeAcksSent++;
    this.sendAck(now, slot);
  }

  private sendAck(now: number, slot: number, dsackL?: number, dsackR = 0): boolean {
    const f = this.host.txFields;
    const b = this.bits[slot]!;
    const p = this.ports[slot]!;
    f.srcPort = p >>> 16;
    f.dstPort = p & 0xffff;
    f.seq = this.sndNxt[slot]!;
    f.ack = this.rcvNxt[slot]!;
    f.flags = TcpFlag.ACK;
    f.window = Math.min(MAX_WINDOW, this.rcvWnd[slot]! >>> (b >>> 4));
    f.urgent = 0;
    f.mss = undefined;
    f.wscale = undefined;
    f.sackPermitted = false;
    if (b & F_TS) {
      f.tsVal = (Math.floor(now) + this.tsOffset[slot]!) | 0;
      f.tsEcr = this.tsRecent[slot]!;
    } else {
      f.tsVal = undefined;
      f.tsEcr = undefined;
    }
    f.sackBlocks.length = 0;
    if (dsackL !== undefined) f.sackBlocks.push(dsackL, dsackR);
    f.payloadLen = 0;
    if (!this.host.emitHeader(now, this.localIp[slot]!, this.remoteIp[slot]!, f)) {
      this.host.stats.txBlocked++;
      return false;
    }
    this.lastAckSent[slot] = this.rcvNxt[slot]!;
    return true;
  }

  // ------------------------------------------------------------------------------------------------ timers

  /** The earliest deadline (stale heap entries are dropped on the way), or undefined. */
  nextDeadline(): number | undefined {
    const at = this.nextAt();
    return at === Infinity ? undefined : at;
  }

  /** nextDeadline as a plain double (Infinity: none), which V8 need not box on the poll path. */
  private nextAt(): number {
    const h = this.heap;
    while (h.length > 0) {
      const i = h.top;
      if (this.bits[i]! & F_LIVE && this.deadline[i] === h.topAt) return h.topAt;
      h.pop();
    }
    return Infinity;
  }

  /** Forget up to `budget` records whose 2 MSL ran out; calls `expired` with each one's connection if it lives. */
  expire(now: number, budget: number, expired: (conn: TcpConnection) => void): void {
    for (let k = 0; k < budget; k++) {
      if (this.nextAt() > now) return;
      const slot = this.heap.top;
      this.heap.pop();
      const conn = this.remove(slot);
      if (conn !== undefined) expired(conn);
    }
  }

  private arm(slot: number, at: number): void {
    this.deadline[slot] = at;
    if (this.heap.length > 2 * this.n + 64) this.heapRebuild();
    this.heap.push(at, slot);
    this.host.timerArmed?.();
  }

  /** One entry per live record (drops the stale ones left by restarted timers and removed records). */
  private heapRebuild(): void {
    this.heap.takeAll();
    for (let i = 0; i < this.cap; i++) if (this.bits[i]! & F_LIVE) this.heap.push(this.deadline[i]!, i);
  }

  // ------------------------------------------------------------------------------------------------ storage

  private hash(localIp: number, remoteIp: number, ports: number): number {
    let h = Math.imul(localIp ^ this.k0, 0x9e3779b1) ^ Math.imul(remoteIp ^ this.k1, 0x85ebca77) ^ Math.imul(ports ^ this.k2, 0xc2b2ae3d);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    return h & this.mask;
  }

  private indexInsert(i: number): void {
    let h = this.hash(this.localIp[i]!, this.remoteIp[i]!, this.ports[i]!);
    while (this.index[h] !== 0) h = (h + 1) & this.mask;
    this.index[h] = i + 1;
  }

  /** Linear probing deletion by backward shift (no tombstones). */
  private indexDelete(i: number): void {
    const idx = this.index;
    const mask = this.mask;
    let h = this.hash(this.localIp[i]!, this.remoteIp[i]!, this.ports[i]!);
    while (idx[h] !== i + 1) h = (h + 1) & mask;
    let hole = h;
    for (let j = (hole + 1) & mask; idx[j] !== 0; j = (j + 1) & mask) {
      const e = idx[j]! - 1;
      const home = this.hash(this.localIp[e]!, this.remoteIp[e]!, this.ports[e]!);
      // Move e into the hole when its home is not cyclically within (hole, j].
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        idx[hole] = idx[j]!;
        hole = j;
      }
    }
    idx[hole] = 0;
  }

  private grow(): void {
    const old = this.cap;
    const cap = Math.max(INITIAL, Math.ceil(old * GROWTH));
    const g32 = (a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> => {
      const b = new Uint32Array(cap);
      b.set(a);
      return b;
    };
    const gi32 = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    const g64 = (a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    this.localIp = g32(this.localIp);
    this.remoteIp = g32(this.remoteIp);
    this.ports = g32(this.ports);
    this.sndUna = gi32(this.sndUna);
    this.sndNxt = gi32(this.sndNxt);
    this.maxSndWnd = g32(this.maxSndWnd);
    this.rcvNxt = gi32(this.rcvNxt);
    this.rcvWnd = g32(this.rcvWnd);
    this.lastAckSent = gi32(this.lastAckSent);
    this.tsRecent = gi32(this.tsRecent);
    this.tsOffset = gi32(this.tsOffset);
    this.tsRecentAt = g64(this.tsRecentAt);
    this.lastInvalidAckAt = g64(this.lastInvalidAckAt);
    this.deadline = g64(this.deadline);
    const bits = new Uint8Array(cap);
    bits.set(this.bits);
    this.bits = bits;
    for (let i = old; i < cap; i++) this.owner.push(undefined);
    // New slots are taken lowest first (grow runs only when no slot is free).
    for (let i = cap - 1; i >= old; i--) {
      this.ports[i] = this.freeHead;
      this.freeHead = i;
    }
    this.cap = cap;
    let size = 1;
    while (size < 2 * cap) size *= 2; // load factor at most 1/2
    this.index = new Int32Array(size);
    this.mask = size - 1;
    for (let i = 0; i < old; i++) if (this.bits[i]! & F_LIVE) this.indexInsert(i);
  }
}

/** What `TcpLayer.connections()` lists: a TcpConnection, or a TIME-WAIT record whose connection object is gone. */
export interface TcpConnectionView {
  readonly state: TcpState;
  readonly localIp: number;
  readonly localPort: number;
  readonly remoteIp: number;
  readonly remotePort: number;
  info(): TcpInfo;
  abort(now: number): void;
  icmpHardError(code: TcpCloseError): void;
}

/** A TIME-WAIT record seen as a connection (made on demand by `connections()`; holds no reference to the table). */
export class TimeWaitView implements TcpConnectionView {
  readonly state: TcpState = 'TIME-WAIT';
  constructor(
    readonly localIp: number,
    readonly localPort: number,
    readonly remoteIp: number,
    readonly remotePort: number,
    private readonly w: { rcvWnd: number; rcvWs: number; timestamps: boolean; sack: boolean },
    private readonly onAbort: (v: TimeWaitView) => void,
  ) {}

  info(): TcpInfo {
    const w = this.w;
    return {
      state: 'TIME-WAIT', srtt: undefined, rttvar: undefined, rto: 0, rcvRtt: undefined, backoff: 0, cwnd: 0, ssthresh: 0,
      congestionControl: '', bytesInFlight: 0, unacked: 0, sndMss: 0, rcvMss: 0, advMss: 0, sndWnd: 0, rcvWnd: w.rcvWnd,
      sndWscale: 0, rcvWscale: w.rcvWs, timestamps: w.timestamps, sackPermitted: w.sack, ecn: false, ecnCeReceived: 0, ecnReductions: 0, inRecovery: false,
      busyTime: 0, rwndLimited: 0, sndbufLimited: 0, caState: 'open', retransOut: 0, probes: 0, reordering: INITIAL_REORDERING, reordSeen: 0, minRtt: undefined,
      retransmits: 0, rtoCount: 0, fastRecoveries: 0, recoveriesUndone: 0, sackedBytes: 0, lostBytes: 0, lostOutBytes: 0,
      dsacksReceived: 0, rackLosses: 0, tlpProbes: 0, bytesSent: 0, bytesAcked: 0, bytesReceived: 0, segsOut: 0,
      segsIn: 0, sendBuffer: 0, receiveBuffer: 0, readable: 0, oooBytes: 0,
    };
  }

  /** Forget the TIME-WAIT at once (nothing is sent, as for a TcpConnection in TIME-WAIT). */
  abort(_now: number): void {
    this.onAbort(this);
  }

  icmpHardError(_code: TcpCloseError): void {}
}
