/**
 * KernelTables: a mirror of the kernel's IPv4 addresses, routes (main table) and neighbours for one interface,
 * kept over a NETLINK_ROUTE socket (drivers/native). It implements `HostTables` for drivers that share their
 * address with the kernel (AF_XDP shared-address mode): the kernel does ARP and routing, byway reads the result.
 *
 * - open: one dump each of RTM_GETADDR, RTM_GETROUTE and RTM_GETNEIGH (IPv4), read to NLMSG_DONE before
 *   returning; the socket is joined to RTMGRP_LINK, RTMGRP_NEIGH, RTMGRP_IPV4_IFADDR and RTMGRP_IPV4_ROUTE first,
 *   so no change between the dump and the first poll is missed.
 * - poll(now): drains the socket (notifications, and answers to resolve requests) into the tables and the
 *   listener. It does the work at most every `intervalMs`, but on every call while a resolve is outstanding.
 *   `pollAt(now)` says when it next wants a poll. The listener is called only from inside poll().
 * - resolve(ip): RTM_NEWNEIGH with NTF_USE (the kernel sends an ARP request as if it had a packet for `ip`). The
 *   listener then gets the MAC (the entry becomes REACHABLE, or is already usable), or null when the entry fails
 *   (NUD_FAILED), is deleted, the kernel refuses the request, or nothing is heard for `resolveTimeoutMs`.
 * - Lost notifications (ENOBUFS: the socket's receive buffer overran) trigger a fresh dump at the next poll; the
 *   listener is told the differences.
 *
 * - With `ipv6`, the same for IPv6 (ipv6.ts): the interface's IPv6 addresses and the kernel's IPv6 neighbours
 *   (what its NDP found), its IPv6 routes (RTMGRP_IPV6_IFADDR and RTMGRP_IPV6_ROUTE joined too), and `resolve6`
 *   (the kernel sends the solicitation).
 *
 * Never throws on bad kernel bytes (skipped, counted in `stats`). Throws BywayError at open (the netns, the
 * interface, the socket; a dump that does not finish), ERR_DRIVER_CLOSED for resolve() after close().
 * Buffers: one receive buffer per instance, reused; MACs handed to the listener and in neighbours() are copies.
 */
import { BywayError, type HostRoute, type HostRoute6, type HostTableListener, type HostTables } from '../types.js';
import { nativeError, type NativeAddon, type NativeHandle } from '../native/index.js';
import { Ipv6Mirror } from './ipv6.js';
import {
  AF_INET,
  AF_INET6,
  RTMGRP_IPV6_IFADDR,
  RTMGRP_IPV6_ROUTE,
  emitNeighUse6,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_OVERRUN,
  NLM_F_DUMP_INTR,
  NUD_FAILED,
  NUD_USABLE,
  RTMGRP_IPV4_IFADDR,
  RTMGRP_IPV4_ROUTE,
  RTMGRP_LINK,
  RTMGRP_NEIGH,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETNEIGH,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTM_F_CLONED,
  RTN_UNICAST,
  RT_TABLE_MAIN,
  emitDumpRequest,
  emitNeighUse,
  forEachMessage,
  newParseStats,
  parseAddr,
  parseError,
  parseLink,
  parseNeigh,
  parseRoute,
  type NetlinkParseStats,
  type NlMessage,
} from './wire.js';

export interface KernelTablesOptions {
  /** The interface whose tables are mirrored. */
  readonly ifname: string;
  /** Network namespace (default: this process's). */
  readonly netns?: string | undefined;
  /** Least time between two drains when no resolve is outstanding (default 100 ms). */
  readonly intervalMs?: number;
  /** While a resolve is outstanding, pollAt asks again this soon (default 5 ms). */
  readonly resolvePollMs?: number;
  /** A resolve with no answer from the kernel by then is reported as failed (default 5000 ms). */
  readonly resolveTimeoutMs?: number;
  /** Socket receive buffer (default 1 MiB); a burst beyond it loses notifications and forces a new dump. */
  readonly receiveBufferBytes?: number;
  /** Most neighbours and routes each kept (default 4096); beyond that new entries are dropped and counted. */
  readonly maxEntries?: number;
  /** Most resolves outstanding at once (default 256); more are dropped (answered null) and counted. */
  readonly maxPendingResolves?: number;
  /** Mirror IPv6 addresses and neighbours too (default false). */
  readonly ipv6?: boolean;
}

