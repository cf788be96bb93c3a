/**
 * `stack.net.Server`, shaped like node:net's: listens on the path its strategy picks, or on both at once
 * (`listen({ port, paths: ['kernel', 'bypass'] })`), and hands out byway Sockets (bypass) or node:net Sockets
 * (kernel), each marked with its `path`. Misuse throws Node's errors (errors.ts); listen errors are emitted.
 */
import net from 'node:net';
import dns from 'node:dns';
import { EventEmitter } from 'node:events';
import { BywayError } from '../../protocols/util/errors.js';
import { parseIpv4 } from '../../protocols/ipv4/address.js';
import { isIpv6Id, type ListenFamily, type TcpListener } from '../../protocols/tcp/layer.js';
import { ownTcpAddress, tcpEndpoint, type TcpFamily } from './tcp-addr.js';
import type { Path } from './path.js';
import type { StackInternals } from './internals.js';
import { systemCodeIn, uvSystemError } from './system-error.js';
import { invalidArgValue, nodeError, validateAbortSignal, validatePort } from './errors.js';
import { resolveHost, type LookupFunction } from './lookup.js';
import { Socket, type KernelSocket } from './net.js';
import { checkOnRead, feedOnRead, type OnRead } from './net-options.js';

export interface ServerOptions {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /**
   * byway's: node:net's `onread` for every socket the server accepts (node:net takes it only for the sockets it
   * connects): received bytes go into `buffer` and to `callback` instead of 'data' events. On the kernel path the
   * accepted node:net socket's 'data' feeds the callback (net-options.ts, feedOnRead).
   */
  onread?: OnRead;
}

export interface ListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
  /** Force the path, or listen on both. Default: the stack's strategy for this inbound flow. */
  path?: Path;
  paths?: readonly Path[];
  /** Where the kernel half listens when listening on both paths (default: host if it is not byway's, else all). */
  kernelHost?: string;
  /** Closes the server when aborted (as node:net). */
  signal?: AbortSignal;
  /** Resolves a host name given as `host` (default dns.lookup). */
  lookup?: LookupFunction;
  /** On `::` (or no host): IPv6 connections only (IPV6_V6ONLY); by default `::` takes IPv4 ones too, as Node's. */
  ipv6Only?: boolean;
}


export class Server extends EventEmitter {
  maxConnections: number | undefined;
  /** @internal the stack's net.Socket class, which accepted sockets are instances of (set by net-api.ts) */
  socketClass: (abstract new (...args: never[]) => Socket) | undefined;
  private listener: TcpListener | undefined;
  private kernel: net.Server | undefined;
  private readonly sockets = new Set<Socket | KernelSocket>();
  private listening_ = false;
  private closing = false;
  private refed = true;
  private paths_: Path[] = [];

  /** @internal use stack.net.createServer */
  constructor(
    private readonly stack: StackInternals,
    private readonly options: ServerOptions = {},
    connectionListener?: (socket: Socket | KernelSocket) => void,
  ) {
    super();
    if (options.onread !== undefined) checkOnRead(options.onread);
    if (connectionListener) this.on('connection', connectionListener);
  }

  get listening(): boolean {
    return this.listening_;
  }

  /** The paths this server listens on. */
  get paths(): readonly Path[] {
    return this.paths_;
  }

