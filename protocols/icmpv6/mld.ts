/**
 * Multicast Listener Discovery for a host: MLDv2 (RFC 3810) with MLDv1 compatibility (RFC 2710, RFC 3810 8).
 *
 * - Codec: `parseMldQuery` (Multicast Listener Query, type 130: 24 bytes is MLDv1's, 28 and more MLDv2's with its
 *   sources; the Maximum Response Code decoded per RFC 3810 5.1.3), `emitMldv2Report` (type 143, one Multicast
 *   Address Record per group, no sources), `emitMldv1` (Report 131, Done 132). Messages are built with the checksum
 *   field zero: the stack writes it with the pseudo-header (its source is chosen at send time).
 * - `MldListener`, the sans-IO state of one interface's memberships (every group in EXCLUDE mode with no sources,
 *   which is what a socket's join asks; source filters are not offered). On a join or leave it sends a State Change
 *   Report (CHANGE_TO_EXCLUDE_MODE or CHANGE_TO_INCLUDE_MODE) at once and [Robustness Variable] - 1 more times at
 *   random intervals up to the Unsolicited Report Interval (6.1); a general query is answered with a Current State
 *   Report of every group after a random delay up to its Maximum Response Delay, a group-specific one for that group
 *   (and a group-and-source-specific one with MODE_IS_INCLUDE of the sources asked), by RFC 3810 6.2's rules of
 *   pending responses. An MLDv1 query puts it in MLDv1 mode for the Older Version Querier Present Timeout: reports
 *   are then MLDv1 Reports to the group, a leave an MLDv1 Done to all-routers.
 * - Groups of scope 0 or 1 and all-nodes (ff02::1) are never reported (RFC 3810 6).
 * Time, randomness and output are passed in; nothing throws; a query that does not parse is refused (undefined).
 */
import { read16, write16 } from '../util/bytes.js';
import type { Rng } from '../util/rng.js';
import { IPV6_ALL_NODES, IPV6_ALL_ROUTERS, ipv6Equals, type Ipv6Address } from '../ipv6/address.js';

export const MldType = { Query: 130, V1Report: 131, V1Done: 132, V2Report: 143 } as const;
/** Where MLDv2 reports go (RFC 3810 5.2.14). */
export const IPV6_ALL_MLDV2_ROUTERS: Ipv6Address = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16);
/** Multicast Address Record types (RFC 3810 5.2.12). */
export const MldRecord = { IsInclude: 1, IsExclude: 2, ToInclude: 3, ToExclude: 4 } as const;

export interface MldQuery {
  readonly version: 1 | 2;
  /** The Maximum Response Delay, ms. */
  readonly maxRespDelayMs: number;
  /** The unspecified address for a general query. */
  readonly group: Ipv6Address;
  readonly sources: readonly Ipv6Address[];
}

/** An MLD message type: query, MLDv1 report or done, MLDv2 report. */
export function isMldType(type: number): boolean {
  return type === MldType.Query || type === MldType.V1Report || type === MldType.V1Done || type === MldType.V2Report;
}

/** RFC 3810 5.1.3: a code below 32768 is the delay in ms; above, a floating-point value (mant | 0x1000) << (exp + 3). */
export function mldMaxRespDelay(code: number): number {
  if (code < 0x8000) return code;
  return ((code & 0x0fff) | 0x1000) * 2 ** (((code >>> 12) & 7) + 3);
}

/** A Multicast Listener Query (`msg` the whole ICMPv6 message), or undefined when it is malformed. */
export function parseMldQuery(msg: Uint8Array): MldQuery | undefined {
  if (msg[0] !== MldType.Query || msg[1] !== 0) return undefined;
  if (msg.length === 24) return { version: 1, maxRespDelayMs: read16(msg, 4), group: msg.slice(8, 24), sources: [] };
  if (msg.length < 28) return undefined; // RFC 3810 8.1: 25-27 bytes is neither version
  const n = read16(msg, 26);
  if (msg.length < 28 + 16 * n) return undefined;
  const sources: Ipv6Address[] = [];
  for (let i = 0; i < n; i++) sources.push(msg.slice(28 + 16 * i, 44 + 16 * i));
  return { version: 2, maxRespDelayMs: mldMaxRespDelay(read16(msg, 4)), group: msg.slice(8, 24), sources };
}

