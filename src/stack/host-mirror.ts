/**
 * Shared address (a driver with `hostTables`): the stack takes the kernel's routes and follows their changes.
 * Neighbours stay in the driver's mirror of the kernel's table and enter the cache when a packet needs them; a
 * change to one already cached applies at once. Moved out of core.ts (which holds the poll cycle and IPv4 input);
 * nothing throws.
 */
import type { HostRoute, HostRoute6, HostTables } from '../../drivers/types.js';
import { cidrContains, type Ipv4Cidr } from '../../protocols/ipv4/address.js';
import type { Ipv6Layer } from './ipv6.js';
import type { NeighbourCache } from './neighbour.js';
import type { RoutingTable } from './routing.js';

/** What of the stack the mirror reads and changes. */
export interface MirrorTarget {
  readonly addresses: readonly Ipv4Cidr[];
  readonly routes: RoutingTable;
  readonly neighbours: NeighbourCache;
  readonly ipv6: Ipv6Layer | undefined;
  /** The current poll's time. */
  time(): number;
  /** Our address on the prefix that holds `ip`, if any. */
  onLinkSource(ip: number): number | undefined;
}

export function mirrorHostTables(host: HostTables, s: MirrorTarget): void {
  for (const r of host.routes()) hostRoute(s, 'add', r);
  for (const r of s.ipv6 ? (host.routes6?.() ?? []) : []) hostRoute6(s, 'add', r);
  host.setListener({
    neighbour: (ip, mac) => s.neighbours.learnFromHost(s.time(), ip >>> 0, mac, false),
    route: (change, route) => hostRoute(s, change, route),
    route6: (change, route) => hostRoute6(s, change, route),
    neighbour6: (ip, mac) => {
      if (mac !== null) s.ipv6?.ndp.kernelNeighbour(s.time(), ip, mac); // a failure: NDP's own timer gives up
    },
  });
}

function hostRoute(s: MirrorTarget, change: 'add' | 'delete', r: HostRoute): void {
  const own = r.gateway === undefined && s.addresses.some((a) => a.prefixLen === r.destination.prefixLen && cidrContains(a, r.destination.address));
  if (own) return; // the interface's own prefix: routed already
  if (change === 'delete') {
    s.routes.remove(r.destination);
    return;
  }
  const src = r.gateway !== undefined ? s.onLinkSource(r.gateway) : s.addresses[0]?.address;
  if (src === undefined) return; // a gateway off our prefixes: unusable here
  s.routes.remove(r.destination);
  s.routes.add({ destination: r.destination, gateway: r.gateway, source: src, metric: r.metric, mtu: r.mtu });
}

/** The kernel's IPv6 route table, followed (shared address with IPv6): a changed route replaces the old one. */
function hostRoute6(s: MirrorTarget, change: 'add' | 'delete', r: HostRoute6): void {
  const l = s.ipv6;
  if (l === undefined) return;
  l.removeRoute(r.destination, r.metric);
  if (change === 'add') l.addRoute({ destination: r.destination, gateway: r.gateway, metric: r.metric, mtu: r.mtu });
}
