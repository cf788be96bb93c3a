/**
 * MLD (RFC 3810, RFC 2710 compatibility): the codec against Linux's own report (test/fixtures/ipv6-frames.json),
 * and the listener core on a virtual clock, rule by rule: state change reports on join and leave with their
 * retransmission, answers to general, group-specific and group-and-source-specific queries within the Maximum
 * Response Delay and RFC 3810 6.2's rules of pending responses, MLDv1 mode after an MLDv1 query.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, read16 } from '../../protocols/util/bytes.js';
import { seededRng } from '../../protocols/util/rng.js';
import { formatIpv6 } from '../../protocols/ipv6/address.js';
import { fillIcmpv6Checksum } from '../../protocols/icmpv6/wire.js';
import { IPV6_ALL_MLDV2_ROUTERS, MldListener, MldRecord, emitMldv2Report, isReportable, mldMaxRespDelay, parseMldQuery } from '../../protocols/icmpv6/mld.js';
import { v6 } from './stack-helpers.js';

const FIXTURES: { name: string; hex: string }[] = JSON.parse(readFileSync(new URL('../fixtures/ipv6-frames.json', import.meta.url), 'utf8'));
const linuxReport = fromHex(FIXTURES.find((f) => f.name === 'ipv6-mld-report')!.hex);

/** A message's records: [type, group text, sources] (MLDv2 report), or [type, group] for MLDv1. */
function decode(msg: Uint8Array): unknown {
  if (msg[0] !== 143) return [msg[0], formatIpv6(msg.subarray(8, 24))];
  const out: unknown[] = [];
  let o = 8;
  for (let i = 0; i < read16(msg, 6); i++) {
    const n = read16(msg, o + 2);
    const sources = [];
    for (let j = 0; j < n; j++) sources.push(formatIpv6(msg.subarray(o + 20 + 16 * j, o + 36 + 16 * j)));
    out.push([msg[o], formatIpv6(msg.subarray(o + 4, o + 20)), ...(n > 0 ? [sources] : [])]);
    o += 20 + 16 * n;
  }
  return out;
}

function query(maxResp: number, group = '::', sources: string[] = []): Uint8Array {
  const b = new Uint8Array(28 + 16 * sources.length);
  b[0] = 130;
  b[4] = maxResp >>> 8;
  b[5] = maxResp & 0xff;
  b.set(v6(group), 8);
  b[24] = 2; // QRV
  b[25] = 125; // QQIC
  b[27] = sources.length;
  sources.forEach((s, i) => b.set(v6(s), 28 + 16 * i));
  return b;
}

function listener(seed = 1) {
  const sent: { at: number; dst: string; what: unknown }[] = [];
  const l = new MldListener((now, msg, dst) => sent.push({ at: now, dst: formatIpv6(dst), what: decode(msg) }), seededRng(seed));
  const run = (from: number, to: number): void => {
    for (let t = from; t <= to; t++) if ((l.pollAt() ?? Infinity) <= t) l.poll(t);
  };
  return { l, sent, run };
}

const G = 'ff15::1234';
const H = 'ff05::99';

describe('MLD codec', () => {
  it("emits Linux's own MLDv2 report byte for byte (5 CHANGE_TO_EXCLUDE records from ::, checksum included)", () => {
    const ip = linuxReport.subarray(14);
    const icmp = ip.subarray(48); // 40 + the 8-byte hop-by-hop header with Router Alert
    const groups = ['ff02::1:ff99:fe', 'ff02::1:ff00:0', 'ff02::1:ff00:fe', 'ff05::2', 'ff02::2'];
    expect(decode(icmp)).toEqual(groups.map((g) => [MldRecord.ToExclude, g]));
    const ours = emitMldv2Report(groups.map((g) => ({ type: MldRecord.ToExclude, group: v6(g) })));
    fillIcmpv6Checksum(ours, 0, ours.length, ip.subarray(8, 24), ip.subarray(24, 40));
    expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(icmp).toString('hex'));
  });

  it('decodes queries: MLDv1 (24 bytes), MLDv2 with sources, the Maximum Response Code (5.1.3); refuses 25-27 bytes', () => {
    expect(mldMaxRespDelay(10000)).toBe(10000);
    expect(mldMaxRespDelay(0x8000)).toBe(0x1000 << 3);
    expect(mldMaxRespDelay(0xffff)).toBe(0x1fff << 10);
    const v1 = new Uint8Array(24);
    v1[0] = 130;
    v1[5] = 100;
    expect(parseMldQuery(v1)).toMatchObject({ version: 1, maxRespDelayMs: 100, sources: [] });
    const q = parseMldQuery(query(0x8001, G, ['fd00::1', 'fd00::2']))!;
    expect(q.version).toBe(2);
    expect(q.maxRespDelayMs).toBe(0x1001 << 3);
    expect(formatIpv6(q.group)).toBe(G);
    expect(q.sources.map(formatIpv6)).toEqual(['fd00::1', 'fd00::2']);
    expect(parseMldQuery(query(1).subarray(0, 26))).toBeUndefined();
    expect(parseMldQuery(query(1, G, ['fd00::1']).subarray(0, 40))).toBeUndefined(); // sources cut short
  });

  it('never reports all-nodes nor scopes 0 and 1', () => {
    expect(['ff02::1', 'ff01::5', 'ff00::5'].map((g) => isReportable(v6(g)))).toEqual([false, false, false]);
    expect(['ff02::2', 'ff02::1:ff00:1', 'ff05::1', G].map((g) => isReportable(v6(g)))).toEqual([true, true, true, true]);
  });
});

