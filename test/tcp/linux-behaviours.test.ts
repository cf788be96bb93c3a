/**
 * Behaviours the packetdrill scripts expect of a Linux-like TCP, on the virtual clock: the delayed ACK of a FIN
 * (delayFinAck) and no window update when the window field cannot grow (RFC 9293 3.8.6.2.2 receiver SWS).
 */
import { describe, expect, it } from 'vitest';
import { ACK, FIN, SYN, bytes } from './harness.js';
import { Tester } from './fixtures.js';
import { cubic, newReno } from '../../protocols/tcp/cc/index.js';

const LOCAL_PORT_FOR_LISTEN = 8080;

describe('delayFinAck (Linux: tcp_fin enters ping-pong mode)', () => {
  it("ACKs a FIN arriving in ESTABLISHED after delayedAckMs, and a close() within that time carries the ACK on its FIN", () => {
    const t = new Tester({ delayFinAck: true, delayedAckMs: 40 });
    const c = t.established();
    t.send({ flags: ACK | FIN, seq: t.r(1), ack: t.l(1) });
    expect(c.state).toBe('CLOSE-WAIT');
    t.recvNothing();
    t.advance(39);
    t.recvNothing();
    t.advance(1);
    t.recv({ flags: ACK, seq: t.l(1), ack: t.r(2) });

    const u = new Tester({ delayFinAck: true, delayedAckMs: 40 });
    const d = u.established();
    u.send({ flags: ACK | FIN, seq: u.r(1), ack: u.l(1) });
    u.advance(10);
    u.recvNothing();
    d.close(u.now);
    u.recv({ flags: ACK | FIN, seq: u.l(1), ack: u.r(2) });
    u.advance(100);
    u.recvNothing();
  });

  it('sends at once an ACK owed for data that came with the FIN (quick-ACK mode); without the option, every FIN at once', () => {
    const t = new Tester({ delayFinAck: true, quickAcks: 16 });
    t.established();
    t.send({ flags: ACK | FIN, seq: t.r(1), ack: t.l(1) }, bytes(100));
    t.recv({ flags: ACK, ack: t.r(102) });
    const plain = new Tester();
    plain.established();
    plain.send({ flags: ACK | FIN, seq: plain.r(1), ack: plain.l(1) });
    plain.recv({ flags: ACK, ack: plain.r(2) });
  });

  it('ACKs a FIN at once in FIN-WAIT-2 (the connection goes to TIME-WAIT; Linux also answers at once)', () => {
    const t = new Tester({ delayFinAck: true });
    const c = t.established();
    c.close(t.now);
    t.recv({ flags: ACK | FIN, seq: t.l(1) });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(2) });
    expect(c.state).toBe('FIN-WAIT-2');
    t.send({ flags: ACK | FIN, seq: t.r(1), ack: t.l(2) });
    t.recv({ flags: ACK, ack: t.r(2) });
  });
});

describe('window updates (RFC 9293 3.8.6.2.2)', () => {
  it('sends none after a read when the buffer is larger than the unscaled window can show', () => {
    // 256 KiB buffer without window scaling: the window field is 65535 at most, so reading 1000 bytes back
    // cannot open it by more than 1000 bytes, less than the update threshold (2 segments).
    const t = new Tester({ receiveBuffer: 256 * 1024, maxReceiveBuffer: 256 * 1024, quickAcks: 16 });
    const c = t.established();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(1000));
    t.recv({ flags: ACK, ack: t.r(1001), window: 65535 - 1000 });
    expect(c.read(t.now, new Uint8Array(1000))).toBe(1000);
    t.recvNothing();
  });

  it('sends none after reads that leave nothing new to ACK while the window stays above half the buffer (Linux tcp_cleanup_rbuf)', () => {
    // A bulk receiver read in views: the ACK of the data went out after the batch; reading it back raises the window
    // by 2 segments, which needs no ACK of its own while more than half the buffer is still offered.
    const t = new Tester({ receiveBuffer: 65535, maxReceiveBuffer: 65535, quickAcks: 0 });
    const c = t.established();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(1460));
    t.recvNothing(); // one segment: the ACK is delayed
    t.send({ flags: ACK, seq: t.r(1461), ack: t.l(1) }, bytes(1460));
    t.recv({ flags: ACK, ack: t.r(2921), window: 65535 - 2920 });
    expect(c.readView(t.now, 1000).length).toBe(1000);
    expect(c.readView(t.now, 65536).length).toBe(1920);
    t.recvNothing();
    // The next data's ACK carries the window the reads opened.
    t.send({ flags: ACK, seq: t.r(2921), ack: t.l(1) }, bytes(1460));
    t.send({ flags: ACK, seq: t.r(4381), ack: t.l(1) }, bytes(1460));
    t.recv({ flags: ACK, ack: t.r(5841), window: 65535 - 2920 });
  });

  it('sends one when the read at least doubles a window that was at most half the buffer', () => {
    const t = new Tester({ quickAcks: 0 }); // 8192-byte buffer
    const c = t.established();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(6000));
    t.recv({ flags: ACK, ack: t.r(6001), window: 8192 - 6000 });
    expect(c.read(t.now, new Uint8Array(8192))).toBe(6000);
    t.recv({ flags: ACK, ack: t.r(6001), window: 8192 });
  });
});

