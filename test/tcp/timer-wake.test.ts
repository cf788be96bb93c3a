/**
 * The layer's schedule hears of a connection's timer only when it moves earlier than the connection's entry
 * (TcpConnection.rearm, conn-timers.ts): a timer moved earlier must still fire on time, and one moved later must
 * not fire at the old time, but at its new one. Virtual clock, stepped by the layer's own pollAt (Tester.advance).
 */
import { describe, expect, it } from 'vitest';
import { ACK, bytes } from './harness.js';
import { Tester } from './fixtures.js';

/** Payload length and sequence number of what was sent since the last call. */
const sent = (t: Tester): [number, number][] => t.recvAll().map((s) => [s.payloadLen, s.seq]);

describe('timers moved earlier and later (the schedule is told only of earlier ones)', () => {
  it('a delayed ACK armed under a pending RTO leaves at its own time, and the RTO still fires at its own', () => {
    const t = new Tester({ noDelay: true, quickAcks: 0 });
    const c = t.established();
    const t0 = t.now;
    c.send(t.now, bytes(100)); // RTO at t0 + 1000 (minRto)
    expect(sent(t)).toHaveLength(1);
    t.advance(500);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 8192 }, bytes(10)); // data; ours not acknowledged
    t.advance(39.9);
    expect(sent(t)).toEqual([]);
    t.advance(0.2); // the delayed ACK, 40 ms after the data: earlier than the RTO's entry
    expect(sent(t)).toEqual([[0, t.l(101)]]);
    t.advance(t0 + 999.9 - t.now);
    expect(sent(t)).toEqual([]);
    t.advance(0.2); // the RTO
    expect(sent(t)).toEqual([[100, t.l(1)]]);
  });

  it('an RTO restarted later does not fire at its old time, but at its new one', () => {
    const t = new Tester({ noDelay: true });
    const c = t.established();
    const t0 = t.now;
    c.send(t.now, bytes(100));
    expect(sent(t)).toHaveLength(1);
    t.advance(900);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(101), window: 8192 }); // acknowledged: the RTO is off
    c.send(t.now, bytes(100)); // a new RTO at t0 + 900 + rto: later than the entry at t0 + 1000
    expect(sent(t)).toHaveLength(1);
    const due = t0 + 900 + c.info(t.now).rto;
    expect(due).toBeGreaterThan(t0 + 1000.1);
    t.advance(due - 0.1 - t.now);
    expect(sent(t)).toEqual([]);
    t.advance(0.2);
    expect(sent(t)).toEqual([[100, t.l(101)]]);
  });
});
