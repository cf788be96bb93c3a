/**
 * Helpers for the preload's connect-by-name tests (test/register): a canned `lookup` option, the events node:net
 * emits while it connects by name, and a self-signed certificate made with openssl (the caller skips without it).
 */
import type net from 'node:net';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type Entry = { address: string; family: number };

/** A lookup option answering `answer` (node:net's forms: a list with `all`, else the first), recording each question. */
export function cannedLookup(answer: Entry[], asked: unknown[][] = []) {
  return (host: string, o: { all?: boolean }, cb: (...a: unknown[]) => void): void => {
    asked.push([host, { ...o }]);
    setImmediate(() => (o.all ? cb(null, answer) : cb(null, answer[0]!.address, answer[0]!.family)));
  };
}

/** The events node:net emits while it connects by name, in order (errors as their codes). */
export function record(s: net.Socket): unknown[][] {
  const events: unknown[][] = [];
  for (const ev of ['lookup', 'connectionAttempt', 'connectionAttemptFailed', 'connectionAttemptTimeout', 'connect']) {
    s.on(ev, (...a: unknown[]) => events.push([ev, ...a.map((x) => (x instanceof Error ? (x as NodeJS.ErrnoException).code : x))]));
  }
  return events;
}

/** A one-day self-signed RSA certificate for `cn`, its key and certificate written in `dir`; throws if openssl fails. */
export function selfSigned(dir: string, cn: string): { key: Buffer; cert: Buffer } {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { timeout: 30_000 });
  if (r.status !== 0) throw new Error(`openssl req failed: ${String(r.stderr)}`);
  return { key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) };
}
