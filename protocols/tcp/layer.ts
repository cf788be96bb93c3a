/**
 * The TCP layer: demultiplexing by 4-tuple, listeners (SYN queue + accept queue + backlog, SYN cookies when the
 * SYN queue is full, RFC 4987), RST for segments that match nothing (RFC 9293 3.10.7.1), TIME-WAIT bookkeeping and
 * reuse (RFC 6191), ephemeral ports (RFC 6056 algorithm 3), ICMP errors (RFC 5927 validation, RFC 1191 PMTU), and
 * the timers of every connection. Sans-IO: the host lends transmit buffers; time and randomness are injected.
 *
 * `input` takes a segment view valid only during the call; malformed, badly-checksummed or hostile segments are
 * dropped and counted in `stats`, never thrown. API misuse throws BywayError (EADDRINUSE, ENETUNREACH, EINVAL).
 */
import { ConnTimers } from './conn-timers.js';
import { ConnTable } from './conn-table.js';
import { BywayError } from '../util/errors.js';
import { RangeViews } from '../util/bytes.js';
import { computeIsn, cubic, synCookieDecode, synCookieEncode, type ByteRing } from './parts.js';
import { TcpConnection, type TcpState } from './connection.js';
import type { ConnectOpts, RxPacketInfo, TcpConnHost, TcpHost } from './host.js';
import { TcpListener, familyMask, type ListenFamily } from './listener.js';
import { Ipv6AddressIds, isIpv6Id } from './addr-ids.js';
import { PortTable } from './ports.js';
import type { TxResult } from './host.js';
import { PATHS_UNKNOWN, TX_BUSY, TX_DROPPED, TX_SENT } from './conn-common.js';
import { LayerLimits } from './limits.js';
import { allocZeroed } from './recv-queue.js';
import { newTcpStats, type TcpStats } from './info.js';
import { resolveTcpOptions, type ResolvedTcpOptions, type TcpOptions } from './options.js';
import { seqAdd } from './seq.js';
import { TimeWaitTable, TimeWaitView, emptyTimeWaitSeed, type TcpConnectionView, type TimeWaitHost } from './time-wait.js';
import {
  TcpFlag,
  TcpPacket,
  clearTcpOptions,
  emitTcp,
  emptyTcpFields,
  fillTcpChecksumWith,
  parseTcpInto,
  tcpHeaderLen,
  verifyTcpChecksum,
  type TcpFields,
} from './wire.js';

export type { TcpOptions } from './options.js';
export type { TcpConnectionView } from './time-wait.js';
export type { TcpHost, TcpTxPacket, ConnectOpts } from './host.js';
export { TcpListener, type ListenFamily } from './listener.js';
export { Ipv6AddressIds, isIpv6Id } from './addr-ids.js';

/** The payload of a segment without data (a pure ACK, a SYN): shared, so none costs a view. */
const NO_PAYLOAD = new Uint8Array(0);

export class TcpLayer {
  readonly stats: TcpStats = newTcpStats();
  readonly opts: ResolvedTcpOptions;
  readonly txFields: TcpFields = emptyTcpFields();
  private readonly rx: TcpFields = emptyTcpFields();
  /** The connections by 4-tuple (TIME-WAIT records are in `tw`). */
  private readonly table = new ConnTable();
  private readonly listeners = new Map<number, TcpListener[]>();
  /** Local ports: their users, the host's claims, the ephemeral choice. */
  private readonly ports: PortTable;
  /** When each connection's timer is due, and which have output waiting for a transmit buffer. */
  private readonly sched = new ConnTimers(() => this.table.size, () => this.host.timerArmed?.());
  /** Connections in TIME-WAIT whose last ACK has not left yet; then they become records in `tw`. */
  private readonly timeWait = new Set<TcpConnection>();
  private readonly tw: TimeWaitTable;
  private readonly twSeed = emptyTimeWaitSeed();
  /** What the connections share: memory limits, FINs per poll, challenge-ACK and RST rates. */
  private readonly limits: LayerLimits;
  /**
   * What the host says of the packet it is handing to inputAt (RxPacketInfo), written by the host around the call
   * and read by the connection as plain fields of one object (accessors on the connections' host were calls per
   * segment that V8 did not inline: 0.8 % of the samples of a 64 B transaction in memory for the CE mark alone).
   */
  readonly rxInfo: RxPacketInfo = { segSize: 0, ce: false };
  /**
   * What the layer's connections and its TIME-WAIT table may ask of it: one object made with the layer, so the
   * layer's own public surface stays its API (the callbacks below are private).
   */
  private readonly inner: TcpConnHost & TimeWaitHost;
  /** IPv6 addresses interned as ids the core keys by like IPv4 numbers (addr-ids.ts). */
  readonly addrs: Ipv6AddressIds;
  /**
   * Optional: where a segment that matches no connection goes before this layer answers it (a RST, or a drop at a
   * listener), when it is not a SYN without ACK (a new flow's, which a listener takes). Gets the whole TCP segment
   * (a view valid during the call: whoever keeps it copies it); true means it took the segment: no RST, and it is
   * counted in `stats.strayHandedOff`. A cluster whose steering moves a flow's later segments to a stack that does
   * not hold it (src/register/member.ts) sends them to the stack that does. Unset: RFC 9293 3.10.7.1 as usual.
   */
  stray: ((now: number, src: number, dst: number, segment: Uint8Array) => boolean) | undefined = undefined;
  /** The segment being received past the connection lookup (for `stray`): buf[segStart, segEnd). */
  private segBuf: Uint8Array = NO_PAYLOAD;
  private segStart = 0;
  private segEnd = 0;

