/**
 * The floor paths (issue #12): bench/lib/floor.c on both ends of the bench veth, busy-polling, with the addresses
 * of the both-ends byway paths (10.77.9.3 on vethA in A, 10.77.9.4 on vethB in B; over AF_PACKET the MACs byway
 * uses there, over AF_XDP the interfaces' own). No Node, no stack: what the raw interface gives, so byway's figures
 * can be read as byway/floor beside byway/kernel.
 *
 *   floor-af-xdp        AF_XDP copy mode on both ends (an XDP program redirects every frame to the socket)
 *   floor-af-packet-v2  AF_PACKET TPACKET_V2 rings on both ends (promiscuous, own MACs, qdisc bypass)
 *
 * Workloads: udp-pp-<size> (reflector in B, pinger in A), udp-stream-tx/rx (floor blast -> floor sink, each way),
 * udp-capacity (bench/lib/blast.c on B's kernel socket, paced, into the floor's sink in A; B gets a permanent
 * neighbour entry for A's floor address, which answers no ARP), and on floor-af-packet-v2 tcp-bulk-rx-1:
 * bench/lib/tcp-sink-floor.c in A (as little TCP as a receiver can have, over the TPACKET_V2 ring with the vnet
 * header af-packet-tso uses, copying every byte once into 1 MiB of buffers) under a node:net sender in B writing
 * 64 KiB chunks, goodput over the window as the Node paths' tcp-bulk measures it at the receiver. Other workloads
 * have no floor and are not listed.
 * Errors are recorded per workload, as on the other paths.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { execIn, ipIn } from '../../test/helpers/netns.js';
import { judgeTrial, searchCapacity, type CapacityResult, type SearchOptions } from './capacity.js';
import { runC, type CPrograms } from './cprogs.js';
import { BYWAY_A, BYWAY_PACKET_MAC, PEER_BYWAY_B, PEER_BYWAY_PACKET_MAC, type TopologyInfo } from './topology.js';
import { bulkSenderScript } from './bulk-sender.js';
import { startFloorSink, type FloorSink } from './floor-sink.js';
import { cpuSplit, cpuStat, fmtCpuSplit } from './cpu-split.js';
import type { PathRecord, WorkloadRecord } from '../report.js';

export type FloorStack = 'floor-af-xdp' | 'floor-af-packet-v2';
export const FLOOR_STACKS: readonly FloorStack[] = ['floor-af-xdp', 'floor-af-packet-v2'];
/** The workloads a floor path runs (prefixes of workload ids). */
export const FLOOR_WORKLOADS = ['udp-pp', 'udp-stream', 'udp-capacity', 'tcp-bulk'];

export interface FloorOptions {
  readonly topo: TopologyInfo;
  readonly progs: CPrograms;
  readonly pin: boolean;
  readonly workloads: readonly string[];
  readonly sizes: readonly number[];
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly capacity: SearchOptions & { readonly trialS: number };
  readonly nextPort: () => number;
  readonly log: (line: string) => void;
}

