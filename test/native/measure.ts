/**
 * Throughput and latency of the native drivers on this machine (numbers quoted in docs/drivers.md).
 *
 *   node --import tsx test/native/measure.ts [tap|af-packet|af-packet-v2|af-xdp ...]
 *
 * For each driver, in fresh namespaces (10.77.8.0/24):
 * - tx: byway sends a burst of 64-byte UDP frames (txReserve/txCommit/flush in batches); frames/s at the sender
 *   and the count the peer interface received (`ip -s link`).
 * - rx: a child process blasts 64-byte UDP frames at byway with an unfiltered AF_PACKET driver on the peer;
 *   frames/s byway's receive() handed over (event-driven: readiness callback + receive).
 * - rtt: ICMP echo ping-pong with the kernel on the peer, one at a time, waiting on readiness; median and p99.
 * Needs root. Prints one JSON line per driver.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { openAfXdp } from '../../drivers/af-xdp/index.js';
import { openTap } from '../../drivers/tap/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { NetLab, ipIn, uniqueName } from '../helpers/netns.js';
import { echoReplyAt, ethernet, icmpEchoPacket, ip, udpPacket } from './frames.js';

const BYWAY = ip('10.77.8.2');
const KERNEL = ip('10.77.8.1');

function macText(m: Uint8Array): string {
  return Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');
}

function rxPackets(ns: string, ifname: string): number {
  const j = JSON.parse(ipIn(ns, `-s -j link show ${ifname}`)) as { stats64: { rx: { packets: number } } }[];
  return j[0]!.stats64.rx.packets;
}

async function txBurst(d: FrameDriver, dstMac: Uint8Array, n: number): Promise<number> {
  const frame = ethernet(dstMac, d.hwAddress!, 0x0800, udpPacket(BYWAY, KERNEL, 5000, 9, new Uint8Array(18)));
  const t0 = process.hrtime.bigint();
  let sent = 0;
  while (sent < n) {
    const b = d.txReserve(frame.length);
    if (b === null) {
      d.flush(0);
      await new Promise((r) => setImmediate(r));
      continue;
    }
    b.set(frame);
    d.txCommit(0, frame.length);
    sent++;
    if ((sent & 63) === 0) d.flush(0);
  }
  d.flush(0);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function generator(ns: string, ifname: string, dstMac: Uint8Array, n: number): Promise<string> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', self, 'gen', ns, ifname, macText(dstMac), String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.on('exit', () => resolve(out.trim()));
  });
}

async function rxRate(d: FrameDriver, gen: () => Promise<string>): Promise<{ frames: number; seconds: number; gen: string }> {
  let frames = 0;
  let first = 0n;
  let last = 0n;
  let wake: (() => void) | null = null;
  d.setReadyCallback(() => wake?.());
  const sink = (f: Uint8Array): void => {
    if (f.length >= 42 && f[23] === 17 && f[36] === 0x23 && f[37] === 0x28) frames++; // UDP to port 9000
  };
  let genDone = false;
  const g = gen().then((s) => {
    genDone = true;
    return s;
  });
  let idleSince = Date.now();
  while (!genDone || Date.now() - idleSince < 300) {
    const n = d.receive(0, 256, sink);
    if (n > 0) {
      const now = process.hrtime.bigint();
      if (first === 0n) first = now;
      last = now;
      idleSince = Date.now();
      continue;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 20);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    wake = null;
  }
  d.setReadyCallback(null);
  return { frames, seconds: Number(last - first) / 1e9, gen: await g };
}

async function rtt(d: FrameDriver, dstMac: Uint8Array, n: number): Promise<{ p50us: number; p99us: number }> {
  const times: number[] = [];
  let wake: (() => void) | null = null;
  d.setReadyCallback(() => wake?.());
  for (let s = 0; s < n; s++) {
    const frame = ethernet(dstMac, d.hwAddress!, 0x0800, icmpEchoPacket(BYWAY, KERNEL, 0x7a7a, s, new Uint8Array(18)));
    const t0 = process.hrtime.bigint();
    const b = d.txReserve(frame.length)!;
    b.set(frame);
    d.txCommit(0, frame.length);
    d.flush(0);
    let got = false;
    const deadline = Date.now() + 1000;
    while (!got && Date.now() < deadline) {
      d.receive(0, 64, (f) => {
        if (echoReplyAt(f, 14, KERNEL, BYWAY, 0x7a7a, s)) got = true;
      });
      if (got) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 5);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
    if (got) times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  d.setReadyCallback(null);
  times.sort((a, b) => a - b);
  return { p50us: Math.round(times[Math.floor(times.length / 2)] ?? -1), p99us: Math.round(times[Math.floor(times.length * 0.99)] ?? -1) };
}

let current: NetLab | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    current?.destroy(); // a killed run must not leave namespaces behind
    process.exit(1);
  });
}

async function measure(kind: string): Promise<void> {
  const lab = new NetLab();
  current = lab;
  let d: FrameDriver | undefined;
  try {
    const nsA = lab.addNetns();
    const nsB = lab.addNetns();
    let peerNs: string;
    let peerIf: string;
    let peerMac: Uint8Array;
    if (kind === 'tap') {
      const t = openTap({ name: uniqueName('bwm'), netns: nsA });
      d = t;
      ipIn(nsA, `addr add 10.77.8.1/24 dev ${t.ifname}`);
      peerNs = nsA;
      peerIf = t.ifname;
      peerMac = t.kernelHwAddress;
    } else {
      const l = lab.addVeth(nsA, nsB, { addrB: '10.77.8.1/24' });
      d = kind.startsWith('af-packet')
        ? openAfPacket({ ifname: l.a, netns: nsA, ipv4: '10.77.8.2', tpacketVersion: kind === 'af-packet-v2' ? 2 : 3 })
        : openAfXdp({ ifname: l.a, netns: nsA, ipv4: '10.77.8.2', bindMode: 'copy', attachMode: 'native' });
      peerNs = nsB;
      peerIf = l.b;
      peerMac = lab.macOf(nsB, l.b);
    }
    ipIn(peerNs, `neigh replace 10.77.8.2 lladdr ${macText(d.hwAddress!)} dev ${peerIf}`);
    const N = 200_000;
    const before = rxPackets(peerNs, peerIf);
    const txSec = await txBurst(d, peerMac, N);
    if (process.env.MEASURE_DEBUG) console.error("tx done", txSec);
    await new Promise((r) => setTimeout(r, 200));
    const delivered = rxPackets(peerNs, peerIf) - before;
    const rx = await rxRate(d, () => generator(peerNs, peerIf, d!.hwAddress!, N));
    if (process.env.MEASURE_DEBUG) console.error("rx done", rx);
    const r = await rtt(d, peerMac, 2000);
    console.log(
      JSON.stringify({
        driver: kind,
        txFramesPerSec: Math.round(N / txSec),
        txDeliveredToPeer: delivered,
        txSent: N,
        txDroppedByDriver: d.stats.txDropped,
        rxFramesPerSec: Math.round(rx.frames / rx.seconds),
        rxReceived: rx.frames,
        generator: rx.gen,
        rttP50us: r.p50us,
        rttP99us: r.p99us,
      }),
    );
  } finally {
    d?.close();
    lab.destroy();
  }
}

async function gen(ns: string, ifname: string, dstMacText: string, n: number): Promise<void> {
  const g = openAfPacket({ ifname, netns: ns, filter: false });
  const dst = new Uint8Array(dstMacText.split(':').map((h) => parseInt(h, 16)));
  const frame = ethernet(dst, g.hwAddress!, 0x0800, udpPacket(KERNEL, BYWAY, 5000, 9000, new Uint8Array(18)));
  const t0 = process.hrtime.bigint();
  let sent = 0;
  const deadline = Date.now() + 15_000;
  while (sent < n && Date.now() < deadline) {
    const b = g.txReserve(frame.length);
    if (b === null) {
      g.flush(0);
      await new Promise((r) => setImmediate(r));
      continue;
    }
    b.set(frame);
    g.txCommit(0, frame.length);
    sent++;
  }
  g.flush(0);
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  g.close();
  process.stdout.write(`generator sent ${sent} of ${n} in ${sec.toFixed(3)} s (${Math.round(sent / sec)} frames/s)\n`);
}

const args = process.argv.slice(2);
if (args[0] === 'gen') await gen(args[1]!, args[2]!, args[3]!, Number(args[4]));
else for (const k of args.length ? args : ['tap', 'af-packet', 'af-xdp']) await measure(k);