export interface KernelTablesStats extends NetlinkParseStats {
  /** Netlink messages handled (dumps included). */
  messages: number;
  /** Notifications lost to a receive-buffer overrun (ENOBUFS), each followed by a new dump. */
  overruns: number;
  /** Full dumps done (the one at open included). */
  dumps: number;
  /** Requests the kernel refused (NLMSG_ERROR with an errno). */
  kernelErrors: number;
  /** Neighbour requests sent (resolve). */
  resolves: number;
  /** Resolves that ended with no answer (timeout) or were refused because too many were outstanding. */
  resolveFailures: number;
  /** Entries not kept because a table was full. */
  tableFull: number;
  /** Datagrams lost because they did not fit the receive buffer, or other receive errors. */
  receiveErrors: number;
}

const GROUPS = RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE;
const ENOBUFS = 105;
/** Enough for one datagram of a dump (the kernel sizes them to about a page, at most 32 KiB). */
const RECV_BUF = 64 * 1024;
/** How many times a dump read may find the socket empty before giving up (the kernel answers in sendmsg). */
const DUMP_EMPTY_READS = 10_000;

interface Neighbour {
  readonly ip: number;
  readonly mac: Uint8Array;
}

function routeKey(r: { destination: { address: number; prefixLen: number }; metric: number }): string {
  return `${r.destination.address}/${r.destination.prefixLen}/${r.metric}`;
}

