/**
 * `byway run --workers 2` over AF_XDP on a two-queue veth (natively attached), against the kernel of another
 * namespace: the supervisor attaches the XDP program and holds its XSKMAP, each worker process inherits the map as
 * fd 3 and binds its receive queue into it. An unmodified node:http and node:dgram server (apps/pid-server.cjs)
 * answers from both workers; each worker's own outgoing connection takes a port of its slice and gets its answer,
 * through the supervisor when the peer's kernel put it on the other worker's queue (veth: the peer's transmit
 * queue, a flow hash). SIGTERM ends the workers, and the supervisor detaches the program. Bounded in time.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describePrivileged, execIn, NetLab } from '../helpers/netns.js';
import { exited, pidAnswers, waitOutput, type Proc } from './run-helpers.js';

const KERNEL = '10.77.42.1';
const BYWAY = '10.77.42.2';
const APP_KERNEL = '10.77.42.3';
const here = new URL('.', import.meta.url).pathname;
const BYWAY_CLI = join(here, '../../src/cli/byway.ts');
const APP = join(here, 'apps', 'pid-server.cjs');

describePrivileged('byway run --workers 2 on AF_XDP queues: an unmodified server in two processes, one queue each', () => {
  let lab: NetLab;
  let kernelNs: string;
  let appNs: string;
  let appIf: string;

  beforeAll(() => {
    lab = new NetLab();
    kernelNs = lab.addNetns('bwxk-');
    appNs = lab.addNetns('bwxa-');
    appIf = lab.addVeth(kernelNs, appNs, { addrA: `${KERNEL}/24`, addrB: `${APP_KERNEL}/24`, queues: 2 }).b;
  });
  afterEach(() => lab?.stopProcesses());
  afterAll(async () => {
    await lab?.stopProcesses();
    lab?.destroy();
  });

  it("both workers serve; each worker's outgoing connection comes back to it; SIGTERM ends all and detaches the program", async () => {
    const k = lab.spawnIn(kernelNs, process.execPath, ['-e', `require('node:http').createServer((q,s)=>s.end('kernel')).listen(9000,'${KERNEL}',()=>console.log('up'))`]) as Proc;
    await waitOutput(k, /^up$/m, 30_000, 'kernel http server');
    const proc = lab.spawnIn(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'run', '--workers', '2', '--driver', `af-xdp:${appIf}`, '--address', `${BYWAY}/24`, '--', process.execPath, APP, '8080']) as Proc;
    const m = await waitOutput(proc, /^byway run: pid (\d+) 2 workers on af-xdp:\S+ queues 0-1 \(native XDP\): worker 0 pid (\d+), worker 1 pid (\d+) control /m, 60_000, 'byway run --workers 2');
    const [w0, w1] = [Number(m[2]), Number(m[3])];
    for (const pid of [w0, w1]) await waitOutput(proc, new RegExp(`^listening 8080 pid ${pid}$`, 'm'), 60_000, `worker pid ${pid}`);
    expect(execIn(appNs, 'ip', ['-d', 'link', 'show', appIf])).toMatch(/prog\/xdp/);

    const http = await pidAnswers(kernelNs, BYWAY, 40, 'http');
    expect(Object.keys(http).sort(), JSON.stringify(http)).toEqual([String(w0), String(w1)].sort());
    const udp = await pidAnswers(kernelNs, BYWAY, 32, 'udp');
    expect(Object.keys(udp).sort(), JSON.stringify(udp)).toEqual([String(w0), String(w1)].sort());

    // Each worker's own outgoing connection: a port of its slice (worker 0 49152-57343, worker 1 57344-65535).
    const peer = await pidAnswers(kernelNs, BYWAY, 30, 'http', `/peer/${KERNEL}:9000`);
    const got = Object.entries(peer).flatMap(([a, n]) => Array<string>(n).fill(a));
    expect(got.every((a) => a.endsWith(' kernel')), JSON.stringify(peer)).toBe(true);
    expect([...new Set(got.map((a) => Number(a.split(' ')[0])))].sort(), JSON.stringify(peer)).toEqual([w0, w1].sort());
    for (const a of got) {
      const [pid, port] = a.split(' ').map(Number) as [number, number];
      expect(port).toBeGreaterThanOrEqual(pid === w0 ? 49152 : 57344);
      expect(port).toBeLessThanOrEqual(pid === w0 ? 57343 : 65535);
    }

    proc.kill('SIGTERM');
    await exited(proc, 30_000);
    expect(execIn(appNs, 'ip', ['-d', 'link', 'show', appIf])).not.toMatch(/prog\/xdp/);
  }, 120_000);
});
