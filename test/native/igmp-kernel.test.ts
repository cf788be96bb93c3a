/**
 * IPv4 multicast against the kernel, in namespaces of the test's own (bounded; skipped with a reason without
 * privileges, a failure under BYWAY_REQUIRE_PRIVILEGED=1):
 * (a) byway on AF_PACKET at one end of a veth pair, the kernel at the other: a node:dgram sender in the kernel's
 *     namespace sends to 239.1.2.3 and byway's joined socket receives it; `ip maddr show` on byway's device lists
 *     01:00:5e:01:02:03 while joined (PACKET_ADD_MEMBERSHIP) and not after; byway sends to a group a kernel socket
 *     joined, and it receives.
 * (b) through a Linux bridge with multicast snooping and the IGMPv3 querier on (short query and membership
 *     intervals): the bridge's mdb learns byway's group from its reports, keeps it past the membership interval
 *     because byway answers the queries (the group's datagrams reach byway meanwhile), and forgets it after the
 *     leave. Not shown: that the bridge forwards the group only because of the report. With mcast_flood off on
 *     byway's port, this kernel (6.18) forwarded the group to no member at all, a kernel socket's included.
 */
import { afterAll, expect, it } from 'vitest';
import { once } from 'node:events';
import { createStack, type Stack } from '../../src/index.js';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { NetLab, describePrivileged, execIn, ipIn, uniqueName, until } from '../helpers/netns.js';

/** A node:dgram sender in `ns`: one datagram to group:port from `iface` every 100 ms, n of them. */
const SENDER = (group: string, port: number, iface: string, n: number): string =>
  `const s=require('dgram').createSocket('udp4');s.bind(0,()=>{s.setMulticastInterface('${iface}');let i=0;const t=setInterval(()=>{s.send('k'+i,${port},'${group}');if(++i>=${n}){clearInterval(t);setTimeout(()=>s.close(),50)}},100)})`;

/** A node:dgram receiver in `ns` joined to group on `iface`: prints each message, exits after `ms`. */
const RECEIVER = (group: string, port: number, iface: string, ms: number): string =>
  `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>console.log(r.address,String(m)));s.bind(${port},()=>{s.addMembership('${group}','${iface}');console.log('ready')});setTimeout(()=>s.close(),${ms})`;

