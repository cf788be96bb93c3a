/**
 * A byway cluster: one stack per worker thread, each on its own queue of one interface, sharing the address(es)
 * and the MAC, as Node's `cluster` shares a port between processes. The same program file runs in every worker
 * (like `cluster`: the primary calls `startCluster`, a worker finds its stack with `clusterWorker()`), or a worker
 * file of its own (`file`).
 *
 * Why worker threads and not `cluster` processes: the queues are sockets of one process then (an AF_XDP XSKMAP or a
 * fanout group is shared by file descriptor, without passing descriptors between processes), the workers reach each
 * other with a BroadcastChannel (ARP relay) and the primary with a MessagePort, and a worker costs a V8 isolate, not
 * a process (docs/scaling.md has the measured start-up time and memory of each). The price: a crash in native code
 * ends every worker; a JavaScript error ends only its thread.
 *
 * Steering (plan.ts, drivers/af-packet/fanout.ts): every worker's socket joins one PACKET_FANOUT group in 'cbpf'
 * mode; byway's program sends service ports by a hash of the client's address and port, each worker's ephemeral
 * slice to it, and ARP to the ARP owner (the lowest live worker), which relays ARP to the others. Workers are
 * started one after another, so the kernel's member order is known, and whenever a member joins or leaves, the
 * primary installs the slot table that matches the kernel's new order (through a live worker's socket).
 *
 * A worker gets its ephemeral slice when its socket joins and its share of the clients (the service table,
 * fanout.ts `serviceSlots`) once its file's top level has run, so a starting worker sends no client a reset. The
 * later segments of the flows another worker accepted for that share meanwhile then reach the new worker, which
 * holds no connection for them: it hands them to the primary, which passes them to the worker that does (strays.ts).
 *
 * On a multi-queue TAP device (`driver.kind: 'tap'`) there is no program: the kernel picks each flow's queue by its
 * flow hash, which byway cannot compute. A client's flow stays on the queue its SYN came in on, and that worker
 * serves it; the return traffic of a worker's own connections lands on any queue, and a frame for another worker's
 * ephemeral slice hops to its owner over a BroadcastChannel (worker.ts; without the hop those connections got no
 * answers at all on Linux 6.18: tun did not send a flow back to the queue it was written from). ARP is relayed as
 * above; a dead worker's queue is detached by the kernel, which spreads its flows over the others.
 *
 * On AF_XDP queues (`driver.kind: 'af-xdp'`), worker i binds receive queue i under one XDP program that this
 * primary attaches and holds (drivers/af-xdp `openAfXdpProgram`), so a worker's death only empties its XSKMAP slot
 * (that queue's frames then go to the kernel until a new worker binds it). The device picks each flow's queue, as
 * on TAP: the same hop for the return traffic of a worker's own connections. In shared-address mode
 * (`driver.mode: 'shared'`, no `address`: the kernel's is shared) the primary's program steers only the flows in
 * its flow map, which every worker edits (drivers/af-xdp/flow-table.ts): a port several workers claim is one entry
 * and one kernel reservation; when a worker ends, the primary drops its holds (`dropFlows`), so its own flows go
 * back to the kernel and the ports another worker holds stay.
 *
 * ICMP about a worker's flows (echo replies to its pings, errors quoting its packets) is steered to it: by the
 * fanout program (fanout.ts), or on TAP and AF_XDP by the hop (plan.ts `sliceOwner`).
 *
 * Failure: a worker whose thread ends (an uncaught error, process.exit in the worker, `kill`) takes its socket
 * with it; the kernel removes the member, the primary installs the new table (the dead worker's class goes to
 * the ARP owner, so new flows there are served), moves the ARP role if needed, and emits 'exit'. Its connections
 * are lost (the peers get one RST each, from whichever worker their segments reach last: strays.ts). `restart: true` starts a new
 * worker on the same index, which takes the class back. Between the kernel's removal and the new table (a message
 * to a worker, well under a millisecond when idle) segments of a live worker's flows may reach another member
 * when there are three or more; with two, the survivor is the only member and receives everything.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildFanoutProgram } from '../../drivers/af-packet/fanout.js';
import { openAfXdpProgram, type AfXdpProgram } from '../../drivers/af-xdp/index.js';
import { invalidArg } from '../../protocols/util/errors.js';
import { randomBytes } from 'node:crypto';
import { localMac } from '../../drivers/native/ring-driver.js';
import type { ConnectionRow } from '../api/stack.js';
import type { StackStats } from '../stack/stats.js';
import { newCookieKey } from './cookies.js';
import { Membership, addInto } from './plan.js';
import { noStrays, routeStray, type HalfOpenCounters, type StrayCounters, type StrayRouting } from './strays.js';
import type { ClusterDriverOptions, ClusterStackOptions, FromWorker, ToWorker, WorkerInit, WorkerStats } from './worker.js';

export interface ClusterOptions {
  /** Number of workers (1..64). */
  readonly workers: number;
  /** The file every worker runs (default: this program's main file, process.argv[1]). */
  readonly file?: string | URL;
  readonly driver: ClusterDriverOptions;
  /**
   * The address(es) every worker's stack has: '10.0.0.2/24'. Not with a shared-address AF_XDP driver
   * (`driver.mode: 'shared'`), whose stacks take the interface's address from the kernel.
   */
  readonly address?: string | readonly string[];
  /** More createStack options for every worker (plain data). */
  readonly stack?: ClusterStackOptions;
  /** Start a new worker on the same index when one ends other than by `close()` (default false). */
  readonly restart?: boolean;
  /** The fanout group id (default: derived from the process id). */
  readonly group?: number;
  /** Passed to every worker as `clusterWorker().data` (structured-cloneable). */
  readonly data?: unknown;
  /** How long a worker may take to open its queue, make its stack and run its file's top level (default 10 s). */
  readonly readyTimeoutMs?: number;
}

