/**
 * The cost of one 64-byte UDP frame's transmit on AF_PACKET TPACKET_V2, with the UDP checksum computed in JS (as the
 * stack does without offload) against left to the kernel (checksumOffload: a virtio-net header with NEEDS_CSUM),
 * one doorbell per frame as in a ping-pong. A veth with its default offloads between two namespaces; the frames go
 * to a MAC nobody has, so the peer's kernel drops them at once (PACKET_OTHERHOST). Rounds alternate the two modes;
 * each reports CPU time (user + system, process.cpuUsage) and wall time per frame.
 *
 *   node --import tsx bench/tx-csum.ts [--n 200000] [--rounds 4]
 *
 * Needs root and the addon. Figures: docs/performance-targets.md ("Byway's own work per UDP hop").
 */
import { openAfPacket } from '../drivers/af-packet/index.js';
import { writeIpv4Header } from '../protocols/ipv4/wire.js';
import { writeUdpHeader } from '../protocols/udp/wire.js';
import { NetLab } from '../test/helpers/netns.js';

function opt(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const N = Number(opt('--n', '200000'));
const ROUNDS = Number(opt('--rounds', '4'));
const SRC = 0x0a4f0002;
const DST = 0x0a4f0063;

function round(ifname: string, ns: string, offload: boolean): { cpuNs: number; wallNs: number; kicks: number } {
  const d = openAfPacket({ ifname, netns: ns, tpacketVersion: 2, busyPoll: true, checksumOffload: offload, hwAddress: new Uint8Array([2, 0x4f, 0, 0, 0, 2]) });
  try {
    if (d.checksumOffload !== offload) throw new Error('checksumOffload not as asked');
    const len = 14 + 20 + 8 + 64;
    const payload = new Uint8Array(64).fill(0x61);
    const send = (ident: number): void => {
      const b = d.txReserve(len)!;
      b.set([2, 0x4f, 0, 0, 0, 0x99, 2, 0x4f, 0, 0, 0, 2, 8, 0]);
      b.set(payload, 42);
      // What the stack does per datagram: the UDP header (its checksum unless offloaded), then the IPv4 header.
      writeUdpHeader(b, 34, 4000, 5000, 72, SRC, DST, !offload);
      writeIpv4Header(b, 14, SRC, DST, 17, 72, 64, ident & 0xffff, 0x4000, 0, true);
      d.txCommit(0, len);
      d.flush(0);
    };
    for (let i = 0; i < 20000; i++) send(i); // warm-up (the JIT)
    const kicks0 = d.stats.txKicks ?? 0;
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) send(i);
    const wallNs = Number(process.hrtime.bigint() - t0) / N;
    const c = process.cpuUsage(c0);
    return { cpuNs: ((c.user + c.system) * 1000) / N, wallNs, kicks: ((d.stats.txKicks ?? 0) - kicks0) / N };
  } finally {
    d.close();
  }
}

const lab = new NetLab();
try {
  const a = lab.addNetns('bwtc-');
  const b = lab.addNetns('bwtc-');
  const { a: va } = lab.addVeth(a, b, { addrB: '10.79.0.1/24', txChecksumOffload: true });
  const out: Record<string, { cpuNs: number[]; wallNs: number[] }> = { software: { cpuNs: [], wallNs: [] }, offload: { cpuNs: [], wallNs: [] } };
  for (let r = 0; r < ROUNDS; r++) {
    for (const offload of r % 2 === 0 ? [false, true] : [true, false]) {
      const m = round(va, a, offload);
      const k = offload ? 'offload' : 'software';
      out[k]!.cpuNs.push(m.cpuNs);
      out[k]!.wallNs.push(m.wallNs);
      console.log(`round ${r + 1} ${k.padEnd(8)} CPU ${m.cpuNs.toFixed(0)} ns/frame, wall ${m.wallNs.toFixed(0)} ns/frame, doorbells ${m.kicks.toFixed(2)}/frame`);
    }
  }
  const med = (v: number[]): number => [...v].sort((x, y) => x - y)[v.length >> 1]!;
  for (const [k, v] of Object.entries(out)) console.log(`${k.padEnd(8)} median CPU ${med(v.cpuNs).toFixed(0)} ns/frame (${Math.min(...v.cpuNs).toFixed(0)}-${Math.max(...v.cpuNs).toFixed(0)}), wall ${med(v.wallNs).toFixed(0)}`);
} finally {
  lab.destroy();
}
