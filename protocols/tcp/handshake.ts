/**
 * The three-way handshake of one connection (RFC 9293 3.4, 3.10.7.3): the three ways a connection opens (active,
 * passive from a SYN at a listener, and from a valid SYN-cookie ACK, RFC 4987), SYN-SENT's processing of the answer
 * (including simultaneous open), and the SYN (or SYN-ACK) retransmission timer with its negative advice (RFC 1122
 * 4.2.3.5). Its state: the SYN retransmission count, a SYN waiting for a transmit buffer, and the listener a passive
 * connection came from until it is accepted. What the handshake negotiates lives in Negotiated (negotiated.ts); the
 * connection keeps SYN-RECEIVED's dispatch (it is part of the synchronized states' checks). Nothing throws.
 */
import type { TcpConnection } from './connection.js';
import type { TcpConnHost } from './host.js';
import type { TcpStats } from './info.js';
import type { ResolvedTcpOptions } from './options.js';
import { NEVER, SYN_ADVICE_XMITS } from './conn-common.js';
import { seqAdd, seqGt, seqLe } from './seq.js';
import { TcpFlag, type TcpFields } from './wire.js';
import { isIpv6Id } from './addr-ids.js';

export class Handshake {
  private readonly c: TcpConnection;
  private readonly o: ResolvedTcpOptions;
  private readonly stats: TcpStats;
  private readonly host: TcpConnHost;
  /** SYN (or SYN-ACK) retransmissions so far. */
  synXmits = 0;
  /** The SYN (or SYN-ACK) could not be sent (no transmit buffer): output retries it. */
  synPending = false;
  /** The layer's: the listener a passive connection came from, until it is accepted (or closes). */
  listener: unknown = undefined;

  constructor(c: TcpConnection, host: TcpConnHost) {
    this.c = c;
    this.host = host;
    this.o = host.opts;
    this.stats = host.stats;
  }

  /** Active open (RFC 9293 3.10.1 OPEN, SYN-SENT). */
  openActive(now: number, iss: number): void {
    this.c.snd.start(iss | 0, iss | 0, seqAdd(iss, 1));
    this.c.state = 'SYN-SENT';
    this.synXmits = 0;
    this.c.tx.sendSyn(now);
  }

  /** Passive open from a SYN at a listener (RFC 9293 3.10.7.2 LISTEN, third check). */
  openPassive(now: number, iss: number, syn: TcpFields): void {
    this.c.snd.start(iss | 0, iss | 0, seqAdd(iss, 1));
    this.c.rcv.irs = syn.seq;
    this.c.rcv.rcvNxt = seqAdd(syn.seq, 1);
    this.c.neg.negotiate(now, syn);
    this.c.neg.tsRecentAt = now;
    this.c.snd.setWindow(syn.window, syn.seq, this.c.snd.iss); // the window in a SYN is never scaled (RFC 7323 2.2)
    this.c.rcv.openWindow();
    this.c.state = 'SYN-RECEIVED';
    this.synXmits = 0;
    this.c.tx.sendSyn(now);
  }

  /**
   * A connection established by a valid SYN-cookie ACK (RFC 4987 3.6): the state the SYN-ACK implied.
   */
  openFromCookie(now: number, ack: TcpFields, mss: number, wscale: number | undefined, sackOk: boolean, tsOffset: number | undefined): void {
    this.c.snd.start(seqAdd(ack.ack, -1), ack.ack, ack.ack);
    this.c.rcv.irs = seqAdd(ack.seq, -1);
    this.c.rcv.rcvNxt = ack.seq;
    this.c.neg.tsOk = tsOffset !== undefined && ack.tsVal !== undefined;
    if (this.c.neg.tsOk) {
      this.c.neg.tsOffset = tsOffset!;
      this.c.neg.tsRecent = ack.tsVal!;
      this.c.neg.tsRecentAt = now;
    }
    if (wscale !== undefined && this.o.windowScaling && this.c.neg.tsOk) this.c.neg.sndWs = wscale;
    else this.c.neg.rcvWs = 0;
    this.c.neg.sackOk = sackOk && this.o.sack && this.c.neg.tsOk;
    this.c.neg.setMssRaw(now, Math.min(mss, this.c.neg.advMss));
    this.c.snd.setWindow(ack.window << this.c.neg.sndWs, ack.seq, ack.ack);
    this.c.rcv.openWindow();
    this.c.toEstablished(now);
  }

