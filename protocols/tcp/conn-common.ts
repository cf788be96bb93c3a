/**
 * Constants and shared stand-ins of a TCP connection's parts (connection.ts and the parts it is split into).
 */
import { ByteRing } from './byte-ring.js';
import type { PathEpoch } from './host.js';
import { OutOfOrderQueue } from './ooo-queue.js';
import { RecvQueue } from './recv-queue.js';

/** A timer that is off (absolute times are compared with `<=`). */
export const NEVER = Infinity;

/** SYN timeouts from which a connection gives negative advice (RFC 1122 4.2.3.5): from the second, as Linux. */
export const SYN_ADVICE_XMITS = 2;
/** Most in-order bytes one coalesced ACK covers (coalesceAcks), like a GRO aggregate. */
export const COALESCE_MAX_BYTES = 65536;
/**
 * PAWS (RFC 7323 5.3) discards a segment whose TSval is older than TS.Recent by more than this many ticks (1 ms
 * here), as Linux's TCP_PAWS_WINDOW (tcp_paws_discard). With none, a path that reorders by a millisecond loses
 * segments a retransmission overtook (it set TS.Recent to its newer TSval on filling the hole, RFC 7323 4.3), and
 * the ACKs whose SACK blocks would have repaired that (issue #13's mix: 4,982 rejections in 20 runs, 928 of them
 * data; with the window 196 and none). A wrapped sequence number one tick old would need 4 GB sent within 2 ms.
 * TIME-WAIT keeps no window (Linux's tcp_timewait_state_process does not either).
 */
export const PAWS_WINDOW = 1;

/** RFC 7323 5.5: TS.Recent is invalid after 24 days idle (PAWS then does not apply). */
export const TS_RECENT_MAX_IDLE = 24 * 24 * 3600 * 1000;
/**
 * The stand-in ring of a connection that holds no bytes in that direction yet (and of one in TIME-WAIT). It has
 * capacity 0 and is shared: never written, never resized; a connection replaces it with its own ring on first data.
 */
export const EMPTY_RING = new ByteRing(0);
/** The stand-in receive queue (shared, always empty: never written): a connection makes its own on first data. */
export const EMPTY_RCV = new RecvQueue();
/** The stand-in out-of-order queue (shared, always empty): a connection allocates its own on the first hole. */
export const EMPTY_OOO = new OutOfOrderQueue(1);
/** Least send ring capacity allocated on first data; rings grow by doubling up to the configured buffer sizes. */
export const INITIAL_RING = 16 * 1024;
/** The largest unscaled window field. */
export const MAX_WINDOW = 0xffff;

/** TcpConnHost.transmit's results: no transmit buffer now (falsy); sent; taken but dropped by the driver (local failure). */
export const TX_BUSY = 0;
export const TX_SENT = 1;
export const TX_DROPPED = 2;

/** A host's paths when it keeps no generation (TcpHost.paths): -2, never what a connection stored (Sender.refreshPath). */
export const PATHS_UNKNOWN: PathEpoch = Object.freeze({ generation: -2 });
