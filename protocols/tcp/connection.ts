/**
 * One TCP connection: the RFC 9293 state machine (section 3.10), sans-IO.
 *
 * The connection is driven by its TcpLayer: `segmentArrives` with a parsed header (a reused object) and a payload
 * view valid only during the call (kept bytes are copied into the receive ring or the out-of-order queue), and
 * `onTimer` when `timerAt` is due. It transmits through the layer (`TcpConnHost.transmit`, host.ts), which writes
 * headers in place into a host buffer. The application uses `send` / `read` / `shutdown` / `close` / `abort` and
 * callbacks (onConnect, onReadable, onWritable, onEnd, onClose(error?)); callbacks may call back into the connection.
 * Wire input never throws; API misuse throws BywayError (EPIPE after shutdown/close, the close error or ENOTCONN
 * on a closed connection). Buffers: `send` copies into the send ring, `read` copies out of the receive ring; both
 * rings start at 16 KiB and grow to the configured sizes; nothing keeps a view into caller memory.
 *
 * This class keeps the state, the RFC 9293 3.10.7 dispatch of an arriving segment in the synchronized states
 * (acceptability with PAWS, RFC 5961 checks, then ACK, text and FIN), closing, and the timers' dispatch. The rest
 * is in parts made once per connection, each holding one group of state: the handshake (handshake.ts: the three
 * opens, SYN-SENT, the SYN timer), what it negotiated (negotiated.ts), the sender (sender.ts) and segment building
 * (tx.ts), the sent-segment scoreboard (scoreboard.ts), loss recovery (recovery.ts), the receiver (receiver.ts), the
 * timers (timers.ts) and the counters behind info() (counters.ts). The parts reach each other through the
 * connection's fields (`c.snd`, `c.rcv`, ...): one load each, no closure or object per segment.
 */
import { BywayError, type TcpCloseError } from '../util/errors.js';
import { RttEstimator, type CongestionControl } from './parts.js';
import type { TcpInfo } from './info.js';
import type { ResolvedTcpOptions } from './options.js';
import type { TcpConnHost } from './host.js';
import type { TimeWaitSeed } from './time-wait.js';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from './seq.js';
import { TcpFlag, type TcpFields } from './wire.js';
import { EMPTY_OOO, EMPTY_RCV, EMPTY_RING, NEVER, PAWS_WINDOW, TS_RECENT_MAX_IDLE } from './conn-common.js';
import { TcpCounters } from './counters.js';
import { Scoreboard } from './scoreboard.js';
import { LossRecovery } from './recovery.js';
import { Receiver } from './receiver.js';
import { Sender } from './sender.js';
import { Transmitter } from './tx.js';
import { Handshake } from './handshake.js';
import { TcpEcn } from './ecn.js';
import { Negotiated, wscaleFor } from './negotiated.js';
import { ConnTimers, rtoOptionsFor } from './timers.js';
import { isIpv6Id } from './addr-ids.js';

export type { TcpConnHost } from './host.js';

export type TcpState =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN-SENT'
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT';

export interface ConnectOptions {
  localIp: number;
  localPort: number;
  remoteIp: number;
  remotePort: number;
}

export class TcpConnection {
  /** Called once when the connection reaches ESTABLISHED (active and passive opens). */
  onConnect: (() => void) | undefined = undefined;
  /** New bytes can be read. */
  onReadable: (() => void) | undefined = undefined;
  /** Send-buffer space became available after `send` accepted fewer bytes than offered. */
  onWritable: (() => void) | undefined = undefined;
  /** The peer's FIN arrived: no more bytes will become readable (after those already buffered). */
  onEnd: (() => void) | undefined = undefined;
  /** Called once when the connection is CLOSED; `error` is a Node code (ECONNRESET, ETIMEDOUT...) or undefined. */
  onClose: ((error?: TcpCloseError) => void) | undefined = undefined;

  state: TcpState = 'CLOSED';
  /** The error that closed the connection, if any. */
  error: TcpCloseError | undefined = undefined;
  readonly localIp: number;
  readonly localPort: number;
  readonly remoteIp: number;
  readonly remotePort: number;
  /** True for connections created by a listener. */
  readonly passive: boolean;

  /** @internal the earliest due timer (ms), Infinity when none */
  timerAt = NEVER;
  /** @internal the time of this connection's live entry in the layer's timer heap (Infinity: none) */
  heapAt = Infinity;
  /** @internal output could not be completed (no transmit buffer) */
  txPending = false;

