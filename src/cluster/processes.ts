/**
 * `byway run --workers N -- node app.js`: an unmodified program runs in N processes, each under the preload
 * (src/register/member.ts) with its own stack on its own member of one AF_PACKET fanout group (or, `xskMapFd`, its
 * own receive queue under the XDP program this supervisor holds: the map is each worker's fd 3, and frames for
 * another worker's slice hop to it through here), all sharing byway's address and MAC; this module is their
 * supervisor (the `byway run` process). The steering and the ports are the
 * worker-thread cluster's (cluster.ts, plan.ts, drivers/af-packet/fanout.ts): service ports spread by the client's
 * address and port, each worker's ephemeral slice back to it, ARP to the lowest live worker, which answers and
 * relays ARP to the others.
 *
 * Processes, not worker threads, because the program is unmodified: in a process it runs as without byway (the
 * main thread, its signal handlers, process.chdir, addons that are not context-aware, require.main), and Node runs
 * `--import` preloads in processes only. The fanout group is joined across processes (the kernel keys a group by
 * id and network namespace, not by process: checked, docs/scaling.md). The supervisor replaces what the threads
 * shared in memory with one Unix socket per worker (link.ts): the hello that says a worker's socket has joined,
 * the ARP relay, the steering program and the ARP role.
 *
 * - Start: workers are started one after another, each once the previous one's hello came (its socket is in the
 *   group), so the kernel's member order is the start order (`Membership`). A worker gets its ephemeral slice at
 *   once, and its share of the clients (the service table) only once it says its program listens: until then
 *   those go to the lowest worker that serves, so a starting (or restarted) worker sends no client a reset.
 * - Strays (fanout): a worker whose stack holds no connection for a segment the table moved to it (a flow another
 *   worker accepted before the table changed) sends it here; it goes to the other live workers in turn, the last
 *   one asked answering a flow nobody holds with one RST (strays.ts). Counted in `stat()`'s `strays`. At each
 *   table change every worker lists its half-open connections and the others send their retransmitted SYNs to it
 *   (strays.ts HalfOpens).
 * - A worker that ends (crash, kill, exit) leaves the group with its socket; the supervisor installs the slot
 *   table of the new member order through a live worker, moves the ARP role if needed and says so on stderr. Its
 *   connections are lost; new flows of its class go to a live worker. With `restart`, a worker that ended
 *   abnormally after running at least a second is started again on its index and takes its class back.
 * - AF_XDP in shared-address mode (`flowMap`): the program's flow map is each worker's fd 4 too, and the workers
 *   share it (drivers/af-xdp/flow-table.ts, between processes: the lock a key of the map, each reservation its
 *   worker's descriptor). This supervisor adopts the reservation of a port a second worker holds (a copy of the
 *   owner's descriptor, pidfd_getfd(2), so the port stays reserved when the owner dies: no kernel program can
 *   take it between the death and the drop), drops a dead worker's holds (reserving again, itself, a port others
 *   still hold whose reservation died unadopted, and saying so on stderr, and in `byway stat`, when the kernel
 *   took it meanwhile), finishes the orphans workers report and asks a worker to close a reservation of its own.
 * - Stats: `stat()` and `ss()` ask each worker's control socket and add them up (per worker too).
 * - `done` resolves when every worker has ended: 0 if each exited 0, else the first other status (a signal as
 *   128 + its number).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import net from 'node:net';
import { constants } from 'node:os';
import { buildFanoutProgram } from '../../drivers/af-packet/fanout.js';
import { query } from '../control/client.js';
import { ensureRuntimeDir } from '../control/paths.js';
import { COOKIE_ENV, cookieKeyToEnv, newCookieKey } from './cookies.js';
import { LinkReader, MsgType, decodeHello, encodeMessage } from './link.js';
import { Membership, addInto, sliceOwner } from './plan.js';
import { routeStray, type StrayRouting } from './strays.js';

export interface ProcessClusterOptions {
  /** Number of worker processes (1..64). */
  readonly workers: number;
  readonly command: string;
  readonly args: readonly string[];
  /** The workers' environment (with the preload in NODE_OPTIONS); the BYWAY_WORKER variables are added. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The supervisor's Unix socket, in the user's 0700 runtime directory. */
  readonly link: string;
  /** The fanout group id (default: derived from the process id). */
  readonly group?: number;
  readonly restart?: boolean;
  /**
   * AF_XDP queues instead of a fanout group: the XSKMAP of the program this supervisor attached and holds
   * (openAfXdpProgram). Each worker inherits it as fd 3 (spawn's stdio) and binds receive queue INDEX into it; a
   * frame for another worker's ephemeral slice (the device picked its queue) hops to its owner through here.
   */
  readonly xskMapFd?: number;
  /**
   * A multi-queue TAP device instead of a fanout group: each worker attaches a queue of its own (BYWAY_TAPQ) with
   * this MAC (aa:bb:..., shared by all); the kernel picks each flow's queue by a hash byway cannot compute, so a
   * frame for another worker's ephemeral slice hops to its owner through here, as on AF_XDP.
   */
  readonly tapHwAddress?: string;
  /**
   * Shared-address AF_XDP: the program's flow map, each worker's fd 4 (BYWAY_FLOWMAP), which the workers edit
   * (drivers/af-xdp/flow-table.ts); and the supervisor's side of it: drop a dead worker's holds (its reservations
   * for ports others hold are taken again here), finish an orphan a worker reports. `unreserve` asks a worker to
   * close one of its reservation descriptors.
   */
  readonly flowMap?: {
    readonly fd: number;
    dropHolder(
      index: number,
      unreserve: (owner: number, fd: number) => void,
    ): { released: number; kept: number; reserved: number; lost: ReadonlyArray<{ protocol: number; port: number; address: number; errno: number }> };
    finishOrphan(protocol: number, port: number, address: number, unreserve: (owner: number, fd: number) => void): boolean;
    /** Per queue, the frames of byway's flows dropped for want of a socket (AfXdpProgram.unboundDrops). */
    unboundDrops(): number[];
    /** Take a copy of a live worker's reservation (AfXdpProgram.adoptReservation): 'adopted', 'none' or an errno. */
    adopt(protocol: number, port: number, address: number, pidOf: (owner: number) => number | undefined, unreserve: (owner: number, fd: number) => void): 'adopted' | 'none' | number;
  };
  /**
   * Tests: runs between a worker's end and the drop of its flows (the supervisor's window), e.g. to let a test try a
   * kernel bind of the dead worker's ports there (the CLI's BYWAY_TEST_HOLD_DROP).
   */
  readonly beforeDrop?: (index: number) => Promise<void>;
  /** How long a worker may take to join the group (default 30 s: the preload loads before the program does). */
  readonly readyTimeoutMs?: number;
  readonly log: (line: string) => void;
}