export interface ClusterStats {
  /**
   * Each live worker's stack stats and, on AF_PACKET, its stray relay's counters (strays.ts; `byway stat`'s
   * `strayRelay`): `sent` (segments for no connection it handed to the primary), `received` (other workers' strays
   * the primary handed it), `final` (of those, the ones it was the last asked about: it answers them, a RST when it
   * holds no connection either), `limited` (answered here for the rate bound, 10000 a second), `split` and
   * `oversize` (strays larger than a message: 0 here, where a MessagePort takes any size); and its half-open
   * connections' table (`halfOpens`: `listed` for the others at table changes, `learned` of theirs, `diverted`: their
   * SYNs sent on to them).
   */
  readonly workers: ReadonlyArray<{
    readonly index: number;
    readonly stats: StackStats;
    /** The worker stack's addresses with their state, as Stack.addresses ('fd00::2/64 tentative' during DAD). */
    readonly addresses: string[];
    readonly strayRelay?: StrayCounters;
    readonly halfOpens?: HalfOpenCounters;
  }>;
  /** Every counter summed over the live workers. */
  readonly total: StackStats;
  /** AF_PACKET: the live workers' stray relay counters summed. */
  readonly strayRelay?: StrayCounters;
  /** AF_PACKET: the strays this primary routed since it started (`byway stat`'s `strays`: received, passed, final). */
  readonly strays?: StrayRouting;
  /**
   * AF_XDP: the receive queues no live worker serves (worker i serves queue i), and, in shared-address mode, per
   * queue the frames of byway's flows the program dropped there for want of a socket since it was attached (a dead
   * worker's queue: its clients time out until a worker binds it again, `revive` or `restart`).
   */
  readonly queues?: { readonly unserved: readonly number[]; readonly dropped: readonly number[] };
}

let nextCluster = 0;

/** tsx's ESM API (its `import` export; the `require` one loads its ESM half by a path that breaks from a worker). */
function tsxApi(): string {
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
  return new URL('./dist/esm/api/index.mjs', pathToFileURL(pkg)).href;
}

/** How a worker thread starts: tsx first when the files are TypeScript (tests, `node --import tsx`), then worker.ts. */
const BOOT = `
const { workerData } = require('node:worker_threads');
(async () => {
  const b = workerData.bywayCluster;
  if (b.tsx) (await import(b.tsx)).register();
  await (await import(b.runtime)).runWorker(b.init);
})().catch((e) => process.nextTick(() => { throw e; }));
`;

export class Cluster extends EventEmitter {
  readonly size: number;
  private readonly threads: Array<Worker | undefined>;
  private readonly members: Membership;
  private readonly id = `${process.pid}-${nextCluster++}`;
  private readonly group: number;
  private readonly file: string;
  private readonly tsx: string | undefined;
  private readonly runtime: string;
  private closing = false;
  private requests = 0;
  private readonly pending = new Map<number, (v: unknown) => void>();
  private arpOwner: number | undefined = undefined;
  private readonly driver: ClusterDriverOptions;
  /** AF_XDP: the program and XSKMAP this primary holds for every worker's queue (a worker's death leaves it attached). */
  private xdp: AfXdpProgram | undefined = undefined;
  /** Shared-address AF_XDP: the lock of the flow map the workers share (drivers/af-xdp/flow-table.ts). */
  private flowLock: SharedArrayBuffer | undefined = undefined;
  /** AF_PACKET: the strays routed between the workers (strays.ts routeStray). */
  private readonly strays: StrayRouting = { received: 0, passed: 0, final: 0 };
  /** The SYN-cookie secret every worker shares, a revived one too (cookies.ts). */
  private readonly cookieKey = newCookieKey();

