import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Scoreboard, type DeliveryObserver, type SentSeg } from '../../../protocols/tcp/scoreboard.js';

const MSS = 1000;

/** Records which segments RACK was told were delivered, as [seq, len, now]. */
function observer(): DeliveryObserver & { seen: [number, number, number][] } {
  const seen: [number, number, number][] = [];
  return { seen, rackUpdate: (now: number, s: SentSeg) => void seen.push([s.seq, s.len, now]) };
}

function outstanding(sb: Scoreboard): [number, number][] {
  return sb.segs.slice(sb.segHead).map((s) => [s.seq, s.len]);
}

describe('Scoreboard', () => {
  it('records one segment per MSS of a TSO burst, the FIN on the last, in transmission order', () => {
    const sb = new Scoreboard();
    expect(sb.record(5, 100, 2500, true, MSS)).toBe(100 + 2501);
    expect(outstanding(sb)).toEqual([
      [100, 1000],
      [1100, 1000],
      [2100, 501],
    ]);
    expect(sb.segs.map((s) => s.fin)).toEqual([false, false, true]);
    expect(sb.segs.map((s) => s.xmitOrder)).toEqual([1, 2, 3]);
    expect(sb.segs.every((s) => s.xmitTime === 5 && s.xmits === 1)).toBe(true);
  });

  it('a bare FIN takes one sequence number', () => {
    const sb = new Scoreboard();
    expect(sb.record(0, 0xffffffff, 0, true, MSS)).toBe(0);
    expect(outstanding(sb)).toEqual([[0xffffffff, 1]]);
  });

  it('a cumulative ACK drops covered records, trims a partly covered one, and samples RTT only from one-shot records', () => {
    const sb = new Scoreboard();
    sb.record(10, 0, 3000, false, MSS);
    const rack = observer();
    sb.trimAcked(50, 1500, rack);
    expect(sb.rttCandidate).toBe(40); // the first record was sent once at 10
    expect(outstanding(sb)).toEqual([
      [1500, 500],
      [2000, 1000],
    ]);
    expect(rack.seen).toEqual([[0, 1000, 50]]);
    // A retransmitted record gives no sample (Karn).
    sb.retransmitted(60, sb.headSeg()!);
    expect(sb.retransOut).toBe(1);
    sb.trimAcked(80, 2000, rack);
    expect(sb.rttCandidate).toBe(-1);
    expect(sb.retransOut).toBe(0);
    expect(sb.finDelivered).toBe(false);
  });

  it('keeps the SACKed and lost byte totals across SACK, loss marking, partial ACKs and retransmission', () => {
    const sb = new Scoreboard();
    sb.record(0, 0, 5000, false, MSS);
    const rack = observer();
    sb.markSacked(20, 2000, 4000, rack); // records 2 and 3
    expect(sb.sackedBytes).toBe(2000);
    expect(rack.seen.map((x) => x[0])).toEqual([2000, 3000]);
    sb.markSacked(21, 2500, 4000, rack); // nothing new: already SACKed or not wholly inside
    expect(sb.sackedBytes).toBe(2000);
    sb.markLost(sb.segs[0]!);
    sb.markLost(sb.segs[0]!); // twice counts once
    sb.markLost(sb.segs[2]!); // a SACKed record is never lost
    expect(sb.lostBytes).toBe(1000);
    sb.trimAcked(30, 400, rack); // partial ACK of the lost record
    expect(sb.lostBytes).toBe(600);
    sb.retransmitted(31, sb.headSeg()!);
    expect(sb.lostBytes).toBe(0);
    expect(sb.headSeg()!.xmitOrder).toBe(6); // five originals, then this
    sb.trimAcked(40, 5000, rack);
    expect([sb.sackedBytes, sb.lostBytes, sb.retransOut, sb.empty]).toEqual([0, 0, 0, true]);
  });

  it('RFC 6675 IsLost: an original with more than 2 * SMSS SACKed above it is lost, a retransmission is not', () => {
    const sb = new Scoreboard();
    sb.record(0, 0, 6000, false, MSS);
    const rack = observer();
    sb.markSacked(1, 3000, 5000, rack);
    expect(sb.markLostByDupThresh(MSS)).toBe(false); // 2000 bytes above: not more than 2 * SMSS
    sb.markSacked(1, 5000, 6000, rack);
    sb.retransmitted(2, sb.segs[1]!);
    expect(sb.markLostByDupThresh(MSS)).toBe(true);
    expect(sb.segs.map((s) => s.lost)).toEqual([true, false, true, false, false, false]);
    expect(sb.lostBytes).toBe(2000);
  });

  it('splits a record for a smaller MSS keeping its history, and marks oversize records lost', () => {
    const sb = new Scoreboard();
    sb.record(0, 0, 1400, true, 1400);
    sb.retransmitted(3, sb.segs[0]!);
    sb.markOversizeLost(1000);
    expect(sb.lostBytes).toBe(1401);
    sb.split(0, 1000);
    expect(outstanding(sb)).toEqual([
      [0, 1000],
      [1000, 401],
    ]);
    expect(sb.segs.map((s) => [s.fin, s.lost, s.xmits, s.xmitTime])).toEqual([
      [false, true, 2, 3],
      [true, true, 2, 3],
    ]);
    expect(sb.retransOut).toBe(2);
    expect(sb.lostBytes).toBe(1401);
    sb.trimAcked(9, 1401, observer());
    expect(sb.finDelivered).toBe(true);
    expect([sb.lostBytes, sb.retransOut]).toEqual([0, 0]);
  });

  it('reuses records from its pool once emptied (no allocation per segment in steady traffic)', () => {
    const sb = new Scoreboard();
    sb.record(0, 0, 2000, false, MSS);
    const originals = [...sb.segs];
    sb.trimAcked(1, 2000, observer());
    expect(sb.segs.length).toBe(0);
    sb.record(2, 2000, 1000, false, MSS);
    expect(originals).toContain(sb.segs[0]); // a pooled record, not a new one
  });

  it('reuses every record an ACK of a large window frees while data is still outstanding, and keeps a small pool once idle', () => {
    const sb = new Scoreboard();
    const mss = 1448;
    // A bulk sender: a window of 1,000 segments out, one ACK for 600 of them, 600 more sent behind the rest.
    const isn = 0xffff0000; // across 2^32 while it runs
    let seq = sb.record(0, isn, 1000 * mss, false, mss);
    const freed = new Set(sb.segs.slice(0, 600));
    sb.trimAcked(1, (isn + 600 * mss) >>> 0, observer());
    seq = sb.record(2, seq, 600 * mss, false, mss);
    const fresh = sb.segs.slice(sb.segHead + 400);
    expect(fresh.length).toBe(600);
    expect(fresh.every((s) => freed.has(s))).toBe(true); // all 600 from the pool, none new
    expect(outstanding(sb)[400]).toEqual([(isn + 1000 * mss) >>> 0, mss]);
    // All acknowledged: the queue empties and the pool shrinks to what an idle connection keeps.
    sb.trimAcked(3, seq, observer());
    expect(sb.empty).toBe(true);
    expect(sb.segPool!.length).toBeLessThanOrEqual(64);
    expect(sb.segPool!.length).toBeGreaterThan(0);
  });

  it('totals always equal the sum over outstanding records (property)', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('send' as const), len: fc.integer({ min: 0, max: 4000 }), fin: fc.boolean() }),
      fc.record({ k: fc.constant('ack' as const), off: fc.integer({ min: 0, max: 8000 }) }),
      fc.record({ k: fc.constant('sack' as const), l: fc.integer({ min: 0, max: 8000 }), w: fc.integer({ min: 1, max: 4000 }) }),
      fc.record({ k: fc.constant('lose' as const), i: fc.nat() }),
      fc.record({ k: fc.constant('rexmit' as const), i: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(op, { maxLength: 40 }), (isn, ops) => {
        const sb = new Scoreboard();
        const rack = observer();
        let una = isn;
        let nxt = isn;
        let finSent = false;
        let now = 0;
        for (const o of ops) {
          now++;
          const n = sb.segs.length - sb.segHead;
          if (o.k === 'send' && !finSent && (o.len > 0 || o.fin)) {
            nxt = sb.record(now, nxt, o.len, o.fin, MSS);
            finSent = o.fin;
          } else if (o.k === 'ack') {
            const ack = (una + Math.min(o.off, (nxt - una) >>> 0)) >>> 0;
            sb.trimAcked(now, ack, rack);
            una = ack;
          } else if (o.k === 'sack') sb.markSacked(now, (una + o.l) >>> 0, (una + o.l + o.w) >>> 0, rack);
          else if (o.k === 'lose' && n > 0) sb.markLost(sb.segs[sb.segHead + (o.i % n)]!);
          else if (o.k === 'rexmit' && n > 0) sb.retransmitted(now, sb.segs[sb.segHead + (o.i % n)]!);
        }
        const live = sb.segs.slice(sb.segHead);
        expect(sb.sackedBytes).toBe(live.filter((s) => s.sacked).reduce((a, s) => a + s.len, 0));
        expect(sb.lostBytes).toBe(live.filter((s) => s.lost).reduce((a, s) => a + s.len, 0));
        expect(sb.retransOut).toBe(live.filter((s) => s.xmits > 1).length);
        expect(live.reduce((a, s) => a + s.len, 0)).toBe((nxt - una) >>> 0);
        for (const s of live) expect(s.sacked && s.lost).toBe(false);
      }),
    );
  });
});

