/**
 * ECN (RFC 3168 section 6.1) by RFC step: negotiation both ways and its refusal, ECT(0) on new data only, the
 * receiver's ECE echo until CWR, and the sender's once-per-window reduction with CWR on the next new data.
 */
import { describe, expect, it } from 'vitest';
import { ECN_ECT0 } from '../../protocols/tcp/ecn.js';
import { formatTcpInfo } from '../../src/cli/format.js';
import { TcpFlag } from '../../protocols/tcp/wire.js';
import { ACK, IP_A, IP_B, SYN, build, bytes } from './harness.js';
import { LOCAL_PORT, REMOTE_SEQ, Tester, type Seg } from './fixtures.js';

const { ECE, CWR } = TcpFlag;
const MSS = 1000;
const ecnFlags = (s: Seg): number => s.flags & (ECE | CWR);

/** Our SYN (its ECN flags vary, so not the fixture's exact match). */
function synSent(t: Tester) {
  const c = t.track(t.layer.connect(t.now, IP_B, 80, { localPort: LOCAL_PORT }));
  const [syn] = t.recvAll();
  expect(syn!.flags & ~(ECE | CWR)).toBe(SYN);
  return { c, syn: syn! };
}

/** An active open with `ecn`; the SYN-ACK carries `synAckFlags` on top of SYN|ACK. */
function active(ecn: 0 | 1 | 2, synAckFlags: number) {
  const t = new Tester({ ecn });
  const { c, syn } = synSent(t);
  t.send({ flags: SYN | ACK | synAckFlags, seq: REMOTE_SEQ, ack: t.l(1), window: 65535, mss: MSS });
  t.recv({ flags: ACK, seq: t.l(1), ack: t.r(1) });
  expect(c.state).toBe('ESTABLISHED');
  return { t, c, syn };
}

/** A passive open at a listener with `ecn`, from a SYN carrying `synFlags`; returns the SYN-ACK. */
function passive(ecn: 0 | 1 | 2, synFlags: number): Seg {
  const t = new Tester({ ecn });
  t.layer.listen(0, LOCAL_PORT, 8);
  t.layer.input(t.now, IP_B, IP_A, build({ srcPort: 1000, dstPort: LOCAL_PORT, flags: SYN | synFlags, seq: REMOTE_SEQ, mss: MSS, window: 65535 }));
  t.layer.poll(t.now);
  const [synAck] = t.recvAll();
  expect(synAck).toMatchObject({ flags: expect.any(Number) as number, ack: REMOTE_SEQ + 1 });
  expect(synAck!.flags & (SYN | ACK)).toBe(SYN | ACK);
  return synAck!;
}

/** Deliver data from the remote end, CE-marked or not, with optional extra flags. */
function data(t: Tester, off: number, len: number, ce: boolean, flags = 0): void {
  t.layer.rxInfo.ce = ce;
  t.send({ flags: ACK | flags, seq: t.r(1 + off), ack: t.l(1), window: 65535 }, bytes(len));
  t.layer.rxInfo.ce = false;
}

