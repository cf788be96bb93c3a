/**
 * The dgram socket the preload hands out. node:dgram decides nothing at createSocket(): the flow (local port, or
 * the peer) is known only at the first bind(), connect() or send(). So this socket asks the strategy then, makes
 * the real one (a node:dgram socket for 'kernel', byway's for 'bypass') and forwards calls and events to it;
 * `path` is undefined until then. Calls that need a bound socket before that throw as node:dgram does.
 *
 * A host name given to that first connect() or send() is resolved first (the socket's `lookup` option, default
 * dns.lookup, IPv4) and the strategy asked with the address, which the real socket is then given (one lookup:
 * the path and the datagram go to the same address); calls made meanwhile wait their turn. A failed lookup
 * decides without an address and hands the name on, so the real socket fails as node:dgram does. The socket
 * keeps its one path (one local port): a later datagram to an address the rules give to the other path still
 * takes it, and is counted (`otherPath`).
 */
import { EventEmitter } from 'node:events';
import dns from 'node:dns';
import net from 'node:net';
import type dgram from 'node:dgram';
import { BywayError } from '../../protocols/util/errors.js';
import type { Flow, Path } from '../api/path.js';
import { resolveHost, type LookupFunction } from '../api/lookup.js';

type Inner = EventEmitter & { readonly path: Path } & Record<string, unknown>;

export interface DgramHooks {
  decide(flow: Flow): Path;
  /** Make the socket on the path decided (counted by the caller). */
  make(path: Path, options: dgram.SocketOptions, flow: Flow): Inner;
  /** A datagram to an address the rules give to the other path than the socket's (it takes the socket's). */
  otherPath(flow: Flow, path: Path): void;
}

/** The destination of send(msg[, offset, length], port[, address][, cb]): the index of its address argument. */
function sendAddressIndex(rest: readonly unknown[]): number {
  // port is the first of the rest that is followed by no length, i.e. the 1st (no offset/length) or the 3rd.
  const withOffset = typeof rest[0] === 'number' && typeof rest[1] === 'number' && (typeof rest[2] === 'number' || typeof rest[2] === 'string');
  return withOffset ? 3 : 1;
}

const isName = (host: unknown): host is string => typeof host === 'string' && host !== 'localhost' && net.isIP(host) === 0;

const FORWARDED = [
  'address', 'remoteAddress', 'disconnect', 'setBroadcast', 'setTTL', 'setMulticastTTL', 'setMulticastLoopback',
  'setMulticastInterface', 'addMembership', 'dropMembership', 'addSourceSpecificMembership',
  'dropSourceSpecificMembership', 'setRecvBufferSize', 'setSendBufferSize', 'getRecvBufferSize',
  'getSendBufferSize', 'getSendQueueSize', 'getSendQueueCount',
] as const;

export class DeferredDgramSocket extends EventEmitter {
  private inner: Inner | undefined;
  private refed = true;
  private closed = false;
  /** Calls made while the first destination's name is being resolved, in order. */
  private waiting: Array<() => void> | undefined;

  constructor(
    private readonly hooks: DgramHooks,
    private readonly options: dgram.SocketOptions,
  ) {
    super();
    for (const name of FORWARDED) {
      (this as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        const inner = this.inner;
        if (inner === undefined) {
          if (name === 'address' || name === 'remoteAddress') throw new BywayError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
          throw new BywayError('EBADF', `${name} EBADF`);
        }
        return (inner[name] as (...a: unknown[]) => unknown).apply(inner, args);
      };
    }
  }

  /** The path taken, once the first bind/connect/send decided it. */
  get path(): Path | undefined {
    return this.inner?.path;
  }

  bind(...args: unknown[]): this {
    if (this.waiting !== undefined) {
      this.waiting.push(() => this.bind(...args));
      return this;
    }
    let port: number | undefined;
    let address: string | undefined;
    if (typeof args[0] === 'object' && args[0] !== null) {
      const o = args[0] as { port?: number; address?: string };
      port = o.port;
      address = o.address;
    } else {
      if (typeof args[0] === 'number' || typeof args[0] === 'string') port = Number(args[0]);
      if (typeof args[1] === 'string') address = args[1];
    }
    const inner = this.resolve({ protocol: 'udp', direction: 'inbound', localPort: port || undefined, localAddress: address });
    (inner['bind'] as (...a: unknown[]) => unknown).apply(inner, args);
    return this;
  }

  connect(port: number, ...rest: unknown[]): void {
    if (this.waiting !== undefined) {
      this.waiting.push(() => this.connect(port, ...rest));
      return;
    }
    if (this.inner === undefined && isName(rest[0])) {
      this.afterLookup(rest[0], port, (address) => this.connect(port, address, ...rest.slice(1)));
      return;
    }
    const address = typeof rest[0] === 'string' && rest[0] !== 'localhost' ? rest[0] : '127.0.0.1';
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
      this.afterLookup(given, rest[at - 1], (address) => {
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
      remoteAddress: typeof given === 'string' && given !== 'localhost' ? given : '127.0.0.1',
    };
    if (this.inner === undefined) this.resolve(flow);
    else if (typeof given === 'string' && !isName(given) && this.hooks.decide(flow) !== this.inner.path) this.hooks.otherPath(flow, this.inner.path);
    (this.inner!['send'] as (...a: unknown[]) => unknown).call(this.inner, msg, ...rest);
  }

  /**
   * Resolve the first destination's name, then `then(address)`, with calls made meanwhile after it. On a failed
   * lookup the strategy decides without an address and the name goes on to the real socket, which fails as
   * node:dgram does (the lookup is asked again there).
   */
  private afterLookup(host: string, port: unknown, then: (address: string) => void): void {
    const waiting: Array<() => void> = [];
    this.waiting = waiting;
    const lookup = ((this.options as { lookup?: LookupFunction }).lookup ?? dns.lookup) as LookupFunction;
    resolveHost(lookup, host, {}, (err, _ip, address) => {
      this.waiting = undefined;
      if (err) this.resolve({ protocol: 'udp', direction: 'outbound', remotePort: Number(port) });
      then(err ? host : address);
      for (const call of waiting) call();
    });
  }

  close(cb?: () => void): this {
    if (this.waiting !== undefined) {
      this.waiting.push(() => this.close(cb));
      return this;
    }
    if (this.inner !== undefined) {
      (this.inner['close'] as (cb?: () => void) => unknown).call(this.inner, cb);
      return this;
    }
    if (this.closed) throw new BywayError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    this.closed = true;
    if (cb) this.once('close', cb);
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

  private resolve(flow: Flow): Inner {
    if (this.inner !== undefined) return this.inner;
    if (this.closed) throw new BywayError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    const path = this.hooks.decide(flow);
    const inner = this.hooks.make(path, this.options, flow);
    // Every event of the real socket is this socket's too (the user's listeners live here); the real socket's own
    // listeners (node:dgram queues sends on its own 'listening') still run first. An 'error' nobody listens to
    // throws from here, as it would from the real socket.
    const own = inner.emit;
    inner.emit = ((event: string | symbol, ...a: unknown[]) => {
      const handled = event === 'error' && inner.listenerCount('error') === 0 ? false : own.call(inner, event, ...a);
      return this.emit(event, ...a) || handled;
    }) as typeof inner.emit;
    if (!this.refed) (inner['unref'] as () => void).call(inner);
    this.inner = inner;
    return inner;
  }
}
