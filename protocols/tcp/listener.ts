/**
 * A listening endpoint (RFC 9293 3.10.7.2 LISTEN): its SYN queue (embryonic connections in SYN-RECEIVED) and its
 * accept queue (established, not yet accepted, at most `backlog`). The layer fills both (layer.ts, listenerInput);
 * the application takes connections with `accept` or `onConnection`. `close` aborts what is queued; nothing throws.
 */
import type { TcpConnection } from './connection.js';
import type { TcpLayer } from './layer.js';

/** The families a listener takes: 4 IPv4, 6 IPv6, 46 both (a dual-stack `::` listener). */
export type ListenFamily = 4 | 6 | 46;

/** A family as a bit (1 IPv4, 2 IPv6), and a ListenFamily as a mask of them. */
export function familyMask(f: ListenFamily): number {
  return f === 4 ? 1 : f === 6 ? 2 : 3;
}

export class TcpListener {
  /** Called for each connection that reaches ESTABLISHED, instead of queueing it for accept(). */
  onConnection: ((conn: TcpConnection) => void) | undefined = undefined;
  /** Called when the accept queue goes from empty to non-empty (when onConnection is not set). */
  onAcceptable: (() => void) | undefined = undefined;
  /** @internal embryonic connections (SYN-RECEIVED) */
  readonly synQueue = new Set<TcpConnection>();
  /** @internal established, not yet accepted */
  readonly acceptQueue: TcpConnection[] = [];
  closed = false;
  /**
   * The largest MSS its connections advertise and use (Linux's TCP_MAXSEG set on a listening socket, user_mss);
   * 0: the link's. Set before connections arrive.
   */
  maxSeg = 0;

  constructor(
    private readonly layer: TcpLayer,
    readonly localIp: number,
    readonly port: number,
    readonly backlog: number,
    readonly synQueueLimit: number,
    readonly family: ListenFamily = 4,
  ) {
    this.mask = familyMask(family);
  }

  /** familyMask(family): 1 takes IPv4, 2 IPv6. */
  readonly mask: number;

  /** The next established connection, or undefined. */
  accept(): TcpConnection | undefined {
    return this.acceptQueue.shift();
  }

  /** Stop listening: embryonic and unaccepted connections are reset. */
  close(now: number): void {
    if (this.closed) return;
    this.closed = true;
    this.layer.removeListener(this);
    for (const c of [...this.synQueue, ...this.acceptQueue]) c.abort(now);
    this.synQueue.clear();
    this.acceptQueue.length = 0;
  }
}
