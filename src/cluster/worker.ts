/**
 * The worker side of a byway cluster (cluster.ts starts it): in a worker thread, open this worker's queue (an
 * AF_PACKET fanout member with byway's steering program, a multi-queue TAP queue, or an AF_XDP socket bound into
 * the primary's XSKMAP), relay ARP between the workers (a BroadcastChannel), make
 * the stack with this worker's settings (plan.ts: its ephemeral slice, whether it answers ARP), tell the primary the
 * socket is open, then run the program's file, which finds its stack with `clusterWorker()`, and tell the primary
 * it is ready once the file's top level has run.
 *
 * Messages from the primary: 'stats' and 'connections' (answered with this worker's), 'program' (install a new
 * steering program for the group), 'arp' (take or give up answering ARP), 'stray' (a segment another worker held
 * no connection for: strays.ts), 'close' (close the stack and end).
 * The stack is closed, and with it the socket (the kernel removes the member), when the thread ends for any reason:
 * the addon's environment clean-up closes what is still open.
 */
import { BroadcastChannel, parentPort, workerData } from 'node:worker_threads';
import { openAfPacket, type AfPacketDriver } from '../../drivers/af-packet/index.js';
import { openTap } from '../../drivers/tap/index.js';
import { openAfXdp } from '../../drivers/af-xdp/index.js';
import { relay } from '../../drivers/middleware/relay.js';
import type { FrameDriver } from '../../drivers/types.js';
import { createStack, type Stack, type StackOptions } from '../api/stack.js';
import { everyWorkerSees, fanoutRelays, sliceOwner, withWorkerLimits, workerSettings } from './plan.js';
import { sharedCookies } from './cookies.js';
import { HalfOpens, StrayRelay, type HalfOpenCounters, type StrayCounters } from './strays.js';
import type { StackStats } from '../stack/stats.js';

/** What the primary hands a worker (structured-cloneable). */
export interface WorkerInit {
  readonly id: string;
  readonly index: number;
  readonly workers: number;
  readonly group: number;
  readonly program: Uint8Array;
  readonly answerArp: boolean;
  readonly driver: ClusterDriverOptions;
  /** Undefined on a shared-address AF_XDP cluster: the stacks take the kernel's address. */
  readonly address: string | readonly string[] | undefined;
  readonly stack: ClusterStackOptions;
  /** The program file each worker runs, as a URL. */
  readonly file: string;
  /** Anything the primary passes along (`ClusterOptions.data`). */
  readonly data: unknown;
  /** AF_XDP: the XSKMAP of the primary's program (a descriptor of this process), whose slot `index` this worker takes. */
  readonly xskMapFd?: number;
  /** The cluster's SYN-cookie secret (cookies.ts): every worker validates the cookies of the others. */
  readonly cookieKey: Uint8Array;
  /** Shared-address AF_XDP: the program's flow map (a descriptor of this process) and its lock (drivers/af-xdp/flow-table.ts). */
  readonly sharedFlows?: { readonly flowMapFd: number; readonly lock: SharedArrayBuffer };
}

/**
 * The queue each worker opens: an AF_PACKET fanout member on `ifname` (every worker on the same interface), or a
 * queue of a multi-queue TAP device `name` (IFF_MULTI_QUEUE; the kernel picks the queue: see cluster.ts).
 */
export type ClusterDriverOptions = ClusterAfPacketOptions | ClusterTapOptions | ClusterAfXdpOptions;

/**
 * AF_XDP queues of one interface, worker i on receive queue i (the device needs as many queues as workers), under
 * one XDP program the primary attaches and holds: own-address mode (byway's address is not the kernel's), or
 * shared-address mode (the kernel's address: the workers steer only the flows they claim, through one flow map).
 */
