/**
 * The FrameDriver contract: the only way the stack reaches a link.
 *
 * A driver moves whole frames (Ethernet frames, or bare IPv4 packets when `caps.medium` is 'ip') between the
 * stack and a link: an in-memory wire, a TAP device, an AF_PACKET or AF_XDP ring.
 *
 * Buffer ownership
 * - Receive: `receive()` hands each frame to `sink` as a view into the driver's memory (a ring slot, a UMEM
 *   chunk, a pooled buffer). The view is valid only until `sink` returns; the driver may reuse it afterwards.
 *   Whoever needs the bytes longer copies them.
 * - Transmit: `txReserve(len)` lends a buffer of exactly `len` bytes in the driver's memory; the stack writes
 *   the frame in place and hands it back with `txCommit(len)` (len may shrink). Only one reservation is open at
 *   a time. After `txCommit` the stack must not touch the buffer again. `null` from `txReserve` means "no room
 *   now" (ring full): the stack keeps the data and retries on the next poll. `false` from `txCommit` means the
 *   driver took the frame but dropped it (a queue that drops at its limit, as a Linux qdisc does): the transmission
 *   failed locally, and TCP retries on a slower clock (Linux's resource probe) instead of at the next poll.
 *
 * Time: drivers never read a clock. `now` (milliseconds, any origin, monotonic) is passed in, so middleware that
 * delays or rate-limits frames replays exactly on a virtual clock. A driver holding frames for later tells the
 * stack when through `pollAt(now)`.
 *
 * Nothing here throws for bad frames; a driver throws only for misuse (`txCommit` without a reservation) or
 * when it cannot work at all (closed, link gone), with a stable `code`.
 */

export type Medium = 'ethernet' | 'ip';

/** How one protocol's checksum is handled by the device, per direction. */
export interface ChecksumCaps {
  /** 'compute': the stack fills the checksum. 'offload': the device fills it; the stack leaves it alone. */
  readonly tx: 'compute' | 'offload';
  /** 'verify': the stack checks received checksums. 'trusted': the device already checked them. */
  readonly rx: 'verify' | 'trusted';
}

export interface ChecksumCapabilities {
  readonly ipv4: ChecksumCaps;
  readonly icmp: ChecksumCaps;
  readonly udp: ChecksumCaps;
  readonly tcp: ChecksumCaps;
}

export interface DriverCapabilities {
  readonly medium: Medium;
  /** Largest IP packet the link carries (the L3 MTU; the Ethernet header is extra). */
  readonly mtu: number;
  /** Largest number of frames one `receive()` call hands over. */
  readonly maxBatch: number;
  readonly checksum: ChecksumCapabilities;
  /**
   * TCP segmentation offload (TSO), when present: the driver takes IPv4 TCP packets (no IP options, DF set) of up
   * to `maxBytes` of IP length, above the MTU, and cuts them into MTU-sized segments itself, as a NIC or the
   * kernel's GSO does: every segment gets the first one's TCP header and options, its own sequence number, IP
   * length, IP ident (incremented) and checksums; CWR stays on the first segment only, FIN and PSH on the last
   * only. The stack says how many TCP payload bytes go in each segment with `txCommit`'s `segment`. A driver that
   * offers TSO also completes TCP checksums (caps.checksum.tcp.tx is 'offload').
   */
  readonly tso?: { readonly maxBytes: number } | undefined;
  /**
   * The TCP checksum offload (`checksum.tcp.tx` 'offload') and the TSO above apply to IPv6 frames too: TCP right
   * behind the fixed IPv6 header (no extension header), cut as Linux's GSO_TCPV6 does (RFC 8200 has no IP ident and
   * no DF: only the payload length changes per segment). Absent: IPv4 only, and TCP over IPv6 computes its own.
   */
  readonly ipv6Offload?: boolean | undefined;
  /**
   * Largest IP packet `receive()` may hand over, when the device coalesces received segments (GRO, LRO, a TAP
   * with TSO negotiated); default `mtu`. The stack accepts such packets as one segment.
   */
  readonly rxMaxPacket?: number | undefined;
}

