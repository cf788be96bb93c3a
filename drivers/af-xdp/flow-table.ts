/**
 * One shared-address flow map for several AF_XDP sockets of one process: a cluster's workers, one socket per receive
 * queue under one program (the primary's, src/cluster). The program redirects a frame whose (address, protocol,
 * port) is in the map to the socket of the queue it arrived on; what the map does not name goes to the kernel.
 *
 * A port every worker listens on is one entry and one kernel reservation, not one per worker: the entry's value
 * says who holds it (a bit per worker, 0..63) and keeps the reservation's descriptor (a bare descriptor of the
 * process, `portReserve(..., raw)`, which any thread may close and which does not die with the thread that made
 * it). The first claim of a port reserves it in the kernel and adds the entry; a later one adds its bit; a release
 * clears its bit, and the last one removes the entry and closes the reservation. So a worker that dies (the
 * primary drops its bits: `dropHolder`) leaves the ports the others still hold steered and reserved, and gives the
 * rest, its ephemeral ports among them, back to the kernel.
 *
 * The read-modify-write of an entry runs under a lock every holder shares: one Int32 of a SharedArrayBuffer
 * (0 free, else the holder + 1), taken with Atomics. A thread ended in the middle keeps the lock: the primary frees
 * it when it drops that holder. (Ended between reserving and writing the entry, it leaks that one reservation
 * until the process ends.)
 *
 * Value layout (16 bytes, machine byte order, drivers/native/src/xdp.c struct flow_val): u32 holders[2] (bit h of
 * the 64), i32 fd4, i32 fd6 (-1: none). A lone driver's `addFlow` writes holder 0 and no descriptors.
 * Throws BywayError: ERR_INVALID_STATE (a flow this holder already claimed), ERR_XDP_FLOW (the map refused, or
 * the lock stayed taken for `lockTimeoutMs`).
 */
import { BywayError, type FlowSteering, type SteeredFlow } from '../types.js';
import { invalidArg } from '../../protocols/util/errors.js';

/** The primary's holder number (it holds no flows; it takes the lock to drop a dead worker's). */
export const PRIMARY_HOLDER = 64;

const PROTO = { icmp: 1, tcp: 6, udp: 17 } as const;
const EADDRINUSE = -98;

/** The map, through one of the process's descriptors of it (a worker's socket, or the primary's program). */
export interface FlowMapAccess {
  /** The 16-byte value, or undefined when the flow is absent. */
  get(address: number, protocol: number, port: number): Uint8Array | undefined;
  put(address: number, protocol: number, port: number, value: Uint8Array): void;
  remove(address: number, protocol: number, port: number): void;
  list(): Array<{ readonly address: number; readonly protocol: number; readonly port: number; readonly value: Uint8Array }>;
}

/** A kernel port reservation: the descriptor, or a negative errno (-98 EADDRINUSE: the kernel holds the port). */
export type Reserve = (protocol: 'tcp' | 'udp', port: number) => number;

export interface SharedFlowsOptions {
  readonly map: FlowMapAccess;
  /** The lock's SharedArrayBuffer (at least 4 bytes), the same for every holder and the primary. */
  readonly lock: SharedArrayBuffer;
  /** This holder's number, 0..63 (a cluster worker's index). */
  readonly holder: number;
  /** The shared IPv4 address (host order): the flows' key. */
  readonly address: number;
  readonly reserve: Reserve;
  /** Close a reservation's descriptor. */
  readonly unreserve: (fd: number) => void;
  /** How long to wait for the lock (default 5000 ms). */
  readonly lockTimeoutMs?: number;
}

const holderWord = (h: number): number => h >>> 5;
const holderBit = (h: number): number => (1 << (h & 31)) >>> 0;

function words(value: Uint8Array): { holders: Uint32Array; fds: Int32Array } {
  return { holders: new Uint32Array(value.buffer, value.byteOffset, 2), fds: new Int32Array(value.buffer, value.byteOffset + 8, 2) };
}

/** A fresh value: one holder and the reservation `fd4`. */
export function flowValue(holder: number, fd4: number): Uint8Array {
  const v = new Uint8Array(16);
  const w = words(v);
  w.holders[holderWord(holder)] = holderBit(holder);
  w.fds[0] = fd4;
  w.fds[1] = -1;
  return v;
}

/** The holders a value names, lowest first. */
export function flowHolders(value: Uint8Array): number[] {
  const { holders } = words(value);
  const out: number[] = [];
  for (let h = 0; h < 64; h++) if ((holders[holderWord(h)]! & holderBit(h)) !== 0) out.push(h);
  return out;
}

/** Run `fn` holding the lock as `holder`. */
export function withFlowLock<T>(lock: Int32Array, holder: number, timeoutMs: number, fn: () => T): T {
  const me = holder + 1;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const was = Atomics.compareExchange(lock, 0, 0, me);
    if (was === 0) break;
    if (Date.now() >= until) throw new BywayError('ERR_XDP_FLOW', `the shared flow map's lock stayed with holder ${was - 1} for ${timeoutMs} ms`);
    Atomics.wait(lock, 0, was, 20);
  }
  try {
    return fn();
  } finally {
    Atomics.store(lock, 0, 0);
    Atomics.notify(lock, 0);
  }
}

