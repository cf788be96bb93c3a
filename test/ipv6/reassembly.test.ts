/** IPv6 fragmentation and reassembly (RFC 8200 4.5, RFC 5722, RFC 6946): protocols/ipv6/fragmenter.ts, reassembly.ts. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytesEqual, read16 } from '../../protocols/util/bytes.js';
import { BywayError } from '../../protocols/util/errors.js';
import { IPV6_HEADER_LEN, Ipv6Packet, NextHeader, emitIpv6Header } from '../../protocols/ipv6/wire.js';
import { emitFragmentHeader, walkExtensionHeaders, type FragmentInfo } from '../../protocols/ipv6/wire-ext.js';
import { fragmentDataSize, fragmentIpv6 } from '../../protocols/ipv6/fragmenter.js';
import { Ipv6Reassembler, type Ipv6ReassemblyResult } from '../../protocols/ipv6/reassembly.js';
import { parseIpv6 } from '../../protocols/ipv6/address.js';

const SRC = parseIpv6('fd00::2')!;
const DST = parseIpv6('fd00::1')!;

/** A UDP-over-IPv6 packet whose payload bytes are a function of their index, optionally behind a hop-by-hop header. */
function bigPacket(payloadLen: number, hopByHop = false, seed = 1): Uint8Array {
  const ext = hopByHop ? 8 : 0;
  const b = new Uint8Array(IPV6_HEADER_LEN + ext + payloadLen);
  emitIpv6Header({ src: SRC, dst: DST, nextHeader: hopByHop ? NextHeader.HopByHop : NextHeader.UDP, hopLimit: 64, trafficClass: 0, flowLabel: 7, payloadLen: ext + payloadLen }, b);
  if (hopByHop) b.set([NextHeader.UDP, 0, 1, 4, 0, 0, 0, 0], IPV6_HEADER_LEN);
  for (let i = IPV6_HEADER_LEN + ext; i < b.length; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** A fragment built by hand: fixed header + Fragment header + data. */
function fragment(offset: number, more: boolean, data: Uint8Array, ident = 9, src = SRC): Uint8Array {
  const b = new Uint8Array(48 + data.length);
  emitIpv6Header({ src, dst: DST, nextHeader: NextHeader.Fragment, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLen: 8 + data.length }, b);
  emitFragmentHeader({ nextHeader: NextHeader.UDP, offset, more, ident }, b, 40);
  b.set(data, 48);
  return b;
}

function feed(r: Ipv6Reassembler, now: number, bytes: Uint8Array): Ipv6ReassemblyResult {
  const p = Ipv6Packet.checked(bytes)!;
  const w = walkExtensionHeaders(p);
  if (w.kind !== 'fragment') throw new Error(`not a fragment: ${JSON.stringify(w)}`);
  return r.input(now, p, w.fragment);
}

function done(res: Ipv6ReassemblyResult): Uint8Array {
  if (res.kind !== 'done') throw new Error(`expected done, got ${JSON.stringify(res)}`);
  return res.packet;
}

const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);

describe('fragmenter', () => {
  it('cuts at the MTU in multiples of 8 with the unfragmentable part in front, and leaves a packet that fits alone', () => {
    const pkt = bigPacket(4000, true);
    const frags = fragmentIpv6(pkt, 48, 40, 1280, 0x01020304);
    expect(frags.map((f) => f.length)).toEqual([1280, 1280, 1280, 48 + 8 + (4000 - 3 * 1224)]);
    const step = fragmentDataSize(1280, 48);
    expect(step).toBe(1224);
    for (const [i, f] of frags.entries()) {
      expect(f.length).toBeLessThanOrEqual(1280);
      expect(read16(f, 4)).toBe(f.length - 40);
      expect(f[40]).toBe(NextHeader.Fragment); // the hop-by-hop header now names the Fragment header
      const w = walkExtensionHeaders(Ipv6Packet.checked(f)!);
      expect(w).toEqual({ kind: 'fragment', fragment: { headerOffset: 48, nextHeaderFieldOffset: 40, nextHeader: NextHeader.UDP, offset: i * step, more: i < frags.length - 1, ident: 0x01020304 } });
    }
    expect(frags.reduce((n, f) => n + f.length - 56, 0)).toBe(4000);
    const small = bigPacket(1000);
    expect(fragmentIpv6(small, 40, 6, 1280, 1)).toEqual([small]);
  });

  it('refuses an MTU under 1280 the way byway refuses API misuse', () => {
    let err: unknown;
    try {
      fragmentIpv6(bigPacket(2000), 40, 6, 1279, 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BywayError);
    expect((err as BywayError).code).toBe('ERR_INVALID_ARG_VALUE');
  });
});

describe('reassembly', () => {
  it('rebuilds the original packet from fragments in any order, with duplicates, at any MTU', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1300, max: 9000 }),
        fc.integer({ min: 1280, max: 3000 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 16 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        (len, mtu, hbh, order, dups) => {
          const pkt = bigPacket(len + mtu, hbh);
          const frags = fragmentIpv6(pkt, hbh ? 48 : 40, hbh ? 40 : 6, mtu, 77);
          for (let i = frags.length - 1; i > 0; i--) {
            const j = (order[i % Math.max(order.length, 1)] ?? 0) % (i + 1);
            [frags[i], frags[j]] = [frags[j]!, frags[i]!];
          }
          for (const d of dups) frags.splice(d % frags.length, 0, frags[d % frags.length]!);
          const r = new Ipv6Reassembler();
          const results = frags.map((f) => feed(r, 0, f));
          const dones = results.filter((x) => x.kind === 'done');
          expect(frags.length).toBeGreaterThan(1);
          // Once complete; again only if duplicates of every fragment arrive after that (then it is the same packet).
          expect(dones.length).toBeGreaterThanOrEqual(1);
          for (const d of dones) expect(bytesEqual(done(d), pkt)).toBe(true);
          // A duplicate that arrives after completion starts a datagram of its own, which times out.
          r.poll(60_000);
          expect(r.memory).toBe(0);
          expect(r.inProgress).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reassembles a two-fragment datagram split at every multiple of 8', () => {
    const data = new Uint8Array(1000).map((_, i) => i * 7);
    const r = new Ipv6Reassembler();
    for (let at = 8; at < data.length; at += 8) {
      const a = fragment(0, true, data.subarray(0, at), at);
      const b = fragment(at, false, data.subarray(at), at);
      expect(feed(r, 0, b).kind).toBe('pending');
      const out = done(feed(r, 0, a));
      expect(out.length).toBe(40 + 1000);
      expect(out[6]).toBe(NextHeader.UDP);
      expect(read16(out, 4)).toBe(1000);
      expect(bytesEqual(out.subarray(40), data)).toBe(true);
    }
    expect(r.stats.reassembled).toBe(124);
    expect(r.memory).toBe(0);
  });

  it('discards the whole datagram on an overlap, and its later fragments until the time-out (RFC 5722)', () => {
    const r = new Ipv6Reassembler({ timeoutMs: 1000 });
    expect(feed(r, 0, fragment(0, true, fill(16, 1))).kind).toBe('pending');
    expect(feed(r, 0, fragment(8, true, fill(16, 1)))).toEqual({ kind: 'drop', reason: 'overlaps' });
    expect(feed(r, 1, fragment(24, false, fill(8, 1)))).toEqual({ kind: 'drop', reason: 'discardedAfterOverlap' });
    expect(feed(r, 2, fragment(16, true, fill(8, 1)))).toEqual({ kind: 'drop', reason: 'discardedAfterOverlap' });
    expect(r.stats.overlaps).toBe(1);
    expect(r.stats.discardedAfterOverlap).toBe(2);
    const quoted: Uint8Array[] = [];
    r.poll(1000, (f) => quoted.push(f));
    expect(quoted).toEqual([]); // a discarded datagram times out silently
    expect(r.stats.timeouts).toBe(0);
    expect(r.inProgress).toBe(0);
    expect(r.memory).toBe(0);
    // The same identification later is a new datagram.
    expect(feed(r, 1001, fragment(8, false, fill(8, 2))).kind).toBe('pending');
    expect(done(feed(r, 1001, fragment(0, true, fill(8, 2)))).length).toBe(56);
  });

  it('ignores an exact duplicate but treats a same-range fragment with other bytes as an overlap', () => {
    const r = new Ipv6Reassembler();
    feed(r, 0, fragment(0, true, fill(8, 1)));
    expect(feed(r, 0, fragment(0, true, fill(8, 1)))).toEqual({ kind: 'drop', reason: 'duplicates' });
    expect(feed(r, 0, fragment(0, true, fill(8, 2)))).toEqual({ kind: 'drop', reason: 'overlaps' });
    // Two different ends.
    const s = new Ipv6Reassembler();
    feed(s, 0, fragment(16, false, fill(8, 1)));
    expect(feed(s, 0, fragment(32, false, fill(8, 1)))).toEqual({ kind: 'drop', reason: 'overlaps' });
    // Data past a known end.
    const t = new Ipv6Reassembler();
    feed(t, 0, fragment(16, false, fill(8, 1)));
    expect(feed(t, 0, fragment(24, true, fill(8, 1)))).toEqual({ kind: 'drop', reason: 'overlaps' });
  });

  it('processes an atomic fragment in isolation, leaving a datagram with the same identification alone (RFC 6946)', () => {
    const r = new Ipv6Reassembler();
    expect(feed(r, 0, fragment(0, true, fill(8, 1), 5)).kind).toBe('pending');
    const p = Ipv6Packet.checked(fragment(0, false, fill(12, 3), 5))!;
    const atomic = r.input(0, p, { headerOffset: 40, nextHeaderFieldOffset: 6, nextHeader: 17, offset: 0, more: false, ident: 5 });
    const out = done(atomic);
    expect(out.length).toBe(52);
    expect(out[6]).toBe(17);
    expect(r.stats.atomic).toBe(1);
    expect(done(feed(r, 0, fragment(8, false, fill(4, 1), 5))).length).toBe(52);
  });

  it('answers bad lengths with the parameter problems RFC 8200 4.5 names', () => {
    const r = new Ipv6Reassembler();
    expect(feed(r, 0, fragment(0, true, fill(12, 1)))).toEqual({ kind: 'param-problem', code: 0, pointer: 4 });
    expect(feed(r, 0, fragment(65528, false, fill(16, 1)))).toEqual({ kind: 'param-problem', code: 0, pointer: 42 });
    expect(feed(r, 0, fragment(65528, false, fill(7, 1))).kind).toBe('pending'); // 65528 + 7 = 65535: fits
    expect(r.stats.tooBig).toBe(1);
  });

  it('times out on the virtual clock and hands back the first fragment for Time Exceeded', () => {
    const r = new Ipv6Reassembler();
    const first = fragment(0, true, fill(16, 4));
    feed(r, 100, first);
    feed(r, 200, fragment(0, true, fill(16, 4), 10, DST)); // another datagram, first fragment only
    expect(r.pollAt()).toBe(60_100);
    const quoted: Uint8Array[] = [];
    r.poll(60_099, (f) => quoted.push(f));
    expect(quoted.length).toBe(0);
    r.poll(60_100, (f) => quoted.push(f));
    expect(quoted.length).toBe(1);
    expect(bytesEqual(quoted[0]!, first)).toBe(true);
    expect(r.pollAt()).toBe(60_200);
    r.poll(60_200);
    expect(r.stats.timeouts).toBe(2);
    expect(r.memory).toBe(0);
    expect(r.pollAt()).toBeUndefined();
  });

  it('holds to its caps: datagrams, fragments per datagram, memory', () => {
    const r = new Ipv6Reassembler({ maxDatagrams: 2 });
    for (let id = 0; id < 5; id++) feed(r, id, fragment(8, true, fill(8, 1), id));
    expect(r.inProgress).toBe(2);
    expect(r.stats.evicted).toBe(3);
    const f = new Ipv6Reassembler({ maxFragments: 3 });
    for (let i = 0; i < 3; i++) expect(feed(f, 0, fragment(i * 16, true, fill(8, 1))).kind).toBe('pending');
    expect(feed(f, 0, fragment(100 * 8, true, fill(8, 1)))).toEqual({ kind: 'drop', reason: 'tooManyFragments' });
    expect(f.memory).toBe(0);
    const m = new Ipv6Reassembler({ maxBytes: 1000 });
    expect(feed(m, 0, fragment(0, true, fill(800, 1))).kind).toBe('pending');
    expect(feed(m, 0, fragment(800, true, fill(800, 1)))).toEqual({ kind: 'drop', reason: 'memoryDrops' });
    expect(m.memory).toBeLessThanOrEqual(1000);
  });
});

describe('walker and reassembler never throw on mutated fragments', () => {
  it('keeps memory within its cap and only ever returns well-formed packets', () => {
    const opts = { maxBytes: 16 * 1024, maxDatagrams: 4, maxFragments: 8, timeoutMs: 100 };
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.nat(20)), { maxLength: 30 }), (edits) => {
        const frags = fragmentIpv6(bigPacket(3000), 40, 6, 1280, 3);
        const r = new Ipv6Reassembler(opts);
        let now = 0;
        for (const [at, v, dt] of edits) {
          const f = frags[at % frags.length]!.slice();
          f[at % 56] = v;
          now += dt;
          r.poll(now);
          const p = Ipv6Packet.checked(f);
          if (p === undefined) continue;
          const w = walkExtensionHeaders(p);
          if (w.kind !== 'fragment') continue;
          const res = r.input(now, p, w.fragment as FragmentInfo);
          expect(r.memory).toBeLessThanOrEqual(opts.maxBytes);
          if (res.kind === 'done') expect(Ipv6Packet.checked(res.packet)?.buffer.length).toBe(res.packet.length);
        }
      }),
    );
  });
});
