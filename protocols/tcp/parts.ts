/**
 * The TCP parts the connection and the layer use (byte ring, RTT estimator, out-of-order queue, congestion
 * control, ISN, SYN cookies), imported from one place. The parts helper is writing the real modules
 * (byte-ring.ts, rtt.ts, ooo-queue.ts, cc/, isn.ts, syn-cookie.ts); until they land, this file holds small
 * stand-ins written to the same contract so the core can be built and tested. Switching is a matter of replacing
 * this file's body with re-exports.
 */

export { ByteRing } from './byte-ring.js';
export { RttEstimator, type RtoOptions } from './rtt.js';

export { OutOfOrderQueue } from './ooo-queue.js';

export { cubic, newReno, congestionControls, type CongestionControl, type CongestionControlFactory } from './cc/index.js';

// ------------------------------------------------------------------------------------------------ keyed hash, ISN
function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  return (h ^ (h >>> 13)) >>> 0;
}
function keyed(key: Uint8Array, a: number, b: number, c: number, d: number, e = 0): number {
  let h = 0x6a09e667;
  for (let i = 0; i < 16; i += 4) h = mix(h, (key[i]! << 24) | (key[i + 1]! << 16) | (key[i + 2]! << 8) | key[i + 3]!);
  h = mix(h, a);
  h = mix(h, b);
  h = mix(h, c);
  h = mix(h, d);
  h = mix(h, e);
  return mix(h, 0x5bd1e995);
}
/** RFC 6528: ISN = M + F(4-tuple, key), M a 4 us clock. */
export function computeIsn(key: Uint8Array, localIp: number, localPort: number, remoteIp: number, remotePort: number, nowMs: number): number {
  return (keyed(key, localIp, localPort, remoteIp, remotePort) + Math.floor(nowMs * 250)) >>> 0;
}

// ------------------------------------------------------------------------------------------------ SYN cookies
const MSS_TABLE = [536, 1300, 1440, 1460];
export function synCookieEncode(
  key: Uint8Array, localIp: number, localPort: number, remoteIp: number, remotePort: number, peerIsn: number,
  mss: number, nowMs: number, opts?: { wscale?: number | undefined; sackOk?: boolean; tsOk?: boolean },
): { isn: number; mss: number; tsval?: number } {
  let idx = 0;
  for (let i = MSS_TABLE.length - 1; i >= 0; i--) if (MSS_TABLE[i]! <= mss) { idx = i; break; }
  const slot = Math.floor(nowMs / 64000) & 0xff;
  const h = keyed(key, localIp, (localPort << 16) | remotePort, remoteIp, peerIsn, slot);
  const isn = ((h & ~0x3ff) | (slot << 2) | idx) >>> 0;
  const out: { isn: number; mss: number; tsval?: number } = { isn, mss: MSS_TABLE[idx]! };
  if (opts?.tsOk) {
    const ws = opts.wscale === undefined ? 0xf : opts.wscale & 0xf;
    out.tsval = ((Math.floor(nowMs) & ~0x3f) | 0x20 | (opts.sackOk ? 0x10 : 0) | ws) >>> 0;
  }
  return out;
}
export function synCookieDecode(
  key: Uint8Array, localIp: number, localPort: number, remoteIp: number, remotePort: number, peerIsn: number,
  cookie: number, nowMs: number, tsecr?: number,
): { mss: number; wscale?: number; sackOk: boolean } | null {
  const slot = (cookie >>> 2) & 0xff;
  const cur = Math.floor(nowMs / 64000) & 0xff;
  if (slot !== cur && slot !== ((cur - 1) & 0xff)) return null;
  const h = keyed(key, localIp, (localPort << 16) | remotePort, remoteIp, peerIsn, slot);
  if (((h & ~0x3ff) >>> 0) !== ((cookie & ~0x3ff) >>> 0)) return null;
  const out: { mss: number; wscale?: number; sackOk: boolean } = { mss: MSS_TABLE[cookie & 3]!, sackOk: false };
  if (tsecr !== undefined && (tsecr & 0x20) !== 0) {
    const ws = tsecr & 0xf;
    if (ws !== 0xf) out.wscale = ws;
    out.sackOk = (tsecr & 0x10) !== 0;
  }
  return out;
}
