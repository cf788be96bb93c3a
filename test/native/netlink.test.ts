/**
 * Kernel tables over netlink (drivers/netlink) and kernel port reservation, against the real kernel in two
 * namespaces joined by a veth pair (A: 10.77.91.1/24 and 10.77.92.1/24, B: 10.77.91.2/24), plus the AF_XDP
 * driver's shared-mode capabilities (`flows`, `hostTables`) built on them.
 *
 * The parser property (random bytes never throw) and the request encoder need no privileges.
 * ARP timing in A is shortened (retrans_time_ms 100, mcast_solicit 2) so a dead address fails in ~0.3 s, not 3 s.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAfXdp, type AfXdpDriver } from '../../drivers/af-xdp/index.js';
import { loadNative, type NativeAddon } from '../../drivers/native/index.js';
import { KernelTables } from '../../drivers/netlink/index.js';
import {
  NLMSG_HDRLEN,
  NTF_USE,
  RTM_NEWNEIGH,
  forEachAttr,
  forEachMessage,
  emitNeighUse,
  newParseStats,
  parseAddr,
  parseError,
  parseLink,
  parseNeigh,
  parseRoute,
  parseAddr6,
  parseNeigh6,
  emitNeighUse6,
  NEIGH_USE_LEN,
  NEIGH_USE6_LEN,
} from '../../drivers/netlink/wire.js';
import type { HostRoute } from '../../drivers/types.js';
import { formatIpv4, parseIpv4 } from '../../protocols/ipv4/address.js';
import { NetLab, describePrivileged, execIn, ipIn } from '../helpers/netns.js';

const ip = (s: string): number => parseIpv4(s)!;
const mac = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

describe('rtnetlink wire codec', () => {
  it('never throws on random bytes, framed or not, and every parser returns undefined or a repr', () => {
    // A datagram of well-framed messages with random types and random payloads, or plain random bytes.
    const framed = fc
      .array(fc.record({ type: fc.integer({ min: 0, max: 40 }), flags: fc.integer({ min: 0, max: 0xffff }), payload: fc.uint8Array({ maxLength: 80 }) }), { maxLength: 6 })
      .map((msgs) => {
        const out: number[] = [];
        for (const m of msgs) {
          const len = NLMSG_HDRLEN + m.payload.length;
          const h = new Uint8Array(NLMSG_HDRLEN);
          new DataView(h.buffer).setUint32(0, len, true);
          new DataView(h.buffer).setUint16(4, m.type, true);
          new DataView(h.buffer).setUint16(6, m.flags, true);
          out.push(...h, ...m.payload);
          while (out.length % 4) out.push(0);
        }
        return new Uint8Array(out);
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), framed), fc.nat(300), (buf, cut) => {
        const stats = newParseStats();
        for (const b of [buf, buf.subarray(0, cut)]) {
          forEachMessage(b, stats, (m) => {
            parseAddr(m.payload, stats);
            parseRoute(m.payload, stats);
            parseNeigh(m.payload, stats);
            parseAddr6(m.payload, stats);
            parseNeigh6(m.payload, stats);
            parseLink(m.payload, stats);
            parseError(m.payload, stats);
            forEachAttr(m.payload, 0, stats, () => {});
          });
        }
        expect(stats.malformedMessages).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('counts a header whose length runs past the datagram, and stops there', () => {
    const b = new Uint8Array(20);
    new DataView(b.buffer).setUint32(0, 64, true);
    const stats = newParseStats();
    let n = 0;
    expect(forEachMessage(b, stats, () => n++)).toBe(0);
    expect(n).toBe(0);
    expect(stats.malformedMessages).toBe(1);
  });

  it('encodes the NTF_USE neighbour request so that it parses back', () => {
    const buf = new Uint8Array(NEIGH_USE_LEN);
    const len = emitNeighUse(ip('10.1.2.3'), 7, 42, buf);
    const stats = newParseStats();
    const seen: { type: number; seq: number; ip?: number; ifindex: number; flags: number }[] = [];
    forEachMessage(buf.subarray(0, len), stats, (m) => {
      const n = parseNeigh(m.payload, stats)!;
      seen.push({ type: m.type, seq: m.seq, ip: n.destination, ifindex: n.ifindex, flags: n.flags });
    });
    expect(seen).toEqual([{ type: RTM_NEWNEIGH, seq: 42, ip: ip('10.1.2.3'), ifindex: 7, flags: NTF_USE }]);
    expect(stats).toEqual(newParseStats());
  });

  it('encodes the IPv6 NTF_USE request (AF_INET6, a 16-byte NDA_DST) so that it parses back', () => {
    const buf = new Uint8Array(NEIGH_USE6_LEN);
    const target = Uint8Array.of(0xfd, 0x7c, ...new Array<number>(13).fill(0), 2);
    const len = emitNeighUse6(target, 9, 43, buf);
    expect(len).toBe(NEIGH_USE6_LEN);
    const stats = newParseStats();
    const seen: { type: number; seq: number; ip?: number[]; ifindex: number; v4: unknown }[] = [];
    forEachMessage(buf.subarray(0, len), stats, (m) => {
      const n = parseNeigh6(m.payload, stats)!;
      seen.push({ type: m.type, seq: m.seq, ip: n.destination && [...n.destination], ifindex: n.ifindex, v4: parseNeigh(m.payload, stats) });
      expect(m.payload[10]).toBe(NTF_USE);
    });
    expect(seen).toEqual([{ type: RTM_NEWNEIGH, seq: 43, ip: [...target], ifindex: 9, v4: undefined }]);
    expect(stats).toEqual(newParseStats());
  });
});

/** Poll `t` on the wall clock until `done()` or `ms` pass. */
async function pollUntil(poll: (now: number) => void, done: () => boolean, ms = 5000): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    poll(performance.now());
    if (done()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return done();
}

