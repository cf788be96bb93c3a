/**
 * `byway run` with unmodified node programs over AF_PACKET, against the kernel of another namespace:
 *
 *   kernel ns [veth 10.77.31.1]  <-->  [veth: kernel 10.77.31.3, byway 10.77.31.2 (AF_PACKET)] app ns
 *     curl, dig, tshark, nginx, redis,      byway run -- node APP  (the apps in ./apps import nothing of byway)
 *     node servers
 *
 * Checked, for a node:http server, a node:dgram DNS responder, a client (fetch, node:net, node:dgram), fetch()
 * downloading 20 MB from nginx over HTTP and HTTPS (TLS on a byway socket, the throughput profile), undici's
 * request() and fetch downloading 20 MB each from nginx, ioredis
 * against redis-server (10k pipelined SET/GET, pub/sub), pg against PostgreSQL (a `new net.Socket()` connect), a
 * ws server taking 10k messages and a node:http server taking 10k requests (2k of them on connections of their
 * own) from clients on the kernel side:
 * the flows the rules send to byway come from byway's address on the wire (a tshark capture on the kernel side)
 * and show in `byway stat` (flows per path, TCP opens) and `byway ss`; the flows the rules send to the kernel come
 * from the kernel's address and are counted by the app namespace's kernel (nstat), not by byway; `byway capture`
 * writes a pcap that `tshark -r` reads. Bounded in time; everything made is removed.
 */
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describePrivileged, execInAsync, NetLab, run, toolProblem, requirePrivileged } from '../helpers/netns.js';
import { blob, exited, nginxConfig, nstat, packets, sha256, stopCapture, tcpListening, waitOutput, type Proc } from './run-helpers.js';

const KERNEL = '10.77.31.1';
const BYWAY = '10.77.31.2';
const APP_KERNEL = '10.77.31.3';
/** A second byway process on the same interface takes its own address (each stack answers only for its own). */
const BYWAY_DNS = '10.77.31.4';
const here = new URL('.', import.meta.url).pathname;
const BYWAY_CLI = join(here, '../../src/cli/byway.ts');
const app = (name: string): string => join(here, 'apps', name);
const TEST_MS = 150_000;

const tools = ['tshark', 'curl', 'dig', 'nstat', 'ethtool', 'nginx', 'openssl', 'redis-server', 'pg_ctlcluster', 'runuser'];

