/**
 * The ARP neighbour cache (RFC 826, with the timeouts and retries RFC 1122 section 2.3.2 asks for), sans-IO.
 *
 * Entries are INCOMPLETE (a request is out; packets wait in a bounded queue), REACHABLE (a MAC known until
 * `expiresAt`), PROBE (a learned MAC in doubt on a transport's advice, still used while unicast requests check it,
 * as Linux's NUD_PROBE) or STATIC. A reachable entry that expires is deleted; the next packet re-resolves it (RFC 1122
 * 2.3.2.1: timeout). Requests are retried every `retransmitMs` up to `maxRequests` times, then the entry fails:
 * queued packets are dropped and their senders told EHOSTUNREACH through `onUnreachable`.
 *
 * RFC 826's merge rule: a received ARP packet updates an existing entry for its sender; it creates one only when the
 * packet is a request addressed to us. Unsolicited replies create nothing (no cache poisoning by gratuitous spray).
 * The table holds at most `maxEntries`; when full, the oldest unresolved entry is evicted (else the oldest
 * reachable one), so a flood of requests or of packets to many addresses cannot pin memory nor push out the
 * neighbours in use. Requests per address stay at one per `retransmitMs` even across evictions.
 *
 * Packets waiting on resolution are owned by the cache (the caller hands over a buffer it will not touch again).
 */

export interface NeighbourOptions {
  /** How long a learned MAC is trusted (ms). Default 60 s. */
  reachableMs: number;
  /** Interval between ARP requests for an unresolved address (ms). Default 1 s (RFC 1122: at most one per second). */
  retransmitMs: number;
  /** Requests sent before giving up. Default 3. */
  maxRequests: number;
  /**
   * PROBE (after negative advice): unicast requests to the MAC in doubt, one per retransmitMs, before the entry is
   * dropped and the next packet resolves the address by broadcast. Default 3 (Linux's ucast_solicit).
   */
  unicastProbes: number;
  /** Entries in the table, static ones included. Default 1024. */
  maxEntries: number;
  /** Packets queued per unresolved address. Default 64; `maxQueuedBytes` bounds the total (a fragmented datagram must fit whole). */
  maxQueuedPackets: number;
  /** Bytes queued across all unresolved addresses. Default 256 KiB. */
  maxQueuedBytes: number;
}

export const DEFAULT_NEIGHBOUR_OPTIONS: NeighbourOptions = {
  reachableMs: 60_000,
  retransmitMs: 1_000,
  maxRequests: 3,
  unicastProbes: 3,
  maxEntries: 1024,
  maxQueuedPackets: 64,
  maxQueuedBytes: 256 * 1024,
};

export type NeighbourState = 'incomplete' | 'reachable' | 'probe' | 'static';

/** A packet waiting for its next hop's MAC: a whole frame whose Ethernet destination is filled on resolution. */
export interface PendingFrame {
  readonly frame: Uint8Array;
  /** Told when the address fails to resolve. */
  readonly onUnreachable?: (() => void) | undefined;
  /** A TSO packet: the TCP payload bytes per segment the driver cuts it into (txCommit's `segment`). */
  readonly segment?: number | undefined;
}

interface Entry {
  ip: number;
  state: NeighbourState;
  mac: Uint8Array;
  /** reachable: when it expires. incomplete, probe: when the next request (or failure) is due. */
  deadline: number;
  /** incomplete: broadcast requests sent; probe: unicast probes sent. */
  requestsSent: number;
  queue: PendingFrame[];
  queuedBytes: number;
  created: number;
}

export interface NeighbourStats {
  requestsSent: number;
  resolved: number;
  failed: number;
  expired: number;
  evicted: number;
  queueDrops: number;
  unsolicitedIgnored: number;
  /** Requests held back because the address was asked less than retransmitMs ago. */
  requestsDeferred: number;
  /** Learned entries put in PROBE on a transport's advice (RFC 1122 2.3.2.1, see `advise`). */
  advised: number;
  /** Unicast requests sent in PROBE (counted in requestsSent too). */
  probesSent: number;
  /** PROBE entries an ARP packet from the neighbour confirmed (back to REACHABLE). */
  probesConfirmed: number;
  /** PROBE entries dropped after unicastProbes unanswered probes (the next packet resolves by broadcast). */
  probesFailed: number;
}

export interface NeighbourSnapshot {
  readonly ip: number;
  readonly state: NeighbourState;
  readonly mac: Uint8Array | undefined;
  readonly deadline: number;
  readonly queued: number;
}

