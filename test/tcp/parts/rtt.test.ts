import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RttEstimator } from '../../../protocols/tcp/rtt.js';
import { BywayError } from '../../../protocols/util/errors.js';

describe('RttEstimator (RFC 6298)', () => {
  it('uses the initial RTO before any sample (2.1), with defaults 1000/200/120000', () => {
    const r = new RttEstimator();
    expect(r.srtt).toBeUndefined();
    expect(r.hasSample).toBe(false);
    expect(r.srttMs).toBe(0); // the plain-number view of SRTT for the per-segment paths
    expect(r.rttvar).toBeUndefined();
    expect(r.rto).toBe(1000);
    expect(r.options).toEqual({ initialRto: 1000, minRto: 200, maxRto: 120000, granularity: 1 });
  });

  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4*RTTVAR) (2.2)', () => {
    const r = new RttEstimator({ minRto: 0 });
    r.sample(100);
    expect(r.srtt).toBe(100);
    expect(r.hasSample).toBe(true);
    expect(r.srttMs).toBe(100);
    expect(r.rttvar).toBe(50);
    expect(r.rto).toBe(300); // 100 + 4*50
  });

  it('later samples: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R| with the old SRTT, then SRTT = 7/8 SRTT + 1/8 R (2.3)', () => {
    const r = new RttEstimator({ minRto: 0 });
    r.sample(100); // srtt 100, rttvar 50
    r.sample(200);
    // rttvar = 0.75*50 + 0.25*|100-200| = 37.5 + 25 = 62.5; srtt = 87.5 + 25 = 112.5; rto = 112.5 + 250 = 362.5
    expect(r.rttvar).toBe(62.5);
    expect(r.srtt).toBe(112.5);
    expect(r.rto).toBe(362.5);
    r.sample(40);
    // rttvar = 0.75*62.5 + 0.25*|112.5-40| = 46.875 + 18.125 = 65; srtt = 0.875*112.5 + 5 = 103.4375
    expect(r.rttvar).toBe(65);
    expect(r.srtt).toBe(103.4375);
    expect(r.rto).toBe(103.4375 + 260);
  });

  it('the clock granularity G applies when 4*RTTVAR is smaller', () => {
    const r = new RttEstimator({ minRto: 0, granularity: 10 });
    r.sample(8); // rttvar 4 -> 4*4 = 16 > 10
    expect(r.rto).toBe(24);
    for (let i = 0; i < 40; i++) r.sample(8); // rttvar decays towards 0: 4 * (3/4)^40 ~ 4e-5
    expect(r.srtt).toBe(8);
    expect(r.rttvar!).toBeLessThan(0.01);
    expect(r.rto).toBe(18); // 8 + max(10, ~0)
    const g1 = new RttEstimator({ minRto: 0 });
    for (let i = 0; i < 41; i++) g1.sample(8);
    expect(g1.rto).toBe(9); // default G = 1 ms
  });

  it('clamps to minRto and maxRto (2.4, 2.5)', () => {
    const r = new RttEstimator(); // minRto 200
    r.sample(10);
    expect(r.rto).toBe(200);
    const m = new RttEstimator({ maxRto: 5000 });
    m.sample(3000); // 3000 + 6000
    expect(m.rto).toBe(5000);
    const i = new RttEstimator({ initialRto: 50, minRto: 100 });
    expect(i.rto).toBe(100);
  });

  it('backoff doubles the RTO, capped at maxRto, and resetBackoff restores it (5.5, 5.7)', () => {
    const r = new RttEstimator({ maxRto: 60000 });
    r.sample(100); // rto 300
    r.backoff();
    expect(r.rto).toBe(600);
    r.backoff();
    expect(r.rto).toBe(1200);
    expect(r.backoffCount).toBe(2);
    for (let i = 0; i < 10; i++) r.backoff();
    expect(r.rto).toBe(60000);
    expect(r.backoffCount).toBe(12);
    for (let i = 0; i < 2000; i++) r.backoff(); // no overflow to NaN/Infinity
    expect(r.rto).toBe(60000);
    r.resetBackoff();
    expect(r.backoffCount).toBe(0);
    expect(r.rto).toBe(300);
  });

  it('backoff applies to the initial RTO and a sample during backoff does not reset it by itself', () => {
    const r = new RttEstimator();
    r.backoff();
    expect(r.rto).toBe(2000);
    r.sample(100);
    expect(r.rto).toBe(600); // base 300, still backed off once
    expect(r.baseRto).toBe(300);
  });

  it('ignores invalid samples', () => {
    const r = new RttEstimator({ minRto: 0 });
    r.sample(NaN);
    r.sample(-1);
    r.sample(Infinity);
    expect(r.srtt).toBeUndefined();
    expect(r.ignoredSamples).toBe(3);
    r.sample(0); // a 0 ms RTT is valid (same host)
    expect(r.srtt).toBe(0);
    expect(r.rto).toBe(1); // 0 + max(G=1, 0)
  });

  it('rejects bad options with BywayError', () => {
    for (const o of [{ minRto: -1 }, { maxRto: NaN }, { minRto: 500, maxRto: 100 }, { granularity: Infinity }]) {
      expect(() => new RttEstimator(o)).toThrow(BywayError);
    }
  });

  it('matches a direct transcription of the RFC for random sample sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 5000, noNaN: true }), { minLength: 1, maxLength: 50 }), (samples) => {
        const r = new RttEstimator();
        let srtt = NaN;
        let rttvar = NaN;
        samples.forEach((R, i) => {
          r.sample(R);
          if (i === 0) {
            srtt = R;
            rttvar = R / 2;
          } else {
            rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - R);
            srtt = 0.875 * srtt + 0.125 * R;
          }
          expect(r.srtt).toBeCloseTo(srtt, 9);
          expect(r.rttvar).toBeCloseTo(rttvar, 9);
          expect(r.rto).toBeCloseTo(Math.min(120000, Math.max(200, srtt + Math.max(1, 4 * rttvar))), 9);
        });
      }),
      { numRuns: 100 },
    );
  });

  it('rto is the base RTO doubled per backoff and capped, after any mix of samples, backoffs, cancels and resets', () => {
    const op = fc.oneof(
      fc.double({ min: 0, max: 5000, noNaN: true }).map((R) => ({ R })),
      fc.constantFrom('backoff' as const, 'cancel' as const, 'reset' as const),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.integer({ min: 200, max: 200_000 }), (ops, maxRto) => {
        const r = new RttEstimator({ maxRto });
        let k = 0;
        for (const o of ops) {
          if (o === 'backoff') {
            r.backoff();
            k++;
          } else if (o === 'cancel') {
            r.cancelBackoff();
            k = Math.max(0, k - 1);
          } else if (o === 'reset') {
            r.resetBackoff();
            k = 0;
          } else r.sample(o.R);
          expect(r.backoffCount).toBe(k);
          expect(r.rto).toBe(k === 0 ? r.baseRto : Math.min(maxRto, r.baseRto * 2 ** Math.min(k, 64)));
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("RttEstimator, formula 'linux' (Linux's tcp_set_rto: the variance term never falls below minRto)", () => {
  it('a steady 100 ms path gets SRTT + minRto = 300 ms, where RFC 6298 gives the 200 ms floor', () => {
    const linux = new RttEstimator({ formula: 'linux' });
    const rfc = new RttEstimator();
    for (let i = 0; i < 200; i++) {
      linux.sample(100);
      rfc.sample(100);
    }
    expect(linux.rto).toBeCloseTo(300, 6);
    expect(rfc.rto).toBe(200);
  });

  it('the first sample R gives R + max(minRto, 2R) (RTTVAR = R/2, K = 4)', () => {
    const a = new RttEstimator({ formula: 'linux' });
    a.sample(50);
    expect(a.rto).toBe(50 + 200);
    const b = new RttEstimator({ formula: 'linux' });
    b.sample(300);
    expect(b.rto).toBe(300 + 600);
  });
});
