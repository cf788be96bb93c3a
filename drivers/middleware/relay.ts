/**
 * relay: a pass-through FrameDriver for stacks that share one address and MAC over the queues of one link (one
 * stack per worker, src/cluster). The link's steering hands each received frame to one queue only, but some
 * frames every stack must see: ARP (each stack keeps its own neighbour cache, and the reply to one stack's
 * request lands on whichever queue the steering picks). The relay copies each received frame that `match`
 * accepts (default: ARP) and gives the copy to `relay` (the worker posts it to its siblings); frames a sibling
 * relayed come in through `inject` (copied, queued, handed to the stack before the next frames from the link).
 *
 * With `divert`, matched frames go to `relay` only (frames of another stack's flow, which this one would reset).
 * Injected frames are never relayed again. The queue holds at most `maxQueued` frames (default 256); more are
 * dropped and counted (`dropped`). Transmit, caps, stats and every capability are the inner driver's (forward.ts).
 * Ownership: `relay` gets a fresh copy it may keep; `inject` copies its argument.
 */
import type { DriverCapabilities, DriverStats, FrameDriver, FrameSink } from '../types.js';
import { forwardRest } from './forward.js';

export interface RelayOptions {
  /** Receives a copy of each received frame `match` accepts. */
  readonly relay: (frame: Uint8Array) => void;
  /** Which received frames to relay (default: EtherType ARP). */
  readonly match?: (frame: Uint8Array) => boolean;
  /** Injected frames queued at most (default 256). */
  readonly maxQueued?: number;
  /**
   * Matched frames go to `relay` only, not to this stack (default false: to both). For frames that belong to
   * another stack, which this one would answer with a reset (a flow the link's steering put on the wrong queue).
   */
  readonly divert?: boolean;
}

export interface RelayCounters {
  /** Frames copied to `relay`. */
  relayed: number;
  /** Frames injected and handed to the stack. */
  injected: number;
  /** Injected frames dropped because the queue was full. */
  dropped: number;
}

const isArp = (f: Uint8Array): boolean => f.length >= 14 && f[12] === 0x08 && f[13] === 0x06;

export class RelayDriver implements FrameDriver {
  readonly counters: RelayCounters = { relayed: 0, injected: 0, dropped: 0 };
  private readonly queue: Uint8Array[] = [];
  private ready: (() => void) | null = null;
  private readonly match: (frame: Uint8Array) => boolean;
  private readonly maxQueued: number;
  private readonly relay: (frame: Uint8Array) => void;
  private readonly divert: boolean;
  private sink: FrameSink | undefined = undefined;
  private readonly onInner: FrameSink = (frame, flags) => {
    if (this.match(frame)) {
      this.counters.relayed++;
      this.relay(frame.slice());
      if (this.divert) return;
    }
    this.sink!(frame, flags);
  };

  constructor(
    readonly inner: FrameDriver,
    options: RelayOptions,
  ) {
    this.relay = options.relay;
    this.match = options.match ?? isArp;
    this.maxQueued = options.maxQueued ?? 256;
    this.divert = options.divert === true;
    forwardRest(this, inner);
  }

  get caps(): DriverCapabilities {
    return this.inner.caps;
  }
  get hwAddress(): Uint8Array | undefined {
    return this.inner.hwAddress;
  }
  get stats(): DriverStats {
    return this.inner.stats;
  }

  /** A frame a sibling received and relayed: copied, handed to the stack on the next receive(). */
  inject(frame: Uint8Array): void {
    if (this.queue.length >= this.maxQueued) {
      this.counters.dropped++;
      return;
    }
    this.queue.push(frame.slice());
    if (this.queue.length === 1) this.ready?.();
  }

  receive(now: number, max: number, sink: FrameSink): number {
    let n = 0;
    while (n < max && this.queue.length > 0) {
      const f = this.queue.shift()!;
      this.counters.injected++;
      n++;
      sink(f, 0);
    }
    if (n >= max) return n;
    this.sink = sink;
    try {
      return n + this.inner.receive(now, max - n, this.onInner);
    } finally {
      this.sink = undefined;
    }
  }

  txReserve(len: number): Uint8Array | null {
    return this.inner.txReserve(len);
  }
  txCommit(now: number, len: number, segment?: number): boolean | void {
    return this.inner.txCommit(now, len, segment);
  }
  flush(now: number): void {
    this.inner.flush(now);
  }
  pollAt(now: number): number | undefined {
    if (this.queue.length > 0) return now;
    return this.inner.pollAt?.(now);
  }
  wait(now: number, spinUs: number): boolean {
    if (this.queue.length > 0) return true;
    return this.inner.wait ? this.inner.wait(now, spinUs) : false;
  }
  setReadyCallback(cb: (() => void) | null): void {
    this.ready = cb;
    this.inner.setReadyCallback(cb);
  }
  close(): void {
    this.queue.length = 0;
    this.inner.close();
  }
}

/** Wrap `inner` so received frames `options.match` accepts (ARP by default) go to `options.relay` too. */
export function relay(inner: FrameDriver, options: RelayOptions): RelayDriver {
  return new RelayDriver(inner, options);
}
