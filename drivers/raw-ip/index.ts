/**
 * Raw IP driver: an L3 FrameDriver (caps.medium 'ip': bare IPv4 packets, no Ethernet header) over the
 * `raw-socket` npm package (an optional dependency): AF_INET SOCK_RAW sockets, one per protocol received, and an
 * IPPROTO_RAW socket (IP_HDRINCL) that sends byway's complete IPv4 packets.
 *
 * Limits (why this driver is a fallback, not a bypass):
 * - The kernel still owns the host's addresses and sees every packet too: it answers pings itself, sends TCP
 *   RSTs for connections it does not know and ICMP port-unreachables for UDP ports nobody bound. Use it for
 *   ICMP and UDP experiments, or firewall the kernel's replies (`iptables -A OUTPUT -p tcp --tcp-flags RST RST
 *   -j DROP`) before running TCP over it.
 * - A raw socket receives every packet of its protocol for every local address; `localAddress` filters in JS.
 *   It never receives ARP, and the kernel picks the route and the next hop for what byway sends.
 * - Received packets are copied (raw-socket reads into one Buffer and hands out a view that the next read
 *   overwrites), into a bounded queue (`queueLimit`, drops counted in stats.rxDropped).
 * - Sends: with the native addon (the default when it loads), through an IPPROTO_RAW socket of its own, a batch
 *   per sendmmsg() at flush, built in place in the addon's slab (native-tx.ts: a full socket keeps the frames and
 *   wakes the stack when it drains). Without it, through raw-socket, which sends one packet per event-loop turn
 *   (a writable event each; about 14 Mbit/s of TCP): a buffer goes back to the pool when its send completes.
 *   The kernel fills the IPv4 checksum (and an id of 0) itself.
 * - `netns` needs the native addon (setns around the socket creation).
 * - A local sender's TCP/UDP packets (veth with checksum offload on) carry partial checksums; they are recognised
 *   and completed (`checksumsCompleted`).
 */
