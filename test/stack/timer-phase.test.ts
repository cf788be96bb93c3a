/**
 * The stack's timer phase (src/stack/timer-phase.ts): the neighbour cache, the reassembler and the transports with
 * `dueAt` are polled only from the earliest time one of them may have work, or after one armed something; the
 * rest are polled on every poll. What the skipped polls would have done still happens on time: TCP's delayed ACK
 * and retransmission, a ping's time-out, ARP's retries, a fragment's reassembly time-out, a FIN deferred by
 * closeBurst. Virtual clock only.
 */
import { describe, expect, it, vi } from 'vitest';
import { TimerPhase, type TimerSource } from '../../src/stack/timer-phase.js';
import type { Transport } from '../../src/stack/transport.js';
import { TcpLayer } from '../../protocols/tcp/layer.js';
import type { PingResult } from '../../src/stack/stack.js';
import { ip, makePair } from './harness.js';

/** A source whose poll has work from `due` on. */
function source(due: number): TimerSource & { polls: number[]; due: number } {
  const s = {
    polls: [] as number[],
    due,
    poll(now: number): void {
      s.polls.push(now);
      if (now >= s.due) s.due = Infinity; // its work is done
    },
    dueAt(): number {
      return s.due;
    },
  };
  return s;
}

describe('the timer phase', () => {
  it('polls its sources at the first poll, then only from the earliest time one is due', () => {
    const a = source(10);
    const b = source(25);
    const t = new TimerPhase([a, b]);
    for (let now = 0; now <= 30; now += 1) t.poll(now);
    expect(a.polls).toEqual([0, 10, 25]);
    expect(b.polls).toEqual([0, 10, 25]);
    expect(t.nextAt).toBe(Infinity);
  });

  it('polls again at the next poll after a source armed something (wake)', () => {
    const a = source(Infinity);
    const t = new TimerPhase([a]);
    t.poll(0);
    t.poll(1);
    a.due = 5;
    t.wake();
    t.poll(2); // woken: polled, and asked again (due at 5)
    t.poll(3);
    t.poll(5);
    expect(a.polls).toEqual([0, 2, 5]);
  });

  it('polls a transport without dueAt on every poll, one with dueAt only when due', () => {
    const plain = { protocol: 253, polls: 0, input() {}, icmpError: () => false, pollAt: () => undefined, poll() { plain.polls++; } };
    const gated = Object.assign(source(3), { protocol: 254, input() {}, icmpError: () => false, pollAt: () => undefined });
    const t = new TimerPhase([]);
    t.setTransports([plain as Transport, gated as unknown as Transport]);
    for (let now = 0; now < 6; now++) t.poll(now);
    expect(plain.polls).toBe(6);
    expect(gated.polls).toEqual([0, 3]);
  });
});

describe('the timer phase in a stack', () => {
  /** Two stacks with a TCP connection between them (NetStack: TCP registered). */
  function connected() {
    const p = makePair();
    const l = p.b.tcp!.listen(0, 80, 8);
    let server: ReturnType<NonNullable<typeof p.b.tcp>['connect']> | undefined;
    l.onConnection = (c) => (server = c);
    const client = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80, { noDelay: true });
    p.run({ until: p.clock.now() + 10 });
    expect(client.state).toBe('ESTABLISHED');
    return { p, client, server: server! };
  }

  it('a request/response exchange polls the TCP layer once per timer, not once per poll; the delayed ACK and the RTO still leave on time', () => {
    const { p, client, server } = connected();
    const buf = new Uint8Array(64);
    const exchange = (): void => {
      client.send(p.clock.now(), buf);
      p.a.poll(p.clock.now());
      p.b.poll(p.clock.now());
      server.read(p.clock.now(), buf);
      server.send(p.clock.now(), buf);
      p.b.poll(p.clock.now());
      p.a.poll(p.clock.now());
      client.read(p.clock.now(), buf);
      p.clock.advance(0.01);
    };
    for (let i = 0; i < 100; i++) exchange(); // past the quick ACKs of a new connection (each one's ACK waits for the layer's poll)
    const poll = vi.spyOn(TcpLayer.prototype, 'poll');
    for (let i = 0; i < 100; i++) exchange();
    expect(poll.mock.calls.length).toBeLessThan(10); // of 400 polls: once per timer entry surfacing
    poll.mockRestore();
    // The client's delayed ACK of the last response is due 40 ms (delayedAckMs) after it arrived.
    const acksBefore = p.a.stats.tcp!.segsOut;
    p.run({ until: p.clock.now() + 39 });
    expect(p.a.stats.tcp!.segsOut).toBe(acksBefore);
    p.run({ until: p.clock.now() + 2 });
    expect(p.a.stats.tcp!.segsOut).toBe(acksBefore + 1);
    // A request the peer never answers (B's driver closed): retransmitted when the RTO runs out, not before.
    const rto = client.info(p.clock.now()).rto;
    client.send(p.clock.now(), buf);
    p.a.poll(p.clock.now());
    const sent = p.a.stats.tcp!.segsOut;
    for (let t = 0; t < rto - 1; t += 1) {
      p.clock.advance(1);
      p.a.poll(p.clock.now()); // B is not polled: nothing answers
    }
    expect(p.a.stats.tcp!.segsOut).toBe(sent);
    p.clock.advance(2);
    p.a.poll(p.clock.now());
    expect(p.a.stats.tcp!.segsOut).toBe(sent + 1);
    expect(p.a.stats.tcp!.retransmittedSegs).toBeGreaterThan(0);
  });

  it('a ping to nobody times out at its deadline, and ARP asks again on its schedule, between polls that skip the phase', () => {
    const p = makePair();
    let result: PingResult | undefined;
    p.a.ping(p.clock.now(), ip('10.0.0.99'), { timeoutMs: 1500 }, (r) => (result = r));
    const requests = () => p.a.stats.arp.neighbour.requestsSent;
    p.a.poll(p.clock.now());
    expect(requests()).toBe(1);
    for (let t = 0; t < 1499; t++) {
      p.clock.advance(1);
      p.a.poll(p.clock.now());
      expect(requests()).toBe(t + 1 < 1000 ? 1 : 2); // again after retransmitMs (1 s)
    }
    expect(result).toBeUndefined();
    p.clock.advance(1);
    p.a.poll(p.clock.now());
    expect(result?.ok).toBe(false);
  });

  it('a FIN deferred by closeBurst leaves at the next poll, and the next poll counts FINs from zero again', () => {
    const p = makePair({ configA: { tcp: { closeBurst: 1 } } });
    const l = p.b.tcp!.listen(0, 80, 8);
    l.onConnection = () => {};
    const c1 = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80);
    const c2 = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80);
    p.run({ until: p.clock.now() + 10 });
    const fins = () => p.a.stats.tcp!.finsDeferred;
    c1.shutdown(p.clock.now()); // the poll's one FIN
    c2.shutdown(p.clock.now()); // deferred
    expect(fins()).toBe(1);
    expect(c2.state).toBe('FIN-WAIT-1');
    const out = p.a.stats.tcp!.segsOut;
    p.clock.advance(0.001);
    p.a.poll(p.clock.now());
    expect(p.a.stats.tcp!.segsOut).toBe(out + 1); // c2's FIN
    p.run({ until: p.clock.now() + 10 });
    // Polls since: a new shutdown's FIN goes at once (the count started again), not deferred.
    const c3 = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80);
    p.run({ until: p.clock.now() + 10 });
    c3.shutdown(p.clock.now());
    expect(fins()).toBe(1);
  });
});
