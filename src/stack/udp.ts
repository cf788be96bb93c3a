/**
 * UDP sockets (RFC 768) in the stack core: the binding table, ephemeral ports (RFC 6056), demultiplexing, a bounded
 * receive queue, and the errors ICMP reports for a socket's datagrams.
 *
 * Delivery: when a socket has an `onMessage` handler, each datagram is handed to it as a view valid only during
 * the call (the API layer copies into a Buffer). Without a handler, datagrams are copied into a queue of at most
 * `recvBufferBytes` and read with `recv()`; a datagram that does not fit is dropped and counted, like a full
 * kernel socket buffer.
 *
 * Misuse throws BywayError with Node's codes: EADDRINUSE, EADDRNOTAVAIL, EINVAL, EMSGSIZE, EACCES (broadcast
 * without setBroadcast), ERR_SOCKET_DGRAM_NOT_RUNNING (closed).
 */
import { BywayError } from '../../protocols/util/errors.js';
import type { Rng } from '../../protocols/util/rng.js';
import { ipv6Equals, mappedIpv4 } from '../../protocols/ipv6/address.js';

export interface UdpOptions {
  /** RFC 6056 / IANA dynamic range by default. */
  ephemeralLow: number;
  ephemeralHigh: number;
  /** Default receive queue of a socket in bytes (payload bytes). */
  recvBufferBytes: number;
  /** Sockets a stack may hold. */
  maxSockets: number;
}

export const DEFAULT_UDP_OPTIONS: UdpOptions = {
  ephemeralLow: 49152,
  ephemeralHigh: 65535,
  recvBufferBytes: 212_992,
  maxSockets: 4096,
};

/** Largest UDP payload in an IPv4 datagram: 65535 - 20 (IP) - 8 (UDP). */
export const UDP_MAX_PAYLOAD = 65507;
/** Largest UDP payload over IPv6 without jumbograms: 65535 (payload length) - 8 (UDP). */
export const UDP6_MAX_PAYLOAD = 65527;

export interface UdpStats {
  rx: number;
  tx: number;
  truncated: number;
  badLength: number;
  badChecksum: number;
  noPort: number;
  recvBufferDrops: number;
  txErrors: number;
  icmpErrors: number;
  /** Datagrams for no socket that the table's `stray` hook took (a cluster worker's relay), not answered here. */
  strayHandedOff: number;
}

export interface Datagram {
  readonly data: Uint8Array;
  readonly srcIp: number;
  readonly srcPort: number;
  readonly dstIp: number;
  /** Set for a datagram that came over IPv6 (srcIp is then 0). */
  readonly src6?: Uint8Array | undefined;
}

/** What a udp6 socket needs from the stack's IPv6 layer (src/stack/ipv6.ts) to bind and send. */
export interface Udp6Host {
  sendUdp(now: number, sock: UdpSocket, dst: Uint8Array, dstPort: number, data: Uint8Array): void;
  isLocal(ip: Uint8Array): boolean;
}

/** What a socket needs from the stack to send. */
export interface UdpSender {
  sendUdp(now: number, sock: UdpSocket, dstIp: number, dstPort: number, data: Uint8Array): void;
  isLocalAddress(ip: number): boolean;
  /**
   * Optional: told when a port gets its first socket and loses its last one. A stack sharing its address with the
   * kernel claims the port there; false means the kernel holds it (bind fails with EADDRINUSE, the ephemeral
   * search moves on).
   */
  claimPort?(port: number): boolean;
  releasePort?(port: number): void;
}

