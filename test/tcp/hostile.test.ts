/** Hostile and malformed input: never thrown, always counted; SYN flood with cookies; random segment fuzzing. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ACK, FIN, IP_A, IP_B, Net, RST, SYN, build, bytes, openPair, transfer } from './harness.js';
import { LOCAL_PORT, REMOTE_SEQ, Tester } from './fixtures.js';
import { bytesEqual } from '../../protocols/util/bytes.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';

describe('malformed segments are dropped and counted', () => {
  it('bad checksum, short header, bad data offset, bad option lengths', () => {
    const t = new Tester();
    const c = t.established();
    const good = build({ srcPort: 80, dstPort: LOCAL_PORT, flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(4));
    const badSum = good.slice();
    badSum[good.length - 1]! ^= 0xff;
    t.layer.input(t.now, IP_B, IP_A, badSum);
    expect(t.layer.stats.badChecksum).toBe(1);
    t.layer.input(t.now, IP_B, IP_A, good.subarray(0, 12));
    const badOff = good.slice();
    badOff[12] = 0x30;
    t.layer.input(t.now, IP_B, IP_A, badOff);
    expect(t.layer.stats.malformed).toBe(2);
    // An MSS option with length 3 (checksum recomputed so only the option is wrong).
    const opt = build({ srcPort: 80, dstPort: LOCAL_PORT, flags: ACK, seq: t.r(1), ack: t.l(1), mss: 1000 });
    opt[21] = 3;
    t.host.rxChecksum = false;
    t.layer.input(t.now, IP_B, IP_A, opt);
    expect(t.layer.stats.badOptions).toBe(1);
    expect(c.readableLength).toBe(0);
    t.recvNothing();
    t.layer.input(t.now, IP_B, IP_A, good);
    expect(c.readableLength).toBe(4);
  });

  it('random bytes never throw', () => {
    const t = new Tester();
    t.established();
    t.host.rxChecksum = false;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 100 }), (b) => {
        t.layer.input(t.now, IP_B, IP_A, b);
      }),
      { numRuns: 3000 },
    );
  });

  it('random well-formed segments against an established connection never throw and keep invariants', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            flags: fc.integer({ min: 0, max: 63 }),
            dseq: fc.integer({ min: -70000, max: 70000 }),
            dack: fc.integer({ min: -70000, max: 70000 }),
            window: fc.integer({ min: 0, max: 65535 }),
            len: fc.integer({ min: 0, max: 1200 }),
            sack: fc.boolean(),
            dt: fc.integer({ min: 0, max: 3000 }),
          }),
          { maxLength: 40 },
        ),
        (segs) => {
          const t = new Tester({ sack: true, timestamps: true, windowScaling: true });
          const c = t.establishedWith({ sackPermitted: true, tsVal: 1, wscale: 2 });
          c.send(t.now, bytes(5000));
          let ts = 2;
          for (const s of segs) {
            t.advance(s.dt);
            if (c.state === 'CLOSED') break;
            t.send(
              {
                flags: s.flags,
                seq: t.r(1 + s.dseq),
                ack: t.l(1 + s.dack),
                window: s.window,
                tsVal: ts++,
                tsEcr: 1,
                sackBlocks: s.sack ? [t.l(1 + s.dack), t.l(1 + s.dack + 1000)] : [],
              },
              bytes(s.len),
            );
            const i = c.info();
            expect(i.bytesInFlight).toBeGreaterThanOrEqual(0);
            expect(i.sackedBytes).toBeGreaterThanOrEqual(0);
            expect(i.lostBytes).toBeGreaterThanOrEqual(0);
            expect(i.unacked).toBeGreaterThanOrEqual(0);
          }
          t.advance(200_000);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('SYN flood against a small backlog', () => {
  it('SYN cookies take over when the SYN queue is full; a cookie ACK establishes a working connection', () => {
    const t = new Tester({ synQueueLimit: 2, timestamps: true, sack: true, windowScaling: true });
    const l = t.layer.listen(0, LOCAL_PORT, 8);
    const synacks = [];
    for (let i = 0; i < 10; i++) {
      t.layer.input(t.now, IP_B, IP_A, build({ srcPort: 1000 + i, dstPort: LOCAL_PORT, flags: SYN, seq: REMOTE_SEQ + i, mss: 1460, tsVal: 77, sackPermitted: true, wscale: 4 }));
      synacks.push(t.recv({ flags: SYN | ACK, ack: REMOTE_SEQ + i + 1 }));
    }
    expect(l.synQueue.size).toBe(2);
    expect(t.layer.stats.synCookiesSent).toBe(8);
    expect(t.layer.connectionCount).toBe(2);
    // Complete a cookie handshake (port 1005) with data.
    const sa = synacks[5]!;
    expect(sa.tsVal).toBeDefined();
    t.layer.input(t.now, IP_B, IP_A, build({ srcPort: 1005, dstPort: LOCAL_PORT, flags: ACK, seq: REMOTE_SEQ + 6, ack: (sa.seq + 1) >>> 0, tsVal: 78, tsEcr: sa.tsVal, window: 1000 }, bytes(10)));
    expect(t.layer.stats.synCookiesValidated).toBe(1);
    const c = l.accept()!;
    expect(c).toBeDefined();
    expect(c.state).toBe('ESTABLISHED');
    expect(c.readableLength).toBe(10);
    expect(c.info().sackPermitted).toBe(true);
    expect(c.info().sndWscale).toBe(4);
    expect(c.info().sndWnd).toBe(1000 << 4);
    c.send(t.now, bytes(20));
    const out = t.recvAll().find((s) => s.payloadLen === 20)!;
    expect(out.seq).toBe((sa.seq + 1) >>> 0);
    expect(out.tsVal! - sa.tsVal!).toBeGreaterThanOrEqual(0);
    // A forged ACK with a wrong cookie is answered with RST and counted.
    t.layer.input(t.now, IP_B, IP_A, build({ srcPort: 1007, dstPort: LOCAL_PORT, flags: ACK, seq: REMOTE_SEQ + 8, ack: 12345 }));
    expect(t.layer.stats.synCookiesFailed).toBe(1);
    t.recv({ flags: RST, seq: 12345 });
  });

  it('without cookies, SYNs beyond the SYN queue are dropped and counted; a full accept queue drops SYNs', () => {
    const t = new Tester({ synQueueLimit: 2, synCookies: false });
    const l = t.layer.listen(0, LOCAL_PORT, 1);
    for (let i = 0; i < 5; i++) t.layer.input(t.now, IP_B, IP_A, build({ srcPort: 2000 + i, dstPort: LOCAL_PORT, flags: SYN, seq: 100 }));
    expect(t.recvAll()).toHaveLength(2);
    expect(t.layer.stats.synQueueDrops).toBe(3);
    t.layer.input(t.now, IP_B, IP_A, build({ srcPort: 2000, dstPort: LOCAL_PORT, flags: ACK, seq: 101, ack: t.l(1) }));
    expect(l.acceptQueue.length).toBe(1);
    t.layer.input(t.now, IP_B, IP_A, build({ srcPort: 3000, dstPort: LOCAL_PORT, flags: SYN, seq: 100 }));
    expect(t.layer.stats.backlogDrops).toBe(1);
  });

  it('between two layers: a flood of connects with a SYN queue of 1 all complete through cookies and carry data', () => {
    const net = new Net(3, {}, { synQueueLimit: 1 });
    const l = net.b.listen(0, 80, 64);
    const clients: TcpConnection[] = [];
    for (let i = 0; i < 20; i++) clients.push(net.a.connect(net.now, IP_B, 80));
    expect(net.run(() => clients.every((c) => c.state === 'ESTABLISHED') && l.acceptQueue.length === 20)).toBe(true);
    expect(net.b.stats.synCookiesSent).toBeGreaterThan(0);
    expect(net.b.stats.synCookiesValidated).toBe(net.b.stats.synCookiesSent);
    const servers: TcpConnection[] = [];
    for (let s = l.accept(); s; s = l.accept()) servers.push(s);
    expect(servers).toHaveLength(20);
    for (const [i, c] of clients.entries()) {
      const srv = servers.find((s) => s.remotePort === c.localPort)!;
      const d = bytes(3000, i);
      expect(bytesEqual(transfer(net, c, srv, d), d)).toBe(true);
    }
  });
});

describe('RST and SYN attacks on an established connection (RFC 5961)', () => {
  it('a blind in-window RST only draws a challenge ACK; the connection keeps working', () => {
    const net = new Net(5);
    const { client, server } = openPair(net);
    const d = bytes(5000, 1);
    transfer(net, client, server, d);
    for (let i = 1; i < 50; i++) {
      net.a.input(net.now, IP_B, IP_A, build({ srcPort: server.localPort, dstPort: client.localPort, flags: RST, seq: (i * 997) >>> 0 }, undefined, IP_B, IP_A));
    }
    expect(client.state).toBe('ESTABLISHED');
    const d2 = bytes(5000, 2);
    expect(bytesEqual(transfer(net, server, client, d2), d2)).toBe(true);
  });
  it('FIN for data never sent, and SYN+FIN, do not break the state machine', () => {
    const t = new Tester();
    const c = t.established();
    t.send({ flags: SYN | FIN, seq: t.r(1), ack: t.l(1) });
    expect(c.state).toBe('ESTABLISHED');
    t.send({ flags: FIN | ACK, seq: t.r(1), ack: t.l(50) });
    expect(c.state).toBe('ESTABLISHED');
    expect(t.layer.stats.badAck).toBe(1);
  });
});
