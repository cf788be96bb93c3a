/**
 * The building blocks shared by the in-memory link and the in-memory switch: a pool of frame buffers and a
 * port (a FrameDriver whose transmit side hands committed buffers to an owner-supplied `forward`).
 *
 * Buffer ownership: a buffer lent by `txReserve` belongs to the stack until `txCommit`; from then on it belongs
 * to the link (queued to a receiver, zero-copy) and returns to the pool after that receiver's sink returns, or
 * at once when the frame is dropped. A received view is valid only until the sink returns.
 *
 * Throws (misuse only, BywayError): ERR_DRIVER_CLOSED for any use after close(), ERR_INVALID_STATE for
 * txCommit without txReserve, ERR_FRAME_TOO_BIG for txReserve above the largest frame, ERR_INVALID_ARG_VALUE
 * for a negative or fractional length.
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
import { invalidArg } from '../../protocols/util/errors.js';
import { completeTcpChecksum, segmentTcp } from './tso.js';

/** Ethernet header (14) plus one 802.1Q tag (4): what a frame may carry above the L3 MTU. */
export const ETHERNET_OVERHEAD = 18;

/** Largest frame a link with these caps carries: the MTU plus the Ethernet header and one VLAN tag. */
export function maxFrameLen(caps: DriverCapabilities): number {
  return caps.medium === 'ethernet' ? caps.mtu + ETHERNET_OVERHEAD : caps.mtu;
}

/**
 * Free list of equal-sized buffers. Buffers are allocated on demand and never freed, so the pool grows to the
 * peak number of frames in flight (bounded by the receive queue limits) and allocates nothing after that.
 * The first `reserve` buffers are carved from one ArrayBuffer (frames 64-byte aligned, allocated at the first take;
 * at most 16 MiB, untouched pages cost no memory), as a driver's ring or UMEM is one buffer: code that caches a
 * view per ArrayBuffer (the checksum's 32-bit word view) then hits its cache from one frame to the next, where one
 * ArrayBuffer per frame missed it on every frame (and slabs of 256 KiB, their frames interleaved by the free list,
 * on 42 % of frames). Buffers past the reserve get an ArrayBuffer each.
 */
export class BufferPool {
  private readonly free: Uint8Array[] = [];
  /** The arena offset of each free buffer (-1: a buffer of its own), beside `free`. */
  private readonly freeOffsets: number[] = [];
  /** Buffers ever allocated; exposed so tests can see that steady state allocates nothing. */
  allocated = 0;
  /**
   * The arena offset of the buffer the last `take` returned, or -1 when it has an ArrayBuffer of its own: a port
   * hands an arena frame to the stack as a range of `arenaView`, as a ring driver does (the stack's per-view caches,
   * the checksum's, then hit from one frame to the next).
   */
  lastOffset = -1;
  private readonly stride: number;
  private readonly reserve: number;
  private arena: ArrayBuffer | null = null;
  /** One view of the whole arena (empty until the first take). */
  arenaView: Uint8Array = new Uint8Array(0);
  constructor(
    readonly bufferSize: number,
    reserve = 0,
  ) {
    this.stride = (bufferSize + 63) & ~63;
    this.reserve = Math.min(reserve, Math.floor(ARENA_MAX_BYTES / this.stride));
  }
  take(): Uint8Array {
    const b = this.free.pop();
    if (b !== undefined) {
      this.lastOffset = this.freeOffsets.pop()!;
      return b;
    }
    const k = this.allocated++;
    if (k >= this.reserve) {
      this.lastOffset = -1;
      return new Uint8Array(this.bufferSize);
    }
    if (this.arena === null) {
      this.arena = new ArrayBuffer(this.stride * this.reserve);
      this.arenaView = new Uint8Array(this.arena);
    }
    this.lastOffset = this.stride * k;
    return new Uint8Array(this.arena, this.stride * k, this.bufferSize);
  }
  /** Back to the pool; `offset` is what `take` said of it (-1 when unknown: it is then lent as a buffer of its own). */
  give(b: Uint8Array, offset = -1): void {
    this.free.push(b);
    this.freeOffsets.push(offset);
  }
  get available(): number {
    return this.free.length;
  }
}

/** The largest single ArrayBuffer a BufferPool reserves. */
const ARENA_MAX_BYTES = 16 * 1024 * 1024;

export function closedError(): BywayError {
  return new BywayError('ERR_DRIVER_CLOSED', 'the driver is closed');
}