  constructor(
    private readonly host: TcpHost,
    options: TcpOptions,
  ) {
    this.opts = resolveTcpOptions(options, cubic);
    const k = new Uint8Array(16);
    for (let i = 0; i < 16; i++) k[i] = options.rng.nextU32() & 0xff;
    const limits = (this.limits = new LayerLimits(this.opts, () => host.timerArmed?.()));
    const inner: TcpConnHost & TimeWaitHost = {
      opts: this.opts,
      stats: this.stats,
      allocBytes: host.allocBytes ?? allocZeroed,
      rxViews: host.rxViews ?? new RangeViews(),
      txFields: this.txFields,
      rx: this.rxInfo,
      paths: host.paths ?? PATHS_UNKNOWN,
      transmit: (now, conn, f, ring, ringOffset, dataLen, segment, tos) => this.emit(now, conn.localIp, conn.remoteIp, f, ring, ringOffset, dataLen, segment, tos),
      tsoMaxFor: (dst) => this.tsoMaxFor(dst),
      challengeAckAllowed: (now) => limits.challengeAckAllowed(now),
      mtuFor: (dst) => this.mtuFor(dst),
      linkMtuFor: (dst) => this.host.linkMtuFor?.(dst) ?? this.host.mtuFor(dst),
      connEstablished: (conn) => this.connEstablished(conn),
      connClosed: (conn) => this.connClosed(conn),
      connTimeWait: (conn) => this.connTimeWait(conn),
      connWake: (conn) => this.connWake(conn),
      connNegativeAdvice: (conn, now) => this.connNegativeAdvice(conn, now),
      synAckRetryLimit: (conn) => this.synAckRetryLimit(conn),
      oooAllowed: (bytes) => limits.oooAllowed(bytes),
      oooAdjust: (delta) => limits.oooAdjust(delta),
      bufferAllowed: (bytes) => limits.bufferAllowed(bytes),
      bufferAdjust: (delta) => limits.bufferAdjust(delta),
      finAllowed: () => limits.finAllowed(),
      connProgress: (now, conn) => this.host.forwardProgress?.(now, conn.remoteIp),
      emitHeader: (now, src, dst, f) => this.emitHeader(now, src, dst, f),
      timeWaitReleased: (localPort) => this.ports.release(localPort),
      timerArmed: () => host.timerArmed?.(),
    };
    this.inner = inner;
    this.tw = new TimeWaitTable(this.inner, k);
    this.ports = new PortTable(host, k, options.rng.nextU32() & 0xffff);
    const k6 = new Uint8Array(16);
    for (let i = 0; i < 16; i++) k6[i] = options.rng.nextU32() & 0xff;
    this.addrs = new Ipv6AddressIds(k6, (mark) => this.markAddresses(mark));
  }

  /** Every address number the layer holds (connections, TIME-WAIT records, listeners): for the IPv6 id sweep. */
  private markAddresses(mark: (id: number) => void): void {
    for (const c of this.table.list()) {
      mark(c.remoteIp);
      mark(c.localIp);
    }
    for (const r of this.tw.rows()) {
      mark(r.localIp);
      mark(r.remoteIp);
    }
    for (const list of this.listeners.values()) for (const l of list) mark(l.localIp);
  }

  // ======================================================================================== API