export interface ClusterAfXdpOptions {
  readonly kind: 'af-xdp';
  readonly ifname: string;
  readonly netns?: string;
  /**
   * 'own' (default): the cluster's `address` is byway's own. 'shared': the interface's IPv4 address, shared with the
   * kernel (the cluster takes no `address`): a port a worker binds, listens or connects on is steered to the
   * workers and reserved in the kernel once, whoever else holds it; the rest stays the kernel's.
   */
  readonly mode?: 'own' | 'shared';
  /**
   * Shared mode: true to share the interface's IPv6 addresses too (as `afXdp({ mode: 'shared', ipv6: true })`): a
   * port a worker claims is steered and reserved over IPv6 as well, NDP stays with the kernel, and each stack takes
   * the kernel's IPv6 addresses and neighbours.
   */
  readonly ipv6?: true;
  /** Shared mode: the flow map's capacity (default 1024). */
  readonly flowMapSize?: number;
  /** Default 'auto' (native, else generic; a generically attached program sees every frame on queue 0 on veth). */
  readonly attachMode?: 'native' | 'generic' | 'auto';
  readonly bindMode?: 'copy' | 'zerocopy' | 'auto';
  readonly busyPoll?: boolean | number;
  /** byway's MAC (default: the interface's; the XDP program matches byway's address, not the MAC). */
  readonly hwAddress?: Uint8Array;
}

export interface ClusterTapOptions {
  readonly kind: 'tap';
  /** The TAP device (a persistent multi_queue one: `ip tuntap add dev NAME mode tap multi_queue`). */
  readonly name: string;
  readonly netns?: string;
  /** byway's MAC (default: one the primary draws for all workers). */
  readonly hwAddress?: Uint8Array;
  readonly busyPoll?: boolean;
}

export interface ClusterAfPacketOptions {
  readonly kind: 'af-packet';
  readonly ifname: string;
  readonly netns?: string;
  /** byway's MAC (default: the interface's). */
  readonly hwAddress?: Uint8Array;
  readonly tpacketVersion?: 2 | 3;
  readonly blockTimeoutMs?: number;
  readonly busyPoll?: boolean | number;
  readonly qdiscBypass?: boolean;
}

/** createStack options a cluster passes to every worker's stack (plain data: they cross to the worker threads). */
export type ClusterStackOptions = Pick<StackOptions, 'gateway' | 'routes' | 'mac' | 'mtu' | 'ttl' | 'pollMode' | 'spinMs' | 'spinUs' | 'gro' | 'limits' | 'path'> & {
  readonly path?: Exclude<StackOptions['path'], (...args: never[]) => unknown>;
};

/** What a worker's program sees of its cluster. */
export interface ClusterWorker {
  readonly index: number;
  readonly workers: number;
  readonly stack: Stack;
  readonly data: unknown;
  /** Send a structured-cloneable value to the primary: the cluster emits 'message' (index, value). */
  send(value: unknown): void;
}

// On globalThis, so a program that loads byway through another path (dist/ and src/) still finds its worker.
const CURRENT = Symbol.for('byway.cluster.worker');

/** In a cluster worker: its index, the worker count and its stack. Undefined anywhere else. */
export function clusterWorker(): ClusterWorker | undefined {
  return (globalThis as Record<symbol, ClusterWorker | undefined>)[CURRENT];
}

/** True in a thread the cluster started. */
export function isClusterWorker(): boolean {
  return (workerData as { bywayCluster?: unknown } | null)?.bywayCluster !== undefined;
}

/** A worker's answer to 'stats': its stack's, and its stray relay's counters (AF_PACKET only). */
export interface WorkerStats {
  readonly stats: StackStats;
  /** The stack's addresses with their state ('fd00::2/64 tentative' until duplicate address detection ends). */
  readonly addresses: string[];
  readonly strayRelay: StrayCounters | undefined;
  /** AF_PACKET: its half-open connections' table (strays.ts HalfOpens): listed, learned, diverted. */
  readonly halfOpens: HalfOpenCounters | undefined;
}