/** What the cache needs from the stack: send a request, and send frames once resolved. */
export interface NeighbourHost {
  /** An ARP request for `targetIp`: broadcast, or unicast to `targetMac` (a PROBE). */
  sendRequest(now: number, targetIp: number, targetMac?: Uint8Array): void;
  /** Transmit a queued frame whose destination MAC is now known. */
  sendResolved(now: number, frame: Uint8Array, mac: Uint8Array, segment?: number): void;
  /** Optional: an entry in PROBE (after `advise`) was confirmed: the neighbour answers again. */
  confirmed?(now: number, ip: number): void;
  /** Optional: an entry now waits on a reply (INCOMPLETE or PROBE): `dueAt` may have moved earlier. */
  timerArmed?(): void;
}

export class NeighbourCache {
  readonly options: NeighbourOptions;
  readonly stats: NeighbourStats = {
    requestsSent: 0,
    resolved: 0,
    failed: 0,
    expired: 0,
    evicted: 0,
    queueDrops: 0,
    unsolicitedIgnored: 0,
    requestsDeferred: 0,
    advised: 0,
    probesSent: 0,
    probesConfirmed: 0,
    probesFailed: 0,
  };
  private readonly entries = new Map<number, Entry>();
  /**
   * The entry `lookup` found last, and its address (-1: none): every packet of a flow asks for the same next hop,
   * and the Map lookup was about half of the cost of resolving it per packet (2026-12-03). Always an entry still in
   * the table: `remove`, the only way out of it, forgets it, and an address gets a new entry only when it has none.
   */
  private lastIp = -1;
  private lastEntry: Entry | undefined = undefined;
  private totalQueuedBytes = 0;
  /** Entries waiting on a reply: the only ones poll() must visit on time. */
  private incomplete = 0;
  /** Entries in PROBE (poll() visits them on time too). */
  private probing = 0;
  /** When poll() next sweeps out expired reachable entries (expiry is otherwise lazy, in lookup). */
  private nextSweep = 0;
  /**
   * When each recently asked address was last asked, kept past its entry's eviction (bounded to max(1024, 4 x maxEntries),
   * oldest first out), so a flood towards more unresolved addresses than the table holds still sends at most one
   * request per address per retransmitMs (RFC 1122 2.3.2.1) instead of one per packet.
   */
  private readonly lastAsked = new Map<number, number>();

  constructor(private readonly host: NeighbourHost, options: Partial<NeighbourOptions> = {}) {
    this.options = { ...DEFAULT_NEIGHBOUR_OPTIONS, ...options };
  }

  get size(): number {
    return this.entries.size;
  }

  get queuedBytes(): number {
    return this.totalQueuedBytes;
  }

  /** The MAC for `ip` if known and fresh. Never triggers a request. */
  lookup(now: number, ip: number): Uint8Array | undefined {
    let e: Entry | undefined;
    if (ip === this.lastIp) e = this.lastEntry!;
    else {
      e = this.entries.get(ip);
      if (e === undefined) return undefined;
      this.lastIp = ip;
      this.lastEntry = e;
    }
    if (e.state === 'static' || e.state === 'probe') return e.mac; // a MAC in doubt is used while it is checked
    if (e.state === 'reachable') {
      if (now < e.deadline) return e.mac;
      this.remove(e);
      this.stats.expired++;
    }
    return undefined;
  }

  /**
   * Hold `pending` until `ip` resolves, sending a request if none is out. Returns false when the packet was dropped
   * (the queue for that address or the total queue is full, or the table is full of static entries).
   */
  enqueue(now: number, ip: number, pending: PendingFrame): boolean {
    let e = this.entries.get(ip);
    if (e !== undefined && e.state !== 'incomplete') {
      // Known (a race with lookup, or a fresh entry): send straight away.
      const mac = this.lookup(now, ip);
      if (mac !== undefined) {
        this.host.sendResolved(now, pending.frame, mac, pending.segment);
        return true;
      }
      e = undefined;
    }
    if (e === undefined) {
      if (!this.makeRoom()) {
        this.stats.queueDrops++;
        return false;
      }
      e = { ip, state: 'incomplete', mac: new Uint8Array(6), deadline: now, requestsSent: 0, queue: [], queuedBytes: 0, created: now };
      this.entries.set(ip, e);
      this.incomplete++;
      this.host.timerArmed?.();
      const asked = this.lastAsked.get(ip);
      if (asked !== undefined && now - asked < this.options.retransmitMs) {
        e.deadline = asked + this.options.retransmitMs; // asked a moment ago (by an evicted entry): wait
        this.stats.requestsDeferred++;
      } else {
        this.request(now, e);
      }
    }
    const len = pending.frame.length;
    if (e.queue.length >= this.options.maxQueuedPackets || this.totalQueuedBytes + len > this.options.maxQueuedBytes) {
      this.stats.queueDrops++;
      return false;
    }
    e.queue.push(pending);
    e.queuedBytes += len;
    this.totalQueuedBytes += len;
    return true;
  }