describe('Scoreboard.recut (the path MTU fell: Linux tcp_simple_retransmit re-segments from SND.UNA)', () => {
  it('cuts a run of lost originals into new-MSS records from its first byte, keeping the byte totals and the tail PSH', () => {
    const sb = new Scoreboard();
    sb.record(0, 1, 3 * 1460, false, 1460);
    sb.record(0, 1 + 3 * 1460, 1460, false, 1460);
    sb.segs[2]!.psh = true;
    sb.markSacked(0, 1 + 3 * 1460, 1 + 4 * 1460, { rackUpdate: () => undefined }); // the last one is SACKed
    sb.markAllLost();
    expect(sb.lostBytes).toBe(3 * 1460);
    expect(sb.recut(0, 1160)).toBe(true);
    // 4380 bytes -> 1160, 1160, 1160, 900; the SACKed record after the run is untouched.
    expect(sb.segs.map((s) => [s.seq, s.len, s.lost, s.sacked])).toEqual([
      [1, 1160, true, false],
      [1161, 1160, true, false],
      [2321, 1160, true, false],
      [3481, 900, true, false],
      [4381, 1460, false, true],
    ]);
    expect(sb.lostBytes).toBe(3 * 1460);
    expect(sb.segs.map((s) => s.psh)).toEqual([false, false, false, true, false]);
    // A record already retransmitted is not re-cut (the caller splits it instead).
    sb.retransmitted(0, sb.segs[0]!);
    sb.markLost(sb.segs[0]!);
    expect(sb.recut(0, 1000)).toBe(false);
  });
});
