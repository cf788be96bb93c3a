/**
 * The FrameDriver shared by the TAP, AF_PACKET and AF_XDP drivers: the native side owns the rings, this class
 * turns batches into views. Its receive side is rx-ring.ts, its transmit side tx-ring.ts.
 *
 * Buffer ownership
 * - Receive: one `rxBatch` call fills the control block with (offset, length) pairs into `mem` (the TPACKET ring,
 *   the UMEM, or the TAP slab: one external ArrayBuffer created at open, never copied). Each frame is handed to
 *   the sink as a Uint8Array view over that memory; after the last sink call `rxRelease` gives the slots back to
 *   the kernel, so a view is valid only until its sink call returns. A descriptor's length word carries per-frame
 *   flags in its top 8 bits (bit 0: the TCP/UDP checksum needs no check, passed on as RxFlag.L4ChecksumValid)
 *   and the length in its low 24 bits; TAP and AF_PACKET set it when the kernel vouches for the checksum, AF_XDP
 *   when it completed a partial checksum itself (repairPartialChecksums).
 * - Transmit: `txAlloc` lends a batch of free slots; `txReserve` returns a view of the next one, `txCommit`
 *   records (offset, length) in the control block and the TSO segment size (0: none) in the tx meta area beside
 *   it, `flush` submits them all with one call (one doorbell). Only the TAP and AF_PACKET drivers in tso mode read
 *   the meta.
 *
 * - Waiting: `wait(now, spinUs)` spins in the addon (rxWait) on the rx ring, or for TAP on poll() with a zero
 *   timeout, until a frame is there or spinUs passes; AF_XDP also reaps its completion ring and re-rings a tx
 *   doorbell the kernel left unanswered while it spins. When frames come the same call takes the ready batch
 *   (rxWait's max) and the driver holds it: the next receive() hands it over without another call into the addon.
 * - Kicks: one doorbell per flush (AF_PACKET send(), AF_XDP sendto() only while the tx ring asks for a wake-up;
 *   copy mode may need a few for a large batch), counted in stats.txKicks; TAP writes each frame (one kick each).
 *
 * Throws (BywayError): ERR_DRIVER_CLOSED after close(), ERR_INVALID_STATE for txCommit without a reservation or
 * a second open reservation, ERR_FRAME_TOO_BIG above the slot size, ERR_INVALID_ARG_VALUE for a bad length,
 * ENODEV when the link is gone (interface deleted or moved). A link that is merely down drops and counts.
 */
import {
  BywayError,
  newDriverStats,
  type DriverCapabilities,
  type DriverStats,
  type FrameDriver,
  type FrameSink,
  type RangeSink,
  type TxLease,
} from '../types.js';
import type { NativeAddon, NativeHandle, NativeOpenInfo } from './index.js';
import { RxRing } from './rx-ring.js';
import { TxRing } from './tx-ring.js';

const CTL_KERNEL_DROPS = 0;
const CTL_TX_ERRORS = 1;
const CTL_RX_TRUNCATED = 2;
const CTL_CSUM_REPAIRED = 4;
const CTL_TX_KICKS = 5;
const CTL_RX_WAKEUPS = 6;
const CTL_RX_SPINS = 7;
const CTL_RX_SPIN_HITS = 8;

export interface RingDriverOptions {
  /** Network namespace the device lives in (for messages and link-state checks). */
  readonly netns?: string | undefined;
  /**
   * Busy-poll: no event-loop readiness; `pollAt` always answers `now`, so a poll loop in 'busy' mode spins on
   * the ring. The readiness callback is stored but never called.
   */
  readonly busyPoll?: boolean | undefined;
}

/** DriverStats plus the native drivers' doorbell and spin counters (read from the control block). */
export interface NativeDriverStats extends DriverStats {
  /** Transmit doorbells rung: send()/sendto() for AF_PACKET and AF_XDP, one write() per frame for TAP. */
  txKicks: number;
  /** Receive wake-ups asked of the kernel (AF_XDP recvfrom when the fill ring needs one). */
  rxWakeups: number;
  /** wait() calls that had to spin (no frame waiting when called), and those ended by a frame arriving. */
  rxSpins: number;
  rxSpinHits: number;
}