/**
 * Called with a committed frame: the callee now owns `buf` and must `pool.give` it (or queue it), with `offset`,
 * its place in the pool's arena as the pool said (-1: a buffer of its own, or not known).
 */
export type ForwardFn = (from: MemoryPort, buf: Uint8Array, len: number, now: number, offset: number) => void;

export class MemoryPort implements FrameDriver {
  readonly stats: DriverStats = newDriverStats();
  private readonly queueBufs: (Uint8Array | null)[];
  private readonly queueLens: Int32Array;
  /** Each queued frame's arena offset (BufferPool.lastOffset), -1 for a buffer of its own. */
  private readonly queueOffsets: Int32Array;
  private head = 0;
  private count = 0;
  private reserved: Uint8Array | null = null;
  private reservedOffset = -1;
  private reservedLen = 0;
  private ready: (() => void) | null = null;
  private closedFlag = false;
  private readonly frameMax: number;
  /** With caps.tso: the largest frame txReserve lends (a TSO packet), and the one buffer it uses for them. */
  private readonly tsoFrameMax: number;
  private tsoBuf: Uint8Array | null = null;
  /** With caps.tso and TCP rx 'verify': fill TCP checksums as a device would (see options.ts). */
  private readonly fillTcp: boolean;
  /** TSO packets cut into segments by this port. */
  tsoPackets = 0;
  /** Run once by close(), so the owner can unlink the port. */
  onClose: (() => void) | null = null;

