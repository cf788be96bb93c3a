/**
 * AF_XDP driver: a FrameDriver over an AF_XDP socket bound to one queue of an interface. The UMEM (the frame
 * memory the kernel and byway share) is one external ArrayBuffer: received frames are views into it, transmitted
 * frames are written in place into it. A hand-assembled XDP program (drivers/native/src/xdp.c) decides which
 * frames come to byway:
 *
 * - mode 'own' (own-address): byway has its own IPv4 address on the link. Every IPv4 packet to that address and
 *   every ARP packet whose target is that address is redirected to byway; everything else goes to the kernel.
 * - mode 'shared' (shared-address): byway shares the kernel's address. Only flows listed in a BPF hash map go to
 *   byway: (address, protocol, destination port) for TCP/UDP, (address, ICMP, echo identifier) for echo
 *   replies. JS edits the map with addFlow/removeFlow; ARP and everything else stay with the kernel.
 *
 * The bind mode ('copy' or 'zerocopy') and the attach mode ('native' or 'generic') actually obtained are
 * reported in `bindMode` / `attachMode`. With 'auto' the better one is tried first; an explicit request that the
 * device cannot honour fails with ERR_XDP_UNSUPPORTED; there is never a silent downgrade.
 *
 * need_wakeup is on by default (the kernel is only kicked when it asks). Closing the driver detaches the
 * program (it is attached through a BPF link, which the kernel also drops if the process dies).
 * Throws BywayError at open (see drivers/native/index.ts nativeError); ENODEV when the interface goes away.
 */
import { SOFTWARE_CHECKSUMS, BywayError, type DriverCapabilities } from '../types.js';
import { invalidArg } from '../../protocols/util/errors.js';
import { parseIpv4 } from '../../protocols/ipv4/address.js';
import { loadNative, nativeError, type NativeAddon, type NativeOpenInfo, type NativeXdpStats } from '../native/index.js';
import { NativeRingDriver } from '../native/ring-driver.js';

export type XdpMode = 'own' | 'shared';
export type XdpBindMode = 'copy' | 'zerocopy';
export type XdpAttachMode = 'native' | 'generic';

export interface AfXdpOptions {
  readonly ifname: string;
  readonly netns?: string;
  /** Default 'own'. */
  readonly mode?: XdpMode;
  /** own: byway's address (required). shared: the kernel's address byway shares (the default flow address). */
  readonly ipv4?: string;
  /** Receive queue to bind (default 0). The program redirects that queue's frames only. */
  readonly queue?: number;
  /** Default 'auto' (zero-copy if the driver supports it, else copy). */
  readonly bindMode?: XdpBindMode | 'auto';
  /** Default 'auto' (native if the driver supports XDP, else generic). */
  readonly attachMode?: XdpAttachMode | 'auto';
  /** Default true. */
  readonly needWakeup?: boolean;
  /**
   * UMEM chunk size, 2048 (default) or 4096; chunk count, a power of two (default 8192, half rx, half tx: 16 MiB
   * of UMEM with 2048-byte chunks).
   */
  readonly frameSize?: 2048 | 4096;
  readonly frameCount?: number;
  /**
   * Size of the rx, tx and completion rings (power of two, default 2048; the fill ring holds every rx chunk). The rx
   * ring absorbs the time between two polls: 1024 overflowed (rxRingFull) under bulk load on a busy machine.
   */
  readonly ringSize?: number;
  /** Largest batch one receive() hands over (default 64). */
  readonly maxBatch?: number;
  /** Flow map capacity in shared mode (default 1024). */
  readonly flowMapSize?: number;
  /** byway's MAC. Default: the interface's. */
  readonly hwAddress?: Uint8Array;
  /** true: no readiness callbacks, pollAt always `now`. A number also sets SO_PREFER_BUSY_POLL and SO_BUSY_POLL (us). */
  readonly busyPoll?: boolean | number;
  /**
   * Complete partial TCP/UDP checksums (default true). A local sender over veth with checksum offload on leaves
   * only the pseudo-header sum in the field, and XDP says nothing about it; the driver recognises such a frame
   * (the field equals the pseudo-header sum and the checksum does not verify) and completes it. One compare per
   * frame otherwise.
   */
  readonly repairPartialChecksums?: boolean;
  /** How long open() retries a bind refused with EBUSY (the queue's previous socket is still being torn down). Default 1500 ms. */
  readonly bindRetryMs?: number;
}

export interface XdpFlow {
  readonly protocol: 'tcp' | 'udp' | 'icmp';
  /** TCP/UDP: byway's (destination) port. ICMP: the echo identifier of byway's pings. */
  readonly port: number;
  /** Default: the driver's `ipv4`. */
  readonly address?: string;
}

const PROTO = { icmp: 1, tcp: 6, udp: 17 } as const;

