/**
 * Fuzz target `mld`: any bytes as a Multicast Listener Query (RFC 3810 5.1, RFC 2710 3) through `parseMldQuery`, then
 * into an `MldListener` with three groups joined, on a virtual clock.
 * Oracles: a parsed query has the length its version says (24, or 28 + 16 x sources) and a finite, non-negative
 * delay no larger than the largest code's; after the query, every report sent by the listener before the delay has
 * passed is well formed (records counted right, types 1-4, only joined and reportable groups, sources only in
 * MODE_IS_INCLUDE records) and nothing answering the query is still pending once the delay has passed.
 */
import fc from 'fast-check';
import { read16 } from '../../protocols/util/bytes.js';
import { seededRng } from '../../protocols/util/rng.js';
import { formatIpv6, parseIpv6 } from '../../protocols/ipv6/address.js';
import { MldListener, MldRecord, isReportable, mldMaxRespDelay, parseMldQuery } from '../../protocols/icmpv6/mld.js';
import { check, type FuzzTarget } from '../lib/target.js';

const GROUPS = ['ff15::1234', 'ff02::1:ff00:1', 'ff02::1'].map((g) => parseIpv6(g)!);
const JOINED = new Set(GROUPS.filter(isReportable).map(formatIpv6));
const u8 = fc.integer({ min: 0, max: 0xff });

/** A query: MLDv2 (with sources) unless `v1`. */
function query(code: number, group: string, sources: string[], v1 = false): Uint8Array {
  const head = [130, 0, 0, 0, code >>> 8, code & 0xff, 0, 0, ...parseIpv6(group)!];
  if (v1) return Uint8Array.from(head);
  return Uint8Array.from([...head, 2, 125, 0, sources.length, ...sources.flatMap((x) => [...parseIpv6(x)!])]);
}

/** Check one MLD message the listener sent; returns its record count (or 1 for MLDv1). */
function checkReport(msg: Uint8Array): number {
  if (msg[0] === 131 || msg[0] === 132) {
    check(msg.length === 24, 'an MLDv1 message is 24 bytes');
    check(JOINED.has(formatIpv6(msg.subarray(8, 24))) || msg[0] === 132, 'an MLDv1 report of a group not joined');
    return 1;
  }
  check(msg[0] === 143, `a message of type ${msg[0]}`);
  const n = read16(msg, 6);
  let o = 8;
  for (let i = 0; i < n; i++) {
    check(o + 20 <= msg.length, 'a record past the end');
    const type = msg[o]!;
    const sources = read16(msg, o + 2);
    check(type >= MldRecord.IsInclude && type <= MldRecord.ToExclude, `record type ${type}`);
    check(sources === 0 || type === MldRecord.IsInclude, 'sources in a record other than MODE_IS_INCLUDE');
    check(JOINED.has(formatIpv6(msg.subarray(o + 4, o + 20))), 'a record of a group not joined');
    o += 20 + 16 * sources;
  }
  check(o === msg.length, `the records end at ${o} of ${msg.length}`);
  return n;
}

export const mldTarget: FuzzTarget = {
  name: 'mld',
  description: 'parseMldQuery on any bytes, then MldListener answering it: lengths by version, bounded delays, well-formed reports of joined groups only, nothing pending past the delay',
  format: 'bytes',
  maxLen: 200,
  seeds: () => [
    query(1000, '::', []), // general MLDv2, 1 s
    query(0x8001, 'ff15::1234', ['fd00::1']), // group-and-source-specific, floating-point code
    query(100, 'ff02::1:ff00:1', []),
    query(100, '::', [], true), // MLDv1
  ],
  generator: () =>
    fc
      .record({
        code: fc.integer({ min: 0, max: 0xffff }),
        group: fc.constantFrom('::', 'ff15::1234', 'ff02::1:ff00:1', 'ff02::1', 'ff15::9'),
        sources: fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { maxLength: 3 }),
        v1: fc.boolean(),
        tail: fc.array(u8, { maxLength: 3 }),
      })
      .map(({ code, group, sources, v1, tail }) => {
        const head = [130, 0, 0, 0, code >>> 8, code & 0xff, 0, 0, ...parseIpv6(group)!];
        if (v1) return Uint8Array.from([...head, ...tail]);
        return Uint8Array.from([...head, 2, 125, 0, sources.length, ...sources.flatMap((s) => [...s]), ...tail]);
      }),
  run(input) {
    const q = parseMldQuery(input);
    if (q === undefined) return `refused-${input[0] === 130 ? input.length : 'type'}`;
    if (q.version === 1) check(input.length === 24, `an MLDv1 query of ${input.length} bytes`);
    else check(input.length >= 28 + 16 * q.sources.length, 'MLDv2 sources past the end');
    check(Number.isFinite(q.maxRespDelayMs) && q.maxRespDelayMs >= 0 && q.maxRespDelayMs <= mldMaxRespDelay(0xffff), `delay ${q.maxRespDelayMs}`);
    let records = 0;
    const l = new MldListener((_now, msg) => void (records += checkReport(msg)), seededRng(input.length));
    for (const g of GROUPS) l.join(0, g);
    for (let t = 0; t <= 3000; t += 100) l.poll(t); // the joins' reports, done
    check(l.pollAt() === undefined, 'join reports still pending after 3 s');
    records = 0;
    const t0 = 10_000;
    l.query(t0, q);
    const end = t0 + Math.max(q.maxRespDelayMs, 1);
    for (let at = l.pollAt(); at !== undefined && at <= end; at = l.pollAt()) l.poll(at);
    check(l.pollAt() === undefined, `a response still pending after the ${q.maxRespDelayMs} ms delay`);
    return `v${q.version}-${q.group.every((b) => b === 0) ? 'general' : 'group'}-${q.sources.length > 0}-${records > 0}`;
  },
};