  private readonly host: TcpConnHost;
  /** @internal the counters behind info() */
  readonly cnt: TcpCounters;
  /** @internal what the handshake negotiated */
  readonly neg: Negotiated;
  /** @internal the timers */
  readonly tmr: ConnTimers;
  /** @internal the sent-segment scoreboard */
  readonly sb = new Scoreboard();
  /** @internal loss recovery */
  readonly rec: LossRecovery;
  /** @internal the receiver */
  readonly rcv: Receiver;
  /** @internal the sender */
  readonly snd: Sender;
  /** @internal segment building and transmission */
  readonly tx: Transmitter;
  /** @internal the handshake (opening, SYN-SENT, the SYN timer) */
  readonly hs: Handshake;
  /** @internal (for the parts) ECN (RFC 3168): negotiation, the ECE echo, the once-per-window reduction. */
  readonly ecn: TcpEcn;

  /** @internal (for the parts) The application closed: no more reading; data arriving now is answered with RST. */
  appClosed = false;
  /** @internal RTT and RTO (RFC 6298) and the congestion controller, shared by sender and loss recovery. */
  rtt: RttEstimator;
  cc: CongestionControl;
  /**
   * What this connection counts against bufferMemoryLimit: send ring capacity + logical receive buffer; -1 once
   * given back for good (CLOSED, or handed over to a TIME-WAIT record).
   */
  private bufferCharge = 0;

  /** SYN (or SYN-ACK) retransmissions so far in the handshake. */
  get synRetransmits(): number {
    return this.hs.synXmits;
  }
  /** Whether keep-alive probes are sent (setKeepAlive also arms the timer). */
  get keepAlive(): boolean {
    return this.tmr.keepAlive;
  }
  set keepAlive(on: boolean) {
    this.tmr.keepAlive = on;
  }
  /** Idle time (ms) before the first keep-alive probe. */
  get keepAliveIdle(): number {
    return this.tmr.keepAliveIdle;
  }
  set keepAliveIdle(ms: number) {
    this.tmr.keepAliveIdle = ms;
  }

  constructor(host: TcpConnHost, ids: ConnectOptions, passive: boolean, now: number) {
    this.host = host;
    const o = host.opts;
    this.cnt = new TcpCounters(this);
    this.neg = new Negotiated(this, o);
    this.tmr = new ConnTimers(this, o, host.stats);
    this.rec = new LossRecovery(this, o, host.stats);
    this.rcv = new Receiver(this, host);
    this.snd = new Sender(this, host);
    this.tx = new Transmitter(this, host);
    this.hs = new Handshake(this, host);
    this.ecn = new TcpEcn(this, o);
    this.localIp = ids.localIp;
    this.localPort = ids.localPort;
    this.remoteIp = ids.remoteIp;
    this.remotePort = ids.remotePort;
    this.passive = passive;
    // No ring is allocated until the first byte needs it (send, or in-order data arriving), and rings then grow
    // on demand up to their limits, so idle and embryonic connections hold no buffer memory. The logical receive
    // buffer (the window we may offer) is charged against bufferMemoryLimit from the start.
    this.rcv.rcvCap = o.receiveBuffer;
    this.rechargeBuffers(); // initial buffers are always granted
    this.rtt = new RttEstimator(rtoOptionsFor(o));
    this.cc = o.congestionControl({ mss: 536, now, initialWindowSegments: o.initialWindowSegments, abcLimit: o.abcLimit, hystart: o.hystart });
    this.neg.tsOffset = o.rng.nextU32() | 0;
    this.neg.rcvWs = o.windowScaling ? wscaleFor(o.maxReceiveBuffer) : 0;
    // RFC 1191 3.1: the MSS we advertise comes from the interface (or route) MTU, not the path MTU; what we send
    // follows the PMTU (Sender.output lowers the MSS to it).
    const clamp = Math.max(o.minMss, Math.min(o.mss, host.linkMtuFor(ids.remoteIp) - 40));
    this.neg.advMss = clamp;
  }

  // ======================================================================================== application API

  /** Bytes that can be read now. */
  get readableLength(): number {
    return this.rcv.rcvBuf.length;
  }
  /** Free space in the send buffer. */
  get writableLength(): number {
    return Math.max(0, this.snd.sndLimit() - this.snd.sndBuf.length);
  }

  /** Whether the peer's FIN arrived and every byte before it was read. */
  get readableEnded(): boolean {
    return this.rcv.finRcvd && this.rcv.rcvBuf.length === 0;
  }