export class AfXdpDriver extends NativeRingDriver {
  readonly mode: XdpMode;
  readonly bindMode: XdpBindMode;
  readonly attachMode: XdpAttachMode;
  readonly queue: number;
  readonly needWakeup: boolean;
  readonly ifHwAddress: Uint8Array;
  private readonly address: number | undefined;

  constructor(native: NativeAddon, info: NativeOpenInfo, caps: DriverCapabilities, hw: Uint8Array, options: AfXdpOptions, address: number | undefined) {
    super(native, info, caps, hw, { netns: options.netns, busyPoll: options.busyPoll !== undefined && options.busyPoll !== false });
    this.mode = info['program'] as XdpMode;
    this.bindMode = info['bindMode'] as XdpBindMode;
    this.attachMode = info['attachMode'] as XdpAttachMode;
    this.queue = info['queue'] as number;
    this.needWakeup = info['needWakeup'] as boolean;
    this.ifHwAddress = info['ifHwAddress'] as Uint8Array;
    this.address = address;
  }

  private flow(f: XdpFlow, add: boolean): void {
    if (this.closed) throw new BywayError('ERR_DRIVER_CLOSED', 'the driver is closed');
    if (this.mode !== 'shared') throw new BywayError('ERR_INVALID_STATE', 'flows exist only in shared-address mode');
    const proto = PROTO[f.protocol];
    if (proto === undefined) throw invalidArg(`flow protocol must be tcp, udp or icmp, got ${String(f.protocol)}`);
    if (!Number.isInteger(f.port) || f.port < 0 || f.port > 0xffff) throw invalidArg(`flow port must be in 0..65535, got ${f.port}`);
    const addr = f.address !== undefined ? parseIpv4(f.address) : this.address;
    if (addr === undefined) throw invalidArg('flow address missing or not a dotted quad (set ipv4 on the driver or address on the flow)');
    const r = this.native.xdpFlow(this.handle, addr, f.port, proto, add);
    if (r < 0) {
      throw new BywayError(r === -7 ? 'E2BIG' : 'ERR_XDP_FLOW', `could not ${add ? 'add' : 'remove'} the flow (errno ${-r}); ${r === -7 ? 'the flow map is full: raise flowMapSize' : 'see the errno'}`);
    }
  }

  /** Send this flow's packets to byway (shared mode). Idempotent. */
  addFlow(f: XdpFlow): void {
    this.flow(f, true);
  }

  /** Give this flow back to the kernel (shared mode). Removing an absent flow is fine. */
  removeFlow(f: XdpFlow): void {
    this.flow(f, false);
  }

  /** The socket's XDP_STATISTICS (drops for a full rx ring, an empty fill ring, invalid descriptors). */
  xdpStats(): NativeXdpStats | undefined {
    return this.closed ? undefined : this.native.xdpStats(this.handle);
  }
}

export function openAfXdp(options: AfXdpOptions): AfXdpDriver {
  const native = loadNative();
  if (typeof options?.ifname !== 'string' || options.ifname.length === 0 || Buffer.byteLength(options.ifname) > 15) {
    throw invalidArg('ifname must name an interface (at most 15 bytes)');
  }
  const mode = options.mode ?? 'own';
  if (mode !== 'own' && mode !== 'shared') throw invalidArg(`mode must be 'own' or 'shared', got ${String(mode)}`);
  let ipv4: number | undefined;
  if (options.ipv4 !== undefined) {
    ipv4 = parseIpv4(options.ipv4);
    if (ipv4 === undefined) throw invalidArg(`ipv4 '${options.ipv4}' is not a dotted-quad address`);
  }
  if (mode === 'own' && (ipv4 === undefined || ipv4 === 0)) throw invalidArg("own-address mode needs byway's ipv4 address");
  if (options.hwAddress !== undefined && options.hwAddress.length !== 6) throw invalidArg('hwAddress must be 6 bytes');
  let info: NativeOpenInfo;
  try {
    info = native.open('xdp', {
      ...options,
      hwAddress: undefined,
      program: mode,
      ipv4: ipv4 ?? 0,
      busyPollUs: typeof options.busyPoll === 'number' ? options.busyPoll : 0,
    });
  } catch (e) {
    throw nativeError(e, 'xdp', options.ifname, options.netns);
  }
  const caps: DriverCapabilities = { medium: 'ethernet', mtu: info.mtu, maxBatch: info.maxBatch, checksum: SOFTWARE_CHECKSUMS };
  // Received frames start XDP_PACKET_HEADROOM (256) bytes into their chunk.
  if (info.mtu + 18 > info.frameCap - 256) {
    native.close(info.handle);
    throw invalidArg(`frameSize ${info.frameCap} is too small for MTU ${info.mtu} (AF_XDP frames cannot span chunks)`);
  }
  const hw = options.hwAddress ? new Uint8Array(options.hwAddress) : new Uint8Array(info['ifHwAddress'] as Uint8Array);
  return new AfXdpDriver(native, info, caps, hw, options, ipv4);
}