export type ToWorker =
  | { readonly type: 'stats' | 'connections'; readonly id: number }
  | { readonly type: 'program'; readonly program: Uint8Array }
  | { readonly type: 'arp'; readonly answer: boolean }
  | { readonly type: 'stray'; readonly message: Uint8Array }
  /** Empty: list your half-open connections (the table changed); else u8 holder | another's list (strays.ts HalfOpens). */
  | { readonly type: 'halfopen'; readonly payload: Uint8Array }
  | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'opened' | 'ready'; readonly index: number }
  | { readonly type: 'reply'; readonly id: number; readonly value: unknown }
  | { readonly type: 'warning'; readonly message: string }
  | { readonly type: 'stray'; readonly payload: Uint8Array }
  | { readonly type: 'halfopen'; readonly payload: Uint8Array }
  | { readonly type: 'user'; readonly value: unknown };

function firstIpv4(address: string | readonly string[] | undefined): string | undefined {
  if (address === undefined) return undefined;
  const a = typeof address === 'string' ? address : address[0]!;
  return a.split('/')[0]!;
}

/**
 * Where the device's own hash picks the queue (TAP multi-queue, AF_XDP RSS): a service port's flow stays on one
 * queue, so whoever gets its SYN serves it; a frame for another worker's ephemeral slice (the return traffic of that
 * worker's own connections, or an ICMP message about one of its flows, plan.ts `sliceOwner`) hops to its owner over
 * a BroadcastChannel instead of being answered here with a reset.
 */
function hopToOwner(inner: FrameDriver, init: WorkerInit, hops: BroadcastChannel[]): FrameDriver {
  const spec = { workers: init.workers };
  const hop = new BroadcastChannel(`byway-cluster-hop:${init.id}`);
  hops.push(hop);
  const hopper = relay(inner, {
    match: (f) => {
      const w = sliceOwner(spec, f);
      return w !== undefined && w !== init.index;
    },
    divert: true,
    relay: (f) => hop.postMessage(f),
  });
  hop.onmessage = (ev) => {
    const f = (ev as { data: Uint8Array }).data;
    if (sliceOwner(spec, f) === init.index) hopper.inject(f);
  };
  hop.unref();
  return hopper;
}

