/**
 * The IPv6 half of KernelTables (index.ts): the interface's IPv6 addresses (RTM_*ADDR, AF_INET6), its IPv6 routes
 * (RTM_*ROUTE: the main table's unicast routes out of the interface, the default route learned from RAs included;
 * cloned and ECMP routes skipped, as for IPv4), the kernel's
 * IPv6 neighbours with a usable MAC (RTM_*NEIGH, AF_INET6: what NDP found), and resolves asked of the kernel
 * (RTM_NEWNEIGH with NTF_USE: the kernel sends the neighbor solicitation). KernelTables owns the socket, the dumps
 * and the listener; it hands this class the AF_INET6 messages and calls `settle` from its poll.
 *
 * Never throws on bad kernel bytes (skipped, counted in the stats passed in). Addresses and MACs handed out are
 * copies. Tentative and DAD-failed addresses are not listed (the kernel does not use them yet, or ever).
 */
import type { HostRoute6, HostTableListener } from '../types.js';
import {
  IFA_F_DADFAILED,
  IFA_F_TENTATIVE,
  NUD_FAILED,
  NUD_USABLE,
  RTM_DELADDR,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_F_CLONED,
  RTM_NEWNEIGH,
  RTN_UNICAST,
  RT_TABLE_MAIN,
  parseAddr6,
  parseRoute6,
  parseNeigh6,
  type NetlinkParseStats,
  type NlMessage,
} from './wire.js';

export interface Ipv6MirrorStats extends NetlinkParseStats {
  resolveFailures: number;
  tableFull: number;
}

interface Neighbour6 {
  readonly ip: Uint8Array;
  readonly mac: Uint8Array;
}

const hex = (ip: Uint8Array): string => Buffer.from(ip.buffer, ip.byteOffset, 16).toString('hex');

