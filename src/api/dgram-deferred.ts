/**
 * A datagram socket whose path is decided at its first bind(), connect() or send(), on the address it binds,
 * connects or sends to. node:dgram decides nothing at createSocket(): the flow (the local port, or the peer) is
 * known only then. So this socket asks the strategy then, makes the real one (a node:dgram socket for 'kernel',
 * byway's for 'bypass') and forwards calls and events to it; `path` is undefined until then. Used by
 * `stack.dgram.createSocket` when the strategy depends on the flow, and by the preload for every socket.
 *
 * A host name given to that first bind(), connect() or send() is resolved first (the socket's `lookup` option,
 * default dns.lookup; IPv4 for udp4, IPv6 for udp6) and the strategy asked with the address, which the real
 * socket is then given (one lookup: the path and the datagram go to the same address); calls made meanwhile wait
 * their turn. A failed lookup decides without an address and hands the name on, so the real socket fails as
 * node:dgram does. The socket keeps its one path (one local port): a later datagram to an address the strategy
 * gives to the other path still takes it, and is reported (`otherPath`: counted, never silent).
 *
 * Before the decision the socket answers as an unbound node:dgram socket: `address()` EBADF, `remoteAddress()`
 * ERR_SOCKET_DGRAM_NOT_CONNECTED, options EBADF, queues empty; after close(), ERR_SOCKET_DGRAM_NOT_RUNNING.
 */
import { EventEmitter } from 'node:events';
import dns from 'node:dns';
import net from 'node:net';
import type { Flow, Path } from './path.js';
import { resolveHost, type LookupFunction } from './lookup.js';
import { invalidArgType, nodeError, validatePort } from './errors.js';
import { systemError } from './system-error.js';

type Inner = EventEmitter & { readonly path: Path } & Record<string, unknown>;

/** What the socket was made with: node:dgram's options (type, lookup, buffer sizes...). */
export type DeferredOptions = { type: 'udp4' | 'udp6'; lookup?: LookupFunction; signal?: AbortSignal } & Record<string, unknown>;

export interface DgramHooks {
  decide(flow: Flow): Path;
  /** Make the socket on the path decided (counted by the caller). May throw (a path that cannot serve). */
  make(path: Path, options: DeferredOptions, flow: Flow): Inner;
  /** A datagram to an address the rules give to the other path than the socket's (it takes the socket's). */
  otherPath(flow: Flow, path: Path): void;
}

/** The destination of send(msg[, offset, length], port[, address][, cb]): the index of its address argument. */
function sendAddressIndex(rest: readonly unknown[]): number {
  // port is the first of the rest that is followed by no length, i.e. the 1st (no offset/length) or the 3rd.
  const withOffset = typeof rest[0] === 'number' && typeof rest[1] === 'number' && (typeof rest[2] === 'number' || typeof rest[2] === 'string');
  return withOffset ? 3 : 1;
}

/** An address to look up first: a name, 'localhost' included (an empty one is the loopback address itself). */
const isName = (host: unknown): host is string => typeof host === 'string' && host !== '' && net.isIP(host) === 0;

/** Calls that need the real socket; before it exists they fail as on an unbound node:dgram socket. */
const FORWARDED = [
  'address', 'remoteAddress', 'disconnect', 'setBroadcast', 'setTTL', 'setMulticastTTL', 'setMulticastLoopback',
  'setMulticastInterface', 'addMembership', 'dropMembership', 'addSourceSpecificMembership',
  'dropSourceSpecificMembership', 'setRecvBufferSize', 'setSendBufferSize', 'getRecvBufferSize',
  'getSendBufferSize', 'getSendQueueSize', 'getSendQueueCount',
] as const;

type AddressInfo = { address: string; family: string; port: number };

export interface DeferredDgramSocket {
  address(): AddressInfo;
  remoteAddress(): AddressInfo;
  disconnect(): void;
  setBroadcast(flag: boolean): void;
  setTTL(ttl: number): number;
  setMulticastTTL(ttl: number): number;
  setMulticastLoopback(flag: boolean): boolean;
  setMulticastInterface(iface: string): void;
  addMembership(group: string, iface?: string): void;
  dropMembership(group: string, iface?: string): void;
  addSourceSpecificMembership(source: string, group: string, iface?: string): void;
  dropSourceSpecificMembership(source: string, group: string, iface?: string): void;
  setRecvBufferSize(size: number): void;
  setSendBufferSize(size: number): void;
  getRecvBufferSize(): number;
  getSendBufferSize(): number;
  getSendQueueSize(): number;
  getSendQueueCount(): number;
}

