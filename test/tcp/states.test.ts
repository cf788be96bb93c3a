/** RFC 9293 3.10 event processing, one describe per state, on fixture connections with a virtual clock. */
import { describe, expect, it } from 'vitest';
import { ACK, FIN, PSH, RST, SYN, IP_B, bytes } from './harness.js';
import { LOCAL_PORT, REMOTE_PORT, REMOTE_SEQ, Tester } from './fixtures.js';

describe('CLOSED (no connection)', () => {
  it('answers a segment without ACK with RST+ACK (RFC 9293 3.10.7.1)', () => {
    const t = new Tester();
    t.send({ flags: SYN, seq: 500 }, new Uint8Array(3));
    t.recv({ flags: RST | ACK, seq: 0, ack: 504, srcPort: LOCAL_PORT, dstPort: REMOTE_PORT });
    expect(t.layer.stats.noSocket).toBe(1);
    expect(t.layer.stats.rstsSent).toBe(1);
  });
  it('answers a segment with ACK with RST seq=SEG.ACK', () => {
    const t = new Tester();
    t.send({ flags: ACK, seq: 500, ack: 777 });
    t.recv({ flags: RST, seq: 777 });
  });
  it('never answers a RST', () => {
    const t = new Tester();
    t.send({ flags: RST, seq: 500 });
    t.recvNothing();
  });
});

