/**
 * SYN cookies (RFC 4987 section 3.6), laid out like Linux's: a listener whose SYN queue is full answers a SYN
 * with a SYN-ACK whose ISN encodes, under a secret key, the 4-tuple, the peer's ISN, a 64-second time slot and an
 * MSS index, and keeps no state. The final ACK (ack = cookie + 1, seq = peer ISN + 1) is validated with
 * synCookieDecode, which rebuilds what the SYN said.
 *
 *   cookie = H1(tuple, peerIsn) + (slot << 24) + ((H2(tuple, slot, mssIndex) & 0xfffffc) | mssIndex)   (mod 2^32)
 *
 * H1/H2 are SipHash-2-4 (isn.ts) with distinct tags. The MSS index is authenticated by H2, so changing any bit of a
 * cookie is caught with probability 1 - 2^-22; the peer ISN and the tuple are bound by H1. A cookie is valid in
 * the slot it was made and the next one (SYN_COOKIE_VALID_SLOTS = 2 slots of 64 s: 64 to 128 s).
 *
 * Options the SYN carried besides the MSS cannot fit in the ISN. As Linux does, when the SYN carried timestamps
 * (RFC 7323) the SYN-ACK's TSval carries them in its low 6 bits: bits 0-3 the window scale (0xf = none), bit 4
 * SACK-permitted (RFC 2018), bit 5 set to mark a cookie TSval. The peer echoes the TSval in TSecr on its ACK.
 * Without timestamps the connection gets neither window scaling nor SACK.
 *
 * Contract: sans-IO (time is passed in, the key is a 16-byte secret); bad cookies return null, never throw; a
 * key of the wrong size throws BywayError.
 */
import { sipHash24 } from './isn.js';

/** Linux's MSS table (net/ipv4/syncookies.c msstab). */
export const SYN_COOKIE_MSS_TABLE: readonly number[] = [536, 1300, 1440, 1460];
/** The time slot length (ms). */
export const SYN_COOKIE_SLOT_MS = 64_000;
/** How many slots a cookie stays valid: the one it was made in and the next. */
export const SYN_COOKIE_VALID_SLOTS = 2;

const TS_WSCALE_MASK = 0xf;
const TS_SACK = 0x10;
const TS_COOKIE = 0x20;
const TS_BITS = 6;
const TS_MASK = (1 << TS_BITS) - 1;
/** RFC 7323 2.3: shift counts above 14 are used as 14. */
const MAX_WSCALE = 14;

const TAG_H1 = 0x53594e31; // "SYN1"
const TAG_H2 = 0x53594e32; // "SYN2"

const scratch = new Uint8Array(24);
function put32(o: number, v: number): void {
  scratch[o] = v >>> 24;
  scratch[o + 1] = v >>> 16;
  scratch[o + 2] = v >>> 8;
  scratch[o + 3] = v;
}
function hash(key: Uint8Array, tag: number, lip: number, lport: number, rip: number, rport: number, a: number, b: number): number {
  put32(0, tag);
  put32(4, lip >>> 0);
  put32(8, rip >>> 0);
  put32(12, (((lport & 0xffff) << 16) | (rport & 0xffff)) >>> 0);
  put32(16, a >>> 0);
  put32(20, b >>> 0);
  return sipHash24(key, scratch);
}

/** The index of the largest table MSS <= mss (index 0, 536, when the peer's MSS is below every entry, as Linux). */
export function synCookieMssIndex(mss: number): number {
  for (let i = SYN_COOKIE_MSS_TABLE.length - 1; i > 0; i--) if (mss >= SYN_COOKIE_MSS_TABLE[i]!) return i;
  return 0;
}

function slotOf(nowMs: number): number {
  return Math.floor(nowMs / SYN_COOKIE_SLOT_MS);
}

export interface SynCookieEncodeOptions {
  /** The window scale the SYN offered (undefined: none). */
  wscale?: number | undefined;
  /** The SYN carried SACK-permitted. */
  sackOk?: boolean;
  /** The SYN carried timestamps: return a TSval that carries wscale and sackOk. */
  tsOk?: boolean;
  /** The value our timestamp clock has now (default floor(nowMs)); the TSval returned is <= it and within 63. */
  tsClock?: number;
}

