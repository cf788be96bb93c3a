/**
 * faults: seeded fault injection around a FrameDriver (smoltcp's FaultInjector, netem's knobs), per direction.
 *
 * Each direction (tx: what the stack sends, rx: what it receives) runs its own pipeline with its own random
 * stream (seededRng(seed) for tx, a derived seed for rx), so a run replays exactly for a seed and changing the rx
 * configuration leaves every tx decision unchanged. Per frame, in this order:
 *   1. loss       drop with probability `loss`                                       (counted: dropped)
 *   2. corrupt    flip one random bit of one random byte, in place                   (corrupted)
 *   3. duplicate  send the frame twice                                               (duplicated)
 *   4. per copy:  hold for delayMs + uniform[0, jitterMs) ms                         (delayed)
 *                 with probability `reorder`, hold reorderDelayMs more, so later frames overtake it (reordered)
 *   5. rate       token bucket of burstBytes filling at rateBitsPerSecond; frames that find too few tokens
 *                 wait in a FIFO of at most queueLimit frames (rateLimited), beyond it they are dropped
 *                 (rateLimitedDrops). A frame larger than the bucket waits until that many bytes accumulated.
 * Jitter reorders frames the way netem does (release is by time). Every decision draws from the stream only
 * for the features configured, so the sequence of outcomes depends on the seed and the configuration.
 *
 * Time: nothing happens without `now`. Held rx frames are handed over by receive(now) once `now` reaches their
 * time; held tx frames go to the inner driver on flush(now), txCommit(now), receive(now) and pollAt(now)
 * (pollAt then also calls inner.flush). pollAt reports the earliest release time (never earlier than `now`),
 * combined with the inner driver's. When the inner driver has no room (txReserve gives null) due tx frames stay
 * queued in order and pollAt asks for another try TX_RETRY_MS later. Delays count from the moment the wrapper
 * sees a frame: for rx, when receive() pulls it from the inner driver.
 *
 * Buffers: a direction with no fault configured is a pure pass-through (no copy; txReserve is the inner's).
 * Otherwise tx frames are written into a scratch buffer owned by the wrapper and copied into the inner driver's
 * buffer when released; held frames (either direction) are copied into a pool bounded by `holdLimit` frames
 * (overflow is dropped and counted in holdDrops). rx frames released at once are handed over as the inner
 * driver's view, zero-copy (corruption flips the bit in that view). A receive() never hands over more than
 * `max` frames: a duplicate beyond the budget is held and released on the next call (pollAt says "now").
 *
 * `stats` are the inner driver's (frames the link really carried); fault counters are in `faultStats`. Every
 * capability the wrapper does not define itself (`flows`, `hostTables`, ...) is the inner driver's (forward.ts).
 * Throws: ERR_INVALID_ARG_VALUE for bad options; ERR_DRIVER_CLOSED after close(); with tx faults configured,
 * ERR_INVALID_STATE for txCommit without txReserve and ERR_FRAME_TOO_BIG above mtu (+18 on Ethernet).
 */
import { BywayError, type DriverCapabilities, type DriverStats, type FrameDriver, type FrameSink } from '../types.js';
import { invalidArg } from '../../protocols/util/errors.js';
import { seededRng } from '../../protocols/util/rng.js';
import { forwardRest } from './forward.js';

export interface FaultConfig {
  /** Probability a frame is dropped. */
  loss?: number;
  /** Probability a frame is sent twice. */
  duplicate?: number;
  /** Probability a frame is held back reorderDelayMs longer than the others, so later frames overtake it. */
  reorder?: number;
  /** Extra hold for a reordered frame (default 1 ms). */
  reorderDelayMs?: number;
  /** Probability one bit of the frame is flipped. */
  corrupt?: number;
  /** Fixed one-way delay in ms. */
  delayMs?: number;
  /** Extra delay drawn uniformly from [0, jitterMs) per frame. */
  jitterMs?: number;
  /** Token-bucket rate limit in bits per second. */
  rateBitsPerSecond?: number;
  /** Token-bucket depth in bytes (default: one largest frame). */
  burstBytes?: number;
  /** Frames waiting for tokens, at most (default 1024); beyond it frames are dropped. */
  queueLimit?: number;
  /** Frames held in all (delayed, reordered, rate-limited, blocked), at most (default 4096). */
  holdLimit?: number;
}