export interface DriverStats {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames the driver dropped on receive (ring overrun, queue full). */
  rxDropped: number;
  /** Frames the driver could not send (no room, link down). */
  txDropped: number;
}

/**
 * Receives one frame; the view is valid only until the call returns. `flags` holds RxFlag bits (0 or absent:
 * nothing known about the frame beyond its bytes).
 */
export type FrameSink = (frame: Uint8Array, flags?: number) => void;

/**
 * Receives one frame as a range of the driver's memory: the frame is `buf[start, end)`, valid only until the call
 * returns (the rest of `buf` is not the sink's to read). `flags` as for FrameSink. The form without a view object
 * per frame (see FrameDriver.receiveRanges).
 */
export type RangeSink = (buf: Uint8Array, start: number, end: number, flags: number) => void;

/** Where FrameDriver.txLend put a transmit buffer: the frame goes at `buf[start, start + len)`. */
export interface TxLease {
  buf: Uint8Array;
  start: number;
}

/**
 * The optional frame-path members. Middleware has them only where it implements them and never forwards the inner
 * driver's (drivers/middleware/forward.ts): a fault injector that forwarded `receiveRanges` would let the stack
 * read past it.
 */
export const ZERO_COPY_MEMBERS = ['receiveRanges', 'txLend'] as const;

/** Per-frame facts a driver reports with a received frame. */
export const RxFlag = {
  /**
   * The device checked (or never needed) the TCP or UDP checksum of this frame: it was verified in hardware or
   * by the kernel (virtio DATA_VALID), or it comes from a local sender that leaves checksums partial (virtio
   * NEEDS_CSUM: the bytes never crossed a wire). The stack skips its own check. Middleware that alters a frame
   * must clear this bit.
   */
  L4ChecksumValid: 1,
} as const;

/**
 * A flow byway owns on an address it shares with the kernel: packets to (the shared address, `protocol`, `port`)
 * must reach byway. For ICMP, `port` is the echo identifier of byway's pings.
 */
export interface SteeredFlow {
  readonly protocol: 'tcp' | 'udp' | 'icmp';
  readonly port: number;
}

/**
 * Optional driver capability: the driver shares its interface's address with the kernel (AF_XDP shared-address
 * mode, the OpenOnload model) and steers to byway only the flows the stack claims; everything else goes to the
 * kernel. The stack claims a port when its first socket binds, listens or connects on it and releases it when the
 * last one (TIME-WAIT included) is gone.
 */
export interface FlowSteering {
  /**
   * Reserve `flow` in the kernel (so no kernel socket can take the port) and steer its packets to byway.
   * Returns false when the kernel already uses the port (another process holds it): the stack then answers
   * EADDRINUSE, or tries another ephemeral port. Throws a BywayError when steering itself fails (E2BIG: the
   * steering table is full; ERR_DRIVER_CLOSED). Claiming a flow already claimed is a misuse the stack never makes.
   */
  claim(flow: SteeredFlow): boolean;
  /** Stop steering `flow` and give the port back to the kernel. Releasing an unclaimed flow does nothing. */
  release(flow: SteeredFlow): void;
}

/** A route the kernel has for the interface. */
export interface HostRoute {
  readonly destination: { readonly address: number; readonly prefixLen: number };
  /** Next hop; undefined for an on-link route. */
  readonly gateway?: number | undefined;
  readonly metric: number;
  readonly mtu?: number | undefined;
}

/** An IPv6 route the kernel has for the interface (addresses of 16 bytes). */
export interface HostRoute6 {
  readonly destination: { readonly address: Uint8Array; readonly prefixLen: number };
  /** Next hop (often the router's link-local address); undefined for an on-link route. */
  readonly gateway?: Uint8Array | undefined;
  readonly metric: number;
  readonly mtu?: number | undefined;
}

/** What the driver tells the stack when the kernel's tables change. Called only from inside `receive()`. */
export interface HostTableListener {
  /** `mac` null: the kernel failed to resolve `ip`, or forgot it. */
  neighbour(ip: number, mac: Uint8Array | null): void;
  route(change: 'add' | 'delete', route: HostRoute): void;
  /** The same as `neighbour` for an IPv6 neighbour (16 bytes), when the tables mirror IPv6. */
  neighbour6?(ip: Uint8Array, mac: Uint8Array | null): void;
  route6?(change: 'add' | 'delete', route: HostRoute6): void;
}

