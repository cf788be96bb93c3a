/**
 * `stack.dgram`, shaped like node:dgram. `createSocket` asks the path strategy: on 'kernel' it returns a genuine
 * node:dgram Socket; on 'bypass' a byway `Socket` with the same surface, on byway's UDP core. Both carry `path`.
 *
 * Differences from node:dgram on the bypass path (also in docs/api.md): IPv4 only (a 'udp6' socket
 * chosen for bypass throws ERR_BYPASS_UNSUPPORTED); addresses must be IPv4 literals (no DNS lookup); multicast
 * membership is not supported; an omitted send address means the stack's first address (Node uses localhost).
 * Received messages are Buffers copied out of the frame (the frame's memory is the driver's).
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { BywayError } from '../../protocols/util/errors.js';
import { formatIpv4, parseIpv4 } from '../../protocols/ipv4/address.js';
import type { UdpSocket } from '../stack/udp.js';
import { SendQueue, type SendCallback } from './send-queue.js';
import type { Deferred } from './defer.js';
import { systemError } from './system-error.js';
import type { Flow, Path } from './path.js';
import type { StackInternals } from './internals.js';

export interface SocketOptions {
  type: 'udp4' | 'udp6';
  reuseAddr?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Force the path for this socket instead of asking the strategy. */
  path?: Path;
  /** What the strategy is told about the flow (the port it will bind, the peer it will talk to). */
  flow?: Partial<Omit<Flow, 'protocol'>>;
  signal?: AbortSignal;
}

export interface RemoteInfo {
  address: string;
  family: 'IPv4';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

type MessageListener = (msg: Buffer, rinfo: RemoteInfo) => void;
type MsgInput = string | Uint8Array | ReadonlyArray<string | Uint8Array> | DataView;

/** A node:dgram Socket on the kernel path, marked with its path. */
export type KernelDgramSocket = dgram.Socket & { readonly path: 'kernel' };

export class Socket extends EventEmitter implements Deferred {
  readonly path = 'bypass' as const;
  private readonly core: UdpSocket;
  private state: 'unbound' | 'binding' | 'bound' | 'closed' = 'unbound';
  private connectState: 'none' | 'connecting' | 'connected' = 'none';
  private refed = true;
  private pendingError: Error | undefined;
  /** The last datagram's source and its address string. */
  private rxIp = -1;
  private rxAddress = '';

  /** @internal use `stack.dgram.createSocket` */
  constructor(private readonly stack: StackInternals, options: SocketOptions, listener?: MessageListener) {
    super();
    this.core = stack.core.udp.createSocket();
    if (options.recvBufferSize !== undefined) this.core.recvBufferBytes = options.recvBufferSize;
    if (options.sendBufferSize !== undefined) this.core.sendBufferBytes = options.sendBufferSize;
    this.core.onMessage = (data, srcIp, srcPort) => {
      // Node's API asks for a fresh Buffer (the user may keep it; the view is the driver's) and a fresh rinfo per
      // message; the address string is formatted once per peer, not per message.
      const msg = Buffer.from(data);
      if (srcIp !== this.rxIp) {
        this.rxIp = srcIp;
        this.rxAddress = formatIpv4(srcIp);
      }
      this.emit('message', msg, { address: this.rxAddress, family: 'IPv4', port: srcPort, size: msg.length });
    };
    // Like Linux without IP_RECVERR: an ICMP error is reported only on a connected socket, by failing its next send.
    this.core.onError = (err) => {
      if (this.connectState === 'connected') this.pendingError = err;
    };
    stack.track(this);
    if (listener) this.on('message', listener);
    options.signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  bind(port?: number | { port?: number; address?: string; exclusive?: boolean } | (() => void), address?: string | (() => void), callback?: () => void): this {
    let p: number | undefined;
    let addr: string | undefined;
    if (typeof port === 'function') {
      callback = port;
    } else if (typeof port === 'object' && port !== null) {
      p = port.port;
      addr = port.address;
      if (typeof address === 'function') callback = address;
    } else {
      p = port;
      if (typeof address === 'function') callback = address;
      else addr = address;
    }
    this.assertRunning();
    if (this.state !== 'unbound') throw new BywayError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    const ip = addr === undefined || addr === '0.0.0.0' ? 0 : parseIpv4(addr);
    if (ip === undefined) throw new BywayError('ERR_INVALID_ARG_VALUE', `byway needs an IPv4 literal, got '${addr}'`);
    if (p !== undefined && (!Number.isInteger(p) || p < 0 || p > 65535)) {
      throw new BywayError('ERR_SOCKET_BAD_PORT', `Port should be >= 0 and < 65536. Received ${p}.`);
    }
    this.state = 'binding';
    if (callback) this.once('listening', callback);
    process.nextTick(() => {
      if (this.state !== 'binding') return;
      try {
        this.core.bind(ip, p ?? 0);
      } catch (err) {
        this.state = 'unbound';
        // As Node's: 'bind EADDRINUSE 0.0.0.0:7000', with errno, syscall, address and port.
        const code = (err as BywayError).code;
        this.emit('error', code === undefined ? err : systemError(code, 'bind', addr ?? '0.0.0.0', p ?? 0));
        return;
      }
      this.state = 'bound';
      this.emit('listening');
    });
    return this;
  }

  connect(port: number, address?: string | (() => void), callback?: () => void): void {
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    }
    this.assertRunning();
    if (this.connectState !== 'none') throw new BywayError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    checkPort(port);
    const ip = this.resolve(address);
    this.connectState = 'connecting';
    if (callback) this.once('connect', callback);
    const doConnect = () => {
      try {
        this.core.connect(ip, port);
        this.state = 'bound';
        this.connectState = 'connected';
        this.emit('connect');
      } catch (err) {
        this.connectState = 'none';
        this.emit('error', err);
      }
    };
    if (this.state === 'binding') this.once('listening', doConnect);
    else process.nextTick(doConnect);
  }