/** An MLDv2 Report with one record per group (`type` for all, `sources` only for one group). */
export function emitMldv2Report(records: readonly { type: number; group: Ipv6Address; sources?: readonly Ipv6Address[] }[]): Uint8Array {
  let len = 8;
  for (const r of records) len += 20 + 16 * (r.sources?.length ?? 0);
  const b = new Uint8Array(len);
  b[0] = MldType.V2Report;
  write16(b, 6, records.length);
  let o = 8;
  for (const r of records) {
    const sources = r.sources ?? [];
    b[o] = r.type;
    write16(b, o + 2, sources.length);
    b.set(r.group.subarray(0, 16), o + 4);
    o += 20;
    for (const s of sources) {
      b.set(s.subarray(0, 16), o);
      o += 16;
    }
  }
  return b;
}

/** An MLDv1 Report (131) or Done (132) for `group` (RFC 2710 3). */
export function emitMldv1(type: 131 | 132, group: Ipv6Address): Uint8Array {
  const b = new Uint8Array(24);
  b[0] = type;
  b.set(group.subarray(0, 16), 8);
  return b;
}

/** RFC 3810 6: no MLD message is ever sent for all-nodes, nor for a group of scope 0 (reserved) or 1 (interface-local). */
export function isReportable(group: Ipv6Address): boolean {
  const scope = group[1]! & 0x0f;
  return group[0] === 0xff && scope > 1 && !ipv6Equals(group, IPV6_ALL_NODES);
}

export interface MldOptions {
  /** The Robustness Variable (RFC 3810 9.1): how many times a state change is reported. Default 2. */
  readonly robustness: number;
  /** The Unsolicited Report Interval (9.11), ms. Default 1000. */
  readonly unsolicitedReportIntervalMs: number;
  /** The Older Version Querier Present Timeout (9.12), ms. Default 260 000 (2 x 125 s + 10 s). */
  readonly olderVersionQuerierTimeoutMs: number;
}

export const DEFAULT_MLD_OPTIONS: MldOptions = { robustness: 2, unsolicitedReportIntervalMs: 1000, olderVersionQuerierTimeoutMs: 260_000 };

export interface MldStats {
  reportsSent: number;
  /** MLDv1 Reports and Dones sent (in MLDv1 mode). */
  v1MessagesSent: number;
  queriesReceived: number;
  v1QueriesReceived: number;
  /** Queries for a group we are not in, and reports of other listeners (ignored by an MLDv2 host). */
  ignored: number;
  /** Queries that do not parse, or fail RFC 3810 5's checks (link-local source, hop limit 1, Router Alert). */
  invalid: number;
}

export const newMldStats = (): MldStats => ({ reportsSent: 0, v1MessagesSent: 0, queriesReceived: 0, v1QueriesReceived: 0, ignored: 0, invalid: 0 });

/** Send one MLD message (checksum field zero) to `dst`. */
export type MldSend = (now: number, message: Uint8Array, dst: Ipv6Address) => void;

interface Change {
  group: Ipv6Address;
  type: number;
  left: number;
  at: number;
}

interface Pending {
  group: Ipv6Address;
  at: number;
  sources: Ipv6Address[];
}

const key = (a: Ipv6Address): string => String.fromCharCode(...a);
/** Records per report: 60 x 20 bytes keeps a report well inside a 1280-byte packet. */
const RECORDS_PER_REPORT = 60;

export class MldListener {
  readonly stats = newMldStats();
  private readonly groups = new Map<string, { group: Ipv6Address; refs: number }>();
  private readonly changes = new Map<string, Change>();
  private readonly pending = new Map<string, Pending>();
  private generalAt: number | undefined;
  private v1Until = -Infinity;
  private readonly o: MldOptions;

  constructor(
    private readonly send: MldSend,
    private readonly rng: Rng,
    options: Partial<MldOptions> = {},
  ) {
    this.o = { ...DEFAULT_MLD_OPTIONS, ...options };
  }

  /** Whether the interface listens to `group` (joined and not yet left). */
  has(group: Ipv6Address): boolean {
    return this.groups.has(key(group));
  }

  /** The groups joined, each once. */
  joined(): Ipv6Address[] {
    return [...this.groups.values()].map((g) => g.group);
  }

  /** One more user of `group`; the first sends the State Change Report. True when the group is new. */
  join(now: number, group: Ipv6Address): boolean {
    const k = key(group);
    const g = this.groups.get(k);
    if (g !== undefined) {
      g.refs++;
      return false;
    }
    this.groups.set(k, { group: group.slice(0, 16), refs: 1 });
    this.change(now, k, group, MldRecord.ToExclude);
    return true;
  }

  /** One user fewer; the last sends the State Change Report (or MLDv1 Done). True when the group is left. */
  leave(now: number, group: Ipv6Address): boolean {
    const k = key(group);
    const g = this.groups.get(k);
    if (g === undefined) return false;
    if (--g.refs > 0) return false;
    this.groups.delete(k);
    this.pending.delete(k);
    this.change(now, k, group, MldRecord.ToInclude);
    return true;
  }

