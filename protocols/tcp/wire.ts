/**
 * TCP header and options codec (RFC 9293 section 3.1; options from RFC 9293 3.2 (MSS), RFC 7323 (window scale,
 * timestamps), RFC 2018 (SACK-permitted, SACK)).
 *
 * `TcpPacket.check` validates the fixed header: at least 20 bytes, data offset >= 5 words and within the buffer.
 * `parseTcpInto` decodes the header and every option into a reused `TcpFields` object (the receive hot path:
 * no allocation); it returns false when an option is malformed (a length below 2, running past the header, or a
 * known option with the wrong length): the caller drops the segment and counts it. Unknown options are skipped by
 * their length; EOL ends the list. Nothing here throws on wire input.
 *
 * `emitTcp` writes the header and options at buf[offset..] and leaves the checksum field zero; the caller writes
 * the payload in place after `headerLen` bytes and then calls `fillTcpChecksum` (unless the device offloads it).
 * Options are laid out like Linux: MSS, SACK-permitted + timestamps (or NOP NOP + either), NOP + window scale,
 * NOP NOP + SACK blocks; every option group is 4-byte aligned so no padding is needed. SACK blocks that do not fit
 * in the 40 option bytes are left out (RFC 2018 section 3: at most 3 with timestamps, 4 without).
 */
import { read16, read32, write16, write32 } from '../util/bytes.js';
import { finish, onesSum, pseudoHeaderSum } from '../util/checksum.js';

export const TCP_HEADER_LEN = 20;
export const TCP_MAX_OPTIONS_LEN = 40;
export const TCP_PROTOCOL = 6;

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

export const TcpOption = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WINDOW_SCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;

/** RFC 7323 section 2.3: a shift count above 14 is treated as 14. */
export const TCP_MAX_WSCALE = 14;

const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ = 4;
const ACK = 8;
const DATA_OFF = 12;
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;

export type TcpCheck = 'ok' | 'truncated' | 'bad-offset';

/**
 * The decoded header. Option fields are `undefined` (or false / empty) when the option is absent.
 * `sackBlocks` is flat: [left0, right0, left1, right1, ...], 0 to 4 blocks.
 */
export interface TcpFields {
  srcPort: number;
  dstPort: number;
  /**
   * seq, ack, the sackBlocks' edges, tsVal and tsEcr: from `parseTcpInto`, signed 32-bit as the TCP core holds
   * them (seq.ts); from `parseTcp`, the wire's unsigned values. `emitTcp` writes either.
   */
  seq: number;
  ack: number;
  /** The 8 flag bits (CWR..FIN) of byte 13. The 4 reserved bits of byte 12 are ignored (RFC 9293 3.1). */
  flags: number;
  window: number;
  urgent: number;
  mss: number | undefined;
  wscale: number | undefined;
  sackPermitted: boolean;
  sackBlocks: number[];
  tsVal: number | undefined;
  tsEcr: number | undefined;
  payloadLen: number;
}

/** No options: MSS, window scale, SACK-permitted, SACK blocks and timestamps all absent (a reused fields object). */
export function clearTcpOptions(f: TcpFields): void {
  f.mss = undefined;
  f.wscale = undefined;
  f.sackPermitted = false;
  if (f.sackBlocks.length !== 0) f.sackBlocks.length = 0;
  f.tsVal = undefined;
  f.tsEcr = undefined;
}
export type TcpRepr = Readonly<TcpFields>;

export function emptyTcpFields(): TcpFields {
  return {
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    urgent: 0,
    mss: undefined,
    wscale: undefined,
    sackPermitted: false,
    sackBlocks: [],
    tsVal: undefined,
    tsEcr: undefined,
    payloadLen: 0,
  };
}

export class TcpPacket {
  private constructor(readonly buffer: Uint8Array) {}

  static check(buf: Uint8Array): TcpCheck {
    return TcpPacket.checkAt(buf, 0, buf.length);
  }

  /** `check` of the segment buf[start, end) (the receive hot path reads it in place, with no view). */
  static checkAt(buf: Uint8Array, start: number, end: number): TcpCheck {
    if (end - start < TCP_HEADER_LEN) return 'truncated';
    const off = (buf[start + DATA_OFF]! >>> 4) * 4;
    if (off < TCP_HEADER_LEN) return 'bad-offset';
    if (off > end - start) return 'truncated';
    return 'ok';
  }

  /** A view over `buf` (the whole segment: header, options, payload), or undefined when `check` fails. */
  static checked(buf: Uint8Array): TcpPacket | undefined {
    return TcpPacket.check(buf) === 'ok' ? new TcpPacket(buf) : undefined;
  }

