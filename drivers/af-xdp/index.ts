/**
 * AF_XDP driver: a FrameDriver over an AF_XDP socket bound to one queue of an interface. The UMEM (the frame
 * memory the kernel and byway share) is one external ArrayBuffer: received frames are views into it, transmitted
 * frames are written in place into it. A hand-assembled XDP program (drivers/native/src/xdp.c) decides which
 * frames come to byway:
 *
 * - mode 'own' (own-address): byway has its own IPv4 address on the link. Every IPv4 packet to that address and
 *   every ARP packet whose target is that address is redirected to byway; everything else goes to the kernel.
 *   With `ipv6` (byway's IPv6 address, or `true` for none yet), IPv6 comes to byway by destination: the program
 *   has a map of byway's IPv6 addresses, which the stack keeps current through `addressSteering` (SLAAC
 *   addresses, the link-local one, any added later), and redirects packets to them, the neighbor solicitations
 *   and advertisements about them, and (`routerAdvertisements`, default true) router advertisements and
 *   redirects to all-nodes. The MAC is the interface's, so is the link-local address derived from it: where the
 *   kernel uses IPv6 on the interface it has that one (give the stack `ipv6: { linkLocal: false }`).
 * - mode 'shared' (shared-address): byway shares the kernel's address. Only flows listed in a BPF hash map go to
 *   byway: (address, protocol, destination port) for TCP/UDP, (address, ICMP, echo identifier) for echo
 *   replies. JS edits the map with addFlow/removeFlow; ARP and everything else stay with the kernel. With
 *   `ipv6: true` the same for IPv6: flows keyed by (protocol, port) to any of the interface's IPv6 addresses, a
 *   claim reserving the port for both families; NDP stays with the kernel, and the stack reads its IPv6
 *   neighbours and asks it to resolve (hostTables.resolve6).
 *
 * The bind mode ('copy' or 'zerocopy') and the attach mode ('native' or 'generic') actually obtained are
 * reported in `bindMode` / `attachMode`. With 'auto' the better one is tried first; an explicit request that the
 * device cannot honour fails with ERR_XDP_UNSUPPORTED; there is never a silent downgrade.
 *
 * Shared mode also gives the stack the two optional FrameDriver capabilities (drivers/types.ts):
 * - `flows` (FlowSteering): claim = reserve the port in the kernel (a socket bound without SO_REUSEADDR, so no
 *   kernel socket can take it and the kernel's ephemeral choice skips it), then add the flow to the map; false
 *   when the kernel already holds the port. ICMP claims (echo identifiers) reserve nothing. release = remove the
 *   flow, then free the reservation.
 * - `hostTables` (HostTables): a KernelTables (drivers/netlink) mirroring the kernel's addresses, routes and
 *   neighbours for the interface, drained from receive() (so the listener runs inside receive), its pollAt folded
 *   into the driver's. ARP stays with the kernel; the stack asks it to resolve.
 * In shared mode `ipv4` defaults to the interface's first IPv4 address as the kernel reports it. In own mode
 * both capabilities are undefined.
 *
 * need_wakeup is on by default (the kernel is only kicked when it asks). Closing the driver detaches the
 * program (it is attached through a BPF link, which the kernel also drops if the process dies).
 * Throws BywayError at open (see drivers/native/index.ts nativeError); ENODEV when the interface goes away.
 */
import {
  SOFTWARE_CHECKSUMS,
  BywayError,
  type DriverCapabilities,
  type FlowSteering,
  type RangeSink,
  type HostTables,
  type SteeredFlow,
  type AddressSteering,
} from '../types.js';
import { invalidArg } from '../../protocols/util/errors.js';
import { parseIpv4 } from '../../protocols/ipv4/address.js';
import { parseIpv6 } from '../../protocols/ipv6/address.js';
import { loadNative, nativeError, type NativeAddon, type NativeHandle, type NativeOpenInfo, type NativeXdpConfig, type NativeXdpStats } from '../native/index.js';
import { positiveInt } from '../options.js';
import { NativeRingDriver } from '../native/ring-driver.js';
import { KernelTables, type KernelTablesOptions } from '../netlink/index.js';
import { PRIMARY_HOLDER, SharedFlows, adoptReservation, atomicsLock, dropHolder, finishOrphan, flowHolders, mapLock, type FlowLock, type FlowMapAccess, type LostReservation } from './flow-table.js';

export type XdpMode = 'own' | 'shared';
export type XdpBindMode = 'copy' | 'zerocopy';
export type XdpAttachMode = 'native' | 'generic';

