/**
 * AF_PACKET driver: a FrameDriver on an existing interface through a TPACKET_V3 receive ring and a TPACKET_V3
 * transmit ring, both mmap'ed once and shared with JS (no per-frame copy between kernel and JS after the kernel's
 * own copy into the ring).
 *
 * - The kernel keeps its own view of the interface: AF_PACKET sees a copy of each frame, it does not take it
 *   away. Give byway an address the kernel does not use on that interface (own-address mode), or the kernel
 *   will answer too (TCP RSTs, ICMP unreachables). By default byway uses the interface's MAC.
 * - A classic BPF filter (filter.ts) keeps everything but ARP, broadcast, IPv6 multicast (NDP) and frames for
 *   byway's MAC (IPv4 ones only to its address, when `ipv4` is given) out of the ring. `filter: false` takes
 *   every frame.
 * - PACKET_QDISC_BYPASS (default on): transmit skips the qdisc layer. PACKET_IGNORE_OUTGOING: byway does not see
 *   its own frames. `fanout`: PACKET_FANOUT, to spread receive over several drivers (one per worker).
 * - Latency: TPACKET_V3 hands a block over when it is full or `blockTimeoutMs` (default 1 ms) after its first
 *   frame; that timeout bounds receive latency under light load. `tpacketVersion: 2` uses per-frame status words
 *   instead: no such wait.
 * - Receive: the kernel hands a packet socket what its stack has, before any segmentation: 64 KiB GSO packets
 *   from a veth peer with the default offloads, GRO-coalesced ones from a NIC, with CHECKSUM_PARTIAL sums from a
 *   local sender. The default rings hold such a packet whole (caps.rxMaxPacket 65535), and a frame whose TCP/UDP
 *   checksum the kernel vouches for (TP_STATUS_CSUM_VALID, or TP_STATUS_CSUMNOTREADY: partial, left so) carries
 *   RxFlag.L4ChecksumValid.
 * - `tso`: TCP segmentation offload on transmit through PACKET_VNET_HDR (a virtio_net_hdr before every frame, both
 *   ways, on either TPACKET version): 64 KiB TCP packets, IPv4 or IPv6 (GSO_TCPV4, GSO_TCPV6; caps.ipv6Offload),
 *   go into the tx ring and the kernel cuts them (see the option and drivers/native/src/packet.c). Transmit goes through the qdisc layer then (no bypass).
 * Throws BywayError at open (see drivers/native/index.ts nativeError); ENODEV when the interface goes away.
 */
import { BywayError, SOFTWARE_CHECKSUMS, TX_L4_OFFLOAD, type DriverCapabilities } from '../types.js';
import { invalidArg } from '../../protocols/util/errors.js';
import { parseIpv4 } from '../../protocols/ipv4/address.js';
import { loadNative, nativeError, type NativeAddon, type NativeOpenInfo, type NativePacketConfig } from '../native/index.js';
import { positiveInt } from '../options.js';
import { NativeRingDriver } from '../native/ring-driver.js';
import { buildPacketFilter } from './filter.js';

export { buildPacketFilter, runPacketFilter, type PacketFilterSpec } from './filter.js';
export { buildFanoutProgram, runFanoutProgram, flowWorker, flowClass, workerEphemeralRange, type FlowSteeringSpec } from './fanout.js';

export type FanoutMode = 'hash' | 'lb' | 'cpu' | 'rollover' | 'random' | 'qm' | 'cbpf';
const FANOUT_MODES: Record<FanoutMode, number> = { hash: 0, lb: 1, cpu: 2, rollover: 3, random: 4, qm: 5, cbpf: 6 };
/** PACKET_FANOUT_FLAG_IGNORE_OUTGOING (Linux >= 6.8; dropped silently before). */
const FANOUT_IGNORE_OUTGOING = 0x4000;

