/**
 * The receive side of a NativeRingDriver (ring-driver.ts): the rx descriptors of the control block and the spin.
 *
 * Buffer ownership: one `rxBatch` call fills the control block with (offset, length word) pairs into the driver's
 * memory; each frame goes to the sink as a range of `bytes`; after the last sink call `rxRelease` gives the slots
 * back to the kernel (busy poll: the next rxBatch or rxWait does, one call fewer), so a range is valid only until
 * its sink call returns. A descriptor's length word carries
 * per-frame flags in its top 8 bits (bit 0: the TCP/UDP checksum needs no check, passed on as
 * RxFlag.L4ChecksumValid) and the length in its low 24 bits.
 *
 * Waiting: `wait(spinUs)` spins in the addon (rxWait) on the rx ring until a frame is there or spinUs passes, and
 * then takes the ready batch in the same call; the next `take` hands it over (no rxBatch).
 *
 * Nothing here throws: a negative errno from the addon is returned to the driver, which decides (linkError).
 */
import { RxFlag, type DriverStats, type RangeSink } from '../types.js';
import type { NativeAddon, NativeHandle, NativeOpenInfo } from './index.js';

/** rx descriptor length word: flags above bit 24 (byway.h BW_RX_FLAG_SHIFT), length below. */
const RX_LEN_MASK = 0xffffff;
const RX_FLAG_SHIFT = 24;
const RX_L4_CSUM_VALID = 1;

export class RxRing {
  private readonly desc: number;
  private readonly bytes: Uint8Array;
  private readonly ctl: Uint32Array;
  /** The batch wait() took: descriptors [heldPos, heldEnd) of the control block not yet handed over. */
  private heldPos = 0;
  private heldEnd = 0;

  constructor(
    private readonly native: NativeAddon,
    private readonly handle: NativeHandle,
    info: NativeOpenInfo,
    private readonly maxBatch: number,
    /**
     * Busy poll: a batch is not released after its last frame but by the addon's next rxBatch or rxWait (which
     * give back an unreleased batch first): nothing waits on readiness, whose re-arming is rxRelease's other job.
     */
    private readonly releaseLater: boolean,
  ) {
    this.desc = info.rxDescIdx;
    this.bytes = new Uint8Array(info.mem);
    this.ctl = new Uint32Array(info.ctl);
  }

  /**
   * Take up to `max` frames (at most the driver's batch) and hand each to `sink`, then give them back: the count,
   * or a negative errno (the batch released). An empty batch is released by the addon itself. A batch the spin
   * took (wait) goes first, and alone: it is what the ring held when the spin returned, so a short one still
   * means the ring was empty then (the FrameDriver.receiveRanges contract).
   */
  take(max: number, sink: RangeSink, stats: DriverStats): number {
    if (this.heldEnd > 0) {
      const from = this.heldPos;
      const to = Math.min(this.heldEnd, from + max);
      const last = to === this.heldEnd;
      if (last) this.heldPos = this.heldEnd = 0;
      else this.heldPos = to;
      this.deliver(from, to, sink, stats, last);
      return to - from;
    }
    const n = this.native.rxBatch(this.handle, Math.min(max, this.maxBatch));
    if (n < 0) {
      this.native.rxRelease(this.handle);
      return n;
    }
    if (n === 0) return 0;
    this.deliver(0, n, sink, stats, true);
    return n;
  }

  /**
   * Frames i in [from, to) of the control block's batch to the sink; `release`: the batch is given back after the
   * last one (or when a sink throws: the rest of a held batch is dropped with it).
   */
  private deliver(from: number, to: number, sink: RangeSink, stats: DriverStats, release: boolean): void {
    const desc = this.ctl;
    const base = this.desc;
    const bytes = this.bytes;
    let done = false;
    try {
      for (let i = from; i < to; i++) {
        const off = desc[base + 2 * i]!;
        const word = desc[base + 2 * i + 1]!;
        const len = word & RX_LEN_MASK;
        const flags = (word >>> RX_FLAG_SHIFT) & RX_L4_CSUM_VALID ? RxFlag.L4ChecksumValid : 0;
        stats.rxFrames++;
        stats.rxBytes += len;
        sink(bytes, off, off + len, flags);
      }
      done = true;
    } finally {
      if (!done || (release && !this.releaseLater)) {
        this.heldPos = this.heldEnd = 0;
        this.native.rxRelease(this.handle);
      }
    }
  }

  /**
   * Spin up to `us` microseconds (0: one look): > 0 when frames are waiting, 0 when the time ran out, or -errno.
   * The frames the spin found are taken at once (rxWait's `max`) and held for the next take(): no second call
   * into the addon to fetch them.
   */
  wait(us: number): number {
    if (this.heldEnd > 0) return 1;
    const n = this.native.rxWait(this.handle, us, this.maxBatch);
    if (n > 0) {
      this.heldPos = 0;
      this.heldEnd = n;
    }
    return n;
  }

  /** A frame is waiting, or held (event mode's pollAt). */
  pending(): boolean {
    return this.heldEnd > 0 || this.native.rxPending(this.handle) > 0;
  }
}
