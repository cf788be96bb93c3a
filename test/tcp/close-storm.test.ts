/**
 * Many connections closing at once into a bounded receive queue (the benchmark's 10 000 idle connections closed
 * together overran the receive ring and then retransmitted ~4 times per connection), and the retransmission-timer
 * spread that keeps them from timing out on one tick (RFC 6298: the RTO is a lower bound; rtoSpread only delays).
 * Two whole stacks on the in-memory link, virtual time, nothing sleeps.
 */
import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { parseCidr, parseIpv4 } from '../../protocols/ipv4/address.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import type { TcpOptions } from '../../protocols/tcp/options.js';
import { seededRng } from '../../protocols/util/rng.js';
import { NetStack } from '../../src/stack/stack.js';
import { Tester } from './fixtures.js';
import { SYN } from './harness.js';

interface StormResult {
  retransmitted: number;
  rtoExpirations: number;
  rxDropped: number;
  /** Virtual ms from the close burst until every client is in TIME-WAIT and every server connection CLOSED. */
  doneMs: number;
  /** Most retransmissions the client stack sent in one poll. */
  maxRetransPerPoll: number;
  finsDeferred: number;
  clientStates: Set<string>;
}

/**
 * `n` connections between two stacks on a link whose receive queues hold `queue` frames; the clients close all at
 * once, each server closes on the peer's FIN (as node:net does without allowHalfOpen). One poll per virtual ms.
 */
function closeStorm(n: number, queue: number, tcp: Partial<TcpOptions> = {}): StormResult {
  const [da, db] = memoryLink({ queueLimit: queue });
  const a = new NetStack({ driver: da, addresses: [parseCidr('10.0.0.1/24')!], rng: seededRng(1), tcp: { ephemeralLow: 1024, ...tcp } });
  const b = new NetStack({ driver: db, addresses: [parseCidr('10.0.0.2/24')!], rng: seededRng(2), tcp: { ...tcp } });
  let t = 0;
  const step = (dt: number): void => {
    t += dt;
    a.poll(t);
    b.poll(t);
  };
  const server: TcpConnection[] = [];
  const l = b.tcp!.listen(0, 5001, n + 1);
  l.onConnection = (c) => {
    server.push(c);
    c.onEnd = () => c.close(t);
  };
  const dst = parseIpv4('10.0.0.2')!;
  const client: TcpConnection[] = [];
  let pending: TcpConnection[] = [];
  for (let guard = 0; (client.length + pending.length < n || pending.length > 0) && guard < 100_000; guard++) {
    while (pending.length < 64 && client.length + pending.length < n) pending.push(a.tcp!.connect(t, dst, 5001));
    step(0.2);
    pending = pending.filter((c) => {
      if (c.state !== 'ESTABLISHED') return true;
      client.push(c);
      return false;
    });
  }
  for (let i = 0; i < 100; i++) step(1);
  expect(client).toHaveLength(n);
  expect(server).toHaveLength(n);
  const s0 = { ...a.tcp!.stats };
  expect(s0.finsDeferred).toBe(0);
  const drop0 = db.stats.rxDropped + da.stats.rxDropped;
  for (const c of client) c.close(t);
  const t0 = t;
  let maxPerPoll = 0;
  let done = false;
  for (let i = 0; i < 120_000 && !done; i++) {
    const before = a.tcp!.stats.retransmittedSegs;
    step(1);
    maxPerPoll = Math.max(maxPerPoll, a.tcp!.stats.retransmittedSegs - before);
    done = client.every((c) => c.state === 'TIME-WAIT') && server.every((c) => c.state === 'CLOSED');
  }
  return {
    retransmitted: a.tcp!.stats.retransmittedSegs - s0.retransmittedSegs,
    rtoExpirations: a.tcp!.stats.rtoExpirations - s0.rtoExpirations,
    rxDropped: db.stats.rxDropped + da.stats.rxDropped - drop0,
    doneMs: t - t0,
    maxRetransPerPoll: maxPerPoll,
    finsDeferred: a.tcp!.stats.finsDeferred,
    clientStates: new Set(client.map((c) => c.state)),
  };
}