export interface AfPacketOptions {
  /** The interface to bind (must exist). */
  readonly ifname: string;
  /** Open the socket inside this network namespace (a name under /var/run/netns). */
  readonly netns?: string;
  /** byway's MAC. Default: the interface's own MAC. */
  readonly hwAddress?: Uint8Array;
  /** byway's IPv4 address (dotted quad): narrows the filter to IPv4 packets for this address. */
  readonly ipv4?: string;
  /** Attach the classic BPF filter (default true). */
  readonly filter?: boolean;
  /**
   * PACKET_FANOUT group this socket joins; every member must use the same mode. 'hash' (the kernel's symmetric
   * flow hash, keyed with a secret of the running kernel), 'cpu' (the CPU that received the packet), 'qm' (the
   * device's receive queue), 'lb', 'rollover', 'random', or 'cbpf': `program` (a classic BPF program, see
   * fanout.ts buildFanoutProgram) picks the member; it applies to the whole group and `setFanoutProgram` replaces it.
   * Members ignore outgoing packets where the kernel allows it (PACKET_FANOUT_FLAG_IGNORE_OUTGOING).
   */
  readonly fanout?: {
    readonly group: number;
    readonly mode?: FanoutMode;
    readonly rollover?: boolean;
    readonly defrag?: boolean;
    readonly program?: Uint8Array;
  };
  /** Default true (false with `tso`, which refuses true). */
  readonly qdiscBypass?: boolean;
  /** Put the interface in promiscuous mode (needed on a real NIC when hwAddress is not the NIC's MAC). */
  readonly promiscuous?: boolean;
  /**
   * Receive ring: block size (a multiple of the page size and of rxFrameSize), block count, frame slot size.
   * Defaults hold a 64 KiB packet whole: TPACKET_V3 64 blocks of 128 KiB (frame slot 2048, a counting unit
   * only: V3 packs frames of any size into a block); TPACKET_V2 256 slots of 69632 bytes (one per block).
   * Smaller rings lower caps.rxMaxPacket; larger packets are cut (rxTruncated) and the stack drops them.
   */
  readonly rxBlockSize?: number;
  readonly rxBlockCount?: number;
  readonly rxFrameSize?: number;
  /**
   * 3 (default): TPACKET_V3, block-based receive; best for throughput, but a frame waits until its block is full
   * or `blockTimeoutMs` passes. 2: TPACKET_V2, a status word per frame; each frame is visible at once (lower
   * latency, more wake-ups). The tx ring follows the same version.
   */
  readonly tpacketVersion?: 2 | 3;
  /** Block retire timeout, ms (default 1; TPACKET_V3 only). */
  readonly blockTimeoutMs?: number;
  /** Transmit ring: frame slot size (default 2048, includes a 48-byte header) and count (default 256). */
  readonly txFrameSize?: number;
  readonly txFrameCount?: number;
  /** Largest batch one receive() hands over (default 256). */
  readonly maxBatch?: number;
  /** true: no readiness callbacks, pollAt always `now`. A number also sets SO_BUSY_POLL (microseconds). */
  readonly busyPoll?: boolean | number;
  /**
   * TCP segmentation offload on transmit (PACKET_VNET_HDR; either TPACKET version): the stack hands the ring IPv4
   * TCP packets of up to 64 KiB and the kernel cuts them into MTU-sized segments (in software when the device has
   * no TSO, as for its own TCP); TCP and UDP transmit checksums are left to the kernel. Default false.
   * - Needs the qdisc path: `qdiscBypass` defaults to false with tso, and true is refused (__dev_direct_xmit drops
   *   a packet that software GSO had to cut).
   * - The tx ring defaults to 32 frames of 128 KiB (4 MiB). A txFrameSize of your own must hold a 64 KiB packet
   *   (at least 65616 with TPACKET_V3) and should be a multiple of the page size (the ring's blocks are).
   * - Receive takes 64 KiB packets as without tso (see "Receive" above). Frames whose TCP/UDP checksum the
   *   kernel checked (virtio DATA_VALID) or that a local sender left partial (NEEDS_CSUM, left so) carry
   *   RxFlag.L4ChecksumValid.
   * - TPACKET_V2 suits a bulk sender better: with V3 the peer's ACKs wait for their block to retire
   *   (blockTimeoutMs), which slows the ACK clock.
   */
  readonly tso?: boolean;
  /**
   * TCP and UDP transmit checksums left to the kernel (PACKET_VNET_HDR, as `tso` has it; either TPACKET version):
   * the driver writes the pseudo-header sum and a virtio-net header with NEEDS_CSUM in front of each frame, and
   * the device (or the kernel in software, when the device has no checksum offload) completes the sum. Default:
   * on when the interface offloads transmit checksums (`ethtool -k`: tx-checksumming on, as a veth and most NICs
   * by default), off otherwise; true: always; false: never (refused with `tso`). caps.checksum.tcp/udp.tx say
   * 'offload' when on. The IPv4 header checksum stays the stack's. Receive is as with tso: the header the kernel
   * writes before each frame says which TCP/UDP checksums it vouches for (RxFlag.L4ChecksumValid).
   */
  readonly checksumOffload?: boolean;
}

