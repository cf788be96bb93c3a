/**
 * Process-wide patches of node:net, node:tls, node:http and node:dgram that send each flow the strategy selects
 * to byway and every other flow to the kernel, for programs that do not know byway (the preload installs them).
 *
 * What is patched, and how a flow is decided:
 * - net.connect / net.createConnection and http.Agent.prototype.createConnection (the http global agent's, which
 *   Node copied from net at load time): outbound TCP, decided by remote address and port.
 * - tls.connect: outbound TCP; on the bypass path the TLS session runs over a byway socket (`socket` option).
 * - net.Server.prototype.listen (so net.createServer, http/https servers, ws...): inbound TCP, decided by local
 *   port and address (a host name, 'localhost' too, on the address dns.lookup answers, as node:net listens); on the bypass path a byway listener feeds the genuine server's 'connection' event, and
 *   address/close/listening/getConnections/ref/unref of that server answer for it.
 * - dgram.createSocket: decided at the first bind, connect or send, on the resolved address of a host name
 *   (src/api/dgram-deferred.ts).
 * - net.Socket.prototype.connect (a socket made with `new net.Socket()`, as pg does): on the bypass path the
 *   genuine socket is kept and carries a byway socket's bytes (adopt.ts).
 * - A TCP or TLS connect to a host name is decided on the address it resolves to (connect-by-name.ts): node:net
 *   makes the socket, which is looked up once and then connected by node:net or adopted by byway.
 *
 * byway's own sockets are always asked for with `path: 'bypass'`, so byway never calls back into these patches.
 * Every patched socket carries `path`. `uninstall()` restores everything.
 */
import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
import dgram from 'node:dgram';
import dns from 'node:dns';
import type { EventEmitter } from 'node:events';
import { syncBuiltinESMExports } from 'node:module';
import type { Flow, Path, PathDecider } from '../api/path.js';
import type { Stack } from '../api/stack.js';
import type { Socket as BywaySocket } from '../api/net.js';
import type { Server as BywayServer } from '../api/net-server.js';
import { adoptOnto, socketName } from './adopt.js';
import type { PathCounters } from './counters.js';
import { DeferredDgramSocket, type DeferredOptions } from '../api/dgram-deferred.js';
import { parseIpv6 } from '../../protocols/ipv6/address.js';
import { attemptInTurn, connectByName, hostName, nameConnectable, type NameConnectHooks } from './connect-by-name.js';

type AnyFn = (...args: unknown[]) => unknown;
type ConnectOpts = Record<string, unknown> & { port?: unknown; host?: unknown; path?: unknown; socket?: unknown };

const kBypass = Symbol('byway.bypassServer');

/** ::1, however written (::ffff:127.x.y.z is IPv4's loopback: the rules' 127.0.0.0/8 matches it). */
function isLoopback6(address: string): boolean {
  const a = parseIpv6(address);
  return a !== undefined && a.every((b, i) => b === (i === 15 ? 1 : 0));
}

/** Node's connect argument forms: (options[, cb]), (port[, host][, cb]), (path[, cb]). */
function connectArgs(args: readonly unknown[]): { opts: ConnectOpts; cb: AnyFn | undefined } {
  const cb = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as AnyFn) : undefined;
  const a0 = args[0];
  if (a0 !== null && typeof a0 === 'object') return { opts: a0 as ConnectOpts, cb };
  if (typeof a0 === 'string' && !/^\d+$/.test(a0)) return { opts: { path: a0 }, cb };
  return { opts: { port: a0, host: typeof args[1] === 'string' ? args[1] : undefined }, cb };
}

function hostAsAddress(host: unknown): string {
  if (typeof host !== 'string' || host === '' || host === 'localhost') return '127.0.0.1';
  return host;
}

function tcpFlow(opts: ConnectOpts): Flow | undefined {
  if (typeof opts.path === 'string' || opts.port === undefined) return undefined; // a Unix socket: not ours
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined; // let Node throw its own error
  return {
    protocol: 'tcp',
    direction: 'outbound',
    remoteAddress: hostAsAddress(opts.host),
    remotePort: port,
    localAddress: typeof opts.localAddress === 'string' ? opts.localAddress : undefined,
    localPort: typeof opts.localPort === 'number' ? opts.localPort : undefined,
  };
}

