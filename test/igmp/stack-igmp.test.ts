/**
 * IPv4 multicast through the stack (src/stack/igmp.ts), three stacks on a memorySwitch, on the virtual clock:
 * - a join is reported on the wire as Linux does: IGMPv3 to 224.0.0.22 (01:00:5e:00:00:16), TTL 1, TOS 0xc0, a
 *   Router Alert option, valid checksums; the driver is asked for the group's MAC, and told to drop it on leave;
 * - a datagram to the group reaches the member's socket (sent with TTL 1 by default), not a stack that did not join
 *   (dropped and counted as notJoined); a source-specific member hears only its source (sourceFiltered);
 * - a sender in the group hears its own datagram (IP_MULTICAST_LOOP), unless it turned loopback off;
 * - a general IGMPv3 query (crafted by the test, playing the router) is answered; an IGMPv2 query turns the host to
 *   IGMPv2 reports; malformed IGMP is counted, never thrown.
 */
import { describe, expect, it } from 'vitest';
import { memorySwitch } from '../../drivers/memory/index.js';
import { forwardRest } from '../../drivers/middleware/forward.js';
import type { FrameDriver } from '../../drivers/types.js';
import { checksum } from '../../protocols/util/checksum.js';
import { read32, write16, write32 } from '../../protocols/util/bytes.js';
import { seededRng } from '../../protocols/util/rng.js';
import { formatIpv4, parseCidr, parseIpv4 } from '../../protocols/ipv4/address.js';
import { emitIgmp, parseIgmp } from '../../protocols/igmp/wire.js';
import { RecordType } from '../../protocols/multicast/listener.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { runUntil } from '../../src/stack/sim.js';
import { NetStack } from '../../src/stack/stack.js';

const ip = (s: string): number => parseIpv4(s)!;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const G = ip('239.1.2.3');

interface Sent {
  dstMac: string;
  ttl: number;
  tos: number;
  routerAlert: boolean;
  ipChecksumOk: boolean;
  protocol: number;
  dst: string;
  igmp?: unknown;
}

/** A tap on a driver's transmit (what the stack put on the wire) and its multicast MAC membership calls. */
function tap(inner: FrameDriver, sent: Sent[], macs: string[]): FrameDriver {
  let frame: Uint8Array | null = null;
  const w = {
    txReserve(len: number): Uint8Array | null {
      frame = inner.txReserve(len);
      return frame;
    },
    txCommit(now: number, len: number): boolean | void {
      const f = frame!.subarray(0, len);
      if (f[12] === 0x08 && f[13] === 0x00) {
        const ihl = (f[14]! & 15) * 4;
        const s: Sent = {
          dstMac: hex(f.subarray(0, 6)),
          ttl: f[22]!,
          tos: f[15]!,
          routerAlert: ihl === 24 && f[34] === 148 && f[35] === 4,
          ipChecksumOk: checksum(f, 14, 14 + ihl) === 0,
          protocol: f[23]!,
          dst: formatIpv4(read32(f, 30)),
        };
        if (s.protocol === 2) s.igmp = parseIgmp(f.slice(14 + ihl));
        sent.push(s);
      }
      return inner.txCommit(now, len);
    },
    multicastMembership(op: 'add' | 'drop', mac: Uint8Array): void {
      macs.push(`${op} ${hex(mac)}`);
    },
  };
  return forwardRest(w as unknown as FrameDriver, inner);
}

