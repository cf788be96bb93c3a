/** Kernel IPv6 topologies for the test/native/*ipv6*, tcp6 tests: namespaces and links the tests own. */
import { openTap } from '../../drivers/tap/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { execIn, ipIn, uniqueName, type NetLab } from '../helpers/netns.js';

/** IPv6 on `dev` in `ns` (the lab's namespaces start with IPv6 off). */
export function enableIpv6(ns: string, dev: string): void {
  execIn(ns, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.disable_ipv6=0`]);
}

/**
 * byway -- TAP (MTU 1500) -- a Linux router namespace (forwarding) -- veth -- the peer's namespace. The router is
 * `${near}::1` on the TAP side and `${far}::1` on the veth, the peer `${far}::2` with the router as its default
 * route; `routerMtu`/`peerMtu` are the MTUs of the veth's two ends. Returns byway's TAP driver (its address is the
 * test's: `${near}::2/64` with the router as gateway) and the peer's namespace.
 */
export function routedIpv6(lab: NetLab, near: string, far: string, mtu: { routerMtu: number; peerMtu: number }): { driver: FrameDriver; nsPeer: string } {
  const nsR = lab.addNetns();
  const nsPeer = lab.addNetns();
  const driver = openTap({ name: uniqueName('bwr'), netns: nsR });
  const tapDev = (driver as { ifname: string }).ifname;
  const link = lab.addVeth(nsR, nsPeer);
  ipIn(nsR, `link set ${link.a} mtu ${mtu.routerMtu}`);
  ipIn(nsPeer, `link set ${link.b} mtu ${mtu.peerMtu}`);
  enableIpv6(nsR, tapDev);
  enableIpv6(nsR, link.a);
  enableIpv6(nsPeer, link.b);
  execIn(nsR, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
  ipIn(nsR, `-6 addr add ${near}::1/64 dev ${tapDev} nodad`);
  ipIn(nsR, `-6 addr add ${far}::1/64 dev ${link.a} nodad`);
  ipIn(nsPeer, `-6 addr add ${far}::2/64 dev ${link.b} nodad`);
  ipIn(nsPeer, `-6 route add default via ${far}::1`);
  return { driver, nsPeer };
}