export class UdpSocket {
  localIp = 0;
  localPort = 0;
  remoteIp = 0;
  remotePort = 0;
  broadcast = false;
  ttl = 64;
  /** IP_MULTICAST_TTL (Linux's default 1) and IP_MULTICAST_LOOP (default on). */
  multicastTtl = 1;
  multicastLoop = true;
  /**
   * The socket's IPv4 memberships (its own filter, Linux's ip_mc_sf_allow): group -> null for any source, or the
   * sources of its source-specific joins. A group the socket did not join is heard as the interface hears it
   * (IP_MULTICAST_ALL, on by default).
   */
  groups4: Map<number, Set<number> | null> | undefined;
  /** The same for IPv6 groups, by the bytes of the group and of the sources (String.fromCharCode, addrKey). */
  groups6: Map<string, Set<string> | null> | undefined;
  recvBufferBytes: number;
  sendBufferBytes = 212_992;
  closed = false;
  /**
   * 6 for a udp6 socket: it binds, connects and sends to IPv6 addresses and, unless `ipv6Only`, is dual-stack as
   * on Linux (bound to '::' it also receives IPv4, which the API shows as ::ffff:a.b.c.d).
   */
  family: 4 | 6 = 4;
  ipv6Only = false;
  /** A udp6 socket's bound IPv6 address; undefined for '::' (or when bound to an IPv4 address, in localIp). */
  localIp6: Uint8Array | undefined;
  /**
   * A udp6 socket bound to an IPv4-mapped address (::ffff:a.b.c.d, in localIp; ::ffff:0.0.0.0 is any): it is an
   * IPv4 socket in IPv6 clothes, as on Linux: IPv4 datagrams only, and sending to an IPv6 address is EAFNOSUPPORT.
   */
  v4Mapped = false;
  /** A udp6 socket's IPv6 peer when connected to one (remoteIp is then 0). */
  remoteIp6: Uint8Array | undefined;
  /** Receive handler; the view is valid only during the call. */
  onMessage: ((data: Uint8Array, srcIp: number, srcPort: number, dstIp: number) => void) | undefined;
  /**
   * Receive handler taking the datagram as buf[start, end) of the received frame, valid only during the call (no
   * view object per datagram); it has precedence over onMessage.
   */
  onMessageAt: ((buf: Uint8Array, start: number, end: number, srcIp: number, srcPort: number, dstIp: number) => void) | undefined;
  /** Receive handler for datagrams over IPv6; `src` and `data` are views valid only during the call. */
  onMessage6: ((data: Uint8Array, src: Uint8Array, srcPort: number) => void) | undefined;
  /** Asynchronous errors: ICMP unreachable (ECONNREFUSED, EHOSTUNREACH...), neighbour resolution failure. */
  onError: ((err: BywayError) => void) | undefined;
  readonly stats = { rx: 0, rxDrops: 0, tx: 0 };
  /** Given to the stack with each send, for a next hop that never answers ARP: one function, not one per send. */
  readonly reportUnreachable = (): void => this.onError?.(new BywayError('EHOSTUNREACH', 'the destination did not answer ARP'));
  private readonly queue: Datagram[] = [];
  private queued = 0;

  constructor(private readonly table: UdpTable) {
    this.recvBufferBytes = table.options.recvBufferBytes;
  }

  get bound(): boolean {
    return this.localPort !== 0;
  }
  get connected(): boolean {
    return this.remotePort !== 0;
  }
  get queuedBytes(): number {
    return this.queued;
  }

  /** Bind to (ip, port); port 0 picks an ephemeral port. ip 0 is any address. */
  bind(ip = 0, port = 0): void {
    this.assertOpen();
    if (this.bound) throw new BywayError('EINVAL', 'socket is already bound');
    this.table.bindSocket(this, ip, port);
  }

  /** Fix the remote end: send() may omit it, and only datagrams from it are delivered. Binds if needed. */
  connect(ip: number, port: number): void {
    this.assertOpen();
    checkPort(port, false);
    if (ip === 0) throw new BywayError('EINVAL', 'cannot connect to the unspecified address');
    if (!this.bound) this.bind(0, 0);
    this.remoteIp = ip >>> 0;
    this.remotePort = port;
  }

  /** A udp6 socket: bind to an IPv6 address (undefined: '::'); port 0 picks an ephemeral port. */
  bind6(ip: Uint8Array | undefined, port = 0): void {
    this.assertOpen();
    if (this.bound) throw new BywayError('EINVAL', 'socket is already bound');
    this.table.bindSocket6(this, ip, port);
  }