  get srcPort(): number {
    return read16(this.buffer, SRC_PORT);
  }
  get dstPort(): number {
    return read16(this.buffer, DST_PORT);
  }
  get seq(): number {
    return read32(this.buffer, SEQ);
  }
  get ack(): number {
    return read32(this.buffer, ACK);
  }
  get headerLen(): number {
    return (this.buffer[DATA_OFF]! >>> 4) * 4;
  }
  get flags(): number {
    return this.buffer[FLAGS]!;
  }
  get window(): number {
    return read16(this.buffer, WINDOW);
  }
  get checksumField(): number {
    return read16(this.buffer, CHECKSUM);
  }
  get urgent(): number {
    return read16(this.buffer, URGENT);
  }
  get options(): Uint8Array {
    return this.buffer.subarray(TCP_HEADER_LEN, this.headerLen);
  }
  get payload(): Uint8Array {
    return this.buffer.subarray(this.headerLen);
  }
  /** RFC 9293 3.1: the sum over pseudo-header, header and data (checksum field included) is 0xffff. */
  verifyChecksum(src: number, dst: number): boolean {
    return verifyTcpChecksum(this.buffer, 0, this.buffer.length, src, dst);
  }
}

/**
 * Decode the segment buf[start, end) (already `check`ed; default the whole buffer) into `out`. Returns false when
 * the options are malformed.
 * `out.sackBlocks` is reused (its length is reset).
 */
export function parseTcpInto(buf: Uint8Array, out: TcpFields, start = 0, end = buf.length): boolean {
  const s = start;
  const hl = (buf[s + DATA_OFF]! >>> 4) * 4;
  out.srcPort = read16(buf, s + SRC_PORT);
  out.dstPort = read16(buf, s + DST_PORT);
  // Sequence numbers as the core holds them (signed 32-bit: protocols/tcp/seq.ts).
  out.seq = read32(buf, s + SEQ) | 0;
  out.ack = read32(buf, s + ACK) | 0;
  out.flags = buf[s + FLAGS]!;
  out.window = read16(buf, s + WINDOW);
  out.urgent = read16(buf, s + URGENT);
  out.payloadLen = end - s - hl;
  clearTcpOptions(out);
  let i = s + TCP_HEADER_LEN;
  const optEnd = s + hl;
  // The layout nearly every segment of a connection with timestamps carries (RFC 7323 appendix A: NOP, NOP, TS):
  // what the loop below would find, without it.
  if (hl === TCP_HEADER_LEN + 12 && buf[i] === TcpOption.NOP && buf[i + 1] === TcpOption.NOP && buf[i + 2] === TcpOption.TIMESTAMPS && buf[i + 3] === 10) {
    out.tsVal = read32(buf, i + 4) | 0;
    out.tsEcr = read32(buf, i + 8) | 0;
    return true;
  }
  while (i < optEnd) {
    const kind = buf[i]!;
    if (kind === TcpOption.EOL) break;
    if (kind === TcpOption.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= optEnd) return false;
    const len = buf[i + 1]!;
    if (len < 2 || i + len > optEnd) return false;
    switch (kind) {
      case TcpOption.MSS:
        if (len !== 4) return false;
        out.mss = read16(buf, i + 2);
        break;
      case TcpOption.WINDOW_SCALE:
        if (len !== 3) return false;
        out.wscale = Math.min(buf[i + 2]!, TCP_MAX_WSCALE);
        break;
      case TcpOption.SACK_PERMITTED:
        if (len !== 2) return false;
        out.sackPermitted = true;
        break;
      case TcpOption.SACK: {
        const n = (len - 2) >>> 3;
        if ((len - 2) % 8 !== 0 || n < 1 || n > 4) return false;
        out.sackBlocks.length = 0;
        for (let k = 0; k < n; k++) {
          out.sackBlocks.push(read32(buf, i + 2 + k * 8) | 0, read32(buf, i + 6 + k * 8) | 0);
        }
        break;
      }
      case TcpOption.TIMESTAMPS:
        if (len !== 10) return false;
        out.tsVal = read32(buf, i + 2) | 0;
        out.tsEcr = read32(buf, i + 6) | 0;
        break;
      default:
        break; // unknown option: skipped by its length
    }
    i += len;
  }
  return true;
}

/**
 * Decode a checked packet into a fresh Repr, or undefined when its options are malformed. Unlike `parseTcpInto`
 * (the core's decoder), sequence numbers, acknowledgments, SACK edges and timestamps are the wire's unsigned values.
 */
export function parseTcp(p: TcpPacket): TcpRepr | undefined {
  const out = emptyTcpFields();
  if (!parseTcpInto(p.buffer, out)) return undefined;
  out.seq >>>= 0;
  out.ack >>>= 0;
  for (let k = 0; k < out.sackBlocks.length; k++) out.sackBlocks[k]! >>>= 0;
  if (out.tsVal !== undefined) out.tsVal >>>= 0;
  if (out.tsEcr !== undefined) out.tsEcr >>>= 0;
  return out;
}

/** The number of SACK blocks `emitTcp` writes for `repr` (those that fit in 40 option bytes). */
function sackBlocksThatFit(repr: TcpRepr, used: number): number {
  const n = repr.sackBlocks.length >>> 1;
  if (n === 0) return 0;
  const room = TCP_MAX_OPTIONS_LEN - used - 4;
  return Math.max(0, Math.min(n, 4, room >> 3));
}

