/**
 * The host side of a multicast listener protocol, shared by IGMPv3 (RFC 3376, with IGMPv1/v2 compatibility,
 * RFC 1112 and RFC 2236) and MLDv2 (RFC 3810, with MLDv1 compatibility, RFC 2710): one interface's group records
 * and the rules for reporting them. The two differ only in their wire codec (`ListenerCodec`): which groups are
 * never reported, how a report, an older-version report and a leave are built, and where they go.
 *
 * - Per group, the interface state (RFC 3376 3.2 / RFC 3810 4.2) merged from its users: any-source users (a
 *   socket's addMembership: EXCLUDE {}) and source-specific users (addSourceSpecificMembership: INCLUDE {S}). The
 *   interface is in EXCLUDE {} while one any-source user remains, else in INCLUDE of the union of the sources.
 * - A change of the state is reported at once and [Robustness Variable] - 1 more times at random intervals up to
 *   the Unsolicited Report Interval (RFC 3376 5.1, RFC 3810 6.1), with the records the change asks: TO_EX / TO_IN
 *   on a filter-mode change, ALLOW / BLOCK on a source-list change. A change while an earlier one is still being
 *   retransmitted replaces it, reported against the state last reported.
 * - Queries are answered after a random delay up to their Maximum Response Delay, by RFC 3376 5.2's rules of
 *   pending responses: a general query with a Current State Report of every group, a group-specific one for that
 *   group, a group-and-source-specific one with IS_IN of the sources asked that the interface receives.
 * - An older querier puts the interface in an older mode until its Older Version Querier Present Timeout
 *   (RFC 3376 7.2.1, RFC 3810 8.2.1): `Compat.Older` (IGMPv2, MLDv1: reports to the group, a leave message) or
 *   `Compat.Oldest` (IGMPv1: reports only, no leave). Source lists are then ignored; another host's report
 *   suppresses ours, as an older host does.
 * Sans-IO: time, randomness and output are passed in; nothing throws. Addresses are bytes (4 or 16 of them).
 */
import type { Rng } from '../util/rng.js';

/** Group record types (RFC 3376 4.2.12, RFC 3810 5.2.12: the same numbers). */
export const RecordType = { IsInclude: 1, IsExclude: 2, ToInclude: 3, ToExclude: 4, Allow: 5, Block: 6 } as const;

/** The protocol version a query came from: the current one, or an older one the host falls back to. */
export const Compat = { Oldest: 1, Older: 2, Current: 3 } as const;
export type CompatMode = (typeof Compat)[keyof typeof Compat];

export interface GroupRecord {
  readonly type: number;
  readonly group: Uint8Array;
  readonly sources: readonly Uint8Array[];
}

/** A query, decoded by the codec: `group` all zero for a general query. */
export interface MulticastQuery {
  readonly compat: CompatMode;
  /** The Maximum Response Delay, ms. */
  readonly maxRespDelayMs: number;
  readonly group: Uint8Array;
  readonly sources: readonly Uint8Array[];
}

export interface ListenerCodec {
  /** Whether messages are ever sent for `group` (RFC 3376 5: never for 224.0.0.1; RFC 3810 6: ff02::1, scope 0, 1). */
  reportable(group: Uint8Array): boolean;
  /** A current-version report (IGMPv3, MLDv2) of `records`, to `reportDst`. */
  report(records: readonly GroupRecord[]): Uint8Array;
  readonly reportDst: Uint8Array;
  /** Records one report carries at most. */
  readonly recordsPerReport: number;
  /** An older-version report (`leave` false) or leave message, with its destination; undefined: there is none. */
  older(compat: 1 | 2, leave: boolean, group: Uint8Array): { message: Uint8Array; dst: Uint8Array } | undefined;
}

export interface ListenerOptions {
  /** The Robustness Variable (RFC 3376 8.1, RFC 3810 9.1): how many times a state change is reported. Default 2. */
  readonly robustness: number;
  /** The Unsolicited Report Interval (RFC 3376 8.11: 1 s; RFC 3810 9.11: 1 s), ms. */
  readonly unsolicitedReportIntervalMs: number;
  /** The Older Version Querier Present Timeout (RFC 3376 8.12, RFC 3810 9.12), ms. Default 260 000. */
  readonly olderVersionQuerierTimeoutMs: number;
}

