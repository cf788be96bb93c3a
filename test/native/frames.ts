/**
 * Hand-built frames for kernel conformance tests (ARP, ICMP echo, UDP), checksums from protocols/util/checksum.ts,
 * and a bounded wait for a matching frame from a real driver.
 */
import { checksum, onesSum, pseudoHeaderSum, finish } from '../../protocols/util/checksum.js';
import { parseIpv4 } from '../../protocols/ipv4/address.js';
import type { FrameDriver } from '../../drivers/types.js';

export const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export function ip(text: string): number {
  const v = parseIpv4(text);
  if (v === undefined) throw new Error(`bad address ${text}`);
  return v;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, v >>> 16);
  put16(b, o + 2, v & 0xffff);
}
export function get16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function get32(b: Uint8Array, o: number): number {
  return ((get16(b, o) << 16) | get16(b, o + 2)) >>> 0;
}

/** RFC 826 request: who has `targetIp`? tell `srcIp` at `srcMac` (broadcast). */
export function arpRequest(srcMac: Uint8Array, srcIp: number, targetIp: number): Uint8Array {
  const f = new Uint8Array(42);
  f.set(BROADCAST, 0);
  f.set(srcMac, 6);
  put16(f, 12, 0x0806);
  put16(f, 14, 1); // htype Ethernet
  put16(f, 16, 0x0800);
  f[18] = 6;
  f[19] = 4;
  put16(f, 20, 1); // request
  f.set(srcMac, 22);
  put32(f, 28, srcIp);
  put32(f, 38, targetIp);
  return f;
}

/** The sender MAC of an ARP reply from `fromIp` to `toIp`, or undefined. */
export function arpReplySender(f: Uint8Array, fromIp: number, toIp: number): Uint8Array | undefined {
  if (f.length < 42 || get16(f, 12) !== 0x0806 || get16(f, 20) !== 2) return undefined;
  if (get32(f, 28) !== fromIp || get32(f, 38) !== toIp) return undefined;
  return f.slice(22, 28);
}

/** An IPv4 header (20 bytes, DF, TTL 64) at `o`, with its checksum. */
function ipv4Header(b: Uint8Array, o: number, proto: number, src: number, dst: number, totalLen: number, id: number): void {
  b[o] = 0x45;
  b[o + 1] = 0;
  put16(b, o + 2, totalLen);
  put16(b, o + 4, id);
  put16(b, o + 6, 0x4000);
  b[o + 8] = 64;
  b[o + 9] = proto;
  put16(b, o + 10, 0);
  put32(b, o + 12, src);
  put32(b, o + 16, dst);
  put16(b, o + 10, checksum(b, o, o + 20));
}

/** An IPv4 packet carrying an ICMP echo request (RFC 792), no Ethernet header. */
export function icmpEchoPacket(src: number, dst: number, ident: number, seq: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + 8 + payload.length);
  ipv4Header(p, 0, 1, src, dst, p.length, ident ^ seq);
  p[20] = 8;
  p[21] = 0;
  put16(p, 24, ident);
  put16(p, 26, seq);
  p.set(payload, 28);
  put16(p, 22, checksum(p, 20, p.length));
  return p;
}

export function ethernet(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  put16(f, 12, type);
  f.set(payload, 14);
  return f;
}

/** An IPv4 packet carrying a UDP datagram (RFC 768) with its checksum. */
export function udpPacket(src: number, dst: number, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + 8 + payload.length);
  ipv4Header(p, 0, 17, src, dst, p.length, sport ^ dport);
  put16(p, 20, sport);
  put16(p, 22, dport);
  put16(p, 24, 8 + payload.length);
  p.set(payload, 28);
  const c = finish(onesSum(p, 20, p.length, pseudoHeaderSum(src, dst, 17, 8 + payload.length)));
  put16(p, 26, c === 0 ? 0xffff : c);
  return p;
}

export interface EchoReply {
  readonly payload: Uint8Array;
  readonly ipChecksumOk: boolean;
  readonly icmpChecksumOk: boolean;
}

/** An ICMP echo reply from `from` to `to` with this identifier and sequence, in an IPv4 packet at `o`. */
export function echoReplyAt(b: Uint8Array, o: number, from: number, to: number, ident: number, seq: number): EchoReply | undefined {
  if (b.length < o + 28 || b[o]! >> 4 !== 4 || b[o + 9] !== 1) return undefined;
  const ihl = (b[o]! & 15) * 4;
  const total = get16(b, o + 2);
  if (get32(b, o + 12) !== from || get32(b, o + 16) !== to || b.length < o + total) return undefined;
  const icmp = o + ihl;
  if (b[icmp] !== 0 || get16(b, icmp + 4) !== ident || get16(b, icmp + 6) !== seq) return undefined;
  return {
    payload: b.slice(icmp + 8, o + total),
    ipChecksumOk: checksum(b, o, o + ihl) === 0,
    icmpChecksumOk: checksum(b, icmp, o + total) === 0,
  };
}

/** Send one frame: reserve, copy, commit, flush. */
export function sendFrame(d: FrameDriver, frame: Uint8Array, now = 0): void {
  const buf = d.txReserve(frame.length);
  if (buf === null) throw new Error('txReserve returned null');
  buf.set(frame);
  d.txCommit(now, frame.length);
  d.flush(now);
}

export interface WaitStats {
  /** How many times the driver's readiness callback fired while waiting. */
  wakeups: number;
  /** Frames seen (copied) while waiting. */
  seen: Uint8Array[];
}

/**
 * Poll `d` until `match` accepts a frame (returns a copy) or `timeoutMs` passes (returns undefined). Waits on
 * the driver's readiness callback, with a short timer as a backstop.
 */
export async function waitFrame(
  d: FrameDriver,
  match: (f: Uint8Array) => boolean,
  timeoutMs = 3000,
  stats: WaitStats = { wakeups: 0, seen: [] },
): Promise<Uint8Array | undefined> {
  const deadline = Date.now() + timeoutMs;
  let wake: (() => void) | null = null;
  d.setReadyCallback(() => {
    stats.wakeups++;
    wake?.();
  });
  try {
    for (;;) {
      let found: Uint8Array | undefined;
      d.receive(0, 64, (f) => {
        const copy = f.slice();
        stats.seen.push(copy);
        if (found === undefined && match(f)) found = copy;
      });
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    if (!(d as { closed?: boolean }).closed) d.setReadyCallback(null);
  }
}
