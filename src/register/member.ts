/**
 * The preload in a worker process of `byway run --workers N` (src/cluster/processes.ts starts them): the program
 * runs unmodified in N processes, each with its own stack on its own member of one AF_PACKET fanout group (or its own
 * AF_XDP receive queue, BYWAY_XSKMAP below), all
 * sharing byway's address and MAC (the steering of src/cluster: drivers/af-packet/fanout.ts, plan.ts).
 *
 * The supervisor sets, for each worker process:
 *   BYWAY_WORKER   INDEX/COUNT ('1/2'); the program may read it, as a cluster worker reads its id
 *   BYWAY_CLUSTER  the supervisor's Unix socket (link.ts), absolute
 *   BYWAY_FANOUT   GROUP:SLOTS:SERVICE ('4242:0,1:0,0'): the fanout group and the steering program's two slot
 *                  tables at the join (fanout.ts: `slots` for the ephemeral slices, `serviceSlots` for clients)
 *   BYWAY_ARP      'answer' (this worker answers ARP for the address) or 'relay' (it learns from the owner's relay)
 *   BYWAY_XSKMAP   instead of BYWAY_FANOUT, on AF_XDP: the descriptor of the supervisor's XSKMAP this process
 *                  inherited ('3'); the worker binds receive queue INDEX into it, and a frame for another worker's
 *                  ephemeral slice (the device picks the queue) hops to its owner through the supervisor
 *   BYWAY_TAPQ     instead of BYWAY_FANOUT, on a multi-queue TAP device: the MAC all workers share; the worker
 *                  attaches a queue of its own, and frames hop as with BYWAY_XSKMAP
 *   BYWAY_COOKIE   the cluster's SYN-cookie secret (32 hex digits, src/cluster/cookies.ts): every worker validates
 *                  the cookies the others sent; the preload deletes it from process.env once read
 *   BYWAY_FLOWMAP  with BYWAY_XSKMAP, on AF_XDP in shared-address mode: the descriptor of the program's flow map
 *                  ('4'), which every worker edits (drivers/af-xdp/flow-table.ts); the worker reports an orphan
 *                  (a flow no worker holds whose reservation another process owns) and a claim that joins a flow another
 *                  worker reserves (the supervisor adopts that reservation), and closes a reservation of its
 *                  own when the supervisor says so
 * This worker's stack takes its TCP and UDP ephemeral ports from its own slice of the range (plan.ts), so the
 * return traffic of its connections is steered back to it. Over the link it says hello once its socket has joined
 * the group (the supervisor starts the next worker only then: the kernel's member order is the start order),
 * relays every ARP frame it receives, says when the program first listens (its share of the clients is sent to it
 * only then, so a starting worker resets no client), and takes relayed ARP frames, steering programs and the ARP
 * role. On a fanout group, a TCP segment its stack holds no connection for (a flow another worker accepted before
 * the service table moved it here) goes to the supervisor instead of a RST, and strays of other workers come in
 * from it (src/cluster/strays.ts); at each table change it lists its half-open connections for the others, and
 * sends the SYNs of theirs to them (HalfOpens).
 *
 * A malformed variable is a BywayError ERR_INVALID_ARG_VALUE naming it (the preload then exits 1). If the link
 * ends while the worker runs (the supervisor died), the worker sends itself SIGTERM: nobody manages the group any
 * more, and the program's own SIGTERM handling (or Node's default) ends it.
 */
