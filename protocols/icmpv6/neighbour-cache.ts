/**
 * The IPv6 neighbour cache (RFC 4861 section 7.3, neighbor unreachability detection, with the address resolution
 * of 7.2), sans-IO: time is the `now` argument (ms), randomness is injected, output goes to an injected sink.
 *
 * States, in the RFC's words: INCOMPLETE (solicitations out to the solicited-node group, packets wait in a bounded
 * queue), REACHABLE (confirmed within ReachableTime), STALE (not confirmed lately; used as is, and the first packet
 * sent moves it to DELAY), DELAY (wait DELAY_FIRST_PROBE_TIME for an upper-layer confirmation), PROBE (unicast
 * solicitations every RetransTimer). An INCOMPLETE entry that gets no answer after MAX_MULTICAST_SOLICIT
 * solicitations fails: its queued packets go to `sink.unreachable` (the stack answers with ICMPv6 address
 * unreachable, 7.2.2); a PROBE entry that gets none after MAX_UNICAST_SOLICIT is deleted (7.3.3).
 * Advertisements update entries by the table of 7.2.5 (solicited, override, IsRouter); solicitations, router
 * messages and redirects carrying a link-layer address create or update STALE entries (7.2.3, 6.3.4, 8.3); an
 * advertisement for an address with no entry is ignored (no cache poisoning by unsolicited advertisements).
 * Where the host resolves neighbours for us (a shared address: the kernel keeps NDP), the sink's optional `known`
 * gives the host's MAC for a neighbour with no entry before any resolution: the entry starts REACHABLE and the
 * packet goes at once (the host's table is trusted, as IPv4's learnFromHost does).
 *
 * Bounds: at most `maxEntries` (evicting the least recently used STALE entry, else the oldest INCOMPLETE one, to
 * make room), `maxQueuedPackets` per INCOMPLETE entry and `maxQueuedBytes` in all; STALE entries unused for
 * `staleGcMs` are removed (RFC 4861 leaves that to the implementation; Linux's gc_stale_time is 60 s).
 * Queued packets are owned by the cache until handed to the sink. Addresses passed in are copied.
 */
import { ipv6Equals, ipv6Key } from '../ipv6/address.js';

export interface NdpNeighbourOptions {
  /** BaseReachableTime (ms), REACHABLE_TIME by default: 30 s (RFC 4861 section 10). An RA may change it. */
  baseReachableMs: number;
  /** RetransTimer (ms), RETRANS_TIMER by default: 1 s. An RA may change it. */
  retransMs: number;
  /** DELAY_FIRST_PROBE_TIME: 5 s. */
  delayFirstProbeMs: number;
  /** MAX_MULTICAST_SOLICIT: 3. */
  maxMulticastSolicit: number;
  /** MAX_UNICAST_SOLICIT: 3. */
  maxUnicastSolicit: number;
  maxEntries: number;
  /** Packets queued per INCOMPLETE entry. Default 64. */
  maxQueuedPackets: number;
  /** Bytes queued across all entries. Default 256 KiB. */
  maxQueuedBytes: number;
  /** A STALE entry unused this long is removed. Default 60 s. */
  staleGcMs: number;
}

export const DEFAULT_NDP_NEIGHBOUR_OPTIONS: NdpNeighbourOptions = {
  baseReachableMs: 30_000,
  retransMs: 1_000,
  delayFirstProbeMs: 5_000,
  maxMulticastSolicit: 3,
  maxUnicastSolicit: 3,
  maxEntries: 1024,
  maxQueuedPackets: 64,
  maxQueuedBytes: 256 * 1024,
  staleGcMs: 60_000,
};

/** RFC 4861 section 10: ReachableTime is BaseReachableTime times a uniform draw in [0.5, 1.5). */
const MIN_RANDOM_FACTOR = 0.5;
const MAX_RANDOM_FACTOR = 1.5;

export type NdpNeighbourState = 'INCOMPLETE' | 'REACHABLE' | 'STALE' | 'DELAY' | 'PROBE';

export interface PendingPacket {
  /** The whole frame; the sink fills the Ethernet destination. */
  readonly frame: Uint8Array;
}