describe('many connections closing at once into a bounded receive queue', () => {
  it('retransmit about once per FIN lost in the burst, not once per doubling', () => {
    const r = closeStorm(1000, 128);
    if (process.env["STORM_LOG"]) console.log(JSON.stringify({ ...r, clientStates: [...r.clientStates] }));
    expect(r.clientStates).toEqual(new Set(['TIME-WAIT']));
    // 128 FINs go at once, the rest from later polls, 128 per poll; with the ACKs of the peer's FINs that still
    // overfills a 128-frame queue, so some are lost.
    expect(r.finsDeferred).toBe(1000 - 128);
    expect(r.rxDropped).toBeGreaterThan(0);
    // Every retransmission is a FIN (one RTO each); synchronised timers lost the same share at every doubling
    // (this setup without the spread and the per-poll bounds: 3.4 retransmissions per connection, 25 s).
    expect(r.rtoExpirations).toBe(r.retransmitted);
    expect(r.retransmitted).toBeLessThan(0.8 * 1000);
    expect(r.doneMs).toBeLessThan(3000);
  });

  it('the same run without the spread and the per-poll bound storms (the test above can fail)', () => {
    const r = closeStorm(1000, 128, { rtoSpread: 0, timersPerPoll: 1_000_000, closeBurst: 1_000_000 });
    if (process.env["STORM_LOG"]) console.log(JSON.stringify({ ...r, clientStates: [...r.clientStates] }));
    expect(r.clientStates).toEqual(new Set(['TIME-WAIT']));
    expect(r.retransmitted).toBeGreaterThan(2 * 1000);
    expect(r.doneMs).toBeGreaterThan(5000);
  });

  it('closeBurst: with room for one burst of answers, closing all at once loses nothing', () => {
    const r = closeStorm(1000, 512);
    expect(r.finsDeferred).toBe(1000 - 128);
    expect(r.rxDropped).toBe(0);
    expect(r.retransmitted).toBe(0);
    const all = closeStorm(1000, 512, { closeBurst: 1_000_000 });
    expect(all.finsDeferred).toBe(0);
    expect(all.rxDropped).toBeGreaterThan(0);
    expect(all.retransmitted).toBeGreaterThan(0);
  });

  it('no poll runs more than timersPerPoll timers', () => {
    const r = closeStorm(600, 64, { timersPerPoll: 50, closeBurst: 1_000_000 });
    expect(r.clientStates).toEqual(new Set(['TIME-WAIT']));
    expect(r.retransmitted).toBeGreaterThan(50);
    expect(r.maxRetransPerPoll).toBeLessThanOrEqual(50);
  });
});

describe('rtoSpread', () => {
  function synTimes(opts: Partial<TcpOptions>, seed: number): number[] {
    const t = new Tester({ synRetries: 5, rng: seededRng(100 + seed), ...opts });
    const c = t.synSent();
    const times: number[] = [];
    for (let i = 0; i < 10_000 && c.state === 'SYN-SENT'; i++) {
      t.advance(10);
      for (const s of t.recvAll()) {
        expect(s.flags).toBe(SYN);
        times.push(t.now);
      }
    }
    return times;
  }

  it('never fires a backed-off timer early, and at most rtoSpread of the RTO late', () => {
    for (let seed = 0; seed < 8; seed++) {
      const times = synTimes({ rtoSpread: 0.25 }, seed);
      expect(times).toHaveLength(5);
      // The first timeout is exact (no backoff yet); every later gap is at least the doubled RTO (RFC 6298 5.5).
      expect(times[0]).toBe(1000);
      for (let i = 1; i < times.length; i++) {
        const gap = times[i]! - times[i - 1]!;
        const rto = 1000 * 2 ** i;
        expect(gap).toBeGreaterThanOrEqual(rto);
        expect(gap).toBeLessThanOrEqual(rto * 1.25 + 10); // +10: the test advances in 10 ms steps
      }
    }
  });

  it('spreads: connections with different timestamp offsets time out at different times', () => {
    const seconds = new Set<number>();
    for (let seed = 0; seed < 8; seed++) {
      const t = new Tester({ synRetries: 3, timestamps: true, rng: seededRng(100 + seed) });
      const c = t.synSent();
      for (let i = 0; i < 2000 && c.state === 'SYN-SENT'; i++) {
        t.advance(10);
        if (t.recvAll().length > 0 && t.now > 1000) seconds.add(t.now);
      }
    }
    expect(seconds.size).toBeGreaterThan(8);
  });

  it('0 gives the exact doubling', () => {
    expect(synTimes({ rtoSpread: 0 }, 1)).toEqual([1000, 3000, 7000, 15000, 31000]);
  });
});
