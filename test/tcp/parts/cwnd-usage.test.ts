/** CwndUsage: when an ACK may grow cwnd (RFC 7661's concern, Linux's tcp_is_cwnd_limited). */
import { describe, expect, it } from 'vitest';
import { CwndUsage } from '../../../protocols/tcp/cwnd-usage.js';

const MSS = 1000;

describe('CwndUsage', () => {
  it('slow start: grows while cwnd is below twice the flight at the window start (9 segments out: 10 -> 18)', () => {
    const u = new CwndUsage();
    u.onTransmit(0, 9 * MSS, 9 * MSS, false); // application-limited: 9 of 10 segments sent
    for (const cwnd of [10, 12, 14, 16]) expect(u.mayGrow(cwnd * MSS, Infinity, 0)).toBe(true);
    expect(u.mayGrow(18 * MSS, Infinity, 0)).toBe(false);
  });

  it('slow start: does not grow when the application sent at most half of cwnd (5 segments out, cwnd 10)', () => {
    const u = new CwndUsage();
    u.onTransmit(0, 5 * MSS, 5 * MSS, false);
    expect(u.mayGrow(10 * MSS, Infinity, 5 * MSS)).toBe(false);
  });

  it('keeps the window start figures until SND.UNA passes the window, then takes the next round', () => {
    const u = new CwndUsage();
    u.onTransmit(0, 9 * MSS, 9 * MSS, false);
    u.onTransmit(2 * MSS, 10 * MSS, 8 * MSS, false); // same window: kept at 9
    expect(u.mayGrow(17 * MSS, Infinity, 0)).toBe(true);
    u.onTransmit(9 * MSS, 11 * MSS, 2 * MSS, false); // next window: 2 out
    expect(u.mayGrow(17 * MSS, Infinity, 0)).toBe(false);
  });

  it('always grows while the sender is cwnd-limited; congestion avoidance otherwise needs half of cwnd in flight', () => {
    const u = new CwndUsage();
    u.onTransmit(0, 10 * MSS, 10 * MSS, true);
    expect(u.mayGrow(10 * MSS, 5 * MSS, 0)).toBe(true);
    const v = new CwndUsage();
    v.onTransmit(0, 3 * MSS, 3 * MSS, false);
    expect(v.mayGrow(10 * MSS, 5 * MSS, 4 * MSS)).toBe(false);
    expect(v.mayGrow(10 * MSS, 5 * MSS, 5 * MSS)).toBe(true);
  });

  it('a later round with more in flight raises the window figure while not cwnd-limited (Linux max_packets_out)', () => {
    // 18 segments out, then a write of 2 more within the same window: slow start may grow cwnd up to 40, not 36.
    const u = new CwndUsage();
    u.onTransmit(0, 18 * MSS, 18 * MSS, false);
    u.onTransmit(0, 20 * MSS, 20 * MSS, false);
    expect(u.mayGrow(38 * MSS, Infinity, 0)).toBe(true);
    expect(u.mayGrow(40 * MSS, Infinity, 0)).toBe(false);
  });

  it('every cwnd-limited round extends the window to SND.NXT (Linux tcp_cwnd_validate)', () => {
    const u = new CwndUsage();
    u.onTransmit(0, 10 * MSS, 10 * MSS, true);
    u.onTransmit(5 * MSS, 15 * MSS, 10 * MSS, true);
    u.onTransmit(10 * MSS, 16 * MSS, 6 * MSS, false); // SND.UNA at the first round's end: still the second's window
    expect(u.mayGrow(10 * MSS, 5 * MSS, 0)).toBe(true);
  });
});
