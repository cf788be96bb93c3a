/** Loss recovery: fast retransmit + NewReno (RFC 5681 / 6582), SACK recovery (RFC 6675), RACK-TLP (RFC 8985). */
import { describe, expect, it } from 'vitest';
import { ACK, bytes } from './harness.js';
import { Tester } from './fixtures.js';

const MSS = 1000;

describe('fast retransmit and NewReno (no SACK)', () => {
  it('3 duplicate ACKs retransmit the first segment; a partial ACK the next; a full ACK ends recovery', () => {
    const t = new Tester();
    const c = t.establishedWith({});
    c.send(t.now, bytes(10 * MSS));
    expect(t.recvAll()).toHaveLength(10);
    const dup = () => t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + MSS), window: 65535 });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + MSS), window: 65535 });
    t.recvAll();
    dup();
    dup();
    t.recvNothing();
    dup();
    const rx = t.recvAll();
    expect(rx[0]).toMatchObject({ seq: t.l(1 + MSS), payloadLen: MSS });
    const i = c.info();
    expect(i.inRecovery).toBe(true);
    expect(i.fastRecoveries).toBe(1);
    expect(i.cwnd).toBeLessThan(12 * MSS);
    // Partial ACK (RFC 6582 3.2 step 5): the next hole is retransmitted at once.
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 3 * MSS), window: 65535 });
    expect(t.recvAll()[0]).toMatchObject({ seq: t.l(1 + 3 * MSS), payloadLen: MSS });
    expect(c.info().inRecovery).toBe(true);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 10 * MSS), window: 65535 });
    expect(c.info().inRecovery).toBe(false);
    expect(c.info().retransmits).toBe(2);
    expect(c.info().rtoCount).toBe(0);
  });
  it('a window update is not a duplicate ACK', () => {
    const t = new Tester();
    const c = t.establishedWith({});
    c.send(t.now, bytes(5 * MSS));
    t.recvAll();
    for (let w = 0; w < 4; w++) t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 60000 + w });
    expect(c.info().inRecovery).toBe(false);
    t.recvNothing();
  });
});

describe('SACK loss recovery (RFC 6675)', () => {
  it('more than 2*SMSS SACKed above a hole marks it lost and retransmits it at once', () => {
    const t = new Tester({ sack: true, timestamps: false });
    const c = t.establishedWith({ sackPermitted: true }, 40);
    c.send(t.now, bytes(10 * MSS));
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), sackBlocks: [t.l(1 + MSS), t.l(1 + 2 * MSS)] });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), sackBlocks: [t.l(1 + MSS), t.l(1 + 3 * MSS)] });
    t.recvNothing();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), sackBlocks: [t.l(1 + MSS), t.l(1 + 4 * MSS)] });
    const rx = t.recvAll();
    expect(rx[0]).toMatchObject({ seq: t.l(1), payloadLen: MSS });
    expect(rx.filter((s) => s.seq === t.l(1 + MSS))).toHaveLength(0); // SACKed data is not resent
    const i = c.info();
    expect(i.inRecovery).toBe(true);
    expect(i.sackedBytes).toBe(3 * MSS);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 10 * MSS) });
    expect(c.info().inRecovery).toBe(false);
    expect(c.info().sackedBytes).toBe(0);
  });
  it('SACK blocks outside (SND.UNA, SND.NXT] are ignored', () => {
    const t = new Tester({ sack: true });
    const c = t.establishedWith({ sackPermitted: true });
    c.send(t.now, bytes(3 * MSS));
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), sackBlocks: [t.l(5000), t.l(9000)] });
    expect(c.info().sackedBytes).toBe(0);
  });
});

