/**
 * Header prediction (TcpConnection.predicted / predictedArrives: an in-order ACK-only or data segment of an
 * ESTABLISHED connection skips the checks it can only pass) against the general segment arrival: each scenario
 * runs twice on a virtual clock, once as the stack runs and once with the prediction refused for every segment, and
 * the two must put the same segments on the wire at the same times and leave the same state, timers and counters.
 * The runs with prediction count how many segments took it, so a scenario that claims to exercise it (or not) does.
 */
import { describe, expect, it } from 'vitest';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import type { TcpOptions } from '../../protocols/tcp/options.js';
import type { TcpFields } from '../../protocols/tcp/wire.js';
import { ACK, FIN, PSH, RST, SYN, bytes } from './harness.js';
import { Tester } from './fixtures.js';
import { expectSameRuns, recorder, shimShortcut, type DiffRun } from './differential.js';

interface Peer {
  /** The peer sends `len` bytes at its sequence offset `seq` (default: next), acknowledging our offset `ack`. */
  send(o: { seq?: number; ack: number; len?: number; flags?: number; window?: number; tsVal?: number; extra?: Partial<TcpFields> }): void;
  /** The peer's next sequence offset (1 after the SYN). */
  next: number;
}

type Scenario = (t: Tester, c: TcpConnection, p: Peer, mark: () => void) => void;

function snapshot(t: Tester, c: TcpConnection): unknown[] {
  const i = c.info(t.now);
  const inner = c as unknown as { tmr: Record<string, number>; rcv: { rcvNxt: number }; snd: { sndUna: number; sndNxt: number; sndWnd: number } };
  const tmr = inner.tmr;
  return [
    t.now,
    c.state,
    inner.rcv.rcvNxt,
    inner.snd.sndUna,
    inner.snd.sndNxt,
    inner.snd.sndWnd,
    c.readableLength,
    i.cwnd,
    i.ssthresh,
    i.rto,
    i.srtt,
    i.rttvar,
    i.bytesAcked,
    i.bytesReceived,
    i.segsIn,
    i.dsacksReceived,
    i.retransmits,
    i.retransOut,
    tmr['rtoAt'],
    tmr['tlpAt'],
    tmr['delackAt'],
    tmr['persistAt'],
    tmr['keepaliveAt'],
    t.layer.pollAt(t.now),
    JSON.stringify(t.layer.stats),
  ];
}

/** Initial sequence numbers: ours (the Tester's ISS) and the peer's; the fixtures' own by default. */
interface Isns {
  local: number;
  remote: number;
}

function run(opts: Partial<TcpOptions>, ts: boolean, scenario: Scenario, prediction: boolean, isns?: Isns): DiffRun {
  const t = new Tester({ quickAcks: 0, ...(ts ? { timestamps: true, sack: true } : {}), ...opts }, isns?.local);
  // The peer's sequence number `n` bytes after its SYN (t.r, or from the given ISN).
  const r = (n: number): number => (isns === undefined ? t.r(n) : (isns.remote + n) >>> 0);
  let c: TcpConnection;
  if (isns === undefined) c = ts ? t.establishedWith({ tsVal: 1, sackPermitted: true, window: 8192, mss: 1000 }) : t.established({ mss: 1000 });
  else {
    c = t.synSent();
    t.send({ flags: SYN | ACK, seq: isns.remote, ack: t.l(1), window: 8192, mss: 1000, ...(ts ? { tsVal: 1, tsEcr: t.syn!.tsVal, sackPermitted: true } : {}) });
    expect(c.state).toBe('ESTABLISHED');
  }
  t.recvAll();
  const shim = shimShortcut(c, 'predicted', prediction);
  let tsVal = 1;
  const peer: Peer = {
    next: 1,
    send(o) {
      const len = o.len ?? 0;
      const seq = o.seq ?? this.next;
      const tsFields = ts ? { tsVal: o.tsVal ?? (tsVal += 1), tsEcr: 1 } : {};
      t.send({ flags: o.flags ?? (len > 0 ? ACK | PSH : ACK), seq: r(seq), ack: t.l(o.ack), window: o.window ?? 8192, ...tsFields, ...o.extra }, len > 0 ? bytes(len, seq) : undefined);
      if (seq + len > this.next) this.next = seq + len;
    },
  };
  const { run: out, mark } = recorder(t, () => snapshot(t, c));
  scenario(t, c, peer, mark);
  mark();
  out.answered = shim.answered();
  return out;
}

/** The scenario with prediction and without: the same wire and state; returns how many segments took it. */
function same(scenario: Scenario, opts: Partial<TcpOptions> = {}, ts = false, isns?: Isns): number {
  return expectSameRuns(run(opts, ts, scenario, true, isns), run(opts, ts, scenario, false, isns));
}

const reqResp: Scenario = (t, c, p, mark) => {
  let ours = 1;
  for (let k = 0; k < 5; k++) {
    c.send(t.now, bytes(64, k));
    ours += 64;
    mark();
    t.advance(2);
    p.send({ ack: ours, len: 64 }); // the response ACKs the request
    mark();
    c.read(t.now, new Uint8Array(4096));
    t.advance(60); // the delayed ACK
    mark();
  }
};

