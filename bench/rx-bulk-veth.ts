/**
 * What limits TCP bulk receive on the veth (needs root): byway (or the kernel, `--driver kernel`) receives in
 * namespace A what a `node:net` sender in namespace B writes in 64 KiB chunks, as bench/run.ts's tcp-bulk rx
 * workload does, with the veth's default offloads (GSO, GRO, checksum offload) on. While it runs, the kernel
 * sender's `ss -tin` is sampled (cwnd, the peer's window, rwnd_limited and sndbuf_limited times, ACKs received),
 * and at the end this prints load-independent figures per MiB received: ACKs the sender got, frames and TCP
 * segments byway took in, window updates, and each side's CPU time per MiB. Writes nothing into the repository.
 *
 *   taskset -c 0 node --import tsx bench/rx-bulk-veth.ts [--driver af-packet-tso|af-packet-v2|af-packet|af-xdp|tap-tso|kernel|floor-v2|floor-v2-copy|floor-v2-copy-cold|floor-tap-copy]
 *        [--mode busy|event] [--conns 1] [--seconds 3] [--warmup 1] [--sender-cpu 1] [--json]
 * `--prof-out FILE.cpuprofile`: a CPU profile of this process over the measured window only (the inspector's
 * profiler at a 100 us interval), for byway's receive path.
 * `gc` in the output: the receiving process's collections over the window (scavenges, mark-compacts, incremental
 * marking; bench/lib/gc-window.ts), its minor page faults, and its heap at the end (`process.memoryUsage()`, MB);
 * `perMiB.receiverFaults` the faults per MiB received. The same for the kernel path's node:net sink.
 * `--driver floor-v2` (`floor-v2-copy`, `floor-v2-copy-cold`): instead of byway, bench/lib/tcp-sink-floor.c, a
 * busy-polling C receiver with as little TCP as can be over the same AF_PACKET ring af-packet-tso uses (without, or
 * with, one copy of every byte, into 1 MiB of buffers that stay in the caches or into 64 MiB that do not):
 * the floor of bulk receive on this interface, its CPU time and the sender's per MiB as for the others.
 * `--floor-work-ns N`: the floor spins N ns after each TCP frame (a stand-in for a stack's per-frame work).
 * `--driver tap-tso` (byway) and `floor-tap-copy` (the floor, one copy) receive through the topology's TAP instead,
 * bridged to vethA as bench/run.ts's TAP paths are (read() per frame, write() per ACK).
 * Compiled (as users run the package): `npx tsc -p tsconfig.json` then `node dist/bench/rx-bulk-veth.js ...`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createStack, type Stack } from '../src/api/stack.js';
import type { FrameDriver } from '../drivers/types.js';
import { BYWAY_A, BYWAY_PACKET_MAC, KERNEL_A, Topology } from './lib/topology.js';
import { execIn, ipIn } from '../test/helpers/netns.js';
import { childLines } from './lib/child-lines.js';
import { GcCounter, gcDelta, type GcFigures } from './lib/gc-window.js';
import { cpuSplit, cpuStat } from './lib/cpu-split.js';
import { buildCPrograms, removeCPrograms } from './lib/cprogs.js';
import { bulkSenderScript } from './lib/bulk-sender.js';
import { startFloorSink, type FloorMark, type FloorSink } from './lib/floor-sink.js';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';

/** The floor has no collector: its collections are none, its faults its own. */
const NO_GC: GcFigures = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0, incremental: 0, incrementalMs: 0, minorFaults: 0 };