  /**
   * Queue bytes for sending (copied). Returns how many were accepted (less than data.length when the send buffer
   * is full: backpressure; onWritable fires when space frees). `more` (MSG_MORE): more data follows, so a short
   * segment waits and the write's end gets no PSH. Throws EPIPE after shutdown/close, ENOTCONN when closed.
   */
  send(now: number, data: Uint8Array, more = false): number {
    if (this.snd.finQueued || this.appClosed) throw new BywayError('EPIPE', 'send after shutdown');
    switch (this.state) {
      case 'SYN-SENT':
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
      case 'CLOSE-WAIT':
        break;
      default:
        throw new BywayError(this.error ?? 'ENOTCONN', `send in state ${this.state}`);
    }
    this.snd.makeRoom(data.length);
    if (this.snd.sndBuf.length === 0 && this.snd.sndNxt === this.snd.sndUna) this.snd.progressAt = now; // data starts waiting (user timeout)
    const room = this.snd.sndLimit() - this.snd.sndBuf.length; // the ring may be larger (makeRoom grows it in steps)
    const n = this.snd.sndBuf.write(data.length > room ? data.subarray(0, Math.max(0, room)) : data);
    this.snd.more = more;
    if (n < data.length) this.snd.wantWritable = true;
    if (n > 0 && this.state !== 'SYN-SENT' && this.state !== 'SYN-RECEIVED') {
      // RFC 5681 4.1 (slowStartAfterIdle): idle for longer than the RTO -> restart from min(IW, cwnd).
      if (this.host.opts.slowStartAfterIdle && this.snd.sndNxt === this.snd.sndUna && this.cnt.bytesSent > 0 && now - this.snd.lastDataSentAt > this.rtt.rto) {
        this.cc.onIdleRestart?.(now, Math.min(this.host.opts.initialWindowSegments * this.neg.mss, this.cc.cwnd));
      }
      this.snd.output(now);
    }
    return n;
  }

  /** Copy up to dst.length received bytes into dst; returns the count (0: nothing buffered). */
  read(now: number, dst: Uint8Array): number {
    const n = this.rcv.rcvBuf.read(dst);
    if (n > 0) this.consumed(now, n);
    return n;
  }

  /**
   * Take up to `max` received bytes without a copy: a view of the receive queue's memory that the caller owns from
   * then on (the queue never writes there again). At most one chunk: the view may be shorter than what is readable.
   * An empty view: nothing buffered.
   */
  readView(now: number, max: number): Uint8Array {
    const v = this.rcv.rcvBuf.readView(max);
    if (v.length > 0) this.consumed(now, v.length);
    return v;
  }

  private consumed(now: number, n: number): void {
    this.rcv.rcvSpaceCopied += n;
    this.rcv.autoTune(now);
    this.rcv.maybeWindowUpdate(now);
  }

  /** Disable (true) or enable Nagle's algorithm. With `now`, data held back by Nagle is sent at once. */
  setNoDelay(on: boolean, now?: number): void {
    this.snd.noDelay = on;
    if (on) this.snd.push(now !== undefined && this.isSynchronized() ? now : undefined);
  }

  /** TCP_CORK: short segments wait until uncorked (then, with `now`, what is queued is sent at once). */
  setCork(on: boolean, now?: number): void {
    this.snd.setCork(on, now !== undefined && this.isSynchronized() ? now : undefined);
  }

  /**
   * RFC 5482's local user timeout (Linux TCP_USER_TIMEOUT): when a retransmission or zero-window probe timer fires
   * and data has waited longer than `ms` without SND.UNA advancing, the connection is dropped with ETIMEDOUT. 0 turns
   * it off (the default: maxRetransmits decides).
   */
  setUserTimeout(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new BywayError('ERR_INVALID_ARG_VALUE', `user timeout must be >= 0 ms, got ${ms}`);
    this.tmr.userTimeout = ms;
  }

  setKeepAlive(on: boolean, now: number, idleMs?: number): void {
    this.tmr.keepAlive = on;
    if (idleMs !== undefined) this.tmr.keepAliveIdle = idleMs;
    this.tmr.keepProbes = 0;
    this.tmr.keepaliveAt = on && this.isSynchronized() ? now + this.tmr.keepAliveIdle : NEVER;
    this.rearm();
  }

  /** Half-close (RFC 9293 3.10.4 CLOSE in ESTABLISHED/CLOSE-WAIT): send FIN after queued data; reading continues. */
  shutdown(now: number): void {
    if (this.snd.finQueued) return;
    switch (this.state) {
      case 'SYN-SENT':
        this.toClosed(undefined);
        return;
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
        this.snd.finQueued = true;
        if (this.state === 'ESTABLISHED') {
          this.state = 'FIN-WAIT-1';
          this.snd.finOutput(now);
        }
        return;
      case 'CLOSE-WAIT':
        this.snd.finQueued = true;
        this.state = 'LAST-ACK';
        this.snd.finOutput(now);
        return;
      default:
        return;
    }
  }

