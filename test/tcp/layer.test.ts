/** Layer-level behaviour: ports (RFC 6056), 4-tuple reuse, simultaneous close, half-close, backpressure, limits. */
import { describe, expect, it, vi } from 'vitest';
import { ACK, FIN, IP_A, IP_B, Net, RST, bytes, openPair, transfer, build } from './harness.js';
import { LOCAL_PORT, Tester } from './fixtures.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { bytesEqual } from '../../protocols/util/bytes.js';
import { ByteRing } from '../../protocols/tcp/byte-ring.js';

describe('ephemeral ports (RFC 6056 algorithm 3)', () => {
  it('are in range, distinct per destination, and not predictable from a sequential counter', () => {
    const t = new Tester({ ephemeralLow: 50000, ephemeralHigh: 50099 });
    const ports = new Set<number>();
    for (let i = 0; i < 100; i++) ports.add(t.layer.connect(0, IP_B, 80).localPort);
    expect(ports.size).toBe(100);
    for (const p of ports) expect(p >= 50000 && p <= 50099).toBe(true);
    expect(() => t.layer.connect(0, IP_B, 80)).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
    // Another destination port has its own offset: its ports are still free.
    expect(t.layer.connect(0, IP_B, 81).localPort).toBeGreaterThanOrEqual(50000);
  });
  it('differ between layers with different secrets', () => {
    const a = new Tester({}, 1);
    const b = new Tester({}, 1);
    (b.layer as unknown as { ports: { key: Uint8Array } }).ports.key[0]! ^= 0xff; // the secret of RFC 6056's F (ports.ts)
    const pa = a.layer.connect(0, IP_B, 80).localPort;
    const pb = b.layer.connect(0, IP_B, 80).localPort;
    expect(pa === pb && a.layer.connect(0, IP_B, 80).localPort === b.layer.connect(0, IP_B, 80).localPort).toBe(false);
  });
  it('connect() to a 4-tuple in use throws EADDRINUSE', () => {
    const t = new Tester();
    t.established();
    expect(() => t.layer.connect(0, IP_B, 80, { localPort: LOCAL_PORT })).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
  });
});

describe('closing between two layers', () => {
  it('simultaneous close: both FIN-WAIT-1 -> CLOSING -> TIME-WAIT', () => {
    const net = new Net(11);
    const { client, server } = openPair(net);
    net.latency = 5;
    const seen = new Set<string>();
    client.close(net.now);
    server.close(net.now);
    net.run(() => {
      seen.add(client.state);
      return client.state === 'TIME-WAIT' && server.state === 'TIME-WAIT';
    });
    expect(seen.has('CLOSING')).toBe(true);
    expect(client.state).toBe('TIME-WAIT');
    expect(server.state).toBe('TIME-WAIT');
  });
  it('half-close: the side that shut down keeps receiving until the peer closes', () => {
    const net = new Net(12);
    const { client, server } = openPair(net);
    client.shutdown(net.now);
    expect(net.run(() => server.state === 'CLOSE-WAIT' && client.state === 'FIN-WAIT-2')).toBe(true);
    const d = bytes(80_000, 5);
    expect(bytesEqual(transfer(net, server, client, d), d)).toBe(true);
    server.close(net.now);
    expect(net.run(() => client.state === 'TIME-WAIT' && server.state === 'CLOSED')).toBe(true);
  });
  it('a RST from the peer reports ECONNRESET on the other side', () => {
    const net = new Net(13);
    const { client, server } = openPair(net);
    let err: string | undefined;
    client.onClose = (e) => (err = e);
    server.abort(net.now);
    expect(net.run(() => client.state === 'CLOSED')).toBe(true);
    expect(err).toBe('ECONNRESET');
  });
  it('connect to a port nobody listens on -> ECONNREFUSED', () => {
    const net = new Net(14);
    const c = net.a.connect(0, IP_B, 9);
    let err: string | undefined;
    c.onClose = (e) => (err = e);
    expect(net.run(() => c.state === 'CLOSED')).toBe(true);
    expect(err).toBe('ECONNREFUSED');
    expect(net.b.stats.noSocket).toBe(1);
  });
});