const bulkIn: Scenario = (t, c, p, mark) => {
  const sink = new Uint8Array(65536);
  for (let k = 0; k < 12; k++) {
    p.send({ ack: 1, len: 1000 });
    mark();
    if (k % 3 === 2) c.read(t.now, sink);
    t.advance(1);
  }
  t.advance(100);
  mark();
};

const bulkOut: Scenario = (t, c, p, mark) => {
  c.send(t.now, bytes(6000, 3));
  mark();
  for (let acked = 1001; acked <= 6001; acked += 1000) {
    t.advance(3);
    p.send({ ack: acked }); // pure ACKs: cwnd grows, the RTO restarts, new data leaves
    mark();
  }
};

describe('header prediction against the general segment arrival', () => {
  for (const [name, ts] of [
    ['no options', false],
    ['timestamps and SACK', true],
  ] as const) {
    it(`request/response, ${name}: the same wire and state; every response is predicted`, () => {
      expect(same(reqResp, {}, ts)).toBe(5);
    });
    it(`bulk receive with delayed ACKs and reads, ${name}`, () => {
      expect(same(bulkIn, {}, ts)).toBe(12);
    });
    it(`bulk send acknowledged by pure ACKs, ${name}`, () => {
      // With timestamps a segment carries 988 bytes and Nagle holds the 72-byte tail until the rest is
      // acknowledged, so the last ACK (of all 6000 bytes) acknowledges unsent data: the general path's.
      expect(same(bulkOut, {}, ts)).toBe(ts ? 5 : 6);
    });
  }

  it('duplicate ACKs are predicted (processAck counts them), then the loss is repaired', () => {
    const n = same((t, c, p, mark) => {
      c.send(t.now, bytes(5000, 4));
      mark();
      t.advance(2);
      for (let k = 0; k < 4; k++) {
        p.send({ ack: 1001 }); // 1001 acknowledged, 1001:2001 lost
        mark();
      }
      t.advance(2000);
      mark();
      p.send({ ack: 5001 });
      mark();
    });
    expect(n).toBe(5);
  });

  it('a hole and its repair: the out-of-order segment is not predicted, the one that fills the hole is', () => {
    const n = same((t, _c, p, mark) => {
      p.send({ seq: 1001, ack: 1, len: 1000 }); // ahead of RCV.NXT
      mark();
      p.send({ seq: 1, ack: 1, len: 1000 }); // fills the hole: both go to the queue
      mark();
      t.advance(100);
      mark();
    });
    expect(n).toBe(1);
  });

  it('not predicted: SYN, RST, FIN, data past the window, old data, an ACK of unsent data, a PAWS-old TSval', () => {
    const n = same(
      (t, c, p, mark) => {
        p.send({ ack: 1, len: 100 });
        mark();
        p.send({ seq: 1, ack: 1, len: 50 }); // old data again
        mark();
        p.send({ ack: 1, len: 20, tsVal: 0 }); // TSval older than TS.Recent
        mark();
        p.send({ ack: 500, len: 10 }); // ACK of data never sent
        mark();
        p.send({ ack: 1, len: 9000 }); // more than the window
        mark();
        p.send({ ack: 1, flags: SYN | ACK });
        mark();
        c.read(t.now, new Uint8Array(65536));
        p.send({ ack: 1, len: 10, flags: FIN | ACK });
        mark();
        t.advance(10);
        p.send({ ack: 1, flags: RST });
        mark();
      },
      {},
      true,
    );
    expect(n).toBe(1); // the first segment only
  });

  it('a zero window: data is not predicted, and the ACK that opens it again is', () => {
    const n = same((t, c, p, mark) => {
      c.send(t.now, bytes(300, 5));
      mark();
      t.advance(2);
      p.send({ ack: 101, window: 0 });
      mark();
      t.advance(3000); // persist probes
      mark();
      p.send({ ack: 101, window: 8192 });
      mark();
      t.advance(5);
      p.send({ ack: 301 });
      mark();
    });
    expect(n).toBe(3);
  });

  it('keep-alive: a predicted segment restarts the keep-alive timer as the general path does', () => {
    const n = same((t, c, p, mark) => {
      c.setKeepAlive(true, t.now, 1000);
      t.advance(500);
      p.send({ ack: 1, len: 10 });
      mark();
      t.advance(1200);
      mark();
      p.send({ ack: 1, len: 10 });
      mark();
      t.advance(5000);
      mark();
    });
    expect(n).toBe(2);
  });

  for (const [name, isns] of [
    ['2^31', { local: 0x7fffff00, remote: 0x7ffffe80 }],
    ['2^32', { local: 0xffffff00, remote: 0xfffffe80 }],
  ] as const) {
    it(`sequence numbers of both ends crossing ${name}: request/response, bulk in and out, with and without timestamps`, () => {
      for (const ts of [false, true]) {
        expect(same(reqResp, {}, ts, isns)).toBe(5);
        expect(same(bulkIn, {}, ts, isns)).toBe(12);
        expect(same(bulkOut, {}, ts, isns)).toBe(ts ? 5 : 6);
      }
    });
  }

  it('data for an application that closed is not predicted (the general path resets)', () => {
    const n = same((t, c, p, mark) => {
      c.close(t.now);
      mark();
      p.send({ ack: 2, len: 10 });
      mark();
    });
    expect(n).toBe(0);
  });
});
