/**
 * Slow start counting delivered segments with SACK (abcLimit 0, as Linux's tcp_cong_control and tcp_may_raise_cwnd):
 * each ACK grows cwnd by what it delivered (newly acknowledged and not SACKed before, plus newly SACKed), and an ACK
 * that only SACKs grows it only once reordering above 3 segments was seen. On the virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { ACK, bytes } from './harness.js';
import { Tester } from './fixtures.js';

const MSS = 1000;

function tenOut() {
  const t = new Tester({ sack: true, abcLimit: 0, initialWindowSegments: 10, sendBuffer: 64 * 1024 });
  const c = t.establishedWith({ sackPermitted: true, window: 65535, mss: MSS }, 20);
  c.send(t.now, bytes(10 * MSS));
  expect(t.recvAll()).toHaveLength(10);
  t.advance(20);
  const ack = (n: number, sack?: [number, number]) =>
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + n * MSS), window: 65535, ...(sack ? { sackBlocks: [t.l(1 + sack[0] * MSS), t.l(1 + sack[1] * MSS)] } : {}) });
  return { t, c, ack };
}

describe('cwnd growth by delivered segments with SACK (abcLimit 0)', () => {
  it('a segment SACKed without reordering is not counted, then or when the cumulative ACK covers it', () => {
    const { c, ack } = tenOut();
    ack(0, [9, 10]); // the last segment first: reordering degree still 3
    expect(c.info().cwnd).toBe(10 * MSS);
    ack(10);
    expect(c.info().cwnd).toBe(19 * MSS); // 9 delivered by this ACK, not 10
  });

  it('once reordering above 3 segments is seen, an ACK that only SACKs grows cwnd by what it delivered', () => {
    const { c, ack } = tenOut();
    ack(0, [9, 10]);
    ack(0, [3, 4]); // far below the highest SACK: reordering (Linux's tcp_check_sack_reordering)
    expect(c.info().reordering).toBeGreaterThan(3);
    expect(c.info().cwnd).toBe(11 * MSS);
    ack(10);
    expect(c.info().cwnd).toBe(19 * MSS); // 8 more: the two SACKed segments are not counted twice
  });

  it('with abcLimit 2 (byway): a cumulative ACK grows cwnd by what it covers, SACKed data included, within L', () => {
    const t = new Tester({ sack: true, initialWindowSegments: 10, sendBuffer: 64 * 1024 });
    const c = t.establishedWith({ sackPermitted: true, window: 65535, mss: MSS }, 20);
    c.send(t.now, bytes(10 * MSS));
    t.recvAll();
    t.advance(20);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 65535, sackBlocks: [t.l(1 + 9 * MSS), t.l(1 + 10 * MSS)] });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 10 * MSS), window: 65535 });
    expect(c.info().cwnd).toBe(12 * MSS);
  });
});