  listen(...args: unknown[]): this {
    const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
    let o: ListenOptions;
    if (typeof args[0] === 'object' && args[0] !== null) {
      o = { ...(args[0] as ListenOptions) };
      // As node:net: an options object names a port (or byway's path/paths); a port is a number or a string.
      if (o.port === undefined && o.path === undefined && o.paths === undefined) throw invalidArgValue('options', args[0], 'must have the property "port" or "path"');
      if (o.port !== undefined && o.port !== null && typeof o.port !== 'number' && typeof o.port !== 'string') throw invalidArgValue('options', args[0]);
    }
    else o = { port: args[0] as number | undefined, host: typeof args[1] === 'string' ? args[1] : undefined, backlog: typeof args[1] === 'number' ? args[1] : (args[2] as number | undefined) };
    if (o.signal !== undefined) this.addAbortSignal(o.signal);
    if (this.listening_ || this.listener !== undefined) throw nodeError(Error, 'ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    const port = o.port === undefined || o.port === null ? 0 : validatePort(o.port, 'options.port', true);
    if (o.host !== undefined && o.host !== null && !net.isIP(o.host)) {
      // A host name: resolved first (lookup option or dns.lookup), then listened on as an address.
      const host = o.host;
      resolveHost(o.lookup ?? (dns.lookup as unknown as LookupFunction), host, { ipv6: true }, (err, _ip, address) => {
        if (err) {
          this.emit('error', err);
          return;
        }
        this.listen({ ...o, host: address }, ...(cb ? [cb] : []));
      });
      return this;
    }
    const paths: Path[] = o.paths ? [...o.paths] : [o.path ?? this.stack.decide({ protocol: 'tcp', direction: 'inbound', localPort: port, localAddress: o.host })];
    if (cb) this.once('listening', cb);
    this.paths_ = paths;
    const backlog = o.backlog ?? 511;
    let pendingKernel = false;
    // Both paths on an ephemeral port: the kernel picks it (its port space is the crowded one), byway follows.
    const bypassAfterKernel = port === 0 && paths.includes('bypass') && paths.includes('kernel');
    const bypass = (p: number): boolean => {
      try {
        this.listenBypass(p, o.host, backlog, o.ipv6Only === true);
        return true;
      } catch (err) {
        const code = systemCodeIn(err) ?? ((err as { code?: unknown }).code === undefined ? 'EINVAL' : undefined);
        const e = code === undefined ? (err as Error) : uvSystemError(code, 'listen', o.host ?? (this.stack.core.ipv6 !== undefined ? '::' : '0.0.0.0'), p);
        process.nextTick(() => this.emit('error', e));
        return false;
      }
    };
    if (paths.includes('bypass') && !bypassAfterKernel && !bypass(port)) return this;
    if (paths.includes('kernel')) {
      pendingKernel = true;
      const k = net.createServer({ allowHalfOpen: this.options.allowHalfOpen, pauseOnConnect: this.options.pauseOnConnect, noDelay: this.options.noDelay, keepAlive: this.options.keepAlive });
      this.kernel = k;
      k.on('connection', (s: net.Socket) => {
        // maxConnections counts this server's connections on both paths, checked at accept time as node:net does.
        if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) {
          const local = s.address() as Partial<net.AddressInfo>;
          this.emit('drop', { localAddress: local.address, localPort: local.port, localFamily: local.family, remoteAddress: s.remoteAddress, remotePort: s.remotePort, remoteFamily: s.remoteFamily });
          s.destroy();
          return;
        }
        Object.defineProperty(s, 'path', { value: 'kernel', enumerable: true });
        if (this.options.onread !== undefined) feedOnRead(s, this.options.onread, !this.options.pauseOnConnect);
        this.adopt(s as KernelSocket);
      });
      k.on('error', (err) => this.emit('error', err));
      const host = o.kernelHost ?? (o.host !== undefined && parseIpv4(o.host) !== undefined && this.stack.core.isOwnAddress(parseIpv4(o.host)!) ? undefined : o.host);
      // Both halves on one port number: the bypass half's when it listened first, else the kernel's.
      k.listen({ port: (this.listener as TcpListener | undefined)?.port ?? port, host, backlog }, () => {
        if (bypassAfterKernel && !bypass((k.address() as net.AddressInfo).port)) {
          this.kernel = undefined;
          k.close();
          return;
        }
        this.listening_ = true;
        this.emit('listening');
      });
      if (!this.refed) k.unref();
    }
    if (!pendingKernel) {
      const listener = this.listener;
      process.nextTick(() => {
        if (this.listener !== listener || listener === undefined) return; // closed before it was announced
        this.listening_ = true;
        this.emit('listening');
      });
    }
    return this;
  }

  address(): { address: string; family: TcpFamily; port: number } | null {
    const l = this.listener;
    if (l) {
      if (l.localIp === 0) return l.family === 4 ? { address: '0.0.0.0', family: 'IPv4', port: l.port } : { address: '::', family: 'IPv6', port: l.port };
      return { ...tcpEndpoint(this.stack.core.tcp!, l.localIp, false), port: l.port };
    }
    const a = this.kernel?.address();
    return a && typeof a === 'object' ? (a as { address: string; family: 'IPv4'; port: number }) : null;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.sockets.size;
    process.nextTick(() => cb(null, n));
    return this;
  }

  /** As node:net: 'close' comes once every connection has closed; a non-function callback is ignored. */
  close(cb?: unknown): this {
    if (typeof cb === 'function') {
      if (!this.listening_ && !this.listener && !this.kernel) this.once('close', () => cb(nodeError(Error, 'ERR_SERVER_NOT_RUNNING', 'Server is not running.')));
      else this.once('close', cb as () => void);
    }
    this.closing = true;
    this.listening_ = false;
    if (this.listener) {
      this.listener.close(this.stack.clock.now());
      this.listener = undefined;
      this.stack.untrack(this.trackHandle);
      this.stack.poke();
    }
    if (this.kernel) this.kernel.close();
    this.maybeEmitClose();
    return this;
  }

