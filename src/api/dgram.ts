/**
 * `stack.dgram`, shaped like node:dgram. `createSocket` asks the path strategy: on 'kernel' it returns a genuine
 * node:dgram Socket; on 'bypass' a byway `Socket` with the same surface, on byway's UDP core. Both carry `path`.
 * When the strategy depends on the flow (a function or rules) and no `path` or `flow` option is given, the
 * decision waits for the first bind, connect or send, on the address resolved (dgram-deferred.ts).
 *
 * Misuse throws what node:dgram throws (errors.ts); arguments are told apart as lib/dgram.js does. Addresses may
 * be host names, resolved with the `lookup` option (default dns.lookup); an omitted one is 127.0.0.1, the stack's
 * loopback, as Node's. Sends and a connect on a socket not yet bound wait for the bind (`queue`), as Node's.
 * A 'udp6' socket (on a stack with IPv6) binds '::' by default and, unless `ipv6Only`, is dual-stack as Node's on
 * Linux: it receives IPv4 too, shown as ::ffff:a.b.c.d, and sends to such addresses over IPv4. Zone ids in
 * link-local literals are accepted and ignored (a stack has one interface). Multicast (dgram-multicast.ts): IPv4
 * groups with IGMP on both families, IPv6 groups with MLD, any-source or source-specific. Differences from
 * node:dgram on the bypass path (also in docs/api.md): IPv6 multicast sends are not looped back to our own
 * sockets (IPv4 ones are); a 'udp6' socket on a stack without IPv6 throws ERR_BYPASS_UNSUPPORTED. Received messages are Buffers copied out of the frame (the frame's memory is the driver's).
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import dns from 'node:dns';
import { executionAsyncId } from 'node:async_hooks';
import { BywayError } from '../../protocols/util/errors.js';
import { copyRange } from '../../protocols/util/bytes.js';
import { formatIpv4, parseIpv4 } from '../../protocols/ipv4/address.js';
import { formatIpv6, ipv6Equals, mappedIpv4, parseIpv6WithZone } from '../../protocols/ipv6/address.js';
import type { UdpSocket } from '../stack/udp.js';
import { SendQueue, type SendCallback } from './send-queue.js';
import type { Deferred } from './defer.js';
import { systemCodeIn, systemError } from './system-error.js';
import { invalidArgType, nodeError, validateAbortSignal, validatePort } from './errors.js';
import { resolveHost, resolveHost6, type LookupFunction } from './lookup.js';
import type { Flow, Path } from './path.js';
import type { StackInternals } from './internals.js';
import { DeferredDgramSocket, type DeferredOptions } from './dgram-deferred.js';
import { DgramMulticast } from './dgram-multicast.js';
import { MessageInto, attachKernel, checkOnMessage, type OnMessage } from './dgram-onmessage.js';

export interface SocketOptions {
  type: 'udp4' | 'udp6';
  /** udp6: receive IPv6 only (IPV6_V6ONLY), as node:dgram's option. */
  ipv6Only?: boolean;
  reuseAddr?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Force the path for this socket instead of asking the strategy. */
  path?: Path;
  /** What the strategy is told about the flow (the port it will bind, the peer it will talk to). */
  flow?: Partial<Omit<Flow, 'protocol'>>;
  signal?: AbortSignal;
  /** Host name resolution, as node:dgram's option (default dns.lookup). */
  lookup?: LookupFunction;
  /**
   * byway's option (as node:net's onread for streams): each datagram is copied into `buffer` and given to
   * `callback(nread, buffer, rinfo)` with a reused rinfo, instead of a 'message' event (dgram-onmessage.ts).
   */
  onmessage?: OnMessage;
}

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

type MessageListener = (msg: Buffer, rinfo: RemoteInfo) => void;

/** A node:dgram Socket on the kernel path, marked with its path. */
export type KernelDgramSocket = dgram.Socket & { readonly path: 'kernel' };