describe('handshake RTT sample on a passive open (RFC 6298 3; Linux tcp_synack_rtt_meas)', () => {
  const passive = (t: Tester, synAckRetransmitted: boolean): import('../../protocols/tcp/connection.js').TcpConnection => {
    const l = t.layer.listen(0, LOCAL_PORT_FOR_LISTEN, 8);
    t.send({ flags: SYN, seq: 5000, dstPort: LOCAL_PORT_FOR_LISTEN, window: 65535, mss: 1000 });
    const synAck = t.recv({ flags: SYN | ACK });
    if (synAckRetransmitted) {
      t.advance(1000);
      t.recv({ flags: SYN | ACK });
    }
    t.advance(100);
    t.send({ flags: ACK, seq: 5001, ack: (synAck.seq + 1) >>> 0, dstPort: LOCAL_PORT_FOR_LISTEN, window: 65535 });
    const c = l.accept();
    expect(c?.state).toBe('ESTABLISHED');
    return c!;
  };

  it('takes the SYN-ACK to ACK time as the first RTT sample (RTO = SRTT + max(minRto, 4 RTTVAR) with the Linux formula)', () => {
    const c = passive(new Tester({ minRto: 200, rtoFormula: 'linux' }), false);
    expect(c.info().srtt).toBe(100);
    expect(c.info().rto).toBe(100 + 200);
  });

  it('takes none when the SYN-ACK was retransmitted (Karn)', () => {
    const c = passive(new Tester({ minRto: 200 }), true);
    expect(c.info().srtt).toBeUndefined();
  });
});

describe('caState (Linux tcpi_ca_state)', () => {
  it('goes open -> disorder (a SACK) -> recovery (three SACKed above a hole) -> open (all ACKed) -> loss (RTO)', () => {
    const t = new Tester({ sack: true, rtoSpread: 0 });
    // a 100 ms path: RACK's reordering window (min_RTT / 4) keeps a single SACK from marking a loss at once
    const c = t.establishedWith({ sackPermitted: true, mss: 1000 }, 100);
    expect(c.info().caState).toBe('open');
    c.send(t.now, bytes(5000));
    t.recvAll();
    t.advance(100);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), sackBlocks: [t.l(1001), t.l(2001)] });
    expect(c.info().caState).toBe('disorder');
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), sackBlocks: [t.l(1001), t.l(4001)] });
    expect(c.info().caState).toBe('recovery');
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(5001) });
    expect(c.info().caState).toBe('open');
    c.send(t.now, bytes(1000));
    t.recvAll();
    t.advance(5000);
    expect(c.info().rtoCount).toBeGreaterThan(0);
    expect(c.info().caState).toBe('loss');
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(6001) });
    expect(c.info().caState).toBe('open');
  });
});

