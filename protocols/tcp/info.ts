/**
 * TCP counters and per-connection information. `TcpStats` is the layer's plain object of counters (every drop
 * reason has one); `TcpInfo` is a snapshot of one connection, in the spirit of Linux `struct tcp_info`.
 */
import type { TcpState } from './connection.js';
import type { CaState } from './ca-state.js';

/** The IPv6 share of some of TcpStats' counters (the rest of each is IPv4's): `stats.tcp.ipv6`. */
export interface TcpFamilyStats {
  segsIn: number;
  segsOut: number;
  retransmittedSegs: number;
  rstsSent: number;
  /** RSTs received by connections (TIME-WAIT records' not included). */
  rstsReceived: number;
  activeOpens: number;
  passiveOpens: number;
}

export const newTcpFamilyStats = (): TcpFamilyStats => ({ segsIn: 0, segsOut: 0, retransmittedSegs: 0, rstsSent: 0, rstsReceived: 0, activeOpens: 0, passiveOpens: 0 });

export interface TcpStats {
  /** The IPv6 share of segsIn, segsOut, retransmittedSegs, rstsSent, rstsReceived, activeOpens and passiveOpens. */
  ipv6: TcpFamilyStats;
  segsIn: number;
  segsOut: number;
  /** Dropped: shorter than 20 bytes or data offset < 5 / past the end. */
  malformed: number;
  badChecksum: number;
  badOptions: number;
  /** Segments for no connection and no listener (answered with RST unless they were RSTs). */
  noSocket: number;
  /** Segments for no connection (not a new flow's SYN) the layer's `stray` hook took instead of a RST or a drop. */
  strayHandedOff: number;
  /** Unacceptable sequence numbers (RFC 9293 3.10.7.4 first check). */
  outOfWindow: number;
  /** RFC 7323 5.3 PAWS rejections. */
  pawsRejected: number;
  /** ACKs for data never sent (SEG.ACK > SND.NXT) or too old (RFC 5961 5.2). */
  badAck: number;
  challengeAcksSent: number;
  challengeAcksRateLimited: number;
  /**
   * Duplicate ACKs not sent in answer to an unacceptable segment (out of window, PAWS) because the connection
   * answered one less than invalidAckIntervalMs ago (like Linux's tcp_invalid_ratelimit / TCPACKSkipped*).
   */
  invalidAcksRateLimited: number;
  rstsSent: number;
  /** RSTs for segments matching no connection not sent because of rstRateLimit. */
  rstsRateLimited: number;
  rstsReceived: number;
  /** RSTs outside the receive window, ignored (RFC 5961 3.2). */
  rstsOutOfWindow: number;
  /** Segments a listener drops: RSTs, and segments with neither SYN nor ACK (RFC 9293 3.10.7.2). */
  listenDrops: number;
  /** RSTs accepted (connection reset). */
  resets: number;
  synCookiesSent: number;
  synCookiesValidated: number;
  synCookiesFailed: number;
  /** SYNs dropped because the SYN queue was full and SYN cookies are off. */
  synQueueDrops: number;
  /** SYNs or cookie ACKs dropped because the accept queue (backlog) was full. */
  backlogDrops: number;
  activeOpens: number;
  passiveOpens: number;
  /** Connections that reached ESTABLISHED. */
  established: number;
  /** RSTs sent by close() with unread data, or for data arriving after close() (RFC 2525 2.17). */
  resetsOnClose: number;
  timeouts: number;
  retransmittedSegs: number;
  rtoExpirations: number;
  fastRecoveries: number;
  /** Fast recoveries found spurious (every retransmission D-SACKed) and undone (RFC 3708; Linux TCPDSACKUndo). */
  recoveriesUndone: number;
  tlpProbes: number;
  /** TLP retransmissions that repaired a loss (cwnd reduced, RFC 8985 7.4). */
  tlpRecoveries: number;
  /** FINs from shutdown/close sent from the next poll instead of at once (closeBurst). */
  finsDeferred: number;
  rackLosses: number;
  /** Fast recoveries RFC 5827's early retransmit started (lossDetection 'early-retransmit' and its delayed form). */
  earlyRetransmits: number;
  dsacksReceived: number;
  /** D-SACKs ignored as dubious: more segments reported duplicate than were ever retransmitted (Linux TCPDSACKIgnoredDubious). */
  dsacksIgnored: number;
  /** Out-of-order segments not kept because the out-of-order queue was at its cap. */
  oooDrops: number;
  /** Out-of-order segments dropped because all connections together hold oooTotalLimit. */
  oooTotalDrops: number;
  /** Times a buffer did not grow (send buffer, receive auto-tuning) because of bufferMemoryLimit. */
  bufferLimitHits: number;
  /** Bytes beyond the receive window or buffer, trimmed. */
  rcvWindowTrimmed: number;
  pmtuUpdates: number;
  /** ICMP errors that matched nothing or quoted a sequence number not in flight (RFC 5927). */
  icmpIgnored: number;
  timeWaitReused: number;
  /** TIME-WAIT states not kept because of the maxTimeWait cap. */
  timeWaitOverflow: number;
  keepaliveProbes: number;
  zeroWindowProbes: number;
  /** The host lent no transmit buffer (segment not sent now). */
  txBlocked: number;
  /** Segments the driver took and dropped (a local transmit failure, FrameDriver.txCommit returned false). */
  txDropped: number;
}

