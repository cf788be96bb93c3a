/**
 * The IGMP host (RFC 3376 with IGMPv1/v2 compatibility) on the listener core shared with MLD, on a virtual clock:
 * state change reports (TO_EX on an any-source join, TO_IN / ALLOW / BLOCK for source-specific users) repeated
 * Robustness times, Current State Reports for queries, and the older modes after IGMPv2 and IGMPv1 queries.
 */
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../protocols/util/rng.js';
import { formatIpv4, parseIpv4 } from '../../protocols/ipv4/address.js';
import { emitIgmp, parseIgmp, type IgmpQuery } from '../../protocols/igmp/wire.js';
import { IgmpListener, igmpQuery, ipv4Bytes, ipv4FromBytes } from '../../protocols/igmp/listener.js';
import { RecordType as R } from '../../protocols/multicast/listener.js';

const ip = (s: string): number => parseIpv4(s)!;
const b = (s: string): Uint8Array => ipv4Bytes(ip(s));
const G = '239.1.2.3';
const H = '232.1.1.1';

function host(seed = 1) {
  const sent: { at: number; dst: string; what: unknown }[] = [];
  const l = new IgmpListener((now, msg, dst) => {
    const r = parseIgmp(msg);
    if (typeof r === 'string') throw new Error(r);
    const what =
      r.kind === 'v3-report'
        ? r.records.map((g) => [g.type, formatIpv4(g.group), ...(g.sources.length > 0 ? [g.sources.map(formatIpv4)] : [])])
        : [r.kind, formatIpv4((r as { group: number }).group)];
    sent.push({ at: now, dst: formatIpv4(ipv4FromBytes(dst)), what });
  }, seededRng(seed));
  const run = (from: number, to: number): void => {
    for (let t = from; t <= to; t++) if ((l.pollAt() ?? Infinity) <= t) l.poll(t);
  };
  return { l, sent, run };
}

function query(version: 1 | 2 | 3, maxRespCode: number, group = '0.0.0.0', sources: string[] = []): IgmpQuery {
  const q = parseIgmp(emitIgmp({ kind: 'query', version, maxRespCode, group: ip(group), suppress: false, qrv: version === 3 ? 2 : 0, qqic: 0, sources: sources.map(ip) }));
  return q as IgmpQuery;
}

describe('IGMP host', () => {
  it('an any-source join: TO_EX {} to 224.0.0.22 at once and once more within 1 s; 224.0.0.1 never reported', () => {
    const { l, sent, run } = host();
    expect(l.join(0, b(G))).toBe(true);
    expect(l.join(0, b('224.0.0.1'))).toBe(true);
    run(0, 3000);
    expect(sent.map((s) => [s.dst, s.what])).toEqual([
      ['224.0.0.22', [[R.ToExclude, G]]],
      ['224.0.0.22', [[R.ToExclude, G]]],
    ]);
    expect(sent[1]!.at).toBeGreaterThan(0);
    expect(sent[1]!.at).toBeLessThanOrEqual(1001);
    expect(l.receives(b(G), b('10.0.0.9'))).toBe(true);
  });

  it('source-specific users: ALLOW {S1} on the first (INCLUDE {} to INCLUDE {S1}, RFC 3376 5.1), ALLOW {S2} on another, BLOCK {S1} when one leaves, an any-source user makes it TO_EX', () => {
    const { l, sent, run } = host(2);
    l.join(0, b(H), b('10.0.0.1'));
    run(0, 2000);
    l.join(3000, b(H), b('10.0.0.2'));
    run(3000, 5000);
    l.leave(6000, b(H), b('10.0.0.1'));
    run(6000, 8000);
    expect(l.receives(b(H), b('10.0.0.2'))).toBe(true);
    expect(l.receives(b(H), b('10.0.0.1'))).toBe(false);
    l.join(9000, b(H));
    run(9000, 11_000);
    l.leave(12_000, b(H));
    l.leave(12_000, b(H), b('10.0.0.2'));
    run(12_000, 14_000);
    expect(l.has(b(H))).toBe(false);
    expect(sent.map((s) => s.what)).toEqual([
      [[R.Allow, H, ['10.0.0.1']]],
      [[R.Allow, H, ['10.0.0.1']]],
      [[R.Allow, H, ['10.0.0.2']]],
      [[R.Allow, H, ['10.0.0.2']]],
      [[R.Block, H, ['10.0.0.1']]],
      [[R.Block, H, ['10.0.0.1']]],
      [[R.ToExclude, H]],
      [[R.ToExclude, H]],
      [[R.ToInclude, H]],
      [[R.ToInclude, H]],
    ]);
    expect(l.leave(15_000, b(H))).toBe(false); // no such user
  });

  it('queries: a general one answered with IS_EX / IS_IN of every group within Max Resp Time; a group-and-source one with the sources received', () => {
    for (const seed of [1, 2, 3]) {
      const { l, sent, run } = host(seed);
      l.join(0, b(G));
      l.join(0, b(H), b('10.0.0.1'));
      run(0, 3000);
      sent.length = 0;
      l.query(5000, igmpQuery(query(3, 20))); // 2 s
      run(5000, 8000);
      expect(sent.map((s) => s.what)).toEqual([[[R.IsExclude, G], [R.IsInclude, H, ['10.0.0.1']]]]);
      expect(sent[0]!.at).toBeLessThan(7000);
      sent.length = 0;
      l.query(10_000, igmpQuery(query(3, 10, H, ['10.0.0.1', '10.0.0.7'])));
      l.query(10_000, igmpQuery(query(3, 10, G, ['10.0.0.7'])));
      run(10_000, 12_000);
      expect(sent.map((s) => s.what).flat()).toEqual(expect.arrayContaining([[R.IsInclude, H, ['10.0.0.1']], [R.IsInclude, G, ['10.0.0.7']]]));
    }
  });

  it('IGMPv2 querier: v2 Reports to the group (suppressed by another host\'s), a Leave to 224.0.0.2; IGMPv3 again after the timeout', () => {
    const { l, sent, run } = host(4);
    l.join(0, b(G));
    l.join(0, b(H));
    run(0, 3000);
    sent.length = 0;
    l.query(5000, igmpQuery(query(2, 100)));
    l.report(5000, b(H));
    run(5000, 16_000);
    expect(sent.map((s) => [s.dst, s.what])).toEqual([[G, ['v2-report', G]]]);
    sent.length = 0;
    l.leave(20_000, b(G));
    run(20_000, 25_000);
    expect(sent.map((s) => [s.dst, s.what])).toEqual([['224.0.0.2', ['leave', G]]]);
    sent.length = 0;
    l.join(5000 + 260_000, b(G));
    l.poll(5000 + 260_000);
    expect(sent.map((s) => s.what)).toEqual([[[R.ToExclude, G]]]);
  });

  it('IGMPv1 querier: v1 Reports within 10 s, no leave at all', () => {
    const { l, sent, run } = host(5);
    l.join(0, b(G));
    run(0, 3000);
    sent.length = 0;
    l.query(5000, igmpQuery(query(1, 0)));
    run(5000, 16_000);
    expect(sent.map((s) => [s.dst, s.what])).toEqual([[G, ['v1-report', G]]]);
    expect(sent[0]!.at).toBeLessThan(15_000);
    sent.length = 0;
    l.leave(20_000, b(G));
    l.join(20_000, b(H));
    run(20_000, 25_000);
    expect(sent.map((s) => [s.dst, s.what])).toEqual([
      [H, ['v1-report', H]],
      [H, ['v1-report', H]],
    ]);
    expect(l.stats.v1QueriesReceived).toBe(1);
  });
});
