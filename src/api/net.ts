/**
 * `stack.net.Socket`, shaped like node:net's. A bypass `Socket` is a real `stream.Duplex` over a TcpConnection of
 * byway's TCP core; a kernel one is a genuine node:net Socket. Both carry `path`. The Server is in net-server.ts,
 * the module surface (createConnection, Socket/Stream/Server callable without new) in net-api.ts.
 *
 * Core callbacks (onReadable, onClose...) run inside the stack's poll; the socket only notes them and does its
 * stream work in a microtask, so user code never runs re-entrantly inside the TCP core.
 *
 * Misuse throws what node:net throws (errors.ts); host names go through the `lookup` option (default dns.lookup)
 * with node:net's 'lookup' events, and a name with several addresses is tried address by address as node:net's
 * autoSelectFamily does (auto-select.ts). Differences from node:net on the bypass path (docs/api.md): no IPC paths
 * (they go to node:net), no `fd` option.
 */
import net from 'node:net';
import dns from 'node:dns';
import { Duplex, addAbortSignal } from 'node:stream';
import { BywayError, type SystemErrorCode } from '../../protocols/util/errors.js';
import { parseIpv4 } from '../../protocols/ipv4/address.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import type { Path } from './path.js';
import { bufferFor } from './into-buffer.js';
import { checkOnRead, normalizeConnectArgs, validateConnectOptions, type OnRead, type SocketConstructorOptions } from './net-options.js';
export { NORMALIZED, normalizeConnectArgs, type OnRead, type SocketConstructorOptions, type TcpConnectOptions } from './net-options.js';
import type { StackInternals } from './internals.js';
import type { Deferred } from './defer.js';
import { systemCodeIn, systemError } from './system-error.js';
import { invalidArgType, invalidArgValue, missingArgs, nodeError, outOfRange, validateFunction } from './errors.js';
import type { LookupFunction } from './lookup.js';
import { attemptInTurn, autoSelectOptions, dnsOptions, lookupForConnect, type Address } from './auto-select.js';
import { KernelLeg } from './kernel-leg.js';
import { IdleTimer } from './idle-timer.js';
import { ownTcpAddress, tcpAddressId } from './tcp-addr.js';
import { SocketNames, type SocketName } from './socket-names.js';
export type { NodeSystemError } from './system-error.js';

/** A node:net Socket on the kernel path, marked with its path. */
export type KernelSocket = net.Socket & { readonly path: 'kernel' };

type ReadyState = 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed';

export class Socket extends Duplex implements Deferred {
  /** The path this socket's bytes take: 'bypass', or 'kernel' once a host name resolved to a kernel-path address. */
  get path(): Path {
    return this.leg === undefined ? 'bypass' : 'kernel';
  }
  /** @internal set by createConnection for a host name: the strategy, asked again with the resolved address. */
  routeAfterLookup: ((address: string) => Path) | undefined;
  private leg: KernelLeg | undefined;
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
  private alive = false;
  /** setTimeout's idle timeout. */
  private readonly idle: IdleTimer;
  private bytesAccepted = 0;
  private bytesIn = 0;
  private noDelay: boolean | undefined;
  private keepAlive: { on: boolean; delay: number } | undefined;
  /** Its peer, where connect() is going, and how IPv4 addresses show (socket-names.ts). */
  private readonly names: SocketNames;
  private readonly onread: OnRead | undefined;
  /** Bumped by each connect(): a lookup answering for an earlier attempt is ignored. */
  private attempt = 0;
  /** While one of several addresses is tried (attemptInTurn): how its attempt ends. */
  private attemptSettle: ((err: Error | null) => void) | undefined;