export const DEFAULT_LISTENER_OPTIONS: ListenerOptions = { robustness: 2, unsolicitedReportIntervalMs: 1000, olderVersionQuerierTimeoutMs: 260_000 };

/** Counters kept by the core. "v1" is any older version than the current one (MLDv1; IGMPv1 and IGMPv2). */
export interface ListenerStats {
  reportsSent: number;
  /** Older-version reports and leaves sent (in an older mode). */
  v1MessagesSent: number;
  queriesReceived: number;
  v1QueriesReceived: number;
  /** Queries for a group we are not in, and reports of other listeners (ignored by a current-version host). */
  ignored: number;
  /** Queries that do not parse, or fail the protocol's checks. */
  invalid: number;
}

export const newListenerStats = (): ListenerStats => ({ reportsSent: 0, v1MessagesSent: 0, queriesReceived: 0, v1QueriesReceived: 0, ignored: 0, invalid: 0 });

/** Send one message to `dst`. */
export type ListenerSend = (now: number, message: Uint8Array, dst: Uint8Array) => void;

/** A filter: EXCLUDE (`exclude`) or INCLUDE of `sources`; INCLUDE {} is no membership. */
interface Filter {
  readonly exclude: boolean;
  readonly sources: readonly Uint8Array[];
}

interface Group {
  readonly group: Uint8Array;
  /** Any-source users. */
  any: number;
  /** Source-specific users, by source. */
  readonly sources: Map<string, { source: Uint8Array; users: number }>;
}

interface Change {
  readonly group: Uint8Array;
  /** The state last reported: the records say how the state moved from it. */
  baseline: Filter;
  left: number;
  at: number;
  /** At least one report of this change went out. */
  sent: boolean;
}

interface Pending {
  readonly group: Uint8Array;
  at: number;
  sources: Uint8Array[];
}

const NONE: Filter = { exclude: false, sources: [] };
export const addrKey = (a: Uint8Array): string => String.fromCharCode(...a);
const contains = (list: readonly Uint8Array[], a: Uint8Array): boolean => list.some((x) => x.length === a.length && x.every((b, i) => b === a[i]));
const minus = (a: readonly Uint8Array[], b: readonly Uint8Array[]): Uint8Array[] => a.filter((x) => !contains(b, x));

export class MulticastListener {
  readonly stats = newListenerStats();
  private readonly groups = new Map<string, Group>();
  private readonly changes = new Map<string, Change>();
  private readonly pending = new Map<string, Pending>();
  private generalAt: number | undefined;
  private oldestUntil = -Infinity;
  private olderUntil = -Infinity;
  private readonly o: ListenerOptions;

  constructor(
    private readonly codec: ListenerCodec,
    private readonly send: ListenerSend,
    private readonly rng: Rng,
    options: Partial<ListenerOptions> = {},
  ) {
    this.o = { ...DEFAULT_LISTENER_OPTIONS, ...options };
  }

  /** Whether the interface listens to `group` (any user left). */
  has(group: Uint8Array): boolean {
    return this.groups.has(addrKey(group));
  }

  /** Whether the interface receives `group` from `source` (its filter: EXCLUDE {}, or INCLUDE with the source). */
  receives(group: Uint8Array, source: Uint8Array): boolean {
    const g = this.groups.get(addrKey(group));
    return g !== undefined && (g.any > 0 || g.sources.has(addrKey(source)));
  }

  /** The groups joined, each once. */
  joined(): Uint8Array[] {
    return [...this.groups.values()].map((g) => g.group);
  }

  /** The mode in force (Compat.Current unless an older querier was heard within the timeout). */
  mode(now: number): CompatMode {
    return now < this.oldestUntil ? Compat.Oldest : now < this.olderUntil ? Compat.Older : Compat.Current;
  }

  /** One more user of `group` (of any source, or of `source` only). True when the interface state changed. */
  join(now: number, group: Uint8Array, source?: Uint8Array): boolean {
    const k = addrKey(group);
    let g = this.groups.get(k);
    const before = g === undefined ? NONE : filterOf(g);
    if (g === undefined) this.groups.set(k, (g = { group: group.slice(), any: 0, sources: new Map() }));
    if (source === undefined) g.any++;
    else {
      const sk = addrKey(source);
      const s = g.sources.get(sk);
      if (s !== undefined) s.users++;
      else g.sources.set(sk, { source: source.slice(), users: 1 });
    }
    return this.changed(now, k, g, before);
  }