function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class KernelTables implements HostTables {
  readonly ifname: string;
  readonly ifindex: number;
  readonly netns: string | undefined;
  readonly stats: KernelTablesStats = {
    ...newParseStats(),
    messages: 0,
    overruns: 0,
    dumps: 0,
    kernelErrors: 0,
    resolves: 0,
    resolveFailures: 0,
    tableFull: 0,
    receiveErrors: 0,
  };
  /** Set when the kernel reported the interface deleted (RTM_DELLINK). */
  linkGone = false;

  private readonly nl: NativeHandle;
  private readonly rx = new Uint8Array(RECV_BUF);
  private readonly tx = new Uint8Array(64);
  private readonly intervalMs: number;
  private readonly resolvePollMs: number;
  private readonly resolveTimeoutMs: number;
  private readonly maxEntries: number;
  private readonly maxPending: number;
  private addrs = new Map<string, { address: number; prefixLen: number }>();
  private routeMap = new Map<string, HostRoute>();
  private neigh = new Map<number, Neighbour>();
  /** ip -> deadline (ms) of an outstanding resolve; deadline NaN until the first poll sees it. */
  private readonly pending = new Map<number, number>();
  /** resolve request seq -> ip, to match a refusal to its address. */
  private readonly pendingSeq = new Map<number, number>();
  private listener: HostTableListener | null = null;
  private seq = 1;
  private lastPoll = -Infinity;
  private resync = false;
  private closedFlag = false;
  /** The IPv6 addresses and neighbours (options.ipv6), else undefined. */
  private readonly v6: Ipv6Mirror | undefined;
  /** While dumping: where entries go (fresh maps, diffed against the old ones at the end). */
  private dumpSeq = -1;
  private dumpDone = false;
  private dumpInterrupted = false;

  private constructor(
    private readonly native: NativeAddon,
    nl: NativeHandle,
    ifindex: number,
    options: KernelTablesOptions,
  ) {
    this.nl = nl;
    this.ifindex = ifindex;
    this.ifname = options.ifname;
    this.netns = options.netns;
    this.intervalMs = options.intervalMs ?? 100;
    this.resolvePollMs = options.resolvePollMs ?? 5;
    this.resolveTimeoutMs = options.resolveTimeoutMs ?? 5000;
    this.maxEntries = options.maxEntries ?? 4096;
    this.maxPending = options.maxPendingResolves ?? 256;
    const limits = { maxEntries: this.maxEntries, maxPending: this.maxPending, resolveTimeoutMs: this.resolveTimeoutMs };
    this.v6 = options.ipv6 === true ? new Ipv6Mirror(ifindex, limits, this.stats) : undefined;
  }

  /** Open the socket in the namespace, dump the three tables. Throws BywayError (ENODEV, ENOENT, EPERM, ETIMEDOUT). */
  static open(native: NativeAddon, options: KernelTablesOptions): KernelTables {
    for (const [k, v] of [
      ['intervalMs', options.intervalMs],
      ['resolvePollMs', options.resolvePollMs],
      ['resolveTimeoutMs', options.resolveTimeoutMs],
      ['receiveBufferBytes', options.receiveBufferBytes],
      ['maxEntries', options.maxEntries],
      ['maxPendingResolves', options.maxPendingResolves],
    ] as const) {
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new BywayError('ERR_INVALID_ARG_VALUE', `${k} must be a number >= 0, got ${String(v)}`);
    }
    let info: ReturnType<NativeAddon['ifInfo']>;
    let nl: NativeHandle;
    try {
      info = native.ifInfo(options.ifname, options.netns);
    } catch (e) {
      throw nativeError(e, 'xdp', options.ifname, options.netns);
    }
    if (!info) {
      throw new BywayError('ENODEV', `no interface '${options.ifname}'${options.netns ? ` in namespace '${options.netns}'` : ''} to mirror the kernel's tables of`);
    }
    try {
      nl = native.nlOpen(options.netns, GROUPS | (options.ipv6 === true ? RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE : 0), options.receiveBufferBytes ?? 1 << 20);
    } catch (e) {
      throw nativeError(e, 'xdp', options.ifname, options.netns);
    }
    const t = new KernelTables(native, nl, info.ifindex, options);
    try {
      t.dumpAll();
    } catch (e) {
      t.close();
      throw e;
    }
    return t;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  addresses(): readonly { readonly address: number; readonly prefixLen: number }[] {
    return [...this.addrs.values()];
  }

  routes(): readonly HostRoute[] {
    return [...this.routeMap.values()];
  }

  neighbours(): readonly { readonly ip: number; readonly mac: Uint8Array }[] {
    return [...this.neigh.values()].map((n) => ({ ip: n.ip, mac: new Uint8Array(n.mac) }));
  }

  neighbour(ip: number): Uint8Array | undefined {
    return this.neigh.get(ip >>> 0)?.mac;
  }

  /** The interface's usable IPv6 addresses (none without the `ipv6` option). */
  addresses6(): readonly { readonly address: Uint8Array; readonly prefixLen: number }[] {
    return this.v6?.addresses() ?? [];
  }

  /** The interface's IPv6 routes in the main table (none without the `ipv6` option). */
  routes6(): readonly HostRoute6[] {
    return this.v6?.routes() ?? [];
  }

  neighbour6(ip: Uint8Array): Uint8Array | undefined {
    return this.v6?.neighbour(ip);
  }

  /** Ask the kernel to resolve the IPv6 neighbour `ip` (it solicits); the answer reaches the listener from a later poll(). */
  resolve6(ip: Uint8Array): void {
    if (this.closedFlag) throw new BywayError('ERR_DRIVER_CLOSED', 'the kernel tables are closed');
    if (!(ip instanceof Uint8Array) || ip.length !== 16) throw new BywayError('ERR_INVALID_ARG_VALUE', 'resolve6: not a 16-byte IPv6 address');
    const v6 = this.v6;
    if (v6 === undefined || !v6.admit(ip)) return;
    const seq = this.nextSeq();
    const len = emitNeighUse6(ip, this.ifindex, seq, this.tx);
    const r = this.native.nlSend(this.nl, this.tx.subarray(0, len));
    this.stats.resolves++;
    if (r < 0) this.stats.kernelErrors++;
    v6.requested(ip, r < 0 ? undefined : seq);
  }

  setListener(listener: HostTableListener | null): void {
    this.listener = listener;
  }

  /** Ask the kernel to resolve `ip` on the interface; the answer reaches the listener from a later poll(). */
  resolve(ip: number): void {
    if (this.closedFlag) throw new BywayError('ERR_DRIVER_CLOSED', 'the kernel tables are closed');
    if (!Number.isInteger(ip) || ip < 0 || ip > 0xffffffff) throw new BywayError('ERR_INVALID_ARG_VALUE', `resolve: ${ip} is not an IPv4 address`);
    if (!this.pending.has(ip) && this.pending.size >= this.maxPending) {
      this.stats.resolveFailures++;
      return;
    }
    const seq = this.nextSeq();
    const len = emitNeighUse(ip, this.ifindex, seq, this.tx);
    const r = this.native.nlSend(this.nl, this.tx.subarray(0, len));
    this.stats.resolves++;
    if (!this.pending.has(ip)) this.pending.set(ip, NaN);
    if (r < 0) {
      // Could not even ask: the next poll reports the failure (the listener is only called from poll).
      this.stats.kernelErrors++;
      this.pending.set(ip, -Infinity);
      return;
    }
    this.pendingSeq.set(seq, ip);
    if (this.pendingSeq.size > 4 * this.maxPending) {
      // Kernel ACKs remove these; bound the map if some never come back.
      const first = this.pendingSeq.keys().next().value as number;
      this.pendingSeq.delete(first);
    }
  }

  /** Resolves asked for and not yet answered. */
  get pendingResolves(): number {
    return this.pending.size + (this.v6?.pendingCount ?? 0);
  }

  /**
   * Drain the socket into the tables and the listener; returns the number of messages handled. Does nothing
   * (returns 0) when called again within `intervalMs` of the last drain, unless a resolve is outstanding or a
   * new dump is due.
   */
  poll(now: number): number {
    if (this.closedFlag) return 0;
    if (this.pendingResolves === 0 && !this.resync && now < this.lastPoll + this.intervalMs) return 0;
    this.lastPoll = now;
    let handled = 0;
    if (this.resync) {
      this.resync = false;
      this.dumpAll();
    }
    for (;;) {
      const n = this.native.nlRecv(this.nl, this.rx);
      if (n === 0) break;
      if (n < 0) {
        if (-n === ENOBUFS) {
          this.stats.overruns++;
          this.resync = true;
          continue;
        }
        this.stats.receiveErrors++;
        if (-n === 9 /* EBADF */) break;
        continue;
      }
      handled += forEachMessage(this.rx.subarray(0, n), this.stats, (m) => this.handle(m));
    }
    if (this.resync) {
      this.resync = false;
      this.dumpAll();
    }
    this.settleResolves(now);
    this.stats.messages += handled;
    return handled;
  }

  /** When poll() next has work: soon while resolves are outstanding, else the next interval. */
  pollAt(now: number): number | undefined {
    if (this.closedFlag) return undefined;
    if (this.resync) return now;
    if (this.pendingResolves > 0) return Math.max(now, Math.min(this.lastPoll + this.resolvePollMs, this.earliestDeadline()));
    return Math.max(now, this.lastPoll + this.intervalMs);
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.listener = null;
    this.pending.clear();
    this.pendingSeq.clear();
    this.v6?.clear();
    this.native.close(this.nl);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  private earliestDeadline(): number {
    let d = Infinity;
    for (const v of this.pending.values()) if (v < d) d = v;
    return Math.min(d, this.v6?.earliestDeadline() ?? Infinity);
  }

  /** Answer resolves whose entry is usable now, and fail those past their deadline. */
  private settleResolves(now: number): void {
    this.v6?.settle(now, this.listener);
    for (const [ip, deadline] of this.pending) {
      const n = this.neigh.get(ip);
      if (n) {
        this.pending.delete(ip);
        this.listener?.neighbour(ip, new Uint8Array(n.mac));
      } else if (Number.isNaN(deadline)) {
        this.pending.set(ip, now + this.resolveTimeoutMs);
      } else if (now >= deadline) {
        this.pending.delete(ip);
        this.stats.resolveFailures++;
        this.listener?.neighbour(ip, null);
      }
    }
  }

  /** Dump the three tables into fresh maps, then tell the listener what changed against the old ones. */
  private dumpAll(): void {
    const oldRoutes = this.routeMap;
    const oldNeigh = this.neigh;
    const announce = this.stats.dumps > 0;
    for (let attempt = 0; ; attempt++) {
      this.addrs = new Map();
      this.routeMap = new Map();
      this.neigh = new Map();
      this.dumpInterrupted = false;
      this.dump(RTM_GETADDR);
      this.dump(RTM_GETROUTE);
      this.dump(RTM_GETNEIGH);
      if (this.v6 !== undefined) {
        this.v6.startDump();
        this.dump(RTM_GETADDR, AF_INET6);
        this.dump(RTM_GETROUTE, AF_INET6);
        this.dump(RTM_GETNEIGH, AF_INET6);
      }
      if (!this.dumpInterrupted || attempt >= 3) break; // NLM_F_DUMP_INTR: the table changed mid-dump; again
    }
    this.stats.dumps++;
    this.v6?.endDump(announce, this.listener);
    if (!announce || !this.listener) return;
    const l = this.listener;
    for (const [k, r] of oldRoutes) if (!this.routeMap.has(k)) l.route('delete', r);
    for (const [k, r] of this.routeMap) {
      const o = oldRoutes.get(k);
      if (!o || o.gateway !== r.gateway || o.mtu !== r.mtu) l.route('add', r);
    }
    for (const [ip] of oldNeigh) if (!this.neigh.has(ip)) l.neighbour(ip, null);
    for (const [ip, n] of this.neigh) {
      const o = oldNeigh.get(ip);
      if (!o || !macEqual(o.mac, n.mac)) l.neighbour(ip, new Uint8Array(n.mac));
    }
  }

  /** One dump request, read to its NLMSG_DONE; notifications read meanwhile are applied as usual. */
  private dump(type: number, family = AF_INET): void {
    const seq = this.nextSeq();
    const len = emitDumpRequest(type, seq, this.tx, family);
    const sent = this.native.nlSend(this.nl, this.tx.subarray(0, len));
    if (sent < 0) throw new BywayError('EIO', `netlink dump request ${type} failed (errno ${-sent})`);
    this.dumpSeq = seq;
    this.dumpDone = false;
    let empty = 0;
    while (!this.dumpDone) {
      const n = this.native.nlRecv(this.nl, this.rx);
      if (n === 0) {
        if (++empty > DUMP_EMPTY_READS) {
          this.dumpSeq = -1;
          throw new BywayError('ETIMEDOUT', `the kernel did not finish the netlink dump (${type}) of '${this.ifname}'`);
        }
        continue;
      }
      if (n < 0) {
        // ENOBUFS during a dump: notifications were lost, but the dump itself still completes; the state it
        // reports is newer than anything lost.
        if (-n === ENOBUFS) this.stats.overruns++;
        else this.stats.receiveErrors++;
        if (-n === 9) throw new BywayError('ERR_DRIVER_CLOSED', 'the netlink socket is closed');
        continue;
      }
      this.stats.messages += forEachMessage(this.rx.subarray(0, n), this.stats, (m) => this.handle(m));
    }
    this.dumpSeq = -1;
  }

  private handle(m: NlMessage): void {
    if (m.seq === this.dumpSeq && this.dumpSeq >= 0) {
      if (m.flags & NLM_F_DUMP_INTR) this.dumpInterrupted = true;
      if (m.type === NLMSG_DONE || m.type === NLMSG_ERROR) {
        // An error ends the dump too (that table stays empty until the next dump); count it.
        if (m.type === NLMSG_ERROR && (parseError(m.payload, this.stats)?.error ?? 0) !== 0) this.stats.kernelErrors++;
        this.dumpDone = true;
        return;
      }
    }
    switch (m.type) {
      case NLMSG_ERROR: {
        const e = parseError(m.payload, this.stats);
        if (!e) return;
        if (this.v6?.answered(e.seq, e.error, this.listener)) {
          if (e.error !== 0) this.stats.kernelErrors++;
          return;
        }
        const ip = this.pendingSeq.get(e.seq);
        this.pendingSeq.delete(e.seq);
        if (e.error === 0) return; // an ACK
        this.stats.kernelErrors++;
        if (ip !== undefined && this.pending.has(ip)) {
          this.pending.delete(ip);
          this.listener?.neighbour(ip, null);
        }
        return;
      }
      case NLMSG_OVERRUN:
        this.resync = true;
        return;
      case RTM_NEWADDR:
      case RTM_DELADDR:
        if (m.payload[0] === AF_INET6) return this.v6?.onAddr(m);
        return this.onAddr(m);
      case RTM_NEWROUTE:
      case RTM_DELROUTE:
        if (m.payload[0] === AF_INET6) return this.v6?.onRoute(m, this.dumpSeq < 0, this.listener);
        return this.onRoute(m);
      case RTM_NEWNEIGH:
      case RTM_DELNEIGH:
        if (m.payload[0] === AF_INET6) return this.v6?.onNeigh(m, this.dumpSeq < 0, this.listener);
        return this.onNeigh(m);
      case RTM_NEWLINK:
      case RTM_DELLINK: {
        const l = parseLink(m.payload, this.stats);
        if (l && l.ifindex === this.ifindex && m.type === RTM_DELLINK) this.linkGone = true;
        return;
      }
      default:
        return;
    }
  }

  private onAddr(m: NlMessage): void {
    const a = parseAddr(m.payload, this.stats);
    if (!a || a.ifindex !== this.ifindex || a.address === undefined) return;
    const key = `${a.address}/${a.prefixLen}`;
    if (m.type === RTM_DELADDR) this.addrs.delete(key);
    else if (this.addrs.has(key) || this.addrs.size < this.maxEntries) this.addrs.set(key, { address: a.address, prefixLen: a.prefixLen });
    else this.stats.tableFull++;
  }

  private onRoute(m: NlMessage): void {
    const r = parseRoute(m.payload, this.stats);
    // The main table's unicast routes out of this interface; cached clones and ECMP routes (no single oif) are not kept.
    if (!r || r.table !== RT_TABLE_MAIN || r.type !== RTN_UNICAST || r.flags & RTM_F_CLONED || r.oif !== this.ifindex) return;
    const route: HostRoute = {
      destination: { address: r.destination, prefixLen: r.dstLen },
      gateway: r.gateway,
      metric: r.priority,
      mtu: r.mtu,
    };
    const key = routeKey(route);
    if (m.type === RTM_DELROUTE) {
      const old = this.routeMap.get(key);
      if (!old) return;
      this.routeMap.delete(key);
      if (this.dumpSeq < 0) this.listener?.route('delete', old);
      return;
    }
    if (!this.routeMap.has(key) && this.routeMap.size >= this.maxEntries) {
      this.stats.tableFull++;
      return;
    }
    this.routeMap.set(key, route);
    if (this.dumpSeq < 0) this.listener?.route('add', route);
  }

  private onNeigh(m: NlMessage): void {
    const n = parseNeigh(m.payload, this.stats);
    if (!n || n.ifindex !== this.ifindex || n.destination === undefined) return;
    const ip = n.destination;
    const old = this.neigh.get(ip);
    const live = this.dumpSeq < 0;
    const usable = m.type === RTM_NEWNEIGH && (n.state & NUD_USABLE) !== 0 && n.lladdr !== undefined && n.lladdr.length === 6;
    if (usable) {
      const mac = n.lladdr!;
      if (old && macEqual(old.mac, mac)) {
        if (live && this.pending.delete(ip)) this.listener?.neighbour(ip, new Uint8Array(mac));
        return;
      }
      if (!old && this.neigh.size >= this.maxEntries) {
        this.stats.tableFull++;
        return;
      }
      this.neigh.set(ip, { ip, mac: new Uint8Array(mac) });
      if (live) {
        this.pending.delete(ip);
        this.listener?.neighbour(ip, new Uint8Array(mac));
      }
      return;
    }
    const failed = m.type === RTM_DELNEIGH || (n.state & NUD_FAILED) !== 0;
    if (old) this.neigh.delete(ip);
    // INCOMPLETE (or NONE): resolution is under way; the entry is not usable but nothing has failed yet.
    if (!failed || !live) return;
    const wasPending = this.pending.delete(ip);
    if (old || wasPending) this.listener?.neighbour(ip, null);
  }
}
