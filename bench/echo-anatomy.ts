/**
 * The anatomy of a byway echo over a real veth: two byway processes (a pinger and an echo responder, each pinned to
 * its own vCPU, busy polling) in namespaces of their own, a 64-byte UDP datagram or TCP message bounced 100k times.
 * Two views, both of the responder and of the pinger:
 *
 *   node --import tsx bench/echo-anatomy.ts [--count | --timeline] [--proto udp|tcp] [--driver af-packet-v2|af-xdp]
 *                                           [--n 100000] [--cpu-prof DIR] [--checksum-offload auto|on|off]
 *                                           [--filter on|off] (AF_PACKET's classic BPF filter)
 *
 * --count (default): calls per round trip into the addon (rxBatch, rxRelease, rxWait, txAlloc, txSubmit), polls of
 *   the stack (NetStack.poll) and clock reads (performance.now), counted by wrapping them. These do not depend on
 *   the machine's load, so they compare two trees on a shared machine.
 * --timeline (UDP): where a responder's half round trip goes, from timestamps around the driver's spin and
 *   doorbell and the API's send: the spin's return to the 'message' handler, the handler to the doorbell, and the
 *   doorbell itself (whose send() also carries the frame through the veth into the peer's ring). Medians; each
 *   probe costs about 0.05-0.1 us, so read the parts, not the sum.
 *
 * Needs root (namespaces, veth, AF_PACKET/AF_XDP) and the addon; removes what it made. The docs' figures:
 * docs/performance-targets.md ("Where a half round trip goes").
 */
import { spawn } from 'node:child_process';
import { NetLab } from '../test/helpers/netns.js';
import { createStack } from '../src/index.js';
import type { FrameDriver } from '../drivers/types.js';
import { Samples, percentile, summarize } from './lib/stats.js';

function opt(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const mode = process.argv.includes('--timeline') ? 'timeline' : 'count';
const proto = opt('--proto', 'udp');
const driverKind = opt('--driver', 'af-packet-v2');
const N = Number(opt('--n', '100000'));
const WARM = 2000;
const role = process.env.BYWAY_ANATOMY_ROLE;
/** --cpu-prof DIR: each side writes a V8 CPU profile there (node's --cpu-prof; not allowed in NODE_OPTIONS). */
const profDir = opt('--cpu-prof', '');
const profArgs = profDir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=50'];
if (proto !== 'udp' && proto !== 'tcp') throw new Error(`--proto udp|tcp, got ${proto}`);
if (mode === 'timeline' && proto !== 'udp') throw new Error('--timeline: UDP only');
if (driverKind !== 'af-packet-v2' && driverKind !== 'af-xdp') throw new Error(`--driver af-packet-v2|af-xdp, got ${driverKind}`);

const ECHO = '10.78.0.4';
const PING = '10.78.0.3';
const median = (v: number[]): number => (v.sort((a, b) => a - b), v[v.length >> 1] ?? NaN);

async function openDriver(ns: string, ifname: string, me: string, mac: string): Promise<FrameDriver> {
  if (driverKind === 'af-xdp') {
    const { openAfXdp } = await import('../drivers/af-xdp/index.js');
    return openAfXdp({ ifname, netns: ns, mode: 'own', ipv4: me, busyPoll: true });
  }
  const { openAfPacket } = await import('../drivers/af-packet/index.js');
  const hw = Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));
  const csum = opt('--checksum-offload', 'auto');
  if (!['auto', 'on', 'off'].includes(csum)) throw new Error(`--checksum-offload auto|on|off, got ${csum}`);
  const checksumOffload = csum === 'auto' ? {} : { checksumOffload: csum === 'on' };
  const filter = opt('--filter', 'on');
  if (filter !== 'on' && filter !== 'off') throw new Error(`--filter on|off, got ${filter}`);
  return openAfPacket({ ifname, netns: ns, ipv4: me, busyPoll: true, tpacketVersion: 2, hwAddress: hw, promiscuous: true, filter: filter === 'on', ...checksumOffload });
}

