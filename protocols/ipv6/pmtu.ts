/**
 * Path MTU discovery for IPv6 (RFC 8201), sans-IO: the per-destination path MTU estimates a host keeps.
 *
 * A Packet Too Big message (already checked by the caller to quote a packet this host sent) lowers the estimate for
 * the quoted packet's destination, never raises it (RFC 8201 section 4), and never below the IPv6 minimum link MTU
 * of 1280 (section 4; since RFC 8021 a smaller reported MTU is not answered with atomic fragments, it is simply
 * 1280). Estimates expire after `expiryMs` (section 5.3: at least 5 minutes, 10 recommended), so the path is
 * probed upward again by sending at the link MTU. At most `maxEntries` destinations are kept (the one expiring
 * soonest is dropped to make room), so a flood of PTBs for made-up destinations is bounded. Time is `now` (ms).
 */
import { ipv6Key } from './address.js';
import { IPV6_MIN_MTU } from './wire.js';

export interface PathMtuOptions {
  /** How long a learned estimate holds (ms). Default 10 min. */
  expiryMs: number;
  /** Destinations remembered. Default 1024. */
  maxEntries: number;
}

export const DEFAULT_PATH_MTU_OPTIONS: PathMtuOptions = { expiryMs: 600_000, maxEntries: 1024 };

export interface PathMtuStats {
  lowered: number;
  /** A PTB that reported an MTU not below the current estimate. */
  ignored: number;
  /** A PTB that reported less than 1280: clamped. */
  clamped: number;
  expired: number;
  evicted: number;
}

interface Estimate {
  mtu: number;
  expires: number;
}

export class PathMtuCache {
  readonly options: PathMtuOptions;
  readonly stats: PathMtuStats = { lowered: 0, ignored: 0, clamped: 0, expired: 0, evicted: 0 };
  private readonly entries = new Map<string, Estimate>();

  constructor(options: Partial<PathMtuOptions> = {}) {
    this.options = { ...DEFAULT_PATH_MTU_OPTIONS, ...options };
  }

  get size(): number {
    return this.entries.size;
  }

  /** The path MTU to use towards `dst` over a link of `linkMtu` bytes. */
  mtu(now: number, dst: Uint8Array, linkMtu: number): number {
    if (this.entries.size === 0) return linkMtu; // the usual case, without a key string per packet
    const key = ipv6Key(dst);
    const e = this.entries.get(key);
    if (e === undefined) return linkMtu;
    if (now >= e.expires) {
      this.entries.delete(key);
      this.stats.expired++;
      return linkMtu;
    }
    return Math.min(e.mtu, linkMtu);
  }

  /**
   * A Packet Too Big for a packet to `dst` reporting `reportedMtu`. Returns the new estimate when it went down
   * (the caller then tells the transport, e.g. TCP lowers its MSS), undefined when nothing changed.
   */
  packetTooBig(now: number, dst: Uint8Array, reportedMtu: number, linkMtu: number): number | undefined {
    let mtu = reportedMtu;
    if (mtu < IPV6_MIN_MTU) {
      this.stats.clamped++;
      mtu = IPV6_MIN_MTU;
    }
    const current = this.mtu(now, dst, linkMtu);
    if (mtu >= current) {
      this.stats.ignored++;
      return undefined;
    }
    const key = ipv6Key(dst);
    if (!this.entries.has(key) && this.entries.size >= this.options.maxEntries) this.evictSoonest();
    this.entries.set(key, { mtu, expires: now + this.options.expiryMs });
    this.stats.lowered++;
    return mtu;
  }

  /** Drop expired estimates. */
  poll(now: number): void {
    for (const [k, e] of this.entries) {
      if (now >= e.expires) {
        this.entries.delete(k);
        this.stats.expired++;
      }
    }
  }

  pollAt(): number | undefined {
    let at: number | undefined;
    for (const e of this.entries.values()) if (at === undefined || e.expires < at) at = e.expires;
    return at;
  }

  private evictSoonest(): void {
    let key: string | undefined;
    let at = Infinity;
    for (const [k, e] of this.entries) {
      if (e.expires < at) {
        at = e.expires;
        key = k;
      }
    }
    if (key !== undefined) {
      this.entries.delete(key);
      this.stats.evicted++;
    }
  }
}