describePrivileged('byway run: unmodified node programs over AF_PACKET', () => {
  const missing = toolProblem(tools);
  if (missing !== undefined) {
    if (requirePrivileged) it('has the tools it needs (BYWAY_REQUIRE_PRIVILEGED=1)', () => void expect.fail(missing));
    else it.skip(missing, () => {});
    return;
  }
  let lab: NetLab;
  let dir: string;
  let kernelNs: string;
  let appNs: string;
  let kernelIf: string;
  let appIf: string;

  const byway = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    execInAsync(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, ...args], { timeoutMs: 30_000 });
  const bywayRun = (rules: string, argv: string[], address = BYWAY): Proc =>
    lab.spawnIn(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'run', '--driver', `af-packet:${appIf}`, '--address', `${address}/24`, '--path', rules, '--', process.execPath, ...argv]) as Proc;
  const startCapture = async (name: string): Promise<{ file: string; stop(): Promise<void> }> => {
    const file = join(dir, name);
    const p = lab.spawnIn(kernelNs, 'tshark', ['-n', '-i', kernelIf, '-s', '128', '-f', 'ip', '-F', 'pcap', '-w', file]) as Proc;
    await waitOutput(p, /Capturing on/, 30_000, 'tshark');
    return {
      file,
      async stop() {
        await stopCapture(p);
      },
    };
  };
  const statOf = async (pid: string): Promise<Record<string, any>> => {
    const r = await byway(['stat', pid, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, any>;
  };

  beforeAll(() => {
    lab = new NetLab();
    dir = mkdtempSync(join(tmpdir(), 'byway-run-'));
    kernelNs = lab.addNetns('bwrk-');
    appNs = lab.addNetns('bwra-');
    const v = lab.addVeth(kernelNs, appNs, { addrA: `${KERNEL}/24`, addrB: `${APP_KERNEL}/24` });
    kernelIf = v.a;
    appIf = v.b;
  });
  // A test that failed half-way must not leave a byway process answering for its address in the next one.
  afterEach(() => lab?.stopProcesses());
  const pgDirs: string[] = [];
  afterAll(async () => {
    await lab?.stopProcesses();
    for (const d of pgDirs) rmSync(d, { recursive: true, force: true });
    lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    'a node:http server and a node:dgram DNS responder on the bypass path, seen by curl, dig, tshark and byway stat/ss/capture',
    async () => {
      const SIZE = 4 << 20;
      const cap = await startCapture('server.pcap');
      const kernelBefore = await nstat(appNs);
      const http = bywayRun('default=bypass', [app('http-server.cjs'), '8080', String(SIZE)]);
      const pid = (await waitOutput(http, /^byway: pid (\d+) driver af-packet/m, 30_000, 'byway run (http)'))[1]!;
      await waitOutput(http, /^listening 8080$/m, 30_000, 'http server');
      const dns = bywayRun('udp:5353=bypass,default=kernel', [app('dns-server.cjs'), '5353'], BYWAY_DNS);
      const dnsPid = (await waitOutput(dns, /^byway: pid (\d+) driver af-packet/m, 30_000, 'byway run (dns)'))[1]!;
      await waitOutput(dns, /^bound 5353$/m, 30_000, 'dns server');

      const small = await execInAsync(kernelNs, 'curl', ['-sS', '-m', '20', '-w', 'x-net-socket: %header{x-net-socket}', `http://${BYWAY}:8080/`], { timeoutMs: 30_000 });
      expect(small.stdout, small.stderr).toBe('ok\nx-net-socket: true'); // the accepted socket is instanceof net.Socket
      const big = await execInAsync(kernelNs, 'sh', ['-c', `curl -sS -m 60 http://${BYWAY}:8080/big | sha256sum`], { timeoutMs: 90_000 });
      expect(big.stdout.split(' ')[0], big.stderr).toBe(sha256(blob(SIZE)));

      // byway capture while dig asks the DNS responder (frames the stack answers, and ARP)
      const pcapFile = join(dir, 'byway-capture.pcap');
      const capturing = lab.spawnIn(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'capture', dnsPid, '-w', pcapFile, '--seconds', '6']) as Proc;
      await waitOutput(capturing, /^byway capture: capturing in pid \d+, 6 s/m, 30_000, 'byway capture');
      const dig = await execInAsync(kernelNs, 'dig', ['+short', '+tries=3', '+time=3', '-p', '5353', `@${BYWAY_DNS}`, 'example.test', 'A'], { timeoutMs: 30_000 });
      expect(dig.stdout.trim(), dig.stderr).toBe('10.0.0.99');
      expect(await exited(capturing, 30_000), capturing.output()).toBe(0);
      expect(capturing.output()).toMatch(/^byway capture: wrote \d+ bytes of pcap to /m);
      // port 5353 is mDNS's: tell tshark it is DNS here
      const read = await execInAsync(appNs, 'tshark', ['-n', '-r', pcapFile, '-d', 'udp.port==5353,dns', '-T', 'fields', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'dns.a'], { timeoutMs: 30_000 });
      expect(read.code, read.stderr).toBe(0);
      // the query and the answer (and whatever ARP it took), as Wireshark dissects them
      const udpFrames = read.stdout.split('\n').filter((l) => /^\d/.test(l)).map((l) => l.trim().split('\t').join(' '));
      expect(udpFrames).toEqual([expect.stringMatching(/^\d+ 5353$/), expect.stringMatching(/^5353 \d+ 10\.0\.0\.99$/)]);

      const stat = await statOf(pid);
      expect(stat.paths.tcpListen).toEqual({ bypass: 1, kernel: 0 });
      expect(stat.paths.tcpAccepted.bypass).toBe(2);
      expect(stat.stack.tcp.passiveOpens).toBe(2);
      expect(stat.driver.txBytes).toBeGreaterThan(SIZE);
      const text = await byway(['stat', pid]);
      expect(text.stdout).toMatch(/^paths\.tcpAccepted\.bypass +2$/m);
      const ss = await byway(['ss', pid]);
      expect(ss.stdout).toMatch(/^tcp +LISTEN +0 +0 +0\.0\.0\.0:8080 /m);
      const dnsStat = await statOf(dnsPid);
      expect(dnsStat.paths.udpSocket).toEqual({ bypass: 1, kernel: 0 });
      expect(dnsStat.stack.udp.rx).toBe(1);
      expect(dnsStat.stack.udp.tx).toBe(1);

      await cap.stop();
      const kernelAfter = await nstat(appNs);
      const seen = await packets(kernelNs, cap.file);
      // On the wire, the server's side of each flow comes from byway's address, never the app namespace kernel's.
      const fromServer = seen.filter((p) => p.sport === 8080);
      expect(fromServer.length).toBeGreaterThan(10);
      expect(new Set(fromServer.map((p) => p.src))).toEqual(new Set([BYWAY]));
      expect(seen.filter((p) => p.sport === 5353).map((p) => p.src)).toEqual([BYWAY_DNS]);
      // ...and the app namespace's kernel opened no TCP connection and took no datagram for them.
      expect(kernelAfter.TcpPassiveOpens - kernelBefore.TcpPassiveOpens).toBe(0);
      expect(kernelAfter.UdpInDatagrams - kernelBefore.UdpInDatagrams).toBe(0);
      http.kill('SIGTERM');
      dns.kill('SIGTERM');
      expect(await Promise.all([exited(http, 10_000), exited(dns, 10_000)])).not.toContain(null);
    },
    TEST_MS,
  );

  it(
    'a client: fetch takes the bypass path; rules keep a TCP port and DNS in the kernel',
    async () => {
      const SIZE = 20 << 20;
      const servers = [
        lab.spawnIn(kernelNs, process.execPath, [app('http-server.cjs'), '8081', String(SIZE)]) as Proc,
        lab.spawnIn(kernelNs, process.execPath, [app('echo-peer-server.cjs'), '8082']) as Proc,
        lab.spawnIn(kernelNs, process.execPath, [app('dns-server.cjs'), '53']) as Proc,
      ];
      await Promise.all(servers.map((s, i) => waitOutput(s, /^(listening|bound) \d+$/m, 30_000, `kernel-side server ${i}`)));
      const cap = await startCapture('client.pcap');
      const kernelBefore = await nstat(appNs);
      const client = bywayRun('tcp:8082=kernel,udp:53=kernel,default=bypass', [app('client.cjs'), KERNEL, '8081', '8082', '53', '20000']);
      const pid = (await waitOutput(client, /^byway: pid (\d+) driver af-packet/m, 30_000, 'byway run (client)'))[1]!;
      const line = (await waitOutput(client, /^\{.*\}$/m, 90_000, 'client'))[0];
      const result = JSON.parse(line) as Record<string, any>;
      expect(result.error, line).toBeUndefined();
      expect(result).toMatchObject({ status: 200, bytes: SIZE, sha256: sha256(blob(SIZE)), seenBy: BYWAY });
      expect(result.peer).toEqual({ seenAs: APP_KERNEL, local: APP_KERNEL });
      expect(result.dns).toEqual({ answer: '10.0.0.99' });

      const stat = await statOf(pid);
      expect(stat.paths.tcpConnect).toEqual({ bypass: 1, kernel: 1 });
      expect(stat.paths.udpSocket).toEqual({ bypass: 0, kernel: 1 });
      expect(stat.paths.bypassFailures).toBe(0);
      expect(stat.stack.tcp.activeOpens).toBe(1);
      expect(stat.rules).toBe('tcp:8082=kernel,udp:53=kernel,127.0.0.0/8=kernel,default=bypass');
      client.kill('SIGTERM');
      await exited(client, 10_000);

      await cap.stop();
      const kernelAfter = await nstat(appNs);
      const seen = await packets(kernelNs, cap.file);
      const toHttp = seen.filter((p) => p.dport === 8081);
      expect(toHttp.length).toBeGreaterThan(10);
      expect(new Set(toHttp.map((p) => p.src))).toEqual(new Set([BYWAY]));
      const toNet = seen.filter((p) => p.dport === 8082);
      expect(toNet.length).toBeGreaterThan(0);
      expect(new Set(toNet.map((p) => p.src))).toEqual(new Set([APP_KERNEL]));
      expect(seen.filter((p) => p.dport === 53).map((p) => p.src)).toEqual([APP_KERNEL]);
      // The app namespace's kernel made exactly the kernel flows: one TCP connect, one datagram each way.
      expect(kernelAfter.TcpActiveOpens - kernelBefore.TcpActiveOpens).toBe(1);
      expect(kernelAfter.UdpOutDatagrams - kernelBefore.UdpOutDatagrams).toBe(1);
      expect(kernelAfter.UdpInDatagrams - kernelBefore.UdpInDatagrams).toBe(1);
      for (const s of servers) s.kill('SIGTERM');
    },
    TEST_MS,
  );

  it(
    'fetch() and undici against nginx: 20 MB over HTTP and over HTTPS (TLS through tls.connect on a byway socket), SHA-256 checked',
    async () => {
      const SIZE = 20 << 20;
      const web = join(dir, 'nginx');
      mkdirSync(join(web, 'www'), { recursive: true });
      writeFileSync(join(web, 'www', 'blob'), blob(SIZE));
      const cert = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${KERNEL}`, '-addext', `subjectAltName=IP:${KERNEL}`, '-keyout', join(web, 'key.pem'), '-out', join(web, 'cert.pem')], { timeout: 60_000 });
      expect(cert.status, String(cert.stderr)).toBe(0);
      writeFileSync(
        join(web, 'nginx.conf'),
        nginxConfig(web, `server { listen ${KERNEL}:8090; root ${web}/www; }
  server { listen ${KERNEL}:8443 ssl; ssl_certificate ${web}/cert.pem; ssl_certificate_key ${web}/key.pem; root ${web}/www; }`),
      );
      const nginx = lab.spawnIn(kernelNs, 'nginx', ['-p', web, '-e', `${web}/error.log`, '-c', join(web, 'nginx.conf')]) as Proc;
      await tcpListening(kernelNs, 8443);
      const cap = await startCapture('fetch.pcap');
      const kernelBefore = await nstat(appNs);
      const client = lab.spawnIn(appNs, 'env', [
        `NODE_EXTRA_CA_CERTS=${join(web, 'cert.pem')}`, 'LINGER=1',
        process.execPath, '--import', 'tsx', BYWAY_CLI, 'run', '--driver', `af-packet:${appIf}`, '--address', `${BYWAY}/24`, '--profile', 'throughput', '--',
        process.execPath, app('fetch-client.cjs'), `http://${KERNEL}:8090/blob`, `https://${KERNEL}:8443/blob`,
      ]) as Proc;
      const pid = (await waitOutput(client, /^byway: pid (\d+) driver af-packet/m, 30_000, 'byway run (fetch)'))[1]!;
      await waitOutput(client, /^done$/m, 120_000, 'fetch client');
      // byway's counters: fetch over HTTP connected through net.connect, over HTTPS through tls.connect, both bypass.
      const stat = await statOf(pid);
      expect(stat.paths.tcpConnect).toEqual({ bypass: 1, kernel: 0 });
      expect(stat.paths.tlsConnect).toEqual({ bypass: 1, kernel: 0 });
      expect(stat.stack.tcp.activeOpens).toBe(2);
      client.kill('SIGTERM');
      expect(await exited(client, 30_000), client.output()).not.toBeNull();
      const lines = client.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const want = sha256(blob(SIZE));
      expect(lines, client.output()).toEqual([
        { url: `http://${KERNEL}:8090/blob`, status: 200, bytes: SIZE, sha256: want },
        { url: `https://${KERNEL}:8443/blob`, status: 200, bytes: SIZE, sha256: want },
      ]);
      expect(client.output()).toMatch(/^byway: pid \d+ driver af-packet:\S+ mode own\+tso poll event profile throughput /m);

      // undici's request() and the global fetch, from one program: byway's counters show both connections and
      // both bodies (the test over a TAP, byway-run-more.test.ts, checks undici by name and exiting by itself).
      const undici = lab.spawnIn(appNs, 'env', [
        'LINGER=1', process.execPath, '--import', 'tsx', BYWAY_CLI, 'run', '--driver', `af-packet:${appIf}`, '--address', `${BYWAY}/24`, '--',
        process.execPath, app('undici-client.cjs'), `http://${KERNEL}:8090/blob`,
      ]) as Proc;
      const undiciPid = (await waitOutput(undici, /^byway: pid (\d+) driver af-packet/m, 30_000, 'byway run (undici)'))[1]!;
      await waitOutput(undici, /^done$/m, 120_000, 'undici client');
      const got = JSON.parse(/^\{.*\}$/m.exec(undici.output())?.[0] ?? '{}') as unknown;
      expect(got, undici.output()).toEqual({ undici: { status: 200, bytes: SIZE, sha256: want }, fetch: { status: 200, bytes: SIZE, sha256: want } });
      const undiciStat = await statOf(undiciPid);
      expect(undiciStat.paths.tcpConnect).toEqual({ bypass: 2, kernel: 0 });
      expect(undiciStat.paths.bypassFailures).toBe(0);
      expect(undiciStat.stack.tcp.activeOpens).toBe(2);
      expect(undiciStat.driver.rxBytes).toBeGreaterThan(2 * SIZE);
      undici.kill('SIGTERM');
      expect(await exited(undici, 30_000), undici.output()).not.toBeNull();
      // The app namespace's kernel made none of the four connections.
      expect((await nstat(appNs)).TcpActiveOpens - kernelBefore.TcpActiveOpens).toBe(0);
      await cap.stop();
      const seen = await packets(kernelNs, cap.file);
      for (const port of [8090, 8443]) {
        const toNginx = seen.filter((p) => p.dport === port);
        expect(toNginx.length, `packets to ${port}`).toBeGreaterThan(10);
        expect(new Set(toNginx.map((p) => p.src))).toEqual(new Set([BYWAY]));
      }
      nginx.kill('SIGTERM');
    },
    TEST_MS,
  );

  it(
    'ioredis against redis-server: 10k pipelined SET/GET and pub/sub, on the bypass path',
    async () => {
      const redis = lab.spawnIn(kernelNs, 'redis-server', ['--port', '6379', '--bind', KERNEL, '--save', '', '--appendonly', 'no', '--protected-mode', 'no']) as Proc;
      await waitOutput(redis, /Ready to accept connections/, 30_000, 'redis-server');
      const cap = await startCapture('redis.pcap');
      const kernelBefore = await nstat(appNs);
      const client = bywayRun('default=bypass', [app('redis-client.cjs'), KERNEL, '6379', '20000']);
      const pid = (await waitOutput(client, /^byway: pid (\d+) driver af-packet/m, 30_000, 'byway run (redis)'))[1]!;
      const line = (await waitOutput(client, /^\{.*\}$/m, 90_000, 'redis client'))[0];
      expect(JSON.parse(line)).toEqual({ setsOk: 10_000, getsOk: 10_000, messages: 100, inOrder: true, netSockets: true });
      const stat = await statOf(pid);
      expect(stat.paths.tcpConnect).toEqual({ bypass: 2, kernel: 0 }); // the command connection and the subscriber
      expect(stat.stack.tcp.activeOpens).toBe(2);
      const ss = await byway(['ss', pid]);
      expect(ss.stdout.match(new RegExp(`^tcp +ESTAB .* ${KERNEL.replace(/\./g, '\\.')}:6379$`, 'gm'))).toHaveLength(2);
      client.kill('SIGTERM');
      await cap.stop();
      const kernelAfter = await nstat(appNs);
      const toRedis = (await packets(kernelNs, cap.file)).filter((p) => p.dport === 6379);
      expect(toRedis.length).toBeGreaterThan(10);
      expect(new Set(toRedis.map((p) => p.src))).toEqual(new Set([BYWAY]));
      expect(kernelAfter.TcpActiveOpens - kernelBefore.TcpActiveOpens).toBe(0);
      redis.kill('SIGTERM');
    },
    TEST_MS,
  );

  it(
    'pg against PostgreSQL: a new net.Socket() connect on the bypass path; transactions, a 5 MB SELECT and an 8 MB COPY each way checked',
    async () => {
      const bin = readdirSync('/usr/lib/postgresql').map((v) => `/usr/lib/postgresql/${v}/bin`).find((d) => existsSync(`${d}/postgres`));
      expect(bin, 'PostgreSQL server binaries under /usr/lib/postgresql/*/bin (Debian package postgresql)').toBeDefined();
      // Its own directory, owned by the postgres user (the test's directory is root's, mode 0700)
      const pgDir = mkdtempSync(join(tmpdir(), 'byway-pg-'));
      pgDirs.push(pgDir);
      chownSync(pgDir, Number(run('id', ['-u', 'postgres']).trim()), Number(run('id', ['-g', 'postgres']).trim()));
      const init = spawnSync('runuser', ['-u', 'postgres', '--', `${bin}/initdb`, '-D', `${pgDir}/data`, '-A', 'trust', '-U', 'postgres'], { encoding: 'utf8', timeout: 120_000 });
      expect(init.status, init.stderr).toBe(0);
      appendFileSync(`${pgDir}/data/pg_hba.conf`, 'host all all 10.77.31.0/24 trust\n');
      const pg = lab.spawnIn(kernelNs, 'runuser', ['-u', 'postgres', '--', `${bin}/postgres`, '-D', `${pgDir}/data`, '-c', `listen_addresses=${KERNEL}`, '-c', `unix_socket_directories=${pgDir}`, '-c', 'fsync=off']) as Proc;
      await waitOutput(pg, /database system is ready to accept connections/, 60_000, 'postgres');
      const cap = await startCapture('pg.pcap');
      const client = bywayRun('default=bypass', [app('pg-client.cjs'), KERNEL, '5432', '20000']);
      const pid = (await waitOutput(client, /^byway: pid (\d+) driver af-packet/m, 30_000, 'byway run (pg)'))[1]!;
      const line = (await waitOutput(client, /^\{.*\}$/m, 120_000, 'pg client'))[0];
      let copyBytes = 0; // the COPY's text, as pg-client.cjs makes it: 8000 rows "id\tv\n", v 1000-1006 bytes
      for (let i = 0; i < 8000; i++) copyBytes += String(i).length + 1 + 1000 + (i % 7) + 1;
      expect(JSON.parse(line)).toEqual({
        count: 500,
        row: 'row 321',
        bigRows: 5000,
        bigOk: 5000,
        bigBytes: 5_120_000,
        copy: { inBytes: copyBytes, inRows: 8000, inMd5Match: true, outBytes: copyBytes, outSha256Match: true },
      });
      const stat = await statOf(pid);
      expect(stat.paths.tcpConnect).toEqual({ bypass: 1, kernel: 0 });
      expect(stat.paths.bypassFailures).toBe(0);
      client.kill('SIGTERM');
      await cap.stop();
      const toPg = (await packets(kernelNs, cap.file)).filter((p) => p.dport === 5432);
      expect(toPg.length).toBeGreaterThan(100);
      expect(new Set(toPg.map((p) => p.src))).toEqual(new Set([BYWAY]));
      // runuser does not pass a signal on: the whole process group is stopped (SIGTERM: a smart shutdown)
      await lab.stopProcesses(15_000);
      expect(pg.exitCode !== null || pg.signalCode !== null).toBe(true);
    },
    TEST_MS,
  );

  it(
    'a ws server on node:http takes 10k messages from a client on the kernel side, over the bypass path',
    async () => {
      const server = bywayRun('tcp:in:8088=bypass,default=kernel', [app('ws-server.cjs'), '8088']);
      const pid = (await waitOutput(server, /^byway: pid (\d+) driver af-packet/m, 30_000, 'byway run (ws)'))[1]!;
      await waitOutput(server, /^listening 8088$/m, 30_000, 'ws server');
      const cap = await startCapture('ws.pcap');
      const r = await execInAsync(kernelNs, process.execPath, [app('ws-client.cjs'), `ws://${BYWAY}:8088/`, '10000'], { timeoutMs: 90_000 });
      expect(JSON.parse(r.stdout.trim()), r.stderr).toEqual({ echoed: 10_000, inOrder: true });
      const stat = await statOf(pid);
      expect(stat.paths.tcpListen).toEqual({ bypass: 1, kernel: 0 });
      expect(stat.paths.tcpAccepted.bypass).toBe(1);
      expect(stat.stack.tcp.passiveOpens).toBe(1);
      await cap.stop();
      // On the wire, the server's side of the connection comes from byway's address.
      const fromServer = (await packets(kernelNs, cap.file)).filter((p) => p.sport === 8088);
      expect(fromServer.length).toBeGreaterThan(10);
      expect(new Set(fromServer.map((p) => p.src))).toEqual(new Set([BYWAY]));
    },
    TEST_MS,
  );

  it(
    'a node:http server on the bypass path takes 10k requests from a load client on the kernel side, none lost',
    async () => {
      const http = bywayRun('tcp:in:8084=bypass,default=kernel', [app('http-server.cjs'), '8084', '16']);
      const pid = (await waitOutput(http, /^byway: pid (\d+) driver af-packet/m, 30_000, 'byway run (http load)'))[1]!;
      await waitOutput(http, /^listening 8084$/m, 30_000, 'http server');
      const cap = await startCapture('http-load.pcap');
      const kernelBefore = await nstat(appNs);
      // 10,000 GETs, 16 at a time: 8,000 over 16 kept-alive connections, 2,000 each on a connection of its own.
      const r = await execInAsync(kernelNs, process.execPath, [app('http-load.cjs'), `http://${BYWAY}:8084`, '10000', '16', '8000'], { timeoutMs: 120_000 });
      const result = JSON.parse(r.stdout.trim() || '{}') as { ok: number; bad: unknown[]; errors: string[]; connections: number; ms: number };
      console.log(`http load through byway (AF_PACKET, event mode): ${JSON.stringify(result)}`);
      expect(result, r.stderr).toMatchObject({ ok: 10_000, bad: [], errors: [] });
      const stat = await statOf(pid);
      expect(stat.paths.tcpListen).toEqual({ bypass: 1, kernel: 0 });
      // Every connection the client opened was accepted by byway, none by the app namespace's kernel.
      expect(stat.paths.tcpAccepted.bypass).toBe(result.connections);
      expect(stat.stack.tcp.passiveOpens).toBe(result.connections);
      expect(result.connections).toBeGreaterThanOrEqual(2000);
      expect((await nstat(appNs)).TcpPassiveOpens - kernelBefore.TcpPassiveOpens).toBe(0);
      // On the wire, the server's side of every connection comes from byway's address: one SYN-ACK per
      // connection (a retransmitted one counted once; the client reuses a few ports, so ports are not counted).
      await cap.stop();
      const fromServer = (await packets(kernelNs, cap.file)).filter((p) => p.sport === 8084);
      const synAcks = new Set(fromServer.filter((p) => (p.flags & 0x12) === 0x12).map((p) => `${p.dport}/${p.seq}`));
      console.log(`capture: ${fromServer.length} packets from the server, ${synAcks.size} SYN-ACKs`);
      expect(synAcks.size).toBe(result.connections);
      expect(new Set(fromServer.map((p) => p.src))).toEqual(new Set([BYWAY]));
      http.kill('SIGTERM');
      expect(await exited(http, 10_000)).not.toBeNull();
    },
    TEST_MS,
  );

  describe('configuration errors', () => {
    it('byway run refuses a bad variable before starting the program, naming it', async () => {
      const r = await byway(['run', '--driver', `af-packet:${appIf}`, '--address', BYWAY, '--', process.execPath, '-e', "console.log('ran')"]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^byway run: BYWAY_ADDRESS: expected an address with its prefix length/);
    });
    it('the preload ends the program when the driver cannot be opened, with the reason', async () => {
      const r = await byway(['run', '--driver', 'af-packet:bwnone0', '--address', `${BYWAY}/24`, '--', process.execPath, '-e', "console.log('ran')"]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^byway: cannot open af-packet:bwnone0: no such interface/m);
    });
    it("the program's child processes do not inherit the preload (one stack per address)", async () => {
      const r = await byway(['run', '--driver', `af-packet:${appIf}`, '--address', `${BYWAY}/24`, '--', process.execPath, app('spawn-child.cjs')]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('child NODE_OPTIONS=undefined\n');
      expect(r.stderr.match(/^byway: pid /gm)).toHaveLength(1);
    });
    it('a Node program starts with the heap flag (src/cli/heap-flag.ts), and without it under --no-heap-flag', async () => {
      const show = "console.log(JSON.stringify(process.execArgv.filter((a) => a.startsWith('--') && a.includes('space-size'))))";
      const on = await byway(['run', '--driver', `af-packet:${appIf}`, '--address', `${BYWAY}/24`, '--', process.execPath, '-e', show]);
      expect(on.code, on.stderr).toBe(0);
      expect(on.stdout).toBe('["--initial-old-space-size=64"]\n');
      const off = await byway(['run', '--no-heap-flag', '--driver', `af-packet:${appIf}`, '--address', `${BYWAY}/24`, '--', process.execPath, '-e', show]);
      expect(off.code, off.stderr).toBe(0);
      expect(off.stdout).toBe('[]\n');
      const own = await byway(['run', '--driver', `af-packet:${appIf}`, '--address', `${BYWAY}/24`, '--', process.execPath, '--max-old-space-size=48', '-e', show]);
      expect(own.stdout).toBe('["--max-old-space-size=48"]\n');
    });
    it('byway ping answers from its own stack, and says why an address does not', async () => {
      const ok = await byway(['ping', KERNEL, '-c', '2', '--driver', `af-packet:${appIf}`, '--address', '10.77.31.5/24']);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(new RegExp(`^56 bytes from ${KERNEL.replace(/\./g, '\\.')}: icmp_seq=2 ttl=64 time=[\\d.]+ ms$`, 'm'));
      expect(ok.stdout).toMatch(/^2 packets transmitted, 2 received$/m);
      const none = await byway(['ping', '10.77.31.99', '-c', '1', '--driver', `af-packet:${appIf}`, '--address', '10.77.31.5/24']);
      expect(none.code).toBe(1);
      expect(none.stdout).toMatch(/^1 packets transmitted, 0 received$/m);
    });
    it('byway doctor checks the interface', async () => {
      const ok = await byway(['doctor', '--driver', `af-packet:${appIf}`, '--address', `${BYWAY}/24`]);
      expect(ok.stdout).toMatch(new RegExp(`^ok +interface ${appIf}: veth, up`, 'm'));
      expect(ok.stdout).toMatch(/^byway doctor: nothing to fix$/m);
      expect(ok.code).toBe(0);
      const clash = await byway(['doctor', '--driver', `af-packet:${appIf}`, '--address', `${APP_KERNEL}/24`]);
      expect(clash.code).toBe(1);
      expect(clash.stdout).toMatch(new RegExp(`^FIX +address ${APP_KERNEL.replace(/\./g, '\\.')}: the kernel holds it`, 'm'));
    });
  });
});