  /**
   * Listen on localIp:port (0: every address). `family` says which families a wildcard listener takes: 4 (the
   * default, 0.0.0.0), 6 (`::` with IPV6_V6ONLY) or 46 (`::`, dual-stack, as Linux's default); a listener on one
   * address takes that address's family. Two listeners on a port conflict (EADDRINUSE) when their families meet
   * and either is a wildcard or both have the same address (Linux's bind rules between the families).
   */
  listen(localIp: number, port: number, backlog: number, opts?: { synQueueLimit?: number; family?: ListenFamily }): TcpListener {
    if (!Number.isInteger(port) || port <= 0 || port > 0xffff) throw new BywayError('EINVAL', `bad port ${port}`);
    if (!Number.isInteger(backlog) || backlog < 1) throw new BywayError('EINVAL', `bad backlog ${backlog}`);
    const list = this.listeners.get(port) ?? [];
    const family: ListenFamily = localIp !== 0 ? (isIpv6Id(localIp) ? 6 : 4) : (opts?.family ?? 4);
    const mask = familyMask(family);
    if (list.some((l) => (l.mask & mask) !== 0 && (l.localIp === localIp || l.localIp === 0 || localIp === 0))) {
      throw new BywayError('EADDRINUSE', `port ${port} is already listening`);
    }
    if (!this.ports.acquire(port)) throw new BywayError('EADDRINUSE', `port ${port} is held by the host's TCP`);
    const l = new TcpListener(this, localIp >>> 0, port, backlog, opts?.synQueueLimit ?? this.opts.synQueueLimit, family);
    list.push(l);
    this.listeners.set(port, list);
    return l;
  }