  /** @internal create with stack.net.createConnection / new stack.net.Socket() */
  constructor(
    private readonly stack: StackInternals,
    options: SocketConstructorOptions = {},
    accepted?: TcpConnection,
  ) {
    const o = options as SocketConstructorOptions & { objectMode?: unknown; readableObjectMode?: unknown; writableObjectMode?: unknown };
    if (o.objectMode) throw invalidArgValue('options.objectMode', o.objectMode, 'is not supported');
    if (o.readableObjectMode || o.writableObjectMode) {
      const key = o.readableObjectMode ? 'readableObjectMode' : 'writableObjectMode';
      throw invalidArgValue(`options.${key}`, o[key], 'is not supported');
    }
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
      decodeStrings: true,
      emitClose: false, // 'close' carries hadError, as node:net's does: emitted from _destroy
      autoDestroy: true,
    });
    // Readable's maybeReadMore: after every push() it schedules a nextTick that calls read(0) until the buffer
    // reaches the high-water mark. This socket pushes whenever data arrives and the stream wants it (wantRead,
    // which _read sets), so that tick never finds anything to do; marking it as already scheduled skips it (about
    // 300 B of garbage and a nextTick per read, bench/udp-alloc.ts --proto tcp --profile). read() still calls
    // _read below the mark, as for any stream.
    (this as unknown as { _readableState: { readingMore: boolean } })._readableState.readingMore = true;
    this.names = new SocketNames(stack.core);
    this.idle = new IdleTimer(stack.clock, () => {
      if (!this.destroyed) this.emit('timeout');
    });
    // node:net's own 'end' listener: without half-open, a write after the peer's FIN and our end fails with EPIPE.
    this.on('end', onReadableStreamEnd);
    if (options.onread !== undefined) this.onread = checkOnRead(options.onread);
    if (options.signal !== undefined) addAbortSignal(options.signal, this);
    stack.track(this);
    if (accepted) this.attach(accepted);
  }

  // ------------------------------------------------------------------------------------------------ node:net surface

  connect(...args: unknown[]): this {
    const [options, cb] = normalizeConnectArgs(args);
    if (options.port === undefined && (options as { path?: unknown }).path == null) throw missingArgs('options', 'port', 'path');
    if (this.write !== Socket.prototype.write) this.write = Socket.prototype.write;
    if (this.conn !== undefined && !this.destroyed) throw nodeError(Error, 'ERR_SOCKET_CONNECTING', 'Socket is already connecting or connected');
    if (this.destroyed) this.reset();
    const host = options.host || 'localhost';
    const { localAddress, localPort } = options;
    const port = validateConnectOptions(options);
    if (typeof cb === 'function') this.once('connect', cb);
    if (options.timeout !== undefined) this.setTimeout(options.timeout);
    if (options.noDelay !== undefined) this.noDelay = options.noDelay;
    if (options.keepAlive) this.keepAlive = { on: true, delay: options.keepAliveInitialDelay ?? 0 };
    const auto = autoSelectOptions(options);
    this.connecting = true;
    this.updateAlive();
    const attempt = ++this.attempt;
    const stale = (): boolean => attempt !== this.attempt;
    const family = net.isIP(host);
    if (family !== 0) {
      process.nextTick(() => {
        if (this.connecting && !stale()) this.connectTo({ address: host, family: family as 4 | 6 }, port, localAddress, localPort);
      });
      return this;
    }
    const lookup = options.lookup ?? (dns.lookup as unknown as LookupFunction);
    lookupForConnect(this, lookup, host, port, dnsOptions(options, auto.enabled), stale, (err, order) => {
      if (err) {
        process.nextTick(() => this.destroy(err)); // as node:net's connectErrorNT
        return;
      }
      // One path per socket: the strategy decides on the first address; the others go that way too if it agrees.
      const route = this.routeAfterLookup;
      if (route?.(order[0]!.address) === 'kernel') {
        this.connectKernel(order[0]!.address, port, localAddress, localPort);
        return;
      }
      const targets = route === undefined ? order : order.filter((a) => route(a.address) !== 'kernel');
      if (targets.length === 1) this.connectTo(targets[0]!, port, localAddress, localPort);
      else this.connectInTurn(targets, port, auto.timeoutMs, localPort);
    });
    return this;
  }

  /** A host name the strategy sends to the kernel: this socket's bytes go over a node:net socket (kernel-leg.ts). */
  private connectKernel(address: string, port: number, localAddress: string | undefined, localPort: number | undefined): void {
    this.names.target = { address, port };
    const leg = new KernelLeg(this, { host: address, port, localAddress, localPort: localPort || undefined });
    this.leg = leg;
    if (!this.refed) leg.sock.unref();
    if (this.noDelay !== undefined) leg.sock.setNoDelay(this.noDelay);
    if (this.keepAlive !== undefined) leg.sock.setKeepAlive(this.keepAlive.on, this.keepAlive.delay);
    // What the stream handed over while the name was being resolved.
    const chunk = this.wqChunk;
    if (chunk !== undefined) {
      const cb = this.wqCb!;
      this.wqChunk = this.wqCb = undefined;
      leg.write(Buffer.from(chunk.subarray(this.wqOff)), cb);
    }
    if (this.finalCb !== undefined) {
      const cb = this.finalCb;
      this.finalCb = undefined;
      leg.end(cb);
    }
    this.updateAlive();
  }

  /** @internal the kernel leg's connection is open */
  legConnected(): void {
    if (this.destroyed || !this.connecting) return;
    this.connecting = false;
    const sock = this.leg!.sock;
    this.names.peer = { address: sock.remoteAddress!, port: sock.remotePort!, family: sock.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4' };
    this.idle.touch();
    this.emit('connect');
    this.emit('ready');
    if (!this.isPaused()) this.read(0);
  }

  /** The second half of connect(), once the host is an address: one attempt, as node:net's internalConnect. */
  private connectTo(to: Address, port: number, localAddress: string | undefined, localPort: number | undefined): void {
    this.emit('connectionAttempt', to.address, port, to.family);
    const err = this.openConn(to, port, localAddress, localPort);
    if (err !== undefined) this.destroy(err);
  }

  /** node:net's internalConnectMultiple (auto-select.ts): each attempt a TCP connection of this socket's own. */
  private connectInTurn(targets: Address[], port: number, timeoutMs: number, localPort: number | undefined): void {
    attemptInTurn<undefined>(this, targets, port, timeoutMs, {
      start: (a, settle) => {
        this.attemptSettle = settle;
        const err = this.openConn(a, port, undefined, localPort);
        if (err !== undefined) {
          this.attemptSettle = undefined;
          settle(err);
        }
        return undefined;
      },
      abandon: () => this.dropConn(),
      won: () => {},
      failed: (agg) => this.destroy(agg),
    });
  }

  /** Connect a TCP connection of the core to `to` and attach it; the error to destroy the socket with, if any. */
  private openConn(to: Address, port: number, localAddress: string | undefined, localPort: number | undefined): Error | undefined {
    const address = to.address;
    this.names.target = { address, port };
    const tcp = this.stack.core.tcp;
    let conn: TcpConnection;
    try {
      if (tcp === undefined) throw new BywayError('ERR_BYPASS_UNSUPPORTED', 'this stack was built without TCP');
      const dst = to.family === 4 ? parseIpv4(address)! : tcpAddressId(this.stack.core, address);
      const localIp = localAddress === undefined ? undefined : ownTcpAddress(this.stack.core, localAddress);
      conn = tcp.connect(this.stack.clock.now(), dst, port, { localIp, localPort: localPort || undefined, noDelay: this.noDelay });
    } catch (err) {
      return this.names.connectError(err, localAddress, localPort);
    }
    this.attach(conn);
    this.stack.poke();
    return undefined;
  }

  /** Give up the connection under way (an attempt that timed out): it closes quietly, the socket stays connecting. */
  private dropConn(): void {
    const conn = this.conn;
    this.conn = undefined;
    this.attemptSettle = undefined;
    this.closeError = undefined;
    this.events = 0;
    if (conn === undefined) return;
    conn.onConnect = conn.onReadable = conn.onWritable = conn.onEnd = undefined;
    conn.onClose = undefined;
    if (conn.state !== 'CLOSED') conn.close(this.stack.clock.now());
    this.stack.poke();
  }

  /** Reconnecting a closed socket (node:net allows it): a fresh stream state and no connection. */
  private reset(): void {
    this.conn = undefined;
    this.names.reset();
    this.wantRead = false;
    this.endPushed = false;
    this.coreClosed = false;
    this.closeError = undefined;
    this.wqChunk = this.wqCb = this.finalCb = undefined;
    this.attemptSettle = undefined;
    this.bytesAccepted = 0;
    this.bytesIn = 0;
    this.stack.track(this);
    (this as unknown as { _undestroy(): void })._undestroy();
  }

  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    this.leg?.sock.setNoDelay(noDelay);
    this.conn?.setNoDelay(noDelay, this.stack.clock.now());
    this.stack.poke();
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAlive = { on: enable, delay: initialDelay };
    this.leg?.sock.setKeepAlive(enable, initialDelay);
    this.applyKeepAlive();
    return this;
  }

  setTimeout(ms: number, callback?: () => void): this {
    if (typeof ms !== 'number') throw invalidArgType('msecs', 'of type number', ms);
    if (!Number.isFinite(ms) || ms < 0) throw outOfRange('msecs', 'a non-negative finite number', ms);
    if (callback !== undefined) validateFunction(callback, 'callback');
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    this.idle.set(ms);
    return this;
  }

  address(): SocketName | Record<string, never> {
    if (this.leg !== undefined) return this.leg.sock.address() as SocketName;
    return this.names.address(this.conn);
  }

  /** @internal accepted by a dual-stack `::` listener: IPv4 addresses as ::ffff:a.b.c.d (before 'connection'). */
  mapIpv4(): void {
    this.names.mapIpv4(this.conn);
  }

  get localAddress(): string | undefined {
    if (this.leg !== undefined) return this.leg.sock.localAddress;
    return this.conn ? this.names.local(this.conn).address : undefined;
  }
  get localPort(): number | undefined {
    if (this.leg !== undefined) return this.leg.sock.localPort;
    return this.conn?.localPort;
  }
  get localFamily(): string | undefined {
    if (this.leg !== undefined) return this.leg.sock.localFamily;
    return this.conn ? this.names.local(this.conn).family : undefined;
  }
  get remoteAddress(): string | undefined {
    return this.names.peer?.address;
  }
  get remotePort(): number | undefined {
    return this.names.peer?.port;
  }
  get remoteFamily(): string | undefined {
    return this.names.peer?.family;
  }
  get bytesRead(): number {
    return this.bytesIn;
  }
  /** Bytes handed to TCP plus those still queued in the stream, each counted once (as node:net's). */
  get bytesWritten(): number {
    return this.bytesAccepted + this.writableLength - (this.wqChunk ? this.wqOff : 0);
  }
  // node:net's internal members that libraries call: node:net's own (above this class in the prototype chain,
  // see the end of this file) read a kernel handle. _writev is byway's own (below), as node:net's is its handle's.
  /** @internal node:net's peer name ({} before connect), as http and tls read it. */
  _getpeername(): SocketName | Record<string, never> {
    return this.names.peername();
  }
  /** @internal node:net's local name. */
  _getsockname(): SocketName | Record<string, never> {
    return this.address();
  }
  /** @internal node:net's activity mark: restart the idle timer (http's parser calls it on every chunk). */
  _unrefTimer(): void {
    if (this.idle.armed) this.idle.touch();
  }
  /** @internal node:net's former name of bytesWritten. */
  get _bytesDispatched(): number {
    return this.bytesWritten;
  }
  /** @internal no kernel handle (node:net code tests it before using one). */
  get _handle(): null {
    return null;
  }
  /**
   * A 'connect' listener added once the connection is up runs in the next tick. node:net never does this: a
   * connected node:net Socket has a kernel handle, and node:tls takes a handle-less one (byway's, now that it is
   * `instanceof net.Socket`) for one still connecting and waits for its 'connect' before the handshake
   * (TLSSocket's _init); without it, TLS over an accepted or connected byway socket would wait forever.
   */
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener);
    if (event === 'connect' && this.names.peer !== undefined && !this.connecting && !this.destroyed) {
      process.nextTick(() => {
        if (this.rawListeners('connect').includes(listener)) listener.call(this); // still there (a once() wrapper removes itself)
      });
    }
    return this;
  }
  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return this.on(event, listener);
  }

  /** node:net's bufferSize: what the stream still holds, once connect() was called. */
  get bufferSize(): number | undefined {
    return this.conn !== undefined || this.connecting ? this.writableLength : undefined;
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

  /** Close with a RST (SO_LINGER 0), once connected if still connecting; without a connection, ERR_SOCKET_CLOSED. */
  resetAndDestroy(): this {
    if (this.connecting) {
      this.once('connect', () => this.resetNow());
    } else if (this.conn !== undefined) {
      this.resetNow();
    } else {
      this.destroy(nodeError(Error, 'ERR_SOCKET_CLOSED', 'Socket is closed'));
    }
    return this;
  }

  private resetNow(): this {
    if (this.conn && !this.destroyed) this.conn.abort(this.stack.clock.now());
    this.stack.poke();
    return this.destroy();
  }

  ref(): this {
    this.refed = true;
    this.leg?.sock.ref();
    this.updateAlive();
    return this;
  }

  unref(): this {
    this.refed = false;
    this.leg?.sock.unref();
    this.updateAlive();
    return this;
  }

  /**
   * @internal What keeps the process alive is what keeps a node:net handle active: connecting, reading (the
   * stream asked for data and the peer has not ended), or writing (bytes or a FIN still waiting for TCP).
   */
  get keepsAlive(): boolean {
    if (!this.refed || this.leg !== undefined) return false; // a kernel leg keeps the loop itself
    const active = this.connecting || (this.conn !== undefined && ((this.wantRead && !this.endPushed) || this.wqChunk !== undefined || this.finalCb !== undefined));
    // `destroyed` (the stream's getter, through both states) last: updateAlive runs on every write and event.
    return active && !this.destroyed;
  }

  private updateAlive(): void {
    // The steady state of a connection (alive, reading, not ended): nothing to change, and the stream's `destroyed`
    // getter (two states deep) is not read on every event; a socket being destroyed is marked not alive by _destroy.
    if (this.alive && this.wantRead && !this.endPushed && this.conn !== undefined && this.refed && this.leg === undefined) return;
    const alive = this.keepsAlive;
    if (alive !== this.alive) {
      this.alive = alive;
      this.stack.refChanged(this);
    }
  }

  /** @internal */
  destroyForStackClose(): void {
    if (!this.destroyed) this.destroy();
  }

  // ------------------------------------------------------------------------------------------------ stream plumbing

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.leg !== undefined) {
      this.leg.write(chunk, cb);
      return;
    }
    this.wqChunk = chunk;
    this.wqOff = 0;
    this.wqCb = cb;
    if (this.conn !== undefined) this.flushWrites();
    // A chunk TCP took whole leaves the socket as it found it (what keeps it alive did not change): only one still
    // waiting for room can change it. Most writes are taken whole. (A write that failed destroys the socket, in a
    // later tick, and _destroy lets go of it: the stream's two-state `destroyed` getter is not read per write.)
    if (this.wqChunk !== undefined) this.updateAlive();
  }

  /**
   * What the stream buffered while corked (or while a write waited for room) goes to TCP as one write, as node:net's
   * writev does: node:http corks every response and ends it with an empty write, and two trips through _write and
   * the stream's onwrite were one more per request. Empty chunks are skipped; several non-empty ones are joined
   * (one copy; they are copied into TCP's send buffer anyway, this is one more).
   */
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    let data: Buffer | undefined;
    let many = false;
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!.chunk;
      if (c.length === 0) continue;
      if (data !== undefined) many = true;
      data = c;
    }
    if (many) data = Buffer.concat(chunks.map((c) => c.chunk));
    this._write(data ?? chunks[0]!.chunk, 'latin1', cb); // _write reads no encoding: the chunks are Buffers
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.leg !== undefined) {
      this.leg.end(cb);
      return;
    }
    if (this.conn === undefined && !this.connecting) {
      // end() before connect(): Node finishes at once.
      cb();
      return;
    }
    this.finalCb = cb;
    this.flushWrites();
    this.updateAlive();
  }

  override _read(): void {
    if (this.leg !== undefined) {
      this.leg.read();
      return;
    }
    this.wantRead = true;
    if (this.conn !== undefined) this.pump();
    this.updateAlive();
  }

  /** With onread, pausing stops reading from TCP (as node:net's readStop); resuming starts it again. */
  override pause(): this {
    if (this.onread !== undefined && !this.connecting && this.conn !== undefined) {
      this.wantRead = false;
      this.updateAlive();
    }
    return super.pause();
  }

  override resume(): this {
    if (this.onread !== undefined && !this.connecting && this.conn !== undefined && !this.wantRead) {
      this.wantRead = true;
      this.pump();
      this.updateAlive();
    }
    return super.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.idle.clear();
    this.events = 0; // what the core noted before is not handled (handleEvents)
    this.connecting = false;
    this.leg?.destroy();
    const conn = this.conn;
    if (conn !== undefined) {
      conn.onConnect = conn.onReadable = conn.onWritable = conn.onEnd = undefined;
      conn.onClose = undefined;
      if (conn.state !== 'CLOSED') conn.close(this.stack.clock.now());
      this.stack.poke();
    }
    this.alive = false;
    this.stack.untrack(this);
    cb(err);
    // node:net emits 'close' from the handle's close callback, a later turn of the event loop than 'error'.
    setImmediate(() => this.emit('close', err != null));
  }

  // ------------------------------------------------------------------------------------------------ core events

  private attach(conn: TcpConnection): void {
    this.conn = conn;
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
      this.names.connected(conn);
      this.applyOptions();
    }
    if (this.wqChunk || this.finalCb) this.flushWrites();
    if (this.wantRead) this.pump();
  }

  private closeError: SystemErrorCode | undefined;
  private coreClosed = false;

  /** @internal the events the core noted, handled after the poll that noted them (see defer.ts) */
  runDeferred(): void {
    this.handleEvents();
  }

  private readonly handleEvents = (): void => {
    this.scheduled = false;
    const ev = this.events;
    this.events = 0;
    // None: destroyed since the events were noted (_destroy clears them, and no callback of the core notes more).
    if (ev === 0) return;
    if (ev & EV_CONNECT && this.connecting) {
      const settle = this.attemptSettle;
      this.attemptSettle = undefined;
      settle?.(null);
      this.connecting = false;
      const conn = this.conn!;
      this.names.connected(conn);
      this.applyOptions();
      this.idle.touch();
      // As node:net's afterConnect: start reading unless paused (onread reads from the start).
      if (this.onread !== undefined) this.wantRead = !this.isPaused();
      this.emit('connect');
      this.emit('ready');
      if (this.finalCb !== undefined) this.flushWrites();
      if (this.onread === undefined && !this.isPaused() && !this.destroyed) this.read(0);
    }
    if (ev & EV_WRITE) this.flushWrites();
    if (ev & EV_READ) this.pump();
    if (ev & EV_CLOSE) this.onCoreClosed();
    this.updateAlive();
  };

  private onCoreClosed(): void {
    if (this.destroyed) return;
    const code = this.closeError;
    if (code !== undefined) {
      const wasConnecting = this.connecting;
      const target = this.names.target;
      const err = wasConnecting ? systemError(code, 'connect', target?.address, target?.port) : undefined;
      const settle = this.attemptSettle;
      if (settle !== undefined && err !== undefined) {
        this.dropConn(); // one of several attempts failed: the next one goes on (attemptInTurn)
        settle(err);
        return;
      }
      if (err !== undefined) this.emit('connectionAttemptFailed', target!.address, target!.port, net.isIP(target!.address), err);
      this.destroy(err ?? systemError(code, 'read'));
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
        cb(systemError(systemCodeIn(err) ?? 'EPIPE', 'write'));
        return;
      }
      this.wqOff = off + n;
      this.bytesAccepted += n;
      if (n > 0) {
        this.idle.touch();
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
    if (this.onread !== undefined) {
      this.pumpOnread(conn, this.onread);
      return;
    }
    while (this.wantRead) {
      if (conn.readableLength === 0) break;
      // The receive queue's bytes themselves (copied once, from the frame): a view the stream now owns, made a
      // Buffer without a copy (the queue's slabs are Buffers, the stack's allocBytes).
      const v = conn.readView(this.stack.clock.now(), 65536);
      const n = v.length;
      if (n === 0) break;
      this.bytesIn += n;
      this.idle.touch();
      this.stack.poke(); // a window update may be due
      this.wantRead = this.push(Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, n));
    }
    if ((conn.readableEnded || (this.coreClosed && conn.readableLength === 0)) && !this.endPushed) {
      this.endPushed = true;
      this.push(null);
      this.read(0); // like node:net: 'end' is emitted even if nobody is reading, once the buffer is empty
    }
  }

  /**
   * onread: each read goes into the user's buffer (or one its function hands out, asked before every read as libuv
   * asks for one, the read that finds the end included) and to the callback; a callback returning false pauses.
   */
  private pumpOnread(conn: TcpConnection, onread: OnRead): void {
    while (this.wantRead && !this.destroyed) {
      const ended = conn.readableEnded || (this.coreClosed && conn.readableLength === 0);
      if (conn.readableLength === 0 && !ended) break;
      const buf = bufferFor(onread);
      if (conn.readableLength === 0) break;
      const n = conn.read(this.stack.clock.now(), buf);
      if (n === 0) break;
      this.bytesIn += n;
      this.idle.touch();
      this.stack.poke();
      if (onread.callback.call(this, n, buf) === false) this.wantRead = false;
    }
    if ((conn.readableEnded || (this.coreClosed && conn.readableLength === 0)) && conn.readableLength === 0 && !this.endPushed && this.wantRead) {
      this.endPushed = true;
      this.push(null);
      this.read(0);
    }
  }
}

