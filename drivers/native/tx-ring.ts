/**
 * The transmit side of a NativeRingDriver (ring-driver.ts): the free slots the addon lent, the open reservation and
 * the submissions waiting for the doorbell.
 *
 * Buffer ownership: `txAlloc` lends a batch of free slots (offsets into the driver's memory) in the control block;
 * `lend` takes the next one for a frame, `commit` records (offset, length) and the TSO segment size (0: none) in
 * the submission and meta areas, `submit` hands them all to the addon with one call (one doorbell). After `commit`
 * the slot is the driver's: nothing here touches it again.
 *
 * Throws (BywayError): ERR_INVALID_STATE for a commit without a reservation or a second open reservation,
 * ERR_FRAME_TOO_BIG above the slot size, ERR_INVALID_ARG_VALUE for a bad length or segment. A negative errno from
 * the addon's submit is returned to the driver.
 */
import { BywayError } from '../types.js';
import type { NativeAddon, NativeHandle, NativeOpenInfo } from './index.js';

export class TxRing {
  readonly frameCap: number;
  /** Offset in `mem` of the open reservation, or -1. */
  reserved = -1;
  private reservedLen = 0;
  /** Frames committed and not yet submitted. */
  pending = 0;
  private stashPos = 0;
  private stashLen = 0;
  private readonly mem: ArrayBuffer;
  private readonly ctl: Uint32Array;
  private readonly slot: number;
  private readonly out: number;
  private readonly meta: number;
  private readonly batch: number;

  constructor(
    private readonly native: NativeAddon,
    private readonly handle: NativeHandle,
    info: NativeOpenInfo,
  ) {
    this.mem = info.mem;
    this.ctl = new Uint32Array(info.ctl);
    this.slot = info.txSlotIdx;
    this.out = info.txOutIdx;
    this.meta = info.txMetaIdx;
    this.batch = info.txBatch;
    this.frameCap = info.frameCap;
  }

  /**
   * Take the next free slot for a frame of len bytes (this.reserved); false when the ring has none now. `flush`
   * submits what is pending first when the lent slots are used up (the addon lends afresh only then).
   */
  lend(len: number, flush: () => void): boolean {
    if (this.reserved >= 0) throw new BywayError('ERR_INVALID_STATE', 'txReserve while a reservation is open');
    if (!Number.isInteger(len) || len < 0) throw new BywayError('ERR_INVALID_ARG_VALUE', `bad frame length ${len}`);
    if (len > this.frameCap) {
      throw new BywayError('ERR_FRAME_TOO_BIG', `a ${len}-byte frame exceeds this driver's ${this.frameCap}-byte slots`);
    }
    if (this.stashPos === this.stashLen) {
      if (this.pending > 0) flush();
      const n = this.native.txAlloc(this.handle, this.batch);
      this.stashPos = 0;
      this.stashLen = n > 0 ? n : 0;
      if (this.stashLen === 0) return false;
    }
    this.reserved = this.ctl[this.slot + this.stashPos]!;
    this.reservedLen = len;
    return true;
  }

  /** A view of the open reservation (txReserve's form). */
  view(len: number): Uint8Array {
    return new Uint8Array(this.mem, this.reserved, len);
  }

  /** Queue the reservation's first len bytes; true when the batch is full and must be submitted now. */
  commit(len: number, segment: number): boolean {
    if (this.reserved < 0) throw new BywayError('ERR_INVALID_STATE', 'txCommit without txReserve');
    if (!Number.isInteger(len) || len < 0 || len > this.reservedLen) {
      throw new BywayError('ERR_INVALID_ARG_VALUE', `txCommit length ${len} outside 0..${this.reservedLen}`);
    }
    if (!Number.isInteger(segment) || segment < 0 || segment > 0xffff) {
      throw new BywayError('ERR_INVALID_ARG_VALUE', `txCommit segment ${segment} outside 0..65535`);
    }
    const k = this.out + 2 * this.pending;
    this.ctl[k] = this.reserved;
    this.ctl[k + 1] = len;
    this.ctl[this.meta + this.pending] = segment;
    this.pending++;
    this.stashPos++;
    this.reserved = -1;
    // The stash and the submission area are both txBatch long; submit as soon as the batch is full.
    return this.pending === this.batch || this.stashPos === this.stashLen;
  }

  /** Hand the pending frames to the addon (one doorbell): the addon's answer (frames queued, or -errno). */
  submit(): number {
    const n = this.pending;
    this.pending = 0;
    return this.native.txSubmit(this.handle, n);
  }
}
