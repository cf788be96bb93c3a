/**
 * The FrameDriver contract: the only way the stack reaches a link.
 *
 * A driver moves whole frames (Ethernet frames, or bare IPv4 packets when `caps.medium` is 'ip') between the
 * stack and a link: an in-memory wire, a TAP device, an AF_PACKET or AF_XDP ring.
 *
 * Buffer ownership
 * - Receive: `receive()` hands each frame to `sink` as a view into the driver's memory (a ring slot, a UMEM
 *   chunk, a pooled buffer). The view is valid only until `sink` returns; the driver may reuse it afterwards.
 *   Whoever needs the bytes longer copies them.
 * - Transmit: `txReserve(len)` lends a buffer of exactly `len` bytes in the driver's memory; the stack writes
 *   the frame in place and hands it back with `txCommit(len)` (len may shrink). Only one reservation is open at
 *   a time. After `txCommit` the stack must not touch the buffer again. `null` from `txReserve` means "no room
 *   now" (ring full): the stack keeps the data and retries on the next poll.
 *
 * Time: drivers never read a clock. `now` (milliseconds, any origin, monotonic) is passed in, so middleware that
 * delays or rate-limits frames replays exactly on a virtual clock. A driver holding frames for later tells the
 * stack when through `pollAt(now)`.
 *
 * Nothing here throws for bad frames; a driver throws only for misuse (`txCommit` without a reservation) or
 * when it cannot work at all (closed, link gone), with a stable `code`.
 */

export type Medium = 'ethernet' | 'ip';

/** How one protocol's checksum is handled by the device, per direction. */
export interface ChecksumCaps {
  /** 'compute': the stack fills the checksum. 'offload': the device fills it; the stack leaves it alone. */
  readonly tx: 'compute' | 'offload';
  /** 'verify': the stack checks received checksums. 'trusted': the device already checked them. */
  readonly rx: 'verify' | 'trusted';
}

export interface ChecksumCapabilities {
  readonly ipv4: ChecksumCaps;
  readonly icmp: ChecksumCaps;
  readonly udp: ChecksumCaps;
  readonly tcp: ChecksumCaps;
}

export interface DriverCapabilities {
  readonly medium: Medium;
  /** Largest IP packet the link carries (the L3 MTU; the Ethernet header is extra). */
  readonly mtu: number;
  /** Largest number of frames one `receive()` call hands over. */
  readonly maxBatch: number;
  readonly checksum: ChecksumCapabilities;
}

export interface DriverStats {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames the driver dropped on receive (ring overrun, queue full). */
  rxDropped: number;
  /** Frames the driver could not send (no room, link down). */
  txDropped: number;
}

/** Receives one frame; the view is valid only until the call returns. */
export type FrameSink = (frame: Uint8Array) => void;

export interface FrameDriver {
  readonly caps: DriverCapabilities;
  /** The link-layer address the driver owns or shares, if it has one (6 bytes for Ethernet). */
  readonly hwAddress?: Uint8Array | undefined;
  readonly stats: DriverStats;

  /** Hand up to `max` received frames to `sink`; returns how many were handed over. */
  receive(now: number, max: number, sink: FrameSink): number;
  /** Lend a transmit buffer of exactly `len` bytes, or null when there is no room now. */
  txReserve(len: number): Uint8Array | null;
  /** Queue the reserved buffer's first `len` bytes for sending. */
  txCommit(now: number, len: number): void;
  /** Push queued frames to the link (a doorbell or a syscall, for real drivers). */
  flush(now: number): void;
  /**
   * The earliest time the driver needs attention on its own (held frames), `now` when received frames are already
   * waiting, or undefined. Never throws (a closed driver needs no attention).
   */
  pollAt?(now: number): number | undefined;
  /**
   * Readiness: the driver calls `cb` (possibly synchronously, from inside txCommit of a peer) when `receive()`
   * may yield frames. The poll loop uses it to schedule a poll; tests ignore it and poll directly.
   */
  setReadyCallback(cb: (() => void) | null): void;
  /** Release every resource; further use throws `ERR_DRIVER_CLOSED`. Idempotent. */
  close(): void;
}

export function newDriverStats(): DriverStats {
  return { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxDropped: 0, txDropped: 0 };
}

/** Checksums done in software both ways: the safe default for links that offload nothing. */
export const SOFTWARE_CHECKSUMS: ChecksumCapabilities = {
  ipv4: { tx: 'compute', rx: 'verify' },
  icmp: { tx: 'compute', rx: 'verify' },
  udp: { tx: 'compute', rx: 'verify' },
  tcp: { tx: 'compute', rx: 'verify' },
};

export { BywayError } from '../protocols/util/errors.js';
