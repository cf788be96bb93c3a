/**
 * `stack.net`, shaped like node:net. A bypass `Socket` is a real `stream.Duplex` over a TcpConnection of byway's
 * TCP core; a kernel one is a genuine node:net Socket. Both carry `path`. A `Server` listens on the path its
 * strategy picks, or on both at once (`listen({ port, paths: ['kernel', 'bypass'] })`).
 *
 * Core callbacks (onReadable, onClose...) run inside the stack's poll; the socket only notes them and does its
 * stream work in a microtask, so user code never runs re-entrantly inside the TCP core.
 *
 * Differences from node:net on the bypass path (see docs/api.md): IPv4 literals only (no DNS, so no 'lookup'
 * event), no IPC paths, no `fd` option.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import { BywayError } from '../../protocols/util/errors.js';
import { formatIpv4, parseIpv4 } from '../../protocols/ipv4/address.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import type { TcpListener } from '../../protocols/tcp/layer.js';
import type { Path } from './path.js';
import type { StackInternals } from './internals.js';
import type { Deferred } from './defer.js';
import { systemError } from './system-error.js';
export type { NodeSystemError } from './system-error.js';

export interface SocketConstructorOptions {
  allowHalfOpen?: boolean;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

export interface TcpConnectOptions {
  port: number;
  host?: string;
  localAddress?: string;
  localPort?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  timeout?: number;
  allowHalfOpen?: boolean;
  /** Force the path instead of asking the strategy. */
  path?: Path;
}

type ReadyState = 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed';

export class Socket extends Duplex implements Deferred {
  readonly path = 'bypass' as const;
  connecting = false;
  private conn: TcpConnection | undefined;
  private wantRead = false;
  private endPushed = false;
  /** The chunk _write handed over, while TCP's send ring has not taken all of it (fields, not an object per write). */
  private wqChunk: Uint8Array | undefined;
  private wqOff = 0;
  private wqCb: ((err?: Error | null) => void) | undefined;
  private finalCb: ((err?: Error | null) => void) | undefined;
  private scheduled = false;
  private events = 0;
  private refed = true;
  private idleMs = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private bytesAccepted = 0;
  private bytesIn = 0;
  private noDelay: boolean | undefined;
  private keepAlive: { on: boolean; delay: number } | undefined;
  private remote: { address: string; port: number } | undefined;

