/**
 * Issue #19 on the worker-thread cluster (AF_PACKET fanout on a two-queue veth): worker 0 is replaced by a new one
 * that joins the group but holds its file's top level (fixtures/echo-worker.ts `gate`), so its share of the clients
 * stays with worker 1. Keep-alive connections opened then are all worker 1's; once worker 0 is ready, the steering
 * sends its class's later segments to worker 0, which holds no connection for them and hands them to worker 1
 * through the primary (src/cluster/strays.ts): every message on those connections is answered by worker 1, none
 * reset, and they close cleanly; new connections spread over both. No race: each step waits for the previous one.
 * Then worker 1 dies with keep-alive connections open on both: worker 0 answers each of worker 1's flows with one
 * RST (the last and only one asked) and its own as before. `cluster.stats()` counts the relay as `byway stat` does.
 * And (with nft) a client whose SYN-ACK was lost retransmits its SYN after worker 0 became ready: it goes to worker
 * 1, which holds the connection half-open (strays.ts HalfOpens).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { startCluster, type Cluster, type ClusterOptions } from '../../src/cluster/index.js';
import { NetLab, describePrivileged, describeWithTools, dropSynAcks, execIn } from '../helpers/netns.js';
import { count, kernelEcho, tcpClients, until } from './clients.js';
import type { Proc } from '../cli/run-helpers.js';
import { waitOutput } from '../cli/run-helpers.js';

const FIXTURE = new URL('./fixtures/echo-worker.ts', import.meta.url);
/** The keep-alive client (test/cli/apps/keepalive-client.cjs: its header says what it prints). */
const KEEPALIVE_CLIENT = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'apps', 'keepalive-client.cjs');
const BYWAY = '10.77.12.2';
const KERNEL = '10.77.12.1';

/**
 * Two workers on a two-queue veth (the kernel's echo server on the other end), then worker 0 killed and revived
 * holding its top level until `dir`/serve exists: it has joined the group, its class still goes to worker 1.
 */
async function gatedCluster(lab: NetLab, dir: string, stack?: ClusterOptions['stack']): Promise<{ cluster: Cluster; nsB: string; gate: string; revived: Promise<void> }> {
  const nsA = lab.addNetns();
  const nsB = lab.addNetns();
  const link = lab.addVeth(nsA, nsB, { addrB: `${KERNEL}/24`, queues: 2 });
  lab.spawnIn(nsB, process.execPath, ['-e', kernelEcho(KERNEL)]);
  await until(() => execIn(nsB, 'ss', ['-ltn']).includes(':9000'), 5_000);
  const gate = join(dir, 'serve');
  const cluster = await startCluster({
    workers: 2,
    file: FIXTURE,
    driver: { kind: 'af-packet', ifname: link.a, netns: nsA, tpacketVersion: 2 },
    address: `${BYWAY}/24`,
    ...(stack ? { stack } : {}),
    data: { peer: KERNEL, port: 9000, gate },
    readyTimeoutMs: 30_000,
  });
  await cluster.kill(0);
  writeFileSync(`${gate}.armed`, '');
  const revived = cluster.revive(0);
  await until(() => cluster.live.includes(0), 10_000);
  return { cluster, nsB, gate, revived };
}

