/**
 * One shared-address flow map for several AF_XDP sockets: a cluster's workers, one socket per receive queue under one
 * program (the primary's or the supervisor's, src/cluster), worker threads of one process or worker processes. The program redirects a frame whose (address, protocol,
 * port) is in the map to the socket of the queue it arrived on; what the map does not name goes to the kernel.
 *
 * With `ipv6`, each claim is two entries, both or neither: the IPv4 one keyed with the shared address and the IPv6
 * one keyed with address 0 (any of the interface's IPv6 addresses), each with its own reservation (on [::] for
 * IPv6); everything below applies to each entry alone.
 *
 * A port every worker listens on is one entry and one kernel reservation, not one per worker: the entry's value
 * says who holds it (a bit per worker, 0..63), and keeps the reservation's descriptor (a bare one,
 * `portReserve(..., raw)`) and whose descriptor it is (`owner`). The first claim of a port reserves it in the
 * kernel and adds the entry; a later one adds its bit; a release clears its bit; when no holder is left the entry
 * goes and the reservation is closed. So a worker that dies (the primary drops its bits: `dropHolder`) leaves the
 * ports the others still hold steered and reserved, and gives the rest, its ephemeral ports among them, back.
 *
 * - Threads (`ownership: 'process'`): the descriptor is the process's (owner PRIMARY_HOLDER): any thread may
 *   close it, and it does not die with the thread that took it. The last release closes it at once.
 * - Processes (`ownership: 'holder'`): the descriptor is the reserving worker's, and dies with it. The last
 *   release closes it when it is its own; otherwise it leaves the entry with no holder (the reservation must stay
 *   until its owner closes it) and says so (`orphaned`): the supervisor removes it and has the owner close its
 *   descriptor (`finishOrphan`). A later claim of an orphan just adds its bit. A claim that adds its bit to an
 *   entry whose reservation another worker owns says so (`shared`): the supervisor adopts that reservation
 *   (`adoptReservation`: a duplicate of the owner's descriptor, pidfd_getfd(2), recorded as its own; the owner
 *   then closes its copy), so a port several workers hold stays reserved through the death of any of them. When a
 *   worker dies owning a reservation the supervisor had not adopted yet (it died within the message's way), the
 *   supervisor reserves the port again (`dropHolder` with `reserve`), and says so when the kernel took the port
 *   meanwhile (`lost`).
 *
 * The read-modify-write of an entry runs under a lock every holder shares (`FlowLock`): one Int32 of a
 * SharedArrayBuffer taken with Atomics between threads (`atomicsLock`), a key of the flow map itself inserted with
 * BPF_NOEXIST between processes (`mapLock`). Either says who holds it; a worker ended in the middle keeps it, and
 * the primary frees it when it drops that holder. (Ended between reserving and writing the entry, a worker leaks
 * that one reservation until its process ends.)
 *
 * Value layout (16 bytes, machine byte order, drivers/native/src/xdp.c struct flow_val): u32 holders[2] (bit h of
 * the 64), i32 fd (-1: none), i32 owner (PRIMARY_HOLDER: the process's or the supervisor's). A lone driver's
 * `addFlow` writes holder 0 and no descriptor.
 * Throws BywayError: ERR_INVALID_STATE (a flow this holder already claimed), ERR_XDP_FLOW (the map refused, or
 * the lock stayed taken for `lockTimeoutMs`).
 */
import { BywayError, type FlowSteering, type SteeredFlow } from '../types.js';
import { invalidArg } from '../../protocols/util/errors.js';

/** The primary's holder number (it holds no flows; it takes the lock to drop a dead worker's, owns reservations). */
export const PRIMARY_HOLDER = 64;

/** A lock the holders share: tryTake gives 0 when taken, else the current holder + 1. */
export interface FlowLock {
  tryTake(holder: number): number;
  give(holder: number): void;
  /** The primary: free the lock if `holder` (ended) keeps it. */
  freeIfHeldBy(holder: number): void;
  /** Wait a little for a change (holder + 1 now `seen`). */
  pause(seen: number): void;
}

