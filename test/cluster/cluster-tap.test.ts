/**
 * A byway cluster of two worker threads on one multi-queue TAP device (IFF_MULTI_QUEUE, a queue per worker), against
 * the kernel on the device's other end: the kernel picks each flow's queue, byway computes nothing. A TCP and a
 * UDP port are served by both workers, and each worker's outgoing connection to the kernel's echo server gets its
 * answers, which land on either queue and hop to their owner when they land on the other one (without the hop
 * neither worker's connection got an answer), also on a connection idle for 6 s; likewise the echo replies to each
 * worker's ping and the port unreachable for its datagram.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/cluster/index.js';
import { NetLab, describePrivileged, execIn, ipIn } from '../helpers/netns.js';
import { expectBothServe, expectIcmpReachesEach, expectOwnConnections, kernelEcho, reports, until } from './clients.js';

const FIXTURE = new URL('./fixtures/echo-worker.ts', import.meta.url);
const BYWAY = '10.77.14.2';
const KERNEL = '10.77.14.1';

describePrivileged('byway cluster: two worker threads on a multi-queue TAP device', () => {
  const lab = new NetLab();
  let ns = '';
  let cluster: Cluster | undefined;
  let seen: ReturnType<typeof reports>;

  beforeAll(async () => {
    ns = lab.addNetns();
    const tap = lab.addTap(ns, { multiQueue: true });
    ipIn(ns, `addr add ${KERNEL}/24 dev ${tap}`);
    lab.spawnIn(ns, process.execPath, ['-e', `${kernelEcho(KERNEL)};require('node:net').createServer((s)=>{s.on('error',()=>{});setTimeout(()=>s.write('late'),6000)}).listen(9001,'${KERNEL}')`]);
    await until(() => execIn(ns, 'ss', ['-ltn']).includes(':9000'), 5_000);
    cluster = await startCluster({ workers: 2, file: FIXTURE, driver: { kind: 'tap', name: tap, netns: ns }, address: `${BYWAY}/24`, data: { peer: KERNEL, port: 9000, late: 9001, icmp: true } });
    seen = reports(cluster);
  }, 30_000);
  afterAll(async () => {
    await cluster?.close();
    lab.destroy();
  });

  it("each worker's outgoing connection gets its answers (ports from its own slice)", async () => {
    await expectOwnConnections(seen);
  });

  it("a worker's connection idle for 6 s still gets the peer's bytes", async () => {
    await until(() => seen.late.size === 2, 15_000);
    expect(Object.fromEntries(seen.late)).toEqual({ 0: 'late', 1: 'late' });
  }, 20_000);

  it("ICMP about each worker's flows reaches it (hopping when on the other queue): echo reply, port unreachable", async () => {
    await expectIcmpReachesEach(cluster!, seen);
  });

  it('a TCP port and a UDP port are served by both workers', async () => {
    await expectBothServe(ns, BYWAY);
    const s = await cluster!.stats();
    expect(s.total.tcp?.passiveOpens).toBe(40);
    expect(s.workers[1]!.stats.arp.repliesSent).toBe(0); // worker 0 answers ARP; worker 1 learns from the relay
  });
});
