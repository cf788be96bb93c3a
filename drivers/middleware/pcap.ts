/**
 * pcap: a pass-through FrameDriver that records every frame in the classic libpcap format
 * (draft-ietf-opsawg-pcap §4 file header, §5 packet record): magic 0xa1b2c3d4 (microsecond timestamps),
 * version 2.4, written little-endian; LinkType 1 (LINKTYPE_ETHERNET) for 'ethernet', 228 (LINKTYPE_IPV4) for 'ip'.
 *
 * What is recorded: each received frame as it is handed to the stack (inside the sink call), and each
 * transmitted frame at txCommit (before the inner driver takes the buffer back). Timestamps are `now + epochMs`
 * (ms) split into seconds and microseconds; records longer than `snaplen` are cut to it (orig_len keeps the
 * real length).
 *
 * Ownership: every chunk given to `sink` is a fresh Uint8Array the sink may keep (the 24-byte file header at
 * creation, then one chunk per record: 16-byte header plus data). Nothing is ever re-used or mutated after the
 * call. Stats, caps, hwAddress, the ready callback and every capability the wrapper does not define (`flows`,
 * `hostTables`, ...; see forward.ts) are the inner driver's. Errors are the inner driver's, plus
 * ERR_DRIVER_CLOSED after close().
 */
import { BywayError, type DriverCapabilities, type DriverStats, type FrameDriver, type FrameSink, type Medium } from '../types.js';
import { invalidArg } from '../../protocols/util/errors.js';
import { forwardRest } from './forward.js';

export const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
export const PCAP_MAGIC_NANOS = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_IPV4 = 228;
export const PCAP_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

export interface PcapOptions {
  /** Receives the file, chunk by chunk. Each chunk is fresh memory the sink may keep. */
  sink: (chunk: Uint8Array) => void;
  /** Largest number of bytes kept of each frame (default 262144, what tcpdump uses). */
  snaplen?: number;
  /** Added to `now` to give the wall-clock time of a record in ms since the Unix epoch (default 0). */
  epochMs?: number;
  /** Called once when the driver is closed, after the inner driver (pcapFile closes its file here). */
  onClose?: () => void;
}

export interface PcapDriver extends FrameDriver {
  /** Records written so far. */
  readonly records: number;
  /** Always present on this driver. */
  pollAt(now: number): number | undefined;
}

export function linktypeFor(medium: Medium): number {
  return medium === 'ip' ? LINKTYPE_IPV4 : LINKTYPE_ETHERNET;
}

function le32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** The 24-byte file header (little-endian). */
export function pcapFileHeader(snaplen: number, linktype: number): Uint8Array {
  const h = new Uint8Array(PCAP_HEADER_LEN);
  le32(h, 0, PCAP_MAGIC_MICROS);
  h[4] = 2; // version major
  h[6] = 4; // version minor
  // thiszone (8) and sigfigs (12) are 0
  le32(h, 16, snaplen);
  le32(h, 20, linktype);
  return h;
}

/** One packet record (header and the first min(len, snaplen) bytes of `frame`), as a fresh chunk. */
export function pcapRecord(timeMs: number, frame: Uint8Array, snaplen: number): Uint8Array {
  const incl = Math.min(frame.length, snaplen);
  const r = new Uint8Array(PCAP_RECORD_HEADER_LEN + incl);
  const t = Number.isFinite(timeMs) && timeMs > 0 ? timeMs : 0;
  let sec = Math.floor(t / 1000);
  let usec = Math.round((t - sec * 1000) * 1000);
  if (usec >= 1_000_000) {
    sec++;
    usec -= 1_000_000;
  }
  le32(r, 0, sec >>> 0);
  le32(r, 4, usec);
  le32(r, 8, incl);
  le32(r, 12, frame.length);
  r.set(frame.subarray(0, incl), PCAP_RECORD_HEADER_LEN);
  return r;
}

export function pcap(inner: FrameDriver, options: PcapOptions): PcapDriver {
  const snaplen = options.snaplen ?? 262144;
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) throw invalidArg(`snaplen must be a positive integer`);
  const epochMs = options.epochMs ?? 0;
  if (!Number.isFinite(epochMs)) throw invalidArg(`epochMs must be a finite number`);
  if (typeof options.sink !== 'function') throw invalidArg('pcap: sink must be a function');
  const out = options.sink;
  let reserved: Uint8Array | null = null;
  let closed = false;
  let records = 0;
  const write = (now: number, frame: Uint8Array): void => {
    records++;
    out(pcapRecord(now + epochMs, frame, snaplen));
  };
  const check = (): void => {
    if (closed) throw new BywayError('ERR_DRIVER_CLOSED', 'the driver is closed');
  };
  out(pcapFileHeader(snaplen, linktypeFor(inner.caps.medium)));

  return forwardRest({
    get caps(): DriverCapabilities {
      return inner.caps;
    },
    get hwAddress() {
      return inner.hwAddress;
    },
    get stats(): DriverStats {
      return inner.stats;
    },
    get records() {
      return records;
    },
    receive(now: number, max: number, sink: FrameSink): number {
      check();
      return inner.receive(now, max, (frame, flags) => {
        write(now, frame);
        sink(frame, flags);
      });
    },
    txReserve(len: number): Uint8Array | null {
      check();
      reserved = inner.txReserve(len);
      return reserved;
    },
    txCommit(now: number, len: number, segment?: number): boolean | void {
      check();
      const buf = reserved;
      reserved = null;
      // Record only what the inner driver will accept; misuse is left to it to report. A TSO packet is recorded
      // whole, as tcpdump shows it on a host whose NIC segments.
      if (buf !== null && Number.isInteger(len) && len >= 0 && len <= buf.length) write(now, buf.subarray(0, len));
      return segment === undefined ? inner.txCommit(now, len) : inner.txCommit(now, len, segment);
    },
    flush(now: number): void {
      check();
      inner.flush(now);
    },
    pollAt(now: number): number | undefined {
      check();
      return inner.pollAt?.(now);
    },
    ...(inner.wait
      ? {
          wait(now: number, spinUs: number): boolean {
            check();
            return inner.wait!(now, spinUs);
          },
        }
      : {}),
    setReadyCallback(cb: (() => void) | null): void {
      if (closed && cb !== null) check();
      inner.setReadyCallback(cb);
    },
    close(): void {
      if (closed) return;
      closed = true;
      reserved = null;
      try {
        inner.close();
      } finally {
        options.onClose?.();
      }
    },
  }, inner);
}
