/**
 * A router advertisement as a router on the link sends it (RFC 4861 4.2, 6.2.3), built with byway's wire codecs for
 * the cluster tests that need a router without radvd: from the router's link-local address (modified EUI-64 of its
 * MAC), hop limit 255, to all-nodes (ff02::1, 33:33:00:00:00:01), with its link-layer address.
 */
import { emitNdp, ndpBufferLen, type NdpOption, type NdpRepr } from '../../protocols/icmpv6/wire-ndp.js';
import { eui64InterfaceId, linkLocalAddress } from '../../protocols/ipv6/address.js';
import { writeIpv6Header } from '../../protocols/ipv6/wire.js';

const ALL_NODES = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

/** An Ethernet frame carrying the advertisement of a default router (`lifetime` seconds) whose MAC is `mac`. */
export function routerAdvertisement(mac: Uint8Array, lifetime = 1800, options: readonly NdpOption[] = []): Uint8Array {
  const ra: NdpRepr = {
    kind: 'router-advertisement',
    curHopLimit: 64,
    flags: 0,
    routerLifetime: lifetime,
    reachableTime: 0,
    retransTimer: 0,
    options: [{ kind: 'source-lla', address: mac }, ...options],
  };
  const len = ndpBufferLen(ra);
  const f = new Uint8Array(14 + 40 + len);
  f.set([0x33, 0x33, 0, 0, 0, 1], 0);
  f.set(mac, 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  const src = linkLocalAddress(eui64InterfaceId(mac));
  writeIpv6Header(f, 14, src, ALL_NODES, 58, len, 255);
  emitNdp(ra, f, 54, src, ALL_NODES);
  return f;
}
