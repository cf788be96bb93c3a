/**
 * `createStack(options)`: the public entry point. It parses the options (addresses as strings, limits), builds the
 * sans-IO core over the given driver, runs it on Node's event loop, and exposes the node:net / node:dgram-shaped
 * namespaces. `close()` releases every socket, timer and the driver.
 *
 * Keep-alive: what keeps the process alive is what would keep a node:net/node:dgram handle active (a listening
 * server, a connecting, reading or writing socket, a bound dgram socket, a pending ping), unless unref'd, or the
 * whole stack is (stack.unref()). The poll loop and the driver's readiness watch are unref'd; one ref'd interval
 * handle stands for all active objects, which report changes one at a time (refChanged).
 */
import type { ListenerOptions } from '../../protocols/multicast/listener.js';
import { tcpEndpoint } from './tcp-addr.js';
import dns from 'node:dns';
import type { FrameDriver } from '../../drivers/types.js';
import { BywayError } from '../../protocols/util/errors.js';
import { cryptoRng, type Rng } from '../../protocols/util/rng.js';
import { parseCidr, parseIpv4, formatIpv4, type Ipv4Cidr } from '../../protocols/ipv4/address.js';
import { formatIpv6, parseIpv6Cidr, parseIpv6WithZone, type Ipv6Cidr } from '../../protocols/ipv6/address.js';
import type { Ipv6Options, Ipv6RouteConfig, Ping6Result } from '../stack/ipv6.js';
import { parseMac } from '../../protocols/ethernet/wire.js';
import { NetStack, type IcmpOptions, type PingResult, type RouteConfig } from '../stack/stack.js';
import type { NeighbourOptions } from '../stack/neighbour.js';
import type { ReassemblyOptions } from '../../protocols/ipv4/reassembly.js';
import type { UdpOptions } from '../stack/udp.js';
import type { StackStats } from '../stack/stats.js';
import type { Clock } from '../stack/clock.js';
import { runStack, type RunningStack } from '../runtime/run-stack.js';
import { openNativeTurns } from '../../drivers/native/turn.js';
import { compileStrategy, type Flow, type Path, type PathStrategy } from './path.js';
import { makeDgram, type DgramApi } from './dgram.js';
import { makeNet, type NetApi } from './net-api.js';
import { validateStackOptions } from './options.js';
import { defaultStableSecret, sha256 } from '../runtime/slaac-secret.js';
import type { TcpInfo } from '../../protocols/tcp/info.js';
import type { TcpOptions } from '../../protocols/tcp/layer.js';
import type { StackInternals, Tracked } from './internals.js';
import { DeferQueue } from './defer.js';
import { resolveHost, type LookupFunction } from './lookup.js';