// byway's sockets are instances of node:net's Socket, as programs and libraries check (`instanceof net.Socket`):
// node:net's prototype goes between this class and stream.Duplex. Its members that this class does not define
// and that would reach a kernel handle are defined above (_getpeername, _unrefTimer...), or taken back here.
Object.setPrototypeOf(Socket.prototype, net.Socket.prototype);
// node:net's socket has no parent unless a TLS socket wraps it: its _unrefTimer walks `_parent` up to null.
Object.defineProperty(Socket.prototype, '_parent', { value: null, writable: true, configurable: true });

const EV_CONNECT = 1;
const EV_READ = 2;
const EV_WRITE = 4;
const EV_CLOSE = 8;

/** node:net's 'end' listener: without allowHalfOpen, writes after the peer's FIN fail (see writeAfterFIN). */
function onReadableStreamEnd(this: Socket): void {
  if (!this.allowHalfOpen) this.write = writeAfterFIN as Socket['write'];
}

/** A write once the peer has ended: allowed until our own end(), then EPIPE as node:net words it. */
function writeAfterFIN(this: Socket, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (!this.writableEnded) return (Duplex.prototype.write as (...a: unknown[]) => boolean).call(this, chunk, encoding, cb);
  if (typeof encoding === 'function') cb = encoding;
  const err = Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' });
  if (typeof cb === 'function') process.nextTick(cb as (e: Error) => void, err);
  this.destroy(err);
  return false;
}
