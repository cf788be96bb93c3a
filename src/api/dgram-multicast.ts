/**
 * node:dgram's multicast methods for byway's dgram sockets (dgram.ts), on both families: addMembership,
 * dropMembership, addSourceSpecificMembership, dropSourceSpecificMembership, setMulticastTTL,
 * setMulticastLoopback, setMulticastInterface. Validation and errors are node:dgram's over Linux, as seen side by
 * side (test/api/dgram-multicast.test.ts): ERR_MISSING_ARGS and ERR_INVALID_ARG_TYPE from lib/dgram.js, then the
 * errno libuv and Linux give (EINVAL for what is no group, EADDRINUSE for a group joined twice, EADDRNOTAVAIL for
 * one not joined, ENOPROTOOPT for an IPv6 group on a udp4 socket, ENODEV for an interface that is not byway's).
 * A udp6 socket joins IPv4 groups too, as on Linux. IPv4 groups are IGMP's (src/stack/igmp.ts), IPv6 groups
 * MLD's (src/stack/mld.ts); the socket's own filter (any source, or its sources) is on its UdpSocket.
 * A stack has one interface: an interface address is accepted when it is byway's own or the wildcard.
 */
import { parseIpv4, isMulticast } from '../../protocols/ipv4/address.js';
import { parseIpv6WithZone } from '../../protocols/ipv6/address.js';
import { addrKey } from '../../protocols/multicast/listener.js';
import type { UdpSocket } from '../stack/udp.js';
import { invalidArgType, nodeError } from './errors.js';
import type { StackInternals } from './internals.js';
import { systemError } from './system-error.js';

/** What the multicast methods need of their socket. */
export interface MulticastSocket {
  type(): 'udp4' | 'udp6';
  core(): UdpSocket;
  closed(): boolean;
  bound(): boolean;
  /** Throws ERR_SOCKET_DGRAM_NOT_RUNNING on a closed socket (node:dgram's healthCheck). */
  assertRunning(): void;
  /** Bind an unbound socket (libuv binds one before a membership call). */
  bindIfUnbound(): void;
}

type Group = { v4: number } | { v6: Uint8Array };

export class DgramMulticast {
  /** The udp6 socket's IPv6 groups: group key -> null (any source) or its sources by key. */
  private readonly groups6 = new Map<string, { group: Uint8Array; sources: Map<string, Uint8Array> | null }>();

  constructor(
    private readonly stack: StackInternals,
    private readonly s: MulticastSocket,
  ) {}

  private get groups4(): Map<number, Set<number> | null> {
    return (this.s.core().groups4 ??= new Map());
  }

  addMembership(multicastAddress: unknown, interfaceAddress: unknown): void {
    const g = this.group('addMembership', multicastAddress, interfaceAddress);
    const now = this.stack.clock.now();
    if ('v4' in g) {
      if (this.groups4.has(g.v4)) throw systemError('EADDRINUSE', 'addMembership');
      this.s.bindIfUnbound();
      this.groups4.set(g.v4, null);
      this.stack.core.igmp.join(now, g.v4);
    } else {
      const k = addrKey(g.v6);
      if (this.groups6.has(k)) throw systemError('EADDRINUSE', 'addMembership');
      this.s.bindIfUnbound();
      this.groups6.set(k, { group: g.v6, sources: null });
      this.filter6().set(k, null);
      this.stack.core.ipv6!.mld.join(now, g.v6);
    }
    this.stack.poke();
  }

  /** Leave a group this socket joined, whatever its sources (EADDRNOTAVAIL otherwise). */
  dropMembership(multicastAddress: unknown, interfaceAddress: unknown): void {
    const g = this.group('dropMembership', multicastAddress, interfaceAddress);
    if ('v4' in g) {
      if (!this.groups4.has(g.v4)) throw systemError('EADDRNOTAVAIL', 'dropMembership');
      this.leave4(g.v4);
    } else {
      const k = addrKey(g.v6);
      if (!this.groups6.has(k)) throw systemError('EADDRNOTAVAIL', 'dropMembership');
      this.leave6(k);
    }
    this.stack.poke();
  }

