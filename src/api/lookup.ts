/**
 * Host names as node:net and node:dgram resolve them: an IPv4 literal is taken as is (on a later tick, as
 * dns.lookup answers a literal), anything else goes to the `lookup` function (default dns.lookup, the system
 * resolver) with `{ family: 4, hints }`: a name is asked for its IPv4 address unless the caller's `family` says 6;
 * a TCP listen (`ipv6`) takes an IPv6 literal or answer too (family 6, ip 0: the caller parses it); a udp6 socket
 * asks for an IPv6 one (`resolveHost6`). A TCP connect asks as node:net does (auto-select.ts).
 * Errors are the lookup's own (dns.lookup's ENOTFOUND carries `hostname`); an answer that is not an IPv4 address
 * fails with ERR_INVALID_IP_ADDRESS, as Node's net does for a lookup that returns garbage.
 */
import { parseIpv4 } from '../../protocols/ipv4/address.js';
import { parseIpv6WithZone } from '../../protocols/ipv6/address.js';
import { nodeError } from './errors.js';

export interface LookupOptions {
  family?: number;
  hints?: number;
  all?: boolean;
}

export type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family?: number) => void;
export type LookupFunction = (hostname: string, options: LookupOptions, callback: LookupCallback) => void;

/**
 * Resolve `host` to an IPv4 address (as a number) and the string it was given as; cb runs on a later tick. With
 * `ipv6` (a TCP listen), an IPv6 answer is handed on too, with family 6 and ip 0.
 */
export function resolveHost(
  lookup: LookupFunction,
  host: string,
  options: LookupOptions & { ipv6?: boolean },
  cb: (err: Error | null, ip: number, address: string, family: 4 | 6) => void,
): void {
  const literal = parseIpv4(host);
  if (literal !== undefined) {
    process.nextTick(cb, null, literal, host, 4);
    return;
  }
  const { ipv6, ...asked } = options;
  if (ipv6 && parseIpv6WithZone(host) !== undefined) {
    process.nextTick(cb, null, 0, host, 6);
    return;
  }
  lookup(host, { ...asked, family: asked.family || 4, all: false }, (err, address) => {
    if (err) {
      cb(err, 0, '', 4);
      return;
    }
    if (ipv6 && typeof address === 'string' && parseIpv6WithZone(address) !== undefined) {
      cb(null, 0, address, 6);
      return;
    }
    const ip = typeof address === 'string' ? parseIpv4(address) : undefined;
    if (ip === undefined) {
      cb(nodeError(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${String(address)}`), 0, '', 4);
      return;
    }
    cb(null, ip, address, 4);
  });
}

/**
 * For a udp6 socket: resolve `host` to an IPv6 address (zone ids accepted, and ignored: a stack has one
 * interface), asking `lookup` with family 6 for a name. `address` is undefined when the answer is not IPv6 (an
 * IPv4 literal): the caller fails that with EINVAL, as an AF_INET6 socket does.
 */
export function resolveHost6(
  lookup: LookupFunction,
  host: string,
  cb: (err: Error | null, address: Uint8Array | undefined) => void,
): void {
  const literal = parseIpv6WithZone(host);
  if (literal !== undefined) {
    process.nextTick(cb, null, literal.address);
    return;
  }
  if (parseIpv4(host) !== undefined) {
    process.nextTick(cb, null, undefined);
    return;
  }
  lookup(host, { family: 6, all: false }, (err, address) => {
    if (err) {
      cb(err, undefined);
      return;
    }
    if (typeof address === 'string' && parseIpv4(address) !== undefined) {
      cb(null, undefined);
      return;
    }
    const ip = typeof address === 'string' ? parseIpv6WithZone(address)?.address : undefined;
    if (ip === undefined) {
      cb(nodeError(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${String(address)}`), undefined);
      return;
    }
    cb(null, ip);
  });
}