describe('MldListener (RFC 3810 6)', () => {
  it('a join is reported at once and once more within the Unsolicited Report Interval; a second user sends nothing', () => {
    const { l, sent, run } = listener();
    expect(l.join(0, v6(G))).toBe(true);
    expect(l.join(0, v6(G))).toBe(false);
    run(0, 5000);
    expect(sent.map((s) => s.what)).toEqual([[[MldRecord.ToExclude, G]], [[MldRecord.ToExclude, G]]]);
    expect(sent[0]!.at).toBe(0);
    expect(sent[1]!.at).toBeGreaterThan(0);
    expect(sent[1]!.at).toBeLessThanOrEqual(1001);
    expect(sent.every((s) => s.dst === formatIpv6(IPV6_ALL_MLDV2_ROUTERS))).toBe(true);
    expect(l.has(v6(G))).toBe(true);
  });

  it('the last leave reports CHANGE_TO_INCLUDE twice, replacing a join still being reported; all-nodes is never reported', () => {
    const { l, sent, run } = listener();
    l.join(0, v6(G));
    l.join(0, v6('ff02::1'));
    l.poll(0);
    l.join(0, v6(G)); // two users
    expect(l.leave(10, v6(G))).toBe(false);
    expect(l.leave(10, v6(G))).toBe(true);
    expect(l.has(v6(G))).toBe(false);
    run(10, 5000);
    expect(sent.map((s) => s.what)).toEqual([[[MldRecord.ToExclude, G]], [[MldRecord.ToInclude, G]], [[MldRecord.ToInclude, G]]]);
    expect(l.leave(6000, v6(G))).toBe(false); // not a member
  });

  it('a general query: one Current State Report of every group (MODE_IS_EXCLUDE) within the Maximum Response Delay', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { l, sent, run } = listener(seed);
      l.join(0, v6(G));
      l.join(0, v6(H));
      run(0, 3000);
      sent.length = 0;
      l.query(5000, parseMldQuery(query(2000))!);
      run(5000, 9000);
      expect(sent.map((s) => s.what)).toEqual([[[MldRecord.IsExclude, G], [MldRecord.IsExclude, H]]]);
      expect(sent[0]!.at).toBeGreaterThanOrEqual(5000);
      expect(sent[0]!.at).toBeLessThan(7000);
    }
  });

  it('group-specific: answered for that group only; not for a group we are not in; folded into a general response due sooner', () => {
    const { l, sent, run } = listener(7);
    l.join(0, v6(G));
    l.join(0, v6(H));
    run(0, 3000);
    sent.length = 0;
    l.query(5000, parseMldQuery(query(1000, G))!);
    l.query(5000, parseMldQuery(query(1000, 'ff15::dead'))!);
    run(5000, 7000);
    expect(sent.map((s) => s.what)).toEqual([[[MldRecord.IsExclude, G]]]);
    expect(l.stats.ignored).toBe(1);
    // A general response pending sooner than the new delay makes the specific query moot (rule 1).
    sent.length = 0;
    l.query(10_000, parseMldQuery(query(1))!); // due within 1 ms
    l.query(10_000, parseMldQuery(query(60_000, G))!);
    run(10_000, 80_000);
    expect(sent.map((s) => s.what)).toEqual([[[MldRecord.IsExclude, G], [MldRecord.IsExclude, H]]]);
  });

  it('group-and-source-specific: MODE_IS_INCLUDE of the sources asked, merged over two queries; a plain one clears them', () => {
    const { l, sent, run } = listener(3);
    l.join(0, v6(G));
    run(0, 3000);
    sent.length = 0;
    l.query(5000, parseMldQuery(query(1000, G, ['fd00::1']))!);
    l.query(5000, parseMldQuery(query(1000, G, ['fd00::2', 'fd00::1']))!);
    run(5000, 7000);
    expect(sent.map((s) => s.what)).toEqual([[[MldRecord.IsInclude, G, ['fd00::1', 'fd00::2']]]]);
    sent.length = 0;
    l.query(8000, parseMldQuery(query(1000, G, ['fd00::1']))!);
    l.query(8000, parseMldQuery(query(1000, G))!);
    run(8000, 10_000);
    expect(sent.map((s) => s.what)).toEqual([[[MldRecord.IsExclude, G]]]);
  });

  it('after an MLDv1 query: MLDv1 Reports to the group (one suppressed by another listener\'s), a leave is an MLDv1 Done; MLDv2 again after 260 s', () => {
    const { l, sent, run } = listener(9);
    l.join(0, v6(G));
    l.join(0, v6(H));
    run(0, 3000);
    sent.length = 0;
    const v1 = new Uint8Array(24);
    v1[0] = 130;
    v1[4] = 10000 >>> 8;
    v1[5] = 10000 & 0xff;
    l.query(5000, parseMldQuery(v1)!);
    l.report(5000, v6(H)); // another listener answered for H first
    run(5000, 16_000);
    expect(sent.map((s) => [s.dst, s.what])).toEqual([[G, [131, G]]]);
    sent.length = 0;
    l.leave(20_000, v6(G));
    run(20_000, 25_000);
    expect(sent.map((s) => [s.dst, s.what])).toEqual([['ff02::2', [132, G]]]);
    expect(l.stats.v1QueriesReceived).toBe(1);
    sent.length = 0;
    l.join(5000 + 260_000, v6(G));
    l.poll(5000 + 260_000);
    expect(sent.map((s) => s.what)).toEqual([[[MldRecord.ToExclude, G]]]);
  });
});