describe('LISTEN', () => {
  it('SYN -> SYN-ACK with our ISS and MSS, then ACK -> ESTABLISHED and accept()', () => {
    const t = new Tester();
    const l = t.layer.listen(0, LOCAL_PORT, 4);
    let acceptable = 0;
    l.onAcceptable = () => acceptable++;
    t.send({ flags: SYN, seq: REMOTE_SEQ, mss: 1400 });
    t.recv({ flags: SYN | ACK, seq: t.l(0), ack: t.r(1), mss: 1460 });
    expect(l.accept()).toBeUndefined();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) });
    t.recvNothing();
    expect(acceptable).toBe(1);
    const c = l.accept()!;
    expect(c.state).toBe('ESTABLISHED');
    expect(c.info().sndMss).toBe(1400);
    expect(t.layer.stats.passiveOpens).toBe(1);
  });
  it('ACK without a connection -> RST seq=SEG.ACK; RST ignored', () => {
    const t = new Tester({ synCookies: false });
    t.layer.listen(0, LOCAL_PORT, 4);
    t.send({ flags: ACK, seq: 1, ack: 999 });
    t.recv({ flags: RST, seq: 999 });
    t.send({ flags: RST, seq: 1 });
    t.recvNothing();
  });
  it('listen() misuse throws with codes', () => {
    const t = new Tester();
    t.layer.listen(0, 81, 4);
    expect(() => t.layer.listen(0, 81, 4)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(() => t.layer.listen(0, 0, 4)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => t.layer.listen(0, 82, 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
  it('a closed listener no longer answers SYNs with SYN-ACK', () => {
    const t = new Tester();
    const l = t.layer.listen(0, LOCAL_PORT, 4);
    l.close(0);
    t.send({ flags: SYN, seq: REMOTE_SEQ });
    t.recv({ flags: RST | ACK, ack: t.r(1) });
  });
});

describe('SYN-SENT', () => {
  it('sends SYN with MSS (and WS, SACK-permitted, TS when enabled)', () => {
    const t = new Tester({ timestamps: true, sack: true, windowScaling: true, maxReceiveBuffer: 1 << 20 });
    t.layer.connect(0, IP_B, REMOTE_PORT, { localPort: LOCAL_PORT });
    const s = t.recv({ flags: SYN, seq: t.l(0), mss: 1460, sackPermitted: true, wscale: 5 });
    expect(s.tsVal).toBeDefined();
    expect(s.tsEcr).toBe(0);
  });
  it('SYN-ACK -> ESTABLISHED, ACK sent, onConnect called', () => {
    const t = new Tester();
    const c = t.synSent();
    let connected = 0;
    c.onConnect = () => connected++;
    t.send({ flags: SYN | ACK, seq: REMOTE_SEQ, ack: t.l(1), window: 3000 });
    t.recv({ flags: ACK, seq: t.l(1), ack: t.r(1) });
    expect(c.state).toBe('ESTABLISHED');
    expect(connected).toBe(1);
    expect(c.info().sndWnd).toBe(3000);
    expect(c.info().sndMss).toBe(536); // no MSS option: RFC 9293 3.7.1 default
  });
  it('RST with an acceptable ACK -> CLOSED with ECONNREFUSED', () => {
    const t = new Tester();
    const c = t.synSent();
    t.send({ flags: RST | ACK, seq: 0, ack: t.l(1) });
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ECONNREFUSED']);
    t.recvNothing();
  });
  it('RST without ACK or with a bad ACK is ignored (RFC 5961 3.2)', () => {
    const t = new Tester();
    const c = t.synSent();
    t.send({ flags: RST, seq: 5 });
    t.send({ flags: RST | ACK, seq: 5, ack: t.l(7) });
    expect(c.state).toBe('SYN-SENT');
    t.recvNothing();
  });
  it('an unacceptable ACK -> RST seq=SEG.ACK, state unchanged', () => {
    const t = new Tester();
    const c = t.synSent();
    t.send({ flags: SYN | ACK, seq: REMOTE_SEQ, ack: t.l(5) });
    t.recv({ flags: RST, seq: t.l(5) });
    expect(c.state).toBe('SYN-SENT');
  });
  it('SYN alone -> simultaneous open: SYN-RECEIVED with SYN-ACK, then ACK -> ESTABLISHED', () => {
    const t = new Tester();
    const c = t.synSent();
    t.send({ flags: SYN, seq: REMOTE_SEQ });
    t.recv({ flags: SYN | ACK, seq: t.l(0), ack: t.r(1) });
    expect(c.state).toBe('SYN-RECEIVED');
    t.send({ flags: SYN | ACK, seq: REMOTE_SEQ, ack: t.l(1) });
    t.recv({ flags: ACK, seq: t.l(1), ack: t.r(1) }); // not acceptable (old SYN): ACK
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) });
    expect(c.state).toBe('ESTABLISHED');
  });
  it('retransmits the SYN with exponential backoff, then ETIMEDOUT', () => {
    const t = new Tester({ synRetries: 3, rtoSpread: 0 }); // the exact RFC 6298 doubling
    const c = t.synSent();
    const times: number[] = [];
    for (let i = 0; i < 200 && c.state === 'SYN-SENT'; i++) {
      t.advance(100);
      for (const s of t.recvAll()) {
        expect(s.flags).toBe(SYN);
        expect(s.seq).toBe(t.l(0));
        times.push(t.now);
      }
    }
    expect(times).toEqual([1000, 3000, 7000]);
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ETIMEDOUT']);
  });
  it('connect() without a route throws ENETUNREACH', () => {
    const t = new Tester();
    t.host.sourceFor = () => undefined;
    expect(() => t.layer.connect(0, IP_B, 80)).toThrow(expect.objectContaining({ code: 'ENETUNREACH' }));
  });
});

