/**
 * Linux 3.x's loss detection as an option (lossDetection): RFC 5827 early retransmit, immediate and delayed
 * (appendix A.3), and RFC 6675's duplicate ACK (one that SACKs something new), on the virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { ACK, bytes } from './harness.js';
import { Tester } from './fixtures.js';
import type { LossDetection } from '../../protocols/tcp/options.js';

const MSS = 1000;

/** Three segments out after a 40 ms handshake; SACKs of the 2nd, then of the 2nd and 3rd (ACK stays at 1). */
function threeOut(lossDetection: LossDetection, sack = true) {
  const t = new Tester({ sack, timestamps: false, lossDetection });
  const c = t.establishedWith(sack ? { sackPermitted: true } : {}, 40);
  c.send(t.now, bytes(3 * MSS));
  expect(t.recvAll()).toHaveLength(3);
  t.advance(40);
  const sackUpTo = (n: number) => t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 65535, ...(sack ? { sackBlocks: [t.l(1 + MSS), t.l(1 + n * MSS)] } : {}) });
  return { t, c, sackUpTo };
}

describe('RFC 5827 early retransmit (lossDetection)', () => {
  it("'early-retransmit': all but the first of three segments SACKed retransmits the first at once", () => {
    const { t, c, sackUpTo } = threeOut('early-retransmit');
    sackUpTo(2);
    t.recvNothing(); // one of three reported: not yet (ER_thresh = 2)
    sackUpTo(3);
    t.recv({ seq: t.l(1), payloadLen: MSS });
    expect(c.info().inRecovery).toBe(true);
    expect(t.layer.stats.earlyRetransmits).toBe(1);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 3 * MSS), window: 65535 });
    expect(c.info().inRecovery).toBe(false);
  });

  it("'rack-tlp' (the default) waits for RACK's reordering window instead", () => {
    const { t, c, sackUpTo } = threeOut('rack-tlp');
    sackUpTo(2);
    sackUpTo(3);
    t.recvNothing();
    expect(c.info().inRecovery).toBe(false);
    expect(t.layer.stats.earlyRetransmits).toBe(0);
  });

  it('without SACK, ER_thresh duplicate ACKs (outstanding - 1) retransmit', () => {
    const { t, c, sackUpTo } = threeOut('early-retransmit', false);
    sackUpTo(0);
    t.recvNothing();
    sackUpTo(0);
    t.recv({ seq: t.l(1), payloadLen: MSS });
    expect(c.info().fastRecoveries).toBe(1);
  });

  it('not with four segments out, nor while new data waits that the window allows (limited transmit, RFC 3042)', () => {
    const a = threeOut('early-retransmit');
    a.c.send(a.t.now, bytes(MSS)); // cwnd lets it go: now four out
    expect(a.t.recvAll()).toHaveLength(1);
    a.sackUpTo(2);
    a.sackUpTo(3); // two of four reported: the first is not lost (a third would be RFC 6675's IsLost)
    a.t.recvNothing();
    expect(a.t.layer.stats.earlyRetransmits).toBe(0);

    const t = new Tester({ sack: true, timestamps: false, lossDetection: 'early-retransmit', initialWindowSegments: 3 });
    const c = t.establishedWith({ sackPermitted: true }, 40);
    c.send(t.now, bytes(4 * MSS)); // cwnd holds the fourth back; the peer's window would take it
    expect(t.recvAll()).toHaveLength(3);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 65535, sackBlocks: [t.l(1 + MSS), t.l(1 + 3 * MSS)] });
    expect(t.recvAll().filter((s) => s.seq === t.l(1))).toHaveLength(0);
    expect(t.layer.stats.earlyRetransmits).toBe(0);
  });

  it("'early-retransmit-delayed' waits SRTT / 4, and an ACK before then restarts the wait", () => {
    const { t, c, sackUpTo } = threeOut('early-retransmit-delayed');
    sackUpTo(2);
    sackUpTo(3);
    t.advance(5);
    t.recvNothing();
    sackUpTo(3); // repeats the SACK: the wait starts again (10 ms from now)
    t.advance(9);
    t.recvNothing();
    t.advance(1);
    t.recv({ seq: t.l(1), payloadLen: MSS });
    expect(c.info().inRecovery).toBe(true);
    expect(c.info().rtoCount).toBe(0);
  });

  it("'dupthresh' needs three segments SACKed above the hole (RFC 6675 IsLost), sends no probe, and times out", () => {
    const { t, c, sackUpTo } = threeOut('dupthresh');
    sackUpTo(2);
    sackUpTo(3);
    t.advance(150);
    t.recvNothing(); // no RACK, no tail-loss probe
    expect(c.info().tlpProbes).toBe(0);
    t.advance(1000);
    expect(t.recvAll().filter((s) => s.seq === t.l(1))).toHaveLength(1);
    expect(c.info().rtoCount).toBe(1);
  });
});

describe("RFC 6675's duplicate ACK", () => {
  it('with SACK, ACKs that repeat the same SACK blocks are not duplicate ACKs: three do not start recovery', () => {
    const t = new Tester({ sack: true, timestamps: false, lossDetection: 'dupthresh' });
    const c = t.establishedWith({ sackPermitted: true }, 40);
    c.send(t.now, bytes(10 * MSS));
    expect(t.recvAll()).toHaveLength(10);
    for (let i = 0; i < 4; i++) t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 65535, sackBlocks: [t.l(1 + MSS), t.l(1 + 2 * MSS)] });
    t.recvNothing();
    expect(c.info().inRecovery).toBe(false);
  });
});