export interface FaultOptions {
  seed: number;
  tx?: FaultConfig;
  rx?: FaultConfig;
}

export interface FaultCounters {
  /** Frames that entered the pipeline. */
  frames: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  delayed: number;
  /** Frames that waited for tokens. */
  rateLimited: number;
  /** Frames dropped because the rate-limit queue was full. */
  rateLimitedDrops: number;
  /** Frames dropped because the hold pool was full. */
  holdDrops: number;
}

export interface FaultDriver extends FrameDriver {
  readonly faultStats: { readonly tx: FaultCounters; readonly rx: FaultCounters };
  /** Frames currently held per direction. */
  readonly held: { readonly tx: number; readonly rx: number };
  /** Always present on this driver. */
  pollAt(now: number): number | undefined;
}

function newCounters(): FaultCounters {
  return { frames: 0, dropped: 0, duplicated: 0, reordered: 0, corrupted: 0, delayed: 0, rateLimited: 0, rateLimitedDrops: 0, holdDrops: 0 };
}

/** A frame held for later: `time` is when it may leave its stage. */
interface Held {
  time: number;
  seq: number;
  buf: Uint8Array;
  len: number;
}

/** Hands a frame on: returns false when it cannot now (rx budget spent, inner tx ring full). */
interface Emitter {
  now: number;
  /** Frames handed on so far. */
  sent: number;
  tryEmit(frame: Uint8Array): boolean;
}

function prob(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw invalidArg(`${name} must be a probability in [0, 1], got ${v}`);
  return v;
}

function nonNeg(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw invalidArg(`${name} must be a finite number >= 0, got ${v}`);
  return v;
}

function count(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1 || v > 1 << 24) throw invalidArg(`${name} must be an integer >= 1, got ${v}`);
  return v;
}

/** Min-heap of held frames by (time, seq): the delay stage. */
class HeldHeap {
  private readonly a: Held[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): Held | undefined {
    return this.a[0];
  }
  private less(x: Held, y: Held): boolean {
    return x.time < y.time || (x.time === y.time && x.seq < y.seq);
  }
  push(h: Held): void {
    const a = this.a;
    let i = a.length;
    a.push(h);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Held | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
  clear(): void {
    this.a.length = 0;
  }
}

/** FIFO over an array with a moving head (compacted when half is dead). */
class Fifo<T> {
  private a: T[] = [];
  private head = 0;
  get size(): number {
    return this.a.length - this.head;
  }
  peek(): T | undefined {
    return this.a[this.head];
  }
  push(v: T): void {
    this.a.push(v);
  }
  shift(): T | undefined {
    if (this.head >= this.a.length) return undefined;
    const v = this.a[this.head++];
    if (this.head > 64 && this.head * 2 > this.a.length) {
      this.a = this.a.slice(this.head);
      this.head = 0;
    }
    return v;
  }
  clear(): void {
    this.a = [];
    this.head = 0;
  }
}

class Direction {
  readonly counters = newCounters();
  readonly active: boolean;
  private readonly rng: ReturnType<typeof seededRng>;
  private readonly loss: number;
  private readonly duplicate: number;
  private readonly reorder: number;
  private readonly reorderDelayMs: number;
  private readonly corrupt: number;
  private readonly delayMs: number;
  private readonly jitterMs: number;
  /** Bytes per ms; 0 means no rate limit. */
  private readonly rate: number;
  private readonly burst: number;
  private readonly queueLimit: number;
  private readonly holdLimit: number;
  /** Delay stage, by release time. */
  private readonly stage = new HeldHeap();
  /** After the shaper, by departure time (non-decreasing): frames due or waiting for tokens or for the inner. */
  private readonly out = new Fifo<Held>();
  /** Departure times of frames that waited for tokens, to know how many are still queued in the shaper. */
  private readonly waiting = new Fifo<number>();
  private tokens = 0;
  private tLast = Number.NaN;
  private lastDeparture = -Infinity;
  private seq = 0;
  private heldCount = 0;
  private readonly free: Uint8Array[] = [];

