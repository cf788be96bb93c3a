/**
 * ECN end to end (RFC 3168): two whole stacks over a 100 Mbit/s, 20 ms RTT bottleneck whose queue CE-marks
 * ECN-capable packets above a threshold instead of dropping them (a small AQM fault written here, in front of the
 * faults middleware's rate limiter; the whole RTT is on the ACK path). The transfer must keep its goodput with no retransmission and every byte
 * exact (bulkTransfer checks each byte read against the stream sent); the same bottleneck without ECN, with a
 * tail-drop queue of the marking threshold, loses packets and retransmits. Virtual clock, nothing sleeps.
 */
import { describe, expect, it } from 'vitest';
import type { FrameDriver } from '../../drivers/types.js';
import type { FaultDriver } from '../../drivers/middleware/faults.js';
import { forwardRest } from '../../drivers/middleware/forward.js';
import { ECN_CE, ECN_ECT0 } from '../../protocols/tcp/ecn.js';
import { checksum } from '../../protocols/util/checksum.js';
import { bulkTransfer } from './sim-helpers.js';

const RATE = 100e6;
const RTT = 20;
/** Mark from this many frames queued at the bottleneck; also the tail-drop queue of the comparison. */
const THRESHOLD_FRAMES = 40;

/**
 * CE-marks IPv4 ECT frames (Ethernet) that find at least `threshold` frames queued in the faults middleware behind
 * it (its rate limiter's FIFO: the A -> B direction has no delay stage, so every frame it holds is queued there).
 */
function ceMarker(inner: FaultDriver, threshold: number): FrameDriver & { marked: number } {
  let frame: Uint8Array | null = null;
  const w = {
    marked: 0,
    txReserve(len: number): Uint8Array | null {
      frame = inner.txReserve(len);
      return frame;
    },
    txCommit(now: number, len: number, segment?: number): boolean | void {
      const f = frame!;
      const ipv4 = len >= 34 && f[12] === 0x08 && f[13] === 0x00;
      if (ipv4 && inner.held.tx >= threshold && (f[15]! & 3) === ECN_ECT0) {
        f[15] = f[15]! | ECN_CE; // and the header checksum again (RFC 3168 5 lets a router do just this)
        f[24] = 0;
        f[25] = 0;
        const c = checksum(f, 14, 14 + (f[14]! & 0x0f) * 4);
        f[24] = c >>> 8;
        f[25] = c & 0xff;
        w.marked++;
      }
      return segment === undefined ? inner.txCommit(now, len) : inner.txCommit(now, len, segment);
    },
  };
  return forwardRest(w as unknown as FrameDriver & { marked: number }, inner);
}

describe('ECN over a CE-marking bottleneck (two stacks)', () => {
  it('keeps goodput with no loss and exact data, where the same bottleneck without ECN drops and retransmits', () => {
    const bytes = 6_000_000;
    let marker: (FrameDriver & { marked: number }) | undefined;
    const ecn = bulkTransfer({
      seed: 7,
      bytes,
      limitMs: 600_000,
      aToB: { rateBitsPerSecond: RATE, queueLimit: 100_000, holdLimit: 1 << 20 },
      bToA: { delayMs: RTT, holdLimit: 1 << 20 },
      tcpA: { ecn: 1, sendBuffer: 16 << 20 },
      tcpB: { ecn: 2, receiveBuffer: 16 << 20, maxReceiveBuffer: 16 << 20 },
      wrapTxA: (d) => (marker = ceMarker(d as FaultDriver, THRESHOLD_FRAMES)),
    });
    const drop = bulkTransfer({
      seed: 7,
      bytes,
      limitMs: 600_000,
      aToB: { rateBitsPerSecond: RATE, queueLimit: THRESHOLD_FRAMES, holdLimit: 1 << 20 },
      bToA: { delayMs: RTT, holdLimit: 1 << 20 },
      tcpA: { sendBuffer: 16 << 20 },
      tcpB: { receiveBuffer: 16 << 20, maxReceiveBuffer: 16 << 20 },
    });
    const info = ecn.client.info();
    expect(ecn.received).toBe(bytes);
    expect(info.ecn).toBe(true);
    expect(marker!.marked).toBeGreaterThan(0);
    expect(info.ecnReductions).toBeGreaterThan(0);
    expect(ecn.queueDrops).toBe(0);
    expect(ecn.retransmits).toBe(0);
    expect(ecn.rtoCount).toBe(0);
    expect(ecn.wireViolations).toEqual([]);
    // Slow start included (6 MB is about 0.6 s at the rate): 79 Mbit/s when written, 78 for the tail-drop run.
    expect(ecn.goodputBps).toBeGreaterThan(0.7 * RATE);
    expect(drop.queueDrops).toBeGreaterThan(0);
    expect(drop.retransmits).toBeGreaterThan(0);
    expect(ecn.goodputBps).toBeGreaterThanOrEqual(drop.goodputBps);
  });
});
