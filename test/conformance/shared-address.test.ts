/**
 * AF_XDP shared-address mode against the kernel: one interface, one IPv4 address, some flows in the kernel and
 * some in byway, chosen per flow by the path strategy (the OpenOnload model).
 *
 *   peer ns [veth 10.77.25.1]  <-->  [veth 10.77.25.2] app ns
 *     curl, nginx :8082               one Node process (shared-server.ts): AF_XDP shared mode on the veth,
 *     tshark                          node:http on :8080 through byway, on :8081 through the kernel; tshark
 *
 * Checked: both servers answer curl with the right bytes and say which path served them; the app process pings
 * the peer and fetches from its nginx through byway (an ephemeral port claimed from the kernel, the peer's MAC
 * learned from the kernel over netlink, no ARP of byway's own); byway cannot listen on the kernel's port
 * (EADDRINUSE); a kernel socket cannot take byway's port. The proof that the bypass flow never reached the kernel:
 * a capture on the app side's veth (the kernel's receive path, after XDP) holds the kernel flow's packets and none
 * of the bypass flow's, while the peer's capture shows both; and the app namespace's kernel TCP counts exactly one
 * passive open (the kernel flow), no active open and no RST. Afterwards no XDP program, namespace or process is
 * left.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readPcap } from '../../drivers/middleware/index.js';
import { describePrivileged, execIn, execInAsync, ipIn, NetLab, requirePrivileged } from '../helpers/netns.js';
import { missingTools } from './topology.js';
import { deterministicBytes, payload, sha256, startNginx, webRoot } from './tools.js';
import { exited, stopCapture, waitOutput } from '../cli/run-helpers.js';

const PEER = '10.77.25.1';
const APP = '10.77.25.2';
const BYPASS_PORT = 8080;
const KERNEL_PORT = 8081;
const NGINX_PORT = 8082;
const BODY = 1 << 20;
const TEST_MS = 120_000;

const here = new URL('.', import.meta.url).pathname;

/** TCP packets in a pcap, as (srcPort, dstPort, flags) of IPv4/TCP frames. */
function tcpPackets(file: string): Array<{ src: number; dst: number; syn: boolean; rst: boolean }> {
  const out: Array<{ src: number; dst: number; syn: boolean; rst: boolean }> = [];
  for (const r of readPcap(new Uint8Array(readFileSync(file))).records) {
    const f = r.data;
    if (f.length < 14 + 20 + 20 || f[12] !== 0x08 || f[13] !== 0x00 || f[14 + 9] !== 6) continue;
    const t = 14 + (f[14]! & 0x0f) * 4;
    out.push({ src: (f[t]! << 8) | f[t + 1]!, dst: (f[t + 2]! << 8) | f[t + 3]!, syn: (f[t + 13]! & 0x02) !== 0, rst: (f[t + 13]! & 0x04) !== 0 });
  }
  return out;
}

async function nstat(ns: string): Promise<Record<string, number>> {
  const names = ['TcpPassiveOpens', 'TcpActiveOpens', 'TcpOutRsts', 'TcpExtListenDrops'];
  const r = await execInAsync(ns, 'nstat', ['-az', ...names], { timeoutMs: 5000 });
  const out: Record<string, number> = {};
  for (const k of names) out[k] = Number(new RegExp(`^${k}\\s+(\\d+)`, 'm').exec(r.stdout)?.[1] ?? NaN);
  return out;
}

/** curl from `ns`: the body's SHA-256, its size and the x-path header. */
async function curl(ns: string, url: string): Promise<{ sha256: string; bytes: number; path: string; status: number }> {
  const script = `set -o pipefail; curl -sS --max-time 20 -w '%{stderr}@@%{http_code} %{size_download} %header{x-path}\\n' '${url}' | sha256sum`;
  const r = await execInAsync(ns, 'bash', ['-c', script], { timeoutMs: 25_000 });
  const m = /@@(\d+) (\d+) (\S*)/.exec(r.stderr);
  if (r.code !== 0 || !m) throw new Error(`curl ${url} failed (exit ${r.code}): ${r.stderr}`);
  return { status: Number(m[1]), bytes: Number(m[2]), sha256: r.stdout.split(/\s/)[0]!, path: m[3]! };
}

