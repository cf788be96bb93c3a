/**
 * The IPv4 routing table: on-link prefixes (from the interface's addresses), static routes and a default gateway,
 * resolved by longest-prefix match (RFC 1812 section 5.2.4.3). Ties go to the lower metric, then the earlier route.
 * Small tables are the norm for a host, so lookup is a scan over routes kept sorted by prefix length.
 */
import { cidrContains, prefixMask, type Ipv4Cidr } from '../../protocols/ipv4/address.js';

export interface Route {
  readonly destination: Ipv4Cidr;
  /** Next hop; undefined for an on-link route (the destination itself is the next hop). */
  readonly gateway?: number | undefined;
  /** Preferred source address for packets on this route. */
  readonly source: number;
  readonly metric: number;
  /** MTU for the route (L3), when lower than the interface's. */
  readonly mtu?: number | undefined;
}

export interface RouteResult {
  readonly route: Route;
  readonly nextHop: number;
}

export class RoutingTable {
  private routes: Route[] = [];
  /** Moves on every change: a cached lookup made at another generation is stale. */
  generation = 0;

  add(route: Route): void {
    this.generation++;
    const network = (route.destination.address & prefixMask(route.destination.prefixLen)) >>> 0;
    this.routes.push({ ...route, destination: { address: network, prefixLen: route.destination.prefixLen } });
    // Stable sort keeps insertion order among equals.
    this.routes.sort((a, b) => b.destination.prefixLen - a.destination.prefixLen || a.metric - b.metric);
  }

  /** Moves the generation without a change of routes: a fact cached with a lookup changed (a path MTU learned). */
  invalidate(): void {
    this.generation++;
  }

  remove(destination: Ipv4Cidr): boolean {
    this.generation++;
    const before = this.routes.length;
    const network = (destination.address & prefixMask(destination.prefixLen)) >>> 0;
    this.routes = this.routes.filter((r) => !(r.destination.address === network && r.destination.prefixLen === destination.prefixLen));
    return this.routes.length !== before;
  }

  lookup(dst: number): RouteResult | undefined {
    const route = this.lookupRoute(dst);
    return route === undefined ? undefined : { route, nextHop: route.gateway ?? dst };
  }

  /** The longest-prefix route alone, allocating nothing (the send path's; the next hop is `gateway ?? dst`). */
  lookupRoute(dst: number): Route | undefined {
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i]!;
      if (cidrContains(route.destination, dst)) return route;
    }
    return undefined;
  }

  list(): readonly Route[] {
    return this.routes;
  }
}
