/**
 * Building the script's inbound packets (exact option bytes in the order written) and reading the stack's outbound
 * ones into a form comparable with script lines. Pure functions over byte arrays.
 */
import { IpProtocol, writeIpv4Header, IPV4_FLAG_DF } from '../../protocols/ipv4/wire.js';
import { fillTcpChecksum } from '../../protocols/tcp/wire.js';
import { read16, read32, write16, write32 } from '../../protocols/util/bytes.js';
import { checksum } from '../../protocols/util/checksum.js';
import type { TcpOptionSpec } from './parse.js';

export const FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, '.': 0x10, U: 0x20, E: 0x40, W: 0x80 };

export function flagBits(flags: string): number {
  let b = 0;
  if (flags === '-') return 0;
  for (const c of flags) b |= FLAG_BITS[c] ?? 0;
  return b;
}

export function flagText(bits: number): string {
  if (bits === 0) return '-';
  let s = '';
  for (const c of ['S', 'F', 'R', 'P', 'U', 'E', 'W', '.']) if (bits & FLAG_BITS[c]!) s += c;
  // packetdrill writes FP. and S. / P. / F. with the dot last
  return s;
}

/** Raw TCP option bytes for a list, with sequence numbers already live (sack) and TS values already mapped. */
export function encodeOptions(opts: readonly TcpOptionSpec[]): Uint8Array {
  const out: number[] = [];
  for (const o of opts) {
    switch (o.kind) {
      case 'nop':
        out.push(1);
        break;
      case 'eol':
        out.push(0);
        break;
      case 'sackOK':
        out.push(4, 2);
        break;
      case 'mss':
        out.push(2, 4, (o.value >>> 8) & 0xff, o.value & 0xff);
        break;
      case 'wscale':
        out.push(3, 3, o.value & 0xff);
        break;
      case 'TS':
        out.push(8, 10, ...u32(o.val), ...u32(o.ecr));
        break;
      case 'sack':
        out.push(5, 2 + 8 * o.blocks.length);
        for (const [l, r] of o.blocks) out.push(...u32(l), ...u32(r));
        break;
    }
  }
  while (out.length % 4) out.push(0); // EOL padding to a word
  return Uint8Array.from(out);
}

function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

export interface TcpBuild {
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options: Uint8Array;
  payloadLen: number;
  tos?: number;
}

/** A whole IPv4 packet carrying one TCP segment (payload zero bytes), checksums filled. */
export function buildTcpPacket(b: TcpBuild): Uint8Array {
  const tcpLen = 20 + b.options.length + b.payloadLen;
  const pkt = new Uint8Array(20 + tcpLen);
  writeIpv4Header(pkt, 0, b.src, b.dst, IpProtocol.TCP, tcpLen, 64, 0, IPV4_FLAG_DF, b.tos ?? 0, true);
  const t = 20;
  write16(pkt, t, b.srcPort);
  write16(pkt, t + 2, b.dstPort);
  write32(pkt, t + 4, b.seq >>> 0);
  write32(pkt, t + 8, b.ack >>> 0);
  pkt[t + 12] = ((20 + b.options.length) / 4) << 4;
  pkt[t + 13] = b.flags;
  write16(pkt, t + 14, b.window & 0xffff);
  pkt.set(b.options, t + 20);
  fillTcpChecksum(pkt, t, pkt.length, b.src, b.dst);
  return pkt;
}

/** An ICMP error quoting `quoted` (an IP header + at least 8 bytes), as an IPv4 packet from `src` to `dst`. */
export function buildIcmpPacket(src: number, dst: number, type: number, code: number, rest: number, quoted: Uint8Array): Uint8Array {
  const icmpLen = 8 + quoted.length;
  const pkt = new Uint8Array(20 + icmpLen);
  writeIpv4Header(pkt, 0, src, dst, IpProtocol.ICMP, icmpLen, 64, 0, 0, 0, true);
  pkt[20] = type;
  pkt[21] = code;
  write32(pkt, 24, rest >>> 0);
  pkt.set(quoted, 28);
  write16(pkt, 22, checksum(pkt, 20, pkt.length));
  return pkt;
}

/** An outbound TCP segment as seen on the wire. */
export interface SeenSegment {
  readonly time: number;
  readonly src: number;
  readonly dst: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  /** Options decoded, in wire order (TS and sack with live values). undefined when they could not be decoded. */
  readonly options: TcpOptionSpec[];
  readonly payloadLen: number;
  readonly tos: number;
}

export function readSegment(time: number, pkt: Uint8Array): SeenSegment | undefined {
  if (pkt.length < 40 || pkt[0]! >> 4 !== 4 || pkt[9] !== IpProtocol.TCP) return undefined;
  const ihl = (pkt[0]! & 0xf) * 4;
  const total = read16(pkt, 2);
  const t = ihl;
  const doff = (pkt[t + 12]! >> 4) * 4;
  const options: TcpOptionSpec[] = [];
  let i = t + 20;
  const end = t + doff;
  while (i < end) {
    const kind = pkt[i]!;
    if (kind === 0) {
      options.push({ kind: 'eol' });
      break;
    }
    if (kind === 1) {
      options.push({ kind: 'nop' });
      i++;
      continue;
    }
    const len = pkt[i + 1]!;
    if (len < 2 || i + len > end) break;
    if (kind === 2 && len === 4) options.push({ kind: 'mss', value: read16(pkt, i + 2) });
    else if (kind === 3 && len === 3) options.push({ kind: 'wscale', value: pkt[i + 2]! });
    else if (kind === 4 && len === 2) options.push({ kind: 'sackOK' });
    else if (kind === 8 && len === 10) options.push({ kind: 'TS', val: read32(pkt, i + 2), ecr: read32(pkt, i + 6) });
    else if (kind === 5 && (len - 2) % 8 === 0) {
      const blocks: Array<[number, number]> = [];
      for (let j = i + 2; j < i + len; j += 8) blocks.push([read32(pkt, j), read32(pkt, j + 4)]);
      options.push({ kind: 'sack', blocks });
    }
    i += len;
  }
  return {
    time,
    src: read32(pkt, 12),
    dst: read32(pkt, 16),
    srcPort: read16(pkt, t),
    dstPort: read16(pkt, t + 2),
    seq: read32(pkt, t + 4),
    ack: read32(pkt, t + 8),
    flags: pkt[t + 13]!,
    window: read16(pkt, t + 14),
    options,
    payloadLen: total - ihl - doff,
    tos: pkt[1]!,
  };
}
