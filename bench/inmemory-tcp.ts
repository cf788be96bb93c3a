/**
 * Two byway stacks in one process on the in-memory link, no faults: TCP bulk goodput and 64-byte request/response
 * transactions per second, on one core. Time is the wall clock (performance.now) passed into the stacks, so TCP's
 * timers run in real time.
 *   node --import tsx bench/inmemory-tcp.ts [--bytes N] [--transactions N] [--mtu N] [--offload] [--tso] [--no-gro] [--json]
 * --offload: the memory link claims checksum offload both ways (as a NIC would), so no software checksum pass.
 * --tso: the link also segments (caps.tso, 64 KiB packets; implies --offload): the sender's per-packet work is
 *   paid once per 64 KiB, the link's cutting (drivers/memory/tso.ts, in JS) and the receiver's per-segment work
 *   stay.
 * --no-gro: both stacks without software GRO (src/stack/gro.ts), for A/B runs.
 * With --json the last line of output is one JSON record (bench/run.ts folds it into its results).
 */
import { memoryLink } from '../drivers/memory/index.js';
import { parseCidr, parseIpv4 } from '../protocols/ipv4/address.js';
import { seededRng } from '../protocols/util/rng.js';
import { NetStack } from '../src/stack/stack.js';
import type { TcpConnection } from '../protocols/tcp/connection.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const mtu = arg('--mtu', 1500);
const tso = process.argv.includes('--tso');
const offload = tso || process.argv.includes('--offload');
const OFFLOADED = { tx: 'offload', rx: 'trusted' } as const;
const gro = !process.argv.includes('--no-gro');

function setup() {
  const [da, db] = memoryLink({ mtu, queueLimit: 4096, ...(offload ? { checksum: { ipv4: OFFLOADED, icmp: OFFLOADED, udp: OFFLOADED, tcp: OFFLOADED } } : {}), ...(tso ? { tso: 65535 } : {}) });
  const tcp = { sendBuffer: 4 << 20, receiveBuffer: 4 << 20, maxReceiveBuffer: 16 << 20 };
  const a = new NetStack({ driver: da, addresses: [parseCidr('10.0.0.1/24')!], rng: seededRng(1), tcp, gro });
  const b = new NetStack({ driver: db, addresses: [parseCidr('10.0.0.2/24')!], rng: seededRng(2), tcp, gro });
  const now = () => performance.now();
  const listener = b.tcp!.listen(0, 5001, 16);
  let server: TcpConnection | undefined;
  listener.onConnection = (c) => (server = c);
  const client = a.tcp!.connect(now(), parseIpv4('10.0.0.2')!, 5001, { noDelay: true });
  const step = () => {
    const t = now();
    return a.poll(t) + b.poll(t);
  };
  while (!server || client.state !== 'ESTABLISHED') step();
  server.setNoDelay(true, now());
  return { a, b, client, server, step, now };
}

function bulk(total: number): number {
  const { client, server, step, now } = setup();
  const chunk = new Uint8Array(256 * 1024).fill(0x42);
  const sink = new Uint8Array(256 * 1024);
  let sent = 0;
  let recvd = 0;
  const t0 = now();
  while (recvd < total) {
    if (sent < total) sent += client.send(now(), chunk.subarray(0, Math.min(chunk.length, total - sent)));
    step();
    for (let n = server.read(now(), sink); n > 0; n = server.read(now(), sink)) recvd += n;
  }
  const secs = (now() - t0) / 1000;
  return (recvd * 8) / secs / 1e9;
}

function transactions(count: number): number {
  const { client, server, step, now } = setup();
  const req = new Uint8Array(64).fill(1);
  const buf = new Uint8Array(4096);
  const t0 = now();
  for (let i = 0; i < count; i++) {
    client.send(now(), req);
    let got = 0;
    while (got < 64) {
      step();
      got += server.read(now(), buf);
    }
    server.send(now(), req);
    got = 0;
    while (got < 64) {
      step();
      got += client.read(now(), buf);
    }
  }
  return count / ((now() - t0) / 1000);
}

const bytes = arg('--bytes', 200_000_000);
const count = arg('--transactions', 100_000);
const t0 = performance.now();
const g = bulk(bytes);
const t1 = performance.now();
console.log(`bulk: ${(bytes / 1e6).toFixed(0)} MB at MTU ${mtu}: ${g.toFixed(2)} Gbit/s`);
const tps = transactions(count);
const t2 = performance.now();
console.log(`request/response 64 B: ${Math.round(tps).toLocaleString('en')} transactions/s`);
if (process.argv.includes('--json')) {
  console.log(
    JSON.stringify({
      mtu,
      bulk: { bytes, gbitPerSec: Math.round(g * 1000) / 1000, seconds: Math.round(t1 - t0) / 1000 },
      transactions: { count, size: 64, perSec: Math.round(tps), seconds: Math.round(t2 - t1) / 1000 },
    }),
  );
}
