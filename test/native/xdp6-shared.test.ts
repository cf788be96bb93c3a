/**
 * AF_XDP shared-address mode over IPv6 (issue #18), against the kernel, in namespaces this test creates: byway's
 * namespace A, whose kernel owns fd7c::1/64 on its end of a veth pair, and the peer's namespace B (fd7c::2/64).
 * byway shares A's address (`afXdp({ mode: 'shared', ipv6: true })`, `createStack({ driver })`): the kernel keeps
 * NDP and answers `ping -6`; byway takes only the ports its sockets claim, and resolves neighbours by asking the
 * kernel (RTM_NEWNEIGH NTF_USE over netlink) and reading its IPv6 neighbour table. Checked: byway's UDP echo of a
 * kernel client's datagrams, byway's datagrams echoed by a kernel server (the peer resolved through the kernel, no
 * solicitation sent by byway), byway's ping -6 of the peer, `curl -6` fetching 1 MiB from node:http on byway,
 * and the peer's `ping -6` answered by the kernel, never by byway. Bounded in time; skipped with a reason when
 * unprivileged or without curl.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { once } from 'node:events';
import { createStack, type Stack } from '../../src/index.js';
import { openAfXdp, type AfXdpDriver } from '../../drivers/af-xdp/index.js';
import { NetLab, describePrivileged, execIn, execInAsync, ipIn, toolProblem } from '../helpers/netns.js';
import { enableIpv6 } from './ipv6-lab.js';
import { ECHO_SERVER, payload, sha } from './udp6-echo.js';
import { curlGet, deterministicBytes, payload as webPayload, startBywayHttp } from '../conformance/tools.js';

/** node:dgram udp6 client in the peer's namespace: argv n, host, port; prints the echo's size and sha256. */
const ECHO_CLIENT = `
const [n, host, port] = process.argv.slice(1);
const b = Buffer.alloc(+n);
for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
const s = require('node:dgram').createSocket('udp6');
const t = setTimeout(() => { console.log('timeout'); process.exit(1); }, 5000);
s.on('message', (m) => { console.log(m.length, require('node:crypto').createHash('sha256').update(m).digest('hex')); clearTimeout(t); s.close(); });
s.send(b, +port, host);
`;

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const missing = toolProblem(['curl']);

