/**
 * TCP over IPv6 between byway and the Linux kernel, over TAP, AF_PACKET and AF_XDP (own-address mode), in
 * namespaces this test creates (IPv6 on only there): a kernel `curl -6` fetching 100 MiB from a node:http server
 * on byway (byway sends), and byway's node:http client fetching 100 MiB from nginx listening on IPv6 in the kernel
 * (the kernel sends), each SHA-256 checked; TAP and AF_PACKET also with `tso` (GSO_TCPV6 in the virtio-net header:
 * byway's 64 KiB packets cut by the kernel, the kernel's taken whole). Bounded in time;
 * skipped with a reason when unprivileged or without curl/nginx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type Stack } from '../../src/index.js';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { openTap } from '../../drivers/tap/index.js';
import { openAfXdp } from '../../drivers/af-xdp/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { NetLab, describePrivileged, ipIn, toolProblem, uniqueName } from '../helpers/netns.js';
import { enableIpv6, routedIpv6 } from './ipv6-lab.js';
import { bywayHttpGet, curlGet, deterministicBytes, payload, startBywayHttp, startNginx, webRoot } from '../conformance/tools.js';

const SIZE = 100 * 1024 * 1024;
const DEADLINE_MS = 120_000;


const missing = toolProblem(['curl', 'nginx']);

describePrivileged('TCP over IPv6 between byway and the kernel, 100 MiB each way', () => {
  if (missing !== undefined && process.env['BYWAY_REQUIRE_PRIVILEGED'] !== '1') {
    it.skip(`needs curl and nginx: ${missing}`, () => {});
    return;
  }
  const lab = new NetLab();
  const big = payload('big', deterministicBytes(SIZE, 0x1806));
  let root: ReturnType<typeof webRoot>;
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  let nsC = '';
  let nsD = '';
  let gsoLink = { a: '', b: '' };
  beforeAll(() => {
    expect(missing).toBeUndefined();
    root = webRoot([big]);
    nsA = lab.addNetns();
    nsB = lab.addNetns();
    link = lab.addVeth(nsA, nsB);
    enableIpv6(nsB, link.b);
    ipIn(nsB, `-6 addr add fd79:14::1/64 dev ${link.b} nodad`);
    // A veth with its default offloads (TSO, tx checksums) for AF_PACKET with tso: the kernel's TCP then sends
    // 64 KiB GSO packets with partial checksums, as it does to a local peer.
    nsC = lab.addNetns();
    nsD = lab.addNetns();
    gsoLink = lab.addVeth(nsC, nsD, { txChecksumOffload: true });
    enableIpv6(nsD, gsoLink.b);
    ipIn(nsD, `-6 addr add fd79:17::1/64 dev ${gsoLink.b} nodad`);
  }, 30_000);
  afterAll(async () => {
    await lab.stopProcesses();
    lab.destroy();
    root?.remove();
  });

  /** `tso`: the driver's virtio-net header carries GSO_TCPV6 both ways (TSO out, the kernel's 64 KiB packets in). */
  type Env = { driver: FrameDriver; me: string; peer: string; peerNs: string; linkLocal?: boolean; tso?: boolean };
  const tap = (tso: boolean, net: number): Env => {
    const driver = openTap({ name: uniqueName('bw6'), netns: nsA, tso });
    const dev = (driver as { ifname: string }).ifname;
    enableIpv6(nsA, dev);
    ipIn(nsA, `-6 addr add fd79:${net}::1/64 dev ${dev} nodad`);
    return { driver, me: `fd79:${net}::2`, peer: `fd79:${net}::1`, peerNs: nsA, tso };
  };
  const cases: [string, () => Env][] = [
    ['TAP', () => tap(false, 15)],
    ['TAP with tso', () => tap(true, 16)],
    ['AF_PACKET', () => ({ driver: openAfPacket({ ifname: link.a, netns: nsA }), me: 'fd79:14::2', peer: 'fd79:14::1', peerNs: nsB })],
    ['AF_PACKET with tso', () => ({ driver: openAfPacket({ ifname: gsoLink.a, netns: nsC, tso: true }), me: 'fd79:17::2', peer: 'fd79:17::1', peerNs: nsD, tso: true })],
    ['AF_XDP', () => ({ driver: openAfXdp({ ifname: link.a, netns: nsA, ipv6: 'fd79:14::3' }), me: 'fd79:14::3', peer: 'fd79:14::1', peerNs: nsB, linkLocal: false })],
  ];

  for (const [i, [name, make]] of cases.entries()) {
    describe(name, () => {
      let stack: Stack;
      let env: Env;
      beforeAll(async () => {
        env = make();
        stack = createStack({ driver: env.driver, address: `${env.me}/64`, ipv6: { linkLocal: env.linkLocal ?? true } });
        await stack.ready();
      }, 15_000);
      afterAll(() => stack?.close());

      it('a kernel `curl -6` fetches 100 MiB from node:http on byway, SHA-256 exact', async () => {
        const port = 8060 + i;
        const server = await startBywayHttp(stack, '::', port, [big]);
        try {
          const t = await curlGet(env.peerNs, `http://[${env.me}]:${port}/big`, DEADLINE_MS, '-6 -g');
          expect(t.status).toBe(200);
          expect(t.bytes).toBe(SIZE);
          expect(t.sha256).toBe(big.sha256);
          console.log(`${name}: curl -6 from byway: ${((SIZE * 8) / t.ms / 1e6).toFixed(2)} Gbit/s`);
        } finally {
          server.close();
        }
        const st = stack.stats.ipv6!;
        if (env.tso) {
          // 64 KiB packets the kernel cut (GSO_TCPV6): far fewer sends than MSS-sized segments.
          expect(st.tsoPackets).toBeGreaterThan(SIZE / 65536 / 2);
          expect(st.tx).toBeLessThan(SIZE / 1440 / 2);
        } else {
          // No TSO: the stack's software GSO cut its packets, and each segment went to the driver alone.
          expect(st.gsoPackets).toBeGreaterThan(SIZE / 65536 / 2);
          expect(st.tx).toBeGreaterThan(SIZE / 1440);
        }
        expect(st.tcpOut).toBeGreaterThan(SIZE / 1440); // segments on the wire, either way
        expect(st.tcpBadChecksum).toBe(0);
      }, DEADLINE_MS + 10_000);

      it('byway fetches 100 MiB from nginx on IPv6 in the kernel, SHA-256 exact', async () => {
        const port = 8070 + i;
        await startNginx(lab, env.peerNs, root.dir, `[${env.peer}]`, port);
        const t = await bywayHttpGet(stack, env.peer, port, '/big', DEADLINE_MS);
        expect(t.status).toBe(200);
        expect(t.bytes).toBe(SIZE);
        expect(t.sha256).toBe(big.sha256);
        console.log(`${name}: byway from nginx: ${((SIZE * 8) / t.ms / 1e6).toFixed(2)} Gbit/s`);
        expect(stack.stats.ipv6!.tcpIn).toBeGreaterThan(SIZE / 65536);
        // With tso the kernel hands its GSO packets over whole (on AF_PACKET it does even without): on average
        // more than two MSS per packet, so well under one packet per 2880 bytes.
        if (env.tso) expect(stack.stats.ipv6!.tcpIn).toBeLessThan(SIZE / 2880);
        expect(stack.stats.ipv6!.tcpBadChecksum).toBe(0);
      }, DEADLINE_MS + 10_000);
    });
  }
});