export interface StackOptions {
  readonly driver: FrameDriver;
  /**
   * One address or several, with prefix length, of either family: '10.0.0.1/24', 'fd00::1/64'. An IPv6 address
   * turns IPv6 on (with a link-local address derived from the MAC). Optional on a driver that shares the kernel's
   * address (AF_XDP shared mode: the kernel's IPv4 addresses are taken) and with `ipv6` (link-local only).
   */
  readonly address?: string | readonly string[];
  /** The default gateway, or one per family: '10.0.0.254', ['10.0.0.254', 'fe80::1']. */
  readonly gateway?: string | readonly string[];
  readonly routes?: ReadonlyArray<{ destination: string; gateway?: string; metric?: number; mtu?: number }>;
  readonly mac?: string;
  readonly mtu?: number;
  readonly vlan?: number;
  readonly ttl?: number;
  /** IPv6 options (docs/ipv6.md); `true` turns IPv6 on with the link-local address only. */
  readonly ipv6?: boolean | Partial<Ipv6Options>;
  /** Flow path strategy; default 'bypass'. */
  readonly path?: PathStrategy;
  readonly limits?: {
    readonly neighbour?: Partial<NeighbourOptions>;
    readonly reassembly?: Partial<ReassemblyOptions>;
    readonly udp?: Partial<UdpOptions>;
    readonly icmp?: Partial<IcmpOptions>;
    readonly tcp?: Partial<Omit<TcpOptions, 'rng'>>;
  };
  /** Event-loop mode: 'event' (default) or 'busy' (spins a core for latency). */
  readonly pollMode?: 'event' | 'busy';
  /**
   * Event mode: keep polling this long (ms) after a poll that handled frames before sleeping on readiness again
   * (default 0.1; 0 turns it off). Cheaper than a wake-up when more frames follow (docs/receive-path.md).
   */
  readonly spinMs?: number;
  /** Software GRO: merge a receive batch's in-order TCP segments of one flow before TCP (default true). */
  readonly gro?: boolean;
  /**
   * Software GSO: over a driver without TSO, TCP builds packets of up to 64 KiB and the stack cuts them into
   * MTU-sized segments just before the driver, as Linux does (default true; counters `gsoPackets`, `gsoSegments`).
   */
  readonly gso?: boolean;
  /**
   * Answer ARP requests for the stack's addresses (default true). false: learn from ARP but never answer, for a
   * stack that shares its address and MAC with others on the queues of one link (src/cluster: one of them answers).
   */
  readonly answerArp?: boolean;
  /**
   * IGMP (IPv4 multicast membership, src/stack/igmp.ts): its Robustness Variable, Unsolicited Report Interval and
   * Older Version Querier Present Timeout (RFC 3376 8: 2, 1 s, 260 s by default); false: groups are still
   * received, but no report is sent nor query answered (a link without a snooping switch or multicast router).
   */
  readonly igmp?: Partial<ListenerOptions> | false;
  /**
   * Longest spin (microseconds) inside the driver's native code after a poll that found nothing, before going back
   * to the event loop for one turn (timers, other I/O, callbacks): every empty poll in 'busy' mode, within the
   * spinMs window in 'event' mode. Default 50; 0 turns it off (an event-loop turn per empty poll); at most 10000.
   * Only drivers with a native spin use it (AF_XDP, AF_PACKET, TAP); others poll as before.
   */
  readonly spinUs?: number;
  /**
   * 'busy' mode with the native turns: turns of the poll loop that follow one another within this many microseconds
   * run in one check phase of the event loop (nextTicks and microtasks drained after each) instead of one per
   * event-loop iteration, whose `epoll_pwait` and bookkeeping a busy ping-pong otherwise pays per round trip. The
   * rest of the loop (timers, other I/O, immediates) waits at most about this long, as it does for a native spin.
   * Default `spinUs`; 0 turns bursts off; at most 10000. Ignored in 'event' mode.
   */
  readonly turnBurstUs?: number;
  /**
   * Take the poll loop's event-loop turns from the native addon when it is built (default true): the same place in
   * the loop as setImmediate, without an Immediate object per turn (about 200 B of garbage per poll). false, or no
   * addon: setImmediate.
   */
  readonly nativeTurns?: boolean;
  readonly clock?: Clock;
  readonly rng?: Rng;
}

export interface PingReply {
  readonly rttMs: number;
  readonly ttl: number;
  readonly bytes: number;
  readonly from: string;
  readonly seq: number;
}

/** One row of `stack.connections()`, like a line of `ss -ti`. */
export interface ConnectionRow {
  readonly protocol: 'tcp';
  readonly state: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly info: TcpInfo;
}

export class Stack {
  readonly net: NetApi;
  readonly dgram: DgramApi;
  readonly core: NetStack;
  /**
   * Datagrams a socket sent on its path (decided at its first bind, connect or send) to an address the strategy
   * gives to the other path: a socket has one path, so they take it, and are counted here.
   */
  readonly pathStats = { udpOtherPath: 0, lastOtherPath: '' };
  private readonly running: RunningStack;
  private readonly internals: StackInternals;
  private readonly tracked = new Set<Tracked>();
  /** The tracked objects that keep the process alive now (kept up to date by refChanged, one object at a time). */
  private readonly alive = new Set<Tracked>();
  private readonly deferred = new DeferQueue();
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  /** stack.unref(): active sockets no longer hold the process open (as handle.unref() on each of them). */
  private refed = true;