/**
 * Optional driver capability: the kernel owns neighbour resolution and routing for the interface (shared-address
 * mode: ARP reaches the kernel, not byway), and the driver mirrors the kernel's tables (over netlink). The stack
 * then sends no ARP of its own: it asks the kernel to resolve (`resolve`) and learns the answer from the listener.
 */
export interface HostTables {
  /** The interface's IPv4 addresses with their prefix, as the kernel has them. */
  addresses(): readonly { readonly address: number; readonly prefixLen: number }[];
  /** The kernel's IPv4 routes through the interface (main table), on-link prefixes included. */
  routes(): readonly HostRoute[];
  /** The kernel's neighbours on the interface that have a usable MAC. */
  neighbours(): readonly { readonly ip: number; readonly mac: Uint8Array }[];
  /** The kernel's usable MAC for `ip`, from the mirror (no syscall), or undefined. The caller does not keep the view. */
  neighbour(ip: number): Uint8Array | undefined;
  /** Ask the kernel to resolve `ip` as if it had a packet for it; the answer (or a failure) reaches the listener. */
  resolve(ip: number): void;
  setListener(listener: HostTableListener | null): void;
  /**
   * IPv6, when the kernel keeps NDP for the shared address too: the interface's usable IPv6 addresses, its IPv6
   * routes (changes reach `route6`), the kernel's IPv6 neighbour for `ip` (from the mirror), and a request that the
   * kernel resolve `ip` (it sends the neighbor solicitation; the answer reaches `neighbour6`). Absent, or no addresses: the address is shared for
   * IPv4 only.
   */
  addresses6?(): readonly { readonly address: Uint8Array; readonly prefixLen: number }[];
  /** The kernel's IPv6 routes through the interface (main table), default route included. */
  routes6?(): readonly HostRoute6[];
  neighbour6?(ip: Uint8Array): Uint8Array | undefined;
  resolve6?(ip: Uint8Array): void;
}

/**
 * Optional driver capability: the driver picks received IPv6 by destination address (AF_XDP own-address mode, whose
 * program passes everything else to the kernel), so it must know the stack's IPv6 addresses as they change:
 * configured ones, the link-local one, SLAAC ones as routers announce prefixes, any added later. The stack calls
 * `setIpv6Addresses` with its whole set (tentative addresses included: DAD needs their neighbour discovery) when it
 * starts and after every change; the driver then steers packets to them, and NDP about them, to the stack.
 * Throws a BywayError only when steering itself fails (E2BIG: the driver's table is full).
 */
export interface AddressSteering {
  setIpv6Addresses(addresses: readonly Uint8Array[]): void;
}

export interface FrameDriver {
  readonly caps: DriverCapabilities;
  /** The link-layer address the driver owns or shares, if it has one (6 bytes for Ethernet). */
  readonly hwAddress?: Uint8Array | undefined;
  readonly stats: DriverStats;
  /** Present when the driver shares its address with the kernel and steers claimed flows to byway. */
  readonly flows?: FlowSteering | undefined;
  /** Present when the kernel resolves neighbours and keeps routes for the interface (see HostTables). */
  readonly hostTables?: HostTables | undefined;
  /** Present when the driver must be told the stack's IPv6 addresses to receive their packets (AddressSteering). */
  readonly addressSteering?: AddressSteering | undefined;

