/**
 * Stable, semantically opaque interface identifiers for SLAAC (RFC 7217), with the reserved identifiers of
 * RFC 5453 avoided. The pseudorandom function is the caller's (`hash`, e.g. SHA-256 from node:crypto in the
 * runtime): protocols/ stays free of `node:` imports and of any particular hash.
 *
 * RID = F(Prefix, Net_Iface, Network_ID, DAD_Counter, secret_key) (RFC 7217 section 5), here F = hash over the
 * concatenation of: the prefix's first 8 bytes, the interface name's UTF-8 bytes with a 2-byte length before it,
 * the network id with a 2-byte length before it, DAD_Counter as 4 bytes big-endian, then the secret key. The
 * interface identifier is the RID's least significant 64 bits (its last 8 bytes). When that is a reserved
 * identifier, DAD_Counter is incremented and F evaluated again. Nothing here throws except on a hash that returns
 * fewer than 8 bytes (a caller bug: BywayError ERR_INVALID_ARG_VALUE).
 */
import { invalidArg } from '../util/errors.js';
import { write16, write32 } from '../util/bytes.js';

export type PseudoRandomFunction = (input: Uint8Array) => Uint8Array;

export interface StableIidInput {
  /** The /64 prefix (only its first 8 bytes are used). */
  readonly prefix: Uint8Array;
  /** The interface's name or other stable id (RFC 7217 Net_Iface). */
  readonly netIface: string;
  /** Something that tells networks apart, e.g. an SSID (Network_ID, optional: empty). */
  readonly networkId?: Uint8Array;
  /** Incremented after each DAD failure (RFC 7217 section 6). */
  readonly dadCounter: number;
  /** At least 128 bits, kept for the host's lifetime (RFC 7217 section 5). */
  readonly secretKey: Uint8Array;
}

export interface StableIid {
  /** 8 bytes. */
  readonly iid: Uint8Array;
  /** The DAD_Counter actually used (higher than asked when a reserved identifier was skipped). */
  readonly dadCounter: number;
}

/** RFC 5453 (and its IANA registry): identifiers a host must not use. */
export function isReservedInterfaceId(iid: Uint8Array): boolean {
  let zero = true;
  for (let i = 0; i < 8; i++) if (iid[i] !== 0) zero = false;
  if (zero) return true; // subnet-router anycast (RFC 4291)
  // fdff:ffff:ffff:ff80 - fdff:ffff:ffff:ffff, reserved subnet anycast (RFC 2526).
  if (iid[0] === 0xfd && iid[1] === 0xff && iid[2] === 0xff && iid[3] === 0xff && iid[4] === 0xff && iid[5] === 0xff && iid[6] === 0xff && iid[7]! >= 0x80) {
    return true;
  }
  // 0200:5eff:fe00:0000 - 0200:5eff:feff:ffff: proxy mobile IPv6 and reserved IEEE EUI-48 based.
  return iid[0] === 0x02 && iid[1] === 0x00 && iid[2] === 0x5e && iid[3] === 0xff && iid[4] === 0xfe;
}

function encode(input: StableIidInput, counter: number): Uint8Array {
  const name = new TextEncoder().encode(input.netIface);
  const net = input.networkId ?? new Uint8Array(0);
  const out = new Uint8Array(8 + 2 + name.length + 2 + net.length + 4 + input.secretKey.length);
  let o = 0;
  out.set(input.prefix.subarray(0, 8), o);
  o += 8;
  write16(out, o, name.length);
  out.set(name, o + 2);
  o += 2 + name.length;
  write16(out, o, net.length);
  out.set(net, o + 2);
  o += 2 + net.length;
  write32(out, o, counter >>> 0);
  out.set(input.secretKey, o + 4);
  return out;
}

/** At most this many reserved identifiers skipped in a row (each has probability about 2^-40 with a sound hash). */
const MAX_ATTEMPTS = 16;

export function stableInterfaceId(hash: PseudoRandomFunction, input: StableIidInput): StableIid | undefined {
  for (let n = 0; n < MAX_ATTEMPTS; n++) {
    const counter = input.dadCounter + n;
    const rid = hash(encode(input, counter));
    if (rid.length < 8) throw invalidArg(`the hash returned ${rid.length} bytes; an interface identifier needs 8`);
    const iid = rid.slice(rid.length - 8);
    if (!isReservedInterfaceId(iid)) return { iid, dadCounter: counter };
  }
  return undefined;
}