  /** A udp6 socket: fix an IPv6 peer. Binds to '::' if needed. */
  connect6(ip: Uint8Array, port: number): void {
    this.assertOpen();
    checkPort(port, false);
    if (this.v4Mapped) throw new BywayError('EAFNOSUPPORT', 'a socket bound to an IPv4-mapped address cannot reach an IPv6 address');
    if (ip.every((b) => b === 0)) throw new BywayError('EINVAL', 'cannot connect to the unspecified address');
    if (!this.bound) this.bind6(undefined, 0);
    this.remoteIp = 0;
    this.remoteIp6 = ip.slice(0, 16);
    this.remotePort = port;
  }

  disconnect(): void {
    this.assertOpen();
    if (!this.connected) throw new BywayError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'socket is not connected');
    this.remoteIp = 0;
    this.remoteIp6 = undefined;
    this.remotePort = 0;
  }

  /** Send over IPv6 to `ip`, or (no address) to the connected peer of either family. */
  send6(now: number, data: Uint8Array, ip?: Uint8Array, port?: number): void {
    this.assertOpen();
    if (ip === undefined || port === undefined) {
      if (this.remoteIp6 === undefined) {
        this.send(now, data);
        return;
      }
      ip = this.remoteIp6;
      port = this.remotePort;
    } else {
      if (this.connected) throw new BywayError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'socket is connected; send without an address');
      checkPort(port, false);
    }
    const ipv6 = this.table.ipv6;
    if (ipv6 === undefined) throw new BywayError('EAFNOSUPPORT', 'this stack has no IPv6');
    if (this.v4Mapped) throw new BywayError('EAFNOSUPPORT', 'a socket bound to an IPv4-mapped address cannot send to an IPv6 address');
    if (data.length > UDP6_MAX_PAYLOAD) throw new BywayError('EMSGSIZE', `datagram of ${data.length} bytes exceeds ${UDP6_MAX_PAYLOAD}`);
    if (!this.bound) this.bind6(undefined, 0);
    ipv6.sendUdp(now, this, ip, port, data);
    this.stats.tx++;
  }

  send(now: number, data: Uint8Array, ip?: number, port?: number): void {
    this.assertOpen();
    let dstIp: number;
    let dstPort: number;
    if (ip === undefined || port === undefined) {
      if (!this.connected) throw new BywayError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'no destination and the socket is not connected');
      if (this.remoteIp6 !== undefined) {
        this.send6(now, data);
        return;
      }
      dstIp = this.remoteIp;
      dstPort = this.remotePort;
    } else {
      if (this.connected) throw new BywayError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'socket is connected; send without an address');
      checkPort(port, false);
      dstIp = ip >>> 0;
      dstPort = port;
    }
    if (data.length > UDP_MAX_PAYLOAD) throw new BywayError('EMSGSIZE', `datagram of ${data.length} bytes exceeds ${UDP_MAX_PAYLOAD}`);
    if (!this.bound) {
      if (this.family === 6) this.bind6(undefined, 0);
      else this.bind(0, 0);
    }
    if (this.family === 6 && this.ipv6Only) throw new BywayError('ENETUNREACH', 'an ipv6Only socket cannot send to an IPv4 address');
    this.table.sender.sendUdp(now, this, dstIp, dstPort, data);
    this.stats.tx++;
  }

  /** @internal: a datagram over IPv6 (see deliver). */
  deliver6(data: Uint8Array, src: Uint8Array, srcPort: number): boolean {
    if (this.onMessage6 !== undefined) {
      this.stats.rx++;
      this.onMessage6(data, src, srcPort);
      return true;
    }
    if (this.queued + data.length > this.recvBufferBytes) {
      this.stats.rxDrops++;
      return false;
    }
    this.queue.push({ data: data.slice(), srcIp: 0, srcPort, dstIp: 0, src6: src.slice(0, 16) });
    this.queued += data.length;
    this.stats.rx++;
    return true;
  }

  /** Take the oldest queued datagram (when no onMessage handler is set). */
  recv(): Datagram | undefined {
    const d = this.queue.shift();
    if (d !== undefined) this.queued -= d.data.length;
    return d;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.queued = 0;
    this.table.unbind(this);
  }

  /** @internal: called by the table on receive. Returns false when the datagram was dropped. */
  deliver(data: Uint8Array, srcIp: number, srcPort: number, dstIp: number): boolean {
    return this.deliverAt(data, 0, data.length, srcIp, srcPort, dstIp);
  }

  /** A datagram whose payload is buf[start, end): handed to the handler, else queued (copied) within recvBufferBytes. */
  deliverAt(buf: Uint8Array, start: number, end: number, srcIp: number, srcPort: number, dstIp: number): boolean {
    if (this.onMessageAt !== undefined) {
      this.stats.rx++;
      this.onMessageAt(buf, start, end, srcIp, srcPort, dstIp);
      return true;
    }
    if (this.onMessage !== undefined) {
      this.stats.rx++;
      this.onMessage(buf.subarray(start, end), srcIp, srcPort, dstIp);
      return true;
    }
    const len = end - start;
    if (this.queued + len > this.recvBufferBytes) {
      this.stats.rxDrops++;
      return false;
    }
    this.queue.push({ data: buf.slice(start, end), srcIp, srcPort, dstIp });
    this.queued += len;
    this.stats.rx++;
    return true;
  }

  private assertOpen(): void {
    if (this.closed) throw new BywayError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'socket is closed');
  }
}

