/**
 * memoryQueues: one link end split into `queues` FrameDrivers, the way a multi-queue NIC's RSS or an AF_PACKET
 * fanout group splits one interface: each received frame goes to the one queue `pick(frame)` names (modulo the
 * queue count); every queue transmits on the shared end. For tests of several stacks sharing one address and MAC
 * on the virtual clock (src/cluster's model), with the same steering function the kernel runs.
 *
 * Receiving on any queue first drains the shared end and sorts its frames into per-queue queues (copies: the end's
 * views are valid only during its receive). A closed queue's frames are dropped and counted in its `rxDropped`, as
 * a kernel drops frames for a member that left. Readiness: a frame on the shared end wakes every queue. One
 * transmit reservation at a time across all queues (the shared end's rule), which a single-threaded simulation
 * keeps by construction.
 */
import { BywayError, newDriverStats, type DriverStats, type FrameDriver, type FrameSink } from '../types.js';
import { invalidArg } from '../../protocols/util/errors.js';

export interface MemoryQueue extends FrameDriver {
  readonly index: number;
  readonly closed: boolean;
  pollAt(now: number): number | undefined;
}

export function memoryQueues(end: FrameDriver, queues: number, pick: (frame: Uint8Array) => number): MemoryQueue[] {
  if (!Number.isInteger(queues) || queues < 1) throw invalidArg(`queues must be a positive integer, got ${queues}`);
  const pending: Uint8Array[][] = Array.from({ length: queues }, () => []);
  const qs: QueueDriver[] = [];
  const flags: number[][] = Array.from({ length: queues }, () => []);
  const sort = (now: number): void => {
    for (;;) {
      const n = end.receive(now, 256, (f, fl) => {
        const q = qs[(pick(f) >>> 0) % queues]!;
        if (q.closed) {
          q.stats.rxDropped++;
          return;
        }
        pending[q.index]!.push(f.slice());
        flags[q.index]!.push(fl ?? 0);
      });
      if (n === 0) return;
    }
  };
  end.setReadyCallback(() => {
    for (const q of qs) q.wake();
  });
  for (let i = 0; i < queues; i++) qs.push(new QueueDriver(i, end, sort, pending[i]!, flags[i]!));
  return qs;
}

class QueueDriver implements MemoryQueue {
  readonly stats: DriverStats = newDriverStats();
  private ready: (() => void) | null = null;
  private closedFlag = false;

  constructor(
    readonly index: number,
    private readonly end: FrameDriver,
    private readonly sort: (now: number) => void,
    private readonly pending: Uint8Array[],
    private readonly flags: number[],
  ) {}

  get caps() {
    return this.end.caps;
  }
  get hwAddress(): Uint8Array | undefined {
    return this.end.hwAddress;
  }
  get closed(): boolean {
    return this.closedFlag;
  }

  wake(): void {
    this.ready?.();
  }

  private check(): void {
    if (this.closedFlag) throw new BywayError('ERR_DRIVER_CLOSED', 'the driver is closed');
  }

  receive(now: number, max: number, sink: FrameSink): number {
    this.check();
    this.sort(now);
    let n = 0;
    const fl = this.flags;
    while (n < max && this.pending.length > 0) {
      const f = this.pending.shift()!;
      const flag = fl.shift() ?? 0;
      this.stats.rxFrames++;
      this.stats.rxBytes += f.length;
      n++;
      sink(f, flag);
    }
    return n;
  }

  txReserve(len: number): Uint8Array | null {
    this.check();
    return this.end.txReserve(len);
  }
  txCommit(now: number, len: number, segment?: number): boolean | void {
    this.check();
    this.stats.txFrames++;
    this.stats.txBytes += len;
    return this.end.txCommit(now, len, segment);
  }
  flush(now: number): void {
    this.end.flush(now);
  }
  pollAt(now: number): number | undefined {
    if (this.closedFlag) return undefined;
    if (this.pending.length > 0) return now;
    return this.end.pollAt?.(now);
  }
  setReadyCallback(cb: (() => void) | null): void {
    this.ready = cb;
  }
  close(): void {
    this.closedFlag = true;
    this.pending.length = 0;
    this.flags.length = 0;
  }
}
