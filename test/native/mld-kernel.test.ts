/**
 * MLD against the kernel: byway on a TAP port of a Linux bridge with multicast snooping on (and the bridge as MLDv2
 * querier), in a namespace of the test's own. The bridge's multicast database (`bridge mdb show`) must learn from
 * byway's reports its solicited-node group and a group a udp6 socket joins, and forget the latter after the
 * socket drops it; the bridge's queries are answered (stats.mld). Bounded in time; skipped with a reason without
 * privileges (a failure under BYWAY_REQUIRE_PRIVILEGED=1).
 */
import { afterAll, expect, it } from 'vitest';
import { once } from 'node:events';
import { createStack } from '../../src/index.js';
import { openTap } from '../../drivers/tap/index.js';
import { NetLab, describePrivileged, execIn, ipIn, uniqueName, until } from '../helpers/netns.js';

describePrivileged('MLD against a Linux bridge with multicast snooping', () => {
  const lab = new NetLab();
  afterAll(() => lab.destroy());

  it('the bridge learns byway\'s groups from its reports (solicited-node, a socket\'s group) and forgets a dropped one', async () => {
    const ns = lab.addNetns();
    const br = uniqueName('bwbr');
    ipIn(ns, `link add ${br} type bridge mcast_snooping 1 mcast_querier 1 mcast_mld_version 2 mcast_startup_query_interval 100`);
    // The querier needs a link-local address on the bridge (queries come from it).
    execIn(ns, 'sysctl', ['-qw', `net.ipv6.conf.${br}.accept_dad=0`]);
    execIn(ns, 'sysctl', ['-qw', `net.ipv6.conf.${br}.disable_ipv6=0`]);
    ipIn(ns, `link set ${br} up`);
    const driver = openTap({ name: uniqueName('bwm'), netns: ns });
    const tap = (driver as { ifname: string }).ifname;
    ipIn(ns, `link set ${tap} master ${br} up`);
    const mdb = (): string => execIn(ns, 'bridge', ['mdb', 'show', 'dev', br]);
    const stack = createStack({ driver, address: 'fd00:77::2/64' });
    try {
      await stack.ready();
      await until('the solicited-node group of fd00:77::2 in the bridge mdb', 10_000, () => new RegExp(`port ${tap} grp ff02::1:ff00:2\\b`).test(mdb()));
      const sock = stack.dgram.createSocket('udp6');
      sock.bind(7777);
      await once(sock, 'listening');
      sock.addMembership('ff15::4242');
      await until('ff15::4242 in the bridge mdb', 10_000, () => new RegExp(`port ${tap} grp ff15::4242\\b`).test(mdb()));
      // The bridge, querier, sends general queries; byway answers them (Current State Reports).
      try {
        await until('a query from the bridge', 10_000, () => (stack.stats.mld?.queriesReceived ?? 0) > 0);
      } catch (e) {
        console.log(ipIn(ns, `-6 addr show dev ${br}`), JSON.stringify({ mld: stack.stats.mld, icmp: stack.stats.icmpv6, ip: stack.stats.ipv6 }), execIn(ns, 'ip', ['-d', '-s', 'link', 'show', br]));
        throw e;
      }
      expect(stack.stats.mld!.invalid).toBe(0);
      sock.dropMembership('ff15::4242');
      await until('ff15::4242 gone from the bridge mdb', 15_000, () => !/grp ff15::4242\b/.test(mdb()));
      expect(mdb()).toMatch(new RegExp(`grp ff02::1:ff00:2\\b`)); // the address's group stays
      sock.close();
    } finally {
      stack.close();
    }
  }, 60_000);
});