export interface SynCookieEncoded {
  /** Our ISN for the SYN-ACK. */
  isn: number;
  /** The MSS actually encoded (what the connection will use; <= the peer's MSS except below 536). */
  mss: number;
  /** With tsOk: the TSval to send in the SYN-ACK. */
  tsval?: number;
}

export interface SynCookieDecoded {
  mss: number;
  wscale?: number;
  sackOk: boolean;
  /** The ACK echoed a cookie TSval (the SYN negotiated timestamps). */
  tsOk: boolean;
}

export function synCookieEncode(
  key: Uint8Array, localIp: number, localPort: number, remoteIp: number, remotePort: number, peerIsn: number,
  mss: number, nowMs: number, opts?: SynCookieEncodeOptions,
): SynCookieEncoded {
  const idx = synCookieMssIndex(mss);
  const slot = slotOf(nowMs);
  const h1 = hash(key, TAG_H1, localIp, localPort, remoteIp, remotePort, peerIsn, 0);
  const h2 = hash(key, TAG_H2, localIp, localPort, remoteIp, remotePort, slot, idx);
  const isn = (h1 + (((slot & 0xff) << 24) >>> 0) + ((h2 & 0xfffffc) | idx)) >>> 0;
  const out: SynCookieEncoded = { isn, mss: SYN_COOKIE_MSS_TABLE[idx]! };
  if (opts?.tsOk) {
    const ws = opts.wscale === undefined || opts.wscale < 0 ? TS_WSCALE_MASK : Math.min(MAX_WSCALE, opts.wscale | 0);
    const bits = TS_COOKIE | (opts.sackOk ? TS_SACK : 0) | ws;
    const now = (opts.tsClock ?? Math.floor(nowMs)) >>> 0;
    let ts = ((now & ~TS_MASK) | bits) >>> 0;
    // Never put the TSval in the future of our clock (RFC 7323 5.4 monotonicity): step back one 64-tick block.
    if (((ts - now) | 0) > 0) ts = (((now & ~TS_MASK) - (1 << TS_BITS)) | bits) >>> 0;
    out.tsval = ts;
  }
  return out;
}

/**
 * Validate the ACK completing a cookie handshake: cookie = SEG.ACK - 1, peerIsn = SEG.SEQ - 1, tsecr = the ACK's
 * TSecr when it carried timestamps. Returns what the SYN negotiated, or null when the cookie is not ours for this
 * 4-tuple and peer ISN, was tampered with, or is older than SYN_COOKIE_VALID_SLOTS slots.
 */
export function synCookieDecode(
  key: Uint8Array, localIp: number, localPort: number, remoteIp: number, remotePort: number, peerIsn: number,
  cookie: number, nowMs: number, tsecr?: number,
): SynCookieDecoded | null {
  const h1 = hash(key, TAG_H1, localIp, localPort, remoteIp, remotePort, peerIsn, 0);
  const diff = (cookie - h1) >>> 0;
  const cur = slotOf(nowMs);
  const age = (cur - (diff >>> 24)) & 0xff;
  if (age >= SYN_COOKIE_VALID_SLOTS) return null;
  const slot = cur - age;
  const low = diff & 0xffffff;
  const idx = low & 3;
  const h2 = hash(key, TAG_H2, localIp, localPort, remoteIp, remotePort, slot, idx);
  if ((h2 & 0xfffffc) !== (low & 0xfffffc)) return null;
  const out: SynCookieDecoded = { mss: SYN_COOKIE_MSS_TABLE[idx]!, sackOk: false, tsOk: false };
  if (tsecr !== undefined && (tsecr & TS_COOKIE) !== 0) {
    out.tsOk = true;
    const ws = tsecr & TS_WSCALE_MASK;
    if (ws !== TS_WSCALE_MASK) out.wscale = Math.min(ws, MAX_WSCALE);
    out.sackOk = (tsecr & TS_SACK) !== 0;
  }
  return out;
}