  /**
   * Full close: no more reading. With unread received data the connection is reset (RFC 9293 3.10.4 note, RFC 2525
   * 2.17), as is any data that arrives afterwards; otherwise FIN after queued data, and the FIN-WAIT-2 timeout applies.
   */
  close(now: number): void {
    if (this.appClosed) return;
    this.appClosed = true;
    if (this.state === 'CLOSED' || this.state === 'TIME-WAIT') return;
    if (this.rcv.rcvBuf.length > 0 && this.isSynchronized()) {
      this.host.stats.resetsOnClose++;
      this.abort(now);
      return;
    }
    if (!this.snd.finQueued) this.shutdown(now);
    if (this.state === 'FIN-WAIT-2') this.tmr.closeAt = now + this.host.opts.finWait2Timeout;
    this.rearm();
  }

  /** Send RST (when synchronized) and go to CLOSED at once (RFC 9293 3.10.5 ABORT). */
  abort(now: number): void {
    if (this.state === 'CLOSED') return;
    if (this.isSynchronized() || this.state === 'SYN-RECEIVED') this.tx.sendRst(now, this.snd.sndNxt);
    this.toClosed(undefined);
  }

  /** A snapshot; with `now`, the sender-limit times (chrono.ts) include the period still running. */
  info(now?: number): TcpInfo {
    return this.cnt.info(now);
  }

  /** @internal Our SYN-ACK's rcvWs must match what the cookie SYN-ACK advertised: the layer asks for it. */
  static wscaleFor(opts: ResolvedTcpOptions): number {
    return opts.windowScaling ? wscaleFor(opts.maxReceiveBuffer) : 0;
  }

  // ======================================================================================== segment arrival