  /** @internal use createStack */
  constructor(options: StackOptions) {
    const rng = options.rng ?? cryptoRng();
    let addresses: Ipv4Cidr[];
    const addresses6: Ipv6Cidr[] = [];
    if (options.address !== undefined) {
      addresses = [];
      for (const a of typeof options.address === 'string' ? [options.address] : options.address) {
        const c = a.includes(':') ? parseIpv6Cidr(a) : parseCidr(a);
        if (c === undefined) throw new BywayError('ERR_INVALID_IP_ADDRESS', `invalid address '${a}' (want a.b.c.d/len or an IPv6 prefix like fd00::1/64)`);
        if (c.address instanceof Uint8Array) addresses6.push(c as Ipv6Cidr);
        else addresses.push(c as Ipv4Cidr);
      }
    } else if (options.ipv6 !== undefined && options.ipv6 !== false) {
      addresses = [];
    } else {
      const host = options.driver?.hostTables;
      if (host === undefined) throw new BywayError('ERR_INVALID_ARG_VALUE', "address is required (only a driver sharing the kernel's address can supply it)");
      addresses = [...host.addresses()];
      // The kernel's IPv6 addresses too, when the driver shares them (it keeps their NDP: src/stack/ipv6.ts).
      for (const a of host.addresses6?.() ?? []) addresses6.push({ address: a.address, prefixLen: a.prefixLen });
      if (addresses.length === 0 && addresses6.length === 0) throw new BywayError('EADDRNOTAVAIL', 'the interface has no IP address in the kernel to share');
    }
    const ipOf = (s: string, what: string): number => {
      const v = parseIpv4(s);
      if (v === undefined) throw new BywayError('ERR_INVALID_IP_ADDRESS', `invalid ${what} '${s}'`);
      return v;
    };
    const ip6Of = (s: string, what: string): Uint8Array => {
      const v = parseIpv6WithZone(s);
      if (v === undefined) throw new BywayError('ERR_INVALID_IP_ADDRESS', `invalid ${what} '${s}'`);
      return v.address;
    };
    const routes: RouteConfig[] = [];
    const routes6: Ipv6RouteConfig[] = [];
    for (const r of options.routes ?? []) {
      if (r.destination.includes(':')) {
        const destination = parseIpv6Cidr(r.destination);
        if (destination === undefined) throw new BywayError('ERR_INVALID_IP_ADDRESS', `invalid route destination '${r.destination}'`);
        routes6.push({ destination, gateway: r.gateway === undefined ? undefined : ip6Of(r.gateway, 'gateway'), metric: r.metric, mtu: r.mtu });
        continue;
      }
      const destination = parseCidr(r.destination);
      if (destination === undefined) throw new BywayError('ERR_INVALID_IP_ADDRESS', `invalid route destination '${r.destination}'`);
      routes.push({ destination, gateway: r.gateway === undefined ? undefined : ipOf(r.gateway, 'gateway'), metric: r.metric, mtu: r.mtu });
    }
    let gateway: number | undefined;
    for (const g of options.gateway === undefined ? [] : typeof options.gateway === 'string' ? [options.gateway] : options.gateway) {
      if (g.includes(':')) routes6.push({ destination: { address: new Uint8Array(16), prefixLen: 0 }, gateway: ip6Of(g, 'gateway') });
      else gateway = ipOf(g, 'gateway');
    }
    let mac: Uint8Array | undefined;
    if (options.mac !== undefined) {
      mac = parseMac(options.mac);
      if (mac === undefined) throw new BywayError('ERR_INVALID_ARG_VALUE', `invalid MAC '${options.mac}'`);
    }
    const decide = compileStrategy(options.path);
    this.core = new NetStack({
      driver: options.driver,
      addresses,
      addresses6,
      gateway,
      routes,
      routes6,
      ipv6: addresses6.length > 0 || (options.ipv6 !== undefined && options.ipv6 !== false) ? withStableSecret(options.ipv6 ?? true) : options.ipv6,
      ipv6Prf: sha256,
      allocBytes: Buffer.allocUnsafeSlow,
      mac,
      mtu: options.mtu,
      vlan: options.vlan,
      ttl: options.ttl,
      rng,
      neighbour: options.limits?.neighbour,
      reassembly: options.limits?.reassembly,
      udp: options.limits?.udp,
      icmp: options.limits?.icmp,
      tcp: options.limits?.tcp,
      gro: options.gro,
      gso: options.gso,
      answerArp: options.answerArp,
      igmp: options.igmp,
    });
    const deferred = this.deferred;
    const core = this.core;
    // Deferred work runs right after a poll (DeferQueue.run never throws): it takes that poll's time.
    let inDeferred = false;
    const runDeferred = (): number => {
      inDeferred = true;
      const n = deferred.run();
      inDeferred = false;
      return n;
    };
    this.running = runStack(this.core, {
      clock: options.clock,
      mode: options.pollMode,
      spinMs: options.spinMs,
      spinUs: options.spinUs,
      turnBurstUs: options.turnBurstUs,
      turns: options.nativeTurns === false ? undefined : openNativeTurns,
      afterPoll: () => void runDeferred(),
      // A reply sent from a 'message' or 'data' handler leaves before the poll's timers (unless a callback closed
      // the stack: its driver is gone).
      afterReceive: () => runDeferred() > 0 && !this.closed,
    });
    const clock = this.running.apiClock;
    this.running.loop.unref();
    this.running.loop.setSpinning(false); // nothing keeps the process alive yet (refChanged)
    const tracked = this.tracked;
    this.internals = {
      core: this.core,
      clock: this.running.apiClock,
      now: () => (inDeferred ? core.pollTime : clock.now()),
      poke: this.running.poke,
      defer: (d) => {
        deferred.add(d);
        this.running.poke();
      },
      decide: (flow: Flow): Path => decide(flow),
      fixedPath: options.path === undefined ? 'bypass' : options.path === 'kernel' || options.path === 'bypass' ? options.path : undefined,
      otherPath: (flow, path) => {
        const stats = this.pathStats;
        stats.udpOtherPath++;
        stats.lastOtherPath = `udp to ${flow.remoteAddress}:${flow.remotePort} sent on the socket's ${path} path; the strategy says ${path === 'kernel' ? 'bypass' : 'kernel'}`;
      },
      track: (s) => {
        tracked.add(s);
        this.refChanged(s);
      },
      untrack: (s) => {
        tracked.delete(s);
        this.alive.delete(s);
        this.refChanged(undefined);
      },
      refChanged: (s) => this.refChanged(s),
    };
    this.dgram = makeDgram(this.internals);
    this.net = makeNet(this.internals);
  }