describe('ECN negotiation (RFC 3168 6.1.1)', () => {
  it('ecn 1: an ECN-setup SYN (ECE+CWR); an ECN-setup SYN-ACK (ECE, no CWR) agrees', () => {
    const { t, c, syn } = active(1, ECE);
    expect(ecnFlags(syn)).toBe(ECE | CWR);
    expect(syn.tos).toBe(0); // never ECT on a SYN
    expect(c.info().ecn).toBe(true);
    expect(formatTcpInfo({ ...c.info() }).split(' ')).toContain('ecn'); // byway ss, as ss -i prints it
    c.send(t.now, bytes(2 * MSS));
    const out = t.recvAll();
    expect(out.map((s) => [s.payloadLen, s.tos])).toEqual([
      [MSS, ECN_ECT0],
      [MSS, ECN_ECT0],
    ]);
  });

  it('a SYN-ACK without ECE (or with ECE and CWR) refuses: no ECT, no ECN', () => {
    for (const f of [0, ECE | CWR]) {
      const { t, c } = active(1, f);
      expect(c.info().ecn).toBe(false);
      c.send(t.now, bytes(MSS));
      expect(t.recvAll().map((s) => s.tos)).toEqual([0]);
    }
  });

  it('ecn 0 (default) and 2 send a plain SYN and ignore an ECN SYN-ACK', () => {
    for (const e of [0, 2] as const) {
      const { syn, c } = active(e, ECE);
      expect(ecnFlags(syn)).toBe(0);
      expect(c.info().ecn).toBe(false);
    }
  });

  it('a retransmitted SYN carries neither ECE nor CWR (a middlebox may drop ECN-setup SYNs)', () => {
    const t = new Tester({ ecn: 1 });
    expect(ecnFlags(synSent(t).syn)).toBe(ECE | CWR);
    t.advance(1000);
    const [again] = t.recvAll();
    expect(again!.flags & SYN).toBe(SYN);
    expect(ecnFlags(again!)).toBe(0);
    // The first SYN reached the peer after all: its ECN-setup SYN-ACK is taken (the peer will send ECT).
    t.send({ flags: SYN | ACK | ECE, seq: REMOTE_SEQ, ack: t.l(1), window: 65535, mss: MSS });
    expect(t.conn.state).toBe('ESTABLISHED');
    expect(t.conn.info().ecn).toBe(true);
  });

  it('passive: ecn 1 and 2 answer an ECN-setup SYN with ECE only; ecn 0 and a plain SYN get no ECE', () => {
    expect(ecnFlags(passive(1, ECE | CWR))).toBe(ECE);
    expect(ecnFlags(passive(2, ECE | CWR))).toBe(ECE);
    expect(passive(2, ECE | CWR).tos).toBe(0);
    expect(ecnFlags(passive(0, ECE | CWR))).toBe(0);
    expect(ecnFlags(passive(2, 0))).toBe(0);
    expect(ecnFlags(passive(2, ECE))).toBe(0); // ECE alone is not an ECN-setup SYN
  });
});

describe('ECN receiver (RFC 3168 6.1.3)', () => {
  it('a CE mark sets ECE on every ACK until a CWR arrives; pure ACKs are never ECT', () => {
    const { t, c } = active(1, ECE);
    data(t, 0, 100, false);
    t.advance(200);
    expect(ecnFlags(t.recv({ flags: ACK, ack: t.r(101) }))).toBe(0);
    data(t, 100, 100, true); // CE: acknowledged at once, with ECE
    const ack = t.recv({ ack: t.r(201) });
    expect(ecnFlags(ack)).toBe(ECE);
    expect(ack.tos).toBe(0);
    data(t, 200, 100, false); // not CE, but no CWR yet: ECE stays
    t.advance(200);
    expect(ecnFlags(t.recv({ ack: t.r(301) }))).toBe(ECE);
    data(t, 300, 100, false, CWR); // the sender reacted
    t.advance(200);
    expect(ecnFlags(t.recv({ ack: t.r(401) }))).toBe(0);
    expect(c.info().ecnCeReceived).toBe(1);
  });

  it('without ECN agreed, a CE mark is not echoed', () => {
    const { t, c } = active(1, 0);
    data(t, 0, 100, true);
    t.advance(200);
    expect(ecnFlags(t.recv({ ack: t.r(101) }))).toBe(0);
    expect(c.info().ecnCeReceived).toBe(0);
  });
});