  /** Hand up to `max` received frames to `sink`; returns how many were handed over. */
  receive(now: number, max: number, sink: FrameSink): number;
  /**
   * Optional, the same as `receive` without a view object per frame: each frame is handed over as a range of the
   * driver's memory. The stack uses it when present. Middleware offers it only if it implements it.
   * Unlike receive(), it returns fewer than `max` (and its batch limit) only when nothing more can be taken now
   * (the ring is empty, or holds nothing more until this batch is released): the stack then asks no more in
   * this poll. A driver whose `wait` took the ready batch (the native drivers) hands that batch over first, and
   * alone: "now" is then the moment the spin returned.
   */
  receiveRanges?(now: number, max: number, sink: RangeSink): number;
  /** Lend a transmit buffer of exactly `len` bytes, or null when there is no room now. */
  txReserve(len: number): Uint8Array | null;
  /**
   * Optional, the same as `txReserve` without a view object per frame: lends `len` bytes at
   * `lease.buf[lease.start, lease.start + len)` (the caller's object, filled in) and returns true, or false when
   * there is no room now. `txCommit` then sends it as after `txReserve`. Middleware offers it only if it implements it.
   */
  txLend?(len: number, lease: TxLease): boolean;
  /**
   * Queue the reserved buffer's first `len` bytes for sending. `segment` (only with `caps.tso`, only for an IPv4
   * TCP packet above the MTU): the TCP payload bytes per segment the driver cuts the packet into.
   */
  txCommit(now: number, len: number, segment?: number): boolean | void;
  /** Push queued frames to the link (a doorbell or a syscall, for real drivers). */
  flush(now: number): void;
  /**
   * The earliest time the driver needs attention on its own (held frames), `now` when received frames are already
   * waiting, or undefined. Never throws (a closed driver needs no attention).
   */
  pollAt?(now: number): number | undefined;
  /**
   * Optional: busy-wait (in native code, without returning to the event loop) up to `spinUs` microseconds until
   * `receive()` would yield frames. True when frames are waiting (or the driver wants a poll now), false when the
   * time ran out. The driver may take the waiting frames off its ring already (in the same call into native
   * code); they are then the next `receive()`/`receiveRanges()`'s, and `pollAt` answers `now` until it ran. The poll loop calls it after an empty poll instead of spinning through event-loop turns; a
   * driver without it (the memory link) is polled as before. Middleware passes it through when it holds nothing.
   * Throws only as `receive()` does (closed driver, link gone).
   */
  wait?(now: number, spinUs: number): boolean;
  /**
   * Optional: receive frames to multicast MAC `mac` ('add') or stop ('drop'), for a group the stack joined or
   * left (01:00:5e:xx for IPv4, RFC 1112 6.4). AF_PACKET joins the MAC on the device (PACKET_ADD_MEMBERSHIP);
   * a driver that receives every frame (TAP, the memory link) has none. Calls are balanced per MAC; failures are
   * counted by the driver, never thrown (the group is then received only if the device passes it anyway).
   */
  multicastMembership?(op: 'add' | 'drop', mac: Uint8Array): void;
  /**
   * Readiness: the driver calls `cb` (possibly synchronously, from inside txCommit of a peer) when `receive()`
   * may yield frames. The poll loop uses it to schedule a poll; tests ignore it and poll directly.
   */
  setReadyCallback(cb: (() => void) | null): void;
  /** Release every resource; further use throws `ERR_DRIVER_CLOSED`. Idempotent. */
  close(): void;
}

export function newDriverStats(): DriverStats {
  return { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxDropped: 0, txDropped: 0 };
}

/** Checksums done in software both ways: the safe default for links that offload nothing. */
export const SOFTWARE_CHECKSUMS: ChecksumCapabilities = {
  ipv4: { tx: 'compute', rx: 'verify' },
  icmp: { tx: 'compute', rx: 'verify' },
  udp: { tx: 'compute', rx: 'verify' },
  tcp: { tx: 'compute', rx: 'verify' },
};

/**
 * TCP and UDP checksums left to the device on transmit (a virtio-net header with NEEDS_CSUM: TAP with checksum
 * offload or TSO, AF_PACKET with TSO); everything received is still verified, unless a frame says otherwise (RxFlag).
 */
export const TX_L4_OFFLOAD: ChecksumCapabilities = {
  ipv4: { tx: 'compute', rx: 'verify' },
  icmp: { tx: 'compute', rx: 'verify' },
  udp: { tx: 'offload', rx: 'verify' },
  tcp: { tx: 'offload', rx: 'verify' },
};

export { BywayError } from '../protocols/util/errors.js';