  private change(now: number, k: string, group: Ipv6Address, type: number): void {
    if (!isReportable(group)) return;
    // A join after a leave (or the reverse) still being reported replaces it, with the full count again (6.1).
    const left = this.v1Mode(now) && type === MldRecord.ToInclude ? 1 : this.o.robustness;
    this.changes.set(k, { group: group.slice(0, 16), type, left, at: now });
  }

  private v1Mode(now: number): boolean {
    return now < this.v1Until;
  }

  /** A query that passed the IPv6 checks (link-local source, hop limit 1, Router Alert). */
  query(now: number, q: MldQuery): void {
    this.stats.queriesReceived++;
    if (q.version === 1) {
      this.stats.v1QueriesReceived++;
      this.v1Until = now + this.o.olderVersionQuerierTimeoutMs;
    }
    const delay = Math.floor((this.rng.nextU32() / 0x1_0000_0000) * Math.max(q.maxRespDelayMs, 1));
    const at = now + delay;
    const general = q.group.every((b) => b === 0);
    if (general) {
      if (q.version === 1) {
        // RFC 2710 4: a timer per group, the earlier one kept.
        for (const [k, g] of this.groups) if (isReportable(g.group)) this.schedule(k, g.group, at, []);
        return;
      }
      if (this.generalAt !== undefined && this.generalAt <= at) return; // rule 1
      this.generalAt = at; // rule 2
      return;
    }
    const k = key(q.group);
    if (!this.groups.has(k) || !isReportable(q.group)) {
      this.stats.ignored++;
      return;
    }
    if (this.generalAt !== undefined && this.generalAt <= at) return; // rule 1
    this.schedule(k, q.group, at, q.sources as Ipv6Address[]);
  }

  /** Rules 3 to 5: one pending response per group, at the earlier time; sources merged, or cleared by a plain one. */
  private schedule(k: string, group: Ipv6Address, at: number, sources: Ipv6Address[]): void {
    const p = this.pending.get(k);
    if (p === undefined) {
      this.pending.set(k, { group: group.slice(0, 16), at, sources: sources.slice() });
      return;
    }
    p.at = Math.min(p.at, at);
    if (sources.length === 0 || p.sources.length === 0) p.sources = [];
    else for (const s of sources) if (!p.sources.some((x) => ipv6Equals(x, s))) p.sources.push(s);
  }

  /** Another listener's report: an MLDv2 host ignores it (RFC 3810 has no suppression); in MLDv1 mode it suppresses ours. */
  report(now: number, group: Ipv6Address | undefined): void {
    if (group !== undefined && this.v1Mode(now)) this.pending.delete(key(group));
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
    const v1 = this.v1Mode(now);
    const records: { type: number; group: Ipv6Address; sources?: Ipv6Address[] }[] = [];
    for (const [k, c] of this.changes) {
      if (c.at > now) continue;
      if (v1) this.sendV1(now, c.type === MldRecord.ToInclude ? MldType.V1Done : MldType.V1Report, c.group);
      else records.push({ type: c.type, group: c.group });
      if (--c.left <= 0) this.changes.delete(k);
      else c.at = now + 1 + Math.floor((this.rng.nextU32() / 0x1_0000_0000) * this.o.unsolicitedReportIntervalMs);
    }
    if (this.generalAt !== undefined && this.generalAt <= now) {
      this.generalAt = undefined;
      for (const g of this.groups.values()) if (isReportable(g.group)) records.push({ type: MldRecord.IsExclude, group: g.group });
    }
    for (const [k, p] of this.pending) {
      if (p.at > now) continue;
      this.pending.delete(k);
      if (v1) this.sendV1(now, MldType.V1Report, p.group);
      else if (p.sources.length > 0) records.push({ type: MldRecord.IsInclude, group: p.group, sources: p.sources });
      else records.push({ type: MldRecord.IsExclude, group: p.group });
    }
    for (let i = 0; i < records.length; i += RECORDS_PER_REPORT) {
      this.stats.reportsSent++;
      this.send(now, emitMldv2Report(records.slice(i, i + RECORDS_PER_REPORT)), IPV6_ALL_MLDV2_ROUTERS);
    }
  }

  private sendV1(now: number, type: 131 | 132, group: Ipv6Address): void {
    this.stats.v1MessagesSent++;
    this.send(now, emitMldv1(type, group), type === MldType.V1Done ? IPV6_ALL_ROUTERS : group);
  }
}
