/**
 * The receiver part of a connection (protocols/tcp/receiver.ts), driven directly on a connection the fixtures put
 * in ESTABLISHED (virtual clock, FakeHost): acceptability, D-SACK decisions, the out-of-order queue and the ACK
 * policy, without going through the segment dispatch.
 */
import { describe, expect, it } from 'vitest';
import { seqAdd } from '../../../protocols/tcp/seq.js';
import type { TcpFields } from '../../../protocols/tcp/wire.js';
import { Tester } from '../fixtures.js';
import { bytes } from '../harness.js';

function receiver(opts: ConstructorParameters<typeof Tester>[0] = {}, extra: Partial<TcpFields> = {}) {
  const t = new Tester({ sack: true, quickAcks: 0, coalesceAcks: false, delayedAckMs: 40, ...opts });
  const c = t.established({ sackPermitted: true, ...extra });
  return { t, c, rcv: c.rcv, nxt: c.rcv.rcvNxt };
}

/** The SACK blocks the next ACK would carry, as [left, right] offsets from `base`. */
function blocks(rcv: ReturnType<typeof receiver>['rcv'], base: number, max = 4): [number, number][] {
  const out: number[] = [];
  rcv.sackBlocksInto(out, max);
  const r: [number, number][] = [];
  for (let i = 0; i < out.length; i += 2) r.push([(out[i]! - base) | 0, (out[i + 1]! - base) | 0]);
  return r;
}