interface Slot {
  readonly child: ChildProcess;
  readonly started: number;
  pid: number;
  conn: net.Socket | undefined;
  control: string | null;
  joined: ((err?: Error) => void) | undefined;
}

const statusOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + ((signal && (constants.signals as Record<string, number>)[signal]) || 1);

export class ProcessCluster {
  readonly size: number;
  readonly group: number;
  /** Resolves with the exit status once every worker has ended. */
  readonly done: Promise<number>;
  private readonly slots: Array<Slot | undefined>;
  private readonly members: Membership;
  private readonly server: net.Server;
  private arpOwner: number | undefined = undefined;
  private closing = false;
  private failure: number | undefined = undefined;
  private finish: (status: number) => void = () => {};
  /** Shared-address AF_XDP: reservations adopted, adoptions failed, taken again after a death, and lost then. */
  private readonly reservations = { adopted: 0, adoptFailed: 0, retaken: 0, lost: 0 };
  /** Strays (plan.ts strayNext): received from workers, passed to another worker, of them the last one asked. */
  private readonly strays: StrayRouting = { received: 0, passed: 0, final: 0 };
  /** The SYN-cookie secret every worker shares, a restarted one too (cookies.ts), as BYWAY_COOKIE's hex. */
  private readonly cookieKey = cookieKeyToEnv(newCookieKey());

