/**
 * A capture tap that can be switched on and off while the stack runs (for `byway capture PID`): a pass-through
 * FrameDriver that, while a capture is active, copies every frame received (before the stack sees it, so frames
 * that match no socket are in it too) and every frame committed for transmit into pcap records (the format of
 * drivers/middleware/pcap.ts). Off, it adds one branch per frame and allocates nothing.
 *
 * Ownership: each chunk handed to the capture's sink is fresh memory. Everything else (caps, stats, hostTables,
 * flows, wait, pollAt, errors) is the inner driver's.
 */
import type { FrameDriver, FrameSink } from '../../drivers/types.js';
import { linktypeFor, pcapFileHeader, pcapRecord } from '../../drivers/middleware/pcap.js';
import { forwardRest } from '../../drivers/middleware/forward.js';
import { BywayError } from '../../protocols/util/errors.js';

export interface ActiveCapture {
  /** Receives the pcap file header first, then one record per frame. */
  readonly sink: (chunk: Uint8Array) => void;
  /** Stop after this many frames (default: no limit). */
  readonly count?: number | undefined;
  /** Called once when the capture ends (count reached, or stop()). */
  readonly onEnd: (frames: number) => void;
}

export interface CaptureTap {
  readonly driver: FrameDriver;
  /** Start a capture (one at a time: throws EBUSY while one runs). */
  start(capture: ActiveCapture): void;
  /** End the running capture, if any. */
  stop(): void;
  readonly active: boolean;
}

export function captureTap(inner: FrameDriver, epochMs: () => number): CaptureTap {
  let cap: ActiveCapture | undefined;
  let frames = 0;
  let reserved: Uint8Array | null = null;
  const snaplen = 262144;
  const end = (): void => {
    const c = cap;
    cap = undefined;
    c?.onEnd(frames);
  };
  const write = (now: number, frame: Uint8Array): void => {
    const c = cap!;
    frames++;
    c.sink(pcapRecord(now + epochMs(), frame, snaplen));
    if (c.count !== undefined && frames >= c.count) end();
  };
  // The frame path is ours; every other member (caps, stats, flows, hostTables, wait, pollAt...) is read through.
  const driver: FrameDriver = forwardRest({
    receive(now: number, max: number, sink: FrameSink): number {
      if (cap === undefined) return inner.receive(now, max, sink);
      return inner.receive(now, max, (frame, flags) => {
        if (cap !== undefined) write(now, frame);
        sink(frame, flags);
      });
    },
    txReserve(len: number): Uint8Array | null {
      reserved = inner.txReserve(len);
      return reserved;
    },
    txCommit(now: number, len: number, segment?: number): boolean | void {
      const buf = reserved;
      reserved = null;
      if (cap !== undefined && buf !== null && Number.isInteger(len) && len >= 0 && len <= buf.length) write(now, buf.subarray(0, len));
      return segment === undefined ? inner.txCommit(now, len) : inner.txCommit(now, len, segment);
    },
    flush: (now: number) => inner.flush(now),
    setReadyCallback: (cb) => inner.setReadyCallback(cb),
    close: () => {
      end();
      inner.close();
    },
  } as Omit<FrameDriver, 'caps' | 'stats'>, inner) as FrameDriver;
  return {
    driver,
    get active() {
      return cap !== undefined;
    },
    start(c) {
      if (cap !== undefined) throw new BywayError('EBUSY', 'a capture is already running in this process');
      frames = 0;
      c.sink(pcapFileHeader(snaplen, linktypeFor(inner.caps.medium)));
      cap = c;
      if (c.count === 0) end();
    },
    stop: end,
  };
}