  /** @internal use startCluster */
  constructor(private readonly options: ClusterOptions) {
    super();
    const n = options.workers;
    if (!Number.isInteger(n) || n < 1 || n > 64) throw invalidArg(`workers must be an integer from 1 to 64, got ${String(n)}`);
    const kind = options.driver?.kind;
    if (kind !== 'af-packet' && kind !== 'tap' && kind !== 'af-xdp') {
      throw invalidArg("driver.kind must be 'af-packet' (an AF_PACKET fanout group), 'tap' (a multi-queue TAP device) or 'af-xdp' (AF_XDP queues)");
    }
    // Every worker's stack answers with one MAC: on TAP byway's own, drawn here unless given.
    this.driver = kind === 'tap' && options.driver.hwAddress === undefined ? { ...options.driver, hwAddress: localMac(randomBytes(6)) } : options.driver;
    const shared = kind === 'af-xdp' && options.driver.mode === 'shared';
    if (kind === 'af-xdp' && options.driver.mode !== undefined && options.driver.mode !== 'own' && !shared) {
      throw invalidArg(`driver.mode must be 'own' or 'shared', got ${String(options.driver.mode)}`);
    }
    if (shared && options.address !== undefined) throw invalidArg("a shared-address cluster (driver.mode 'shared') takes no address: the interface's is shared");
    if (kind === 'af-xdp' && options.driver.ipv6 !== undefined && (options.driver.ipv6 !== true || !shared)) {
      throw invalidArg("driver.ipv6 is true or absent, and only in driver.mode 'shared' (an own-address cluster takes IPv6 addresses in address)");
    }
    if (!shared && (options.address === undefined || (typeof options.address !== 'string' && !Array.isArray(options.address)))) {
      throw invalidArg("address is required (a string or an array of strings), except for an AF_XDP cluster in driver.mode 'shared'");
    }
    this.size = n;
    this.threads = new Array<Worker | undefined>(n).fill(undefined);
    this.members = new Membership(n);
    this.group = options.group ?? 1 + ((process.pid * 31 + nextCluster * 7) % 65000);
    const file = options.file ?? process.argv[1];
    if (file === undefined) throw invalidArg('no file for the workers to run: pass options.file');
    this.file = file instanceof URL ? file.href : /^[a-z]+:/.test(file) ? file : pathToFileURL(file).href;
    const here = fileURLToPath(import.meta.url);
    const ts = extname(here) === '.ts' || /\.[mc]?ts$/.test(this.file);
    this.runtime = new URL(`./worker${extname(here)}`, import.meta.url).href;
    this.tsx = ts ? tsxApi() : undefined;
  }

  /** The indexes of the workers running now. */
  get live(): readonly number[] {
    return this.members.live;
  }

  /** The worker thread on `index`, if it runs. */
  worker(index: number): Worker | undefined {
    return this.threads[index];
  }

  /**
   * @internal start every worker, one after another (the kernel's member order is the start order); each is ready
   * when its file's top level has run (a server listens then).
   */
  async start(): Promise<void> {
    const d = this.driver;
    if (d.kind === 'af-xdp' && d.mode === 'shared') {
      // One program and one flow map for the device; each worker's socket takes its queue's slot and edits the map.
      this.xdp = openAfXdpProgram({ ifname: d.ifname, netns: d.netns, mode: 'shared', ipv6: d.ipv6, flowMapSize: d.flowMapSize, queues: this.size, attachMode: d.attachMode });
      this.flowLock = new SharedArrayBuffer(4);
    } else if (d.kind === 'af-xdp') {
      const a = this.options.address!;
      const ipv4 = (typeof a === 'string' ? a : a[0]!).split('/')[0]!;
      this.xdp = openAfXdpProgram({ ifname: d.ifname, netns: d.netns, ipv4, queues: this.size, attachMode: d.attachMode });
    }
    for (let i = 0; i < this.size; i++) await this.spawn(i);
  }