  /**
   * @internal RFC 9293 3.10.7 SEGMENT ARRIVES for a connection (not LISTEN), with its text at buf[start, end).
   * `seg` and `buf` are borrowed (buf is a received frame: no view of the text is made).
   */
  segmentArrives(now: number, seg: TcpFields, buf: Uint8Array, start = 0, end = buf.length): void {
    this.cnt.segsIn++;
    if (this.predicted(seg, end - start)) {
      this.predictedArrives(now, seg, buf, start, end);
      return;
    }
    if (this.state === 'SYN-SENT') {
      this.hs.synSentArrives(now, seg, buf, start, end);
      this.rearm();
      return;
    }
    if (this.state === 'CLOSED') return;
    const flags = seg.flags;
    const rst = (flags & TcpFlag.RST) !== 0;
    const syn = (flags & TcpFlag.SYN) !== 0;
    let fin = (flags & TcpFlag.FIN) !== 0;
    let seq = seg.seq;
    // The text is buf[ds, de): trimmed below by moving the two ends.
    let ds = start;
    let de = end;
    const segLen = de - ds + (syn ? 1 : 0) + (fin ? 1 : 0);

    // RFC 7323 5.3 PAWS, before the sequence check: TSval older than TS.Recent by more than PAWS_WINDOW ticks.
    if (this.neg.tsOk && seg.tsVal !== undefined && !rst && ((this.neg.tsRecent - seg.tsVal) | 0) > PAWS_WINDOW && now - this.neg.tsRecentAt < TS_RECENT_MAX_IDLE) {
      this.host.stats.pawsRejected++;
      this.rcv.invalidAck(now, segLen, syn);
      return;
    }

    // First check: sequence number acceptability (RFC 9293 3.10.7.4 table).
    const rcvEnd = this.rcv.windowEnd(); // as offered before this segment (output below may move the edge)
    let ok = this.rcv.acceptable(seq, segLen);
    if (!ok && this.host.opts.acceptFinAtZeroWindow && fin && !syn && !rst && de === ds && seq === this.rcv.rcvNxt) {
      // A bare FIN at RCV.NXT into a zero window is taken and ACKed at once: Linux 6.x's tcp_data_queue queues it,
      // and its failed memory schedule (the buffer is full) asks for the ACK now (ICSK_ACK_NOW), delayFinAck or not.
      ok = true;
      this.rcv.ackNow = true;
    }
    if (!ok) {
      if (rst) {
        this.host.stats.rstsOutOfWindow++; // RFC 5961 3.2: ignored
        return;
      }
      this.host.stats.outOfWindow++;
      this.rcv.duplicateArrived(seq, de - ds);
      if (this.state === 'SYN-RECEIVED' && syn && seq === this.rcv.irs && !(flags & TcpFlag.ACK)) {
        this.tx.sendSyn(now); // the peer's SYN was retransmitted: our SYN-ACK was lost
        return;
      }
      // RFC 5961 4.2: a SYN in a synchronized state gets a (rate-limited) challenge ACK whatever its sequence number.
      if (syn && this.isSynchronized()) {
        this.rcv.challengeAck(now);
        return;
      }
      this.rcv.invalidAck(now, segLen, syn);
      return;
    }
    this.peerHeard(now);

    // Second check: RST (RFC 5961 3.2).
    if (rst) {
      this.host.stats.rstsReceived++;
      if (isIpv6Id(this.remoteIp)) this.host.stats.ipv6.rstsReceived++;
      if (this.state === 'TIME-WAIT') return; // RFC 1337: no TIME-WAIT assassination
      if (seq !== this.rcv.rcvNxt) {
        this.rcv.challengeAck(now);
        return;
      }
      this.host.stats.resets++;
      switch (this.state) {
        case 'SYN-RECEIVED':
          this.toClosed(this.passive ? undefined : 'ECONNREFUSED');
          return;
        case 'ESTABLISHED':
        case 'FIN-WAIT-1':
        case 'FIN-WAIT-2':
        case 'CLOSE-WAIT':
          this.toClosed('ECONNRESET');
          return;
        default:
          this.toClosed(undefined);
          return;
      }
    }

    // Fourth check: SYN in a synchronized state -> challenge ACK (RFC 5961 4.2, RFC 9293 3.10.7.4).
    if (syn) {
      this.rcv.challengeAck(now);
      return;
    }

    // Fifth check: ACK.
    if (!(flags & TcpFlag.ACK)) return;
    const ack = seg.ack;
    if (this.state === 'SYN-RECEIVED') {
      if (seqLt(this.snd.sndUna, ack) && seqLe(ack, this.snd.sndNxt)) {
        this.snd.setWindow(seg.window << this.neg.sndWs, seq, ack);
        this.snd.sndUna = ack;
        this.tmr.rtoAt = NEVER;
        this.neg.handshakeRtt(now, seg);
        this.rtt.resetBackoff();
        this.toEstablished(now);
        if ((this.state as TcpState) === 'CLOSED') return;
      } else {
        this.tx.sendRstRaw(now, ack, 0, TcpFlag.RST); // RFC 9293 3.10.7.4: <SEQ=SEG.ACK><CTL=RST>
        return;
      }
    }
    // RFC 5961 5.2: acceptable if SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT.
    if (seqGt(ack, this.snd.sndNxt) || seqLt(ack, seqAdd(this.snd.sndUna, -Math.max(this.snd.maxSndWnd, 1)))) {
      this.host.stats.badAck++;
      // ignoreAckOfUnsent: an ACK of unsent data is dropped silently, as Linux's tcp_ack.
      if (!(this.host.opts.ignoreAckOfUnsent && seqGt(ack, this.snd.sndNxt))) this.rcv.challengeAck(now);
      return;
    }
    this.updateTsRecent(now, seg, seq);

    // ECN (RFC 3168 6.1.2-6.1.3) before the ACK's output, so the data it releases already carries CWR.
    this.ecn.onSegment(seg, this.host.rx.ce);
    this.ecn.onAck(now, seg);
    this.snd.processAck(now, seg, de - ds);
    if ((this.state as TcpState) === 'CLOSED') return;

    // Seventh: segment text (ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2 only).
    const takesText = this.state === 'ESTABLISHED' || this.state === 'FIN-WAIT-1' || this.state === 'FIN-WAIT-2';
    if (de > ds || fin) {
      // Trim to the window (RFC 9293 3.10.7.4 "segments with higher beginning sequence numbers ...").
      if (seqLt(seq, this.rcv.rcvNxt)) {
        ds = Math.min(de, ds + this.rcv.oldBytes(seq, de - ds));
        seq = this.rcv.rcvNxt;
      }
      const room = seqDiff(rcvEnd, seq);
      // acceptWholeWhenEmpty: Linux takes an in-order segment whole when its receive queue is empty.
      const whole = this.host.opts.acceptWholeWhenEmpty && room > 0 && seq === this.rcv.rcvNxt && this.rcv.rcvBuf.length === 0;
      if (de - ds > room && !whole) {
        this.host.stats.rcvWindowTrimmed += de - ds - Math.max(room, 0);
        de = ds + Math.max(room, 0);
        fin = false;
      }
    }
    if (de > ds) {
      if (!takesText) {
        // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer sent FIN already; ignore the text.
      } else if (this.appClosed) {
        // RFC 2525 2.17 (and Linux): data for a socket the application closed -> RST.
        this.host.stats.resetsOnClose++;
        this.tx.sendRst(now, this.snd.sndNxt);
        this.toClosed(undefined);
        return;
      } else {
        this.rcv.receiveText(now, seq, buf, ds, de, seg.tsEcr);
        if ((this.state as TcpState) === 'CLOSED') return; // the application aborted from onReadable
      }
    }

    // Eighth: FIN, processed when in order; a FIN beyond RCV.NXT waits for the hole to fill.
    if (fin && takesText && !this.rcv.finRcvd) {
      const finSeq = seqAdd(seq, de - ds);
      if (finSeq === this.rcv.rcvNxt) this.finArrives(now);
      else if (seqGt(finSeq, this.rcv.rcvNxt)) {
        this.rcv.oooFin = true;
        this.rcv.oooFinSeq = finSeq;
        this.rcv.ackNow = true;
      }
    } else if (this.rcv.oooFin && this.rcv.oooFinSeq === this.rcv.rcvNxt && !this.rcv.finRcvd && takesText) {
      this.finArrives(now);
    } else if (fin && this.rcv.finRcvd && this.state === 'TIME-WAIT') {
      // A retransmitted FIN: ACK it and restart the 2 MSL timeout (RFC 9293 3.10.7.4 eighth, TIME-WAIT).
      this.rcv.ackNow = true;
      this.tmr.closeAt = now + 2 * this.host.opts.msl;
    }
    this.afterSegment(now);
  }

