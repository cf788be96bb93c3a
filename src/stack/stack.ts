/**
 * NetStack: the stack core (core.ts: interface, ARP, IPv4, ICMP, UDP) with TCP plugged in as a transport
 * (tcp-transport.ts: the TCP layer behind software GRO), the composition a program or a test usually wants. The
 * core builds no TCP itself; this file is the only place that puts the two together, through the same
 * `register` any transport uses. `tcp: false` leaves TCP out.
 *
 * Sans-IO like the core: bad input is dropped and counted, API misuse throws BywayError with a stable code.
 */
import type { TcpLayer, TcpOptions } from '../../protocols/tcp/layer.js';
import { StackCore, type StackCoreConfig } from './core.js';
import type { TcpGro } from './gro.js';
import { TcpTransport } from './tcp-transport.js';
import type { AllocBytes } from '../../protocols/tcp/recv-queue.js';

export { StackCore, type StackCoreConfig, type RouteConfig } from './core.js';
export { DEFAULT_ICMP_OPTIONS, type IcmpOptions, type PingOptions, type PingResult } from './icmp.js';
export type { Transport, TransportHost, IcmpErrorKind } from './transport.js';

export interface StackConfig extends StackCoreConfig {
  /** TCP options (buffers, timers, limits; see protocols/tcp/options.ts). `false` leaves TCP out. */
  readonly tcp?: Partial<Omit<TcpOptions, 'rng'>> | false | undefined;
  /**
   * Software GRO (src/stack/gro.ts): merge a receive batch's in-order TCP segments of one flow before the TCP
   * layer. Default true; needs TCP.
   */
  readonly gro?: boolean | undefined;
  /**
   * How TCP's receive queues allocate their slabs (TcpHost.allocBytes): the API gives Node's
   * `Buffer.allocUnsafeSlow` (no zero-fill, and a view of it is a Buffer already). Zero-filled arrays by default.
   */
  readonly allocBytes?: AllocBytes | undefined;
}

export class NetStack extends StackCore {
  /** The TCP layer, unless the stack was built with `tcp: false`. */
  readonly tcp: TcpLayer | undefined;
  /** Software GRO in front of the TCP layer, unless the stack was built with `gro: false` (or without TCP). */
  readonly gro: TcpGro | undefined;

  constructor(config: StackConfig) {
    super(config);
    if (config.tcp === false) {
      this.tcp = undefined;
      this.gro = undefined;
      return;
    }
    const c = this.driver.caps.checksum.tcp;
    const tcp = new TcpTransport(this, {
      tcp: config.tcp,
      rng: config.rng,
      gro: config.gro !== false,
      allocBytes: config.allocBytes,
      checksum: { tx: c.tx === 'compute', rx: c.rx === 'verify' },
    });
    this.tcp = tcp.layer;
    this.gro = tcp.gro;
    this.register(tcp);
    if (this.ipv6 !== undefined) tcp.attachIpv6(this.ipv6, this.driver.caps.ipv6Offload === true);
  }
}