export class DeferredDgramSocket extends EventEmitter {
  readonly type: 'udp4' | 'udp6';
  private inner: Inner | undefined;
  private refed = true;
  private closed = false;
  /** Calls made while the first address's name is being resolved, in order. */
  private waiting: Array<() => void> | undefined;

  constructor(
    private readonly hooks: DgramHooks,
    private readonly options: DeferredOptions,
  ) {
    super();
    this.type = options.type;
    for (const name of FORWARDED) {
      (this as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        const inner = this.inner;
        if (inner === undefined) return this.unbound(name, args);
        return (inner[name] as (...a: unknown[]) => unknown).apply(inner, args);
      };
    }
    const signal = options.signal;
    if (signal !== undefined) {
      // As node:dgram: an aborted signal closes the socket at once; a later abort closes it if still open.
      const onAbort = (): void => {
        if (!this.closed) this.close();
      };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
  }

  /** The path taken, once the first bind/connect/send decided it. */
  get path(): Path | undefined {
    return this.inner?.path;
  }

  bind(...args: unknown[]): this {
    this.assertRunning();
    if (this.waiting !== undefined) {
      this.waiting.push(() => this.bind(...args));
      return this;
    }
    let port: number | undefined;
    let address: unknown;
    const objectForm = typeof args[0] === 'object' && args[0] !== null;
    if (objectForm) {
      const o = args[0] as { port?: number; address?: string };
      port = o.port;
      address = o.address;
    } else {
      if (typeof args[0] === 'number' || typeof args[0] === 'string') port = Number(args[0]);
      address = args[1];
    }
    if (this.inner === undefined && isName(address)) {
      if (port !== undefined && port !== 0) validatePort(port, 'Port', true);
      this.afterLookup(address, { protocol: 'udp', direction: 'inbound', localPort: port || undefined }, (a) => {
        const again = [...args];
        if (objectForm) again[0] = { ...(args[0] as object), address: a };
        else again[1] = a;
        this.bind(...again);
      });
      return this;
    }
    const local = typeof address === 'string' && address !== '' ? address : undefined;
    const inner = this.resolve({ protocol: 'udp', direction: 'inbound', localPort: port || undefined, localAddress: local });
    (inner['bind'] as (...a: unknown[]) => unknown).apply(inner, args);
    return this;
  }

  connect(port: unknown, ...rest: unknown[]): void {
    if (this.waiting !== undefined) {
      this.waiting.push(() => this.connect(port, ...rest));
      return;
    }
    if (this.inner === undefined && isName(rest[0])) {
      validatePort(port, 'Port', false);
      this.afterLookup(rest[0], { protocol: 'udp', direction: 'outbound', remotePort: Number(port) }, (address) => this.connect(port, address, ...rest.slice(1)));
      return;
    }
    const address = typeof rest[0] === 'string' && rest[0] !== '' ? rest[0] : this.loopback();
    const inner = this.resolve({ protocol: 'udp', direction: 'outbound', remotePort: Number(port), remoteAddress: address });
    (inner['connect'] as (...a: unknown[]) => unknown).call(inner, port, ...rest);
  }

  send(msg: unknown, ...rest: unknown[]): void {
    if (this.waiting !== undefined) {
      this.waiting.push(() => this.send(msg, ...rest));
      return;
    }
    const at = sendAddressIndex(rest);
    const given = rest[at];
    if (this.inner === undefined && isName(given)) {
      // What node:dgram checks before its lookup throws now, not from the lookup's callback.
      if (typeof msg !== 'string' && !ArrayBuffer.isView(msg) && !Array.isArray(msg)) {
        throw invalidArgType('buffer', 'of type string or an instance of Buffer, TypedArray, or DataView', msg);
      }
      validatePort(rest[at - 1], 'Port', false);
      this.afterLookup(given, { protocol: 'udp', direction: 'outbound', remotePort: Number(rest[at - 1]) }, (address) => {
        const args = [...rest];
        args[at] = address;
        this.send(msg, ...args);
      });
      return;
    }
    const flow: Flow = {
      protocol: 'udp',
      direction: 'outbound',
      remotePort: Number(rest[at - 1]),
      remoteAddress: typeof given === 'string' && given !== '' ? given : this.loopback(),
    };
    if (this.inner === undefined) this.resolve(flow);
    else if (typeof given === 'string' && !isName(given) && this.hooks.decide(flow) !== this.inner.path) this.hooks.otherPath(flow, this.inner.path);
    (this.inner!['send'] as (...a: unknown[]) => unknown).call(this.inner, msg, ...rest);
  }

  close(cb?: () => void): this {
    if (this.waiting !== undefined) {
      this.waiting.push(() => this.close(cb));
      return this;
    }
    if (this.inner !== undefined) {
      this.closed = true;
      (this.inner['close'] as (cb?: () => void) => unknown).call(this.inner, cb);
      return this;
    }
    this.assertRunning();
    this.closed = true;
    if (typeof cb === 'function') this.once('close', cb);
    process.nextTick(() => this.emit('close'));
    return this;
  }

  ref(): this {
    this.refed = true;
    (this.inner?.['ref'] as (() => void) | undefined)?.call(this.inner);
    return this;
  }

  unref(): this {
    this.refed = false;
    (this.inner?.['unref'] as (() => void) | undefined)?.call(this.inner);
    return this;
  }

  private loopback(): string {
    return this.type === 'udp6' ? '::1' : '127.0.0.1';
  }

  /** A forwarded call before the socket exists: what an unbound node:dgram socket answers. */
  private unbound(name: (typeof FORWARDED)[number], args: unknown[]): unknown {
    this.assertRunning();
    switch (name) {
      case 'getSendQueueSize':
      case 'getSendQueueCount':
        return 0;
      case 'remoteAddress':
      case 'disconnect':
        throw nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
      case 'address':
        throw systemError('EBADF', 'getsockname');
      case 'setTTL':
      case 'setMulticastTTL':
        if (typeof args[0] !== 'number') throw invalidArgType('ttl', 'of type number', args[0]);
        throw systemError('EBADF', name);
      default:
        throw systemError('EBADF', name);
    }
  }

  private assertRunning(): void {
    if (this.closed) throw nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
  }

  /**
   * Resolve the first address's name, then `then(address)`, with calls made meanwhile after it. On a failed
   * lookup the strategy decides without an address and the name goes on to the real socket, which fails as
   * node:dgram does (the lookup is asked again there).
   */
  private afterLookup(host: string, flow: Flow, then: (address: string) => void): void {
    const waiting: Array<() => void> = [];
    this.waiting = waiting;
    const lookup = this.options.lookup ?? (dns.lookup as unknown as LookupFunction);
    const done = (err: Error | null, address: string): void => {
      this.waiting = undefined;
      if (this.closed) return;
      if (err) this.resolve(flow);
      then(err ? host : address);
      for (const call of waiting) call();
    };
    if (this.type === 'udp6') lookup(host, { family: 6, all: false }, (err, address) => done(err, String(address)));
    else resolveHost(lookup, host, {}, (err, _ip, address) => done(err, address));
  }

  private resolve(flow: Flow): Inner {
    if (this.inner !== undefined) return this.inner;
    this.assertRunning();
    const path = this.hooks.decide(flow);
    const { signal: _s, ...options } = this.options;
    const inner = this.hooks.make(path, options as DeferredOptions, flow);
    // Every event of the real socket is this socket's too (the user's listeners live here); the real socket's own
    // listeners (node:dgram queues sends on its own 'listening') still run first. An 'error' nobody listens to
    // throws from here, as it would from the real socket.
    const own = inner.emit;
    // With onmessage (dgram-onmessage.ts) datagrams go to its callback, never to 'message' listeners.
    const quiet = this.options['onmessage'] !== undefined;
    inner.emit = ((event: string | symbol, ...a: unknown[]) => {
      const handled = event === 'error' && inner.listenerCount('error') === 0 ? false : own.call(inner, event, ...a);
      if (event === 'message' && quiet) return handled;
      if (event === 'close') this.closed = true;
      return this.emit(event, ...a) || handled;
    }) as typeof inner.emit;
    if (!this.refed) (inner['unref'] as () => void).call(inner);
    this.inner = inner;
    return inner;
  }
}
