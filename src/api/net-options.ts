/**
 * The options of stack.net's Socket and connect(), node:net's normalizeArgs of connect()'s arguments (net.ts,
 * net-api.ts), and connect()'s checks of its addresses, port and lookup, which throw node:net's errors.
 */
import net from 'node:net';
import type { Path } from './path.js';
import type { LookupFunction } from './lookup.js';
import { invalidArgType, nodeError, validatePort } from './errors.js';
import { bufferFor, checkIntoBuffer, divertEvent } from './into-buffer.js';

export interface SocketConstructorOptions {
  allowHalfOpen?: boolean;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** Destroys the socket with an AbortError when aborted (as node:net). */
  signal?: AbortSignal;
  /** node:net's onread: received bytes go into `buffer` and to `callback` instead of 'data' events. */
  onread?: OnRead;
}

export interface OnRead {
  buffer: Uint8Array | (() => Uint8Array);
  callback: (bytesRead: number, buffer: Uint8Array) => boolean | void;
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
  /** Host name resolution (default dns.lookup), with node:net's family and hints. */
  lookup?: LookupFunction;
  family?: number;
  hints?: number;
  /** Try every address of a name, families alternating, as node:net (default net.getDefaultAutoSelectFamily()). */
  autoSelectFamily?: boolean;
  /** How long each attempt but the last has (ms, at least 10; default net.getDefaultAutoSelectFamilyAttemptTimeout()). */
  autoSelectFamilyAttemptTimeout?: number;
  signal?: AbortSignal;
  onread?: OnRead;
  /** Force the path instead of asking the strategy. */
  path?: Path;
}

/** node:net's normalizeArgs: (options[, cb]), (path[, cb]) or ([port][, host][, cb]). */
export function normalizeConnectArgs(args: unknown[]): [TcpConnectOptions, (() => void) | undefined] {
  if (args.length === 1 && Array.isArray(args[0]) && (args[0] as unknown as Record<symbol, boolean>)[NORMALIZED]) {
    return args[0] as unknown as [TcpConnectOptions, (() => void) | undefined];
  }
  if (args.length === 0) return [{} as TcpConnectOptions, undefined];
  const a0 = args[0];
  let options: TcpConnectOptions;
  if (typeof a0 === 'object' && a0 !== null) options = a0 as TcpConnectOptions;
  else if (typeof a0 === 'string' && a0.trim() !== '' && Number.isNaN(Number(a0))) options = { path: a0 } as unknown as TcpConnectOptions;
  else options = { port: a0 as number, host: args.length > 1 && typeof args[1] === 'string' ? args[1] : undefined };
  const last = args[args.length - 1];
  return [options, typeof last === 'function' ? (last as () => void) : undefined];
}

/** Marks an argument list normalizeConnectArgs already made (createConnection hands it to Socket.prototype.connect). */
export const NORMALIZED = Symbol('normalizedArgs');


/** connect()'s checks, in node:net's order (localAddress, localPort, port, lookup): throws its errors; the port. */
export function validateConnectOptions(options: TcpConnectOptions): number {
  const { localAddress, localPort } = options;
  if (localAddress && !net.isIP(localAddress)) throw nodeError(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${localAddress}`);
  if (localPort && typeof localPort !== 'number') throw invalidArgType('options.localPort', 'of type number', localPort);
  let port = 0;
  if (options.port !== undefined) {
    if (typeof options.port !== 'number' && typeof options.port !== 'string') throw invalidArgType('options.port', 'of type number or string', options.port);
    port = validatePort(options.port);
  }
  if (options.lookup != null && typeof options.lookup !== 'function') throw invalidArgType('options.lookup', 'of type function', options.lookup);
  return port;
}

/** node:net's check of the onread option. */
export function checkOnRead(r: unknown): OnRead {
  return checkIntoBuffer<OnRead>(r, 'options.onread');
}

/**
 * onread on a node:net socket that has none of its own (one a server accepted: node:net takes the option only for
 * sockets it connects): each 'data' chunk goes through the buffer to the callback, in pieces of at most the
 * buffer's length, and to no 'data' listener, as on byway's path. A callback returning false pauses the socket and
 * puts the chunk's rest back (unshift). `start`: flowing at once (not for a server with pauseOnConnect).
 */
export function feedOnRead(s: net.Socket, onread: OnRead, start: boolean): void {
  divertEvent(s, 'data', function (this: net.Socket, chunk: unknown) {
    const d = chunk as Buffer;
    for (let off = 0; off < d.length; ) {
      const buf = bufferFor(onread);
      const n = Math.min(buf.length, d.length - off);
      if (n === 0) return;
      buf.set(d.subarray(off, off + n));
      off += n;
      if (onread.callback.call(this, n, buf) === false) {
        this.pause();
        if (off < d.length) this.unshift(d.subarray(off));
        return;
      }
    }
  });
  if (start) s.resume();
}
