/**
 * node:net's connect to a host name (Node 20's lib/net.js: lookupAndConnect, lookupAndConnectMultiple,
 * internalConnectMultiple), shared by stack.net's Socket (net.ts) and the preload's connect by name
 * (src/register/connect-by-name.ts):
 * - `autoSelectOptions`: the checks and defaults of `autoSelectFamily` (net.getDefaultAutoSelectFamily()) and
 *   `autoSelectFamilyAttemptTimeout` (net.getDefaultAutoSelectFamilyAttemptTimeout(), at least 10 ms);
 * - `dnsOptions`: what the lookup is asked (`family`, `hints` with ADDRCONFIG when no family is asked, and `all`
 *   when node:net picks a family itself: autoSelectFamily on, no family, no localAddress);
 * - `lookupForConnect`: the lookup with node:net's 'lookup' events and errors, answering the addresses to try;
 * - `attemptOrder`: node:net's order (the first address's family first, then alternating, each address once);
 * - `attemptInTurn`: the attempts one at a time, each but the last abandoned after the attempt timeout, with the
 *   'connectionAttempt', 'connectionAttemptFailed' and 'connectionAttemptTimeout' events (address, port, family[,
 *   error]), `autoSelectFamilyAttemptedAddresses`, and an AggregateError of every attempt's error, `code` the
 *   first's, when all fail. What an attempt is (a TCP connection of the core, a byway socket) is the caller's.
 * Misuse throws what node:net throws; a resolver's error or odd answer is handed to `done`, as node:net destroys
 * the socket with it. Real timers: the attempt timeout is the API's, on real time.
 */
import net from 'node:net';
import dns from 'node:dns';
import type { EventEmitter } from 'node:events';
import { systemError } from './system-error.js';
import { invalidArgType, nodeError, outOfRange } from './errors.js';
import type { LookupFunction } from './lookup.js';

/** An entry of a resolver's answer, unchecked. */
export type Answer = { address: unknown; family: unknown };
/** An address to try. */
export interface Address {
  address: string;
  family: 4 | 6;
}

export interface AutoSelect {
  /** autoSelectFamily, given or net.getDefaultAutoSelectFamily(). */
  enabled: boolean;
  /** The attempt timeout in ms (at least 10). */
  timeoutMs: number;
}

/** node:net's validateBoolean / validateInt32(1) of the two options, and their defaults. */
export function autoSelectOptions(o: { autoSelectFamily?: unknown; autoSelectFamilyAttemptTimeout?: unknown }): AutoSelect {
  const { autoSelectFamily: on, autoSelectFamilyAttemptTimeout: t } = o;
  if (on != null && typeof on !== 'boolean') throw invalidArgType('options.autoSelectFamily', 'of type boolean', on);
  let timeoutMs = net.getDefaultAutoSelectFamilyAttemptTimeout();
  if (t != null) {
    const name = 'options.autoSelectFamilyAttemptTimeout';
    if (typeof t !== 'number') throw invalidArgType(name, 'of type number', t);
    if (!Number.isInteger(t)) throw outOfRange(name, 'an integer', t);
    if (t < 1 || t > 0x7fffffff) throw outOfRange(name, '>= 1 && <= 2147483647', t);
    timeoutMs = Math.max(10, t);
  }
  return { enabled: (on as boolean | null | undefined) ?? net.getDefaultAutoSelectFamily(), timeoutMs };
}

/** node:net's socketToDnsFamily: the names to numbers, anything else as given (undefined for none). */
function dnsFamily(family: unknown): number | undefined {
  if (family === 'IPv4') return 4;
  if (family === 'IPv6') return 6;
  return family as number | undefined;
}

export interface DnsOptions {
  family: number | undefined;
  hints: number;
  all?: boolean;
}

/** What node:net asks the lookup for a connect (lookupAndConnect). */
export function dnsOptions(o: { family?: unknown; hints?: unknown; localAddress?: unknown }, autoSelect: boolean): DnsOptions {
  const d: DnsOptions = { family: dnsFamily(o.family), hints: (o.hints as number) || 0 };
  const anyFamily = d.family !== 4 && d.family !== 6;
  if (anyFamily && d.hints === 0) d.hints = dns.ADDRCONFIG;
  if (anyFamily && !o.localAddress && autoSelect) d.all = true;
  return d;
}

/** node:net's attempt order (lookupAndConnectMultiple): valid addresses, the first one's family first, alternating, each once. */
export function attemptOrder(list: readonly Answer[]): Address[] {
  const groups: [Address[], Address[]] = [[], []];
  const seen = new Set<string>();
  let first: unknown;
  for (const a of list) {
    if (typeof a.address !== 'string' || net.isIP(a.address) === 0 || (a.family !== 4 && a.family !== 6)) continue;
    first ??= a.family;
    if (seen.has(a.address)) continue;
    seen.add(a.address);
    groups[a.family === first ? 0 : 1].push({ address: a.address, family: a.family });
  }
  const out: Address[] = [];
  for (let i = 0; i < Math.max(groups[0].length, groups[1].length); i++) {
    if (i < groups[0].length) out.push(groups[0][i]!);
    if (i < groups[1].length) out.push(groups[1][i]!);
  }
  return out;
}