  constructor(name: string, cfg: FaultConfig | undefined, seed: number, private readonly bufSize: number) {
    const c = cfg ?? {};
    this.rng = seededRng(seed);
    this.loss = prob(`${name}.loss`, c.loss);
    this.duplicate = prob(`${name}.duplicate`, c.duplicate);
    this.reorder = prob(`${name}.reorder`, c.reorder);
    this.corrupt = prob(`${name}.corrupt`, c.corrupt);
    this.reorderDelayMs = nonNeg(`${name}.reorderDelayMs`, c.reorderDelayMs, 1);
    this.delayMs = nonNeg(`${name}.delayMs`, c.delayMs, 0);
    this.jitterMs = nonNeg(`${name}.jitterMs`, c.jitterMs, 0);
    const bps = c.rateBitsPerSecond;
    if (bps !== undefined && (typeof bps !== 'number' || !(bps > 0) || !Number.isFinite(bps))) {
      throw invalidArg(`${name}.rateBitsPerSecond must be a positive number, got ${bps}`);
    }
    this.rate = bps === undefined ? 0 : bps / 8000;
    this.burst = nonNeg(`${name}.burstBytes`, c.burstBytes, bufSize);
    this.queueLimit = count(`${name}.queueLimit`, c.queueLimit, 1024);
    this.holdLimit = count(`${name}.holdLimit`, c.holdLimit, 4096);
    this.active =
      this.loss > 0 || this.duplicate > 0 || this.reorder > 0 || this.corrupt > 0 ||
      this.delayMs > 0 || this.jitterMs > 0 || this.rate > 0;
  }

  get held(): number {
    return this.heldCount;
  }

  /** A new frame from the stack (tx) or the inner driver (rx), at `em.now`. */
  process(frame: Uint8Array, em: Emitter): void {
    const c = this.counters;
    const rng = this.rng;
    c.frames++;
    if (this.loss > 0 && rng.nextFloat() < this.loss) {
      c.dropped++;
      return;
    }
    if (this.corrupt > 0 && rng.nextFloat() < this.corrupt && frame.length > 0) {
      frame[rng.nextInt(frame.length)]! ^= 1 << rng.nextInt(8);
      c.corrupted++;
    }
    let copies = 1;
    if (this.duplicate > 0 && rng.nextFloat() < this.duplicate) {
      copies = 2;
      c.duplicated++;
    }
    for (let i = 0; i < copies; i++) this.schedule(frame, em);
  }

  private schedule(frame: Uint8Array, em: Emitter): void {
    const now = em.now;
    let e = now;
    if (this.delayMs > 0 || this.jitterMs > 0) {
      e += this.delayMs + (this.jitterMs > 0 ? this.rng.nextFloat() * this.jitterMs : 0);
      if (e > now) this.counters.delayed++;
    }
    if (this.reorder > 0 && this.rng.nextFloat() < this.reorder) {
      e += this.reorderDelayMs;
      this.counters.reordered++;
    }
    if (e > now) {
      const h = this.hold(frame, e);
      if (h !== null) this.stage.push(h);
      return;
    }
    this.shape(e, frame, null, em);
  }

  /** Token bucket (RFC 2697 §1 style, one bucket): when a frame of `len` bytes eligible at `e` leaves. */
  private departure(e: number, len: number): number {
    if (Number.isNaN(this.tLast)) {
      this.tLast = e;
      this.tokens = this.burst;
    }
    const t = Math.max(e, this.lastDeparture);
    this.tokens = Math.min(this.burst, this.tokens + (t - this.tLast) * this.rate);
    this.tLast = t;
    let d = t;
    if (this.tokens >= len) {
      this.tokens -= len;
    } else {
      d = t + (len - this.tokens) / this.rate;
      this.tokens = 0;
      this.tLast = d;
    }
    this.lastDeparture = d;
    return d;
  }

  /** Pass a frame eligible at `e` through the rate limiter, then emit it or queue it in `out`. */
  private shape(e: number, frame: Uint8Array, held: Held | null, em: Emitter): void {
    let d = e;
    if (this.rate > 0) {
      const w = this.waiting;
      while (w.size > 0 && w.peek()! <= e) w.shift();
      if (w.size >= this.queueLimit) {
        this.counters.rateLimitedDrops++;
        if (held !== null) this.release(held);
        return;
      }
      d = this.departure(e, frame.length);
      if (d > e) {
        this.counters.rateLimited++;
        w.push(d);
      }
    }
    if (d <= em.now && this.out.size === 0 && em.tryEmit(frame)) {
      if (held !== null) this.release(held);
      return;
    }
    const h = held ?? this.hold(frame, d);
    if (h === null) return;
    h.time = d;
    this.out.push(h);
  }