const pauser = new Int32Array(new SharedArrayBuffer(4));

/** Between threads of one process: one Int32 of a SharedArrayBuffer (0 free, else the holder + 1). */
export function atomicsLock(buffer: SharedArrayBuffer): FlowLock {
  const l = new Int32Array(buffer, 0, 1);
  return {
    tryTake: (h) => Atomics.compareExchange(l, 0, 0, h + 1),
    give: () => {
      Atomics.store(l, 0, 0);
      Atomics.notify(l, 0);
    },
    freeIfHeldBy: (h) => {
      if (Atomics.compareExchange(l, 0, h + 1, 0) === h + 1) Atomics.notify(l, 0);
    },
    pause: (seen) => void Atomics.wait(l, 0, seen, 20),
  };
}

/** The map key the process lock is (protocol 255: the program looks up TCP, UDP and ICMP only). */
const LOCK_KEY = { address: 0, protocol: 255, port: 0 } as const;

/**
 * Between processes: a key of the flow map itself, inserted only when absent (BPF_NOEXIST), its value's holders
 * word the holder + 1. `insert` returns false when the key is there already.
 */
export function mapLock(map: FlowMapAccess & { insert(address: number, protocol: number, port: number, value: Uint8Array): boolean }): FlowLock {
  const { address, protocol, port } = LOCK_KEY;
  const current = (): number => {
    const v = map.get(address, protocol, port);
    return v === undefined ? 0 : words(v).holders[0]!;
  };
  return {
    tryTake: (h) => {
      const v = new Uint8Array(16);
      words(v).holders[0] = h + 1;
      return map.insert(address, protocol, port, v) ? 0 : current() || 1;
    },
    give: () => map.remove(address, protocol, port),
    freeIfHeldBy: (h) => {
      if (current() === h + 1) map.remove(address, protocol, port);
    },
    pause: () => void Atomics.wait(pauser, 0, 0, 2),
  };
}

const PROTO = { icmp: 1, tcp: 6, udp: 17 } as const;
/** Over IPv6 (keyed with address 0): ICMPv6 echo replies by identifier, TCP and UDP by port. */
const PROTO6 = { icmp: 58, tcp: 6, udp: 17 } as const;
const EADDRINUSE = -98;

/** The map, through one of the process's descriptors of it (a worker's socket, or the primary's program). */
export interface FlowMapAccess {
  /** The 16-byte value, or undefined when the flow is absent. */
  get(address: number, protocol: number, port: number): Uint8Array | undefined;
  put(address: number, protocol: number, port: number, value: Uint8Array): void;
  remove(address: number, protocol: number, port: number): void;
  list(): Array<{ readonly address: number; readonly protocol: number; readonly port: number; readonly value: Uint8Array }>;
}

/**
 * A kernel port reservation: the descriptor, or a negative errno (-98 EADDRINUSE: the kernel holds the port).
 * family 4: on the shared IPv4 address; 6: on every IPv6 address ([::], v6only).
 */
export type Reserve = (protocol: 'tcp' | 'udp', port: number, family: 4 | 6) => number;

