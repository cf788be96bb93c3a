/** Smaller rules: Karn's algorithm, the out-of-order cap, sender SWS, pluggable congestion control, simultaneous open. */
import { describe, expect, it } from 'vitest';
import { ACK, IP_A, IP_B, Net, bytes, transfer } from './harness.js';
import { Tester } from './fixtures.js';
import { newReno, type CongestionControlFactory } from '../../protocols/tcp/parts.js';
import { bytesEqual } from '../../protocols/util/bytes.js';
import { SEGMENT_OVERHEAD } from '../../protocols/tcp/ooo-queue.js';

describe("RTT measurement (RFC 6298, Karn's algorithm)", () => {
  it('takes no sample from a retransmitted segment without timestamps', () => {
    const t = new Tester();
    const c = t.establishedWith({}, 100);
    expect(c.info().srtt).toBe(100);
    c.send(t.now, bytes(10));
    t.recvAll();
    t.advance(1000); // RTO: retransmitted
    t.recvAll();
    t.advance(5);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(11) });
    expect(c.info().srtt).toBe(100);
    // Karn: the backed-off RTO is kept until a valid sample arrives (from a segment sent once).
    expect(c.info().backoff).toBe(1);
    c.send(t.now, bytes(10));
    t.recvAll();
    t.advance(100);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(21) });
    expect(c.info().backoff).toBe(0);
    expect(c.info().srtt).toBe(100);
  });
  it('samples a first transmission', () => {
    const t = new Tester();
    const c = t.establishedWith({}, 100);
    c.send(t.now, bytes(10));
    t.recvAll();
    t.advance(20);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(11) });
    expect(c.info().srtt).toBeCloseTo(100 * 0.875 + 20 * 0.125);
  });
});

describe('out-of-order queue cap', () => {
  it('drops out-of-order data beyond oooLimit and counts it', () => {
    // The queue charges SEGMENT_OVERHEAD per kept segment on top of its bytes: room for one 800-byte segment.
    const t = new Tester({ oooLimit: 800 + SEGMENT_OVERHEAD + 100, receiveBuffer: 8192, maxReceiveBuffer: 8192 });
    const c = t.establishedWith({});
    t.send({ flags: ACK, seq: t.r(1001), ack: t.l(1) }, bytes(800));
    t.send({ flags: ACK, seq: t.r(2001), ack: t.l(1) }, bytes(800));
    expect(t.layer.stats.oooDrops).toBe(1);
    expect(c.info().oooBytes).toBe(800);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(1000));
    expect(c.readableLength).toBe(1800);
  });
});

describe('sender SWS avoidance (RFC 9293 3.8.6.2.1)', () => {
  it('does not send a small segment into a small window, until the override timeout', () => {
    const t = new Tester();
    const c = t.establishedWith({ window: 65535 });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 100 });
    c.send(t.now, bytes(5000));
    t.recvNothing();
    t.advance(1000);
    t.recv({ seq: t.l(1), payloadLen: 100 });
  });
  it('sends at once when the window is at least half the largest window seen', () => {
    const t = new Tester();
    const c = t.establishedWith({ window: 800 });
    c.send(t.now, bytes(5000));
    t.recv({ seq: t.l(1), payloadLen: 800 });
  });
});

describe('pluggable congestion control', () => {
  it('the factory is called per connection and sees recovery and RTO events', () => {
    const events: string[] = [];
    const spy: CongestionControlFactory = (o) => {
      const inner = newReno(o);
      return {
        name: 'spy',
        get cwnd() {
          return inner.cwnd;
        },
        get ssthresh() {
          return inner.ssthresh;
        },
        onAck: (n, a, f, r) => inner.onAck(n, a, f, r),
        onEnterRecovery: (n, f) => (events.push('recovery'), inner.onEnterRecovery(n, f)),
        onExitRecovery: (n) => (events.push('exit'), inner.onExitRecovery(n)),
        onRto: (n, f) => (events.push('rto'), inner.onRto(n, f)),
        setMss: (m) => inner.setMss(m),
      };
    };
    const net = new Net(31, { congestionControl: spy });
    net.loss = 0.05;
    const l = net.b.listen(0, 80, 4);
    let srv: import('../../protocols/tcp/connection.js').TcpConnection | undefined;
    l.onConnection = (c) => (srv = c);
    const c = net.a.connect(0, IP_B, 80);
    net.run(() => srv !== undefined && c.state === 'ESTABLISHED');
    expect(c.info().congestionControl).toBe('spy');
    const d = bytes(300_000, 3);
    expect(bytesEqual(transfer(net, c, srv!, d), d)).toBe(true);
    expect(events).toContain('recovery');
  });
});