  /** @internal create with stack.net.createConnection / new stack.net.Socket() */
  constructor(
    private readonly stack: StackInternals,
    options: SocketConstructorOptions = {},
    accepted?: TcpConnection,
  ) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
      decodeStrings: true,
      emitClose: false, // 'close' carries hadError, as node:net's does: emitted from _destroy
      autoDestroy: true,
    });
    stack.track(this);
    if (accepted) this.attach(accepted);
  }

  // ------------------------------------------------------------------------------------------------ node:net surface

  connect(...args: unknown[]): this {
    const [options, cb] = normalizeConnectArgs(args);
    if (this.conn !== undefined || this.connecting) throw new BywayError('ERR_SOCKET_CONNECTING', 'Socket is already connecting or connected');
    if (this.destroyed) throw new BywayError('ERR_SOCKET_CLOSED', 'Socket is closed');
    const host = options.host ?? 'localhost';
    const ip = host === 'localhost' ? this.stack.core.addresses[0]!.address : parseIpv4(host);
    if (ip === undefined) throw new BywayError('ERR_INVALID_IP_ADDRESS', `byway's net needs an IPv4 literal (no DNS lookup), got '${host}'`);
    validatePort(options.port);
    let localIp: number | undefined;
    if (options.localAddress !== undefined) {
      localIp = parseIpv4(options.localAddress);
      if (localIp === undefined) throw new BywayError('ERR_INVALID_IP_ADDRESS', `invalid localAddress '${options.localAddress}'`);
    }
    if (cb) this.once('connect', cb);
    if (options.timeout !== undefined) this.setTimeout(options.timeout);
    if (options.noDelay !== undefined) this.noDelay = options.noDelay;
    if (options.keepAlive) this.keepAlive = { on: true, delay: options.keepAliveInitialDelay ?? 0 };
    this.connecting = true;
    this.remote = { address: formatIpv4(ip), port: options.port };
    const tcp = this.stack.core.tcp;
    if (tcp === undefined) throw new BywayError('ERR_BYPASS_UNSUPPORTED', 'this stack was built without TCP');
    let conn: TcpConnection;
    try {
      if (localIp !== undefined && !this.stack.core.isLocalAddress(localIp)) throw new BywayError('EADDRNOTAVAIL', 'address not available');
      conn = tcp.connect(this.stack.clock.now(), ip, options.port, { localIp, localPort: options.localPort, noDelay: this.noDelay });
    } catch (err) {
      const code = (err as BywayError).code ?? 'EINVAL';
      const e = systemError(code, 'connect', this.remote.address, this.remote.port);
      process.nextTick(() => this.destroy(e));
      return this;
    }
    this.attach(conn);
    this.stack.poke();
    return this;
  }

  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    this.conn?.setNoDelay(noDelay, this.stack.clock.now());
    this.stack.poke();
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAlive = { on: enable, delay: initialDelay };
    this.applyKeepAlive();
    return this;
  }

  setTimeout(ms: number, callback?: () => void): this {
    if (!Number.isFinite(ms) || ms < 0) throw new BywayError('ERR_OUT_OF_RANGE', `The value of "msecs" is out of range. Received ${ms}`);
    this.idleMs = ms;
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    this.touch();
    return this;
  }

  address(): { address: string; family: 'IPv4'; port: number } | Record<string, never> {
    if (this.conn === undefined) return {};
    return { address: formatIpv4(this.conn.localIp), family: 'IPv4', port: this.conn.localPort };
  }

  get localAddress(): string | undefined {
    return this.conn ? formatIpv4(this.conn.localIp) : undefined;
  }
  get localPort(): number | undefined {
    return this.conn?.localPort;
  }
  get localFamily(): string | undefined {
    return this.conn ? 'IPv4' : undefined;
  }
  get remoteAddress(): string | undefined {
    return this.remote?.address;
  }
  get remotePort(): number | undefined {
    return this.remote?.port;
  }
  get remoteFamily(): string | undefined {
    return this.remote ? 'IPv4' : undefined;
  }
  get bytesRead(): number {
    return this.bytesIn;
  }
  get bytesWritten(): number {
    return this.bytesAccepted + (this.wqChunk ? this.wqChunk.length - this.wqOff : 0) + this.writableLength;
  }
  get pending(): boolean {
    return this.conn === undefined || this.connecting;
  }
  get readyState(): ReadyState {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }
  /** The per-connection record of the TCP core (like Linux's tcp_info). */
  get tcpInfo() {
    return this.conn?.info();
  }

  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  resetAndDestroy(): this {
    if (this.conn) this.conn.abort(this.stack.clock.now());
    this.stack.poke();
    return this.destroy();
  }

  ref(): this {
    this.refed = true;
    this.stack.refChanged();
    return this;
  }

  unref(): this {
    this.refed = false;
    this.stack.refChanged();
    return this;
  }

  /** @internal */
  get keepsAlive(): boolean {
    return this.refed && !this.destroyed;
  }

  /** @internal */
  destroyForStackClose(): void {
    if (!this.destroyed) this.destroy();
  }

  // ------------------------------------------------------------------------------------------------ stream plumbing

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.wqChunk = chunk;
    this.wqOff = 0;
    this.wqCb = cb;
    if (this.conn !== undefined) this.flushWrites();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.conn === undefined) {
      // end() before connect(): Node finishes at once.
      cb();
      return;
    }
    this.finalCb = cb;
    this.flushWrites();
  }

  override _read(): void {
    this.wantRead = true;
    if (this.conn !== undefined) this.pump();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.connecting = false;
    const conn = this.conn;
    if (conn !== undefined) {
      conn.onConnect = conn.onReadable = conn.onWritable = conn.onEnd = undefined;
      conn.onClose = undefined;
      if (conn.state !== 'CLOSED') conn.close(this.stack.clock.now());
      this.stack.poke();
    }
    this.stack.untrack(this);
    cb(err);
    // node:net emits 'close' from the handle's close callback, a later turn of the event loop than 'error'.
    setImmediate(() => this.emit('close', err != null));
  }

  // ------------------------------------------------------------------------------------------------ core events

  private attach(conn: TcpConnection): void {
    this.conn = conn;
    this.remote = { address: formatIpv4(conn.remoteIp), port: conn.remotePort };
    const note = (bit: number) => () => {
      this.events |= bit;
      if (!this.scheduled) {
        this.scheduled = true;
        this.stack.defer(this);
      }
    };
    conn.onConnect = note(EV_CONNECT);
    conn.onReadable = note(EV_READ);
    conn.onWritable = note(EV_WRITE);
    conn.onEnd = note(EV_READ);
    conn.onClose = (error) => {
      if (error !== undefined) this.closeError = error;
      note(EV_CLOSE)();
    };
    if (conn.state === 'ESTABLISHED' || conn.state === 'CLOSE-WAIT') {
      // An accepted connection: already open.
      this.connecting = false;
      this.applyOptions();
    }
    if (this.wqChunk || this.finalCb) this.flushWrites();
    if (this.wantRead) this.pump();
  }

  private closeError: string | undefined;
  private coreClosed = false;

  /** @internal the events the core noted, handled after the poll that noted them (see defer.ts) */
  runDeferred(): void {
    this.handleEvents();
  }

  private readonly handleEvents = (): void => {
    this.scheduled = false;
    const ev = this.events;
    this.events = 0;
    if (this.destroyed) return;
    if (ev & EV_CONNECT && this.connecting) {
      this.connecting = false;
      this.applyOptions();
      this.touch();
      this.emit('connect');
      this.emit('ready');
      if (this.finalCb !== undefined) this.flushWrites();
    }
    if (ev & EV_WRITE) this.flushWrites();
    if (ev & EV_READ) this.pump();
    if (ev & EV_CLOSE) this.onCoreClosed();
  };

  private onCoreClosed(): void {
    if (this.destroyed) return;
    const code = this.closeError;
    if (code !== undefined) {
      const wasConnecting = this.connecting;
      this.destroy(systemError(code, wasConnecting ? 'connect' : 'read', wasConnecting ? this.remote?.address : undefined, wasConnecting ? this.remote?.port : undefined));
      return;
    }
    // A clean close: what is still buffered in the core is delivered as the stream reads it, then the end.
    this.coreClosed = true;
    this.pump();
    if (this.wqChunk || this.finalCb) {
      const cb = this.wqCb ?? this.finalCb!;
      this.wqChunk = this.wqCb = undefined;
      this.finalCb = undefined;
      cb(systemError('EPIPE', 'write'));
    }
  }

  private applyOptions(): void {
    if (this.noDelay !== undefined) this.conn?.setNoDelay(this.noDelay, this.stack.clock.now());
    this.applyKeepAlive();
  }

  private applyKeepAlive(): void {
    const conn = this.conn;
    if (conn === undefined || this.keepAlive === undefined || this.connecting) return;
    conn.setKeepAlive(this.keepAlive.on, this.stack.clock.now(), this.keepAlive.delay > 0 ? this.keepAlive.delay : undefined);
    this.stack.poke();
  }

  /** Move stream-buffered writes into the TCP send buffer, as far as it has room. */
  private flushWrites(): void {
    const conn = this.conn!;
    const chunk = this.wqChunk;
    if (chunk !== undefined) {
      const off = this.wqOff;
      let n: number;
      try {
        n = conn.send(this.stack.clock.now(), off === 0 ? chunk : chunk.subarray(off));
      } catch (err) {
        const cb = this.wqCb!;
        this.wqChunk = this.wqCb = undefined;
        cb(systemError((err as BywayError).code ?? 'EPIPE', 'write'));
        return;
      }
      this.wqOff = off + n;
      this.bytesAccepted += n;
      if (n > 0) {
        this.touch();
        this.stack.poke();
      }
      if (off + n < chunk.length) return; // onWritable will call again
      const cb = this.wqCb!;
      this.wqChunk = this.wqCb = undefined;
      cb();
    }
    // end() while connecting: the FIN goes out once the connection is open (a CLOSE in SYN-SENT would abort it).
    if (this.finalCb !== undefined && this.wqChunk === undefined && !this.connecting) {
      const cb = this.finalCb;
      this.finalCb = undefined;
      conn.shutdown(this.stack.clock.now());
      this.stack.poke();
      cb();
    }
  }

  /** Push what the core has received while the stream wants it. */
  private pump(): void {
    const conn = this.conn;
    if (conn === undefined || this.endPushed) return;
    while (this.wantRead) {
      const avail = conn.readableLength;
      if (avail === 0) break;
      const buf = Buffer.allocUnsafe(Math.min(avail, 65536));
      const n = conn.read(this.stack.clock.now(), buf);
      if (n === 0) break;
      this.bytesIn += n;
      this.touch();
      this.stack.poke(); // a window update may be due
      this.wantRead = this.push(n === buf.length ? buf : buf.subarray(0, n));
    }
    if ((conn.readableEnded || (this.coreClosed && conn.readableLength === 0)) && !this.endPushed) {
      this.endPushed = true;
      this.push(null);
      this.read(0); // like node:net: 'end' is emitted even if nobody is reading, once the buffer is empty
    }
  }

  /** Activity: restart the idle timer (Node's socket.setTimeout semantics). */
  private touch(): void {
    if (this.idleMs === 0) {
      if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      return;
    }
    if (this.idleTimer !== undefined) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (!this.destroyed) this.emit('timeout');
    }, this.idleMs);
    this.idleTimer.unref?.();
  }
}

