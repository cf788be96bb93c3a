/**
 * TCP as a transport of the stack: the TCP layer (protocols/tcp) behind the software GRO (gro.ts), and the
 * TcpHost the layer sends through: segments are written straight into the packet the output lends (DF set,
 * RFC 1191), with TSO where the driver cuts large packets. It plugs into any TransportHost (NetStack registers it
 * with its core); its counters join the host's stats (`stats.tcp`, `stats.gro`).
 */
import { read16, read32 } from '../../protocols/util/bytes.js';
import { IPV4_FLAG_DF, IpProtocol } from '../../protocols/ipv4/wire.js';
import { TcpLayer, type TcpHost, type TcpOptions, type TcpTxPacket } from '../../protocols/tcp/layer.js';
import type { Rng } from '../../protocols/util/rng.js';
import { ECN_CE } from '../../protocols/tcp/ecn.js';
import { TcpGro } from './gro.js';
import { portClaims, type IcmpErrorKind, type Transport, type TransportHost } from './transport.js';

export interface TcpTransportOptions {
  readonly tcp: Partial<Omit<TcpOptions, 'rng'>> | undefined;
  readonly rng: Rng;
  /** Merge a receive batch's in-order segments before the layer (default true). */
  readonly gro: boolean;
  /** The driver's TCP checksum capabilities. */
  readonly checksum: { readonly tx: boolean; readonly rx: boolean };
}

export class TcpTransport implements Transport {
  readonly protocol = IpProtocol.TCP;
  readonly layer: TcpLayer;
  readonly gro: TcpGro | undefined;
  /** The segment being handed to the layer came with a checksum the device verified (or from ourselves). */
  private trusted = false;
  private now = 0;

  constructor(
    private readonly host: TransportHost,
    options: TcpTransportOptions,
  ) {
    this.layer = new TcpLayer(this.tcpHost(options), { ...options.tcp, rng: options.rng });
    const layer = this.layer;
    this.gro = options.gro
      ? new TcpGro((src, dst, buf, start, end, trusted, segSize, tosTtl) => {
          this.trusted = trusted;
          layer.rxSegSize = segSize;
          layer.rxCe = ((tosTtl >>> 8) & 3) === ECN_CE;
          layer.inputAt(this.now, src, dst, buf, start, end);
          layer.rxSegSize = 0;
        }, options.checksum.rx)
      : undefined;
    host.stats.tcp = this.layer.stats;
    if (this.gro !== undefined) host.stats.gro = this.gro.stats;
  }

  input(now: number, buf: Uint8Array, ipOff: number, start: number, end: number, src: number, dst: number, broadcast: boolean, trusted: boolean): void {
    if (broadcast) return; // TCP is point to point (RFC 1122 4.2.3.10)
    this.now = now;
    if (this.gro !== undefined) this.gro.inputAt(src, dst, (buf[ipOff + 1]! << 8) | buf[ipOff + 8]!, buf, start, end, trusted); // TOS, TTL
    else {
      this.trusted = trusted;
      this.layer.rxCe = (buf[ipOff + 1]! & 3) === ECN_CE;
      this.layer.inputAt(now, src, dst, buf, start, end);
    }
  }

  flush(): void {
    this.gro?.flush(); // nothing held waits past its batch
  }

  icmpError(now: number, src: number, dst: number, quoted: Uint8Array, kind: IcmpErrorKind, code: number, mtu: number): boolean {
    return this.layer.icmpError(now, src, dst, read16(quoted, 0), read16(quoted, 2), read32(quoted, 4), kind, code, mtu);
  }

  poll(now: number): void {
    this.layer.poll(now);
  }

  pollAt(now: number): number | undefined {
    return this.layer.pollAt(now);
  }

  pathConfirmed(now: number, via: (dst: number) => boolean): void {
    this.layer.pathConfirmed(now, via);
  }

  private tcpHost(options: TcpTransportOptions): TcpHost {
    const host = this.host;
    const output = host.output;
    const unreachable = (dst: number): void => {
      // ARP gave up on the next hop: a connection still in SYN-SENT towards dst fails with EHOSTUNREACH,
      // as connect(2) does on Linux; established ones keep retransmitting until their own time-out.
      for (const c of this.layer.connections()) if (c.remoteIp === dst) c.icmpHardError('EHOSTUNREACH');
    };
    const verify = options.checksum.rx;
    const self = this;
    const tcpHost: Omit<TcpHost, 'rxChecksum'> = {
      txChecksum: options.checksum.tx,
      txSegment: (now: number, src: number, dst: number, tcpLen: number, segment = 0): TcpTxPacket | null =>
        output.begin(now, src, dst, IpProtocol.TCP, tcpLen, host.ttl, IPV4_FLAG_DF, segment, unreachable),
      tsoMaxFor: (dst: number): number => {
        const tsoMax = output.tsoMax;
        return tsoMax > 0 && !host.isLocalAddress(dst) && !host.isBroadcastFor(dst) ? tsoMax : 0;
      },
      mtuFor: (dst: number): number => host.mtuFor(dst),
      linkMtuFor: (dst: number): number => host.linkMtuFor(dst),
      sourceFor: (dst: number): number | undefined => host.sourceFor(dst),
      negativeAdvice: (now: number, dst: number): void => host.negativeAdvice(now, dst),
      ...portClaims(host.flows, 'tcp'),
    };
    // Defined after the literal: V8 makes an object literal holding an accessor a dictionary (slow-properties)
    // object, and the TCP layer reads this host on every segment.
    Object.defineProperty(tcpHost, 'rxChecksum', { get: (): boolean => verify && !self.trusted, enumerable: true });
    return tcpHost as TcpHost;
  }
}