describe('RACK-TLP (RFC 8985)', () => {
  it('RACK marks a segment lost after rtt + reo_wnd once a later one is delivered (reordering timer)', () => {
    const t = new Tester({ sack: true });
    const c = t.establishedWith({ sackPermitted: true }, 40); // min RTT 40 -> reo_wnd 10
    c.send(t.now, bytes(2 * MSS));
    expect(t.recvAll()).toHaveLength(2);
    t.advance(40);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), sackBlocks: [t.l(1 + MSS), t.l(1 + 2 * MSS)] });
    t.recvNothing(); // within the reordering window
    t.advance(9);
    t.recvNothing();
    t.advance(1);
    t.recv({ seq: t.l(1), payloadLen: MSS });
    expect(c.info().rackLosses).toBe(1);
    expect(c.info().rtoCount).toBe(0);
  });
  it('a D-SACK widens the reordering window (RFC 8985 6.2 step 4)', () => {
    const t = new Tester({ sack: true });
    const c = t.establishedWith({ sackPermitted: true }, 40);
    c.send(t.now, bytes(MSS));
    t.recvAll();
    // The ACK is late: the tail-loss probe retransmits the segment, and the receiver D-SACKs the probe. (A D-SACK
    // for data never retransmitted is dubious, the network's duplicate, and widens nothing: Linux tcp_dsack_seen.)
    let probed = false;
    for (let i = 0; i < 100 && !probed; i++) {
      t.advance(10);
      probed = t.recvAll().some((s) => s.seq === t.l(1) && s.payload.length === MSS);
    }
    expect(probed).toBe(true);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + MSS), sackBlocks: [t.l(1), t.l(1 + MSS)] }); // D-SACK
    expect(c.info().dsacksReceived).toBe(1);
    expect(c.info().retransmits).toBe(1);
    c.send(t.now, bytes(2 * MSS));
    expect(t.recvAll()).toHaveLength(2);
    t.advance(40);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + MSS), sackBlocks: [t.l(1 + 2 * MSS), t.l(1 + 3 * MSS)] });
    t.advance(19);
    t.recvNothing(); // reo_wnd = 2 * min_rtt / 4 = 20 ms now
    t.advance(1);
    t.recv({ seq: t.l(1 + MSS), payloadLen: MSS });
  });
  it('a cumulative ACK over SACKed data does not feed RACK again: RACK.rtt stays an RTT, no reordering recorded', () => {
    // RFC 8985 6.2 step 2 is for newly delivered segments (Linux calls tcp_rack_advance only for those): segments
    // SACKed before and then covered by the ACK that ends the recovery would set RACK.rtt to their age and, lying
    // below RACK.fack, look reordered on a path that never reorders.
    const t = new Tester({ sack: true, timestamps: false });
    const c = t.establishedWith({ sackPermitted: true }, 40);
    c.send(t.now, bytes(10 * MSS));
    expect(t.recvAll()).toHaveLength(10);
    t.advance(40);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), sackBlocks: [t.l(1 + MSS), t.l(1 + 10 * MSS)] });
    expect(t.recvAll()[0]).toMatchObject({ seq: t.l(1), payloadLen: MSS }); // the first segment was lost
    expect(c.info().inRecovery).toBe(true);
    expect(c.rec.rackRtt).toBe(40);
    t.advance(40);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 10 * MSS) }); // the retransmission arrived
    expect(c.info().inRecovery).toBe(false);
    expect(c.rec.rackRtt).toBe(40); // the retransmission's RTT, not the SACKed segments' age (80)
    expect(c.rec.reorder.seen).toBe(false);
    expect(c.info().reordSeen).toBe(0);
    expect(c.info().reordering).toBe(3);
  });
  it('a tail loss is repaired by a probe (TLP) before the RTO', () => {
    const t = new Tester({ sack: true });
    const c = t.establishedWith({ sackPermitted: true }, 40);
    c.send(t.now, bytes(3 * MSS));
    expect(t.recvAll()).toHaveLength(3);
    t.advance(40);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 2 * MSS) }); // the last segment was lost
    const start = t.now;
    let probeAt = -1;
    for (let i = 0; i < 100 && probeAt < 0; i++) {
      t.advance(10);
      const rx = t.recvAll();
      if (rx.length > 0) {
        expect(rx[0]).toMatchObject({ seq: t.l(1 + 2 * MSS), payloadLen: MSS });
        probeAt = t.now - start;
      }
    }
    // PTO = max(2*SRTT, 1.5*SRTT + 200 ms) with one segment in flight; RTO is 1 s.
    expect(probeAt).toBe(260);
    expect(c.info().tlpProbes).toBe(1);
    expect(c.info().rtoCount).toBe(0);
    // The probe repaired a real loss (no D-SACK, and the ACK after it moves past the probe): cwnd is reduced once.
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 3 * MSS) });
    expect(t.layer.stats.tlpRecoveries).toBe(0); // not yet: a D-SACK could still follow
    c.send(t.now, bytes(MSS));
    t.recvAll();
    const before = c.info().cwnd;
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 4 * MSS) });
    expect(t.layer.stats.tlpRecoveries).toBe(1);
    expect(c.info().cwnd).toBeLessThan(before);
  });
});

describe('TLP without a loss', () => {
  it('a D-SACK for the probe means nothing was lost: cwnd is not reduced', () => {
    const t = new Tester({ sack: true });
    const c = t.establishedWith({ sackPermitted: true }, 40);
    c.send(t.now, bytes(MSS));
    t.recvAll();
    t.advance(260);
    t.recv({ seq: t.l(1), payloadLen: MSS }); // the probe
    const before = c.info().cwnd;
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + MSS) }); // the original's ACK (it was only slow)
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + MSS), sackBlocks: [t.l(1), t.l(1 + MSS)] }); // D-SACK for the probe
    expect(t.layer.stats.tlpRecoveries).toBe(0);
    expect(c.info().cwnd).toBeGreaterThanOrEqual(before);
  });
});