export interface SharedFlowsOptions {
  readonly map: FlowMapAccess;
  /** The lock, the same for every holder and the primary. */
  readonly lock: FlowLock;
  /** 'process' (default): threads of one process; 'holder': worker processes (see the contract above). */
  readonly ownership?: 'process' | 'holder';
  /** 'holder' ownership: the last release left an entry whose reservation another process owns (tell the supervisor). */
  readonly orphaned?: (protocol: number, port: number, address: number) => void;
  /**
   * 'holder' ownership: this holder's claim joined an entry whose reservation another worker's descriptor is (tell
   * the supervisor, which adopts it: `adoptReservation`).
   */
  readonly shared?: (protocol: number, port: number, address: number) => void;
  /** This holder's number, 0..63 (a cluster worker's index). */
  readonly holder: number;
  /** The shared IPv4 address (host order): the IPv4 flows' key. Undefined: IPv6 only. */
  readonly address: number | undefined;
  /**
   * Steer each flow over IPv6 too: a second entry keyed with address 0 (the program's key for any of the
   * interface's IPv6 addresses), with its own reservation on [::]. A claim takes both or neither.
   */
  readonly ipv6?: boolean;
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

/** A fresh value: one holder, the reservation `fd` and whose descriptor it is. */
export function flowValue(holder: number, fd: number, owner: number): Uint8Array {
  const v = new Uint8Array(16);
  const w = words(v);
  w.holders[holderWord(holder)] = holderBit(holder);
  w.fds[0] = fd;
  w.fds[1] = owner;
  return v;
}

/** A value's reservation: the descriptor (-1: none) and its owner. */
export function flowReservation(value: Uint8Array): { fd: number; owner: number } {
  const { fds } = words(value);
  return { fd: fds[0]!, owner: fds[1]! };
}

/** The holders a value names, lowest first. */
export function flowHolders(value: Uint8Array): number[] {
  const { holders } = words(value);
  const out: number[] = [];
  for (let h = 0; h < 64; h++) if ((holders[holderWord(h)]! & holderBit(h)) !== 0) out.push(h);
  return out;
}

/** Run `fn` holding the lock as `holder`. */
export function withFlowLock<T>(lock: FlowLock, holder: number, timeoutMs: number, fn: () => T): T {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const was = lock.tryTake(holder);
    if (was === 0) break;
    if (Date.now() >= until) throw new BywayError('ERR_XDP_FLOW', `the shared flow map's lock stayed with holder ${was - 1} for ${timeoutMs} ms`);
    lock.pause(was);
  }
  try {
    return fn();
  } finally {
    lock.give(holder);
  }
}

const noHolders = (holders: Uint32Array): boolean => holders[0] === 0 && holders[1] === 0;

/**
 * Clear `holder`'s bit in one entry, under the lock. With no holder left the entry goes and its reservation is
 * closed, when `mayClose` says this side can close it; otherwise the entry stays, holderless, and 'orphan' is
 * returned. 'gone', 'kept' (others hold it) or 'none' (this holder did not).
 */
function dropOne(
  map: FlowMapAccess,
  key: { address: number; protocol: number; port: number },
  holder: number,
  mayClose: (owner: number) => boolean,
  unreserve: (fd: number, owner: number) => void,
): 'gone' | 'kept' | 'orphan' | 'none' {
  const { address, protocol, port } = key;
  const v = map.get(address, protocol, port);
  if (v === undefined) return 'none';
  const { holders, fds } = words(v);
  const i = holderWord(holder);
  if ((holders[i]! & holderBit(holder)) === 0) return 'none';
  holders[i] = (holders[i]! & ~holderBit(holder)) >>> 0;
  if (!noHolders(holders)) {
    map.put(address, protocol, port, v);
    return 'kept';
  }
  if (fds[0]! >= 0 && !mayClose(fds[1]!)) {
    map.put(address, protocol, port, v);
    return 'orphan';
  }
  map.remove(address, protocol, port);
  if (fds[0]! >= 0) unreserve(fds[0]!, fds[1]!);
  return 'gone';
}

export interface DropOptions {
  /**
   * Close a reservation: one the primary owns (owner PRIMARY_HOLDER) it closes; one a live worker process owns, it
   * asks that worker to close.
   */
  readonly unreserve: (fd: number, owner: number) => void;
  /** 'holder' ownership: a new reservation of the primary's own, for a port a dead worker's descriptor reserved. */
  readonly reserve?: (protocol: 'tcp' | 'udp', port: number, address: number) => number;
  readonly timeoutMs?: number;
}

/** A port others still hold whose reservation died with its worker and could not be taken again (the errno). */
export interface LostReservation {
  readonly protocol: number;
  readonly port: number;
  readonly address: number;
  readonly errno: number;
}

/**
 * The primary, when a holder has ended: free the lock if it kept it, then clear its bit in every entry. Returns how
 * many entries went back to the kernel (no holder left), how many stay (another holder has them) and how many
 * reservations the primary took again (below). With
 * `reserve` (worker processes), a reservation the dead worker owned for a port others still hold is taken again
 * by the primary, and an orphan it owned is removed.
 */
