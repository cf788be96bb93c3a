/** Options: window scaling and timestamps (RFC 7323, PAWS), SACK generation and D-SACK (RFC 2018 / 2883), MSS. */
import { describe, expect, it } from 'vitest';
import { ACK, FIN, bytes } from './harness.js';
import { Tester } from './fixtures.js';

const OPTS = { timestamps: true, sack: true, windowScaling: true, receiveBuffer: 1 << 20, maxReceiveBuffer: 1 << 20 };

describe('window scaling (RFC 7323 2)', () => {
  it('scales the windows both ways when both SYNs carry the option', () => {
    const t = new Tester(OPTS);
    const c = t.establishedWith({ wscale: 3, window: 1000 });
    expect(t.syn!.wscale).toBe(5); // 1 MiB / 65535 -> shift 5
    expect(c.info().sndWnd).toBe(1000); // a SYN's window is not scaled
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 5000 });
    expect(c.info().sndWnd).toBe(5000 << 3);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(100));
    const a = t.recv({ flags: ACK, ack: t.r(101) });
    expect(a.window).toBe(((1 << 20) - 100) >>> 5);
  });
  it('does not scale when the peer did not offer it', () => {
    const t = new Tester(OPTS);
    const c = t.establishedWith({ window: 4000 });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 5000 });
    expect(c.info().sndWnd).toBe(5000);
    expect(c.info().rcvWscale).toBe(0);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(100));
    // The edge advertised at the handshake (RCV.NXT + 65535) stays until it can move by an MSS (receiver SWS).
    expect(t.recv({ flags: ACK }).window).toBe(65535 - 100);
  });
});

describe('timestamps (RFC 7323 3-5)', () => {
  it('echoes TS.Recent and measures RTT from TSecr', () => {
    const t = new Tester(OPTS);
    const c = t.establishedWith({ tsVal: 500 }, 30);
    expect(c.info().timestamps).toBe(true);
    expect(c.info().srtt).toBe(30);
    c.send(t.now, bytes(10));
    const s = t.recv({ payloadLen: 10, tsEcr: 500 });
    expect(c.info().sndMss).toBe(1000 - 12);
    t.advance(50);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(11), tsVal: 501, tsEcr: s.tsVal });
    expect(c.info().srtt).toBeCloseTo(30 * 0.875 + 50 * 0.125);
  });
  it('PAWS: a segment with a TSval more than one tick older is dropped and ACKed (RFC 7323 5.3)', () => {
    const t = new Tester(OPTS);
    const c = t.establishedWith({ tsVal: 500 });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), tsVal: 600, tsEcr: 1 }, bytes(10));
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(11), ack: t.l(1), tsVal: 598, tsEcr: 1 }, bytes(10));
    t.recv({ flags: ACK, ack: t.r(11), tsEcr: 600 });
    expect(c.readableLength).toBe(10);
    expect(t.layer.stats.pawsRejected).toBe(1);
    // One tick older passes (Linux's TCP_PAWS_WINDOW), and does not move TS.Recent back (RFC 7323 4.3).
    t.send({ flags: ACK, seq: t.r(11), ack: t.l(1), tsVal: 599, tsEcr: 1 }, bytes(10));
    expect(c.readableLength).toBe(20);
    expect(t.layer.stats.pawsRejected).toBe(1);
    t.advance(50); // past the delayed ACK
    expect(t.recvAll().at(-1)).toMatchObject({ ack: t.r(21), tsEcr: 600 });
    c.read(t.now, new Uint8Array(20));
    t.recvAll();
    // TSval wrap: 2^31 ahead counts as newer in sequence space.
    t.send({ flags: ACK, seq: t.r(21), ack: t.l(1), tsVal: 600 + 0x7fff0000, tsEcr: 1 }, bytes(10));
    expect(c.readableLength).toBe(10);
  });
});