describePrivileged('conformance: AF_XDP shared address (kernel and bypass flows on one interface and address)', () => {
  const missing = [...missingTools('af-xdp'), ...(spawnSync('tshark', ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0 ? [] : ['tshark'])];
  if (missing.length > 0) {
    if (requirePrivileged) {
      it('has the tools it needs (BYWAY_REQUIRE_PRIVILEGED=1)', () => {
        throw new Error(`missing tools: ${missing.join(', ')} (see .ci/run)`);
      });
    } else it.skip(`needs ${missing.join(', ')}`, () => {});
    return;
  }

  let lab: NetLab;
  let dir: string;
  let web: { dir: string; remove(): void };
  beforeAll(() => {
    lab = new NetLab();
    dir = mkdtempSync(join(tmpdir(), 'byway-shared-'));
    web = webRoot([payload('small', deterministicBytes(BODY, 9))]);
  });
  afterAll(() => {
    lab?.destroy();
    web?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    'serves curl from a bypass and a kernel server on one address; the bypass flow never reaches the kernel',
    async () => {
      const peerNs = lab.addNetns('bwsp-');
      const appNs = lab.addNetns('bwsa-');
      const { a: appIf, b: peerIf } = lab.addVeth(appNs, peerNs, { addrA: `${APP}/24`, addrB: `${PEER}/24` });
      for (const [ns, dev] of [
        [appNs, appIf],
        [peerNs, peerIf],
      ] as const) {
        execIn(ns, 'ethtool', ['-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off', 'rx', 'off']);
      }
      await startNginx(lab, peerNs, web.dir, PEER, NGINX_PORT);

      const appPcap = join(dir, 'app.pcap');
      const peerPcap = join(dir, 'peer.pcap');
      const capApp = lab.spawnIn(appNs, 'tshark', ['-n', '-i', appIf, '-f', 'tcp or icmp or arp', '-F', 'pcap', '-w', appPcap]);
      const capPeer = lab.spawnIn(peerNs, 'tshark', ['-n', '-i', peerIf, '-f', 'tcp or icmp or arp', '-F', 'pcap', '-w', peerPcap]);
      await waitOutput(capApp, /Capturing on/, 20_000, 'tshark (app side)');
      await waitOutput(capPeer, /Capturing on/, 20_000, 'tshark (peer side)');
      const before = await nstat(appNs);

      const app = lab.spawnIn(appNs, process.execPath, [
        '--import',
        'tsx',
        join(here, 'shared-server.ts'),
        appIf,
        String(BYPASS_PORT),
        String(KERNEL_PORT),
        String(BODY),
        PEER,
        String(NGINX_PORT),
      ]);
      const ready = JSON.parse((await waitOutput(app, /^\{"ready".*$/m, 30_000, 'shared-server'))[0]) as Record<string, any>;
      expect(ready.ready, JSON.stringify(ready)).toBe(true);
      // The address came from the kernel; the servers took the paths the strategy gave them.
      expect(ready.mode).toBe('shared');
      expect(ready.addresses).toEqual([`${APP}/24`]);
      expect(ready.bypassPaths).toEqual(['bypass']);
      expect(ready.kernelPaths).toEqual(['kernel']);
      expect(ready.conflict).toBe('EADDRINUSE');
      expect(ready.ping.ok, JSON.stringify(ready.ping)).toBe(true);
      // Outbound through byway: the ephemeral port was claimed and the peer's MAC came from the kernel.
      expect(ready.fetched).toMatchObject({ status: 200, bytes: BODY, sha256: sha256(deterministicBytes(BODY, 9)), path: 'bypass' });
      expect(ready.neighbours.resolved).toBeGreaterThanOrEqual(1);
      expect(ready.neighbours.failed).toBe(0);

      // A kernel socket cannot take byway's port (it is reserved in the kernel).
      const clash = await execInAsync(appNs, 'socat', ['-T1', `TCP-LISTEN:${BYPASS_PORT},bind=${APP}`, 'STDOUT'], { timeoutMs: 5000 });
      expect(clash.code, clash.stderr).not.toBe(0);
      expect(clash.stderr).toMatch(/Address already in use/i);

      const want = sha256(deterministicBytes(BODY, 25));
      const viaBypass = await curl(peerNs, `http://${APP}:${BYPASS_PORT}/`);
      const viaKernel = await curl(peerNs, `http://${APP}:${KERNEL_PORT}/`);
      expect(viaBypass).toEqual({ status: 200, bytes: BODY, sha256: want, path: 'bypass' });
      expect(viaKernel).toEqual({ status: 200, bytes: BODY, sha256: want, path: 'kernel' });

      const after = await nstat(appNs);
      app.kill('SIGTERM');
      expect(await exited(app, 10_000)).toBe(0);
      const closed = JSON.parse(/^\{"closed".*$/m.exec(app.output())?.[0] ?? '{}') as Record<string, any>;
      expect(closed.closed, app.output()).toBe(true);
      expect(closed.passiveOpens).toBe(1); // byway accepted the one bypass curl
      expect(closed.activeOpens).toBe(1); // and opened the one fetch

      // Stop the captures once their last packets are out of the kernel's ring (stopCapture says why it waits).
      await Promise.all([stopCapture(capApp, 10_000), stopCapture(capPeer, 10_000)]);
      const seenByKernel = tcpPackets(appPcap);
      const onWire = tcpPackets(peerPcap);

      // The wire carried both flows in both directions.
      expect(onWire.filter((p) => p.dst === BYPASS_PORT).length).toBeGreaterThan(10);
      expect(onWire.filter((p) => p.src === BYPASS_PORT).length).toBeGreaterThan(10);
      expect(onWire.filter((p) => p.dst === KERNEL_PORT).length).toBeGreaterThan(10);
      // The kernel's receive path saw the kernel flow and not one packet of the bypass flow, nor of byway's fetch.
      expect(seenByKernel.filter((p) => p.dst === KERNEL_PORT).length).toBeGreaterThan(10);
      expect(seenByKernel.filter((p) => p.dst === BYPASS_PORT)).toEqual([]);
      expect(seenByKernel.filter((p) => p.src === NGINX_PORT)).toEqual([]);
      // Its TCP: one passive open (the kernel flow), none active, no RST sent (no stray bypass segment reached it).
      expect(after.TcpPassiveOpens! - before.TcpPassiveOpens!).toBe(1);
      expect(after.TcpActiveOpens! - before.TcpActiveOpens!).toBe(0);
      expect(after.TcpOutRsts! - before.TcpOutRsts!).toBe(0);

      // Nothing left behind: the program is detached with the process gone.
      expect(ipIn(appNs, `link show ${appIf}`)).not.toMatch(/prog\/xdp|xdpgeneric|xdpdrv/);
    },
    TEST_MS,
  );
}, { native: true });