export function dropHolder(
  map: FlowMapAccess,
  lock: FlowLock,
  holder: number,
  o: DropOptions,
): { released: number; kept: number; reserved: number; lost: LostReservation[] } {
  lock.freeIfHeldBy(holder);
  const dead = (owner: number): boolean => o.reserve !== undefined && owner === holder;
  return withFlowLock(lock, PRIMARY_HOLDER, o.timeoutMs ?? 5000, () => {
    let released = 0;
    let kept = 0;
    let reserved = 0;
    const lost: LostReservation[] = [];
    for (const e of map.list()) {
      if (e.protocol === LOCK_KEY.protocol) continue;
      const held = flowHolders(e.value).includes(holder);
      const r = held ? dropOne(map, e, holder, () => true, (fd, owner) => !dead(owner) && o.unreserve(fd, owner)) : 'none';
      if (r === 'gone') released++;
      if (r === 'kept') kept++;
      const now = map.get(e.address, e.protocol, e.port);
      if (now === undefined || !dead(flowReservation(now).owner)) continue;
      // Its descriptor went with it: an orphan goes, a port others hold is reserved again by the primary.
      if (noHolders(words(now).holders)) {
        map.remove(e.address, e.protocol, e.port);
        if (!held) released++;
        continue;
      }
      if (flowReservation(now).fd < 0) continue; // ICMP: nothing was reserved
      const name = e.protocol === 6 ? 'tcp' : 'udp';
      const fd = o.reserve!(name, e.port, e.address);
      const w = words(now);
      w.fds[0] = fd >= 0 ? fd : -1;
      w.fds[1] = PRIMARY_HOLDER;
      map.put(e.address, e.protocol, e.port, now);
      if (fd >= 0) reserved++;
      else lost.push({ protocol: e.protocol, port: e.port, address: e.address, errno: -fd });
    }
    return { released, kept, reserved, lost };
  });
}

/**
 * 'holder' ownership, the primary: make the reservation of one entry its own while its owner lives (a worker said
 * `shared`): `take(owner, fd)` duplicates the owner's descriptor into this process (pidfd_getfd), the entry then
 * records the copy as the primary's, and `unreserve` asks the owner to close its own. 'adopted'; 'none' when
 * there is nothing to adopt (no entry, no reservation, or the primary's already); or the errno `take` gave (the
 * owner is gone: `dropHolder` reserves again).
 */
export function adoptReservation(
  map: FlowMapAccess,
  lock: FlowLock,
  key: { address: number; protocol: number; port: number },
  o: { take(owner: number, fd: number): number; unreserve(fd: number, owner: number): void; timeoutMs?: number },
): 'adopted' | 'none' | number {
  return withFlowLock(lock, PRIMARY_HOLDER, o.timeoutMs ?? 5000, () => {
    const v = map.get(key.address, key.protocol, key.port);
    if (v === undefined) return 'none';
    const { fd, owner } = flowReservation(v);
    if (fd < 0 || owner === PRIMARY_HOLDER) return 'none';
    const copy = o.take(owner, fd);
    if (copy < 0) return -copy;
    const w = words(v);
    w.fds[0] = copy;
    w.fds[1] = PRIMARY_HOLDER;
    map.put(key.address, key.protocol, key.port, v);
    o.unreserve(fd, owner);
    return 'adopted';
  });
}

/**
 * 'holder' ownership, the primary: a worker left an orphan (`orphaned`): remove it if it still has no holder, and
 * close its reservation (`unreserve`: the primary's own, or asking its owner). False when a new holder took it.
 */
export function finishOrphan(map: FlowMapAccess, lock: FlowLock, key: { address: number; protocol: number; port: number }, o: DropOptions): boolean {
  return withFlowLock(lock, PRIMARY_HOLDER, o.timeoutMs ?? 5000, () => {
    const v = map.get(key.address, key.protocol, key.port);
    if (v === undefined || !noHolders(words(v).holders)) return false;
    map.remove(key.address, key.protocol, key.port);
    const r = flowReservation(v);
    if (r.fd >= 0) o.unreserve(r.fd, r.owner);
    return true;
  });
}