  /** One user fewer (false, and nothing done, when there is no such user). True when the interface state changed. */
  leave(now: number, group: Uint8Array, source?: Uint8Array): boolean {
    const k = addrKey(group);
    const g = this.groups.get(k);
    if (g === undefined) return false;
    const before = filterOf(g);
    if (source === undefined) {
      if (g.any === 0) return false;
      g.any--;
    } else {
      const sk = addrKey(source);
      const s = g.sources.get(sk);
      if (s === undefined) return false;
      if (--s.users === 0) g.sources.delete(sk);
    }
    if (g.any === 0 && g.sources.size === 0) {
      this.groups.delete(k);
      this.pending.delete(k);
    }
    return this.changed(now, k, g, before);
  }

  private changed(now: number, k: string, g: Group, before: Filter): boolean {
    const after = this.groups.has(k) ? filterOf(g) : NONE;
    if (sameFilter(before, after)) return false;
    if (!this.codec.reportable(g.group)) return true;
    const c = this.changes.get(k);
    // Reported against the state last reported; a change undoing one not yet reported is still reported against
    // the state just left (a router may have heard of it from an earlier report), as a lone change would be.
    let baseline = c === undefined || c.sent ? before : c.baseline;
    if (sameFilter(baseline, after)) baseline = before;
    const mode = this.mode(now);
    // In an older mode a leave is sent once (RFC 2236 3: one Leave Group message); a join Robustness times.
    const left = mode !== Compat.Current && !this.groups.has(k) ? 1 : this.o.robustness;
    this.changes.set(k, { group: g.group, baseline, left, at: now, sent: false });
    return true;
  }

  /** A query that passed the protocol's checks. */
  query(now: number, q: MulticastQuery): void {
    this.stats.queriesReceived++;
    if (q.compat !== Compat.Current) {
      this.stats.v1QueriesReceived++;
      if (q.compat === Compat.Oldest) this.oldestUntil = now + this.o.olderVersionQuerierTimeoutMs;
      else this.olderUntil = now + this.o.olderVersionQuerierTimeoutMs;
    }
    const delay = Math.floor((this.rng.nextU32() / 0x1_0000_0000) * Math.max(q.maxRespDelayMs, 1));
    const at = now + delay;
    const general = q.group.every((b) => b === 0);
    // A current-version query heard in an older mode is answered as the older version would (as Linux does).
    const older = this.mode(now) !== Compat.Current;
    if (general) {
      if (older) {
        // RFC 2236 3 / RFC 2710 4: a timer per group, the earlier one kept.
        for (const [k, g] of this.groups) if (this.codec.reportable(g.group)) this.schedule(k, g.group, at, []);
        return;
      }
      if (this.generalAt !== undefined && this.generalAt <= at) return; // rule 1
      this.generalAt = at; // rule 2
      return;
    }
    const k = addrKey(q.group);
    if (!this.groups.has(k) || !this.codec.reportable(q.group)) {
      this.stats.ignored++;
      return;
    }
    if (this.generalAt !== undefined && this.generalAt <= at) return; // rule 1
    this.schedule(k, q.group, at, older ? [] : (q.sources as Uint8Array[]));
  }

  /** Rules 3 to 5: one pending response per group, at the earlier time; sources merged, or cleared by a plain one. */
  private schedule(k: string, group: Uint8Array, at: number, sources: Uint8Array[]): void {
    const p = this.pending.get(k);
    if (p === undefined) {
      this.pending.set(k, { group: group.slice(), at, sources: sources.slice() });
      return;
    }
    p.at = Math.min(p.at, at);
    if (sources.length === 0 || p.sources.length === 0) p.sources = [];
    else for (const s of sources) if (!contains(p.sources, s)) p.sources.push(s);
  }

  /** Another host's report: a current-version host ignores it (no suppression); in an older mode it suppresses ours. */
  report(now: number, group: Uint8Array | undefined): void {
    if (group !== undefined && this.mode(now) !== Compat.Current) this.pending.delete(addrKey(group));
    else this.stats.ignored++;
  }

