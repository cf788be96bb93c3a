/**
 * The TCP layer's demultiplexing table: its connections by 4-tuple (RFC 9293 3.3.1's connection identification),
 * TIME-WAIT records aside (time-wait.ts). Keyed by remote address, then by (localPort << 16 | remotePort); the
 * connections sharing those with different local addresses are chained. Nothing throws; the layer owns the
 * connections' lives and their ports.
 */
import type { TcpConnection } from './connection.js';

export class ConnTable {
  /** remoteIp -> (localPort << 16 | remotePort) -> connection chain (different local addresses). */
  private readonly conns = new Map<number, Map<number, TcpConnection>>();
  private readonly chain = new WeakMap<TcpConnection, TcpConnection>();
  /**
   * The connection `lookup` found last, asked first: a flow's segments arrive one after another, and the tables'
   * key ((localPort << 16 | remotePort) >>> 0) is no small integer for V8 once the local port is 16384 or above (an
   * ephemeral port always), so each Map lookup made a new 16 B heap number besides its two hash lookups. `register`
   * and `unregister` forget it (the only changes to what the tables answer for a 4-tuple), so it is always the
   * tables' answer.
   */
  private lastFound: TcpConnection | undefined = undefined;
  /** Connections registered. */
  size = 0;

  lookup(localIp: number, localPort: number, remoteIp: number, remotePort: number): TcpConnection | undefined {
    const h = this.lastFound;
    if (h !== undefined && h.remotePort === remotePort && h.localPort === localPort && h.remoteIp === remoteIp && h.localIp === localIp) return h;
    const c = this.lookupTables(localIp, localPort, remoteIp, remotePort);
    if (c !== undefined) this.lastFound = c;
    return c;
  }

  private lookupTables(localIp: number, localPort: number, remoteIp: number, remotePort: number): TcpConnection | undefined {
    const m = this.conns.get(remoteIp);
    if (!m) return undefined;
    let c = m.get(((localPort << 16) | remotePort) >>> 0);
    while (c && c.localIp !== localIp) c = this.chain.get(c);
    return c;
  }

  register(conn: TcpConnection): void {
    this.lastFound = undefined;
    let m = this.conns.get(conn.remoteIp);
    if (!m) {
      m = new Map();
      this.conns.set(conn.remoteIp, m);
    }
    const key = ((conn.localPort << 16) | conn.remotePort) >>> 0;
    const head = m.get(key);
    if (head) this.chain.set(conn, head);
    m.set(key, conn);
    this.size++;
  }

  /** Take `conn` out; false when it was not registered. */
  unregister(conn: TcpConnection): boolean {
    this.lastFound = undefined;
    const m = this.conns.get(conn.remoteIp);
    if (!m) return false;
    const key = ((conn.localPort << 16) | conn.remotePort) >>> 0;
    let c = m.get(key);
    let prev: TcpConnection | undefined;
    while (c && c !== conn) {
      prev = c;
      c = this.chain.get(c);
    }
    if (!c) return false;
    const next = this.chain.get(c);
    this.chain.delete(c);
    if (prev) {
      if (next) this.chain.set(prev, next);
      else this.chain.delete(prev);
    } else if (next) m.set(key, next);
    else {
      m.delete(key);
      if (m.size === 0) this.conns.delete(conn.remoteIp);
    }
    this.size--;
    return true;
  }

  /** Every connection to a remote address `to` selects (all when absent), listed first (callers may close them). */
  list(to?: (remoteIp: number) => boolean): TcpConnection[] {
    const out: TcpConnection[] = [];
    for (const [remoteIp, m] of this.conns) {
      if (to !== undefined && !to(remoteIp)) continue;
      for (const head of m.values()) for (let c: TcpConnection | undefined = head; c; c = this.chain.get(c)) out.push(c);
    }
    return out;
  }
}
