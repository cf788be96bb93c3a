/**
 * SYN cookies across the workers of a cluster, on a real kernel (two worker threads, AF_PACKET fanout, a two-queue
 * veth; src/cluster/cookies.ts). Each worker's SYN queue holds one connection and is kept full by SYNs from a peer
 * address whose SYN-ACKs the peer's kernel drops (sent through byway's AF_PACKET driver in the peer namespace), so
 * every client's SYN is answered with a cookie. The peer's kernel drops its clients' pure ACKs (nft), so no worker sees the handshake end;
 * then worker 0 is killed, its class of clients moves to worker 1, and each client sends a byte: its segment carries
 * the ACK of the cookie, which for worker 0's clients worker 0 made. With the cluster's shared secret and clock line
 * worker 1 validates it and answers every client; with a secret per worker (before), worker 0's clients were reset.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { flowClass } from '../../drivers/af-packet/fanout.js';
import { startCluster, type Cluster } from '../../src/cluster/index.js';
import { strayFrame } from '../../src/cluster/plan.js';
import { NetLab, describePrivileged, describeWithTools, execIn, ipIn } from '../helpers/netns.js';
import { kernelEcho, until } from './clients.js';

const FIXTURE = new URL('./fixtures/echo-worker.ts', import.meta.url);
const BYWAY = '10.77.24.2';
const PEER = '10.77.24.1';
/** A second address of the peer whose SYN-ACKs its kernel drops: its half-open connections fill the SYN queues. */
const SILENT = '10.77.24.3';
const ipNum = (a: string): number => a.split('.').reduce((n, x) => n * 256 + Number(x), 0);

describePrivileged('byway cluster: a SYN cookie one worker sent is validated by another', () => describeWithTools('with nft', ['nft'], () => {
  const lab = new NetLab();
  let cluster: Cluster | undefined;
  let nsB = '';
  let go = '';
  let tx: ReturnType<typeof openAfPacket> | undefined;

  beforeAll(async () => {
    const nsA = lab.addNetns();
    nsB = lab.addNetns();
    const link = lab.addVeth(nsA, nsB, { addrB: `${PEER}/24`, queues: 2 });
    lab.spawnIn(nsB, process.execPath, ['-e', kernelEcho(PEER)]);
    await until(() => execIn(nsB, 'ss', ['-ltn']).includes(':9000'), 5_000);
    cluster = await startCluster({
      workers: 2,
      file: FIXTURE,
      driver: { kind: 'af-packet', ifname: link.a, netns: nsA, tpacketVersion: 2 },
      address: `${BYWAY}/24`,
      stack: { limits: { tcp: { synQueueLimit: 1 } } },
      data: { peer: PEER, port: 9000 },
    });
    // Fill each worker's SYN queue: SYNs from SILENT, whose SYN-ACKs the peer's kernel drops (its ARP it answers).
    ipIn(nsB, `addr add ${SILENT}/24 dev ${link.b}`);
    execIn(nsB, 'nft', ['add', 'table', 'inet', 'bwck']);
    execIn(nsB, 'nft', ['add', 'chain', 'inet', 'bwck', 'in', '{ type filter hook input priority 0 ; }']);
    execIn(nsB, 'nft', ['add', 'rule', 'inet', 'bwck', 'in', 'ip', 'daddr', SILENT, 'drop']);
    const mac = lab.macOf(nsA, link.a);
    tx = openAfPacket({ ifname: link.b, netns: nsB, filter: false }); // closed in afterAll, once the frames left
    for (let i = 0; i < 32; i++) {
      const seg = new Uint8Array(20);
      seg.set([(40000 + i) >> 8, (40000 + i) & 0xff, 7000 >> 8, 7000 & 0xff, 0, 0, 0, i + 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff]);
      const f = strayFrame(mac, ipNum(SILENT), ipNum(BYWAY), seg);
      tx.txReserve(f.length)!.set(f);
      tx.txCommit(0, f.length);
    }
    tx.flush(0);
    // The clients' pure ACKs (the end of each handshake) never leave the peer; their data segments do.
    execIn(nsB, 'nft', ['add', 'chain', 'inet', 'bwck', 'out', '{ type filter hook output priority 0 ; }']);
    execIn(nsB, 'nft', ['add', 'rule', 'inet', 'bwck', 'out', 'ip', 'daddr', BYWAY, 'tcp', 'dport', '7000', 'tcp flags == ack', 'drop']);
    go = join(tmpdir(), `bw-cookie-go-${process.pid}`);
  }, 30_000);
  afterAll(async () => {
    await cluster?.close();
    tx?.close();
    lab.destroy();
  });

  it("worker 0's clients, whose cookies worker 0 sent, are answered by worker 1 after worker 0 dies", async () => {
    const n = 16;
    // Each client connects (its handshake ends in the peer's kernel only), says its port, waits for GO, sends a byte.
    const script =
      `const net=require('node:net'),fs=require('node:fs');const out={};let k=0,c=0;` +
      `for(let i=0;i<${n};i++){let p='none'+i;const s=net.connect(7000,'${BYWAY}',()=>{p=s.localPort;console.log('connected '+p);if(++c===${n})console.log('all');` +
      `const t=setInterval(()=>{if(fs.existsSync('${go}')){clearInterval(t);s.write('x')}},20)});` +
      `s.setTimeout(8000,()=>{out[p]='timeout';s.destroy()});s.on('data',(b)=>{out[p]=b.toString().split(':')[0];s.end()});` +
      `s.on('error',(e)=>{out[p]=e.code});s.on('close',()=>{if(++k===${n}){console.log(JSON.stringify(out));process.exit(0)}})}`;
    const clients = lab.spawnIn(nsB, process.execPath, ['-e', script]);
    await until(() => clients.output().includes('all'), 8_000);
    const before = await cluster!.stats();
    expect(before.workers.map((w) => w.stats.tcp!.synCookiesSent).every((x) => x > 0)).toBe(true);
    await cluster!.kill(0);
    await until(() => cluster!.live.length === 1, 5_000);
    // The primary posted the new table to worker 1 when worker 0 left (cluster.ts retable); worker 1 answers the
    // stats asked after it only once it has installed it (one MessagePort, in order).
    await cluster!.stats();
    writeFileSync(go, '');
    try {
      await until(() => clients.output().includes('{'), 15_000);
    } finally {
      if (existsSync(go)) execIn(nsB, 'rm', ['-f', go]);
    }
    const answers = JSON.parse(clients.output().slice(clients.output().indexOf('{')).split('\n')[0]!) as Record<string, string>;
    // Which worker's cookie each client got: the class the program gave its SYN (the service hash of its port).
    const ofWorker0 = Object.keys(answers).filter((port) => {
      const ip = new Uint8Array(24);
      ip[0] = 0x45;
      ip[9] = 6;
      new DataView(ip.buffer).setUint32(12, ipNum(PEER));
      new DataView(ip.buffer).setUint16(20, Number(port));
      new DataView(ip.buffer).setUint16(22, 7000);
      return flowClass({ workers: 2 }, 0x0800, ip)!.worker === 0;
    });
    expect(ofWorker0.length, JSON.stringify(answers)).toBeGreaterThan(0);
    expect(Object.values(answers).filter((a) => a !== 'w1'), JSON.stringify({ answers, ofWorker0 })).toEqual([]);
    const after = await cluster!.stats();
    expect(after.workers.find((w) => w.index === 1)!.stats.tcp!.synCookiesValidated).toBe(n);
  }, 40_000);
}), { native: true });