/**
 * Clear `holder`'s bit in one entry: the last holder removes it and closes its reservations. Under the lock.
 * True when the entry is gone.
 */
function dropOne(map: FlowMapAccess, address: number, protocol: number, port: number, holder: number, unreserve: (fd: number) => void): boolean {
  const v = map.get(address, protocol, port);
  if (v === undefined) return false;
  const { holders, fds } = words(v);
  const i = holderWord(holder);
  if ((holders[i]! & holderBit(holder)) === 0) return false;
  holders[i] = (holders[i]! & ~holderBit(holder)) >>> 0;
  if (holders[0] !== 0 || holders[1] !== 0) {
    map.put(address, protocol, port, v);
    return false;
  }
  map.remove(address, protocol, port);
  for (const fd of fds) if (fd >= 0) unreserve(fd);
  return true;
}

/**
 * The primary, when a holder has ended: free the lock if it kept it, then clear its bit in every entry. Returns how
 * many entries went back to the kernel (no holder left) and how many stay (another holder has them).
 */
export function dropHolder(map: FlowMapAccess, lock: SharedArrayBuffer, holder: number, unreserve: (fd: number) => void, timeoutMs = 5000): { released: number; kept: number } {
  const l = new Int32Array(lock, 0, 1);
  if (Atomics.compareExchange(l, 0, holder + 1, 0) === holder + 1) Atomics.notify(l, 0);
  return withFlowLock(l, PRIMARY_HOLDER, timeoutMs, () => {
    let released = 0;
    let kept = 0;
    for (const e of map.list()) {
      if (!flowHolders(e.value).includes(holder)) continue;
      if (dropOne(map, e.address, e.protocol, e.port, holder, unreserve)) released++;
      else kept++;
    }
    return { released, kept };
  });
}

/** FlowSteering over the shared map for one holder (a worker's driver). */
export class SharedFlows implements FlowSteering {
  private readonly lock: Int32Array;
  private readonly timeoutMs: number;
  /** This holder's claims ("6/80"), so close() drops them without walking the map. */
  private readonly mine = new Set<string>();

  constructor(private readonly o: SharedFlowsOptions) {
    if (!Number.isInteger(o.holder) || o.holder < 0 || o.holder > 63) throw invalidArg(`holder must be an integer from 0 to 63, got ${String(o.holder)}`);
    this.lock = new Int32Array(o.lock, 0, 1);
    this.timeoutMs = o.lockTimeoutMs ?? 5000;
  }

  get holder(): number {
    return this.o.holder;
  }

  /** Flows this holder claimed and has not released. */
  get claimed(): number {
    return this.mine.size;
  }

  claim(f: SteeredFlow): boolean {
    const proto = PROTO[f.protocol];
    if (proto === undefined) throw invalidArg(`flow protocol must be tcp, udp or icmp, got ${String(f.protocol)}`);
    if (!Number.isInteger(f.port) || f.port < 0 || f.port > 0xffff || (f.port === 0 && f.protocol !== 'icmp')) {
      throw invalidArg(`flow port must be in 1..65535, got ${f.port}`);
    }
    const key = `${proto}/${f.port}`;
    if (this.mine.has(key)) throw new BywayError('ERR_INVALID_STATE', `flow ${f.protocol}/${f.port} is already claimed`);
    const { map, address, holder } = this.o;
    return withFlowLock(this.lock, holder, this.timeoutMs, () => {
      const v = map.get(address, proto, f.port);
      if (v !== undefined) {
        // Another holder steers it and holds the kernel's reservation: one more holder.
        const { holders } = words(v);
        holders[holderWord(holder)] = (holders[holderWord(holder)]! | holderBit(holder)) >>> 0;
        map.put(address, proto, f.port, v);
        this.mine.add(key);
        return true;
      }
      let fd = -1;
      if (f.protocol !== 'icmp') {
        fd = this.o.reserve(f.protocol, f.port);
        if (fd === EADDRINUSE) return false;
        if (fd < 0) throw new BywayError(fd === -99 ? 'EADDRNOTAVAIL' : fd === -13 ? 'EACCES' : 'ERR_PORT_RESERVE', `could not reserve ${f.protocol}/${f.port} in the kernel (errno ${-fd})`);
      }
      try {
        map.put(address, proto, f.port, flowValue(holder, fd));
      } catch (e) {
        if (fd >= 0) this.o.unreserve(fd);
        throw e;
      }
      this.mine.add(key);
      return true;
    });
  }

  release(f: SteeredFlow): void {
    const proto = PROTO[f.protocol];
    const key = `${proto}/${f.port}`;
    if (!this.mine.delete(key)) return;
    const { map, address, holder } = this.o;
    withFlowLock(this.lock, holder, this.timeoutMs, () => dropOne(map, address, proto, f.port, holder, this.o.unreserve));
  }

  /** Drop every claim of this holder (the driver closes). */
  close(): void {
    if (this.mine.size === 0) return;
    const { map, address, holder } = this.o;
    withFlowLock(this.lock, holder, this.timeoutMs, () => {
      for (const key of this.mine) {
        const [proto, port] = key.split('/').map(Number) as [number, number];
        dropOne(map, address, proto, port, holder, this.o.unreserve);
      }
    });
    this.mine.clear();
  }
}
