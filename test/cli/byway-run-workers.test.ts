/**
 * `byway run --workers 2` over AF_PACKET on a two-queue veth, against the kernel of another namespace: an
 * unmodified node:http and node:dgram server (apps/pid-server.cjs, which answers with its process id) runs in two
 * worker processes sharing byway's address; many kernel-side connections and datagrams get answers from both; each
 * worker's own outgoing connection takes a port of its slice and gets its answer; `byway stat` and
 * `byway ss` on the supervisor sum the workers and show each; a worker killed with SIGKILL leaves the other
 * serving every new connection; SIGTERM ends the supervisor and every worker; with --restart a new worker takes
 * the dead one's index and class back, and no client is reset while it starts (it gets its share of the clients
 * once its program listens); over IPv6 (whose TCP the fanout program steers like IPv4's), clients are served by
 * worker 1 while worker 0 has joined but does not listen, and the keep-alive connections worker 1 accepted while
 * worker 0 was dead are answered by it after the new worker 0 joins (relayed, none reset). The same on the veth's AF_XDP queues (one per worker, the XSKMAP inherited from the
 * supervisor), in shared-address mode (the kernel's address; reservations adopted by the supervisor, a kernel bind
 * refused in the window after a worker's death; --restart replacing a killed worker), and on a multi-queue TAP
 * device (one queue per worker, one MAC). Bounded in time; everything made is removed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describePrivileged, describeWithTools, dropSynAcks, execIn, execInAsync, ipIn, NetLab } from '../helpers/netns.js';
import { exited, pidAnswers, twoQueueVeth, waitOutput, workersListening, type Proc } from './run-helpers.js';
import { enableIpv6 } from '../native/ipv6-lab.js';
import { flowClass } from '../../drivers/af-packet/fanout.js';
import { parseIpv6 } from '../../protocols/ipv6/address.js';
import { until } from '../helpers/until.js';

const KERNEL = '10.77.41.1';
const BYWAY = '10.77.41.2';
const APP_KERNEL = '10.77.41.3';
/** IPv6 on the same veth, for the AF_PACKET IPv6 hand-over test only: the kernel's end, and byway's. */
const KERNEL6 = 'fd7f::1';
const BYWAY6 = 'fd7f::2';
const here = new URL('.', import.meta.url).pathname;
const BYWAY_CLI = join(here, '../../src/cli/byway.ts');
const APP = join(here, 'apps', 'pid-server.cjs');
/** The keep-alive client of the issue #19 hand-over test (its header says what it prints). */
const KEEPALIVE_CLIENT = join(here, 'apps', 'keepalive-client.cjs');

/** `n` HTTP requests from namespace `ns`, each on a connection of its own: how many times each answer came. */
const clients = (ns: string, n: number, path = '/'): Promise<Record<string, number>> => pidAnswers(ns, BYWAY, n, 'http', path);

/** `n` UDP datagrams to BYWAY:8081 from `n` sockets (source ports) in namespace `ns`: how many each pid answered. */
const udpClients = (ns: string, n: number): Promise<Record<string, number>> => pidAnswers(ns, BYWAY, n, 'udp');

/**
 * The class fanout.ts's steering gives a client's flow to port 8080 (its hash of the source address and port), for
 * an IPv4 or (a `src` with ':') IPv6 client.
 */
