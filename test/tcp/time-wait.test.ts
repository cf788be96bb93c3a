/**
 * Compact TIME-WAIT (protocols/tcp/time-wait.ts): once the last ACK has left, the layer keeps a TIME-WAIT as a
 * record and lets go of the TcpConnection. Every TIME-WAIT behaviour, on the virtual clock, with sequence numbers
 * (ours and the peer's) just below 2^31 and 2^32 as well as small ones.
 */
import { describe, expect, it } from 'vitest';
import type { TcpHost } from '../../protocols/tcp/layer.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { seqAdd } from '../../protocols/tcp/seq.js';
import type { TcpFields } from '../../protocols/tcp/wire.js';
import { ACK, FIN, IP_A, IP_B, RST, SYN, bytes } from './harness.js';
import { LOCAL_PORT, REMOTE_PORT, Tester } from './fixtures.js';

const MSL = 1000;

/** Local ISS and the peer's ISN: small, a FIN that lands on 2^31, and sequence space wrapping through 2^32. */
const cases: Array<[string, number, number]> = [
  ['small', 10_000, 20_000],
  ['2^31', 0x7fffffff - 1, 0x7fffffff - 3],
  ['2^32', 0xffffffff, 0xfffffffe],
];

class Tw extends Tester {
  constructor(
    readonly rIsn: number,
    iss: number,
    opts: ConstructorParameters<typeof Tester>[0] = {},
  ) {
    super({ msl: MSL, ...opts }, iss);
  }
  /** The peer's ISN + n. */
  p(n: number): number {
    return seqAdd(this.rIsn, n) >>> 0; // as on the wire (parseTcp's unsigned values)
  }
  /** Active close to TIME-WAIT (timestamps when `ts`: the peer's TSval starts at 1000 and rises by 1 per segment). */
  toTimeWait(ts = false): TcpConnection {
    const c = this.synSent();
    const o = (v: number): Partial<TcpFields> => (ts ? { tsVal: v, tsEcr: this.syn!.tsVal ?? 0 } : {});
    this.send({ flags: SYN | ACK, seq: this.rIsn, ack: this.l(1), window: 8192, mss: 1460, ...o(1000) });
    this.recv({ flags: ACK, seq: this.l(1), ack: this.p(1) });
    c.close(this.now);
    this.recv({ flags: FIN | ACK, seq: this.l(1), ack: this.p(1) });
    this.send({ flags: ACK, seq: this.p(1), ack: this.l(2), ...o(1001) });
    this.send({ flags: FIN | ACK, seq: this.p(1), ack: this.l(2), ...o(1002) });
    this.recv({ flags: ACK, seq: this.l(2), ack: this.p(2) });
    expect(c.state).toBe('TIME-WAIT');
    return c;
  }
}

