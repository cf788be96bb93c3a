/**
 * Loader for byway's native addon (drivers/native, built by node-gyp at `npm install`).
 *
 * `loadNative()` returns the addon or throws BywayError ERR_NATIVE_UNAVAILABLE with the reason (the build
 * failure recorded by scripts/build-native.mjs, or the load error). `nativeAvailability()` answers without
 * throwing. `nativeError()` turns an error thrown by the addon (an Error with `code` = errno name and `step` =
 * the failing syscall) into a BywayError with a stable code and a sentence telling the user what to do.
 *
 * The addon does rings, memory and syscalls only. Every resource it opens is released by `close(handle)` and,
 * for anything still open, by a Node-API env cleanup hook at process exit; the kernel releases the rest if the
 * process dies (BPF links detach and non-persistent TAP devices vanish when their fds close).
 */
import { createRequire } from 'node:module';
import { applyMallocTuning } from './malloc-tuning.js';
export { mallocTuning, type MallocTuning } from './malloc-tuning.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BywayError } from '../types.js';
import { systemCodeOf, type BywayErrorCode } from '../../protocols/util/errors.js';

/** What `open()` returns: the handle, the shared memory and control block, and layout numbers. */
export interface NativeOpenInfo {
  readonly handle: NativeHandle;
  readonly mem: ArrayBuffer;
  readonly ctl: ArrayBuffer;
  readonly fd: number;
  readonly ifindex: number;
  readonly ifname: string;
  readonly mtu: number;
  readonly rxDescIdx: number;
  readonly txSlotIdx: number;
  readonly txOutIdx: number;
  /** Tx meta words, one per pending frame parallel to the tx out pairs: the TSO segment size, 0 for none. */
  readonly txMetaIdx: number;
  readonly maxBatch: number;
  readonly txBatch: number;
  readonly frameCap: number;
  readonly [extra: string]: unknown;
}

/** Opaque handle (a Node-API external). */
export type NativeHandle = { readonly __bywayNativeHandle: unique symbol };

export interface NativeXdpStats {
  rxDropped: number;
  rxInvalidDescs: number;
  txInvalidDescs: number;
  rxRingFull: number;
  rxFillRingEmpty: number;
  txRingEmpty: number;
}

/**
 * The open options the addon receives: every field present, defaults applied by the driver's TypeScript side
 * (drivers/tap, af-packet, af-xdp), plain values only. The C side (bw_cfg in drivers/native/src) has no defaults:
 * a field missing or of the wrong type fails the open with EINVAL at step '<kind> options'.
 */
export interface NativeTapConfig {
  /** '' for this process's namespace (the same for every kind). */
  readonly netns: string;
  /** The device name, or a pattern with '%d'. */
  readonly name: string;
  /** 0: leave the device's MTU. */
  readonly mtu: number;
  readonly up: boolean;
  readonly vnetHdr: boolean;
  readonly checksumOffload: boolean;
  readonly tso: boolean;
  readonly multiQueue: boolean;
  /** 0: leave the device's transmit queue length. */
  readonly queueLength: number;
  readonly maxBatch: number;
  readonly txSlots: number;
}

export interface NativePacketConfig {
  readonly netns: string;
  readonly ifname: string;
  readonly tpacketVersion: 2 | 3;
  readonly rxBlockSize: number;
  readonly rxBlockCount: number;
  readonly rxFrameSize: number;
  readonly blockTimeoutMs: number;
  readonly txFrameSize: number;
  readonly txFrameCount: number;
  readonly maxBatch: number;
  readonly tso: boolean;
  /** 0: no virtio-net header without tso; 1: always, for transmit checksum offload; 2: when the interface offloads tx checksums. */
  readonly checksumOffload: 0 | 1 | 2;
  readonly qdiscBypass: boolean;
  readonly promiscuous: boolean;
  /** PACKET_FANOUT's argument (group | (mode | flags) << 16), or -1 for none. */
  readonly fanout: number;
  readonly fanoutProgram: Uint8Array | null;
  /** The classic BPF filter to attach, or null. */
  readonly filter: Uint8Array | null;
  /** SO_BUSY_POLL in microseconds, 0 for none. */
  readonly busyPollUs: number;
}

