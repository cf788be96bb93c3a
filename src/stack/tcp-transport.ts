/**
 * TCP as a transport of the stack: the TCP layer (protocols/tcp) behind the software GRO (gro.ts), and the
 * TcpHost the layer sends through: segments are written straight into the packet the output lends (DF set,
 * RFC 1191), with TSO where the driver cuts large packets. It plugs into any TransportHost (NetStack registers it
 * with its core); its counters join the host's stats (`stats.tcp`, `stats.gro`).
 */
import { RangeViews, read16, read32 } from '../../protocols/util/bytes.js';
import { pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { IPV4_FLAG_DF, IpProtocol } from '../../protocols/ipv4/wire.js';
import { TcpLayer, isIpv6Id, type TcpHost, type TcpOptions, type TcpTxPacket } from '../../protocols/tcp/layer.js';
import type { Rng } from '../../protocols/util/rng.js';
import { ECN_CE } from '../../protocols/tcp/ecn.js';
import { TcpGro } from './gro.js';
import type { Ipv6Layer } from './ipv6.js';
import { Tcp6Bridge } from './tcp6.js';
import { portClaims, type IcmpErrorKind, type Transport, type TransportHost } from './transport.js';
import type { AllocBytes } from '../../protocols/tcp/recv-queue.js';

export interface TcpTransportOptions {
  readonly tcp: Partial<Omit<TcpOptions, 'rng'>> | undefined;
  readonly rng: Rng;
  /** Merge a receive batch's in-order segments before the layer (default true). */
  readonly gro: boolean;
  /** The driver's TCP checksum capabilities. */
  readonly checksum: { readonly tx: boolean; readonly rx: boolean };
  /** The receive queues' slab allocator (TcpHost.allocBytes); zero-filled arrays when absent. */
  readonly allocBytes?: AllocBytes | undefined;
}

export class TcpTransport implements Transport {
  readonly protocol = IpProtocol.TCP;
  readonly layer: TcpLayer;
  readonly gro: TcpGro | undefined;
  /**
   * The layer's host. Its `rxChecksum` is a plain field this transport sets before each segment it hands over
   * (`trusted`): an accessor there was a call per segment that V8 did not inline.
   */
  private readonly hostView: TcpHost & { rxChecksum: boolean };
  /** Whether received segments' checksums are verified at all (the driver's capabilities: TcpTransportOptions). */
  private readonly verify: boolean;
  /**
   * The time of the segment being handed to GRO, for its deliver callback. Typed `number | undefined` and set to
   * undefined at first, so V8 keeps the field tagged: it stores the caller's number as it is, and reading it for the
   * layer's inputAt passes that same object on. A field V8 holds as a double is boxed into a new heap number each
   * time it is passed to a call not inlined (16 B per segment received, 2026-12-03).
   */
  private now: number | undefined = undefined;
  /** TCP over IPv6 (tcp6.ts), once attached to the stack's IPv6 layer. */
  private v6: Tcp6Bridge | undefined;
  /** The driver completes TCP checksums (of IPv4 frames; of IPv6 ones too when its caps say `ipv6`). */
  private readonly txOffload: boolean;

  constructor(
    private readonly host: TransportHost,
    options: TcpTransportOptions,
  ) {
    this.txOffload = !options.checksum.tx;
    this.verify = options.checksum.rx;
    // One table of kept views of the driver ring's ranges, for GRO's copies and the receive queues' alike.
    const rxViews = new RangeViews();
    this.hostView = this.tcpHost(options, rxViews);
    this.layer = new TcpLayer(this.hostView, { ...options.tcp, rng: options.rng });
    const layer = this.layer;
    const rx = layer.rxInfo;
    this.gro = options.gro
      ? new TcpGro((src, dst, buf, start, end, trusted, segSize, tosTtl) => {
          this.trusted(trusted);
          rx.segSize = segSize;
          rx.ce = ((tosTtl >>> 8) & 3) === ECN_CE;
          layer.inputAt(this.now!, src, dst, buf, start, end);
          rx.segSize = 0;
        }, options.checksum.rx, rxViews)
      : undefined;
    host.stats.tcp = this.layer.stats;
    if (this.gro !== undefined) host.stats.gro = this.gro.stats;
  }

  input(now: number, buf: Uint8Array, ipOff: number, start: number, end: number, src: number, dst: number, broadcast: boolean, trusted: boolean): void {
    if (broadcast) return; // TCP is point to point (RFC 1122 4.2.3.10)
    this.now = now;
    if (this.gro !== undefined) this.gro.inputAt(src, dst, (buf[ipOff + 1]! << 8) | buf[ipOff + 8]!, buf, start, end, trusted); // TOS, TTL
    else {
      this.trusted(trusted);
      this.layer.rxInfo.ce = (buf[ipOff + 1]! & 3) === ECN_CE;
      this.layer.inputAt(now, src, dst, buf, start, end);
    }
  }

  /**
   * Carry TCP over the stack's IPv6 layer too: the same layer, with IPv6 addresses as interned ids (addr-ids.ts),
   * behind the same GRO (it keys flows by those numbers; the bridge verified the checksum already).
   * `offloads6`: what the driver does for IPv6 frames (its checksum and TSO, when its caps say it handles IPv6).
   */
  attachIpv6(ip6: Ipv6Layer, ipv6Offloads: boolean): void {
    // The driver's TSO when it cuts IPv6 packets too; without TSO, the stack's GSO (one for both families).
    const gso = this.host.output.gso;
    const tsoMax = gso === undefined ? this.host.output.tsoMax : 0;
    const offloads = { checksum: ipv6Offloads && this.txOffload, tsoMax: ipv6Offloads && tsoMax > 0 ? tsoMax : 0, gso };
    this.v6 = new Tcp6Bridge(
      ip6,
      this.layer,
      (now, src, dst, buf, start, end, tcHop) => {
        if (this.gro !== undefined) {
          this.now = now;
          this.gro.inputAt(src, dst, tcHop, buf, start, end, true);
          return;
        }
        this.trusted(true);
        this.layer.rxInfo.ce = ((tcHop >>> 8) & 3) === ECN_CE;
        this.layer.inputAt(now, src, dst, buf, start, end);
        this.trusted(false);
      },
      offloads,
    );
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

  /** Transport.dueAt: the layer wakes the stack's timers through TcpHost.timerArmed. */
  dueAt(now: number): number {
    return this.layer.dueAt(now);
  }

  pathConfirmed(now: number, via: (dst: number) => boolean): void {
    this.layer.pathConfirmed(now, (dst) => !isIpv6Id(dst) && via(dst)); // an ARP answer says nothing of IPv6 paths
  }

  /** The segment handed to the layer next came with a checksum the device verified (or from ourselves). */
  private trusted(yes: boolean): void {
    this.hostView.rxChecksum = this.verify && !yes;
  }

  private tcpHost(options: TcpTransportOptions, rxViews: RangeViews): TcpHost & { rxChecksum: boolean } {
    const host = this.host;
    const output = host.output;
    const unreachable = (dst: number): void => {
      // ARP gave up on the next hop: a connection still in SYN-SENT towards dst fails with EHOSTUNREACH,
      // as connect(2) does on Linux; established ones keep retransmitting until their own time-out.
      for (const c of this.layer.connections()) if (c.remoteIp === dst) c.icmpHardError('EHOSTUNREACH');
    };
    const txCsum = options.checksum.tx;
    const self = this;
    // Every question about an address is routed by its number: an IPv6 id (0/8, addr-ids.ts) goes to the bridge.
    const tcpHost: TcpHost & { rxChecksum: boolean } = {
      rxChecksum: options.checksum.rx,
      allocBytes: options.allocBytes,
      rxViews,
      paths: output.paths,
      txSegment: (now: number, src: number, dst: number, tcpLen: number, segment = 0): TcpTxPacket | null => {
        if (isIpv6Id(dst)) return self.v6?.txSegment(now, src, dst, tcpLen, segment) ?? null;
        const p = output.begin(now, src, dst, IpProtocol.TCP, tcpLen, host.ttl, IPV4_FLAG_DF, segment, unreachable);
        // The checksum is the device's when it offloads TCP's (a packet waiting for ARP gets it from the driver
        // later; one looped back is trusted by its receiver); else TCP fills it from this IPv4 pseudo-header sum.
        // A packet GSO cuts (segment > 0 without TSO) gets its segments' checksums from the cutter.
        if (p !== null) p.pseudoSum = txCsum && p.segment === 0 ? pseudoHeaderSum(src, dst, IpProtocol.TCP, 0) : -1;
        return p;
      },
      tsoMaxFor: (dst: number): number => {
        if (isIpv6Id(dst)) return self.v6?.tsoMaxFor(dst) ?? 0;
        const tsoMax = output.tsoMax;
        return tsoMax > 0 && !host.isLocalAddress(dst) && !host.isBroadcastFor(dst) ? tsoMax : 0;
      },
      mtuFor: (dst: number): number => (isIpv6Id(dst) ? (self.v6?.mtuFor(dst) ?? 0) : host.mtuFor(dst)),
      linkMtuFor: (dst: number): number => (isIpv6Id(dst) ? (self.v6?.linkMtuFor(dst) ?? 0) : host.linkMtuFor(dst)),
      sourceFor: (dst: number): number | undefined => (isIpv6Id(dst) ? self.v6?.sourceFor(dst) : host.sourceFor(dst)),
      negativeAdvice: (now: number, dst: number): void => {
        if (!isIpv6Id(dst)) host.negativeAdvice(now, dst); // IPv6: NDP's own unreachability detection probes
      },
      forwardProgress: (now: number, dst: number): void => self.v6?.forwardProgress(now, dst),
      timerArmed: (): void => host.wakeTimers(),
      ...portClaims(host.flows, 'tcp'),
    };
    return tcpHost;
  }
}