describe('SYN-RECEIVED', () => {
  function synReceived(t: Tester) {
    const l = t.layer.listen(0, LOCAL_PORT, 4);
    t.send({ flags: SYN, seq: REMOTE_SEQ });
    t.recv({ flags: SYN | ACK, seq: t.l(0), ack: t.r(1) });
    return l;
  }
  it('a retransmitted SYN gets the SYN-ACK again', () => {
    const t = new Tester();
    synReceived(t);
    t.send({ flags: SYN, seq: REMOTE_SEQ });
    t.recv({ flags: SYN | ACK, seq: t.l(0), ack: t.r(1) });
  });
  it('an unacceptable ACK -> RST', () => {
    const t = new Tester();
    synReceived(t);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(9) });
    t.recv({ flags: RST, seq: t.l(9) });
  });
  it('retransmits the SYN-ACK, then gives up silently (passive)', () => {
    const t = new Tester({ synAckRetries: 2, rtoSpread: 0 });
    const l = synReceived(t);
    t.advance(1000);
    t.recv({ flags: SYN | ACK });
    t.advance(2000);
    t.recv({ flags: SYN | ACK });
    t.advance(4000);
    t.recvNothing();
    expect(l.synQueue.size).toBe(0);
    expect(t.layer.connectionCount).toBe(0);
  });
  it('RST in window returns to LISTEN (the embryonic connection is dropped)', () => {
    const t = new Tester();
    const l = synReceived(t);
    t.send({ flags: RST, seq: t.r(1) });
    expect(l.synQueue.size).toBe(0);
    t.recvNothing();
  });
  it('data and ACK together: established and the data is readable after accept()', () => {
    const t = new Tester();
    const l = synReceived(t);
    t.send({ flags: ACK | PSH, seq: t.r(1), ack: t.l(1) }, new Uint8Array([1, 2, 3]));
    const c = l.accept()!;
    expect(c.readableLength).toBe(3);
    t.recv({ flags: ACK, ack: t.r(4) }); // quick ACK at connection start
  });
});