export class UdpTable {
  readonly options: UdpOptions;
  readonly stats: UdpStats = {
    rx: 0,
    tx: 0,
    truncated: 0,
    badLength: 0,
    badChecksum: 0,
    noPort: 0,
    recvBufferDrops: 0,
    txErrors: 0,
    icmpErrors: 0,
    strayHandedOff: 0,
  };
  /**
   * Told of a datagram no socket took, before the port-unreachable answer (IPv4 and IPv6: addresses as numbers or as
   * 16 bytes; `datagram` is the UDP header and payload, a view into the frame). True when it took the datagram: a
   * cluster worker's relay (src/cluster/strays.ts) hands a datagram for another worker's ephemeral port to that
   * worker, which the steering could not send it to (its IP datagram came in fragments, steered by source address).
   */
  stray: ((src: number | Uint8Array, dst: number | Uint8Array, datagram: Uint8Array) => boolean) | undefined = undefined;
  /** The stack's IPv6 layer, set by the stack when it has IPv6 (udp6 sockets need it). */
  ipv6: Udp6Host | undefined;
  /** port -> sockets bound to it (one per local address; a wildcard socket has localIp 0). */
  private readonly ports = new Map<number, UdpSocket[]>();
  private count = 0;

  constructor(readonly sender: UdpSender, private readonly rng: Rng, options: Partial<UdpOptions> = {}) {
    this.options = { ...DEFAULT_UDP_OPTIONS, ...options };
    if (this.options.ephemeralLow > this.options.ephemeralHigh || this.options.ephemeralLow < 1 || this.options.ephemeralHigh > 65535) {
      throw new BywayError('ERR_INVALID_ARG_VALUE', 'invalid ephemeral port range');
    }
  }

  get size(): number {
    return this.count;
  }

  createSocket(): UdpSocket {
    if (this.count >= this.options.maxSockets) throw new BywayError('EMFILE', `UDP socket limit (${this.options.maxSockets}) reached`);
    this.count++;
    return new UdpSocket(this);
  }

  /** @internal */
  bindSocket(sock: UdpSocket, ip: number, port: number): void {
    checkPort(port, true);
    ip >>>= 0;
    if (ip !== 0 && !this.sender.isLocalAddress(ip)) throw new BywayError('EADDRNOTAVAIL', 'address is not one of this stack\'s');
    if (port === 0) port = this.pickEphemeral(ip);
    else if (this.conflicts(ip, port)) throw new BywayError('EADDRINUSE', `port ${port} is in use`);
    else if (!this.ports.has(port) && !this.claim(port)) throw new BywayError('EADDRINUSE', `port ${port} is held by the host's UDP`);
    sock.localIp = ip;
    sock.localPort = port;
    let list = this.ports.get(port);
    if (list === undefined) this.ports.set(port, (list = []));
    list.push(sock);
  }

