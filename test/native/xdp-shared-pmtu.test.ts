/**
 * Path MTU discovery for byway's flows in AF_XDP shared-address mode, through a real router (issues #18, #12's
 * shared mode). byway shares namespace A's kernel addresses (10.77.41.1 and fd7d::1); a router namespace R forwards
 * both families, MTU 1500 on A's side and 1280 out of its far side; the far namespace C runs the kernel's echo
 * server on both families, with routes back to A that advertise an MSS of 1460 (so byway sends full-sized
 * segments) while carrying at most 1280-byte packets. byway's segments meet the router's ICMP fragmentation needed
 * (IPv4, DF set) or packet too big (IPv6), sent to A's address: the XDP program must hand them to byway, by the
 * protocol and source port they quote, or byway's bytes never get through (the kernel, which has no socket on the
 * port, would only count them). Checked: 64 KiB echoed intact on each family, the path MTU lowered in byway's
 * stats, and the kernel's own TCP flow on the same address, through the same router, still completing. Bounded in
 * time; skipped when unprivileged.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createStack, type Stack } from '../../src/index.js';
import { openAfXdp, type AfXdpDriver } from '../../drivers/af-xdp/index.js';
import { NetLab, describePrivileged, execIn, execInAsync, ipIn } from '../helpers/netns.js';
import { enableIpv6 } from './ipv6-lab.js';

const FAR4 = '10.77.42.2';
const FAR6 = 'fd7e::2';
const SIZE = 64 * 1024;
const body = Buffer.alloc(SIZE, 0);
for (let i = 0; i < SIZE; i++) body[i] = (i * 13 + (i >> 9)) & 0xff;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const ECHO = (host: string): string => `require('node:net').createServer((s)=>{s.on('error',()=>{});s.pipe(s)}).listen(9000,'${host}')`;

/** byway connects to host:9000, writes the body and reads SIZE bytes back: their SHA-256, or why not. */
function echoThrough(stack: Stack, host: string, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const s = stack.net.connect({ host, port: 9000 }, () => s.write(body));
    const timer = setTimeout(() => {
      s.destroy();
      resolve(`timeout: ${got} of ${SIZE} bytes back within ${ms} ms`);
    }, ms);
    s.on('data', (b: Buffer) => {
      chunks.push(b);
      got += b.length;
      if (got >= SIZE) {
        clearTimeout(timer);
        s.end();
        resolve(sha(Buffer.concat(chunks)));
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      resolve(`error: ${(e as NodeJS.ErrnoException).code ?? e.message}`);
    });
  });
}

describePrivileged('AF_XDP shared-address mode: a router\'s ICMP errors about byway\'s flows reach byway', () => {
  const lab = new NetLab();
  let nsA = '';
  let driver: AfXdpDriver | undefined;
  let stack: Stack | undefined;

  beforeAll(async () => {
    nsA = lab.addNetns();
    const nsR = lab.addNetns();
    const nsC = lab.addNetns();
    const near = lab.addVeth(nsA, nsR, { addrA: '10.77.41.1/24', addrB: '10.77.41.254/24' });
    const far = lab.addVeth(nsR, nsC, { addrA: '10.77.42.1/24', addrB: `${FAR4}/24` });
    for (const [ns, dev] of [[nsA, near.a], [nsR, near.b], [nsR, far.a], [nsC, far.b]] as const) enableIpv6(ns, dev);
    ipIn(nsA, `-6 addr add fd7d::1/64 dev ${near.a} nodad`);
    ipIn(nsR, `-6 addr add fd7d::fe/64 dev ${near.b} nodad`);
    ipIn(nsR, `-6 addr add fd7e::1/64 dev ${far.a} nodad`);
    ipIn(nsC, `-6 addr add ${FAR6}/64 dev ${far.b} nodad`);
    execIn(nsR, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    execIn(nsR, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
    ipIn(nsA, 'route add default via 10.77.41.254');
    ipIn(nsA, '-6 route add default via fd7d::fe');
    // The bottleneck: the router's far side carries 1280 bytes; the far side's routes back advertise MSS 1460
    // (advmss) while sending at most 1280-byte packets (mtu).
    ipIn(nsR, `link set ${far.a} mtu 1280`);
    ipIn(nsC, `route add 10.77.41.0/24 via 10.77.42.1 mtu 1280 advmss 1460`);
    ipIn(nsC, `-6 route add fd7d::/64 via fd7e::1 mtu 1280 advmss 1440`);
    lab.spawnIn(nsC, process.execPath, ['-e', ECHO(FAR4)]);
    lab.spawnIn(nsC, process.execPath, ['-e', ECHO(FAR6)]);
    for (let end = Date.now() + 5_000; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
      const ss = execIn(nsC, 'ss', ['-ltn']);
      if (ss.includes(`${FAR4}:9000`) && ss.includes(`[${FAR6}]:9000`)) break;
    }
    driver = openAfXdp({ ifname: near.a, netns: nsA, mode: 'shared', ipv6: true });
    stack = createStack({ driver });
    await stack.ready();
  }, 30_000);
  afterAll(async () => {
    stack?.close();
    await lab.stopProcesses();
    lab.destroy();
  });

  it('IPv4: fragmentation needed from the router lowers byway\'s path MTU, and 64 KiB come back intact', async () => {
    const before = stack!.stats.icmp.pmtuUpdates;
    expect(await echoThrough(stack!, FAR4, 20_000)).toBe(sha(body));
    expect(stack!.stats.icmp.pmtuUpdates).toBeGreaterThan(before);
  }, 30_000);

  it('IPv6: packet too big from the router lowers byway\'s path MTU, and 64 KiB come back intact', async () => {
    const before = stack!.stats.icmpv6!.pmtuUpdates;
    expect(await echoThrough(stack!, FAR6, 20_000)).toBe(sha(body));
    expect(stack!.stats.icmpv6!.pmtuUpdates).toBeGreaterThan(before);
  }, 30_000);

  it("the kernel's own TCP flow on the same address keeps its ICMP: its 64 KiB echo through the router completes", async () => {
    const client = `const s=require('node:net').connect(9000,'${FAR4}',()=>s.write(Buffer.alloc(${SIZE},7)));let n=0;` +
      `s.on('data',(b)=>{n+=b.length;if(n>=${SIZE}){console.log('echoed',n);s.end()}});setTimeout(()=>{console.log('timeout',n);process.exit(1)},15000).unref()`;
    const r = await execInAsync(nsA, process.execPath, ['-e', client], { timeoutMs: 20_000 });
    expect(r.stdout.trim(), r.stderr).toBe(`echoed ${SIZE}`);
  }, 30_000);
});