  disconnect(): void {
    this.assertRunning();
    if (this.connectState !== 'connected') throw new BywayError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.core.disconnect();
    this.connectState = 'none';
  }

  /**
   * node:dgram's forms: send(msg[, offset, length][, port][, address][, callback]). Named parameters, not a rest
   * array, and no closure: a send on a bound or unbound socket is queued in reused slots and the queue drained after
   * the stack's current or next poll (defer.ts), not on a tick of its own (node:dgram too sends later, after its
   * address lookup's tick).
   */
  send(msg: MsgInput, a1?: unknown, a2?: unknown, a3?: unknown, a4?: unknown, a5?: unknown): void {
    this.assertRunning();
    // At most five after msg, as in node:dgram; `arguments` is read only for its length (no arguments object).
    let argc = Math.min(arguments.length - 1, 5);
    let callback: SendCallback | undefined;
    const last = argc === 1 ? a1 : argc === 2 ? a2 : argc === 3 ? a3 : argc === 4 ? a4 : argc === 5 ? a5 : undefined;
    if (typeof last === 'function') {
      callback = last as SendCallback;
      argc--;
    }
    let offset: number | undefined;
    let length: number | undefined;
    let port: number | undefined;
    let address: string | undefined;
    if (typeof msg !== 'string' && !Array.isArray(msg) && argc >= 2 && typeof a1 === 'number' && typeof a2 === 'number' && (argc >= 3 || this.connectState === 'connected')) {
      // send(msg, offset, length[, port][, address])
      offset = a1;
      length = a2;
      port = argc >= 3 ? (a3 as number | undefined) : undefined;
      address = argc >= 4 ? (a4 as string | undefined) : undefined;
    } else {
      port = argc >= 1 ? (a1 as number | undefined) : undefined;
      address = argc >= 2 ? (a2 as string | undefined) : undefined;
    }
    let data = toBytes(msg);
    if (offset !== undefined && length !== undefined) {
      if (offset < 0 || length < 0 || offset + length > data.length) throw new BywayError('ERR_OUT_OF_RANGE', 'offset and length are out of range');
      data = data.subarray(offset, offset + length);
    }
    const connected = this.connectState === 'connected';
    if (connected && port !== undefined) throw new BywayError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    if (!connected) {
      if (port === undefined) throw new BywayError('ERR_SOCKET_BAD_PORT', 'Port should be > 0 and < 65536. Received undefined.');
      checkPort(port);
    }
    const ip = connected ? 0 : this.resolve(address);
    // Port 0 marks a connected socket's send: checkPort never lets 0 through as a destination.
    const dstPort = connected ? 0 : port!;
    if (this.state === 'binding') {
      this.once('listening', () => this.sendNow(data, ip, dstPort, callback));
      return;
    }
    this.sendQueue.push(data, ip, dstPort, callback);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      this.stack.defer(this);
    }
  }

  private readonly sendQueue = new SendQueue();
  private drainScheduled = false;
  private readonly sendNowFn = (data: Uint8Array, ip: number, port: number, cb: SendCallback | undefined): void => this.sendNow(data, ip, port, cb);
  /** @internal the queued sends, after the poll (see defer.ts) */
  runDeferred(): void {
    this.drainScheduled = false;
    this.sendQueue.drain(this.sendQueue.length, this.sendNowFn);
  }

  /** One queued send, as node:dgram's doSend: an unbound socket binds first; errors go to the callback or 'error'. */
  private sendNow(data: Uint8Array, ip: number, port: number, callback: SendCallback | undefined): void {
    if (this.state === 'closed') return;
    try {
      if (this.state === 'unbound') {
        this.core.bind(0, 0);
        this.state = 'bound';
        this.emit('listening');
      }
      const pending = this.pendingError;
      if (pending !== undefined) {
        this.pendingError = undefined;
        throw pending;
      }
      if (port === 0) this.core.send(this.stack.clock.now(), data);
      else this.core.send(this.stack.clock.now(), data, ip, port);
      this.stack.poke();
      // The callback comes after the poll the send scheduled (setImmediate runs in order), like node:dgram's
      // after libuv's write: a sender that sends again from its callback cannot starve the poll loop.
      if (callback) setImmediate(callback, null, data.length);
    } catch (err) {
      if (callback) callback(err as Error, 0);
      else this.emit('error', err);
    }
  }