export interface NativeXdpConfig {
  readonly netns: string;
  readonly ifname: string;
  readonly program: 'own' | 'shared';
  readonly bindMode: 'copy' | 'zerocopy' | 'auto';
  readonly attachMode: 'native' | 'generic' | 'auto';
  readonly queue: number;
  readonly queues: number;
  readonly frameSize: number;
  readonly frameCount: number;
  readonly ringSize: number;
  readonly maxBatch: number;
  /** byway's IPv4 address (host order), 0 for none. */
  readonly ipv4: number;
  /** Own mode: the program steers IPv6 to the addresses of its map (filled with xdpAddress6 after open). */
  readonly ipv6: boolean;
  /** Own mode with ipv6: also redirect router advertisements and redirects sent to all-nodes. */
  readonly routerAdvertisements: boolean;
  readonly flowMapSize: number;
  readonly busyPollUs: number;
  readonly bindRetryMs: number;
  readonly needWakeup: boolean;
  /** The XSKMAP of a program this process attached (joining its queues), or -1 to attach one. */
  readonly xskMapFd: number;
  readonly repairPartialChecksums: boolean;
  /** Maps, program and link only, no socket (a cluster's primary owns the program; its workers bind the queues). */
  readonly programOnly: boolean;
  /** Shared mode joining by xskMapFd: the program's flow map (the socket keeps a copy of the descriptor), else -1. */
  readonly flowMapFd: number;
}

/** The raw-IP driver's transmit socket (drivers/native/src/rawip.c). */
export interface NativeRawIpConfig {
  readonly netns: string;
  /** Slot size: the largest IPv4 packet sent. */
  readonly mtu: number;
  readonly txSlots: number;
  /** SO_SNDBUF to ask for (SO_SNDBUFFORCE when privileged), 0 for the kernel's default. */
  readonly sndbuf: number;
}