/**
 * The driver: its two ring sides (rx: descriptors and the spin, rx-ring.ts; tx: slots, reservation, submissions,
 * tx-ring.ts), the control block's counters, link errors, readiness and close.
 */
export class NativeRingDriver implements FrameDriver {
  readonly stats: NativeDriverStats = { ...newDriverStats(), txKicks: 0, rxWakeups: 0, rxSpins: 0, rxSpinHits: 0 };
  readonly ifname: string;
  readonly ifindex: number;
  /** Frames cut short by the ring's frame size (TPACKET snaplen); they are still delivered. */
  rxTruncated = 0;
  /** Received TCP/UDP frames whose partial checksum (CHECKSUM_PARTIAL from a local sender) was completed. */
  checksumsCompleted = 0;
  /** Set when the kernel reported the link down (frames are being dropped); cleared when frames flow again. */
  linkDown = false;
  readonly frameCap: number;

  protected readonly handle: NativeHandle;
  protected readonly rx: RxRing;
  protected readonly tx: TxRing;
  /** The control block (its counter words; the rings' areas are the parts'). */
  private ctl: Uint32Array;
  /** One view of the whole of the driver's memory: frames are lent as ranges of it (txLend). */
  private bytes: Uint8Array;
  private closedFlag = false;
  private woke = false;
  private ready: (() => void) | null = null;
  private kernelDropsSeen = 0;
  private txErrorsSeen = 0;
  private readonly busyPoll: boolean;
  protected readonly netns: string | undefined;
  private readonly flushNow = (): void => this.flush(0);