describe('ESTABLISHED', () => {
  it('in-order data is delivered and ACKed (quick-ACK at start)', () => {
    const t = new Tester();
    const c = t.established();
    let readable = 0;
    c.onReadable = () => readable++;
    t.send({ flags: ACK | PSH, seq: t.r(1), ack: t.l(1) }, new Uint8Array([1, 2, 3, 4]));
    t.recv({ flags: ACK, seq: t.l(1), ack: t.r(5), window: 8192 - 4 });
    expect(readable).toBe(1);
    const buf = new Uint8Array(10);
    expect(c.read(t.now, buf)).toBe(4);
    expect([...buf.subarray(0, 4)]).toEqual([1, 2, 3, 4]);
  });
  it('delayed ACK: one segment waits delayedAckMs; the second full segment is ACKed at once', () => {
    const t = new Tester({ quickAcks: 0, delayedAckMs: 40, receiveBuffer: 65535, maxReceiveBuffer: 65535 });
    t.established({ mss: 1000 });
    const mss = 1460;
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(mss));
    t.recvNothing();
    t.advance(39);
    t.recvNothing();
    t.advance(1);
    t.recv({ flags: ACK, ack: t.r(1 + mss) });
    t.send({ flags: ACK, seq: t.r(1 + mss), ack: t.l(1) }, bytes(mss));
    t.recvNothing();
    t.send({ flags: ACK, seq: t.r(1 + 2 * mss), ack: t.l(1) }, bytes(mss));
    t.recv({ flags: ACK, ack: t.r(1 + 3 * mss) });
  });
  it('out-of-order data -> immediate duplicate ACK; filling the hole delivers both', () => {
    const t = new Tester({ quickAcks: 0 });
    const c = t.established();
    t.send({ flags: ACK, seq: t.r(11), ack: t.l(1) }, bytes(10, 2));
    t.recv({ flags: ACK, ack: t.r(1) });
    expect(c.readableLength).toBe(0);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(10, 1));
    t.recv({ flags: ACK, ack: t.r(21) });
    expect(c.readableLength).toBe(20);
  });
  it('sends data, retransmits on RTO with backoff, stops when ACKed', () => {
    const t = new Tester({ rtoSpread: 0 });
    const c = t.established();
    expect(c.send(t.now, bytes(100))).toBe(100);
    t.recv({ flags: ACK | PSH, seq: t.l(1), payloadLen: 100 });
    t.advance(999);
    t.recvNothing();
    t.advance(1);
    t.recv({ seq: t.l(1), payloadLen: 100 });
    t.advance(2000);
    t.recv({ seq: t.l(1), payloadLen: 100 });
    expect(c.info().rtoCount).toBe(2);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(101) });
    t.advance(10_000);
    t.recvNothing();
    expect(c.info().unacked).toBe(0);
  });
  it('gives up after maxRetransmits with ETIMEDOUT and a RST', () => {
    const t = new Tester({ maxRetransmits: 3 });
    const c = t.established();
    c.send(t.now, bytes(10));
    t.advance(100_000);
    const segs = t.recvAll();
    expect(segs.filter((s) => s.payloadLen === 10)).toHaveLength(4);
    expect(segs[segs.length - 1]!.flags & RST).toBe(RST);
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ETIMEDOUT']);
  });
  it('RST with SEQ = RCV.NXT -> ECONNRESET', () => {
    const t = new Tester();
    const c = t.established();
    t.send({ flags: RST, seq: t.r(1) });
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ECONNRESET']);
    expect(() => c.send(t.now, bytes(1))).toThrow(expect.objectContaining({ code: 'ECONNRESET' }));
  });
  it('RST in window but not exact -> challenge ACK (RFC 5961 3.2); out of window -> dropped', () => {
    const t = new Tester();
    const c = t.established();
    t.send({ flags: RST, seq: t.r(100) });
    t.recv({ flags: ACK, seq: t.l(1), ack: t.r(1) });
    t.send({ flags: RST, seq: t.r(100_000) });
    t.recvNothing();
    expect(c.state).toBe('ESTABLISHED');
    expect(t.layer.stats.challengeAcksSent).toBe(1);
  });
  it('SYN -> challenge ACK (RFC 5961 4.2), connection kept', () => {
    const t = new Tester();
    const c = t.established();
    t.send({ flags: SYN, seq: t.r(5) });
    t.recv({ flags: ACK, seq: t.l(1), ack: t.r(1) });
    t.send({ flags: SYN, seq: t.r(-5000) });
    t.recv({ flags: ACK, seq: t.l(1), ack: t.r(1) }); // out of window: plain ACK
    expect(c.state).toBe('ESTABLISHED');
  });
  it('challenge ACKs are rate limited', () => {
    const t = new Tester({ challengeAckLimit: 3 });
    t.established();
    for (let i = 0; i < 10; i++) t.send({ flags: RST, seq: t.r(10 + i) });
    expect(t.recvAll()).toHaveLength(3);
    expect(t.layer.stats.challengeAcksRateLimited).toBe(7);
    t.advance(1000);
    t.send({ flags: RST, seq: t.r(10) });
    expect(t.recvAll()).toHaveLength(1);
  });
  it('ACK for unsent data -> ACK, dropped (RFC 9293 / RFC 5961 5.2)', () => {
    const t = new Tester();
    const c = t.established();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(500) }, bytes(5));
    t.recv({ flags: ACK, seq: t.l(1), ack: t.r(1) });
    expect(c.readableLength).toBe(0);
    expect(t.layer.stats.badAck).toBe(1);
  });
  it('an out-of-window segment is answered with an ACK and counted', () => {
    const t = new Tester();
    const c = t.established();
    t.send({ flags: ACK, seq: t.r(50_000), ack: t.l(1) }, bytes(5));
    t.recv({ flags: ACK, ack: t.r(1) });
    expect(c.readableLength).toBe(0);
    expect(t.layer.stats.outOfWindow).toBe(1);
  });
  it('overlapping retransmission with different bytes: the bytes received first win', () => {
    const t = new Tester();
    const c = t.established();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, new Uint8Array([1, 1, 1, 1]));
    t.send({ flags: ACK, seq: t.r(3), ack: t.l(1) }, new Uint8Array([9, 9, 9, 9]));
    const buf = new Uint8Array(16);
    const n = c.read(t.now, buf);
    expect([...buf.subarray(0, n)]).toEqual([1, 1, 1, 1, 9, 9]);
  });
  it('FIN -> CLOSE-WAIT, onEnd, and reading reports the end', () => {
    const t = new Tester();
    const c = t.established();
    let ended = 0;
    c.onEnd = () => ended++;
    t.send({ flags: FIN | ACK, seq: t.r(1), ack: t.l(1) }, bytes(3));
    t.recv({ flags: ACK, ack: t.r(5) });
    expect(c.state).toBe('CLOSE-WAIT');
    expect(ended).toBe(1);
    expect(c.readableEnded).toBe(false);
    c.read(t.now, new Uint8Array(10));
    expect(c.readableEnded).toBe(true);
  });
  it('FIN out of order is processed once the hole is filled', () => {
    const t = new Tester();
    const c = t.established();
    t.send({ flags: FIN | ACK, seq: t.r(4), ack: t.l(1) }, bytes(3));
    t.recv({ flags: ACK, ack: t.r(1) });
    expect(c.state).toBe('ESTABLISHED');
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(3));
    t.recv({ flags: ACK, ack: t.r(8) });
    expect(c.state).toBe('CLOSE-WAIT');
    expect(c.readableLength).toBe(6);
  });
  it('close() with unread data sends RST (RFC 2525 2.17)', () => {
    const t = new Tester();
    const c = t.established();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(3));
    t.recvAll();
    c.close(t.now);
    t.recv({ flags: RST | ACK, seq: t.l(1) });
    expect(c.state).toBe('CLOSED');
    expect(t.layer.stats.resetsOnClose).toBe(1);
  });
  it('Nagle holds a small segment while data is unacknowledged; setNoDelay sends it', () => {
    const t = new Tester();
    const c = t.established();
    c.send(t.now, bytes(10));
    t.recv({ payloadLen: 10 });
    c.send(t.now, bytes(10));
    t.recvNothing();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(11) });
    t.recv({ seq: t.l(11), payloadLen: 10 });
    c.send(t.now, bytes(5));
    t.recvNothing();
    c.setNoDelay(true, t.now);
    t.recv({ seq: t.l(21), payloadLen: 5 });
  });
  it('send() returns the bytes accepted (backpressure) and onWritable fires when space frees', () => {
    const t = new Tester({ sendBuffer: 1000 });
    const c = t.established({ mss: 1460, window: 65535 });
    let writable = 0;
    c.onWritable = () => writable++;
    expect(c.send(t.now, bytes(1500))).toBe(1000);
    expect(c.writableLength).toBe(0);
    const s = t.recv({ payloadLen: 1000 });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + s.payloadLen) });
    expect(writable).toBe(1);
    expect(c.writableLength).toBe(1000);
  });
  it('zero window: persist probes with backoff until the window opens', () => {
    const t = new Tester();
    const c = t.established({ window: 0 });
    c.send(t.now, bytes(100));
    t.recvNothing();
    t.advance(1000);
    t.recv({ flags: ACK, seq: t.l(0), payloadLen: 0 }); // probe: SND.UNA - 1
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 0 });
    t.advance(2000);
    t.recv({ flags: ACK, seq: t.l(0) });
    expect(t.layer.stats.zeroWindowProbes).toBe(2);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 1000 });
    t.recv({ seq: t.l(1), payloadLen: 100 });
    expect(c.state).toBe('ESTABLISHED');
  });
  it('zero-window probing gives up with ETIMEDOUT when the peer stops answering', () => {
    const t = new Tester({ maxRetransmits: 4 });
    const c = t.established({ window: 0 });
    c.send(t.now, bytes(100));
    for (let answered = 0; answered < 6; ) {
      t.advance(1000);
      if (t.recvAll().length > 0) {
        t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 0 }); // answered: probing goes on
        answered++;
      }
    }
    expect(c.state).toBe('ESTABLISHED');
    t.advance(2_000_000);
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ETIMEDOUT']);
    expect(t.layer.stats.zeroWindowProbes).toBe(6 + 4);
  });
  it('keep-alive probes after idle, ETIMEDOUT after keepAliveCount unanswered', () => {
    const t = new Tester({ keepAlive: true, keepAliveIdle: 10_000, keepAliveInterval: 1000, keepAliveCount: 3 });
    const c = t.established();
    t.advance(10_000);
    t.recv({ flags: ACK, seq: t.l(0) });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }); // answered: idle again
    t.advance(9_999);
    t.recvNothing();
    t.advance(1);
    t.recv({ flags: ACK, seq: t.l(0) });
    t.advance(3000);
    expect(t.recvAll().filter((s) => s.flags === ACK)).toHaveLength(2);
    t.advance(1000);
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ETIMEDOUT']);
  });
  it('abort() sends RST and closes at once', () => {
    const t = new Tester();
    const c = t.established();
    c.abort(t.now);
    t.recv({ flags: RST | ACK, seq: t.l(1) });
    expect(c.state).toBe('CLOSED');
  });
});