describe('retransmission timeout and congestion control', () => {
  it('RTO collapses cwnd to one segment and retransmits from SND.UNA, skipping SACKed data', () => {
    const t = new Tester({ sack: true });
    const c = t.establishedWith({ sackPermitted: true }, 40);
    c.send(t.now, bytes(4 * MSS));
    t.recvAll();
    t.advance(40);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), sackBlocks: [t.l(1 + MSS), t.l(1 + 2 * MSS)] });
    let rx: ReturnType<typeof t.recvAll> = [];
    for (let i = 0; i < 300 && c.info().rtoCount === 0; i++) {
      rx = t.recvAll();
      t.advance(10);
    }
    expect(c.info().rtoCount).toBe(1);
    rx = t.recvAll();
    expect(rx[0]!.seq).toBe(t.l(1));
    expect(rx).toHaveLength(1); // cwnd = 1 SMSS (RFC 5681 3.1)
    expect(c.info().cwnd).toBe(c.info().sndMss);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + MSS), sackBlocks: [t.l(1 + MSS), t.l(1 + 2 * MSS)] });
    const more = t.recvAll();
    expect(more.every((s) => s.seq !== t.l(1 + MSS))).toBe(true);
    expect(more.map((s) => s.seq)).toContain(t.l(1 + 2 * MSS));
  });
  it('cwnd grows in slow start as data is acknowledged', () => {
    const t = new Tester();
    const c = t.establishedWith({});
    const w0 = c.info().cwnd;
    c.send(t.now, bytes(30 * MSS));
    expect(t.recvAll().length * MSS).toBe(w0 - (w0 % MSS)); // the initial window is filled
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 4 * MSS) });
    expect(c.info().cwnd).toBeGreaterThan(w0);
  });
});

describe('congestion window validation', () => {
  it('an application-limited sender does not grow cwnd', () => {
    const t = new Tester();
    const c = t.establishedWith({});
    const w0 = c.info().cwnd;
    for (let i = 0; i < 50; i++) {
      c.send(t.now, bytes(100));
      const s = t.recv({ payloadLen: 100 });
      t.send({ flags: ACK, seq: t.r(1), ack: (s.seq + 100) >>> 0 });
    }
    expect(c.info().cwnd).toBe(w0);
  });
});

describe('loss response (RFC 5681 eq. 4, RFC 9438 4.6)', () => {
  it('entering recovery or an RTO never raises cwnd, even when SACKed data inflates SND.NXT - SND.UNA', async () => {
    const { cubic } = await import('../../protocols/tcp/cc/index.js');
    const { Net, openPair, transfer } = await import('./harness.js');
    const raised: string[] = [];
    let responses = 0;
    const watch: typeof cubic = (o) => {
      const cc = cubic(o);
      return {
        get name() {
          return cc.name;
        },
        get cwnd() {
          return cc.cwnd;
        },
        get ssthresh() {
          return cc.ssthresh;
        },
        onAck: (n, a, f, r) => cc.onAck(n, a, f, r),
        onEnterRecovery: (n, f) => {
          const before = cc.cwnd;
          cc.onEnterRecovery(n, f);
          responses++;
          if (cc.cwnd > before) raised.push(`recovery ${before} -> ${cc.cwnd} (flight ${f})`);
        },
        onExitRecovery: (n) => cc.onExitRecovery(n),
        onRto: (n, f) => {
          const before = cc.cwnd;
          cc.onRto(n, f);
          responses++;
          if (cc.cwnd > before) raised.push(`rto ${before} -> ${cc.cwnd}`);
        },
        setMss: (m) => cc.setMss(m),
      };
    };
    for (const seed of [1, 2, 3]) {
      const net = new Net(seed, { congestionControl: watch, sendBuffer: 1 << 20, receiveBuffer: 1 << 20 });
      const { client, server } = openPair(net);
      net.loss = 0.03;
      net.reorder = 0.02;
      transfer(net, client, server, bytes(2_000_000, seed));
    }
    expect(responses).toBeGreaterThan(10);
    expect(raised).toEqual([]);
  });
});

describe("lost segments as Linux's lost_out counts them (TcpInfo.lostOutBytes, tcpi_lost)", () => {
  it('a lost segment stays counted after its retransmission until it is delivered, and never twice', () => {
    const t = new Tester({ sack: true, timestamps: false });
    const c = t.establishedWith({ sackPermitted: true }, 40);
    c.send(t.now, bytes(10 * MSS));
    t.recvAll();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), sackBlocks: [t.l(1 + MSS), t.l(1 + 4 * MSS)] });
    expect(t.recvAll()[0]).toMatchObject({ seq: t.l(1), payloadLen: MSS });
    expect(c.info()).toMatchObject({ lostBytes: 0, lostOutBytes: MSS, sackedBytes: 3 * MSS });
    // A timeout marks every un-SACKed segment lost again, the retransmitted one included: counted once.
    t.advance(3000);
    expect(c.info().rtoCount).toBe(1);
    expect(c.info().lostOutBytes).toBe(7 * MSS);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + MSS), sackBlocks: [t.l(1 + MSS), t.l(1 + 4 * MSS)] });
    expect(c.info().lostOutBytes).toBe(6 * MSS);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 10 * MSS) });
    expect(c.info()).toMatchObject({ lostBytes: 0, lostOutBytes: 0 });
  });
});
