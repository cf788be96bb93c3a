/**
 * Proportional rate reduction (RFC 6937, option prr, with Linux's tcp_cwnd_reduction bounds), the loss response from
 * cwnd (ssthreshFromCwnd) and no tail-loss probe in fast recovery (RFC 8985 7.2). On the virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { ACK, bytes } from './harness.js';
import { Tester } from './fixtures.js';
import type { TcpOptions } from '../../protocols/tcp/options.js';

const MSS = 1000;

function sackSetup(opts: Partial<TcpOptions>, segments: number): { t: Tester; c: ReturnType<Tester['established']>; sack: (l: number, r: number, ack?: number) => number[] } {
  const t = new Tester({ sack: true, initialWindowSegments: segments, sendBuffer: 256 * 1024, noDelay: true, ...opts });
  const c = t.establishedWith({ sackPermitted: true, window: 65535, mss: MSS }, 100);
  c.send(t.now, bytes(segments * MSS));
  expect(t.recvAll()).toHaveLength(segments);
  t.advance(100);
  // Segment k (from 0) is t.l(1 + k * MSS) .. t.l(1 + (k + 1) * MSS); returns the segment numbers sent in answer.
  const sack = (l: number, r: number, ack = 0): number[] => {
    t.advance(1);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + ack * MSS), window: 65535, sackBlocks: [t.l(1 + l * MSS), t.l(1 + r * MSS)] });
    return t.recvAll().map((s) => (s.seq - t.l(1)) / MSS);
  };
  return { t, c, sack };
}

describe('PRR (RFC 6937)', () => {
  it('below ssthresh, sends one segment per segment delivered instead of filling cwnd at once (slow start reduction bound)', () => {
    // Segments 0-3 lost, 4.. SACKed one by one: the third SACK starts recovery with pipe 3 < ssthresh 7.
    const prr = sackSetup({ prr: true, ssthreshFromCwnd: true }, 10);
    expect(prr.sack(4, 5)).toEqual([]);
    expect(prr.sack(4, 6)).toEqual([]);
    expect(prr.sack(4, 7)).toEqual([0]);
    expect(prr.c.info().cwnd).toBe(4 * MSS); // pipe 3 + sndcnt 1, as Linux reports snd_cwnd
    expect(prr.c.info().ssthresh).toBe(7 * MSS);
    expect(prr.sack(4, 8)).toEqual([1]);
    expect(prr.sack(4, 9)).toEqual([2]);
    expect(prr.sack(4, 10)).toEqual([3]);
    // RFC 6675 alone fills cwnd (ssthresh) at once: all four holes on the third SACK.
    const plain = sackSetup({ prr: false, ssthreshFromCwnd: true }, 10);
    plain.sack(4, 5);
    plain.sack(4, 6);
    expect(plain.sack(4, 7)).toEqual([0, 1, 2, 3]);
  });

  it('above ssthresh, sends ssthresh / RecoverFS of what is delivered, in whole segments', () => {
    // 20 out, segment 0 lost: ssthresh 14, pipe 16 after the third SACK. Each SACKed segment lets 14/20 of one go.
    const { t, c, sack } = sackSetup({ prr: true, ssthreshFromCwnd: true }, 20);
    c.send(t.now, bytes(20 * MSS));
    sack(1, 2);
    sack(1, 3);
    expect(sack(1, 4)).toEqual([0]); // the fast retransmit
    // prr_delivered 2, 3, 4, 5 segments (pipe stays above 14): CEIL(14 * d / 20) = 2, 3, 3, 4 sent in all, the
    // fast retransmit included, so 1, 1, 0, 1 more (Linux's packet counts).
    expect([5, 6, 7, 8].map((r) => sack(1, r).length)).toEqual([1, 1, 0, 1]);
  });

  it('a full ACK ends the reduction at ssthresh', () => {
    const { t, c, sack } = sackSetup({ prr: true, ssthreshFromCwnd: true }, 10);
    sack(1, 2);
    sack(1, 3);
    expect(sack(1, 4)).toEqual([0]);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 10 * MSS), window: 65535 });
    expect(c.info().inRecovery).toBe(false);
    expect(c.info().cwnd).toBe(7 * MSS);
  });
});

describe('ssthreshFromCwnd', () => {
  it('bases the loss response on cwnd (Linux), not on FlightSize (RFC 5681 eq. 4), which counts SACKed data', () => {
    const linux = sackSetup({ ssthreshFromCwnd: true }, 10);
    linux.sack(1, 2);
    linux.sack(1, 3);
    linux.sack(1, 4);
    expect(linux.c.info().ssthresh).toBe(7 * MSS); // 0.7 * 10
    const rfc = sackSetup({ ssthreshFromCwnd: false }, 10);
    rfc.sack(1, 2);
    rfc.sack(1, 3);
    rfc.sack(1, 4);
    // RFC 5681 2: FlightSize is what was sent and not cumulatively acknowledged, SACKed or not: 0.7 * 10 (it was
    // 0.7 * (10 - 3 SACKed) = 4.9 segments before, a cut that grew with every segment reordering let through).
    expect(rfc.c.info().ssthresh).toBe(7 * MSS);
    // Less outstanding than cwnd (the application wrote 6 segments into a 10-segment window): from FlightSize.
    const t = new Tester({ sack: true, initialWindowSegments: 10, sendBuffer: 256 * 1024, noDelay: true, ssthreshFromCwnd: false });
    const c = t.establishedWith({ sackPermitted: true, window: 65535, mss: MSS }, 100);
    c.send(t.now, bytes(6 * MSS));
    expect(t.recvAll()).toHaveLength(6);
    for (const r of [2, 3, 4]) {
      t.advance(1);
      t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 65535, sackBlocks: [t.l(1 + MSS), t.l(1 + r * MSS)] });
    }
    expect(c.info().inRecovery).toBe(true);
    expect(Math.round(c.info().ssthresh / 100)).toBe(42); // 0.7 * 6 segments
  });
});

describe('tail-loss probe and fast recovery (RFC 8985 7.2)', () => {
  it('a probe armed before recovery began does not fire in it', () => {
    const { t, c, sack } = sackSetup({ prr: true, ssthreshFromCwnd: true, rtoFormula: 'linux' }, 10);
    sack(1, 2);
    sack(1, 3);
    expect(sack(1, 4)).toEqual([0]);
    const probes = c.info().tlpProbes;
    t.advance(150); // past the PTO armed at the last send (2 SRTT + 2 ms), before the RTO
    expect(c.info().tlpProbes).toBe(probes);
  });
});

describe('abcLimit 0 without SACK (Linux Reno emulation, tcp_remove_reno_sacks)', () => {
  const cwndAfter = (abcLimit: number): number => {
    const t = new Tester({ initialWindowSegments: 10, sendBuffer: 64 * 1024, abcLimit });
    const c = t.establishedWith({ window: 65535, mss: MSS }, 100);
    c.send(t.now, bytes(15 * MSS));
    t.recvAll();
    t.advance(100);
    for (let i = 0; i < 2; i++) t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 65535 }); // two duplicate ACKs
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 3 * MSS), window: 65535 }); // fills the hole: 3 segments
    return c.info().cwnd;
  };

  it('counts only the segment the duplicate ACKs did not already report when the hole is filled', () => {
    expect(cwndAfter(0)).toBe(11 * MSS);
    expect(cwndAfter(2)).toBe(12 * MSS); // RFC 3465: min(3, L = 2) segments
  });
});

describe('PRR when the RACK reordering timer starts the recovery', () => {
  it('lets one retransmission go (one segment counted delivered, as Linux), not a burst up to ssthresh', () => {
    // 10 segments sent at 100 ms after a 100 ms handshake (min RTT 100, reo_wnd 25 ms); only the last SACKed at 201.
    const { t, c, sack } = sackSetup({ prr: true, ssthreshFromCwnd: true }, 10);
    expect(sack(9, 10)).toEqual([]);
    t.advance(24);
    expect(t.recvAll()).toHaveLength(0);
    t.advance(1); // 100 + RACK.rtt 101 + 25 ms: the timer marks segments 0-8 lost and starts the recovery, pipe 0
    expect(t.recvAll().map((s) => (s.seq - t.l(1)) / MSS)).toEqual([0]);
    expect(c.info()).toMatchObject({ inRecovery: true, cwnd: MSS });
    // Each ACK then paces the rest (RFC 6937): the one delivered segment earns one more.
    expect(sack(9, 10, 1)).toEqual([1, 2]);
  });
});