describe('PAWS under reordering (issue #13)', () => {
  it('keeps data above RCV.NXT sent a tick before the retransmission that filled the hole', () => {
    // The peer sends 1..3 (TSval 700), 1 is lost; it retransmits 1 at TSval 701, which arrives first and fills the
    // hole, so TS.Recent becomes 701 (RFC 7323 4.3). Segment 3, sent at 700, overtaken on the path, arrives after it.
    const t = new Tester(OPTS);
    const c = t.establishedWith({ tsVal: 500 });
    t.send({ flags: ACK, seq: t.r(101), ack: t.l(1), tsVal: 700, tsEcr: 1 }, bytes(100)); // segment 2
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), tsVal: 701, tsEcr: 1 }, bytes(100)); // 1, retransmitted
    t.send({ flags: ACK, seq: t.r(201), ack: t.l(1), tsVal: 700, tsEcr: 1 }, bytes(100)); // 3, late
    // Before the window (a strict TSval < TS.Recent) segment 3 was discarded: 200 bytes, and the peer had to send
    // it again; on a short path (issue #13's mix) that cost a retransmission timeout at the end of a flight.
    expect(c.readableLength).toBe(300);
    expect(t.layer.stats.pawsRejected).toBe(0);
    t.advance(50);
    expect(t.recvAll().at(-1)).toMatchObject({ ack: t.r(301), tsEcr: 701 });
  });

  it('lets a duplicate ACK a tick older through with its SACK blocks (the sender side of the same path)', () => {
    const t = new Tester(OPTS);
    const c = t.establishedWith({ tsVal: 500, sackPermitted: true, window: 65535 });
    c.send(t.now, bytes(3000));
    const last = t.recvAll().at(-1)!;
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), tsVal: 601, tsEcr: 1, window: 65535 });
    expect(c.info().sackedBytes).toBe(0);
    // An ACK sent a tick earlier, overtaken by the one above, carries a SACK block for the last segment.
    const end = (last.seq + last.payloadLen) >>> 0;
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), tsVal: 600, tsEcr: 1, window: 65535, sackBlocks: [last.seq, end] });
    expect(t.layer.stats.pawsRejected).toBe(0);
    expect(c.info().sackedBytes).toBe(last.payloadLen);
  });
});

describe('SACK generation (RFC 2018) and D-SACK (RFC 2883)', () => {
  it('reports out-of-order blocks, most recent first', () => {
    const t = new Tester(OPTS);
    t.establishedWith({ tsVal: 1, sackPermitted: true });
    t.send({ flags: ACK, seq: t.r(101), ack: t.l(1), tsVal: 2 }, bytes(100));
    t.recv({ ack: t.r(1), sackBlocks: [t.r(101), t.r(201)] });
    t.send({ flags: ACK, seq: t.r(301), ack: t.l(1), tsVal: 3 }, bytes(100));
    t.recv({ ack: t.r(1), sackBlocks: [t.r(301), t.r(401), t.r(101), t.r(201)] });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), tsVal: 4 }, bytes(100));
    t.recv({ ack: t.r(201), sackBlocks: [t.r(301), t.r(401)] });
  });
  it('reports a duplicate segment with a D-SACK block', () => {
    const t = new Tester(OPTS);
    t.establishedWith({ tsVal: 1, sackPermitted: true });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), tsVal: 2 }, bytes(100));
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), tsVal: 3 }, bytes(100));
    t.recv({ ack: t.r(101), sackBlocks: [t.r(1), t.r(101)] });
  });
  it('counts D-SACKs received', () => {
    const t = new Tester(OPTS);
    const c = t.establishedWith({ tsVal: 1, sackPermitted: true });
    c.send(t.now, bytes(10));
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(11), tsVal: 2, sackBlocks: [t.l(1), t.l(11)] });
    expect(c.info().dsacksReceived).toBe(1);
    expect(t.layer.stats.dsacksReceived).toBe(1);
  });
});