/** The connect options byway's sockets take (Node's `path` is a Unix socket; byway's `path` is the path). */
function bywayConnectOptions(opts: ConnectOpts, flow: Flow): Record<string, unknown> {
  const o: Record<string, unknown> = { port: flow.remotePort, host: flow.remoteAddress, path: 'bypass' };
  for (const k of ['localAddress', 'localPort', 'noDelay', 'keepAlive', 'keepAliveInitialDelay', 'timeout', 'allowHalfOpen']) {
    if (opts[k] !== undefined && opts[k] !== null) o[k] = opts[k]; // undici passes localAddress: null
  }
  return o;
}

type AddressSource = { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number };

/**
 * A TLS socket over a socket without a kernel handle (byway's, or a node:net Socket carrying one) wraps it as a JS
 * stream, so node:tls finds no peer or local name and remoteAddress/remotePort/localAddress read undefined; over a
 * kernel socket node:tls answers them from the handle. These answer from the socket underneath instead, with the
 * family of the address as Node gives it ('IPv6' over IPv6).
 */
function answerAddressesFor(t: object, under: AddressSource): void {
  const w = t as Record<string, unknown>;
  w['_getpeername'] = () => socketName(under.remoteAddress, under.remotePort);
  w['_getsockname'] = () => socketName(under.localAddress, under.localPort);
}

export interface Patches {
  uninstall(): void;
  /** The bypass listeners the patched servers opened (for `byway ss`). */
  bypassListeners(): Array<{ address: string; port: number }>;
}

/**
 * `onServe`: called when a bypass TCP listener on a fixed port starts listening or a bypass UDP socket is bound to
 * one (a worker of `byway run --workers` then takes its share of the clients, member.ts).
 */