const EV_CONNECT = 1;
const EV_READ = 2;
const EV_WRITE = 4;
const EV_CLOSE = 8;

function normalizeConnectArgs(args: unknown[]): [TcpConnectOptions, (() => void) | undefined] {
  const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
  if (typeof args[0] === 'object' && args[0] !== null) return [args[0] as TcpConnectOptions, cb];
  return [{ port: Number(args[0]), host: args[1] as string | undefined }, cb];
}

function validatePort(port: unknown): asserts port is number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new BywayError('ERR_SOCKET_BAD_PORT', `Port should be > 0 and < 65536. Received ${String(port)}.`);
  }
}

// ---------------------------------------------------------------------------------------------------------------------

export interface ServerOptions {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
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
}

/** A node:net Socket on the kernel path, marked with its path. */
export type KernelSocket = net.Socket & { readonly path: 'kernel' };

export class Server extends EventEmitter {
  maxConnections: number | undefined;
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
    if (typeof args[0] === 'object' && args[0] !== null) o = { ...(args[0] as ListenOptions) };
    else o = { port: args[0] as number | undefined, host: typeof args[1] === 'string' ? args[1] : undefined, backlog: typeof args[1] === 'number' ? args[1] : (args[2] as number | undefined) };
    if (this.listening_) throw new BywayError('ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    const port = o.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new BywayError('ERR_SOCKET_BAD_PORT', `options.port should be >= 0 and < 65536. Received ${port}.`);
    const paths: Path[] = o.paths ? [...o.paths] : [o.path ?? this.stack.decide({ protocol: 'tcp', direction: 'inbound', localPort: port, localAddress: o.host })];
    if (cb) this.once('listening', cb);
    this.paths_ = paths;
    const backlog = o.backlog ?? 511;
    let pendingKernel = false;
    // Both paths on an ephemeral port: the kernel picks it (its port space is the crowded one), byway follows.
    const bypassAfterKernel = port === 0 && paths.includes('bypass') && paths.includes('kernel');
    const bypass = (p: number): boolean => {
      try {
        this.listenBypass(p, o.host, backlog);
        return true;
      } catch (err) {
        const e = systemError((err as BywayError).code ?? 'EINVAL', 'listen', o.host ?? '0.0.0.0', p);
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
        Object.defineProperty(s, 'path', { value: 'kernel', enumerable: true });
        this.adopt(s as KernelSocket);
      });
      k.on('error', (err) => this.emit('error', err));
      const host = o.kernelHost ?? (o.host !== undefined && parseIpv4(o.host) !== undefined && this.stack.core.isLocalAddress(parseIpv4(o.host)!) ? undefined : o.host);
      // Both halves on one port number: the bypass half's when it listened first, else the kernel's.
      k.listen({ port: this.listener?.port ?? port, host, backlog }, () => {
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
      process.nextTick(() => {
        this.listening_ = true;
        this.emit('listening');
      });
    }
    return this;
  }

  address(): { address: string; family: 'IPv4'; port: number } | null {
    if (this.listener) return { address: formatIpv4(this.listener.localIp), family: 'IPv4', port: this.listener.port };
    const a = this.kernel?.address();
    return a && typeof a === 'object' ? (a as { address: string; family: 'IPv4'; port: number }) : null;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.sockets.size;
    process.nextTick(() => cb(null, n));
    return this;
  }

  close(cb?: (err?: Error) => void): this {
    if (!this.listening_ && !this.listener && !this.kernel) {
      const err = new BywayError('ERR_SERVER_NOT_RUNNING', 'Server is not running.');
      if (cb) process.nextTick(() => cb(err));
      return this;
    }
    if (cb) this.once('close', cb);
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
    this.stack.refChanged();
    return this;
  }

  unref(): this {
    this.refed = false;
    this.kernel?.unref();
    this.stack.refChanged();
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

  private listenBypass(port: number, host: string | undefined, backlog: number): void {
    const tcp = this.stack.core.tcp;
    if (tcp === undefined) throw new BywayError('ERR_BYPASS_UNSUPPORTED', 'this stack was built without TCP');
    let ip = 0;
    if (host !== undefined && host !== '0.0.0.0') {
      const parsed = parseIpv4(host);
      if (parsed === undefined) throw new BywayError('ERR_INVALID_IP_ADDRESS', `byway needs an IPv4 literal, got '${host}'`);
      if (!this.stack.core.isLocalAddress(parsed)) throw new BywayError('EADDRNOTAVAIL', `${host} is not one of this stack's addresses`);
      ip = parsed;
    }
    let listener: TcpListener | undefined;
    if (port !== 0) listener = tcp.listen(ip, port, backlog);
    else {
      // An ephemeral listening port, like bind(0): random probes in the dynamic range.
      for (let tries = 0; tries < 64 && listener === undefined; tries++) {
        const p = 49152 + Math.floor(Math.random() * 16384);
        try {
          listener = tcp.listen(ip, p, backlog);
        } catch (err) {
          if ((err as BywayError).code !== 'EADDRINUSE') throw err;
        }
      }
      if (listener === undefined) throw new BywayError('EADDRINUSE', 'no free port to listen on');
    }
    this.listener = listener;
    this.stack.track(this.trackHandle);
    listener.onConnection = (conn) => {
      if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) {
        conn.abort(this.stack.clock.now());
        this.stack.poke();
        this.emit('drop', { localAddress: formatIpv4(conn.localIp), localPort: conn.localPort, remoteAddress: formatIpv4(conn.remoteIp), remotePort: conn.remotePort, remoteFamily: 'IPv4' });
        return;
      }
      const sock = new Socket(this.stack, { allowHalfOpen: this.options.allowHalfOpen }, conn);
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

export interface NetApi {
  createServer(options?: ServerOptions | ((s: Socket | KernelSocket) => void), listener?: (s: Socket | KernelSocket) => void): Server;
  createConnection(options: TcpConnectOptions | number, host?: string | (() => void), cb?: () => void): Socket | KernelSocket;
  connect(options: TcpConnectOptions | number, host?: string | (() => void), cb?: () => void): Socket | KernelSocket;
  Socket: new (options?: SocketConstructorOptions) => Socket;
  isIP(input: string): number;
  isIPv4(input: string): boolean;
}

export function makeNet(stack: StackInternals): NetApi {
  const createConnection = (...args: unknown[]): Socket | KernelSocket => {
    const [options, cb] = normalizeConnectArgs(args);
    const path =
      options.path ??
      stack.decide({ protocol: 'tcp', direction: 'outbound', remoteAddress: options.host, remotePort: options.port, localAddress: options.localAddress, localPort: options.localPort });
    if (path === 'kernel') {
      const { path: _p, ...nodeOptions } = options;
      const s = net.createConnection(nodeOptions as net.NetConnectOpts, cb);
      Object.defineProperty(s, 'path', { value: 'kernel', enumerable: true });
      return s as KernelSocket;
    }
    const s = new Socket(stack, { allowHalfOpen: options.allowHalfOpen });
    return cb ? s.connect(options, cb) : s.connect(options);
  };
  const BoundSocket = class extends Socket {
    constructor(options?: SocketConstructorOptions) {
      super(stack, options);
    }
  };
  return {
    createServer(options, listener) {
      if (typeof options === 'function') return new Server(stack, {}, options);
      return new Server(stack, options ?? {}, listener);
    },
    createConnection: createConnection as NetApi['createConnection'],
    connect: createConnection as NetApi['connect'],
    Socket: BoundSocket,
    isIP: (s) => net.isIP(s),
    isIPv4: (s) => net.isIPv4(s),
  };
}
