/**
 * The shared-address AF_XDP cluster over IPv6: two worker threads on the AF_XDP queues of a two-queue veth share
 * the kernel's IPv4 and IPv6 addresses on it (`driver: { mode: 'shared', ipv6: true }`). One program for the
 * device (the primary's, built with IPv6 steering), one flow map: a port a worker claims is an entry per family
 * (IPv6 keyed with address 0, any of the interface's IPv6 addresses) and a kernel reservation per family, held by
 * every worker that claims it. The kernel keeps NDP and serves its own IPv6 server on the same address and device.
 * Checked from the peer's namespace: TCP echo (40 connections) and UDP echo (32 datagrams from as many sockets) over
 * IPv6 answered by both workers; each worker's outgoing IPv6 connection gets its echoes (their return traffic lands
 * on either queue and hops to the owner of the slice, plan.ts `sliceOwner`); the kernel's IPv6 server answers; a
 * kernel bind of the workers' ports on [::] fails with EADDRINUSE; each worker's ping -6 gets its echo replies and
 * its datagram to a closed port the ICMPv6 port unreachable (both steered by the identifier or quoted port); a killed worker's own flows go back to the
 * kernel while the ports the other holds stay reserved. Bounded in time; skipped with a reason when unprivileged.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/cluster/index.js';
import { NetLab, describePrivileged, execIn, ipIn, steadyTxQueues } from '../helpers/netns.js';
import { enableIpv6 } from '../native/ipv6-lab.js';
import { count, expectBothServe, firstAnswer, expectIcmpReachesEach, expectOwnConnections, kernelEcho, reports, tcpClients, until } from './clients.js';

const FIXTURE = new URL('./fixtures/echo-worker.ts', import.meta.url);
const SHARED = 'fd7d::2';
const PEER = 'fd7d::1';

describePrivileged("byway cluster: two worker threads on AF_XDP queues, sharing the kernel's IPv6 address", () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  let cluster: Cluster | undefined;
  let seen: ReturnType<typeof reports>;
  /** The kernel's own server on [SHARED]:8000, asked from the peer over IPv6. */
  const kernelAnswers = (): Promise<string> => firstAnswer(nsB, SHARED, 8000);
  /** What a kernel program in byway's namespace gets when it binds `port` on [::] (v6only). */
  const kernelBind6 = (proto: 'tcp' | 'udp', port: number): string =>
    execIn(nsA, process.execPath, [
      '-e',
      proto === 'tcp'
        ? `require('node:net').createServer().on('error',(e)=>{console.log(e.code);process.exit()}).listen({port:${port},host:'::',ipv6Only:true},()=>{console.log('ok');process.exit()})`
        : `require('node:dgram').createSocket({type:'udp6',ipv6Only:true}).on('error',(e)=>{console.log(e.code);process.exit()}).bind(${port},'::',()=>{console.log('ok');process.exit()})`,
    ]).trim();
  const flow = (protocol: string, port: number, family: 4 | 6): number[] | undefined =>
    cluster!.flows().find((f) => f.protocol === protocol && f.port === port && f.family === family)?.workers;

  beforeAll(async () => {
    nsA = lab.addNetns();
    nsB = lab.addNetns();
    link = lab.addVeth(nsA, nsB, { addrA: '10.77.23.2/24', addrB: '10.77.23.1/24', queues: 2 });
    steadyTxQueues(nsB);
    enableIpv6(nsA, link.a);
    enableIpv6(nsB, link.b);
    ipIn(nsA, `-6 addr add ${SHARED}/64 dev ${link.a} nodad`);
    ipIn(nsB, `-6 addr add ${PEER}/64 dev ${link.b} nodad`);
    lab.spawnIn(nsA, process.execPath, ['-e', `require('node:net').createServer((s)=>s.end('kernel')).listen(8000,'${SHARED}')`]);
    lab.spawnIn(nsB, process.execPath, ['-e', kernelEcho(PEER)]);
    await until(() => execIn(nsB, 'ss', ['-ltn']).includes(':9000') && execIn(nsA, 'ss', ['-ltn']).includes(':8000'), 5_000);
    cluster = await startCluster({
      workers: 2,
      file: FIXTURE,
      driver: { kind: 'af-xdp', mode: 'shared', ipv6: true, ifname: link.a, netns: nsA, attachMode: 'native', bindMode: 'copy' },
      data: { peer: PEER, port: 9000, udp: 'udp6', icmp: true },
    });
    seen = reports(cluster);
  }, 30_000);
  afterAll(async () => {
    await cluster?.close();
    lab.destroy();
  });

  it('the listeners are one flow per family, each held by both workers; each outgoing connection a flow of its worker', async () => {
    expect(cluster!.attachMode).toBe('native');
    await until(() => seen.ports.size === 2, 10_000);
    for (const family of [4, 6] as const) {
      expect(flow('tcp', 7000, family)).toEqual([0, 1]);
      expect(flow('udp', 7001, family)).toEqual([0, 1]);
    }
    expect(flow('tcp', seen.ports.get(0)!, 6)).toEqual([0]);
    expect(flow('tcp', seen.ports.get(1)!, 6)).toEqual([1]);
  });

  it('the ports are reserved over IPv6 too: kernel binds of [::]:7000 and [::]:7001 fail', () => {
    expect(kernelBind6('tcp', 7000)).toBe('EADDRINUSE');
    expect(kernelBind6('udp', 7001)).toBe('EADDRINUSE');
    expect(kernelBind6('tcp', 7002)).toBe('ok');
  });

  it("each worker's outgoing IPv6 connection gets its echoes (ports from its own slice)", async () => {
    await expectOwnConnections(seen);
  });

  it("each worker's ping -6 of the peer and the port unreachable for its datagram reach it (echo identifier and quoted port from its slice)", async () => {
    await expectIcmpReachesEach(cluster!, seen);
    expect(flow('icmp', 49152, 6)).toEqual([0]); // worker 0's echo identifier (limits.icmp.echoIdent), over ICMPv6
    expect(flow('icmp', 57344, 6)).toEqual([1]);
  }, 30_000);

  it("both workers serve TCP and UDP over IPv6, and the kernel's IPv6 server answers on the same address and device", async () => {
    await expectBothServe(nsB, SHARED);
    expect(await kernelAnswers()).toBe('kernel');
    // The kernel keeps NDP: it has the peer (the workers asked it to resolve), and every worker took in IPv6.
    expect(execIn(nsA, 'ip', ['-6', 'neigh', 'show', PEER, 'dev', link.a])).toContain('lladdr');
    const s = await cluster!.stats();
    for (const w of s.workers) expect(w.stats.tcp?.passiveOpens).toBeGreaterThan(0);
    // Byway put no solicitation on the wire: each worker's resolutions were asked of the kernel.
    for (const w of s.workers) {
      expect(w.stats.ndp?.solicitationsSent).toBe(0);
      expect(w.stats.ndp?.kernelResolves).toBeGreaterThanOrEqual(1);
    }
  }, 60_000);

  it("a killed worker's own flows go back to the kernel; the ports the other holds stay steered and reserved over IPv6", async () => {
    const port1 = seen.ports.get(1)!;
    await cluster!.kill(1);
    await until(() => flow('tcp', 7000, 6)?.length === 1, 5_000);
    expect(flow('tcp', 7000, 6)).toEqual([0]);
    expect(flow('udp', 7001, 6)).toEqual([0]);
    expect(flow('tcp', port1, 6)).toBeUndefined();
    expect(kernelBind6('tcp', 7000)).toBe('EADDRINUSE');
    expect(kernelBind6('tcp', port1)).toBe('ok');
    const tcp = await tcpClients(nsB, SHARED, 10);
    expect(count(tcp, 'w0')).toBeGreaterThan(0);
    expect(count(tcp, 'w0') + count(tcp, 'timeout'), JSON.stringify(tcp)).toBe(10);
    const q = (await cluster!.stats()).queues!;
    expect(q.unserved).toEqual([1]);
    expect(q.dropped[1]).toBeGreaterThanOrEqual(count(tcp, 'timeout')); // their SYNs, dropped on the unserved queue
    expect(await kernelAnswers()).toBe('kernel');
  }, 60_000);
});