async function side(echo: boolean, ns: string, ifname: string): Promise<void> {
  const me = echo ? ECHO : PING;
  const d = await openDriver(ns, ifname, me, echo ? '02:b7:00:00:00:04' : '02:b7:00:00:00:03');
  const counts = new Map<string, number>();
  let counting = false;
  const count = (k: string): void => {
    if (counting) counts.set(k, (counts.get(k) ?? 0) + 1);
  };
  // The addon's entry points, the clock and the stack's poll, wrapped to count calls.
  type Native = Record<string, (...a: unknown[]) => unknown>;
  const inner = d as unknown as { native: Native; rx: { native: Native }; tx: { native: Native } };
  const native = inner.native;
  const wrapped: Record<string, (...a: unknown[]) => unknown> = Object.create(native) as Record<string, (...a: unknown[]) => unknown>;
  for (const k of ['rxBatch', 'rxRelease', 'rxWait', 'txAlloc', 'txSubmit']) {
    const f = native[k]!;
    wrapped[k] = (...a: unknown[]) => (count(`addon ${k}`), f.apply(native, a));
  }
  inner.native = wrapped;
  inner.rx.native = wrapped; // the ring sides (drivers/native/rx-ring.ts, tx-ring.ts) call the addon themselves
  inner.tx.native = wrapped;
  const clockNow = performance.now.bind(performance);
  if (mode === 'count') performance.now = () => (count('clock reads'), clockNow());
  const s = createStack({ driver: d, address: `${me}/24`, pollMode: 'busy' });
  const core = s.core as unknown as { poll: (...a: unknown[]) => number };
  const poll = core.poll.bind(core);
  core.poll = (...a: unknown[]) => (count('NetStack.poll'), poll(...a));

  // --timeline: timestamps of the responder's steps (the pinger's are the same code).
  const t = { wake: 0, msg: 0, send: 0, sent: 0 };
  const parts: Record<string, number[]> = { 'spin return -> message handler': [], 'message handler -> doorbell': [], 'send() call': [], 'doorbell (JS + send())': [] };
  if (mode === 'timeline') {
    const dd = d as unknown as { wait: (n: number, us: number) => boolean; flush: (n: number) => void; tx: { pending: number } };
    const w = dd.wait.bind(dd);
    dd.wait = (n, us) => {
      const r = w(n, us);
      if (r) t.wake = clockNow();
      return r;
    };
    const f = dd.flush.bind(dd);
    dd.flush = (n) => {
      if (dd.tx.pending === 0 || t.msg === 0 || !counting) return f(n);
      const a = clockNow();
      f(n);
      const b = clockNow();
      parts['spin return -> message handler']!.push((t.msg - t.wake) * 1000);
      parts['message handler -> doorbell']!.push((a - t.msg) * 1000);
      parts['send() call']!.push((t.sent - t.send) * 1000);
      parts['doorbell (JS + send())']!.push((b - a) * 1000);
      t.msg = 0;
    };
  }
  let rounds = 0;
  const report = (): void => {
    const who = echo ? 'responder' : 'pinger';
    if (mode === 'count') {
      console.log(`${who}: per round trip (${rounds} round trips, ${proto}, ${driverKind})`);
      for (const [k, v] of [...counts].sort()) console.log(`  ${k.padEnd(18)} ${(v / rounds).toFixed(2)}`);
    } else {
      console.log(`${who}: medians over ${rounds} round trips (us)`);
      for (const [k, v] of Object.entries(parts)) console.log(`  ${k.padEnd(32)} ${median(v).toFixed(2)}`);
    }
  };
  const step = (): boolean => {
    rounds++;
    if (!counting && rounds === WARM) {
      counting = true;
      rounds = 0;
    }
    return counting && rounds >= N;
  };
  // The pinger's round trips, one by one (--count mode too): the mean sets transactions/s, the median the latency
  // figures, and the gap between them is the tail's share.
  const rtts = new Samples();
  let t0 = 0;
  let lastSend = 0;
  /** An answer reached the pinger: true when that was the last round trip (reported, and the process ends). */
  const answered = (): boolean => {
    const at = clockNow();
    const done = step();
    if (counting && lastSend > 0 && rounds >= 1) rtts.add((at - lastSend) * 1000);
    if (done) {
      console.log(`pinger: mean half round trip ${(((clockNow() - t0) * 1000) / rounds / 2).toFixed(2)} us`);
      console.log(`pinger: ${distribution(rtts)}`);
      finish();
      return true;
    }
    if (counting && t0 === 0) t0 = clockNow();
    lastSend = clockNow();
    return false;
  };
  const msg = Buffer.alloc(64, 0x61);
  if (proto === 'udp') {
    const sock = s.dgram.createSocket('udp4');
    const send = (m: Uint8Array, port: number, host: string): void => {
      t.send = clockNow();
      sock.send(m, port, host);
      t.sent = clockNow();
    };
    if (echo) {
      sock.on('message', (m, r) => {
        t.msg = clockNow();
        step();
        send(m, r.port, r.address);
      });
      sock.bind(7000, ECHO);
    } else {
      sock.on('message', () => {
        t.msg = clockNow();
        if (!answered()) send(msg, 7000, ECHO);
      });
      sock.bind(7001, PING, () => setTimeout(() => send(msg, 7000, ECHO), 300));
    }
  } else if (echo) {
    s.net.createServer((c) => {
      c.setNoDelay(true);
      c.on('data', (m) => {
        step();
        c.write(m);
      });
    }).listen(7000, ECHO);
  } else {
    let got = 0;
    setTimeout(() => {
      const c = s.net.connect({ port: 7000, host: ECHO, noDelay: true }, () => c.write(msg));
      c.on('data', (m) => {
        got += m.length;
        if (got < 64) return;
        got -= 64;
        if (!answered()) c.write(msg);
      });
    }, 300);
  }
  const finish = (): void => {
    report();
    process.exit(0);
  };
  if (echo) process.on('SIGINT', finish);
}