function classOf(src: string, sport: number, dst: string): number | undefined {
  const six = src.includes(':');
  const h = new Uint8Array(six ? 60 : 40);
  const l4 = six ? 40 : 20;
  if (six) {
    h[0] = 0x60;
    h[6] = 6;
    h.set(parseIpv6(src)!, 8);
    h.set(parseIpv6(dst)!, 24);
  } else {
    h[0] = 0x45;
    h[9] = 6;
    h.set(src.split('.').map(Number), 12);
    h.set(dst.split('.').map(Number), 16);
  }
  h[l4] = sport >> 8;
  h[l4 + 1] = sport & 0xff;
  h[l4 + 2] = 8080 >> 8;
  h[l4 + 3] = 8080 & 0xff;
  const c = flowClass({ workers: 2 }, six ? 0x86dd : 0x0800, h);
  return c?.table === 'service' ? c.worker : undefined;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The answers of /peer requests ("PID LOCALPORT kernel"): every one came back from the kernel's server, both
 * workers made some, and each made them from a port of its own slice (worker 0 49152-57343, worker 1 57344-65535).
 */
function expectOwnSlices(peer: Record<string, number>, w0: number, w1: number): void {
  const got = Object.entries(peer).flatMap(([a, n]) => Array<string>(n).fill(a));
  expect(got.every((a) => a.endsWith(' kernel')), JSON.stringify(peer)).toBe(true);
  expect([...new Set(got.map((a) => Number(a.split(' ')[0])))].sort(), JSON.stringify(peer)).toEqual([w0, w1].sort());
  for (const a of got) {
    const [pid, port] = a.split(' ').map(Number) as [number, number];
    expect(port).toBeGreaterThanOrEqual(pid === w0 ? 49152 : 57344);
    expect(port).toBeLessThanOrEqual(pid === w0 ? 57343 : 65535);
  }
}

describePrivileged('byway run --workers 2: an unmodified node:http server in two processes on one AF_PACKET fanout group', () => {
  let lab: NetLab;
  let kernelNs: string;
  let appNs: string;
  let appIf: string;
  let kernelIf: string;

  beforeAll(() => {
    lab = new NetLab();
    let link: { a: string; b: string };
    ({ kernelNs, appNs, link } = twoQueueVeth(lab, 'bww', `${KERNEL}/24`, `${APP_KERNEL}/24`)); // the AF_XDP cases: one queue per flow
    appIf = link.b;
    kernelIf = link.a;
  });
  /** The kernel's own HTTP server on KERNEL:9000, answering "kernel" (the workers' outgoing connections go there). */
  const kernelServer = async (): Promise<void> => {
    const p = lab.spawnIn(kernelNs, process.execPath, ['-e', `require('node:http').createServer((q,s)=>s.end('kernel')).listen(9000,'${KERNEL}',()=>console.log('up'))`]) as Proc;
    await waitOutput(p, /^up$/m, 30_000, 'kernel http server');
  };
  afterEach(() => lab?.stopProcesses());
  afterAll(async () => {
    await lab?.stopProcesses();
    lab?.destroy();
  });

  const byway = (args: string[]) => execInAsync(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, ...args], { timeoutMs: 30_000 });
  /** Start the supervisor; resolves with its pid and the workers' once both listen. */
  const start = async (more: string[], delayMs = 0): Promise<{ proc: Proc; sup: number; workers: number[] }> => {
    const proc = lab.spawnIn(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'run', '--workers', '2', ...more, '--driver', `af-packet:${appIf}`, '--address', `${BYWAY}/24`, '--', process.execPath, APP, '8080', String(delayMs)]) as Proc;
    const m = await waitOutput(proc, /^byway run: pid (\d+) 2 workers on af-packet:\S+ fanout group \d+: worker 0 pid (\d+), worker 1 pid (\d+) control /m, 60_000, 'byway run --workers 2');
    const workers = [Number(m[2]), Number(m[3])];
    for (const pid of workers) await waitOutput(proc, new RegExp(`^listening 8080 pid ${pid}$`, 'm'), 60_000, `worker pid ${pid}`);
    return { proc, sup: Number(m[1]), workers };
  };

  it('both workers serve the port; stat and ss sum and show each; a killed worker leaves the other taking every connection', async () => {
    await kernelServer();
    const { proc, sup, workers } = await start([]);
    const [w0, w1] = workers as [number, number];
    const first = await clients(kernelNs, 60);
    expect(Object.keys(first).sort(), JSON.stringify(first)).toEqual([String(w0), String(w1)].sort());
    expect(first[w0]).toBeGreaterThan(5);
    expect(first[w1]).toBeGreaterThan(5);

    // A bound UDP port is served by both too.
    const udp = await udpClients(kernelNs, 32);
    expect(Object.keys(udp).sort(), JSON.stringify(udp)).toEqual([String(w0), String(w1)].sort());
    // Each worker's own outgoing connection (to the kernel's server) takes a port of its own slice, and its
    // answer comes back to it: worker 0 49152-57343, worker 1 57344-65535.
    const peer = await clients(kernelNs, 30, `/peer/${KERNEL}:9000`);
    const answers = Object.entries(peer).flatMap(([a, k]) => Array<string>(k).fill(a));
    expect(answers.every((a) => a.endsWith(' kernel')), JSON.stringify(peer)).toBe(true);
    const byPid = new Map(answers.map((a) => [Number(a.split(' ')[0]), Number(a.split(' ')[1])] as const));
    expect([...byPid.keys()].sort(), JSON.stringify(peer)).toEqual([w0, w1].sort());
    for (const a of answers) {
      const [pid, port] = a.split(' ').map(Number) as [number, number];
      expect(port).toBeGreaterThanOrEqual(pid === w0 ? 49152 : 57344);
      expect(port).toBeLessThanOrEqual(pid === w0 ? 57343 : 65535);
    }

    const statRun = await byway(['stat', String(sup), '--json']);
    expect(statRun.code, statRun.stderr).toBe(0);
    const stat = JSON.parse(statRun.stdout) as Record<string, any>;
    expect(stat.workers).toEqual([{ index: 0, pid: w0 }, { index: 1, pid: w1 }]);
    expect(stat.worker.w0.stack.tcp.passiveOpens + stat.worker.w1.stack.tcp.passiveOpens).toBe(90);
    expect(stat.worker.w0.stack.tcp.passiveOpens).toBeGreaterThan(first[w0]!);
    expect(stat.worker.w1.stack.tcp.passiveOpens).toBeGreaterThan(first[w1]!);
    expect(stat.stack.udp.rx).toBe(32);
    expect(stat.stack.tcp.passiveOpens).toBe(90);
    expect(stat.stack.tcp.activeOpens).toBe(30);
    expect(stat.paths.tcpListen.bypass).toBe(2);
    expect(stat.worker.w1.stack.arp.repliesSent ?? 0).toBe(0); // only worker 0 answers ARP
    const text = await byway(['stat', String(sup)]);
    expect(text.stdout).toMatch(/^#cluster 2 workers, fanout group \d+; answering: 0 pid \d+, 1 pid \d+$/m);
    expect(text.stdout).toMatch(/^stack\.tcp\.passiveOpens +90$/m);
    const ss = await byway(['ss', String(sup)]);
    expect(ss.stdout).toMatch(/^tcp +LISTEN +0 +0 +0\.0\.0\.0:8080 +0\.0\.0\.0:\* +0$/m);
    expect(ss.stdout).toMatch(/^tcp +LISTEN +0 +0 +0\.0\.0\.0:8080 +0\.0\.0\.0:\* +1$/m);
    const one = await byway(['stat', String(w1), '--json']); // each worker keeps its own control socket
    expect(JSON.parse(one.stdout).stack.tcp.passiveOpens).toBe(stat.worker.w1.stack.tcp.passiveOpens);

    process.kill(w1, 'SIGKILL');
    await waitOutput(proc, new RegExp(`^byway run: worker 1 \\(pid ${w1}\\) ended \\(SIGKILL\\); its new flows go to worker 0$`, 'm'), 30_000, 'supervisor');
    const after = await clients(kernelNs, 30);
    expect(after).toEqual({ [String(w0)]: 30 });

    proc.kill('SIGTERM');
    expect(await exited(proc, 30_000)).toBe(128 + 9); // the first worker status that was not 0: worker 1's SIGKILL
    expect(alive(w0)).toBe(false);
  }, 180_000);

  it('with --restart a killed worker is replaced, and the new one serves its class again', async () => {
    const { proc, workers } = await start(['--restart'], 2000); // each worker listens 2 s after it starts
    const [w0, w1] = workers as [number, number];
    process.kill(w0, 'SIGKILL'); // the ARP owner: the role moves to worker 1, then back
    const m = await waitOutput(proc, new RegExp(`^byway run: worker 0 \\(pid ${w0}\\) ended \\(SIGKILL\\); its new flows go to worker 1; starting a new one on its index$`, 'm'), 30_000, 'supervisor');
    expect(m).toBeTruthy();
    // The new worker's socket joins the group (its preload's line) 2 s before its program listens; clients in
    // between are all answered (by worker 1): its share of the clients comes to it only once it serves.
    const fresh = Number((await waitOutput(proc, new RegExp(`^byway: pid (?!${w0}\\b|${w1}\\b)(\\d+) driver .* worker 0/2 `, 'm'), 60_000, 'new worker 0'))[1]);
    let rounds = 0;
    while (!new RegExp(`^listening 8080 pid ${fresh}$`, 'm').test(proc.output()) && rounds < 40) {
      const during = await clients(kernelNs, 20);
      // (a round may end after the new worker listens: then it answers too)
      expect(Object.keys(during).filter((k) => k !== String(w1) && k !== String(fresh)), `round ${rounds}: ${JSON.stringify(during)}`).toEqual([]);
      rounds++;
    }
    expect(rounds).toBeGreaterThan(0);
    await waitOutput(proc, new RegExp(`^listening 8080 pid ${fresh}$`, 'm'), 60_000, 'new worker 0 listening');
    const again = await clients(kernelNs, 60);
    expect(Object.keys(again).sort(), JSON.stringify(again)).toEqual([String(fresh), String(w1)].sort());
    expect(again[fresh]).toBeGreaterThan(5);
    proc.kill('SIGTERM');
    expect(await exited(proc, 30_000)).not.toBeNull();
    expect(alive(fresh) || alive(w1)).toBe(false);
  }, 180_000);

  /**
   * Start `byway run --workers 2` on AF_PACKET with `config` in a file in `dir` (`--config`), the app's last argument
   * `gate`; resolves with the supervisor's and the workers' pids once the start line came.
   */
  const startWithConfig = async (dir: string, config: object, gate: string, more: string[] = []): Promise<{ proc: Proc; sup: number; w0: number; w1: number }> => {
    const file = join(dir, 'byway.json');
    writeFileSync(file, JSON.stringify(config));
    const proc = lab.spawnIn(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'run', '--workers', '2', ...more, '--driver', `af-packet:${appIf}`, '--config', file, '--', process.execPath, APP, '8080', gate]) as Proc;
    const m = await waitOutput(proc, /^byway run: pid (\d+) 2 workers on af-packet:\S+ fanout group \d+: worker 0 pid (\d+), worker 1 pid (\d+) control /m, 60_000, 'byway run --workers 2');
    return { proc, sup: Number(m[1]), w0: Number(m[2]), w1: Number(m[3]) };
  };
  /** The kernel side's IPv6 address (KERNEL6) on the veth while `fn` runs; removed after it. */
  const withKernelIpv6 = async (fn: () => Promise<void>): Promise<void> => {
    enableIpv6(kernelNs, kernelIf);
    ipIn(kernelNs, `-6 addr add ${KERNEL6}/64 dev ${kernelIf} nodad`);
    try {
      await fn();
    } finally {
      ipIn(kernelNs, `-6 addr flush dev ${kernelIf}`);
      execIn(kernelNs, 'sysctl', ['-qw', `net.ipv6.conf.${kernelIf}.disable_ipv6=1`]);
    }
  };

  // Issue #19: worker 0 has joined the fanout group but its program does not listen yet (its app waits for a file),
  // so its share of the clients goes to worker 1. Keep-alive connections opened then are all worker 1's; once worker
  // 0 serves, the steering sends its class's later segments (requests, ACKs, FINs) to worker 0, which holds no
  // connection for them and hands them to worker 1 through the supervisor: every request on those connections is
  // answered by worker 1, none reset, and they close cleanly; new connections spread over both. No race: each step
  // waits for the previous one.
  it('a worker that starts serving leaves the keep-alive connections the other accepted with it: none reset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'byway-handover-'));
    try {
      const proc = lab.spawnIn(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'run', '--workers', '2', '--driver', `af-packet:${appIf}`, '--address', `${BYWAY}/24`, '--', process.execPath, APP, '8080', `gate:${join(dir, 'serve')}:0`]) as Proc;
      const m = await waitOutput(proc, /^byway run: pid (\d+) 2 workers on af-packet:\S+ fanout group \d+: worker 0 pid (\d+), worker 1 pid (\d+) control /m, 60_000, 'byway run --workers 2');
      const [sup, w0, w1] = [Number(m[1]), Number(m[2]), Number(m[3])];
      await waitOutput(proc, new RegExp(`^listening 8080 pid ${w1}$`, 'm'), 60_000, 'worker 1 listening');
      expect(proc.output()).not.toMatch(new RegExp(`^listening 8080 pid ${w0}$`, 'm'));
      // 20 keep-alive connections; round k (1..3) sends one request on each once the file rK exists and prints
      // "round K" and each connection's answer (a pid, or an error); then each ends its side and says how it closed.
      const N = 20;
      const client = lab.spawnIn(kernelNs, process.execPath, [KEEPALIVE_CLIENT, BYWAY, '8080', String(N), dir, 'http']) as Proc;
      const round = async (k: number): Promise<string[]> => {
        writeFileSync(join(dir, `r${k}`), '');
        return JSON.parse((await waitOutput(client, new RegExp(`^round ${k} (.*)$`, 'm'), 30_000, `client round ${k}`))[1]!) as string[];
      };
      expect(await round(1)).toEqual(Array<string>(N).fill(String(w1)));
      const ports = JSON.parse((await waitOutput(client, /^ports (.*)$/m, 5_000, 'client ports'))[1]!) as number[];
      // How many of them the steering gives worker 0's class once it serves (fanout.ts's hash of KERNEL and the port).
      const moved = ports.filter((p) => classOf(KERNEL, p, BYWAY) === 0).length;
      expect(moved).toBeGreaterThan(2);

      writeFileSync(join(dir, 'serve'), '');
      await waitOutput(proc, new RegExp(`^listening 8080 pid ${w0}$`, 'm'), 30_000, 'worker 0 listening');
      // Its class goes to it once the supervisor installed the new table: new connections reach it.
      await until(async () => (await clients(kernelNs, 6))[String(w0)] !== undefined, 20_000, 200);

      expect(await round(2)).toEqual(Array<string>(N).fill(String(w1)));
      const spread = await clients(kernelNs, 40);
      expect(Object.keys(spread).sort(), JSON.stringify(spread)).toEqual([String(w0), String(w1)].sort());
      expect(await round(3)).toEqual(Array<string>(N).fill(String(w1)));
      writeFileSync(join(dir, 'r4'), '');
      const closed = JSON.parse((await waitOutput(client, /^closed (.*)$/m, 30_000, 'client closed'))[1]!) as string[];
      expect(closed).toEqual(Array<string>(N).fill('end'));

      const st = JSON.parse((await byway(['stat', String(sup), '--json'])).stdout) as Record<string, any>;
      // Two requests and the close of each moved connection at least went through worker 0 to worker 1, which
      // held every one of them (with two workers the one asked is the last: final).
      expect(st.worker.w0.stack.tcp.strayHandedOff).toBeGreaterThanOrEqual(3 * moved);
      expect(st.strays.received).toBe(st.worker.w0.stack.tcp.strayHandedOff + st.worker.w1.stack.tcp.strayHandedOff);
      expect(st.strays.passed).toBe(st.strays.received);
      expect(st.worker.w0.strayRelay).toEqual({ sent: st.worker.w0.stack.tcp.strayHandedOff, received: 0, final: 0, limited: 0, split: 0, oversize: 0 });
      expect(st.strayRelay.received).toBe(st.strays.received);
      expect(st.worker.w0.stack.tcp.rstsSent ?? 0).toBe(0);
      expect(st.worker.w1.stack.tcp.rstsSent ?? 0).toBe(0);
      proc.kill('SIGTERM');
      expect(await exited(proc, 30_000)).not.toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  // Issue #19: a client whose SYN-ACK was lost retransmits its SYN after the service table moved its class. Worker 0
  // has joined but does not listen, so worker 1 gets every SYN; the peer's kernel drops every SYN-ACK (nft), so 20
  // connections stay half-open on worker 1 (SYN-RECEIVED). Then worker 0 serves, and the supervisor has each worker
  // list its half-open connections for the others (strays.ts HalfOpens); the drop ends. The retransmitted SYNs of
  // worker 0's class reach worker 0, which sends them to worker 1: every client completes with worker 1 and is
  // answered by it, none by worker 0 (without HalfOpens worker 0's listener would open second connections).
  describeWithTools('with nft', ['nft'], () => {
    it('a SYN retransmitted after worker 0 starts serving, for a connection half-open on worker 1, is answered by worker 1', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'byway-halfopen-'));
      let pass = (): void => {};
      try {
        // byway's first SYN-ACK retransmission 4 s after the SYN (1 s by default): the client's own SYN retransmission
        // (Linux: 1 s, then 3 s after the first) comes first, so it is the SYN after the switch that completes each
        // connection, not worker 1's timer.
        const { proc, sup, w0, w1 } = await startWithConfig(dir, { address: `${BYWAY}/24`, limits: { tcp: { initialRto: 4000 } } }, `gate:${join(dir, 'serve')}:0`);
        await waitOutput(proc, new RegExp(`^listening 8080 pid ${w1}$`, 'm'), 60_000, 'worker 1 listening');
        expect(await clients(kernelNs, 4)).toEqual({ [String(w1)]: 4 }); // ARP resolved both ways, worker 1 serves
        pass = dropSynAcks(kernelNs, BYWAY, 8080);
        const N = 20;
        const answers = clients(kernelNs, N);
        const synSent = (): number => execIn(kernelNs, 'ss', ['-Htn', 'state', 'syn-sent', 'dst', `${BYWAY}:8080`]).split('\n').filter((l) => l !== '').length;
        await until(() => synSent() === N, 10_000);
        const ports = execIn(kernelNs, 'ss', ['-Htn', 'state', 'syn-sent', 'dst', `${BYWAY}:8080`]).split('\n').filter((l) => l !== '').map((l) => Number(/:(\d+)\s/.exec(l)![1]));
        const moved = ports.filter((p) => classOf(KERNEL, p, BYWAY) === 0).length;
        expect(moved).toBeGreaterThan(2);

        writeFileSync(join(dir, 'serve'), '');
        await waitOutput(proc, new RegExp(`^listening 8080 pid ${w0}$`, 'm'), 30_000, 'worker 0 listening');
        let st: Record<string, any> = {};
        await until(async () => {
          st = JSON.parse((await byway(['stat', String(sup), '--json'])).stdout) as Record<string, any>;
          return st.worker.w0.halfOpens.learned >= N;
        }, 10_000, 100);
        expect(st.worker.w1.halfOpens.listed).toBeGreaterThanOrEqual(N);
        pass();
        expect(await answers).toEqual({ [String(w1)]: N });

        st = JSON.parse((await byway(['stat', String(sup), '--json'])).stdout) as Record<string, any>;
        expect(st.worker.w0.stack.tcp.passiveOpens ?? 0).toBe(0);
        // The SYNs of worker 0's class went through it to worker 1 (each client's once at least).
        expect(st.worker.w0.halfOpens.diverted, JSON.stringify(st.worker.w0.halfOpens)).toBeGreaterThanOrEqual(moved);
        expect(st.worker.w0.stack.tcp.rstsSent ?? 0).toBe(0);
        expect(st.worker.w1.stack.tcp.rstsSent ?? 0).toBe(0);
        proc.kill('SIGTERM');
        expect(await exited(proc, 30_000)).not.toBeNull();
      } finally {
        pass();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 150_000);
  });

  // Issue #19, the join window over IPv6: the fanout program sends IPv6 TCP by the service table like IPv4's, so
  // while worker 0 has joined but its program does not listen yet, every IPv6 client (as every IPv4 one) is worker
  // 1's; worker 1 resolves them through the neighbour advertisements worker 0 (which gets NDP: worker 0's slot)
  // relays. Before 2026-12-04 IPv6 went by worker 0's slot: 20 of 20 such IPv6 clients were refused. Once worker 0
  // listens, new IPv6 clients spread over both.
  it('IPv6: while worker 0 has joined but does not listen, IPv6 clients are served by worker 1; then by both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'byway-join6-'));
    try {
      await withKernelIpv6(async () => {
        const { proc, sup, w0, w1 } = await startWithConfig(dir, { address: [`${BYWAY}/24`, `${BYWAY6}/64`] }, `gate:${join(dir, 'serve')}:0`);
        await waitOutput(proc, new RegExp(`^listening 8080 pid ${w1}$`, 'm'), 60_000, 'worker 1 listening');
        // Duplicate address detection first (about a second): until then the address is tentative.
        await until(async () => (await pidAnswers(kernelNs, BYWAY6, 1, 'http'))[String(w1)] === 1, 20_000, 200);
        expect(proc.output()).not.toMatch(new RegExp(`^listening 8080 pid ${w0}$`, 'm'));
        expect(await pidAnswers(kernelNs, BYWAY6, 20, 'http')).toEqual({ [String(w1)]: 20 });
        expect(await clients(kernelNs, 20)).toEqual({ [String(w1)]: 20 });

        writeFileSync(join(dir, 'serve'), '');
        await waitOutput(proc, new RegExp(`^listening 8080 pid ${w0}$`, 'm'), 30_000, 'worker 0 listening');
        await until(async () => (await pidAnswers(kernelNs, BYWAY6, 6, 'http'))[String(w0)] !== undefined, 20_000, 200);
        const spread = await pidAnswers(kernelNs, BYWAY6, 40, 'http');
        expect(Object.keys(spread).sort(), JSON.stringify(spread)).toEqual([String(w0), String(w1)].sort());

        const st = JSON.parse((await byway(['stat', String(sup), '--json'])).stdout) as Record<string, any>;
        // Worker 0 answered the peer's solicitations for the address; worker 1 solicited its clients itself and got
        // the answers through worker 0's relay. Nobody was reset.
        expect(st.worker.w1.stack.ndp.solicitationsSent).toBeGreaterThan(0);
        expect(st.worker.w1.stack.ndp.advertisementsReceived).toBeGreaterThan(0);
        expect(st.worker.w0.stack.tcp.rstsSent ?? 0).toBe(0);
        expect(st.worker.w1.stack.tcp.rstsSent ?? 0).toBe(0);
        proc.kill('SIGTERM');
        expect(await exited(proc, 30_000)).not.toBeNull();
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  // Issue #19 over IPv6: while worker 0 is dead all IPv6 goes to worker 1 (the only member), and a new worker 0
  // takes its class back once its program listens. Keep-alive IPv6 connections opened in between are worker 1's:
  // the later segments of those in worker 0's class reach the new worker 0, which holds no connection for them and
  // hands them to worker 1 through the supervisor (strays.ts): answered, none reset, closed cleanly; new IPv6
  // connections spread over both.
  it('with --restart, IPv6: keep-alive connections worker 1 accepted while worker 0 was dead stay with it after the new worker 0 joins', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'byway-handover6-'));
    try {
      await withKernelIpv6(async () => {
        // The addresses come in a config file (as --address could give them since 2026-12-04). gate:...:9 holds no
        // worker (there is no worker 9); it keeps the HTTP connections open 60 s between requests.
        const { proc, sup, w0, w1 } = await startWithConfig(dir, { address: [`${BYWAY}/24`, `${BYWAY6}/64`] }, `gate:${join(dir, 'none')}:9`, ['--restart']);
        for (const pid of [w0, w1]) await waitOutput(proc, new RegExp(`^listening 8080 pid ${pid}$`, 'm'), 60_000, `worker pid ${pid}`);
        // Duplicate address detection first (about a second): until then the address is tentative.
        await until(async () => {
          const a = await pidAnswers(kernelNs, BYWAY6, 1, 'http');
          return a[String(w0)] === 1 || a[String(w1)] === 1;
        }, 20_000, 200);
        const both = await pidAnswers(kernelNs, BYWAY6, 20, 'http'); // IPv6 clients spread like IPv4's
        expect(Object.keys(both).sort(), JSON.stringify(both)).toEqual([String(w0), String(w1)].sort());

        // Worker 0 dies while the supervisor is stopped, so no new worker 0 joins until the clients are connected:
        // the kernel drops its socket from the group and moves worker 1 into its member slot, where IPv6 goes.
        const N = 20;
        let client: Proc;
        process.kill(sup, 'SIGSTOP');
        try {
          process.kill(w0, 'SIGKILL');
          client = lab.spawnIn(kernelNs, process.execPath, [KEEPALIVE_CLIENT, BYWAY6, '8080', String(N), dir, 'http']) as Proc;
          const established = (): number => execIn(kernelNs, 'ss', ['-Htn', 'state', 'established', 'dst', `[${BYWAY6}]:8080`]).split('\n').filter((l) => l !== '').length;
          await until(() => established() === N, 20_000);
        } finally {
          process.kill(sup, 'SIGCONT');
        }
        await waitOutput(proc, new RegExp(`^byway run: worker 0 \\(pid ${w0}\\) ended \\(SIGKILL\\); its new flows go to worker 1; starting a new one on its index$`, 'm'), 30_000, 'supervisor');
        const freshLine = new RegExp(`^byway: pid (?!${w0}\\b|${w1}\\b)(\\d+) driver .* worker 0/2 `, 'm');
        const fresh = Number((await waitOutput(proc, freshLine, 60_000, 'new worker 0'))[1]);
        await waitOutput(proc, new RegExp(`^listening 8080 pid ${fresh}$`, 'm'), 60_000, 'new worker 0 listening');
        // New IPv6 connections of worker 0's class are the new worker 0's: the service table has moved.
        await until(async () => (await pidAnswers(kernelNs, BYWAY6, 6, 'http'))[String(fresh)] !== undefined, 20_000, 200);
        const round = async (k: number): Promise<string[]> => {
          writeFileSync(join(dir, `r${k}`), '');
          return JSON.parse((await waitOutput(client, new RegExp(`^round ${k} (.*)$`, 'm'), 30_000, `client round ${k}`))[1]!) as string[];
        };
        expect(await round(1)).toEqual(Array<string>(N).fill(String(w1)));
        const ports = JSON.parse((await waitOutput(client, /^ports (.*)$/m, 5_000, 'client ports'))[1]!) as number[];
        const moved = ports.filter((p) => classOf(KERNEL6, p, BYWAY6) === 0).length; // now worker 0's class
        expect(moved).toBeGreaterThan(2);
        const spread = await pidAnswers(kernelNs, BYWAY6, 20, 'http');
        expect(Object.keys(spread).sort(), JSON.stringify(spread)).toEqual([String(fresh), String(w1)].sort());
        expect(await round(2)).toEqual(Array<string>(N).fill(String(w1)));
        expect(await round(3)).toEqual(Array<string>(N).fill(String(w1)));
        writeFileSync(join(dir, 'r4'), '');
        const closed = JSON.parse((await waitOutput(client, /^closed (.*)$/m, 30_000, 'client closed'))[1]!) as string[];
        expect(closed).toEqual(Array<string>(N).fill('end'));

        let st: Record<string, any> = {};
        // The client's last ACKs may still be on their way through the supervisor.
        await until(async () => {
          st = JSON.parse((await byway(['stat', String(sup), '--json'])).stdout) as Record<string, any>;
          return st.strayRelay.received === st.strays.received && st.strays.received === st.strayRelay.sent;
        }, 10_000, 200);
        // Three requests and the close of each moved connection at least went through the new worker 0 to worker 1.
        expect(st.worker.w0.stack.tcp.strayHandedOff).toBeGreaterThanOrEqual(4 * moved);
        expect(st.worker.w0.strayRelay).toEqual({ sent: st.worker.w0.stack.tcp.strayHandedOff, received: 0, final: 0, limited: 0, split: 0, oversize: 0 });
        expect(st.worker.w1.strayRelay.received).toBe(st.worker.w0.strayRelay.sent);
        expect(st.worker.w0.stack.tcp.rstsSent ?? 0).toBe(0);
        expect(st.worker.w1.stack.tcp.rstsSent ?? 0).toBe(0);
        proc.kill('SIGTERM');
        expect(await exited(proc, 30_000)).not.toBeNull();
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  // On AF_XDP (native on this veth): the supervisor attaches the XDP program and holds its XSKMAP, each worker
  // inherits it as fd 3 and binds its receive queue. The peer's kernel picks the queue of each flow (veth: its
  // transmit queue, a flow hash), so a worker's outgoing connection gets its answers through the supervisor's hop
  // when they land on the other worker's queue.
  it("on AF_XDP queues: both workers serve; each worker's outgoing connection comes back to it; SIGTERM ends all and detaches the program", async () => {
    await kernelServer();
    const proc = lab.spawnIn(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'run', '--workers', '2', '--driver', `af-xdp:${appIf}`, '--address', `${BYWAY}/24`, '--', process.execPath, APP, '8080']) as Proc;
    const m = await waitOutput(proc, /^byway run: pid (\d+) 2 workers on af-xdp:\S+ queues 0-1 \(native XDP\): worker 0 pid (\d+), worker 1 pid (\d+) control /m, 60_000, 'byway run --workers 2');
    const [w0, w1] = [Number(m[2]), Number(m[3])];
    for (const pid of [w0, w1]) await waitOutput(proc, new RegExp(`^listening 8080 pid ${pid}$`, 'm'), 60_000, `worker pid ${pid}`);
    expect(execIn(appNs, 'ip', ['-d', 'link', 'show', appIf])).toMatch(/prog\/xdp/);

    const http = await clients(kernelNs, 40);
    expect(Object.keys(http).sort(), JSON.stringify(http)).toEqual([String(w0), String(w1)].sort());
    const udp = await udpClients(kernelNs, 32);
    expect(Object.keys(udp).sort(), JSON.stringify(udp)).toEqual([String(w0), String(w1)].sort());

    // Each worker's own outgoing connection: a port of its slice (worker 0 49152-57343, worker 1 57344-65535).
    const peer = await clients(kernelNs, 30, `/peer/${KERNEL}:9000`);
    expectOwnSlices(peer, w0, w1);

    proc.kill('SIGTERM');
    await exited(proc, 30_000);
    expect(execIn(appNs, 'ip', ['-d', 'link', 'show', appIf])).not.toMatch(/prog\/xdp/);
  }, 120_000);

  // Shared-address mode on the AF_XDP queues: the workers use the app namespace's own kernel address, which the
  // kernel keeps serving on the same device; the supervisor's program has one flow map the workers edit: 8080 and
  // 8081 are one entry each (a reservation each, not one per worker), each worker's outgoing connection one of its
  // own. Once both workers hold 8080 and 8081, the supervisor has adopted their reservations (a copy of the
  // descriptor, pidfd_getfd): `ss -p` shows them as the supervisor's alone. A killed worker's holds are dropped by
  // the supervisor: the other keeps 8080, still reserved. The window between the worker's end and that drop is
  // held open (BYWAY_TEST_HOLD_DROP): a kernel program binding 8080 or 8081 there gets EADDRINUSE (before the
  // adoption, when the killed worker had reserved first, the bind succeeded there and the supervisor's retake then
  // failed silently).
  it("in shared-address mode on AF_XDP queues: the kernel and both workers serve one address; each worker's outgoing connection works; a killed worker's ports stay reserved for the other", async () => {
    await kernelServer();
    const app = lab.spawnIn(appNs, process.execPath, ['-e', `require('node:http').createServer((q,s)=>s.end('kernel')).listen(8000,'${APP_KERNEL}',()=>console.log('up'))`]) as Proc;
    await waitOutput(app, /^up$/m, 30_000, 'the app namespace kernel server');
    const gate = join(mkdtempSync(join(tmpdir(), 'byway-gate-')), 'drop');
    const proc = lab.spawnIn(appNs, 'env', [`BYWAY_TEST_HOLD_DROP=${gate}`, process.execPath, '--import', 'tsx', BYWAY_CLI, 'run', '--workers', '2', '--driver', `af-xdp:${appIf}:shared`, '--', process.execPath, APP, '8080']) as Proc;
    const { sup, w0, w1 } = await workersListening(proc, 'af-xdp:\\S+:shared queues 0-1 \\(native XDP\\)', 'byway run --workers 2 (shared)');

    const http = await pidAnswers(kernelNs, APP_KERNEL, 40, 'http');
    expect(Object.keys(http).sort(), JSON.stringify(http)).toEqual([String(w0), String(w1)].sort());
    const udp = await pidAnswers(kernelNs, APP_KERNEL, 32, 'udp');
    expect(Object.keys(udp).sort(), JSON.stringify(udp)).toEqual([String(w0), String(w1)].sort());
    const kernel = await execInAsync(kernelNs, 'curl', ['-s', '-m', '5', `http://${APP_KERNEL}:8000/`]);
    expect(kernel.stdout).toBe('kernel');
    // One reservation each, in the app namespace: one UDP socket on 8081; a kernel bind of 8080 is refused.
    expect(execIn(appNs, 'ss', ['-Huan', 'sport = :8081']).trim().split('\n').filter((l) => l !== '').length).toBe(1);
    const bind = `require('node:net').createServer().on('error',(e)=>{console.log(e.code);process.exit()}).listen(8080,'${APP_KERNEL}',()=>{console.log('ok');process.exit()})`;
    const bindUdp = `require('node:dgram').createSocket('udp4').on('error',(e)=>{console.log(e.code);process.exit()}).bind(8081,'${APP_KERNEL}',()=>{console.log('ok');process.exit()})`;
    expect(execIn(appNs, process.execPath, ['-e', bind]).trim()).toBe('EADDRINUSE');
    // 8081's reservation is the supervisor's now (adopted when the second worker claimed it), not a worker's (a bound
    // TCP socket that does not listen is in no table ss reads: 8080's adoption shows in the window below).
    const holders = [...execIn(appNs, 'ss', ['-Hunap', 'sport = :8081']).matchAll(/pid=(\d+)/g)].map((x) => Number(x[1]));
    expect([...new Set(holders)]).toEqual([sup]);

    // Each worker's own outgoing connection: a port of its slice.
    const peer = await pidAnswers(kernelNs, APP_KERNEL, 30, 'http', `/peer/${KERNEL}:9000`);
    const got = Object.entries(peer).flatMap(([a, n]) => Array<string>(n).fill(a));
    expect(got.every((a) => a.endsWith(' kernel')), JSON.stringify(peer)).toBe(true);
    expect([...new Set(got.map((a) => Number(a.split(' ')[0])))].sort(), JSON.stringify(peer)).toEqual([w0, w1].sort());

    process.kill(w0, 'SIGKILL');
    // The supervisor has reaped worker 0 (its descriptors are closed) and holds its flows: the window.
    await waitOutput(proc, /^byway run: holding worker 0's flows until /m, 30_000, 'supervisor');
    expect(alive(w0)).toBe(false);
    expect(execIn(appNs, process.execPath, ['-e', bind]).trim()).toBe('EADDRINUSE');
    expect(execIn(appNs, process.execPath, ['-e', bindUdp]).trim()).toBe('EADDRINUSE');
    writeFileSync(gate, '');
    // Nothing to take again: the reservations were the supervisor's already.
    await waitOutput(proc, /^byway run: worker 0's flows: \d+ back to the kernel, 2 held by others \(0 of them reserved again here\)$/m, 30_000, 'supervisor');
    expect(proc.output()).not.toMatch(/could not be reserved again|not adopted/);
    rmSync(dirname(gate), { recursive: true, force: true });
    const st = JSON.parse((await byway(['stat', String(sup), '--json'])).stdout) as { reservations?: unknown; queues?: { unserved: number[]; dropped: number[] } };
    expect(st.reservations).toEqual({ adopted: 2, adoptFailed: 0, retaken: 0, lost: 0 });
    expect(st.queues?.unserved).toEqual([0]); // worker 0's queue has no socket now (no --restart)
    expect(st.queues?.dropped).toHaveLength(2);
    // Whoever reserved 8080 and 8081 first, each is reserved once still, for worker 1.
    expect(execIn(appNs, 'ss', ['-Huan', 'sport = :8081']).trim().split('\n').filter((l) => l !== '').length).toBe(1);
    expect(execIn(appNs, process.execPath, ['-e', bind]).trim()).toBe('EADDRINUSE');
    const after = await pidAnswers(kernelNs, APP_KERNEL, 20, 'http');
    expect(after[String(w1)], JSON.stringify(after)).toBeGreaterThan(0);
    expect(Object.keys(after).filter((k) => k !== String(w1) && k !== 'TIMEOUT'), JSON.stringify(after)).toEqual([]);
    expect((await execInAsync(kernelNs, 'curl', ['-s', '-m', '5', `http://${APP_KERNEL}:8000/`])).stdout).toBe('kernel');

    proc.kill('SIGTERM');
    await exited(proc, 30_000);
    expect(execIn(appNs, 'ip', ['-d', 'link', 'show', appIf])).not.toMatch(/prog\/xdp/);
    expect(execIn(appNs, process.execPath, ['-e', bind]).trim()).toBe('ok');
  }, 150_000);

  // --restart in shared-address mode: the dead worker's holds are dropped before the new one starts on its index
  // (else the drop would clear the new worker's claims), the new worker joins the entries the supervisor already
  // owns (nothing to adopt again), and both serve.
  it('in shared-address mode with --restart: a killed worker is replaced, the new one holds the ports again and serves', async () => {
    const proc = lab.spawnIn(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'run', '--workers', '2', '--restart', '--driver', `af-xdp:${appIf}:shared`, '--', process.execPath, APP, '8080']) as Proc;
    const { sup, w0, w1 } = await workersListening(proc, 'af-xdp:\\S+:shared queues 0-1 \\(native XDP\\)', 'byway run --workers 2 --restart (shared)');
    await new Promise((r) => setTimeout(r, 1000)); // --restart takes back a worker that ran at least a second
    process.kill(w0, 'SIGKILL');
    await waitOutput(proc, /^byway run: worker 0's flows: \d+ back to the kernel, 2 held by others \(0 of them reserved again here\)$/m, 30_000, 'supervisor drop');
    await waitOutput(proc, new RegExp(`^byway run: worker 0 \\(pid ${w0}\\) ended \\(SIGKILL\\).*; starting a new one on its index$`, 'm'), 30_000, 'supervisor restart');
    const fresh = Number((await waitOutput(proc, new RegExp(`^listening 8080 pid (?!${w0}\\b|${w1}\\b)(\\d+)$`, 'm'), 60_000, 'new worker 0 listening'))[1]);
    const http = await pidAnswers(kernelNs, APP_KERNEL, 40, 'http');
    expect(Object.keys(http).sort(), JSON.stringify(http)).toEqual([String(fresh), String(w1)].sort());
    const bind = `require('node:net').createServer().on('error',(e)=>{console.log(e.code);process.exit()}).listen(8080,'${APP_KERNEL}',()=>{console.log('ok');process.exit()})`;
    expect(execIn(appNs, process.execPath, ['-e', bind]).trim()).toBe('EADDRINUSE');
    const st = JSON.parse((await byway(['stat', String(sup), '--json'])).stdout) as { reservations?: unknown; queues?: { unserved: number[] } };
    expect(st.reservations).toEqual({ adopted: 2, adoptFailed: 0, retaken: 0, lost: 0 });
    expect(st.queues?.unserved).toEqual([]);
    proc.kill('SIGTERM');
    expect(await exited(proc, 30_000)).not.toBeNull();
    expect(alive(fresh) || alive(w1)).toBe(false);
    expect(execIn(appNs, 'ip', ['-d', 'link', 'show', appIf])).not.toMatch(/prog\/xdp/);
  }, 150_000);
});

describePrivileged('byway run --workers 2 on a multi-queue TAP device: one queue per worker', () => {
  const T_KERNEL = '10.77.43.1';
  const T_BYWAY = '10.77.43.2';
  let lab: NetLab;
  let ns: string;
  let tap: string;
  beforeAll(() => {
    lab = new NetLab();
    ns = lab.addNetns('bwwt-');
    tap = lab.addTap(ns, { multiQueue: true });
    ipIn(ns, `addr add ${T_KERNEL}/24 dev ${tap}`);
  });
  afterAll(async () => {
    await lab?.stopProcesses();
    lab?.destroy();
  });

  // The kernel picks the TAP queue of each flow it sends to byway by a hash byway cannot compute (or by the queue
  // the flow's last packet came in on), so a worker's outgoing connection gets its answers through the supervisor's
  // hop when they reach the other worker's queue.
  it("both workers serve; each worker's outgoing connection comes back to it; a killed worker leaves the other serving", async () => {
    const server = lab.spawnIn(ns, process.execPath, ['-e', `require('node:http').createServer((q,s)=>s.end('kernel')).listen(9000,'${T_KERNEL}',()=>console.log('up'))`]) as Proc;
    await waitOutput(server, /^up$/m, 30_000, 'kernel http server');
    const proc = lab.spawnIn(ns, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'run', '--workers', '2', '--driver', `tap:${tap}`, '--address', `${T_BYWAY}/24`, '--', process.execPath, APP, '8080']) as Proc;
    const m = await waitOutput(proc, /^byway run: pid (\d+) 2 workers on tap:\S+ queues 0-1 \(multi-queue TAP\): worker 0 pid (\d+), worker 1 pid (\d+) control /m, 60_000, 'byway run --workers 2');
    const [sup, w0, w1] = [Number(m[1]), Number(m[2]), Number(m[3])];
    for (const pid of [w0, w1]) await waitOutput(proc, new RegExp(`^listening 8080 pid ${pid}$`, 'm'), 60_000, `worker pid ${pid}`);
    // One MAC for both queues: the kernel's side has one neighbour entry for byway's address.
    const http = await pidAnswers(ns, T_BYWAY, 40, 'http', '/');
    expect(Object.keys(http).sort(), JSON.stringify(http)).toEqual([String(w0), String(w1)].sort());
    const udp = await pidAnswers(ns, T_BYWAY, 32, 'udp');
    expect(Object.keys(udp).sort(), JSON.stringify(udp)).toEqual([String(w0), String(w1)].sort());
    expect(execIn(ns, 'ip', ['neigh', 'show', T_BYWAY])).toMatch(/lladdr [0-9a-f:]{17}/);

    const peer = await pidAnswers(ns, T_BYWAY, 30, 'http', `/peer/${T_KERNEL}:9000`);
    expectOwnSlices(peer, w0, w1);
    const stat = await execInAsync(ns, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'stat', String(sup)], { timeoutMs: 30_000 });
    expect(stat.stdout).toMatch(/^#cluster 2 workers, one TAP queue each; answering: 0 pid \d+, 1 pid \d+$/m);

    process.kill(w1, 'SIGKILL');
    await waitOutput(proc, new RegExp(`^byway run: worker 1 \\(pid ${w1}\\) ended \\(SIGKILL\\); its new flows go to worker 0$`, 'm'), 30_000, 'supervisor');
    expect(await pidAnswers(ns, T_BYWAY, 20, 'http', '/')).toEqual({ [String(w0)]: 20 });

    proc.kill('SIGTERM');
    expect(await exited(proc, 30_000)).not.toBeNull();
    expect(alive(w0)).toBe(false);
  }, 150_000);
});