describe('FIN-WAIT-1', () => {
  it('ACK of our FIN -> FIN-WAIT-2', () => {
    const t = new Tester();
    t.finWait2();
  });
  it('FIN without ACK of ours -> CLOSING; FIN+ACK -> TIME-WAIT', () => {
    const t = new Tester();
    t.closing();
    const t2 = new Tester();
    const c = t2.finWait1();
    t2.send({ flags: FIN | ACK, seq: t2.r(1), ack: t2.l(2) });
    t2.recv({ flags: ACK, ack: t2.r(2) });
    expect(c.state).toBe('TIME-WAIT');
  });
  it('retransmits the FIN on RTO', () => {
    const t = new Tester();
    t.finWait1();
    t.advance(1000);
    t.recv({ flags: FIN | ACK, seq: t.l(1) });
  });
  it('data after close() -> RST (RFC 2525)', () => {
    const t = new Tester();
    const c = t.finWait1();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(4));
    t.recv({ flags: RST | ACK });
    expect(c.state).toBe('CLOSED');
  });
  it('shutdown(): half-close keeps receiving', () => {
    const t = new Tester();
    const c = t.established();
    c.shutdown(t.now);
    t.recv({ flags: FIN | ACK, seq: t.l(1) });
    expect(() => c.send(t.now, bytes(1))).toThrow(expect.objectContaining({ code: 'EPIPE' }));
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(2) }, bytes(5));
    t.recv({ flags: ACK, ack: t.r(6) });
    expect(c.state).toBe('FIN-WAIT-2');
    expect(c.readableLength).toBe(5);
  });
});