export class AfPacketDriver extends NativeRingDriver {
  /** The interface's own MAC. */
  readonly ifHwAddress: Uint8Array;
  readonly qdiscBypass: boolean;
  readonly filtered: boolean;
  readonly tpacketVersion: 2 | 3;
  /** Segmentation offload is on (`tso` option): caps.tso is set, TCP/UDP checksums are offloaded on transmit. */
  readonly tso: boolean;
  /** TCP/UDP transmit checksums are left to the kernel (the `checksumOffload` option, or `tso`). */
  readonly checksumOffload: boolean;
  /** The fanout mode joined, if any. */
  readonly fanoutMode: FanoutMode | undefined;

  constructor(native: NativeAddon, info: NativeOpenInfo, caps: DriverCapabilities, hw: Uint8Array, options: AfPacketOptions, filtered: boolean) {
    super(native, info, caps, hw, { netns: options.netns, busyPoll: options.busyPoll !== undefined && options.busyPoll !== false });
    this.ifHwAddress = info['ifHwAddress'] as Uint8Array;
    this.qdiscBypass = info['qdiscBypass'] as boolean;
    this.filtered = filtered;
    this.tpacketVersion = info['tpacketVersion'] as 2 | 3;
    this.tso = info['tso'] === true;
    this.checksumOffload = info['checksumOffload'] === true;
    this.fanoutMode = options.fanout ? (options.fanout.mode ?? 'hash') : undefined;
  }

  /**
   * Replace the fanout group's classic BPF program ('cbpf' mode; for every member of the group). Throws
   * ERR_INVALID_STATE in another mode, BywayError with the errno when the kernel refuses the program.
   */
  /** Multicast MAC memberships the kernel refused (see multicastMembership). */
  multicastRefused = 0;

  /**
   * FrameDriver.multicastMembership: the socket joins the MAC on the device (PACKET_ADD_MEMBERSHIP with
   * PACKET_MR_MULTICAST, counted per socket by the kernel and dropped with it), so the device's filter passes the
   * group's frames (a veth passes everything; a NIC does not). A refusal is counted in `multicastRefused`.
   */
  multicastMembership(op: 'add' | 'drop', mac: Uint8Array): void {
    if (this.closed) return;
    if (this.native.packetMembership(this.handle, mac, op === 'add') < 0) this.multicastRefused++;
  }

  setFanoutProgram(program: Uint8Array): void {
    if (this.closed) throw new BywayError('ERR_DRIVER_CLOSED', 'the driver is closed');
    if (this.fanoutMode !== 'cbpf') throw new BywayError('ERR_INVALID_STATE', "a fanout program needs fanout mode 'cbpf'");
    checkProgram(program);
    const r = this.native.fanoutData(this.handle, program);
    if (r < 0) throw new BywayError('ERR_FANOUT_PROGRAM', `the kernel refused the fanout program (errno ${-r})`);
  }
}

function checkProgram(p: unknown): void {
  if (!(p instanceof Uint8Array) || p.length === 0 || p.length % 8 !== 0) throw invalidArg('fanout.program must be a non-empty Uint8Array of 8-byte classic BPF instructions');
}

