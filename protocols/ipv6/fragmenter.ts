/**
 * IPv6 fragmentation at the source (RFC 8200 section 4.5): cut a packet too big for the path MTU into fragments.
 *
 * The caller says where the unfragmentable part ends (40 for a packet with no extension headers; after any
 * hop-by-hop, routing, or destination-options-before-routing header) and which Next Header field names the first
 * fragmentable header. Each fragment is the unfragmentable part with that field set to 44, a Fragment header, and
 * a piece of the fragmentable part: pieces are multiples of 8 bytes except the last, each as large as the MTU
 * allows, so the first fragment holds the whole header chain (RFC 7112) at any MTU of 1280 or more. A packet that
 * fits is returned as is: byway never sends atomic fragments (RFC 8021).
 *
 * The identification must be unpredictable (RFC 7739): the caller draws it from its injected randomness.
 * Throws (BywayError ERR_INVALID_ARG_VALUE) only on caller bugs: an MTU under 1280 or offsets outside the packet.
 * Fragments are new buffers owned by the caller; the input is not modified.
 */
import { invalidArg } from '../util/errors.js';
import { write16 } from '../util/bytes.js';
import { FRAGMENT_HEADER_LEN, emitFragmentHeader } from './wire-ext.js';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, IPV6_PAYLOAD_LEN_OFFSET, NextHeader } from './wire.js';

/** Bytes of fragmentable data per fragment (all but the last) for this MTU and unfragmentable length. */
export function fragmentDataSize(mtu: number, unfragmentableLen: number): number {
  return ((mtu - unfragmentableLen - FRAGMENT_HEADER_LEN) >>> 3) << 3;
}

export function fragmentIpv6(packet: Uint8Array, unfragmentableLen: number, nextHeaderFieldOffset: number, mtu: number, ident: number): Uint8Array[] {
  if (!(mtu >= IPV6_MIN_MTU)) throw invalidArg(`IPv6 MTU ${mtu} is below the minimum of ${IPV6_MIN_MTU}`);
  if (packet.length <= mtu) return [packet];
  if (unfragmentableLen < IPV6_HEADER_LEN || unfragmentableLen > packet.length || nextHeaderFieldOffset >= unfragmentableLen) {
    throw invalidArg(`bad unfragmentable part (${unfragmentableLen}, next header at ${nextHeaderFieldOffset}) for a ${packet.length}-byte packet`);
  }
  const step = fragmentDataSize(mtu, unfragmentableLen);
  if (step < 8) throw invalidArg(`an unfragmentable part of ${unfragmentableLen} bytes leaves no room at MTU ${mtu}`);
  const unfragmentable = packet.subarray(0, unfragmentableLen);
  const data = packet.subarray(unfragmentableLen);
  const nextHeader = packet[nextHeaderFieldOffset]!;
  const out: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += step) {
    const n = Math.min(step, data.length - off);
    const f = new Uint8Array(unfragmentableLen + FRAGMENT_HEADER_LEN + n);
    f.set(unfragmentable);
    f[nextHeaderFieldOffset] = NextHeader.Fragment;
    write16(f, IPV6_PAYLOAD_LEN_OFFSET, f.length - IPV6_HEADER_LEN);
    emitFragmentHeader({ nextHeader, offset: off, more: off + n < data.length, ident }, f, unfragmentableLen);
    f.set(data.subarray(off, off + n), unfragmentableLen + FRAGMENT_HEADER_LEN);
    out.push(f);
  }
  return out;
}