export function newTcpStats(): TcpStats {
  return {
    ipv6: newTcpFamilyStats(),
    segsIn: 0, segsOut: 0, malformed: 0, badChecksum: 0, badOptions: 0, noSocket: 0, strayHandedOff: 0, outOfWindow: 0,
    pawsRejected: 0, badAck: 0, challengeAcksSent: 0, challengeAcksRateLimited: 0, invalidAcksRateLimited: 0, rstsSent: 0, rstsRateLimited: 0, rstsReceived: 0, rstsOutOfWindow: 0, listenDrops: 0,
    resets: 0, synCookiesSent: 0, synCookiesValidated: 0, synCookiesFailed: 0, synQueueDrops: 0, backlogDrops: 0,
    activeOpens: 0, passiveOpens: 0, established: 0, resetsOnClose: 0, timeouts: 0, retransmittedSegs: 0,
    rtoExpirations: 0, fastRecoveries: 0, recoveriesUndone: 0, tlpProbes: 0, tlpRecoveries: 0, finsDeferred: 0, rackLosses: 0, earlyRetransmits: 0, dsacksReceived: 0, dsacksIgnored: 0, oooDrops: 0, oooTotalDrops: 0, bufferLimitHits: 0,
    rcvWindowTrimmed: 0, pmtuUpdates: 0, icmpIgnored: 0, timeWaitReused: 0, timeWaitOverflow: 0,
    keepaliveProbes: 0, zeroWindowProbes: 0, txBlocked: 0, txDropped: 0,
  };
}

/** A snapshot of one connection (like Linux tcp_info). Times in ms; sizes in bytes. */
export interface TcpInfo {
  state: TcpState;
  srtt: number | undefined;
  rttvar: number | undefined;
  rto: number;
  /** The receiver's RTT estimate (used by receive-buffer auto-tuning), undefined until measured. */
  rcvRtt: number | undefined;
  /** RTO backoff count (consecutive timeouts). */
  backoff: number;
  cwnd: number;
  ssthresh: number;
  congestionControl: string;
  /** RFC 6675 pipe: bytes believed in flight. */
  bytesInFlight: number;
  /** SND.NXT - SND.UNA. */
  unacked: number;
  sndMss: number;
  rcvMss: number;
  /** The MSS we advertised in our SYN or SYN-ACK (Linux's tcpi_advmss). */
  advMss: number;
  sndWnd: number;
  rcvWnd: number;
  sndWscale: number;
  rcvWscale: number;
  timestamps: boolean;
  sackPermitted: boolean;
  /** Both ends agreed to ECN (RFC 3168; Linux's TCPI_OPT_ECN in tcpi_options). */
  ecn: boolean;
  /** CE-marked segments received, and congestion window reductions made for ECN-Echo (ECN only). */
  ecnCeReceived: number;
  ecnReductions: number;
  inRecovery: boolean;
  /** ms not idle, ms limited by the peer's window, ms limited by the send buffer (chrono.ts; Linux tcpi_busy_time...). */
  busyTime: number;
  rwndLimited: number;
  sndbufLimited: number;
  /** Congestion-avoidance state, as Linux's tcpi_ca_state names it (see ca-state.ts). */
  caState: CaState;
  /** Segments retransmitted (all causes). */
  retransmits: number;
  /** Segments retransmitted and not yet cumulatively ACKed (Linux's tcpi_retrans also drops the SACKed ones). */
  retransOut: number;
  /** Zero-window probes sent since the peer last answered (Linux's tcpi_probes). */
  probes: number;
  /** The path's reordering degree in segments, 3 until measured (Linux's tcpi_reordering; reordering.ts). */
  reordering: number;
  /** ACKs that showed reordering (Linux's tcpi_reord_seen). */
  reordSeen: number;
  /** Smallest RTT sample, ms (Linux's tcpi_min_rtt is windowed; this one is over the connection's life). */
  minRtt: number | undefined;
  rtoCount: number;
  fastRecoveries: number;
  /** Fast recoveries undone as spurious (all retransmissions D-SACKed, RFC 3708). */
  recoveriesUndone: number;
  sackedBytes: number;
  /** Bytes marked lost and not yet retransmitted. */
  lostBytes: number;
  /** Bytes marked lost and not yet delivered, retransmitted or not (Linux's lost_out: tcpi_lost). */
  lostOutBytes: number;
  dsacksReceived: number;
  rackLosses: number;
  tlpProbes: number;
  bytesSent: number;
  bytesAcked: number;
  bytesReceived: number;
  segsOut: number;
  segsIn: number;
  sendBuffer: number;
  receiveBuffer: number;
  /** Bytes waiting to be read. */
  readable: number;
  oooBytes: number;
}