export function installPatches(
  stack: Stack,
  rules: PathDecider,
  counters: PathCounters,
  onFailure: (what: string) => void,
  onServe: () => void = () => {},
): Patches {
  // A stack without IPv6 (every driver but af-xdp:IFNAME:shared:ipv6) cannot carry a flow to or on an IPv6
  // address: it takes the kernel, whatever the rules say. With IPv6 the rules decide, except for ::1: loopback
  // stays in the kernel as 127.0.0.0/8 does (IMPLICIT_RULES).
  const ipv6 = stack.core.ipv6 !== undefined;
  const decide = (flow: Flow): Path => {
    const address = flow.direction === 'inbound' ? flow.localAddress : flow.remoteAddress;
    if (address !== undefined && net.isIPv6(address) && (!ipv6 || isLoopback6(address))) return 'kernel';
    return rules(flow);
  };
  // A udp6 socket: byway's when the stack has IPv6 (bound to '::', dual-stack unless ipv6Only, as Node's).
  const decideUdp6 = (flow: Flow): Path => (ipv6 ? decide(flow) : 'kernel');
  const orig = {
    connect: net.connect as unknown as AnyFn,
    createConnection: net.createConnection as unknown as AnyFn,
    socketConnect: net.Socket.prototype.connect as unknown as AnyFn,
    tlsConnect: tls.connect as unknown as AnyFn,
    agentCreateConnection: http.Agent.prototype.createConnection as unknown as AnyFn,
    createSocket: dgram.createSocket as unknown as AnyFn,
    listen: net.Server.prototype.listen as unknown as AnyFn,
    close: net.Server.prototype.close as unknown as AnyFn,
    address: net.Server.prototype.address as unknown as AnyFn,
    getConnections: net.Server.prototype.getConnections as unknown as AnyFn,
    ref: net.Server.prototype.ref as unknown as AnyFn,
    unref: net.Server.prototype.unref as unknown as AnyFn,
    listening: Object.getOwnPropertyDescriptor(net.Server.prototype, 'listening'),
  };
  // Set while a patched call hands a kernel flow to Node, so the net.Socket.prototype.connect it reaches does not
  // decide (and count) the same flow again.
  let kernelDepth = 0;
  const toKernel = <T>(fn: AnyFn, self: unknown, args: readonly unknown[]): T => {
    kernelDepth++;
    try {
      return fn.apply(self, args as unknown[]) as T;
    } finally {
      kernelDepth--;
    }
  };
  const markKernel = <T extends object>(s: T): T => {
    if (!Object.prototype.hasOwnProperty.call(s, 'path')) Object.defineProperty(s, 'path', { value: 'kernel', enumerable: true, configurable: true });
    return s;
  };
  const failure = (what: string, err: { code?: string; message: string }): void => {
    counters.bypassFailures++;
    counters.lastFailure = `${what}: ${err.code ?? 'Error'} ${err.message}`;
    onFailure(counters.lastFailure);
  };
  /**
   * Count the error of a bypass flow that could not be made: the first error a socket emits before it connected
   * (or a datagram socket's first), without adding a listener (an unhandled error still throws). Errors after
   * 'connect' belong to an established connection (a reset, a client's own destroy(err)), not to the path.
   */
  const watchErrors = (s: { emit: AnyFn }, what: string): void => {
    const emit = s.emit;
    let seen = false;
    s.emit = function (this: unknown, event: unknown, ...rest: unknown[]) {
      if (event === 'connect') seen = true;
      else if (event === 'error' && !seen) {
        seen = true;
        failure(what, rest[0] as Error);
      }
      return emit.call(this, event, ...rest);
    };
  };

  /** The two ends of a connect by name (connect-by-name.ts), counted in `count`. */
  const byName = (flow: Flow, opts: ConnectOpts, what: string, count: { bypass: number; kernel: number }): NameConnectHooks => ({
    ipv6,
    decide: (address) => decide({ ...flow, remoteAddress: address }),
    kernel(sock, o) {
      count.kernel++;
      markKernel(sock);
      toKernel(orig.socketConnect, sock, [o]);
    },
    bypass(sock, addresses, timeoutMs) {
      count.bypass++;
      Object.defineProperty(sock, 'path', { value: 'bypass', enumerable: true, configurable: true }); // while it tries
      const port = flow.remotePort!;
      const open = (address: string): BywaySocket => stack.net.createConnection(bywayConnectOptions(opts, { ...flow, remoteAddress: address }) as never) as BywaySocket;
      attemptInTurn(
        sock,
        addresses,
        port,
        timeoutMs,
        open,
        (bs, connected) => {
          // One address: its error is the flow's failure, as for a literal; several: the AggregateError below.
          if (!connected) watchErrors(bs as unknown as { emit: AnyFn }, `${what} ${addresses[0]!.address}:${port}`);
          adoptOnto(sock, bs as BywaySocket, connected);
        },
        (err) => failure(`${what} ${addresses.map((a) => `${a.address}:${port}`).join(', ')}`, { code: err.code, message: err.errors.map((e: Error) => e.message).join('; ') }),
      );
    },
  });
  /** A connect to a host name that node:net would accept: decided once the name is resolved. */
  const isByName = (flow: Flow | undefined, opts: ConnectOpts): boolean => flow !== undefined && hostName(opts) !== undefined && nameConnectable(opts);

  const createConnection = function (this: unknown, ...args: unknown[]): unknown {
    const { opts, cb } = connectArgs(args);
    const flow = tcpFlow(opts);
    // node:net makes the socket; its connect (socketConnect below) looks the name up and decides.
    if (isByName(flow, opts)) return orig.createConnection.apply(net, args);
    if (flow === undefined || decide(flow) === 'kernel') {
      if (flow !== undefined) counters.tcpConnect.kernel++;
      return markKernel(toKernel<object>(orig.createConnection, net, args));
    }
    counters.tcpConnect.bypass++;
    const s = stack.net.createConnection(bywayConnectOptions(opts, flow) as never, cb as (() => void) | undefined);
    watchErrors(s as unknown as { emit: AnyFn }, `tcp connect ${flow.remoteAddress}:${flow.remotePort}`);
    return s;
  };

  const socketConnect = function (this: net.Socket, ...args: unknown[]): unknown {
    if (kernelDepth > 0) return orig.socketConnect.apply(this, args);
    const a = Array.isArray(args[0]) ? (args[0] as unknown[]) : args; // Node's internal normalized form
    const flow = tcpFlow(connectArgs(a).opts);
    if (isByName(flow, connectArgs(a).opts) && !(this instanceof tls.TLSSocket)) {
      const { opts, cb } = connectArgs(a);
      connectByName(this, hostName(opts)!, opts, cb as (() => void) | undefined, byName(flow!, opts, 'tcp connect', counters.tcpConnect));
      return this;
    }
    if (flow === undefined || decide(flow) === 'kernel') {
      if (flow !== undefined) counters.tcpConnect.kernel++;
      markKernel(this);
      return orig.socketConnect.apply(this, args);
    }
    // A socket Node built: it stays the program's object, carrying a byway socket's bytes (adopt.ts).
    counters.tcpConnect.bypass++;
    const { opts, cb } = connectArgs(a);
    const bs = stack.net.createConnection(bywayConnectOptions(opts, flow) as never) as BywaySocket;
    watchErrors(bs as unknown as { emit: AnyFn }, `tcp connect ${flow.remoteAddress}:${flow.remotePort}`);
    adoptOnto(this, bs);
    if (cb) this.once('connect', cb as () => void);
    return this;
  };

  const tlsConnect = function (this: unknown, ...args: unknown[]): unknown {
    // tls.connect(options[, cb]) or (port[, host][, options][, cb])
    let opts: ConnectOpts;
    if (args[0] !== null && typeof args[0] === 'object') opts = args[0] as ConnectOpts;
    else {
      const more = args.find((x, i) => i > 0 && x !== null && typeof x === 'object') as ConnectOpts | undefined;
      opts = { ...more, port: args[0], host: typeof args[1] === 'string' ? args[1] : more?.host };
    }
    const cb = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as AnyFn) : undefined;
    const flow = opts.socket !== undefined ? undefined : tcpFlow(opts);
    if (isByName(flow, opts)) {
      // TLS over a socket connected by name (node:tls takes one still connecting): the path is decided after the
      // lookup, and the socket's 'lookup' events are the TLS socket's, as when node:tls connects it itself.
      const sock = new net.Socket();
      const connectOpts: ConnectOpts = { port: opts.port, host: opts.host };
      for (const k of ['family', 'hints', 'lookup', 'localAddress', 'localPort', 'autoSelectFamily', 'autoSelectFamilyAttemptTimeout']) {
        if (opts[k] !== undefined) connectOpts[k] = opts[k];
      }
      connectByName(sock, hostName(opts)!, connectOpts, undefined, byName(flow!, opts, 'tls connect', counters.tlsConnect));
      const t = orig.tlsConnect.call(tls, { ...opts, path: undefined, socket: sock }, cb) as EventEmitter;
      answerAddressesFor(t, sock as unknown as AddressSource);
      sock.on('lookup', (...a: unknown[]) => t.emit('lookup', ...a));
      Object.defineProperty(t, 'path', { get: () => (sock as { path?: Path }).path, enumerable: true, configurable: true });
      return t;
    }
    if (flow === undefined || decide(flow) === 'kernel') {
      if (flow !== undefined) counters.tlsConnect.kernel++;
      return markKernel(toKernel<object>(orig.tlsConnect, tls, args));
    }
    counters.tlsConnect.bypass++;
    const socket = stack.net.createConnection(bywayConnectOptions(opts, flow) as never);
    watchErrors(socket as unknown as { emit: AnyFn }, `tls connect ${flow.remoteAddress}:${flow.remotePort}`);
    const servername = opts.servername ?? (typeof opts.host === 'string' && net.isIP(opts.host) === 0 ? opts.host : undefined);
    const t = orig.tlsConnect.call(tls, { ...opts, path: undefined, socket, servername }, cb) as object;
    answerAddressesFor(t, socket as unknown as AddressSource);
    Object.defineProperty(t, 'path', { value: 'bypass', enumerable: true, configurable: true });
    return t;
  };

  const listen = function (this: net.Server & { [kBypass]?: BywayServer }, ...args: unknown[]): unknown {
    const cb = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as () => void) : undefined;
    let port: number | undefined;
    let host: string | undefined;
    let backlog: number | undefined;
    const a0 = args[0];
    if (a0 !== null && typeof a0 === 'object') {
      const o = a0 as { port?: unknown; host?: unknown; backlog?: unknown; path?: unknown; fd?: unknown; _handle?: unknown };
      if (o.path !== undefined || o.fd !== undefined || o._handle !== undefined) return orig.listen.apply(this, args);
      port = o.port === undefined ? 0 : Number(o.port);
      host = typeof o.host === 'string' ? o.host : undefined;
      backlog = typeof o.backlog === 'number' ? o.backlog : undefined;
    } else if (typeof a0 === 'string' && !/^\d+$/.test(a0)) {
      return orig.listen.apply(this, args); // a Unix socket
    } else {
      port = a0 === undefined || a0 === null || typeof a0 === 'function' ? 0 : Number(a0);
      if (typeof args[1] === 'string') host = args[1];
      backlog = typeof args[1] === 'number' ? args[1] : typeof args[2] === 'number' ? args[2] : undefined;
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) return orig.listen.apply(this, args); // Node's error
    if (host !== undefined && host !== '' && net.isIP(host) === 0) {
      // A name ('localhost' too): node:net listens on what dns.lookup answers first (lookupAndListen), failing
      // with the resolver's error; the path is decided on that address, and node:net is given it (no second query).
      dns.lookup(host, (err, ip) => {
        if (err) this.emit('error', err);
        else listen.apply(this, a0 !== null && typeof a0 === 'object' ? [{ ...(a0 as object), host: ip }, ...args.slice(1)] : [args[0], ip, ...args.slice(2)]);
      });
      return this;
    }
    const wildcard = host === undefined || host === '' || host === '::' || host === '0.0.0.0';
    const flow: Flow = { protocol: 'tcp', direction: 'inbound', localPort: port, localAddress: wildcard ? undefined : host };
    if (decide(flow) === 'kernel') {
      counters.tcpListen.kernel++;
      this.prependListener('connection', markKernel);
      return orig.listen.apply(this, args);
    }
    counters.tcpListen.bypass++;
    const self = this as net.Server & { allowHalfOpen?: boolean; pauseOnConnect?: boolean; [kBypass]?: BywayServer };
    const inner = stack.net.createServer({ allowHalfOpen: self.allowHalfOpen, pauseOnConnect: self.pauseOnConnect }, (sock) => {
      counters.tcpAccepted.bypass++;
      if ((sock as { server?: unknown }).server === undefined) (sock as { server?: unknown }).server = self;
      self.emit('connection', sock);
    });
    self[kBypass] = inner;
    listeners.add(inner);
    inner.on('close', () => listeners.delete(inner));
    inner.on('error', (err: Error) => {
      failure(`tcp listen ${host ?? '0.0.0.0'}:${port}`, err);
      self.emit('error', err);
    });
    inner.on('listening', () => {
      if (port !== 0) onServe();
      self.emit('listening');
    });
    if (cb) self.once('listening', cb);
    inner.listen({ port, host: wildcard ? undefined : flow.localAddress, backlog, path: 'bypass' });
    return self;
  };
  const listeners = new Set<BywayServer>();
  const bypassOf = (s: unknown): BywayServer | undefined => (s as { [kBypass]?: BywayServer })[kBypass];
  const serverClose = function (this: net.Server, cb?: (err?: Error) => void): unknown {
    const inner = bypassOf(this);
    if (inner === undefined) return orig.close.call(this, cb);
    (this as { [kBypass]?: BywayServer })[kBypass] = undefined;
    if (cb) this.once('close', cb);
    inner.close(() => this.emit('close'));
    return this;
  };
  const forward =
    (name: 'address' | 'getConnections' | 'ref' | 'unref', own: AnyFn) =>
    function (this: net.Server, ...args: unknown[]): unknown {
      const inner = bypassOf(this);
      if (inner === undefined) return own.apply(this, args);
      const r = (inner[name] as AnyFn).apply(inner, args);
      return r === inner ? this : r;
    };

  const createSocket = function (this: unknown, ...args: unknown[]): unknown {
    const options = (typeof args[0] === 'string' ? { type: args[0] } : { ...(args[0] as object) }) as dgram.SocketOptions;
    if (options.type !== 'udp4' && options.type !== 'udp6') return orig.createSocket.apply(dgram, args); // Node's error
    const sock = new DeferredDgramSocket(
      {
        decide: (flow) => (options.type === 'udp6' ? decideUdp6(flow) : decide(flow)),
        make: (path: Path, o, flow) => {
          if (path === 'kernel') {
            counters.udpSocket.kernel++;
            return markKernel(orig.createSocket.call(dgram, o) as object) as never;
          }
          counters.udpSocket.bypass++;
          const s = stack.dgram.createSocket({ ...(o as object), path: 'bypass' } as never);
          if (flow.direction === 'inbound' && (flow.localPort ?? 0) !== 0) (s as unknown as EventEmitter).once('listening', onServe);
          watchErrors(s as unknown as { emit: AnyFn }, `udp ${flow.direction} ${flow.remoteAddress ?? flow.localAddress ?? '0.0.0.0'}:${flow.remotePort ?? flow.localPort ?? 0}`);
          return s as never;
        },
        otherPath: (flow, path) => {
          counters.udpOtherPath++;
          counters.lastOtherPath = `udp to ${flow.remoteAddress}:${flow.remotePort} sent on the socket's ${path} path; the rules say ${path === 'kernel' ? 'bypass' : 'kernel'}`;
        },
      },
      options as DeferredOptions,
    );
    if (typeof args[1] === 'function') sock.on('message', args[1] as AnyFn);
    return sock;
  };

  const netW = net as unknown as Record<string, unknown>;
  netW['connect'] = createConnection;
  netW['createConnection'] = createConnection;
  (tls as unknown as Record<string, unknown>)['connect'] = tlsConnect;
  (dgram as unknown as Record<string, unknown>)['createSocket'] = createSocket;
  const agentProto = http.Agent.prototype as unknown as Record<string, unknown>;
  agentProto['createConnection'] = createConnection;
  const socketProto = net.Socket.prototype as unknown as Record<string, unknown>;
  socketProto['connect'] = socketConnect;
  const serverProto = net.Server.prototype as unknown as Record<string, unknown>;
  serverProto['listen'] = listen;
  serverProto['close'] = serverClose;
  serverProto['address'] = forward('address', orig.address);
  serverProto['getConnections'] = forward('getConnections', orig.getConnections);
  serverProto['ref'] = forward('ref', orig.ref);
  serverProto['unref'] = forward('unref', orig.unref);
  const origListening = orig.listening?.get;
  Object.defineProperty(net.Server.prototype, 'listening', {
    configurable: true,
    enumerable: true,
    get(this: net.Server) {
      const inner = bypassOf(this);
      return inner !== undefined ? inner.listening : origListening?.call(this);
    },
  });
  syncBuiltinESMExports();

  return {
    bypassListeners() {
      const out: Array<{ address: string; port: number }> = [];
      for (const l of listeners) {
        const a = l.address();
        if (a !== null) out.push({ address: a.address, port: a.port });
      }
      return out;
    },
    uninstall() {
      netW['connect'] = orig.connect;
      netW['createConnection'] = orig.createConnection;
      (tls as unknown as Record<string, unknown>)['connect'] = orig.tlsConnect;
      (dgram as unknown as Record<string, unknown>)['createSocket'] = orig.createSocket;
      agentProto['createConnection'] = orig.agentCreateConnection;
      socketProto['connect'] = orig.socketConnect;
      serverProto['listen'] = orig.listen;
      serverProto['close'] = orig.close;
      serverProto['address'] = orig.address;
      serverProto['getConnections'] = orig.getConnections;
      serverProto['ref'] = orig.ref;
      serverProto['unref'] = orig.unref;
      if (orig.listening) Object.defineProperty(net.Server.prototype, 'listening', orig.listening);
      syncBuiltinESMExports();
    },
  };
}