/** Largest IPv4 packet the kernel hands a packet socket with its default offloads (gso_max_size 64 KiB). */
export const AF_PACKET_RX_MAX_PACKET = 65535;
/** Largest IPv4 packet (the IP total length field) a tso frame carries; the kernel's GSO limit for it too. */
export const AF_PACKET_TSO_MAX_BYTES = 65535;
/**
 * A TPACKET_V2 receive slot for a 64 KiB IPv4 packet: its Ethernet header, the tpacket2 header and sockaddr_ll
 * before it (macoff) and the virtio_net_hdr in tso mode, rounded up to 17 pages.
 */
const RX_V2_FRAME = 17 * 4096;
/** Default tx ring in tso mode: 32 frames of 128 KiB (a 64 KiB packet, its headers and the tpacket header). */
const TSO_TX_FRAME_SIZE = 131072;
const TSO_TX_FRAME_COUNT = 32;

export function openAfPacket(options: AfPacketOptions): AfPacketDriver {
  const native = loadNative();
  if (typeof options?.ifname !== 'string' || options.ifname.length === 0 || Buffer.byteLength(options.ifname) > 15) {
    throw invalidArg('ifname must name an interface (at most 15 bytes)');
  }
  if (options.hwAddress !== undefined && options.hwAddress.length !== 6) throw invalidArg('hwAddress must be 6 bytes');
  let ipv4: number | undefined;
  if (options.ipv4 !== undefined) {
    ipv4 = parseIpv4(options.ipv4);
    if (ipv4 === undefined) throw invalidArg(`ipv4 '${options.ipv4}' is not a dotted-quad address`);
  }
  let fanout = -1;
  if (options.fanout) {
    const { group, mode = 'hash', rollover, defrag, program } = options.fanout;
    if (!Number.isInteger(group) || group < 0 || group > 0xffff) throw invalidArg('fanout.group must be in 0..65535');
    if (!(mode in FANOUT_MODES)) throw invalidArg(`fanout.mode must be one of ${Object.keys(FANOUT_MODES).join(', ')}`);
    if (mode === 'cbpf') checkProgram(program);
    else if (program !== undefined) throw invalidArg("fanout.program needs fanout.mode 'cbpf'");
    fanout = group | ((FANOUT_MODES[mode] | (rollover ? 0x1000 : 0) | (defrag ? 0x8000 : 0) | FANOUT_IGNORE_OUTGOING) << 16);
  }
  if (options.tpacketVersion !== undefined && options.tpacketVersion !== 2 && options.tpacketVersion !== 3) {
    throw invalidArg(`tpacketVersion must be 2 or 3, got ${String(options.tpacketVersion)}`);
  }
  if (options.tso !== undefined && typeof options.tso !== 'boolean') throw invalidArg(`tso must be a boolean, got ${String(options.tso)}`);
  const tso = options.tso === true;
  if (options.checksumOffload !== undefined && typeof options.checksumOffload !== 'boolean') {
    throw invalidArg(`checksumOffload must be a boolean, got ${String(options.checksumOffload)}`);
  }
  if (tso && options.checksumOffload === false) throw invalidArg('tso needs checksumOffload: the kernel checksums the segments it cuts');
  // 0 never, 1 always, 2 when the interface offloads transmit checksums (the C side asks ETHTOOL_GTXCSUM).
  const checksumOffload = options.checksumOffload === undefined ? 2 : options.checksumOffload ? 1 : 0;
  // The direct transmit path (__dev_direct_xmit) drops a packet that validate_xmit_skb had to segment in
  // software, so GSO needs the qdisc path: tso turns the bypass off by default and refuses it when asked.
  if (tso && options.qdiscBypass === true) throw invalidArg('tso needs qdiscBypass false: with the bypass, the kernel drops the packets its software GSO cuts');
  const qdiscBypass = options.qdiscBypass ?? !tso;
  const v2 = options.tpacketVersion === 2;
  // Receive room for the largest IPv4 packet (64 KiB) by default: a veth whose peer has the kernel's default
  // offloads hands over 64 KiB GSO packets, and a NIC with GRO coalesced ones. V3 packs frames of any size into its
  // blocks (a frame must fit in one: 128 KiB blocks, 8 MiB in all); V2 has fixed slots, so each is 17 pages (256
  // of them, 17 MiB).
  const ring = {
    rxBlockSize: positiveInt('rxBlockSize', options.rxBlockSize, v2 ? RX_V2_FRAME : 131072, 1, 1 << 30),
    rxBlockCount: positiveInt('rxBlockCount', options.rxBlockCount, v2 ? 256 : 64, 1, 1 << 20),
    rxFrameSize: positiveInt('rxFrameSize', options.rxFrameSize, v2 ? RX_V2_FRAME : 2048, 128, 1 << 30),
    blockTimeoutMs: positiveInt('blockTimeoutMs', options.blockTimeoutMs, 1, 0, 60000),
    txFrameSize: positiveInt('txFrameSize', options.txFrameSize, tso ? TSO_TX_FRAME_SIZE : 2048, 128, 1 << 30),
    txFrameCount: positiveInt('txFrameCount', options.txFrameCount, tso ? TSO_TX_FRAME_COUNT : 256, 1, 1 << 20),
    maxBatch: positiveInt('maxBatch', options.maxBatch, 256, 1, 65536),
  };
  const busyPollUs = typeof options.busyPoll === 'number' ? positiveInt('busyPoll', options.busyPoll, 0, 0, 1 << 20) : 0;
  const open = (filter: Uint8Array | undefined): NativeOpenInfo => {
    try {
      const config: NativePacketConfig = {
        netns: options.netns ?? '',
        ifname: options.ifname,
        tpacketVersion: v2 ? 2 : 3,
        ...ring,
        tso,
        checksumOffload,
        qdiscBypass,
        promiscuous: options.promiscuous === true,
        fanout,
        fanoutProgram: options.fanout?.program ?? null,
        filter: filter ?? null,
        busyPollUs,
      };
      return native.open('packet', config);
    } catch (e) {
      throw nativeError(e, 'packet', options.ifname, options.netns);
    }
  };
  const wantFilter = options.filter !== false;
  let hw: Uint8Array;
  if (options.hwAddress) hw = new Uint8Array(options.hwAddress);
  else {
    // The filter needs byway's MAC before the socket is bound; by default that is the interface's own.
    let ifi;
    try {
      ifi = native.ifInfo(options.ifname, options.netns);
    } catch (e) {
      throw nativeError(e, 'packet', options.ifname, options.netns);
    }
    if (!ifi) throw nativeError(Object.assign(new Error('no such device'), { code: 'ENODEV', step: 'if_nametoindex' }), 'packet', options.ifname, options.netns);
    hw = new Uint8Array(ifi.hwAddress);
  }
  const info = open(wantFilter ? buildPacketFilter({ mac: hw, ipv4 }) : undefined);
  // rx 'verify' stays: a frame the kernel vouches for says so itself (RxFlag.L4ChecksumValid).
  const rxMaxPacket = Math.max(info.mtu, Math.min(AF_PACKET_RX_MAX_PACKET, (info['rxMaxFrame'] as number) - 14));
  const caps: DriverCapabilities = tso
    ? { medium: 'ethernet', mtu: info.mtu, maxBatch: info.maxBatch, checksum: TX_L4_OFFLOAD, tso: { maxBytes: AF_PACKET_TSO_MAX_BYTES }, rxMaxPacket, ipv6Offload: true }
    : info['checksumOffload'] === true
      ? { medium: 'ethernet', mtu: info.mtu, maxBatch: info.maxBatch, checksum: TX_L4_OFFLOAD, rxMaxPacket, ipv6Offload: true }
      : { medium: 'ethernet', mtu: info.mtu, maxBatch: info.maxBatch, checksum: SOFTWARE_CHECKSUMS, rxMaxPacket };
  if (info.mtu + 18 > info.frameCap) {
    native.close(info.handle);
    throw invalidArg(`txFrameSize too small for MTU ${info.mtu}: use at least ${info.mtu + 18 + 48} (rounded up to 16)`);
  }
  if (tso && AF_PACKET_TSO_MAX_BYTES + 18 > info.frameCap) {
    native.close(info.handle);
    throw invalidArg(`txFrameSize ${options.txFrameSize} too small for tso: use at least ${AF_PACKET_TSO_MAX_BYTES + 18 + 48 + 10} (rounded up to 16)`);
  }
  return new AfPacketDriver(native, info, caps, hw, options, wantFilter);
}
