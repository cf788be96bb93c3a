/**
 * SLAAC against the kernel (issue #18), over TAP, AF_PACKET and AF_XDP (own-address mode), in namespaces this test creates: a Linux router
 * namespace (forwarding on, fd77:30::1/64 towards byway, fd77:31::1/64 towards a host namespace) and the test's own
 * router advertisement, crafted with byway's codecs and sent from the router's interface through an AF_PACKET
 * socket opened in the router's namespace (from the router's link-local address and MAC: the kernel there is the
 * router byway then uses). byway forms its RFC 7217 address in fd77:30::/64 with DAD, the kernel `ping -6`s it,
 * and a UDP echo crosses the router to the host namespace (off-link) and back, through byway's default router,
 * fragmented at the RA's MTU on the way out. Bounded in time; skipped with a reason when unprivileged.
 *
 * Over AF_XDP the driver is opened with `ipv6: true` and no address: its program redirects the RA (to all-nodes),
 * and the stack hands it each address it forms (`addressSteering`), so the router's solicitations for the SLAAC
 * address, its echo requests and the echoed datagrams reach byway; the kernel of byway's namespace has IPv6 off,
 * so byway keeps the link-local address of the interface's MAC.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { createStack, type Stack } from '../../src/index.js';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { openTap } from '../../drivers/tap/index.js';
import { openAfXdp } from '../../drivers/af-xdp/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { formatIpv6, parseIpv6, withInterfaceId } from '../../protocols/ipv6/address.js';
import { stableInterfaceId } from '../../protocols/ipv6/stable-iid.js';
import { defaultStableSecret, sha256 } from '../../src/runtime/slaac-secret.js';
import { NetLab, describePrivileged, execIn, execInAsync, ipIn, uniqueName } from '../helpers/netns.js';
import { prefixInfo, raFrame, routerLla } from '../ipv6/autoconf-helpers.js';
import { ECHO_SERVER, payload, sha } from './udp6-echo.js';

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Send one frame out of `dev` in `ns` through an AF_PACKET socket of the test's own. */
function sendFrom(ns: string, dev: string, frame: Uint8Array): void {
  const d = openAfPacket({ ifname: dev, netns: ns });
  try {
    const b = d.txReserve(frame.length);
    if (b === null) throw new Error('no transmit buffer');
    b.set(frame);
    d.txCommit(0, frame.length);
    d.flush(0);
  } finally {
    d.close();
  }
}