describe('ECN sender (RFC 3168 6.1.2)', () => {
  it('ECE reduces cwnd once per window without retransmitting, then CWR rides the next new data', () => {
    const { t, c } = active(1, ECE);
    c.send(t.now, bytes(30 * MSS));
    expect(t.recvAll()).toHaveLength(10);
    const cwnd0 = c.info().cwnd;
    t.advance(10);
    // An ACK of 2 segments with ECE: cwnd halves (NewReno/CUBIC loss response), state 'cwr'.
    t.send({ flags: ACK | ECE, seq: t.r(1), ack: t.l(1 + 2 * MSS), window: 65535 });
    const i1 = c.info();
    expect(i1.ecnReductions).toBe(1);
    expect(i1.cwnd).toBeLessThan(cwnd0);
    expect(i1.ssthresh).toBe(i1.cwnd); // and no growth while the reduced window is acknowledged
    expect(i1.caState).toBe('cwr');
    expect(i1.retransmits).toBe(0);
    const sent = t.recvAll();
    // Whatever the reduced window lets out is new data; the first carries CWR, the rest do not.
    for (const s of sent) expect(s.seq).toBeGreaterThanOrEqual(t.l(1 + 10 * MSS));
    if (sent.length > 0) expect(sent.map(ecnFlags)).toEqual([CWR, ...Array(sent.length - 1).fill(0)]);
    // More ECE within the same window (the receiver echoes until it sees CWR): no second reduction.
    t.send({ flags: ACK | ECE, seq: t.r(1), ack: t.l(1 + 4 * MSS), window: 65535 });
    t.send({ flags: ACK | ECE, seq: t.r(1), ack: t.l(1 + 6 * MSS), window: 65535 });
    const all = [...sent, ...t.recvAll()];
    expect(c.info().ecnReductions).toBe(1);
    expect(all.filter((s) => s.flags & CWR)).toHaveLength(1);
    expect(all.every((s) => s.tos === ECN_ECT0)).toBe(true);
    // The window of the reduction acknowledged: a new ECE reduces again.
    const nxt = Math.max(...all.map((s) => s.seq + s.payloadLen)) >>> 0;
    t.send({ flags: ACK, seq: t.r(1), ack: nxt, window: 65535 });
    expect(c.info().caState).toBe('open');
    const cwnd1 = c.info().cwnd;
    t.recvAll();
    t.send({ flags: ACK | ECE, seq: t.r(1), ack: nxt, window: 65535 });
    expect(c.info().ecnReductions).toBe(2);
    expect(c.info().cwnd).toBeLessThan(cwnd1);
    expect(c.info().retransmits).toBe(0);
  });

  it('retransmissions are never ECT', () => {
    const { t, c } = active(1, ECE);
    c.send(t.now, bytes(MSS));
    expect(t.recvAll().map((s) => s.tos)).toEqual([ECN_ECT0]);
    t.advance(1000); // RTO
    const re = t.recvAll();
    expect(re.map((s) => [s.seq, s.tos])).toEqual([[t.l(1), 0]]);
  });
});

describe('ECN and loss recovery together (RFC 3168 6.1.2)', () => {
  it('an ECE during a fast recovery reduces nothing more, but the next new data still carries CWR', () => {
    const { t, c } = active(1, ECE);
    c.send(t.now, bytes(30 * MSS));
    expect(t.recvAll()).toHaveLength(10);
    t.advance(10);
    // Three duplicate ACKs (no SACK agreed): fast retransmit, a loss reduction.
    for (let i = 0; i < 3; i++) t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), window: 65535 });
    expect(c.info().inRecovery).toBe(true);
    const cwnd = c.info().cwnd;
    t.recvAll();
    t.send({ flags: ACK | ECE, seq: t.r(1), ack: t.l(1), window: 65535 });
    expect(c.info().ecnReductions).toBe(0);
    expect(c.info().cwnd).toBeGreaterThanOrEqual(cwnd); // no second cut (a dup ACK may inflate, RFC 6582)
    // The ACK lets data out: a partial ACK's retransmission (RFC 6582; never ECT, no CWR), then new data, the first
    // of it with CWR.
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1 + 10 * MSS), window: 65535 });
    const out = t.recvAll().filter((s) => s.payloadLen > 0);
    const fresh = out.filter((s) => s.tos === ECN_ECT0);
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.map(ecnFlags)).toEqual([CWR, ...Array(fresh.length - 1).fill(0)]);
    for (const s of out.filter((x) => x.tos !== ECN_ECT0)) expect(ecnFlags(s)).toBe(0);
  });
});