describePrivileged('IPv4 multicast against the kernel', () => {
  const lab = new NetLab();
  afterAll(async () => {
    await lab.stopProcesses();
    lab.destroy();
  });

  it('(a) veth: a kernel sender reaches byway\'s member (the device joins the MAC); byway reaches a kernel member', async () => {
    const nsA = lab.addNetns();
    const nsB = lab.addNetns();
    const link = lab.addVeth(nsA, nsB, { addrB: '10.77.30.1/24' });
    const stack: Stack = createStack({ driver: openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.30.2' }), address: '10.77.30.2/24' });
    try {
      await stack.ready();
      const maddr = (): string => execIn(nsA, 'ip', ['maddr', 'show', 'dev', link.a]);
      const sock = stack.dgram.createSocket('udp4');
      const got: string[] = [];
      sock.on('message', (m, r) => got.push(`${r.address} ${String(m)}`));
      sock.bind(5000);
      await once(sock, 'listening');
      expect(maddr()).not.toMatch(/01:00:5e:01:02:03/);
      sock.addMembership('239.1.2.3');
      await until('01:00:5e:01:02:03 in ip maddr', 5000, () => /link\s+01:00:5e:01:02:03/.test(maddr()));
      const sender = lab.spawnIn(nsB, 'node', ['-e', SENDER('239.1.2.3', 5000, '10.77.30.1', 10)]);
      const senderExit = once(sender, 'exit');
      await until('a datagram from the kernel', 10_000, () => got.length > 0);
      expect(got[0]).toMatch(/^10\.77\.30\.1 k\d$/);
      await senderExit;
      sock.dropMembership('239.1.2.3');
      await until('01:00:5e:01:02:03 gone from ip maddr', 5000, () => !/01:00:5e:01:02:03/.test(maddr()));
      // byway sends to a group a kernel socket joined.
      const receiver = lab.spawnIn(nsB, 'node', ['-e', RECEIVER('239.1.2.4', 6000, '10.77.30.1', 8000)]);
      await until('the kernel receiver ready', 5000, () => receiver.output().includes('ready'));
      const tx = stack.dgram.createSocket('udp4');
      tx.bind(0);
      await once(tx, 'listening');
      for (let i = 0; i < 20 && !receiver.output().includes('10.77.30.2 b'); i++) {
        tx.send(`b${i}`, 6000, '239.1.2.4');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(receiver.output()).toMatch(/10\.77\.30\.2 b\d+/);
      tx.close();
      sock.close();
    } finally {
      stack.close();
    }
  }, 40_000);

  it('(b) a snooping bridge (IGMPv3 querier) learns byway\'s group from its reports, keeps it across queries, forgets it after the leave', async () => {
    const nsBr = lab.addNetns();
    const nsBw = lab.addNetns();
    const nsK = lab.addNetns();
    const br = uniqueName('bwbr');
    // Intervals in centiseconds: queries every 1 s, a membership lapses after 3 s without a report.
    ipIn(
      nsBr,
      `link add ${br} type bridge mcast_snooping 1 mcast_querier 1 mcast_igmp_version 3 mcast_query_interval 100 mcast_query_response_interval 50 mcast_membership_interval 300 mcast_startup_query_interval 100 mcast_last_member_interval 20 mcast_query_use_ifaddr 1`,
    );
    ipIn(nsBr, `addr add 10.77.31.254/24 dev ${br}`);
    ipIn(nsBr, `link set ${br} up`);
    const toBw = lab.addVeth(nsBr, nsBw);
    const toK = lab.addVeth(nsBr, nsK, { addrB: '10.77.31.1/24' });
    ipIn(nsBr, `link set ${toBw.a} master ${br}`);
    ipIn(nsBr, `link set ${toK.a} master ${br}`);
    const mdb = (): string => execIn(nsBr, 'bridge', ['mdb', 'show', 'dev', br]);
    const member = new RegExp(`port ${toBw.a} grp 239\\.7\\.7\\.7\\b`);
    const stack: Stack = createStack({ driver: openAfPacket({ ifname: toBw.b, netns: nsBw, ipv4: '10.77.31.2' }), address: '10.77.31.2/24' });
    try {
      await stack.ready();
      const sock = stack.dgram.createSocket('udp4');
      const got: string[] = [];
      sock.on('message', (m) => got.push(String(m)));
      sock.bind(5001);
      await once(sock, 'listening');
      expect(mdb()).not.toMatch(member);
      sock.addMembership('239.7.7.7');
      await until('239.7.7.7 on byway\'s port in the bridge mdb', 5000, () => member.test(mdb()));
      // Past the membership interval, over several queries: the entry stays because byway answers them, and the
      // group's datagrams from the kernel's port reach byway.
      const during = lab.spawnIn(nsK, 'node', ['-e', SENDER('239.7.7.7', 5001, '10.77.31.1', 50)]);
      const duringExit = once(during, 'exit');
      await new Promise((r) => setTimeout(r, 5500));
      expect(stack.stats.igmp!.queriesReceived).toBeGreaterThan(2);
      expect(stack.stats.igmp!.reportsSent).toBeGreaterThan(4);
      expect(mdb()).toMatch(member);
      await duringExit;
      expect(got.length).toBeGreaterThan(40);
      sock.dropMembership('239.7.7.7');
      await until('239.7.7.7 gone from the bridge mdb', 8000, () => !member.test(mdb()));
      sock.close();
    } finally {
      stack.close();
    }
  }, 60_000);
});
