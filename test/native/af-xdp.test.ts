/**
 * AF_XDP driver against the Linux kernel on a veth pair across two namespaces, copy mode (veth refuses
 * zero-copy), with the program attached natively and generically.
 * - own-address mode: byway owns 10.77.3.2; ARP and ICMP to it come to byway, the kernel's own address on the
 *   same interface keeps working (the program passes everything else).
 * - shared-address mode: byway shares the kernel's 10.77.4.1; only flows in the map come to byway.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAfXdp, type AfXdpDriver, type XdpAttachMode } from '../../drivers/af-xdp/index.js';
import { loadNative } from '../../drivers/native/index.js';
import { RxFlag } from '../../drivers/types.js';
import { NetLab, describePrivileged, execIn, ipIn } from '../helpers/netns.js';
import { finish, onesSum, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { arpReplySender, arpRequest, echoReplyAt, ethernet, get16, get32, icmpEchoPacket, ip, sendFrame, udpPacket, waitFrame } from './frames.js';

function rxPackets(ns: string, ifname: string): number {
  const j = JSON.parse(ipIn(ns, `-s -j link show ${ifname}`)) as { stats64: { rx: { packets: number } } }[];
  return j[0]!.stats64.rx.packets;
}

function pingOk(ns: string, addr: string): boolean {
  return spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', addr], { stdio: 'ignore', timeout: 5000 }).status === 0;
}

function sendUdp(ns: string, addr: string, port: number, text: string): void {
  execIn(ns, 'bash', ['-c', `printf '%s' '${text}' > /dev/udp/${addr}/${port}`]);
}

function udpTo(f: Uint8Array, port: number): string | undefined {
  if (f.length < 42 || get16(f, 12) !== 0x0800 || f[23] !== 17) return undefined;
  const l4 = 14 + (f[14]! & 15) * 4;
  if (get16(f, l4 + 2) !== port) return undefined;
  return new TextDecoder().decode(f.subarray(l4 + 8, 14 + get16(f, 16)));
}

describePrivileged('AF_XDP driver against the kernel', () => {
  const lab = new NetLab();
  afterAll(() => lab.destroy());

  for (const attachMode of ['native', 'generic'] as XdpAttachMode[]) {
    describe(`own-address mode, ${attachMode} attach, copy bind`, () => {
      let nsA = '';
      let nsB = '';
      let link = { a: '', b: '' };
      let d: AfXdpDriver | undefined;
      const KERNEL = ip('10.77.3.1');
      const BYWAY = ip('10.77.3.2');
      beforeAll(() => {
        nsA = lab.addNetns();
        nsB = lab.addNetns();
        link = lab.addVeth(nsA, nsB, { addrA: '10.77.3.5/24', addrB: '10.77.3.1/24' });
        d = openAfXdp({ ifname: link.a, netns: nsA, ipv4: '10.77.3.2', bindMode: 'copy', attachMode });
      });
      afterAll(() => d?.close());

      it('reports the modes obtained', () => {
        expect(d!.bindMode).toBe('copy');
        expect(d!.attachMode).toBe(attachMode);
        expect(d!.mode).toBe('own');
        expect(d!.needWakeup).toBe(true);
        const shown = ipIn(nsA, `link show ${link.a}`);
        expect(shown).toMatch(/prog\/xdp id \d+ name byway_own/);
        expect(shown).toMatch(attachMode === 'native' ? / xdp qdisc/ : / xdpgeneric qdisc/);
      });

      it('ARP request gets the kernel ARP reply (the program redirects ARP for our address)', async () => {
        sendFrame(d!, arpRequest(d!.hwAddress!, BYWAY, KERNEL));
        const reply = await waitFrame(d!, (f) => arpReplySender(f, KERNEL, BYWAY) !== undefined);
        expect(reply).toBeDefined();
        expect(Array.from(arpReplySender(reply!, KERNEL, BYWAY)!)).toEqual(Array.from(lab.macOf(nsB, link.b)));
      });

      it('ICMP echo request gets the kernel echo reply', async () => {
        const payload = new Uint8Array(64).map((_, i) => 255 - i);
        sendFrame(d!, ethernet(lab.macOf(nsB, link.b), d!.hwAddress!, 0x0800, icmpEchoPacket(BYWAY, KERNEL, 0x1234, 3, payload)));
        const f = await waitFrame(d!, (f) => echoReplyAt(f, 14, KERNEL, BYWAY, 0x1234, 3) !== undefined);
        expect(f).toBeDefined();
        const r = echoReplyAt(f!, 14, KERNEL, BYWAY, 0x1234, 3)!;
        expect(r.ipChecksumOk && r.icmpChecksumOk).toBe(true);
        expect(Array.from(r.payload)).toEqual(Array.from(payload));
      });

      it('a burst of 300 echo requests all come back through the UMEM', async () => {
        const N = 300;
        const mac = lab.macOf(nsB, link.b);
        for (let s = 0; s < N; s++) {
          const fr = ethernet(mac, d!.hwAddress!, 0x0800, icmpEchoPacket(BYWAY, KERNEL, 0x2222, s, new Uint8Array(18)));
          const b = d!.txReserve(fr.length)!;
          b.set(fr);
          d!.txCommit(0, fr.length);
        }
        d!.flush(0);
        const got = new Set<number>();
        await waitFrame(d!, (f) => {
          for (let s = 0; s < N; s++) if (echoReplyAt(f, 14, KERNEL, BYWAY, 0x2222, s)) got.add(s);
          return got.size === N;
        }, 5000);
        expect(got.size).toBe(N);
      });

      it('a tx burst four times the ring size reaches the peer whole (the doorbell keeps ringing in copy mode)', async () => {
        const N = 4096;
        const mac = lab.macOf(nsB, link.b);
        const before = rxPackets(nsB, link.b);
        const fr = ethernet(mac, d!.hwAddress!, 0x0800, udpPacket(BYWAY, KERNEL, 5000, 9, new Uint8Array(18)));
        const dropped0 = d!.stats.txDropped;
        for (let s = 0; s < N; ) {
          const b = d!.txReserve(fr.length);
          if (b === null) {
            d!.flush(0);
            await new Promise((r) => setImmediate(r));
            continue;
          }
          b.set(fr);
          d!.txCommit(0, fr.length);
          s++;
          if ((s & 63) === 0) d!.flush(0);
        }
        d!.flush(0);
        expect(d!.stats.txDropped - dropped0).toBe(0);
        let delivered = 0;
        for (let i = 0; i < 50 && delivered < N; i++) {
          await new Promise((r) => setTimeout(r, 20));
          delivered = rxPackets(nsB, link.b) - before;
        }
        expect(delivered).toBeGreaterThanOrEqual(N);
      });

      it('UDP from the kernel peer arrives with a valid checksum (peer tx offload off, as the helper sets it)', async () => {
        ipIn(nsB, `neigh replace 10.77.3.2 lladdr ${Array.from(d!.hwAddress!, (b) => b.toString(16).padStart(2, '0')).join(':')} dev ${link.b}`);
        execIn(nsB, 'bash', ['-c', "printf 'sum' > /dev/udp/10.77.3.2/4444"]);
        const f = await waitFrame(d!, (f) => udpTo(f, 4444) !== undefined);
        expect(f).toBeDefined();
        const ulen = get16(f!, 38);
        expect(finish(onesSum(f!, 34, 34 + ulen, pseudoHeaderSum(get32(f!, 26), BYWAY, 17, ulen)))).toBe(0);
      });

      it('UDP from a kernel peer with tx checksum offload on (partial checksums) arrives completed', async () => {
        const ns1 = lab.addNetns();
        const ns2 = lab.addNetns();
        const l = lab.addVeth(ns1, ns2, { addrB: '10.77.16.1/24', txChecksumOffload: true });
        const x = openAfXdp({ ifname: l.a, netns: ns1, ipv4: '10.77.16.2', bindMode: 'copy', attachMode });
        try {
          ipIn(ns2, `neigh replace 10.77.16.2 lladdr ${Array.from(x.hwAddress!, (b) => b.toString(16).padStart(2, '0')).join(':')} dev ${l.b}`);
          execIn(ns2, 'bash', ['-c', "printf 'partial' > /dev/udp/10.77.16.2/4444"]);
          let flags = 0;
          const f = await waitFrame(x, (f, fl) => {
            flags = fl;
            return udpTo(f, 4444) !== undefined;
          });
          expect(f).toBeDefined();
          const ulen = get16(f!, 38);
          expect(finish(onesSum(f!, 34, 34 + ulen, pseudoHeaderSum(get32(f!, 26), get32(f!, 30), 17, ulen)))).toBe(0);
          expect(x.checksumsCompleted).toBe(1);
          // Completed in the driver, so known good: the stack is told not to sum it again.
          expect(flags & RxFlag.L4ChecksumValid).toBe(RxFlag.L4ChecksumValid);
        } finally {
          x.close();
        }
      });

      it('everything else still reaches the kernel: its own address on the same interface answers ping', () => {
        expect(pingOk(nsB, '10.77.3.5')).toBe(true);
      });
    });
  }

  describe('shared-address mode (flow map)', () => {
    let nsA = '';
    let nsB = '';
    let link = { a: '', b: '' };
    let d: AfXdpDriver | undefined;
    beforeAll(() => {
      nsA = lab.addNetns();
      nsB = lab.addNetns();
      link = lab.addVeth(nsA, nsB, { addrA: '10.77.4.1/24', addrB: '10.77.4.2/24' });
      d = openAfXdp({ ifname: link.a, netns: nsA, mode: 'shared', ipv4: '10.77.4.1', bindMode: 'auto', attachMode: 'auto' });
    });
    afterAll(() => d?.close());

    it('auto modes on veth give copy bind and native attach, reported as such', () => {
      expect(d!.mode).toBe('shared');
      expect(d!.bindMode).toBe('copy');
      expect(d!.attachMode).toBe('native');
    });

    it('only flows in the map come to byway; the kernel keeps ARP, ping and other ports', async () => {
      expect(pingOk(nsB, '10.77.4.1')).toBe(true); // ARP and ICMP handled by the kernel
      sendUdp(nsB, '10.77.4.1', 7777, 'before');
      expect(await waitFrame(d!, (f) => udpTo(f, 7777) !== undefined, 200)).toBeUndefined();
      d!.addFlow({ protocol: 'udp', port: 7777 });
      sendUdp(nsB, '10.77.4.1', 7778, 'other-port');
      sendUdp(nsB, '10.77.4.1', 7777, 'mine');
      const seen: string[] = [];
      const f = await waitFrame(d!, (f) => {
        const t = udpTo(f, 7777) ?? udpTo(f, 7778);
        if (t) seen.push(t);
        return udpTo(f, 7777) === 'mine';
      });
      expect(f).toBeDefined();
      expect(seen).toEqual(['mine']);
      expect(pingOk(nsB, '10.77.4.1')).toBe(true);
      d!.removeFlow({ protocol: 'udp', port: 7777 });
      sendUdp(nsB, '10.77.4.1', 7777, 'after');
      expect(await waitFrame(d!, (f) => udpTo(f, 7777) !== undefined, 200)).toBeUndefined();
    });

    it("ICMP echo replies to byway's pings come back by identifier; the kernel's own pings are untouched", async () => {
      const peerMac = lab.macOf(nsB, link.b);
      d!.addFlow({ protocol: 'icmp', port: 0x5a5a });
      sendFrame(d!, ethernet(peerMac, d!.hwAddress!, 0x0800, icmpEchoPacket(ip('10.77.4.1'), ip('10.77.4.2'), 0x5a5a, 1, new Uint8Array(8))));
      const f = await waitFrame(d!, (f) => echoReplyAt(f, 14, ip('10.77.4.2'), ip('10.77.4.1'), 0x5a5a, 1) !== undefined);
      expect(f).toBeDefined();
      expect(pingOk(nsA, '10.77.4.2')).toBe(true);
    });

    it('flow misuse is rejected', () => {
      expect(() => d!.addFlow({ protocol: 'sctp' as 'tcp', port: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      expect(() => d!.addFlow({ protocol: 'udp', port: 70000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    });
  });

  describe('errors and release', () => {
    it('zero-copy on veth is refused with ERR_XDP_UNSUPPORTED, never silently downgraded', () => {
      const ns = lab.addNetns();
      const l = lab.addVeth(ns, undefined);
      let err: { code?: string; message?: string } | undefined;
      try {
        openAfXdp({ ifname: l.a, netns: ns, ipv4: '10.77.5.2', bindMode: 'zerocopy' }).close();
      } catch (e) {
        err = e as { code?: string };
      }
      expect(err?.code).toBe('ERR_XDP_UNSUPPORTED');
      expect(err?.message).toMatch(/bindMode 'copy'/);
      expect(ipIn(ns, `link show ${l.a}`)).not.toMatch(/prog\/xdp/); // nothing left attached after the failure
    });

    it('no such interface is ENODEV; own mode without an address is ERR_INVALID_ARG_VALUE', () => {
      expect(() => openAfXdp({ ifname: 'bwnosuch1', ipv4: '10.77.5.2' })).toThrow(expect.objectContaining({ code: 'ENODEV' }));
      expect(() => openAfXdp({ ifname: 'lo' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    });

    it('a second program on the same interface is EBUSY', () => {
      const ns = lab.addNetns();
      const l = lab.addVeth(ns, undefined);
      const first = openAfXdp({ ifname: l.a, netns: ns, ipv4: '10.77.5.2', bindMode: 'copy' });
      try {
        expect(() => openAfXdp({ ifname: l.a, netns: ns, ipv4: '10.77.5.3', bindMode: 'copy', queue: 0, bindRetryMs: 0 })).toThrow(
          expect.objectContaining({ code: 'EBUSY' }),
        );
      } finally {
        first.close();
      }
    });

    it('close() detaches the program and releases every handle', () => {
      const native = loadNative();
      const before = native.openCount();
      const ns = lab.addNetns();
      const l = lab.addVeth(ns, undefined);
      const x = openAfXdp({ ifname: l.a, netns: ns, ipv4: '10.77.5.2' });
      expect(ipIn(ns, `link show ${l.a}`)).toMatch(/prog\/xdp/);
      expect(native.openCount()).toBe(before + 1);
      x.close();
      expect(native.openCount()).toBe(before);
      expect(ipIn(ns, `link show ${l.a}`)).not.toMatch(/prog\/xdp/);
    });
  });
});