function sameGateway(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a === undefined || b === undefined ? a === b : sameBytes(a, b);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Ipv6Mirror {
  private addrs = new Map<string, { address: Uint8Array; prefixLen: number }>();
  private neigh = new Map<string, Neighbour6>();
  private routeMap = new Map<string, HostRoute6>();
  /** The routes before the dump under way (diffed at its end). */
  private routesBeforeDump: Map<string, HostRoute6> | undefined;
  /** hex -> deadline (ms) of an outstanding resolve; NaN until the first settle sees it. */
  private readonly pending = new Map<string, number>();
  /** resolve request seq -> address (hex), to match a refusal to its address. */
  private readonly pendingSeq = new Map<number, string>();
  /** The neighbours before the dump under way (diffed at its end). */
  private beforeDump: Map<string, Neighbour6> | undefined;

  constructor(
    private readonly ifindex: number,
    private readonly limits: { readonly maxEntries: number; readonly maxPending: number; readonly resolveTimeoutMs: number },
    private readonly stats: Ipv6MirrorStats,
  ) {}

  addresses(): readonly { readonly address: Uint8Array; readonly prefixLen: number }[] {
    return [...this.addrs.values()].map((a) => ({ address: a.address.slice(), prefixLen: a.prefixLen }));
  }

  routes(): readonly HostRoute6[] {
    return [...this.routeMap.values()];
  }

  neighbour(ip: Uint8Array): Uint8Array | undefined {
    return this.neigh.get(hex(ip))?.mac;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  earliestDeadline(): number {
    let d = Infinity;
    for (const v of this.pending.values()) if (v < d) d = v;
    return d;
  }

  /** Before a resolve request goes out: false when too many are outstanding (counted; the caller reports it). */
  admit(ip: Uint8Array): boolean {
    if (this.pending.has(hex(ip)) || this.pending.size < this.limits.maxPending) return true;
    this.stats.resolveFailures++;
    return false;
  }

  /** The request for `ip` went out as `seq` (or could not: `seq` undefined, reported failed at the next settle). */
  requested(ip: Uint8Array, seq: number | undefined): void {
    const k = hex(ip);
    if (seq === undefined) {
      this.pending.set(k, -Infinity);
      return;
    }
    if (!this.pending.has(k)) this.pending.set(k, NaN);
    this.pendingSeq.set(seq, k);
    if (this.pendingSeq.size > 4 * this.limits.maxPending) this.pendingSeq.delete(this.pendingSeq.keys().next().value as number);
  }

  /** An NLMSG_ERROR answering request `seq`: true when it was one of ours (a refusal fails the resolve). */
  answered(seq: number, error: number, listener: HostTableListener | null): boolean {
    const k = this.pendingSeq.get(seq);
    if (k === undefined) return false;
    this.pendingSeq.delete(seq);
    if (error !== 0 && this.pending.delete(k)) listener?.neighbour6?.(Buffer.from(k, 'hex'), null);
    return true;
  }

  /** A dump (or a retry of one) starts: fresh tables; the neighbours before the first attempt are kept for endDump. */
  startDump(): void {
    this.beforeDump ??= this.neigh;
    this.routesBeforeDump ??= this.routeMap;
    this.addrs = new Map();
    this.neigh = new Map();
    this.routeMap = new Map();
  }

  /** After a dump: tell the listener (when `announce`) which neighbours changed. */
  endDump(announce: boolean, listener: HostTableListener | null): void {
    const old = this.beforeDump ?? new Map<string, Neighbour6>();
    const oldRoutes = this.routesBeforeDump ?? new Map<string, HostRoute6>();
    this.beforeDump = undefined;
    this.routesBeforeDump = undefined;
    if (announce && listener?.route6 !== undefined) {
      for (const [k, r] of oldRoutes) if (!this.routeMap.has(k)) listener.route6('delete', r);
      for (const [k, r] of this.routeMap) {
        const o = oldRoutes.get(k);
        if (o === undefined || o.mtu !== r.mtu || !sameGateway(o.gateway, r.gateway)) listener.route6('add', r);
      }
    }
    if (!announce || listener?.neighbour6 === undefined) return;
    for (const [k, n] of old) if (!this.neigh.has(k)) listener.neighbour6(n.ip.slice(), null);
    for (const [k, n] of this.neigh) {
      const o = old.get(k);
      if (o === undefined || !sameBytes(o.mac, n.mac)) listener.neighbour6(n.ip.slice(), n.mac.slice());
    }
  }

  onAddr(m: NlMessage): void {
    const a = parseAddr6(m.payload, this.stats);
    if (a === undefined || a.ifindex !== this.ifindex || a.address === undefined) return;
    const key = `${hex(a.address)}/${a.prefixLen}`;
    if (m.type === RTM_DELADDR || (a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) !== 0) this.addrs.delete(key);
    else if (this.addrs.has(key) || this.addrs.size < this.limits.maxEntries) this.addrs.set(key, { address: a.address.slice(), prefixLen: a.prefixLen });
    else this.stats.tableFull++;
  }

  /** `live`: not inside a dump (the listener hears of changes). */
  onRoute(m: NlMessage, live: boolean, listener: HostTableListener | null): void {
    const r = parseRoute6(m.payload, this.stats);
    if (r === undefined || r.table !== RT_TABLE_MAIN || r.type !== RTN_UNICAST || r.flags & RTM_F_CLONED || r.oif !== this.ifindex) return;
    const route: HostRoute6 = {
      destination: { address: r.destination.slice(), prefixLen: r.dstLen },
      gateway: r.gateway?.slice(),
      metric: r.priority,
      mtu: r.mtu,
    };
    const key = `${hex(route.destination.address)}/${r.dstLen}/${r.priority}`;
    if (m.type === RTM_DELROUTE) {
      const old = this.routeMap.get(key);
      if (old === undefined) return;
      this.routeMap.delete(key);
      if (live) listener?.route6?.('delete', old);
      return;
    }
    if (!this.routeMap.has(key) && this.routeMap.size >= this.limits.maxEntries) {
      this.stats.tableFull++;
      return;
    }
    this.routeMap.set(key, route);
    if (live) listener?.route6?.('add', route);
  }

  /** `live`: not inside a dump (the listener hears of changes). */
  onNeigh(m: NlMessage, live: boolean, listener: HostTableListener | null): void {
    const n = parseNeigh6(m.payload, this.stats);
    if (n === undefined || n.ifindex !== this.ifindex || n.destination === undefined) return;
    const k = hex(n.destination);
    const old = this.neigh.get(k);
    const usable = m.type === RTM_NEWNEIGH && (n.state & NUD_USABLE) !== 0 && n.lladdr !== undefined && n.lladdr.length === 6;
    if (usable) {
      const mac = n.lladdr!;
      if (old !== undefined && sameBytes(old.mac, mac)) {
        if (live && this.pending.delete(k)) listener?.neighbour6?.(old.ip.slice(), mac.slice());
        return;
      }
      if (old === undefined && this.neigh.size >= this.limits.maxEntries) {
        this.stats.tableFull++;
        return;
      }
      const entry = { ip: n.destination.slice(), mac: mac.slice() };
      this.neigh.set(k, entry);
      if (live) {
        this.pending.delete(k);
        listener?.neighbour6?.(entry.ip.slice(), entry.mac.slice());
      }
      return;
    }
    const failed = m.type === RTM_DELNEIGH || (n.state & NUD_FAILED) !== 0;
    if (old !== undefined) this.neigh.delete(k);
    if (!failed || !live) return; // INCOMPLETE: resolution under way
    const wasPending = this.pending.delete(k);
    if (old !== undefined || wasPending) listener?.neighbour6?.(n.destination.slice(), null);
  }

  /** Answer resolves whose entry is usable now, and fail those past their deadline. */
  settle(now: number, listener: HostTableListener | null): void {
    for (const [k, deadline] of this.pending) {
      const n = this.neigh.get(k);
      if (n !== undefined) {
        this.pending.delete(k);
        listener?.neighbour6?.(n.ip.slice(), n.mac.slice());
      } else if (Number.isNaN(deadline)) {
        this.pending.set(k, now + this.limits.resolveTimeoutMs);
      } else if (now >= deadline) {
        this.pending.delete(k);
        this.stats.resolveFailures++;
        listener?.neighbour6?.(Buffer.from(k, 'hex'), null);
      }
    }
  }

  clear(): void {
    this.pending.clear();
    this.pendingSeq.clear();
  }
}
