/**
 * `stack.net`: node:net's module surface over one stack. `Socket`, `Stream` and `Server` are classes that, like
 * node:net's, can also be called without `new`; `createConnection()` asks the path strategy, then builds a
 * `net.Socket` and connects it through `Socket.prototype.connect`, as lib/net.js does.
 */
import net from 'node:net';
import type { Path } from './path.js';
import type { StackInternals } from './internals.js';
import { invalidArgType } from './errors.js';
import { NORMALIZED, Socket, normalizeConnectArgs, type KernelSocket, type SocketConstructorOptions, type TcpConnectOptions } from './net.js';
import { Server, type ServerOptions } from './net-server.js';

export interface NetApi {
  createServer(options?: ServerOptions | ((s: Socket | KernelSocket) => void), listener?: (s: Socket | KernelSocket) => void): Server;
  createConnection(options: TcpConnectOptions | number, host?: string | (() => void), cb?: () => void): Socket | KernelSocket;
  connect(options: TcpConnectOptions | number, host?: string | (() => void), cb?: () => void): Socket | KernelSocket;
  /** node:net's Socket (callable without `new`, as Node's); `Stream` is the same. */
  Socket: SocketClass;
  Stream: SocketClass;
  Server: ServerClass;
  isIP(input: string): number;
  isIPv4(input: string): boolean;
  isIPv6(input: string): boolean;
}

export type SocketClass = (new (options?: SocketConstructorOptions) => Socket) & ((options?: SocketConstructorOptions) => Socket);
export type ServerClass = (new (options?: ServerOptions | ((s: Socket | KernelSocket) => void), listener?: (s: Socket | KernelSocket) => void) => Server) &
  ((options?: ServerOptions | ((s: Socket | KernelSocket) => void), listener?: (s: Socket | KernelSocket) => void) => Server);

/** A class that, like node:net's constructor functions, also builds an instance when called without `new`. */
function callable<T extends abstract new (...args: never[]) => unknown>(cls: T): T {
  return new Proxy(cls, {
    apply: (target, _this, args: unknown[]) => Reflect.construct(target, args),
  });
}

const SocketBase = Socket;
const ServerBase = Server;

export function makeNet(stack: StackInternals): NetApi {
  const SocketCtor = callable(
    class Socket extends SocketBase {
      constructor(options?: SocketConstructorOptions) {
        super(stack, options ?? {});
      }
    },
  ) as unknown as SocketClass;
  const ServerCtor = callable(
    class Server extends ServerBase {
      constructor(options?: ServerOptions | ((s: Socket | KernelSocket) => void), listener?: (s: Socket | KernelSocket) => void) {
        if (typeof options === 'function') super(stack, {}, options);
        else if (options == null || typeof options === 'object') super(stack, { ...options }, listener);
        else throw invalidArgType('options', 'of type object', options);
        this.socketClass = SocketCtor as unknown as typeof Socket;
      }
    },
  ) as unknown as ServerClass;
  // As node:net's connect(): a new Socket, then Socket.prototype.connect with the normalized arguments.
  const createConnection = (...args: unknown[]): Socket | KernelSocket => {
    const normalized = normalizeConnectArgs(args);
    const [options, cb] = normalized;
    const given = (options as { path?: unknown }).path;
    // A host name (or none: 'localhost') is resolved first; the strategy then decides on the address (kernel-leg.ts).
    const byName = given === undefined && (typeof options.host !== 'string' || net.isIP(options.host) === 0);
    let path: Path;
    if (given === 'kernel' || given === 'bypass') path = given;
    else if (typeof given === 'string') path = 'kernel'; // an IPC path: node:net's
    else if (byName) path = 'bypass';
    else path = stack.decide({ protocol: 'tcp', direction: 'outbound', remoteAddress: options.host, remotePort: options.port, localAddress: options.localAddress, localPort: options.localPort });
    if (path === 'kernel') {
      const nodeOptions: Record<string, unknown> = { ...options };
      if (given === 'kernel' || given === 'bypass') delete nodeOptions.path;
      const s = net.createConnection(nodeOptions as unknown as net.NetConnectOpts, cb);
      Object.defineProperty(s, 'path', { value: 'kernel', enumerable: true });
      return s as KernelSocket;
    }
    const s = new SocketCtor(options);
    if (byName) {
      const flow = { protocol: 'tcp', direction: 'outbound', remotePort: Number(options.port), localAddress: options.localAddress, localPort: options.localPort } as const;
      s.routeAfterLookup = (address) => stack.decide({ ...flow, remoteAddress: address });
    }
    if (options.timeout) s.setTimeout(options.timeout);
    const marked = [options, cb] as unknown as Record<symbol, boolean>;
    marked[NORMALIZED] = true;
    return s.connect(marked);
  };
  return {
    createServer(options, listener) {
      return new ServerCtor(options, listener);
    },
    createConnection: createConnection as NetApi['createConnection'],
    connect: createConnection as NetApi['connect'],
    Socket: SocketCtor,
    Stream: SocketCtor,
    Server: ServerCtor,
    isIP: (s) => net.isIP(s),
    isIPv4: (s) => net.isIPv4(s),
    isIPv6: (s) => net.isIPv6(s),
  };
}
