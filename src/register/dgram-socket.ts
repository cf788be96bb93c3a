/**
 * The dgram socket the preload hands out. node:dgram decides nothing at createSocket(): the flow (local port, or
 * the peer) is known only at the first bind(), connect() or send(). So this socket asks the strategy then, makes
 * the real one (a node:dgram socket for 'kernel', byway's for 'bypass') and forwards calls and events to it;
 * `path` is undefined until then. Calls that need a bound socket before that throw as node:dgram does.
 */
import { EventEmitter } from 'node:events';
import type dgram from 'node:dgram';
import { BywayError } from '../../protocols/util/errors.js';
import type { Flow, Path } from '../api/path.js';

type Inner = EventEmitter & { readonly path: Path } & Record<string, unknown>;

export interface DgramHooks {
  decide(flow: Flow): Path;
  /** Make the socket on the path decided (counted by the caller). */
  make(path: Path, options: dgram.SocketOptions, flow: Flow): Inner;
}

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
    const address = typeof rest[0] === 'string' ? rest[0] : undefined;
    const inner = this.resolve({ protocol: 'udp', direction: 'outbound', remotePort: Number(port), remoteAddress: address ?? '127.0.0.1' });
    (inner['connect'] as (...a: unknown[]) => unknown).call(inner, port, ...rest);
  }

  send(msg: unknown, ...rest: unknown[]): void {
    if (this.inner === undefined) {
      // send(msg[, offset, length], port[, address][, cb]): port is the first of the rest that is followed by no
      // length, i.e. the 1st (no offset/length) or the 3rd.
      const withOffset = typeof rest[0] === 'number' && typeof rest[1] === 'number' && (typeof rest[2] === 'number' || typeof rest[2] === 'string');
      const port = withOffset ? rest[2] : rest[0];
      const address = withOffset ? rest[3] : rest[1];
      this.resolve({
        protocol: 'udp',
        direction: 'outbound',
        remotePort: Number(port),
        remoteAddress: typeof address === 'string' ? (address === 'localhost' ? '127.0.0.1' : address) : '127.0.0.1',
      });
    }
    (this.inner!['send'] as (...a: unknown[]) => unknown).call(this.inner, msg, ...rest);
  }

  close(cb?: () => void): this {
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
