/**
 * Path MTU discovery through a real router for a cluster of two worker threads: byway's namespace, a router
 * namespace (forwarding, MTU 1500 on byway's side, 1280 out of its far side) and a far namespace with an echo
 * server. Each worker sends 6000 bytes on its own connection to the far server with DF set; the router answers with
 * ICMP fragmentation needed quoting the worker's segment, which must reach that worker (the fanout program steers it
 * by the quoted source port, the worker's ephemeral slice; on AF_XDP queues it hops there), or its bytes never get
 * through. Before the ICMP steering, the router's messages went to whichever worker the router's address hashed to.
 * On AF_XDP queues, clients on the far side also send 6000 bytes each to the workers' service port and get them
 * echoed: the router's errors about those flows land on whichever queue the veth picks for them, and every worker
 * gets a copy (plan.ts everyWorkerSees), or the clients of the worker that never sees one stall.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/cluster/index.js';
import { NetLab, describePrivileged, execIn, execInAsync, ipIn, steadyTxQueues } from '../helpers/netns.js';
import { kernelEcho, reports, until } from './clients.js';

const FIXTURE = new URL('./fixtures/echo-worker.ts', import.meta.url);
const BYWAY = '10.77.19.2';
const ROUTER = '10.77.19.1';
const FAR = '10.77.20.2';
const FAR2 = '10.77.20.3';

type Driver = Parameters<typeof startCluster>[0]['driver'];

/** byway's namespace, the router and the far side; a two-worker cluster on the near link with `driver(ifname, ns)`. */
async function routedCluster(lab: NetLab, driver: (ifname: string, ns: string) => Driver): Promise<{ cluster: Cluster; nsC: string }> {
  const nsA = lab.addNetns();
  const nsR = lab.addNetns();
  const nsC = lab.addNetns();
  const near = lab.addVeth(nsA, nsR, { addrB: `${ROUTER}/24`, queues: 2 });
  const far = lab.addVeth(nsR, nsC, { addrA: '10.77.20.1/24', addrB: `${FAR}/24` });
  execIn(nsR, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  for (const ns of [nsR, nsC]) steadyTxQueues(ns); // AF_XDP: each flow stays on one of byway's queues
  // The bottleneck: the router's link towards the far side carries 1280 bytes. The far side still advertises an
  // MSS of 1460 (advmss) and sends at most 1280-byte packets back (the route's mtu), so byway's full-sized
  // segments meet the router's fragmentation needed.
  ipIn(nsR, `link set ${far.a} mtu 1280`);
  ipIn(nsC, `route add ${BYWAY}/32 via 10.77.20.1 mtu 1280 advmss 1460`);
  ipIn(nsC, `addr add ${FAR2}/24 dev ${far.b}`);
  lab.spawnIn(nsR, process.execPath, ['-e', kernelEcho(ROUTER)]);
  lab.spawnIn(nsC, process.execPath, ['-e', kernelEcho(FAR)]);
  for (const [ns, addr] of [[nsR, ROUTER], [nsC, FAR]] as const) {
    await until(() => execIn(ns, 'ss', ['-ltn']).includes(`${addr}:9000`), 5_000);
  }
  const cluster = await startCluster({
    workers: 2,
    file: FIXTURE,
    driver: driver(near.a, nsA),
    address: `${BYWAY}/24`,
    stack: { gateway: ROUTER },
    data: { peer: ROUTER, port: 9000, icmp: true },
  });
  return { cluster, nsC };
}

/** Each worker's 6000 bytes to the far echo server come back: its path MTU was learnt from the router. */
async function expectEachWorkerLearns(cluster: Cluster, seen: ReturnType<typeof reports>): Promise<void> {
  for (const i of cluster.live) cluster.worker(i)!.postMessage({ type: 'test-pmtu', host: FAR, port: 9000 });
  await until(() => seen.far.get(0) === 6000 && seen.far.get(1) === 6000, 15_000);
  expect(Object.fromEntries(seen.far)).toEqual({ 0: 6000, 1: 6000 });
}

describePrivileged('byway cluster: a router\'s fragmentation needed reaches the worker whose segment it quotes', () => {
  const lab = new NetLab();
  let cluster: Cluster | undefined;
  let seen: ReturnType<typeof reports>;

  beforeAll(async () => {
    ({ cluster } = await routedCluster(lab, (ifname, netns) => ({ kind: 'af-packet', ifname, netns, tpacketVersion: 2 })));
    seen = reports(cluster);
  }, 30_000);
  afterAll(async () => {
    await cluster?.close();
    lab.destroy();
  });

  it('each worker learns the path MTU from the router and gets its 6000 bytes echoed', async () => {
    await expectEachWorkerLearns(cluster!, seen);
    const s = await cluster!.stats();
    expect(s.workers.map((w) => w.stats.icmp.pmtuUpdates)).toEqual([1, 1]);
  }, 20_000);
});

describePrivileged('byway cluster on AF_XDP queues: a router\'s errors reach the worker that owns the flow, or every worker', () => {
  const lab = new NetLab();
  let cluster: Cluster | undefined;
  let nsC = '';
  let seen: ReturnType<typeof reports>;

  beforeAll(async () => {
    ({ cluster, nsC } = await routedCluster(lab, (ifname, netns) => ({ kind: 'af-xdp', ifname, netns, attachMode: 'native', bindMode: 'copy' })));
    seen = reports(cluster);
  }, 30_000);
  afterAll(async () => {
    await cluster?.close();
    lab.destroy();
  });

  it("each worker's own connection: the error hops to the owner of the quoted port", async () => {
    await expectEachWorkerLearns(cluster!, seen);
  }, 20_000);

  it('16 far clients of the service port each get their 6000 bytes echoed, from both workers', async () => {
    // From a second address of the far side: the workers learnt the path MTU to FAR in the test before. Each
    // client counts the echoed 'x' bytes (the worker prefixes each answer with "wINDEX:").
    const script =
      `const net=require('node:net');const out=[];let k=0;const done=(x)=>{out.push(x);if(++k===16)console.log(JSON.stringify(out))};` +
      `for(let i=0;i<16;i++){let n=0,w='';const s=net.connect({port:7000,host:'${BYWAY}',localAddress:'${FAR2}'},()=>s.write(Buffer.alloc(6000,'x')));` +
      `const t=setTimeout(()=>{s.destroy();done('timeout '+n)},10000);s.on('error',(e)=>{clearTimeout(t);done(e.code)});` +
      `s.on('data',(b)=>{if(!w)w=b.toString('latin1',0,2);for(const c of b)if(c===120)n++;if(n===6000){clearTimeout(t);s.destroy();done(w)}})}`;
    const r = await execInAsync(nsC, process.execPath, ['-e', script], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout.trim()) as string[];
    expect(got.filter((x) => x !== 'w0' && x !== 'w1'), JSON.stringify(got)).toEqual([]);
    expect(new Set(got), JSON.stringify(got)).toEqual(new Set(['w0', 'w1']));
    const s = await cluster!.stats();
    for (const w of s.workers) expect(w.stats.icmp.pmtuUpdates, JSON.stringify(w.stats.icmp)).toBeGreaterThan(0);
  }, 40_000);
});