export interface AfXdpOptions {
  readonly ifname: string;
  readonly netns?: string;
  /** Default 'own'. */
  readonly mode?: XdpMode;
  /** own: byway's address (this or ipv6 required). shared: the kernel's address byway shares (the default flow address). */
  readonly ipv4?: string;
  /**
   * own: byway's IPv6 address ('fd00::2'), or true for IPv6 without one yet (SLAAC): IPv6 to byway's addresses,
   * NDP about them and router messages to all-nodes are redirected to byway. The stack adds its addresses as it
   * gets them (`addressSteering`).
   * shared: true to share the interface's IPv6 addresses too: flows are steered for IPv6 as well (to any of them),
   * the kernel keeps NDP, and `hostTables` mirrors its IPv6 addresses and neighbours (`addresses6`, `resolve6`).
   */
  readonly ipv6?: string | true;
  /**
   * own mode with ipv6: redirect router advertisements and redirects sent to all-nodes to byway (router discovery,
   * SLAAC). Default true. The kernel on the interface then no longer sees them (XDP cannot hand a frame to both).
   */
  readonly routerAdvertisements?: boolean;
  /** Receive queue to bind (default 0). The program redirects that queue's frames only. */
  readonly queue?: number;
  /**
   * Queues the program's XSKMAP has room for (default queue + 1). `openAfXdpQueues` opens one socket per queue
   * under one program.
   */
  readonly queues?: number;
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
   * (the field equals the pseudo-header sum and the checksum does not verify) and completes it, in one pass over
   * the segment, and flags it RxFlag.L4ChecksumValid (the stack does not sum it again). One compare per frame
   * otherwise. (A veth peer of an interface with XDP attached loses TSO, so frames stay MTU-sized here.)
   */
  readonly repairPartialChecksums?: boolean;
  /**
   * Shared mode: options for the kernel-table mirror (`hostTables`): drain interval (default 100 ms), resolve
   * timeout, table limits. ifname and netns are the driver's.
   */
  readonly hostTables?: Omit<KernelTablesOptions, 'ifname' | 'netns'>;
  /**
   * The XSKMAP of an XDP program this process attached (`openAfXdpProgram(...).xskMapFd`): the socket takes the
   * map's slot for `queue` instead of attaching a program of its own (own-address mode; the program's address is
   * the one that counts). Closing the socket empties the slot: the program passes that queue's frames to the
   * kernel until another socket takes it.
   */
  readonly xskMapFd?: number;
  /** How long open() retries a bind refused with EBUSY (the queue's previous socket is still being torn down). Default 1500 ms. */
  readonly bindRetryMs?: number;
  /**
   * Shared mode with `xskMapFd`: the flow map of the program (`openAfXdpProgram({ mode: 'shared' })`), shared with
   * the process's other sockets under it (a cluster's workers: flow-table.ts). `flows` then counts this socket as
   * holder `holder` (0..63) of each flow it claims: one entry and one kernel reservation per port whoever claims
   * it, the last holder's release giving it back to the kernel. Between threads of one process, `lock` is the
   * table's lock, one SharedArrayBuffer for all holders, and the reservations are the process's. Without `lock`
   * (worker processes), the lock is a key of the map and each reservation the reserving process's: `orphaned`
   * is told when a release leaves an entry whose reservation another process owns (the supervisor finishes it,
   * `AfXdpProgram.finishOrphan`, and asks the owner to close it: `closeReservation`).
   */
  readonly sharedFlows?: {
    readonly flowMapFd: number;
    readonly holder: number;
    readonly lock?: SharedArrayBuffer;
    readonly orphaned?: (protocol: number, port: number, address: number) => void;
    /** Without `lock`: a claim joined a flow whose reservation another process owns (the supervisor adopts it). */
    readonly shared?: (protocol: number, port: number, address: number) => void;
  };
}

export interface XdpFlow {
  readonly protocol: 'tcp' | 'udp' | 'icmp';
  /** TCP/UDP: byway's (destination) port. ICMP: the echo identifier of byway's pings. */
  readonly port: number;
  /** Default: the driver's `ipv4`. */
  readonly address?: string;
  /** 6: the flow over IPv6, to any of the interface's IPv6 addresses (shared mode with `ipv6: true`). Default 4. */
  readonly family?: 4 | 6;
}

const PROTO = { icmp: 1, tcp: 6, udp: 17 } as const;