import net from 'node:net';
import { BywayError } from '../../protocols/util/errors.js';
import type { FrameDriver } from '../../drivers/types.js';
import { buildFanoutProgram } from '../../drivers/af-packet/fanout.js';
import { relay, type RelayDriver } from '../../drivers/middleware/relay.js';
import type { Stack, StackOptions } from '../api/stack.js';
import { everyWorkerSees, fanoutRelays, sliceOwner, withWorkerLimits, workerSettings } from '../cluster/plan.js';
import { LinkReader, MsgType, encodeHello, encodeMessage } from '../cluster/link.js';
import { cookieKeyFromEnv, sharedCookies } from '../cluster/cookies.js';
import { HalfOpens, StrayRelay, noStrays, type HalfOpenCounters, type StrayCounters } from '../cluster/strays.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface MemberConfig {
  readonly index: number;
  readonly workers: number;
  readonly group: number;
  readonly slots: readonly number[];
  readonly serviceSlots: readonly number[];
  readonly answerArp: boolean;
  /** The supervisor's socket. */
  readonly link: string;
  /** AF_XDP: the inherited XSKMAP descriptor (BYWAY_XSKMAP); then there is no fanout group (group 0, no slots). */
  readonly xskMapFd?: number;
  /** A multi-queue TAP: the MAC every worker's queue uses (BYWAY_TAPQ); no fanout group either. */
  readonly tapHwAddress?: string;
  /** Shared-address AF_XDP: the inherited flow map descriptor (BYWAY_FLOWMAP). */
  readonly flowMapFd?: number;
  /** The cluster's SYN-cookie secret (BYWAY_COOKIE, src/cluster/cookies.ts); undefined: this stack draws its own. */
  readonly cookieKey?: Uint8Array;
}

function bad(variable: string, expected: string, got: string | undefined): BywayError {
  return new BywayError('ERR_INVALID_ARG_VALUE', `${variable}: expected ${expected}; got '${got ?? ''}' (set by byway run --workers)`);
}

/** The worker's place in the cluster, or undefined outside `byway run --workers`. */
export function memberFromEnv(env: Env): MemberConfig | undefined {
  const place = memberPlace(env);
  const cookieKey = place && cookieKeyFromEnv(env);
  return cookieKey ? { ...place!, cookieKey } : place;
}

function memberPlace(env: Env): MemberConfig | undefined {
  const w = env['BYWAY_WORKER'];
  if (w === undefined || w === '') return undefined;
  const m = /^(\d{1,2})\/(\d{1,2})$/.exec(w);
  const index = Number(m?.[1]);
  const workers = Number(m?.[2]);
  if (!m || workers < 1 || workers > 64 || index >= workers) throw bad('BYWAY_WORKER', 'INDEX/COUNT with COUNT 1..64 and INDEX < COUNT', w);
  const link = env['BYWAY_CLUSTER'];
  if (link === undefined || !link.startsWith('/')) throw bad('BYWAY_CLUSTER', "the supervisor's socket (an absolute path)", link);
  const f = /^(\d{1,5}):(\d{1,2}(?:,\d{1,2})*):(\d{1,2}(?:,\d{1,2})*)$/.exec(env['BYWAY_FANOUT'] ?? '');
  const arp0 = env['BYWAY_ARP'];
  const xsk = env['BYWAY_XSKMAP'];
  if (xsk !== undefined && xsk !== '') {
    if (!/^\d{1,4}$/.test(xsk)) throw bad('BYWAY_XSKMAP', 'a descriptor number', xsk);
    if (arp0 !== 'answer' && arp0 !== 'relay') throw bad('BYWAY_ARP', "'answer' or 'relay'", arp0);
    const fm = env['BYWAY_FLOWMAP'];
    if (fm !== undefined && fm !== '' && !/^\d{1,4}$/.test(fm)) throw bad('BYWAY_FLOWMAP', 'a descriptor number', fm);
    const flowMapFd = fm === undefined || fm === '' ? undefined : Number(fm);
    return { index, workers, group: 0, slots: [], serviceSlots: [], answerArp: arp0 === 'answer', link, xskMapFd: Number(xsk), flowMapFd };
  }
  const tapq = env['BYWAY_TAPQ'];
  if (tapq !== undefined && tapq !== '') {
    if (!/^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i.test(tapq)) throw bad('BYWAY_TAPQ', 'a MAC address (aa:bb:cc:dd:ee:ff)', tapq);
    if (arp0 !== 'answer' && arp0 !== 'relay') throw bad('BYWAY_ARP', "'answer' or 'relay'", arp0);
    return { index, workers, group: 0, slots: [], serviceSlots: [], answerArp: arp0 === 'answer', link, tapHwAddress: tapq.toLowerCase() };
  }
  const group = Number(f?.[1]);
  const slots = f ? f[2]!.split(',').map(Number) : [];
  const serviceSlots = f ? f[3]!.split(',').map(Number) : [];
  if (!f || group > 0xffff || [slots, serviceSlots].some((t) => t.length !== workers || t.some((s) => s >= workers))) {
    throw bad('BYWAY_FANOUT', `GROUP:SLOTS:SERVICE, a group 0..65535 and two tables of ${workers} member positions below ${workers}`, env['BYWAY_FANOUT']);
  }
  const arp = env['BYWAY_ARP'];
  if (arp !== 'answer' && arp !== 'relay') throw bad('BYWAY_ARP', "'answer' or 'relay'", arp);
  return { index, workers, group, slots, serviceSlots, answerArp: arp === 'answer', link };
}