  constructor(private readonly options: ProcessClusterOptions) {
    this.size = options.workers;
    this.slots = new Array<Slot | undefined>(this.size).fill(undefined);
    this.members = new Membership(this.size);
    this.group = options.group ?? 1 + ((process.pid * 31) % 65000);
    this.done = new Promise((resolve) => (this.finish = resolve));
    this.server = net.createServer((conn) => this.accept(conn));
  }

  /** Listen on the link and start the workers one after another; rejects (and ends the others) if one fails. */
  async start(): Promise<void> {
    ensureRuntimeDir(dirname(this.options.link));
    try {
      unlinkSync(this.options.link);
    } catch {
      /* none left */
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.link, () => resolve());
    });
    chmodSync(this.options.link, 0o600);
    for (let i = 0; i < this.size; i++) await this.spawn(i);
  }

  /** The workers share an AF_PACKET fanout group (not AF_XDP or TAP queues): the supervisor installs its program. */
  private get fanout(): boolean {
    return this.options.xskMapFd === undefined && this.options.tapHwAddress === undefined;
  }

  /** The live workers' index and pid. */
  get workers(): Array<{ index: number; pid: number }> {
    return this.slots.flatMap((s, index) => (s ? [{ index, pid: s.pid }] : []));
  }

  private spawn(index: number): Promise<void> {
    const owner = this.members.arpOwner;
    const env = {
      ...this.options.env,
      BYWAY_WORKER: `${index}/${this.size}`,
      BYWAY_CLUSTER: this.options.link,
      BYWAY_ARP: owner === undefined || index < owner ? 'answer' : 'relay',
      [COOKIE_ENV]: this.cookieKey,
      ...(this.options.xskMapFd !== undefined
        ? { BYWAY_XSKMAP: '3', ...(this.options.flowMap ? { BYWAY_FLOWMAP: '4' } : {}) }
        : this.options.tapHwAddress !== undefined
          ? { BYWAY_TAPQ: this.options.tapHwAddress }
          : { BYWAY_FANOUT: `${this.group}:${this.members.slotsAfterJoin(index).join(',')}:${this.members.serviceSlotsAfterJoin(index).join(',')}` }),
    };
    // AF_XDP: the XSKMAP becomes the worker's fd 3 (libuv dup2s it into place: the copy is not close-on-exec), the
    // shared-address program's flow map fd 4.
    const fm = this.options.flowMap;
    const stdio =
      this.options.xskMapFd === undefined ? 'inherit' : (['inherit', 'inherit', 'inherit', this.options.xskMapFd, ...(fm ? [fm.fd] : [])] as const);
    const child = spawn(this.options.command, this.options.args, { stdio: stdio as 'inherit', env });
    const slot: Slot = { child, started: Date.now(), pid: child.pid ?? 0, conn: undefined, control: null, joined: undefined };
    this.slots[index] = slot;
    child.on('exit', (code, signal) => this.exited(index, slot, code, signal));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => slot.joined?.(new Error(`worker ${index} did not join the fanout group within ${this.options.readyTimeoutMs ?? 30_000} ms`)), this.options.readyTimeoutMs ?? 30_000);
      slot.joined = (err) => {
        clearTimeout(timer);
        slot.joined = undefined;
        if (err) reject(err);
        else resolve();
      };
      child.on('error', (err) => {
        slot.joined?.(new Error(`cannot start ${this.options.command}: ${err.message}`));
        if (child.pid === undefined) this.exited(index, slot, 127, null); // never started: no 'exit' follows
      });
    });
  }

  private accept(conn: net.Socket): void {
    let index = -1;
    conn.on('error', () => {});
    const reader = new LinkReader((type, payload) => {
      if (type === MsgType.hello && index < 0) {
        const h = decodeHello(payload);
        const slot = h && h.index < this.size ? this.slots[h.index] : undefined;
        if (!h || !slot || slot.conn !== undefined) return reader.fail();
        index = h.index;
        slot.conn = conn;
        slot.pid = h.pid;
        slot.control = h.control;
        this.members.join(index);
        this.retable();
        slot.joined?.();
      } else if (type === MsgType.serving && index >= 0) {
        this.members.serve(index);
        this.retable();
      } else if (type === MsgType.arp && index >= 0) {
        const m = encodeMessage(MsgType.arp, payload);
        this.slots.forEach((s, i) => i !== index && s?.conn?.write(m));
      } else if (type === MsgType.orphan && index >= 0 && payload.length === 7 && this.options.flowMap) {
        const dv = new DataView(payload.buffer, payload.byteOffset, 7);
        this.options.flowMap.finishOrphan(payload[6]!, dv.getUint16(4), dv.getUint32(0), (owner, fd) => this.unreserve(owner, fd));
      } else if (type === MsgType.adopt && index >= 0 && payload.length === 7 && this.options.flowMap) {
        const dv = new DataView(payload.buffer, payload.byteOffset, 7);
        this.adopt(payload[6]!, dv.getUint16(4), dv.getUint32(0));
      } else if (type === MsgType.stray && index >= 0) {
        this.stray(index, payload);
      } else if (type === MsgType.halfopen && index >= 0 && payload.length > 0) {
        // A worker's half-open connections (strays.ts HalfOpens): their SYNs, wherever they land, go to it.
        const m = new Uint8Array(1 + payload.length);
        m[0] = index;
        m.set(payload, 1);
        this.slots.forEach((s, i) => i !== index && s?.conn !== undefined && this.send(i, MsgType.halfopen, m));
      } else if (type === MsgType.hop && index >= 0) {
        // A frame that landed on another worker's queue: to the owner of its ephemeral slice, if it lives.
        const owner = sliceOwner({ workers: this.size }, payload);
        if (owner !== undefined && owner !== index) this.send(owner, MsgType.hop, payload);
      } else reader.fail();
    });
    conn.on('data', (d: Buffer) => {
      reader.push(d);
      if (reader.broken) conn.destroy();
    });
  }

  private exited(index: number, slot: Slot, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.slots[index] !== slot) return;
    this.slots[index] = undefined;
    slot.conn?.destroy();
    // A worker ended by a signal leaves its control socket's file behind (no 'exit' hook ran).
    if (slot.control !== null) {
      try {
        unlinkSync(slot.control);
      } catch {
        /* removed by the worker */
      }
    }
    if (this.members.has(index)) {
      this.members.leave(index);
      this.retable();
    }
    // Shared-address AF_XDP: its holds on the flow map go; the ports others hold stay steered and reserved.
    const dropped = this.dropFlows(index);
    const status = statusOf(code, signal);
    slot.joined?.(new Error(`worker ${index} ended (${signal ?? `code ${code}`}) before it joined the fanout group`));
    if (status !== 0) this.failure ??= status;
    const live = this.members.live;
    const again = this.options.restart === true && !this.closing && status !== 0 && Date.now() - slot.started >= 1000;
    if (!this.closing) {
      this.options.log(
        `byway run: worker ${index} ${slot.pid ? `(pid ${slot.pid}) ` : ''}ended (${signal ?? `code ${code}`})` +
          (live.length > 0 ? `; its new flows go to worker ${live.join(', ')}` : '') +
          (again ? '; starting a new one on its index' : ''),
      );
    }
    if (again) {
      // After the drop: a new worker's holds on the index must not be dropped with the old one's.
      dropped
        .then(() => this.spawn(index))
        .catch((err: Error) => this.options.log(`byway run: worker ${index} not restarted: ${err.message}`));
      return;
    }
    if (this.slots.every((s) => s === undefined)) void dropped.then(() => this.ended());
  }

  /** Every worker has ended: close the link and resolve `done`. */
  private ended(): void {
    if (this.slots.some((s) => s !== undefined)) return;
    this.server.close();
    try {
      unlinkSync(this.options.link);
    } catch {
      /* gone */
    }
    this.finish(this.failure ?? 0);
  }

  /** The steering program for the kernel's member order now, through the ARP owner; the ARP role to the lowest live worker. */
  private retable(): void {
    const owner = this.members.arpOwner;
    if (owner === undefined) return;
    if (this.fanout) {
      this.send(owner, MsgType.program, buildFanoutProgram({ workers: this.size, slots: this.members.slots(), serviceSlots: this.members.serviceSlots() }));
      // Each worker lists its half-open connections for the others (strays.ts HalfOpens).
      for (const w of this.members.live) this.send(w, MsgType.halfopen, new Uint8Array(0));
    }
    if (owner !== this.arpOwner) {
      if (this.arpOwner !== undefined) this.send(this.arpOwner, MsgType.role, Uint8Array.of(0));
      this.send(owner, MsgType.role, Uint8Array.of(1));
      this.arpOwner = owner;
    }
  }

  /**
   * Shared-address AF_XDP: drop the holds of worker `index`, which has ended (after `beforeDrop`, for tests). A
   * port others hold whose reservation died with it and could not be taken again is said on stderr: a kernel
   * program took it meanwhile, and byway's flows on it and that program's now compete.
   */
  private dropFlows(index: number): Promise<void> {
    const fm = this.options.flowMap;
    if (!fm) return Promise.resolve();
    const drop = (): void => {
      try {
        const { released, kept, reserved, lost } = fm.dropHolder(index, (owner, fd) => this.unreserve(owner, fd));
        this.reservations.retaken += reserved;
        this.reservations.lost += lost.length;
        if (!this.closing && released + kept > 0) {
          this.options.log(`byway run: worker ${index}'s flows: ${released} back to the kernel, ${kept} held by others (${reserved} of them reserved again here)`);
        }
        for (const l of lost) {
          this.options.log(
            `byway run: ${l.protocol === 6 ? 'tcp' : 'udp'}/${l.port}, held by other workers, lost its kernel reservation with worker ${index} and could not be reserved again (errno ${l.errno}${l.errno === 98 ? ': a kernel socket took the port' : ''})`,
          );
        }
      } catch (err) {
        this.options.log(`byway run: worker ${index}'s flows not dropped: ${(err as Error).message}`);
      }
    };
    if (!this.options.beforeDrop || this.closing) {
      drop();
      return Promise.resolve();
    }
    return this.options.beforeDrop(index).then(drop, drop);
  }

  /** A worker's claim joined a flow another worker reserves: take a copy of that reservation (see the contract). */
  private adopt(protocol: number, port: number, address: number): void {
    const r = this.options.flowMap!.adopt(protocol, port, address, (owner) => this.slots[owner]?.pid || undefined, (owner, fd) => this.unreserve(owner, fd));
    if (r === 'adopted') this.reservations.adopted++;
    else if (r !== 'none') {
      this.reservations.adoptFailed++;
      this.options.log(`byway run: the reservation of ${protocol === 6 ? 'tcp' : protocol === 17 ? 'udp' : `protocol ${protocol}`}/${port} not adopted (errno ${r}); it stays its worker's`);
    }
  }

  /**
   * A TCP segment worker `from` holds no connection for (u64 tried | frame): to the next live worker not asked yet,
   * the last one final (plan.ts strayNext: exactly one of them answers a flow nobody holds).
   */
  private stray(from: number, payload: Uint8Array): void {
    const r = routeStray(from, payload, this.members.live.filter((w) => this.slots[w]?.conn !== undefined), this.strays);
    if (r !== undefined) this.send(r.to, MsgType.stray, r.message);
  }

  /** Ask worker `owner` to close its reservation descriptor `fd` (an orphan's). */
  private unreserve(owner: number, fd: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, fd);
    this.send(owner, MsgType.unreserve, b);
  }

  private send(index: number, type: MsgType, payload: Uint8Array): void {
    this.slots[index]?.conn?.write(encodeMessage(type, payload));
  }

  /** Send `signal` to every worker (the supervisor's SIGTERM, SIGINT, SIGHUP), and start none again. */
  close(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.closing = true;
    for (const s of this.slots) s?.child.kill(signal);
  }

  /** Each worker's answer to a control request (workers without a control socket, or not answering, left out). */
  private async ask(cmd: 'stat' | 'ss'): Promise<Array<{ index: number; pid: number; answer: Record<string, unknown> }>> {
    const asked = this.slots.map(async (s, index) => {
      if (!s?.control) return undefined;
      try {
        return { index, pid: s.pid, answer: await query(s.pid, { cmd }, s.control) };
      } catch {
        return undefined;
      }
    });
    return (await Promise.all(asked)).filter((x) => x !== undefined);
  }

  /**
   * `byway stat` on the supervisor: the configuration (the first worker's), every counter summed over the workers
   * (`stack`, `driver`, `paths`), each worker's under `worker.wINDEX`, and `workers` (index, pid).
   */
  async stat(): Promise<Record<string, unknown>> {
    const per = await this.ask('stat');
    const first = per[0]?.answer ?? {};
    const total: Record<string, unknown> = {};
    const worker: Record<string, unknown> = {};
    for (const p of per) {
      const counters = { stack: p.answer['stack'], driver: p.answer['driver'], paths: p.answer['paths'], strayRelay: p.answer['strayRelay'], halfOpens: p.answer['halfOpens'] };
      addInto(total, counters);
      worker[`w${p.index}`] = counters;
    }
    const info: Record<string, unknown> = {};
    for (const k of ['spec', 'netns', 'profile', 'pollMode', 'addresses', 'rules']) info[k] = first[k];
    const list = per.map((p) => `${p.index} pid ${p.pid}`).join(', ');
    return {
      pid: process.pid,
      time: Date.now(),
      ...info,
      cluster: `${this.size} workers, ${this.fanout ? `fanout group ${this.group}` : this.options.xskMapFd !== undefined ? 'one AF_XDP queue each' : 'one TAP queue each'}; answering: ${list || 'none'}`,
      workers: per.map((p) => ({ index: p.index, pid: p.pid })),
      ...total,
      worker,
      ...(this.options.flowMap ? { reservations: { ...this.reservations } } : {}),
      ...(this.fanout ? { strays: { ...this.strays } } : {}),
      // AF_XDP: the queues no worker serves now (worker i has queue i) and, shared mode, the frames dropped on each.
      ...(this.options.xskMapFd !== undefined
        ? { queues: { unserved: this.slots.flatMap((s, q) => (s ? [] : [q])), dropped: this.options.flowMap?.unboundDrops() ?? [] } }
        : {}),
    };
  }

  /** `byway ss` on the supervisor: every worker's sockets, each with its `worker` index. */
  async ss(): Promise<Record<string, unknown>> {
    const per = await this.ask('ss');
    const rows = (key: string): unknown[] =>
      per.flatMap((p) => ((p.answer[key] as Array<Record<string, unknown>> | undefined) ?? []).map((r) => ({ ...r, worker: p.index })));
    return { pid: process.pid, workers: per.map((p) => ({ index: p.index, pid: p.pid })), tcp: rows('tcp'), listening: rows('listening'), udp: rows('udp') };
  }
}