describe('D-SACK for in-order data that repeats bytes held out of order (RFC 2883 section 4)', () => {
  it('reports the lowest repeated out-of-order run first, then the SACK blocks still held', () => {
    const t = new Tester({ sack: true, quickAcks: 16, receiveBuffer: 65535, maxReceiveBuffer: 65535 });
    t.established({ sackPermitted: true });
    t.send({ flags: ACK, seq: t.r(1001), ack: t.l(1) }, bytes(2000));
    t.recv({ ack: t.r(1), sackBlocks: [t.r(1001), t.r(3001)] });
    t.send({ flags: ACK, seq: t.r(7001), ack: t.l(1) }, bytes(1000));
    t.recv({ ack: t.r(1), sackBlocks: [t.r(7001), t.r(8001), t.r(1001), t.r(3001)] });
    // 1:6001 in order covers the held 1001:3001: D-SACK it, then the block still held
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(6000));
    t.recv({ ack: t.r(6001), sackBlocks: [t.r(1001), t.r(3001), t.r(7001), t.r(8001)] });
  });
});

describe('sender-limit times (chrono.ts; Linux tcpi_busy_time / tcpi_rwnd_limited)', () => {
  it('counts time blocked by a zero window as receiver-limited, time with data in flight as busy, idle as neither', () => {
    const t = new Tester({ rtoSpread: 0 });
    const c = t.established({ window: 0 });
    expect(c.info(t.now)).toMatchObject({ busyTime: 0, rwndLimited: 0 });
    c.send(t.now, bytes(100));
    t.recvNothing();
    t.advance(150);
    expect(c.info(t.now)).toMatchObject({ busyTime: 150, rwndLimited: 150 });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 1000 }); // the window opens: the data leaves
    t.recv({ seq: t.l(1), payloadLen: 100 });
    t.advance(30);
    expect(c.info(t.now)).toMatchObject({ busyTime: 180, rwndLimited: 150 });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(101), window: 1000 }); // all ACKed: idle from here
    t.advance(500);
    expect(c.info(t.now)).toMatchObject({ busyTime: 180, rwndLimited: 150, sndbufLimited: 0 });
  });
});

describe('slowStartAfterIdle (RFC 5681 4.1, Linux tcp_slow_start_after_idle)', () => {
  const grownThenIdle = (opts: Record<string, unknown>, idleMs: number) => {
    const t = new Tester({ rtoSpread: 0, minRto: 200, receiveBuffer: 65535, maxReceiveBuffer: 65535, ...opts });
    const c = t.establishedWith({ mss: 1000, window: 65535 }, 100);
    c.send(t.now, bytes(10_000));
    t.recvAll();
    t.advance(100);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(10_001), window: 65535 }); // slow start, one ACK: cwnd 10 -> 12 segments (RFC 3465 L = 2)
    const grown = c.info().cwnd;
    t.advance(idleMs);
    c.send(t.now, bytes(30_000));
    return { grown, after: c.info().cwnd, sent: t.recvAll().length };
  };

  it('restarts from the initial window after an idle period longer than the RTO (CUBIC and NewReno)', () => {
    for (const cc of [cubic, newReno]) {
      const r = grownThenIdle({ slowStartAfterIdle: true, congestionControl: cc }, 2000);
      expect(r.grown).toBe(12_000);
      expect(r.after).toBe(10_000);
      expect(r.sent).toBe(10);
    }
  });

  it('keeps cwnd after a pause shorter than the RTO, and always when the option is off', () => {
    expect(grownThenIdle({ slowStartAfterIdle: true }, 100)).toMatchObject({ after: 12_000, sent: 12 });
    expect(grownThenIdle({}, 2000)).toMatchObject({ after: 12_000, sent: 12 });
  });
});

