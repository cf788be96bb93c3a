/**
 * One side of a benchmark: a Node process that hosts servers and runs clients on command, over either the
 * kernel path (node:net / node:dgram in the namespace this process was started in, with `ip netns exec`) or
 * byway (createStack over an AF_XDP, AF_PACKET or TAP driver opened in a namespace with the driver's netns option).
 *
 *   ip netns exec NS node --expose-gc --import tsx bench/peer.ts --name peer
 *   node --expose-gc --import tsx bench/peer.ts --name subject
 *
 * The coordinator (bench/run.ts) drives it with one JSON request per line on stdin
 * ({ id, op, ...args }) and reads one JSON reply per line on stdout ({ id, ok, result } or { id, ok: false, error }).
 * Everything else this process prints goes to stderr. It exits when stdin closes.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { createInterface } from 'node:readline';
import type { Stack } from '../src/api/stack.js';
import type { FrameDriver } from '../drivers/types.js';
import {
  servers,
  tcpBulkSend,
  tcpConnRate,
  tcpIdleClose,
  tcpIdleOpen,
  tcpPingPong,
  udpBlast,
  udpPingPong,
  type Endpoint,
  type ServerHandle,
  type ServerKind,
  type Conn,
  type Srv,
  type Udp,
} from './lib/workloads.js';

const name = process.argv[process.argv.indexOf('--name') + 1] ?? 'side';
// Replies own stdout; anything logged goes to stderr.
console.log = (...a: unknown[]) => console.error(`[${name}]`, ...a);

export type StackKind = 'kernel' | 'af-xdp' | 'af-packet' | 'af-packet-v2' | 'af-packet-tso' | 'tap' | 'tap-tso';

export interface InitArgs {
  readonly stack: StackKind;
  /** This side's IPv4 address (kernel: the interface's; byway: the stack's own). */
  readonly address: string;
  readonly prefixLen?: number;
  /** byway only. */
  readonly ifname?: string;
  readonly netns?: string;
  readonly pollMode?: 'event' | 'busy';
  /** byway with AF_PACKET: the MAC byway uses (hex with colons); default the interface's. */
  readonly mac?: string;
}

function kernelEndpoint(address: string): Endpoint {
  return {
    address,
    // No localAddress: the namespace has one address, and bind() before connect() makes the kernel pick the port
    // at bind time, which scans every bound port (slow with thousands in TIME-WAIT) and cannot reuse TIME-WAIT.
    connect: (host, port) => net.connect({ host, port }) as unknown as Conn,
    createServer: () => net.createServer() as unknown as Srv,
    createUdp: () => dgram.createSocket('udp4') as unknown as Udp,
  };
}

function bywayEndpoint(stack: Stack, address: string): Endpoint {
  return {
    address,
    connect: (host, port) => stack.net.connect({ host, port }) as unknown as Conn,
    createServer: () => stack.net.createServer() as unknown as Srv,
    createUdp: () => stack.dgram.createSocket('udp4') as unknown as Udp,
  };
}

function macBytes(s: string): Uint8Array {
  return new Uint8Array(s.split(':').map((h) => parseInt(h, 16)));
}

let endpoint: Endpoint | undefined;
let stack: Stack | undefined;
let driver: FrameDriver | undefined;
const handles = new Map<number, ServerHandle>();
let nextHandle = 1;

