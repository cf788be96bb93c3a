/**
 * The TCP layer's `stray` hook (a cluster's worker hands a segment for no connection to the worker that holds its
 * flow, src/register/member.ts): it takes every segment that matches no connection except a new flow's SYN, before
 * the RST (RFC 9293 3.10.7.1) or the listener's answer; when it declines, the layer answers as without it.
 */
import { describe, expect, it } from 'vitest';
import { ACK, FIN, PSH, RST, SYN, IP_A, IP_B } from './harness.js';
import { LOCAL_PORT, REMOTE_PORT, REMOTE_SEQ, Tester } from './fixtures.js';

function withHook(take: boolean): { t: Tester; got: Array<{ src: number; dst: number; segment: Uint8Array }> } {
  const t = new Tester();
  const got: Array<{ src: number; dst: number; segment: Uint8Array }> = [];
  t.layer.stray = (_now, src, dst, segment) => {
    got.push({ src, dst, segment: segment.slice() });
    return take;
  };
  return { t, got };
}

describe('stray hook: segments for no connection', () => {
  it('takes a data segment for no socket instead of a RST, with the whole segment, and counts it', () => {
    const { t, got } = withHook(true);
    t.send({ flags: ACK | PSH, seq: 500, ack: 777 }, new Uint8Array([1, 2, 3]));
    t.recvNothing();
    expect(got).toHaveLength(1);
    expect(got[0]!.src).toBe(IP_B);
    expect(got[0]!.dst).toBe(IP_A);
    const s = got[0]!.segment;
    expect(((s[0]! << 8) | s[1]!) === REMOTE_PORT && ((s[2]! << 8) | s[3]!) === LOCAL_PORT).toBe(true);
    expect([...s.subarray(s.length - 3)]).toEqual([1, 2, 3]);
    expect(t.layer.stats.strayHandedOff).toBe(1);
    expect(t.layer.stats.noSocket).toBe(0);
    expect(t.layer.stats.rstsSent).toBe(0);
  });

  it('takes ACKs, FINs and RSTs at a listener (a flow another stack accepted), not a SYN', () => {
    const { t, got } = withHook(true);
    t.layer.listen(0, LOCAL_PORT, 4);
    t.send({ flags: ACK, seq: 500, ack: 777 });
    t.send({ flags: FIN, seq: 501 });
    t.send({ flags: RST, seq: 502 });
    t.recvNothing();
    expect(got).toHaveLength(3);
    expect(t.layer.stats.listenDrops).toBe(0);
    // A new flow's SYN is the listener's: SYN-ACK, the hook is not asked.
    t.send({ flags: SYN, seq: REMOTE_SEQ, mss: 1400, srcPort: REMOTE_PORT + 1 });
    t.recv({ flags: SYN | ACK, seq: t.l(0), ack: t.r(1), dstPort: REMOTE_PORT + 1 });
    expect(got).toHaveLength(3);
    expect(t.layer.stats.strayHandedOff).toBe(3);
  });

  it('a SYN to a closed port is not a stray: RST+ACK as without the hook', () => {
    const { t, got } = withHook(true);
    t.send({ flags: SYN, seq: 500 });
    t.recv({ flags: RST | ACK, seq: 0, ack: 501 });
    expect(got).toHaveLength(0);
  });

  it('declined: the RST of RFC 9293 3.10.7.1 as without the hook, nothing counted as handed off', () => {
    const { t, got } = withHook(false);
    t.send({ flags: ACK, seq: 500, ack: 777 });
    t.recv({ flags: RST, seq: 777 });
    expect(got).toHaveLength(1);
    expect(t.layer.stats.strayHandedOff).toBe(0);
    expect(t.layer.stats.noSocket).toBe(1);
  });

  it('a segment of a connection this layer holds never reaches the hook', () => {
    const { t, got } = withHook(true);
    t.layer.listen(0, LOCAL_PORT, 4);
    t.send({ flags: SYN, seq: REMOTE_SEQ, mss: 1400 });
    t.recv({ flags: SYN | ACK, seq: t.l(0), ack: t.r(1) });
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) });
    t.send({ flags: ACK | PSH, seq: t.r(1), ack: t.l(1) }, new Uint8Array(5));
    expect(got).toHaveLength(0);
    expect(t.layer.stats.strayHandedOff).toBe(0);
  });
});