  /** RFC 9293 3.10.7.3 SEGMENT ARRIVES in SYN-SENT, with the segment's text at buf[start, end). */
  synSentArrives(now: number, seg: TcpFields, buf: Uint8Array, start: number, end: number): void {
    const flags = seg.flags;
    const hasAck = (flags & TcpFlag.ACK) !== 0;
    // RFC 9293 3.10.7.3 first: ACK acceptability.
    if (hasAck && (seqLe(seg.ack, this.c.snd.iss) || seqGt(seg.ack, this.c.snd.sndNxt))) {
      if (!(flags & TcpFlag.RST)) {
        this.stats.badAck++;
        this.c.tx.sendRstRaw(now, seg.ack, 0, TcpFlag.RST);
      }
      return;
    }
    if (flags & TcpFlag.RST) {
      this.stats.rstsReceived++;
      if (isIpv6Id(this.c.remoteIp)) this.stats.ipv6.rstsReceived++;
      // RFC 5961 3.2: in SYN-SENT a RST is acceptable only when it ACKs our SYN.
      if (hasAck) {
        this.stats.resets++;
        this.c.toClosed('ECONNREFUSED');
      }
      return;
    }
    if (!(flags & TcpFlag.SYN)) return;
    this.c.rcv.irs = seg.seq;
    this.c.rcv.rcvNxt = seqAdd(seg.seq, 1);
    this.c.neg.negotiate(now, seg);
    this.c.neg.tsRecentAt = now;
    this.c.rcv.openWindow();
    if (hasAck) {
      this.c.neg.handshakeRtt(now, seg);
      this.c.snd.sndUna = seg.ack;
      this.c.snd.setWindow(seg.window, seg.seq, seg.ack); // RFC 7323 2.2: the window in a SYN-ACK is never scaled
      this.c.tmr.rtoAt = NEVER;
      this.c.rtt.resetBackoff();
      this.c.rcv.ackNow = true;
      this.c.toEstablished(now);
      if (end > start && this.c.state === 'ESTABLISHED') this.c.rcv.receiveText(now, this.c.rcv.rcvNxt, buf, start, end);
      this.c.snd.output(now);
    } else {
      // Simultaneous open (RFC 9293 3.5 figure 7): SYN-RECEIVED, send SYN-ACK with our ISS.
      this.c.snd.setWindow(seg.window, seg.seq, this.c.snd.iss);
      this.c.state = 'SYN-RECEIVED';
      this.c.tmr.rtoAt = NEVER;
      this.synXmits = 0;
      this.c.tx.sendSyn(now);
    }
  }

  /** The SYN (or SYN-ACK) retransmission timer expired (RFC 9293 3.8.1, RFC 6298 5.7). */
  onSynRto(now: number): void {
    const limit = this.c.state === 'SYN-SENT' ? this.o.synRetries : this.host.synAckRetryLimit(this.c);
    if (this.synXmits >= limit) {
      this.stats.timeouts++;
      this.c.toClosed(this.c.passive ? undefined : 'ETIMEDOUT');
      return;
    }
    this.synXmits++;
    this.c.cnt.nRetrans++;
    this.stats.retransmittedSegs++;
    if (isIpv6Id(this.c.remoteIp)) this.stats.ipv6.retransmittedSegs++;
    // RFC 1122 4.2.3.5 holds for the SYN too: a peer that learned a wrong MAC for us would otherwise lose every
    // SYN-ACK until its entry expires (issue #13 over TAP). From the second timeout on, as Linux's tcp_write_timeout
    // (icsk_retransmits != 0): the third came 7 s in, and the SYN after it 8 s later.
    if (this.synXmits >= SYN_ADVICE_XMITS) this.c.negativeAdvice(now);
    this.c.rtt.backoff();
    this.c.tx.sendSyn(now);
  }

  /**
   * The next hop answered the neighbour probe that negative advice started (RFC 1122 2.3.2.1): the path
   * works again, and whatever kept it from working (a peer holding a wrong MAC for us) has most likely been put
   * right by that exchange (the probe carries our MAC). A SYN that gave advice goes again now rather than at its
   * backed-off timer (8 s after the advice at the second timeout); the backoff stays, the timer restarts (RFC 6298
   * 5.3). At most once per advice, so at most one extra SYN per timeout.
   */
  pathConfirmed(now: number): void {
    if (this.c.state !== 'SYN-SENT' || this.synXmits < SYN_ADVICE_XMITS) return;
    this.c.cnt.nRetrans++;
    this.stats.retransmittedSegs++;
    if (isIpv6Id(this.c.remoteIp)) this.stats.ipv6.retransmittedSegs++;
    this.c.tmr.rtoAt = NEVER;
    this.c.tx.sendSyn(now);
  }
}