for (const [name, iss, rIsn] of cases) {
  describe(`TIME-WAIT as a record (sequence numbers ${name})`, () => {
    it('takes over once the last ACK has left: the connection leaves the demux, its buffers are given back', () => {
      const t = new Tw(rIsn, iss);
      const c = t.toTimeWait();
      expect(t.layer.timeWaitRecords).toBe(1);
      expect(t.layer.connectionCount).toBe(1);
      expect(t.layer.bufferMemory).toBe(0);
      const rows = [...t.layer.connections()];
      expect(rows).toHaveLength(1);
      expect(rows[0]!.state).toBe('TIME-WAIT');
      expect(rows[0]!.localPort).toBe(LOCAL_PORT);
      expect(c.info().state).toBe('TIME-WAIT');
    });

    it('lasts 2 MSL, then the record goes and the connection object reads CLOSED', () => {
      const t = new Tw(rIsn, iss);
      const c = t.toTimeWait();
      t.advance(2 * MSL - 1);
      expect(c.state).toBe('TIME-WAIT');
      expect(t.layer.pollAt(t.now)).toBe(2 * MSL);
      t.advance(1);
      expect(c.state).toBe('CLOSED');
      expect(c.error).toBeUndefined();
      expect(t.layer.timeWaitRecords).toBe(0);
      expect(t.layer.connectionCount).toBe(0);
      expect(t.layer.pollAt(t.now)).toBeUndefined();
      // The 4-tuple is free: a segment for it now meets no connection and is answered with RST.
      t.send({ flags: ACK, seq: t.p(2), ack: t.l(2) });
      t.recv({ flags: RST, seq: t.l(2) });
    });

    it('a retransmitted FIN is ACKed again and restarts the 2 MSL timeout', () => {
      const t = new Tw(rIsn, iss);
      const c = t.toTimeWait();
      t.advance(1500);
      t.send({ flags: FIN | ACK, seq: t.p(1), ack: t.l(2) });
      t.recv({ flags: ACK, seq: t.l(2), ack: t.p(2), window: 8191 });
      t.advance(2 * MSL - 1); // past the first deadline (2000), short of the restarted one (3500)
      expect(c.state).toBe('TIME-WAIT');
      t.advance(1);
      expect(c.state).toBe('CLOSED');
    });

    it('ignores an in-window RST (RFC 1337) and an out-of-window one (RFC 5961), counting each', () => {
      const t = new Tw(rIsn, iss);
      const c = t.toTimeWait();
      t.send({ flags: RST, seq: t.p(2) });
      t.send({ flags: RST, seq: t.p(100_000) });
      t.recvNothing();
      expect(c.state).toBe('TIME-WAIT');
      expect(t.layer.stats.rstsReceived).toBe(1);
      expect(t.layer.stats.rstsOutOfWindow).toBe(1);
      expect(t.layer.stats.resets).toBe(0);
    });

    it('answers an in-window SYN without a listener with a challenge ACK, and a bad ACK likewise (RFC 5961)', () => {
      const t = new Tw(rIsn, iss);
      t.toTimeWait();
      t.send({ flags: SYN, seq: t.p(10) });
      t.recv({ flags: ACK, seq: t.l(2), ack: t.p(2) });
      t.send({ flags: ACK, seq: t.p(2), ack: t.l(500) });
      t.recv({ flags: ACK, seq: t.l(2), ack: t.p(2) });
      expect(t.layer.stats.challengeAcksSent).toBe(2);
      expect(t.layer.stats.badAck).toBe(1);
      // An acceptable pure ACK is taken quietly; data after the FIN is ignored.
      t.send({ flags: ACK, seq: t.p(2), ack: t.l(2) });
      t.send({ flags: ACK, seq: t.p(2), ack: t.l(2) }, bytes(10));
      t.recvNothing();
    });

    it('answers out-of-window segments: data at once, pure ACKs and SYNs once per invalidAckIntervalMs', () => {
      const t = new Tw(rIsn, iss);
      t.toTimeWait();
      const before = t.layer.stats.outOfWindow;
      t.send({ flags: ACK, seq: t.p(-500), ack: t.l(2) }, bytes(100));
      t.recv({ flags: ACK, seq: t.l(2), ack: t.p(2) });
      t.send({ flags: ACK, seq: t.p(-500), ack: t.l(2) }, bytes(100));
      t.recv({ flags: ACK, seq: t.l(2), ack: t.p(2) });
      t.send({ flags: SYN, seq: t.p(0) }); // an old duplicate SYN: below RCV.NXT
      t.recv({ flags: ACK, seq: t.l(2), ack: t.p(2) });
      t.send({ flags: ACK, seq: t.p(-5), ack: t.l(2) });
      t.recvNothing();
      expect(t.layer.stats.invalidAcksRateLimited).toBe(1);
      t.advance(500);
      t.send({ flags: ACK, seq: t.p(-5), ack: t.l(2) });
      t.recv({ flags: ACK, seq: t.l(2), ack: t.p(2) });
      expect(t.layer.stats.outOfWindow - before).toBe(5);
    });

    it('a SYN above RCV.NXT reopens the 4-tuple through a listener; an old one does not (RFC 1122 4.2.2.13)', () => {
      const t = new Tw(rIsn, iss);
      const c = t.toTimeWait();
      const l = t.layer.listen(0, LOCAL_PORT, 4);
      t.send({ flags: SYN, seq: t.p(1) });
      expect(t.layer.stats.timeWaitReused).toBe(0);
      expect(c.state).toBe('TIME-WAIT');
      t.recvAll();
      t.send({ flags: SYN, seq: t.p(100_000) });
      t.recv({ flags: SYN | ACK, ack: t.p(100_001) });
      expect(t.layer.stats.timeWaitReused).toBe(1);
      expect(c.state).toBe('CLOSED');
      expect(t.layer.timeWaitRecords).toBe(0);
      expect(l.synQueue.size).toBe(1);
    });

    it('with timestamps: PAWS drops an old TSval, TS.Recent follows, and only a newer TSval reopens (RFC 6191)', () => {
      const t = new Tw(rIsn, iss, { timestamps: true });
      const c = t.toTimeWait(true);
      t.send({ flags: ACK, seq: t.p(2), ack: t.l(2), tsVal: 900, tsEcr: 1 });
      expect(t.layer.stats.pawsRejected).toBe(1);
      t.recv({ flags: ACK, seq: t.l(2), ack: t.p(2), tsEcr: 1002 });
      t.send({ flags: ACK, seq: t.p(2), ack: t.l(2), tsVal: 1500, tsEcr: 1 }); // covers Last.ACK.sent: TS.Recent = 1500
      t.recvNothing();
      t.layer.listen(0, LOCAL_PORT, 4);
      t.send({ flags: SYN, seq: t.p(5000), tsVal: 1400 });
      expect(t.layer.stats.timeWaitReused).toBe(0);
      t.recvAll();
      t.send({ flags: SYN, seq: t.p(-5), tsVal: 2000 });
      expect(t.layer.stats.timeWaitReused).toBe(1);
      t.recv({ flags: SYN | ACK, ack: t.p(-4), tsEcr: 2000 });
      expect(c.state).toBe('CLOSED');
    });

    it('connect() to the same 4-tuple: EADDRINUSE without timestamps, the TIME-WAIT reused with them', () => {
      const plain = new Tw(rIsn, iss);
      plain.toTimeWait();
      expect(() => plain.layer.connect(plain.now, IP_B, REMOTE_PORT, { localPort: LOCAL_PORT })).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
      expect(plain.layer.timeWaitRecords).toBe(1);
      const ts = new Tw(rIsn, iss, { timestamps: true });
      const c = ts.toTimeWait(true);
      const again = ts.layer.connect(ts.now, IP_B, REMOTE_PORT, { localPort: LOCAL_PORT });
      expect(again.state).toBe('SYN-SENT');
      expect(c.state).toBe('CLOSED');
      expect(ts.layer.stats.timeWaitReused).toBe(1);
      expect(ts.layer.timeWaitRecords).toBe(0);
    });
  });
}

