/**
 * The per-connection counters behind `TcpConnection.info()` (Linux's tcp_info), and the snapshot itself, which
 * reads the other parts of the connection (sender, receiver, scoreboard, recovery, negotiated options). Counters
 * only ever grow; nothing here decides anything.
 */
import type { TcpConnection } from './connection.js';
import type { TcpInfo } from './info.js';
import { caStateOf } from './ca-state.js';
import { seqDiff, seqLt } from './seq.js';
import { NEVER } from './conn-common.js';

export class TcpCounters {
  private readonly c: TcpConnection;
  nRetrans = 0;
  nRto = 0;
  nFastRec = 0;
  nUndo = 0;
  nDsack = 0;
  nRack = 0;
  nTlp = 0;
  bytesSent = 0;
  bytesAcked = 0;
  bytesReceived = 0;
  segsOut = 0;
  segsIn = 0;

  constructor(c: TcpConnection) {
    this.c = c;
  }

  /** A snapshot; with `now`, the sender-limit times (chrono.ts) include the period still running. */
  info(now?: number): TcpInfo {
    const chrono = this.c.snd.chrono.totals(now);
    return {
      busyTime: chrono.busyTime,
      rwndLimited: chrono.rwndLimited,
      sndbufLimited: chrono.sndbufLimited,
      state: this.c.state,
      srtt: this.c.rtt.srtt,
      rttvar: this.c.rtt.rttvar,
      rto: this.c.rtt.rto,
      rcvRtt: this.c.rcv.rcvRtt,
      backoff: this.c.rtt.backoffCount,
      cwnd: this.c.rec.sendCwnd(),
      ssthresh: this.c.cc.ssthresh,
      congestionControl: this.c.cc.name,
      bytesInFlight: this.c.rec.pipe(),
      unacked: seqDiff(this.c.snd.sndNxt, this.c.snd.sndUna),
      sndMss: this.c.neg.mss,
      rcvMss: this.c.rcv.rcvMssEst,
      advMss: this.c.neg.advMss,
      sndWnd: this.c.snd.sndWnd,
      rcvWnd: Math.max(0, seqDiff(this.c.rcv.rcvAdvEdge, this.c.rcv.rcvNxt)),
      sndWscale: this.c.neg.sndWs,
      rcvWscale: this.c.neg.rcvWs,
      timestamps: this.c.neg.tsOk,
      sackPermitted: this.c.neg.sackOk,
      ecn: this.c.ecn.ok,
      ecnCeReceived: this.c.ecn.ceReceived,
      ecnReductions: this.c.ecn.reductions,
      inRecovery: this.c.rec.inRecovery,
      caState: caStateOf({
        inRecovery: this.c.rec.inRecovery,
        rtoEpisode: this.c.rec.rtoEpisode && !this.c.rec.inRecovery && seqLt(this.c.snd.sndUna, this.c.rec.recoverSeq),
        sackedBytes: this.c.sb.sackedBytes,
        lostBytes: this.c.sb.lostBytes,
        dupAcks: this.c.rec.dupAcks,
        inCwr: this.c.ecn.inCwr && seqLt(this.c.snd.sndUna, this.c.ecn.cwrHigh),
      }),
      retransmits: this.nRetrans,
      retransOut: this.c.sb.retransOut,
      probes: this.c.tmr.probesUnanswered,
      reordering: this.c.rec.reorder.degree,
      reordSeen: this.c.rec.reorder.events,
      minRtt: this.c.rec.rackMinRtt === NEVER ? undefined : this.c.rec.rackMinRtt,
      rtoCount: this.nRto,
      fastRecoveries: this.nFastRec,
      recoveriesUndone: this.nUndo,
      sackedBytes: this.c.sb.sackedBytes,
      lostBytes: this.c.sb.lostBytes,
      lostOutBytes: this.c.sb.lostBytes + this.c.sb.lostSentBytes,
      dsacksReceived: this.nDsack,
      rackLosses: this.nRack,
      tlpProbes: this.nTlp,
      bytesSent: this.bytesSent,
      bytesAcked: this.bytesAcked,
      bytesReceived: this.bytesReceived,
      segsOut: this.segsOut,
      segsIn: this.segsIn,
      sendBuffer: this.c.snd.sndLimit(),
      receiveBuffer: this.c.rcv.rcvCap,
      readable: this.c.rcv.rcvBuf.length,
      oooBytes: this.c.rcv.ooo.bytes,
    };
  }
}
