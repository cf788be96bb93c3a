/**
 * `byway run` over the drivers the other byway run tests do not use (issue #15, BYWAY_DRIVER): AF_XDP with its own
 * address, AF_XDP in shared mode (the kernel's address, byway claiming only its sockets' ports) and raw IP (raw
 * sockets sharing the kernel's address, the kernel told to keep quiet as docs/drivers.md says). For each, an
 * unmodified node:http server (apps/http-server.cjs) answers curl from a peer namespace on the bypass path: byway
 * stat counts the accepted connection and the app namespace's kernel accepted none. Where byway shares the
 * kernel's address, a server of the kernel's on another port of that address still answers.
 *
 *   peer ns [veth 10.77.35.1]  <-->  [veth: kernel 10.77.35.3 (+ byway 10.77.35.2 for own-address AF_XDP)] app ns
 *   curl                                byway run --driver D -- node http-server.cjs
 *
 * One pair of namespaces per driver (an AF_XDP queue can stay busy for a second after its socket closed). Bounded
 * in time; everything made is removed.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describePrivileged, describeWithTools, execIn, execInAsync, NetLab } from '../helpers/netns.js';
import { exited, nstat, waitOutput, type Proc } from './run-helpers.js';
import { quietKernel } from '../conformance/topology.js';

const here = new URL('.', import.meta.url).pathname;
const BYWAY_CLI = join(here, '../../src/cli/byway.ts');
const app = (name: string): string => join(here, 'apps', name);
const PEER = '10.77.35.1';
const KERNEL = '10.77.35.3';
const OWN = '10.77.35.2';

const cases = [
  { name: 'AF_XDP, own address', driver: 'af-xdp', address: OWN, port: 8094 },
  { name: 'AF_XDP, shared mode (the kernel\'s address)', driver: 'af-xdp', shared: true, address: KERNEL, port: 8095 },
  { name: 'raw IP (the kernel\'s address, the kernel kept quiet)', driver: 'raw-ip', address: KERNEL, port: 8096 },
] as const;

describePrivileged(
  'byway run over AF_XDP (own and shared) and raw IP',
  () =>
    describeWithTools('with curl, nstat and nft', ['curl', 'nstat', 'nft'], () => {
      let lab: NetLab;
      beforeAll(() => {
        lab = new NetLab();
      });
      afterEach(() => lab?.stopProcesses());
      afterAll(async () => {
        await lab?.stopProcesses();
        lab?.destroy();
      });

      for (const c of cases) {
        it(
          `${c.name}: a node:http server on the bypass path answers curl from the peer`,
          async () => {
            const peerNs = lab.addNetns('bwdp-');
            const appNs = lab.addNetns('bwda-');
            const v = lab.addVeth(peerNs, appNs, { addrA: `${PEER}/24`, addrB: `${KERNEL}/24` });
            if (c.driver === 'raw-ip') {
              execIn(appNs, 'sysctl', ['-qw', 'net.ipv4.icmp_echo_ignore_all=1']);
              quietKernel(appNs);
            }
            const shared = 'shared' in c && c.shared;
            const spec = c.driver === 'raw-ip' ? 'raw-ip' : `af-xdp:${v.b}${shared ? ':shared' : ''}`;
            const args = ['--import', 'tsx', BYWAY_CLI, 'run', '--driver', spec, ...(shared ? [] : ['--address', `${c.address}/24`]), '--path', `tcp:in:${c.port}=bypass,default=kernel`, '--'];
            const server = lab.spawnIn(appNs, process.execPath, [...args, process.execPath, app('http-server.cjs'), String(c.port), '16']) as Proc;
            const pid = (await waitOutput(server, /^byway: pid (\d+) driver /m, 30_000, `byway run (${spec})`))[1]!;
            await waitOutput(server, new RegExp(`^listening ${c.port}$`, 'm'), 30_000, 'http server');
            expect(server.output()).toMatch(new RegExp(`^byway: pid \\d+ driver ${spec.replace(/[.:]/g, '\\$&')} mode ${shared ? 'shared' : 'own'}`, 'm'));
            const kernelBefore = await nstat(appNs);
            const r = await execInAsync(peerNs, 'curl', ['-sS', '-m', '20', '-w', ' %header{x-peer}', `http://${c.address}:${c.port}/`], { timeoutMs: 30_000 });
            expect(r.stdout, `${r.stderr}\n${server.output()}`).toBe(`ok\n ${PEER}`);
            const stat = await execInAsync(appNs, process.execPath, ['--import', 'tsx', BYWAY_CLI, 'stat', pid, '--json'], { timeoutMs: 30_000 });
            const s = JSON.parse(stat.stdout) as { paths: { tcpListen: unknown; tcpAccepted: { bypass: number } }; stack: { tcp: { passiveOpens: number } } };
            expect(s.paths.tcpListen).toEqual({ bypass: 1, kernel: 0 });
            expect(s.paths.tcpAccepted.bypass).toBe(1);
            expect(s.stack.tcp.passiveOpens).toBe(1);
            expect((await nstat(appNs)).TcpPassiveOpens - kernelBefore.TcpPassiveOpens).toBe(0);
            if (c.address === KERNEL) {
              // Sharing the address: a server of the kernel's on another port still answers on that address.
              const plain = lab.spawnIn(appNs, process.execPath, [app('http-server.cjs'), String(c.port + 10), '16']) as Proc;
              await waitOutput(plain, new RegExp(`^listening ${c.port + 10}$`, 'm'), 30_000, 'kernel http server');
              const k = await execInAsync(peerNs, 'curl', ['-sS', '-m', '20', `http://${KERNEL}:${c.port + 10}/`], { timeoutMs: 30_000 });
              expect(k.stdout, k.stderr).toBe('ok\n');
              expect((await nstat(appNs)).TcpPassiveOpens - kernelBefore.TcpPassiveOpens).toBe(1);
              plain.kill('SIGTERM');
            }
            server.kill('SIGTERM');
            expect(await exited(server, 10_000)).not.toBeNull();
          },
          90_000,
        );
      }
    }),
  { native: true },
);