/** Run one worker (called by the thread's bootstrap in cluster.ts). */
export async function runWorker(init: WorkerInit): Promise<void> {
  const port = parentPort!;
  const spec = { workers: init.workers };
  let packet: AfPacketDriver | undefined;
  let link: FrameDriver;
  const hops: BroadcastChannel[] = [];
  let halfOpens: HalfOpens | undefined;
  if (init.driver.kind === 'af-packet') {
    packet = openAfPacket({ ...init.driver, ipv4: firstIpv4(init.address)!, fanout: { group: init.group, mode: 'cbpf', program: init.program } });
    // The SYNs of another worker's half-open connections go to it (strays.ts HalfOpens), counted in its relay's `sent`.
    const h = new HalfOpens(spec, packet.hwAddress!, (payload) => {
      if (strays !== undefined) strays.counters.sent++;
      port.postMessage({ type: 'stray', payload } satisfies FromWorker);
    });
    halfOpens = h;
    link = relay(packet, { match: (f) => h.diverts(f), divert: true, relay: (f) => h.divert(f) });
  } else if (init.driver.kind === 'tap') {
    // TAP: the kernel picks the queue by its flow hash, which byway cannot compute.
    const tap = openTap({ name: init.driver.name, netns: init.driver.netns, multiQueue: true, hwAddress: init.driver.hwAddress, busyPoll: init.driver.busyPoll });
    link = hopToOwner(tap, init, hops);
  } else {
    // AF_XDP: the device picks the queue (RSS; on veth the sender's transmit queue, a flow hash of the peer's
    // kernel), which byway cannot compute either: same hop as TAP. The primary holds the program.
    // Shared-address mode: the flows this worker claims go into the primary's flow map, counted per worker.
    const d = init.driver;
    const sf = init.sharedFlows;
    const xdp = openAfXdp({
      ifname: d.ifname,
      netns: d.netns,
      mode: sf ? 'shared' : 'own',
      ipv4: firstIpv4(init.address),
      ipv6: sf && d.ipv6 ? true : undefined,
      queue: init.index,
      queues: init.workers,
      xskMapFd: init.xskMapFd,
      sharedFlows: sf && { ...sf, holder: init.index },
      bindMode: d.bindMode,
      busyPoll: d.busyPoll,
      hwAddress: d.hwAddress,
    });
    link = hopToOwner(xdp, init, hops);
  }
  const channel = new BroadcastChannel(`byway-cluster:${init.id}`);
  // ARP to every worker; on a fanout group IPv6 neighbour advertisements and ICMPv6 errors too; where the device
  // picks the queue, ICMP errors about service flows (plan.ts fanoutRelays, everyWorkerSees).
  const queue = relay(link, { relay: (f) => channel.postMessage(f), match: packet ? fanoutRelays : (f) => everyWorkerSees(spec, f) });
  channel.onmessage = (ev) => queue.inject((ev as { data: Uint8Array }).data);
  channel.unref();
  const own = workerSettings(spec, init.index, init.answerArp ? init.index : -1);
  const stack = createStack({
    ...init.stack,
    driver: queue,
    address: init.address,
    answerArp: own.answerArp,
    limits: withWorkerLimits(init.stack.limits, own, sharedCookies(init.cookieKey)),
  });
  // AF_PACKET fanout: a segment for no connection of a flow the service table moved here goes to the primary, which
  // hands it to the worker that holds it (strays.ts), as under byway run --workers.
  // (A MessagePort takes a message of any size: a GSO packet's stray goes whole.)
  const strays = packet?.hwAddress ? new StrayRelay({ ...spec, index: init.index }, packet.hwAddress, (payload) => port.postMessage({ type: 'stray', payload } satisfies FromWorker), Infinity) : undefined;
  if (strays !== undefined && stack.core.tcp !== undefined) strays.attach(stack.core.tcp, undefined, undefined, stack.core.udp);
  const send = (value: unknown): void => port.postMessage({ type: 'user', value } satisfies FromWorker);
  (globalThis as Record<symbol, ClusterWorker>)[CURRENT] = { index: init.index, workers: init.workers, stack, data: init.data, send };
  port.on('message', (m: ToWorker) => {
    if (m.type === 'stats') port.postMessage({ type: 'reply', id: m.id, value: { stats: stack.stats, addresses: stack.addresses, strayRelay: strays?.counters, halfOpens: halfOpens?.counters } satisfies WorkerStats } satisfies FromWorker);
    else if (m.type === 'connections') port.postMessage({ type: 'reply', id: m.id, value: stack.connections() } satisfies FromWorker);
    else if (m.type === 'program' && packet) {
      try {
        packet.setFanoutProgram(m.program);
      } catch (e) {
        port.postMessage({ type: 'warning', message: `steering program not installed: ${(e as Error).message}` } satisfies FromWorker);
      }
    } else if (m.type === 'arp') stack.core.answerArp = m.answer;
    else if (m.type === 'stray') {
      const frame = strays?.received(m.message);
      if (frame !== undefined) queue.inject(frame);
    } else if (m.type === 'halfopen' && halfOpens !== undefined && stack.core.tcp !== undefined) {
      if (m.payload.length > 0) halfOpens.learn(m.payload);
      else {
        const list = halfOpens.list(stack.core.tcp);
        if (list.length > 0) port.postMessage({ type: 'halfopen', payload: list } satisfies FromWorker);
      }
    }
    else if (m.type === 'close') {
      stack.close();
      channel.close();
      for (const h of hops) h.close();
      port.close();
    }
  });
  port.unref();
  // 'opened': the socket is a member of the group now; 'ready': the program's top level has run (it listens).
  port.postMessage({ type: 'opened', index: init.index } satisfies FromWorker);
  await import(init.file);
  port.postMessage({ type: 'ready', index: init.index } satisfies FromWorker);
}
