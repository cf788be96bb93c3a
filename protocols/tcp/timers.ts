/**
 * The timers of one connection, as absolute deadlines (ms; NEVER when off), and the rules that arm the
 * retransmission (RFC 6298), tail-loss probe (RFC 8985 7.2) and persist (RFC 9293 3.8.6.1) timers, and `fire`,
 * which runs the due ones (the connection's `onTimer`). The keep-alive timer's probes are sent from here, and the
 * counts that make the persist and retransmission timers give up (unanswered probes, the user timeout) are kept
 * here; the layer keeps only the earliest (`TcpConnection.timerAt`) in its heap.
 */
import type { TcpConnection } from './connection.js';
import type { ResolvedTcpOptions } from './options.js';
import type { TcpStats } from './info.js';
import { NEVER } from './conn-common.js';
import { seqDiff } from './seq.js';
import { DEFAULT_RTO_OPTIONS, type RtoOptions } from './rtt.js';

/** One frozen RttEstimator options object per layer's options, shared by its connections (not one per connection). */
const rtoOptionsCache = new WeakMap<ResolvedTcpOptions, Readonly<RtoOptions>>();
export function rtoOptionsFor(o: ResolvedTcpOptions): Readonly<RtoOptions> {
  let r = rtoOptionsCache.get(o);
  if (r === undefined) {
    r = Object.freeze({ initialRto: o.initialRto, minRto: o.minRto, maxRto: o.maxRto, granularity: DEFAULT_RTO_OPTIONS.granularity, formula: o.rtoFormula });
    rtoOptionsCache.set(o, r);
  }
  return r;
}

/** Retry interval of a send the driver dropped (Linux's TCP_RESOURCE_PROBE_INTERVAL): no backoff, local congestion. */
export const RESOURCE_PROBE_MS = 500;

export class ConnTimers {
  private readonly c: TcpConnection;
  private readonly o: ResolvedTcpOptions;
  private readonly stats: TcpStats;
  rtoAt = NEVER;
  delackAt = NEVER;
  persistAt = NEVER;
  keepaliveAt = NEVER;
  /** TIME-WAIT 2*MSL or the FIN-WAIT-2 timeout. */
  closeAt = NEVER;
  tlpAt = NEVER;
  reoAt = NEVER;
  /** Keep-alive probes sent without an answer. */
  keepProbes = 0;
  /** Zero-window probes sent in a row (the persist timer doubles with each). */
  persistBackoff = 0;
  /** Zero-window probes the peer has not answered (RFC 1122 4.2.2.17: maxRetransmits of them give up). */
  probesUnanswered = 0;
  /** The driver dropped the last data segment sent (a local failure, FrameDriver.txCommit): Sender.onPersist retries. */
  localDrop = false;
  /** RFC 5482's user timeout (setUserTimeout; 0: off): see Sender.userTimedOut. */
  userTimeout = 0;
  /** In the layer's list of connections whose output is to be retried (protocols/tcp/conn-timers.ts). */
  txQueued = false;
  /** Keep-alive (RFC 1122 4.2.3.6) on, and the idle time before the first probe. */
  keepAlive: boolean;
  keepAliveIdle: number;

  constructor(c: TcpConnection, o: ResolvedTcpOptions, stats: TcpStats) {
    this.c = c;
    this.o = o;
    this.stats = stats;
    this.keepAlive = o.keepAlive;
    this.keepAliveIdle = o.keepAliveIdle;
  }

  /** Every timer off (CLOSED). */
  clear(): void {
    this.rtoAt = this.delackAt = this.persistAt = this.keepaliveAt = this.closeAt = this.tlpAt = this.reoAt = NEVER;
  }

  /**
   * Arm the retransmission timer (rtoAt): it expires at now + RTO (RFC 6298 5.1, 5.3), and, once the timer has
   * backed off (a timeout already happened: RFC 6298 5.5), later by a per-connection pseudo-random fraction of up
   * to rtoSpread (default a quarter) of the RTO. Connections whose segments were lost in one burst (thousands closing at once into a
   * full receive ring) otherwise time out on the same tick, retransmit in one burst again, and lose the same share
   * at every doubling. RFC 6298 sets a lower bound only (2.4 lets RTO be rounded up, 2.5 allows any maximum above
   * 60 s, and a timer that fires late is conservative), so the spread stays within it. The fraction is derived from
   * the connection's random timestamp offset and its retransmission count: no random draw (sans-IO, replayable).
   */
  armRto(now: number): void {
    // Stored here, not returned: a double returned by a call V8 does not inline is a new heap number, and the
    // timer is re-armed on every data segment sent and every ACK (32 B per 64 B transaction).
    const rto = this.c.rtt.rto;
    const k = this.c.rtt.backoffCount;
    if (k === 0 || this.o.rtoSpread === 0) {
      this.rtoAt = now + rto;
      return;
    }
    let h = Math.imul(this.c.neg.tsOffset ^ Math.imul(k + this.c.cnt.nRetrans, 0x9e3779b1), 0x85ebca77);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    this.rtoAt = now + rto + ((h >>> 0) / 0x1_0000_0000) * this.o.rtoSpread * rto;
  }

