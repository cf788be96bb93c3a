/**
 * Output with nothing to send: after a received segment whose ACK emptied the send ring, output sends nothing but
 * what is owed (an immediate ACK), keeps the delayed ACK's timer, and the sender's busy time (chrono.ts) stops when
 * the last byte is acknowledged. A FIN still queued is not "nothing to send". The layer's fake host here keeps no
 * path generation, so these run through Sender.output; in a stack (paths known) Sender.outputAfterSegment's shortcut
 * runs instead, tested in test/stack/tcp-path-cache.test.ts. Virtual clock; segments read back from the layer's host.
 */
import { describe, expect, it } from 'vitest';
import { ACK, FIN, bytes } from './harness.js';
import { Tester } from './fixtures.js';

/** Nothing sent now nor by 39.9 ms; at 40 ms (delayedAckMs) a pure ACK from local `seq` acknowledging `ack`. */
function delayedAck(t: Tester, seq: number, ack: number): void {
  t.recvNothing();
  t.advance(39.9);
  t.recvNothing();
  t.advance(0.2);
  t.recv({ flags: ACK, seq, ack, payloadLen: 0 });
}

describe('output with nothing to send', () => {
  it('request/response: the request ACKed by the response sends nothing; the delayed ACK leaves on time', () => {
    const t = new Tester({ noDelay: true, quickAcks: 0 });
    const c = t.established();
    c.send(t.now, bytes(64));
    t.recv({ seq: t.l(1), payloadLen: 64 });
    t.advance(1);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(65), window: 8192 }, bytes(64)); // the response ACKs all we sent
    delayedAck(t, t.l(65), t.r(65));
  });

  it('data arriving on an idle connection (no timer armed) is ACKed by the delayed-ACK timer, 40 ms later', () => {
    const t = new Tester({ noDelay: true, quickAcks: 0 });
    t.established();
    t.advance(5000); // whatever the handshake armed has run out
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 8192 }, bytes(64));
    delayedAck(t, t.l(1), t.r(65));
  });

  it('an out-of-order segment is answered at once, with nothing queued to send', () => {
    const t = new Tester({ noDelay: true, quickAcks: 0 });
    t.established();
    t.send({ flags: ACK, seq: t.r(11), ack: t.l(1), window: 8192 }, bytes(10)); // 10 bytes missing before it
    t.recv({ flags: ACK, seq: t.l(1), ack: t.r(1), payloadLen: 0 });
  });

  it('busy while data is unacknowledged, idle once the ACK of the last byte arrives', () => {
    const t = new Tester({ noDelay: true, quickAcks: 0 });
    const c = t.established();
    const busy0 = c.info(t.now).busyTime;
    c.send(t.now, bytes(64));
    t.recvAll();
    t.advance(5);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(65), window: 8192 }, bytes(64));
    t.advance(100);
    expect(c.info(t.now).busyTime - busy0).toBeCloseTo(5, 6);
  });

  it('a FIN queued behind acknowledged data still leaves with the ACK that emptied the ring', () => {
    const t = new Tester({ noDelay: true, quickAcks: 0 });
    const c = t.established();
    c.send(t.now, bytes(64));
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 0 }); // window closed: the data waits...
    c.shutdown(t.now); // ...and the FIN behind it
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(65), window: 8192 });
    const out = t.recvAll();
    expect(out.some((s) => (s.flags & FIN) !== 0)).toBe(true);
  });
});

describe('forward progress (TcpHost.forwardProgress)', () => {
  it('is not asked for an IPv4 peer: ARP takes no hint from TCP (IPv6 peers: test/tcp6/icmp-ndp-tcp6.test.ts)', () => {
    const t = new Tester({ noDelay: true });
    const calls: number[] = [];
    Object.assign(t.host, { forwardProgress: (_now: number, dst: number): void => void calls.push(dst) });
    const c = t.established();
    c.send(t.now, bytes(64));
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(65), window: 8192 });
    expect(c.info(t.now).bytesAcked).toBe(64);
    expect(calls).toEqual([]);
  });
});