  /** Every TCP connection of the bypass path with its info record (state, RTT, cwnd, retransmits...). */
  connections(): ConnectionRow[] {
    const rows: ConnectionRow[] = [];
    const tcp = this.core.tcp;
    for (const c of tcp?.connections() ?? []) {
      rows.push({
        protocol: 'tcp',
        state: c.state,
        localAddress: tcpEndpoint(tcp!, c.localIp, false).address,
        localPort: c.localPort,
        remoteAddress: tcpEndpoint(tcp!, c.remoteIp, false).address,
        remotePort: c.remotePort,
        info: c.info(),
      });
    }
    return rows;
  }

  get stats(): StackStats {
    return this.core.stats;
  }

  /**
   * The poll loop's counters (diagnostics): event-loop turns, native spins after an empty poll and those a frame
   * ended, the microseconds those spins took, the bursts after which the spin window stayed shut because its
   * spins kept missing, and the window's turns that found frames after a spin ran out (event mode;
   * runtime/poll-loop.ts).
   */
  get loopStats(): { turns: number; spins: number; spinHits: number; spunUs: number; windowsSkipped: number; windowHits: number } {
    const l = this.running.loop;
    const w = l.window;
    return { turns: l.turns, spins: l.spins, spinHits: l.spinHits, spunUs: w.spunUs, windowsSkipped: w.windowsSkipped, windowHits: w.windowHits };
  }

  /**
   * The stack's addresses as strings: IPv4's, then IPv6's (the link-local one first), SLAAC's marked 'dynamic' (as
   * `ip addr` does), with their state unless preferred ('fd00::1/64 tentative', 'fd77::b2/64 dynamic deprecated').
   */
  get addresses(): string[] {
    const v4 = this.core.addresses.map((a) => `${formatIpv4(a.address)}/${a.prefixLen}`);
    const v6 = (this.core.ipv6?.ndp.addresses ?? []).map(
      (a) => `${formatIpv6(a.address)}/${a.prefixLen}${a.origin === 'slaac' ? ' dynamic' : ''}${a.state === 'PREFERRED' ? '' : ` ${a.state.toLowerCase()}`}`,
    );
    return [...v4, ...v6];
  }