  /**
   * Whether the segment is the one a synchronized connection mostly sees, whose checks in segmentArrives can only
   * pass (Van Jacobson's header prediction, Linux's tcp_rcv_established fast path): ESTABLISHED, ACK with at most
   * PSH, at RCV.NXT and within the window, no SACK blocks, an ACK between SND.UNA and SND.NXT, a TSval not older
   * than TS.Recent (with timestamps), no out-of-order FIN waiting, and no text for a closed application.
   */
  private predicted(seg: TcpFields, len: number): boolean {
    if (this.state !== 'ESTABLISHED' || (seg.flags & ~TcpFlag.PSH) !== TcpFlag.ACK || seg.seq !== this.rcv.rcvNxt) return false;
    if (seg.sackBlocks.length !== 0 || this.rcv.oooFin || (len > 0 && this.appClosed)) return false;
    if (!seqLe(this.snd.sndUna, seg.ack) || !seqLe(seg.ack, this.snd.sndNxt)) return false;
    if (this.neg.tsOk && (seg.tsVal === undefined || seqLt(seg.tsVal, this.neg.tsRecent))) return false;
    return len <= seqDiff(this.rcv.windowEnd(), this.rcv.rcvNxt);
  }

  /**
   * segmentArrives for a predicted segment: what its checks would leave of it (the segment is acceptable, no RST,
   * SYN or FIN, untrimmed text): the same steps, in the same order, through the same methods. test/tcp/
   * predicted.test.ts holds it to the general path, segment for segment.
   */
  private predictedArrives(now: number, seg: TcpFields, buf: Uint8Array, start: number, end: number): void {
    this.peerHeard(now);
    this.updateTsRecent(now, seg, seg.seq);
    this.ecn.onSegment(seg, this.host.rx.ce);
    this.ecn.onAck(now, seg);
    this.snd.processAck(now, seg, end - start);
    if ((this.state as TcpState) === 'CLOSED') return;
    if (end > start) {
      this.rcv.receiveText(now, seg.seq, buf, start, end, seg.tsEcr);
      if ((this.state as TcpState) === 'CLOSED') return; // the application aborted from onReadable
    }
    this.afterSegment(now);
  }

  /** An acceptable segment arrived: the peer is alive (unanswered probes, RFC 1122 4.2.3.6 keep-alive restart). */
  private peerHeard(now: number): void {
    this.tmr.probesUnanswered = 0;
    if (this.tmr.keepAlive) {
      this.tmr.keepProbes = 0;
      this.tmr.keepaliveAt = now + this.tmr.keepAliveIdle;
    }
  }

  /**
   * RFC 7323 4.3: TS.Recent from a segment (at `seq`, after trimming) that covers Last.ACK.sent and whose TSval is
   * not older (PAWS_WINDOW lets one a tick older through, which must not move TS.Recent back: Linux's
   * tcp_replace_ts_recent).
   */
  private updateTsRecent(now: number, seg: TcpFields, seq: number): void {
    if (this.neg.tsOk && seg.tsVal !== undefined && seqLe(seq, this.neg.lastAckSent) && !seqLt(seg.tsVal, this.neg.tsRecent)) {
      this.neg.tsRecent = seg.tsVal;
      this.neg.tsRecentAt = now;
    }
  }

  /** The end of a segment's arrival: send what it left owed, or leave an in-order ACK to the batch's poll. */
  private afterSegment(now: number): void {
    if (this.rcv.ackSoon && !this.rcv.ackNow && !this.txPending) {
      // Only an in-order ACK is owed: the layer's poll after this receive batch sends it (with any data).
      this.txPending = true;
      this.host.connWake(this);
    } else if (!this.rcv.ackSoon || this.rcv.ackNow) {
      this.snd.outputAfterSegment(now);
    }
    this.rearm();
  }

