/**
 * The raw-IP driver's transmit path through the native addon (drivers/native/src/rawip.c): frames are built in
 * the addon's slab and sent a batch per sendmmsg() at flush, on an IPPROTO_RAW socket of its own.
 *
 * Why: raw-socket (the package the driver receives through) sends one packet per event-loop turn (a writable
 * event each) and keeps the buffer until its callback, so byway's sending through it ran at about 14 Mbit/s.
 *
 * Backpressure: txSubmit consumes frames in order and stops when the socket's send buffer is full (EAGAIN or
 * ENOBUFS); the frames not consumed stay at the front of the submission area, in order, and go first at the next
 * submit. Meanwhile no submit is tried (no system call per poll against a full socket): `txWait` asks the addon
 * for a one-shot writable wake-up, which calls `wake` (the driver's ready callback) so the stack polls, and that
 * poll's flush sends them. While the submission area is full, `reserve` answers -1 (the stack's txNoBuffer).
 *
 * Ownership: an offset from `reserve` is the caller's until `commit`; after it, the addon's. Throws nothing; the
 * driver checks its own state (closed, lengths) before calling in.
 */
import type { NativeAddon, NativeHandle, NativeOpenInfo } from '../native/index.js';

const CTL_TX_ERRORS = 1;
const CTL_TX_KICKS = 5;

/** The part of the addon this module calls (a fake in the unit tests). */
export type RawIpNative = Pick<NativeAddon, 'txAlloc' | 'txSubmit' | 'txWait' | 'setReady' | 'close'>;

/** The part of the addon's open info this module reads. */
export type RawIpNativeInfo = Pick<NativeOpenInfo, 'handle' | 'mem' | 'ctl' | 'txSlotIdx' | 'txOutIdx' | 'txBatch' | 'frameCap'>;

export class RawIpNativeTx {
  /** The slab: frames are written here (views from `view`, or ranges lent by the driver's txLend). */
  readonly bytes: Uint8Array;
  readonly frameCap: number;
  /** Frames the kernel refused for good (counted by the addon), sendmmsg calls, submits that met a full socket. */
  txErrors = 0;
  txKicks = 0;
  txWaits = 0;
  private readonly handle: NativeHandle;
  private ctl: Uint32Array;
  private readonly txSlot: number;
  private readonly txOut: number;
  private readonly txBatch: number;
  private stashPos = 0;
  private stashLen = 0;
  /** Frames submitted and not yet consumed by the addon: pairs [0, queued) of the submission area. */
  private queued = 0;
  /** A writable wake-up is armed: no submit until it comes. */
  private waiting = false;

  constructor(
    private readonly native: RawIpNative,
    info: RawIpNativeInfo,
    private readonly wake: () => void,
  ) {
    this.handle = info.handle;
    this.bytes = new Uint8Array(info.mem);
    this.ctl = new Uint32Array(info.ctl);
    this.txSlot = info.txSlotIdx;
    this.txOut = info.txOutIdx;
    this.txBatch = info.txBatch;
    this.frameCap = info.frameCap;
    native.setReady(this.handle, this.onWritable);
  }

  private readonly onWritable = (): void => {
    this.waiting = false;
    this.wake();
  };

  /** Frames waiting in the submission area (sent at the next flush, or after the writable wake-up). */
  get backlog(): number {
    return this.queued;
  }

  /** The offset in `bytes` of a free slot for the next frame, or -1 when there is none now. */
  reserve(): number {
    if (this.queued === this.txBatch) {
      this.flush();
      if (this.queued === this.txBatch) return -1;
    }
    if (this.stashPos === this.stashLen) {
      const n = this.native.txAlloc(this.handle, this.txBatch);
      this.stashPos = 0;
      this.stashLen = n > 0 ? n : 0;
      if (this.stashLen === 0) return -1;
    }
    return this.ctl[this.txSlot + this.stashPos]!;
  }

  /** Queue the frame of `len` bytes written at the offset `reserve` returned. */
  commit(offset: number, len: number): void {
    const k = this.txOut + 2 * this.queued;
    this.ctl[k] = offset;
    this.ctl[k + 1] = len;
    this.queued++;
    this.stashPos++;
    if (this.queued === this.txBatch) this.flush();
  }

  /** Send what is queued, unless a writable wake-up is awaited. */
  flush(): void {
    if (this.queued === 0 || this.waiting) return;
    const n = this.queued;
    const r = Math.max(0, Math.min(n, this.native.txSubmit(this.handle, n)));
    this.txErrors = this.ctl[CTL_TX_ERRORS]!;
    this.txKicks = this.ctl[CTL_TX_KICKS]!;
    if (r === n) {
      this.queued = 0;
      return;
    }
    // The socket is full: keep the rest, in order, at the front, and wait for it to drain.
    this.ctl.copyWithin(this.txOut, this.txOut + 2 * r, this.txOut + 2 * n);
    this.queued = n - r;
    this.txWaits++;
    this.waiting = true;
    this.native.txWait(this.handle);
  }

  close(): void {
    this.queued = 0;
    this.native.close(this.handle);
    this.ctl = new Uint32Array(0);
  }
}
