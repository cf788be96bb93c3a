/**
 * What the handshake negotiated (RFC 9293 3.7.1 MSS, RFC 7323 window scale and timestamps, RFC 2018 SACK-permitted)
 * and the timestamp clock of the connection: TS.Recent, the offset our TSvals carry, the handshake RTT sample.
 * Set once by the opening segments (and lowered MSS on PMTU changes); read on every segment.
 */
import type { TcpConnection } from './connection.js';
import type { ResolvedTcpOptions } from './options.js';
import type { TcpFields } from './wire.js';
import { MAX_WINDOW } from './conn-common.js';

/** The window scale that lets a receive buffer of `bufferBytes` be offered (RFC 7323 2.3, at most 14). */
export function wscaleFor(bufferBytes: number): number {
  let s = 0;
  while (s < 14 && MAX_WINDOW << s < bufferBytes) s++;
  return s;
}

export class Negotiated {
  private readonly c: TcpConnection;
  private readonly o: ResolvedTcpOptions;

  constructor(c: TcpConnection, o: ResolvedTcpOptions) {
    this.c = c;
    this.o = o;
  }

  /** Effective send MSS: payload bytes per segment after fixed options (timestamps). */
  mss = 536;

  /** MSS without option overhead: min(peer MSS, our clamp, PMTU). */
  mssRaw = 536;
  advMss = 536;
  sndWs = 0;
  rcvWs = 0;
  tsOk = false;
  sackOk = false;
  tsOffset = 0;
  tsRecent = 0;
  tsRecentAt = 0;
  lastAckSent = 0;
  /** Whether the peer agreed to window scaling (our SYN-ACK then carries our shift). */
  wsAgreedFlag = false;
  /** The congestion controller was made for the negotiated MSS (setMssRaw). */
  ccNegotiated = false;
  /** When the first SYN (or SYN-ACK) left, for the handshake RTT sample. */
  synSentAt = 0;
  /**
   * The path towards the peer as the host last said (Linux's dst cache entry): its MTU and TSO limit, read at the
   * host's paths.generation `pathGen`, so that output does no route lookup per segment. -1: ask again (never
   * asked, an IPv6 peer, or a host that keeps no generation: PATHS_UNKNOWN's -2 never equals it).
   */
  pathGen = -1;
  pathMtu = 0;
  pathTsoMax = 0;

  /** From the peer's SYN (or SYN-ACK): the options both ends offered, and the send MSS. */
  negotiate(now: number, syn: TcpFields): void {
    // RFC 9293 3.7.1: without an MSS option assume 536.
    const peerMss = syn.mss !== undefined && syn.mss > 0 ? syn.mss : 536;
    this.wsAgreedFlag = this.o.windowScaling && syn.wscale !== undefined;
    if (this.wsAgreedFlag) {
      this.sndWs = syn.wscale!;
    } else {
      this.sndWs = 0;
      this.rcvWs = 0;
    }
    this.tsOk = this.o.timestamps && syn.tsVal !== undefined;
    if (this.tsOk) this.tsRecent = syn.tsVal!;
    this.sackOk = this.o.sack && syn.sackPermitted;
    this.c.ecn.negotiate(syn);
    this.setMssRaw(now, Math.min(peerMss, this.advMss));
  }

  setMssRaw(now: number, m: number): void {
    this.mssRaw = Math.max(m, 64);
    this.mss = this.mssRaw - (this.tsOk ? 12 : 0);
    if (!this.ccNegotiated) {
      // The congestion controller starts once the MSS is known, so the initial window (RFC 6928) uses it.
      this.ccNegotiated = true;
      this.c.cc = this.o.congestionControl({ mss: this.mss, now, initialWindowSegments: this.o.initialWindowSegments, abcLimit: this.o.abcLimit, hystart: this.o.hystart });
    } else this.c.cc.setMss(this.mss);
  }

  /**
   * RTT sample from the handshake, for both opens (RFC 6298 3, Karn: only if our SYN or SYN-ACK was not
   * retransmitted, unless timestamps say which one was answered). Linux measures the passive open's too
   * (tcp_synack_rtt_meas), so the RTO and RACK's min_RTT start from the path's RTT before any data is ACKed.
   */
  handshakeRtt(now: number, seg: TcpFields): void {
    if (this.tsOk && seg.tsEcr !== undefined && seg.tsEcr !== 0) this.c.snd.rttSample(this.tsDiff(now, seg.tsEcr));
    else if (this.c.hs.synXmits === 0) this.c.snd.rttSample(now - this.synSentAt);
  }

  tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) | 0; // signed, as sequence numbers (seq.ts)
  }

  tsDiff(now: number, tsEcr: number): number {
    return (this.tsNow(now) - tsEcr) | 0;
  }
}
