/**
 * TAP driver: a FrameDriver over a Linux TAP device (/dev/net/tun, IFF_TAP | IFF_NO_PI), through the native
 * addon. byway is the far end of the link: the kernel owns the TAP interface (its MAC is `kernelHwAddress`, its
 * addresses are configured with `ip addr`), and byway has its own MAC (`hwAddress`, random locally administered
 * unless given) and its own IP.
 *
 * - Creates the device (or attaches to an existing persistent one of that name), sets the MTU, brings it up.
 *   A device created here is not persistent: it disappears when the driver closes or the process exits.
 * - `vnetHdr`: frames carry a virtio-net header on the fd (IFF_VNET_HDR), hidden from JS. Receive offloads
 *   are not negotiated (TUNSETOFFLOAD 0: frames stay MTU-sized with complete checksums; a partial one, should it
 *   come, is completed in C). `checksumOffload` adds transmit checksum offload for TCP and UDP.
 * - `tso`: TCP segmentation offload both ways (TUNSETOFFLOAD TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, like a
 *   virtio-net device with TSO). Implies `vnetHdr` and `checksumOffload`. Transmit: an IPv4 or IPv6 TCP frame
 *   committed with a `segment` (txCommit's third argument) whose payload exceeds it goes out as one GSO frame
 *   (GSO_TCPV4, GSO_TCPV6) of up to 64 KiB, which the kernel cuts; both offloads cover IPv6 (caps.ipv6Offload). Receive: the kernel may hand over TCP packets up to 64 KiB (caps.rxMaxPacket) and partial
 *   checksums; a frame the kernel vouches for (NEEDS_CSUM or DATA_VALID) carries RxFlag.L4ChecksumValid, any
 *   other frame is checked by the stack. Slots are then 64 KiB each: default 64 receive and 64 transmit slots
 *   (about 8.4 MB).
 * - `multiQueue`: IFF_MULTI_QUEUE; `openTapQueues()` opens one driver per queue on the same device.
 * - `netns`: the device is created inside that namespace while Node stays where it is.
 *
 * Receive: a burst of non-blocking read()s into a slab shared with JS (one copy, by the kernel, as for any TAP);
 * views valid until the sink returns. Transmit: frames written in place into the slab, one write() per frame at
 * flush. Throws BywayError (see drivers/native/index.ts nativeError) at open; ENODEV if the device is deleted.
 */
import { randomBytes } from 'node:crypto';
import { SOFTWARE_CHECKSUMS, TX_L4_OFFLOAD, type DriverCapabilities } from '../types.js';
import { invalidArg } from '../../protocols/util/errors.js';
import { loadNative, nativeError, type NativeAddon, type NativeOpenInfo, type NativeTapConfig } from '../native/index.js';
import { positiveInt } from '../options.js';
import { NativeRingDriver, localMac } from '../native/ring-driver.js';

export interface TapOptions {
  /** Interface name (at most 15 bytes); a '%d' pattern lets the kernel pick. Default 'byway%d'. */
  readonly name?: string;
  /** Create the device inside this network namespace (a name under /var/run/netns). */
  readonly netns?: string;
  /** Set the device MTU (L3). Default: leave it (1500 for a new device). */
  readonly mtu?: number;
  /** Bring the device up. Default true. */
  readonly up?: boolean;
  /** byway's own MAC on this link. Default: random locally administered. */
  readonly hwAddress?: Uint8Array;
  readonly vnetHdr?: boolean;
  /**
   * With `vnetHdr`: leave TCP and UDP transmit checksums to the kernel (caps say 'offload'; the driver writes the
   * pseudo-header sum and marks the frame VIRTIO_NET_HDR_F_NEEDS_CSUM). A local destination then checks nothing.
   */
  readonly checksumOffload?: boolean;
  /**
   * TCP segmentation offload both ways (see the module comment). Turns `vnetHdr` and `checksumOffload` on;
   * `vnetHdr: false` with it throws ERR_INVALID_ARG_VALUE.
   */
  readonly tso?: boolean;
  readonly multiQueue?: boolean;
  /**
   * The device's transmit queue length: the frames the kernel holds for byway to read (`ip link set ... txqueuelen`).
   * Default 4096 for a device this driver creates (the kernel's 1000 overflows under bursts from several TCP
   * senders: drops, then retransmissions); an existing device keeps its own unless this is given.
   */
  readonly queueLength?: number;
  /** Frames one receive() hands over at most (the rx slots). Default 64. */
  readonly maxBatch?: number;
  /** Transmit slots. Default 256 (64 with `tso`: each slot holds 64 KiB). */
  readonly txSlots?: number;
  readonly busyPoll?: boolean;
}

export class TapDriver extends NativeRingDriver {
  /** The MAC of the kernel's side (the TAP interface itself). */
  readonly kernelHwAddress: Uint8Array;
  /** True when this driver created the device (it vanishes on close). */
  readonly created: boolean;
  readonly vnetHdr: boolean;
  readonly multiQueue: boolean;
  readonly tso: boolean;

