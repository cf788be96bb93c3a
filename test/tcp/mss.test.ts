/**
 * The MSS a connection advertises and uses: from the link MTU, not the path MTU (RFC 1191 3.1), and capped by a
 * listener's maxSeg (Linux's TCP_MAXSEG on a listening socket). On the virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { ACK, SYN, bytes } from './harness.js';
import { Tester } from './fixtures.js';

describe('advertised MSS and the path MTU (RFC 1191 3.1)', () => {
  it('advertises the MSS of the link MTU although a smaller path MTU is known, and sends segments for the path MTU', () => {
    const t = new Tester({ noDelay: true });
    t.host.mtu = 1200; // the path MTU (learned from ICMP)
    (t.host as unknown as { linkMtuFor: () => number }).linkMtuFor = () => 1500;
    const c = t.synSent();
    expect(t.syn!.mss).toBe(1460);
    t.send({ flags: SYN | ACK, seq: t.r(0), ack: t.l(1), window: 65535, mss: 1460 });
    t.recv({ flags: ACK });
    c.send(t.now, bytes(1460));
    expect(t.recvAll().map((s) => s.payloadLen)).toEqual([1160, 300]);
  });
});


describe('TcpListener.maxSeg (TCP_MAXSEG on a listening socket)', () => {
  it('caps the MSS its connections advertise and send with, and a cookie SYN-ACK advertises it too', () => {
    const t = new Tester({ noDelay: true });
    const l = t.layer.listen(0, 8080, 8);
    l.maxSeg = 1100;
    t.send({ flags: SYN, seq: 5000, dstPort: 8080, window: 65535, mss: 1300 });
    expect(t.recv({ flags: SYN | ACK }).mss).toBe(1100);
    t.send({ flags: ACK, seq: 5001, ack: t.l(1), dstPort: 8080, window: 65535 });
    const c = l.accept()!;
    expect(c.info()).toMatchObject({ advMss: 1100, sndMss: 1100 });
    c.send(t.now, bytes(2500));
    expect(t.recvAll().map((s) => s.payloadLen)).toEqual([1100, 1100, 300]);

    const u = new Tester({ synQueueLimit: 1, synCookies: true });
    const m = u.layer.listen(0, 8080, 8);
    m.maxSeg = 1300; // a cookie encodes one of a few MSS values (536, 1300, 1440, 1460): 1300 is one
    u.send({ flags: SYN, seq: 5000, srcPort: 1111, dstPort: 8080, window: 65535, mss: 1460 });
    u.recvAll();
    u.send({ flags: SYN, seq: 7000, srcPort: 2222, dstPort: 8080, window: 65535, mss: 1460 }); // the queue is full: a cookie
    expect(u.recv({ flags: SYN | ACK }).mss).toBe(1300);
  });
});

describe('receive MSS estimate and GRO (Linux tcp_measure_rcv_mss with gso_size)', () => {
  it('takes a merged packet as its segment size, not its length', () => {
    const est = (segSize: number): number => {
      const t = new Tester({ receiveBuffer: 64 * 1024, maxReceiveBuffer: 64 * 1024 });
      const c = t.established();
      t.layer.rxInfo.segSize = segSize; // as the stack sets it around a packet GRO merged
      t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 8192 }, bytes(10_000));
      t.layer.rxInfo.segSize = 0;
      return c.info().rcvMss;
    };
    expect(est(1000)).toBe(1000);
    expect(est(0)).toBe(1460); // one 10000-byte segment: capped at the MSS we advertised
  });
});