describe('MSS', () => {
  it('clamps the advertised MSS to mtuFor(dst) - 40', () => {
    const t = new Tester();
    t.host.mtu = 1000;
    t.synSent();
    expect(t.syn!.mss).toBe(960);
  });
  it('uses min(peer MSS, own clamp) for sending', () => {
    const t = new Tester();
    t.host.mtu = 1200;
    const c = t.establishedWith({ mss: 1400 });
    expect(c.info().sndMss).toBe(1160);
    c.setNoDelay(true);
    c.send(t.now, bytes(3000));
    expect(t.recvAll().map((s) => s.payloadLen)).toEqual([1160, 1160, 680]);
  });
});

describe('PMTU (RFC 1191, RFC 5927)', () => {
  it('frag-needed lowers the MSS and resends in-flight data in smaller segments', () => {
    const t = new Tester();
    const c = t.establishedWith({});
    c.send(t.now, bytes(2000));
    expect(t.recvAll().map((s) => s.payloadLen)).toEqual([1000, 1000]);
    t.layer.icmpError(t.now, 0x0a000001, 0x0a000002, 49500, 80, t.l(1), 'frag-needed', 4, 700);
    expect(c.info().sndMss).toBe(660);
    expect(t.layer.stats.pmtuUpdates).toBe(1);
    const segs = t.recvAll();
    expect(segs[0]).toMatchObject({ seq: t.l(1), payloadLen: 660 });
  });
  it('ignores ICMP for sequence numbers not in flight, and never goes below minMss', () => {
    const t = new Tester({ minMss: 536 });
    const c = t.establishedWith({});
    c.send(t.now, bytes(100));
    t.recvAll();
    t.layer.icmpError(t.now, 0x0a000001, 0x0a000002, 49500, 80, t.l(500), 'frag-needed', 4, 700);
    expect(t.layer.stats.icmpIgnored).toBe(1);
    expect(c.info().sndMss).toBe(1000);
    t.layer.icmpError(t.now, 0x0a000001, 0x0a000002, 49500, 80, t.l(1), 'frag-needed', 4, 300);
    expect(c.info().sndMss).toBe(536);
  });
  it('port unreachable while connecting -> ECONNREFUSED', () => {
    const t = new Tester();
    const c = t.synSent();
    t.layer.icmpError(t.now, 0x0a000001, 0x0a000002, 49500, 80, t.l(0), 'unreachable', 3, 0);
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ECONNREFUSED']);
  });
});

describe('receive window', () => {
  it('never shrinks the right edge and opens after reads (receiver SWS avoidance)', () => {
    const t = new Tester({ receiveBuffer: 4000, maxReceiveBuffer: 4000 });
    const c = t.establishedWith({});
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(1000));
    expect(t.recv({ ack: t.r(1001) }).window).toBe(3000);
    t.send({ flags: ACK, seq: t.r(1001), ack: t.l(1) }, bytes(3000));
    expect(t.recv({ ack: t.r(4001) }).window).toBe(0);
    const buf = new Uint8Array(100);
    c.read(t.now, buf); // 100 bytes free: below min(buffer/2, MSS): no update
    t.recvNothing();
    c.read(t.now, new Uint8Array(2000));
    expect(t.recv({ flags: ACK, ack: t.r(4001) }).window).toBe(2100);
  });
  it('data beyond the window is trimmed and counted; FIN beyond it is not processed', () => {
    const t = new Tester({ receiveBuffer: 1000, maxReceiveBuffer: 1000 });
    const c = t.establishedWith({});
    t.send({ flags: ACK | FIN, seq: t.r(1), ack: t.l(1) }, bytes(1500));
    expect(c.readableLength).toBe(1000);
    expect(c.state).toBe('ESTABLISHED');
    expect(t.layer.stats.rcvWindowTrimmed).toBe(500);
  });
});

describe('timestamps: TS.Recent expiry and RACK reordering window', () => {
  it('PAWS no longer applies after 24 days without an update (RFC 7323 5.5)', () => {
    const t = new Tester({ ...OPTS, keepAlive: false });
    const c = t.establishedWith({ tsVal: 0x70000000 });
    t.advance(25 * 24 * 3600 * 1000);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), tsVal: 5, tsEcr: 1 }, bytes(10));
    expect(c.readableLength).toBe(10);
    expect(t.layer.stats.pawsRejected).toBe(0);
  });
});