function lab(igmpA: object | false = {}) {
  const sw = memorySwitch();
  const clock = new VirtualClock();
  const sent: Sent[] = [];
  const macs: string[] = [];
  const rawPort = sw.port();
  const a = new NetStack({ driver: tap(sw.port(), sent, macs), addresses: [parseCidr('10.0.0.1/24')!], rng: seededRng(1), igmp: igmpA as never });
  const b = new NetStack({ driver: sw.port(), addresses: [parseCidr('10.0.0.2/24')!], rng: seededRng(2) });
  const c = new NetStack({ driver: sw.port(), addresses: [parseCidr('10.0.0.3/24')!], rng: seededRng(3) });
  const run = (ms: number): void => {
    runUntil(clock, [a, b, c], { until: clock.now() + ms });
    rawPort.receive(clock.now(), 1 << 20, () => {});
  };
  /** A frame from the router (10.0.0.254) to `dst`, IGMP message `msg`, with Router Alert. */
  const inject = (dst: number, msg: Uint8Array): void => {
    const f = rawPort.txReserve(14 + 24 + msg.length)!;
    f.set([0x01, 0x00, 0x5e, (dst >>> 16) & 0x7f, (dst >>> 8) & 0xff, dst & 0xff, 2, 0, 0, 0, 0, 0xfe, 0x08, 0x00], 0);
    const h = f.subarray(14, 38);
    h.fill(0);
    h[0] = 0x46;
    h[1] = 0xc0;
    write16(h, 2, 24 + msg.length);
    h[8] = 1;
    h[9] = 2;
    write32(h, 12, ip('10.0.0.254'));
    write32(h, 16, dst);
    h[20] = 148;
    h[21] = 4;
    write16(h, 10, checksum(h));
    f.set(msg, 38);
    rawPort.txCommit(clock.now(), 14 + 24 + msg.length);
  };
  return { a, b, c, clock, sent, macs, run, inject };
}