  pollAt(): number | undefined {
    let at = this.generalAt;
    for (const c of this.changes.values()) if (at === undefined || c.at < at) at = c.at;
    for (const p of this.pending.values()) if (at === undefined || p.at < at) at = p.at;
    return at;
  }

  poll(now: number): void {
    // Nothing waiting (the steady state; the stack polls this every poll): no list or iterator made.
    if (this.changes.size === 0 && this.pending.size === 0 && (this.generalAt === undefined || this.generalAt > now)) return;
    const mode = this.mode(now);
    const records: GroupRecord[] = [];
    for (const [k, c] of this.changes) {
      if (c.at > now) continue;
      const g = this.groups.get(k);
      const state = g === undefined ? NONE : filterOf(g);
      if (mode === Compat.Current) records.push(...changeRecords(c.group, c.baseline, state));
      else if (g === undefined) this.sendOlder(now, mode, true, c.group);
      else if (isNone(c.baseline)) this.sendOlder(now, mode, false, c.group);
      c.sent = true;
      if (--c.left <= 0) this.changes.delete(k);
      else c.at = now + 1 + Math.floor((this.rng.nextU32() / 0x1_0000_0000) * this.o.unsolicitedReportIntervalMs);
    }
    if (this.generalAt !== undefined && this.generalAt <= now) {
      this.generalAt = undefined;
      for (const g of this.groups.values()) if (this.codec.reportable(g.group)) records.push(currentRecord(g));
    }
    for (const [k, p] of this.pending) {
      if (p.at > now) continue;
      this.pending.delete(k);
      const g = this.groups.get(k);
      if (g === undefined) continue;
      if (mode !== Compat.Current) this.sendOlder(now, mode, false, p.group);
      else if (p.sources.length === 0) records.push(currentRecord(g));
      else {
        // RFC 3376 5.2: IS_IN of the sources asked that the interface receives (EXCLUDE: B - A; INCLUDE: A * B).
        const f = filterOf(g);
        const asked = f.exclude ? minus(p.sources, f.sources) : p.sources.filter((s) => contains(f.sources, s));
        if (asked.length > 0) records.push({ type: RecordType.IsInclude, group: g.group, sources: asked });
      }
    }
    const per = this.codec.recordsPerReport;
    for (let i = 0; i < records.length; i += per) {
      this.stats.reportsSent++;
      this.send(now, this.codec.report(records.slice(i, i + per)), this.codec.reportDst);
    }
  }

  private sendOlder(now: number, mode: CompatMode, leave: boolean, group: Uint8Array): void {
    const m = this.codec.older(mode === Compat.Oldest ? 1 : 2, leave, group);
    if (m === undefined) return;
    this.stats.v1MessagesSent++;
    this.send(now, m.message, m.dst);
  }
}

function filterOf(g: Group): Filter {
  if (g.any > 0) return { exclude: true, sources: [] };
  return { exclude: false, sources: [...g.sources.values()].map((s) => s.source) };
}

const isNone = (f: Filter): boolean => !f.exclude && f.sources.length === 0;

function sameFilter(a: Filter, b: Filter): boolean {
  return a.exclude === b.exclude && a.sources.length === b.sources.length && a.sources.every((s) => contains(b.sources, s));
}

function currentRecord(g: Group): GroupRecord {
  const f = filterOf(g);
  return { type: f.exclude ? RecordType.IsExclude : RecordType.IsInclude, group: g.group, sources: f.sources };
}

/** RFC 3376 5.1's table: the records of a change from `from` to `to`. */
export function changeRecords(group: Uint8Array, from: Filter, to: Filter): GroupRecord[] {
  if (from.exclude !== to.exclude) return [{ type: to.exclude ? RecordType.ToExclude : RecordType.ToInclude, group, sources: to.sources }];
  // Same mode: INCLUDE gains (ALLOW) what is new and loses (BLOCK) what went; EXCLUDE the other way round.
  const added = minus(to.sources, from.sources);
  const removed = minus(from.sources, to.sources);
  const allow = to.exclude ? removed : added;
  const block = to.exclude ? added : removed;
  const out: GroupRecord[] = [];
  if (allow.length > 0) out.push({ type: RecordType.Allow, group, sources: allow });
  if (block.length > 0) out.push({ type: RecordType.Block, group, sources: block });
  return out;
}
