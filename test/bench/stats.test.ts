/**
 * The A/B summary of paired samples (bench/lib/stats.ts pairedRatios, used by bench/ab-inprocess.ts): the ratio is
 * taken pair by pair, so a drift that moves both sides of every pair alike leaves it unchanged.
 */
import { describe, expect, it } from 'vitest';
import { pairedRatios } from '../../bench/lib/stats.js';

describe('pairedRatios', () => {
  it('takes the ratio pair by pair: a machine drifting 3x across the bursts leaves a steady 1.1x', () => {
    const base = [100, 200, 300, 150, 250];
    const other = base.map((x) => x * 1.1);
    const r = pairedRatios(base, other);
    expect(r.median).toBeCloseTo(1.1, 12);
    expect(r.p25).toBeCloseTo(1.1, 12);
    expect(r.p75).toBeCloseTo(1.1, 12);
  });

  it('median and nearest-rank quartiles of the ratios; pairs past the shorter list ignored', () => {
    expect(pairedRatios([1, 1, 1, 1], [0.9, 1.2, 1.0, 1.1, 5])).toEqual({ median: 1.05, p25: 0.9, p75: 1.1 });
    const none = pairedRatios([], [1]);
    expect(none.median).toBeNaN();
    expect(none.p25).toBeNaN();
  });
});
