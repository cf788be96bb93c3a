/**
 * `byway run --workers 2 --driver af-xdp:IFNAME:shared:ipv6`: an unmodified node:http server (apps/pid-server.cjs,
 * which answers with its pid) in two processes on the AF_XDP queues of a two-queue veth, sharing the app namespace's
 * own IPv4 and IPv6 addresses with the kernel. Checked from the peer's namespace over IPv6: 40 connections answered
 * by both workers; the kernel's own IPv6 HTTP server on the same address (port 8000) answering beside them; a kernel
 * bind of 8080 on [::] (v6only) refused (the port is reserved per family); IPv4 still served by both; and the
 * workers' NDP counters: each asked the kernel to resolve the peer (`kernelResolves`) and sent no solicitation of
 * its own (`solicitationsSent` 0; the kernel keeps NDP in shared mode). Worker 0 killed: its holds dropped, the
 * four entries of 8080 and 8081 (one per family) kept for worker 1, [::]:8080 still reserved, new IPv6 clients all
 * answered by worker 1. SIGTERM ends everything and the program is detached. With --restart (the app binding a
 * udp6 socket beside its udp4 one): each worker's outgoing IPv6 connections (/peer/[fd7e::1]:9000) answered, on
 * byway's path from ports of its own slice; 32 udp6 clients answered by both workers; worker 0 killed, its
 * replacement serving IPv6 HTTP, UDP and outgoing connections again beside worker 1. And one process (no --workers, a
 * one-queue veth): the same spec gives the program both of the interface's addresses, 10 IPv6 connections answered
 * by it beside the kernel's IPv6 server, [::]:8080 reserved until it ends. Bounded in time; skipped with a reason
 * when unprivileged.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { describePrivileged, execIn, execInAsync, ipIn, NetLab } from '../helpers/netns.js';
import { enableIpv6 } from '../native/ipv6-lab.js';
import { exited, pidAnswers, twoQueueVeth, waitOutput, workersListening, type Proc } from './run-helpers.js';

const APP_KERNEL = '10.77.42.3';
const APP6 = 'fd7e::3';
const PEER6 = 'fd7e::1';
const here = new URL('.', import.meta.url).pathname;
const BYWAY_CLI = join(here, '../../src/cli/byway.ts');
const APP = join(here, 'apps', 'pid-server.cjs');

interface NdpCounters {
  solicitationsSent: number;
  kernelResolves: number;
  neighbour?: { fromHost: number };
}
interface StatJson {
  stack: { ndp?: NdpCounters };
  paths?: Record<string, { bypass: number; kernel: number }>;
  worker?: Record<string, { stack: { ndp?: NdpCounters } }>;
}

/**
 * The answers of /peer requests ("PID LOCALPORT kernel"): every one came back from the peer's kernel server, and
 * each of `pids` made some.
 */
function expectPeerAnswers(peer: Record<string, number>, pids: number[]): void {
  const got = Object.entries(peer).flatMap(([a, n]) => Array<string>(n).fill(a));
  expect(got.every((a) => a.endsWith(' kernel')), JSON.stringify(peer)).toBe(true);
  expect([...new Set(got.map((a) => Number(a.split(' ')[0])))].sort(), JSON.stringify(peer)).toEqual([...pids].sort());
}

/** Each /peer answer's local port is in its worker's slice of the ephemeral ports (worker 0 49152-57343, worker 1 57344-65535). */
function expectOwnSlices(peer: Record<string, number>, w0: number, w1: number): void {
  for (const a of Object.keys(peer)) {
    const [pid, port] = a.split(' ').map(Number) as [number, number];
    expect([w0, w1], a).toContain(pid);
    expect(port, a).toBeGreaterThanOrEqual(pid === w0 ? 49152 : 57344);
    expect(port, a).toBeLessThanOrEqual(pid === w0 ? 57343 : 65535);
  }
}