  /** Move frames whose time has come through the stages and hand over what is due. */
  advance(em: Emitter): void {
    const now = em.now;
    for (;;) {
      const s = this.stage.peek();
      const o = this.out.peek();
      // Take whichever is earlier, so the shaper sees frames in eligibility order and `out` stays ordered.
      if (o !== undefined && o.time <= now && (s === undefined || o.time <= s.time)) {
        if (!em.tryEmit(o.buf.subarray(0, o.len))) break;
        this.out.shift();
        this.release(o);
        continue;
      }
      if (s !== undefined && s.time <= now) {
        this.stage.pop();
        this.shape(s.time, s.buf.subarray(0, s.len), s, em);
        continue;
      }
      break;
    }
  }

  /** The earliest time anything held becomes due, if anything is held. */
  nextTime(): number | undefined {
    const s = this.stage.peek();
    const o = this.out.peek();
    if (s === undefined) return o?.time;
    if (o === undefined) return s.time;
    return Math.min(s.time, o.time);
  }

  private hold(frame: Uint8Array, time: number): Held | null {
    if (this.heldCount >= this.holdLimit) {
      this.counters.holdDrops++;
      return null;
    }
    const len = frame.length;
    const buf = len <= this.bufSize ? (this.free.pop() ?? new Uint8Array(this.bufSize)) : new Uint8Array(len);
    buf.set(frame);
    this.heldCount++;
    return { time, seq: this.seq++, buf, len };
  }

  private release(h: Held): void {
    this.heldCount--;
    if (h.buf.length === this.bufSize) this.free.push(h.buf);
  }