describe('limits and backpressure', () => {
  it('the TIME-WAIT cap closes extra connections at once', () => {
    const t = new Tester({ maxTimeWait: 0 });
    const c = t.finWait2();
    t.send({ flags: FIN | ACK, seq: t.r(1), ack: t.l(2) });
    expect(c.state).toBe('CLOSED');
    expect(t.layer.stats.timeWaitOverflow).toBe(1);
  });
  it('when the host lends no buffer, output waits: pollAt() = now and poll() sends it', () => {
    const t = new Tester();
    const c = t.established();
    t.host.blocked = true;
    c.send(t.now, bytes(100));
    expect(t.layer.stats.txBlocked).toBeGreaterThan(0);
    expect(t.layer.pollAt(t.now)).toBe(t.now);
    t.host.blocked = false;
    t.layer.poll(t.now);
    t.recv({ seq: t.l(1), payloadLen: 100 });
    expect(c.info().unacked).toBe(100);
  });
  it('a connection that finds no transmit buffer is retried once per poll, not over and over within it', () => {
    const t = new Tester();
    const c = t.established();
    t.host.blocked = true;
    c.send(t.now, bytes(100));
    const before = t.layer.stats.txBlocked;
    t.layer.poll(t.now);
    // Each retry that fails re-enters the pending set; visiting it again in the same poll spent whole event-loop
    // turns on failed transmits (hundreds per poll over the raw-IP driver).
    expect(t.layer.stats.txBlocked - before).toBe(1);
    expect(t.layer.pollAt(t.now)).toBe(t.now);
  });
  it('a SYN that found no transmit buffer goes out on the next poll, not at the RTO', () => {
    const t = new Tester();
    t.host.blocked = true;
    const c = t.layer.connect(0, IP_B, 80, { localPort: LOCAL_PORT });
    t.recvNothing();
    expect(t.layer.pollAt(0)).toBe(0);
    t.host.blocked = false;
    t.layer.poll(0);
    t.recv({ flags: 2, seq: t.l(0) });
    expect(c.state).toBe('SYN-SENT');
  });
  it('maxConnections bounds passive opens (cookies answer instead)', () => {
    const t = new Tester({ maxConnections: 1 });
    t.layer.listen(0, LOCAL_PORT, 8);
    t.layer.input(0, IP_B, IP_A, build({ srcPort: 1, dstPort: LOCAL_PORT, flags: 2, seq: 5 }));
    t.layer.input(0, IP_B, IP_A, build({ srcPort: 2, dstPort: LOCAL_PORT, flags: 2, seq: 5 }));
    expect(t.layer.connectionCount).toBe(1);
    expect(t.layer.stats.synCookiesSent).toBe(1);
  });
});

describe('receive-buffer auto-tuning and info()', () => {
  it('grows the receive buffer when the reader keeps up, and info() reports the transfer', () => {
    const net = new Net(15, { receiveBuffer: 16 * 1024, maxReceiveBuffer: 1 << 20 });
    net.latency = 5;
    const { client, server } = openPair(net);
    const d = bytes(2_000_000, 6);
    expect(bytesEqual(transfer(net, client, server, d), d)).toBe(true);
    net.run(() => client.info().unacked === 0);
    const si = server.info();
    expect(si.receiveBuffer).toBeGreaterThan(16 * 1024);
    expect(si.bytesReceived).toBe(2_000_000);
    const ci = client.info();
    expect(ci.state).toBe('ESTABLISHED');
    expect(ci.bytesAcked).toBe(2_000_000);
    expect(ci.srtt).toBeGreaterThanOrEqual(10);
    expect(ci.rto).toBeGreaterThanOrEqual(200);
    expect(ci.cwnd).toBeGreaterThan(10 * ci.sndMss);
    expect(ci.retransmits).toBe(0);
  });
});