/** FlowSteering over the shared map for one holder (a worker's driver). */
export class SharedFlows implements FlowSteering {
  private readonly lock: FlowLock;
  private readonly timeoutMs: number;
  private readonly ownership: 'process' | 'holder';
  /** This holder's claims ("tcp/80"), so close() drops them without walking the map. */
  private readonly mine = new Set<string>();
  /** 'holder' ownership: the reservations this holder made and has not closed (they may serve others' claims). */
  private readonly owned = new Set<number>();
  /** The map keys a claim covers: the IPv4 address's, and with `ipv6` address 0 (any of the IPv6 addresses). */
  private readonly families: ReadonlyArray<4 | 6>;

  constructor(private readonly o: SharedFlowsOptions) {
    if (!Number.isInteger(o.holder) || o.holder < 0 || o.holder > 63) throw invalidArg(`holder must be an integer from 0 to 63, got ${String(o.holder)}`);
    if (o.address === undefined && o.ipv6 !== true) throw invalidArg('a shared flow map needs an IPv4 address, ipv6, or both');
    this.lock = o.lock;
    this.timeoutMs = o.lockTimeoutMs ?? 5000;
    this.ownership = o.ownership ?? 'process';
    this.families = [...(o.address !== undefined ? [4 as const] : []), ...(o.ipv6 === true ? [6 as const] : [])];
  }

  get holder(): number {
    return this.o.holder;
  }

  /** Flows this holder claimed and has not released. */
  get claimed(): number {
    return this.mine.size;
  }

  /** The map key of `protocol`'s flows in `family`. */
  private key(protocol: SteeredFlow['protocol'], family: 4 | 6, port: number): { address: number; protocol: number; port: number } {
    return family === 4 ? { address: this.o.address!, protocol: PROTO[protocol], port } : { address: 0, protocol: PROTO6[protocol], port };
  }

  claim(f: SteeredFlow): boolean {
    if (PROTO[f.protocol] === undefined) throw invalidArg(`flow protocol must be tcp, udp or icmp, got ${String(f.protocol)}`);
    if (!Number.isInteger(f.port) || f.port < 0 || f.port > 0xffff || (f.port === 0 && f.protocol !== 'icmp')) {
      throw invalidArg(`flow port must be in 1..65535, got ${f.port}`);
    }
    const name = `${f.protocol}/${f.port}`;
    if (this.mine.has(name)) throw new BywayError('ERR_INVALID_STATE', `flow ${f.protocol}/${f.port} is already claimed`);
    const joinedOthers: Array<{ address: number; protocol: number; port: number }> = [];
    const orphans: Array<{ address: number; protocol: number; port: number }> = [];
    const r = withFlowLock(this.lock, this.o.holder, this.timeoutMs, () => {
      const done: Array<{ address: number; protocol: number; port: number }> = [];
      const undo = (): void => {
        for (const k of done) if (this.dropKey(k) === 'orphan') orphans.push(k);
        joinedOthers.length = 0;
      };
      try {
        for (const family of this.families) {
          const k = this.key(f.protocol, family, f.port);
          const got = this.claimKey(k, f.protocol, family);
          if (got === 'in-use') {
            undo();
            return false;
          }
          done.push(k);
          if (got === 'joined-others') joinedOthers.push(k);
        }
      } catch (e) {
        undo();
        throw e;
      }
      this.mine.add(name);
      return true;
    });
    for (const k of orphans) this.o.orphaned?.(k.protocol, k.port, k.address);
    // Its reservation dies with its owner: the supervisor adopts it, so this holder's port outlives that worker.
    for (const k of joinedOthers) this.o.shared?.(k.protocol, k.port, k.address);
    return r;
  }