/** The AF_PACKET fanout option this worker opens its socket with. */
export function memberFanout(cfg: MemberConfig): { group: number; mode: 'cbpf'; program: Uint8Array } {
  return { group: cfg.group, mode: 'cbpf', program: buildFanoutProgram({ workers: cfg.workers, slots: cfg.slots, serviceSlots: cfg.serviceSlots }) };
}

/**
 * What the worker's stack is given on top of the preload's options: its ephemeral slice, the ARP role and the
 * cluster's SYN-cookie secret on this process's clock (src/cluster/cookies.ts).
 */
export function memberStackOptions(cfg: MemberConfig, base: Omit<StackOptions, 'driver'>): Pick<StackOptions, 'answerArp' | 'limits'> {
  const own = workerSettings({ workers: cfg.workers }, cfg.index, cfg.answerArp ? cfg.index : -1);
  return { answerArp: own.answerArp, limits: withWorkerLimits(base.limits, own, cfg.cookieKey && sharedCookies(cfg.cookieKey)) };
}

export interface Member {
  /** The driver the stack takes: the AF_PACKET member, with ARP relayed to and from the other workers. */
  readonly driver: RelayDriver;
  /** Connect to the supervisor and say hello (call once the stack and the control socket exist). */
  start(stack: Stack, control: string | null): void;
  /** The program listens (a bypass TCP listener or bound UDP port): said once to the supervisor. */
  serving(): void;
  /** Shared-address AF_XDP: a release left an orphan (flow-table.ts): the supervisor finishes it. */
  orphaned(protocol: number, port: number, address: number): void;
  /** Shared-address AF_XDP: a claim joined a flow another worker's descriptor reserves: the supervisor adopts it. */
  shared(protocol: number, port: number, address: number): void;
  /** Strays (TCP segments for no connection on a service port): handed to the supervisor, and taken from it. */
  readonly strays: StrayCounters;
  /** Fanout: half-open connections listed for the others, theirs learned, and their SYNs sent on (strays.ts HalfOpens). */
  readonly halfOpens: HalfOpenCounters | undefined;
  close(): void;
}


/** A flow map key on the link (orphan, adopt): u32 address, u16 port, u8 protocol, big-endian. */
function flowKey(protocol: number, port: number, address: number): Uint8Array {
  const b = new Uint8Array(7);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, address);
  dv.setUint16(4, port);
  b[6] = protocol;
  return b;
}

