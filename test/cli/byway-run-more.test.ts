/**
 * `byway run` beyond AF_PACKET in the program's own namespace (issue #15):
 *
 * - TAP: `byway run --driver tap:NAME --profile latency` (busy polling) runs an undici client (`undici.request` and
 *   the global fetch) downloading 20 MB from nginx on the TAP's kernel end by host name (the namespace's hosts
 *   file); the only rule that sends flows to byway is the nginx address's prefix, so the connect is decided on the
 *   address the name resolves to. The client, which never calls process.exit, ends by itself; nginx's access
 *   log shows both requests from byway's address (which the kernel does not hold), a capture on the TAP shows
 *   both bodies (2 x 20 MB of TCP payload) crossing it to byway's address, and the namespace's kernel counted no
 *   TCP connect (a kernel-path connect to nginx would have gone over loopback).
 * - BYWAY_NETNS: the driver is opened in another namespace than the program's. The program's bypass flow reaches
 *   a server behind that namespace's veth from byway's address; its kernel flow (loopback) stays in the program's
 *   own namespace, where the only server on that port is.
 *
 *   tap ns    [tap: kernel 10.77.32.1 | byway 10.77.32.2]   nginx, byway run (tap, latency) -- undici client
 *   peer ns   [veth 10.77.33.1]  <-->  [veth, no address] driver ns          program ns: byway run (BYWAY_NETNS
 *   node:http server                                                       = driver ns) -- client; a loopback server
 *
 * Bounded in time; everything made is removed.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describePrivileged, describeWithTools, ipIn, NetLab } from '../helpers/netns.js';
import { blob, exited, nginxConfig, nstat, packets, sha256, stopCapture, tcpListening, waitOutput, type Proc } from './run-helpers.js';

const here = new URL('.', import.meta.url).pathname;
const BYWAY_CLI = join(here, '../../src/cli/byway.ts');
const app = (name: string): string => join(here, 'apps', name);
const TEST_MS = 150_000;

describePrivileged('byway run: a TAP driver, and the driver in another namespace (BYWAY_NETNS)', () =>
  describeWithTools('with nginx, tshark and nstat', ['nginx', 'tshark', 'nstat'], () => {
    let lab: NetLab;
    let dir: string;
    beforeAll(() => {
      lab = new NetLab();
      dir = mkdtempSync(join(tmpdir(), 'byway-run-more-'));
    });
    afterEach(() => lab?.stopProcesses());
    afterAll(async () => {
      await lab?.stopProcesses();
      lab?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it(
      'TAP, latency profile: undici.request and fetch download 20 MB from nginx by host name, decided on its address, SHA-256 checked, and the client exits by itself',
      async () => {
        const SIZE = 20 << 20;
        const ns = lab.addNetns('bwrt-');
        lab.addHosts(ns, { 'web.byway.test': '10.77.32.1' });
        const tap = lab.addTap(ns);
        ipIn(ns, `addr add 10.77.32.1/24 dev ${tap}`);
        const web = join(dir, 'nginx');
        mkdirSync(join(web, 'www'), { recursive: true });
        writeFileSync(join(web, 'www', 'blob'), blob(SIZE));
        writeFileSync(join(web, 'nginx.conf'), nginxConfig(web, `server { listen 10.77.32.1:8091; root ${web}/www; }`, `${web}/access.log`));
        lab.spawnIn(ns, 'nginx', ['-p', web, '-e', `${web}/error.log`, '-c', join(web, 'nginx.conf')]);
        await tcpListening(ns, 8091);
        const url = 'http://web.byway.test:8091/blob';
        // A capture on the TAP (the only way into byway's driver) and the namespace's kernel TCP counters: the
        // client's connections are byway's only if their bytes cross the TAP and the kernel made none of them.
        const pcap = join(dir, 'tap.pcap');
        // A 64 MiB capture buffer (-B): at 20 MB a second a smaller one drops packets on a loaded machine.
        const capture = lab.spawnIn(ns, 'tshark', ['-n', '-i', tap, '-B', '64', '-s', '128', '-f', 'ip', '-F', 'pcap', '-w', pcap]) as Proc;
        await waitOutput(capture, /Capturing on/, 30_000, 'tshark');
        const kernelBefore = await nstat(ns);
        const started = Date.now();
        const client = lab.spawnIn(ns, process.execPath, [
          '--import', 'tsx', BYWAY_CLI, 'run', '--driver', `tap:${tap}`, '--address', '10.77.32.2/24', '--profile', 'latency',
          '--path', '10.77.32.1/32=bypass,default=kernel', '--',
          process.execPath, app('undici-client.cjs'), url,
        ]) as Proc;
        // Ends by itself: busy polling holds the process only while a socket is active.
        expect(await exited(client, 90_000), client.output()).toBe(0);
        console.log(`byway run (tap, undici + fetch of 2 x ${SIZE >> 20} MB by name): ${Date.now() - started} ms`);
        expect(client.output()).toMatch(/^byway: pid \d+ driver tap:\S+ mode own poll busy profile latency /m);
        const line = /^\{.*\}$/m.exec(client.output())?.[0];
        const want = { status: 200, bytes: SIZE, sha256: sha256(blob(SIZE)) };
        expect(JSON.parse(line ?? '{}'), client.output()).toEqual({ undici: want, fetch: want });
        // nginx saw both requests come from byway's address, over the TAP.
        const log = readFileSync(join(web, 'access.log'), 'utf8').trim().split('\n');
        expect(log.map((l) => l.split(' ')[0])).toEqual(['10.77.32.2', '10.77.32.2']);
        const kernelAfter = await nstat(ns);
        await stopCapture(capture);
        const seen = await packets(ns, pcap);
        // Both bodies crossed the TAP to byway's address, from nginx's port, in two connections...
        const toClient = seen.filter((p) => p.sport === 8091 && p.dst === '10.77.32.2');
        const carried = toClient.reduce((n, p) => n + p.len, 0);
        // Every byte, unless the capture itself says it dropped packets (dumpcap: "N packets dropped from ..."):
        // then at least more than one body (both connections are checked below either way).
        const dropped = Number(/(\d+) packets? dropped/.exec(capture.output())?.[1] ?? 0);
        console.log(`TAP capture: ${toClient.length} packets, ${carried} TCP payload bytes from nginx to byway, ${dropped} dropped by the capture`);
        expect(carried, capture.output()).toBeGreaterThanOrEqual(dropped === 0 ? 2 * SIZE : SIZE + 1);
        expect(new Set(seen.filter((p) => p.dport === 8091).map((p) => p.src))).toEqual(new Set(['10.77.32.2']));
        expect(new Set(seen.filter((p) => p.dport === 8091).map((p) => p.sport)).size).toBe(2);
        // ...and the kernel opened no connection for the client (it would have gone over loopback, not the TAP):
        // its only TCP opens are nginx's two accepts of byway's connections.
        expect(kernelAfter.TcpActiveOpens - kernelBefore.TcpActiveOpens).toBe(0);
        expect(kernelAfter.TcpPassiveOpens - kernelBefore.TcpPassiveOpens).toBe(2);
      },
      TEST_MS,
    );

    it(
      'BYWAY_NETNS: the driver opens in another namespace; bypass flows leave there, kernel flows stay in the program\'s',
      async () => {
        const peerNs = lab.addNetns('bwrp-');
        const driverNs = lab.addNetns('bwrd-');
        const progNs = lab.addNetns('bwrg-');
        const v = lab.addVeth(peerNs, driverNs, { addrA: '10.77.33.1/24' });
        const http = lab.spawnIn(peerNs, process.execPath, [app('http-server.cjs'), '8092', '16']) as Proc;
        const echo = lab.spawnIn(progNs, process.execPath, [app('echo-peer-server.cjs'), '8093']) as Proc;
        await waitOutput(http, /^listening 8092$/m, 30_000, 'http server (peer ns)');
        await waitOutput(echo, /^listening 8093$/m, 30_000, 'echo server (program ns)');
        const client = lab.spawnIn(progNs, 'env', [
          `BYWAY_NETNS=${driverNs}`,
          process.execPath, '--import', 'tsx', BYWAY_CLI, 'run', '--driver', `af-packet:${v.b}`, '--address', '10.77.33.2/24', '--',
          process.execPath, app('netns-client.cjs'), 'http://10.77.33.1:8092/', '127.0.0.1', '8093',
        ]) as Proc;
        expect(await exited(client, 60_000), client.output()).toBe(0);
        expect(client.output()).toMatch(new RegExp(`^byway: pid \\d+ driver af-packet:${v.b} \\(netns ${driverNs}\\) `, 'm'));
        const line = /^\{.*\}$/m.exec(client.output())?.[0];
        // The HTTP server in the peer namespace saw byway's address (only the driver's namespace reaches it); the
        // loopback flow took the kernel of the program's namespace (the only server on 8093 is there).
        expect(JSON.parse(line ?? '{}'), client.output()).toEqual({ status: 200, body: 'ok\n', seenBy: '10.77.33.2', peer: '127.0.0.1' });
      },
      TEST_MS,
    );
  }),
);