describe('FIN-WAIT-2', () => {
  it('FIN -> TIME-WAIT', () => {
    const t = new Tester();
    t.timeWait();
  });
  it('times out after finWait2Timeout when the application closed', () => {
    const t = new Tester({ finWait2Timeout: 5000 });
    const c = t.finWait2();
    t.advance(5000);
    expect(c.state).toBe('CLOSED');
  });
});

describe('CLOSE-WAIT', () => {
  it('retransmits unacknowledged data on RTO; RST -> ECONNRESET', () => {
    const t = new Tester();
    const c = t.closeWait();
    c.send(t.now, bytes(7));
    t.recv({ seq: t.l(1), payloadLen: 7 });
    t.advance(1000);
    t.recv({ seq: t.l(1), payloadLen: 7 });
    t.send({ flags: RST, seq: t.r(2) });
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ECONNRESET']);
  });
  it('ignores further data from the peer (it sent FIN)', () => {
    const t = new Tester();
    const c = t.closeWait();
    t.send({ flags: ACK, seq: t.r(2), ack: t.l(1) }, bytes(5));
    expect(c.readableLength).toBe(0);
  });
  it('can still send; close() -> LAST-ACK with FIN', () => {
    const t = new Tester();
    const c = t.closeWait();
    c.send(t.now, bytes(7));
    t.recv({ seq: t.l(1), payloadLen: 7 });
    c.close(t.now);
    t.recv({ flags: FIN | ACK, seq: t.l(8) });
    expect(c.state).toBe('LAST-ACK');
  });
});

describe('CLOSING', () => {
  it('retransmits the FIN on RTO', () => {
    const t = new Tester();
    t.closing();
    t.advance(1000);
    t.recv({ flags: FIN | ACK, seq: t.l(1), ack: t.r(2) });
  });
  it('ACK of our FIN -> TIME-WAIT', () => {
    const t = new Tester();
    const c = t.closing();
    t.send({ flags: ACK, seq: t.r(2), ack: t.l(2) });
    expect(c.state).toBe('TIME-WAIT');
  });
});