export class AfXdpDriver extends NativeRingDriver {
  readonly mode: XdpMode;
  readonly bindMode: XdpBindMode;
  readonly attachMode: XdpAttachMode;
  readonly queue: number;
  /** The program's XSKMAP (a descriptor of this process) when this driver attached the program, else -1. */
  readonly xskMapFd: number;
  readonly needWakeup: boolean;
  readonly ifHwAddress: Uint8Array;
  /** The IPv4 address flows default to: `ipv4`, or in shared mode the interface's first address. */
  readonly address: number | undefined;
  readonly flows: FlowSteering | undefined;
  readonly hostTables: HostTables | undefined;
  readonly addressSteering: AddressSteering | undefined;
  /** The kernel-table mirror behind `hostTables` (shared mode), for its stats. */
  readonly kernelTables: KernelTables | undefined;
  /** Claimed flows ("tcp/80") and their kernel port reservations (none for ICMP: nothing to reserve). */
  private readonly claims = new Map<string, NativeHandle[]>();
  /** Shared mode with `ipv6`: flows are steered for IPv6 too (any of the interface's IPv6 addresses). */
  readonly shares6: boolean;
  /** The driver whose program's IPv6 address map this one's addresses go into (itself, or the queue-0 driver). */
  private readonly programOwner: AfXdpDriver;
  /** Shared mode under a program's shared flow map (`sharedFlows`): the claims, counted per holder. */
  private readonly sharedFlows: SharedFlows | undefined;
  /** This driver's IPv6 addresses in that map (hex), and, on the owner, how many drivers put each there. */
  private addresses6 = new Set<string>();
  private readonly addr6Users = new Map<string, number>();

  constructor(
    native: NativeAddon,
    info: NativeOpenInfo,
    caps: DriverCapabilities,
    hw: Uint8Array,
    options: AfXdpOptions,
    address: number | undefined,
    tables?: KernelTables,
    owner?: AfXdpDriver,
  ) {
    super(native, info, caps, hw, { netns: options.netns, busyPoll: options.busyPoll !== undefined && options.busyPoll !== false });
    this.mode = info['program'] as XdpMode;
    this.bindMode = info['bindMode'] as XdpBindMode;
    this.attachMode = info['attachMode'] as XdpAttachMode;
    this.queue = info['queue'] as number;
    this.xskMapFd = info['xskMapFd'] as number;
    this.needWakeup = info['needWakeup'] as boolean;
    this.ifHwAddress = info['ifHwAddress'] as Uint8Array;
    this.address = address;
    this.kernelTables = tables;
    this.hostTables = tables;
    const sf = options.sharedFlows;
    this.shares6 = this.mode === 'shared' && info['ipv6'] === true;
    this.sharedFlows =
      this.mode === 'shared' && sf !== undefined && (address !== undefined || this.shares6)
        ? new SharedFlows({
            map: flowMapAccess(native, info.handle),
            lock: sf.lock ? atomicsLock(sf.lock) : mapLock(flowMapAccess(native, info.handle)),
            ownership: sf.lock ? 'process' : 'holder',
            orphaned: sf.orphaned,
            shared: sf.shared,
            holder: sf.holder,
            address,
            ipv6: this.shares6,
            reserve: (protocol, port, family) => native.portReserve(options.netns, protocol, address ?? 0, port, family, true),
            unreserve: (fd) => void native.portRelease(fd),
          })
        : undefined;
    this.flows = this.sharedFlows ?? (this.mode === 'shared' ? { claim: (f) => this.claim(f), release: (f) => this.release(f) } : undefined);
    this.programOwner = owner ?? this;
    this.addressSteering = this.mode === 'own' && info['ipv6'] === true ? { setIpv6Addresses: (a) => this.setIpv6Addresses(a) } : undefined;
  }

  /** AddressSteering: make the program's map hold exactly `addresses` for this driver. */
  private setIpv6Addresses(addresses: readonly Uint8Array[]): void {
    if (this.closed) return;
    const next = new Set(addresses.map((a) => Buffer.from(a.buffer, a.byteOffset, 16).toString('hex')));
    for (const k of this.addresses6) if (!next.has(k)) this.programOwner.address6(k, false);
    for (const k of next) if (!this.addresses6.has(k)) this.programOwner.address6(k, true);
    this.addresses6 = next;
  }

  /** On the program's owner: one more (or one less) driver wants `hex` steered. */
  private address6(hex: string, add: boolean): void {
    if (this.closed) return;
    const n = (this.addr6Users.get(hex) ?? 0) + (add ? 1 : -1);
    if (n > 0) this.addr6Users.set(hex, n);
    else this.addr6Users.delete(hex);
    if (add ? n !== 1 : n !== 0) return;
    const r = this.native.xdpAddress6(this.handle, Buffer.from(hex, 'hex'), add);
    if (r < 0) {
      throw new BywayError(r === -7 ? 'E2BIG' : 'ERR_XDP_ADDRESS', `could not ${add ? 'add' : 'remove'} an IPv6 address in the XDP program's map (errno ${-r})`);
    }
  }