  /** @internal */
  removeListener(l: TcpListener): void {
    const list = this.listeners.get(l.port);
    if (!list) return;
    const i = list.indexOf(l);
    if (i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.listeners.delete(l.port);
    this.ports.release(l.port);
  }

  /** Active open (RFC 9293 3.10.1). Throws ENETUNREACH (no route), EADDRINUSE (4-tuple taken / no port free). */
  connect(now: number, remoteIp: number, remotePort: number, opts: ConnectOpts = {}): TcpConnection {
    if (!Number.isInteger(remotePort) || remotePort <= 0 || remotePort > 0xffff) {
      throw new BywayError('EINVAL', `bad port ${remotePort}`);
    }
    remoteIp >>>= 0;
    const localIp = opts.localIp ?? this.host.sourceFor(remoteIp);
    if (localIp === undefined) throw new BywayError('ENETUNREACH', 'no route to the destination');
    if (this.table.size + this.tw.size >= this.opts.maxConnections) throw new BywayError('EMFILE', 'too many TCP connections');
    let localPort: number;
    if (opts.localPort !== undefined) {
      localPort = opts.localPort;
      // As Linux's bind(): a port a listener holds (on this address or the wildcard) is not free for a client.
      const fam = isIpv6Id(localIp) ? 2 : 1;
      if (this.listeners.get(localPort)?.some((l) => (l.mask & fam) !== 0 && (l.localIp === 0 || l.localIp === localIp))) {
        throw new BywayError('EADDRINUSE', `port ${localPort} has a listener`);
      }
      const old = this.table.lookup(localIp, localPort, remoteIp, remotePort);
      const tw = old ? -1 : this.tw.find(localIp, localPort, remoteIp, remotePort);
      if (old || tw >= 0) {
        // RFC 6191-style reuse of a TIME-WAIT 4-tuple when timestamps protect the new incarnation.
        if (old && old.state === 'TIME-WAIT' && old.tcpTsOk && this.opts.timestamps) {
          this.stats.timeWaitReused++;
          old.drop();
        } else if (tw >= 0 && this.tw.tsOk(tw) && this.opts.timestamps) {
          this.stats.timeWaitReused++;
          this.removeTimeWait(tw);
        } else throw new BywayError('EADDRINUSE', 'the 4-tuple is in use');
      }
      if (!this.ports.acquire(localPort)) throw new BywayError('EADDRINUSE', `port ${localPort} is held by the host's TCP`);
    } else {
      localPort = this.ports.ephemeral(this.opts.ephemeralLow, this.opts.ephemeralHigh, this.addrs.hashWord(localIp), this.addrs.hashWord(remoteIp), remotePort, (port) =>
        this.table.lookup(localIp, port, remoteIp, remotePort) !== undefined || this.tw.find(localIp, port, remoteIp, remotePort) >= 0 || this.listeners.has(port),
      );
    }
    // The port is acquired for the connection now; unregister releases it.
    const conn = this.newConnection(now, localIp, localPort, remoteIp, remotePort, false);
    if (opts.noDelay !== undefined) conn.setNoDelay(opts.noDelay);
    if (opts.keepAlive !== undefined) conn.keepAlive = opts.keepAlive;
    this.stats.activeOpens++;
    if (isIpv6Id(remoteIp)) this.stats.ipv6.activeOpens++;
    conn.hs.openActive(now, this.isnFor(localIp, localPort, remoteIp, remotePort, now));
    return conn;
  }

  /** Every connection; a TIME-WAIT record whose TcpConnection is gone is listed as a TimeWaitView. */
  connections(): Iterable<TcpConnectionView> {
    const out: TcpConnectionView[] = this.table.list(); // a fresh array: the TIME-WAIT views join it
    const abort = (v: TimeWaitView): void => {
      const slot = this.tw.find(v.localIp, v.localPort, v.remoteIp, v.remotePort);
      if (slot >= 0) this.removeTimeWait(slot);
    };
    for (const r of this.tw.rows()) {
      out.push(this.tw.ownerOf(r.slot) ?? new TimeWaitView(r.localIp, r.localPort, r.remoteIp, r.remotePort, this.tw.window(r.slot), abort));
    }
    return out;
  }

  /** Abort every connection (RST where synchronized) and close every listener: the stack is going away. */
  abortAll(now: number): void {
    for (const list of [...this.listeners.values()]) for (const l of [...list]) l.close(now);
    for (const c of this.connections()) c.abort(now);
  }

  /** TIME-WAIT connections kept as compact records (their TcpConnection released). */
  get timeWaitRecords(): number {
    return this.tw.size;
  }

  /** Connections, TIME-WAIT records included. */
  get connectionCount(): number {
    return this.table.size + this.tw.size;
  }

  // ======================================================================================== input

  input(now: number, src: number, dst: number, segment: Uint8Array): void {
    this.inputAt(now, src, dst, segment, 0, segment.length);
  }

  /** `input` of the segment buf[start, end) (inside a received frame: no view of it is made, only of its data). */
  inputAt(now: number, src: number, dst: number, buf: Uint8Array, start: number, end: number): void {
    const stats = this.stats;
    stats.segsIn++;
    if (isIpv6Id(src)) stats.ipv6.segsIn++;
    if (TcpPacket.checkAt(buf, start, end) !== 'ok') {
      stats.malformed++;
      return;
    }
    if (this.host.rxChecksum && !verifyTcpChecksum(buf, start, end, src, dst)) {
      stats.badChecksum++;
      return;
    }
    const f = this.rx;
    if (!parseTcpInto(buf, f, start, end)) {
      stats.badOptions++;
      return;
    }
    if (f.srcPort === 0 || f.dstPort === 0) {
      stats.malformed++;
      return;
    }
    const conn = this.table.lookup(dst, f.dstPort, src, f.srcPort);
    if (conn && conn.state !== 'TIME-WAIT') {
      // The hot path: the text stays a range of the frame (no view object per segment).
      conn.segmentArrives(now, f, buf, end - f.payloadLen, end);
      if ((conn.state as TcpState) === 'TIME-WAIT') this.retireTimeWait(conn);
      return;
    }
    const payload = f.payloadLen === 0 ? NO_PAYLOAD : buf.subarray(end - f.payloadLen, end);
    this.segBuf = buf;
    this.segStart = start;
    this.segEnd = end;
    if (conn) {
      if (conn.state === 'TIME-WAIT' && (f.flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) === TcpFlag.SYN) {
        const l = this.findListener(dst, f.dstPort);
        if (l && conn.timeWaitAcceptsSyn(f)) {
          // RFC 6191 / RFC 1122 4.2.2.13: a new incarnation may reopen a TIME-WAIT connection.
          stats.timeWaitReused++;
          conn.drop();
          this.listenerInput(now, l, src, dst, f, payload);
          return;
        }
      }
      conn.segmentArrives(now, f, payload);
      if (conn.state === 'TIME-WAIT') this.retireTimeWait(conn);
      return;
    }
    if (this.tw.size > 0) {
      const slot = this.tw.find(dst, f.dstPort, src, f.srcPort);
      if (slot >= 0) {
        const l = (f.flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) === TcpFlag.SYN ? this.findListener(dst, f.dstPort) : undefined;
        if (l && this.tw.acceptsSyn(slot, f)) {
          // RFC 6191 / RFC 1122 4.2.2.13: a new incarnation may reopen a TIME-WAIT connection.
          stats.timeWaitReused++;
          this.removeTimeWait(slot);
          this.listenerInput(now, l, src, dst, f, payload);
        } else this.tw.input(now, slot, f, payload.length);
        return;
      }
    }
    const l = this.findListener(dst, f.dstPort);
    if (l) {
      this.listenerInput(now, l, src, dst, f, payload);
      return;
    }
    if (this.handedOff(now, src, dst, f)) return;
    stats.noSocket++;
    if (!(f.flags & TcpFlag.RST)) this.rstFor(now, src, dst, f, payload.length);
  }

  /** A segment for no connection, not a new flow's SYN, taken by the `stray` hook (see there). */
  private handedOff(now: number, src: number, dst: number, f: TcpFields): boolean {
    const stray = this.stray;
    if (stray === undefined || (f.flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN) return false;
    const segment = this.segBuf.subarray(this.segStart, this.segEnd);
    this.segBuf = NO_PAYLOAD;
    if (!stray(now, src, dst, segment)) return false;
    this.stats.strayHandedOff++;
    return true;
  }

  /** RFC 9293 3.10.7.2: LISTEN state. */
  private listenerInput(now: number, l: TcpListener, src: number, dst: number, f: TcpFields, payload: Uint8Array): void {
    const stats = this.stats;
    if (f.flags & TcpFlag.RST) {
      if (this.handedOff(now, src, dst, f)) return;
      stats.listenDrops++; // RFC 9293 3.10.7.2: a RST to a listener is ignored
      return;
    }
    if (f.flags & TcpFlag.ACK) {
      if (this.opts.synCookies && !(f.flags & TcpFlag.SYN) && this.cookieAck(now, l, src, dst, f, payload)) return;
      if (this.handedOff(now, src, dst, f)) return;
      this.rstFor(now, src, dst, f, payload.length);
      return;
    }
    if (!(f.flags & TcpFlag.SYN)) {
      if (this.handedOff(now, src, dst, f)) return;
      stats.listenDrops++; // neither SYN, ACK nor RST (FIN, PSH, URG...): dropped (RFC 9293 3.10.7.2)
      return;
    }
    if (l.acceptQueue.length >= l.backlog) {
      stats.backlogDrops++;
      return;
    }
    if (l.synQueue.size >= l.synQueueLimit || this.table.size + this.tw.size >= this.opts.maxConnections) {
      if (this.opts.synCookies) this.cookieSynAck(now, src, dst, f, l.maxSeg);
      else stats.synQueueDrops++;
      return;
    }
    const conn = this.newConnection(now, dst, f.dstPort, src, f.srcPort, true);
    if (l.maxSeg > 0 && l.maxSeg < conn.neg.advMss) conn.neg.advMss = Math.max(this.opts.minMss, l.maxSeg);
    conn.hs.listener = l;
    l.synQueue.add(conn);
    stats.passiveOpens++;
    if (isIpv6Id(src)) stats.ipv6.passiveOpens++;
    conn.hs.openPassive(now, this.isnFor(dst, f.dstPort, src, f.srcPort, now), f);
  }

  private cookieSynAck(now: number, src: number, dst: number, syn: TcpFields, maxSeg: number): void {
    const o = this.opts;
    const tsOk = o.timestamps && syn.tsVal !== undefined;
    const clamp = Math.max(o.minMss, Math.min(o.mss, maxSeg > 0 ? maxSeg : 65535, (this.host.linkMtuFor?.(src) ?? this.host.mtuFor(src)) - 40));
    const peerMss = syn.mss !== undefined && syn.mss > 0 ? syn.mss : 536;
    const wsOk = tsOk && o.windowScaling && syn.wscale !== undefined;
    const sackOk = tsOk && o.sack && syn.sackPermitted;
    const k = o.cookieKey;
    // The slot on the time line the cookie's validators share (cookieTimeOrigin); the TSval on our own clock.
    const c = synCookieEncode(k, this.addrs.keyedWord(dst, k), syn.dstPort, this.addrs.keyedWord(src, k), syn.srcPort, syn.seq, Math.min(peerMss, clamp), now + o.cookieTimeOrigin, {
      wscale: wsOk ? syn.wscale : undefined,
      sackOk,
      tsOk,
      tsClock: Math.floor(now),
    });
    const t = this.txFields;
    t.srcPort = syn.dstPort;
    t.dstPort = syn.srcPort;
    t.seq = c.isn | 0;
    t.ack = seqAdd(syn.seq, 1);
    t.flags = TcpFlag.SYN | TcpFlag.ACK;
    t.window = Math.min(o.receiveBuffer, 0xffff);
    t.urgent = 0;
    t.mss = c.mss;
    t.wscale = wsOk ? TcpConnection.wscaleFor(o) : undefined;
    t.sackPermitted = sackOk;
    t.tsVal = tsOk ? (c.tsval ?? Math.floor(now)) | 0 : undefined;
    t.tsEcr = tsOk ? syn.tsVal : undefined;
    t.sackBlocks.length = 0;
    t.payloadLen = 0;
    if (this.emit(now, dst, src, t, null, 0, 0)) this.stats.synCookiesSent++;
  }

  private cookieAck(now: number, l: TcpListener, src: number, dst: number, f: TcpFields, payload: Uint8Array): boolean {
    const o = this.opts;
    const k = o.cookieKey;
    const res = synCookieDecode(k, this.addrs.keyedWord(dst, k), f.dstPort, this.addrs.keyedWord(src, k), f.srcPort, seqAdd(f.seq, -1), seqAdd(f.ack, -1), now + o.cookieTimeOrigin, f.tsEcr);
    if (!res) {
      this.stats.synCookiesFailed++;
      return false;
    }
    this.stats.synCookiesValidated++;
    if (l.acceptQueue.length >= l.backlog || this.table.size + this.tw.size >= o.maxConnections) {
      this.stats.backlogDrops++;
      return true; // dropped silently; the peer retransmits
    }
    const conn = this.newConnection(now, dst, f.dstPort, src, f.srcPort, true);
    conn.hs.listener = l;
    this.stats.passiveOpens++;
    if (isIpv6Id(src)) this.stats.ipv6.passiveOpens++;
    const tsOffset = o.timestamps && f.tsEcr !== undefined && f.tsVal !== undefined ? (f.tsEcr - Math.floor(now)) | 0 : undefined;
    conn.hs.openFromCookie(now, f, res.mss, res.wscale, res.sackOk, tsOffset);
    if ((payload.length > 0 || f.flags & TcpFlag.FIN) && conn.state === 'ESTABLISHED') conn.segmentArrives(now, f, payload);
    return true;
  }

  /** RFC 9293 3.10.7.1: the RST answering a segment for no connection (rate-limited: rstRateLimit). */
  private rstFor(now: number, src: number, dst: number, f: TcpFields, payloadLen: number): void {
    if (!this.limits.rstAllowed(now)) {
      this.stats.rstsRateLimited++;
      return;
    }
    const t = this.txFields;
    t.srcPort = f.dstPort;
    t.dstPort = f.srcPort;
    if (f.flags & TcpFlag.ACK) {
      t.seq = f.ack;
      t.ack = 0;
      t.flags = TcpFlag.RST;
    } else {
      t.seq = 0;
      t.ack = seqAdd(f.seq, payloadLen + (f.flags & TcpFlag.SYN ? 1 : 0) + (f.flags & TcpFlag.FIN ? 1 : 0));
      t.flags = TcpFlag.RST | TcpFlag.ACK;
    }
    t.window = 0;
    t.urgent = 0;
    clearTcpOptions(t);
    t.payloadLen = 0;
    if (this.emit(now, dst, src, t, null, 0, 0)) {
      this.stats.rstsSent++;
      if (isIpv6Id(src)) this.stats.ipv6.rstsSent++;
    }
  }

  /**
   * An ICMP error quoting a segment we sent from src:srcPort to dst:dstPort with sequence number seq.
   * RFC 5927 4.1: acted on only when it matches a connection and seq is in flight. Returns whether it was acted on
   * (the stack learns a path MTU only then); every error not acted on is counted in icmpIgnored.
   */
  icmpError(
    now: number,
    src: number,
    dst: number,
    srcPort: number,
    dstPort: number,
    seq: number,
    kind: 'unreachable' | 'frag-needed' | 'ttl-exceeded',
    code: number,
    nextHopMtu: number,
  ): boolean {
    const conn = this.table.lookup(src, srcPort, dst, dstPort);
    if (!conn || !conn.seqInFlight(seq)) {
      this.stats.icmpIgnored++;
      return false;
    }
    if (kind === 'frag-needed') {
      // RFC 1191: a plausible next-hop MTU lowers the MSS (never below minMss + 40; 68 is the IPv4 minimum).
      if (nextHopMtu < 68) {
        this.stats.icmpIgnored++;
        return false;
      }
      if (conn.pmtuChanged(now, nextHopMtu)) this.stats.pmtuUpdates++;
      return true;
    }
    if (kind === 'unreachable' && conn.state === 'SYN-SENT') {
      // RFC 1122 4.2.3.9: protocol / port unreachable are hard errors; RFC 5461 says act on them while connecting.
      conn.icmpHardError(code === 2 || code === 3 ? 'ECONNREFUSED' : 'EHOSTUNREACH');
      return true;
    }
    this.stats.icmpIgnored++; // soft errors are not acted on (RFC 5461)
    return false;
  }

  // ======================================================================================== timers

  /** The earliest time poll() is needed (now when output is pending), or undefined. */
  pollAt(now: number): number | undefined {
    if (this.sched.outputPending) return now;
    const t = this.sched.nextAt();
    const d = this.tw.nextDeadline();
    if (d !== undefined && d <= t) return d;
    return t === Infinity ? undefined : t;
  }

  /** pollAt for a host that skips polls until then (TcpHost.timerArmed): -Infinity after a FIN was counted. */
  dueAt(now: number): number {
    return this.limits.finsSincePoll > 0 ? -Infinity : (this.pollAt(now) ?? Infinity);
  }

  /** Run due timers and retry output that found no transmit buffer. */
  poll(now: number): void {
    this.limits.finsSincePoll = 0;
    // Pending output: at most min(timersPerPoll, closeBurst) connections per poll (closes deferred by closeBurst can
    // number thousands; each counts as one FIN); the rest stay pending and pollAt answers now. Due timers: at most
    // timersPerPoll connections per poll; thousands timing out on one tick would otherwise retransmit in one burst
    // and overrun the peer's (or our own) receive ring again.
    this.sched.runDue(now, Math.min(this.opts.timersPerPoll, this.opts.closeBurst), this.opts.timersPerPoll, this.runOutput, this.runTimer);
    this.tw.expire(now, this.opts.timersPerPoll, this.dropExpired);
  }

  /** A TIME-WAIT record's connection, still alive when its 2 MSL ran out (made once: poll runs per turn). */
  private readonly dropExpired = (c: TcpConnection): void => c.drop();

  private readonly runOutput = (c: TcpConnection, now: number): void => {
    this.limits.finsSincePoll++;
    if (c.state !== 'CLOSED') c.output(now);
    if (c.state === 'TIME-WAIT') this.retireTimeWait(c);
  };

  private readonly runTimer = (c: TcpConnection, now: number): void => {
    c.onTimer(now);
    if (c.state === 'TIME-WAIT') this.retireTimeWait(c);
  };

  // ======================================================================================== TcpConnHost, TimeWaitHost (through `inner`)


  private tsoMaxFor(dst: number): number {
    return this.host.tsoMaxFor?.(dst) ?? 0;
  }

  private emitHeader(now: number, src: number, dst: number, f: TcpFields): boolean {
    return this.emit(now, src, dst, f, null, 0, 0) !== TX_BUSY;
  }

  private emit(now: number, src: number, dst: number, f: TcpFields, ring: ByteRing | null, ringOffset: number, dataLen: number, segment?: number, tos = 0): TxResult {
    const hl = tcpHeaderLen(f);
    const len = hl + dataLen;
    const packet = segment !== undefined ? this.host.txSegment(now, src, dst, len, segment) : this.host.txSegment(now, src, dst, len);
    if (!packet) return TX_BUSY;
    const buf = packet.buf;
    const o = packet.offset;
    packet.tos = tos;
    emitTcp(f, buf, o);
    if (dataLen > 0 && ring) ring.copyOut(ringOffset, buf, o + hl, dataLen);
    const pseudo = packet.pseudoSum;
    if (pseudo >= 0) fillTcpChecksumWith(buf, o, o + len, pseudo);
    const sent = packet.commit(now) !== false;
    // Segments on the wire, as Linux's OutSegs counts a TSO/GSO packet (tcp_skb_pcount), and as the connection's own.
    const segs = segment !== undefined && dataLen > segment ? Math.ceil(dataLen / segment) : 1;
    this.stats.segsOut += segs;
    if (isIpv6Id(dst)) this.stats.ipv6.segsOut += segs;
    if (sent) return TX_SENT;
    this.stats.txDropped++;
    return TX_DROPPED;
  }

  /** Out-of-order data held by all connections (charged as the queues charge it). */
  get oooMemory(): number {
    return this.limits.oooTotal;
  }

  /** Send rings and logical receive buffers of all connections (see bufferMemoryLimit). */
  get bufferMemory(): number {
    return this.limits.bufferTotal;
  }

  private mtuFor(dst: number): number {
    return this.host.mtuFor(dst);
  }

  /**
   * Linux's pruning of a clogged SYN queue (reqsk_timer_handler): while the queue is more than half full, requests
   * that already went unanswered for a retransmission time-out are old; with more old than young ones, each halving
   * of the young share takes one retransmission off the old ones' allowance, down to 2 (about 7 s instead of 63 s
   * with the default 5 and a 1 s initial RTO). A flood of unanswered SYNs thus frees its slots within seconds,
   * while a queue holding mostly fresh requests keeps the full schedule.
   */
  private synAckRetryLimit(conn: TcpConnection): number {
    const max = this.opts.synAckRetries;
    const l = conn.hs.listener as TcpListener | undefined;
    if (l === undefined) return max;
    const qlen = l.synQueue.size;
    if (qlen * 2 <= Math.max(8, l.synQueueLimit)) return max;
    let young = 0;
    for (const c of l.synQueue) if (c.synRetransmits === 0) young++;
    young *= 2;
    let thresh = max;
    while (thresh > 2 && qlen >= young) {
      thresh--;
      young *= 2;
    }
    return thresh;
  }

  private connEstablished(conn: TcpConnection): void {
    const l = conn.hs.listener as TcpListener | undefined;
    if (!l) return;
    l.synQueue.delete(conn);
    if (l.closed) {
      conn.abort(0);
      return;
    }
    if (l.onConnection) {
      conn.hs.listener = undefined;
      l.onConnection(conn);
      return;
    }
    if (l.acceptQueue.length >= l.backlog) {
      this.stats.backlogDrops++;
      conn.abort(0);
      return;
    }
    l.acceptQueue.push(conn);
    if (l.acceptQueue.length === 1) l.onAcceptable?.();
  }

  private connClosed(conn: TcpConnection): void {
    if (!this.unregisterConn(conn) && this.tw.size > 0) {
      // A connection whose TIME-WAIT is a record (aborted by its owner, or the record expiring): forget the record.
      const slot = this.tw.find(conn.localIp, conn.localPort, conn.remoteIp, conn.remotePort);
      if (slot >= 0 && this.tw.ownerOf(slot) === conn) this.tw.remove(slot);
    }
    this.sched.forget(conn);
    this.timeWait.delete(conn);
    const l = conn.hs.listener as TcpListener | undefined;
    if (l) {
      l.synQueue.delete(conn);
      const i = l.acceptQueue.indexOf(conn);
      if (i >= 0) l.acceptQueue.splice(i, 1);
      conn.hs.listener = undefined;
    }
  }

  private connTimeWait(conn: TcpConnection): void {
    if (this.timeWait.size + this.tw.size >= this.opts.maxTimeWait) {
      this.stats.timeWaitOverflow++;
      conn.drop();
      return;
    }
    this.timeWait.add(conn);
  }

  /**
   * Once its last ACK has left, a TIME-WAIT connection becomes a record of the TimeWaitTable (which holds its port)
   * and the layer lets go of the TcpConnection.
   */
  private retireTimeWait(conn: TcpConnection): void {
    if (conn.txPending || conn.ackOwed || !this.timeWait.delete(conn)) return;
    conn.timeWaitSeed(this.twSeed);
    this.ports.acquire(conn.localPort); // before unregister releases the connection's use: the port stays claimed
    this.unregisterConn(conn);
    this.sched.forget(conn);
    // Stale timer entries would keep released connections alive until their times come (an RTO, a keepalive).
    this.sched.compact();
    this.tw.add(this.twSeed, conn);
  }

  /** Forget a TIME-WAIT record (reuse, abort); its connection object, if it still exists, goes to CLOSED. */
  private removeTimeWait(slot: number): void {
    this.tw.remove(slot)?.drop();
  }

  private connNegativeAdvice(conn: TcpConnection, now: number): void {
    // Not from a half-open connection: as Linux gives none for a request socket, since a SYN flood from forged
    // sources would otherwise have the neighbour cache probe (and, with replies lost, drop) a good next hop.
    if (conn.state === 'SYN-RECEIVED') return;
    this.host.negativeAdvice?.(now, conn.remoteIp);
  }

  /**
   * A next hop answered the neighbour probe that negative advice started: the connections to the peers `via` selects
   * (those routed through it) are told (Handshake.pathConfirmed).
   */
  pathConfirmed(now: number, via: (remoteIp: number) => boolean): void {
    for (const c of this.table.list(via)) c.hs.pathConfirmed(now);
  }

  private connWake(conn: TcpConnection): void {
    if (conn.state !== 'CLOSED') this.sched.wake(conn);
  }

  // ======================================================================================== demux

  private newConnection(now: number, localIp: number, localPort: number, remoteIp: number, remotePort: number, passive: boolean): TcpConnection {
    const conn = new TcpConnection(this.inner, { localIp, localPort, remoteIp, remotePort }, passive, now);
    // A passive connection shares its listener's port, which is therefore held already.
    if (passive) this.ports.acquire(localPort);
    this.table.register(conn);
    return conn;
  }

  /** Take `conn` out of the table, releasing its port; false when it was not there. */
  private unregisterConn(conn: TcpConnection): boolean {
    if (!this.table.unregister(conn)) return false;
    this.ports.release(conn.localPort);
    return true;
  }

  private findListener(localIp: number, port: number): TcpListener | undefined {
    const list = this.listeners.get(port);
    if (!list) return undefined;
    let any: TcpListener | undefined;
    const fam = isIpv6Id(localIp) ? 2 : 1;
    for (const l of list) {
      if (l.localIp === localIp) return l;
      if (l.localIp === 0 && (l.mask & fam) !== 0) any = l;
    }
    return any;
  }

  private isnFor(localIp: number, localPort: number, remoteIp: number, remotePort: number, now: number): number {
    const f = this.opts.isn;
    if (f) return f(localIp, localPort, remoteIp, remotePort, now) | 0;
    return computeIsn(this.opts.isnKey, this.addrs.hashWord(localIp), localPort, this.addrs.hashWord(remoteIp), remotePort, now) | 0;
  }
}