describe('LAST-ACK', () => {
  it('ACK of our FIN -> CLOSED, onClose once', () => {
    const t = new Tester();
    const c = t.lastAck();
    t.send({ flags: ACK, seq: t.r(2), ack: t.l(2) });
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual([undefined]);
    expect(t.layer.connectionCount).toBe(0);
  });
  it('retransmits the FIN, then gives up', () => {
    const t = new Tester({ maxRetransmits: 2 });
    const c = t.lastAck();
    t.advance(1000);
    t.recv({ flags: FIN | ACK });
    t.advance(100_000);
    expect(c.state).toBe('CLOSED');
  });
});

describe('TIME-WAIT', () => {
  it('lasts 2*MSL, then CLOSED', () => {
    const t = new Tester({ msl: 1000 });
    const c = t.timeWait();
    t.advance(1999);
    expect(c.state).toBe('TIME-WAIT');
    t.advance(1);
    expect(c.state).toBe('CLOSED');
    expect(t.layer.connectionCount).toBe(0);
  });
  it('ignores RST (RFC 1337: no TIME-WAIT assassination)', () => {
    const t = new Tester();
    const c = t.timeWait();
    t.send({ flags: RST, seq: t.r(2) });
    expect(c.state).toBe('TIME-WAIT');
  });
  it('a retransmitted FIN is ACKed again', () => {
    const t = new Tester();
    t.timeWait();
    t.send({ flags: FIN | ACK, seq: t.r(1), ack: t.l(2) });
    t.recv({ flags: ACK, seq: t.l(2), ack: t.r(2) });
  });
  it('an old duplicate SYN is not accepted; a new SYN above RCV.NXT reopens via the listener (RFC 1122 4.2.2.13)', () => {
    const t = new Tester();
    const c = t.timeWait();
    const l = t.layer.listen(0, LOCAL_PORT, 4);
    t.send({ flags: SYN, seq: t.r(0) });
    expect(c.state).toBe('TIME-WAIT');
    t.recvAll();
    t.send({ flags: SYN, seq: t.r(100_000) });
    t.recv({ flags: SYN | ACK, ack: t.r(100_001) });
    expect(t.layer.stats.timeWaitReused).toBe(1);
    expect(l.synQueue.size).toBe(1);
  });
  it('with timestamps, a SYN is accepted only with a newer TSval (RFC 6191)', () => {
    const t = new Tester({ timestamps: true });
    const c = t.synSent();
    t.send({ flags: SYN | ACK, seq: REMOTE_SEQ, ack: t.l(1), tsVal: 1000, tsEcr: 1 });
    t.recvAll();
    c.close(t.now);
    t.send({ flags: FIN | ACK, seq: t.r(1), ack: t.l(2), tsVal: 1001, tsEcr: 1 });
    t.recvAll();
    expect(c.state).toBe('TIME-WAIT');
    t.layer.listen(0, LOCAL_PORT, 4);
    t.send({ flags: SYN, seq: t.r(5), tsVal: 900 });
    expect(t.layer.stats.timeWaitReused).toBe(0);
    t.recvAll();
    t.send({ flags: SYN, seq: t.r(-5), tsVal: 2000 });
    expect(t.layer.stats.timeWaitReused).toBe(1);
    t.recv({ flags: SYN | ACK, ack: t.r(-4) });
  });
});

describe('callbacks that change state', () => {
  it('abort() from onReadable while a FIN is being processed leaves the connection CLOSED', () => {
    const t = new Tester();
    const c = t.established();
    let ended = 0;
    c.onEnd = () => ended++;
    c.onReadable = () => c.abort(t.now);
    t.send({ flags: FIN | ACK, seq: t.r(1), ack: t.l(1) }, bytes(5));
    expect(c.state).toBe('CLOSED');
    expect(ended).toBe(0);
    expect(t.recvAll().map((s) => s.flags & RST)).toEqual([RST]);
  });
  it('close() from onConnect sends FIN right after the handshake', () => {
    const t = new Tester();
    const c = t.synSent();
    c.onConnect = () => c.close(t.now);
    t.send({ flags: SYN | ACK, seq: REMOTE_SEQ, ack: t.l(1) });
    const segs = t.recvAll();
    expect(segs.some((s) => s.flags & FIN)).toBe(true);
    expect(c.state).toBe('FIN-WAIT-1');
  });
});
