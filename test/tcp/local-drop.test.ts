/**
 * A transmission the driver drops (FrameDriver.txCommit returns false: a queue at its limit, like a Linux qdisc):
 * the data stays unsent, and the persist timer retries it on Linux's resource-probe interval (500 ms, no backoff),
 * counting probes; the user timeout (RFC 5482) ends it. On the virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { ACK, bytes } from './harness.js';
import { Tester } from './fixtures.js';

/** An established connection (RTO 1 s) whose first 10 bytes were sent and acknowledged at t = 0. */
function idle() {
  const t = new Tester();
  const c = t.established();
  c.send(t.now, bytes(10));
  t.recv({ payloadLen: 10 });
  t.send({ flags: ACK, seq: t.r(1), ack: t.l(11), window: 8192 });
  return { t, c };
}

describe('data the driver drops (a local transmit failure)', () => {
  it('stays unsent; retried after the RTO, then every 500 ms without backoff, counting probes, until the driver takes it', () => {
    const { t, c } = idle();
    t.host.dropping = true;
    c.send(t.now, bytes(20));
    expect(t.host.dropped).toBe(1);
    expect(t.layer.stats.txDropped).toBe(1);
    expect(c.info()).toMatchObject({ bytesInFlight: 0, probes: 0 });
    t.advance(999);
    expect(t.host.dropped).toBe(1); // not retried at every poll
    t.advance(1); // max(RTO, minRto) = 1 s
    expect(t.host.dropped).toBe(2);
    expect(c.info().probes).toBe(1);
    t.advance(500);
    t.advance(500);
    expect(t.host.dropped).toBe(4);
    expect(c.info()).toMatchObject({ probes: 3, backoff: 0 });
    t.host.dropping = false;
    t.advance(500);
    t.recv({ seq: t.l(11), payloadLen: 20 });
    expect(c.info()).toMatchObject({ probes: 0, bytesInFlight: 20 });
    expect(c.state).toBe('ESTABLISHED');
  });

  it('the user timeout ends it with ETIMEDOUT at the first probe past it', () => {
    const { t, c } = idle();
    c.setUserTimeout(3000);
    t.host.dropping = true;
    c.send(t.now, bytes(20));
    t.advance(2999); // probes at 1.0, 1.5, 2.0, 2.5 s
    expect(c.state).toBe('ESTABLISHED');
    t.advance(1); // 3.0 s: the data waited 3 s since the last progress
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ETIMEDOUT']);
    expect(c.info().probes).toBe(4);
  });

  it('a pure ACK the driver drops counts as sent and lost (no retry loop)', () => {
    const { t, c } = idle();
    t.host.dropping = true;
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(11), window: 8192 }, bytes(5));
    expect(t.host.dropped).toBeGreaterThanOrEqual(1);
    const dropped = t.host.dropped;
    t.advance(10_000);
    expect(t.host.dropped).toBe(dropped);
    expect(c.info().probes).toBe(0);
  });
});

describe('a retransmission the driver drops', () => {
  it('is tried again after 500 ms without backing off the RTO, then goes out when the driver takes it', () => {
    const t = new Tester();
    const c = t.established();
    c.send(t.now, bytes(10));
    t.recv({ payloadLen: 10 });
    t.host.dropping = true;
    t.advance(1000); // RTO 1 s: the retransmission is dropped
    expect(t.host.dropped).toBe(1);
    expect(c.info()).toMatchObject({ rtoCount: 1, backoff: 0 });
    t.advance(499);
    expect(t.host.dropped).toBe(1);
    t.advance(1);
    expect(t.host.dropped).toBe(2);
    t.host.dropping = false;
    t.advance(500);
    t.recv({ seq: t.l(1), payloadLen: 10 });
    expect(c.info()).toMatchObject({ backoff: 1, rtoCount: 3 }); // this timeout's retransmission left: backed off
  });
});
