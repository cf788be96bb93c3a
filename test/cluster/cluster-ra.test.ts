/**
 * Router advertisements on the fanout cluster (two worker threads, AF_PACKET, a two-queue veth): the peer namespace
 * holds an address off-link for the workers (fd01:23::1, on its loopback) and an echo server on it, and advertises
 * itself as a default router with an RA sent through byway's own AF_PACKET driver in that namespace (no radvd: from
 * the veth's MAC and its EUI-64 link-local address, which the kernel there owns and answers NDP for). The fanout
 * program sends the RA to worker 0's member; worker 1 learns the router only through the relay (plan.ts
 * fanoutRelays), and each worker's own connection to the off-link echo server then goes out through the router.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { startCluster, type Cluster, type ClusterStats } from '../../src/cluster/index.js';
import { NetLab, describePrivileged, execIn, ipIn } from '../helpers/netns.js';
import { enableIpv6 } from '../native/ipv6-lab.js';
import { kernelEcho, reports, until } from './clients.js';
import { routerAdvertisement } from './ra.js';

const FIXTURE = new URL('./fixtures/echo-worker.ts', import.meta.url);
const PEER = '10.77.23.1';
const FAR6 = 'fd01:23::1';

describePrivileged(
  'byway cluster: a router advertisement reaches every fanout worker',
  () => {
    const lab = new NetLab();
    let cluster: Cluster | undefined;
    let seen: ReturnType<typeof reports>;
    let advertise = (): void => {};
    let tx: ReturnType<typeof openAfPacket> | undefined;

    beforeAll(async () => {
      const nsA = lab.addNetns();
      const nsB = lab.addNetns();
      const link = lab.addVeth(nsA, nsB, { addrB: `${PEER}/24`, queues: 2 });
      enableIpv6(nsB, link.b);
      enableIpv6(nsB, 'lo');
      ipIn(nsB, `-6 addr add fd00:23::1/64 dev ${link.b} nodad`);
      ipIn(nsB, `-6 addr add ${FAR6}/128 dev lo`);
      lab.spawnIn(nsB, process.execPath, ['-e', kernelEcho(FAR6)]);
      await until(() => execIn(nsB, 'ss', ['-ltn']).includes(`[${FAR6}]:9000`), 5_000);
      // The kernel in B keeps its EUI-64 link-local address on the veth: the advertised router answers NDP itself.
      const mac = lab.macOf(nsB, link.b);
      const d = openAfPacket({ ifname: link.b, netns: nsB, filter: false });
      tx = d;
      advertise = () => {
        const f = routerAdvertisement(mac);
        d.txReserve(f.length)!.set(f);
        d.txCommit(0, f.length);
        d.flush(0);
      };
      cluster = await startCluster({
        workers: 2,
        file: FIXTURE,
        driver: { kind: 'af-packet', ifname: link.a, netns: nsA, tpacketVersion: 2 },
        address: ['10.77.23.2/24', 'fd00:23::2/64'],
        data: { peer: PEER, port: 9000, icmp: true },
      });
      seen = reports(cluster);
    }, 30_000);
    afterAll(async () => {
      await cluster?.close();
      tx?.close();
      lab.destroy();
    });

    it('both workers learn the router, and each connects to the off-link echo server through it', async () => {
      /** Asks the workers for their stats (the tests' one polling wait) until `holds` says yes, or `ms` pass. */
      const statsUntil = async (holds: (s: ClusterStats) => boolean, ms: number): Promise<boolean> => {
        await until(async () => holds(await cluster!.stats()), ms);
        return holds(await cluster!.stats());
      };
      const settled = (s: ClusterStats): boolean => s.workers.length === 2 && s.workers.every((w) => !w.addresses.some((a) => a.includes('tentative')));
      const learned = (s: ClusterStats): boolean => s.workers.every((w) => (w.stats.autoconf?.advertisements ?? 0) > 0);
      // Duplicate address detection ends first (no worker address tentative: a connect before that has no source).
      expect(await statsUntil(settled, 10_000)).toBe(true);
      // One advertisement, sent again until both workers counted one (an early one may be missed).
      let heard = false;
      for (let i = 0; i < 10 && !heard; i++) {
        advertise();
        heard = await statsUntil(learned, 500);
      }
      expect(heard).toBe(true);
      expect(await statsUntil(settled, 10_000)).toBe(true); // an address the advertisement's prefix made, too
      for (const i of cluster!.live) cluster!.worker(i)!.postMessage({ type: 'test-pmtu', host: FAR6, port: 9000 });
      await until(() => seen.far.get(0) === 6000 && seen.far.get(1) === 6000, 10_000).catch(() => {});
      expect(Object.fromEntries(seen.far)).toEqual({ 0: 6000, 1: 6000 });
    }, 30_000);
  },
  { native: true },
);