  /**
   * Under the lock: one key of a claim. 'joined' another holder's entry (or 'joined-others': one whose reservation
   * another worker process owns), 'added' a new entry with its reservation, or 'in-use' (the kernel holds the port).
   */
  private claimKey(k: { address: number; protocol: number; port: number }, protocol: SteeredFlow['protocol'], family: 4 | 6): 'joined' | 'joined-others' | 'added' | 'in-use' {
    const { map, holder } = this.o;
    const v = map.get(k.address, k.protocol, k.port);
    if (v !== undefined) {
      // Another holder steers it and holds the kernel's reservation: one more holder.
      const { holders } = words(v);
      holders[holderWord(holder)] = (holders[holderWord(holder)]! | holderBit(holder)) >>> 0;
      map.put(k.address, k.protocol, k.port, v);
      const { fd, owner } = flowReservation(v);
      return this.ownership === 'holder' && fd >= 0 && owner !== PRIMARY_HOLDER && owner !== holder ? 'joined-others' : 'joined';
    }
    let fd = -1;
    if (protocol !== 'icmp') {
      fd = this.o.reserve(protocol, k.port, family);
      if (fd === EADDRINUSE) return 'in-use';
      if (fd >= 0 && this.ownership === 'holder') this.owned.add(fd);
      if (fd < 0) {
        throw new BywayError(fd === -99 ? 'EADDRNOTAVAIL' : fd === -13 ? 'EACCES' : 'ERR_PORT_RESERVE', `could not reserve ${protocol}/${k.port} (IPv${family}) in the kernel (errno ${-fd})`);
      }
    }
    try {
      map.put(k.address, k.protocol, k.port, flowValue(holder, fd, this.ownership === 'process' ? PRIMARY_HOLDER : holder));
    } catch (e) {
      if (fd >= 0) this.unreserveOwn(fd);
      throw e;
    }
    return 'added';
  }

  release(f: SteeredFlow): void {
    if (!this.mine.delete(`${f.protocol}/${f.port}`)) return;
    const orphans = withFlowLock(this.lock, this.o.holder, this.timeoutMs, () => this.dropMine(f.protocol, f.port));
    for (const k of orphans) this.o.orphaned?.(k.protocol, k.port, k.address);
  }

  /** Under the lock: this holder lets go of one flow in every family; the keys left orphaned. */
  private dropMine(protocol: SteeredFlow['protocol'], port: number): Array<{ address: number; protocol: number; port: number }> {
    const orphans: Array<{ address: number; protocol: number; port: number }> = [];
    for (const family of this.families) {
      const k = this.key(protocol, family, port);
      if (this.dropKey(k) === 'orphan') orphans.push(k);
    }
    return orphans;
  }

  /** Under the lock: this holder lets go of one key (a reservation it may close, it closes). */
  private dropKey(k: { address: number; protocol: number; port: number }): 'gone' | 'kept' | 'orphan' | 'none' {
    const mayClose = (owner: number): boolean => this.ownership === 'process' || owner === this.o.holder;
    return dropOne(this.o.map, k, this.o.holder, mayClose, (fd) => this.unreserveOwn(fd));
  }

  private unreserveOwn(fd: number): void {
    this.owned.delete(fd);
    this.o.unreserve(fd);
  }

  /**
   * 'holder' ownership: the supervisor removed an orphan whose reservation is this holder's descriptor `fd` (or
   * adopted it): close it. Only a descriptor this holder reserved and still keeps; false for any other.
   */
  closeReservation(fd: number): boolean {
    if (!this.owned.has(fd)) return false;
    this.unreserveOwn(fd);
    return true;
  }

  /** Drop every claim of this holder (the driver closes). */
  close(): void {
    if (this.mine.size === 0) return;
    const orphans: Array<{ address: number; protocol: number; port: number }> = [];
    withFlowLock(this.lock, this.o.holder, this.timeoutMs, () => {
      for (const name of this.mine) {
        const [protocol, port] = name.split('/') as [SteeredFlow['protocol'], string];
        orphans.push(...this.dropMine(protocol, Number(port)));
      }
    });
    this.mine.clear();
    for (const k of orphans) this.o.orphaned?.(k.protocol, k.port, k.address);
  }
}
