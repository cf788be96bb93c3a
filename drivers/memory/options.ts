/** Option parsing shared by memoryLink and memorySwitch. Bad options are misuse: ERR_INVALID_ARG_VALUE. */
import { SOFTWARE_CHECKSUMS, type ChecksumCapabilities, type DriverCapabilities, type Medium } from '../types.js';
import { invalidArg } from '../../protocols/util/errors.js';
import { positiveInt } from '../options.js';

export interface MemoryCommonOptions {
  /** L3 MTU (default 1500); a frame may be mtu + 18 bytes on Ethernet. */
  mtu?: number;
  /** Checksum capabilities advertised to the stack (default SOFTWARE_CHECKSUMS). */
  checksum?: ChecksumCapabilities;
  /** Largest number of frames one receive() hands over (default 64). */
  maxBatch?: number;
  /** Frames waiting in each receive queue (default 1024); beyond it frames are dropped and counted in rxDropped. */
  queueLimit?: number;
  /**
   * TCP segmentation offload: the largest IP packet (up to 65535) a port takes and cuts into MTU-sized segments
   * itself (see drivers/types.ts caps.tso, and tso.ts for the device model). Needs `checksum.tcp.tx` 'offload'.
   * When `checksum.tcp.rx` is 'verify', the link fills the TCP checksum of every TCP frame it carries (it plays
   * the device that completes offloaded checksums, and the receiver checks them).
   */
  tso?: number;
}

export { positiveInt };

export function makeCaps(o: MemoryCommonOptions, medium: Medium): DriverCapabilities {
  const mtu = positiveInt('mtu', o.mtu, 1500, 68, 65535);
  const checksum = o.checksum ?? SOFTWARE_CHECKSUMS;
  if (o.tso === undefined) return { medium, mtu, maxBatch: positiveInt('maxBatch', o.maxBatch, 64), checksum };
  const maxBytes = positiveInt('tso', o.tso, 65535, mtu + 1, 65535);
  if (checksum.tcp.tx !== 'offload') throw invalidArg("tso needs checksum.tcp.tx 'offload' (the device fills the segments' checksums)");
  // The device model (tso.ts) cuts and completes IPv6 TCP packets too.
  return { medium, mtu, maxBatch: positiveInt('maxBatch', o.maxBatch, 64), checksum, tso: { maxBytes }, ipv6Offload: true };
}

export function checkMac(name: string, mac: Uint8Array): Uint8Array {
  if (!(mac instanceof Uint8Array) || mac.length !== 6) throw invalidArg(`${name} must be 6 bytes`);
  return mac;
}

/** A locally administered unicast MAC (RFC 7042 §2.1: U/L bit set, I/G bit clear): 02:00:00:<a>:<b>:<c>. */
export function localMac(n: number): Uint8Array {
  return Uint8Array.of(0x02, 0, 0, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}
