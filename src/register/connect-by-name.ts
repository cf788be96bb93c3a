/**
 * A TCP connect to a host name under the preload, decided on the address the name resolves to (issue #15), for
 * a genuine node:net Socket: `net.connect`, `http.Agent`, `tls.connect` and `new net.Socket().connect()` all
 * come here with a socket node:net made. 'localhost', and no host at all (node:net's default), are names too.
 *
 * The name is looked up once, as node:net's lookupAndConnect would look it up: the `lookup` option (default
 * dns.lookup), `family`, `hints` (ADDRCONFIG when neither is given), and `all: true` when node:net would pick a
 * family itself (autoSelectFamily). Until the answer the socket is `connecting` with no handle, so writes and
 * `end()` wait for 'connect' as they do in node:net. Then:
 * - a failed lookup: 'lookup' (err) and the socket is destroyed with the resolver's error, as node:net does;
 * - the addresses are put in node:net's order (autoSelectFamily: the first address's family first, then
 *   alternating families, each address once; with `family` 4 or 6, or autoSelectFamily off, the one address the
 *   lookup answers), and the strategy is asked with the first of them byway's stack can carry: IPv4, or IPv6 too
 *   when the stack has IPv6 (`hooks.ipv6`); without IPv6 an answer with IPv6 addresses only takes the kernel, as
 *   IPv6 literals do under the preload;
 * - 'kernel': node:net's own connect runs with a lookup that hands back the answer already had (no second
 *   query), so node:net emits its 'lookup' events, tries the addresses (happy eyeballs) and fails as it would;
 * - 'bypass': the 'lookup' events node:net would emit, then the addresses byway can carry that the strategy also
 *   sends to byway are tried in that order as node:net tries them (attemptInTurn): one at a time, each but the last given
 *   `autoSelectFamilyAttemptTimeout` (default net.getDefaultAutoSelectFamilyAttemptTimeout(), at least 10 ms),
 *   with 'connectionAttempt', 'connectionAttemptFailed' and 'connectionAttemptTimeout' events and
 *   `autoSelectFamilyAttemptedAddresses`; when all fail, an AggregateError of each attempt's error whose `code` is
 *   the first's. A socket has one path: the addresses of the answer the stack cannot carry, and those the rules
 *   give to the kernel, are not tried on the bypass path.
 * Checks node:net makes before its lookup (a bad `lookup`, `localAddress`, `localPort`, `autoSelectFamily`,
 * `autoSelectFamilyAttemptTimeout`) are left to node:net: `nameConnectable` says no and the caller hands the call
 * to node:net, which throws.
 */
import dns from 'node:dns';
import net from 'node:net';
import type { EventEmitter } from 'node:events';
import type { LookupFunction } from '../api/lookup.js';
import { attemptInTurn as attemptAll, attemptOrder, dnsOptions, type Address, type Answer } from '../api/auto-select.js';

type Opts = Record<string, unknown>;

/** What attemptInTurn needs of a byway socket. */
export interface Attempt extends EventEmitter {
  destroy(): unknown;
}

export interface NameConnectHooks {
  /** Whether byway's stack carries IPv6 (else only the answer's IPv4 addresses can take byway's path). */
  readonly ipv6: boolean;
  /** The path for the flow to `address` (an address of the answer the stack can carry). */
  decide(address: string): 'kernel' | 'bypass';
  /** node:net's own connect, for the kernel path (the options carry a lookup that answers at once). */
  kernel(sock: net.Socket, opts: Opts): void;
  /** Put the socket on the bypass path, trying `addresses` in turn (attemptInTurn), each for `timeoutMs`. */
  bypass(sock: net.Socket, addresses: readonly Address[], timeoutMs: number): void;
}

/**
 * The host of a connect that is a name to resolve: node:net looks up `options.host || 'localhost'` unless it is an
 * IP literal. A host that is not a string is left to node:net (which fails it).
 */
export function hostName(opts: Opts): string | undefined {
  const host = opts.host;
  if (host === undefined || host === null || host === '') return 'localhost';
  return typeof host === 'string' && net.isIP(host) === 0 ? host : undefined;
}

