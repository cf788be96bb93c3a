/**
 * The local ports of one TCP layer: how many users (listeners, connections, TIME-WAIT records) each port has, the
 * host's claim on it while it has any (TcpHost.claimPort/releasePort: a stack sharing its address with the
 * kernel's TCP), and the choice of an ephemeral port (RFC 6056 3.3.3 algorithm 3). Only `ephemeral` throws
 * (EADDRNOTAVAIL, when no port in the range is free for the destination).
 */
import { BywayError } from '../util/errors.js';
import type { TcpHost } from './host.js';
import { keyedHash32 } from './parts.js';

export class PortTable {
  /** Users of each local port. */
  private readonly users = new Map<number, number>();
  /** RFC 6056 algorithm 3's `next_ephemeral`. */
  private next: number;

  constructor(
    private readonly host: Pick<TcpHost, 'claimPort' | 'releasePort'>,
    /** The secret of F (RFC 6056 3.3.3). */
    private readonly key: Uint8Array,
    next: number,
  ) {
    this.next = next;
  }

  /** One more user of `port`; the first one claims it from the host. False when the host refuses. */
  acquire(port: number): boolean {
    const n = this.users.get(port);
    if (n !== undefined) {
      this.users.set(port, n + 1);
      return true;
    }
    if (this.host.claimPort !== undefined && !this.host.claimPort(port)) return false;
    this.users.set(port, 1);
    return true;
  }

  /** One user fewer; the last one gives the port back to the host. */
  release(port: number): void {
    const n = this.users.get(port);
    if (n === undefined) return;
    if (n > 1) {
      this.users.set(port, n - 1);
      return;
    }
    this.users.delete(port);
    this.host.releasePort?.(port);
  }

  /**
   * RFC 6056 3.3.3 algorithm 3 (simple hash-based): offset = F(local IP, remote IP, remote port, secret), then the
   * first port of [low, high] from offset + next that `inUse` does not reject and the host lets us claim (acquired).
   */
  ephemeral(low: number, high: number, localIp: number, remoteIp: number, remotePort: number, inUse: (port: number) => boolean): number {
    const num = high - low + 1;
    // F: SipHash-2-4 keyed with the layer's secret.
    const offset = keyedHash32(this.key, localIp >>> 0, remoteIp >>> 0, remotePort, 0x706f7274 /* "port" */);
    for (let count = 0; count < num; count++) {
      const port = low + ((offset + this.next) % num);
      this.next = (this.next + 1) >>> 0;
      if (!inUse(port) && this.acquire(port)) return port;
    }
    throw new BywayError('EADDRNOTAVAIL', 'no ephemeral port free for this destination');
  }
}