interface End {
  ns: string;
  ifname: string;
  mac: string;
  ip: string;
  cpu: string;
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
const load = (): number[] => loadavg().map((x) => round(x));

function ends(stack: FloorStack, t: TopologyInfo): { a: End; b: End } {
  const xdp = stack === 'floor-af-xdp';
  const mac = (ns: string, ifname: string): string => execIn(ns, 'cat', [`/sys/class/net/${ifname}/address`]).trim();
  return {
    a: { ns: t.nsA, ifname: t.vethA, mac: xdp ? mac(t.nsA, t.vethA) : BYWAY_PACKET_MAC, ip: BYWAY_A, cpu: '0' },
    b: { ns: t.nsB, ifname: t.vethB, mac: xdp ? mac(t.nsB, t.vethB) : PEER_BYWAY_PACKET_MAC, ip: PEER_BYWAY_B, cpu: '1' },
  };
}

export async function runFloorPath(stack: FloorStack, o: FloorOptions): Promise<PathRecord> {
  const rec: PathRecord = { id: stack, stack, mode: 'busy', peer: 'floor', ok: true, loadavgStart: load(), workloads: {}, restarts: 0 };
  const tcp = stack === 'floor-af-packet-v2' && o.workloads.includes('tcp-bulk') ? '; TCP bulk: tcp-sink-floor.c in A' : '';
  o.log(`\n== ${stack} (bench/lib/floor.c on both ends, busy-polling ${stack === 'floor-af-xdp' ? 'AF_XDP copy mode' : 'AF_PACKET TPACKET_V2'}${tcp})  load ${rec.loadavgStart.join(' ')}`);
  let e: { a: End; b: End };
  try {
    e = ends(stack, o.topo);
  } catch (err) {
    rec.ok = false;
    rec.error = (err as Error).message;
    return rec;
  }
  const backend = stack === 'floor-af-xdp' ? 'xdp' : 'v2';
  const cmd = (x: End, peer: End, port: number, role: string, size: number, warmS: number, secs: number): string[] => [
    'ip', 'netns', 'exec', x.ns, ...(o.pin ? ['taskset', '-c', x.cpu] : []),
    o.progs.floor, backend, x.ifname, x.mac, x.ip, peer.mac, peer.ip, String(port), role, String(size), String(warmS), String(secs),
  ];
  rec.commands = { example: cmd(e.a, e.b, 0, 'ping', 64, o.warmupMs / 1000, o.durationMs / 1000).join(' ') };
  const warmS = o.warmupMs / 1000;
  const secs = o.durationMs / 1000;
  const limit = (s: number): number => (s + 10) * 1000;
  /** Start `server` (waits for its ready line), then run `client` to the end, then collect both. */
  const pair = async (server: string[], serverS: number, client: string[], clientS: number): Promise<[Record<string, number>, Record<string, number>]> => {
    const srv = runC(server, limit(serverS), 'floor: ready');
    try {
      await srv.ready;
      const cli = runC(client, limit(clientS));
      const cout = await cli.done;
      const sout = await srv.done;
      return [JSON.parse(sout.trim().split('\n').pop()!), parseOut(cout)];
    } finally {
      srv.kill();
    }
  };
  const plan: Array<{ id: string; label: string; fn: () => Promise<{ metrics: Record<string, number>; raw: Record<string, unknown>; summary: string }> }> = [];
  if (o.workloads.includes('udp-pp')) {
    for (const size of o.sizes) {
      plan.push({
        id: `udp-pp-${size}`,
        label: `UDP ping-pong ${size} B`,
        fn: async () => {
          const port = o.nextPort();
          const [refl, ping] = await pair(cmd(e.b, e.a, port, 'reflect', size, warmS, secs + 3), warmS + secs + 3, cmd(e.a, e.b, port, 'ping', size, warmS, secs), warmS + secs);
          if (!ping['samples']) throw Object.assign(new Error(`no echo came back (reflected ${refl['reflected']}, lost ${ping['lost']})`), { code: 'ENOREPLY' });
          return {
            metrics: { p50Us: ping['p50Us']!, p99Us: ping['p99Us']!, p999Us: ping['p999Us']!, meanUs: ping['meanUs']!, roundTripsPerSec: ping['roundTripsPerSec']!, lost: ping['lost']! },
            raw: { client: ping, server: refl },
            summary: `half-RTT p50 ${ping['p50Us']} us, p99 ${ping['p99Us']} us, p99.9 ${ping['p999Us']} us (${ping['samples']} samples, ${ping['lost']} lost)`,
          };
        },
      });
    }
  }
  if (o.workloads.includes('udp-stream')) {
    for (const dir of ['tx', 'rx'] as const) {
      plan.push({
        id: `udp-stream-${dir}`,
        label: `UDP 64 B one-way, subject ${dir === 'tx' ? 'sends' : 'receives'}`,
        fn: async () => {
          const port = o.nextPort();
          const [snd, rcv] = dir === 'tx' ? [e.a, e.b] : [e.b, e.a];
          const [sink, blast] = await pair(cmd(rcv, snd, port, 'sink', 64, warmS, secs), warmS + secs + 1, cmd(snd, rcv, port, 'blast', 64, warmS, secs), warmS + secs);
          const lost = blast['sent']! - sink['received']!;
          const lossPct = blast['sent'] ? round((100 * lost) / blast['sent'], 3) : NaN;
          return {
            metrics: { sentPerSec: blast['sentPerSec']!, receivedPerSec: sink['receivedPerSec']!, lost, lossPct },
            raw: { sender: blast, receiver: sink },
            summary: `sent ${blast['sentPerSec']!.toLocaleString('en')}/s, received ${sink['receivedPerSec']!.toLocaleString('en')}/s, lost ${lost} of ${blast['sent']} (${lossPct} %)`,
          };
        },
      });
    }
  }
  if (o.workloads.includes('udp-capacity')) {
    plan.push({
      id: 'udp-capacity',
      label: 'UDP 64 B receive capacity (< 0.1 % loss)',
      fn: async () => {
        const port = o.nextPort();
        ipIn(e.b.ns, `neigh replace ${e.a.ip} lladdr ${e.a.mac} dev ${e.b.ifname} nud permanent`);
        try {
          const res = await searchCapacity(async (pps) => {
            const blast = ['ip', 'netns', 'exec', e.b.ns, ...(o.pin ? ['taskset', '-c', e.b.cpu] : []), o.progs.blast, 'udp', e.a.ip, String(port), '64', String(o.capacity.trialS), String(pps)];
            const [sink, b] = await pair(cmd(e.a, e.b, port, 'sink', 64, 0, o.capacity.trialS), o.capacity.trialS + 1, blast, o.capacity.trialS);
            return judgeTrial(pps, b['sent']!, sink['received']!, o.capacity.trialS, o.capacity.lossLimitPct);
          }, o.capacity);
          return capacityOutcome(res);
        } finally {
          try {
            ipIn(e.b.ns, `neigh del ${e.a.ip} dev ${e.b.ifname}`);
          } catch {
            // gone with the namespace
          }
        }
      },
    });
  }
  if (o.workloads.includes('tcp-bulk') && backend === 'v2') {
    plan.push({ id: 'tcp-bulk-rx-1', label: 'TCP bulk, subject receives, 1 conn', fn: () => floorBulkReceive(e.a, e.b, o) });
  }
  for (const w of plan) {
    const t0 = performance.now();
    const wr: WorkloadRecord = { ok: false, label: w.label, loadavg: load() };
    try {
      const r = await w.fn();
      Object.assign(wr, { ok: true, metrics: r.metrics, raw: r.raw });
      o.log(`   ${w.label.padEnd(40)} ${r.summary}`);
    } catch (err) {
      const x = err as { code?: string; message?: string };
      wr.error = `${x.code ? x.code + ': ' : ''}${x.message ?? String(err)}`;
      o.log(`   ${w.label.padEnd(40)} FAILED: ${wr.error}`);
    }
    wr.seconds = round((performance.now() - t0) / 1000, 1);
    rec.workloads[w.id] = wr;
  }
  rec.loadavgEnd = load();
  return rec;
}

/**
 * tcp-bulk-rx-1 on the floor: tcp-sink-floor.c in A (own MAC and address, answering ARP itself; 1 MiB copy area)
 * under bulkSenderScript's one connection from B's kernel address, pinned as the Node paths' sides are. B's
 * neighbour entry for the floor's address is set for the workload (an earlier path may have left another MAC).
 */
async function floorBulkReceive(a: End, b: End, o: FloorOptions): Promise<{ metrics: Record<string, number>; raw: Record<string, unknown>; summary: string }> {
  const port = o.nextPort();
  let sink: FloorSink | undefined;
  let sender: ChildProcess | undefined;
  ipIn(b.ns, `neigh replace ${a.ip} lladdr ${a.mac} dev ${b.ifname} nud permanent`);
  try {
    sink = await startFloorSink({ bin: o.progs.tcpSinkFloor, ns: a.ns, cpu: o.pin ? a.cpu : undefined, kind: 'v2', ifname: a.ifname, mac: a.mac, ip: a.ip, port, copyMiB: 1 });
    sender = spawn('ip', ['netns', 'exec', o.topo.nsB, ...(o.pin ? ['taskset', '-c', b.cpu] : []), process.execPath, '-e', bulkSenderScript(port, 1), a.ip], { stdio: 'ignore' });
    await sleepMs(o.warmupMs);
    const m0 = await sink.mark();
    const c0 = cpuStat();
    await sleepMs(o.durationMs);
    const m1 = await sink.mark();
    const c1 = cpuStat();
    const vcpus = cpuSplit(c0, c1);
    const mib = (m1.bytes - m0.bytes) / 1048576;
    const gbit = ((m1.bytes - m0.bytes) * 8) / ((m1.t - m0.t) / 1000) / 1e9;
    if (!(gbit > 0)) throw Object.assign(new Error(`nothing received in the window (${m1.frames} frames in all)`), { code: 'ESTALLED' });
    const per = (k: 'cpuMs' | 'frames' | 'acks' | 'oooSegs'): number => round((m1[k] - m0[k]) / mib, 2);
    return {
      metrics: { gbitPerSec: round(gbit, 3), connected: 1 },
      raw: { marks: [m0, m1], perMiB: { cpuMs: per('cpuMs'), frames: per('frames'), acks: per('acks'), oooSegs: per('oooSegs') }, vcpus },
      summary: `${round(gbit, 3)} Gbit/s goodput at the floor (per MiB: ${per('frames')} frames, ${per('acks')} ACKs, ${per('cpuMs')} ms of its CPU; vCPUs: ${fmtCpuSplit(vcpus)})`,
    };
  } finally {
    sender?.kill('SIGKILL');
    sink?.kill();
    try {
      ipIn(b.ns, `neigh del ${a.ip} dev ${b.ifname}`);
    } catch {
      // gone with the namespace
    }
  }
}

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** blast.c prints 'sent N'; floor.c one JSON line. */
function parseOut(out: string): Record<string, number> {
  const last = out.trim().split('\n').pop() ?? '';
  const m = /^sent (\d+)$/.exec(last);
  if (m) return { sent: Number(m[1]) };
  return JSON.parse(last) as Record<string, number>;
}

/** The metrics and summary of a capacity search (shared with the Node paths' capacity workload). */
export function capacityOutcome(res: CapacityResult): { metrics: Record<string, number>; raw: Record<string, unknown>; summary: string } {
  if (res.capacityPps === 0 && !res.trials.some((t) => t.pass)) {
    const t = res.trials[0];
    throw Object.assign(new Error(`no rate passed: at ${t?.offeredPps ?? '?'}/s offered, ${t?.received ?? 0} of ${t?.sent ?? 0} received (${t?.lossPct ?? '?'} % lost)`), { code: 'ENOCAPACITY' });
  }
  return {
    metrics: { capacityPerSec: res.capacityPps, offeredPerSec: res.offeredPps, ...(res.failedAtPps !== undefined ? { failedAtPerSec: res.failedAtPps } : {}), senderLimited: res.senderLimited ? 1 : 0, trials: res.trials.length },
    raw: { search: res },
    summary: `${res.capacityPps.toLocaleString('en')}/s received at ${res.offeredPps.toLocaleString('en')}/s offered with < 0.1 % loss${res.failedAtPps !== undefined ? `; ${res.failedAtPps.toLocaleString('en')}/s lost more` : ''}${res.senderLimited ? ' (the sender could go no faster: a lower bound)' : ''} [${res.trials.length} trials, ${res.stoppedBy}]`,
  };
}