  constructor(
    readonly caps: DriverCapabilities,
    readonly hwAddress: Uint8Array | undefined,
    private readonly pool: BufferPool,
    readonly queueLimit: number,
    private readonly forward: ForwardFn,
  ) {
    this.frameMax = maxFrameLen(caps);
    this.tsoFrameMax = caps.tso ? this.frameMax - caps.mtu + caps.tso.maxBytes : this.frameMax;
    this.fillTcp = caps.tso !== undefined && caps.checksum.tcp.rx === 'verify';
    this.queueBufs = new Array<Uint8Array | null>(queueLimit).fill(null);
    this.queueLens = new Int32Array(queueLimit);
    this.queueOffsets = new Int32Array(queueLimit);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Frames waiting in the receive queue. */
  get queued(): number {
    return this.count;
  }

  /**
   * Take ownership of `buf` (a pool buffer holding a `len`-byte frame, at `offset` in the pool's arena or -1) for
   * the receive queue. When the port is closed or the queue is full the buffer goes back to the pool and false is
   * returned; a full queue counts `rxDropped`. Calls the ready callback when the frame was queued.
   */
  enqueue(buf: Uint8Array, len: number, offset = -1): boolean {
    if (this.closedFlag) {
      this.pool.give(buf, offset);
      return false;
    }
    if (this.count === this.queueLimit) {
      this.stats.rxDropped++;
      this.pool.give(buf, offset);
      return false;
    }
    let tail = this.head + this.count;
    if (tail >= this.queueLimit) tail -= this.queueLimit;
    this.queueBufs[tail] = buf;
    this.queueLens[tail] = len;
    this.queueOffsets[tail] = offset;
    this.count++;
    const cb = this.ready;
    if (cb !== null) cb();
    return true;
  }

  receive(now: number, max: number, sink: FrameSink): number {
    return this.receiveRanges(now, max, (buf, start, end) => sink(buf.subarray(start, end)));
  }

  receiveRanges(now: number, max: number, sink: RangeSink): number {
    if (this.closedFlag) throw closedError();
    const n = Math.min(max, this.caps.maxBatch, this.count);
    let handed = 0;
    while (handed < n && this.count > 0) {
      const i = this.head;
      const buf = this.queueBufs[i]!;
      const len = this.queueLens[i]!;
      const off = this.queueOffsets[i]!;
      this.queueBufs[i] = null;
      this.head = i + 1 === this.queueLimit ? 0 : i + 1;
      this.count--;
      handed++;
      this.stats.rxFrames++;
      this.stats.rxBytes += len;
      try {
        // An arena frame goes as a range of the one arena view, as a ring driver's frames are ranges of its ring.
        if (off >= 0) sink(this.pool.arenaView, off, off + len, 0);
        else sink(buf, 0, len, 0);
      } finally {
        // The frame was valid only during the call: the buffer goes back to the pool for reuse.
        this.pool.give(buf, off);
      }
      if (this.closedFlag) break; // the sink closed us
    }
    return handed;
  }

  txReserve(len: number): Uint8Array | null {
    const buf = this.lend(len);
    return buf.subarray(0, len);
  }

  txLend(len: number, lease: TxLease): boolean {
    const buf = this.lend(len);
    // An arena frame is lent as a range of the arena view (as a ring driver lends), a buffer of its own whole.
    if (this.reservedOffset >= 0) {
      lease.buf = this.pool.arenaView;
      lease.start = this.reservedOffset;
    } else {
      lease.buf = buf;
      lease.start = 0;
    }
    return true;
  }

  /** The buffer a reservation of len bytes writes into, from offset 0 (the port always has room). */
  private lend(len: number): Uint8Array {
    if (this.closedFlag) throw closedError();
    if (!Number.isInteger(len) || len < 0) throw invalidArg(`txReserve: bad length ${len}`);
    if (len > this.tsoFrameMax) {
      throw new BywayError('ERR_FRAME_TOO_BIG', `txReserve: ${len} bytes exceed the largest frame (${this.tsoFrameMax})`);
    }
    if (len > this.frameMax) {
      // A TSO packet: the port's one big buffer (a pool buffer of an open small reservation goes back).
      if (this.reserved !== null && this.reserved !== this.tsoBuf) this.pool.give(this.reserved, this.reservedOffset);
      this.reserved = this.tsoBuf ??= new Uint8Array(this.tsoFrameMax);
      this.reservedOffset = -1;
    } else if (this.reserved === this.tsoBuf && this.reserved !== null) {
      this.reserved = this.pool.take();
      this.reservedOffset = this.pool.lastOffset;
    }
    // A second reservation replaces the first (only one is open at a time): reuse its buffer.
    if (this.reserved === null) {
      this.reserved = this.pool.take();
      this.reservedOffset = this.pool.lastOffset;
    }
    this.reservedLen = len;
    return this.reserved;
  }

  txCommit(now: number, len: number, segment?: number): void {
    if (this.closedFlag) throw closedError();
    const buf = this.reserved;
    if (buf === null) throw new BywayError('ERR_INVALID_STATE', 'txCommit without txReserve');
    if (!Number.isInteger(len) || len < 0 || len > this.reservedLen) {
      throw invalidArg(`txCommit: length ${len} outside the reserved ${this.reservedLen} bytes`);
    }
    const offset = this.reservedOffset;
    this.reserved = null;
    this.stats.txFrames++;
    this.stats.txBytes += len;
    const ethernet = this.caps.medium === 'ethernet';
    if (buf === this.tsoBuf) {
      if (len <= this.frameMax) {
        const small = this.pool.take();
        small.set(buf.subarray(0, len));
        if (this.fillTcp) completeTcpChecksum(small, len, ethernet);
        this.forward(this, small, len, now, this.pool.lastOffset);
        return;
      }
      // Above the MTU only as TSO: the device cuts it, or drops what it cannot cut (not TCP, no segment size). The
      // segments' places in the arena are not followed: they go as buffers of their own.
      const n = segment === undefined ? 0 : segmentTcp(buf, len, ethernet, segment, this.frameMax, this.fillTcp, this.take, (b, l) => this.forward(this, b, l, now, -1));
      if (n === 0) this.stats.txDropped++;
      else this.tsoPackets++;
      return;
    }
    if (this.fillTcp) completeTcpChecksum(buf, len, ethernet);
    this.forward(this, buf, len, now, offset);
  }

  private readonly take = (): Uint8Array => this.pool.take();

  flush(_now: number): void {
    if (this.closedFlag) throw closedError();
  }

  /** Frames waiting to be received need attention now; a closed port needs none. */
  pollAt(now: number): number | undefined {
    if (this.closedFlag) return undefined;
    return this.queued > 0 ? now : undefined;
  }

  setReadyCallback(cb: (() => void) | null): void {
    if (this.closedFlag && cb !== null) throw closedError();
    this.ready = cb;
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.ready = null;
    while (this.count > 0) {
      const i = this.head;
      this.pool.give(this.queueBufs[i]!, this.queueOffsets[i]!);
      this.queueBufs[i] = null;
      this.head = i + 1 === this.queueLimit ? 0 : i + 1;
      this.count--;
    }
    if (this.reserved !== null) {
      if (this.reserved !== this.tsoBuf) this.pool.give(this.reserved, this.reservedOffset);
      this.reserved = null;
    }
    this.tsoBuf = null;
    const cb = this.onClose;
    this.onClose = null;
    if (cb !== null) cb();
  }
}