describe('TcpInfo retransOut, probes, minRtt (Linux tcpi_retrans, tcpi_probes, tcpi_min_rtt)', () => {
  it('counts a retransmitted segment until it is ACKed, and keeps the smallest RTT sample', () => {
    const t = new Tester({ rtoSpread: 0 });
    const c = t.establishedWith({ mss: 1000 }, 50);
    expect(c.info().minRtt).toBe(50);
    c.send(t.now, bytes(100));
    t.recvAll();
    t.advance(1000); // RTO (1 s in these fixtures): the segment is sent again
    t.recv({ seq: t.l(1), payloadLen: 100 });
    expect(c.info().retransOut).toBe(1);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(101) });
    expect(c.info().retransOut).toBe(0);
  });

  it('counts zero-window probes until the peer answers', () => {
    const t = new Tester({ rtoSpread: 0 });
    const c = t.established({ window: 0 });
    c.send(t.now, bytes(100));
    t.advance(1000);
    expect(t.recvAll().length).toBe(1);
    expect(c.info().probes).toBe(1);
    t.advance(2000);
    expect(t.recvAll().length).toBe(1);
    expect(c.info().probes).toBe(2);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 0 });
    expect(c.info().probes).toBe(0);
  });
});

describe('setUserTimeout (RFC 5482 local user timeout, Linux TCP_USER_TIMEOUT)', () => {
  it('drops the connection with ETIMEDOUT at the first retransmission timeout past the user timeout', () => {
    const t = new Tester({ rtoSpread: 0 });
    const c = t.established();
    c.setUserTimeout(2500);
    c.send(t.now, bytes(100));
    t.recvAll();
    t.advance(1000); // RTO 1 s: retransmission, 1 s waited
    t.recv({ seq: t.l(1), payloadLen: 100 });
    t.advance(2000); // next RTO at 3 s: 3 s > 2.5 s waited
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ETIMEDOUT']);
  });

  it('counts from the last progress: ACKs that advance SND.UNA restart the wait; 0 turns it off', () => {
    const t = new Tester({ rtoSpread: 0 });
    const c = t.established();
    c.setUserTimeout(1500);
    c.send(t.now, bytes(200));
    t.recvAll();
    t.advance(900);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(101) }); // progress at 0.9 s
    t.advance(1000); // RTO at 1.9 s: 1 s since progress
    expect(c.state).toBe('ESTABLISHED');
    c.setUserTimeout(0);
    t.advance(4000);
    expect(c.state).toBe('ESTABLISHED');
    expect(() => c.setUserTimeout(-1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('ends zero-window probing once the data has waited longer than the user timeout', () => {
    const t = new Tester({ rtoSpread: 0 });
    const c = t.established({ window: 0 });
    c.setUserTimeout(2000);
    c.send(t.now, bytes(100));
    t.advance(1000);
    expect(t.recvAll()).toHaveLength(1); // the first probe
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 0 }); // answered, window still closed
    t.advance(2000); // next probe time: 3 s waited
    expect(c.state).toBe('CLOSED');
    expect(t.closedWith).toEqual(['ETIMEDOUT']);
  });
});

describe("tail-loss probe timer with rtoFormula 'linux' (Linux tcp_schedule_loss_probe)", () => {
  const probeAfter = (opts: Partial<import('../../protocols/tcp/options.js').TcpOptions>, len: number): number => {
    const t = new Tester({ sack: true, noDelay: true, initialWindowSegments: 10, sendBuffer: 64 * 1024, minRto: 200, ...opts });
    const c = t.establishedWith({ sackPermitted: true, window: 65535, mss: 1000 }, 10);
    c.send(t.now, bytes(len));
    t.recvAll();
    const start = t.now;
    for (let i = 0; i < 1000; i++) {
      t.advance(1);
      if (t.recvAll().length > 0) return t.now - start;
    }
    return -1;
  };

  it('probes 2 SRTT + 2 ms after the last send with several segments out, 2 SRTT + minRto with one (capped by the RTO)', () => {
    expect(probeAfter({ rtoFormula: 'linux' }, 3000)).toBe(22);
    // 2 * 10 + 200 ms, but the RTO (SRTT + 200 ms) comes first.
    expect(probeAfter({ rtoFormula: 'linux' }, 1000)).toBe(210);
    // RFC 8985 7.2 as byway does by default: 2 SRTT, at least 10 ms; one segment: at least 1.5 SRTT + 200 ms,
    // capped by the RTO (200 ms here).
    expect(probeAfter({}, 3000)).toBe(20);
    expect(probeAfter({}, 1000)).toBe(200);
  });
});