describe('simultaneous open between two layers (RFC 9293 3.5)', () => {
  it('both ends connect to each other and reach ESTABLISHED', () => {
    const net = new Net(32);
    net.latency = 10;
    const a = net.a.connect(0, IP_B, 6000, { localPort: 5000 });
    const b = net.b.connect(0, IP_A, 5000, { localPort: 6000 });
    expect(net.run(() => a.state === 'ESTABLISHED' && b.state === 'ESTABLISHED')).toBe(true);
    const d = bytes(20_000, 4);
    expect(bytesEqual(transfer(net, a, b, d), d)).toBe(true);
    expect(bytesEqual(transfer(net, b, a, d), d)).toBe(true);
  });
});

describe('send window edge (RFC 9293 3.8.6)', () => {
  it('takes the window from an ACK that advances SND.UNA even with an older SEG.SEQ, and never sends past SND.WL2 + SND.WND', () => {
    const t = new Tester();
    const c = t.established(); // peer offers 8192
    c.setNoDelay(true);
    expect(c.send(t.now, bytes(2920))).toBe(2920);
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(101), ack: t.l(1461), window: 4000 }); // edge l(5461)
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(2921), window: 2540 }, bytes(100, 9)); // same edge, older SEG.SEQ
    t.recvAll();
    c.send(t.now, bytes(6000, 2));
    const highest = (): number => Math.max(...sent.map((s) => (s.seq + s.payloadLen - t.l(0)) >>> 0));
    const sent = t.recvAll().filter((s) => s.payloadLen > 0);
    expect(highest()).toBe(4381); // one full segment; the 1080 left would be a small segment (sender SWS)
    t.send({ flags: ACK, seq: t.r(101), ack: t.l(4381), window: 1080 }); // same edge again
    t.recvNothing(); // 1080 < half the largest window: held back
    t.advance(1000); // the SWS override timeout fills the window exactly
    sent.push(...t.recvAll().filter((s) => s.payloadLen > 0));
    expect(highest()).toBe(5461);
  });
  it('a window that shrinks to zero below data in flight is probed by retransmissions without timing out', () => {
    const t = new Tester({ maxRetransmits: 3 });
    const c = t.established();
    c.send(t.now, bytes(2920));
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1461), window: 0 });
    for (let i = 0; i < 300; i++) {
      t.advance(1000);
      for (const s of t.recvAll()) if (!(s.flags & 4)) t.send({ flags: ACK, seq: t.r(1), ack: t.l(1461), window: 0 });
    }
    expect(c.state).toBe('ESTABLISHED');
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1461), window: 8192 });
    t.advance(200_000);
    const data = t.recvAll().filter((s) => s.payloadLen > 0);
    expect(data.some((s) => s.seq === t.l(1461))).toBe(true);
    // Silence from the peer is still a timeout.
    t.advance(10_000_000);
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ETIMEDOUT']);
  });
});

describe('receive-buffer auto-tuning on a pure receiver', () => {
  for (const timestamps of [true, false]) {
    it(`measures the RTT on the receive side (${timestamps ? 'timestamps' : 'per window'}) and grows the buffer`, () => {
      const net = new Net(61, { timestamps, receiveBuffer: 16 * 1024, maxReceiveBuffer: 1 << 20, sendBuffer: 1 << 20 });
      net.latency = 25;
      const l = net.b.listen(0, 80, 4);
      let srv: import('../../protocols/tcp/connection.js').TcpConnection | undefined;
      l.onConnection = (c) => (srv = c);
      const c = net.a.connect(0, IP_B, 80);
      net.run(() => srv !== undefined && c.state === 'ESTABLISHED');
      const d = bytes(3_000_000, 5);
      expect(bytesEqual(transfer(net, c, srv!, d), d)).toBe(true);
      const i = srv!.info();
      // A pure receiver's only sender-side sample is its handshake's (SYN-ACK to ACK: two 25 ms hops).
      expect(i.srtt).toBe(50);
      // With timestamps the estimate is the RTT; per window it is the time one window takes to arrive (Linux's
      // rough estimate, which a pipelined sender makes shorter than the RTT).
      if (timestamps) expect(i.rcvRtt).toBeGreaterThanOrEqual(50);
      else expect(i.rcvRtt).toBeGreaterThan(0);
      expect(i.receiveBuffer).toBeGreaterThan(64 * 1024);
    });
  }
});
