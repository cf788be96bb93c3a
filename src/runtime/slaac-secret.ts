/**
 * What SLAAC's stable interface identifiers (RFC 7217) need from the runtime, since the stack imports no `node:`
 * module: the pseudorandom function F (SHA-256, as the RFC suggests) and a default secret_key that stays the same
 * across restarts of this host (RFC 7217 section 5): SHA-256 over a label and /etc/machine-id, so the addresses a
 * byway stack forms on a given prefix do not change when the program restarts. Without a readable machine id the
 * key is random (stable for the process only). `ipv6.stableSecret` overrides it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

export function sha256(input: Uint8Array): Uint8Array {
  return createHash('sha256').update(input).digest();
}

/** The default secret_key as hex (32 bytes). */
export function defaultStableSecret(machineIdPath = '/etc/machine-id'): string {
  let id: string | undefined;
  try {
    id = readFileSync(machineIdPath, 'utf8').trim();
  } catch {
    id = undefined;
  }
  if (id === undefined || id === '') return randomBytes(32).toString('hex');
  return createHash('sha256').update(`byway RFC 7217 secret_key\0${id}`).digest('hex');
}
