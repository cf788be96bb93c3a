/**
 * The layer's schedule hears of a connection's timer only when it moves earlier than the connection's entry
 * (TcpConnection.rearm, conn-timers.ts): a timer moved earlier must still fire on time, one moved later must not
 * fire at the old time. Virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { ACK, bytes } from './harness.js';
import { Tester } from './fixtures.js';

/** [time, payload length, seq] of every segment sent until `t.now + ms`, stepping the layer's own pollAt. */
function sentDuring(t: Tester, ms: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  const end = t.now + ms;
  for (;;) {
    const at = t.layer.pollAt(t.now);
    if (at === undefined || at > end) break;
    t.now = Math.max(t.now, at);
    t.layer.poll(t.now);
    for (const s of t.recvAll()) out.push([t.now, s.payloadLen, s.seq]);
  }
  t.now = end;
  return out;
}

describe('timers moved earlier and later (the schedule is told only of earlier ones)', () => {
  it('a delayed ACK armed under a pending RTO leaves at its own time, and the RTO still fires at its own', () => {
    const t = new Tester({ noDelay: true, quickAcks: 0 });
    const c = t.established();
    c.send(t.now, bytes(100)); // RTO at now + 1000 (minRto)
    const sentAt = t.now;
    expect(t.recvAll()).toHaveLength(1);
    t.now += 500;
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 8192 }, bytes(10)); // data, ours not acknowledged
    const seen = sentDuring(t, 1000);
    // The ACK for the 10 bytes 40 ms later (earlier than the RTO's entry), then the RTO's retransmission.
    expect(seen[0]).toEqual([sentAt + 540, 0, t.l(101)]);
    expect(seen[1]).toEqual([sentAt + 1000, 100, t.l(1)]);
  });

  it('an RTO restarted later does not fire at its old time, but at its new one', () => {
    const t = new Tester({ noDelay: true });
    const c = t.established();
    c.send(t.now, bytes(100));
    expect(t.recvAll()).toHaveLength(1);
    const first = t.now;
    t.now += 900;
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(101), window: 8192 }); // acknowledged: the RTO is off
    c.send(t.now, bytes(100)); // a new RTO at first + 900 + rto: later than the entry at first + 1000
    expect(t.recvAll()).toHaveLength(1);
    const rto = c.info(t.now).rto;
    expect(first + 900 + rto).toBeGreaterThan(first + 1000);
    const seen = sentDuring(t, 2000);
    expect(seen[0]).toEqual([first + 900 + rto, 100, t.l(101)]);
  });
});
