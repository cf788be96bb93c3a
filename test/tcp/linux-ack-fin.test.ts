/**
 * Two Linux behaviours the packetdrill scripts expect, on the virtual clock: a FIN forgets the SACK state
 * (finClearsSack, Linux's tcp_fin calling tcp_sack_reset) and an ACK of unsent data is dropped without an answer
 * (ignoreAckOfUnsent, Linux's tcp_ack). Without the options byway keeps the RFCs' behaviour (RFC 2883, RFC 5961 5.2).
 */
import { describe, expect, it } from 'vitest';
import { ACK, FIN, bytes } from './harness.js';
import { Tester } from './fixtures.js';

describe('finClearsSack (Linux: tcp_fin resets the SACK state)', () => {
  it('sends the ACK of a FIN that came with repeated data without the D-SACK block', () => {
    const t = new Tester({ sack: true, finClearsSack: true });
    const c = t.established({ sackPermitted: true });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(1000));
    t.recv({ flags: ACK, ack: t.r(1001) });
    t.send({ flags: ACK | FIN, seq: t.r(1), ack: t.l(1) }, bytes(1000));
    expect(c.state).toBe('CLOSE-WAIT');
    const seg = t.recv({ flags: ACK, ack: t.r(1002) });
    expect(seg.sackBlocks ?? []).toEqual([]);
  });

  it('keeps the D-SACK block (RFC 2883) without the option', () => {
    const t = new Tester({ sack: true });
    t.established({ sackPermitted: true });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(1000));
    t.recv({ flags: ACK, ack: t.r(1001) });
    t.send({ flags: ACK | FIN, seq: t.r(1), ack: t.l(1) }, bytes(1000));
    t.recv({ flags: ACK, ack: t.r(1002), sackBlocks: [t.r(1), t.r(1001)] });
  });
});

describe('ignoreAckOfUnsent (Linux: tcp_ack drops an ACK above SND.NXT)', () => {
  it('drops a FIN whose ACK covers unsent data, without an ACK, counting it, and leaves TS.Recent alone', () => {
    const t = new Tester({ ignoreAckOfUnsent: true, timestamps: true });
    const c = t.established({ tsVal: 100 });
    t.send({ flags: ACK | FIN, seq: t.r(1), ack: t.l(9999), tsVal: 200_000, tsEcr: t.syn!.tsVal });
    t.recvNothing();
    expect(c.state).toBe('ESTABLISHED');
    expect(t.layer.stats.badAck).toBe(1);
    expect(t.layer.stats.challengeAcksSent).toBe(0);
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1), tsVal: 201, tsEcr: t.syn!.tsVal }, bytes(1000));
    t.recv({ flags: ACK, ack: t.r(1001), tsEcr: 201 });
  });

  it('answers it with an ACK (RFC 9293 3.10.7.4, RFC 5961 5.2) without the option', () => {
    const t = new Tester({ timestamps: true });
    t.established({ tsVal: 100 });
    t.send({ flags: ACK | FIN, seq: t.r(1), ack: t.l(9999), tsVal: 200_000, tsEcr: t.syn!.tsVal });
    t.recv({ flags: ACK, ack: t.r(1), tsEcr: 100 });
  });
});