describe('Receiver', () => {
  it('acceptability (RFC 9293 3.10.7.4): the window, its right edge for pure ACKs, text overlapping RCV.NXT', () => {
    const { rcv, nxt } = receiver();
    const wnd = (rcv.windowEnd() - nxt) >>> 0;
    expect(wnd).toBe(8192);
    const at = (off: number) => seqAdd(nxt, off);
    expect(rcv.acceptable(at(0), 0)).toBe(true);
    expect(rcv.acceptable(at(wnd), 0)).toBe(true); // a pure ACK at the right edge (like Linux)
    expect(rcv.acceptable(at(wnd + 1), 0)).toBe(false);
    expect(rcv.acceptable(at(-1), 0)).toBe(false);
    expect(rcv.acceptable(at(-10), 20)).toBe(true); // its end is new
    expect(rcv.acceptable(at(-10), 10)).toBe(false); // wholly old
    expect(rcv.acceptable(at(wnd - 1), 100)).toBe(true); // starts inside
    expect(rcv.acceptable(at(wnd), 1)).toBe(false);
  });

  it('a closed window accepts only a zero-length segment at RCV.NXT', () => {
    const { rcv, nxt } = receiver();
    rcv.rcvAdvEdge = nxt;
    expect(rcv.acceptable(nxt, 0)).toBe(true);
    expect(rcv.acceptable(seqAdd(nxt, 1), 0)).toBe(false);
    expect(rcv.acceptable(nxt, 1)).toBe(false);
  });

  it('old text is reported with a D-SACK of exactly the repeated range (RFC 2883), only when SACK was agreed', () => {
    const { rcv, nxt } = receiver();
    expect(rcv.oldBytes(seqAdd(nxt, -100), 300)).toBe(100);
    expect([rcv.hasDsack, rcv.ackNow]).toEqual([true, true]);
    expect(blocks(rcv, nxt)).toEqual([[-100, 0]]);
    rcv.hasDsack = false;
    expect(rcv.oldBytes(seqAdd(nxt, -100), 50)).toBe(50);
    expect(blocks(rcv, nxt)).toEqual([[-100, -50]]);
    rcv.hasDsack = false;
    rcv.duplicateArrived(seqAdd(nxt, -500), 100); // an unacceptable duplicate
    expect(blocks(rcv, nxt)).toEqual([[-500, -400]]);

    const plain = receiver({ sack: false }, { sackPermitted: false });
    expect(plain.rcv.oldBytes(seqAdd(plain.nxt, -100), 300)).toBe(100);
    plain.rcv.duplicateArrived(seqAdd(plain.nxt, -500), 100);
    expect(plain.rcv.hasDsack).toBe(false);
  });

  it('holds out-of-order text, ACKs at once with SACK blocks, and delivers it when the hole fills', () => {
    const { t, c, rcv, nxt } = receiver();
    let readable = 0;
    c.onReadable = () => readable++;
    const data = bytes(3000, 7);
    rcv.receiveText(t.now, seqAdd(nxt, 1000), data.subarray(1000, 2000));
    rcv.receiveText(t.now, seqAdd(nxt, 2500), data.subarray(2500, 3000));
    expect(rcv.rcvNxt).toBe(nxt);
    expect(rcv.ackNow).toBe(true); // RFC 5681 4.2: an immediate duplicate ACK
    expect(readable).toBe(0);
    expect(blocks(rcv, nxt)).toEqual([
      [2500, 3000],
      [1000, 2000],
    ]); // the most recent first (RFC 2018 4)
    expect(blocks(rcv, nxt, 1)).toEqual([[2500, 3000]]);
    rcv.ackNow = false;
    rcv.receiveText(t.now, nxt, data.subarray(0, 1000)); // fills the first hole
    expect((rcv.rcvNxt - nxt) >>> 0).toBe(2000);
    expect(rcv.ackNow).toBe(true); // a filled hole is ACKed at once
    expect(readable).toBe(1);
    rcv.receiveText(t.now, seqAdd(nxt, 2000), data.subarray(2000, 2500));
    expect((rcv.rcvNxt - nxt) >>> 0).toBe(3000);
    expect(rcv.ooo.segments).toBe(0);
    const out = new Uint8Array(4000);
    expect(c.read(t.now, out)).toBe(3000);
    expect(out.subarray(0, 3000)).toEqual(data);
  });

  it('in-order text repeating bytes held out of order gets a D-SACK for them (RFC 2883 4)', () => {
    const { t, rcv, nxt } = receiver();
    const data = bytes(2000, 3);
    rcv.receiveText(t.now, seqAdd(nxt, 1000), data.subarray(1000, 1500));
    rcv.hasDsack = false;
    rcv.receiveText(t.now, nxt, data.subarray(0, 1500)); // the retransmission covers the held range too
    expect(blocks(rcv, nxt)[0]).toEqual([1000, 1500]);
    expect((rcv.rcvNxt - nxt) >>> 0).toBe(1500);
  });

  it('delays the ACK of one full-sized segment and ACKs the second at once (RFC 5681 4.2)', () => {
    const { t, c, rcv, nxt } = receiver();
    const mss = rcv.rcvMssEst;
    rcv.receiveText(t.now, nxt, bytes(mss));
    expect(rcv.ackNow).toBe(false);
    expect(c.tmr.delackAt).toBe(t.now + 40);
    rcv.receiveText(t.now, seqAdd(nxt, mss), bytes(mss));
    expect(rcv.ackNow).toBe(true);
  });

  it('coalesces in-order ACKs of one receive batch when coalesceAcks is on, up to 64 KiB', () => {
    const { t, rcv, nxt } = receiver({ coalesceAcks: true, receiveBuffer: 1 << 20, maxReceiveBuffer: 1 << 20 });
    const mss = rcv.rcvMssEst;
    let seq = nxt;
    for (let i = 0; i < 2; i++) {
      rcv.receiveText(t.now, seq, bytes(mss));
      seq = seqAdd(seq, mss);
    }
    expect([rcv.ackSoon, rcv.ackNow]).toEqual([true, false]);
    rcv.unackedBytes = 65536; // a batch that already holds back GRO's 64 KiB
    rcv.receiveText(t.now, seq, bytes(mss));
    expect(rcv.ackNow).toBe(true);
  });
});