  address(): AddressInfo {
    this.assertRunning();
    if (this.state !== 'bound') throw new BywayError('EBADF', 'getsockname EBADF');
    return { address: formatIpv4(this.core.localIp), family: 'IPv4', port: this.core.localPort };
  }

  remoteAddress(): AddressInfo {
    this.assertRunning();
    if (this.connectState !== 'connected') throw new BywayError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { address: formatIpv4(this.core.remoteIp), family: 'IPv4', port: this.core.remotePort };
  }

  setBroadcast(flag: boolean): void {
    this.assertBound('setBroadcast');
    this.core.broadcast = !!flag;
  }

  setTTL(ttl: number): number {
    this.assertBound('setTTL');
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw new BywayError('EINVAL', 'setTTL EINVAL');
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
    if (this.state === 'closed') throw new BywayError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    this.state = 'closed';
    this.sendQueue.clear();
    this.core.close();
    this.stack.untrack(this);
    if (callback) this.once('close', callback);
    process.nextTick(() => this.emit('close'));
    return this;
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

  /** @internal whether this socket keeps the process alive */
  get keepsAlive(): boolean {
    return this.refed && this.state !== 'closed';
  }

  /** @internal release on stack.close() */
  destroyForStackClose(): void {
    if (this.state !== 'closed') this.close();
  }

  /** The last address string resolved and its value: a socket answering one peer parses it once, not per send. */
  private lastAddress: string | undefined = undefined;
  private lastIp = 0;

  private resolve(address: string | undefined): number {
    if (address === undefined || address === 'localhost') return this.stack.core.addresses[0]!.address;
    if (address === this.lastAddress) return this.lastIp;
    const ip = parseIpv4(address);
    if (ip === undefined) throw new BywayError('ERR_INVALID_ARG_VALUE', `byway's dgram needs an IPv4 literal (no DNS lookup), got '${address}'`);
    this.lastAddress = address;
    this.lastIp = ip;
    return ip;
  }

  private assertRunning(): void {
    if (this.state === 'closed') throw new BywayError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
  }

  private assertBound(what: string): void {
    this.assertRunning();
    if (this.state !== 'bound') throw new BywayError('EBADF', `${what} EBADF`);
  }
}

export interface DgramApi {
  createSocket(type: 'udp4' | 'udp6' | SocketOptions, listener?: MessageListener): Socket | KernelDgramSocket;
}

export function makeDgram(stack: StackInternals): DgramApi {
  return {
    createSocket(typeOrOptions, listener) {
      const options: SocketOptions = typeof typeOrOptions === 'string' ? { type: typeOrOptions } : { ...typeOrOptions };
      if (options.type !== 'udp4' && options.type !== 'udp6') {
        throw new BywayError('ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4, udp6');
      }
      const path =
        options.path ??
        stack.decide({ protocol: 'udp', direction: options.flow?.direction ?? 'inbound', ...options.flow });
      if (path === 'kernel') {
        const { path: _p, flow: _f, ...nodeOptions } = options;
        const sock = dgram.createSocket(nodeOptions as dgram.SocketOptions, listener as ((msg: Buffer, rinfo: dgram.RemoteInfo) => void) | undefined);
        Object.defineProperty(sock, 'path', { value: 'kernel', enumerable: true });
        return sock as KernelDgramSocket;
      }
      if (options.type === 'udp6') {
        throw new BywayError('ERR_BYPASS_UNSUPPORTED', 'the bypass path is IPv4 only: udp6 sockets must take the kernel path');
      }
      return new Socket(stack, options, listener);
    },
  };
}

function toBytes(msg: MsgInput): Uint8Array {
  if (typeof msg === 'string') return Buffer.from(msg);
  if (msg instanceof Uint8Array) return msg;
  if (msg instanceof DataView) return new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
  if (Array.isArray(msg)) return Buffer.concat(msg.map((m) => (typeof m === 'string' ? Buffer.from(m) : m)));
  throw new BywayError('ERR_INVALID_ARG_TYPE', 'The "buffer" argument must be a string, Buffer, TypedArray, DataView or an array of them');
}

function checkPort(port: unknown): void {
  if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new BywayError('ERR_SOCKET_BAD_PORT', `Port should be > 0 and < 65536. Received ${String(port)}.`);
  }
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size <= 0 || size > 0x7fffffff) throw new BywayError('ERR_SOCKET_BAD_BUFFER_SIZE', 'Buffer size must be a positive integer');
}
