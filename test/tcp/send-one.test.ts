/**
 * The sender's one-segment answer (Sender.sendOne: nothing in flight, one segment's worth waiting, the windows open)
 * against the general output loop it stands for: each scenario runs twice on a virtual clock, once as the stack
 * runs and once with sendOne declining every time (so the loop decides everything), and the two must put the same
 * segments on the wire at the same times and leave the same timers, windows and counters. The runs with sendOne
 * also count how often it answered, so a scenario that claims to exercise it does.
 */
import { describe, expect, it } from 'vitest';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import type { TcpOptions } from '../../protocols/tcp/options.js';
import { ACK, bytes } from './harness.js';
import { Tester } from './fixtures.js';
import { expectSameRuns, recorder, shimShortcut, type DiffRun } from './differential.js';

type Scenario = (t: Tester, c: TcpConnection, mark: () => void) => void;

/** What the peer and the timers can see of the connection, recorded after each step. */
function snapshot(t: Tester, c: TcpConnection): unknown[] {
  const i = c.info(t.now);
  const inner = c as unknown as { tmr: { rtoAt: number; tlpAt: number; delackAt: number; persistAt: number } };
  return [t.now, c.state, i.cwnd, i.bytesSent, i.bytesAcked, i.busyTime, i.rwndLimited, i.sndbufLimited, inner.tmr.rtoAt, inner.tmr.tlpAt, inner.tmr.delackAt, inner.tmr.persistAt, t.layer.pollAt(t.now)];
}

function run(opts: Partial<TcpOptions>, scenario: Scenario, withSendOne: boolean, iss?: number): DiffRun {
  const t = new Tester({ noDelay: true, quickAcks: 0, ...opts }, iss);
  const c = t.established();
  t.recvAll();
  const shim = shimShortcut((c as unknown as { snd: object }).snd, 'sendOne', withSendOne);
  const { run: out, mark } = recorder(t, () => snapshot(t, c));
  scenario(t, c, mark);
  mark();
  out.answered = shim.answered();
  return out;
}

/** The scenario with and without sendOne: identical on the wire and in state; returns how often sendOne answered. */
function same(opts: Partial<TcpOptions>, scenario: Scenario, iss?: number): number {
  const a = run(opts, scenario, true, iss);
  expect(a.wire.length).toBeGreaterThan(0);
  return expectSameRuns(a, run(opts, scenario, false, iss));
}

/** Request/response rounds: we send `n` bytes, the peer ACKs them with `reply` bytes after 2 ms. */
const exchange =
  (rounds: number, n: number, reply: number): Scenario =>
  (t, c, mark) => {
    let remote = 1;
    let local = 1;
    for (let k = 0; k < rounds; k++) {
      c.send(t.now, bytes(n, k));
      mark();
      local += n;
      t.advance(2);
      t.send({ flags: ACK, seq: t.r(remote), ack: t.l(local), window: 8192 }, reply > 0 ? bytes(reply, k + 1) : undefined);
      remote += reply;
      mark();
      c.read(t.now, new Uint8Array(4096));
      t.advance(50); // the delayed ACK, if one is owed
      mark();
    }
  };

