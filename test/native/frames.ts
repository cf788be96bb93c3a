/**
 * Hand-built frames for kernel conformance tests (ARP, ICMP echo, UDP, TCP), checksums from
 * protocols/util/checksum.ts, and a bounded wait for a matching frame from a real driver.
 */
import { checksum, onesSum, pseudoHeaderSum, finish } from '../../protocols/util/checksum.js';
import { write16, write32 } from '../../protocols/util/bytes.js';
import { parseIpv4 } from '../../protocols/ipv4/address.js';
import type { FrameDriver } from '../../drivers/types.js';

export const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export function ip(text: string): number {
  const v = parseIpv4(text);
  if (v === undefined) throw new Error(`bad address ${text}`);
  return v;
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
  write16(f, 12, 0x0806);
  write16(f, 14, 1); // htype Ethernet
  write16(f, 16, 0x0800);
  f[18] = 6;
  f[19] = 4;
  write16(f, 20, 1); // request
  f.set(srcMac, 22);
  write32(f, 28, srcIp);
  write32(f, 38, targetIp);
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
  write16(b, o + 2, totalLen);
  write16(b, o + 4, id);
  write16(b, o + 6, 0x4000);
  b[o + 8] = 64;
  b[o + 9] = proto;
  write16(b, o + 10, 0);
  write32(b, o + 12, src);
  write32(b, o + 16, dst);
  write16(b, o + 10, checksum(b, o, o + 20));
}

/** An IPv4 packet carrying an ICMP echo request (RFC 792), no Ethernet header. */
export function icmpEchoPacket(src: number, dst: number, ident: number, seq: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + 8 + payload.length);
  ipv4Header(p, 0, 1, src, dst, p.length, ident ^ seq);
  p[20] = 8;
  p[21] = 0;
  write16(p, 24, ident);
  write16(p, 26, seq);
  p.set(payload, 28);
  write16(p, 22, checksum(p, 20, p.length));
  return p;
}

export function ethernet(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  write16(f, 12, type);
  f.set(payload, 14);
  return f;
}

/** An IPv4 packet carrying a UDP datagram (RFC 768) with its checksum. */
export function udpPacket(src: number, dst: number, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + 8 + payload.length);
  ipv4Header(p, 0, 17, src, dst, p.length, sport ^ dport);
  write16(p, 20, sport);
  write16(p, 22, dport);
  write16(p, 24, 8 + payload.length);
  p.set(payload, 28);
  const c = finish(onesSum(p, 20, p.length, pseudoHeaderSum(src, dst, 17, 8 + payload.length)));
  write16(p, 26, c === 0 ? 0xffff : c);
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
  match: (f: Uint8Array, flags: number) => boolean,
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
      d.receive(0, 64, (f, flags) => {
        const copy = f.slice();
        stats.seen.push(copy);
        if (found === undefined && match(f, flags ?? 0)) found = copy;
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

/** One hand-built TCP segment (IPv4, 20-byte header, DF). */
export interface TcpOut {
  readonly src: number;
  readonly dst: number;
  readonly sport: number;
  readonly dport: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  /** Default 1000. */
  readonly win?: number;
  readonly options: Uint8Array;
  readonly payload: Uint8Array;
  readonly id: number;
}

/**
 * An Ethernet frame carrying `s` written into `f`; returns its length. The IPv4 checksum is computed; the TCP
 * checksum too, unless `tcpChecksum` is false (left 0, for a driver that offloads it).
 */
export function writeTcpFrame(f: Uint8Array, dstMac: Uint8Array, srcMac: Uint8Array, s: TcpOut, tcpChecksum = true): number {
  const thl = 20 + s.options.length;
  const total = 20 + thl + s.payload.length;
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  write16(f, 12, 0x0800);
  const o = 14;
  f[o] = 0x45;
  f[o + 1] = 0;
  write16(f, o + 2, total);
  write16(f, o + 4, s.id);
  write16(f, o + 6, 0x4000);
  f[o + 8] = 64;
  f[o + 9] = 6;
  write16(f, o + 10, 0);
  write32(f, o + 12, s.src);
  write32(f, o + 16, s.dst);
  write16(f, o + 10, checksum(f, o, o + 20));
  const t = o + 20;
  write16(f, t, s.sport);
  write16(f, t + 2, s.dport);
  write32(f, t + 4, s.seq);
  write32(f, t + 8, s.ack);
  f[t + 12] = (thl / 4) << 4;
  f[t + 13] = s.flags;
  write16(f, t + 14, s.win ?? 1000);
  write16(f, t + 16, 0);
  write16(f, t + 18, 0);
  f.set(s.options, t + 20);
  f.set(s.payload, t + thl);
  if (tcpChecksum) write16(f, t + 16, checksum(f, t, o + total, pseudoHeaderSum(s.src, s.dst, 6, thl + s.payload.length)));
  return 14 + total;
}

/** NOP, NOP, timestamps (RFC 7323 section 3). */
export function tsOption(val: number, ecr: number): Uint8Array {
  const b = new Uint8Array(12);
  b.set([1, 1, 8, 10]);
  write32(b, 4, val);
  write32(b, 8, ecr);
  return b;
}