describePrivileged('TCP over IPv6: a Packet Too Big from a Linux router lowers the connection MSS', () => {
  const lab = new NetLab();
  afterAll(async () => {
    await lab.stopProcesses();
    lab.destroy();
  });

  it('curl -6 behind a 1280-byte link fetches 10 MiB from byway: the router\'s Packet Too Big lowers the connection MSS (tcp.pmtuUpdates) and the path MTU to 1280', async () => {
    expect(missing).toBeUndefined();
    // byway -- TAP (MTU 1500) -- router namespace (forwarding) -- veth: 1280 on the router's end, 1500 on the
    // client's, so the client announces MSS 1440 and only the router knows better.
    const { driver, nsPeer: nsC } = routedIpv6(lab, 'fd7a:1', 'fd7a:2', { routerMtu: 1280, peerMtu: 1500 });
    const stack = createStack({ driver, address: 'fd7a:1::2/64', gateway: 'fd7a:1::1' });
    const data = payload('ten', deterministicBytes(10 * 1024 * 1024, 0x8201));
    try {
      await stack.ready();
      const server = await startBywayHttp(stack, '::', 8090, [data]);
      try {
        const t = await curlGet(nsC, 'http://[fd7a:1::2]:8090/ten', 60_000, '-6 -g');
        expect(t.status).toBe(200);
        expect(t.sha256).toBe(data.sha256);
      } finally {
        server.close();
      }
      expect(stack.stats.icmpv6!.packetTooBig).toBeGreaterThanOrEqual(1);
      expect(stack.stats.tcp!.pmtuUpdates).toBeGreaterThanOrEqual(1);
      expect(stack.core.ipv6!.mtuFor(new Uint8Array([0xfd, 0x7a, 0, 2, ...new Array<number>(11).fill(0), 2]))).toBe(1280);
    } finally {
      stack.close();
    }
  }, 90_000);
});
