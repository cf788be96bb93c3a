/**
 * A TCP connect to a host name under the preload, decided on the address the name resolves to (issue #15), for
 * a genuine node:net Socket: `net.connect`, `http.Agent`, `tls.connect` and `new net.Socket().connect()` all
 * come here with a socket node:net made.
 *
 * The name is looked up once, as node:net's lookupAndConnect would look it up: the `lookup` option (default
 * dns.lookup), `family`, `hints` (ADDRCONFIG when neither is given), and `all: true` when node:net would pick a
 * family itself (autoSelectFamily). Until the answer the socket is `connecting` with no handle, so writes and
 * `end()` wait for 'connect' as they do in node:net. Then:
 * - a failed lookup: 'lookup' (err) and the socket is destroyed with the resolver's error, as node:net does;
 * - the strategy is asked with the answer's first IPv4 address (byway's TCP is IPv4 only; an answer with IPv6
 *   addresses only takes the kernel, as IPv6 literals do under the preload);
 * - 'kernel': node:net's own connect runs with a lookup that hands back the answer already had (no second
 *   query), so node:net emits its 'lookup' events, tries the addresses (happy eyeballs) and fails as it would;
 * - 'bypass': 'lookup' (null, address, 4, host) and the socket carries a byway socket's bytes (adopt.ts); only
 *   that address is tried.
 * Checks node:net makes before its lookup (a bad `lookup`, `localAddress`, `localPort`, `autoSelectFamily`) are
 * left to node:net: `nameConnectable` says no and the caller hands the call to node:net, which throws.
 */
import dns from 'node:dns';
import net from 'node:net';
import type { LookupFunction } from '../api/lookup.js';

type Opts = Record<string, unknown>;
type Answer = { address: unknown; family: unknown };

export interface NameConnectHooks {
  /** The path for the flow to `address` (an IPv4 address of the answer). */
  decide(address: string): 'kernel' | 'bypass';
  /** node:net's own connect, for the kernel path (the options carry a lookup that answers at once). */
  kernel(sock: net.Socket, opts: Opts): void;
  /** Put the socket on the bypass path, connecting to `address`. */
  bypass(sock: net.Socket, address: string): void;
}

/** The host of a connect that is a name to resolve ('localhost' and literals are decided without a lookup). */
export function hostName(opts: Opts): string | undefined {
  const host = opts.host;
  return typeof host === 'string' && host !== '' && host !== 'localhost' && net.isIP(host) === 0 ? host : undefined;
}

/** Whether node:net would get as far as its lookup with these options (else it throws: let it). */
export function nameConnectable(opts: Opts): boolean {
  const { localAddress, localPort, lookup, autoSelectFamily } = opts;
  if (localAddress && (typeof localAddress !== 'string' || net.isIP(localAddress) === 0)) return false;
  if (localPort && typeof localPort !== 'number') return false;
  if (lookup != null && typeof lookup !== 'function') return false;
  if (autoSelectFamily != null && typeof autoSelectFamily !== 'boolean') return false;
  return true;
}

function dnsFamily(family: unknown): number {
  if (family === 'IPv4') return 4;
  if (family === 'IPv6') return 6;
  return typeof family === 'number' ? family : 0;
}

export function connectByName(sock: net.Socket, host: string, opts: Opts, cb: (() => void) | undefined, hooks: NameConnectHooks): void {
  const s = sock as net.Socket & Record<string, unknown>;
  if (cb) sock.once('connect', cb);
  // What node:net's connect does before its lookup (a reconnect of a destroyed socket; the write of a socket that
  // was ended); it makes its handle here too, which this one gets only if the kernel path is decided.
  if (s.write !== net.Socket.prototype.write) s.write = net.Socket.prototype.write;
  if (sock.destroyed) {
    s['_handle'] = null;
    s['_peername'] = null;
    s['_sockname'] = null;
    (s['_undestroy'] as () => void).call(sock);
  }
  (s as Record<string, unknown>)['connecting'] = true;
  s['_host'] = host;
  const dnsopts: { family: number; hints: number; all?: boolean } = { family: dnsFamily(opts.family), hints: (opts.hints as number) || 0 };
  const anyFamily = dnsopts.family !== 4 && dnsopts.family !== 6;
  if (anyFamily && dnsopts.hints === 0) dnsopts.hints = dns.ADDRCONFIG;
  if (anyFamily && !opts.localAddress && ((opts.autoSelectFamily as boolean | undefined) ?? net.getDefaultAutoSelectFamily())) dnsopts.all = true;
  const lookup = (opts.lookup as LookupFunction | undefined) ?? (dns.lookup as unknown as LookupFunction);
  let answered = false;
  lookup(host, dnsopts, (err, address, family) => {
    if (answered || !sock.connecting) return; // destroyed meanwhile (node:net ignores the answer too)
    answered = true;
    if (err) {
      sock.emit('lookup', err, undefined, undefined, host);
      process.nextTick(() => sock.destroy(err));
      return;
    }
    const list = Array.isArray(address) ? (address as Array<{ address: unknown; family: unknown }>) : [{ address, family }];
    const v4 = list.find((a) => a.family === 4 && typeof a.address === 'string' && net.isIPv4(a.address))?.address as string | undefined;
    if (v4 !== undefined && hooks.decide(v4) === 'bypass') {
      sock.emit('lookup', null, v4, 4, host);
      hooks.bypass(sock, v4);
      return;
    }
    const answer: Answer = { address, family };
    const canned = (_h: string, o: { all?: boolean }, done: (...a: unknown[]) => void): void => cannedAnswer(answer, o, done);
    hooks.kernel(sock, { ...opts, host, lookup: canned });
  });
}

/** The answer already had, in the form node:net asks for (a list with `all`, else the first address). */
function cannedAnswer(answer: Answer, o: { all?: boolean }, done: (...a: unknown[]) => void): void {
  const list = Array.isArray(answer.address) ? (answer.address as Array<{ address: unknown; family: unknown }>) : [{ address: answer.address, family: answer.family }];
  if (o.all) done(null, list);
  else done(null, list[0]?.address, list[0]?.family);
}
