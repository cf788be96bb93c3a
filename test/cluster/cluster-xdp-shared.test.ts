/**
 * A byway cluster of two worker threads on the AF_XDP queues of a two-queue veth in shared-address mode: the
 * workers share the kernel's address on that interface. One XDP program for the device (the primary's), one socket
 * per queue in its XSKMAP, one flow map the workers share: a port both workers listen on is one entry held by both
 * and one kernel reservation; each worker's outgoing connection is an entry of its own, from its ephemeral slice.
 * What the map does not name goes to the kernel, which keeps serving its own server on the same address and device.
 * A worker that dies gives up its holds: its own flows go back to the kernel, the ports the other worker still
 * listens on stay steered and reserved, and the other keeps serving.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/cluster/index.js';
import { NetLab, describePrivileged, execIn, steadyTxQueues } from '../helpers/netns.js';
import { count, expectBothServe, firstAnswer, expectOwnConnections, kernelEcho, reports, tcpClients, until, xdpSockets as xdpSocketsIn } from './clients.js';

const FIXTURE = new URL('./fixtures/echo-worker.ts', import.meta.url);
const SHARED = '10.77.19.2';
const PEER = '10.77.19.1';

describePrivileged('byway cluster: two worker threads on AF_XDP queues, sharing the kernel\'s address', () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  let cluster: Cluster | undefined;
  let seen: ReturnType<typeof reports>;
  const xdpSockets = (): number => xdpSocketsIn(nsA);
  /** The kernel server on the shared address (port 8000), asked from the peer. */
  const kernelAnswers = (): Promise<string> => firstAnswer(nsB, SHARED, 8000);
  /** What a kernel program in byway's namespace gets when it binds `port` on the shared address. */
  const kernelBind = (proto: 'tcp' | 'udp', port: number): string =>
    execIn(nsA, process.execPath, [
      '-e',
      proto === 'tcp'
        ? `require('node:net').createServer().on('error',(e)=>{console.log(e.code);process.exit()}).listen(${port},'${SHARED}',()=>{console.log('ok');process.exit()})`
        : `require('node:dgram').createSocket('udp4').on('error',(e)=>{console.log(e.code);process.exit()}).bind(${port},'${SHARED}',()=>{console.log('ok');process.exit()})`,
    ]).trim();
  /** Kernel UDP sockets bound to `port` in byway's namespace (the reservations). */
  const udpSockets = (port: number): number => execIn(nsA, 'ss', ['-Huan', `sport = :${port}`]).split('\n').filter((l) => l.trim() !== '').length;
  const flow = (protocol: string, port: number): number[] | undefined => cluster!.flows().find((f) => f.protocol === protocol && f.port === port)?.workers;

  beforeAll(async () => {
    nsA = lab.addNetns();
    nsB = lab.addNetns();
    link = lab.addVeth(nsA, nsB, { addrA: `${SHARED}/24`, addrB: `${PEER}/24`, queues: 2 });
    steadyTxQueues(nsB);
    // The kernel's own server on the shared address, and the peer's echo server the workers connect to.
    lab.spawnIn(nsA, process.execPath, ['-e', `require('node:net').createServer((s)=>s.end('kernel')).listen(8000,'${SHARED}')`]);
    // (A killed worker's connection is reset: its port is the kernel's again, and the kernel has the address.)
    lab.spawnIn(nsB, process.execPath, ['-e', kernelEcho(PEER)]);
    await until(() => execIn(nsB, 'ss', ['-ltn']).includes(':9000') && execIn(nsA, 'ss', ['-ltn']).includes(':8000'), 5_000);
    cluster = await startCluster({
      workers: 2,
      file: FIXTURE,
      driver: { kind: 'af-xdp', mode: 'shared', ifname: link.a, netns: nsA, attachMode: 'native', bindMode: 'copy' },
      data: { peer: PEER, port: 9000 },
    });
    seen = reports(cluster);
  }, 30_000);
  afterAll(async () => {
    await cluster?.close();
    lab.destroy();
  });

  it('one natively attached program, a socket per queue; the listeners are one flow each, held by both workers', async () => {
    expect(cluster!.attachMode).toBe('native');
    expect(execIn(nsA, 'ip', ['-d', 'link', 'show', link.a])).toMatch(/prog\/xdp/);
    expect(xdpSockets()).toBe(2);
    await until(() => seen.ports.size === 2, 10_000);
    expect(flow('tcp', 7000)).toEqual([0, 1]);
    expect(flow('udp', 7001)).toEqual([0, 1]);
    // Each worker's outgoing connection: a flow of its own, from its slice.
    expect(flow('tcp', seen.ports.get(0)!)).toEqual([0]);
    expect(flow('tcp', seen.ports.get(1)!)).toEqual([1]);
  });

  it('the kernel reservations are taken once: one UDP socket on 7001, and kernel binds of 7000 and 7001 fail', () => {
    expect(udpSockets(7001)).toBe(1);
    expect(kernelBind('tcp', 7000)).toBe('EADDRINUSE');
    expect(kernelBind('udp', 7001)).toBe('EADDRINUSE');
  });

  it("each worker's outgoing connection gets its answers (ports from its own slice)", async () => {
    await expectOwnConnections(seen);
  });

  it("both workers serve byway's ports and the kernel serves its own on the same address and device", async () => {
    await expectBothServe(nsB, SHARED);
    expect(await kernelAnswers()).toBe('kernel');
    const s = await cluster!.stats();
    expect(s.total.tcp?.passiveOpens).toBe(40);
    // ARP is the kernel's in shared mode: no worker answers it.
    expect(s.total.arp.repliesSent).toBe(0);
  });

  it('a killed worker gives up its flows; the listeners stay, held by the other, which keeps serving', async () => {
    const port1 = seen.ports.get(1)!;
    const dropped = new Promise<{ released: number; kept: number }>((r) => cluster!.once('flows', (_i: number, d: { released: number; kept: number }) => r(d)));
    await cluster!.kill(1);
    expect(await dropped).toEqual({ released: 1, kept: 2 });
    expect(cluster!.live).toEqual([0]);
    expect(xdpSockets()).toBe(1);
    expect(flow('tcp', 7000)).toEqual([0]);
    expect(flow('udp', 7001)).toEqual([0]);
    expect(flow('tcp', port1)).toBeUndefined();
    // Still reserved once; worker 1's ephemeral port is the kernel's again.
    expect(udpSockets(7001)).toBe(1);
    expect(kernelBind('tcp', 7000)).toBe('EADDRINUSE');
    expect(kernelBind('tcp', port1)).toBe('ok');
    // Queue 0's clients are served by worker 0; the program drops byway's flows on queue 1 (its slot is empty)
    // rather than pass them to the kernel, which owns the address and would reset them: those clients time out.
    const before = (await cluster!.stats()).queues!;
    expect(before.unserved).toEqual([1]);
    const tcp = await tcpClients(nsB, SHARED, 20);
    expect(count(tcp, 'w0')).toBeGreaterThan(0);
    expect(count(tcp, 'w0') + count(tcp, 'timeout'), JSON.stringify(tcp)).toBe(20);
    // The unserved queue shows in the stats: every client that timed out had its SYNs dropped on queue 1, counted.
    const after = (await cluster!.stats()).queues!;
    expect(after.dropped[1]! - before.dropped[1]!).toBeGreaterThanOrEqual(count(tcp, 'timeout'));
    expect(after.dropped[0]).toBe(0);
    console.log(`queue 1 unserved: ${after.dropped[1]! - before.dropped[1]!} frames dropped there, ${count(tcp, 'timeout')} of 20 clients timed out`);
    expect(await kernelAnswers()).toBe('kernel');
  }, 60_000);

  it("a new worker on the index takes queue 1 and its holds back; worker 0's connection lived through it", async () => {
    seen.ports.delete(1);
    seen.echoes.delete(1);
    const before = seen.echoes.get(0)!;
    await cluster!.revive(1);
    expect(xdpSockets()).toBe(2);
    expect(flow('tcp', 7000)).toEqual([0, 1]);
    // Worker 0's own connection was not reset whichever queue its answers land on (dropped meanwhile, retransmitted).
    await until(() => (seen.echoes.get(1) ?? 0) > 1 && seen.echoes.get(0)! > before + 2, 15_000);
    expect(seen.echoes.get(1)).toBeGreaterThan(1);
    expect(seen.echoes.get(0)).toBeGreaterThan(before + 2);
    await expectBothServe(nsB, SHARED);
  }, 60_000);

  it('closing the cluster gives every port back to the kernel', async () => {
    await cluster!.close();
    cluster = undefined;
    expect(udpSockets(7001)).toBe(0);
    expect(kernelBind('tcp', 7000)).toBe('ok');
    expect(execIn(nsA, 'ip', ['-d', 'link', 'show', link.a])).not.toMatch(/prog\/xdp/);
    expect(await kernelAnswers()).toBe('kernel');
  });
});
