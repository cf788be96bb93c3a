/**
 * The addresses a bypass `net.Socket` shows (split out of net.ts): its peer once connected, kept after the close as
 * node:net's `_peername` is; where connect() is going, for the words of its errors ('connect ECONNREFUSED
 * 10.0.0.2:80'); and whether it was accepted by a dual-stack `::` listener, where IPv4 addresses show as
 * ::ffff:a.b.c.d with family IPv6, as Node's. The local end is read from the connection each time it is asked.
 * Throws nothing; the connection objects are the core's, only read.
 */
import { formatIpv4 } from '../../protocols/ipv4/address.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import type { NetStack } from '../stack/stack.js';
import { systemCodeIn, systemError } from './system-error.js';
import { tcpEndpoint, type TcpEndpoint, type TcpFamily } from './tcp-addr.js';

export interface SocketName {
  address: string;
  port: number;
  family: TcpFamily;
}

export class SocketNames {
  /** The peer, once connected (node:net's _peername: kept after close). */
  peer: SocketName | undefined;
  /** Where connect() is going. */
  target: { address: string; port: number } | undefined;
  /** Accepted by a dual-stack `::` listener: IPv4 addresses show as ::ffff:a.b.c.d, family IPv6 (as Node's). */
  private mapped = false;

  constructor(private readonly core: NetStack) {}

  /** Reconnecting a closed socket: no peer, not mapped (the target is set again by the connect). */
  reset(): void {
    this.peer = undefined;
    this.mapped = false;
  }

  /** The connection is open: note its peer. */
  connected(conn: TcpConnection): void {
    this.peer = { ...tcpEndpoint(this.core.tcp!, conn.remoteIp, this.mapped), port: conn.remotePort };
  }

  /** Accepted by a dual-stack `::` listener (before 'connection'): the peer shown again, mapped. */
  mapIpv4(conn: TcpConnection | undefined): void {
    this.mapped = true;
    if (conn !== undefined && this.peer !== undefined) this.connected(conn);
  }

  /** The local end of the connection, as node:net shows it. */
  local(conn: TcpConnection): TcpEndpoint {
    const tcp = this.core.tcp;
    return tcp === undefined ? { address: formatIpv4(conn.localIp), family: 'IPv4' } : tcpEndpoint(tcp, conn.localIp, this.mapped);
  }

  /** node:net's address(): the local end with its port, or {} without a connection. */
  address(conn: TcpConnection | undefined): SocketName | Record<string, never> {
    return conn === undefined ? {} : { ...this.local(conn), port: conn.localPort };
  }

  /** node:net's _getpeername(): a copy of the peer, or {} before the connection opened. */
  peername(): SocketName | Record<string, never> {
    const p = this.peer;
    return p === undefined ? {} : { address: p.address, family: p.family, port: p.port };
  }

  /**
   * The error a failed connect of the core (`err`, thrown by tcp.connect or the address parsing) becomes: a system
   * code (or none) becomes Node's system error, with the local address and port as a 'bind' error when binding
   * them failed, as node:net's; an ERR_ one (misuse) is returned as it is, to be thrown on.
   */
  connectError(err: unknown, localAddress: string | undefined, localPort: number | undefined): Error {
    const code = systemCodeIn(err) ?? ((err as { code?: unknown }).code === undefined ? 'EINVAL' : undefined);
    if (code === undefined) return err as Error;
    const binding = (localAddress || localPort) && (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL');
    return binding ? systemError(code, 'bind', localAddress || '0.0.0.0', localPort || 0) : systemError(code, 'connect', this.target?.address, this.target?.port);
  }
}