  /**
   * FlowSteering.claim: reserve the port in the kernel (for IPv4 on the shared address, and with IPv6 on every
   * IPv6 address too), then steer it; false when the kernel holds the port in either family.
   */
  private claim(f: SteeredFlow): boolean {
    if (this.closed) throw new BywayError('ERR_DRIVER_CLOSED', 'the driver is closed');
    const key = `${f.protocol}/${f.port}`;
    if (this.claims.has(key)) throw new BywayError('ERR_INVALID_STATE', `flow ${key} is already claimed`);
    if (PROTO[f.protocol] === undefined) throw invalidArg(`flow protocol must be tcp, udp or icmp, got ${String(f.protocol)}`);
    if (!Number.isInteger(f.port) || f.port < 0 || f.port > 0xffff || (f.port === 0 && f.protocol !== 'icmp')) {
      throw invalidArg(`flow port must be in 1..65535, got ${f.port}`);
    }
    const reservations: NativeHandle[] = [];
    const families = [...(this.address !== undefined ? [4 as const] : []), ...(this.shares6 ? [6 as const] : [])];
    if (f.protocol !== 'icmp') {
      for (const family of families) {
        const r = this.native.portReserve(this.netns, f.protocol, this.address ?? 0, f.port, family);
        if (typeof r !== 'number') {
          reservations.push(r);
          continue;
        }
        for (const h of reservations) this.native.close(h);
        if (r === -98 /* EADDRINUSE */) return false;
        throw new BywayError(
          r === -99 ? 'EADDRNOTAVAIL' : r === -13 ? 'EACCES' : 'ERR_PORT_RESERVE',
          `could not reserve ${key} (IPv${family}) in the kernel${this.netns ? ` of namespace '${this.netns}'` : ''} (errno ${-r})`,
        );
      }
    }
    try {
      for (const family of families) this.addFlow({ protocol: f.protocol, port: f.port, family });
    } catch (e) {
      for (const family of families) this.removeFlow({ protocol: f.protocol, port: f.port, family });
      for (const h of reservations) this.native.close(h);
      throw e;
    }
    this.claims.set(key, reservations);
    return true;
  }

  /** FlowSteering.release: stop steering, then give the port back to the kernel. Unclaimed: nothing happens. */
  private release(f: SteeredFlow): void {
    const key = `${f.protocol}/${f.port}`;
    const reservations = this.claims.get(key);
    if (reservations === undefined) return;
    this.claims.delete(key);
    if (!this.closed) {
      if (this.address !== undefined) this.removeFlow({ protocol: f.protocol, port: f.port });
      if (this.shares6) this.removeFlow({ protocol: f.protocol, port: f.port, family: 6 });
    }
    for (const h of reservations) this.native.close(h);
  }

  /**
   * Shared flows across processes (`sharedFlows` without `lock`): the supervisor removed an orphan whose
   * reservation is this socket's descriptor `fd`: close it. False for a descriptor this socket does not keep.
   */
  closeReservation(fd: number): boolean {
    return this.sharedFlows?.closeReservation(fd) ?? false;
  }

  /** Flows claimed through `flows` and not released. */
  get claimedFlows(): number {
    return this.sharedFlows?.claimed ?? this.claims.size;
  }

  /** receive() comes here too (NativeRingDriver.receive hands its frames through receiveRanges). */
  override receiveRanges(now: number, max: number, sink: RangeSink): number {
    // The kernel tables first: their listener may only run inside receive() (drivers/types.ts).
    if (this.kernelTables && !this.closed) this.kernelTables.poll(now);
    return super.receiveRanges(now, max, sink);
  }

  override pollAt(now: number): number | undefined {
    const a = super.pollAt(now);
    const b = this.kernelTables?.pollAt(now);
    if (a === undefined) return b;
    return b === undefined ? a : Math.min(a, b);
  }

  override close(): void {
    if (this.closed) return;
    for (const rs of this.claims.values()) for (const r of rs) this.native.close(r);
    this.claims.clear();
    // Under a shared flow map: this holder's flows (the others' stay; the last holder's go back to the kernel).
    this.sharedFlows?.close();
    this.kernelTables?.close();
    super.close(); // detaches the program: the flows go with it
  }