/** Try a kernel bind inside `ns` with node: 'LISTENING' (then closes) or the error code. */
function kernelBind(ns: string, proto: 'tcp' | 'udp', port: number, host: string): string {
  const js =
    proto === 'tcp'
      ? `const s=require('net').createServer();s.on('error',e=>{console.log(e.code);process.exit(0)});s.listen(${port},'${host}',()=>{console.log('LISTENING');s.close()})`
      : `const s=require('dgram').createSocket('udp4');s.on('error',e=>{console.log(e.code);process.exit(0)});s.bind(${port},'${host}',()=>{console.log('LISTENING');s.close()})`;
  return execIn(ns, process.execPath, ['-e', js]).trim();
}

describePrivileged('kernel tables over netlink and port reservation', () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  let native: NativeAddon;
  let baseline = 0;
  beforeAll(() => {
    native = loadNative();
    baseline = native.openCount();
    nsA = lab.addNetns('bwnl');
    nsB = lab.addNetns('bwnl');
    link = lab.addVeth(nsA, nsB, { addrA: '10.77.91.1/24', addrB: '10.77.91.2/24' });
    ipIn(nsA, `addr add 10.77.92.1/24 dev ${link.a}`);
    ipIn(nsA, `route add 10.99.0.0/16 via 10.77.91.2 metric 7 mtu 1400`);
    ipIn(nsA, `route add default via 10.77.91.2`);
    ipIn(nsA, `neigh add 10.77.91.50 lladdr 02:00:00:00:00:50 dev ${link.a} nud permanent`);
    execIn(nsA, 'sysctl', ['-qw', `net.ipv4.neigh.${link.a}.retrans_time_ms=100`, `net.ipv4.neigh.${link.a}.mcast_solicit=2`]);
  });
  afterAll(() => lab.destroy());

  describe('KernelTables', () => {
    let t: KernelTables;
    beforeAll(() => {
      t = KernelTables.open(native, { ifname: link.a, netns: nsA, intervalMs: 0 });
    });
    afterAll(() => t?.close());

    it('the address dump matches `ip -j addr`', () => {
      const j = JSON.parse(ipIn(nsA, `-j -4 addr show dev ${link.a}`)) as { addr_info: { local: string; prefixlen: number }[] }[];
      const want = j[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`).sort();
      expect(want.length).toBe(2);
      expect(t.addresses().map((a) => `${formatIpv4(a.address)}/${a.prefixLen}`).sort()).toEqual(want);
    });

    it('the route dump matches `ip -j route` (main table, this interface): prefix, gateway, metric, mtu', () => {
      const j = JSON.parse(ipIn(nsA, `-j -4 route show table main dev ${link.a}`)) as { dst: string; gateway?: string; metric?: number; metrics?: { mtu?: number }[] }[];
      const fmt = (d: string, gw: string | undefined, metric: number, mtu: number | undefined): string => `${d} via ${gw ?? '-'} metric ${metric} mtu ${mtu ?? '-'}`;
      const want = j.map((r) => fmt(r.dst === 'default' ? '0.0.0.0/0' : r.dst, r.gateway, r.metric ?? 0, r.metrics?.[0]?.mtu)).sort();
      expect(want.length).toBe(4); // two on-link prefixes, 10.99/16, default
      const got = t.routes().map((r) => fmt(`${formatIpv4(r.destination.address)}/${r.destination.prefixLen}`, r.gateway === undefined ? undefined : formatIpv4(r.gateway), r.metric, r.mtu)).sort();
      expect(got).toEqual(want);
      expect(want).toContain('10.99.0.0/16 via 10.77.91.2 metric 7 mtu 1400');
    });

    it('the neighbour dump matches `ip -j neigh` (usable entries)', () => {
      const usable = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);
      const j = JSON.parse(ipIn(nsA, `-j -4 neigh show dev ${link.a}`)) as { dst: string; lladdr?: string; state: string[] }[];
      const want = j.filter((n) => n.lladdr && n.state.some((s) => usable.has(s))).map((n) => `${n.dst} ${n.lladdr}`).sort();
      expect(want).toContain('10.77.91.50 02:00:00:00:00:50');
      expect(t.neighbours().map((n) => `${formatIpv4(n.ip)} ${mac(n.mac)}`).sort()).toEqual(want);
    });

    it("resolve of a live peer gives the listener the peer's MAC, and the table keeps it", async () => {
      const got: [number, string | null][] = [];
      t.setListener({ neighbour: (a, m) => got.push([a, m && mac(m)]), route: () => {} });
      t.resolve(ip('10.77.91.2'));
      expect(got).toEqual([]); // the listener runs only from poll
      expect(await pollUntil((now) => t.poll(now), () => got.length > 0)).toBe(true);
      const peer = mac(lab.macOf(nsB, link.b));
      expect(got[0]).toEqual([ip('10.77.91.2'), peer]);
      expect(t.neighbours().map((n) => `${formatIpv4(n.ip)} ${mac(n.mac)}`)).toContain(`10.77.91.2 ${peer}`);
      expect(ipIn(nsA, `neigh show 10.77.91.2 dev ${link.a}`)).toMatch(/REACHABLE|STALE|DELAY/);
      // The kernel forgets it (RTM_DELNEIGH): the listener hears null and the table drops it.
      ipIn(nsA, `neigh del 10.77.91.2 dev ${link.a}`);
      expect(await pollUntil((now) => t.poll(now), () => got.length > 1)).toBe(true);
      expect(got[1]).toEqual([ip('10.77.91.2'), null]);
      expect(t.neighbours().some((n) => n.ip === ip('10.77.91.2'))).toBe(false);
      t.setListener(null);
    });

    it('resolve of an address nobody has gives the listener null (NUD_FAILED)', async () => {
      const got: [number, Uint8Array | null][] = [];
      t.setListener({ neighbour: (a, m) => got.push([a, m]), route: () => {} });
      const failuresBefore = t.stats.resolveFailures;
      t.resolve(ip('10.77.91.77'));
      expect(await pollUntil((now) => t.poll(now), () => got.length > 0, 4000)).toBe(true);
      expect(got).toEqual([[ip('10.77.91.77'), null]]);
      expect(t.stats.resolveFailures).toBe(failuresBefore); // the kernel said FAILED: not a timeout
      expect(t.neighbours().some((n) => n.ip === ip('10.77.91.77'))).toBe(false);
      t.setListener(null);
    });

    it('a resolve the kernel never answers is failed at resolveTimeoutMs (virtual time)', () => {
      const v = KernelTables.open(native, { ifname: link.a, netns: nsA, resolveTimeoutMs: 50, intervalMs: 1000 });
      try {
        const got: [number, Uint8Array | null][] = [];
        v.setListener({ neighbour: (a, m) => got.push([a, m]), route: () => {} });
        v.resolve(ip('10.77.91.78'));
        v.poll(0); // starts the clock for the resolve
        expect(v.pollAt(0)).toBeLessThanOrEqual(5); // polled often while a resolve is outstanding
        v.poll(49);
        expect(got).toEqual([]);
        v.poll(50);
        expect(got).toEqual([[ip('10.77.91.78'), null]]);
        expect(v.stats.resolveFailures).toBe(1);
        expect(v.pollAt(50)).toBe(1050); // idle again: the next interval
      } finally {
        v.close();
      }
    });

    it('a route added and then deleted with `ip route` reaches the listener', async () => {
      const events: string[] = [];
      const fmt = (c: string, r: HostRoute): string =>
        `${c} ${formatIpv4(r.destination.address)}/${r.destination.prefixLen} via ${r.gateway === undefined ? '-' : formatIpv4(r.gateway)} metric ${r.metric}`;
      t.setListener({ neighbour: () => {}, route: (c, r) => events.push(fmt(c, r)) });
      ipIn(nsA, 'route add 10.123.0.0/16 via 10.77.91.2 metric 33');
      expect(await pollUntil((now) => t.poll(now), () => events.length > 0)).toBe(true);
      expect(events).toEqual(['add 10.123.0.0/16 via 10.77.91.2 metric 33']);
      expect(t.routes().some((r) => r.destination.address === ip('10.123.0.0') && r.metric === 33)).toBe(true);
      ipIn(nsA, 'route del 10.123.0.0/16 via 10.77.91.2 metric 33');
      expect(await pollUntil((now) => t.poll(now), () => events.length > 1)).toBe(true);
      expect(events[1]).toBe('delete 10.123.0.0/16 via 10.77.91.2 metric 33');
      expect(t.routes().some((r) => r.destination.address === ip('10.123.0.0'))).toBe(false);
      t.setListener(null);
    });

    it('drains at most every intervalMs when idle', () => {
      const v = KernelTables.open(native, { ifname: link.a, netns: nsA, intervalMs: 100 });
      try {
        v.poll(1000);
        expect(v.pollAt(1000)).toBe(1100);
        ipIn(nsA, 'route add 10.124.0.0/16 via 10.77.91.2');
        expect(v.poll(1050)).toBe(0); // too soon: nothing read
        expect(v.routes().some((r) => r.destination.address === ip('10.124.0.0'))).toBe(false);
        expect(v.poll(1100)).toBeGreaterThan(0);
        expect(v.routes().some((r) => r.destination.address === ip('10.124.0.0'))).toBe(true);
      } finally {
        ipIn(nsA, 'route del 10.124.0.0/16');
        v.close();
      }
    });

    it('lost notifications (a tiny receive buffer overruns) force a new dump; the listener hears the differences', () => {
      const v = KernelTables.open(native, { ifname: link.a, netns: nsA, intervalMs: 0, receiveBufferBytes: 1 });
      const added = new Set<number>();
      v.setListener({ neighbour: () => {}, route: (c, r) => c === 'add' && r.destination.prefixLen === 24 && added.add(r.destination.address) });
      const want = Array.from({ length: 200 }, (_, i) => ip(`10.130.${i}.0`));
      try {
        execIn(nsA, 'bash', ['-c', `for i in $(seq 0 199); do echo "route add 10.130.$i.0/24 via 10.77.91.2"; done | ip -batch -`]);
        v.poll(1);
        expect(v.stats.overruns).toBeGreaterThan(0);
        expect(v.stats.dumps).toBe(2);
        for (const a of want) expect(added.has(a)).toBe(true);
        const have = new Set(v.routes().map((r) => r.destination.address));
        for (const a of want) expect(have.has(a)).toBe(true);
      } finally {
        execIn(nsA, 'bash', ['-c', `for i in $(seq 0 199); do echo "route del 10.130.$i.0/24"; done | ip -batch -`]);
        v.close();
      }
    });

    it('an unknown interface is ENODEV', () => {
      expect(() => KernelTables.open(native, { ifname: 'bwnlnone0', netns: nsA })).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    });
  });

  describe('kernel port reservation (native)', () => {
    it('a reserved TCP port makes a kernel bind fail, on the address and on the wildcard; closing frees it', () => {
      const r = native.portReserve(nsA, 'tcp', ip('10.77.91.1'), 18080);
      expect(typeof r).toBe('object');
      try {
        expect(kernelBind(nsA, 'tcp', 18080, '10.77.91.1')).toBe('EADDRINUSE');
        expect(kernelBind(nsA, 'tcp', 18080, '0.0.0.0')).toBe('EADDRINUSE');
        expect(kernelBind(nsA, 'tcp', 18081, '10.77.91.1')).toBe('LISTENING'); // only that port
      } finally {
        native.close(r as Exclude<typeof r, number>);
      }
      expect(kernelBind(nsA, 'tcp', 18080, '10.77.91.1')).toBe('LISTENING');
    });

    it('a reserved UDP port makes a kernel bind fail', () => {
      const r = native.portReserve(nsA, 'udp', ip('10.77.91.1'), 15353);
      expect(typeof r).toBe('object');
      try {
        expect(kernelBind(nsA, 'udp', 15353, '0.0.0.0')).toBe('EADDRINUSE');
      } finally {
        native.close(r as Exclude<typeof r, number>);
      }
      expect(kernelBind(nsA, 'udp', 15353, '0.0.0.0')).toBe('LISTENING');
    });

    it("the kernel's ephemeral port choice skips a reserved port", () => {
      const before = execIn(nsA, 'sysctl', ['-n', 'net.ipv4.ip_local_port_range']).trim().split(/\s+/).join(' ');
      execIn(nsA, 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=40000 40001']);
      const rs = [native.portReserve(nsA, 'tcp', ip('10.77.91.1'), 40000), native.portReserve(nsA, 'udp', ip('10.77.91.1'), 40000)];
      try {
        // Without a reservation, TCP connect takes the even port of the range first (40000, measured: 8 of 8) and
        // UDP bind(0) picks at random; with 40000 reserved, every round must get 40001. One socket at a time.
        const js =
          "const n=require('net'),d=require('dgram');(async()=>{const out=[];const srv=n.createServer(c=>c.destroy());" +
          "await new Promise(r=>srv.listen(9,'127.0.0.1',r));for(let i=0;i<4;i++){" +
          "const c=n.connect(9,'127.0.0.1');await new Promise(r=>c.on('connect',r));out.push('t'+c.localPort);c.destroy();await new Promise(r=>setTimeout(r,20));" +
          "const u=d.createSocket('udp4');await new Promise(r=>u.bind(0,'10.77.91.1',r));out.push('u'+u.address().port);await new Promise(r=>u.close(r))}" +
          "console.log(out.join(' '));srv.close()})()";
        const ports = execIn(nsA, process.execPath, ['-e', js]).trim().split(' ');
        expect(ports.length).toBe(8);
        for (const p of ports) expect(p).toMatch(/^[tu]40001$/);
      } finally {
        for (const r of rs) if (typeof r !== 'number') native.close(r);
        execIn(nsA, 'sysctl', ['-qw', `net.ipv4.ip_local_port_range=${before}`]);
      }
    });

    it('a port a kernel socket holds is refused with -EADDRINUSE', async () => {
      const srv = lab.spawnIn(nsA, process.execPath, ['-e', "require('net').createServer().listen(18090,'0.0.0.0',()=>console.log('UP'))"]);
      try {
        expect(await waitOutput(srv, 'UP')).toBe(true);
        expect(native.portReserve(nsA, 'tcp', ip('10.77.91.1'), 18090)).toBe(-98);
      } finally {
        await lab.stopProcesses();
      }
    });
  });

  describe('AF_XDP shared mode: flows and hostTables', () => {
    let d: AfXdpDriver | undefined;
    let count0 = 0;
    beforeAll(() => {
      count0 = native.openCount();
      d = openAfXdp({ ifname: link.a, netns: nsA, mode: 'shared', hostTables: { intervalMs: 0 } });
    });
    afterAll(() => d?.close());

    it('has both capabilities, and ipv4 defaults to the interface address from the kernel', () => {
      expect(d!.flows).toBeDefined();
      expect(d!.hostTables).toBeDefined();
      const first = (JSON.parse(ipIn(nsA, `-j -4 addr show dev ${link.a}`)) as { addr_info: { local: string }[] }[])[0]!.addr_info[0]!.local;
      expect(formatIpv4(d!.address!)).toBe(first);
      expect(d!.hostTables!.addresses().map((a) => formatIpv4(a.address))).toContain('10.77.92.1');
    });

    it('claim reserves the port in the kernel and release frees it; a port the kernel holds is refused', async () => {
      const f = d!.flows!;
      expect(f.claim({ protocol: 'tcp', port: 18100 })).toBe(true);
      expect(kernelBind(nsA, 'tcp', 18100, '0.0.0.0')).toBe('EADDRINUSE');
      expect(() => f.claim({ protocol: 'tcp', port: 18100 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
      f.release({ protocol: 'tcp', port: 18100 });
      expect(kernelBind(nsA, 'tcp', 18100, '0.0.0.0')).toBe('LISTENING');
      f.release({ protocol: 'tcp', port: 18100 }); // unclaimed: nothing

      const srv = lab.spawnIn(nsA, process.execPath, ['-e', "require('dgram').createSocket('udp4').bind(18101,()=>console.log('UP'))"]);
      try {
        expect(await waitOutput(srv, 'UP')).toBe(true);
        const claimed = d!.claimedFlows;
        expect(f.claim({ protocol: 'udp', port: 18101 })).toBe(false);
        expect(d!.claimedFlows).toBe(claimed);
      } finally {
        await lab.stopProcesses();
      }
      expect(f.claim({ protocol: 'udp', port: 18101 })).toBe(true);
      expect(f.claim({ protocol: 'icmp', port: 0x4242 })).toBe(true); // no reservation for echo identifiers
      f.release({ protocol: 'udp', port: 18101 });
      f.release({ protocol: 'icmp', port: 0x4242 });
    });

    it('host-table changes reach the listener from inside receive()', async () => {
      const events: string[] = [];
      d!.hostTables!.setListener({ neighbour: () => {}, route: (c, r) => events.push(`${c} ${formatIpv4(r.destination.address)}/${r.destination.prefixLen}`) });
      ipIn(nsA, 'route add 10.125.0.0/16 via 10.77.91.2');
      try {
        const ok = await pollUntil((now) => d!.receive(now, 64, () => {}), () => events.includes('add 10.125.0.0/16'));
        expect(ok).toBe(true);
      } finally {
        ipIn(nsA, 'route del 10.125.0.0/16');
        d!.hostTables!.setListener(null);
      }
    });

    it('close releases the reservations, the netlink socket and the program', () => {
      expect(d!.flows!.claim({ protocol: 'tcp', port: 18110 })).toBe(true);
      expect(native.openCount()).toBe(count0 + 3); // the XDP socket, the netlink socket, one reservation
      d!.close();
      expect(native.openCount()).toBe(count0);
      expect(kernelBind(nsA, 'tcp', 18110, '0.0.0.0')).toBe('LISTENING');
      expect(() => d!.hostTables!.resolve(ip('10.77.91.2'))).toThrow(expect.objectContaining({ code: 'ERR_DRIVER_CLOSED' }));
      expect(() => d!.flows!.claim({ protocol: 'tcp', port: 18111 })).toThrow(expect.objectContaining({ code: 'ERR_DRIVER_CLOSED' }));
      expect(ipIn(nsA, `link show ${link.a}`)).not.toMatch(/prog\/xdp/);
    });

    it('own mode has neither capability', () => {
      const ns = lab.addNetns('bwnl');
      const l = lab.addVeth(ns, undefined, { addrA: '10.77.93.1/24' });
      const o = openAfXdp({ ifname: l.a, netns: ns, ipv4: '10.77.93.2' });
      try {
        expect(o.flows).toBeUndefined();
        expect(o.hostTables).toBeUndefined();
      } finally {
        o.close();
      }
    });
  });

  it('a worker thread that ends without closing its netlink socket and reservation releases both (env cleanup hook)', async () => {
    const addonPath = join(dirname(fileURLToPath(import.meta.url)), '../../drivers/native/build/Release/byway_native.node');
    const src = `
      const { parentPort } = require('node:worker_threads');
      const a = require(${JSON.stringify(addonPath)});
      a.nlOpen(${JSON.stringify(nsA)}, 0x55);
      const r = a.portReserve(${JSON.stringify(nsA)}, 'tcp', ${ip('10.77.91.1')}, 18120);
      parentPort.postMessage(typeof r + ' ' + a.openCount());
      parentPort.once('message', () => process.exit(0)); // ends only this worker, nothing closed`;
    const w = new Worker(src, { eval: true });
    const said = await new Promise<string>((resolve) => w.once('message', resolve));
    expect(said).toBe('object 2');
    expect(kernelBind(nsA, 'tcp', 18120, '0.0.0.0')).toBe('EADDRINUSE'); // held while the worker lives
    const exited = new Promise((resolve) => w.once('exit', resolve));
    w.postMessage('bye');
    await exited;
    expect(kernelBind(nsA, 'tcp', 18120, '0.0.0.0')).toBe('LISTENING');
  });

  it('leaves no handle open', () => {
    expect(native.openCount()).toBe(baseline);
  });
});

async function waitOutput(p: { output(): string }, text: string, ms = 5000): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (p.output().includes(text)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