  constructor(
    protected readonly native: NativeAddon,
    info: NativeOpenInfo,
    readonly caps: DriverCapabilities,
    readonly hwAddress: Uint8Array | undefined,
    options: RingDriverOptions = {},
  ) {
    this.handle = info.handle;
    this.rx = new RxRing(native, info.handle, info, caps.maxBatch, options.busyPoll === true);
    this.tx = new TxRing(native, info.handle, info);
    this.bytes = new Uint8Array(info.mem);
    this.ctl = new Uint32Array(info.ctl);
    this.frameCap = info.frameCap;
    this.ifname = info.ifname;
    this.ifindex = info.ifindex;
    this.busyPoll = options.busyPoll === true;
    this.netns = options.netns;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  private checkOpen(): void {
    if (this.closedFlag) throw new BywayError('ERR_DRIVER_CLOSED', 'the driver is closed');
  }

  receive(now: number, max: number, sink: FrameSink): number {
    return this.receiveRanges(now, max, (buf, start, end, flags) => sink(buf.subarray(start, end), flags));
  }

  receiveRanges(now: number, max: number, sink: RangeSink): number {
    this.checkOpen();
    if (!(max > 0)) return 0;
    let n: number;
    try {
      n = this.rx.take(max, sink, this.stats);
    } finally {
      this.syncCounters();
    }
    if (n < 0) {
      this.linkError(-n, 'receive');
      return 0;
    }
    if (n === 0) {
      const woke = this.woke;
      this.woke = false; // the addon released the empty batch and re-armed readiness itself
      // Woken with nothing to read: the socket may carry an error (link down, interface gone).
      if (woke) {
        const err = this.native.sockError(this.handle);
        if (err !== 0) this.linkError(err, 'receive');
      }
      return 0;
    }
    this.woke = false;
    this.linkDown = false;
    return n;
  }

  private syncCounters(): void {
    const ctl = this.ctl;
    const drops = ctl[CTL_KERNEL_DROPS]!;
    if (drops !== this.kernelDropsSeen) {
      this.stats.rxDropped += (drops - this.kernelDropsSeen) >>> 0;
      this.kernelDropsSeen = drops;
    }
    const txe = ctl[CTL_TX_ERRORS]!;
    if (txe !== this.txErrorsSeen) {
      this.stats.txDropped += (txe - this.txErrorsSeen) >>> 0;
      this.txErrorsSeen = txe;
    }
    this.rxTruncated = ctl[CTL_RX_TRUNCATED]!;
    this.checksumsCompleted = ctl[CTL_CSUM_REPAIRED]!;
    this.stats.txKicks = ctl[CTL_TX_KICKS]!;
    this.stats.rxWakeups = ctl[CTL_RX_WAKEUPS]!;
    this.stats.rxSpins = ctl[CTL_RX_SPINS]!;
    this.stats.rxSpinHits = ctl[CTL_RX_SPIN_HITS]!;
  }

  /**
   * Spin in the addon up to `spinUs` microseconds (capped at 10 000 there) until a frame is waiting: true when
   * one is, false when the time ran out. An error from the spin (AF_XDP re-ringing its tx doorbell) is treated as
   * in flush(): a gone link throws ENODEV, a down link sets linkDown and answers false.
   */
  wait(now: number, spinUs: number): boolean {
    this.checkOpen();
    const r = this.rx.wait(spinUs > 0 ? Math.ceil(spinUs) : 0);
    this.syncCounters();
    if (r < 0) {
      this.linkError(-r, 'wait');
      return false;
    }
    return r > 0;
  }

  /** errno from the kernel while moving frames: a gone link throws, a down link is counted. */
  private linkError(errno: number, what: string): void {
    const state = this.native.linkState(this.handle);
    if (state === 'gone' || errno === 77 /* EBADFD: TAP device deleted */) {
      throw new BywayError(
        'ENODEV',
        `${what} on '${this.ifname}'${this.netns ? ` in namespace '${this.netns}'` : ''} failed: the interface is gone (deleted or moved to another namespace); close this driver and open a new one when it is back.`,
      );
    }
    this.linkDown = state === 'down';
  }

  txReserve(len: number): Uint8Array | null {
    this.checkOpen();
    return this.tx.lend(len, this.flushNow) ? this.tx.view(len) : null;
  }

  txLend(len: number, lease: TxLease): boolean {
    this.checkOpen();
    if (!this.tx.lend(len, this.flushNow)) return false;
    lease.buf = this.bytes;
    lease.start = this.tx.reserved;
    return true;
  }

  /**
   * `segment` (TSO): the TCP payload bytes per segment; recorded for the native side, which uses it only when
   * the driver is in tso mode and the frame qualifies (see bw_offload_tso in drivers/native/src/offload.c). 0 or
   * absent: a plain frame.
   */
  txCommit(now: number, len: number, segment = 0): void {
    this.checkOpen();
    const full = this.tx.commit(len, segment);
    this.stats.txFrames++;
    this.stats.txBytes += len;
    if (full) this.flush(now);
  }

  flush(now: number): void {
    this.checkOpen();
    const n = this.tx.pending;
    if (n === 0) return;
    const r = this.tx.submit();
    if (r < 0) {
      // A gone link throws. A down link (ENETDOWN) leaves the frames queued in the tx ring, where the kernel
      // sends them once the link is up again; the ring fills meanwhile and txReserve answers null.
      this.linkError(-r, 'transmit');
    } else if (r < n) {
      this.stats.txDropped += n - r;
    }
    this.syncCounters();
  }

  pollAt(now: number): number | undefined {
    if (this.closedFlag) return undefined;
    if (this.busyPoll) return now;
    return this.rx.pending() ? now : undefined;
  }

  setReadyCallback(cb: (() => void) | null): void {
    this.checkOpen();
    this.ready = cb;
    if (this.busyPoll) return;
    this.native.setReady(
      this.handle,
      cb === null
        ? null
        : () => {
            this.woke = true;
            this.ready?.();
          },
    );
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.ready = null;
    this.native.close(this.handle); // detaches mem and ctl (the parts' views too), so stale views read as empty
    this.bytes = new Uint8Array(0);
    this.ctl = new Uint32Array(0);
  }
}

/** A random locally administered unicast MAC (02:xx:xx:xx:xx:xx style), from `bytes` random bytes. */
export function localMac(bytes: Uint8Array): Uint8Array {
  const mac = new Uint8Array(6);
  mac.set(bytes.subarray(0, 6));
  mac[0] = (mac[0]! & 0xfc) | 0x02;
  return mac;
}
