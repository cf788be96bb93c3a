/**
 * The two seams of the TCP module, types only. TcpHost: what the layer needs from the stack under it (a transmit
 * token per segment, which says who completes its checksum; routes and MTUs, the receive checksum duty, port claims, negative advice). TcpConnHost: what a
 * connection needs from its layer (TcpLayer implements it): the options and counters, the one call that transmits
 * a segment, path facts (MTU, TSO), and the layer's bookkeeping (accept queue, connection table, timers, shared
 * memory limits).
 */
import type { ByteRing } from './byte-ring.js';
import type { RangeViews } from '../util/bytes.js';
import type { AllocBytes } from './recv-queue.js';
import type { TcpConnection } from './connection.js';
import type { TcpStats } from './info.js';
import type { ResolvedTcpOptions } from './options.js';
import type { TcpFields } from './wire.js';

/** What the host says of the packet it hands to TcpLayer.inputAt, valid during that call. */
export interface RxPacketInfo {
  /** The payload bytes per segment when GRO merged several into this packet (Linux's gso_size), else 0. */
  segSize: number;
  /** The packet arrived CE-marked (its IP header's ECN field, RFC 3168 5). */
  ce: boolean;
}

/** See TcpHost.paths. */
export interface PathEpoch {
  readonly generation: number;
}

/** What a connection needs from its layer. */
export interface TcpConnHost {
  readonly opts: ResolvedTcpOptions;
  readonly stats: TcpStats;
  /** The receive queues' slab allocator (TcpHost.allocBytes). */
  readonly allocBytes: AllocBytes;
  /** Views of received frames' ranges, kept for the receive queues' copies (one for the layer: one driver's ring). */
  readonly rxViews: RangeViews;
  /** A reused header object for transmission. */
  readonly txFields: TcpFields;
  /**
   * Emit one segment; payload (dataLen bytes) is copied from `ring` at `ringOffset`. TX_SENT; TX_BUSY (0, falsy):
   * no buffer now; TX_DROPPED (truthy, as the segment left TCP): the driver dropped it, a local failure.
   */
  transmit(now: number, conn: TcpConnection, f: TcpFields, ring: ByteRing | null, ringOffset: number, dataLen: number, segment?: number, tos?: number): TxResult;
  /** The largest IP packet towards `dst` the device segments itself (TSO), or 0. */
  tsoMaxFor(dst: number): number;
  /** RFC 5961 section 7 rate limit. */
  challengeAckAllowed(now: number): boolean;
  mtuFor(dst: number): number;
  /**
   * Whose generation moves whenever mtuFor or tsoMaxFor towards an IPv4 destination may have fallen (TcpHost.paths);
   * PATHS_UNKNOWN when the host does not say, so that a connection asks again on every output.
   */
  readonly paths: PathEpoch;
  /** What the host said of the packet being received (its layer's, written around inputAt). */
  readonly rx: RxPacketInfo;
  /** The route's or interface's MTU towards dst, without path MTUs learned (RFC 1191 3.1: the MSS option's basis). */
  linkMtuFor(dst: number): number;
  /** A passive connection reached ESTABLISHED (move it from the SYN queue to the accept queue). */
  connEstablished(conn: TcpConnection): void;
  /** The connection is CLOSED: forget it. */
  connClosed(conn: TcpConnection): void;
  /** The connection entered TIME-WAIT (the layer may cap how many it keeps). */
  connTimeWait(conn: TcpConnection): void;
  /**
   * The connection's output is pending (txPending), or its earliest timer (timerAt) moved earlier than the time of
   * its entry in the layer's schedule (heapAt): a timer moved later is not reported, the schedule re-files it when
   * the old entry comes due.
   */
  connWake(conn: TcpConnection): void;
  /** R1 retransmission timeouts in a row (RFC 1122 4.2.3.5): negative advice for the path to the peer. */
  connNegativeAdvice(conn: TcpConnection, now: number): void;
  /** SYN-ACK retransmissions a SYN-RECEIVED connection gets before it is dropped (fewer when its queue clogs). */
  synAckRetryLimit(conn: TcpConnection): number;
  /** Whether all connections' out-of-order queues may grow by `bytes` (oooTotalLimit). */
  oooAllowed(bytes: number): boolean;
  /** The connection's out-of-order queue memory changed by `delta`. */
  oooAdjust(delta: number): void;
  /** Whether all connections' buffers may grow by `bytes` (bufferMemoryLimit). */
  bufferAllowed(bytes: number): boolean;
  /** The connection's buffer commitment changed by `delta`. */
  bufferAdjust(delta: number): void;
  /** Whether a FIN from shutdown/close may go out now (false: send it from the next poll; closeBurst). */
  finAllowed(): boolean;
  /** An ACK acknowledged new data on a connection to an IPv6 peer: forward progress (RFC 4861 7.3.1's confirmation). */
  connProgress(now: number, conn: TcpConnection): void;
}