  /** @internal a udp6 socket: `ip` undefined is '::' */
  bindSocket6(sock: UdpSocket, ip: Uint8Array | undefined, port: number): void {
    checkPort(port, true);
    const v4 = ip === undefined ? undefined : mappedIpv4(ip);
    if (v4 !== undefined) {
      // Linux's inet6_bind: an IPv4-mapped address binds the IPv4 address (EINVAL on an ipv6Only socket).
      if (sock.ipv6Only) throw new BywayError('EINVAL', 'an ipv6Only socket cannot bind an IPv4-mapped address');
      this.bindSocket(sock, v4, port);
      sock.family = 6;
      sock.v4Mapped = true;
      return;
    }
    if (ip !== undefined && (this.ipv6 === undefined || !this.ipv6.isLocal(ip))) {
      throw new BywayError('EADDRNOTAVAIL', 'address is not one of this stack\'s');
    }
    const dual = ip === undefined && !sock.ipv6Only;
    const conflicts = (p: number): boolean => (this.ports.get(p) ?? []).some((s) => conflict6(s, ip, dual));
    if (port === 0) port = this.pickEphemeralWith(conflicts);
    else if (conflicts(port)) throw new BywayError('EADDRINUSE', `port ${port} is in use`);
    else if (!this.ports.has(port) && !this.claim(port)) throw new BywayError('EADDRINUSE', `port ${port} is held by the host's UDP`);
    sock.family = 6;
    sock.localIp = 0;
    sock.localIp6 = ip === undefined ? undefined : ip.slice(0, 16);
    sock.localPort = port;
    let list = this.ports.get(port);
    if (list === undefined) this.ports.set(port, (list = []));
    list.push(sock);
  }