export interface NativeAddon {
  open(kind: 'tap', config: NativeTapConfig): NativeOpenInfo;
  open(kind: 'rawip', config: NativeRawIpConfig): NativeOpenInfo;
  open(kind: 'packet', config: NativePacketConfig): NativeOpenInfo;
  open(kind: 'xdp', config: NativeXdpConfig): NativeOpenInfo;
  /**
   * Fill the control block's rx descriptors (offset, flags << 24 | length); returns the count or a negative errno.
   * An empty batch (0) is released by the call itself (readiness re-armed): rxRelease follows only a count > 0 or
   * an error.
   */
  rxBatch(h: NativeHandle, max: number): number;
  /**
   * Give the last batch's frames back to the kernel and re-arm readiness. rxBatch and rxWait also give back a
   * batch left unreleased before they look at the ring, so a busy-polling caller (no readiness to re-arm) may skip
   * this call and let the next receive call release: one call into the addon fewer per batch.
   */
  rxRelease(h: NativeHandle): void;
  rxPending(h: NativeHandle): number;
  /**
   * Spin (in C, no return to JS) up to `spinUs` microseconds (capped at 10 000) until a frame is waiting: 1 when
   * one is, 0 when the time ran out, or a negative errno; consumes nothing. With `max` > 0 the spin takes the
   * ready batch instead, as `rxBatch(h, max)` right after it would, and answers its count (rxRelease follows a
   * count > 0): one call when a frame comes, not two.
   */
  rxWait(h: NativeHandle, spinUs: number, max?: number): number;
  /** Hand out up to `max` free tx slots (offsets into mem) in the control block. */
  txAlloc(h: NativeHandle, max: number): number;
  /**
   * Send the first `n` (offset, length) pairs of the control block's tx area (with their tx meta words); count
   * queued or negative errno.
   */
  txSubmit(h: NativeHandle, n: number): number;
  setReady(h: NativeHandle, cb: (() => void) | null): void;
  /** The next readiness callback comes (also) when the socket is writable again (one-shot; raw IP after EAGAIN). */
  txWait(h: NativeHandle): void;
  close(h: NativeHandle): void;
  sockError(h: NativeHandle): number;
  linkState(h: NativeHandle): 'up' | 'down' | 'gone';
  withNetns<T>(name: string, fn: () => T): T;
  xdpFlow(h: NativeHandle, ipv4: number, port: number, protocol: number, add: boolean): number;
  /** Own mode with IPv6: add or remove one of byway's IPv6 addresses (16 bytes) in the program's map; 0 or -errno. */
  xdpAddress6(h: NativeHandle, address: Uint8Array, add: boolean): number;
  xdpStats(h: NativeHandle): NativeXdpStats | undefined;
  /**
   * Shared mode: one flow's 16-byte value (drivers/af-xdp/flow-table.ts: u32 holders[2], i32 fd4, i32 fd6, in the
   * machine's byte order), undefined when the flow is absent; with `value`, write it (0; `noexist`: only when
   * absent, else -17 EEXIST). -errno on failure.
   */
  xdpFlowEntry(h: NativeHandle, ipv4: number, port: number, protocol: number, value?: Uint8Array, noexist?: boolean): Uint8Array | number | undefined;
  /** Shared mode: every flow as 24-byte records (u32 address host order, u16 port, u8 protocol, pad, value) in `buf`; the count or -errno. */
  xdpFlowList(h: NativeHandle, buf: Uint8Array): number;
  /** An interface as seen from a namespace, or undefined when there is none of that name. */
  ifInfo(name: string, netns?: string): { ifindex: number; mtu: number; hwAddress: Uint8Array } | undefined;
  /**
   * A NETLINK_ROUTE socket inside `netns` (undefined: this process's), non-blocking, joined to the RTMGRP_* bit
   * mask `groups`, its receive buffer set to `rcvbuf` bytes when given. Released by close(handle). Throws on
   * failure (step 'open netns', 'socket(AF_NETLINK)', 'bind(AF_NETLINK)').
   */
  nlOpen(netns: string | undefined, groups: number, rcvbuf?: number): NativeHandle;
  /** Send one request to the kernel; bytes sent or a negative errno. */
  nlSend(h: NativeHandle, bytes: Uint8Array): number;
  /**
   * Receive one datagram from the kernel into `buf`: its length, 0 when nothing waits, or a negative errno
   * (-ENOBUFS: notifications were lost, dump again; -EMSGSIZE: a datagram larger than `buf` was lost).
   */
  nlRecv(h: NativeHandle, buf: Uint8Array): number;
  /**
   * Reserve a port in the kernel of `netns`: a TCP or UDP socket bound to (ipv4, port) without SO_REUSEADDR, so no
   * kernel socket can bind it and the kernel's ephemeral choice skips it. A handle (release with close), or the
   * negative errno bind gave (-98 EADDRINUSE: the kernel holds the port). family 6: an IPv6 socket on [::]:port, v6only.
   */
  portReserve(netns: string | undefined, protocol: 'tcp' | 'udp', ipv4: number, port: number, family?: 4 | 6): NativeHandle | number;
  /** The same, `raw`: the bare descriptor (>= 0, the process's: any thread may release it) or the negative errno. */
  portReserve(netns: string | undefined, protocol: 'tcp' | 'udp', ipv4: number, port: number, family: 4 | 6, raw: true): number;
  /** Close a reservation portReserve returned raw: 0 or -errno. */
  portRelease(fd: number): number;
  /**
   * A descriptor of this process (close-on-exec) for process `pid`'s descriptor `fd` (pidfd_open + pidfd_getfd), or
   * the negative errno (-3 ESRCH: it is gone; -9 EBADF: no such descriptor; -1 EPERM: not allowed to ptrace it).
   */
  fdAdopt(pid: number, fd: number): number;
  /**
   * A cluster's shared-address program (openAfXdpProgram, mode 'shared'): the frames of byway's flows it dropped on
   * each receive queue for want of a socket in the queue's XSKMAP slot, into `out` (the bytes of a Float64Array,
   * one per queue); the count read, or a negative errno (-22: not such a program).
   */
  xdpUnbound(h: NativeHandle, out: Uint8Array): number;
  /** Replace an AF_PACKET fanout group's classic BPF program (PACKET_FANOUT_DATA): 0 or a negative errno. */
  fanoutData(h: NativeHandle, program: Uint8Array): number;
  /** AF_PACKET: receive (add) or stop receiving a multicast MAC on the device. 0 or -errno. */
  packetMembership(h: NativeHandle, mac: Uint8Array, add: boolean): number;
  /** Handles opened and not yet closed in this process (for leak tests); netlink sockets and reservations count. */
  openCount(): number;
  /** An event-loop turn source (drivers/native/src/turn.c): `fn` runs in the check phase of each armed iteration. */
  turnOpen(fn: () => void, burstUs?: number): NativeTurnHandle;
  turnArm(t: NativeTurnHandle): void;
  turnDisarm(t: NativeTurnHandle): void;
  turnClose(t: NativeTurnHandle): void;
  /** glibc's M_TRIM_THRESHOLD for the process: 1 set, 0 refused, -1 not glibc (malloc-tuning.ts). */
  mallocTrimThreshold(bytes: number): number;
}

