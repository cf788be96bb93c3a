/**
 * SYN cookies shared by the workers of a cluster (issue #19). Linux keeps its syncookie secret per network
 * namespace, so any listener of a SO_REUSEPORT group validates the ACK of a cookie another listener sent. A byway
 * worker's stack draws its own secret, so the ACK of a cookie one worker sent, when it reaches another (the service
 * table moved the client's class, the worker died and another took its class, or the device hashes the two
 * directions of a flow differently), failed the check there and was answered with a RST. The cookie check needs two
 * things the workers must agree on: the secret (`cookieKey`, drawn once by the primary or the supervisor and given to
 * every worker, a replacement included) and the 64-second time slot, which each stack reads from its own clock
 * (`performance.now()`, whose origin is the thread's or the process's start). `clockOrigin` puts every worker's clock
 * on the machine's monotonic clock (CLOCK_MONOTONIC, as libuv's `uv_hrtime`, which both read), so their slots agree
 * to within the microseconds between two clock reads. The MSS table is a constant of the code, and the timestamp
 * bits (window scale, SACK) travel in the cookie's TSval, which the validating worker takes as its connection's
 * timestamp offset: neither needs sharing.
 *
 * Under `byway run --workers` the secret travels in BYWAY_COOKIE (32 hex digits), which the preload reads and
 * deletes from `process.env` so that the program's own children do not inherit it. Nothing here throws but
 * `cookieKeyFromEnv`, on a malformed value (a BywayError naming the variable).
 */
import { randomBytes } from 'node:crypto';
import { BywayError } from '../../protocols/util/errors.js';

/** The environment variable that carries the cluster's cookie secret to a `byway run --workers` process. */
export const COOKIE_ENV = 'BYWAY_COOKIE';

/** A new 16-byte cookie secret for a cluster. */
export function newCookieKey(): Uint8Array {
  return new Uint8Array(randomBytes(16));
}

/**
 * Where this thread's `performance.now()` starts on the machine's monotonic clock (ms): `performance.now() +
 * clockOrigin()` is the same instant in every thread and process of the machine.
 */
export function clockOrigin(): number {
  // The smallest difference of three paired reads: the pair least split by a preemption.
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const p = performance.now();
    const h = Number(process.hrtime.bigint()) / 1e6;
    best = Math.min(best, h - p);
  }
  return best;
}

/** The TCP options that make a worker's stack validate the cookies of every other worker sharing `key`. */
export function sharedCookies(key: Uint8Array): { readonly cookieKey: Uint8Array; readonly cookieTimeOrigin: number } {
  return { cookieKey: key, cookieTimeOrigin: clockOrigin() };
}

export function cookieKeyToEnv(key: Uint8Array): string {
  return Buffer.from(key).toString('hex');
}

/** The secret in BYWAY_COOKIE, or undefined when it is not set (a supervisor that shares none). */
export function cookieKeyFromEnv(env: Readonly<Record<string, string | undefined>>): Uint8Array | undefined {
  const v = env[COOKIE_ENV];
  if (v === undefined || v === '') return undefined;
  if (!/^[0-9a-f]{32}$/i.test(v)) {
    throw new BywayError('ERR_INVALID_ARG_VALUE', `${COOKIE_ENV}: expected 32 hex digits (a 16-byte secret); got ${v.length} characters (set by byway run --workers)`);
  }
  return new Uint8Array(Buffer.from(v, 'hex'));
}
