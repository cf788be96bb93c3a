/**
 * One TCP core for both families: the core keys connections by a number per address (the four-tuple maps, the
 * TIME-WAIT table's Uint32Array columns, the listeners). An IPv4 address is its own 32-bit number; an IPv6
 * address is interned here as an id in 0.0.0.1 .. 0.255.255.255, the "this network" block (RFC 1122 3.2.1.3 (a)),
 * which no IPv4 packet from the wire may carry as a source (the stack drops it as martian) and which the API
 * refuses as a destination, so the two kinds never meet. Every place that keys by a 32-bit IPv4 number today keys
 * by the id unchanged, and IPv4's path is exactly what it was.
 *
 * The keyed hashes (RFC 6528's ISN, SYN cookies, RFC 6056's port offset) take `hashWord(id)`: for IPv6 a keyed
 * 32-bit digest of all 16 bytes, computed once when the address is interned, so an ISN does not depend on which id
 * an address got. The SYN cookies take `keyedWord(id, cookieKey)` instead: a digest under the cookie secret, which
 * the stacks of a cluster share.
 *
 * Ids are dealt in order and reused only after the counter wraps, and only ids the layer no longer holds (a
 * connection, a TIME-WAIT record, a listener: `sweep` asks the layer) are forgotten, when the table has grown to
 * twice what was live at the previous sweep (at least `minSweep`). Lookups allocate nothing; interning allocates one
 * entry per new address. Nothing throws; `intern` answers 0 when every id is live.
 */
import { keyedHash32 } from './isn.js';

/** The first id past the IPv6 range (0.0.0.1 .. 0.255.255.255). */
const ID_LIMIT = 0x1000000;

/** Whether an address number of the TCP core is an interned IPv6 address (an id in 0/8 other than 0). */
export function isIpv6Id(id: number): boolean {
  return id > 0 && id < ID_LIMIT;
}

interface Entry {
  readonly id: number;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
  readonly bytes: Uint8Array;
  readonly digest: number;
  /** The next entry with the same bucket hash. */
  next: Entry | undefined;
}

function word(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export class Ipv6AddressIds {
  private readonly byId = new Map<number, Entry>();
  private readonly buckets = new Map<number, Entry>();
  private nextId = 1;
  private sweepAt: number;
  private readonly k0: number;
  private readonly k1: number;
  private readonly k2: number;
  private readonly k3: number;
  /** Sweeps run (a counter for tests and stats). */
  sweeps = 0;

  /**
   * @param key 16 bytes for the keyed digest (a secret: it keys the ISN and cookie hashes of IPv6 tuples).
   * @param inUse calls `mark(id)` for every id the layer still holds.
   */
  constructor(
    private readonly key: Uint8Array,
    private readonly inUse: (mark: (id: number) => void) => void,
    private readonly minSweep = 4096,
    private readonly idLimit = ID_LIMIT,
  ) {
    this.sweepAt = minSweep;
    this.k0 = word(key, 0);
    this.k1 = word(key, 4);
    this.k2 = word(key, 8);
    this.k3 = word(key, 12);
  }

  get size(): number {
    return this.byId.size;
  }

  private bucketOf(w0: number, w1: number, w2: number, w3: number): number {
    let h = Math.imul(w0 ^ this.k0, 0x9e3779b1) ^ Math.imul(w1 ^ this.k1, 0x85ebca77);
    h ^= Math.imul(w2 ^ this.k2, 0xc2b2ae3d) ^ Math.imul(w3 ^ this.k3, 0x27d4eb2f);
    return (h ^ (h >>> 15)) | 0;
  }

  /** The id of the address at b[off, off + 16), or 0 when it is not interned. No allocation. */
  find(b: Uint8Array, off = 0): number {
    const w0 = word(b, off), w1 = word(b, off + 4), w2 = word(b, off + 8), w3 = word(b, off + 12);
    for (let e = this.buckets.get(this.bucketOf(w0, w1, w2, w3)); e !== undefined; e = e.next) {
      if (e.w3 === w3 && e.w2 === w2 && e.w1 === w1 && e.w0 === w0) return e.id;
    }
    return 0;
  }

  /** The id of the address at b[off, off + 16), interned if new; 0 when no id is free. */
  intern(b: Uint8Array, off = 0): number {
    const found = this.find(b, off);
    if (found !== 0) return found;
    if (this.byId.size >= this.sweepAt) this.sweep();
    if (this.byId.size >= this.idLimit - 1) return 0;
    let id = this.nextId;
    while (this.byId.has(id)) id = id + 1 >= this.idLimit ? 1 : id + 1;
    this.nextId = id + 1 >= this.idLimit ? 1 : id + 1;
    const bytes = b.slice(off, off + 16); // kept: the caller's view is a received frame's
    const w0 = word(b, off), w1 = word(b, off + 4), w2 = word(b, off + 8), w3 = word(b, off + 12);
    const h = this.bucketOf(w0, w1, w2, w3);
    const e: Entry = { id, w0, w1, w2, w3, bytes, digest: keyedHash32(this.key, w0, w1, w2, w3), next: this.buckets.get(h) };
    this.buckets.set(h, e);
    this.byId.set(id, e);
    return id;
  }

  /** The 16 bytes of an interned id (the table's own copy: do not modify), or undefined. */
  bytes(id: number): Uint8Array | undefined {
    return this.byId.get(id)?.bytes;
  }

  /**
   * An address number's word under another key: the IPv4 number itself, or a digest of the IPv6 address's 16 bytes
   * under `key` (computed on each call). The SYN cookies take it with their own key, so stacks that share that key
   * (a cluster's workers) agree on an IPv6 tuple, whatever their own digest key (`hashWord`'s, drawn per stack).
   */
  keyedWord(id: number, key: Uint8Array): number {
    if (!isIpv6Id(id)) return id >>> 0;
    const e = this.byId.get(id);
    return e === undefined ? id : keyedHash32(key, e.w0, e.w1, e.w2, e.w3);
  }

  /** What the keyed hashes take for an address number: the IPv4 number itself, or an IPv6 address's digest. */
  hashWord(id: number): number {
    if (!isIpv6Id(id)) return id >>> 0;
    return this.byId.get(id)?.digest ?? id;
  }

  /** Forget every id the layer no longer holds. */
  sweep(): void {
    this.sweeps++;
    const live = new Set<number>();
    this.inUse((id) => {
      if (isIpv6Id(id)) live.add(id);
    });
    for (const e of [...this.byId.values()]) if (!live.has(e.id)) this.remove(e);
    this.sweepAt = Math.max(this.minSweep, 2 * this.byId.size);
  }

  private remove(e: Entry): void {
    this.byId.delete(e.id);
    const h = this.bucketOf(e.w0, e.w1, e.w2, e.w3);
    let head = this.buckets.get(h);
    if (head === e) {
      if (e.next === undefined) this.buckets.delete(h);
      else this.buckets.set(h, e.next);
      return;
    }
    while (head !== undefined && head.next !== e) head = head.next;
    if (head !== undefined) head.next = e.next;
  }
}