describe('IGMP and IPv4 multicast in the stack', () => {
  it('a join is reported as Linux reports it, the driver told the MAC; a datagram to the group reaches the member only, with TTL 1', () => {
    const l = lab();
    l.run(100);
    const member = l.a.udp.createSocket();
    member.bind(0, 5000);
    const got: string[] = [];
    member.onMessage = (d, src) => got.push(`${formatIpv4(src)} ${Buffer.from(d).toString()}`);
    l.a.igmp.join(l.clock.now(), G);
    const other = l.c.udp.createSocket();
    other.bind(0, 5000);
    let otherGot = 0;
    other.onMessage = () => otherGot++;
    l.run(3000);
    const reports = l.sent.filter((s) => s.protocol === 2);
    expect(reports).toHaveLength(2);
    expect(reports[0]).toMatchObject({ dstMac: '01005e000016', dst: '224.0.0.22', ttl: 1, tos: 0xc0, routerAlert: true, ipChecksumOk: true });
    expect(reports[0]!.igmp).toEqual({ kind: 'v3-report', records: [{ type: RecordType.ToExclude, group: G, sources: [], auxWords: 0 }] });
    expect(l.macs).toEqual(['add 01005e010203']);
    const sender = l.b.udp.createSocket();
    const notJoined = l.c.stats.igmp!.notJoined; // a's reports to 224.0.0.22 so far
    expect(notJoined).toBe(2);
    sender.send(l.clock.now(), Buffer.from('tick'), G, 5000);
    l.run(100);
    expect(got).toEqual(['10.0.0.2 tick']);
    expect(otherGot).toBe(0);
    expect(l.c.stats.igmp!.notJoined).toBe(notJoined + 1);
    expect(l.a.stats.igmp!.multicastRx).toBe(1);
    // What a member sends to the group leaves with the multicast TTL (1 by default) to the group's MAC.
    l.sent.length = 0;
    member.send(l.clock.now(), Buffer.from('own'), G, 5000);
    l.run(100);
    expect(l.sent.filter((s) => s.protocol === 17)).toEqual([expect.objectContaining({ dstMac: '01005e010203', ttl: 1, dst: '239.1.2.3' })]);
    expect(got).toEqual(['10.0.0.2 tick', '10.0.0.1 own']); // looped back (IP_MULTICAST_LOOP on)
    member.multicastLoop = false;
    member.multicastTtl = 16;
    l.sent.length = 0;
    member.send(l.clock.now(), Buffer.from('quiet'), G, 5000);
    l.run(100);
    expect(got).toHaveLength(2);
    expect(l.sent.filter((s) => s.protocol === 17)[0]!.ttl).toBe(16);
    l.a.igmp.leave(l.clock.now(), G);
    l.sent.length = 0;
    l.run(3000);
    expect(l.macs).toEqual(['add 01005e010203', 'drop 01005e010203']);
    expect(l.sent.filter((s) => s.protocol === 2).map((s) => s.igmp)).toEqual(
      Array(2).fill({ kind: 'v3-report', records: [{ type: RecordType.ToInclude, group: G, sources: [], auxWords: 0 }] }),
    );
    sender.send(l.clock.now(), Buffer.from('late'), G, 5000);
    l.run(100);
    expect(got).toHaveLength(2);
  });

  it('a source-specific member hears only its source; the interface reports ALLOW {S}', () => {
    const l = lab();
    l.run(100);
    const s = l.a.udp.createSocket();
    s.bind(0, 6000);
    const got: string[] = [];
    s.onMessage = (_d, src) => got.push(formatIpv4(src));
    const H = ip('232.1.1.1');
    l.a.igmp.join(l.clock.now(), H, ip('10.0.0.2'));
    l.run(100);
    expect(l.sent.filter((x) => x.protocol === 2)[0]!.igmp).toEqual({
      kind: 'v3-report',
      records: [{ type: RecordType.Allow, group: H, sources: [ip('10.0.0.2')], auxWords: 0 }],
    });
    for (const st of [l.b, l.c]) {
      const tx = st.udp.createSocket();
      tx.send(l.clock.now(), Buffer.from('x'), H, 6000);
    }
    l.run(100);
    expect(got).toEqual(['10.0.0.2']);
    expect(l.a.stats.igmp!.sourceFiltered).toBe(1);
  });

  it('queries: a general IGMPv3 query is answered within its Max Resp Time; IGMPv2 switches to v2 reports; bad IGMP is counted', () => {
    const l = lab();
    l.run(100);
    l.a.igmp.join(l.clock.now(), G);
    l.run(3000);
    l.sent.length = 0;
    const t0 = l.clock.now();
    l.inject(ip('224.0.0.1'), emitIgmp({ kind: 'query', version: 3, maxRespCode: 10, group: 0, suppress: false, qrv: 2, qqic: 125, sources: [] }));
    l.run(2000);
    const answers = l.sent.filter((s) => s.protocol === 2);
    expect(answers.map((s) => s.igmp)).toEqual([{ kind: 'v3-report', records: [{ type: RecordType.IsExclude, group: G, sources: [], auxWords: 0 }] }]);
    expect(l.a.stats.igmp!.queriesReceived).toBe(1);
    expect(l.clock.now() - t0).toBeGreaterThan(0);
    l.sent.length = 0;
    l.inject(ip('224.0.0.1'), emitIgmp({ kind: 'query', version: 2, maxRespCode: 10, group: 0, suppress: false, qrv: 0, qqic: 0, sources: [] }));
    l.run(2000);
    expect(l.sent.filter((s) => s.protocol === 2).map((s) => [s.dst, s.igmp])).toEqual([['239.1.2.3', { kind: 'v2-report', group: G }]]);
    const bad = emitIgmp({ kind: 'leave', group: G });
    bad[6]! ^= 0xff;
    l.inject(ip('224.0.0.1'), bad);
    l.inject(ip('224.0.0.1'), Uint8Array.of(0x11, 0, 0));
    l.run(100);
    expect(l.a.stats.igmp).toMatchObject({ badChecksum: 1, truncated: 1 });
    expect(l.b.stats.igmp).toMatchObject({ badChecksum: 1, truncated: 1 }); // 224.0.0.1: every host hears it
  });

  it('igmp: false: a joined group is still received, but no report leaves and queries are not answered', () => {
    const l = lab(false);
    l.run(100);
    const s = l.a.udp.createSocket();
    s.bind(0, 5000);
    let got = 0;
    s.onMessage = () => got++;
    l.a.igmp.join(l.clock.now(), G);
    l.inject(ip('224.0.0.1'), emitIgmp({ kind: 'query', version: 3, maxRespCode: 10, group: 0, suppress: false, qrv: 2, qqic: 125, sources: [] }));
    l.run(3000);
    l.b.udp.createSocket().send(l.clock.now(), Buffer.from('x'), G, 5000);
    l.run(100);
    expect(got).toBe(1);
    expect(l.sent.filter((x) => x.protocol === 2)).toEqual([]);
    expect(l.a.stats.igmp!.queriesReceived).toBe(0);
  });
});
