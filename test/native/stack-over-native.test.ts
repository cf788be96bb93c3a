/**
 * The whole stack (createStack) over each native driver against the Linux kernel: byway pings the kernel and
 * receives a UDP datagram the kernel sends (`bash` /dev/udp). The stack itself is tested elsewhere; this checks
 * that the drivers carry it: readiness wakes the poll loop, views and transmit buffers work with the stack's code.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStack } from '../../src/index.js';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { openAfXdp } from '../../drivers/af-xdp/index.js';
import { openTap } from '../../drivers/tap/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { NetLab, describePrivileged, execIn, ipIn, uniqueName } from '../helpers/netns.js';

describePrivileged('the stack over native drivers', () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  beforeAll(() => {
    nsA = lab.addNetns();
    nsB = lab.addNetns();
    link = lab.addVeth(nsA, nsB, { addrB: '10.77.14.1/24' });
  });
  afterAll(() => lab.destroy());

  const cases: [string, () => { driver: FrameDriver; me: string; peer: string; peerNs: string }][] = [
    [
      'TAP',
      () => {
        const driver = openTap({ name: uniqueName('bwk'), netns: nsA });
        ipIn(nsA, `addr add 10.77.15.1/24 dev ${(driver as { ifname: string }).ifname}`);
        return { driver, me: '10.77.15.2', peer: '10.77.15.1', peerNs: nsA };
      },
    ],
    ['AF_PACKET', () => ({ driver: openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.14.2', tpacketVersion: 2 }), me: '10.77.14.2', peer: '10.77.14.1', peerNs: nsB })],
    ['AF_XDP', () => ({ driver: openAfXdp({ ifname: link.a, netns: nsA, ipv4: '10.77.14.3' }), me: '10.77.14.3', peer: '10.77.14.1', peerNs: nsB })],
  ];

  for (const [name, make] of cases) {
    it(`${name}: ping the kernel and receive its UDP datagram`, async () => {
      const { driver, me, peer, peerNs } = make();
      const stack = createStack({ driver, address: `${me}/24` });
      try {
        const reply = await stack.ping(peer, { timeoutMs: 3000 });
        expect(reply.from).toBe(peer);
        const sock = stack.dgram.createSocket('udp4');
        const got = new Promise<string>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no datagram')), 3000);
          sock.on('message', (msg: Uint8Array) => {
            clearTimeout(t);
            resolve(new TextDecoder().decode(msg));
          });
        });
        await new Promise<void>((resolve) => sock.bind(5353, () => resolve()));
        execIn(peerNs, 'bash', ['-c', `printf 'from-kernel' > /dev/udp/${me}/5353`]);
        expect(await got).toBe('from-kernel');
        sock.close();
      } finally {
        await stack.close();
      }
    });
  }
});