  constructor(native: NativeAddon, info: NativeOpenInfo, hw: Uint8Array, options: TapOptions) {
    const tso = info['tso'] === true;
    super(native, info, tapCaps(info.mtu, info.maxBatch, options.checksumOffload === true || tso, tso), hw, options);
    this.kernelHwAddress = info['kernelHwAddress'] as Uint8Array;
    this.created = info['created'] as boolean;
    this.vnetHdr = info['vnetHdr'] as boolean;
    this.multiQueue = info['multiQueue'] as boolean;
    this.tso = tso;
  }
}

/** Largest IP packet a TSO frame carries either way (IPv4's total length, IPv6's 40 + payload length; the kernel's GSO limit). */
export const TAP_TSO_MAX_BYTES = 65535;

function tapCaps(mtu: number, maxBatch: number, offload: boolean, tso: boolean): DriverCapabilities {
  const checksum = offload ? TX_L4_OFFLOAD : SOFTWARE_CHECKSUMS;
  // The virtio-net header covers IPv6 frames too (NEEDS_CSUM, GSO_TCPV6: drivers/native/src/offload.c).
  if (!tso) return { medium: 'ethernet', mtu, maxBatch, checksum, ipv6Offload: offload };
  // rx 'verify' stays: a frame the kernel vouches for says so itself (RxFlag.L4ChecksumValid).
  return { medium: 'ethernet', mtu, maxBatch, checksum, tso: { maxBytes: TAP_TSO_MAX_BYTES }, rxMaxPacket: TAP_TSO_MAX_BYTES, ipv6Offload: true };
}

export function openTap(options: TapOptions = {}): TapDriver {
  const native = loadNative();
  if (options.name !== undefined && (typeof options.name !== 'string' || Buffer.byteLength(options.name) > 15)) {
    throw invalidArg(`TAP name must be a string of at most 15 bytes, got ${String(options.name)}`);
  }
  if (options.mtu !== undefined && !(Number.isInteger(options.mtu) && options.mtu >= 68 && options.mtu <= 65521)) {
    throw invalidArg(`TAP mtu must be an integer in 68..65521, got ${options.mtu}`);
  }
  if (options.hwAddress !== undefined && options.hwAddress.length !== 6) throw invalidArg('hwAddress must be 6 bytes');
  if (options.queueLength !== undefined && !(Number.isInteger(options.queueLength) && options.queueLength >= 1 && options.queueLength <= 1 << 20)) {
    throw invalidArg(`TAP queueLength must be an integer in 1..1048576, got ${options.queueLength}`);
  }
  if (options.tso === true && options.vnetHdr === false) throw invalidArg('tso needs vnetHdr (leave it unset, or true)');
  const tso = options.tso === true;
  const vnetHdr = options.vnetHdr === true || tso;
  if (options.checksumOffload === true && !vnetHdr) throw invalidArg('checksumOffload needs vnetHdr');
  const name = options.name ?? 'byway%d';
  const netns = options.netns ?? '';
  const maxBatch = positiveInt('maxBatch', options.maxBatch, 64, 1, 4096);
  // 64 KiB slots in tso mode: fewer of them by default (64 + 64 slots: about 8.4 MB).
  const txSlots = positiveInt('txSlots', options.txSlots, tso ? 64 : 256, 1, 65536);
  let info;
  try {
    // The kernel's queue towards byway: 1000 frames by default, which a burst from several TCP senders overflows
    // (drops, then retransmissions) while byway is busy with the previous batch. A device made here gets 4096
    // unless told otherwise; an existing one is changed only when asked (0: leave it).
    const existed = !name.includes('%') && native.ifInfo(name, netns || undefined) !== undefined;
    const config: NativeTapConfig = {
      netns,
      name,
      mtu: options.mtu ?? 0,
      up: options.up ?? true,
      vnetHdr,
      checksumOffload: options.checksumOffload === true || tso,
      tso,
      multiQueue: options.multiQueue === true,
      queueLength: options.queueLength ?? (existed ? 0 : 4096),
      maxBatch,
      txSlots,
    };
    info = native.open('tap', config);
  } catch (e) {
    throw nativeError(e, 'tap', options.name, options.netns);
  }
  const hw = options.hwAddress ? new Uint8Array(options.hwAddress) : localMac(randomBytes(6));
  return new TapDriver(native, info, hw, options);
}

/** Open `queues` drivers on one multi-queue TAP device (IFF_MULTI_QUEUE), one per queue, all with one MAC. */
export function openTapQueues(options: TapOptions & { readonly queues: number }): TapDriver[] {
  if (!Number.isInteger(options.queues) || options.queues < 1 || options.queues > 256) {
    throw invalidArg(`queues must be an integer in 1..256, got ${options.queues}`);
  }
  const hw = options.hwAddress ?? localMac(randomBytes(6));
  const first = openTap({ ...options, multiQueue: true, hwAddress: hw });
  const out = [first];
  try {
    for (let i = 1; i < options.queues; i++) out.push(openTap({ ...options, name: first.ifname, multiQueue: true, hwAddress: hw }));
  } catch (e) {
    for (const d of out) d.close();
    throw e;
  }
  return out;
}