  /**
   * Learn from a received ARP packet (RFC 826 "Packet Reception"). `targetIsUs` is true when the packet's target
   * protocol address is one of ours; `isRequest` when it is a request. Returns true if the table changed.
   */
  learn(now: number, senderIp: number, senderMac: Uint8Array, targetIsUs: boolean, isRequest: boolean): boolean {
    const e = this.entries.get(senderIp);
    if (e !== undefined) {
      if (e.state === 'static') return false;
      this.markReachable(now, e, senderMac);
      return true;
    }
    if (!(targetIsUs && isRequest)) {
      if (targetIsUs) this.stats.unsolicitedIgnored++;
      return false;
    }
    if (!this.makeRoom()) return false;
    const fresh: Entry = {
      ip: senderIp,
      state: 'reachable',
      mac: senderMac.slice(0, 6),
      deadline: now + this.options.reachableMs,
      requestsSent: 0,
      queue: [],
      queuedBytes: 0,
      created: now,
    };
    this.entries.set(senderIp, fresh);
    return true;
  }

  /**
   * What the host (the kernel, when byway shares its address) says about `ip`: its MAC, which resolves a waiting
   * entry or refreshes a known one, or null when the host failed to resolve it (waiting packets are dropped, their
   * senders told) or forgot it. Unlike `learn`, this creates entries (unless `create` is false): the host's table
   * is trusted.
   */
  learnFromHost(now: number, ip: number, mac: Uint8Array | null, create = true): void {
    const e = this.entries.get(ip);
    if (mac === null) {
      if (e === undefined || e.state === 'static') return;
      if (e.state === 'incomplete') this.fail(e);
      else this.remove(e);
      return;
    }
    if (e !== undefined) {
      if (e.state !== 'static') this.markReachable(now, e, mac);
      return;
    }
    if (!create || !this.makeRoom()) return;
    this.entries.set(ip, {
      ip,
      state: 'reachable',
      mac: mac.slice(0, 6),
      deadline: now + this.options.reachableMs,
      requestsSent: 0,
      queue: [],
      queuedBytes: 0,
      created: now,
    });
  }

  /**
   * RFC 1122 2.3.2.1 (4), higher-layer advice: a transport makes no progress towards `ip` (TCP after R1 = 3
   * timeouts, RFC 1122 4.2.3.5). A learned entry goes to PROBE, as Linux's NUD_PROBE: it stays in use while a
   * unicast request to its MAC goes out at once and every retransmitMs, up to unicastProbes; any ARP packet from
   * the neighbour confirms it (the merge rule, which also corrects a wrong MAC), and when none came the entry is
   * dropped, so the next packet asks by broadcast. A request also corrects the peer's entry for us: ARP carries no
   * checksum, so a damaged ARP packet can teach either side a MAC nobody has, which the timeout alone would keep
   * for reachableMs. One lost probe costs one retransmitMs, not the transport's next (doubled) timeout.
   */
  advise(now: number, ip: number): void {
    const e = this.entries.get(ip);
    if (e === undefined || e.state !== 'reachable') return; // static, unresolved, or already probing
    e.state = 'probe';
    e.requestsSent = 0;
    this.probing++;
    this.host.timerArmed?.();
    this.stats.advised++;
    this.probe(now, e);
  }

  /** A permanent entry (like `ip neigh add ... nud permanent`). */
  addStatic(ip: number, mac: Uint8Array): void {
    const old = this.entries.get(ip);
    const waiting = old?.queue ?? [];
    if (old !== undefined) this.remove(old);
    this.entries.set(ip, { ip, state: 'static', mac: mac.slice(0, 6), deadline: Infinity, requestsSent: 0, queue: [], queuedBytes: 0, created: 0 });
    for (const p of waiting) this.host.sendResolved(0, p.frame, mac, p.segment);
  }

  delete(ip: number): void {
    const e = this.entries.get(ip);
    if (e !== undefined) this.remove(e);
  }

  /** Run retries and expiry. Cheap when nothing is unresolved: the hot path polls it on every cycle. */
  poll(now: number): void {
    if (this.incomplete === 0 && this.probing === 0 && now < this.nextSweep) return;
    if (now >= this.nextSweep) this.nextSweep = now + this.options.reachableMs;
    for (const e of this.entries.values()) {
      if (e.state === 'incomplete' && now >= e.deadline) {
        if (e.requestsSent >= this.options.maxRequests) this.fail(e);
        else this.request(now, e);
      } else if (e.state === 'probe' && now >= e.deadline) {
        if (e.requestsSent >= this.options.unicastProbes) {
          this.stats.probesFailed++;
          this.remove(e);
        } else this.probe(now, e);
      } else if (e.state === 'reachable' && now >= e.deadline) {
        this.remove(e);
        this.stats.expired++;
      }
    }
  }

