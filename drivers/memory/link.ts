/**
 * memoryLink: two FrameDrivers joined back to back, the test link (gVisor's `channel`, smoltcp's Loopback).
 *
 * What one end commits is queued, zero-copy, to the other end's receive queue (bounded by `queueLimit`;
 * overflow is dropped and counted in the receiver's `rxDropped`) and the peer's ready callback is called from
 * inside txCommit. Frames to a closed peer are dropped and counted in the sender's `txDropped`. Both ends share
 * one buffer pool, so steady state allocates nothing. See port.ts for ownership and the errors thrown.
 */
import type { FrameDriver, Medium } from '../types.js';
import { BufferPool, maxFrameLen, MemoryPort } from './port.js';
import { checkMac, localMac, makeCaps, positiveInt, type MemoryCommonOptions } from './options.js';
import { invalidArg } from '../../protocols/util/errors.js';

export interface MemoryLinkOptions extends MemoryCommonOptions {
  /** 'ethernet' (default) or 'ip' (bare IPv4 packets, no hardware address). */
  medium?: Medium;
  /** Hardware addresses of the two ends (Ethernet only; default 02:00:00:00:00:01 and 02:00:00:00:00:02). */
  hwAddresses?: readonly [Uint8Array, Uint8Array];
}

/** One end of a memory link (or a switch port): a FrameDriver with a little introspection for tests. */
export interface MemoryDriver extends FrameDriver {
  /** Frames waiting in this end's receive queue. */
  readonly queued: number;
  readonly closed: boolean;
  /** Always present on this driver. */
  pollAt(now: number): number | undefined;
}

export function memoryLink(options: MemoryLinkOptions = {}): [MemoryDriver, MemoryDriver] {
  const medium = options.medium ?? 'ethernet';
  if (medium !== 'ethernet' && medium !== 'ip') throw invalidArg(`medium must be 'ethernet' or 'ip'`);
  const caps = makeCaps(options, medium);
  const queueLimit = positiveInt('queueLimit', options.queueLimit, 1024);
  let macA: Uint8Array | undefined;
  let macB: Uint8Array | undefined;
  if (medium === 'ethernet') {
    macA = checkMac('hwAddresses[0]', options.hwAddresses?.[0] ?? localMac(1));
    macB = checkMac('hwAddresses[1]', options.hwAddresses?.[1] ?? localMac(2));
  }
  // Room for both receive queues full and a frame reserved on each side, in one buffer.
  const pool = new BufferPool(maxFrameLen(caps), 2 * queueLimit + 2);
  let a: MemoryPort;
  let b: MemoryPort;
  const deliver = (from: MemoryPort, buf: Uint8Array, len: number, _now: number, offset: number): void => {
    const to = from === a ? b : a;
    if (to.closed) {
      from.stats.txDropped++;
      pool.give(buf, offset);
      return;
    }
    to.enqueue(buf, len, offset);
  };
  a = new MemoryPort(caps, macA, pool, queueLimit, deliver);
  b = new MemoryPort(caps, macB, pool, queueLimit, deliver);
  return [a, b];
}