/**
 * A packet the host lends (its transmit token): write the segment at `buf[offset, offset + tcpLen)`, then commit.
 * `commit` returns false when the driver dropped the packet (a queue at its limit: FrameDriver.txCommit).
 */
export interface TcpTxPacket {
  readonly buf: Uint8Array;
  readonly offset: number;
  /** The IP header's TOS (traffic class) byte, 0 unless set before commit: TCP sets only the ECN field (ECT(0)). */
  tos: number;
  /**
   * Who completes the TCP checksum of this packet, a property of its way out: the folded sum of the pseudo-header
   * without its length (IPv4's, RFC 9293 3.1, or IPv6's, RFC 8200 8.1) when TCP must fill it in software, or -1
   * when the device completes it (checksum offload on the packet's own path).
   */
  readonly pseudoSum: number;
  commit(now: number): boolean | void;
}

/** What became of a segment handed to the host (TcpConnHost.transmit): TX_BUSY, TX_SENT, TX_DROPPED (conn-common.ts). */
export type TxResult = 0 | 1 | 2;

/** How the stack drives TCP (see the module contract). */
export interface TcpHost {
  /**
   * Lend a packet for a TCP segment of `tcpLen` bytes, or null when it cannot be sent now. `segment` (only when
   * tsoMaxFor(dst) allowed a packet this large): the payload bytes per segment the device cuts it into.
   */
  txSegment(now: number, src: number, dst: number, tcpLen: number, segment?: number): TcpTxPacket | null;
  mtuFor(dst: number): number;
  /**
   * Optional: the route's or interface's MTU towards dst, without path MTUs learned from ICMP (RFC 1191 3.1: the
   * MSS option we send does not depend on the PMTU). mtuFor when absent.
   */
  linkMtuFor?(dst: number): number;
  sourceFor(dst: number): number | undefined;
  readonly rxChecksum: boolean;
  /**
   * Optional: an object whose `generation` (an integer >= 0) moves whenever `mtuFor` or `tsoMaxFor` towards an IPv4
   * destination may have fallen (a route changed, a path MTU was learned). A connection keeps the answers it got
   * while it stays the same (read as a field: no call per segment), and asks on every output when it is absent.
   * IPv6 destinations are always asked.
   */
  readonly paths?: PathEpoch;
  /**
   * Optional: the largest IP packet towards `dst` that the device segments itself (TCP segmentation offload),
   * or 0 when it does not. Such a packet carries several MSS-sized segments' worth of payload at once.
   */
  tsoMaxFor?(dst: number): number;
  /**
   * Optional: told when a local port gets its first user (a listener or a connection) and loses its last one
   * (TIME-WAIT included). A stack that shares its address with another TCP (the kernel's) claims the port there;
   * false means the other TCP holds it: listen and an explicit connect fail with EADDRINUSE, the ephemeral search
   * moves on to the next port.
   */
  claimPort?(port: number): boolean;
  releasePort?(port: number): void;
  /**
   * Optional: RFC 1122 4.2.3.5 negative advice. A connection to `dst` timed out R1 (3) times in a row (a SYN twice);
   * the host checks its path there (the next hop's link-layer address, RFC 1122 2.3.2.1) and calls pathConfirmed
   * when the next hop answers.
   */
  negativeAdvice?(now: number, dst: number): void;
  /**
   * Optional: a connection to `dst` (an IPv6 id, addr-ids.ts) made forward progress: an ACK for new data. The host
   * may confirm its neighbour reachable (RFC 4861 7.3.1) without a solicitation.
   */
  forwardProgress?(now: number, dst: number): void;
  /**
   * Optional: how the receive queues allocate their slabs (fresh memory nobody else writes; the runtime's may skip
   * the zero-fill, as Node's `Buffer.allocUnsafeSlow` does). Zero-filled `Uint8Array`s when absent.
   */
  readonly allocBytes?: AllocBytes;
  /**
   * Optional: the kept views of received frames' ranges the receive queues copy through (RangeViews), shared with
   * whatever else copies out of the same driver ring (the stack's software GRO); the layer's own when absent.
   */
  readonly rxViews?: RangeViews;
  /**
   * Optional: told whenever the layer files a timer or queues output for its next poll (`pollAt` may have moved
   * earlier). A host that skips the layer's `poll` while `dueAt(now)` lies ahead polls it again after this.
   */
  timerArmed?(): void;
}

export interface ConnectOpts {
  localIp?: number;
  localPort?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
}