describePrivileged('SLAAC from a router advertisement, against the kernel', () => {
  const lab = new NetLab();
  afterAll(async () => {
    await lab.stopProcesses();
    lab.destroy();
  });

  const cases: [string, (nsR: string) => { driver: FrameDriver; routerDev: string }][] = [
    [
      'TAP',
      (nsR) => {
        const driver = openTap({ name: uniqueName('bws'), netns: nsR });
        return { driver, routerDev: (driver as { ifname: string }).ifname };
      },
    ],
    [
      'AF_PACKET',
      (nsR) => {
        const nsA = lab.addNetns();
        const link = lab.addVeth(nsA, nsR);
        return { driver: openAfPacket({ ifname: link.a, netns: nsA }), routerDev: link.b };
      },
    ],
    [
      'AF_XDP',
      (nsR) => {
        const nsA = lab.addNetns();
        const link = lab.addVeth(nsA, nsR);
        return { driver: openAfXdp({ ifname: link.a, netns: nsA, ipv6: true }), routerDev: link.b };
      },
    ],
  ];

  for (const [i, [name, make]] of cases.entries()) {
    describe(name, () => {
      it('forms an RFC 7217 address by SLAAC, answers ping -6 on it, and reaches an off-link host through the router', async () => {
        // byway -- routerDev [router namespace, forwarding] veth -- host namespace (fd77:31::2, off-link)
        const nsR = lab.addNetns();
        const nsH = lab.addNetns();
        const { driver, routerDev } = make(nsR);
        const toHost = lab.addVeth(nsR, nsH);
        for (const [ns, dev] of [[nsR, routerDev], [nsR, toHost.a], [nsH, toHost.b]] as const) {
          execIn(ns, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.accept_dad=0`]);
          execIn(ns, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.disable_ipv6=0`]);
        }
        execIn(nsR, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
        ipIn(nsR, `-6 addr add fd77:30::1/64 dev ${routerDev} nodad`);
        ipIn(nsR, `-6 addr add fd77:31::1/64 dev ${toHost.a} nodad`);
        ipIn(nsH, `-6 addr add fd77:31::2/64 dev ${toHost.b} nodad`);
        ipIn(nsH, '-6 route add default via fd77:31::1');
        const echoPort = 7300 + i;
        const server = lab.spawnIn(nsH, process.execPath, ['-e', ECHO_SERVER, String(echoPort)]);
        const routerMac = lab.macOf(nsR, routerDev);
        const ll = /inet6 (fe80::[0-9a-f:]+)\/64/.exec(ipIn(nsR, `-6 addr show dev ${routerDev} scope link`));
        expect(ll, 'the router interface has a link-local address').not.toBeNull();
        const routerLl = parseIpv6(ll![1]!)!;

        const stack: Stack = createStack({ driver, ipv6: true });
        try {
          await stack.ready(); // the link-local address (DAD against the kernel)
          // The RA: router lifetime 600 s, MTU 1400, prefix fd77:30::/64 (on-link, autonomous), from the router's
          // link-local address and MAC, to all-nodes.
          sendFrom(nsR, routerDev, raFrame([routerLla(routerMac), { kind: 'mtu', mtu: 1400 }, prefixInfo('fd77:30::', 3600, 1800)], 600, {}, routerLl, routerMac));
          const l = stack.core.ipv6!;
          await until('a SLAAC address in fd77:30::/64', 3000, () => l.ndp.addresses.some((a) => a.origin === 'slaac'));
          await stack.ready(); // its DAD
          const mine = l.ndp.addresses.find((a) => a.origin === 'slaac')!;
          expect(mine.state).toBe('PREFERRED');
          // RFC 7217 over SHA-256 with this host's secret (from /etc/machine-id), not the MAC's EUI-64.
          const mac = stack.core.mac;
          const iid = stableInterfaceId(sha256, {
            prefix: parseIpv6('fd77:30::')!,
            netIface: Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':'),
            dadCounter: 0,
            secretKey: Buffer.from(defaultStableSecret(), 'hex'),
          })!.iid;
          const me = formatIpv6(mine.address);
          expect(me).toBe(formatIpv6(withInterfaceId(parseIpv6('fd77:30::')!, iid)));
          expect(stack.addresses).toContain(`${me}/64 dynamic`);
          expect(stack.stats.autoconf!.advertisements).toBe(1);
          expect(l.mtuFor(parseIpv6('fd77:31::2')!)).toBe(1400);

          // The kernel router reaches byway's new address (on-link for it): NDP, then echo.
          const out = await execInAsync(nsR, 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', me], { timeoutMs: 8000 });
          expect(out.stdout).toMatch(/3 packets transmitted, 3 received/);
          const macText = Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
          expect(ipIn(nsR, `-6 neigh show ${me} dev ${routerDev}`)).toContain(`lladdr ${macText}`);

          // UDP to the off-link host through the default router, and back; 2000 bytes leave in fragments of
          // at most the RA's 1400.
          await until("the host's echo server", 5000, () => server.output().includes('ready'));
          const sock = stack.dgram.createSocket('udp6');
          sock.bind(0);
          await once(sock, 'listening');
          for (const n of [100, 2000]) {
            const fragmentsBefore = stack.stats.ipv6!.fragmentsSent;
            const got = new Promise<[Buffer, { address: string }]>((resolve, reject) => {
              const t = setTimeout(() => reject(new Error(`no echo of ${n} bytes through the router`)), 4000);
              sock.once('message', (m: Buffer, r: { address: string }) => {
                clearTimeout(t);
                resolve([m, r]);
              });
            });
            sock.send(payload(n), echoPort, 'fd77:31::2');
            const [m, r] = await got;
            expect(sha(m)).toBe(sha(payload(n)));
            expect(r.address).toBe('fd77:31::2');
            expect(stack.stats.ipv6!.fragmentsSent - fragmentsBefore).toBe(n > 1400 ? 2 : 0);
          }
          sock.close();
          // The router's link-local was the next hop (learned from the RA's source link-layer option).
          expect(l.ndp.neighbours.lookup(routerLl)).toMatchObject({ mac: routerMac, isRouter: true });
        } finally {
          stack.close();
        }
      }, 25_000);
    });
  }
});