/** Whether node:net would get as far as its lookup with these options (else it throws: let it). */
export function nameConnectable(opts: Opts): boolean {
  const { localAddress, localPort, lookup, autoSelectFamily, autoSelectFamilyAttemptTimeout: t } = opts;
  if (localAddress && (typeof localAddress !== 'string' || net.isIP(localAddress) === 0)) return false;
  if (localPort && typeof localPort !== 'number') return false;
  if (lookup != null && typeof lookup !== 'function') return false;
  if (autoSelectFamily != null && typeof autoSelectFamily !== 'boolean') return false;
  if (t != null && !(Number.isInteger(t) && (t as number) >= 1 && (t as number) <= 0x7fffffff)) return false;
  return true;
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
  const dnsopts = dnsOptions(opts, (opts.autoSelectFamily as boolean | undefined) ?? net.getDefaultAutoSelectFamily());
  const given = opts.autoSelectFamilyAttemptTimeout as number | undefined;
  const timeoutMs = Math.max(10, given ?? net.getDefaultAutoSelectFamilyAttemptTimeout());
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
    const list = Array.isArray(address) ? (address as Answer[]) : [{ address, family }];
    const order = dnsopts.all ? attemptOrder(list) : attemptOrder(list.slice(0, 1));
    // An entry whose family does not match its address (a lookup's mistake) is not carried: node:net's to fail.
    const carried = order.filter((a) => (a.family === 4 ? net.isIPv4(a.address) : hooks.ipv6 && net.isIPv6(a.address)));
    if (carried.length > 0 && hooks.decide(carried[0]!.address) === 'bypass') {
      for (const a of list) {
        sock.emit('lookup', null, a.address, a.family, host);
        if (!sock.connecting) return; // destroyed by a 'lookup' listener, as node:net checks
      }
      hooks.bypass(sock, carried.filter((a, i) => i === 0 || hooks.decide(a.address) === 'bypass'), timeoutMs);
      return;
    }
    const answer: Answer = { address, family };
    const canned = (_h: string, o: { all?: boolean }, done: (...a: unknown[]) => void): void => cannedAnswer(answer, o, done);
    hooks.kernel(sock, { ...opts, host, lookup: canned });
  });
}

/** The answer already had, in the form node:net asks for (a list with `all`, else the first address). */
function cannedAnswer(answer: Answer, o: { all?: boolean }, done: (...a: unknown[]) => void): void {
  const list = Array.isArray(answer.address) ? (answer.address as Answer[]) : [{ address: answer.address, family: answer.family }];
  if (o.all) done(null, list);
  else done(null, list[0]?.address, list[0]?.family);
}

/**
 * node:net's connection attempts (internalConnectMultiple, shared with stack.net: src/api/auto-select.ts) on byway's
 * path: `open` connects a byway socket to one address; the first that connects is handed to `adopt` (which makes the
 * program's socket emit 'connect'). Each attempt but the last is abandoned after `timeoutMs` (ETIMEDOUT); when all
 * failed, `failed` gets an AggregateError of their errors, `code` the first's, and the socket is destroyed with it.
 * One address: `adopt` at once, its error is the socket's own, as node:net's single connect. Stops when the program
 * destroys its socket meanwhile.
 */
export function attemptInTurn(
  sock: net.Socket,
  addresses: readonly Address[],
  port: number,
  timeoutMs: number,
  open: (address: string) => Attempt,
  adopt: (bs: Attempt, connected: boolean) => void,
  failed: (err: AggregateError & { code?: string }) => void,
): void {
  if (addresses.length === 1) {
    sock.emit('connectionAttempt', addresses[0]!.address, port, addresses[0]!.family);
    adopt(open(addresses[0]!.address), false);
    return;
  }
  type Try = { bs: Attempt; onConnect: () => void; onError: (err: Error) => void };
  const quiet = (t: Try): void => {
    t.bs.off('connect', t.onConnect);
    t.bs.off('error', t.onError);
  };
  attemptAll<Try>(sock, addresses, port, timeoutMs, {
    start(a, settle) {
      const bs = open(a.address);
      const t: Try = { bs, onConnect: () => (quiet(t), settle(null)), onError: (err) => (quiet(t), settle(err)) };
      bs.once('connect', t.onConnect);
      bs.once('error', t.onError);
      return t;
    },
    abandon(t) {
      quiet(t);
      t.bs.destroy();
    },
    won: (t) => adopt(t.bs, true),
    failed(agg) {
      failed(agg);
      // As node:net, whose 'close' (hadError true) comes from closing the last attempt's handle, after 'error'.
      (sock as unknown as Record<string, unknown>)['_destroy'] = (err: Error | null, cb: (err?: Error | null) => void) => {
        cb(err);
        setImmediate(() => sock.emit('close', true));
      };
      sock.destroy(agg);
    },
  });
}