  addSourceSpecificMembership(sourceAddress: unknown, groupAddress: unknown, interfaceAddress: unknown): void {
    const what = 'addSourceSpecificMembership';
    const { source, group } = this.sourceGroup(what, sourceAddress, groupAddress, interfaceAddress);
    const now = this.stack.clock.now();
    if (typeof source === 'number' && typeof group === 'number') {
      const f = this.groups4.get(group);
      if (f === null) return; // joined for any source already: Linux leaves it so, and says nothing
      if (f?.has(source)) throw systemError('EADDRNOTAVAIL', what);
      this.s.bindIfUnbound();
      if (f === undefined) this.groups4.set(group, new Set([source]));
      else f.add(source);
      this.stack.core.igmp.join(now, group, source);
    } else {
      const [s, g] = [source as Uint8Array, group as Uint8Array];
      const k = addrKey(g);
      const m = this.groups6.get(k);
      if (m !== undefined && m.sources === null) return;
      if (m?.sources?.has(addrKey(s))) throw systemError('EADDRNOTAVAIL', what);
      this.s.bindIfUnbound();
      const sources = m?.sources ?? new Map<string, Uint8Array>();
      sources.set(addrKey(s), s);
      this.groups6.set(k, { group: g, sources });
      this.filter6().set(k, new Set(sources.keys()));
      this.stack.core.ipv6!.mld.join(now, g, s);
    }
    this.stack.poke();
  }

  dropSourceSpecificMembership(sourceAddress: unknown, groupAddress: unknown, interfaceAddress: unknown): void {
    const what = 'dropSourceSpecificMembership';
    const { source, group } = this.sourceGroup(what, sourceAddress, groupAddress, interfaceAddress);
    const now = this.stack.clock.now();
    if (typeof source === 'number' && typeof group === 'number') {
      const f = this.groups4.get(group);
      if (f === undefined) throw systemError('EINVAL', what);
      if (f === null || !f.has(source)) throw systemError('EADDRNOTAVAIL', what);
      f.delete(source);
      if (f.size === 0) this.groups4.delete(group);
      this.stack.core.igmp.leave(now, group, source);
    } else {
      const [s, g] = [source as Uint8Array, group as Uint8Array];
      const k = addrKey(g);
      const m = this.groups6.get(k);
      if (m === undefined) throw systemError('EINVAL', what);
      if (m.sources === null || !m.sources.delete(addrKey(s))) throw systemError('EADDRNOTAVAIL', what);
      if (m.sources.size === 0) {
        this.groups6.delete(k);
        this.filter6().delete(k);
      } else this.filter6().set(k, new Set(m.sources.keys()));
      this.stack.core.ipv6!.mld.leave(now, g, s);
    }
    this.stack.poke();
  }

  /** IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS: 0 to 255 (libuv), read as an int32 as Node's binding reads it. */
  setMulticastTTL(ttl: unknown): unknown {
    if (typeof ttl !== 'number') throw invalidArgType('ttl', 'of type number', ttl);
    if (this.s.closed()) throw nullHandle('setMulticastTTL');
    const v = ttl | 0;
    if (v < 0 || v > 255) throw systemError('EINVAL', 'setMulticastTTL'); // libuv checks before the socket
    this.handle('setMulticastTTL');
    this.s.core().multicastTtl = v;
    return ttl;
  }

  setMulticastLoopback(flag: unknown): unknown {
    this.handle('setMulticastLoopback');
    this.s.core().multicastLoop = !!flag;
    return flag;
  }

  /**
   * IP_MULTICAST_IF / IPV6_MULTICAST_IF: one interface, so nothing changes; what Linux refuses is refused: on udp4
   * an IPv4 address not byway's (EADDRNOTAVAIL), an IPv6 one (ENOPROTOOPT); on udp6 any IPv6 address is taken
   * (only its zone would count, as libuv reads it) and an IPv4 one as on udp4.
   */
  setMulticastInterface(interfaceAddress: unknown): void {
    this.s.assertRunning();
    if (typeof interfaceAddress !== 'string') throw invalidArgType('interfaceAddress', 'of type string', interfaceAddress);
    if (!this.s.bound()) throw systemError('EBADF', 'setMulticastInterface');
    const v4 = parseIpv4(interfaceAddress);
    if (v4 !== undefined) {
      if (v4 !== 0 && !this.stack.core.isOwnAddress(v4)) throw systemError('EADDRNOTAVAIL', 'setMulticastInterface');
      return;
    }
    if (parseIpv6WithZone(interfaceAddress) === undefined) throw systemError('EINVAL', 'setMulticastInterface');
    if (this.s.type() === 'udp4') throw systemError('ENOPROTOOPT', 'setMulticastInterface');
  }