describe('timers of many connections', () => {
  it('pollAt() is the earliest timer of all connections and each fires on time', () => {
    const net = new Net(41);
    const l = net.b.listen(0, 80, 128);
    const clients = Array.from({ length: 60 }, () => net.a.connect(0, IP_B, 80));
    expect(net.run(() => clients.every((c) => c.state === 'ESTABLISHED') && l.acceptQueue.length === 60)).toBe(true);
    net.advance(1000); // let delayed ACKs and the like settle
    const start = net.now;
    clients.forEach((c, i) => c.setKeepAlive(true, start, 5000 + (59 - i) * 10));
    expect(net.a.pollAt(start)).toBe(start + 5000);
    const fired: number[] = [];
    for (let k = 0; k < 60; k++) {
      const at = net.a.pollAt(net.now)!;
      net.run(() => net.a.stats.keepaliveProbes > k, 10_000);
      fired.push(at - start);
    }
    expect(fired).toEqual(Array.from({ length: 60 }, (_, i) => 5000 + i * 10));
  });
});

describe('abortAll', () => {
  it('resets every connection and closes listeners', () => {
    const net = new Net(51);
    const { client, server } = openPair(net);
    const l = net.a.listen(0, 7000, 4);
    let err: string | undefined;
    server.onClose = (e) => (err = e);
    net.a.abortAll(net.now);
    expect(client.state).toBe('CLOSED');
    expect(l.closed).toBe(true);
    expect(net.a.connectionCount).toBe(0);
    expect(net.run(() => server.state === 'CLOSED')).toBe(true);
    expect(err).toBe('ECONNRESET');
  });
});