/** Opaque turn handle (a Node-API external). */
export type NativeTurnHandle = { readonly __bywayNativeTurn: unique symbol };

const here = dirname(fileURLToPath(import.meta.url));
/** Where the addon lives: beside this file in the source tree, or back in the source tree from dist/. */
const candidates = [
  join(here, 'build', 'Release', 'byway_native.node'),
  join(here, '..', '..', '..', 'drivers', 'native', 'build', 'Release', 'byway_native.node'),
];

let cached: NativeAddon | undefined;
let failure: string | undefined;

function tryLoad(): void {
  if (cached || failure) return;
  if (process.platform !== 'linux') {
    failure = `native drivers need Linux (this is ${process.platform})`;
    return;
  }
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    const marker = candidates.map((p) => join(dirname(dirname(p)), 'BUILD_FAILED')).find((p) => existsSync(p));
    const why = marker ? readFileSync(marker, 'utf8').trim() : 'it was never built';
    failure = `the native addon is not built (${why}); install a C compiler, make and python3, then run \`npm rebuild byway\` (or \`node scripts/build-native.mjs\`)`;
    return;
  }
  try {
    cached = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (e) {
    failure = `the native addon at ${path} failed to load: ${(e as Error).message}`;
    return;
  }
  applyMallocTuning(cached);
}

export function nativeAvailability(): { available: true } | { available: false; reason: string } {
  tryLoad();
  return cached ? { available: true } : { available: false, reason: failure ?? 'unknown' };
}

/** The addon, or BywayError ERR_NATIVE_UNAVAILABLE with the reason. */
export function loadNative(): NativeAddon {
  tryLoad();
  if (!cached) throw new BywayError('ERR_NATIVE_UNAVAILABLE', failure ?? 'the native addon is unavailable');
  return cached;
}

/** Capabilities each driver needs, for the EPERM sentence. */
const CAPS: Record<string, string> = {
  tap: 'CAP_NET_ADMIN',
  packet: 'CAP_NET_RAW (and CAP_NET_ADMIN for qdisc bypass, fanout or promiscuous mode)',
  xdp: 'CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF (or CAP_SYS_ADMIN)',
};

interface AddonError extends Error {
  code?: string;
  step?: string;
  errno?: number;
  log?: string;
}

/**
 * Turn an addon error into a BywayError with advice. `kind` names the driver, `ifname` and `netns` the target.
 */
