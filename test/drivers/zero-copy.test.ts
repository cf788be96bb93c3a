/**
 * The zero-copy frame path (drivers/types.ts: receiveRanges, txLend): frames handed over and lent as ranges of the
 * driver's memory, with no view object per frame. The stack must read only buf[start, end) and write only the
 * lent range; middleware must never expose the inner driver's ranges (a fault injector would be bypassed).
 * Virtual clock only.
 */
import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { faults } from '../../drivers/middleware/faults.js';
import { forwardRest } from '../../drivers/middleware/forward.js';
import { pcap } from '../../drivers/middleware/pcap.js';
import type { DriverCapabilities, DriverStats, FrameDriver, FrameSink, RangeSink, TxLease } from '../../drivers/types.js';
import type { PingResult } from '../../src/stack/stack.js';
import { ip, makePair, transfer } from '../stack/harness.js';

const JUNK = 0xa5;

/**
 * Hands every frame of `inner` over at an odd offset inside a larger buffer, with junk before and after it, and
 * lends transmit room the same way (junk around the lent range), copying to the inner driver at commit. A stack
 * that read past `end`, or wrote outside its lease, or assumed a frame starts at 0, breaks on it.
 */
class OffsetDriver implements FrameDriver {
  readonly rxBuf = new Uint8Array(70_000).fill(JUNK);
  readonly txBuf = new Uint8Array(70_000).fill(JUNK);
  rxStart = 37;
  txStart = 51;
  rangesIn = 0;
  lent = 0;
  private lentLen = -1;
  // The rest (caps, stats, flush, pollAt, close...) is the inner driver's, as middleware passes it on.
  declare readonly caps: DriverCapabilities;
  declare readonly stats: DriverStats;
  declare flush: (now: number) => void;
  declare setReadyCallback: (cb: (() => void) | null) => void;
  declare close: () => void;
  constructor(private readonly inner: FrameDriver) {
    forwardRest(this, inner);
  }
  receive(now: number, max: number, sink: FrameSink): number {
    return this.inner.receive(now, max, sink);
  }
  receiveRanges(now: number, max: number, sink: RangeSink): number {
    return this.inner.receive(now, max, (frame, flags) => {
      this.rangesIn++;
      this.rxBuf.fill(JUNK);
      this.rxStart = this.rxStart === 37 ? 1001 : 37; // a different place each time
      this.rxBuf.set(frame, this.rxStart);
      sink(this.rxBuf, this.rxStart, this.rxStart + frame.length, flags ?? 0);
    });
  }
  txReserve(len: number): Uint8Array | null {
    return this.inner.txReserve(len);
  }
  txLend(len: number, lease: TxLease): boolean {
    this.txBuf.fill(JUNK);
    this.txStart = this.txStart === 51 ? 2003 : 51;
    lease.buf = this.txBuf;
    lease.start = this.txStart;
    this.lentLen = len;
    this.lent++;
    return true;
  }
  txCommit(now: number, len: number, segment?: number): void {
    if (this.lentLen < 0) {
      this.inner.txCommit(now, len, segment);
      return;
    }
    // Outside the lease nothing was written.
    if (this.txBuf[this.txStart - 1] !== JUNK || this.txBuf[this.txStart + this.lentLen] !== JUNK) {
      throw new Error('the stack wrote outside the lent range');
    }
    const out = this.inner.txReserve(len)!;
    out.set(this.txBuf.subarray(this.txStart, this.txStart + len));
    this.lentLen = -1;
    this.inner.txCommit(now, len, segment);
  }
}

describe('zero-copy frame path', () => {
  it('the memory port hands over the same frames as ranges, and txLend sends what was written in the lease', () => {
    const [a, b] = memoryLink({ mtu: 1500 });
    const frame = new Uint8Array(60).map((_, i) => i);
    const lease: TxLease = { buf: new Uint8Array(0), start: -1 };
    expect(a.txLend!(frame.length, lease)).toBe(true);
    expect(lease.buf.length).toBeGreaterThanOrEqual(frame.length);
    lease.buf.set(frame, lease.start);
    a.txCommit(0, frame.length);
    a.flush(0);
    const got: number[][] = [];
    expect(b.receiveRanges!(0, 8, (buf, start, end) => got.push([...buf.subarray(start, end)]))).toBe(1);
    expect(got).toEqual([[...frame]]);
    expect(b.stats.rxFrames).toBe(1);
  });

  it('middleware has no receiveRanges or txLend of its own, and never forwards the inner driver\'s', () => {
    const [a] = memoryLink();
    expect(typeof a.receiveRanges).toBe('function');
    expect(typeof a.txLend).toBe('function');
    const wrapped = [faults(a, { seed: 1, rx: { loss: 1 } }), pcap(a, { sink: () => {} })];
    for (const w of wrapped) {
      expect('receiveRanges' in w ? (w as FrameDriver).receiveRanges : undefined).toBeUndefined();
      expect('txLend' in w ? (w as FrameDriver).txLend : undefined).toBeUndefined();
    }
  });

  it('a stack over faults() still meets the faults (the inner driver\'s ranges are not used around it)', () => {
    const p = makePair({ wrapB: (d) => faults(d, { seed: 1, rx: { loss: 1 } }) });
    let pinged: PingResult | undefined;
    p.a.ping(p.clock.now(), ip('10.0.0.2'), { timeoutMs: 1_000 }, (r) => (pinged = r));
    p.run({ until: p.clock.now() + 5_000 });
    expect(pinged?.ok).toBe(false);
  });

  it('stacks read frames at any offset and write only inside their lease: TCP, UDP and ICMP', () => {
    let da: OffsetDriver | undefined;
    let db: OffsetDriver | undefined;
    const p = makePair({ wrapA: (inner) => (da = new OffsetDriver(inner)), wrapB: (inner) => (db = new OffsetDriver(inner)) });
    let pinged: PingResult | undefined;
    p.a.ping(p.clock.now(), ip('10.0.0.2'), { size: 100 }, (r) => (pinged = r));
    p.run();
    expect(pinged?.ok).toBe(true);
    const rx = p.a.udp.createSocket();
    rx.bind(0, 40000);
    const got: number[][] = [];
    rx.onMessage = (m) => got.push([...m]);
    const tx = p.b.udp.createSocket();
    tx.send(p.clock.now(), Uint8Array.of(1, 2, 3), ip('10.0.0.1'), 40000);
    p.run();
    expect(got).toEqual([[1, 2, 3]]);
    const { got: bytes } = transfer(p, 300_000);
    expect(bytes.length).toBe(300_000); // transfer checks every byte
    // The data went out of A's leases and into B as ranges (300 kB is over 200 segments).
    expect(da!.lent).toBeGreaterThan(200);
    expect(db!.rangesIn).toBeGreaterThan(200);
  });
});
