/**
 * Receive-path benchmark (needs root): byway in this process over AF_XDP (or AF_PACKET) on one end of a veth pair,
 * a C load generator (bench/lib/blast.c, compiled with cc into a temp dir) in the peer namespace, so the figure
 * is byway's receive capacity, not a Node sender's rate. Reports frames or bytes received per second, the CPU this
 * process spent per received frame (user + system, the least noisy figure on a shared machine), and the drops the
 * driver saw (XDP_STATISTICS rxRingFull / fill ring empty). Writes nothing into the repository.
 *
 *   node --import tsx bench/rx-path.ts [--workload udp|tcp] [--conns 4] [--size 64] [--mode event|busy]
 *        [--rate PPS (UDP: pace the sender; at a fixed rate cpuPct is the receiver's cost)] [--driver af-xdp|af-packet] [--duration 3] [--warmup 1] [--json] [--ring N --frames N --batch N (AF_XDP sizes)]
 * Run under `node --cpu-prof --cpu-prof-dir DIR` to profile the receive path.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStack } from '../src/api/stack.js';
import type { FrameDriver } from '../drivers/types.js';
import { BYWAY_A, Topology } from './lib/topology.js';

function opt(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const workload = opt('--workload', 'udp');
const mode = opt('--mode', 'event') as 'event' | 'busy';
const driverKind = opt('--driver', 'af-xdp');
const size = Number(opt('--size', '64'));
const conns = Number(opt('--conns', '4'));
const durationS = Number(opt('--duration', '3'));
const warmupS = Number(opt('--warmup', '1'));
const json = process.argv.includes('--json');
const rate = Number(opt('--rate', '0'));
const PORT = 9000;
// AF_XDP sizing overrides (default: the driver's defaults).
const xdpSizing: Record<string, number> = {};
for (const [flagName, key] of [['--ring', 'ringSize'], ['--frames', 'frameCount'], ['--batch', 'maxBatch']] as const) {
  if (process.argv.includes(flagName)) xdpSizing[key] = Number(opt(flagName, '0'));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'bwrx-'));
  const blast = join(tmp, 'blast');
  execFileSync('cc', ['-O2', '-o', blast, join(dirname(fileURLToPath(import.meta.url)), 'lib/blast.c')]);
  const topo = new Topology({ offloads: 'off' });
  const { nsA, nsB, vethA } = topo.info;
  let driver: FrameDriver & { xdpStats?: () => object | undefined };
  if (driverKind === 'af-xdp') {
    const { openAfXdp } = await import('../drivers/af-xdp/index.js');
    driver = openAfXdp({ ifname: vethA, netns: nsA, mode: 'own', ipv4: BYWAY_A, busyPoll: mode === 'busy', ...xdpSizing });
  } else {
    const { openAfPacket } = await import('../drivers/af-packet/index.js');
    driver = openAfPacket({ ifname: vethA, netns: nsA, ipv4: BYWAY_A, busyPoll: mode === 'busy' });
  }
  const stack = createStack({ driver, address: `${BYWAY_A}/24`, pollMode: mode });
  let frames = 0;
  let bytes = 0;
  if (workload === 'udp') {
    const sock = stack.dgram.createSocket('udp4');
    sock.on('message', (m: Uint8Array) => {
      frames++;
      bytes += m.length;
    });
    await new Promise<void>((r) => sock.bind(PORT, () => r()));
  } else {
    const srv = stack.net.createServer((s) => {
      s.on('data', (b: Uint8Array) => {
        bytes += b.length;
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => srv.listen(PORT, () => r()));
  }
  const sender = spawn('ip', ['netns', 'exec', nsB, blast, workload, BYWAY_A, String(PORT), String(workload === 'udp' ? size : conns), String(warmupS + durationS + 0.5), String(rate)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let senderOut = '';
  sender.stdout.on('data', (d: Buffer) => (senderOut += d.toString()));
  const senderDone = new Promise<void>((r) => sender.on('exit', () => r()));
  await sleep(warmupS * 1000);
  const snap = () => ({ t: performance.now(), cpu: process.cpuUsage(), frames, bytes, rx: driver.stats.rxFrames, xdp: driver.xdpStats?.() ?? {} });
  const a = snap();
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  await sleep(durationS * 1000);
  const b = snap();
  eld.disable();
  await senderDone;
  stack.close();
  topo.destroy();
  rmSync(tmp, { recursive: true, force: true });
  const secs = (b.t - a.t) / 1000;
  const cpuUs = (b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system);
  const rxFrames = b.rx - a.rx;
  const xd = (k: string): number => ((b.xdp as Record<string, number>)[k] ?? 0) - ((a.xdp as Record<string, number>)[k] ?? 0);
  const out = {
    workload, mode, driver: driverKind,
    appPerSec: Math.round((b.frames - a.frames) / secs),
    gbits: +(((b.bytes - a.bytes) * 8) / secs / 1e9).toFixed(3),
    framesPerSec: Math.round(rxFrames / secs),
    cpuPct: +((cpuUs / 1e6 / secs) * 100).toFixed(1),
    sysPct: +(((b.cpu.system - a.cpu.system) / 1e6 / secs) * 100).toFixed(1),
    cpuNsPerFrame: rxFrames > 0 ? Math.round((cpuUs * 1000) / rxFrames) : null,
    rxRingFull: xd('rxRingFull'),
    fillRingEmpty: xd('rxFillRingEmpty'),
    rxDropped: xd('rxDropped'),
    pollsOnSocket: xd('txRingEmpty'),
    loopDelayP99Ms: +(eld.percentile(99) / 1e6).toFixed(2),
    loopDelayMaxMs: +(eld.max / 1e6).toFixed(2),
    sender: senderOut.trim().split('\n').join(' '),
  };
  if (json) console.log(JSON.stringify(out));
  else console.log(out);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