function opt(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const driverKind = opt('--driver', 'af-packet-tso');
const mode = opt('--mode', 'busy') as 'event' | 'busy';
const conns = Number(opt('--conns', '1'));
const seconds = Number(opt('--seconds', '3'));
const warmup = Number(opt('--warmup', '1'));
const senderCpu = opt('--sender-cpu', '1');
const json = process.argv.includes('--json');
const profOut = opt('--prof-out', '');
const floorWorkNs = Number(opt('--floor-work-ns', '0'));
const PORT = 9100;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The sender: node:net in namespace B, 64 KiB writes as fast as the socket takes them, until killed. */
const SENDER = bulkSenderScript(PORT, conns);

/**
 * The kernel receiver (`--driver kernel`): node:net in namespace A, counting bytes, printing them when asked, with
 * its collections and page faults (the fields of bench/lib/gc-window.ts's GcFigures; a plain script, nothing
 * imported, so that the sink is node:net as users run it).
 */
const KERNEL_SINK = `
const net = require('node:net');
let bytes = 0;
const gc = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0, incremental: 0, incrementalMs: 0, minorFaults: 0 };
new PerformanceObserver((l) => { for (const e of l.getEntries()) { const k = e.detail.kind;
  if (k === 1) { gc.scavenges++; gc.scavengeMs += e.duration; } else if (k === 4) { gc.markCompacts++; gc.markCompactMs += e.duration; }
  else if (k === 8) { gc.incremental++; gc.incrementalMs += e.duration; } } }).observe({ entryTypes: ['gc'] });
net.createServer((s) => s.on('data', (d) => { bytes += d.length; })).listen(${PORT}, process.argv[1], () => console.log('ready'));
process.stdin.on('data', () => console.log(JSON.stringify({ bytes, t: performance.timeOrigin + performance.now(), cpu: process.cpuUsage(),
  gc: { ...gc, minorFaults: process.resourceUsage().minorPageFault }, heapMB: Math.round(process.memoryUsage().heapUsed / 1e5) / 10 })));`;

interface SsSample {
  cwnd?: number;
  rttMs?: number;
  sndWnd?: number;
  rcvSpace?: number;
  busyMs?: number;
  rwndLimitedMs?: number;
  sndbufLimitedMs?: number;
  segsIn?: number;
  dataSegsOut?: number;
  bytesAcked?: number;
  unacked?: number;
  retrans?: number;
}

function parseSs(text: string): SsSample[] {
  const out: SsSample[] = [];
  for (const line of text.split('\n')) {
    if (!/cwnd:/.test(line)) continue;
    const num = (re: RegExp): number | undefined => {
      const m = re.exec(line);
      return m ? Number(m[1]) : undefined;
    };
    out.push({
      cwnd: num(/\bcwnd:(\d+)/),
      rttMs: num(/\brtt:([\d.]+)/),
      sndWnd: num(/\bsnd_wnd:(\d+)/),
      busyMs: num(/\bbusy:(\d+)ms/),
      rwndLimitedMs: num(/\brwnd_limited:(\d+)ms/) ?? 0,
      sndbufLimitedMs: num(/\bsndbuf_limited:(\d+)ms/) ?? 0,
      segsIn: num(/\bsegs_in:(\d+)/),
      dataSegsOut: num(/\bdata_segs_out:(\d+)/),
      bytesAcked: num(/\bbytes_acked:(\d+)/),
      unacked: num(/\bunacked:(\d+)/) ?? 0,
      retrans: num(/\bretrans:\d+\/(\d+)/) ?? 0,
    });
  }
  return out;
}

function cpuOfPid(pid: number): number {
  // utime + stime of the process (all threads), in clock ticks (100 per second here).
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

async function openDriver(nsA: string, vethA: string, tapA: string): Promise<FrameDriver> {
  if (driverKind === 'tap-tso') {
    // As bench/peer.ts opens it for run.ts's tap-tso path: the topology's TAP, bridged to vethA.
    const { openTap } = await import('../drivers/tap/index.js');
    return openTap({ name: tapA, netns: nsA, busyPoll: mode === 'busy', queueLength: 4096, vnetHdr: true, tso: true });
  }
  if (driverKind === 'af-xdp') {
    const { openAfXdp } = await import('../drivers/af-xdp/index.js');
    return openAfXdp({ ifname: vethA, netns: nsA, mode: 'own', ipv4: BYWAY_A, busyPoll: mode === 'busy' });
  }
  const { openAfPacket } = await import('../drivers/af-packet/index.js');
  const hw = new Uint8Array(BYWAY_PACKET_MAC.split(':').map((h) => parseInt(h, 16)));
  return openAfPacket({
    ifname: vethA,
    netns: nsA,
    ipv4: BYWAY_A,
    busyPoll: mode === 'busy',
    hwAddress: hw,
    promiscuous: true,
    ...(driverKind === 'af-packet-v2' ? { tpacketVersion: 2 as const } : {}),
    ...(driverKind === 'af-packet-tso' ? { tpacketVersion: 2 as const, tso: true } : {}),
  });
}

async function main(): Promise<void> {
  const topo = new Topology({ offloads: 'on' });
  const { nsA, nsB, vethA, tapA } = topo.info;
  let sender: ChildProcess | undefined;
  let sink: ChildProcess | undefined;
  let floorSink: FloorSink | undefined;
  let stack: Stack | undefined;
  let drv: FrameDriver | undefined;
  try {
    const kernel = driverKind === 'kernel';
    const floor = driverKind.startsWith('floor-');
    const tap = driverKind === 'tap-tso' || driverKind === 'floor-tap-copy';
    if (tap) {
      topo.bridgeTap();
      ipIn(nsA, `link set ${tapA} txqueuelen 4096 up`);
    }
    const dst = kernel ? KERNEL_A : BYWAY_A;
    let bytes = 0;
    let floorCounts: FloorMark | undefined;
    let readKernel: (() => Promise<{ bytes: number; t: number; cpuMs: number; gc: GcFigures; heapMB: number }>) | undefined;
    const gcc = kernel || floor ? undefined : new GcCounter();
    if (floor) {
      const copyMiB = driverKind === 'floor-v2' ? 0 : driverKind === 'floor-v2-copy-cold' ? 64 : 1;
      const fs = await startFloorSink({ bin: buildCPrograms().tcpSinkFloor, ns: nsA, cpu: '0', kind: tap ? 'tap' : 'v2', ifname: tap ? tapA : vethA, mac: BYWAY_PACKET_MAC, ip: BYWAY_A, port: PORT, copyMiB, workNs: floorWorkNs });
      floorSink = fs;
      readKernel = async () => {
        const r = await fs.mark();
        floorCounts = r;
        return { bytes: r.bytes, t: r.t, cpuMs: r.cpuMs, gc: { ...NO_GC, minorFaults: r.minorFaults }, heapMB: 0 };
      };
    } else if (kernel) {
      sink = spawn('ip', ['netns', 'exec', nsA, 'taskset', '-c', '0', process.execPath, '-e', KERNEL_SINK, KERNEL_A], { stdio: ['pipe', 'pipe', 'inherit'] });
      const next = childLines(sink, 'the kernel sink', 10_000);
      await next(); // ready
      readKernel = async () => {
        sink!.stdin!.write('x\n');
        const r = JSON.parse(await next()) as { bytes: number; t: number; cpu: { user: number; system: number }; gc: GcFigures; heapMB: number };
        return { bytes: r.bytes, t: r.t, cpuMs: (r.cpu.user + r.cpu.system) / 1000, gc: r.gc, heapMB: r.heapMB };
      };
    } else {
      const driver = await openDriver(nsA, vethA, tapA);
      drv = driver;
      stack = createStack({ driver, address: `${BYWAY_A}/24`, pollMode: mode });
      const srv = stack.net.createServer((s) => {
        s.on('data', (d: Buffer) => {
          bytes += d.length;
        });
        s.on('error', () => {});
      });
      await new Promise<void>((r) => srv.listen(PORT, BYWAY_A, r));
    }
    sender = spawn('ip', ['netns', 'exec', nsB, 'taskset', '-c', senderCpu, process.execPath, '-e', SENDER, dst], { stdio: 'inherit' });
    await sleep(warmup * 1000);

    const ss = (): SsSample[] => parseSs(execIn(nsB, 'ss', ['-tinH', 'dst', dst]));
    const nstat = (): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const l of execIn(nsB, 'nstat', ['-asz']).split('\n')) {
        const m = /^(\S+)\s+(\d+)/.exec(l);
        if (m) out[m[1]!] = Number(m[2]);
      }
      return out;
    };
    const n0 = nstat();
    let session: Session | undefined;
    let profMiB: number | undefined;
    const tcpStats = (): Record<string, number> => {
      if (!stack) return {};
      const t = stack.stats.tcp as unknown as Record<string, number>;
      const g = (stack.stats as unknown as { gro?: Record<string, number> }).gro ?? {};
      const d = drv?.stats as unknown as Record<string, number> | undefined;
      return { segsIn: t['segsIn']!, segsOut: t['segsOut']!, groMerged: g['merged'] ?? 0, groSegments: g['segments'] ?? 0, rxFrames: d?.['rxFrames'] ?? 0, rxBytes: d?.['rxBytes'] ?? 0, txFrames: d?.['txFrames'] ?? 0, rxSpins: d?.['rxSpins'] ?? 0, rxSpinHits: d?.['rxSpinHits'] ?? 0 };
    };
    /**
     * Bytes received and the receiver's and the sender's CPU time (ms) so far, and when the receiver read its byte
     * count (epoch ms, the receiving process's clock: the window `gbit` is counted over).
     */
    const snapshot = async (): Promise<[number, number, number, number, GcFigures, number]> => {
      const k = readKernel ? await readKernel() : undefined;
      const cpu = process.cpuUsage();
      return [
        k ? k.bytes : bytes,
        k ? k.cpuMs : (cpu.user + cpu.system) / 1000,
        cpuOfPid(sender!.pid!),
        k ? k.t : performance.timeOrigin + performance.now(),
        k ? k.gc : gcc!.read(),
        k ? k.heapMB : Math.round(process.memoryUsage().heapUsed / 1e5) / 10,
      ];
    };
    const [b0, c0, sc0, bt0, g0] = await snapshot();
    const f0 = floorCounts;
    const s0 = ss();
    const p0 = cpuStat();
    const t0 = tcpStats();
    if (profOut) {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
    }
    const tStart = performance.now();
    const profBytes0 = bytes;
    const samples: Array<{ t: number; rcv?: unknown }> = [];
    while (performance.now() - tStart < seconds * 1000) {
      await sleep(500);
      const info = stack ? stack.connections().map((c) => c.info as unknown as Record<string, unknown>) : undefined;
      samples.push({ t: Math.round(performance.now() - tStart), rcv: info?.map((i) => ({ rcvWnd: i['rcvWnd'], receiveBuffer: i['receiveBuffer'], readable: i['readable'], rcvRtt: i['rcvRtt'] })) });
    }
    const wallMs = performance.now() - tStart;
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(profOut, JSON.stringify(profile));
      profMiB = (bytes - profBytes0) / 1048576; // byway only: what was received while the profiler ran
      session.disconnect();
    }
    const [b1, c1, sc1, bt1, g1, heapMB] = await snapshot();
    const f1 = floorCounts;
    const gc = gcDelta(g0, g1);
    const s1 = ss();
    const n1 = nstat();
    const nDelta = Object.fromEntries(
      Object.keys(n1)
        .filter((k) => /Retrans|Lost|Spurious|Timeout|LossProbe|Reorder|DSACK|SACKRecovery|OFO|Drop|Prune|Collapse|Backlog/i.test(k) && n1[k]! - (n0[k] ?? 0) !== 0)
        .map((k) => [k, n1[k]! - (n0[k] ?? 0)]),
    );
    const p1 = cpuStat();
    const perCpu = cpuSplit(p0, p1);
    const t1 = tcpStats();
    const mib = (b1 - b0) / 1048576;
    const sum = (a: SsSample[], k: keyof SsSample): number => a.reduce((x, s) => x + (s[k] ?? 0), 0);
    const per = (x: number): number => Math.round((x / mib) * 100) / 100;
    const res = {
      driver: driverKind,
      mode,
      conns,
      wallMs: Math.round(wallMs),
      profMiB,
      // The bytes between the two snapshots over the time between them (the receiver's clock); `wallMs` is shorter
      // (it starts after the sampling of ss, nstat and /proc/stat, and ends before the second snapshot).
      gbit: Math.round(((b1 - b0) * 8) / ((bt1 - bt0) / 1000) / 1e7) / 100,
      countedMs: Math.round(bt1 - bt0),
      gbitOverWallMs: Math.round(((b1 - b0) * 8) / (wallMs / 1000) / 1e7) / 100,
      receiverCpuPct: Math.round(((c1 - c0) / wallMs) * 100),
      senderCpuPct: Math.round(((sc1 - sc0) / wallMs) * 100),
      // Each vCPU's time in the window (% of jiffies): softirq is the kernel's packet work, charged to no process.
      perCpu,
      rxDropped: (drv?.stats as { rxDropped?: number } | undefined)?.rxDropped,
      gc: { ...gc, heapMB },
      perMiB: {
        receiverCpuMs: per(c1 - c0),
        receiverFaults: per(gc.minorFaults),
        senderCpuMs: per(sc1 - sc0),
        acksAtSender: per(sum(s1, 'segsIn') - sum(s0, 'segsIn')),
        dataSegsOut: per(sum(s1, 'dataSegsOut') - sum(s0, 'dataSegsOut')),
        ...(stack
          ? {
              framesIn: per(t1['rxFrames']! - t0['rxFrames']!),
              tcpSegsIn: per(t1['segsIn']! - t0['segsIn']!),
              tcpSegsOut: per(t1['segsOut']! - t0['segsOut']!),
              groMerged: per(t1['groMerged']! - t0['groMerged']!),
              // The driver's native spins (rxWait calls that waited) and those a frame ended.
              rxSpins: per(t1['rxSpins']! - t0['rxSpins']!),
              rxSpinHits: per(t1['rxSpinHits']! - t0['rxSpinHits']!),
            }
          : {}),
        ...(f0 && f1 ? { framesIn: per(f1.frames - f0.frames), acksSent: per(f1.acks - f0.acks), oooSegs: per(f1.oooSegs - f0.oooSegs) } : {}),
      },
      sender: {
        // Shares of the wall time of the window (ss counts per connection; summed over connections).
        rwndLimitedPct: Math.round(((sum(s1, 'rwndLimitedMs') - sum(s0, 'rwndLimitedMs')) / (wallMs * conns)) * 100),
        sndbufLimitedPct: Math.round(((sum(s1, 'sndbufLimitedMs') - sum(s0, 'sndbufLimitedMs')) / (wallMs * conns)) * 100),
        busyPct: Math.round(((sum(s1, 'busyMs') - sum(s0, 'busyMs')) / (wallMs * conns)) * 100),
        retrans: sum(s1, 'retrans') - sum(s0, 'retrans'),
        nstat: nDelta,
        last: s1[0],
      },
      // byway's side every 500 ms (ss runs at the start and the end only: a process spawned from here shares the
      // spinning receiver's vCPU and stretched the window to 10-50 s).
      samples: samples.map((s) => ({ t: s.t, rcv: s.rcv })),
    };
    if (json) console.log(JSON.stringify(res));
    else {
      const { samples: smp, ...head } = res;
      console.log(JSON.stringify(head, null, 1));
      for (const s of smp) console.log(JSON.stringify(s));
    }
  } finally {
    sender?.kill('SIGKILL');
    sink?.kill('SIGKILL');
    floorSink?.kill();
    stack?.close();
    topo.destroy();
    removeCPrograms();
  }
}

await main();
process.exit(0);