async function openDriver(a: InitArgs): Promise<{ driver: FrameDriver; info: Record<string, unknown> }> {
  const busy = a.pollMode === 'busy';
  if (a.stack === 'af-xdp') {
    const { openAfXdp } = await import('../drivers/af-xdp/index.js');
    const d = openAfXdp({ ifname: a.ifname!, netns: a.netns, mode: 'own', ipv4: a.address, busyPoll: busy });
    return { driver: d, info: { bindMode: d.bindMode, attachMode: d.attachMode, queue: d.queue, needWakeup: d.needWakeup, mtu: d.caps.mtu, maxBatch: d.caps.maxBatch } };
  }
  if (a.stack === 'af-packet' || a.stack === 'af-packet-v2' || a.stack === 'af-packet-tso') {
    const { openAfPacket } = await import('../drivers/af-packet/index.js');
    const d = openAfPacket({
      ifname: a.ifname!,
      netns: a.netns,
      ipv4: a.address,
      busyPoll: busy,
      // 'af-packet' takes the driver's default ring (TPACKET_V3, blocks retired after blockTimeoutMs); 'af-packet-v2'
      // asks for TPACKET_V2 (per-frame status, no block timeout).
      // 'af-packet-tso': TPACKET_V2 with TCP segmentation offload (PACKET_VNET_HDR; the kernel cuts 64 KiB packets).
      ...(a.stack === 'af-packet-v2' ? { tpacketVersion: 2 as const } : {}),
      ...(a.stack === 'af-packet-tso' ? { tpacketVersion: 2 as const, tso: true } : {}),
      ...(a.mac ? { hwAddress: macBytes(a.mac), promiscuous: true } : {}),
    });
    return { driver: d, info: { tpacketVersion: d.tpacketVersion, qdiscBypass: d.qdiscBypass, filtered: d.filtered, tso: d.caps.tso?.maxBytes, mtu: d.caps.mtu, maxBatch: d.caps.maxBatch } };
  }
  if (a.stack === 'tap' || a.stack === 'tap-tso') {
    const { openTap } = await import('../drivers/tap/index.js');
    // tap-tso: TCP segmentation offload negotiated with the kernel (64 KiB packets both ways, checksums offloaded).
    const tso = a.stack === 'tap-tso' ? { vnetHdr: true, tso: true } : {};
    // The bench's TAP exists already (the topology makes it), so the driver's 4096-frame queue for devices it
    // creates is asked for explicitly.
    const d = openTap({ name: a.ifname, netns: a.netns, busyPoll: busy, queueLength: 4096, ...tso });
    return { driver: d, info: { ifname: d.ifname, created: d.created, vnetHdr: d.vnetHdr, tso: d.caps.tso?.maxBytes, mtu: d.caps.mtu, maxBatch: d.caps.maxBatch } };
  }
  throw new Error(`unknown stack ${String(a.stack)}`);
}

function driverCounters(): Record<string, unknown> | undefined {
  if (!driver) return undefined;
  const d = driver as FrameDriver & { rxTruncated?: number; linkDown?: boolean; xdpStats?: () => unknown };
  return { ...d.stats, rxTruncated: d.rxTruncated, linkDown: d.linkDown, xdp: typeof d.xdpStats === 'function' ? d.xdpStats() : undefined };
}

type Handler = (args: Record<string, unknown>) => Promise<unknown>;