export function openMember(
  cfg: MemberConfig,
  packet: FrameDriver & { setFanoutProgram?(program: Uint8Array): void; closeReservation?(fd: number): boolean },
  log: (line: string) => void,
): Member {
  let sock: net.Socket | undefined;
  let closing = false;
  let served = false;
  const send = (type: MsgType, payload: Uint8Array): void => {
    sock?.write(encodeMessage(type, payload));
  };
  const spec = { workers: cfg.workers };
  // AF_XDP and TAP queues: a frame for another worker's slice hops to it through the supervisor (cluster/worker.ts
  // does the same between threads); relayed frames for this worker come back in through `hop`.
  const hop =
    cfg.xskMapFd === undefined && cfg.tapHwAddress === undefined
      ? undefined
      : relay(packet, {
          match: (f) => {
            const w = sliceOwner(spec, f);
            return w !== undefined && w !== cfg.index;
          },
          divert: true,
          relay: (f) => send(MsgType.hop, f),
        });
  // A fanout group's service table moves flows between workers (a worker starts serving, one dies): strays go to
  // the supervisor, and the SYNs of another worker's half-open connections to that worker (strays.ts HalfOpens).
  // On AF_XDP and TAP queues the device's hash keeps a flow on its queue: nothing moves.
  const fanout = hop === undefined && packet.hwAddress !== undefined;
  const strays = fanout ? new StrayRelay({ ...spec, index: cfg.index }, packet.hwAddress!, (p) => send(MsgType.stray, p)) : undefined;
  const halfOpens = fanout
    ? new HalfOpens(spec, packet.hwAddress!, (p) => {
        strays!.counters.sent++;
        send(MsgType.stray, p);
      })
    : undefined;
  const syns = halfOpens && relay(packet, { match: (f) => halfOpens.diverts(f), divert: true, relay: (f) => halfOpens.divert(f) });
  // ARP to every worker; on queues the device picks, ICMP errors about service flows too (plan.ts everyWorkerSees);
  // on a fanout group IPv6 neighbour advertisements and ICMPv6 errors too (plan.ts fanoutRelays).
  const driver = relay(hop ?? syns ?? packet, { relay: (f) => send(MsgType.arp, f), match: hop ? (f) => everyWorkerSees(spec, f) : fanoutRelays });
  return {
    driver,
    strays: strays?.counters ?? noStrays(),
    halfOpens: halfOpens?.counters,
    start(stack, control) {
      if (strays !== undefined && stack.core.tcp !== undefined) strays.attach(stack.core.tcp, () => sock !== undefined, undefined, stack.core.udp);
      const reader = new LinkReader((type, payload) => {
        if (type === MsgType.arp) driver.inject(payload);
        else if (type === MsgType.stray) {
          const frame = strays?.received(payload);
          if (frame !== undefined) driver.inject(frame);
        }
        else if (type === MsgType.halfopen) {
          const tcp = stack.core.tcp;
          if (payload.length > 0) halfOpens?.learn(payload);
          else if (halfOpens !== undefined && tcp !== undefined) {
            const list = halfOpens.list(tcp);
            if (list.length > 0) send(MsgType.halfopen, list);
          }
        } else if (type === MsgType.hop) hop?.inject(payload);
        else if (type === MsgType.unreserve && payload.length === 4) packet.closeReservation?.(new DataView(payload.buffer, payload.byteOffset, 4).getInt32(0));
        else if (type === MsgType.role) stack.core.answerArp = payload[0] === 1;
        else if (type === MsgType.program) {
          try {
            packet.setFanoutProgram?.(payload);
          } catch (err) {
            log(`byway: worker ${cfg.index}: steering program not installed: ${(err as Error).message}`);
          }
        } else reader.fail(); // hello and serving are the worker's to send
      });
      // A kernel socket of Node's own (a path: the preload's patches leave it to node:net).
      sock = net.createConnection({ path: cfg.link });
      sock.unref();
      sock.on('data', (d: Buffer) => {
        reader.push(d);
        if (reader.broken) sock?.destroy();
      });
      sock.on('error', () => {}); // 'close' follows
      sock.on('close', () => {
        if (closing) return;
        log(`byway: worker ${cfg.index}: the supervisor (byway run --workers) is gone; ending this worker`);
        process.kill(process.pid, 'SIGTERM');
      });
      sock.write(encodeHello({ index: cfg.index, pid: process.pid, control }));
    },
    orphaned(protocol, port, address) {
      send(MsgType.orphan, flowKey(protocol, port, address));
    },
    shared(protocol, port, address) {
      send(MsgType.adopt, flowKey(protocol, port, address));
    },
    serving() {
      if (served) return;
      served = true;
      send(MsgType.serving, new Uint8Array(0));
    },
    close() {
      closing = true;
      sock?.destroy();
    },
  };
}