export function nativeError(e: unknown, kind: 'tap' | 'packet' | 'xdp', ifname?: string, netns?: string): BywayError {
  if (e instanceof BywayError) return e;
  const err = e as AddonError;
  const code = err?.code ?? 'EIO';
  const step = err?.step ?? '';
  const msg = err?.message ?? String(e);
  const where = ifname ? `'${ifname}'${netns ? ` in namespace '${netns}'` : ''}` : 'the interface';
  const out = (c: BywayErrorCode, sentence: string): BywayError => {
    const b = new BywayError(c, `${sentence} [${msg}]`);
    if (err?.log) (b as BywayError & { verifierLog?: string }).verifierLog = err.log;
    return b;
  };
  if (step === 'open netns' && code === 'ENOENT') {
    return out('ENOENT', `no network namespace named '${netns}': create it with \`ip netns add ${netns}\` or drop the netns option.`);
  }
  if (code === 'EPERM' || code === 'EACCES') {
    const need = step === 'setns' ? 'CAP_SYS_ADMIN (to enter a network namespace)' : CAPS[kind];
    return out('EPERM', `${step || kind} was refused: this needs ${need}. Run as root, or give the capabilities to a dedicated copy of node used only for this service (setcap on the system's node binary would give them to every Node program), or start the service in a network namespace prepared by root; see docs/drivers.md, "Privileges".`);
  }
  if (code === 'ENODEV' || (step === 'SIOCGIFFLAGS' && code === 'ENXIO')) {
    return out('ENODEV', `no such interface ${where}: create it first (\`ip link add ...\` / \`ip tuntap add ...\`) or check the name and namespace.`);
  }
  if (step === 'open /dev/net/tun') {
    return out('ERR_TUN_UNAVAILABLE', `/dev/net/tun cannot be opened (${code}): load the tun module (\`modprobe tun\`) or, in a container, pass the device through (\`--device /dev/net/tun\`).`);
  }
  if (step === 'TUNSETIFF' && (code === 'EBUSY' || code === 'EINVAL')) {
    return out('EBUSY', `the TAP device ${where} is busy or exists with other flags (TAP vs TUN, multi-queue, vnet header): close the other user or delete it (\`ip link del ${ifname ?? 'NAME'}\`).`);
  }
  if (step === 'socket(AF_XDP)' || (step === 'BPF_PROG_LOAD' && code !== 'ENOMEM') || (step === 'BPF_MAP_CREATE' && code === 'EINVAL')) {
    return out('ERR_XDP_UNSUPPORTED', `XDP/AF_XDP is not available here (${step}: ${code}): it needs Linux >= 5.10 built with CONFIG_XDP_SOCKETS and CONFIG_BPF_SYSCALL; use the AF_PACKET driver instead.`);
  }
  if (step === 'BPF_LINK_CREATE') {
    if (code === 'EBUSY' || code === 'EEXIST') {
      return out('EBUSY', `another XDP program is already attached to ${where}: detach it (\`ip link set dev ${ifname ?? 'NAME'} xdp off\`) or use the AF_PACKET driver.`);
    }
    return out('ERR_XDP_UNSUPPORTED', `the XDP program could not be attached to ${where} in the requested mode (${code}): try attachMode 'generic' or 'auto'.`);
  }
  if (step === 'bind(AF_XDP)') {
    if (code === 'EOPNOTSUPP' || code === 'ENOTSUP') {
      return out('ERR_XDP_UNSUPPORTED', `${where} refuses this AF_XDP bind (zero-copy needs driver support; veth and most virtual NICs only do copy mode): use bindMode 'copy' or 'auto'.`);
    }
    if (code === 'EBUSY') {
      return out('EBUSY', `queue of ${where} already has an AF_XDP socket, or the previous one is still being torn down: close the other socket or retry in a second.`);
    }
    if (code === 'EINVAL') {
      return out('EINVAL', `AF_XDP bind on ${where} failed: the queue index is probably beyond the device's queues (\`ethtool -l ${ifname ?? 'NAME'}\`).`);
    }
  }
  if (/RING|ring|UMEM|mmap|frame slab|control block/.test(step)) {
    return out('ERR_RING_SETUP', `setting up the ${kind} ring failed at ${step} (${code}): use smaller ring/frame options, or raise the locked-memory limit (\`ulimit -l\`) if ${code === 'ENOMEM' || code === 'EPERM' ? 'memory is short' : 'sizes are valid'}.`);
  }
  if (step.endsWith('options')) return out('ERR_INVALID_ARG_VALUE', `invalid ${kind} options: ${msg}`);
  return out(systemCodeOf(code, err?.errno), `${kind} driver set-up failed at ${step || 'an unknown step'} (${code}).`);
}