  /** @internal */
  unbind(sock: UdpSocket): void {
    this.count--;
    if (!sock.bound) return;
    const list = this.ports.get(sock.localPort);
    if (list === undefined) return;
    const i = list.indexOf(sock);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) {
      this.ports.delete(sock.localPort);
      this.sender.releasePort?.(sock.localPort);
    }
  }

  /** Find the socket for a datagram: an exact connected match first, then a specific address, then a wildcard. */
  lookup(dstIp: number, dstPort: number, srcIp: number, srcPort: number): UdpSocket | undefined {
    const list = this.ports.get(dstPort);
    if (list === undefined) return undefined;
    let best: UdpSocket | undefined;
    let bestScore = -1;
    for (const s of list) {
      if (s.localIp !== 0 && s.localIp !== dstIp) continue;
      if (s.family === 6 && (s.ipv6Only || s.localIp6 !== undefined)) continue; // IPv6 only, or bound to an IPv6 address
      if (s.connected && (s.remoteIp !== srcIp || s.remotePort !== srcPort)) continue;
      const score = (s.connected ? 2 : 0) + (s.localIp !== 0 ? 1 : 0);
      if (score > bestScore) {
        best = s;
        bestScore = score;
      }
    }
    return best;
  }

  /** Find the udp6 socket for a datagram over IPv6 (the same preference order as `lookup`). */
  lookup6(dst: Uint8Array, dstPort: number, src: Uint8Array, srcPort: number): UdpSocket | undefined {
    const list = this.ports.get(dstPort);
    if (list === undefined) return undefined;
    let best: UdpSocket | undefined;
    let bestScore = -1;
    for (const s of list) {
      if (s.family !== 6 || s.localIp !== 0 || s.v4Mapped) continue;
      if (s.localIp6 !== undefined && !ipv6Equals(s.localIp6, dst)) continue;
      if (s.connected && (s.remoteIp6 === undefined || s.remotePort !== srcPort || !ipv6Equals(s.remoteIp6, src))) continue;
      const score = (s.connected ? 2 : 0) + (s.localIp6 !== undefined ? 1 : 0);
      if (score > bestScore) {
        best = s;
        bestScore = score;
      }
    }
    return best;
  }

  /**
   * The udp6 sockets that hear a datagram to multicast `group`:port the interface joined: bound to '::' or to the
   * group, not connected elsewhere (Linux's IPV6_MULTICAST_ALL default: membership is the host's, not the socket's).
   */
  multicastTargets6(group: Uint8Array, dstPort: number, src: Uint8Array, srcPort: number): UdpSocket[] {
    const list = this.ports.get(dstPort);
    if (list === undefined) return [];
    return list.filter(
      (s) =>
        s.family === 6 &&
        s.localIp === 0 &&
        !s.v4Mapped &&
        (s.localIp6 === undefined || ipv6Equals(s.localIp6, group)) &&
        (!s.connected || (s.remoteIp6 !== undefined && s.remotePort === srcPort && ipv6Equals(s.remoteIp6, src))) &&
        takes6(s, group, src),
    );
  }

  /**
   * The sockets that hear a datagram to IPv4 group `group`:port that the interface accepted: bound to the wildcard
   * or to the group (a udp4 socket, or a dual-stack udp6 one), not connected elsewhere, and whose own membership
   * of the group, if any, takes the source.
   */
  multicastTargets(group: number, dstPort: number, src: number, srcPort: number): UdpSocket[] {
    const list = this.ports.get(dstPort);
    if (list === undefined) return [];
    return list.filter((s) => {
      if (s.localIp !== 0 && s.localIp !== group) return false;
      if (s.family === 6 && (s.ipv6Only || s.localIp6 !== undefined)) return false;
      if (s.connected && (s.remoteIp !== src || s.remotePort !== srcPort)) return false;
      const f = s.groups4?.get(group);
      return f === undefined || f === null || f.has(src);
    });
  }

  /** Sockets that should hear a broadcast to dstPort. */
  broadcastTargets(dstPort: number): UdpSocket[] {
    return this.ports.get(dstPort)?.filter((s) => !s.connected) ?? [];
  }

  sockets(): UdpSocket[] {
    return [...this.ports.values()].flat();
  }

  /** Claim a port with no socket yet from the host (see UdpSender.claimPort). */
  private claim(port: number): boolean {
    return this.sender.claimPort === undefined || this.sender.claimPort(port);
  }

  /** Whether an IPv4 bind to (ip, port) collides: with IPv4 sockets as before, and with dual-stack '::' ones. */
  private conflicts(ip: number, port: number): boolean {
    const list = this.ports.get(port);
    if (list === undefined) return false;
    return list.some((s) => (s.family === 6 && !s.v4Mapped ? !s.ipv6Only && s.localIp6 === undefined : s.localIp === 0 || ip === 0 || s.localIp === ip));
  }

  private pickEphemeral(ip: number): number {
    return this.pickEphemeralWith((port) => this.conflicts(ip, port));
  }

  /** RFC 6056 section 3.3.1 (Algorithm 1): random probes, then a linear sweep from a random start. */
  private pickEphemeralWith(conflicts: (port: number) => boolean): number {
    const { ephemeralLow: lo, ephemeralHigh: hi } = this.options;
    const n = hi - lo + 1;
    for (let tries = 0; tries < 16; tries++) {
      const port = lo + (this.rng.nextU32() % n);
      if (!conflicts(port) && (this.ports.has(port) || this.claim(port))) return port;
    }
    const start = this.rng.nextU32() % n;
    for (let k = 0; k < n; k++) {
      const port = lo + ((start + k) % n);
      if (!conflicts(port) && (this.ports.has(port) || this.claim(port))) return port;
    }
    throw new BywayError('EADDRINUSE', 'no ephemeral UDP port is free');
  }
}

/**
 * Whether an IPv6 bind to `ip` (undefined: '::'; `dual`: '::' without ipv6Only) collides with the bound socket
 * `s`, as Linux decides: an IPv4 socket collides only with a dual-stack '::'; two IPv6 sockets collide when
 * either is '::' or both have the same address.
 */
function conflict6(s: UdpSocket, ip: Uint8Array | undefined, dual: boolean): boolean {
  if (s.family === 4 || s.localIp !== 0 || s.v4Mapped) return dual;
  if (s.localIp6 === undefined || ip === undefined) return true;
  return ipv6Equals(s.localIp6, ip);
}

/** A udp6 socket's own filter for `group` (its source-specific memberships) takes `src`. */
function takes6(s: UdpSocket, group: Uint8Array, src: Uint8Array): boolean {
  if (s.groups6 === undefined) return true;
  const f = s.groups6.get(String.fromCharCode(...group));
  return f === undefined || f === null || f.has(String.fromCharCode(...src));
}

function checkPort(port: number, allowZero: boolean): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw new BywayError('ERR_SOCKET_BAD_PORT', `port should be >= ${allowZero ? 0 : 1} and < 65536, received ${port}`);
  }
}
