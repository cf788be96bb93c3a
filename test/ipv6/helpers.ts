/** Shared by test/ipv6: a reference ICMPv6 checksum written out the long way. */

/** RFC 8200 8.1's 40-byte pseudo-header, then the message with its checksum field read as zero; the complement. */
export function refChecksum(src: Uint8Array, dst: Uint8Array, msg: Uint8Array): number {
  const all = new Uint8Array(40 + msg.length + (msg.length & 1));
  all.set(src, 0);
  all.set(dst, 16);
  all[32] = msg.length >>> 24;
  all[33] = (msg.length >>> 16) & 0xff;
  all[34] = (msg.length >>> 8) & 0xff;
  all[35] = msg.length & 0xff;
  all[39] = 58;
  all.set(msg, 40);
  all[42] = 0;
  all[43] = 0;
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += (all[i]! << 8) | all[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