  ref(): this {
    this.refed = true;
    this.kernel?.ref();
    this.stack.refChanged(this.trackHandle);
    return this;
  }

  unref(): this {
    this.refed = false;
    this.kernel?.unref();
    this.stack.refChanged(this.trackHandle);
    return this;
  }

  /** Tracked while the bypass listener is open: keeps the process alive like a listening node:net server. */
  private readonly trackHandle = ((server: Server) => ({
    get keepsAlive(): boolean {
      return server.refed && server.listener !== undefined;
    },
    destroyForStackClose: () => {
      if (server.listener || server.kernel) server.close();
    },
  }))(this);

  private addAbortSignal(signal: unknown): void {
    validateAbortSignal(signal, 'options.signal');
    const s = signal as AbortSignal;
    const onAbort = () => this.close();
    if (s.aborted) process.nextTick(onAbort);
    else {
      s.addEventListener('abort', onAbort, { once: true });
      this.once('close', () => s.removeEventListener('abort', onAbort));
    }
  }

  private listenBypass(port: number, host: string | undefined, backlog: number, ipv6Only: boolean): void {
    const tcp = this.stack.core.tcp;
    if (tcp === undefined) throw new BywayError('ERR_BYPASS_UNSUPPORTED', 'this stack was built without TCP');
    let ip = 0;
    // No host, or '::': every address, both families unless ipv6Only (Linux's dual-stack default, as Node's
    // servers); on a stack without IPv6, IPv4 only ('0.0.0.0', as Node on a host without IPv6).
    let family: ListenFamily = this.stack.core.ipv6 !== undefined && host !== '0.0.0.0' ? (ipv6Only ? 6 : 46) : 4;
    if (host !== undefined && host !== '0.0.0.0' && host !== '::') {
      ip = ownTcpAddress(this.stack.core, host);
      family = isIpv6Id(ip) ? 6 : 4;
    }
    const opts = { family };
    let listener: TcpListener | undefined;
    if (port !== 0) listener = tcp.listen(ip, port, backlog, opts);
    else {
      // An ephemeral listening port, like bind(0): random probes in the dynamic range.
      for (let tries = 0; tries < 64 && listener === undefined; tries++) {
        const p = 49152 + Math.floor(Math.random() * 16384);
        try {
          listener = tcp.listen(ip, p, backlog, opts);
        } catch (err) {
          if ((err as BywayError).code !== 'EADDRINUSE') throw err;
        }
      }
      if (listener === undefined) throw new BywayError('EADDRINUSE', 'no free port to listen on');
    }
    this.listener = listener;
    this.stack.track(this.trackHandle);
    // Node's sockets from a dual-stack server show IPv4 peers as ::ffff:a.b.c.d.
    const mapped = family === 46;
    listener.onConnection = (conn) => {
      if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) {
        conn.abort(this.stack.clock.now());
        this.stack.poke();
        const local = tcpEndpoint(tcp, conn.localIp, mapped);
        const remote = tcpEndpoint(tcp, conn.remoteIp, mapped);
        this.emit('drop', { localAddress: local.address, localPort: conn.localPort, localFamily: local.family, remoteAddress: remote.address, remotePort: conn.remotePort, remoteFamily: remote.family });
        return;
      }
      // An instance of the stack's net.Socket (instanceof it, its prototype patches apply), as node:net's are.
      const sock = Reflect.construct(Socket, [this.stack, { allowHalfOpen: this.options.allowHalfOpen, onread: this.options.onread }, conn], this.socketClass ?? Socket) as Socket;
      if (mapped) sock.mapIpv4();
      if (this.options.noDelay) sock.setNoDelay(true);
      if (this.options.keepAlive) sock.setKeepAlive(true, this.options.keepAliveInitialDelay ?? 0);
      if (this.options.pauseOnConnect) sock.pause();
      // Through the same queue as the socket's own events (after this poll, in order), so 'connection' comes
      // before anything the socket emits.
      this.stack.defer({ runDeferred: () => this.adopt(sock) });
    };
  }

  private adopt(sock: Socket | KernelSocket): void {
    this.sockets.add(sock);
    // As node:net's server sockets: reading starts at once unless pauseOnConnect.
    if (!this.options.pauseOnConnect && sock.path === 'bypass') sock.read(0);
    sock.once('close', () => {
      this.sockets.delete(sock);
      this.maybeEmitClose();
    });
    this.emit('connection', sock);
  }

  private maybeEmitClose(): void {
    if (!this.closing || this.sockets.size > 0) return;
    const kernel = this.kernel;
    const done = () => {
      this.closing = false;
      this.kernel = undefined;
      this.emit('close');
    };
    if (kernel && kernel.listening) kernel.once('close', done);
    else process.nextTick(done);
  }
}