type Connecting = EventEmitter & { readonly connecting: boolean; readonly destroyed: boolean };

/** The answer's first address's error, as node:net's (ERR_INVALID_IP_ADDRESS, ERR_INVALID_ADDRESS_FAMILY). */
function badAnswer(a: Answer | undefined, host: string | undefined, port: number): Error {
  if (typeof a?.address !== 'string' || net.isIP(a.address) === 0) return nodeError(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${String(a?.address)}`);
  return nodeError(RangeError, 'ERR_INVALID_ADDRESS_FAMILY', `Invalid address family: ${String(a.family)} ${String(host)}:${port}`);
}

/**
 * Look `host` up for a connect as node:net does, with its 'lookup' events on `sock`: one address (lookupAndConnect)
 * or, with `dnsopts.all`, every address in node:net's order (lookupAndConnectMultiple). `done` is not called when
 * the socket stopped connecting meanwhile (or `stale()` says a later connect() took over); it gets an error to
 * destroy the socket with, or the addresses to try (never empty).
 */
export function lookupForConnect(
  sock: Connecting,
  lookup: LookupFunction,
  host: string,
  port: number,
  dnsopts: DnsOptions,
  stale: () => boolean,
  done: (err: Error | null, order: Address[]) => void,
): void {
  const gone = (): boolean => !sock.connecting || stale();
  if (!dnsopts.all) {
    lookup(host, { ...dnsopts }, (err, address, family) => {
      if (stale()) return;
      sock.emit('lookup', err, address, family, host);
      if (gone()) return;
      const order = err ? [] : attemptOrder([{ address, family }]);
      done(err ?? (order.length === 0 ? badAnswer({ address, family }, host, port) : null), order);
    });
    return;
  }
  lookup(host, { ...dnsopts }, ((err: NodeJS.ErrnoException | null, addresses: Answer[]) => {
    if (gone()) return;
    if (err) {
      sock.emit('lookup', err, undefined, undefined, host);
      done(err, []);
      return;
    }
    const list = Array.isArray(addresses) ? addresses : [];
    for (const a of list) {
      sock.emit('lookup', null, a.address, a.family, host);
      if (gone()) return;
    }
    const order = attemptOrder(list);
    done(order.length === 0 ? badAnswer(list[0], host, port) : null, order);
  }) as never);
}

/** What an attempt is, for attemptInTurn: T is the caller's handle on one attempt. */
export interface AttemptOps<T> {
  /** Start connecting to `a`; report its end once through `settle` (null: connected), possibly before returning. */
  start(a: Address, settle: (err: Error | null) => void): T;
  /** Give up the attempt (timed out, or the socket closed meanwhile). */
  abandon(attempt: T): void;
  /** The attempt connected: the socket is the caller's to finish. */
  won(attempt: T): void;
  /** All failed: destroy the socket with `err`. */
  failed(err: AggregateError & { code?: string }): void;
}

/**
 * node:net's internalConnectMultiple over `addresses` (two or more, in attemptOrder's order). Stops when the socket
 * is destroyed or stops connecting meanwhile.
 */
export function attemptInTurn<T>(sock: Connecting, addresses: readonly Address[], port: number, timeoutMs: number, ops: AttemptOps<T>): void {
  const attempted: string[] = [];
  (sock as unknown as { autoSelectFamilyAttemptedAddresses: string[] }).autoSelectFamilyAttemptedAddresses = attempted;
  const errors: Error[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopCurrent: (() => void) | undefined;
  const stop = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const s = stopCurrent;
    stopCurrent = undefined;
    s?.();
  };
  sock.once('close', stop);
  let i = 0;
  const next = (): void => {
    if (!sock.connecting || sock.destroyed) return stop();
    if (i === addresses.length) {
      sock.off('close', stop);
      const agg = new AggregateError(errors) as AggregateError & { code?: string };
      agg.code = (errors[0] as { code?: string } | undefined)?.code;
      ops.failed(agg);
      return;
    }
    const a = addresses[i++]!;
    const last = i === addresses.length;
    sock.emit('connectionAttempt', a.address, port, a.family);
    attempted.push(`${a.address}:${port}`);
    let settled = false;
    let attempt: T | undefined;
    const end = (): void => {
      settled = true;
      stopCurrent = undefined;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const settle = (err: Error | null): void => {
      if (settled) return;
      end();
      if (err === null) {
        sock.off('close', stop);
        ops.won(attempt!);
        return;
      }
      errors.push(err);
      sock.emit('connectionAttemptFailed', a.address, port, a.family, err);
      next();
    };
    attempt = ops.start(a, settle);
    if (settled) return; // failed (or connected) at once
    const current = attempt;
    stopCurrent = () => {
      end();
      ops.abandon(current);
    };
    if (!last) {
      timer = setTimeout(() => {
        if (settled) return;
        if (!sock.connecting || sock.destroyed) return stop(); // destroyed meanwhile, its 'close' not yet emitted
        end();
        sock.emit('connectionAttemptTimeout', a.address, port, a.family);
        errors.push(systemError('ETIMEDOUT', 'connect', a.address, port));
        ops.abandon(current);
        next();
      }, timeoutMs);
    }
  };
  next();
}