describePrivileged('byway run (one process and --workers 2) on AF_XDP sharing the kernel\'s IPv6 address (af-xdp:IFNAME:shared:ipv6)', () => {
  let lab: NetLab;
  let kernelNs: string;
  let appNs: string;
  let appIf: string;

  /** A veth 10.77.NET.0/24 (two queues unless told) with IPv6 on both ends (fd7e::/64 for NET 42, APP6 its app end; else fdNET::/64). */
  const dualStack = (net: number, queues = 2): { kernelNs: string; appNs: string; appIf: string; app6: string } => {
    const [kernel4, app4] = [`10.77.${net}.1/24`, `10.77.${net}.3/24`];
    let k: string, a: string, link: { a: string; b: string };
    if (queues === 2) ({ kernelNs: k, appNs: a, link } = twoQueueVeth(lab, `bw${net}`, kernel4, app4));
    else {
      [k, a] = [lab.addNetns(`bw${net}k-`), lab.addNetns(`bw${net}a-`)];
      link = lab.addVeth(k, a, { addrA: kernel4, addrB: app4 });
    }
    const prefix = net === 42 ? 'fd7e' : `fd${net}`;
    enableIpv6(k, link.a);
    enableIpv6(a, link.b);
    ipIn(k, `-6 addr add ${prefix}::1/64 dev ${link.a} nodad`);
    ipIn(a, `-6 addr add ${prefix}::3/64 dev ${link.b} nodad`);
    return { kernelNs: k, appNs: a, appIf: link.b, app6: `${prefix}::3` };
  };
  beforeAll(() => {
    lab = new NetLab();
    ({ kernelNs, appNs, appIf } = dualStack(42));
  });
  afterEach(() => lab?.stopProcesses());
  afterAll(async () => {
    await lab?.stopProcesses();
    lab?.destroy();
  });

  const bind6 = `require('node:net').createServer().on('error',(e)=>{console.log(e.code);process.exit()}).listen({port:8080,host:'::',ipv6Only:true},()=>{console.log('ok');process.exit()})`;
  const neighborSolicits = (ns: string): number => Number(/Icmp6OutNeighborSolicits\s+(\d+)/.exec(execIn(ns, 'nstat', ['-az', 'Icmp6OutNeighborSolicits']))?.[1] ?? NaN);

  it('both workers serve IPv6 (and IPv4) on the shared address, beside the kernel\'s own IPv6 server; 8080 is reserved on [::]', async () => {
    const kernelApp = lab.spawnIn(appNs, process.execPath, ['-e', `require('node:http').createServer((q,s)=>s.end('kernel')).listen(8000,'${APP6}',()=>console.log('up'))`]) as Proc;
    await waitOutput(kernelApp, /^up$/m, 30_000, 'the app namespace kernel server');
    const proc = lab.spawnIn(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'run', '--workers', '2', '--driver', `af-xdp:${appIf}:shared:ipv6`, '--', process.execPath, APP, '8080']) as Proc;
    const { sup, w0, w1 } = await workersListening(proc, 'af-xdp:\\S+:shared:ipv6 queues 0-1 \\(native XDP\\)', 'byway run --workers 2 (shared, ipv6)');
    const solicitsBefore = neighborSolicits(appNs);

    const http6 = await pidAnswers(kernelNs, APP6, 40, 'http');
    expect(Object.keys(http6).sort(), JSON.stringify(http6)).toEqual([String(w0), String(w1)].sort());
    const kernel6 = await execInAsync(kernelNs, 'curl', ['-s', '-6', '-m', '5', `http://[${APP6}]:8000/`]);
    expect(kernel6.stdout).toBe('kernel');
    const http4 = await pidAnswers(kernelNs, APP_KERNEL, 20, 'http');
    expect(Object.keys(http4).sort(), JSON.stringify(http4)).toEqual([String(w0), String(w1)].sort());
    // One reservation per family: a kernel program cannot take 8080 on [::] either.
    expect(execIn(appNs, process.execPath, ['-e', bind6]).trim()).toBe('EADDRINUSE');

    const st = JSON.parse((await execInAsync(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'stat', String(sup), '--json'], { timeoutMs: 30_000 })).stdout) as StatJson;
    const solicitsAfter = neighborSolicits(appNs);
    // The kernel keeps NDP: each worker asked it to resolve the peer (its SYN-ACKs needed the MAC) and sent no
    // solicitation itself (the kernel's own count is printed: it had the peer's entry from the peer's solicitation).
    const ndp = Object.entries(st.worker ?? {}).map(([k, v]) => `${k} sent ${v.stack.ndp?.solicitationsSent} asked ${v.stack.ndp?.kernelResolves}`);
    console.log(`NDP: ${ndp.join(', ')}; the kernel's Icmp6OutNeighborSolicits ${solicitsBefore} -> ${solicitsAfter}`);
    expect(Object.keys(st.worker ?? {}).sort()).toEqual(['w0', 'w1']);
    for (const w of Object.values(st.worker ?? {})) {
      expect(w.stack.ndp?.solicitationsSent, ndp.join(', ')).toBe(0);
      expect(w.stack.ndp?.kernelResolves, ndp.join(', ')).toBeGreaterThanOrEqual(1);
    }

    // A killed worker: the supervisor drops its holds; 8080 (both families) and 8081 stay held by worker 1, so
    // [::]:8080 stays reserved and every new IPv6 client goes to worker 1.
    process.kill(w0, 'SIGKILL');
    const drop = await waitOutput(proc, /^byway run: worker 0's flows: (\d+) back to the kernel, (\d+) held by others \((\d+) of them reserved again here\)$/m, 30_000, 'supervisor drop');
    expect(Number(drop[2]), drop[0]).toBe(4); // tcp/8080 and udp/8081, one entry per family
    expect(Number(drop[3]), drop[0]).toBe(0); // the reservations, IPv6 ones included, were the supervisor's already (adopted)
    expect(proc.output()).not.toMatch(/could not be reserved again|not adopted/);
    expect(execIn(appNs, process.execPath, ['-e', bind6]).trim()).toBe('EADDRINUSE');
    const after = await pidAnswers(kernelNs, APP6, 20, 'http');
    expect(after[String(w1)], JSON.stringify(after)).toBeGreaterThan(0);
    expect(Object.keys(after).filter((k) => k !== String(w1) && k !== 'TIMEOUT'), JSON.stringify(after)).toEqual([]);

    proc.kill('SIGTERM');
    expect(await exited(proc, 30_000)).not.toBeNull();
    expect(execIn(appNs, 'ip', ['-d', 'link', 'show', appIf])).not.toMatch(/prog\/xdp/);
    expect(execIn(appNs, process.execPath, ['-e', bind6]).trim()).toBe('ok');
    expect((await execInAsync(kernelNs, 'curl', ['-s', '-6', '-m', '5', `http://[${APP6}]:8000/`])).stdout).toBe('kernel');
  }, 150_000);

  // The workers' own IPv6: each one's outgoing connections to the peer's kernel server over IPv6 come back to it,
  // and a udp6 socket (the app binds one beside its udp4 one) answers clients from both workers. Then --restart: a
  // worker killed with SIGKILL is replaced on its index, and the new one serves IPv6 (TCP, UDP, outgoing) again.
  it("with --restart: each worker's outgoing IPv6 connections and its udp6 socket work; a killed worker's replacement serves IPv6 again", async () => {
    const peer = lab.spawnIn(kernelNs, process.execPath, ['-e', `require('node:http').createServer((q,s)=>s.end('kernel')).listen(9000,'${PEER6}',()=>console.log('up'))`]) as Proc;
    await waitOutput(peer, /^up$/m, 30_000, 'the peer namespace kernel server');
    const proc = lab.spawnIn(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'run', '--workers', '2', '--restart', '--driver', `af-xdp:${appIf}:shared:ipv6`, '--', process.execPath, APP, '8080', '0', 'udp6']) as Proc;
    const { sup, w0, w1 } = await workersListening(proc, 'af-xdp:\\S+:shared:ipv6 queues 0-1 \\(native XDP\\)', 'byway run --workers 2 --restart (shared, ipv6)');
    const both = [String(w0), String(w1)].sort();

    const udp6 = await pidAnswers(kernelNs, APP6, 32, 'udp');
    expect(Object.keys(udp6).sort(), JSON.stringify(udp6)).toEqual(both);
    const udp4 = await pidAnswers(kernelNs, APP_KERNEL, 16, 'udp'); // the udp4 socket beside it still answers
    expect(Object.keys(udp4).filter((k) => k !== String(w0) && k !== String(w1)), JSON.stringify(udp4)).toEqual([]);
    const out6 = await pidAnswers(kernelNs, APP6, 30, 'http', `/peer/[${PEER6}]:9000`);
    expectPeerAnswers(out6, [w0, w1]);
    // On byway's path (each from a port of its worker's slice, as over IPv4), not the kernel's.
    expectOwnSlices(out6, w0, w1);
    const st = JSON.parse((await execInAsync(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'stat', String(sup), '--json'], { timeoutMs: 30_000 })).stdout) as StatJson;
    expect(st.paths?.tcpConnect, JSON.stringify(st.paths)).toEqual({ bypass: 30, kernel: 0 });
    expect(st.paths?.udpSocket, JSON.stringify(st.paths)).toEqual({ bypass: 4, kernel: 0 }); // udp4 and udp6, in each worker

    // (--restart takes back a worker that ran at least a second: the rounds above took longer.)
    process.kill(w0, 'SIGKILL');
    await waitOutput(proc, new RegExp(`^byway run: worker 0 \\(pid ${w0}\\) ended \\(SIGKILL\\).*; starting a new one on its index$`, 'm'), 30_000, 'supervisor restart');
    const fresh = Number((await waitOutput(proc, new RegExp(`^listening 8080 pid (?!${w0}\\b|${w1}\\b)(\\d+)$`, 'm'), 60_000, 'new worker 0 listening'))[1]);
    const again = [String(fresh), String(w1)].sort();
    const http6 = await pidAnswers(kernelNs, APP6, 40, 'http');
    expect(Object.keys(http6).sort(), JSON.stringify(http6)).toEqual(again);
    const udp6Again = await pidAnswers(kernelNs, APP6, 32, 'udp');
    expect(Object.keys(udp6Again).sort(), JSON.stringify(udp6Again)).toEqual(again);
    const outAgain = await pidAnswers(kernelNs, APP6, 30, 'http', `/peer/[${PEER6}]:9000`);
    expectPeerAnswers(outAgain, [fresh, w1]);
    expectOwnSlices(outAgain, fresh, w1); // the new worker has worker 0's slice
    // The new worker's mirror of the kernel's neighbour table (dumped when it opened the driver) had the peer, whose
    // entry the kernel kept from the traffic before: its neighbour cache took the MAC from there (fromHost) instead
    // of waiting for a resolution, and it sent no solicitation.
    const st2 = JSON.parse((await execInAsync(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'stat', String(sup), '--json'], { timeoutMs: 30_000 })).stdout) as StatJson;
    const ndp = Object.entries(st2.worker ?? {}).map(([k, v]) => `${k} fromHost ${v.stack.ndp?.neighbour?.fromHost} asked ${v.stack.ndp?.kernelResolves} sent ${v.stack.ndp?.solicitationsSent}`);
    console.log(`NDP after the restart: ${ndp.join(', ')}`);
    expect(st2.worker?.['w0']?.stack.ndp?.neighbour?.fromHost, ndp.join(', ')).toBeGreaterThanOrEqual(1);
    expect(st2.worker?.['w0']?.stack.ndp?.solicitationsSent, ndp.join(', ')).toBe(0);

    proc.kill('SIGTERM');
    expect(await exited(proc, 30_000)).not.toBeNull();
    expect(execIn(appNs, 'ip', ['-d', 'link', 'show', appIf])).not.toMatch(/prog\/xdp/);
  }, 150_000);

  // One process (no --workers): the same spec takes the interface's IPv6 address as well as its IPv4 one.
  it('one process: af-xdp:IFNAME:shared:ipv6 serves IPv6 on the kernel\'s address beside the kernel\'s own IPv6 server', async () => {
    // Namespaces of its own (an AF_XDP queue can stay busy for a second after its socket closed), and one queue: a
    // single process binds queue 0, and in shared mode the kernel resets a flow that lands on a queue with no socket.
    const one = dualStack(43, 1);
    const kernelApp = lab.spawnIn(one.appNs, process.execPath, ['-e', `require('node:http').createServer((q,s)=>s.end('kernel')).listen(8000,'${one.app6}',()=>console.log('up'))`]) as Proc;
    await waitOutput(kernelApp, /^up$/m, 30_000, 'the app namespace kernel server');
    const proc = lab.spawnIn(one.appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'run', '--driver', `af-xdp:${one.appIf}:shared:ipv6`, '--', process.execPath, APP, '8080']) as Proc;
    const m = await waitOutput(proc, /^byway: pid (\d+) driver af-xdp:\S+:shared:ipv6 mode shared .* address (\S+) /m, 30_000, 'byway run (shared, ipv6)');
    expect(m[2]!.split(',')).toEqual(expect.arrayContaining(['10.77.43.3/24', `${one.app6}/64`]));
    const pid = (await waitOutput(proc, /^listening 8080 pid (\d+)$/m, 30_000, 'the program'))[1]!;
    expect(pid).toBe(m[1]); // the program is the process the preload opened the driver in
    expect(await pidAnswers(one.kernelNs, one.app6, 10, 'http')).toEqual({ [pid]: 10 });
    expect((await execInAsync(one.kernelNs, 'curl', ['-s', '-6', '-m', '5', `http://[${one.app6}]:8000/`])).stdout).toBe('kernel');
    expect(execIn(one.appNs, process.execPath, ['-e', bind6]).trim()).toBe('EADDRINUSE');
    proc.kill('SIGTERM');
    expect(await exited(proc, 30_000)).not.toBeNull();
    expect(execIn(one.appNs, process.execPath, ['-e', bind6]).trim()).toBe('ok');
  }, 60_000);
});
