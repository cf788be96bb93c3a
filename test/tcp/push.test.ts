/**
 * Where PSH goes (push.ts): the end of the application's data, the last segment of each packet Linux would send as
 * one GSO packet (pushBursts), and a retransmission of a segment that ended the data. On the virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { ACK, FIN, PSH, bytes } from './harness.js';
import { Tester } from './fixtures.js';
import { burstSegments as burstUs, wholeUs } from '../../protocols/tcp/push.js';
import { Scoreboard } from '../../protocols/tcp/scoreboard.js';
import { NEVER } from '../../protocols/tcp/conn-common.js';

const HUGE = 0x7fffffff;

/** burstSegments from the connection's figures as Sender.output passes them (times in ms, 0: no RTT sample yet). */
const burstSegments = (mss: number, cwnd: number, ssthresh: number, srttMs: number, minRttMs: number, minSegs: number): number =>
  burstUs(mss, cwnd, cwnd < ssthresh / 2, wholeUs(srttMs), wholeUs(minRttMs), minSegs);

describe('burstSegments (Linux tcp_tso_autosize and tcp_cwnd_test)', () => {
  it('sizes a packet to about a millisecond at the pacing rate, at least minSegs, at most half of cwnd', () => {
    // 10 x 1000 bytes per 100 ms at 200 % is 200 kB/s: 195 bytes per 1.024 ms, so the floor of 2 segments.
    expect(burstSegments(1000, 10_000, HUGE, 100, 100, 2)).toBe(2);
    // The floor can be raised (tcp_min_tso_segs), but half of cwnd still bounds it (two packets in flight).
    expect(burstSegments(1000, 10_000, HUGE, 100, 100, 10)).toBe(5);
    expect(burstSegments(1000, 20_000, HUGE, 100, 100, 10)).toBe(10);
    // Above half of ssthresh the pacing ratio is 120 %, not 200 %: 100 segments per 10 ms -> 11.7 or 19.5 per ms.
    expect(burstSegments(1000, 100_000, 1_000_000, 10, 10, 2)).toBe(19);
    expect(burstSegments(1000, 100_000, 150_000, 10, 10, 2)).toBe(11);
    // A short minimum RTT adds 64 KiB >> (min RTT in us / 512): 1 ms adds 32 KiB (1953 + 32768 bytes).
    expect(burstSegments(1000, 100_000, HUGE, 100, 1, 2)).toBe(34);
    expect(burstSegments(1000, 100_000, HUGE, 100, 20, 2)).toBe(2);
    // Before any RTT sample the rate is unlimited: 64 KiB, bounded by half of cwnd.
    expect(burstSegments(1000, 10_000, HUGE, 0, NEVER, 2)).toBe(5);
    expect(burstSegments(1000, 200_000, HUGE, 0, NEVER, 2)).toBe(65);
  });
});

describe('PSH on the wire', () => {
  const flagsOf = (t: Tester): string => t.recvAll().map((s) => (s.flags & PSH ? 'P' : '.')).join('');

  it('ends every packet of two or more segments Linux would send, and the end of the data', () => {
    const t = new Tester({ initialWindowSegments: 10, sendBuffer: 64 * 1024 });
    const c = t.establishedWith({ window: 65535, mss: 1000 }, 100);
    expect(c.send(t.now, bytes(15_000))).toBe(15_000);
    // SRTT 100 ms, cwnd 10: two-segment packets.
    expect(flagsOf(t)).toBe('.P.P.P.P.P');
    // One segment ACKed in slow start: cwnd 11, two more go out as one packet.
    t.advance(100);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1001), window: 65535 });
    expect(flagsOf(t)).toBe('.P');
  });

  it('sends a write of at most one MSS as one segment with PSH, and one cut by the window without', () => {
    // The request/response case, which skips the burst sizing (Sender.output): what goes out is unchanged.
    const sent = (t: Tester): string[] => t.recvAll().map((s) => `${s.flags & PSH ? 'P' : '.'}${s.payloadLen}`);
    for (const size of [1, 64, 999, 1000]) {
      const t = new Tester({ initialWindowSegments: 10, sendBuffer: 64 * 1024, noDelay: true });
      const c = t.establishedWith({ window: 65535, mss: 1000 }, 100);
      c.send(t.now, bytes(size));
      expect(sent(t)).toEqual([`P${size}`]);
      t.advance(10);
      t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + size), window: 65535 });
      c.send(t.now, bytes(size));
      expect(sent(t)).toEqual([`P${size}`]);
    }
    // A 900-byte write into a 600-byte window: 600 without PSH (sender SWS lets it go: half the largest window),
    // the rest with PSH once the window opens.
    const t = new Tester({ initialWindowSegments: 10, sendBuffer: 64 * 1024, noDelay: true });
    const c = t.establishedWith({ window: 600, mss: 1000 }, 100);
    c.send(t.now, bytes(900));
    expect(sent(t)).toEqual(['.600']);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(601), window: 600 });
    expect(sent(t)).toEqual(['P300']);
  });

  it('with pushBursts off, marks only the end of the data (Linux 3.x)', () => {
    const t = new Tester({ initialWindowSegments: 10, sendBuffer: 64 * 1024, pushBursts: false });
    const c = t.establishedWith({ window: 65535, mss: 1000 }, 100);
    c.send(t.now, bytes(10_000));
    expect(flagsOf(t)).toBe('.........P');
  });

  it('keeps a short tail that Nagle holds out of the packet, so the segment before it ends the packet', () => {
    const t = new Tester({ initialWindowSegments: 10, sendBuffer: 64 * 1024, minTsoSegs: 4 });
    const c = t.establishedWith({ window: 65535, mss: 1000 }, 100);
    c.send(t.now, bytes(2_500));
    expect(flagsOf(t)).toBe('.P');
    c.setNoDelay(true, t.now);
    expect(flagsOf(t)).toBe('P');
  });

  it('retransmits a segment that ended the data with PSH, and one that did not without', () => {
    const t = new Tester({ initialWindowSegments: 10, pushBursts: false, noDelay: true });
    const c = t.established();
    c.send(t.now, bytes(1500));
    expect(flagsOf(t)).toBe('.P');
    t.advance(1000); // RTO: the first segment again
    expect(flagsOf(t)).toBe('.');
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1461), window: 8192 });
    t.advance(2000);
    expect(t.recvAll().map((s) => [s.seq, s.flags & PSH])).toEqual([[t.l(1461), PSH]]);
  });

  it('a record split for a smaller MSS leaves PSH on its tail (Linux tcp_fragment)', () => {
    const sb = new Scoreboard();
    sb.record(0, 1, 1460, false, 1460);
    sb.segs[0]!.psh = true;
    sb.split(0, 1160);
    expect(sb.segs.map((s) => [s.seq, s.len, s.psh])).toEqual([[1, 1160, false], [1161, 300, true]]);
    // A pooled record reused by record() starts without PSH.
    sb.trimAcked(0, 1461, { rackUpdate: () => undefined });
    sb.record(0, 1461, 100, false, 1460);
    expect(sb.segs[sb.segHead]!.psh).toBe(false);
  });
});