import { createRequire } from 'node:module';
import {
  BywayError,
  SOFTWARE_CHECKSUMS,
  newDriverStats,
  type DriverCapabilities,
  type DriverStats,
  type FrameDriver,
  type FrameSink,
  type TxLease,
} from '../types.js';
import { invalidArg } from '../../protocols/util/errors.js';
import { parseIpv4 } from '../../protocols/ipv4/address.js';
import { finish, onesSum, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { loadNative, nativeAvailability, nativeError } from '../native/index.js';
import { RawIpNativeTx } from './native-tx.js';

/** The part of raw-socket's API this driver uses. */
interface RawSocket {
  on(event: 'message', fn: (buf: Buffer, source: string) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  send(buf: Buffer, offset: number, length: number, address: string, after: (err: Error | null, bytes: number) => void): void;
  setOption(level: number, option: number, value: number): void;
  close(): void;
}
interface RawSocketModule {
  createSocket(opts: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSocket;
  SocketLevel: Record<string, number>;
  SocketOption: Record<string, number>;
  AddressFamily: Record<string, number>;
}

export type RawProtocol = 'icmp' | 'udp' | 'tcp';
const PROTO: Record<RawProtocol, number> = { icmp: 1, tcp: 6, udp: 17 };

export interface RawIpOptions {
  /** Protocols to receive (one raw socket each). Default ['icmp', 'udp']. */
  readonly protocols?: readonly RawProtocol[];
  /** Deliver only packets to this address (dotted quad). Default: every packet the sockets see. */
  readonly localAddress?: string;
  /** Create the sockets inside this network namespace (needs the native addon). */
  readonly netns?: string;
  /** L3 MTU to report (default 1500; the kernel fragments or refuses larger packets). */
  readonly mtu?: number;
  /** Received packets held until receive() (default 1024). */
  readonly queueLimit?: number;
  /** Transmit buffers (default 256): sends in flight plus one reservation (native: slots in the addon's slab). */
  readonly txBuffers?: number;
  /**
   * Send through the native addon (batched sendmmsg on a socket of its own; see native-tx.ts). Default: when the
   * addon loads; false sends through raw-socket (one packet per event-loop turn). true without the addon throws.
   */
  readonly nativeTransmit?: boolean;
  readonly maxBatch?: number;
}

let rawModule: RawSocketModule | undefined;
function loadRawSocket(): RawSocketModule {
  if (rawModule) return rawModule;
  try {
    rawModule = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
    return rawModule;
  } catch (e) {
    throw new BywayError(
      'ERR_RAW_SOCKET_UNAVAILABLE',
      `the raw IP driver needs the optional 'raw-socket' package, which is not installed or did not build (${(e as Error).message}); run \`npm install raw-socket\` with a C++ compiler, make and python3 available.`,
    );
  }
}

function rawError(e: unknown): BywayError {
  const msg = (e as Error)?.message ?? String(e);
  if (/not permitted|EPERM|EACCES|permission/i.test(msg)) {
    return new BywayError('EPERM', `raw sockets need CAP_NET_RAW: run as root, or give it to a dedicated copy of node used only for this service (setcap on the system's node binary would give it to every Node program); see docs/drivers.md, "Privileges" [${msg}]`);
  }
  return e instanceof BywayError ? e : new BywayError('EIO', `raw socket set-up failed: ${msg}`);
}

export class RawIpDriver implements FrameDriver {
  readonly caps: DriverCapabilities;
  readonly hwAddress = undefined;
  readonly stats: DriverStats = newDriverStats();
  private readonly rx: Uint8Array[] = [];
  private rxHead = 0;
  private readonly pool: Buffer[] = [];
  private reserved: Buffer | null = null;
  /** The native transmit path's reserved slot (an offset in nativeTx.bytes), or -1. */
  private reservedAt = -1;
  private reservedLen = 0;
  private nativeErrorsSeen = 0;
  private readonly pending: { buf: Buffer; len: number }[] = [];
  private ready: (() => void) | null = null;
  private closedFlag = false;
  private readonly local: number | undefined;
  private lastError: Error | undefined;
  /** Received TCP/UDP packets whose partial checksum (CHECKSUM_PARTIAL from a local sender) was completed. */
  checksumsCompleted = 0;

  /** The native transmit path, or undefined (raw-socket sends). */
  readonly nativeTx: RawIpNativeTx | undefined;

  constructor(
    private readonly sockets: RawSocket[],
    private readonly sender: RawSocket | undefined,
    private readonly queueLimit: number,
    txBuffers: number,
    mtu: number,
    maxBatch: number,
    local: number | undefined,
    makeNativeTx?: (wake: () => void) => RawIpNativeTx,
  ) {
    this.caps = { medium: 'ip', mtu, maxBatch, checksum: SOFTWARE_CHECKSUMS };
    this.local = local;
    this.nativeTx = makeNativeTx?.(() => this.ready?.());
    if (!this.nativeTx) for (let i = 0; i < txBuffers; i++) this.pool.push(Buffer.alloc(mtu));
    for (const s of sockets) {
      s.on('message', (buf) => this.onMessage(buf));
      s.on('error', (err) => (this.lastError = err));
    }
    sender?.on('error', (err) => (this.lastError = err));
  }

  private onMessage(buf: Buffer): void {
    if (this.closedFlag || buf.length < 20) return;
    if (this.local !== undefined) {
      const dst = ((buf[16]! << 24) | (buf[17]! << 16) | (buf[18]! << 8) | buf[19]!) >>> 0;
      if (dst !== this.local) return;
    }
    if (this.rx.length - this.rxHead >= this.queueLimit) {
      this.stats.rxDropped++;
      return;
    }
    const p = new Uint8Array(buf); // a copy: raw-socket reuses its receive buffer
    if (repairPartial(p)) this.checksumsCompleted++;
    this.rx.push(p);
    this.ready?.();
  }

  private checkOpen(): void {
    if (this.closedFlag) throw new BywayError('ERR_DRIVER_CLOSED', 'the driver is closed');
  }

  receive(now: number, max: number, sink: FrameSink): number {
    this.checkOpen();
    let n = 0;
    const lim = Math.min(max, this.caps.maxBatch);
    while (n < lim && this.rxHead < this.rx.length) {
      const p = this.rx[this.rxHead]!;
      this.rx[this.rxHead++] = EMPTY;
      this.stats.rxFrames++;
      this.stats.rxBytes += p.length;
      n++;
      sink(p);
    }
    if (this.rxHead === this.rx.length) {
      this.rx.length = 0;
      this.rxHead = 0;
    } else if (this.rxHead > 1024) {
      this.rx.splice(0, this.rxHead);
      this.rxHead = 0;
    }
    return n;
  }

  txReserve(len: number): Uint8Array | null {
    if (!this.lend(len)) return null;
    return this.nativeTx ? this.nativeTx.bytes.subarray(this.reservedAt, this.reservedAt + len) : this.reserved!.subarray(0, len);
  }

  txLend(len: number, lease: TxLease): boolean {
    if (!this.lend(len)) return false;
    lease.buf = this.nativeTx ? this.nativeTx.bytes : this.reserved!;
    lease.start = this.nativeTx ? this.reservedAt : 0;
    return true;
  }

  /** Take a transmit buffer for a packet of len bytes (reservedAt or reserved); false when there is none now. */
  private lend(len: number): boolean {
    this.checkOpen();
    if (this.reserved || this.reservedAt >= 0) throw new BywayError('ERR_INVALID_STATE', 'txReserve while a reservation is open');
    if (!Number.isInteger(len) || len < 0) throw new BywayError('ERR_INVALID_ARG_VALUE', `bad packet length ${len}`);
    if (len > this.caps.mtu) throw new BywayError('ERR_FRAME_TOO_BIG', `a ${len}-byte packet exceeds the MTU ${this.caps.mtu}`);
    this.reservedLen = len;
    if (this.nativeTx) {
      this.reservedAt = this.nativeTx.reserve();
      return this.reservedAt >= 0;
    }
    const b = this.pool.pop();
    if (!b) return false;
    this.reserved = b;
    return true;
  }

  txCommit(now: number, len: number): void {
    this.checkOpen();
    if (!this.reserved && this.reservedAt < 0) throw new BywayError('ERR_INVALID_STATE', 'txCommit without txReserve');
    if (!Number.isInteger(len) || len < 0 || len > this.reservedLen) {
      throw new BywayError('ERR_INVALID_ARG_VALUE', `txCommit length ${len} outside 0..${this.reservedLen}`);
    }
    const at = this.reservedAt;
    const b = this.reserved;
    this.reservedAt = -1;
    this.reserved = null;
    const first = b ? b[0]! : this.nativeTx!.bytes[at]!;
    if (len < 20 || first >> 4 !== 4) {
      this.stats.txDropped++; // not an IPv4 packet: nothing the kernel would send (a native slot stays in the stash)
      if (b) this.pool.push(b);
      return;
    }
    if (!b) {
      this.nativeTx!.commit(at, len);
      this.stats.txFrames++;
      this.stats.txBytes += len;
      return;
    }
    this.pending.push({ buf: b, len });
  }

  flush(now: number): void {
    this.checkOpen();
    const ntx = this.nativeTx;
    if (ntx) {
      ntx.flush();
      this.stats.txDropped += ntx.txErrors - this.nativeErrorsSeen;
      this.nativeErrorsSeen = ntx.txErrors;
      return;
    }
    for (const { buf, len } of this.pending.splice(0)) {
      const dst = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`;
      this.sender!.send(buf, 0, len, dst, (err) => {
        if (err) this.stats.txDropped++;
        else {
          this.stats.txFrames++;
          this.stats.txBytes += len;
        }
        this.pool.push(buf);
        if (this.pool.length === 1) this.ready?.(); // buffers again: a stack that found none polls now
      });
    }
  }

  pollAt(now: number): number | undefined {
    return !this.closedFlag && this.rxHead < this.rx.length ? now : undefined;
  }

  setReadyCallback(cb: (() => void) | null): void {
    this.ready = cb;
  }

  /** The last error a socket reported (raw-socket closes a socket on error). */
  get error(): Error | undefined {
    return this.lastError;
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.ready = null;
    for (const s of this.sockets) s.close();
    this.sender?.close();
    this.nativeTx?.close();
    this.rx.length = 0;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * A raw socket sees a local sender's TCP/UDP packet before the kernel's own transport checks it, so with checksum
 * offload on (veth's default) the checksum field holds only the pseudo-header sum (RFC 768 / RFC 9293 section
 * 3.1). Complete such a packet in place: only when the field equals the pseudo-header sum and does not verify.
 */
function repairPartial(p: Uint8Array): boolean {
  if (p.length < 28 || p[0]! >> 4 !== 4) return false;
  const ihl = (p[0]! & 15) * 4;
  const total = (p[2]! << 8) | p[3]!;
  const proto = p[9]!;
  const off = proto === 6 ? 16 : proto === 17 ? 6 : 0;
  if (off === 0 || ihl < 20 || total > p.length || ihl + off + 2 > total || (p[6]! & 0x3f) !== 0 || p[7] !== 0) return false;
  const src = ((p[12]! << 24) | (p[13]! << 16) | (p[14]! << 8) | p[15]!) >>> 0;
  const dst = ((p[16]! << 24) | (p[17]! << 16) | (p[18]! << 8) | p[19]!) >>> 0;
  const pseudo = pseudoHeaderSum(src, dst, proto, total - ihl);
  const at = ihl + off;
  if (((p[at]! << 8) | p[at + 1]!) !== pseudo) return false;
  if (onesSum(p, ihl, total, pseudo) === 0xffff) return false; // complete already
  let c = finish(onesSum(p, ihl, total));
  if (c === 0 && proto === 17) c = 0xffff;
  p[at] = c >>> 8;
  p[at + 1] = c & 0xff;
  return true;
}

/**
 * SO_SNDBUF for the native transmit socket: room for a few full batches (256 packets of about 2.3 KB of kernel
 * memory each), so that a batch rarely meets EAGAIN (the kernel's default, 208 KiB, holds about 90).
 */
const NATIVE_SNDBUF = 4 << 20;

export function openRawIp(options: RawIpOptions = {}): RawIpDriver {
  const protocols = options.protocols ?? ['icmp', 'udp'];
  for (const p of protocols) if (!(p in PROTO)) throw invalidArg(`protocol must be icmp, udp or tcp, got ${String(p)}`);
  let local: number | undefined;
  if (options.localAddress !== undefined) {
    local = parseIpv4(options.localAddress);
    if (local === undefined) throw invalidArg(`localAddress '${options.localAddress}' is not a dotted quad`);
  }
  const mtu = options.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalidArg(`mtu must be in 68..65535, got ${mtu}`);
  const txBuffers = options.txBuffers ?? 256;
  if (!Number.isInteger(txBuffers) || txBuffers < 1 || txBuffers > 65536) throw invalidArg(`txBuffers must be in 1..65536, got ${txBuffers}`);
  const nativeTransmit = options.nativeTransmit ?? nativeAvailability().available;
  const raw = loadRawSocket();
  const create = (): { rx: RawSocket[]; tx: RawSocket | undefined } => {
    const rx: RawSocket[] = [];
    try {
      for (const p of protocols) rx.push(raw.createSocket({ protocol: PROTO[p], bufferSize: 65535 }));
      if (nativeTransmit) return { rx, tx: undefined };
      const tx = raw.createSocket({ protocol: 255 /* IPPROTO_RAW: IP_HDRINCL implied */ });
      tx.setOption(raw.SocketLevel['IPPROTO_IP']!, raw.SocketOption['IP_HDRINCL']!, 1);
      return { rx, tx };
    } catch (e) {
      for (const s of rx) s.close();
      throw rawError(e);
    }
  };
  let made: { rx: RawSocket[]; tx: RawSocket | undefined };
  if (options.netns) {
    const native = loadNative();
    try {
      made = native.withNetns(options.netns, create);
    } catch (e) {
      throw e instanceof BywayError ? e : nativeError(e, 'packet', undefined, options.netns);
    }
  } else made = create();
  let makeNativeTx: ((wake: () => void) => RawIpNativeTx) | undefined;
  if (nativeTransmit) {
    const native = loadNative();
    let info;
    try {
      info = native.open('rawip', { netns: options.netns ?? '', mtu, txSlots: txBuffers, sndbuf: NATIVE_SNDBUF });
    } catch (e) {
      for (const s of made.rx) s.close();
      throw e instanceof BywayError ? e : rawError(e);
    }
    makeNativeTx = (wake) => new RawIpNativeTx(native, info, wake);
  }
  return new RawIpDriver(made.rx, made.tx, options.queueLimit ?? 1024, txBuffers, mtu, options.maxBatch ?? 64, local, makeNativeTx);
}
