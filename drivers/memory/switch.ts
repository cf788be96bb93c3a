/**
 * memorySwitch: a learning Ethernet bridge in memory, for tests with three or more stacks (IEEE 802.1D-2004
 * §7.7 forwarding process, §7.8 learning process, §7.9 filtering database).
 *
 * - Learning: the source MAC of every frame with a unicast source (I/G bit clear) is entered against the port
 *   it came in on, stamped with `now`. Entries older than `ageingMs` are forgotten (§7.9.2; default 300 s, the
 *   recommended Ageing Time). At most `maxEntries` entries are kept; a new one evicts the least recently seen.
 * - Forwarding: a group destination (broadcast or multicast, I/G bit set) or an unknown unicast destination is
 *   flooded to every other open port; a known unicast destination goes to its one port (zero-copy), and a frame
 *   whose destination sits on the port it came from is filtered. Flooding copies the frame once per extra port.
 * - Frames shorter than an Ethernet header are dropped and counted in `stats.runts`.
 * Each port is a FrameDriver with its own bounded receive queue (see port.ts for ownership and errors).
 */
import { read32 } from '../../protocols/util/bytes.js';
import { invalidArg } from '../../protocols/util/errors.js';
import { BufferPool, maxFrameLen, MemoryPort } from './port.js';
import { checkMac, localMac, makeCaps, positiveInt, type MemoryCommonOptions } from './options.js';
import type { MemoryDriver } from './link.js';

export interface MemorySwitchOptions extends MemoryCommonOptions {
  /** Filtering database size (default 1024 entries). */
  maxEntries?: number;
  /** Ageing Time in ms (default 300 000, IEEE 802.1D-2004 §7.9.2). */
  ageingMs?: number;
}

export interface MemorySwitchStats {
  /** Known unicast frames sent to one port. */
  forwarded: number;
  /** Frames flooded (group or unknown destination). */
  flooded: number;
  /** Copies made for flooding (one per port beyond the first). */
  floodCopies: number;
  /** Frames whose destination is on the port they came from. */
  filtered: number;
  learned: number;
  /** Entries dropped because the database was full. */
  evicted: number;
  /** Entries dropped because they were older than the Ageing Time. */
  aged: number;
  /** Frames shorter than an Ethernet header. */
  runts: number;
}

export interface MemorySwitch {
  /** Attach a new port (a FrameDriver for one stack). hwAddress defaults to 02:00:00:00:01:<n>. */
  port(options?: { hwAddress?: Uint8Array }): MemoryDriver;
  readonly stats: MemorySwitchStats;
  /** Number of entries in the filtering database. */
  readonly fdbSize: number;
  /** The index (order of creation, from 0) of the port a MAC was learned on, if it is known and not aged at `now`. */
  lookup(mac: Uint8Array, now: number): number | undefined;
}

interface FdbEntry {
  port: MemoryPort;
  seen: number;
}

const ETH_HEADER_LEN = 14;

function macKey(b: Uint8Array, o: number): number {
  return (((b[o]! << 8) | b[o + 1]!) * 0x1_0000_0000) + read32(b, o + 2);
}

export function memorySwitch(options: MemorySwitchOptions = {}): MemorySwitch {
  const caps = makeCaps(options, 'ethernet');
  const queueLimit = positiveInt('queueLimit', options.queueLimit, 1024);
  const maxEntries = positiveInt('maxEntries', options.maxEntries, 1024);
  const ageingMs = options.ageingMs ?? 300_000;
  if (!(ageingMs > 0) || !Number.isFinite(ageingMs)) throw invalidArg(`ageingMs must be a positive number`);
  // As the link: room for two receive queues full in one buffer (frames past it get their own).
  const pool = new BufferPool(maxFrameLen(caps), 2 * queueLimit + 2);
  const ports: MemoryPort[] = [];
  const index = new Map<MemoryPort, number>();
  // Insertion order is "least recently seen first": learning deletes and re-inserts an entry.
  const fdb = new Map<number, FdbEntry>();
  let created = 0;
  const stats: MemorySwitchStats = {
    forwarded: 0, flooded: 0, floodCopies: 0, filtered: 0, learned: 0, evicted: 0, aged: 0, runts: 0,
  };

  const purgeAged = (now: number): void => {
    for (const [key, e] of fdb) {
      if (now - e.seen < ageingMs) break;
      fdb.delete(key);
      stats.aged++;
    }
  };

  const learn = (key: number, port: MemoryPort, now: number): void => {
    const e = fdb.get(key);
    if (e !== undefined) {
      fdb.delete(key);
      e.port = port; // a station that moved is relearned on its new port
      e.seen = now;
      fdb.set(key, e);
      return;
    }
    if (fdb.size >= maxEntries) {
      const oldest = fdb.keys().next().value as number;
      fdb.delete(oldest);
      stats.evicted++;
    }
    fdb.set(key, { port, seen: now });
    stats.learned++;
  };

  const flood = (from: MemoryPort, buf: Uint8Array, len: number, offset: number): void => {
    stats.flooded++;
    let last: MemoryPort | null = null;
    for (const p of ports) {
      if (p === from || p.closed) continue;
      if (last !== null) {
        const copy = pool.take();
        copy.set(buf.subarray(0, len));
        stats.floodCopies++;
        last.enqueue(copy, len, pool.lastOffset);
      }
      last = p;
    }
    if (last === null) pool.give(buf, offset);
    else last.enqueue(buf, len, offset);
  };

  const forward = (from: MemoryPort, buf: Uint8Array, len: number, now: number, offset: number): void => {
    if (len < ETH_HEADER_LEN) {
      stats.runts++;
      pool.give(buf, offset);
      return;
    }
    purgeAged(now);
    if ((buf[6]! & 1) === 0) learn(macKey(buf, 6), from, now);
    if ((buf[0]! & 1) !== 0) return flood(from, buf, len, offset);
    const e = fdb.get(macKey(buf, 0));
    if (e === undefined) return flood(from, buf, len, offset);
    if (e.port === from) {
      stats.filtered++;
      pool.give(buf, offset);
      return;
    }
    stats.forwarded++;
    e.port.enqueue(buf, len, offset);
  };

  return {
    stats,
    get fdbSize() {
      return fdb.size;
    },
    lookup(mac: Uint8Array, now: number): number | undefined {
      checkMac('mac', mac);
      const e = fdb.get(macKey(mac, 0));
      if (e === undefined || now - e.seen >= ageingMs) return undefined;
      return index.get(e.port);
    },
    port(opts: { hwAddress?: Uint8Array } = {}): MemoryDriver {
      const n = created++;
      const mac = checkMac('hwAddress', opts.hwAddress ?? localMac(0x100 + n));
      const p = new MemoryPort(caps, mac, pool, queueLimit, forward);
      p.onClose = () => {
        ports.splice(ports.indexOf(p), 1);
        index.delete(p);
        for (const [key, e] of fdb) if (e.port === p) fdb.delete(key);
      };
      ports.push(p);
      index.set(p, n);
      return p;
    },
  };
}