  /**
   * The earliest time poll() may do anything (for a host that skips polls until then, told of new waits through
   * NeighbourHost.timerArmed): the next sweep, and while entries wait on a reply, every entry's deadline (poll then
   * visits them all, and drops expired reachable ones on the way).
   */
  dueAt(): number {
    let at = this.nextSweep;
    if (this.incomplete === 0 && this.probing === 0) return at;
    for (const e of this.entries.values()) if (e.deadline < at) at = e.deadline;
    return at;
  }

  /** The earliest time poll() has work: only incomplete and probing entries need waking for (expiry is lazy). */
  pollAt(): number | undefined {
    if (this.incomplete === 0 && this.probing === 0) return undefined;
    let at: number | undefined;
    for (const e of this.entries.values()) {
      if ((e.state === 'incomplete' || e.state === 'probe') && (at === undefined || e.deadline < at)) at = e.deadline;
    }
    return at;
  }

  entriesSnapshot(): NeighbourSnapshot[] {
    return [...this.entries.values()].map((e) => ({
      ip: e.ip,
      state: e.state,
      mac: e.state === 'incomplete' ? undefined : e.mac.slice(),
      deadline: e.deadline,
      queued: e.queue.length,
    }));
  }

  private noteAsked(now: number, ip: number): void {
    this.lastAsked.delete(ip);
    this.lastAsked.set(ip, now);
    if (this.lastAsked.size > Math.max(1024, 4 * this.options.maxEntries)) this.lastAsked.delete(this.lastAsked.keys().next().value!);
  }

  private request(now: number, e: Entry): void {
    this.noteAsked(now, e.ip);
    e.requestsSent++;
    e.deadline = now + this.options.retransmitMs;
    this.stats.requestsSent++;
    this.host.sendRequest(now, e.ip);
  }

  /** One unicast request to the MAC in doubt (PROBE). */
  private probe(now: number, e: Entry): void {
    this.noteAsked(now, e.ip);
    e.requestsSent++;
    e.deadline = now + this.options.retransmitMs;
    this.stats.requestsSent++;
    this.stats.probesSent++;
    this.host.sendRequest(now, e.ip, e.mac);
  }

  private markReachable(now: number, e: Entry, mac: Uint8Array): void {
    const wasIncomplete = e.state === 'incomplete';
    if (wasIncomplete) this.incomplete--;
    const wasProbe = e.state === 'probe';
    if (wasProbe) {
      this.probing--;
      this.stats.probesConfirmed++;
    }
    e.mac.set(mac.subarray(0, 6));
    e.state = 'reachable';
    e.deadline = now + this.options.reachableMs;
    e.requestsSent = 0;
    if (wasIncomplete) {
      this.stats.resolved++;
      this.flushQueue(now, e, e.mac);
    }
    if (wasProbe) this.host.confirmed?.(now, e.ip);
  }

  private flushQueue(now: number, e: Entry, mac: Uint8Array): void {
    const queue = e.queue;
    this.totalQueuedBytes -= e.queuedBytes;
    e.queue = [];
    e.queuedBytes = 0;
    for (const p of queue) this.host.sendResolved(now, p.frame, mac, p.segment);
  }

  private fail(e: Entry): void {
    this.stats.failed++;
    const queue = e.queue;
    this.remove(e);
    for (const p of queue) p.onUnreachable?.();
  }

  private remove(e: Entry): void {
    if (e.state === 'incomplete') this.incomplete--;
    else if (e.state === 'probe') this.probing--;
    this.totalQueuedBytes -= e.queuedBytes;
    e.queue = [];
    e.queuedBytes = 0;
    this.entries.delete(e.ip);
    if (e === this.lastEntry) {
      this.lastIp = -1;
      this.lastEntry = undefined;
    }
  }

  /**
   * Ensure one free slot, evicting the oldest unresolved entry, else the oldest reachable one: a flood towards
   * addresses that never answer churns through unresolved entries and leaves the neighbours that work alone.
   * False when every entry is static.
   */
  private makeRoom(): boolean {
    if (this.entries.size < this.options.maxEntries) return true;
    let victim: Entry | undefined;
    let reachable: Entry | undefined;
    for (const e of this.entries.values()) {
      if (e.state === 'incomplete') {
        if (victim === undefined || e.created < victim.created) victim = e;
      } else if ((e.state === 'reachable' || e.state === 'probe') && (reachable === undefined || e.created < reachable.created)) {
        reachable = e;
      }
    }
    victim ??= reachable;
    if (victim === undefined) return false;
    this.stats.evicted++;
    if (victim.state === 'incomplete') {
      const queue = victim.queue;
      this.remove(victim);
      for (const p of queue) p.onUnreachable?.();
    } else {
      this.remove(victim);
    }
    return true;
  }
}