const ops: Record<string, Handler> = {
  async init(raw) {
    const a = raw as unknown as InitArgs;
    if (endpoint) throw new Error('already initialised');
    if (a.stack === 'kernel') {
      endpoint = kernelEndpoint(a.address);
      return { stack: 'kernel', pid: process.pid };
    }
    // byway is loaded only for a byway side: with it loaded, a node:net receiver at several Gbit/s ran V8 mark-compacts
    // all the time and received at a third of its speed (docs/performance-targets.md, "The harness's kernel path").
    const { createStack } = await import('../src/api/stack.js');
    const opened = await openDriver(a);
    driver = opened.driver;
    stack = createStack({
      driver,
      address: `${a.address}/${a.prefixLen ?? 24}`,
      pollMode: a.pollMode ?? 'event',
      // The kernel's default ephemeral range (net.ipv4.ip_local_port_range), so both paths have as many ports.
      // BYWAY_BENCH_TCP (JSON): extra TCP options for an A/B run, e.g. '{"coalesceAcks":false}'.
      limits: { tcp: { ephemeralLow: 32768, ephemeralHigh: 60999, ...(process.env.BYWAY_BENCH_TCP ? (JSON.parse(process.env.BYWAY_BENCH_TCP) as object) : {}) } },
      // BYWAY_BENCH_GRO=0 / BYWAY_BENCH_GSO=0: without software GRO / GSO; BYWAY_BENCH_TURN_BURST_US: the poll
      // loop's turnBurstUs (0: no bursts); for A/B runs.
      gro: process.env.BYWAY_BENCH_GRO !== '0',
      ...(process.env.BYWAY_BENCH_TURN_BURST_US !== undefined ? { turnBurstUs: Number(process.env.BYWAY_BENCH_TURN_BURST_US) } : {}),
      gso: process.env.BYWAY_BENCH_GSO !== '0',
    });
    endpoint = bywayEndpoint(stack, a.address);
    return { stack: a.stack, pollMode: a.pollMode ?? 'event', pid: process.pid, driver: opened.info };
  },

  async server(args) {
    const kind = args['kind'] as ServerKind;
    const make = servers[kind];
    if (!make) throw new Error(`unknown server kind ${String(kind)}`);
    const h = await make(need(), args['port'] as number);
    const id = nextHandle++;
    handles.set(id, h);
    return { handle: id };
  },
  async mark(args) {
    return handleOf(args).mark();
  },
  async stop(args) {
    const h = handleOf(args);
    handles.delete(args['handle'] as number);
    return h.stop();
  },

  async udpPingPong(args) {
    return udpPingPong(need(), args as never);
  },
  async udpBlast(args) {
    return udpBlast(need(), args as never);
  },
  async tcpPingPong(args) {
    return tcpPingPong(need(), args as never);
  },
  async tcpBulkSend(args) {
    return tcpBulkSend(need(), args as never);
  },
  async tcpConnRate(args) {
    return tcpConnRate(need(), args as never);
  },
  async tcpIdleOpen(args) {
    return tcpIdleOpen(need(), args as never);
  },
  async tcpIdleClose() {
    return tcpIdleClose();
  },

  /** Every numeric counter of the driver and the stack, flattened ('driver.txDropped', 'tcp.rtoExpirations'). */
  async counters() {
    const out: Record<string, number> = {};
    flatten('driver', driverCounters(), out);
    if (stack) flatten('', stack.stats, out);
    return out;
  },

  /** Counters for the record: the byway stack's and driver's, and this process's memory. */
  async stats() {
    return {
      memory: process.memoryUsage(),
      driver: driverCounters(),
      stack: stack ? JSON.parse(JSON.stringify(stack.stats)) : undefined,
      tcpConnections: stack ? stack.connections().length : undefined,
    };
  },

  async close() {
    for (const h of handles.values()) await h.stop().catch(() => undefined);
    handles.clear();
    stack?.close();
    stack = undefined;
    endpoint = undefined;
    return { closed: true };
  },
};

function flatten(prefix: string, v: unknown, out: Record<string, number>): void {
  if (typeof v === 'number') out[prefix] = v;
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) flatten(prefix ? `${prefix}.${k}` : k, x, out);
  }
}

function need(): Endpoint {
  if (!endpoint) throw new Error('not initialised');
  return endpoint;
}

function handleOf(args: Record<string, unknown>): ServerHandle {
  const h = handles.get(args['handle'] as number);
  if (!h) throw new Error(`no server handle ${String(args['handle'])}`);
  return h;
}

function reply(msg: unknown): void {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

function errorInfo(e: unknown): { code?: string; message: string } {
  const x = e as { code?: string; message?: string };
  return { code: x?.code, message: x?.message ?? String(e) };
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let req: { id: number; op: string; args?: Record<string, unknown> };
  try {
    req = JSON.parse(line);
  } catch {
    return;
  }
  const op = ops[req.op];
  if (!op) return reply({ id: req.id, ok: false, error: { message: `unknown op ${req.op}` } });
  op(req.args ?? {}).then(
    (result) => reply({ id: req.id, ok: true, result }),
    (e) => reply({ id: req.id, ok: false, error: errorInfo(e) }),
  );
});
rl.on('close', () => {
  try {
    stack?.close();
  } finally {
    process.exit(0);
  }
});
process.on('uncaughtException', (e) => {
  console.error(`[${name}] uncaught:`, e);
  reply({ id: -1, ok: false, error: errorInfo(e) });
});
reply({ id: 0, ok: true, result: { ready: true, pid: process.pid, node: process.version } });
