/**
 * Path MTU discovery through a real router for a fanout cluster of two worker threads: byway's namespace, a
 * router namespace (forwarding, MTU 1500 on byway's side, 1280 out of its far side) and a far namespace with an
 * echo server. Each worker sends 6000 bytes on its own connection to the far server with DF set; the router answers
 * with ICMP fragmentation needed quoting the worker's segment, which must reach that worker (the fanout program
 * steers it by the quoted source port, the worker's ephemeral slice), or its bytes never get through. Before the
 * ICMP steering, the router's messages went to whichever worker the router's address hashed to.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/cluster/index.js';
import { NetLab, describePrivileged, execIn, ipIn } from '../helpers/netns.js';
import { kernelEcho, reports, until } from './clients.js';

const FIXTURE = new URL('./fixtures/echo-worker.ts', import.meta.url);
const BYWAY = '10.77.19.2';
const ROUTER = '10.77.19.1';
const FAR = '10.77.20.2';

describePrivileged('byway cluster: a router\'s fragmentation needed reaches the worker whose segment it quotes', () => {
  const lab = new NetLab();
  let cluster: Cluster | undefined;
  let seen: ReturnType<typeof reports>;

  beforeAll(async () => {
    const nsA = lab.addNetns();
    const nsR = lab.addNetns();
    const nsC = lab.addNetns();
    const near = lab.addVeth(nsA, nsR, { addrB: `${ROUTER}/24`, queues: 2 });
    const far = lab.addVeth(nsR, nsC, { addrA: '10.77.20.1/24', addrB: `${FAR}/24` });
    execIn(nsR, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // The bottleneck: the router's link towards the far side carries 1280 bytes. The far server still advertises
    // an MSS of 1460 (advmss) and sends at most 1280-byte packets back (the route's mtu), so byway's full-sized
    // segments meet the router's fragmentation needed.
    ipIn(nsR, `link set ${far.a} mtu 1280`);
    ipIn(nsC, `route add ${BYWAY}/32 via 10.77.20.1 mtu 1280 advmss 1460`);
    lab.spawnIn(nsR, process.execPath, ['-e', kernelEcho(ROUTER)]);
    lab.spawnIn(nsC, process.execPath, ['-e', kernelEcho(FAR)]);
    for (const [ns, addr] of [[nsR, ROUTER], [nsC, FAR]] as const) {
      for (let end = Date.now() + 5_000; Date.now() < end && !execIn(ns, 'ss', ['-ltn']).includes(`${addr}:9000`); ) await new Promise((r) => setTimeout(r, 20));
    }
    cluster = await startCluster({
      workers: 2,
      file: FIXTURE,
      driver: { kind: 'af-packet', ifname: near.a, netns: nsA, tpacketVersion: 2 },
      address: `${BYWAY}/24`,
      stack: { gateway: ROUTER },
      data: { peer: ROUTER, port: 9000, icmp: true },
    });
    seen = reports(cluster);
  }, 30_000);
  afterAll(async () => {
    await cluster?.close();
    lab.destroy();
  });

  it('each worker learns the path MTU from the router and gets its 6000 bytes echoed', async () => {
    for (const i of cluster!.live) cluster!.worker(i)!.postMessage({ type: 'test-pmtu', host: FAR, port: 9000 });
    await until(() => seen.far.get(0) === 6000 && seen.far.get(1) === 6000, 15_000);
    expect(Object.fromEntries(seen.far)).toEqual({ 0: 6000, 1: 6000 });
    const s = await cluster!.stats();
    expect(s.workers.map((w) => w.stats.icmp.pmtuUpdates)).toEqual([1, 1]);
  }, 20_000);
});