export class Socket extends EventEmitter implements Deferred {
  readonly path = 'bypass' as const;
  readonly type: 'udp4' | 'udp6';
  private readonly core: UdpSocket;
  private state: 'unbound' | 'binding' | 'bound' | 'closed' = 'unbound';
  private connectState: 'none' | 'connecting' | 'connected' = 'none';
  private refed = true;
  private pendingError: Error | undefined;
  /** Work waiting for the socket to be bound (node:dgram's state.queue): sends, a connect, a close. */
  private queue: (() => void)[] | undefined;
  private readonly lookup: LookupFunction;
  /** The last datagram's source and its address string. */
  private rxIp = -1;
  private rxAddress = '';
  /** The same for the last IPv6 source (its 16 bytes, kept; rx6Address '' until the first). */
  private readonly rx6 = new Uint8Array(16);
  private rx6Address = '';

  /** @internal use `stack.dgram.createSocket` */
  constructor(private readonly stack: StackInternals, options: SocketOptions, listener?: MessageListener) {
    super();
    this.type = options.type;
    this.lookup = options.lookup ?? (dns.lookup as unknown as LookupFunction);
    this.core = stack.core.udp.createSocket();
    const v6 = this.type === 'udp6';
    const into = options.onmessage !== undefined ? new MessageInto(options.onmessage, this) : undefined;
    if (v6) {
      this.core.family = 6;
      this.core.ipv6Only = options.ipv6Only === true;
      this.core.onMessage6 = (data, src, srcPort) => {
        // Formatted once per peer, as IPv4 sources are below.
        if (this.rx6Address === '' || !ipv6Equals(src, this.rx6)) {
          this.rx6.set(src);
          this.rx6Address = formatIpv6(src);
        }
        if (into !== undefined) {
          into.deliver(data, 0, data.length, this.rx6Address, 'IPv6', srcPort);
          return;
        }
        const msg = Buffer.from(data);
        this.emit('message', msg, { address: this.rx6Address, family: 'IPv6', port: srcPort, size: msg.length });
      };
    }
    if (options.recvBufferSize !== undefined) this.core.recvBufferBytes = options.recvBufferSize;
    if (options.sendBufferSize !== undefined) this.core.sendBufferBytes = options.sendBufferSize;
    this.core.onMessageAt = (buf, start, end, srcIp, srcPort) => {
      // The address string is formatted once per peer, not per message.
      if (srcIp !== this.rxIp) {
        this.rxIp = srcIp;
        this.rxAddress = v6 ? `::ffff:${formatIpv4(srcIp)}` : formatIpv4(srcIp);
      }
      if (into !== undefined) {
        into.deliver(buf, start, end, this.rxAddress, v6 ? 'IPv6' : 'IPv4', srcPort);
        return;
      }
      // Node's API asks for a fresh Buffer (the user may keep it; the bytes are the driver's) and a fresh rinfo per
      // message.
      const msg = Buffer.allocUnsafe(end - start);
      copyRange(buf, start, end - start, msg, 0);
      this.emit('message', msg, { address: this.rxAddress, family: v6 ? 'IPv6' : 'IPv4', port: srcPort, size: msg.length });
    };
    // Like Linux without IP_RECVERR: an ICMP error is reported only on a connected socket, by failing its next send.
    this.core.onError = (err) => {
      if (this.connectState === 'connected') this.pendingError = err;
    };
    this.multicast = new DgramMulticast(this.stack, {
      type: () => this.type,
      core: () => this.core,
      closed: () => this.state === 'closed',
      bound: () => this.state === 'bound',
      assertRunning: () => this.assertRunning(),
      bindIfUnbound: () => {
        if (this.state === 'unbound') this.bind({ port: 0 });
      },
    });
    stack.track(this);
    if (listener) this.on('message', listener);
    const signal = options.signal;
    if (signal !== undefined) {
      // As node:dgram: an aborted signal closes the socket at once; a later abort closes it if still open.
      const onAbort = () => {
        if (this.state !== 'closed') this.close();
      };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
  }

  bind(port?: unknown, address?: unknown, callback?: unknown): this {
    this.assertRunning();
    if (this.state !== 'unbound') throw nodeError(Error, 'ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    this.state = 'binding';
    this.stack.refChanged(this);
    // As node:dgram: the last argument, when a function, runs once on 'listening' (and is dropped on 'error').
    const cb = arguments.length > 0 ? arguments[arguments.length - 1] : undefined;
    if (typeof cb === 'function') {
      const onListening = () => {
        this.removeListener('error', removeListeners);
        (cb as () => void).call(this);
      };
      const removeListeners = () => {
        this.removeListener('error', removeListeners);
        this.removeListener('listening', onListening);
      };
      this.on('error', removeListeners);
      this.on('listening', onListening);
    }
    let p: unknown;
    let addr: unknown;
    if (port !== null && typeof port === 'object') {
      const o = port as { port?: unknown; address?: unknown };
      p = o.port;
      addr = o.address || '';
    } else {
      p = typeof port === 'function' ? 0 : port;
      addr = typeof address === 'function' ? '' : address;
    }
    if (p !== undefined && p !== null && p !== 0) p = validatePort(p, 'Port', true);
    if (this.type === 'udp6') {
      this.bind6(typeof addr === 'string' && addr !== '' ? addr : '::', (p as number | undefined) ?? 0);
      return this;
    }
    const host = typeof addr === 'string' && addr !== '' ? addr : '0.0.0.0';
    resolveHost(this.lookup, host, {}, (err, ip) => {
      if (this.state !== 'binding') return; // closed meanwhile
      if (err) {
        this.state = 'unbound';
        this.stack.refChanged(this);
        this.emit('error', err);
        return;
      }
      try {
        this.core.bind(ip, (p as number | undefined) ?? 0);
      } catch (e) {
        this.state = 'unbound';
        this.stack.refChanged(this);
        // As Node's: 'bind EADDRINUSE 0.0.0.0:7000', with errno, syscall, address and port.
        const code = systemCodeIn(e);
        this.emit('error', code === undefined ? e : systemError(code, 'bind', formatIpv4(ip), (p as number | undefined) ?? 0));
        return;
      }
      this.state = 'bound';
      this.stack.refChanged(this);
      this.emit('listening');
    });
    return this;
  }

  private bind6(host: string, port: number): void {
    resolveHost6(this.lookup, host, (err, ip) => {
      if (this.state !== 'binding') return; // closed meanwhile
      if (!err) {
        try {
          if (ip === undefined) throw new BywayError('EINVAL', 'an IPv4 address on a udp6 socket');
          this.core.bind6(ip.every((b) => b === 0) ? undefined : ip, port);
        } catch (e) {
          const code = systemCodeIn(e);
          err = code === undefined ? (e as Error) : systemError(code, 'bind', host, port);
        }
      }
      if (err) {
        this.state = 'unbound';
        this.stack.refChanged(this);
        this.emit('error', err);
        return;
      }
      this.state = 'bound';
      this.stack.refChanged(this);
      this.emit('listening');
    });
  }

  connect(port: unknown, address?: unknown, callback?: unknown): void {
    const p = validatePort(port, 'Port', false);
    if (typeof address === 'function') {
      callback = address;
      address = '';
    } else if (address === undefined) {
      address = '';
    }
    if (typeof address !== 'string') throw invalidArgType('address', 'of type string', address);
    this.assertRunning();
    if (this.connectState !== 'none') throw nodeError(Error, 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    this.connectState = 'connecting';
    if (this.state === 'unbound') this.bind({ port: 0 });
    if (this.state !== 'bound') {
      this.enqueue(() => this.doConnect(p, address as string, callback));
      return;
    }
    this.doConnect(p, address, callback);
  }

  private doConnect(port: number, address: string, callback: unknown): void {
    if (typeof callback === 'function') this.once('connect', callback as () => void);
    if (this.type === 'udp6') {
      resolveHost6(this.lookup, address || '::1', (err, ip) => {
        if (this.state === 'closed') return;
        if (!err) {
          try {
            if (ip === undefined) throw new BywayError('EINVAL', 'an IPv4 address on a udp6 socket');
            const v4 = mappedIpv4(ip);
            if (v4 !== undefined) this.core.connect(v4, port);
            else this.core.connect6(ip, port);
          } catch (e) {
            err = systemError(systemCodeIn(e) ?? 'EINVAL', 'connect', address, port);
          }
        }
        this.connected(err);
      });
      return;
    }
    resolveHost(this.lookup, address || '127.0.0.1', {}, (err, ip) => {
      if (this.state === 'closed') return;
      if (!err) {
        try {
          this.core.connect(ip, port);
        } catch (e) {
          err = systemError(systemCodeIn(e) ?? 'EINVAL', 'connect', address, port);
        }
      }
      this.connected(err);
    });
  }

  private connected(err: Error | null): void {
    if (err) {
      this.connectState = 'none';
      process.nextTick(() => this.emit('error', err));
      return;
    }
    this.connectState = 'connected';
    process.nextTick(() => this.emit('connect'));
  }

  disconnect(): void {
    this.assertRunning();
    if (this.connectState !== 'connected') throw nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.core.disconnect();
    this.connectState = 'none';
  }

  /**
   * node:dgram's forms: send(msg[, offset, length][, port][, address][, callback]), told apart as node:dgram does.
   * A send on a bound socket to an IPv4 literal is queued in reused slots and the queue drained after the stack's
   * current or next poll (defer.ts), not on a tick of its own; a host name goes through the lookup first.
   */
  send(buffer: unknown, offset?: unknown, length?: unknown, port?: unknown, address?: unknown, callback?: unknown): void {
    const connected = this.connectState === 'connected';
    let data: Uint8Array | Uint8Array[];
    if (!connected) {
      if (address || (port && typeof port !== 'function')) {
        data = sliceBuffer(buffer, offset, length);
      } else {
        callback = port;
        port = offset;
        address = length;
        data = toBytes(buffer);
      }
    } else {
      if (typeof length === 'number') {
        data = sliceBuffer(buffer, offset, length);
        if (typeof port === 'function') {
          callback = port;
          port = null;
        }
      } else {
        callback = offset;
        data = toBytes(buffer);
      }
      if (port || address) throw nodeError(Error, 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    }
    let dstPort = 0; // 0 marks a connected socket's send: a destination port is never 0
    if (!connected) dstPort = validatePort(port, 'Port', false);
    if (typeof callback !== 'function') callback = undefined;
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    } else if (address != null && typeof address !== 'string') {
      throw invalidArgType('address', 'of type string', address);
    }
    this.assertRunning();
    this.sendList(data, dstPort, address as string | undefined, callback as SendCallback | undefined);
  }

  private sendList(data: Uint8Array | Uint8Array[], port: number, address: string | undefined, callback: SendCallback | undefined): void {
    if (this.state === 'unbound') this.bind({ port: 0 });
    if (this.state !== 'bound') {
      this.enqueue(() => this.sendList(data, port, address, callback));
      return;
    }
    const bytes = Array.isArray(data) ? (data.length === 1 ? data[0]! : Buffer.concat(data)) : data;
    if (port === 0) {
      this.queueSend(bytes, 0, 0, callback);
      return;
    }
    if (this.type === 'udp6') {
      this.sendList6(bytes, port, address || '::1', callback);
      return;
    }
    const host = address || '127.0.0.1';
    if (host === this.lastAddress) {
      this.queueSend(bytes, this.lastIp, port, callback);
      return;
    }
    const literal = parseIpv4(host);
    if (literal !== undefined) {
      this.lastAddress = host;
      this.lastIp = literal;
      this.queueSend(bytes, literal, port, callback);
      return;
    }
    resolveHost(this.lookup, host, {}, (err, ip) => {
      if (this.state === 'closed') return;
      if (err) {
        if (callback) process.nextTick(callback, err, 0);
        else process.nextTick(() => this.emit('error', err));
        return;
      }
      this.queueSend(bytes, ip, port, callback);
    });
  }

  /** udp6: an IPv6 destination, or an IPv4-mapped one (sent over IPv4); an IPv4 literal is EINVAL, as Node's. */
  private sendList6(bytes: Uint8Array, port: number, host: string, callback: SendCallback | undefined): void {
    const queue = (ip: Uint8Array): void => {
      const v4 = mappedIpv4(ip);
      if (v4 !== undefined) this.queueSend(bytes, v4, port, callback);
      else this.queueSend(bytes, 0, port, callback, ip);
    };
    if (host === this.lastAddress && this.lastIp6 !== undefined) {
      queue(this.lastIp6);
      return;
    }
    const literal = parseIpv6WithZone(host);
    if (literal !== undefined) {
      this.lastAddress = host;
      this.lastIp6 = literal.address;
      queue(literal.address);
      return;
    }
    resolveHost6(this.lookup, host, (err, ip) => {
      if (this.state === 'closed') return;
      if (!err && ip === undefined) err = systemError('EINVAL', 'send', host, port);
      if (err) {
        if (callback) process.nextTick(callback, err, 0);
        else process.nextTick(() => this.emit('error', err));
        return;
      }
      queue(ip!);
    });
  }

  private queueSend(data: Uint8Array, ip: number, port: number, callback: SendCallback | undefined, ip6?: Uint8Array): void {
    // Which queued sends node:dgram would have handed to the kernel (see `handedOff`): a send from another
    // callback than the queued ones' means those ran in an earlier tick.
    const ctx = executionAsyncId();
    if (ctx !== this.sendCtx) {
      this.handedOff = this.sendQueue.length;
      this.sendCtx = ctx;
    }
    this.sendQueue.push(data, ip, port, callback, ip6);
    if (ctx === 0 && !this.tickMarked) {
      this.tickMarked = true;
      process.nextTick(this.markHandedOff);
    }
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      this.stack.defer(this);
    }
  }

  /** node:dgram's enqueue: the first queued item arms the flush on 'listening' (or the drop on a bind error). */
  private enqueue(fn: () => void): void {
    if (this.queue === undefined) {
      this.queue = [];
      const onError = () => {
        this.removeListener('listening', onListening);
        this.queue = undefined;
      };
      const onListening = () => {
        this.removeListener(EventEmitter.errorMonitor, onError);
        const q = this.queue ?? [];
        this.queue = undefined;
        for (const f of q) f();
      };
      this.once(EventEmitter.errorMonitor, onError);
      this.once('listening', onListening);
    }
    this.queue.push(fn);
  }

  /** Bytes and datagrams accepted by send() and not yet handed to the stack (libuv's send queue). */
  getSendQueueSize(): number {
    return this.sendQueue.bytes;
  }

  getSendQueueCount(): number {
    return this.sendQueue.length;
  }

  private readonly sendQueue = new SendQueue();
  private drainScheduled = false;
  private readonly sendNowFn = (data: Uint8Array, ip: number, port: number, cb: SendCallback | undefined, ip6: Uint8Array | undefined): void =>
    this.sendNow(data, ip, port, cb, ip6);
  /**
   * node:dgram hands a send to the kernel in a nextTick after send() (its lookup of the literal answers there), so a
   * close() in send()'s own tick drops it and a later close() does not. Which queued sends are that old is told
   * without a nextTick per send (one cost about 760 B of garbage and a fifth of a UDP round trip in memory,
   * bench/udp-alloc.ts): by the async context they were sent from (`sendCtx`, executionAsyncId()). Every callback
   * of the event loop and every nextTick callback runs in its own context, so sends from another context than now
   * are from an earlier tick, and a microtask after the send's callback runs after its nextTicks. Promise
   * microtasks all share context 0: sends made there still mark their tick with a nextTick (`tickMarked`).
   * Not told apart: a close() in a nextTick queued before a send, in that send's own callback (node:dgram drops
   * the send, here it goes out).
   * handedOff: how many of the queued sends (the oldest) are known to be from an earlier tick.
   */
  private handedOff = 0;
  private sendCtx = -1;
  private tickMarked = false;
  private readonly markHandedOff = (): void => {
    this.tickMarked = false;
    this.handedOff = this.sendQueue.length;
    this.sendCtx = -1;
  };
  /** @internal the queued sends, after the poll (see defer.ts) */
  runDeferred(): void {
    this.drainScheduled = false;
    this.handedOff = 0;
    this.sendCtx = -1;
    this.sendQueue.drain(this.sendQueue.length, this.sendNowFn);
  }

  /** One queued send, as node:dgram's doSend: errors go to the callback or 'error'. */
  private sendNow(data: Uint8Array, ip: number, port: number, callback: SendCallback | undefined, ip6?: Uint8Array): void {
    if (this.state === 'closed') return;
    try {
      const pending = this.pendingError;
      if (pending !== undefined) {
        this.pendingError = undefined;
        throw pending;
      }
      // The poll's time when the send runs after a poll (the usual case): no clock read per datagram.
      const now = this.stack.now();
      if (port === 0) this.core.send(now, data);
      else if (ip6 !== undefined) this.core.send6(now, data, ip6, port);
      else this.core.send(now, data, ip, port);
      this.stack.poke();
      // The callback comes after the poll the send scheduled (setImmediate runs in order), like node:dgram's
      // after libuv's write: a sender that sends again from its callback cannot starve the poll loop.
      if (callback) setImmediate(callback, null, data.length);
    } catch (err) {
      const code = systemCodeIn(err);
      const to = port === 0 ? undefined : ip6 !== undefined ? formatIpv6(ip6) : formatIpv4(ip);
      const e = code !== undefined ? systemError(code, 'send', to, port === 0 ? undefined : port) : (err as Error);
      if (callback) callback(e, 0);
      else this.emit('error', e);
    }
  }

  address(): AddressInfo {
    this.assertRunning();
    if (this.state !== 'bound') throw systemError('EBADF', 'getsockname');
    if (this.type === 'udp6') {
      const a = this.core.localIp6;
      const address = this.core.v4Mapped ? `::ffff:${formatIpv4(this.core.localIp)}` : a === undefined ? '::' : formatIpv6(a);
      return { address, family: 'IPv6', port: this.core.localPort };
    }
    return { address: formatIpv4(this.core.localIp), family: 'IPv4', port: this.core.localPort };
  }

  remoteAddress(): AddressInfo {
    this.assertRunning();
    if (this.connectState !== 'connected') throw nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    if (this.type === 'udp6') {
      const r = this.core.remoteIp6;
      return { address: r !== undefined ? formatIpv6(r) : `::ffff:${formatIpv4(this.core.remoteIp)}`, family: 'IPv6', port: this.core.remotePort };
    }
    return { address: formatIpv4(this.core.remoteIp), family: 'IPv4', port: this.core.remotePort };
  }

  /** Join a multicast group (IGMP for IPv4, on udp4 and udp6; MLD for IPv6): dgram-multicast.ts. */
  addMembership(multicastAddress?: unknown, interfaceAddress?: unknown): void {
    this.multicast.addMembership(multicastAddress, interfaceAddress);
  }

  dropMembership(multicastAddress?: unknown, interfaceAddress?: unknown): void {
    this.multicast.dropMembership(multicastAddress, interfaceAddress);
  }

  addSourceSpecificMembership(sourceAddress?: unknown, groupAddress?: unknown, interfaceAddress?: unknown): void {
    this.multicast.addSourceSpecificMembership(sourceAddress, groupAddress, interfaceAddress);
  }

  dropSourceSpecificMembership(sourceAddress?: unknown, groupAddress?: unknown, interfaceAddress?: unknown): void {
    this.multicast.dropSourceSpecificMembership(sourceAddress, groupAddress, interfaceAddress);
  }

  setMulticastTTL(ttl: unknown): unknown {
    return this.multicast.setMulticastTTL(ttl);
  }

  setMulticastLoopback(flag: unknown): unknown {
    return this.multicast.setMulticastLoopback(flag);
  }

  setMulticastInterface(interfaceAddress: unknown): void {
    this.multicast.setMulticastInterface(interfaceAddress);
  }

  setBroadcast(flag: boolean): void {
    this.assertBound('setBroadcast');
    this.core.broadcast = !!flag;
  }

  setTTL(ttl: unknown): number {
    if (typeof ttl !== 'number') throw invalidArgType('ttl', 'of type number', ttl);
    this.assertBound('setTTL');
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw systemError('EINVAL', 'setTTL');
    this.core.ttl = ttl;
    return ttl;
  }

  setRecvBufferSize(size: number): void {
    this.assertBound('setRecvBufferSize');
    checkSize(size);
    this.core.recvBufferBytes = size;
  }

  setSendBufferSize(size: number): void {
    this.assertBound('setSendBufferSize');
    checkSize(size);
    this.core.sendBufferBytes = size;
  }

  getRecvBufferSize(): number {
    this.assertBound('getRecvBufferSize');
    return this.core.recvBufferBytes;
  }

  getSendBufferSize(): number {
    this.assertBound('getSendBufferSize');
    return this.core.sendBufferBytes;
  }

  close(callback?: () => void): this {
    if (typeof callback === 'function') this.on('close', callback);
    if (this.queue !== undefined) {
      // As node:dgram: a close while sends wait for the bind runs after them.
      this.queue.push(() => this.close());
      return this;
    }
    this.assertRunning();
    // Sends accepted in an earlier tick go out, and their callbacks run: node:dgram hands each to the kernel a
    // tick after send() (once its lookup of the literal answered), and libuv calls the callback even when the
    // socket closes meanwhile. Sends of this very tick are dropped without a callback, as node:dgram drops them.
    const old = this.sendCtx > 0 && executionAsyncId() !== this.sendCtx ? this.sendQueue.length : this.handedOff;
    if (old > 0) this.sendQueue.drain(old, this.sendNowFn);
    this.state = 'closed';
    this.sendQueue.clear();
    this.core.close();
    this.multicast.close();
    this.stack.untrack(this);
    process.nextTick(() => this.emit('close'));
    return this;
  }

  ref(): this {
    this.refed = true;
    this.stack.refChanged(this);
    return this;
  }

  unref(): this {
    this.refed = false;
    this.stack.refChanged(this);
    return this;
  }

  /** @internal whether this socket keeps the process alive: bound or binding (receiving), as a node:dgram handle */
  get keepsAlive(): boolean {
    return this.refed && (this.state === 'bound' || this.state === 'binding');
  }

  /** @internal release on stack.close() */
  destroyForStackClose(): void {
    this.queue = undefined;
    if (this.state !== 'closed') this.close();
  }

  /** The last address string resolved and its value: a socket answering one peer parses it once, not per send. */
  private lastAddress: string | undefined = undefined;
  private lastIp = 0;
  private lastIp6: Uint8Array | undefined;
  /** The multicast groups this socket joined and its multicast options (dgram-multicast.ts). */
  private readonly multicast: DgramMulticast;

  private assertRunning(): void {
    if (this.state === 'closed') throw nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
  }

  private assertBound(what: string): void {
    this.assertRunning();
    if (this.state !== 'bound') throw systemError('EBADF', what);
  }
}

export interface DgramApi {
  createSocket(type: 'udp4' | 'udp6' | SocketOptions, listener?: MessageListener): Socket | KernelDgramSocket | DeferredDgramSocket;
}

export function makeDgram(stack: StackInternals): DgramApi {
  return {
    createSocket(typeOrOptions, listener) {
      const options: SocketOptions = typeOrOptions !== null && typeof typeOrOptions === 'object' ? { ...typeOrOptions } : { type: typeOrOptions };
      if (options.type !== 'udp4' && options.type !== 'udp6') {
        throw nodeError(TypeError, 'ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4, udp6');
      }
      if (options.lookup !== undefined && typeof options.lookup !== 'function') throw invalidArgType('lookup', 'of type function', options.lookup);
      validateAbortSignal(options.signal, 'options.signal');
      if (options.onmessage !== undefined) checkOnMessage(options.onmessage);
      if (options.path === undefined && options.flow === undefined && stack.fixedPath === undefined) {
        // The strategy depends on the flow: decided at the first bind, connect or send (dgram-deferred.ts).
        const sock = new DeferredDgramSocket(
          {
            decide: (flow) => stack.decide(flow),
            make: (path, o) => makeSocket(stack, path, o as SocketOptions) as never,
            otherPath: (flow, path) => stack.otherPath(flow, path),
          },
          options as unknown as DeferredOptions,
        );
        if (listener) sock.on('message', listener);
        return sock;
      }
      const path = options.path ?? stack.fixedPath ?? stack.decide({ protocol: 'udp', direction: options.flow?.direction ?? 'inbound', ...options.flow });
      return makeSocket(stack, path, options, listener);
    },
  };
}

/** A socket on `path`: node:dgram's (marked with its path) or byway's; a udp6 one needs a stack with IPv6. */
function makeSocket(stack: StackInternals, path: Path, options: SocketOptions, listener?: MessageListener): Socket | KernelDgramSocket {
  if (path === 'kernel') {
    const { path: _p, flow: _f, onmessage, ...nodeOptions } = options;
    const sock = dgram.createSocket(nodeOptions as dgram.SocketOptions, listener as ((msg: Buffer, rinfo: dgram.RemoteInfo) => void) | undefined);
    Object.defineProperty(sock, 'path', { value: 'kernel', enumerable: true });
    if (onmessage !== undefined) attachKernel(sock, onmessage);
    return sock as KernelDgramSocket;
  }
  if (options.type === 'udp6' && stack.core.ipv6 === undefined) {
    throw new BywayError('ERR_BYPASS_UNSUPPORTED', 'this stack has no IPv6 (give it an IPv6 address or the ipv6 option): udp6 sockets must take the kernel path');
  }
  return new Socket(stack, options, listener);
}

const BUFFER_TYPES = 'of type string or an instance of Buffer, TypedArray, or DataView';

/** A message as node:dgram takes it: a string, any ArrayBufferView, or a list of them (viewed, not copied). */
function toBytes(msg: unknown): Uint8Array | Uint8Array[] {
  if (typeof msg === 'string') return Buffer.from(msg);
  if (ArrayBuffer.isView(msg)) return msg instanceof Uint8Array ? msg : new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
  if (Array.isArray(msg)) {
    const list: Uint8Array[] = new Array(msg.length);
    for (let i = 0; i < msg.length; i++) {
      const m: unknown = msg[i];
      if (typeof m === 'string') list[i] = Buffer.from(m);
      else if (ArrayBuffer.isView(m)) list[i] = new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
      else throw invalidArgType('buffer list arguments', BUFFER_TYPES, msg);
    }
    return list;
  }
  throw invalidArgType('buffer', BUFFER_TYPES, msg);
}

/** send(msg, offset, length, ...): node:dgram's sliceBuffer, with its bounds errors. */
function sliceBuffer(msg: unknown, offset: unknown, length: unknown): Uint8Array {
  let buf: ArrayBufferView;
  if (typeof msg === 'string') buf = Buffer.from(msg);
  else if (ArrayBuffer.isView(msg)) buf = msg;
  else throw invalidArgType('buffer', BUFFER_TYPES, msg);
  const off = (offset as number) >>> 0;
  const len = (length as number) >>> 0;
  if (off > buf.byteLength) throw nodeError(RangeError, 'ERR_BUFFER_OUT_OF_BOUNDS', '"offset" is outside of buffer bounds');
  if (off + len > buf.byteLength) throw nodeError(RangeError, 'ERR_BUFFER_OUT_OF_BOUNDS', '"length" is outside of buffer bounds');
  return new Uint8Array(buf.buffer, buf.byteOffset + off, len);
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size <= 0 || size > 0x7fffffff) throw nodeError(TypeError, 'ERR_SOCKET_BAD_BUFFER_SIZE', 'Buffer size must be a positive integer');
}
