/**
 * ECN (RFC 3168) over IPv6: the TCP core's ECN carried in the IPv6 Traffic Class both ways. Two stacks on a memory
 * link, virtual clock; a small wrapper on a's side reads the ECN field of every IPv6 TCP frame a sends and CE-marks
 * some ECT ones (what a congested router does: RFC 3168 5; IPv6 has no header checksum to fix, and the TCP
 * pseudo-header does not cover the Traffic Class).
 */
import { describe, expect, it } from 'vitest';
import type { FrameDriver } from '../../drivers/types.js';
import { forwardRest } from '../../drivers/middleware/forward.js';
import { ECN_CE, ECN_ECT0 } from '../../protocols/tcp/ecn.js';
import { makePair6 } from '../ipv6/stack-helpers.js';
import { transfer6 } from './helpers.js';

interface Seen {
  /** [TCP payload length, ECN field, TCP flags] of each IPv6 TCP frame sent, as it left (before marking). */
  sent: [number, number, number][];
  marked: number;
}

/** Watches a's IPv6 TCP frames; marks every `every`-th ECT one CE (0: none). */
function marker(every: number, seen: Seen) {
  return (inner: FrameDriver): FrameDriver => {
    let frame: Uint8Array | null = null;
    let ect = 0;
    const w = {
      txReserve(len: number): Uint8Array | null {
        frame = inner.txReserve(len);
        return frame;
      },
      txCommit(now: number, len: number, segment?: number): boolean | void {
        const f = frame!;
        if (len >= 74 && f[12] === 0x86 && f[13] === 0xdd && f[20] === 6) {
          const ecn = (f[15]! >>> 4) & 3;
          const dataOff = (f[54 + 12]! >>> 4) * 4;
          seen.sent.push([len - 54 - dataOff, ecn, f[54 + 13]!]);
          if (ecn === ECN_ECT0 && every > 0 && ++ect % every === 0) {
            f[15] = f[15]! | (ECN_CE << 4);
            seen.marked++;
          }
        }
        return segment === undefined ? inner.txCommit(now, len) : inner.txCommit(now, len, segment);
      },
    };
    return forwardRest(w as unknown as FrameDriver, inner);
  };
}

const SYN = 0x02;

describe('ECN over IPv6 (RFC 3168 in the Traffic Class)', () => {
  it('negotiated: new data carries ECT(0) in the Traffic Class, SYNs and pure ACKs none; CE marks reach the receiver, ECE the sender, which reduces', () => {
    const seen: Seen = { sent: [], marked: 0 };
    const p = makePair6(['fd00::1/64'], ['fd00::2/64'], { a: { tcp: { ecn: 1 } }, b: { tcp: { ecn: 1 } }, wrapA: marker(20, seen) });
    p.run(3_500); // DAD
    const { client, server } = transfer6(p, 'fd00::2', 400_000);
    expect(client.info().ecn).toBe(true);
    expect(server.info().ecn).toBe(true);
    const syn = seen.sent.find(([, , flags]) => flags & SYN)!;
    expect(syn[1]).toBe(0); // never ECT on a SYN
    const data = seen.sent.filter(([len]) => len > 0);
    expect(data.length).toBeGreaterThan(200);
    expect(data.filter(([, ecn]) => ecn === ECN_ECT0).length).toBeGreaterThan(data.length * 0.9); // retransmissions may be not-ECT
    expect(seen.sent.filter(([len, , flags]) => len === 0 && !(flags & SYN)).every(([, ecn]) => ecn === 0)).toBe(true);
    expect(seen.marked).toBeGreaterThan(5);
    expect(server.info().ecnCeReceived).toBeGreaterThan(0); // the receiver saw CE in the Traffic Class
    expect(client.info().ecnReductions).toBeGreaterThan(0); // and echoed ECE, to which the sender answered
    expect(p.a.tcp!.stats.retransmittedSegs).toBe(0); // marking, not loss
  });

  it('the other direction too: b sends over IPv6 with ECT(0) (seen from a), and a plain stack (ecn 0) gets no ECT', () => {
    const seen: Seen = { sent: [], marked: 0 };
    const p = makePair6(['fd00::1/64'], ['fd00::2/64'], { a: { tcp: { ecn: 0 } }, b: { tcp: { ecn: 1 } }, wrapA: marker(0, seen) });
    p.run(3_500);
    const { client } = transfer6(p, 'fd00::2', 50_000);
    expect(client.info().ecn).toBe(false);
    expect(seen.sent.filter(([len]) => len > 0).every(([, ecn]) => ecn === 0)).toBe(true);

    const seen2: Seen = { sent: [], marked: 0 };
    const q = makePair6(['fd00::1/64'], ['fd00::2/64'], { a: { tcp: { ecn: 2 } }, b: { tcp: { ecn: 1 } }, wrapB: marker(0, seen2) });
    q.run(3_500);
    // b connects to a (b requests ECN, a accepts): b's data leaves with ECT(0).
    const listener = q.a.tcp!.listen(0, 81, 4, { family: 46 });
    const c = q.b.tcp!.connect(q.clock.now(), q.b.tcp!.addrs.intern(new Uint8Array([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])), 81);
    q.run(q.clock.now() + 5_000, () => c.state === 'ESTABLISHED');
    c.send(q.clock.now(), new Uint8Array(5000));
    q.run(q.clock.now() + 5_000);
    expect(c.info().ecn).toBe(true);
    const data = seen2.sent.filter(([len]) => len > 0);
    expect(data.length).toBeGreaterThan(2);
    expect(data.every(([, ecn]) => ecn === ECN_ECT0)).toBe(true);
    listener.close(q.clock.now());
  });
});