describe('TIME-WAIT records and the layer', () => {
  it('wait for the last ACK: with no transmit buffer the connection stays until its ACK has left', () => {
    const t = new Tw(20_000, 10_000);
    const c = t.finWait2();
    t.host.blocked = true;
    t.send({ flags: FIN | ACK, seq: t.r(1), ack: t.l(2) });
    t.recvNothing();
    expect(c.state).toBe('TIME-WAIT');
    expect(t.layer.timeWaitRecords).toBe(0);
    t.host.blocked = false;
    t.layer.poll(t.now);
    t.recv({ flags: ACK, seq: t.l(2), ack: t.r(2) });
    expect(t.layer.timeWaitRecords).toBe(1);
  });

  it('hold their local port until they expire (claimPort / releasePort)', () => {
    const t = new Tw(20_000, 10_000);
    const held = new Set<number>();
    const host = t.host as TcpHost;
    host.claimPort = (p) => (held.has(p) ? false : (held.add(p), true));
    host.releasePort = (p) => held.delete(p);
    const c = t.toTimeWait();
    expect(held.has(LOCAL_PORT)).toBe(true);
    t.advance(2 * MSL);
    expect(c.state).toBe('CLOSED');
    expect(held.has(LOCAL_PORT)).toBe(false);
  });

  it('an ephemeral search skips a 4-tuple held by a record', () => {
    const t = new Tw(20_000, 10_000, { ephemeralLow: LOCAL_PORT, ephemeralHigh: LOCAL_PORT });
    t.toTimeWait();
    expect(() => t.layer.connect(t.now, IP_B, REMOTE_PORT)).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
    t.advance(2 * MSL);
    expect(t.layer.connect(t.now, IP_B, REMOTE_PORT).localPort).toBe(LOCAL_PORT);
  });

  it('count against maxTimeWait: the connection past the cap is closed at once', () => {
    const t = new Tw(20_000, 10_000, { maxTimeWait: 1 });
    t.toTimeWait();
    // A second connection on the same layer (another local port) reaches TIME-WAIT past the cap.
    const c2 = t.layer.connect(t.now, IP_B, REMOTE_PORT, { localPort: LOCAL_PORT + 1 });
    const syn = t.recvAll()[0]!;
    const b = (f: Partial<TcpFields>): void => t.send({ ...f, dstPort: LOCAL_PORT + 1 });
    b({ flags: SYN | ACK, seq: 5000, ack: seqAdd(syn.seq, 1), window: 8192 });
    c2.close(t.now);
    b({ flags: ACK, seq: 5001, ack: seqAdd(syn.seq, 2) });
    b({ flags: FIN | ACK, seq: 5001, ack: seqAdd(syn.seq, 2) });
    expect(c2.state).toBe('CLOSED');
    expect(t.layer.stats.timeWaitOverflow).toBe(1);
    expect(t.layer.timeWaitRecords).toBe(1);
  });

  it('abort() of the connection object, and abortAll(), forget the record', () => {
    const t = new Tw(20_000, 10_000);
    const c = t.toTimeWait();
    c.abort(t.now);
    t.recvNothing(); // TIME-WAIT is not synchronized: no RST
    expect(c.state).toBe('CLOSED');
    expect(t.layer.timeWaitRecords).toBe(0);
    expect(t.layer.pollAt(t.now)).toBeUndefined();
    const u = new Tw(20_000, 10_000);
    u.toTimeWait();
    u.layer.abortAll(u.now);
    expect(u.layer.timeWaitRecords).toBe(0);
    expect(u.layer.connectionCount).toBe(0);
  });

  it('an ICMP error quoting a TIME-WAIT 4-tuple is ignored (nothing in flight)', () => {
    const t = new Tw(20_000, 10_000);
    const c = t.toTimeWait();
    t.layer.icmpError(t.now, IP_A, IP_B, LOCAL_PORT, REMOTE_PORT, t.l(1), 'unreachable', 3, 0);
    expect(t.layer.stats.icmpIgnored).toBe(1);
    expect(c.state).toBe('TIME-WAIT');
  });
});
