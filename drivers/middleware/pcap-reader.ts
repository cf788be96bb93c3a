/**
 * readPcap: parse a classic libpcap file (draft-ietf-opsawg-pcap §4, §5) held in memory.
 *
 * Accepts both byte orders and both timestamp resolutions (magic 0xa1b2c3d4 microseconds, 0xa1b23c4d
 * nanoseconds). Record data are views (subarray) into `bytes`. A malformed file throws BywayError
 * 'ERR_PCAP_FORMAT' saying what and where; no other error escapes for any byte input.
 */
import { BywayError } from '../types.js';
import { PCAP_HEADER_LEN, PCAP_MAGIC_MICROS, PCAP_MAGIC_NANOS, PCAP_RECORD_HEADER_LEN } from './pcap.js';

export interface PcapRecord {
  /** Capture time in ms since the Unix epoch (fractional). */
  timeMs: number;
  /** The captured bytes (a view into the input). */
  data: Uint8Array;
  /** The frame's length on the wire (may exceed data.length when cut by snaplen). */
  origLen: number;
}

export interface PcapContents {
  linktype: number;
  snaplen: number;
  /** Nanosecond timestamps (magic 0xa1b23c4d) rather than microseconds. */
  nanos: boolean;
  /** The file was written big-endian. */
  bigEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  records: PcapRecord[];
}

function formatError(message: string): BywayError {
  return new BywayError('ERR_PCAP_FORMAT', `pcap: ${message}`);
}

export function readPcap(bytes: Uint8Array): PcapContents {
  if (!(bytes instanceof Uint8Array)) throw formatError('input is not a Uint8Array');
  const n = bytes.length;
  if (n < PCAP_HEADER_LEN) throw formatError(`file is ${n} bytes, shorter than the ${PCAP_HEADER_LEN}-byte header`);
  const be32 = (o: number): number => ((bytes[o]! << 24) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!) >>> 0;
  const le32 = (o: number): number => ((bytes[o + 3]! << 24) | (bytes[o + 2]! << 16) | (bytes[o + 1]! << 8) | bytes[o]!) >>> 0;
  let read32: (o: number) => number;
  let nanos: boolean;
  const magicLe = le32(0);
  const magicBe = be32(0);
  if (magicLe === PCAP_MAGIC_MICROS || magicLe === PCAP_MAGIC_NANOS) {
    read32 = le32;
    nanos = magicLe === PCAP_MAGIC_NANOS;
  } else if (magicBe === PCAP_MAGIC_MICROS || magicBe === PCAP_MAGIC_NANOS) {
    read32 = be32;
    nanos = magicBe === PCAP_MAGIC_NANOS;
  } else {
    throw formatError(`bad magic number 0x${magicBe.toString(16).padStart(8, '0')} (not a classic pcap file)`);
  }
  const bigEndian = read32 === be32;
  const read16 = bigEndian
    ? (o: number): number => (bytes[o]! << 8) | bytes[o + 1]!
    : (o: number): number => (bytes[o + 1]! << 8) | bytes[o]!;
  const versionMajor = read16(4);
  const versionMinor = read16(6);
  if (versionMajor !== 2) throw formatError(`unsupported version ${versionMajor}.${versionMinor} (expected 2.x)`);
  const snaplen = read32(16);
  // §4: the low 16 bits of the LinkType field are the link type; the high bits carry FCS information.
  const linktype = read32(20) & 0xffff;
  const fracLimit = nanos ? 1e9 : 1e6;
  const records: PcapRecord[] = [];
  let off = PCAP_HEADER_LEN;
  while (off < n) {
    if (n - off < PCAP_RECORD_HEADER_LEN) {
      throw formatError(`truncated record header at offset ${off} (${n - off} of ${PCAP_RECORD_HEADER_LEN} bytes)`);
    }
    const sec = read32(off);
    const frac = read32(off + 4);
    const incl = read32(off + 8);
    const origLen = read32(off + 12);
    if (frac >= fracLimit) throw formatError(`record at offset ${off}: sub-second field ${frac} out of range`);
    const start = off + PCAP_RECORD_HEADER_LEN;
    if (incl > n - start) {
      throw formatError(`truncated record at offset ${off}: captured length ${incl}, ${n - start} bytes left`);
    }
    records.push({
      timeMs: sec * 1000 + (nanos ? frac / 1e6 : frac / 1e3),
      data: bytes.subarray(start, start + incl),
      origLen,
    });
    off = start + incl;
  }
  return { linktype, snaplen, nanos, bigEndian, versionMajor, versionMinor, records };
}