  private flow(f: XdpFlow, add: boolean): void {
    if (this.closed) throw new BywayError('ERR_DRIVER_CLOSED', 'the driver is closed');
    if (this.mode !== 'shared') throw new BywayError('ERR_INVALID_STATE', 'flows exist only in shared-address mode');
    let proto: number | undefined = PROTO[f.protocol];
    if (proto === undefined) throw invalidArg(`flow protocol must be tcp, udp or icmp, got ${String(f.protocol)}`);
    if (!Number.isInteger(f.port) || f.port < 0 || f.port > 0xffff) throw invalidArg(`flow port must be in 0..65535, got ${f.port}`);
    const v6 = f.family === 6;
    if (v6 && !this.shares6) throw new BywayError('ERR_INVALID_STATE', 'IPv6 flows need the driver opened with ipv6: true');
    if (v6 && f.protocol === 'icmp') proto = 58; // ICMPv6 echo replies
    // IPv6 flows are keyed with address 0: any of the interface's IPv6 addresses (the program checks unicast).
    const addr = v6 ? 0 : f.address !== undefined ? parseIpv4(f.address) : this.address;
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

/**
 * One AF_XDP socket per receive queue of one interface, under one XDP program: the first driver (queue 0) attaches
 * the program, whose XSKMAP has a slot per queue; each other driver binds its queue and takes its slot (the program
 * redirects a frame to the socket of the queue it arrived on, `rx_queue_index`). Own-address mode only. The first
 * driver owns the program: closing it detaches the program for every queue, so close it last. How the device
 * spreads flows over its queues is its own affair (RSS; on a veth, the sender's transmit queue).
 */
export function openAfXdpQueues(options: AfXdpOptions & { readonly queues: number }): AfXdpDriver[] {
  const n = options.queues;
  if (!Number.isInteger(n) || n < 1 || n > 256) throw invalidArg(`queues must be an integer from 1 to 256, got ${String(n)}`);
  if ((options.mode ?? 'own') !== 'own') throw invalidArg("openAfXdpQueues: own-address mode only (mode 'own')");
  const first = openXdp({ ...options, queue: 0 });
  const out = [first];
  try {
    for (let q = 1; q < n; q++) out.push(openXdp({ ...options, queue: q }, first));
  } catch (e) {
    for (const d of out.reverse()) d.close();
    throw e;
  }
  return out;
}

export function openAfXdp(options: AfXdpOptions): AfXdpDriver {
  if (options?.xskMapFd === undefined) return openXdp(options);
  const fd = options.xskMapFd;
  if (!Number.isInteger(fd) || fd < 0) throw invalidArg(`xskMapFd must be a descriptor (an integer >= 0), got ${String(fd)}`);
  const shared = options.mode === 'shared';
  const sf = options.sharedFlows;
  if (shared !== (sf !== undefined)) throw invalidArg("xskMapFd: mode 'shared' needs sharedFlows (the program's flow map), mode 'own' takes none");
  if (sf !== undefined) {
    if (!Number.isInteger(sf.flowMapFd) || sf.flowMapFd < 0) throw invalidArg(`sharedFlows.flowMapFd must be a descriptor, got ${String(sf.flowMapFd)}`);
    if (sf.lock !== undefined && (!(sf.lock instanceof SharedArrayBuffer) || sf.lock.byteLength < 4)) throw invalidArg('sharedFlows.lock must be a SharedArrayBuffer of at least 4 bytes');
    if (!Number.isInteger(sf.holder) || sf.holder < 0 || sf.holder > 63) throw invalidArg(`sharedFlows.holder must be an integer from 0 to 63, got ${String(sf.holder)}`);
  }
  return openXdp(options, { xskMapFd: fd, attachMode: undefined });
}

/** The flow map through one of the process's handles on it (a shared-mode socket's, or a program's). */
function flowMapAccess(native: NativeAddon, handle: NativeHandle): FlowMapAccess & { insert(address: number, protocol: number, port: number, value: Uint8Array): boolean } {
  const fail = (r: number, what: string): never => {
    throw new BywayError(r === -7 ? 'E2BIG' : 'ERR_XDP_FLOW', `could not ${what} a flow in the shared flow map (errno ${-r})${r === -7 ? ': the flow map is full: raise flowMapSize' : ''}`);
  };
  return {
    get: (address, protocol, port) => {
      const r = native.xdpFlowEntry(handle, address, port, protocol);
      if (typeof r === 'number') return fail(r, 'read');
      return r;
    },
    put: (address, protocol, port, value) => {
      const r = native.xdpFlowEntry(handle, address, port, protocol, value) as number;
      if (r < 0) fail(r, 'write');
    },
    insert: (address, protocol, port, value) => {
      const r = native.xdpFlowEntry(handle, address, port, protocol, value, true) as number;
      if (r === -17) return false;
      if (r < 0) fail(r, 'insert');
      return true;
    },
    remove: (address, protocol, port) => {
      const r = native.xdpFlow(handle, address, port, protocol, false);
      if (r < 0) fail(r, 'remove');
    },
    list: () => {
      for (let cap = 256; ; cap *= 4) {
        const buf = new Uint8Array(cap * 24);
        const n = native.xdpFlowList(handle, buf);
        if (n < 0) return fail(n, 'list');
        if (n < cap) {
          const dv = new DataView(buf.buffer);
          return Array.from({ length: n }, (_, i) => ({
            address: dv.getUint32(i * 24, true),
            port: dv.getUint16(i * 24 + 4, true),
            protocol: buf[i * 24 + 6]!,
            value: buf.slice(i * 24 + 8, i * 24 + 24),
          }));
        }
      }
    },
  };
}

/**
 * An XDP program with its XSKMAP, attached to an interface with no socket of its own: the program redirects each
 * frame it takes (own-address mode: every one for byway's address; shared-address mode: those of the flows in its
 * flow map, which the sockets under it share: flow-table.ts) to the socket in the XSKMAP slot of the queue it
 * arrived on, and passes it to the kernel when that slot is empty. Sockets join it with `openAfXdp({ ..., queue, xskMapFd })`,
 * from any thread of this process (the descriptor table is the process's). Whoever holds it keeps the program
 * attached whatever happens to the sockets: a cluster's primary (src/cluster), whose workers each bind a queue.
 * close() detaches the program (so does the process's end: it is attached through a BPF link).
 */
export class AfXdpProgram {
  private closed = false;
  /** @internal use openAfXdpProgram */
  constructor(
    private readonly native: NativeAddon,
    private readonly handle: NativeHandle,
    /** The XSKMAP's descriptor in this process. */
    readonly xskMapFd: number,
    readonly attachMode: XdpAttachMode,
    readonly queues: number,
    readonly mode: XdpMode = 'own',
    /** Shared mode: the flow map's descriptor in this process (sockets joining take `sharedFlows.flowMapFd`), else -1. */
    readonly flowMapFd = -1,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** Shared mode: the flows in the map now (address and port host order, protocol number, holders). */
  flows(): Array<{ address: number; protocol: number; port: number; holders: number[] }> {
    if (this.closed || this.mode !== 'shared') return [];
    return flowMapAccess(this.native, this.handle)
      .list()
      .map((e) => ({ address: e.address, protocol: e.protocol, port: e.port, holders: flowHolders(e.value) }));
  }

  /**
   * Shared mode: holder `holder` has ended (a worker died): free the lock if it kept it and clear its bit in every
   * flow; the flows no one holds now go back to the kernel with their reservations (flow-table.ts `dropHolder`).
   * `lock`: the threads' SharedArrayBuffer. Without it (worker processes, `procs`): the map's own lock, each
   * reservation its process's; a dead worker's that others still hold is reserved again here, in `procs.netns`,
   * and one a live worker owns is closed by asking it (`procs.unreserve`).
   */
  dropHolder(
    lock: SharedArrayBuffer | undefined,
    holder: number,
    procs?: { readonly netns?: string; readonly unreserve: (owner: number, fd: number) => void },
  ): { released: number; kept: number; reserved: number; lost: LostReservation[] } {
    if (this.closed || this.mode !== 'shared') return { released: 0, kept: 0, reserved: 0, lost: [] };
    const map = flowMapAccess(this.native, this.handle);
    const l: FlowLock = lock ? atomicsLock(lock) : mapLock(map);
    return dropHolder(map, l, holder, {
      unreserve: (fd, owner) => this.unreserve(fd, owner, procs),
      // An IPv6 entry is keyed with address 0 (any of the interface's IPv6 addresses): reserved on [::].
      reserve: procs && ((protocol, port, address) => this.native.portReserve(procs.netns, protocol, address, port, address === 0 ? 6 : 4, true)),
    });
  }

  /**
   * Shared mode across processes: a worker left an orphan (a flow with no holder whose reservation another process
   * owns): remove it unless a holder took it meanwhile, and close its reservation. False when it stays.
   */
  finishOrphan(protocol: number, port: number, address: number, unreserve: (owner: number, fd: number) => void): boolean {
    if (this.closed || this.mode !== 'shared') return false;
    const map = flowMapAccess(this.native, this.handle);
    return finishOrphan(map, mapLock(map), { address, protocol, port }, { unreserve: (fd, owner) => this.unreserve(fd, owner, { unreserve }) });
  }

  /**
   * Shared mode across processes: make the reservation of one flow this process's own while its owner (worker
   * `owner`, process `pidOf(owner)`) lives: a duplicate of its descriptor (pidfd_getfd(2)) is recorded in the entry,
   * and `unreserve` asks the owner to close its own. So the port stays reserved whichever worker dies. 'adopted',
   * 'none' (nothing to adopt), or the errno of the failed duplication (ESRCH: the owner is gone).
   */
  adoptReservation(
    protocol: number,
    port: number,
    address: number,
    pidOf: (owner: number) => number | undefined,
    unreserve: (owner: number, fd: number) => void,
  ): 'adopted' | 'none' | number {
    if (this.closed || this.mode !== 'shared') return 'none';
    const map = flowMapAccess(this.native, this.handle);
    return adoptReservation(map, mapLock(map), { address, protocol, port }, {
      take: (owner, fd) => {
        const pid = pidOf(owner);
        return pid === undefined ? -3 /* ESRCH */ : this.native.fdAdopt(pid, fd);
      },
      unreserve: (fd, owner) => unreserve(owner, fd),
    });
  }

  /**
   * Shared mode: per receive queue, the frames of byway's flows dropped since the program was attached because the
   * queue's slot had no socket (its worker gone: queue q's clients time out until a worker binds it again). Empty in
   * own-address mode (such frames go to the kernel there).
   */
  unboundDrops(): number[] {
    if (this.closed || this.mode !== 'shared') return [];
    const out = new Float64Array(this.queues);
    const n = this.native.xdpUnbound(this.handle, new Uint8Array(out.buffer));
    return n < 0 ? [] : Array.from(out.subarray(0, n));
  }

  private unreserve(fd: number, owner: number, procs: { readonly unreserve: (owner: number, fd: number) => void } | undefined): void {
    if (owner === PRIMARY_HOLDER || procs === undefined) this.native.portRelease(fd);
    else procs.unreserve(owner, fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close(this.handle);
  }
}

export function openAfXdpProgram(
  options: Pick<AfXdpOptions, 'ifname' | 'netns' | 'ipv4' | 'ipv6' | 'attachMode' | 'mode' | 'flowMapSize'> & { readonly queues: number },
): AfXdpProgram {
  const queues = options?.queues;
  if (!Number.isInteger(queues) || queues < 1 || queues > 256) throw invalidArg(`queues must be an integer from 1 to 256, got ${String(queues)}`);
  const mode = options.mode ?? 'own';
  const { native, info, tables } = openNative({ ...options, mode, queue: 0 }, undefined, true);
  tables?.close(); // shared mode: the address came from the kernel; the sockets keep their own mirrors
  // A queue with no socket in the XSKMAP passes its frames to the kernel: the flows the device's RSS puts there would
  // never reach byway. Refused, not left to fail one flow in n (-1: the device does not say).
  const rxQueues = info['rxQueues'] as number;
  if (rxQueues > queues) {
    native.close(info.handle);
    throw new BywayError(
      'ERR_XDP_QUEUES',
      `'${options.ifname}' receives on ${rxQueues} queues and the program was asked for ${queues}: the flows the device puts on queues ${queues}..${rxQueues - 1} would not reach byway. Use ${rxQueues} workers (one per queue), or give the device ${queues} (ethtool -L ${options.ifname} combined ${queues}, or rx ${queues} on a veth).`,
    );
  }
  return new AfXdpProgram(native, info.handle, info['xskMapFd'] as number, info['attachMode'] as XdpAttachMode, queues, mode, info['flowMapFd'] as number);
}

type ProgramOwner = { readonly xskMapFd: number; readonly attachMode: XdpAttachMode | undefined };

/** `owner`: the program this socket joins (its XSKMAP slot for `options.queue`), a driver's or an AfXdpProgram's. */
function openXdp(options: AfXdpOptions, owner?: ProgramOwner): AfXdpDriver {
  const { native, info, ipv4, tables, ipv6, ipv6On } = openNative(options, owner, false);
  const caps: DriverCapabilities = { medium: 'ethernet', mtu: info.mtu, maxBatch: info.maxBatch, checksum: SOFTWARE_CHECKSUMS };
  // Received frames start XDP_PACKET_HEADROOM (256) bytes into their chunk.
  if (info.mtu + 18 > info.frameCap - 256) {
    native.close(info.handle);
    tables?.close();
    throw invalidArg(`frameSize ${info.frameCap} is too small for MTU ${info.mtu} (AF_XDP frames cannot span chunks)`);
  }
  const hw = options.hwAddress ? new Uint8Array(options.hwAddress) : new Uint8Array(info['ifHwAddress'] as Uint8Array);
  // A socket that joined another's program reports that program's attach mode.
  const shown = { ...info, attachMode: owner?.attachMode ?? info['attachMode'], ipv6: ipv6On };
  // IPv6 addresses go into the address map of the driver that loaded the program (openAfXdpQueues' first); a
  // socket joining by descriptor alone (a cluster worker's) has no map of its own to steer by.
  const driver = new AfXdpDriver(native, shown, caps, hw, options, ipv4, tables, owner instanceof AfXdpDriver ? owner : undefined);
  // The configured address is steered from the start (a stack replaces the set with its own when it starts).
  if (ipv6 !== undefined) driver.addressSteering!.setIpv6Addresses([ipv6]);
  return driver;
}

/** Check the options and open the socket (or, `programOnly`, only the program) in the addon. */
function openNative(
  options: AfXdpOptions,
  owner: ProgramOwner | undefined,
  programOnly: boolean,
): { native: NativeAddon; info: NativeOpenInfo; ipv4: number | undefined; tables: KernelTables | undefined; ipv6: Uint8Array | undefined; ipv6On: boolean } {
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
  let ipv6: Uint8Array | undefined;
  if (options.ipv6 !== undefined && options.ipv6 !== true) {
    ipv6 = typeof options.ipv6 === 'string' ? parseIpv6(options.ipv6) : undefined;
    if (ipv6 === undefined) throw invalidArg(`ipv6 must be an IPv6 address or true, got ${String(options.ipv6)}`);
  }
  const ipv6On = options.ipv6 !== undefined;
  if (ipv6On && mode === 'shared' && options.ipv6 !== true) throw invalidArg('shared-address mode: ipv6 is true (the addresses are the kernel\'s) or absent');
  if (options.routerAdvertisements !== undefined && typeof options.routerAdvertisements !== 'boolean') throw invalidArg('routerAdvertisements must be a boolean');
  if (mode === 'own' && (ipv4 === undefined || ipv4 === 0) && !ipv6On) throw invalidArg("own-address mode needs byway's ipv4 address (or ipv6)");
  if (options.hwAddress !== undefined && options.hwAddress.length !== 6) throw invalidArg('hwAddress must be 6 bytes');
  let tables: KernelTables | undefined;
  if (mode === 'shared') {
    tables = KernelTables.open(native, { ...options.hostTables, ifname: options.ifname, netns: options.netns, ipv6: ipv6On });
    if (ipv4 === undefined) {
      ipv4 = tables.addresses()[0]?.address;
      if (ipv4 === undefined && !ipv6On) {
        tables.close();
        throw invalidArg(`shared-address mode: '${options.ifname}' has no IPv4 address in the kernel; add one or pass ipv4`);
      }
    }
  }
  const queue = positiveInt('queue', options.queue, 0, 0, 255);
  let info: NativeOpenInfo;
  try {
    const config: NativeXdpConfig = {
      netns: options.netns ?? '',
      ifname: options.ifname,
      program: mode,
      bindMode: options.bindMode ?? 'auto',
      attachMode: options.attachMode ?? 'auto',
      queue,
      queues: positiveInt('queues', options.queues, queue + 1, queue + 1, 256),
      frameSize: options.frameSize ?? 2048,
      // Sized for the gaps a shared machine puts between two polls (5-20 ms measured, docs/receive-path.md): a
      // 2048-slot rx ring holds about 5 ms at 400 k frames/s; 1024 overflowed under every bulk load.
      frameCount: positiveInt('frameCount', options.frameCount, 8192, 16, 1 << 24),
      ringSize: positiveInt('ringSize', options.ringSize, 2048, 8, 1 << 24),
      maxBatch: positiveInt('maxBatch', options.maxBatch, 64, 1, 1 << 24),
      ipv4: ipv4 ?? 0,
      ipv6: ipv6On,
      routerAdvertisements: options.routerAdvertisements ?? true,
      flowMapSize: positiveInt('flowMapSize', options.flowMapSize, 1024, 1, 1 << 24),
      busyPollUs: typeof options.busyPoll === 'number' ? positiveInt('busyPoll', options.busyPoll, 0, 0, 1 << 20) : 0,
      bindRetryMs: positiveInt('bindRetryMs', options.bindRetryMs, 1500, 0, 60000),
      needWakeup: options.needWakeup ?? true,
      xskMapFd: owner ? owner.xskMapFd : -1,
      flowMapFd: owner && options.sharedFlows ? options.sharedFlows.flowMapFd : -1,
      repairPartialChecksums: options.repairPartialChecksums ?? true,
      programOnly,
    };
    info = native.open('xdp', config);
  } catch (e) {
    tables?.close();
    throw nativeError(e, 'xdp', options.ifname, options.netns);
  }
  return { native, info, ipv4, tables, ipv6, ipv6On };
}