  /**
   * Resolves once duplicate address detection has ended for every IPv6 address (about 1-2 s after start with the
   * defaults; at once without IPv6). Until then a tentative address is no source: sends from it fail EADDRNOTAVAIL.
   */
  ready(): Promise<void> {
    this.assertOpen();
    const l = this.core.ipv6;
    if (l === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      l.whenReady(resolve);
      this.running.poke();
    });
  }

  /**
   * ICMP or ICMPv6 echo to an IPv4 or IPv6 literal, or to a host name resolved as node:net resolves one: resolves
   * with the reply, rejects with ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, or the resolver's error...
   */
  async ping(host: string, options: { size?: number; timeoutMs?: number; ttl?: number; lookup?: LookupFunction } = {}): Promise<PingReply> {
    this.assertOpen();
    const dst6 = parseIpv4(host) === undefined ? parseIpv6WithZone(host)?.address : undefined;
    // A pending ping keeps the process alive, as a pending request on any Node handle does (its look-up too).
    const pending: Tracked = { keepsAlive: true, destroyForStackClose: () => {} };
    this.internals.track(pending);
    let r: PingResult | Ping6Result;
    try {
      if (dst6 !== undefined) r = await this.ping6(dst6, options);
      else {
        // A host name is resolved as node:net resolves one (lookup.ts: IPv4, the resolver's own errors).
        const lookup = options.lookup ?? (dns.lookup as unknown as LookupFunction);
        const dst = await new Promise<number>((resolve, reject) => resolveHost(lookup, host, {}, (err, ip) => (err ? reject(err) : resolve(ip))));
        this.assertOpen();
        r = await this.running.ping(dst, options);
      }
    } finally {
      this.internals.untrack(pending);
    }
    if (!r.ok) throw r.error;
    return { rttMs: r.rttMs, ttl: r.ttl, bytes: r.bytes, from: typeof r.from === 'number' ? formatIpv4(r.from) : formatIpv6(r.from), seq: r.seq };
  }

  private ping6(dst: Uint8Array, options: { size?: number; timeoutMs?: number; ttl?: number }): Promise<Ping6Result> {
    const l = this.core.ipv6;
    if (l === undefined) return Promise.reject(new BywayError('ENETUNREACH', 'this stack has no IPv6 (give it an IPv6 address or the ipv6 option)'));
    return new Promise((resolve, reject) => {
      try {
        l.ping(this.running.clock.now(), dst, options, resolve);
        this.running.poke();
      } catch (err) {
        reject(err);
      }
    });
  }

  /** Let the process exit even while this stack's sockets are active (like unref() on every one of them). */
  unref(): this {
    this.refed = false;
    this.keepAlive?.unref();
    this.running.loop.setSpinning(false);
    return this;
  }

  /** Undo unref(): active sockets keep the process alive again. */
  ref(): this {
    this.refed = true;
    this.keepAlive?.ref();
    this.running.loop.setSpinning(this.alive.size > 0);
    return this;
  }

  /** Release every socket, timer and the driver. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.tracked]) s.destroyForStackClose();
    this.tracked.clear();
    this.alive.clear();
    this.running.stop();
    if (this.keepAlive !== undefined) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    this.core.driver.close();
  }

  private refChanged(s: Tracked | undefined): void {
    if (s !== undefined) {
      if (s.keepsAlive && this.tracked.has(s)) this.alive.add(s);
      else this.alive.delete(s);
    }
    const alive = this.alive.size > 0;
    // A busy loop spins only while the process is held for this stack's sockets (as the keep-alive interval).
    if (!this.closed) this.running.loop.setSpinning(alive && this.refed);
    if (alive && this.keepAlive === undefined && !this.closed) {
      this.keepAlive = setInterval(() => {}, 0x7fffffff);
      if (!this.refed) this.keepAlive.unref();
    } else if (!alive && this.keepAlive !== undefined) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new BywayError('ERR_STACK_CLOSED', 'the stack is closed');
  }
}

export function createStack(options: StackOptions): Stack {
  if (options === null || typeof options !== 'object' || options.driver === undefined) {
    throw new BywayError('ERR_INVALID_ARG_VALUE', 'createStack needs { driver, address }');
  }
  validateStackOptions(options);
  return new Stack(options);
}

/** The IPv6 options with RFC 7217's secret_key defaulted to the host's (src/runtime/slaac-secret.ts). */
function withStableSecret(ipv6: StackOptions['ipv6']): StackOptions['ipv6'] {
  if (ipv6 === undefined || ipv6 === false) return ipv6;
  const o = ipv6 === true ? {} : ipv6;
  if (o.acceptRa === false || o.slaac === false || (o.stableSecret !== undefined && o.stableSecret !== '')) return ipv6;
  return { ...o, stableSecret: defaultStableSecret() };
}