export interface NdpSink<P extends PendingPacket> {
  /** Send a neighbor solicitation for `target`: to its solicited-node group when `unicastMac` is undefined. */
  solicit(target: Uint8Array, unicastMac: Uint8Array | undefined): void;
  /** A queued packet can go: its next hop is `mac`. */
  transmit(packet: P, mac: Uint8Array): void;
  /** Address resolution failed: the packet is dropped (ICMPv6 destination unreachable code 3, RFC 4861 7.2.2). */
  unreachable(packet: P): void;
  /** The neighbour said it is no longer a router (7.2.5): the stack removes it from its default router list. */
  routerLost?(ip: Uint8Array): void;
  /**
   * Optional: the host's MAC for `ip` (a shared address: the kernel's neighbour table, from the driver's mirror),
   * asked for a neighbour with no entry before resolving it. A MAC makes the entry REACHABLE at once and the packet
   * goes (the host's table is trusted, as IPv4's learnFromHost); undefined resolves as usual. The cache copies it.
   */
  known?(ip: Uint8Array): Uint8Array | undefined;
}

export interface NdpNeighbourStats {
  solicitationsSent: number;
  resolved: number;
  failed: number;
  probesFailed: number;
  expired: number;
  evicted: number;
  queueDrops: number;
  /** Advertisements for addresses with no entry. */
  unsolicitedIgnored: number;
  /** Advertisements ignored by the rules of 7.2.5 (no override, different address). */
  overrideIgnored: number;
  /** Entries made from the host's table (`sink.known`) instead of a resolution. */
  fromHost: number;
}

export interface NdpNeighbourSnapshot {
  readonly ip: Uint8Array;
  readonly state: NdpNeighbourState;
  readonly mac: Uint8Array | undefined;
  readonly isRouter: boolean;
  readonly queued: number;
}

interface Entry<P> {
  key: string;
  ip: Uint8Array;
  state: NdpNeighbourState;
  mac: Uint8Array | undefined;
  isRouter: boolean;
  /** INCOMPLETE/PROBE: next solicitation or failure; REACHABLE: becomes STALE; DELAY: becomes PROBE; STALE: removed. */
  deadline: number;
  solicitsSent: number;
  queue: P[];
  queuedBytes: number;
  created: number;
  lastUsed: number;
}

export interface AdvertisementFlags {
  readonly router: boolean;
  readonly solicited: boolean;
  readonly override: boolean;
}

export class NdpNeighbourCache<P extends PendingPacket = PendingPacket> {
  readonly options: NdpNeighbourOptions;
  readonly stats: NdpNeighbourStats = {
    solicitationsSent: 0,
    resolved: 0,
    failed: 0,
    probesFailed: 0,
    expired: 0,
    evicted: 0,
    queueDrops: 0,
    unsolicitedIgnored: 0,
    overrideIgnored: 0,
    fromHost: 0,
  };
  private readonly entries = new Map<string, Entry<P>>();
  /** The entry `macFor` found last (a connection sends to one neighbour many times in a row); never a removed one. */
  private lastUsed: Entry<P> | undefined = undefined;
  private queuedBytes = 0;
  private reachableMs: number;

  /** `random` returns a number in [0, 1): the ReachableTime draw. */
  constructor(
    private readonly sink: NdpSink<P>,
    private readonly random: () => number,
    options: Partial<NdpNeighbourOptions> = {},
  ) {
    this.options = { ...DEFAULT_NDP_NEIGHBOUR_OPTIONS, ...options };
    this.reachableMs = this.drawReachable();
  }

  /** The current ReachableTime (ms). */
  get reachableTime(): number {
    return this.reachableMs;
  }

  get size(): number {
    return this.entries.size;
  }

  get totalQueuedBytes(): number {
    return this.queuedBytes;
  }

  /** An RA's Reachable Time (6.3.4): a new base, and a new draw. 0 means unspecified: no change. */
  setBaseReachableTime(ms: number): void {
    if (!(ms > 0) || ms === this.options.baseReachableMs) return;
    this.options.baseReachableMs = ms;
    this.reachableMs = this.drawReachable();
  }

  /** An RA's Retrans Timer (6.3.4). 0 means unspecified. */
  setRetransTimer(ms: number): void {
    if (ms > 0) this.options.retransMs = ms;
  }

  lookup(ip: Uint8Array): NdpNeighbourSnapshot | undefined {
    const e = this.entries.get(ipv6Key(ip));
    return e === undefined ? undefined : { ip: e.ip, state: e.state, mac: e.mac, isRouter: e.isRouter, queued: e.queue.length };
  }

