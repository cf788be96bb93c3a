/**
 * AF_PACKET driver against the Linux kernel, on a veth pair: byway's end is in namespace A (no kernel address
 * there), the kernel's end is in namespace B with 10.77.2.1. Frame level: ARP reply, ICMP echo reply, the
 * classic BPF filter (frames injected by a second, unfiltered AF_PACKET driver on the peer), fanout, errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPacketFilter, openAfPacket, runPacketFilter, type AfPacketDriver } from '../../drivers/af-packet/index.js';
import { loadNative } from '../../drivers/native/index.js';
import { NetLab, describePrivileged, execIn, ipIn, uniqueName } from '../helpers/netns.js';
import { pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { RxFlag } from '../../drivers/types.js';
import { openTap } from '../../drivers/tap/index.js';
import { BROADCAST, arpReplySender, arpRequest, echoReplyAt, ethernet, get16, get32, icmpEchoPacket, ip, sendFrame, udpPacket, waitFrame } from './frames.js';

describe('AF_PACKET classic BPF filter (interpreted)', () => {
  const mac = new Uint8Array([0x02, 0, 0, 0, 0, 0x11]);
  const other = new Uint8Array([0x02, 0, 0, 0, 0, 0x22]);
  const f = buildPacketFilter({ mac, ipv4: ip('10.77.2.2') });
  const udp = (dst: Uint8Array, to: string): Uint8Array => ethernet(dst, other, 0x0800, udpPacket(ip('10.77.2.1'), ip(to), 1, 2, new Uint8Array(4)));
  it('accepts ARP, broadcast, and IPv4 for our MAC and address; rejects the rest', () => {
    expect(runPacketFilter(f, arpRequest(other, ip('10.77.2.1'), ip('10.77.2.9')))).toBeGreaterThan(0);
    expect(runPacketFilter(f, ethernet(BROADCAST, other, 0x88b5, new Uint8Array(46)))).toBeGreaterThan(0);
    expect(runPacketFilter(f, udp(mac, '10.77.2.2'))).toBeGreaterThan(0);
    expect(runPacketFilter(f, udp(mac, '10.77.2.3'))).toBe(0);
    expect(runPacketFilter(f, udp(other, '10.77.2.2'))).toBe(0);
    expect(runPacketFilter(f, new Uint8Array(3))).toBe(0);
  });
  it('accepts IPv6 for our MAC and to IPv6 multicast MACs (NDP); rejects other IPv6, other multicast, and with ipv6: false', () => {
    const solicitedNode = new Uint8Array([0x33, 0x33, 0xff, 0, 0, 0x11]);
    expect(runPacketFilter(f, ethernet(mac, other, 0x86dd, new Uint8Array(46)))).toBeGreaterThan(0);
    expect(runPacketFilter(f, ethernet(solicitedNode, other, 0x86dd, new Uint8Array(46)))).toBeGreaterThan(0);
    expect(runPacketFilter(f, ethernet(new Uint8Array([0x33, 0x33, 0, 0, 0, 1]), other, 0x86dd, new Uint8Array(46)))).toBeGreaterThan(0);
    expect(runPacketFilter(f, ethernet(other, mac, 0x86dd, new Uint8Array(46)))).toBe(0);
    expect(runPacketFilter(f, ethernet(solicitedNode, other, 0x0800, new Uint8Array(46)))).toBe(0);
    expect(runPacketFilter(f, ethernet(new Uint8Array([0x01, 0, 0x5e, 0, 0, 1]), other, 0x86dd, new Uint8Array(46)))).toBe(0);
    expect(runPacketFilter(f, ethernet(mac, other, 0x88b5, new Uint8Array(46)))).toBe(0);
    const no6 = buildPacketFilter({ mac, ipv4: ip('10.77.2.2'), ipv6: false });
    expect(runPacketFilter(no6, ethernet(mac, other, 0x86dd, new Uint8Array(46)))).toBe(0);
    expect(runPacketFilter(no6, ethernet(solicitedNode, other, 0x86dd, new Uint8Array(46)))).toBe(0);
    expect(runPacketFilter(no6, udp(mac, '10.77.2.2'))).toBeGreaterThan(0);
  });
  it('accepts IPv4 to IPv4 multicast MACs (01:00:5e, 24th bit clear), not other group MACs nor with ipv4Multicast: false', () => {
    const group = (a: number[]): Uint8Array => ethernet(new Uint8Array(a), other, 0x0800, new Uint8Array(46));
    expect(runPacketFilter(f, group([0x01, 0, 0x5e, 0x01, 0x02, 0x03]))).toBeGreaterThan(0);
    expect(runPacketFilter(f, group([0x01, 0, 0x5e, 0, 0, 0x16]))).toBeGreaterThan(0);
    expect(runPacketFilter(f, group([0x01, 0, 0x5e, 0x7f, 0xff, 0xff]))).toBeGreaterThan(0);
    expect(runPacketFilter(f, group([0x01, 0, 0x5e, 0x80, 0, 1]))).toBe(0);
    expect(runPacketFilter(f, group([0x01, 0, 0x5d, 0x01, 0x02, 0x03]))).toBe(0);
    expect(runPacketFilter(f, group([0x01, 0x80, 0xc2, 0, 0, 0]))).toBe(0);
    const no4 = buildPacketFilter({ mac, ipv4: ip('10.77.2.2'), ipv4Multicast: false });
    expect(runPacketFilter(no4, group([0x01, 0, 0x5e, 0x01, 0x02, 0x03]))).toBe(0);
    expect(runPacketFilter(no4, ethernet(new Uint8Array([0x33, 0x33, 0xff, 0, 0, 0x11]), other, 0x86dd, new Uint8Array(46)))).toBeGreaterThan(0);
  });
  it('without an address, accepts anything for our MAC', () => {
    const g = buildPacketFilter({ mac });
    expect(runPacketFilter(g, ethernet(mac, other, 0x86dd, new Uint8Array(46)))).toBeGreaterThan(0);
    expect(runPacketFilter(g, ethernet(other, mac, 0x86dd, new Uint8Array(46)))).toBe(0);
  });
});

describePrivileged('AF_PACKET driver against the kernel', () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  let d: AfPacketDriver | undefined;
  let peer: AfPacketDriver | undefined;
  let kernelMac: Uint8Array = new Uint8Array(6);
  const KERNEL = ip('10.77.2.1');
  const BYWAY = ip('10.77.2.2');

  beforeAll(() => {
    nsA = lab.addNetns();
    nsB = lab.addNetns();
    link = lab.addVeth(nsA, nsB, { addrB: '10.77.2.1/24' });
    d = openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.2.2' });
  });
  afterAll(() => {
    d?.close();
    peer?.close();
    lab.destroy();
  });

  it('opens on the veth end in namespace A with the interface MAC and MTU', () => {
    expect(d!.caps.mtu).toBe(1500);
    expect(Array.from(d!.hwAddress!)).toEqual(Array.from(d!.ifHwAddress));
    expect(d!.qdiscBypass).toBe(true);
    expect(d!.filtered).toBe(true);
  });

  it('ARP request for the kernel address gets the kernel ARP reply', async () => {
    sendFrame(d!, arpRequest(d!.hwAddress!, BYWAY, KERNEL));
    const reply = await waitFrame(d!, (f) => arpReplySender(f, KERNEL, BYWAY) !== undefined);
    expect(reply).toBeDefined();
    kernelMac = arpReplySender(reply!, KERNEL, BYWAY)!;
    expect(ipIn(nsB, `link show ${link.b}`)).toContain(Array.from(kernelMac, (b) => b.toString(16).padStart(2, '0')).join(':'));
  });

  it('ICMP echo request gets the kernel echo reply with valid checksums', async () => {
    const payload = new Uint8Array(100).map((_, i) => i);
    sendFrame(d!, ethernet(kernelMac, d!.hwAddress!, 0x0800, icmpEchoPacket(BYWAY, KERNEL, 0x7777, 9, payload)));
    const f = await waitFrame(d!, (f) => echoReplyAt(f, 14, KERNEL, BYWAY, 0x7777, 9) !== undefined);
    expect(f).toBeDefined();
    const r = echoReplyAt(f!, 14, KERNEL, BYWAY, 0x7777, 9)!;
    expect(r.ipChecksumOk && r.icmpChecksumOk).toBe(true);
    expect(Array.from(r.payload)).toEqual(Array.from(payload));
  });

  it('a burst of 200 echo requests through the tx ring all come back through the rx ring', async () => {
    const N = 200;
    for (let s = 0; s < N; s++) {
      const fr = ethernet(kernelMac, d!.hwAddress!, 0x0800, icmpEchoPacket(BYWAY, KERNEL, 0x8888, s, new Uint8Array(18)));
      const b = d!.txReserve(fr.length);
      expect(b).not.toBeNull();
      b!.set(fr);
      d!.txCommit(0, fr.length);
    }
    d!.flush(0);
    const got = new Set<number>();
    await waitFrame(d!, (f) => {
      for (let s = 0; s < N; s++) if (echoReplyAt(f, 14, KERNEL, BYWAY, 0x8888, s)) got.add(s);
      return got.size === N;
    }, 5000);
    expect(got.size).toBe(N);
  });

  it('the filter lets through only ARP, broadcast, IPv4 for our MAC and address, and IPv6 for our MAC', async () => {
    peer = openAfPacket({ ifname: link.b, netns: nsB, filter: false });
    const mine = d!.hwAddress!;
    const other = new Uint8Array([0x02, 0x55, 0x55, 0x55, 0x55, 0x55]);
    const tagged = (dst: Uint8Array, to: number, tag: number): Uint8Array =>
      ethernet(dst, peer!.hwAddress!, 0x0800, udpPacket(ip('10.77.2.1'), to, 999, 1000 + tag, new Uint8Array(8)));
    while (d!.receive(0, 256, () => {}) > 0);
    sendFrame(peer, tagged(other, BYWAY, 1)); // another host's MAC: filtered
    sendFrame(peer, tagged(mine, ip('10.77.2.3'), 2)); // our MAC, another address: filtered
    sendFrame(peer, tagged(mine, BYWAY, 3)); // ours: delivered
    sendFrame(peer, ethernet(BROADCAST, peer.hwAddress!, 0x88b5, new Uint8Array(46).fill(4))); // broadcast: delivered
    sendFrame(peer, ethernet(mine, peer.hwAddress!, 0x86dd, new Uint8Array(46).fill(6))); // IPv6 to our MAC: delivered
    sendFrame(peer, ethernet(other, peer.hwAddress!, 0x86dd, new Uint8Array(46).fill(7))); // IPv6 to another MAC: filtered
    const tags: number[] = [];
    await waitFrame(d!, (f) => {
      if (f[12] === 0x08 && f[13] === 0x00 && f[14 + 9] === 17 && get32(f, 30) !== 0) tags.push(((f[36]! << 8) | f[37]!) - 1000);
      else if (f[12] === 0x88 && f[13] === 0xb5) tags.push(4);
      else if (f[12] === 0x86 && f[14] === 6) tags.push(6);
      else if (f[12] === 0x86 && f[14] === 7) tags.push(7);
      return false;
    }, 300);
    expect(tags.sort()).toEqual([3, 4, 6]);
  });

  it('fanout spreads frames over the members of a group', async () => {
    const group = (Math.random() * 0xffff) | 0;
    const m1 = openAfPacket({ ifname: link.a, netns: nsA, fanout: { group, mode: 'lb' } });
    const m2 = openAfPacket({ ifname: link.a, netns: nsA, fanout: { group, mode: 'lb' } });
    try {
      peer ??= openAfPacket({ ifname: link.b, netns: nsB, filter: false });
      for (let i = 0; i < 20; i++) sendFrame(peer, ethernet(BROADCAST, peer.hwAddress!, 0x88b5, new Uint8Array(46).fill(i)));
      const count = [0, 0];
      const count1 = (k: number) => (f: Uint8Array): boolean => {
        if (f[12] === 0x88 && f[13] === 0xb5) count[k]!++;
        return false;
      };
      await waitFrame(m1, count1(0), 200);
      await waitFrame(m2, count1(1), 200);
      expect(count[0]! + count[1]!).toBe(20);
      expect(count[0]).toBeGreaterThan(0);
      expect(count[1]).toBeGreaterThan(0);
    } finally {
      m1.close();
      m2.close();
    }
  });

  it('busy-poll mode: pollAt always asks for a poll, readiness stays silent, frames still flow', async () => {
    const b = openAfPacket({ ifname: link.a, netns: nsA, busyPoll: 50, hwAddress: new Uint8Array([2, 0, 0, 0, 0xbb, 1]) });
    try {
      expect(b.pollAt(123)).toBe(123);
      let fired = 0;
      b.setReadyCallback(() => fired++);
      sendFrame(b, arpRequest(b.hwAddress!, ip('10.77.2.3'), KERNEL));
      const deadline = Date.now() + 3000;
      let reply: Uint8Array | undefined;
      while (!reply && Date.now() < deadline) {
        b.receive(0, 64, (f) => {
          if (arpReplySender(f, KERNEL, ip('10.77.2.3'))) reply = f.slice();
        });
        await new Promise((r) => setImmediate(r));
      }
      expect(reply).toBeDefined();
      expect(fired).toBe(0);
    } finally {
      b.close();
    }
  });

  it('a tx ring stalled by a full device queue drains once the device has room, without new frames', () => {
    // A TAP device whose reader (byway's TAP driver) is idle: its queue fills, send() answers ENOBUFS and the
    // frames stay queued in the tx ring. After the reader drains the queue, txReserve must find room again.
    const t = openTap({ name: uniqueName('bws'), netns: nsA });
    const g = openAfPacket({ ifname: t.ifname, netns: nsA, filter: false, txFrameCount: 256 });
    try {
      let sent = 0;
      for (; sent < 100_000; sent++) {
        const b = g.txReserve(60);
        if (b === null) break;
        b.fill(0xff, 0, 6);
        b[12] = 0x88;
        b[13] = 0xb5;
        g.txCommit(0, 60);
      }
      g.flush(0);
      expect(sent).toBeLessThan(100_000); // the ring did fill up
      let drained = 0;
      for (let n; (n = t.receive(0, 256, () => {})) > 0; ) drained += n;
      expect(drained).toBeGreaterThan(0);
      expect(g.txReserve(60)).not.toBeNull();
    } finally {
      g.close();
      t.close();
    }
  });

  it('TPACKET_V2 mode: ARP reply, echo reply and a 200-frame burst through per-frame rings', async () => {
    const v2 = openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.2.4', tpacketVersion: 2, txFrameCount: 64 });
    const V2IP = ip('10.77.2.4');
    try {
      expect(v2.tpacketVersion).toBe(2);
      sendFrame(v2, arpRequest(v2.hwAddress!, V2IP, KERNEL));
      expect(await waitFrame(v2, (f) => arpReplySender(f, KERNEL, V2IP) !== undefined)).toBeDefined();
      const N = 200;
      for (let s = 0; s < N; ) {
        const fr = ethernet(kernelMac, v2.hwAddress!, 0x0800, icmpEchoPacket(V2IP, KERNEL, 0x2a2, s, new Uint8Array(18)));
        const b = v2.txReserve(fr.length);
        if (b === null) {
          v2.flush(0);
          continue;
        }
        b.set(fr);
        v2.txCommit(0, fr.length);
        s++;
      }
      v2.flush(0);
      const got = new Set<number>();
      await waitFrame(v2, (f) => {
        for (let s = 0; s < N; s++) if (echoReplyAt(f, 14, KERNEL, V2IP, 0x2a2, s)) got.add(s);
        return got.size === N;
      }, 5000);
      expect(got.size).toBe(N);
    } finally {
      v2.close();
    }
  });

  it('partially checksummed UDP from a kernel peer with tx offload on arrives flagged valid, left partial', async () => {
    const ns1 = lab.addNetns();
    const ns2 = lab.addNetns();
    const l = lab.addVeth(ns1, ns2, { addrB: '10.77.12.1/24', txChecksumOffload: true });
    const x = openAfPacket({ ifname: l.a, netns: ns1 });
    try {
      ipIn(ns2, `neigh replace 10.77.12.2 lladdr ${Array.from(x.hwAddress!, (b) => b.toString(16).padStart(2, '0')).join(':')} dev ${l.b}`);
      execIn(ns2, 'bash', ['-c', "printf 'partial-sum' > /dev/udp/10.77.12.2/4444"]);
      let flags = 0;
      const f = await waitFrame(x, (f, fl) => {
        flags = fl ?? 0;
        return f[12] === 0x08 && f[23] === 17 && get16(f, 36) === 4444;
      });
      expect(f).toBeDefined();
      // TP_STATUS_CSUMNOTREADY: the kernel vouches for it, and the field holds the pseudo-header sum (not complemented).
      expect(flags & RxFlag.L4ChecksumValid).toBe(RxFlag.L4ChecksumValid);
      const ulen = get16(f!, 38);
      expect(get16(f!, 40)).toBe(pseudoHeaderSum(get32(f!, 26), get32(f!, 30), 17, ulen));
      expect(new TextDecoder().decode(f!.subarray(42, 34 + ulen))).toBe('partial-sum');
      expect(x.checksumsCompleted).toBe(0);
    } finally {
      x.close();
    }
  });

  it('errors: no such interface is ENODEV, a bad option is ERR_INVALID_ARG_VALUE', () => {
    expect(() => openAfPacket({ ifname: 'bwnosuch0', netns: nsA })).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    expect(() => openAfPacket({ ifname: link.a, netns: nsA, rxBlockSize: 1000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.2' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('link down: flush does not throw, linkDown is set, and the queued frame goes out once the link is up', async () => {
    while (d!.receive(0, 256, () => {}) > 0);
    ipIn(nsA, `link set ${link.a} down`);
    try {
      sendFrame(d!, ethernet(kernelMac, d!.hwAddress!, 0x0800, icmpEchoPacket(BYWAY, KERNEL, 0x0d0d, 1, new Uint8Array(8))));
      expect(d!.linkDown).toBe(true);
    } finally {
      ipIn(nsA, `link set ${link.a} up`);
    }
    // Frames sent before the kernel has the carrier back (its link watch runs later, more so on a loaded machine)
    // are dropped: wait for both ends to say LOWER_UP.
    for (const [ns, dev] of [[nsA, link.a], [nsB, link.b]] as const) {
      const until = Date.now() + 5000;
      while (!ipIn(ns, `-o link show dev ${dev}`).includes('LOWER_UP')) {
        if (Date.now() > until) throw new Error(`${dev} did not come back up within 5 s`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    // Losing carrier flushed the peer's neighbour entries: re-announce byway (an ARP request tells the kernel our
    // MAC); this doorbell also pushes the frame that waited in the ring.
    sendFrame(d!, arpRequest(d!.hwAddress!, BYWAY, KERNEL));
    sendFrame(d!, ethernet(kernelMac, d!.hwAddress!, 0x0800, icmpEchoPacket(BYWAY, KERNEL, 0x0d0d, 2, new Uint8Array(8))));
    const got = new Set<number>();
    await waitFrame(d!, (f) => {
      for (const s of [1, 2]) if (echoReplyAt(f, 14, KERNEL, BYWAY, 0x0d0d, s)) got.add(s);
      return got.size === 2;
    }, 4000);
    expect([...got].sort()).toEqual([1, 2]);
    expect(d!.linkDown).toBe(false);
  });

  it('the link going away makes flush (or receive) throw ENODEV; close releases everything', async () => {
    const native = loadNative();
    const before = native.openCount();
    const ns = lab.addNetns();
    const ns2 = lab.addNetns();
    const l = lab.addVeth(ns, ns2);
    const x = openAfPacket({ ifname: l.a, netns: ns });
    expect(native.openCount()).toBe(before + 1);
    try {
      ipIn(ns, `link del ${l.a}`);
      const b = x.txReserve(60)!;
      b.fill(0xff, 0, 12);
      let code: string | undefined;
      try {
        x.txCommit(0, 60);
        x.flush(0);
        await waitFrame(x, () => false, 200);
      } catch (e) {
        code = (e as { code?: string }).code;
      }
      expect(code).toBe('ENODEV');
    } finally {
      x.close();
    }
    expect(native.openCount()).toBe(before);
  });
});
