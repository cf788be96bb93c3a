/**
 * Room in the driver's transmit memory for one frame, for the transmit tokens that write a packet in place (IPv4's
 * `TxPacket`, ipv4-output.ts; TCP over IPv6's, tcp6.ts): through `txLend` when the driver has it (a range of its
 * memory, no view object per frame), else `txReserve`'s view. Never throws on its own; the driver may for misuse.
 */
import type { FrameDriver, TxLease } from '../../drivers/types.js';

/** Where a token's frame lives: `buf[base, base + frameLen)`. */
export interface LentFrame {
  buf: Uint8Array;
  base: number;
  frameLen: number;
}

/** Room for a frame of len bytes, recorded in `into`; false when there is none now. `lease`: the driver lends. */
export function lendFrame(driver: FrameDriver, lease: TxLease | undefined, len: number, into: LentFrame): boolean {
  if (lease !== undefined) {
    if (!driver.txLend!(len, lease)) return false;
    into.buf = lease.buf;
    into.base = lease.start;
  } else {
    const frame = driver.txReserve(len);
    if (frame === null) return false;
    into.buf = frame;
    into.base = 0;
  }
  into.frameLen = len;
  return true;
}