  /** @internal (for the parts) ESTABLISHED: tell the layer and the application, send what waited. */
  toEstablished(now: number): void {
    this.state = 'ESTABLISHED';
    this.host.stats.established++;
    if (this.tmr.keepAlive) this.tmr.keepaliveAt = now + this.tmr.keepAliveIdle;
    this.rcv.rcvSpaceTime = now;
    if (this.passive) this.host.connEstablished(this);
    // A shutdown requested while in SYN-RECEIVED takes effect now.
    if (this.snd.finQueued) this.state = 'FIN-WAIT-1';
    this.onConnect?.();
    if (this.snd.sndBuf.length > 0 || this.snd.finQueued) this.snd.output(now);
  }

  private finArrives(now: number): void {
    this.rcv.finRcvd = true;
    this.rcv.oooFin = false;
    this.rcv.rcvNxt = seqAdd(this.rcv.rcvNxt, 1);
    if (this.host.opts.finClearsSack) this.rcv.hasDsack = false; // Linux's tcp_fin: tcp_sack_reset
    const ackOwed = this.rcv.ackNow;
    this.rcv.ackNow = true;
    switch (this.state) {
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
        this.state = 'CLOSE-WAIT';
        if (this.host.opts.delayFinAck && !ackOwed) this.rcv.delayAck(now);
        break;
      case 'FIN-WAIT-1':
        if (this.snd.finAcked) this.toTimeWait(now);
        else this.state = 'CLOSING';
        break;
      case 'FIN-WAIT-2':
        this.toTimeWait(now);
        break;
      default:
        break;
    }
    this.onEnd?.();
  }

  /** @internal (for the parts) TIME-WAIT (RFC 9293 3.10.7.4): release the buffers, 2 * MSL, tell the layer. */
  toTimeWait(now: number): void {
    this.state = 'TIME-WAIT';
    if (this.snd.sndBuf.length === 0) this.snd.sndBuf = EMPTY_RING; // release memory kept through 2*MSL
    if (this.rcv.rcvBuf.length === 0 && this.rcv.rcvCap > 1) {
      this.rcv.rcvBuf = EMPTY_RCV;
      this.rcv.rcvCap = 1;
    }
    this.rechargeBuffers();
    this.tmr.closeAt = now + 2 * this.host.opts.msl;
    this.tmr.rtoAt = NEVER;
    this.tmr.tlpAt = NEVER;
    this.tmr.reoAt = NEVER;
    this.tmr.persistAt = NEVER;
    this.tmr.keepaliveAt = NEVER;
    this.host.connTimeWait(this);
    this.onClose?.(undefined); // once: toClosed from TIME-WAIT does not call it again
  }

  /**
   * @internal The layer keeps this TIME-WAIT as a compact record from now on (time-wait.ts): hand over what the
   * record needs, and give back the buffer charge and the timers. The object stays readable (state TIME-WAIT, data
   * not yet read) until the record goes, which closes it through drop().
   */
  timeWaitSeed(out: TimeWaitSeed): void {
    out.localIp = this.localIp;
    out.localPort = this.localPort;
    out.remoteIp = this.remoteIp;
    out.remotePort = this.remotePort;
    out.sndUna = this.snd.sndUna;
    out.sndNxt = this.snd.sndNxt;
    out.maxSndWnd = this.snd.maxSndWnd;
    out.rcvNxt = this.rcv.rcvNxt;
    out.rcvWnd = Math.max(0, seqDiff(this.rcv.rcvAdvEdge, this.rcv.rcvNxt));
    out.rcvWs = this.neg.rcvWs;
    out.lastAckSent = this.neg.lastAckSent;
    out.tsOk = this.neg.tsOk;
    out.sackOk = this.neg.sackOk;
    out.tsRecent = this.neg.tsRecent;
    out.tsRecentAt = this.neg.tsRecentAt;
    out.tsOffset = this.neg.tsOffset;
    out.lastInvalidAckAt = this.rcv.lastInvalidAckAt;
    out.deadline = this.tmr.closeAt;
    this.tmr.closeAt = this.tmr.delackAt = this.timerAt = NEVER;
    this.releaseBuffers();
  }

  /** @internal An ACK is still owed (now, with the next output, or by the delayed-ACK timer). */
  get ackOwed(): boolean {
    return this.rcv.ackNow || this.rcv.ackSoon || this.tmr.delackAt !== NEVER;
  }

  /** @internal Whether a SYN may reopen this TIME-WAIT connection (RFC 6191 with timestamps, RFC 1122 4.2.2.13). */
  timeWaitAcceptsSyn(seg: TcpFields): boolean {
    if (this.state !== 'TIME-WAIT') return false;
    if (this.neg.tsOk && seg.tsVal !== undefined) return seqGt(seg.tsVal, this.neg.tsRecent);
    return seqGt(seg.seq, this.rcv.rcvNxt);
  }

  /** @internal (for the parts) Bring the charge against bufferMemoryLimit up to date (none after CLOSED). */
  rechargeBuffers(): void {
    if (this.bufferCharge < 0) return;
    const charge = this.snd.sndBuf.capacity + this.rcv.rcvCap;
    this.host.bufferAdjust(charge - this.bufferCharge);
    this.bufferCharge = charge;
  }