  armPersist(now: number): void {
    if (this.persistAt !== NEVER) return;
    const base = Math.max(this.c.rtt.rto, this.o.minRto);
    this.persistAt = now + Math.min(base * 2 ** this.persistBackoff, this.o.maxRto);
  }

  /**
   * Data could not leave because the driver dropped it, with nothing in flight: the persist timer retries, first
   * after max(RTO, minRto) (Linux's tcp_check_probe_timer), then every RESOURCE_PROBE_MS (Sender.onPersist).
   */
  armResourceProbe(now: number): void {
    if (this.persistAt === NEVER && this.c.sb.empty) this.persistAt = now + Math.max(this.c.rtt.rto, this.o.minRto);
  }

  /** RFC 8985 7.2: arm the probe timeout after new data is sent, outside recovery (only with lossDetection 'rack-tlp'). */
  armTlp(now: number): void {
    if (!this.c.neg.sackOk || !this.c.rec.rack() || this.c.rec.inRecovery || this.c.rec.tlpOutstanding || !this.c.rtt.hasSample) return;
    const srtt = this.c.rtt.srttMs;
    const one = seqDiff(this.c.snd.sndNxt, this.c.snd.sndUna) <= this.c.neg.mss;
    let pto = 2 * srtt;
    if (this.o.rtoFormula === 'linux') {
      // Linux's tcp_schedule_loss_probe: 2 SRTT plus tcp_rto_min (the peer's delayed ACK) with one segment out,
      // else plus TCP_TIMEOUT_MIN (2 ms).
      pto += one ? this.o.minRto : 2;
    } else {
      if (one) pto = Math.max(pto, 1.5 * srtt + 200);
      pto = Math.max(pto, 10);
    }
    this.tlpAt = Math.min(now + pto, this.rtoAt);
  }

  /** RFC 9293 3.8.4 / RFC 1122 4.2.3.6 keep-alive. */
  onKeepalive(now: number): void {
    if (!this.keepAlive || !this.c.isSynchronized()) return;
    if (this.keepProbes >= this.o.keepAliveCount) {
      this.stats.timeouts++;
      this.c.tx.sendRst(now, this.c.snd.sndNxt);
      this.c.toClosed('ETIMEDOUT');
      return;
    }
    if (!this.c.sb.empty) {
      // Data outstanding: the retransmission timer covers liveness.
      this.keepaliveAt = now + this.keepAliveIdle;
      return;
    }
    this.keepProbes++;
    this.stats.keepaliveProbes++;
    this.c.tx.sendProbe(now);
    this.keepaliveAt = now + this.o.keepAliveInterval;
  }

  /** Run every due timer, in the order below, then tell the layer when the next one is (the connection's onTimer). */
  fire(now: number): void {
    const c = this.c;
    if (this.closeAt <= now) {
      this.closeAt = NEVER;
      if (c.state === 'TIME-WAIT' || c.state === 'FIN-WAIT-2') {
        c.toClosed(c.state === 'FIN-WAIT-2' ? 'ETIMEDOUT' : undefined);
        return;
      }
    }
    if (this.rtoAt <= now) {
      this.rtoAt = NEVER;
      if (c.state === 'SYN-SENT' || c.state === 'SYN-RECEIVED') c.hs.onSynRto(now);
      else c.rec.onRto(now);
      if (c.state === 'CLOSED') return;
    }
    if (this.tlpAt <= now) {
      this.tlpAt = NEVER;
      c.rec.onTlp(now);
    }
    if (this.reoAt <= now) {
      this.reoAt = NEVER;
      c.rec.onReoTimer(now);
      c.snd.output(now);
    }
    if (this.persistAt <= now) {
      this.persistAt = NEVER;
      c.snd.onPersist(now);
    }
    if (this.keepaliveAt <= now) {
      this.keepaliveAt = NEVER;
      this.onKeepalive(now);
      if (c.state === 'CLOSED') return;
    }
    if (this.delackAt <= now) {
      this.delackAt = NEVER;
      if (c.isSynchronized() || c.state === 'TIME-WAIT') c.tx.sendAck(now);
    }
    c.rearm();
  }
}