/** The pinger's round trips as half round trips: the usual summary, p90, and what those over twice the median add to the mean. */
function distribution(rtts: Samples): string {
  const h = summarize(rtts, 0.5);
  const sorted = rtts.sorted();
  let slow = 0;
  let over = 0;
  for (const x of sorted) {
    if (x / 2 <= 2 * h.p50Us) continue;
    slow++;
    over += x / 2 - h.p50Us;
  }
  const n = sorted.length;
  return `half round trip (us): mean ${h.meanUs.toFixed(2)}, p50 ${h.p50Us.toFixed(2)}, p90 ${(percentile(sorted, 90) / 2).toFixed(2)}, p99 ${h.p99Us.toFixed(2)}, p99.9 ${h.p999Us.toFixed(2)}, max ${h.maxUs.toFixed(1)}; round trips over 2x p50: ${((100 * slow) / n).toFixed(2)} %, adding ${(over / n).toFixed(2)} us to the mean`;
}

async function main(): Promise<void> {
  const lab = new NetLab();
  try {
    const a = lab.addNetns('bwanA-');
    const b = lab.addNetns('bwanB-');
    const { a: va, b: vb } = lab.addVeth(a, b, { addrA: '10.78.0.1/24', addrB: '10.78.0.2/24', txChecksumOffload: true });
    const child = (r: string, ns: string, ifname: string, cpu: string) =>
      spawn('taskset', ['-c', cpu, process.execPath, ...profArgs, '--import', 'tsx', process.argv[1]!, ...process.argv.slice(2)], {
        stdio: 'inherit',
        env: { ...process.env, BYWAY_ANATOMY_ROLE: `${r}:${ns}:${ifname}` },
      });
    const echo = child('echo', b, vb, '1');
    await new Promise((r) => setTimeout(r, 1500));
    const ping = child('ping', a, va, '0');
    const killer = setTimeout(() => ping.kill('SIGKILL'), 600_000);
    await new Promise((r) => ping.on('exit', r));
    clearTimeout(killer);
    echo.kill('SIGINT');
    await new Promise((r) => echo.on('exit', r));
  } finally {
    lab.destroy();
  }
}

if (role === undefined) await main();
else {
  const [r, ns, ifname] = role.split(':') as [string, string, string];
  await side(r === 'echo', ns, ifname);
}
