/**
 * A byway cluster of two worker threads on the AF_XDP queues of a two-queue veth (worker i on receive queue i),
 * against the kernel in the peer namespace. The primary attaches the XDP program and holds its XSKMAP; each worker
 * binds its queue's socket into it. Natively attached on veth, a frame's receive queue is the peer's transmit
 * queue, which the peer's kernel picks by a flow hash byway cannot compute: a client's flow stays on one queue and
 * that worker serves it; the return traffic of a worker's own connections lands on either queue and hops to its
 * owner (the TAP cluster's hop). veth has no n-tuple rules (`ntuple-filters: off [fixed]`) to steer it instead.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/cluster/index.js';
import { NetLab, describePrivileged, execIn, steadyTxQueues } from '../helpers/netns.js';
import { count, expectBothServe, expectIcmpReachesEach, expectOwnConnections, kernelEcho, reports, tcpClients, until, xdpSockets as xdpSocketsIn } from './clients.js';

const FIXTURE = new URL('./fixtures/echo-worker.ts', import.meta.url);
const BYWAY = '10.77.18.2';
const KERNEL = '10.77.18.1';

describePrivileged('byway cluster: two worker threads on the AF_XDP queues of a two-queue veth', () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  let cluster: Cluster | undefined;
  let seen: ReturnType<typeof reports>;
  const xdpSockets = (): number => xdpSocketsIn(nsA);

  beforeAll(async () => {
    nsA = lab.addNetns();
    nsB = lab.addNetns();
    link = lab.addVeth(nsA, nsB, { addrB: `${KERNEL}/24`, queues: 2 });
    steadyTxQueues(nsB);
    lab.spawnIn(nsB, process.execPath, ['-e', kernelEcho(KERNEL)]);
    await until(() => execIn(nsB, 'ss', ['-ltn']).includes(':9000'), 5_000);
    cluster = await startCluster({
      workers: 2,
      file: FIXTURE,
      driver: { kind: 'af-xdp', ifname: link.a, netns: nsA, attachMode: 'native', bindMode: 'copy' },
      address: `${BYWAY}/24`,
      data: { peer: KERNEL, port: 9000, icmp: true },
    });
    seen = reports(cluster);
  }, 30_000);
  afterAll(async () => {
    await cluster?.close();
    lab.destroy();
  });

  it('the primary holds one natively attached program; each worker has its queue socket', () => {
    expect(cluster!.attachMode).toBe('native');
    expect(execIn(nsA, 'ip', ['-d', 'link', 'show', link.a])).toMatch(/prog\/xdp/);
    expect(xdpSockets()).toBe(2);
    expect(execIn(nsA, 'ethtool', ['-k', link.a])).toMatch(/ntuple-filters: off \[fixed\]/);
  });

  it("each worker's outgoing connection gets its answers (ports from its own slice, hopping when on the other queue)", async () => {
    await expectOwnConnections(seen);
  });

  it("ICMP about each worker's flows reaches it (hopping when on the other queue): echo reply, port unreachable", async () => {
    await expectIcmpReachesEach(cluster!, seen);
  });

  it('a TCP port and a UDP port are served by both workers; ARP answered by worker 0 only', async () => {
    await expectBothServe(nsB, BYWAY);
    const s = await cluster!.stats();
    expect(s.total.tcp?.passiveOpens).toBe(40);
    expect(s.workers[1]!.stats.arp.repliesSent).toBe(0);
  });

  it("a killed worker releases its queue (the program stays); queue 0's flows are served; a new worker takes queue 1 back", async () => {
    const exited = new Promise<number>((r) => cluster!.once('exit', (i: number) => r(i)));
    await cluster!.kill(1);
    expect(await exited).toBe(1);
    expect(cluster!.live).toEqual([0]);
    expect(xdpSockets()).toBe(1);
    expect(execIn(nsA, 'ip', ['-d', 'link', 'show', link.a])).toMatch(/prog\/xdp/);
    // The empty slot passes queue 1's frames to the kernel, which does not have byway's address: those clients
    // time out; XDP cannot hand a frame to another queue's socket. Queue 0's clients are served by worker 0.
    const tcp = await tcpClients(nsB, BYWAY, 20);
    expect(count(tcp, 'w0')).toBeGreaterThan(0);
    expect(count(tcp, 'w1')).toBe(0);
    const before = seen.echoes.get(0)!;
    seen.echoes.delete(1);
    await cluster!.revive(1);
    expect(cluster!.live).toEqual([0, 1]);
    expect(xdpSockets()).toBe(2);
    await until(() => (seen.echoes.get(1) ?? 0) > 1 && seen.echoes.get(0)! > before + 2, 15_000);
    expect(seen.echoes.get(1)).toBeGreaterThan(1);
    expect(seen.echoes.get(0)).toBeGreaterThan(before + 2);
    const again = await tcpClients(nsB, BYWAY, 40);
    expect(count(again, 'w0') + count(again, 'w1'), JSON.stringify(again)).toBe(40);
    expect(count(again, 'w1')).toBeGreaterThan(3);
  }, 60_000);
});