  /**
   * A packet for the on-link neighbour `ip` (7.2.2, 7.3.3). Returns the MAC to send it to now, or 'queued' (the
   * cache now owns it), or 'dropped' (the queue was full: counted).
   */
  send(now: number, ip: Uint8Array, packet: P): Uint8Array | 'queued' | 'dropped' {
    const key = ipv6Key(ip);
    let e = this.entries.get(key);
    if (e !== undefined && e.state !== 'INCOMPLETE') {
      e.lastUsed = now;
      if (e.state === 'STALE') this.enterDelay(now, e);
      return e.mac!;
    }
    if (e === undefined) {
      const known = this.fromHost(now, key, ip);
      if (known !== undefined) return known.mac!;
      if (!this.makeRoom()) {
        this.stats.queueDrops++;
        return 'dropped';
      }
      e = this.newEntry(now, key, ip, 'INCOMPLETE', undefined);
      this.solicit(e, undefined);
      e.solicitsSent = 1;
      e.deadline = now + this.options.retransMs;
    }
    const len = packet.frame.length;
    if (e.queue.length >= this.options.maxQueuedPackets || this.queuedBytes + len > this.options.maxQueuedBytes) {
      this.stats.queueDrops++;
      return 'dropped';
    }
    e.queue.push(packet);
    e.queuedBytes += len;
    this.queuedBytes += len;
    return 'queued';
  }

  /**
   * The MAC to send a packet to the neighbour `ip` now, as `send` answers it (a STALE entry moves to DELAY, 7.3.3),
   * or undefined when the packet must go through `send` (no entry, or INCOMPLETE: it queues and solicits). For a
   * layer that builds its packet in the driver's buffer only once it knows the MAC; allocates nothing when the
   * neighbour is the one asked about last.
   */
  macFor(now: number, ip: Uint8Array): Uint8Array | undefined {
    let e = this.lastUsed;
    if (e === undefined || !ipv6Equals(e.ip, ip)) {
      const key = ipv6Key(ip);
      e = this.entries.get(key) ?? this.fromHost(now, key, ip);
      if (e === undefined) return undefined;
      this.lastUsed = e;
    }
    if (e.state === 'INCOMPLETE') return undefined;
    e.lastUsed = now;
    if (e.state === 'STALE') this.enterDelay(now, e);
    return e.mac!;
  }

  /**
   * A solicitation (7.2.3), router solicitation (6.2.6), router advertisement (6.3.4) or redirect (8.3) from `ip`
   * carrying its link-layer address `mac`: create the entry STALE, or update it (STALE when the address changed).
   * `router`: the message shows `ip` is a router (an RA; a redirect's target that is not the destination).
   */
  learn(now: number, ip: Uint8Array, mac: Uint8Array, router = false): void {
    const key = ipv6Key(ip);
    let e = this.entries.get(key);
    if (e === undefined) {
      if (!this.makeRoom()) return;
      e = this.newEntry(now, key, ip, 'STALE', mac.slice());
      e.deadline = now + this.options.staleGcMs;
    } else if (e.mac === undefined || !sameMac(e.mac, mac)) {
      if (e.state === 'INCOMPLETE') this.stats.resolved++;
      e.mac = mac.slice();
      this.enterStale(now, e);
    }
    if (router) e.isRouter = true;
    this.flush(now, e);
  }

  /** A neighbor advertisement for `target` (7.2.5). `mac` is its target link-layer address option, if any. */
  advertisement(now: number, target: Uint8Array, flags: AdvertisementFlags, mac: Uint8Array | undefined): void {
    const e = this.entries.get(ipv6Key(target));
    if (e === undefined) {
      this.stats.unsolicitedIgnored++;
      return;
    }
    if (e.state === 'INCOMPLETE') {
      if (mac === undefined) return; // nothing to resolve with
      e.mac = mac.slice();
      e.isRouter = flags.router;
      if (flags.solicited) this.enterReachable(now, e);
      else this.enterStale(now, e);
      this.stats.resolved++;
      this.flush(now, e);
      return;
    }
    const differs = mac !== undefined && !sameMac(e.mac!, mac);
    if (!flags.override && differs) {
      if (e.state === 'REACHABLE') this.enterStale(now, e);
      else this.stats.overrideIgnored++;
      return;
    }
    if (differs) e.mac = mac.slice();
    if (flags.solicited) this.enterReachable(now, e);
    else if (differs) this.enterStale(now, e);
    if (e.isRouter && !flags.router) this.sink.routerLost?.(e.ip);
    e.isRouter = flags.router;
  }

  /** Forward progress seen by an upper layer (7.3.1: a TCP ACK for new data): the neighbour is reachable. */
  confirmReachable(now: number, ip: Uint8Array): void {
    const e = this.entries.get(ipv6Key(ip));
    if (e !== undefined && e.state !== 'INCOMPLETE') this.enterReachable(now, e);
  }

  delete(ip: Uint8Array): void {
    const e = this.entries.get(ipv6Key(ip));
    if (e !== undefined) this.remove(e, false);
  }