describe('the one-segment send against the output loop', () => {
  for (const [name, opts] of [
    ['plain', {}],
    ['timestamps and SACK', { timestamps: true, sack: true }],
    ['Nagle on (noDelay off)', { noDelay: false }],
    ['Minshall Nagle', { noDelay: false, minshallNagle: true }],
  ] as const) {
    it(`request/response, ${name}: the same segments, timers and counters; sendOne answers every request`, () => {
      expect(same(opts, exchange(6, 64, 64))).toBe(6);
    });
  }

  for (const [name, iss] of [
    ['2^31', 0x7fffff40],
    ['2^32', 0xffffff40],
  ] as const) {
    it(`our sequence numbers crossing ${name} during the exchange, Nagle off and on`, () => {
      expect(same({}, exchange(6, 64, 64), iss)).toBe(6);
      expect(same({ noDelay: false }, exchange(4, 100, 10), iss)).toBe(4);
    });
  }

  it('writes of exactly one MSS and of one byte', () => {
    expect(same({}, exchange(3, 1000, 10))).toBe(3);
    expect(same({}, exchange(3, 1, 1))).toBe(3);
  });

  it('more than one MSS waiting: the loop sends it (sendOne declines)', () => {
    expect(same({}, exchange(3, 2500, 0))).toBe(0);
  });

  it('a second write while the first is unacknowledged is the loop\'s (Nagle holds it when on)', () => {
    const scenario: Scenario = (t, c, mark) => {
      c.send(t.now, bytes(100, 1));
      mark();
      c.send(t.now, bytes(100, 2));
      mark();
      t.advance(3);
      t.send({ flags: ACK, seq: t.r(1), ack: t.l(101), window: 8192 });
      mark();
      t.send({ flags: ACK, seq: t.r(1), ack: t.l(201), window: 8192 });
      mark();
    };
    expect(same({}, scenario)).toBe(1);
    expect(same({ noDelay: false }, scenario)).toBe(2); // the held write goes alone once the first is ACKed
  });

  it('a window smaller than the write: the loop decides (SWS, the persist timer)', () => {
    const scenario: Scenario = (t, c, mark) => {
      t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 40 });
      mark();
      c.send(t.now, bytes(64, 3));
      mark();
      t.advance(3000);
      mark();
      t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 8192 });
      mark();
    };
    // The persist timer's SWS override sends the 40 bytes the window allows, the rest follows the window update
    // behind data in flight: all of it the loop's.
    expect(same({}, scenario)).toBe(0);
  });

  it('MSG_MORE and cork hold the write; the push sends it', () => {
    const scenario: Scenario = (t, c, mark) => {
      c.send(t.now, bytes(64, 4), true);
      mark();
      c.send(t.now, bytes(10, 5), false);
      mark();
      t.advance(2);
      t.send({ flags: ACK, seq: t.r(1), ack: t.l(75), window: 8192 });
      mark();
      c.setCork(true, t.now);
      c.send(t.now, bytes(30, 6));
      mark();
      c.setCork(false, t.now);
      mark();
    };
    expect(same({}, scenario)).toBeGreaterThan(0);
  });

  it('a FIN behind a write: the write leaves alone at once (sendOne), the FIN is the loop\'s', () => {
    const scenario: Scenario = (t, c, mark) => {
      c.send(t.now, bytes(64, 7));
      c.shutdown(t.now);
      mark();
      t.advance(2);
      t.send({ flags: ACK, seq: t.r(1), ack: t.l(66), window: 8192 });
      mark();
    };
    expect(same({}, scenario)).toBe(1);
  });

  it('a response that also carries a delayed ACK owed for the request', () => {
    const scenario: Scenario = (t, c, mark) => {
      for (let k = 0; k < 4; k++) {
        t.send({ flags: ACK, seq: t.r(1 + 64 * k), ack: t.l(1 + 64 * k), window: 8192 }, bytes(64, k));
        mark();
        c.read(t.now, new Uint8Array(4096));
        t.advance(1);
        c.send(t.now, bytes(64, k + 10));
        mark();
        t.advance(2);
      }
    };
    expect(same({ timestamps: true }, scenario)).toBe(4);
  });

  it('after a retransmission timeout, once everything is acknowledged again', () => {
    const scenario: Scenario = (t, c, mark) => {
      c.send(t.now, bytes(64, 8));
      mark();
      t.advance(1500); // the RTO (1 s) fires: the segment leaves again
      mark();
      t.send({ flags: ACK, seq: t.r(1), ack: t.l(65), window: 8192 });
      mark();
      c.send(t.now, bytes(64, 9));
      mark();
    };
    expect(same({}, scenario)).toBe(2);
  });
});
