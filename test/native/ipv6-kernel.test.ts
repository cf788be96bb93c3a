/**
 * IPv6 between byway and the Linux kernel, over TAP, AF_PACKET and AF_XDP (own-address mode), in namespaces this test creates (IPv6 turned
 * on only there): byway's DAD against the kernel, NDP both ways (byway resolves the kernel, the kernel resolves
 * byway), `ping -6` both ways, UDP echo with a node:dgram udp6 peer in the kernel, and fragmented UDP both ways
 * (byway cuts a 5000-byte datagram, the kernel reassembles it, echoes it cut by its own fragmenter, byway
 * reassembles). Bounded in time; skipped with a reason when unprivileged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { createStack, type Stack } from '../../src/index.js';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { openTap } from '../../drivers/tap/index.js';
import { openAfXdp } from '../../drivers/af-xdp/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { NetLab, describePrivileged, execInAsync, ipIn, uniqueName } from '../helpers/netns.js';
import { ECHO_SERVER, payload, sha } from './udp6-echo.js';
import { enableIpv6, routedIpv6 } from './ipv6-lab.js';

/** node:dgram udp6 client in the kernel's namespace: sends argv[1] bytes to argv[2]:argv[3], prints the echo's size and sha256. */
const ECHO_CLIENT = `
const [n, host, port] = process.argv.slice(1);
const b = Buffer.alloc(+n);
for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
const s = require('node:dgram').createSocket('udp6');
const t = setTimeout(() => { console.log('timeout'); process.exit(1); }, 5000);
s.on('message', (m, r) => { console.log(m.length, require('node:crypto').createHash('sha256').update(m).digest('hex'), r.address); clearTimeout(t); s.close(); });
s.send(b, +port, host);
`;