  clear(): void {
    this.stage.clear();
    this.out.clear();
    this.waiting.clear();
    this.free.length = 0;
    this.heldCount = 0;
  }
}

/** When the inner driver refused a due tx frame (txReserve gave null), pollAt asks to be called again this much later. */
export const TX_RETRY_MS = 1;

/** Seed of the rx stream, derived so tx and rx draw from unrelated sequences. */
const RX_SEED_OFFSET = 0x6a09e667;

export function faults(inner: FrameDriver, options: FaultOptions): FaultDriver {
  if (options === null || typeof options !== 'object' || !Number.isFinite(options.seed)) {
    throw invalidArg('faults: options.seed must be a finite number');
  }
  const l2 = inner.caps.medium === 'ethernet' ? 18 : 0;
  const frameMax = inner.caps.mtu + l2;
  const seed = options.seed >>> 0;
  const tx = new Direction('tx', options.tx, seed, frameMax);
  // Received frames may be above the MTU when the device coalesces them (caps.rxMaxPacket).
  const rx = new Direction('rx', options.rx, (seed + RX_SEED_OFFSET) >>> 0, Math.max(inner.caps.mtu, inner.caps.rxMaxPacket ?? 0) + l2);
  // Impaired transmit works on frames as they would cross a wire, so the stack is not offered TSO then: it sends
  // MTU-sized segments and each meets loss, reordering and corruption alone. Impaired receive hands frames on
  // without the driver's per-frame flags (a frame may have been altered: its checksum is the stack's to check).
  const caps: DriverCapabilities = tx.active && inner.caps.tso !== undefined ? { ...inner.caps, tso: undefined } : inner.caps;
  let closed = false;
  let scratch: Uint8Array | null = null;
  let reservedLen = -1;

  const txEmitter: Emitter = {
    now: 0,
    sent: 0,
    tryEmit(frame: Uint8Array): boolean {
      const b = inner.txReserve(frame.length);
      if (b === null) return false;
      b.set(frame);
      inner.txCommit(this.now, frame.length);
      this.sent++;
      return true;
    },
  };
  let rxSink: FrameSink = () => {};
  let rxBudget = 0;
  let rxHanded = 0;
  const rxEmitter: Emitter = {
    now: 0,
    sent: 0,
    tryEmit(frame: Uint8Array): boolean {
      if (rxHanded >= rxBudget) return false;
      rxHanded++;
      rxSink(frame);
      return true;
    },
  };
  const innerRxSink: FrameSink = (frame) => rx.process(frame, rxEmitter);

  const check = (): void => {
    if (closed) throw new BywayError('ERR_DRIVER_CLOSED', 'the driver is closed');
  };
  const advanceTx = (now: number): number => {
    if (!tx.active) return 0;
    txEmitter.now = now;
    const before = txEmitter.sent;
    tx.advance(txEmitter);
    return txEmitter.sent - before;
  };

  return forwardRest({
    get caps(): DriverCapabilities {
      return caps;
    },
    get hwAddress() {
      return inner.hwAddress;
    },
    get stats(): DriverStats {
      return inner.stats;
    },
    faultStats: { tx: tx.counters, rx: rx.counters },
    held: {
      get tx() {
        return tx.held;
      },
      get rx() {
        return rx.held;
      },
    },

    receive(now: number, max: number, sink: FrameSink): number {
      check();
      advanceTx(now);
      if (!rx.active) return inner.receive(now, max, sink);
      const savedSink = rxSink;
      const savedBudget = rxBudget;
      const savedHanded = rxHanded;
      rxSink = sink;
      rxBudget = Math.min(max, caps.maxBatch);
      rxHanded = 0;
      rxEmitter.now = now;
      try {
        rx.advance(rxEmitter);
        if (rxHanded < rxBudget) inner.receive(now, rxBudget - rxHanded, innerRxSink);
        return rxHanded;
      } finally {
        rxSink = savedSink;
        rxBudget = savedBudget;
        rxHanded = savedHanded;
      }
    },

    txReserve(len: number): Uint8Array | null {
      check();
      if (!tx.active) return inner.txReserve(len);
      if (!Number.isInteger(len) || len < 0) throw invalidArg(`txReserve: bad length ${len}`);
      if (len > frameMax) throw new BywayError('ERR_FRAME_TOO_BIG', `txReserve: ${len} bytes exceed the largest frame (${frameMax})`);
      if (scratch === null) scratch = new Uint8Array(frameMax);
      reservedLen = len;
      return scratch.subarray(0, len);
    },

    txCommit(now: number, len: number, segment?: number): boolean | void {
      check();
      if (!tx.active) return segment === undefined ? inner.txCommit(now, len) : inner.txCommit(now, len, segment);
      if (reservedLen < 0 || scratch === null) throw new BywayError('ERR_INVALID_STATE', 'txCommit without txReserve');
      if (!Number.isInteger(len) || len < 0 || len > reservedLen) {
        throw invalidArg(`txCommit: length ${len} outside the reserved ${reservedLen} bytes`);
      }
      reservedLen = -1;
      advanceTx(now); // frames already due leave first, keeping order
      tx.process(scratch.subarray(0, len), txEmitter);
    },

    flush(now: number): void {
      check();
      advanceTx(now);
      inner.flush(now);
    },

    pollAt(now: number): number | undefined {
      check();
      if (advanceTx(now) > 0) inner.flush(now);
      let t = inner.pollAt?.(now);
      let txDue = tx.nextTime();
      // Still due after advancing: the inner driver had no room. Retry shortly rather than asking to spin.
      if (txDue !== undefined && txDue <= now) txDue = now + TX_RETRY_MS;
      for (const d of [txDue, rx.nextTime()]) {
        if (d !== undefined && (t === undefined || d < t)) t = d;
      }
      return t === undefined ? undefined : Math.max(t, now);
    },

    // The inner driver's native spin, only while nothing is held: held frames fall due with time, which a spin
    // in the inner driver would not notice; with frames held it answers false at once and the loop polls on.
    ...(inner.wait
      ? {
          wait(now: number, spinUs: number): boolean {
            check();
            if (tx.held > 0 || rx.held > 0) return false;
            return inner.wait!(now, spinUs);
          },
        }
      : {}),

    setReadyCallback(cb: (() => void) | null): void {
      if (closed && cb !== null) check();
      inner.setReadyCallback(cb);
    },

    close(): void {
      if (closed) return;
      closed = true;
      tx.clear();
      rx.clear();
      scratch = null;
      inner.close();
    },
  }, inner);
}
