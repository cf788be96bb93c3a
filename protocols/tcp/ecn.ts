/**
 * Explicit Congestion Notification for one connection (RFC 3168 section 6.1), enabled by the `ecn` option as
 * Linux's tcp_ecn: 1 requests it on active opens and accepts it on passive ones, 2 only accepts.
 * - Negotiation (6.1.1): an ECN-setup SYN carries ECE and CWR; an ECN-setup SYN-ACK carries ECE and not CWR. A
 *   SYN retransmission carries neither (as Linux's tcp_ecn_clear_syn: a middlebox may drop ECN-setup SYNs).
 * - Sender (6.1.2, 6.1.4): new data segments carry ECT(0) in the IP header; retransmissions, pure ACKs, SYNs and
 *   probes never do. An ACK with ECE reduces cwnd as for a loss (ssthresh and cwnd to the loss response, without
 *   retransmitting), at most once per window of data (until SND.UNA passes the SND.NXT of the reduction, or not at
 *   all while a fast recovery already answers this window); the next new data segment then carries CWR.
 * - Receiver (6.1.3): a segment that arrives CE-marked makes every ACK carry ECE until a segment with CWR arrives
 *   (a CWR segment that is itself CE-marked starts it again).
 * Sans-IO; nothing throws. The CE mark of the segment being processed comes from the host (TcpConnHost.rx.ce).
 */
import type { TcpConnection } from './connection.js';
import type { ResolvedTcpOptions } from './options.js';
import { seqGe } from './seq.js';
import { TcpFlag, type TcpFields } from './wire.js';

/** The IPv4 TOS / IPv6 traffic class ECN codepoints (RFC 3168 5). */
export const ECN_NOT_ECT = 0;
export const ECN_ECT0 = 2;
export const ECN_CE = 3;

export class TcpEcn {
  private readonly c: TcpConnection;
  private readonly o: ResolvedTcpOptions;
  /** Both ends agreed to ECN (tcpi_options' TCPI_OPT_ECN). */
  ok = false;
  /** Receiver: a CE mark was seen and no CWR since; our ACKs carry ECE. */
  echoEce = false;
  /** Sender: cwnd was reduced for ECE and the next new data segment carries CWR. */
  cwrPending = false;
  /** Sender: a reduction's window runs until SND.UNA reaches cwrHigh (Linux's CA state 'cwr'). */
  inCwr = false;
  cwrHigh = 0;
  /** CE-marked segments received; congestion window reductions made for ECE. */
  ceReceived = 0;
  reductions = 0;

  constructor(c: TcpConnection, o: ResolvedTcpOptions) {
    this.c = c;
    this.o = o;
  }

  /** The flags our SYN (first transmission only) or SYN-ACK adds. */
  synFlags(synAck: boolean, firstXmit: boolean): number {
    if (synAck) return this.ok ? TcpFlag.ECE : 0;
    return this.o.ecn === 1 && firstXmit ? TcpFlag.ECE | TcpFlag.CWR : 0;
  }

  /** The peer's SYN (passive or simultaneous open) or SYN-ACK (active open) decides (RFC 3168 6.1.1). */
  negotiate(syn: TcpFields): void {
    const ece = (syn.flags & TcpFlag.ECE) !== 0;
    const cwr = (syn.flags & TcpFlag.CWR) !== 0;
    // A SYN-ACK with ECE answers an ECN-setup SYN of ours even when a plain retransmission followed it (as Linux's
    // tcp_ecn_rcv_synack): the peer now sends ECT, and CE marks on it must be echoed.
    if (syn.flags & TcpFlag.ACK) this.ok = this.o.ecn === 1 && ece && !cwr;
    else this.ok = this.o.ecn !== 0 && ece && cwr;
  }

  /** An acceptable segment in a synchronized state (before its ACK is processed): the receiver's half. */
  onSegment(seg: TcpFields, ce: boolean): void {
    if (!this.ok) return;
    if (seg.flags & TcpFlag.CWR) this.echoEce = false;
    if (ce) {
      this.ceReceived++;
      // Linux (tcp_ecn_check_ce) ACKs at once when a CE mark starts a new episode, so the sender hears it soon.
      if (!this.echoEce) this.c.rcv.ackNow = true;
      this.echoEce = true;
    }
  }

  /** Before the ACK of `seg` is processed (and releases data): the sender's half (RFC 3168 6.1.2). */
  onAck(now: number, seg: TcpFields): void {
    if (!this.ok) return;
    const snd = this.c.snd;
    if (this.inCwr && seqGe(snd.sndUna, this.cwrHigh)) this.inCwr = false;
    if (!(seg.flags & TcpFlag.ECE) || this.inCwr) return;
    const rec = this.c.rec;
    this.inCwr = true;
    this.cwrHigh = snd.sndNxt;
    // CWR tells the receiver to stop echoing, whichever reduction answered (as Linux's tcp_ecn_queue_cwr).
    this.cwrPending = true;
    // A fast recovery or timeout already reduced this window: ECE asks for nothing more (RFC 3168 6.1.2).
    if (rec.inRecovery || (rec.rtoEpisode && !seqGe(snd.sndUna, rec.recoverSeq))) return;
    rec.undo.disarm(); // this reduction is not one a D-SACK shows spurious
    this.c.cc.onEnterRecovery(now, rec.lossFlightSize());
    this.c.cc.onExitRecovery(now);
    this.reductions++;
  }

  /** Flags and IP ECN codepoint for a new data segment about to leave (`f.flags` gains CWR once per reduction). */
  newDataEct(f: TcpFields): number {
    if (!this.ok) return ECN_NOT_ECT;
    if (this.cwrPending) {
      f.flags |= TcpFlag.CWR;
      this.cwrPending = false;
    }
    return ECN_ECT0;
  }
}