describe('options', () => {
  it('bad options throw EINVAL at construction', () => {
    for (const bad of [{ sendBuffer: -1 }, { mss: 0 }, { receiveBuffer: 1.5 }, { ephemeralLow: 70000 }, { isnKey: new Uint8Array(3) }, { msl: NaN }]) {
      expect(() => new Tester(bad)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });
});

describe('SYN queue pruning (Linux reqsk_timer_handler)', () => {
  /** When (virtual ms) the half-open connections of `n` unanswered SYNs fall to half the queue, and to none. */
  const drain = (n: number, limit: number): { half: number; gone: number } => {
    const t = new Tester({ synQueueLimit: limit, synCookies: false });
    t.layer.listen(0, LOCAL_PORT, 1024);
    for (let i = 0; i < n; i++) {
      const src = (IP_B + i) >>> 0;
      t.layer.input(0, src, IP_A, build({ srcPort: 1000 + i, dstPort: LOCAL_PORT, flags: 2, seq: 5 }, undefined, src, IP_A));
    }
    t.layer.poll(0);
    expect(t.layer.connectionCount).toBe(Math.min(n, limit));
    let now = 0;
    let half = t.layer.connectionCount <= limit / 2 ? 0 : Infinity;
    while (t.layer.connectionCount > 0 && now < 200_000) {
      now = Math.max(now + 1, t.layer.pollAt(now) ?? now + 1000);
      t.layer.poll(now);
      if (half === Infinity && t.layer.connectionCount <= limit / 2) half = now;
    }
    expect(t.layer.connectionCount).toBe(0);
    return { half, gone: now };
  };
  // 1 + 2 + 4 + 8 + 16 + 32 s of SYN-ACK retransmission time-outs, each spread by up to rtoSpread (0.25).
  const FULL = 63_000;

  it('a queue clogged by unanswered SYNs is half freed after 2 SYN-ACK retransmissions (about 7 s, not 63 s)', () => {
    const flood = drain(256, 256);
    expect(flood.half).toBeGreaterThanOrEqual(7_000);
    expect(flood.half).toBeLessThan(7_000 * 1.25);
    // Below half full the rest is not pruned (Linux keeps half the room for young requests).
    expect(flood.gone).toBeLessThan(FULL * 1.25);
  });

  it('a half-open connection in a queue at most half full keeps the full schedule (synAckRetries)', () => {
    const one = drain(1, 256);
    expect(one.gone).toBeGreaterThanOrEqual(FULL);
    expect(one.gone).toBeLessThan(FULL * 1.25);
  });
});

describe('send-ring growth', () => {
  it('grows in steps of at least a quarter while cwnd creeps up, so a bulk sender copies its ring a bounded number of times', () => {
    const net = new Net(21);
    const { client, server } = openPair(net);
    const ring = (): ByteRing => (client as unknown as { snd: { sndBuf: ByteRing } }).snd.sndBuf;
    let copied = 0;
    let resizes = 0;
    const resize = ByteRing.prototype.resize;
    const spy = vi.spyOn(ByteRing.prototype, 'resize').mockImplementation(function (this: ByteRing, cap: number) {
      if (this === ring()) {
        resizes++;
        copied += this.length;
      }
      resize.call(this, cap);
    });
    try {
      const d = bytes(6_000_000, 7);
      expect(bytesEqual(transfer(net, client, server, d, 5_000_000), d)).toBe(true);
    } finally {
      spy.mockRestore();
    }
    // Steps of at least a quarter from 16 KiB to at most 4 MiB: 13 resizes copying 14 MB here. Growing to the
    // creeping limit (twice cwnd) on every write that did not fit: 552 resizes copying 1.0 GB for the same 6 MB.
    expect(resizes).toBeLessThan(30);
    expect(copied).toBeLessThan(32 * 1024 * 1024);
  });
});

describe('demultiplexing (the layer asks the connection it found last first)', () => {
  it('segments of two flows from one peer, interleaved, each reach their own connection', () => {
    const net = new Net(22);
    const l = net.b.listen(0, 80, 16);
    const servers: TcpConnection[] = [];
    l.onConnection = (c) => servers.push(c);
    const c1 = net.a.connect(net.now, IP_B, 80);
    const c2 = net.a.connect(net.now, IP_B, 80);
    expect(net.run(() => servers.length === 2 && c1.state === 'ESTABLISHED' && c2.state === 'ESTABLISHED')).toBe(true);
    const [s1, s2] = c1.localPort === servers[0]!.remotePort ? [servers[0]!, servers[1]!] : [servers[1]!, servers[0]!];
    expect(s1.remotePort).toBe(c1.localPort);
    expect(s2.remotePort).toBe(c2.localPort);
    const got = new Map<TcpConnection, number[]>([[s1, []], [s2, []]]);
    const buf = new Uint8Array(16);
    for (let i = 0; i < 10; i++) {
      c1.send(net.now, new Uint8Array([1, i]));
      c2.send(net.now, new Uint8Array([2, i]));
      net.run(() => s1.readableLength >= 2 && s2.readableLength >= 2);
      for (const s of [s1, s2]) {
        const n = s.read(net.now, buf);
        got.get(s)!.push(...buf.subarray(0, n));
      }
    }
    expect(got.get(s1)).toEqual(Array.from({ length: 10 }, (_, i) => [1, i]).flat());
    expect(got.get(s2)).toEqual(Array.from({ length: 10 }, (_, i) => [2, i]).flat());
  });
  it('a segment for a connection gone since (aborted, then its 4-tuple opened again) finds what the tables hold', () => {
    const t = new Tester();
    const old = t.established();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(10));
    expect(old.readableLength).toBe(10);
    t.recvAll();
    old.abort(t.now);
    t.recv({ flags: RST | ACK });
    // The connection's 4-tuple is no one's now: a segment for it is answered with a RST, not given to `old`.
    t.send({ flags: ACK, seq: t.r(11), ack: t.l(1) }, bytes(5));
    expect(t.layer.stats.noSocket).toBe(1);
    expect(old.readableLength).toBe(10);
    t.recv({ flags: RST, seq: t.l(1) });
    // The same 4-tuple opened again: its segments reach the new connection.
    const fresh = t.established();
    expect(fresh).not.toBe(old);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(7));
    expect(fresh.readableLength).toBe(7);
    expect(old.readableLength).toBe(10);
  });
});