  /** @internal (for the parts) ESTABLISHED or a later state that has exchanged SYNs (RFC 9293 3.3.2). */
  isSynchronized(): boolean {
    switch (this.state) {
      case 'ESTABLISHED':
      case 'FIN-WAIT-1':
      case 'FIN-WAIT-2':
      case 'CLOSE-WAIT':
      case 'CLOSING':
      case 'LAST-ACK':
        return true;
      default:
        return false;
    }
  }

  /** @internal (for the parts) CLOSED: every timer off, memory given back, the layer and the application told. */
  toClosed(error: TcpCloseError | undefined): void {
    if (this.state === 'CLOSED') return;
    const notified = this.state === 'TIME-WAIT'; // toTimeWait told the application
    this.state = 'CLOSED';
    this.error = error;
    this.tmr.clear();
    this.timerAt = NEVER;
    if (this.rcv.ooo !== EMPTY_OOO) {
      this.host.oooAdjust(-this.rcv.ooo.memory);
      this.rcv.ooo.clear();
      this.rcv.ooo = EMPTY_OOO;
    }
    this.releaseBuffers();
    this.host.connClosed(this);
    if (!notified) this.onClose?.(error);
  }

  /** Give the buffer charge back for good. */
  private releaseBuffers(): void {
    if (this.bufferCharge > 0) this.host.bufferAdjust(-this.bufferCharge);
    this.bufferCharge = -1;
  }

  /** @internal Forget the connection without sending anything (TIME-WAIT reuse, layer limits). */
  drop(): void {
    this.toClosed(undefined);
  }

  // ======================================================================================== timers

  /** @internal (for the parts) Tell the layer when the earliest timer moved. */
  rearm(): void {
    // The earliest deadline, computed here rather than returned by a method of the timers part: a double returned
    // from a call V8 does not inline is a new heap number, and rearm runs several times per segment (about 21 B per
    // transaction, bench/conn-echo.ts --heap).
    const m = this.tmr;
    let t = m.rtoAt;
    if (m.delackAt < t) t = m.delackAt;
    if (m.persistAt < t) t = m.persistAt;
    if (m.keepaliveAt < t) t = m.keepaliveAt;
    if (m.closeAt < t) t = m.closeAt;
    if (m.tlpAt < t) t = m.tlpAt;
    if (m.reoAt < t) t = m.reoAt;
    if (t !== this.timerAt) {
      this.timerAt = t;
      // Only a timer earlier than the connection's heap entry needs the layer (connWake's contract): a later one
      // is re-filed when the entry surfaces. Nearly every rearm moves the timer later (the RTO restarting, the
      // delayed ACK cleared by a send), and the call chain to the layer's schedule was 1-2 % of a transaction.
      if (t < this.heapAt) this.host.connWake(this);
    }
  }

  /** @internal R1 timeouts in a row (RFC 1122 4.2.3.5): tell the layer. */
  negativeAdvice(now: number): void {
    this.host.connNegativeAdvice(this, now);
  }

  /** @internal Run every due timer (ConnTimers.fire). */
  onTimer(now: number): void {
    this.tmr.fire(now);
  }

  // ======================================================================================== ICMP (RFC 5927)

  /** @internal Whether `seq` is in flight (SND.UNA <= seq < SND.NXT): RFC 5927 4.1 validation. */
  seqInFlight(seq: number): boolean {
    return seqLe(this.snd.sndUna, seq) && seqLt(seq, this.snd.sndNxt);
  }

  /** @internal RFC 1191: the path MTU towards the peer is now `mtu`. Returns whether the MSS changed. */
  pmtuChanged(now: number, mtu: number): boolean {
    if (!this.snd.lowerMss(now, mtu, this.host.opts.minMss)) return false;
    this.snd.output(now);
    this.rearm();
    return true;
  }

  /** @internal A hard ICMP error during connection establishment (RFC 1122 4.2.3.9, RFC 5927 4.1). */
  icmpHardError(code: TcpCloseError): void {
    if (this.state === 'SYN-SENT') this.toClosed(code);
  }

  /** @internal Send what the windows allow (the layer calls it when a transmit buffer is free again). */
  output(now: number): void {
    this.snd.output(now);
  }

  /** @internal SND.UNA (test/tcp/stress.test.ts reads it). */
  get sndUna(): number {
    return this.snd.sndUna;
  }

  /** @internal RCV.NXT (fuzz/targets/stack.ts's blind-attack oracle reads it). */
  get rcvNxt(): number {
    return this.rcv.rcvNxt;
  }

  /** @internal for the layer */
  get tcpTsOk(): boolean {
    return this.neg.tsOk;
  }
}
