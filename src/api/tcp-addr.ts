/**
 * Addresses between stack.net and the TCP core, for both families. The core keys an address by a number: an IPv4
 * address as itself, an IPv6 one as an id its layer interned (protocols/tcp/addr-ids.ts). Here text becomes such a
 * number (IPv6 literals with a zone id accepted and the zone ignored: a stack has one interface), and a number
 * becomes node:net's `{ address, family }`, an IPv4 peer of a dual-stack `::` listener as `::ffff:a.b.c.d` with
 * family 'IPv6', as Node's sockets show it. Throws BywayError with a system code (the callers turn it into Node's
 * system error) or Node's ERR_INVALID_IP_ADDRESS.
 */
import { formatIpv4, parseIpv4 } from '../../protocols/ipv4/address.js';
import { formatIpv6, isMulticast, mappedIpv4, parseIpv6WithZone } from '../../protocols/ipv6/address.js';
import { isIpv6Id } from '../../protocols/tcp/addr-ids.js';
import type { TcpLayer } from '../../protocols/tcp/layer.js';
import { BywayError } from '../../protocols/util/errors.js';
import type { NetStack } from '../stack/stack.js';
import { nodeError } from './errors.js';

export type TcpFamily = 'IPv4' | 'IPv6';

export interface TcpEndpoint {
  readonly address: string;
  readonly family: TcpFamily;
}

/** The text and family of an address number of `tcp` (`mapped`: an IPv4 one as ::ffff:a.b.c.d, family IPv6). */
export function tcpEndpoint(tcp: TcpLayer, id: number, mapped: boolean): TcpEndpoint {
  if (isIpv6Id(id)) {
    const b = tcp.addrs.bytes(id);
    return { address: b === undefined ? '::' : formatIpv6(b), family: 'IPv6' };
  }
  const v4 = formatIpv4(id);
  return mapped ? { address: `::ffff:${v4}`, family: 'IPv6' } : { address: v4, family: 'IPv4' };
}

/**
 * The core's number for a destination or local address given as text (an IPv4 address, an IPv6 literal, an
 * IPv4-mapped IPv6 literal, which is IPv4 underneath). IPv6 on a stack without it, or a multicast address:
 * ENETUNREACH, as Linux answers. 0.0.0.0/8 (the block IPv6 ids live in, never a destination) is refused with ENETUNREACH.
 */
export function tcpAddressId(core: NetStack, text: string): number {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) {
    if (v4 >>> 24 === 0) throw new BywayError('ENETUNREACH', `no route to ${text}`);
    return v4;
  }
  const v6 = parseIpv6WithZone(text);
  if (v6 === undefined) throw nodeError(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${text}`);
  const mapped = mappedIpv4(v6.address);
  if (mapped !== undefined) return tcpAddressId(core, formatIpv4(mapped));
  if (core.ipv6 === undefined || core.tcp === undefined) throw new BywayError('ENETUNREACH', `no IPv6 on this stack for ${text}`);
  if (isMulticast(v6.address)) throw new BywayError('ENETUNREACH', `TCP does not go to a multicast address (${text})`);
  const id = core.tcp.addrs.intern(v6.address);
  if (id === 0) throw new BywayError('ENOBUFS', 'no address id free');
  return id;
}

/** Whether an address number is one of the stack's own (IPv6: usable, not tentative; or ::1). */
export function isOwnTcpAddress(core: NetStack, id: number): boolean {
  if (!isIpv6Id(id)) return core.isLocalAddress(id);
  const b = core.tcp?.addrs.bytes(id);
  return b !== undefined && core.ipv6 !== undefined && core.ipv6.isLocal(b);
}

/** The number of one of the stack's own addresses given as text; EADDRNOTAVAIL when it is not one. */
export function ownTcpAddress(core: NetStack, text: string): number {
  let id = 0;
  try {
    id = tcpAddressId(core, text);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_INVALID_IP_ADDRESS') throw err;
  }
  if (id === 0 || !isOwnTcpAddress(core, id)) throw new BywayError('EADDRNOTAVAIL', `${text} is not one of this stack's addresses`);
  return id;
}