describePrivileged('AF_XDP shared-address mode over IPv6, against the kernel', () => {
  if (missing !== undefined && process.env['BYWAY_REQUIRE_PRIVILEGED'] !== '1') {
    it.skip(`needs curl: ${missing}`, () => {});
    return;
  }
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  let driver: AfXdpDriver;
  let stack: Stack;
  beforeAll(() => {
    nsA = lab.addNetns();
    nsB = lab.addNetns();
    link = lab.addVeth(nsA, nsB);
    enableIpv6(nsA, link.a);
    enableIpv6(nsB, link.b);
    ipIn(nsA, `-6 addr add fd7c::1/64 dev ${link.a} nodad`);
    ipIn(nsB, `-6 addr add fd7c::2/64 dev ${link.b} nodad`);
    driver = openAfXdp({ ifname: link.a, netns: nsA, mode: 'shared', ipv6: true });
    stack = createStack({ driver });
  }, 20_000);
  afterAll(async () => {
    stack?.close();
    await lab.stopProcesses();
    lab.destroy();
  });

  it("takes the kernel's IPv6 addresses, with no link-local address, DAD or router solicitation of its own", async () => {
    await stack.ready();
    expect(stack.addresses).toContain('fd7c::1/64');
    const l = stack.core.ipv6!;
    expect(l.ndp.addresses.every((a) => a.origin === 'configured' && a.state === 'PREFERRED')).toBe(true);
    expect(stack.stats.ndp!.dadProbesSent).toBe(0);
    expect(l.autoconf).toBeUndefined();
  });

  it('byway sends to a kernel echo server on the peer: the kernel resolves the peer for byway; then byway pings it', async () => {
    ipIn(nsA, `-6 neigh flush dev ${link.a}`);
    const server = lab.spawnIn(nsB, process.execPath, ['-e', ECHO_SERVER, '7401']);
    await until("the peer's echo server", 5000, () => server.output().includes('ready'));
    const sock = stack.dgram.createSocket('udp6');
    sock.bind(0);
    await once(sock, 'listening');
    try {
      for (const n of [100, 1200]) {
        const got = new Promise<Buffer>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`no echo of ${n} bytes`)), 5000);
          sock.once('message', (m: Buffer) => {
            clearTimeout(t);
            resolve(m);
          });
        });
        sock.send(payload(n), 7401, 'fd7c::2');
        expect(sha(await got)).toBe(sha(payload(n)));
      }
    } finally {
      sock.close();
    }
    // The kernel did the solicitation: its table has the peer; byway asked it (counted) and learned the MAC.
    expect(ipIn(nsA, `-6 neigh show fd7c::2 dev ${link.a}`)).toContain('lladdr');
    expect(stack.core.ipv6!.ndp.neighbours.lookup(new Uint8Array([0xfd, 0x7c, ...new Array<number>(13).fill(0), 2]))?.mac).toEqual(lab.macOf(nsB, link.b));
    expect(driver.kernelTables!.stats.resolves).toBeGreaterThan(0);
    expect(stack.stats.ndp!.kernelResolves).toBeGreaterThan(0);
    expect(stack.stats.ndp!.solicitationsSent).toBe(0); // byway put none on the wire
    const r = await stack.ping('fd7c::2');
    expect(r.ttl).toBe(64);
  }, 20_000);

  it("follows the kernel's IPv6 routes: a route added in the kernel takes byway's datagrams through the peer (a router) to an off-link host; deleted, the destination is unreachable", async () => {
    // B forwards to C (fd7f::2) behind it; A's kernel learns the way only now, while byway runs.
    const nsC = lab.addNetns();
    const toC = lab.addVeth(nsB, nsC);
    enableIpv6(nsB, toC.a);
    enableIpv6(nsC, toC.b);
    execIn(nsB, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
    ipIn(nsB, `-6 addr add fd7f::1/64 dev ${toC.a} nodad`);
    ipIn(nsC, `-6 addr add fd7f::2/64 dev ${toC.b} nodad`);
    ipIn(nsC, '-6 route add default via fd7f::1');
    const server = lab.spawnIn(nsC, process.execPath, ['-e', ECHO_SERVER, '7403']);
    await until("the off-link host's echo server", 5000, () => server.output().includes('ready'));
    // byway's ping of the off-link host: 'ok', or the error's code. The route reaches byway at its next drain of
    // the netlink socket (every 100 ms at most), so wait for the answer to change, ping by ping.
    const reach = (): Promise<string> => stack.ping('fd7f::2', { timeoutMs: 1000 }).then(() => 'ok', (e: { code: string }) => e.code);
    const reachBecomes = async (want: string): Promise<void> => {
      for (let i = 0; i < 40 && (await reach()) !== want; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await reach()).toBe(want);
    };
    expect(await reach()).toBe('ENETUNREACH');
    ipIn(nsA, `-6 route add fd7f::/64 via fd7c::2 dev ${link.a}`);
    await reachBecomes('ok');
    const sock = stack.dgram.createSocket('udp6');
    sock.bind(0);
    await once(sock, 'listening');
    try {
      const got = new Promise<Buffer>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no echo from the off-link host')), 5000);
        sock.once('message', (m: Buffer) => {
          clearTimeout(t);
          resolve(m);
        });
      });
      sock.send(payload(300), 7403, 'fd7f::2');
      expect(sha(await got)).toBe(sha(payload(300)));
    } finally {
      sock.close();
    }
    ipIn(nsA, `-6 route del fd7f::/64 via fd7c::2 dev ${link.a}`);
    await reachBecomes('ENETUNREACH');
  }, 20_000);

  it('a kernel udp6 client on the peer gets its datagrams echoed by byway', async () => {
    const srv = stack.dgram.createSocket('udp6');
    srv.on('message', (m, r) => srv.send(m, r.port, r.address));
    srv.bind(7402);
    await once(srv, 'listening');
    try {
      for (const n of [64, 1400]) {
        const out = await execInAsync(nsB, process.execPath, ['-e', ECHO_CLIENT, String(n), 'fd7c::1', '7402'], { timeoutMs: 8000 });
        expect(out.stdout.trim()).toBe(`${n} ${sha(payload(n))}`);
      }
    } finally {
      srv.close();
    }
    expect(stack.stats.udp6!.rx).toBeGreaterThanOrEqual(2);
  }, 20_000);

  it('`curl -6` from the peer fetches 1 MiB from node:http on byway; `ping -6` is answered by the kernel, not byway', async () => {
    const body = webPayload('one', deterministicBytes(1 << 20, 0x1806));
    const tcpIn = stack.stats.ipv6!.tcpIn;
    const server = await startBywayHttp(stack, '::', 8080, [body]);
    try {
      const t = await curlGet(nsB, 'http://[fd7c::1]:8080/one', 30_000, '-6 -g');
      expect(t.status).toBe(200);
      expect(t.sha256).toBe(body.sha256);
    } finally {
      server.close();
    }
    expect(stack.stats.ipv6!.tcpIn - tcpIn).toBeGreaterThan(20);
    const echoes = stack.stats.icmpv6!.echoRequests;
    const out = await execInAsync(nsB, 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd7c::1'], { timeoutMs: 8000 });
    expect(out.stdout).toMatch(/3 packets transmitted, 3 received/);
    expect(out.stdout).not.toMatch(/DUP!/);
    expect(stack.stats.icmpv6!.echoRequests).toBe(echoes);
  }, 40_000);
});