describePrivileged('byway cluster (worker threads): a worker that starts serving leaves the flows the other holds with it', () => {
  const lab = new NetLab();
  let cluster: Cluster | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'byway-handover-'));
  afterAll(async () => {
    await cluster?.close();
    await lab.stopProcesses();
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keep-alive connections worker 1 accepted for worker 0 class are answered by worker 1 after worker 0 is ready; none reset', async () => {
    const g = await gatedCluster(lab, dir);
    cluster = g.cluster;
    const { nsB, gate, revived } = g;
    expect(cluster.live).toEqual([0, 1]);

    const N = 20;
    const client = lab.spawnIn(nsB, process.execPath, [KEEPALIVE_CLIENT, BYWAY, '7000', String(N), dir, 'byte']) as Proc;
    const round = async (k: number): Promise<string[]> => {
      writeFileSync(join(dir, `r${k}`), '');
      return JSON.parse((await waitOutput(client, new RegExp(`^round ${k} (.*)$`, 'm'), 30_000, `client round ${k}`))[1]!) as string[];
    };
    expect(await round(1)).toEqual(Array<string>(N).fill('w1'));
    writeFileSync(gate, '');
    await revived;
    expect(await round(2)).toEqual(Array<string>(N).fill('w1'));
    const spread = await tcpClients(nsB, BYWAY, 40);
    expect(count(spread, 'w0'), JSON.stringify(spread)).toBeGreaterThan(5);
    expect(count(spread, 'w1'), JSON.stringify(spread)).toBeGreaterThan(5);
    expect(await round(3)).toEqual(Array<string>(N).fill('w1'));
    writeFileSync(join(dir, 'r4'), '');
    expect(JSON.parse((await waitOutput(client, /^closed (.*)$/m, 30_000, 'client closed'))[1]!)).toEqual(Array<string>(N).fill('end'));

    // The client's last ACKs (after the server's FIN it saw) may still be on their way through the primary.
    let st = await cluster.stats();
    await until(async () => {
      st = await cluster!.stats();
      return st.strayRelay!.received === st.strays!.received && st.strays!.received === st.strayRelay!.sent;
    }, 5_000);
    const w0 = st.workers.find((w) => w.index === 0)!.stats.tcp!;
    const w1 = st.workers.find((w) => w.index === 1)!.stats.tcp!;
    expect(w0.strayHandedOff).toBeGreaterThan(3);
    expect(w0.rstsSent).toBe(0);
    expect(w1.rstsSent).toBe(0);
    // The relay's counters, named as `byway stat` names them: worker 0 sent every stray, worker 1 took each one,
    // the last asked of two (final), and held its flow (no RST); the primary passed them all.
    expect(st.workers.find((w) => w.index === 0)!.strayRelay).toEqual({ sent: w0.strayHandedOff, received: 0, final: 0, limited: 0, split: 0, oversize: 0 });
    expect(st.workers.find((w) => w.index === 1)!.strayRelay).toEqual({ sent: 0, received: w0.strayHandedOff, final: w0.strayHandedOff, limited: 0, split: 0, oversize: 0 });
    expect(st.strays).toEqual({ received: w0.strayHandedOff, passed: w0.strayHandedOff, final: w0.strayHandedOff });
    expect(st.strayRelay).toEqual({ sent: w0.strayHandedOff, received: w0.strayHandedOff, final: w0.strayHandedOff, limited: 0, split: 0, oversize: 0 });

    // Failure (the issue's): keep-alive connections spread over both, then worker 1 dies. Its flows' next segments
    // reach worker 0, the only one left: it asks nobody (the primary sends each back to it, final) and answers each
    // with one RST; its own connections are answered.
    const dir2 = mkdtempSync(join(tmpdir(), 'byway-handover-'));
    try {
      const M = 12;
      const second = lab.spawnIn(nsB, process.execPath, [KEEPALIVE_CLIENT, BYWAY, '7000', String(M), dir2, 'byte']) as Proc;
      await until(() => execIn(nsB, 'ss', ['-Htn', 'state', 'established', 'dst', `${BYWAY}:7000`]).split('\n').filter((l) => l !== '').length >= M, 10_000);
      await cluster.kill(1);
      await until(() => cluster!.live.length === 1, 10_000);
      writeFileSync(join(dir2, 'r1'), '');
      const got = JSON.parse((await waitOutput(second, /^round 1 (.*)$/m, 30_000, 'second client round 1'))[1]!) as string[];
      const reset = got.filter((a) => a === 'ECONNRESET').length;
      expect(got.filter((a) => a !== 'w0' && a !== 'ECONNRESET'), JSON.stringify(got)).toEqual([]);
      expect(reset, JSON.stringify(got)).toBeGreaterThan(0);
      expect(reset, JSON.stringify(got)).toBeLessThan(M);
      const after = await cluster.stats();
      const only = after.workers[0]!;
      expect(only.index).toBe(0);
      expect(only.stats.tcp!.rstsSent).toBe(reset); // one RST per flow nobody holds
      expect(only.strayRelay!.final).toBe(only.strayRelay!.received);
      expect(only.strayRelay!.received).toBeGreaterThanOrEqual(reset); // (it had received none before)
      expect(after.strays!.final - st.strays!.final).toBe(only.strayRelay!.final);
      expect(after.strays!.passed).toBe(st.strays!.passed); // nobody else to pass them to
      expect(after.strayRelay).toEqual(only.strayRelay);
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  }, 120_000);
});

// A client whose SYN-ACK was lost retransmits its SYN after the table moved its class (strays.ts HalfOpens), on the
// worker-thread cluster: a revived worker 0 has joined but holds its top level, so worker 1 gets every SYN; the
// peer's kernel drops the SYN-ACKs (nft), so 20 connections stay half-open on worker 1. Worker 0 becomes ready (its
// class moves to it), the primary has each worker list its half-open connections, the drop ends: the retransmitted
// SYNs of worker 0's class go through it to worker 1, and every client is answered by worker 1.
describePrivileged('byway cluster (worker threads): a SYN retransmitted after the switch goes to the worker holding its connection half-open', () => {
  describeWithTools('with nft', ['nft'], () => {
    const lab = new NetLab();
    let cluster: Cluster | undefined;
    const dir = mkdtempSync(join(tmpdir(), 'byway-halfopen-'));
    afterAll(async () => {
      await cluster?.close();
      await lab.stopProcesses();
      lab.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    it('20 connections half-open on worker 1 when worker 0 becomes ready all complete with worker 1', async () => {
      // The first SYN-ACK retransmission 4 s after the SYN: the client's second SYN (Linux: 1 s, then 3 s) comes
      // first, so it is the SYN after the switch that completes each connection, not worker 1's timer.
      const g = await gatedCluster(lab, dir, { limits: { tcp: { initialRto: 4000 } } });
      cluster = g.cluster;
      const { nsB, gate, revived } = g;
      expect(await tcpClients(nsB, BYWAY, 4)).toEqual(Array<string>(4).fill('w1'));

      const pass = dropSynAcks(nsB, BYWAY, 7000);
      try {
        const N = 20;
        const answers = tcpClients(nsB, BYWAY, N);
        await until(() => execIn(nsB, 'ss', ['-Htn', 'state', 'syn-sent', 'dst', `${BYWAY}:7000`]).split('\n').filter((l) => l !== '').length === N, 10_000);
        writeFileSync(gate, '');
        await revived;
        await until(async () => ((await cluster!.stats()).workers.find((w) => w.index === 0)?.halfOpens?.learned ?? 0) >= N, 5_000, 50);
        pass();
        expect(await answers).toEqual(Array<string>(N).fill('w1'));
      } finally {
        pass();
      }
      const st = await cluster.stats();
      const w0 = st.workers.find((w) => w.index === 0)!;
      const w1 = st.workers.find((w) => w.index === 1)!;
      expect(w1.halfOpens!.listed).toBeGreaterThanOrEqual(20);
      expect(w0.halfOpens!.diverted, JSON.stringify(w0.halfOpens)).toBeGreaterThan(2);
      expect(w0.stats.tcp!.passiveOpens).toBe(0);
      expect(w0.stats.tcp!.rstsSent).toBe(0);
      expect(w1.stats.tcp!.rstsSent).toBe(0);
    }, 90_000);
  });
});