  poll(now: number): void {
    for (const e of this.entries.values()) {
      if (now < e.deadline) continue;
      switch (e.state) {
        case 'INCOMPLETE':
          if (e.solicitsSent < this.options.maxMulticastSolicit) {
            this.solicit(e, undefined);
            e.solicitsSent++;
            e.deadline = now + this.options.retransMs;
          } else {
            this.stats.failed++;
            this.remove(e, true);
          }
          break;
        case 'REACHABLE':
          this.enterStale(now, e);
          break;
        case 'STALE':
          this.stats.expired++;
          this.remove(e, false);
          break;
        case 'DELAY':
          e.state = 'PROBE';
          this.solicit(e, e.mac);
          e.solicitsSent = 1;
          e.deadline = now + this.options.retransMs;
          break;
        case 'PROBE':
          if (e.solicitsSent < this.options.maxUnicastSolicit) {
            this.solicit(e, e.mac);
            e.solicitsSent++;
            e.deadline = now + this.options.retransMs;
          } else {
            this.stats.probesFailed++;
            this.remove(e, false);
          }
          break;
      }
    }
  }

  pollAt(): number | undefined {
    let at: number | undefined;
    for (const e of this.entries.values()) if (at === undefined || e.deadline < at) at = e.deadline;
    return at;
  }

  private drawReachable(): number {
    const r = Math.min(Math.max(this.random(), 0), 0.999999);
    return Math.round(this.options.baseReachableMs * (MIN_RANDOM_FACTOR + r * (MAX_RANDOM_FACTOR - MIN_RANDOM_FACTOR)));
  }

  private newEntry(now: number, key: string, ip: Uint8Array, state: NdpNeighbourState, mac: Uint8Array | undefined): Entry<P> {
    const e: Entry<P> = { key, ip: ip.slice(0, 16), state, mac, isRouter: false, deadline: now, solicitsSent: 0, queue: [], queuedBytes: 0, created: now, lastUsed: now };
    this.entries.set(key, e);
    return e;
  }

  /** A REACHABLE entry for `ip` from the host's table (`sink.known`), when it knows `ip` and there is room. */
  private fromHost(now: number, key: string, ip: Uint8Array): Entry<P> | undefined {
    const mac = this.sink.known?.(ip);
    if (mac === undefined || !this.makeRoom()) return undefined;
    const e = this.newEntry(now, key, ip, 'REACHABLE', mac.slice(0, 6));
    this.enterReachable(now, e);
    this.stats.fromHost++;
    return e;
  }

  private solicit(e: Entry<P>, mac: Uint8Array | undefined): void {
    this.stats.solicitationsSent++;
    this.sink.solicit(e.ip, mac);
  }

  private enterReachable(now: number, e: Entry<P>): void {
    e.state = 'REACHABLE';
    e.solicitsSent = 0;
    e.deadline = now + this.reachableMs;
  }

  private enterStale(now: number, e: Entry<P>): void {
    e.state = 'STALE';
    e.solicitsSent = 0;
    e.deadline = now + this.options.staleGcMs;
  }

  private enterDelay(now: number, e: Entry<P>): void {
    e.state = 'DELAY';
    e.deadline = now + this.options.delayFirstProbeMs;
  }

  /** Send what waited for resolution; sending on a STALE entry moves it to DELAY (7.3.3). */
  private flush(now: number, e: Entry<P>): void {
    if (e.queue.length === 0 || e.mac === undefined) return;
    const q = e.queue;
    e.queue = [];
    this.queuedBytes -= e.queuedBytes;
    e.queuedBytes = 0;
    e.lastUsed = now;
    if (e.state === 'STALE') this.enterDelay(now, e);
    for (const p of q) this.sink.transmit(p, e.mac);
  }

  private remove(e: Entry<P>, unreachable: boolean): void {
    this.entries.delete(e.key);
    if (this.lastUsed === e) this.lastUsed = undefined;
    this.queuedBytes -= e.queuedBytes;
    const q = e.queue;
    e.queue = [];
    e.queuedBytes = 0;
    if (unreachable) for (const p of q) this.sink.unreachable(p);
    else this.stats.queueDrops += q.length;
  }

  /** Make room for one more entry: evict the least recently used STALE one, else the oldest INCOMPLETE one. */
  private makeRoom(): boolean {
    if (this.entries.size < this.options.maxEntries) return true;
    let victim: Entry<P> | undefined;
    for (const e of this.entries.values()) if (e.state === 'STALE' && (victim === undefined || e.lastUsed < victim.lastUsed)) victim = e;
    if (victim === undefined) {
      for (const e of this.entries.values()) if (e.state === 'INCOMPLETE' && (victim === undefined || e.created < victim.created)) victim = e;
    }
    if (victim === undefined) return false;
    this.stats.evicted++;
    this.remove(victim, true);
    return true;
  }
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