describe('minshallNagle (Linux tcp_nagle_check)', () => {
  const tail = (minshallNagle: boolean): number[] => {
    const t = new Tester({ minshallNagle, initialWindowSegments: 10 });
    const c = t.established();
    c.send(t.now, bytes(1500)); // one full segment and a 40-byte tail
    const first = t.recvAll().map((s) => s.payloadLen);
    c.send(t.now, bytes(40)); // another short one while the tail is unacknowledged
    return [...first, ...t.recvAll().map((s) => s.payloadLen)];
  };

  it('sends the short tail of a write with its full segment, and holds a short segment while another is unacknowledged', () => {
    expect(tail(true)).toEqual([1460, 40]);
    // RFC 896 as written: the tail waits for the full segment's ACK (and both short writes go together then).
    expect(tail(false)).toEqual([1460]);
  });
});

describe('setCork (TCP_CORK) and send(..., more) (MSG_MORE)', () => {
  const sent = (t: Tester): string[] => t.recvAll().map((s) => `${s.flags & PSH ? 'P' : '.'}${s.payloadLen}`);

  it('holds short segments while corked, sends full ones, and pushes the rest (with PSH) when uncorked', () => {
    const t = new Tester({ noDelay: true });
    const c = t.established();
    c.setCork(true, t.now);
    c.send(t.now, bytes(40));
    c.send(t.now, bytes(40));
    t.advance(100);
    expect(sent(t)).toEqual([]);
    c.send(t.now, bytes(1460)); // a full segment's worth is there: it leaves, the 80-byte tail waits
    expect(sent(t)).toEqual(['.1460']);
    c.setCork(false, t.now);
    expect(sent(t)).toEqual(['P80']);
  });

  it('setNoDelay(true) pushes what a cork holds, but later short writes wait again while corked', () => {
    const t = new Tester();
    const c = t.established();
    c.setCork(true, t.now);
    c.send(t.now, bytes(40));
    c.setNoDelay(true, t.now);
    expect(sent(t)).toEqual(['P40']);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(41), window: 8192 });
    c.send(t.now, bytes(40));
    expect(sent(t)).toEqual([]);
  });

  it('MSG_MORE holds a short segment without marking the end of the data; a push sends it without PSH', () => {
    const t = new Tester({ noDelay: true });
    const c = t.established();
    c.send(t.now, bytes(40), true);
    c.send(t.now, bytes(40), true);
    expect(sent(t)).toEqual([]);
    c.setNoDelay(true, t.now);
    expect(sent(t)).toEqual(['.80']);
    c.send(t.now, bytes(10)); // a write without MSG_MORE goes at once (no delay) with PSH
    expect(sent(t)).toEqual(['P10']);
  });

  it('a FIN is not held by the cork', () => {
    const t = new Tester({ noDelay: true });
    const c = t.established();
    c.setCork(true, t.now);
    c.send(t.now, bytes(40));
    c.close(t.now);
    expect(t.recvAll().map((s) => [s.payloadLen, (s.flags & FIN) !== 0])).toEqual([[40, true]]);
  });
});
