/**
 * TcpLayer options and their defaults. Every limit is explicit so no input can exhaust memory.
 */
import { BywayError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import type { CongestionControlFactory } from './parts.js';
import { HYSTART_DEFAULTS, resolveHystart, type HystartOptions, type ResolvedHystartOptions } from './cc/hystart.js';

/**
 * Named option sets. 'byway' is the defaults below. 'linux' gives the behaviour of Linux 6.x's TCP at its default
 * sysctls, the TCP that packetdrill scripts and most users' expectations are written against: initial window 10
 * (RFC 6928), initial RTO 1 s, 200 ms minimum and Linux's RTO formula (rtoFormula 'linux'), 40 ms delayed ACK with
 * 16 quick ACKs at the start, cwnd restart after idle (RFC 5681 4.1), slow start counting every segment an ACK covers (abcLimit 0), timestamps ticking once per millisecond, SACK, window scale derived from the largest
 * receive buffer (tcp_rmem's default maximum, 6 MiB, gives scale 7), receive buffer 128 KiB (tcp_rmem's default),
 * send buffer 16 KiB growing to 4 MiB (tcp_wmem), 6 SYN / 5 SYN-ACK retries, CUBIC. Options given explicitly
 * override the profile's values.
 */
export type TcpProfile = 'byway' | 'linux';

/** TcpOptions.lossDetection's values. */
export const LOSS_DETECTION = ['rack-tlp', 'dupthresh', 'early-retransmit', 'early-retransmit-delayed'] as const;
export type LossDetection = (typeof LOSS_DETECTION)[number];

export const LINUX_PROFILE: Readonly<Partial<Omit<TcpOptions, 'rng' | 'profile'>>> = Object.freeze({
  initialWindowSegments: 10,
  initialRto: 1000,
  minRto: 200,
  maxRto: 120_000,
  rtoFormula: 'linux',
  delayedAckMs: 40,
  delayFinAck: true,
  finClearsSack: true,
  ignoreAckOfUnsent: true,
  acceptWholeWhenEmpty: true,
  acceptFinAtZeroWindow: true,
  slowStartAfterIdle: true,
  abcLimit: 0,
  prr: true,
  minshallNagle: true,
  ssthreshFromCwnd: true,
  quickAcks: 16,
  timestamps: true,
  sack: true,
  windowScaling: true,
  receiveBuffer: 128 * 1024,
  maxReceiveBuffer: 6 * 1024 * 1024,
  sendBuffer: 16 * 1024,
  maxSendBuffer: 4 * 1024 * 1024,
  synRetries: 6,
  synAckRetries: 5,
  hystart: Object.freeze({ variant: 'linux' }),
});

export interface TcpOptions {
  /** A named set of defaults (see TcpProfile). Default 'byway'. */
  profile?: TcpProfile;
  /**
   * How the RTO follows the RTT estimate. 'rfc6298': RTO = SRTT + max(G, 4 * RTTVAR), then clamped to
   * [minRto, maxRto] (RFC 6298 2.3-2.5). 'linux': RTO = SRTT + max(minRto, 4 * RTTVAR), as Linux's tcp_set_rto
   * (its variance term never falls below tcp_rto_min), so a steady 100 ms path gets 300 ms, not 200 ms; and the
   * tail-loss probe timer as tcp_schedule_loss_probe: 2 SRTT + 2 ms, or + minRto with one segment out, never
   * pending in fast recovery. Default
   * 'rfc6298' ('linux' in the Linux profile).
   */
  rtoFormula?: 'rfc6298' | 'linux';
  /** Randomness for ports, keys and timestamp offsets (injected: cores draw no random numbers themselves). */
  rng: Rng;
  /** RFC 6528 ISN secret (16 bytes); drawn from rng when absent. */
  isnKey?: Uint8Array;
  /** SYN-cookie secret (16 bytes); drawn from rng when absent. */
  cookieKey?: Uint8Array;
  /**
   * Milliseconds added to the clock for the SYN cookies' 64-second time slot (default 0). Stacks that validate one
   * another's cookies (a cluster's workers: they share `cookieKey`, as Linux's listeners of one SO_REUSEPORT group
   * share their namespace's secret) each give the origin of their clock on one common time line, so their slots
   * agree (src/cluster/cookies.ts).
   */
  cookieTimeOrigin?: number;
  /** Override the ISN (tests: sequence-number wrap). Default: RFC 6528 computeIsn. */
  isn?: (localIp: number, localPort: number, remoteIp: number, remotePort: number, now: number) => number;
  /**
   * Largest MSS we advertise / use, further clamped to mtuFor(dst) - 40. Default 65495: no cap of its own, so the
   * link's MTU decides, as Linux derives its advertised MSS from the route's MTU (an MTU-65000 link gets 64960-byte
   * segments, not 1460).
   */
  mss?: number;
  /** PMTU floor for the MSS (RFC 1191 frag-needed never lowers it below). Default 536. */
  minMss?: number;
  /** Send buffer bytes per connection (the starting limit when auto-tuned). Default 256 KiB. */
  sendBuffer?: number;
  /**
   * Send buffer auto-tuning ceiling: the limit grows to twice the congestion window up to this (Linux's
   * tcp_sndbuf_expand; tcp_wmem's default maximum is 4 MiB), so a path with a large bandwidth-delay product is
   * not held to `sendBuffer`. Default 4 MiB, or `sendBuffer` when that is given (a fixed size, as SO_SNDBUF
   * locks Linux's). Must be >= sendBuffer.
   */
  maxSendBuffer?: number;
  /** Initial receive buffer bytes. Default 128 KiB. */
  receiveBuffer?: number;
  /** Receive buffer auto-tuning ceiling (also sets the window scale). Default 4 MiB. */
  maxReceiveBuffer?: number;
  /** Out-of-order queue cap per connection, bytes (data + per-segment overhead). Default: 1.25 * maxReceiveBuffer. */
  oooLimit?: number;
  /** Out-of-order data held by all connections together, bytes (same accounting). Default 64 MiB. */
  oooTotalLimit?: number;
  /**
   * Send and receive buffer memory of all connections together, bytes (each connection counts its send ring and
   * its logical receive buffer, the window it may offer). Growth (send-buffer growth, receive auto-tuning) stops
   * while the total is at the limit; a connection's initial buffers are always granted (their total is bounded
   * by maxConnections). Default 512 MiB.
   */
  bufferMemoryLimit?: number;
  /** RFC 9293 MSL, ms; TIME-WAIT lasts 2*MSL. Default 30000 (60 s TIME-WAIT, like Linux). */
  msl?: number;
  /** FIN-WAIT-2 timeout after close(), ms. Default 60000. */
  finWait2Timeout?: number;
  /** RTO bounds (RFC 6298), ms. Defaults 1000 / 200 / 120000. */
  initialRto?: number;
  minRto?: number;
  maxRto?: number;
  /** Congestion control. Default CUBIC (RFC 9438). */
  congestionControl?: CongestionControlFactory;
  /**
   * How the sender detects losses before a timeout. 'rack-tlp' (default): RACK's time-based marking and tail-loss
   * probes (RFC 8985), with RFC 6675's IsLost until reordering is seen. The others are the loss detection of
   * Linux 3.x (tcp_early_retrans 0, 1 and 2), without RACK or probes: 'dupthresh' RFC 6675 alone (three duplicate
   * ACKs, or more than two segments SACKed above a hole); 'early-retransmit' adds RFC 5827: with fewer than four
   * segments outstanding and no new data to send, one segment fewer than outstanding reported delivered (SACKed,
   * or duplicate ACKs without SACK) marks the first one lost; 'early-retransmit-delayed' waits max(SRTT / 4, 2 ms)
   * before doing so (RFC 5827 appendix A.3's mitigation against reordering; every ACK restarts the wait, and the
   * retransmission timer firing first wins), as Linux 3.x's tcp_early_retrans=2. Early retransmit stops once
   * reordering has been seen on the connection (as Linux's tcp_disable_early_retrans).
   */
  lossDetection?: LossDetection;
  /**
   * HyStart: leave the initial slow start when the RTT rises, before a loss (CUBIC only; cc/hystart.ts): variant
   * 'rfc9406' (HyStart++), 'linux' (Linux's CUBIC HyStart, with its detect / lowWindow / ackDeltaMs parameters) or
   * 'off'. Default off ({ variant: 'linux' } in the Linux profile, as Linux's tcp_cubic defaults to).
   */
  hystart?: HystartOptions;
  /** Initial window in segments (RFC 6928). Default 10. */
  initialWindowSegments?: number;
  /** Disable Nagle on new connections. Default false. */
  noDelay?: boolean;
  /** Delayed-ACK timeout, ms (RFC 9293 3.8.6.3: <= 500, we cap at 200). Default 40. */
  delayedAckMs?: number;
  /**
   * ACK a FIN that arrives in ESTABLISHED (moving to CLOSE-WAIT) after the delayed-ACK timeout instead of at once,
   * as Linux does: the application's own FIN or data usually carries the ACK within that time. Default false
   * (true in the Linux profile).
   */
  delayFinAck?: boolean;
  /**
   * Forget the SACK state when a FIN arrives, as Linux's tcp_fin (tcp_sack_reset): the ACK of a FIN that came with
   * repeated data carries no D-SACK block. RFC 2883 asks for the D-SACK (it is advisory; the sender loses only the
   * news that it retransmitted in vain). Default false (true in the Linux profile).
   */
  finClearsSack?: boolean;
  /**
   * Drop a segment whose ACK acknowledges data not yet sent (SEG.ACK > SND.NXT) without answering, as Linux's
   * tcp_ack does, instead of sending the ACK RFC 9293 3.10.7.4 and RFC 5961 5.2 ask for (counted in badAck either
   * way; an ACK too old for RFC 5961 5.2 still gets its challenge ACK). Default false (true in the Linux profile).
   */
  ignoreAckOfUnsent?: boolean;
  /**
   * Take an in-order segment whole, even past the window, when nothing waits to be read, as Linux's tcp_data_queue
   * (sk_forced_mem_schedule on an empty receive queue), instead of trimming it to the window (RFC 9293 3.10.7.4).
   * The buffer overfills by at most that segment (a GRO packet, 64 KiB); the window offered is then zero. Default
   * false (true in the Linux profile).
   */
  acceptWholeWhenEmpty?: boolean;
  /**
   * Take a bare FIN at RCV.NXT when the window is zero, as Linux 6.x's tcp_data_queue (it breaks a FIN/ACK loop
   * with stacks that send FINs into a closed window), instead of answering it with an ACK (RFC 9293 3.10.7.4: a
   * segment of length 1 is unacceptable at RCV.WND = 0). Default false (true in the Linux profile).
   */
  acceptFinAtZeroWindow?: boolean;
  /**
   * Restart from min(initial window, cwnd) when the application sends after more than an RTO without data in
   * flight (RFC 5681 4.1; Linux's tcp_slow_start_after_idle, on by default there). Default false (true in the
   * Linux profile).
   */
  slowStartAfterIdle?: boolean;
  /**
   * Set PSH on the last segment of every packet of two or more segments, as Linux does since 4.x (so the receiver's
   * GRO delivers it at once); without a TSO driver, on the last segment of each run Linux would have sent as one
   * GSO packet (push.ts: about a millisecond at the pacing rate, at most half the congestion window). When false,
   * PSH marks only the end of the application's data, as Linux 3.x did. Default true.
   */
  pushBursts?: boolean;
  /** The fewest segments such a packet is sized for (Linux's tcp_min_tso_segs). Default 2. */
  minTsoSegs?: number;
  /**
   * Nagle as Minshall's variant (Linux's tcp_nagle_check): a segment shorter than the MSS waits only while another
   * short one is unacknowledged, not while any data is, so the short tail of a write leaves with its full segments
   * instead of waiting a round trip (or a delayed ACK). Default false (true in the Linux profile).
   */
  minshallNagle?: boolean;
  /**
   * Proportional rate reduction in a SACK fast recovery (RFC 6937, with the bounds of Linux's tcp_cwnd_reduction):
   * on each ACK the sender may send in proportion to what the ACK delivered instead of waiting for pipe to fall
   * below the reduced cwnd, and `info().cwnd` reports the window PRR allows (pipe + sndcnt), as Linux's snd_cwnd
   * does. Default false (true in the Linux profile).
   */
  prr?: boolean;
  /**
   * Compute the loss response (ssthresh) from cwnd, as Linux's CUBIC and Reno do, instead of from FlightSize
   * (SND.NXT - SND.UNA, at most cwnd: RFC 5681 eq. 4, RFC 9438 4.6, which notes that implementations use cwnd).
   * Default false (true in the Linux profile).
   */
  ssthreshFromCwnd?: boolean;
  /**
   * Limited transmit (RFC 3042): the first and second duplicate ACK outside recovery each let one new segment go
   * beyond cwnd (FlightSize at most cwnd + 2*SMSS), cwnd unchanged. Default true, as Linux always does it.
   */
  limitedTransmit?: boolean;
  /**
   * Explicit Congestion Notification (RFC 3168), as Linux's net.ipv4.tcp_ecn: 0 off, 1 request it on outgoing
   * connections and accept it on incoming ones, 2 accept it only when the peer asks. Default 0.
   */
  ecn?: 0 | 1 | 2;
  /**
   * RFC 3465's L: the most one ACK grows cwnd by in slow start, in segments; 0 for no limit, counting delivered
   * segments as Linux does (tcp_slow_start, tcp_cong_control): with SACK what each ACK delivered (data SACKed before
   * is not counted again; an ACK that only SACKs counts once reordering above 3 segments was seen,
   * tcp_may_raise_cwnd), without SACK what the duplicate ACKs had not reported. Default 2 (0 in the Linux profile).
   */
  abcLimit?: number;
  /** Segments ACKed immediately at connection start (quick-ACK mode). Default 16. */
  quickAcks?: number;
  /**
   * Coalesce the ACKs owed for in-order data into one per connection per receive batch (sent when the layer polls,
   * right after the batch), as GRO does for a Linux receiver; ACKs for out-of-order data, holes filled, FINs and
   * window updates stay immediate (RFC 5681 4.2: duplicate ACKs at once). Default true.
   */
  coalesceAcks?: boolean;
  /** RFC 7323 timestamps, window scaling; RFC 2018 SACK. Defaults true. */
  timestamps?: boolean;
  windowScaling?: boolean;
  sack?: boolean;
  /** SYN retransmissions before ETIMEDOUT. Default 6. SYN-ACK retransmissions. Default 5. */
  synRetries?: number;
  synAckRetries?: number;
  /** Consecutive RTOs before the connection is dropped with ETIMEDOUT. Default 15. */
  maxRetransmits?: number;
  /** Keep-alive defaults for new connections (RFC 9293 3.8.4; off by default). */
  keepAlive?: boolean;
  keepAliveIdle?: number;
  keepAliveInterval?: number;
  keepAliveCount?: number;
  /** SYN-queue length per listener (embryonic connections). Default 256. */
  synQueueLimit?: number;
  /** Answer with SYN cookies when the SYN queue is full (RFC 4987). Default true. */
  synCookies?: boolean;
  /** RFC 5961 7: challenge ACKs per second, whole layer. Default 1000. */
  challengeAckLimit?: number;
  /**
   * RSTs per second the layer sends for segments that match no connection (closed ports, bad ACKs at a listener),
   * whole layer; past it they are counted in stats.rstsRateLimited and not sent. 0 disables the limit. Default
   * 10 000: above any scan's rate (nmap -T4 gets every RST), while a spoofed flood at line rate cannot turn byway
   * into a reflector at that rate. Linux leaves these RSTs unlimited.
   */
  rstRateLimit?: number;
  /**
   * Least time between two duplicate ACKs one connection sends in answer to unacceptable pure ACKs / SYNs (out of
   * window, PAWS), ms; 0 disables the limit. Two stacks that each find the other's segments unacceptable would
   * otherwise ACK each other forever. Like Linux's tcp_invalid_ratelimit. Default 500.
   */
  invalidAckIntervalMs?: number;
  /** RFC 6056 ephemeral range. Default 49152..65535. */
  ephemeralLow?: number;
  ephemeralHigh?: number;
  /** Cap on connections in TIME-WAIT. Default 16384. */
  maxTimeWait?: number;
  /** Cap on all connections (SYN-RECEIVED included). Default 65536. */
  maxConnections?: number;
  /**
   * Connections whose due timers one poll runs; the others wait for the next poll (pollAt then answers `now`).
   * Bounds the burst of retransmissions when thousands of connections time out together. Default 256.
   */
  timersPerPoll?: number;
  /**
   * Once a connection's retransmission timer has backed off, each later timer fires up to this fraction of the RTO
   * late, by a per-connection pseudo-random amount, so connections that lost segments in one burst do not time
   * out together again (RFC 6298 sets only a lower bound on the timer). 0 gives the exact doubling. Default 0.25.
   */
  rtoSpread?: number;
  /**
   * FINs that shutdown/close send at once between two polls; further ones go out from the next poll (and at most
   * timersPerPoll pending connections are served per poll), so an application closing thousands of connections in
   * one loop does not draw thousands of answers into the receive ring at once. Default 128.
   */
  closeBurst?: number;
}

export type ResolvedTcpOptions = Required<Omit<TcpOptions, 'isn' | 'congestionControl' | 'profile' | 'hystart'>> & {
  profile: TcpProfile;
  hystart: ResolvedHystartOptions;
  isn: TcpOptions['isn'];
  congestionControl: CongestionControlFactory;
};

function checkOptions(r: ResolvedTcpOptions): ResolvedTcpOptions {
  const positive: Array<keyof ResolvedTcpOptions> = [
    'mss', 'minMss', 'sendBuffer', 'maxSendBuffer', 'receiveBuffer', 'maxReceiveBuffer', 'oooLimit', 'oooTotalLimit', 'bufferMemoryLimit', 'msl', 'initialRto', 'maxRto',
    'initialWindowSegments', 'keepAliveIdle', 'keepAliveInterval', 'keepAliveCount', 'synQueueLimit',
    'ephemeralLow', 'ephemeralHigh', 'timersPerPoll', 'closeBurst', 'minTsoSegs',
  ];
  const nonNegative: Array<keyof ResolvedTcpOptions> = [
    'minRto', 'finWait2Timeout', 'delayedAckMs', 'quickAcks', 'synRetries', 'synAckRetries', 'maxRetransmits',
    'challengeAckLimit', 'invalidAckIntervalMs', 'abcLimit', 'maxTimeWait', 'maxConnections', 'rstRateLimit', 'rtoSpread',
  ];
  for (const k of positive) {
    const v = r[k] as number;
    if (!Number.isFinite(v) || v <= 0) throw new BywayError('EINVAL', `TCP option ${k} must be a positive number, got ${v}`);
  }
  for (const k of nonNegative) {
    const v = r[k] as number;
    if (!Number.isFinite(v) || v < 0) throw new BywayError('EINVAL', `TCP option ${k} must be >= 0, got ${v}`);
  }
  for (const k of ['sendBuffer', 'maxSendBuffer', 'receiveBuffer', 'maxReceiveBuffer', 'oooLimit'] as const) {
    if (!Number.isInteger(r[k])) throw new BywayError('EINVAL', `TCP option ${k} must be an integer, got ${r[k]}`);
  }
  if (r.maxSendBuffer < r.sendBuffer) throw new BywayError('EINVAL', `TCP option maxSendBuffer (${r.maxSendBuffer}) is below sendBuffer (${r.sendBuffer})`);
  const h = r.hystart;
  if (!['off', 'rfc9406', 'linux'].includes(h.variant)) throw new BywayError('EINVAL', `TCP option hystart.variant must be 'off', 'rfc9406' or 'linux', got ${String(h.variant)}`);
  if (!['delay', 'ack-train', 'both'].includes(h.detect)) throw new BywayError('EINVAL', `TCP option hystart.detect must be 'delay', 'ack-train' or 'both', got ${String(h.detect)}`);
  for (const k of ['lowWindow', 'ackDeltaMs', 'minSamples', 'minRttThreshMs', 'maxRttThreshMs', 'cssGrowthDivisor', 'cssRounds', 'slowStartLimit'] as const) {
    const v = h[k];
    if (!Number.isFinite(v) || v < 0 || (v === 0 && k === 'cssGrowthDivisor')) throw new BywayError('EINVAL', `TCP option hystart.${k} must be a number >= 0 (> 0 for cssGrowthDivisor), got ${v}`);
  }
  if (r.ecn !== 0 && r.ecn !== 1 && r.ecn !== 2) throw new BywayError('EINVAL', `TCP option ecn must be 0, 1 or 2, got ${String(r.ecn)}`);
  if (r.rtoSpread > 1) throw new BywayError('EINVAL', `TCP option rtoSpread must be <= 1, got ${r.rtoSpread}`);
  if (!Number.isInteger(r.timersPerPoll)) throw new BywayError('EINVAL', `TCP option timersPerPoll must be an integer, got ${r.timersPerPoll}`);
  if (r.minMss > r.mss || r.mss > 65495) throw new BywayError('EINVAL', `TCP options: need minMss <= mss <= 65495`);
  if (r.ephemeralLow > r.ephemeralHigh || r.ephemeralHigh > 65535) throw new BywayError('EINVAL', 'TCP options: bad ephemeral port range');
  if (!Number.isFinite(r.cookieTimeOrigin)) throw new BywayError('EINVAL', `TCP option cookieTimeOrigin must be a finite number, got ${r.cookieTimeOrigin}`);
  if (r.isnKey.length !== 16 || r.cookieKey.length !== 16) throw new BywayError('EINVAL', 'TCP options: isnKey and cookieKey are 16 bytes');
  return r;
}

export function resolveTcpOptions(given: TcpOptions, defaultCc: CongestionControlFactory): ResolvedTcpOptions {
  if (!given || typeof given.rng?.nextU32 !== 'function') throw new BywayError('EINVAL', 'TCP options need an rng');
  const profile = given.profile ?? 'byway';
  if (profile !== 'byway' && profile !== 'linux') throw new BywayError('EINVAL', `TCP option profile must be 'byway' or 'linux', got ${String(profile)}`);
  if (given.lossDetection !== undefined && !LOSS_DETECTION.includes(given.lossDetection)) {
    throw new BywayError('EINVAL', `TCP option lossDetection must be one of ${LOSS_DETECTION.join(', ')}, got ${String(given.lossDetection)}`);
  }
  if (given.rtoFormula !== undefined && given.rtoFormula !== 'rfc6298' && given.rtoFormula !== 'linux') {
    throw new BywayError('EINVAL', `TCP option rtoFormula must be 'rfc6298' or 'linux', got ${String(given.rtoFormula)}`);
  }
  // Explicit options win over the profile's (an option given as undefined does not hide the profile's value).
  const o: TcpOptions = profile === 'linux' ? { ...LINUX_PROFILE, ...definedOnly(given) } : given;
  const key = (k: Uint8Array | undefined): Uint8Array => {
    if (k) return k;
    const out = new Uint8Array(16);
    for (let i = 0; i < 16; i += 4) {
      const v = o.rng.nextU32();
      out[i] = v >>> 24;
      out[i + 1] = v >>> 16;
      out[i + 2] = v >>> 8;
      out[i + 3] = v;
    }
    return out;
  };
  const maxRcv = o.maxReceiveBuffer ?? 4 * 1024 * 1024;
  return checkOptions({
    profile,
    rtoFormula: o.rtoFormula ?? 'rfc6298',
    rng: o.rng,
    isnKey: key(o.isnKey),
    cookieKey: key(o.cookieKey),
    cookieTimeOrigin: o.cookieTimeOrigin ?? 0,
    isn: o.isn,
    mss: o.mss ?? 65495,
    minMss: o.minMss ?? 536,
    sendBuffer: o.sendBuffer ?? 256 * 1024,
    maxSendBuffer: o.maxSendBuffer ?? (o.sendBuffer !== undefined ? Math.max(o.sendBuffer, 0) : 4 * 1024 * 1024),
    receiveBuffer: Math.min(o.receiveBuffer ?? 128 * 1024, maxRcv),
    maxReceiveBuffer: maxRcv,
    // The out-of-order queue charges per-segment overhead on top of the bytes: allow a window of full-sized segments.
    oooLimit: o.oooLimit ?? Math.ceil(maxRcv * 1.25),
    oooTotalLimit: o.oooTotalLimit ?? 64 * 1024 * 1024,
    bufferMemoryLimit: o.bufferMemoryLimit ?? 512 * 1024 * 1024,
    msl: o.msl ?? 30_000,
    finWait2Timeout: o.finWait2Timeout ?? 60_000,
    initialRto: o.initialRto ?? 1000,
    minRto: o.minRto ?? 200,
    maxRto: o.maxRto ?? 120_000,
    congestionControl: o.congestionControl ?? defaultCc,
    lossDetection: o.lossDetection ?? 'rack-tlp',
    hystart: o.hystart === undefined ? HYSTART_DEFAULTS : resolveHystart(o.hystart),
    initialWindowSegments: o.initialWindowSegments ?? 10,
    noDelay: o.noDelay ?? false,
    delayedAckMs: Math.min(o.delayedAckMs ?? 40, 200),
    quickAcks: o.quickAcks ?? 16,
    delayFinAck: o.delayFinAck ?? false,
    finClearsSack: o.finClearsSack ?? false,
    ignoreAckOfUnsent: o.ignoreAckOfUnsent ?? false,
    acceptWholeWhenEmpty: o.acceptWholeWhenEmpty ?? false,
    acceptFinAtZeroWindow: o.acceptFinAtZeroWindow ?? false,
    slowStartAfterIdle: o.slowStartAfterIdle ?? false,
    pushBursts: o.pushBursts ?? true,
    minTsoSegs: o.minTsoSegs ?? 2,
    abcLimit: o.abcLimit ?? 2,
    prr: o.prr ?? false,
    minshallNagle: o.minshallNagle ?? false,
    ssthreshFromCwnd: o.ssthreshFromCwnd ?? false,
    limitedTransmit: o.limitedTransmit ?? true,
    ecn: o.ecn ?? 0,
    coalesceAcks: o.coalesceAcks ?? true,
    timestamps: o.timestamps ?? true,
    windowScaling: o.windowScaling ?? true,
    sack: o.sack ?? true,
    synRetries: o.synRetries ?? 6,
    synAckRetries: o.synAckRetries ?? 5,
    maxRetransmits: o.maxRetransmits ?? 15,
    keepAlive: o.keepAlive ?? false,
    keepAliveIdle: o.keepAliveIdle ?? 7_200_000,
    keepAliveInterval: o.keepAliveInterval ?? 75_000,
    keepAliveCount: o.keepAliveCount ?? 9,
    synQueueLimit: o.synQueueLimit ?? 256,
    synCookies: o.synCookies ?? true,
    challengeAckLimit: o.challengeAckLimit ?? 1000,
    rstRateLimit: o.rstRateLimit ?? 10_000,
    invalidAckIntervalMs: o.invalidAckIntervalMs ?? 500,
    ephemeralLow: o.ephemeralLow ?? 49152,
    ephemeralHigh: o.ephemeralHigh ?? 65535,
    maxTimeWait: o.maxTimeWait ?? 16384,
    maxConnections: o.maxConnections ?? 65536,
    timersPerPoll: o.timersPerPoll ?? 256,
    rtoSpread: o.rtoSpread ?? 0.25,
    closeBurst: o.closeBurst ?? 128,
  });
}

function definedOnly(o: TcpOptions): TcpOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as unknown as TcpOptions;
}