async function waitOutput(p: { output(): string }, text: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!p.output().includes(text)) {
    if (Date.now() > end) throw new Error(`no '${text}' within ${ms} ms: ${p.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Namespace A (byway's: IPv6 off, so the kernel there answers nothing) and B (the kernel's, fd77:14::1/64 on its
 * end of the veth pair).
 */
function kernelPeerLab(lab: NetLab): { nsA: string; nsB: string; link: { a: string; b: string } } {
  const nsA = lab.addNetns();
  const nsB = lab.addNetns();
  const link = lab.addVeth(nsA, nsB);
  enableIpv6(nsB, link.b);
  ipIn(nsB, `-6 addr add fd77:14::1/64 dev ${link.b} nodad`);
  return { nsA, nsB, link };
}

describePrivileged('IPv6 between byway and the kernel', () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  beforeAll(() => void ({ nsA, nsB, link } = kernelPeerLab(lab)), 20_000);
  afterAll(async () => {
    await lab.stopProcesses();
    lab.destroy();
  });

  const cases: [string, () => { driver: FrameDriver; me: string; peer: string; peerNs: string; dev: string; linkLocal?: boolean }][] = [
    [
      'TAP',
      () => {
        const driver = openTap({ name: uniqueName('bwk'), netns: nsA });
        const dev = (driver as { ifname: string }).ifname;
        enableIpv6(nsA, dev);
        ipIn(nsA, `-6 addr add fd77:15::1/64 dev ${dev} nodad`);
        return { driver, me: 'fd77:15::2', peer: 'fd77:15::1', peerNs: nsA, dev };
      },
    ],
    ['AF_PACKET', () => ({ driver: openAfPacket({ ifname: link.a, netns: nsA }), me: 'fd77:14::2', peer: 'fd77:14::1', peerNs: nsB, dev: link.b })],
    [
      // Own-address mode: the program redirects IPv6 to fd77:14::3 and its solicited-node group; the link-local
      // address from the interface's MAC is the kernel's business, so the stack has none.
      'AF_XDP',
      () => ({ driver: openAfXdp({ ifname: link.a, netns: nsA, ipv6: 'fd77:14::3' }), me: 'fd77:14::3', peer: 'fd77:14::1', peerNs: nsB, dev: link.b, linkLocal: false }),
    ],
  ];

  for (const [i, [name, make]] of cases.entries()) {
    const echoPort = 7000 + i;
    describe(name, () => {
      let stack: Stack;
      let env: ReturnType<typeof make>;
      beforeAll(async () => {
        env = make();
        stack = createStack({ driver: env.driver, address: `${env.me}/64`, ipv6: { linkLocal: env.linkLocal ?? true } });
        await stack.ready(); // DAD on the real link: the kernel did not object
        expect(stack.addresses.some((a) => a.includes('tentative') || a.includes('duplicate'))).toBe(false);
      }, 10_000);
      afterAll(() => stack?.close());

      it('byway resolves the kernel by NDP and pings it', async () => {
        const r = await stack.ping(env.peer, { timeoutMs: 3000 });
        expect(r.from).toBe(env.peer);
        expect(r.ttl).toBe(64);
        expect(stack.stats.ndp!.neighbour.resolved).toBeGreaterThanOrEqual(1);
      }, 10_000);

      it('the kernel resolves byway by NDP and `ping -6` gets replies', async () => {
        const out = await execInAsync(env.peerNs, 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', env.me], { timeoutMs: 8000 });
        expect(out.stdout).toMatch(/3 packets transmitted, 3 received/);
        // The kernel holds byway's MAC from the exchange (STALE, REACHABLE or DELAY depending on timing)
        const neigh = ipIn(env.peerNs, `-6 neigh show ${env.me} dev ${env.dev}`);
        const mac = [...env.driver.hwAddress!].map((x) => x.toString(16).padStart(2, '0')).join(':');
        expect(neigh).toContain(`lladdr ${mac}`);
        expect(stack.stats.icmpv6!.echoRepliesSent).toBeGreaterThanOrEqual(3);
        // and a 3000-byte ping from the kernel comes in fragments and goes back in fragments
        const big = await execInAsync(env.peerNs, 'ping', ['-6', '-c', '1', '-s', '3000', '-W', '2', env.me], { timeoutMs: 5000 });
        expect(big.stdout).toMatch(/1 received/);
      }, 20_000);

      it('UDP echo: byway sends to a kernel udp6 socket and back, also fragmented both ways', async () => {
        const server = lab.spawnIn(env.peerNs, process.execPath, ['-e', ECHO_SERVER, String(echoPort)]);
        await waitOutput(server, 'ready', 5000);
        const sock = stack.dgram.createSocket('udp6');
        sock.bind(0);
        await once(sock, 'listening');
        for (const n of [100, 5000]) {
          const got = new Promise<[Buffer, { address: string; family: string }]>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`no echo of ${n} bytes`)), 4000);
            sock.once('message', (m: Buffer, r: { address: string; family: string }) => {
              clearTimeout(t);
              resolve([m, r]);
            });
          });
          sock.send(payload(n), echoPort, env.peer);
          const [m, r] = await got;
          expect(m.length).toBe(n);
          expect(sha(m)).toBe(sha(payload(n)));
          expect(r).toMatchObject({ address: env.peer, family: 'IPv6' });
        }
        expect(stack.stats.ipv6!.fragmentsSent).toBeGreaterThanOrEqual(4);
        expect(stack.stats.ipv6!.reassembly.reassembled).toBeGreaterThanOrEqual(1);
        sock.close();
      }, 20_000);

      it('UDP echo: a kernel udp6 client sends to byway and gets its datagram back, also fragmented both ways', async () => {
        const sock = stack.dgram.createSocket('udp6');
        sock.on('message', (m: Buffer, r: { port: number; address: string }) => sock.send(m, r.port, r.address));
        sock.bind(7001);
        await once(sock, 'listening');
        for (const n of [64, 5000]) {
          const out = await execInAsync(env.peerNs, process.execPath, ['-e', ECHO_CLIENT, String(n), env.me, '7001'], { timeoutMs: 8000 });
          expect(out.stdout.trim()).toBe(`${n} ${sha(payload(n))} ${env.me}`);
        }
        sock.close();
      }, 20_000);
    });
  }
});

describePrivileged('IPv6 path MTU against a kernel router', () => {
  const lab = new NetLab();
  afterAll(async () => {
    await lab.stopProcesses();
    lab.destroy();
  });

  it("a Packet Too Big from a Linux router lowers byway's path MTU; the next datagram goes in fragments and is echoed", async () => {
    // byway -- TAP (MTU 1500) -- router namespace (forwarding) -- veth (MTU 1280) -- the peer's namespace
    const { driver, nsPeer: nsC } = routedIpv6(lab, 'fd78:1', 'fd78:2', { routerMtu: 1280, peerMtu: 1280 });
    const server = lab.spawnIn(nsC, process.execPath, ['-e', ECHO_SERVER, '7100']);
    const stack = createStack({ driver, address: 'fd78:1::2/64', gateway: 'fd78:1::1' });
    try {
      await stack.ready();
      await waitOutput(server, 'ready', 5000);
      expect(stack.core.ipv6!.mtuFor(new Uint8Array([0xfd, 0x78, 0, 2, ...new Array<number>(11).fill(0), 2]))).toBe(1500);
      const sock = stack.dgram.createSocket('udp6');
      sock.bind(0);
      await once(sock, 'listening');
      const echoed = new Promise<Buffer>((resolve) => sock.on('message', (m: Buffer) => resolve(m)));
      // The first 1400-byte datagram does not fit the router's 1280-byte link: the router answers Packet Too Big.
      sock.send(payload(1400), 7100, 'fd78:2::2');
      const end = Date.now() + 3000;
      while (stack.stats.icmpv6!.pmtuUpdates === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(stack.stats.icmpv6!.packetTooBig).toBe(1);
      expect(stack.stats.icmpv6!.pmtuUpdates).toBe(1);
      expect(stack.core.ipv6!.mtuFor(new Uint8Array([0xfd, 0x78, 0, 2, ...new Array<number>(11).fill(0), 2]))).toBe(1280);
      // Sent again, it leaves in two fragments of at most 1280 bytes, crosses, and the peer's echo comes back whole.
      const fragmentsBefore = stack.stats.ipv6!.fragmentsSent;
      sock.send(payload(1400), 7100, 'fd78:2::2');
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no echo through the router')), 4000));
      const m = await Promise.race([echoed, timeout]);
      expect(sha(m)).toBe(sha(payload(1400)));
      expect(stack.stats.ipv6!.fragmentsSent - fragmentsBefore).toBe(2);
      sock.close();
    } finally {
      stack.close();
    }
  }, 20_000);
});
