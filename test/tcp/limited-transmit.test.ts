/** Limited transmit (RFC 3042): new data on the first two duplicate ACKs, cwnd unchanged. */
import { describe, expect, it } from 'vitest';
import { ACK, bytes } from './harness.js';
import { Tester } from './fixtures.js';

const MSS = 1000;

/**
 * A SACK connection whose flight is exactly cwnd (10 000 bytes) with a 500-byte segment second: segments of 1000,
 * 500, 8 x 1000 and 500 bytes (noDelay, one write each), then 20 MSS more queued behind cwnd.
 */
function fullFlightWithShortSegment(limitedTransmit: boolean) {
  const t = new Tester({ sack: true, timestamps: false, noDelay: true, limitedTransmit });
  const c = t.establishedWith({ sackPermitted: true }, 40);
  c.send(t.now, bytes(MSS));
  c.send(t.now, bytes(500));
  c.send(t.now, bytes(8 * MSS));
  c.send(t.now, bytes(500));
  const first = t.recvAll();
  expect(first.map((s) => s.payloadLen)).toEqual([1000, 500, ...Array(8).fill(1000), 500]);
  c.send(t.now, bytes(20 * MSS));
  t.recvNothing(); // cwnd (10 segments' bytes) is full
  return { t, c };
}

describe('limited transmit (RFC 3042)', () => {
  it('the first and second duplicate ACK each send one new full segment past cwnd, cwnd unchanged', () => {
    const { t, c } = fullFlightWithShortSegment(true);
    const cwnd = c.info().cwnd;
    // Duplicate ACK 1 SACKs only the 500-byte segment: pipe leaves 500 bytes of cwnd, which SWS avoidance would
    // not fill; RFC 3042 sends one full segment (FlightSize 11 000 <= cwnd + 2*SMSS).
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 65535, sackBlocks: [t.l(1 + MSS), t.l(1 + 1500)] });
    t.recv({ seq: t.l(1 + 10 * MSS), payloadLen: MSS });
    expect(c.info().cwnd).toBe(cwnd);
    // Duplicate ACK 2 SACKs the next segment: one more.
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 65535, sackBlocks: [t.l(1 + MSS), t.l(1 + 2500)] });
    t.recv({ seq: t.l(1 + 11 * MSS), payloadLen: MSS });
    expect(c.info().cwnd).toBe(cwnd);
    expect(c.info().inRecovery).toBe(false);
  });

  it('without it (limitedTransmit: false) the first duplicate ACK sends nothing', () => {
    const { t } = fullFlightWithShortSegment(false);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 65535, sackBlocks: [t.l(1 + MSS), t.l(1 + 1500)] });
    t.recvNothing();
  });
});
