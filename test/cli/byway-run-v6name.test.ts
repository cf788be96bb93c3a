/**
 * `byway run` with an IPv6 address given by `--address` (beside an IPv4 one) on AF_PACKET, and a program that
 * connects to a host name whose answer has an IPv6 address only (issue #19): the name is resolved by the system
 * resolver from the app namespace's hosts file (/etc/netns/NS/hosts, mounted by `ip netns exec`), the flow takes
 * byway's path (`socket.path` 'bypass', remoteFamily 'IPv6'), and the peer's kernel server sees byway's IPv6
 * address (the app namespace's kernel has IPv6 off: only byway can have made the connection). The same with
 * `--workers 2` (each worker's program connects). Own namespaces and veth, removed after; skipped without privileges.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describePrivileged, execIn, execInAsync, ipIn, NetLab } from '../helpers/netns.js';
import { waitOutput, type Proc } from './run-helpers.js';

const PEER4 = '10.77.61.1';
const BYWAY4 = '10.77.61.2';
const PEER6 = 'fd00:61::1';
const BYWAY6 = 'fd00:61::2';
const PORT = 8061;
const here = new URL('.', import.meta.url).pathname;
const BYWAY_CLI = join(here, '../../src/cli/byway.ts');

/** Connects to the name, says what it got: the path, the socket's names, and the peer address the server saw. */
const CLIENT = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]) });
const out = {};
s.on('connect', () => Object.assign(out, { path: s.path, remoteAddress: s.remoteAddress, remoteFamily: s.remoteFamily, localAddress: s.localAddress, family: s.address().family }));
let seen = '';
s.setEncoding('utf8').on('data', (d) => (seen += d));
s.on('error', (e) => (out.error = e.code));
s.on('close', () => console.log(JSON.stringify({ ...out, seen })));
`;

describePrivileged('byway run --address with IPv6: a host name answering IPv6 only takes byway\'s path (AF_PACKET)', () => {
  let lab: NetLab;
  let peerNs: string;
  let appNs: string;
  let appIf: string;

  beforeAll(() => {
    lab = new NetLab();
    peerNs = lab.addNetns('bw6p-');
    appNs = lab.addNetns('bw6a-');
    const v = lab.addVeth(peerNs, appNs, { addrA: `${PEER4}/24` });
    appIf = v.b;
    for (const k of ['all', 'default', v.a]) execIn(peerNs, 'sysctl', ['-qw', `net.ipv6.conf.${k}.disable_ipv6=0`]);
    ipIn(peerNs, `-6 addr add ${PEER6}/64 dev ${v.a} nodad`);
    lab.addHosts(appNs, { 'v6only.test': PEER6 });
  });
  afterAll(async () => {
    await lab?.stopProcesses();
    lab?.destroy();
  });

  it('net.connect to the name: bypass, IPv6 names, and the peer sees byway\'s IPv6 address', async () => {
    const server = lab.spawnIn(peerNs, process.execPath, ['-e', `require('node:net').createServer((c) => c.end(c.remoteAddress)).listen(${PORT}, '::', () => console.log('listening'))`]) as Proc;
    await waitOutput(server, /listening/, 15_000, 'the peer\'s server');
    const args = ['--import', 'tsx', BYWAY_CLI, 'run', '--driver', `af-packet:${appIf}`, '--address', `${BYWAY4}/24,${BYWAY6}/64`, '--path', 'default=bypass'];
    const r = await execInAsync(appNs, process.execPath, [...args, '--', process.execPath, '-e', CLIENT, 'v6only.test', String(PORT)], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^byway: pid \d+ driver af-packet:\S+ mode own .* address 10\.77\.61\.2\/24,.*fd00:61::2\/64/m);
    expect(r.stderr).not.toMatch(/bypass flow failed|duplicate address detection not finished/);
    expect(JSON.parse(r.stdout)).toEqual({ path: 'bypass', remoteAddress: PEER6, remoteFamily: 'IPv6', localAddress: BYWAY6, family: 'IPv6', seen: BYWAY6 });
  }, 90_000);

  it('--workers 2: each worker\'s connect to the name takes byway\'s path over IPv6', async () => {
    const args = ['--import', 'tsx', BYWAY_CLI, 'run', '--workers', '2', '--no-control', '--driver', `af-packet:${appIf}`, '--address', `${BYWAY4}/24,${BYWAY6}/64`, '--path', 'default=bypass'];
    const r = await execInAsync(appNs, process.execPath, [...args, '--', process.execPath, '-e', CLIENT, 'v6only.test', String(PORT)], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([0, 1].map(() => ({ path: 'bypass', remoteAddress: PEER6, remoteFamily: 'IPv6', localAddress: BYWAY6, family: 'IPv6', seen: BYWAY6 })));
  }, 90_000);
});
