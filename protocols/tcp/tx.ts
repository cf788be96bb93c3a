/**
 * Segment building for one connection: header and options (timestamps, SACK blocks, the SYN's offers) filled into
 * the layer's reused header object, and the one place the connection hands a segment to its layer
 * (`TcpConnHost.transmit`), which writes it in place into a driver buffer. A refused transmission (no buffer) marks
 * the connection txPending for the layer to retry. Sending an ACK settles what the receiver owed.
 */
import type { TcpConnection } from './connection.js';
import type { TcpConnHost } from './host.js';
import type { TcpStats } from './info.js';
import type { ResolvedTcpOptions } from './options.js';
import type { ByteRing } from './byte-ring.js';
import { MAX_WINDOW, NEVER, TX_BUSY, TX_DROPPED } from './conn-common.js';
import { seqAdd } from './seq.js';
import { TcpFlag, clearTcpOptions, type TcpFields } from './wire.js';
import { isIpv6Id } from './addr-ids.js';

export class Transmitter {
  private readonly c: TcpConnection;
  private readonly o: ResolvedTcpOptions;
  private readonly stats: TcpStats;
  private readonly host: TcpConnHost;

  constructor(c: TcpConnection, host: TcpConnHost) {
    this.c = c;
    this.host = host;
    this.o = host.opts;
    this.stats = host.stats;
  }

  /** Send our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with the options offered or agreed. */
  sendSyn(now: number): void {
    const f = this.host.txFields;
    const synAck = this.c.state === 'SYN-RECEIVED';
    this.fillHeader(f, this.c.snd.iss, synAck ? TcpFlag.SYN | TcpFlag.ACK : TcpFlag.SYN);
    f.flags |= this.c.ecn.synFlags(synAck, this.c.hs.synXmits === 0); // RFC 3168 6.1.1
    f.window = Math.min(this.c.rcv.rcvFree(), MAX_WINDOW);
    f.mss = this.c.neg.advMss;
    const offer = !synAck;
    f.wscale = (offer ? this.o.windowScaling : this.c.neg.wsAgreedFlag) ? this.c.neg.rcvWs : undefined;
    if (this.c.hs.synXmits === 0) this.c.neg.synSentAt = now;
    f.sackPermitted = offer ? this.o.sack : this.c.neg.sackOk;
    if (offer ? this.o.timestamps : this.c.neg.tsOk) {
      f.tsVal = this.c.neg.tsNow(now);
      f.tsEcr = synAck ? this.c.neg.tsRecent : 0;
    }
    f.sackBlocks.length = 0;
    this.c.hs.synPending = !this.xmit(now, f, null, 0, 0); // retried by output() when the host lends a buffer again
    if (this.c.tmr.rtoAt === NEVER) this.c.tmr.armRto(now);
    this.c.rearm();
  }

  fillHeader(f: TcpFields, seq: number, flags: number): void {
    f.srcPort = this.c.localPort;
    f.dstPort = this.c.remotePort;
    f.seq = seq;
    f.ack = flags & TcpFlag.ACK ? this.c.rcv.rcvNxt : 0;
    // RFC 3168 6.1.3: every ACK carries ECE from a CE mark until the peer's CWR.
    f.flags = this.c.ecn.echoEce && (flags & (TcpFlag.ACK | TcpFlag.SYN | TcpFlag.RST)) === TcpFlag.ACK ? flags | TcpFlag.ECE : flags;
    f.urgent = 0;
    clearTcpOptions(f);
    f.window = flags & TcpFlag.SYN ? 0 : this.c.rcv.windowField();
  }

  fillOptions(now: number, f: TcpFields, dataLen: number): void {
    if (this.c.neg.tsOk) {
      f.tsVal = this.c.neg.tsNow(now);
      f.tsEcr = this.c.neg.tsRecent;
    }
    if (this.c.neg.sackOk && (this.c.rcv.hasDsack || this.c.rcv.ooo.segments > 0)) {
      // RFC 2018 4 / RFC 2883: D-SACK first, then the most recent blocks; only what fits in the segment.
      const room = this.c.neg.mssRaw - dataLen - (this.c.neg.tsOk ? 12 : 0) - 4;
      const maxBlocks = Math.min(this.c.neg.tsOk ? 3 : 4, room >> 3);
      if (maxBlocks <= 0) return;
      this.c.rcv.sackBlocksInto(f.sackBlocks, maxBlocks);
    }
  }

  /**
   * Hand a segment to the host. False: not sent, and the caller keeps it: no transmit buffer now (retried from the
   * next poll), or data the driver dropped (a local failure: `tmr.localDrop`, retried by the persist timer on
   * Linux's resource-probe interval, Sender.onPersist). A segment without data the driver dropped counts as sent
   * and lost (its own timer repairs it, as for a loss on the wire).
   */
  xmit(now: number, f: TcpFields, ring: ByteRing | null, off: number, len: number, segment?: number, tos = 0): boolean {
    f.payloadLen = len;
    const r = this.host.transmit(now, this.c, f, ring, off, len, segment, tos);
    if (r === TX_BUSY) {
      this.c.txPending = true;
      this.stats.txBlocked++;
      this.host.connWake(this.c);
      return false;
    }
    if (len > 0) {
      this.c.tmr.localDrop = r === TX_DROPPED;
      if (r === TX_DROPPED) return false;
    }
    this.c.cnt.segsOut += segment !== undefined ? Math.ceil(len / segment) : 1;
    if (f.flags & TcpFlag.ACK) {
      this.c.neg.lastAckSent = this.c.rcv.rcvNxt;
      this.c.rcv.ackNow = false;
      this.c.rcv.ackSoon = false;
      this.c.rcv.unackedBytes = 0;
      this.c.tmr.delackAt = NEVER;
      this.c.rcv.hasDsack = false;
    }
    return true;
  }

  /** Send a pure ACK now. */
  sendAck(now: number): boolean {
    const f = this.host.txFields;
    this.fillHeader(f, this.c.snd.sndNxt, TcpFlag.ACK);
    this.fillOptions(now, f, 0);
    return this.xmit(now, f, null, 0, 0);
  }

  sendRst(now: number, seq: number): void {
    this.sendRstRaw(now, seq, this.c.rcv.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
  }

  sendRstRaw(now: number, seq: number, ack: number, flags: number): void {
    const f = this.host.txFields;
    this.fillHeader(f, seq, flags);
    f.ack = flags & TcpFlag.ACK ? ack : 0;
    f.window = 0;
    this.stats.rstsSent++;
    if (isIpv6Id(this.c.remoteIp)) this.stats.ipv6.rstsSent++;
    f.payloadLen = 0;
    if (this.host.transmit(now, this.c, f, null, 0, 0)) this.c.cnt.segsOut++;
  }

  sendProbe(now: number): void {
    const f = this.host.txFields;
    this.fillHeader(f, seqAdd(this.c.snd.sndUna, -1), TcpFlag.ACK);
    this.fillOptions(now, f, 0);
    this.xmit(now, f, null, 0, 0);
  }
}