  private spawn(index: number): Promise<void> {
    const owner = Math.min(index, this.members.arpOwner ?? index);
    const init: WorkerInit = {
      id: this.id,
      index,
      workers: this.size,
      group: this.group,
      program: buildFanoutProgram({ workers: this.size, slots: this.members.slotsAfterJoin(index), serviceSlots: this.members.serviceSlotsAfterJoin(index) }),
      answerArp: owner === index,
      driver: this.driver,
      address: this.options.address,
      stack: this.options.stack ?? {},
      file: this.file,
      data: this.options.data,
      xskMapFd: this.xdp?.xskMapFd,
      cookieKey: this.cookieKey,
      sharedFlows: this.flowLock && this.xdp ? { flowMapFd: this.xdp.flowMapFd, lock: this.flowLock } : undefined,
    };
    const w = new Worker(BOOT, { eval: true, workerData: { bywayCluster: { init, tsx: this.tsx, runtime: this.runtime } } });
    this.threads[index] = w;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        if (!ready) void w.terminate();
      }, this.options.readyTimeoutMs ?? 10_000);
      let joined = false;
      w.on('message', (m: FromWorker) => {
        if (m.type === 'opened') {
          joined = true;
          this.members.join(index);
          this.retable();
        } else if (m.type === 'ready') {
          ready = true;
          clearTimeout(timer);
          // Its file's top level has run (a server listens): its share of the clients may come to it now.
          this.members.serve(index);
          this.retable();
          this.emit('online', index);
          resolve();
        } else if (m.type === 'reply') {
          this.pending.get(m.id)?.(m.value);
          this.pending.delete(m.id);
        } else if (m.type === 'warning') this.emit('warning', index, m.message);
        else if (m.type === 'stray') {
          const r = routeStray(index, m.payload, this.live.filter((i) => this.threads[i] !== undefined), this.strays);
          if (r !== undefined) this.threads[r.to]?.postMessage({ type: 'stray', message: r.message } satisfies ToWorker);
        } else if (m.type === 'halfopen' && m.payload.length > 0) {
          // A worker's half-open connections (strays.ts HalfOpens): their SYNs, wherever they land, go to it.
          const payload = new Uint8Array(1 + m.payload.length);
          payload[0] = index;
          payload.set(m.payload, 1);
          this.threads.forEach((t, i) => i !== index && t?.postMessage({ type: 'halfopen', payload } satisfies ToWorker));
        }
        else if (m.type === 'user') this.emit('message', index, m.value);
      });
      w.on('error', (e) => {
        if (!ready) {
          clearTimeout(timer);
          reject(e);
        } else this.workerError(index, e);
      });
      w.on('exit', (code) => {
        clearTimeout(timer);
        if (this.threads[index] === w) this.threads[index] = undefined;
        this.dropFlows(index);
        if (joined) {
          this.members.leave(index);
          this.retable();
        }
        if (!ready) reject(new Error(`cluster worker ${index} ended (code ${code}) before it was ready`));
        else this.emit('exit', index, code);
        if (ready && !this.closing && this.options.restart) {
          this.spawn(index).catch((e: unknown) => this.workerError(index, e));
        }
      });
    });
  }

  /**
   * Shared-address AF_XDP: a worker ended, so its holds on the shared flow map go (the lock too, if it died holding
   * it): a port another worker still holds stays steered and reserved, the rest (its ephemeral ports, a listener
   * no one else has) goes back to the kernel.
   */
  private dropFlows(index: number): void {
    if (this.flowLock === undefined || !this.xdp) return;
    try {
      const { released, kept } = this.xdp.dropHolder(this.flowLock, index);
      if (released + kept > 0) this.emit('flows', index, { released, kept });
    } catch (e) {
      this.workerError(index, e);
    }
  }

  /**
   * Shared-address AF_XDP: the flows in the shared map now, each with the workers that hold it and its family (with
   * `driver.ipv6`, a claimed port is one flow per family).
   */
  flows(): Array<{ protocol: 'tcp' | 'udp' | 'icmp'; port: number; family: 4 | 6; workers: number[] }> {
    const name = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmp' } as const;
    return (this.xdp?.flows() ?? []).map((f) => ({
      protocol: name[f.protocol as 1 | 6 | 17 | 58],
      port: f.port,
      family: f.address === 0 ? (6 as const) : (4 as const),
      workers: f.holders,
    }));
  }

  /**
   * A worker's uncaught error (its thread then ends: 'exit' follows): 'error' with the error, its `worker` set to
   * the index, when someone listens; a process warning otherwise (unlike an EventEmitter's unheard 'error', it
   * does not end the primary, whose other workers keep serving).
   */
  private workerError(index: number, e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    (err as Error & { worker?: number }).worker = index;
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.emitWarning(`byway cluster worker ${index}: ${err.stack ?? err.message}`);
  }

  /** Install the slot table that matches the kernel's member order, and move the ARP role to the lowest live worker. */
  private retable(): void {
    const owner = this.members.arpOwner;
    if (owner === undefined) return;
    if (this.driver.kind === 'af-packet') {
      const program = buildFanoutProgram({ workers: this.size, slots: this.members.slots(), serviceSlots: this.members.serviceSlots() });
      this.post(owner, { type: 'program', program });
      // Each worker lists its half-open connections for the others (strays.ts HalfOpens).
      for (const w of this.members.live) this.post(w, { type: 'halfopen', payload: new Uint8Array(0) });
    }
    if (owner !== this.arpOwner) {
      if (this.arpOwner !== undefined) this.post(this.arpOwner, { type: 'arp', answer: false });
      this.post(owner, { type: 'arp', answer: true });
      this.arpOwner = owner;
    }
  }

  private post(index: number, m: ToWorker): void {
    this.threads[index]?.postMessage(m);
  }

  private ask<T>(index: number, type: 'stats' | 'connections'): Promise<T | undefined> {
    const w = this.threads[index];
    if (!w) return Promise.resolve(undefined);
    const id = ++this.requests;
    return new Promise<T | undefined>((resolve) => {
      const onExit = (): void => {
        this.pending.delete(id);
        resolve(undefined);
      };
      w.once('exit', onExit);
      this.pending.set(id, (v) => {
        w.off('exit', onExit);
        resolve(v as T);
      });
      w.postMessage({ type, id } satisfies ToWorker);
    });
  }

  /** Each live worker's stack stats, and their sum. */
  async stats(): Promise<ClusterStats> {
    const per = await Promise.all(this.live.map(async (index) => ({ index, answer: await this.ask<WorkerStats>(index, 'stats') })));
    const workers = per.flatMap(({ index, answer: a }) =>
      a === undefined
        ? []
        : [{ index, stats: a.stats, addresses: a.addresses, ...(a.strayRelay !== undefined ? { strayRelay: a.strayRelay } : {}), ...(a.halfOpens !== undefined ? { halfOpens: a.halfOpens } : {}) }],
    );
    const total = {} as Record<string, unknown>;
    for (const p of workers) addInto(total, p.stats as unknown as Record<string, unknown>);
    const xdp = this.xdp;
    const queues = xdp && { unserved: Array.from({ length: this.size }, (_, q) => q).filter((q) => this.threads[q] === undefined), dropped: xdp.unboundDrops() };
    const relay = this.driver.kind === 'af-packet' ? noStrays() : undefined;
    for (const p of workers) if (relay && p.strayRelay) addInto(relay as unknown as Record<string, unknown>, p.strayRelay as unknown as Record<string, unknown>);
    return {
      workers,
      total: total as unknown as StackStats,
      ...(relay ? { strayRelay: relay, strays: { ...this.strays } } : {}),
      ...(queues ? { queues } : {}),
    };
  }

  /** Every live worker's TCP connections, each row with its worker's index. */
  async connections(): Promise<Array<ConnectionRow & { readonly worker: number }>> {
    const per = await Promise.all(this.live.map(async (index) => ({ index, rows: await this.ask<ConnectionRow[]>(index, 'connections') })));
    return per.flatMap((p) => (p.rows ?? []).map((r) => ({ ...r, worker: p.index })));
  }

  /** End worker `index` (its thread is terminated, as if it had crashed); with `restart`, a new one takes its place. */
  async kill(index: number): Promise<void> {
    await this.threads[index]?.terminate();
  }

  /** Start a worker on `index` if none runs there (after a kill or an exit without `restart`). */
  async revive(index: number): Promise<void> {
    if (this.threads[index]) return;
    await this.spawn(index);
  }

  /** AF_XDP: how the primary's program is attached ('native' or 'generic'); undefined for the other drivers. */
  get attachMode(): string | undefined {
    return this.xdp?.attachMode;
  }

  /** Close every worker's stack and end the threads (then, AF_XDP, detach the program). */
  async close(): Promise<void> {
    this.closing = true;
    const ws = this.threads.filter((w): w is Worker => w !== undefined);
    await Promise.all(
      ws.map(
        (w) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => void w.terminate(), 2_000);
            w.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            w.postMessage({ type: 'close' } satisfies ToWorker);
          }),
      ),
    );
    this.xdp?.close();
  }
}

/** Start `options.workers` workers, one after another; resolves when every one has its queue and stack and its file ran. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const c = new Cluster(options);
  try {
    await c.start();
  } catch (e) {
    await c.close();
    throw e;
  }
  return c;
}