function optionsLenWithoutSack(repr: TcpRepr): number {
  let n = 0;
  if (repr.mss !== undefined) n += 4;
  if (repr.tsVal !== undefined) n += 12; // (SACK-permitted or NOP NOP) + timestamps
  else if (repr.sackPermitted) n += 4; // NOP NOP SACK-permitted
  if (repr.wscale !== undefined) n += 4; // NOP window-scale
  return n;
}

/** Header length (fixed part + options) that `emitTcp` writes for `repr`. */
export function tcpHeaderLen(repr: TcpRepr): number {
  const base = optionsLenWithoutSack(repr);
  const blocks = sackBlocksThatFit(repr, base);
  return TCP_HEADER_LEN + base + (blocks > 0 ? 4 + blocks * 8 : 0);
}

/** Header + payload length for `repr`. */
export function tcpBufferLen(repr: TcpRepr): number {
  return tcpHeaderLen(repr) + repr.payloadLen;
}

/**
 * Write the header and options for `repr` at buf[offset..] with a zero checksum field. Returns the header length;
 * the payload goes at buf[offset + headerLen ..]. The buffer must hold `tcpHeaderLen(repr)` bytes from offset.
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, offset = 0): number {
  const base = optionsLenWithoutSack(repr);
  const blocks = sackBlocksThatFit(repr, base);
  const hl = TCP_HEADER_LEN + base + (blocks > 0 ? 4 + blocks * 8 : 0);
  const o = offset;
  write16(buf, o + SRC_PORT, repr.srcPort);
  write16(buf, o + DST_PORT, repr.dstPort);
  write32(buf, o + SEQ, repr.seq);
  write32(buf, o + ACK, repr.ack);
  buf[o + DATA_OFF] = (hl >>> 2) << 4;
  buf[o + FLAGS] = repr.flags;
  write16(buf, o + WINDOW, repr.window);
  write16(buf, o + CHECKSUM, 0);
  write16(buf, o + URGENT, repr.urgent);
  let i = o + TCP_HEADER_LEN;
  if (repr.mss !== undefined) {
    buf[i] = TcpOption.MSS;
    buf[i + 1] = 4;
    write16(buf, i + 2, repr.mss);
    i += 4;
  }
  if (repr.tsVal !== undefined) {
    if (repr.sackPermitted) {
      buf[i] = TcpOption.SACK_PERMITTED;
      buf[i + 1] = 2;
    } else {
      buf[i] = TcpOption.NOP;
      buf[i + 1] = TcpOption.NOP;
    }
    buf[i + 2] = TcpOption.TIMESTAMPS;
    buf[i + 3] = 10;
    write32(buf, i + 4, repr.tsVal);
    write32(buf, i + 8, repr.tsEcr ?? 0);
    i += 12;
  } else if (repr.sackPermitted) {
    buf[i] = TcpOption.NOP;
    buf[i + 1] = TcpOption.NOP;
    buf[i + 2] = TcpOption.SACK_PERMITTED;
    buf[i + 3] = 2;
    i += 4;
  }
  if (repr.wscale !== undefined) {
    buf[i] = TcpOption.NOP;
    buf[i + 1] = TcpOption.WINDOW_SCALE;
    buf[i + 2] = 3;
    buf[i + 3] = repr.wscale;
    i += 4;
  }
  if (blocks > 0) {
    buf[i] = TcpOption.NOP;
    buf[i + 1] = TcpOption.NOP;
    buf[i + 2] = TcpOption.SACK;
    buf[i + 3] = 2 + blocks * 8;
    i += 4;
    for (let k = 0; k < blocks; k++) {
      write32(buf, i, repr.sackBlocks[2 * k]!);
      write32(buf, i + 4, repr.sackBlocks[2 * k + 1]!);
      i += 8;
    }
  }
  return hl;
}

/** The TCP checksum of the segment buf[start, end) between src and dst (RFC 9293 3.1, pseudo-header included). */
export function tcpChecksum(buf: Uint8Array, start: number, end: number, src: number, dst: number): number {
  return finish(onesSum(buf, start, end, pseudoHeaderSum(src, dst, TCP_PROTOCOL, end - start)));
}

/** Compute and store the checksum of the segment buf[start, end) (its checksum field must be zero). */
export function fillTcpChecksum(buf: Uint8Array, start: number, end: number, src: number, dst: number): void {
  write16(buf, start + CHECKSUM, tcpChecksum(buf, start, end, src, dst));
}

/**
 * Compute and store the checksum of the segment buf[start, end) (its checksum field must be zero) from `pseudo`,
 * the folded pseudo-header sum without the length (either family's: TcpTxPacket.pseudoSum).
 */
export function fillTcpChecksumWith(buf: Uint8Array, start: number, end: number, pseudo: number): void {
  write16(buf, start + CHECKSUM, finish(onesSum(buf, start, end, pseudo + (end - start))));
}

export function verifyTcpChecksum(buf: Uint8Array, start: number, end: number, src: number, dst: number): boolean {
  return onesSum(buf, start, end, pseudoHeaderSum(src, dst, TCP_PROTOCOL, end - start)) === 0xffff;
}
