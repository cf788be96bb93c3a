/** HyStart (cc/hystart.ts): RFC 9406 HyStart++ and Linux's CUBIC HyStart, driven by RTT samples on a virtual clock. */
import { describe, expect, it } from 'vitest';
import { HyStart, resolveHystart, type HystartOptions } from '../../../protocols/tcp/cc/hystart.js';
import { Cubic } from '../../../protocols/tcp/cc/cubic.js';
import { INITIAL_SSTHRESH } from '../../../protocols/tcp/cc/types.js';

const MSS = 1000;

/**
 * Feeds rounds of RTT samples: round r has `rtts[r]` (one sample per ACK, `gapMs` apart, each ACK covering one more
 * segment, and the round's SND.NXT `perRound` segments past its start). Returns [round, sample] of the first true.
 */
function feed(h: HyStart, rtts: number[][], opts: { cwnd?: number; gapMs?: number; perRound?: number } = {}): [number, number] | undefined {
  const { cwnd = 20, gapMs = 5, perRound = 100 } = opts;
  let now = 0;
  let una = 0;
  for (let r = 0; r < rtts.length; r++) {
    const nxt = una + perRound * MSS;
    for (let i = 0; i < rtts[r]!.length; i++) {
      una += MSS;
      now += gapMs;
      if (h.sample(now, rtts[r]![i]!, una, nxt, cwnd, true, true)) return [r, i];
    }
    una = nxt; // the round's last ACK covers the rest
    now += 100;
  }
  return undefined;
}

const make = (o: HystartOptions) => new HyStart(resolveHystart(o));
const flat = (n: number, rtt: number) => Array.from({ length: n }, () => rtt);

describe("Linux's CUBIC HyStart (variant 'linux')", () => {
  it('delay: the 9th sample of a round whose minimum RTT is above the minimum by clamp(min / 8, 4, 16) ms ends slow start', () => {
    // min 100 ms: threshold 12.5 ms. A round at 112 ms never triggers; one at 113 ms does, on its 9th sample.
    expect(feed(make({ variant: 'linux', detect: 'delay' }), [flat(10, 100), flat(10, 112)])).toBeUndefined();
    expect(feed(make({ variant: 'linux', detect: 'delay' }), [flat(10, 100), flat(10, 113)])).toEqual([1, 8]);
  });

  it('delay: an RTT that falls below the minimum in the round is taken into the round minimum: no exit (the 2020 fix)', () => {
    const rising = [200, 201, 202, 203, 204, 205, 206, 207, 208, 29];
    expect(feed(make({ variant: 'linux', detect: 'delay' }), [flat(10, 200), rising])).toBeUndefined();
  });

  it('acts only from lowWindow segments of cwnd', () => {
    const h = make({ variant: 'linux', detect: 'delay' });
    expect(feed(h, [flat(10, 100), flat(10, 150)], { cwnd: 15 })).toBeUndefined();
    expect(feed(make({ variant: 'linux', detect: 'delay', lowWindow: 8 }), [flat(10, 100), flat(10, 150)], { cwnd: 15 })).toEqual([1, 8]);
  });

  it('ACK train: ACKs less than ackDeltaMs apart spanning more than (min RTT + 1 ms) / 2 end slow start', () => {
    // min RTT 10 ms: the train must span more than 5.5 ms; ACKs 1 ms apart: on the 7th ACK (6 ms after the first).
    expect(feed(make({ variant: 'linux', detect: 'ack-train' }), [flat(20, 10)], { gapMs: 1 })).toEqual([0, 6]);
    // ACKs 3 ms apart are no train.
    expect(feed(make({ variant: 'linux', detect: 'ack-train' }), [flat(20, 10)], { gapMs: 3 })).toBeUndefined();
  });
});

describe('RFC 9406 HyStart++', () => {
  it('a round minimum RTT above the last round by RttThresh enters CSS: growth divided by 4, at most L per ACK', () => {
    const h = make({ variant: 'rfc9406' });
    expect(h.growth(10)).toBe(8); // L = 8 segments
    feed(h, [flat(10, 100), flat(8, 113)]);
    expect(h.conservative).toBe(true);
    expect(h.growth(2)).toBe(0.5);
  });

  it('a CSS round whose minimum falls below the baseline resumes slow start; CSS_ROUNDS rounds of CSS end it', () => {
    const back = make({ variant: 'rfc9406' });
    feed(back, [flat(10, 100), flat(10, 113), flat(10, 105)]);
    expect(back.conservative).toBe(false);
    const h = make({ variant: 'rfc9406' });
    // Entered in round 1; rounds 1-5 are CSS; the start of round 6 ends slow start.
    expect(feed(h, [flat(10, 100), ...Array.from({ length: 6 }, () => flat(10, 113))])).toEqual([6, 0]);
  });

  it('only in the initial slow start', () => {
    const h = make({ variant: 'rfc9406' });
    let una = 0;
    let exited = false;
    for (let i = 0; i < 100; i++) exited ||= h.sample(i, i < 50 ? 100 : 200, (una += MSS), una + 100 * MSS, 20, true, false);
    expect(exited).toBe(false);
    expect(h.conservative).toBe(false);
  });
});

describe('CUBIC with HyStart', () => {
  it("sets ssthresh = cwnd when Linux's delay detection fires, then grows in congestion avoidance", () => {
    const cc = new Cubic({ mss: MSS, now: 0, abcLimit: 0, initialWindowSegments: 20, hystart: { variant: 'linux' } });
    let una = 0;
    let now = 0;
    let nxt = 1_000_000;
    const ack = (rtt: number) => {
      una += MSS;
      now += 5;
      cc.onRttSample(now, rtt, una, nxt);
      cc.onAck(now, MSS, 20 * MSS, rtt);
    };
    for (let i = 0; i < 9; i++) ack(100);
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
    // A new round (SND.UNA past the SND.NXT the first round ended at) with the RTT 30 ms higher.
    una = 1_000_000;
    nxt = 2_000_000;
    for (let i = 0; i < 9; i++) ack(130);
    expect(cc.ssthresh).toBe(37 * MSS);
    const before = cc.cwnd;
    ack(130);
    expect(cc.cwnd - before).toBeLessThan(MSS); // congestion avoidance: less than a segment per ACK
  });

  it("variant 'off' keeps plain slow start", () => {
    const cc = new Cubic({ mss: MSS, now: 0, abcLimit: 0, initialWindowSegments: 20 });
    for (let i = 0; i < 30; i++) {
      cc.onRttSample(i, i < 10 ? 100 : 200, (i + 1) * MSS, 10 * MSS);
      cc.onAck(i, MSS, 20 * MSS, 100);
    }
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
    expect(cc.cwnd).toBe(50 * MSS);
  });
});