  /** The socket closes: its groups are left (the interface leaves with its last user). */
  close(): void {
    for (const g of [...this.groups4.keys()]) this.leave4(g);
    for (const k of [...this.groups6.keys()]) this.leave6(k);
  }

  private leave4(group: number): void {
    const f = this.groups4.get(group);
    this.groups4.delete(group);
    const now = this.stack.clock.now();
    if (f === null) this.stack.core.igmp.leave(now, group);
    else for (const s of f ?? []) this.stack.core.igmp.leave(now, group, s);
  }

  private leave6(k: string): void {
    const m = this.groups6.get(k)!;
    this.groups6.delete(k);
    this.filter6().delete(k);
    const mld = this.stack.core.ipv6?.mld;
    const now = this.stack.clock.now();
    if (m.sources === null) mld?.leave(now, m.group);
    else for (const s of m.sources.values()) mld?.leave(now, m.group, s);
  }

  private filter6(): Map<string, Set<string> | null> {
    return (this.s.core().groups6 ??= new Map());
  }

  /** setMulticastTTL and setMulticastLoopback have no healthCheck in lib/dgram.js: a closed socket's null handle. */
  private handle(what: string): void {
    if (this.s.closed()) throw nullHandle(what);
    if (!this.s.bound()) throw systemError('EBADF', what);
  }

  /** The group of a membership call (libuv tries IPv4, then IPv6) and its interface, checked as Linux does. */
  private group(what: string, multicastAddress: unknown, interfaceAddress: unknown): Group {
    this.s.assertRunning();
    if (!multicastAddress) throw nodeError(TypeError, 'ERR_MISSING_ARGS', 'The "multicastAddress" argument must be specified');
    const text = String(multicastAddress);
    const v4 = parseIpv4(text);
    if (v4 !== undefined) {
      if (!isMulticast(v4)) throw systemError('EINVAL', what);
      this.interface4(what, interfaceAddress);
      return { v4 };
    }
    const v6 = parseIpv6WithZone(text)?.address;
    if (v6 === undefined) throw systemError('EINVAL', what);
    if (this.s.type() === 'udp4') throw systemError('ENOPROTOOPT', what);
    if (v6[0] !== 0xff) throw systemError('EINVAL', what);
    if (interfaceAddress !== undefined && interfaceAddress !== null && parseIpv6WithZone(String(interfaceAddress)) === undefined) throw systemError('EINVAL', what);
    return { v6 };
  }

  /** An IPv4 membership's interface: none, the wildcard or byway's address; another address is no device (ENODEV). */
  private interface4(what: string, interfaceAddress: unknown): void {
    if (interfaceAddress === undefined || interfaceAddress === null) return;
    const a = parseIpv4(String(interfaceAddress));
    if (a === undefined) throw systemError('EINVAL', what);
    if (a !== 0 && !this.stack.core.isOwnAddress(a)) throw systemError('ENODEV', what);
  }

  private sourceGroup(what: string, sourceAddress: unknown, groupAddress: unknown, interfaceAddress: unknown): { source: number | Uint8Array; group: number | Uint8Array } {
    this.s.assertRunning();
    if (typeof sourceAddress !== 'string') throw invalidArgType('sourceAddress', 'of type string', sourceAddress);
    if (typeof groupAddress !== 'string') throw invalidArgType('groupAddress', 'of type string', groupAddress);
    const s4 = parseIpv4(sourceAddress);
    const g4 = parseIpv4(groupAddress);
    if (s4 !== undefined && g4 !== undefined) {
      if (!isMulticast(g4)) throw systemError('EINVAL', what);
      this.interface4(what, interfaceAddress);
      return { source: s4, group: g4 };
    }
    const s6 = parseIpv6WithZone(sourceAddress)?.address;
    const g6 = parseIpv6WithZone(groupAddress)?.address;
    if (s6 === undefined || g6 === undefined || g6[0] !== 0xff || this.s.type() === 'udp4') throw systemError('EINVAL', what);
    if (interfaceAddress !== undefined && interfaceAddress !== null && parseIpv6WithZone(String(interfaceAddress)) === undefined) throw systemError('EINVAL', what);
    return { source: s6, group: g6 };
  }
}

function nullHandle(what: string): TypeError {
  return new TypeError(`Cannot read properties of null (reading '${what}')`);
}
