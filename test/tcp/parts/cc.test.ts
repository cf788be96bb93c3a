import { describe, expect, it } from 'vitest';
import {
  congestionControls, Cubic, cubic, CUBIC_ALPHA, INITIAL_SSTHRESH, newReno, type CongestionControl,
} from '../../../protocols/tcp/cc/index.js';
import { BywayError } from '../../../protocols/util/errors.js';

const MSS = 1000;

describe('NewReno (RFC 5681, RFC 3465)', () => {
  it('starts with IW = 10 SMSS (RFC 6928) and a huge ssthresh', () => {
    const cc = newReno({ mss: MSS, now: 0 });
    expect(cc.name).toBe('newreno');
    expect(cc.cwnd).toBe(10 * MSS);
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
    expect(newReno({ mss: MSS, now: 0, initialWindowSegments: 4 }).cwnd).toBe(4 * MSS);
  });

  it('slow start grows by min(acked, 2*SMSS) per ACK (RFC 3465 L = 2)', () => {
    const cc = newReno({ mss: MSS, now: 0 });
    cc.onAck(1, 500, 0, 10);
    expect(cc.cwnd).toBe(10_500);
    cc.onAck(2, 5 * MSS, 0, 10); // stretch ACK: capped at 2 SMSS
    expect(cc.cwnd).toBe(12_500);
    cc.onAck(3, 0, 0, 10);
    expect(cc.cwnd).toBe(12_500);
  });

  it('loss: ssthresh = max(FlightSize/2, 2*SMSS), cwnd = ssthresh; exit deflates to ssthresh', () => {
    const cc = newReno({ mss: MSS, now: 0 });
    cc.onEnterRecovery(5, 20 * MSS);
    expect(cc.ssthresh).toBe(10 * MSS);
    expect(cc.cwnd).toBe(10 * MSS);
    cc.onExitRecovery(6);
    expect(cc.cwnd).toBe(10 * MSS);
    const small = newReno({ mss: MSS, now: 0 });
    small.onEnterRecovery(5, 1500);
    expect(small.ssthresh).toBe(2 * MSS);
    const odd = newReno({ mss: MSS, now: 0 });
    odd.onEnterRecovery(5, 12_345);
    expect(odd.ssthresh).toBe(6172); // floor(12345 / 2)
  });

  it('congestion avoidance adds one SMSS per cwnd of acknowledged bytes', () => {
    const cc = newReno({ mss: MSS, now: 0 });
    cc.onEnterRecovery(0, 20 * MSS);
    cc.onExitRecovery(0); // cwnd = ssthresh = 10 SMSS: congestion avoidance
    for (let i = 0; i < 9; i++) cc.onAck(i, MSS, 9 * MSS, 50);
    expect(cc.cwnd).toBe(10 * MSS);
    cc.onAck(10, MSS, 9 * MSS, 50);
    expect(cc.cwnd).toBe(11 * MSS);
    // Byte counting carries the remainder: 11 SMSS + 500 bytes -> +1 SMSS with 500 carried.
    cc.onAck(11, 11 * MSS + 500, 0, 50);
    expect(cc.cwnd).toBe(12 * MSS);
    cc.onAck(12, 12 * MSS - 500, 0, 50);
    expect(cc.cwnd).toBe(13 * MSS);
  });

  it('RTO: cwnd = 1 SMSS (loss window), ssthresh from FlightSize, then slow start with L = 1 SMSS', () => {
    const cc = newReno({ mss: MSS, now: 0 });
    cc.onRto(100, 16 * MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(8 * MSS);
    cc.onAck(200, 3 * MSS, 0, 10);
    expect(cc.cwnd).toBe(2 * MSS); // RFC 3465 2.3: L = 1 SMSS after an RTO
    for (let i = 0; i < 6; i++) cc.onAck(300 + i, MSS, 0, 10);
    expect(cc.cwnd).toBe(8 * MSS); // reached ssthresh: congestion avoidance from here
    cc.onAck(400, 8 * MSS, 0, 10);
    expect(cc.cwnd).toBe(9 * MSS);
  });

  it('setMss keeps cwnd >= 1 SMSS and ssthresh >= 2 SMSS', () => {
    const cc = newReno({ mss: 500, now: 0 });
    cc.onRto(0, 0); // cwnd 500, ssthresh 1000
    cc.setMss(1400);
    expect(cc.cwnd).toBe(1400);
    expect(cc.ssthresh).toBe(2800);
    expect(() => cc.setMss(0)).toThrow(BywayError);
  });
});

/** Feed one window of 1-SMSS ACKs per RTT from `from` to `to` (ms), returning cwnd (segments) per round. */
function runRounds(cc: CongestionControl, from: number, to: number, rtt: number): Array<{ t: number; w: number }> {
  const out: Array<{ t: number; w: number }> = [];
  for (let now = from; now <= to; now += rtt) {
    const n = Math.floor(cc.cwnd / MSS);
    for (let i = 0; i < n; i++) cc.onAck(now, MSS, cc.cwnd, rtt);
    out.push({ t: now, w: cc.cwnd / MSS });
  }
  return out;
}

/** A CUBIC that has just finished recovery from a loss at W = 100 segments with 100 segments in flight. */
function afterLossAt100(): Cubic {
  const cc = new Cubic({ mss: MSS, now: 0, initialWindowSegments: 100 });
  cc.onEnterRecovery(0, 100 * MSS);
  cc.onExitRecovery(0);
  return cc;
}

describe('CUBIC (RFC 9438)', () => {
  it('loss: ssthresh = 0.7 * FlightSize, W_max = cwnd before the loss', () => {
    const cc = afterLossAt100();
    expect(cc.name).toBe('cubic');
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.cwnd).toBe(70 * MSS);
    expect(cc.wMax).toBe(100);
    const tiny = cubic({ mss: MSS, now: 0 });
    tiny.onEnterRecovery(0, 2 * MSS);
    expect(tiny.ssthresh).toBe(2 * MSS); // at least 2 SMSS
  });

  it('K = cbrt((W_max - cwnd_epoch) / C) and W_cubic(K) = W_max (eq. 1, 2)', () => {
    const cc = afterLossAt100();
    cc.onAck(1000, MSS, 70 * MSS, 100); // first CA ACK starts the epoch at t = 1000 ms
    expect(cc.epochStart).toBe(1000);
    expect(cc.k).toBeCloseTo(Math.cbrt(30 / 0.4), 12); // 4.2172 s
    expect(cc.k).toBeCloseTo(4.2172, 4);
    expect(cc.wCubic(cc.k)).toBeCloseTo(100, 12);
    expect(cc.wCubic(0)).toBeCloseTo(70, 12); // starts at cwnd_epoch
  });

  it('first CA ACK in the Reno-friendly region: cwnd = W_est = 70 + alpha/70 (eq. 4)', () => {
    const cc = afterLossAt100();
    cc.onAck(1000, MSS, 70 * MSS, 100);
    // W_cubic(0) = 70 < W_est, so cwnd = W_est; alpha_cubic = 3 * 0.3 / 1.7 = 0.5294117647
    expect(CUBIC_ALPHA).toBeCloseTo(0.5294117647, 9);
    expect(cc.renoEstimate).toBeCloseTo(70 + 0.5294117647 / 70, 9);
    expect(cc.cwnd).toBe(70_007); // floor(70.0075630 * 1000)
  });

  it('concave growth to W_max at t = K, plateau, then convex growth (W_max 1000, 100 ms RTT)', () => {
    const cc = new Cubic({ mss: MSS, now: 0, initialWindowSegments: 1000 });
    cc.onEnterRecovery(0, 1000 * MSS);
    cc.onExitRecovery(0);
    const rtt = 100;
    const K = Math.cbrt(300 / 0.4); // 9.0856 s
    const rounds = runRounds(cc, 1000, 1000 + 14_000, rtt);
    expect(cc.k).toBeCloseTo(K, 12);
    const at = (tSec: number): number => rounds.find((r) => r.t >= 1000 + tSec * 1000)!.w;
    // At t = K the window has reached W_max (the target is W_cubic(t + RTT); allow a segment either side).
    expect(at(K)).toBeGreaterThan(999);
    expect(at(K)).toBeLessThan(1001);
    for (let i = 1; i < rounds.length; i++) {
      expect(rounds[i]!.w).toBeGreaterThanOrEqual(rounds[i - 1]!.w); // never shrinks
      const t = (rounds[i]!.t - 1000) / 1000;
      // Cubic region here (W_est stays far below): between W_cubic(t) and W_cubic(t + RTT), give or take a segment.
      expect(rounds[i]!.w).toBeGreaterThan(cc.wCubic(t) - 2);
      expect(rounds[i]!.w).toBeLessThanOrEqual(cc.wCubic(t + rtt / 1000) + 1);
    }
    expect(cc.renoEstimate).toBeLessThan(cc.cwnd / MSS - 100);
    // Concave: growth per second falls as t approaches K; convex: it rises after K.
    const g = (a: number, b: number): number => at(b) - at(a);
    expect(g(1, 2)).toBeGreaterThan(g(3, 4));
    expect(g(3, 4)).toBeGreaterThan(g(6, 7));
    expect(g(6, 7)).toBeGreaterThan(g(8.5, 9.5));
    expect(g(10, 11)).toBeGreaterThan(g(9, 10));
    expect(g(12, 13)).toBeGreaterThan(g(10, 11));
    // At t = K + 4 s eq. 1 gives 0.4 * 64 + 1000 = 1025.6 segments.
    expect(at(K + 4)).toBeGreaterThan(1025.6 - 2);
    expect(at(K + 4)).toBeLessThan(0.4 * 4.1 ** 3 + 1000 + 1);
  });

  it('Reno-friendly region at a small RTT: cwnd follows W_est, alpha = 1 once W_est >= cwnd_prev', () => {
    const cc = afterLossAt100();
    const rounds = runRounds(cc, 1000, 1000 + 400, 1); // 1 ms RTT: 401 rounds in 0.4 s
    const last = rounds[rounds.length - 1]!;
    // The cubic curve has barely moved (W_cubic(0.4) ~ 70 + 0.4*(K^3 - (K-0.4)^3) ~ 78) ...
    expect(cc.wCubic(0.4)).toBeLessThan(80);
    // ... while W_est grew about alpha per RTT up to 100 (cwnd_prev) and 1 per RTT after: cwnd = W_est.
    expect(cc.cwnd / MSS).toBeCloseTo(cc.renoEstimate, 2);
    // Rounds to reach 100 at ~alpha per round: (100 - 70) / 0.529 ~ 57; then ~1 per round for the rest (~344).
    expect(last.w).toBeGreaterThan(100 + 300);
    expect(last.w).toBeLessThan(100 + 360);
    const r = (i: number): number => rounds[i]!.w;
    expect(r(11) - r(1)).toBeCloseTo(10 * CUBIC_ALPHA, 1); // before reaching cwnd_prev
    expect(r(300) - r(290)).toBeCloseTo(10, 0); // after: 1 segment per RTT
  });

  it('fast convergence: a loss below W_max sets W_max = cwnd * (1 + beta) / 2 (4.7)', () => {
    const cc = afterLossAt100(); // cwnd 70, W_max 100
    cc.onEnterRecovery(2000, 70 * MSS);
    expect(cc.wMax).toBeCloseTo(59.5, 12);
    expect(cc.ssthresh).toBe(49 * MSS);
    const slow = afterLossAt100();
    slow.fastConvergence = false;
    slow.onEnterRecovery(2000, 70 * MSS);
    expect(slow.wMax).toBe(70);
  });

  it('growth after loss with fast convergence: K from the new W_max', () => {
    const cc = afterLossAt100();
    cc.onEnterRecovery(2000, 70 * MSS); // W_max 59.5, cwnd 49
    cc.onExitRecovery(2100);
    cc.onAck(3000, MSS, 0, 100);
    expect(cc.k).toBeCloseTo(Math.cbrt((59.5 - 49) / 0.4), 12);
    expect(cc.epochStart).toBe(3000);
  });

  it('RTO: cwnd = 1 SMSS, ssthresh = 0.7 * FlightSize; next CA stage has K = 0, W_max = cwnd_epoch (4.8)', () => {
    const cc = afterLossAt100();
    cc.onRto(5000, 40 * MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(28 * MSS);
    cc.onAck(5100, 5 * MSS, 0, 100);
    expect(cc.cwnd).toBe(2 * MSS); // slow start, L = 1 SMSS after RTO
    let now = 5200;
    while (cc.cwnd < cc.ssthresh) cc.onAck((now += 10), MSS, 0, 100);
    expect(cc.cwnd).toBe(28 * MSS);
    cc.onAck((now += 10), MSS, 0, 100);
    expect(cc.k).toBe(0);
    expect(cc.wMax).toBe(28);
    expect(cc.epochStart).toBe(now);
  });

  it('slow start before any loss uses byte counting with L = 2, then a convex CA from K = 0', () => {
    const cc = cubic({ mss: MSS, now: 0 }) as Cubic;
    cc.onAck(10, 5 * MSS, 0, 50);
    expect(cc.cwnd).toBe(12 * MSS);
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
  });

  it('is deterministic in now: the same calls give the same windows', () => {
    const run = (): number[] => {
      const cc = afterLossAt100();
      return runRounds(cc, 1000, 4000, 50).map((r) => r.w);
    };
    expect(run()).toEqual(run());
  });

  it('setMss keeps the window in segments', () => {
    const cc = cubic({ mss: 1000, now: 0 });
    cc.setMss(500);
    expect(cc.cwnd).toBe(10 * 500);
  });

  it('the registry names both algorithms', () => {
    expect(congestionControls['cubic']!({ mss: MSS, now: 0 }).name).toBe('cubic');
    expect(congestionControls['newreno']!({ mss: MSS, now: 0 }).name).toBe('newreno');
  });
});

describe('abcLimit (RFC 3465 L; Linux counts every segment an ACK covers)', () => {
  it.each([
    ['CUBIC', cubic],
    ['NewReno', newReno],
  ])('%s: one ACK of 10 segments grows cwnd by 2 by default, by 10 with abcLimit 0, by 3 with abcLimit 3', (_name, make) => {
    const grow = (abcLimit: number | undefined): number => {
      const cc = make({ mss: 1000, now: 0, initialWindowSegments: 10, abcLimit });
      cc.onAck(100, 10_000, 0, 100);
      return cc.cwnd;
    };
    expect(grow(undefined)).toBe(12_000);
    expect(grow(0)).toBe(20_000);
    expect(grow(3)).toBe(13_000);
  });
});
